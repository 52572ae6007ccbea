//! Replaces (RFC 3891) and the Refer-To of an attended transfer (RFC 5589 §7).

use super::call::CallState;
use super::{CallHandle, UserAgent};
use crate::dialog::Dialog;
use crate::message::{HeadersExt, Request};
use crate::wire::{SipCallId, StatusCode, Tag};
use ezk_sip_types::Name;

fn replaces_name() -> Name {
    Name::from("Replaces")
}

/// The Replaces value that names `dialog` to its far end: Call-ID, then the far end's tag as
/// `to-tag` and ours as `from-tag` (RFC 3891 §3: tags as the receiving UA sees them).
fn replaces_value(dialog: &Dialog) -> String {
    format!(
        "{};to-tag={};from-tag={}",
        dialog.call_id, dialog.remote_tag, dialog.local_tag
    )
}

/// `%`-escapes a URI header value (RFC 3261 §25.1 `hvalue`): everything but unreserved.
fn escape_hvalue(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/?:+$".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The far end's address of record in `dialog` (its From or To URI, without parameters of the
/// header).
fn remote_uri(dialog: &Dialog) -> &str {
    let v = dialog.remote.as_str();
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

/// Refer-To for an attended transfer to the far end of `dialog`.
pub(super) fn refer_to(dialog: &Dialog) -> String {
    format!(
        "<{}?Replaces={}>",
        remote_uri(dialog),
        escape_hvalue(&replaces_value(dialog))
    )
}

/// Splits `sip:u@h?Replaces=...&other=...` into the URI and the unescaped Replaces value.
pub(super) fn split_uri_headers(target: &str) -> (&str, Option<String>) {
    let target = target.trim();
    let inner = target
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(target);
    let Some((uri, headers)) = inner.split_once('?') else {
        return (inner, None);
    };
    let replaces = headers.split('&').find_map(|h| {
        let (name, value) = h.split_once('=')?;
        name.eq_ignore_ascii_case("replaces")
            .then(|| unescape(value))
            .flatten()
    });
    (uri, replaces)
}

/// Undoes `%XX` escapes; `None` for a broken escape or a control character.
fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.chars().any(char::is_control)).then_some(s)
}

/// A parsed Replaces value (RFC 3891 §6.1).
#[derive(Debug, PartialEq)]
struct Target {
    call_id: SipCallId,
    /// The tag on our side of the dialog.
    to_tag: Tag,
    /// The far end's.
    from_tag: Tag,
    /// Replace the dialog only while it is early.
    early_only: bool,
}

fn parse(value: &str) -> Option<Target> {
    let mut parts = value.split(';').map(str::trim);
    let call_id = SipCallId::new(parts.next().filter(|c| !c.is_empty())?);
    let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
    for p in parts {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "to-tag" => to_tag = Some(Tag::new(v.trim())),
            "from-tag" => from_tag = Some(Tag::new(v.trim())),
            "early-only" => early_only = true,
            _ => {} // extensions
        }
    }
    Some(Target {
        call_id,
        to_tag: to_tag?,
        from_tag: from_tag?,
        early_only,
    })
}

impl UserAgent {
    /// The call an INVITE's Replaces names, `None` without Replaces, or the status to refuse
    /// it with (RFC 3891 §3): 400 for several or a malformed one; for a confirmed dialog the
    /// call (486 if the header says early-only); for an early dialog of a call we placed the
    /// call (its owner cancels it when the new one is taken); 481 for an early dialog we are
    /// answering or no dialog at all; 603 for a dialog that has ended.
    pub(super) fn replaced_call(&self, req: &Request) -> Result<Option<CallHandle>, StatusCode> {
        let mut values = req.headers().get_raw(&replaces_name());
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(StatusCode::BAD_REQUEST);
        }
        let target = parse(value.as_str()).ok_or(StatusCode::BAD_REQUEST)?;
        let Some(call) = self.calls.iter().find(|c| c.call_id == target.call_id) else {
            return Err(StatusCode::CALL_DOES_NOT_EXIST);
        };
        let tags =
            |local: &Tag, remote: &Tag| *local == target.to_tag && *remote == target.from_tag;
        match &call.state {
            _ if call.ended => Err(StatusCode::DECLINE),
            CallState::Answering { dialog, .. } | CallState::Confirmed { dialog, .. }
                if tags(&dialog.local_tag, &dialog.remote_tag) =>
            {
                if target.early_only {
                    Err(StatusCode::BUSY_HERE)
                } else {
                    Ok(Some(call.handle))
                }
            }
            CallState::Calling {
                local_tag, early, ..
            } if early.iter().any(|remote| tags(local_tag, remote)) => Ok(Some(call.handle)),
            // Only the UA that placed an early call may have it replaced.
            CallState::Terminating => Err(StatusCode::DECLINE),
            _ => Err(StatusCode::CALL_DOES_NOT_EXIST),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_round_trips_and_escapes_in_refer_to() {
        // RFC 3891 §3 example values.
        let v = "98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff";
        assert_eq!(
            parse(v),
            Some(Target {
                call_id: "98732@sip.example.com".into(),
                to_tag: "ff87ff".into(),
                from_tag: "r33th4x0r".into(),
                early_only: false,
            })
        );
        assert!(parse(&format!("{v};early-only")).unwrap().early_only);
        assert_eq!(parse("abc;to-tag=x"), None);
        assert_eq!(escape_hvalue("a@b;to-tag=1"), "a%40b%3Bto-tag%3D1");
        assert_eq!(
            split_uri_headers("<sip:c@x?Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2&Foo=bar>"),
            ("sip:c@x", Some("a@b;to-tag=1;from-tag=2".to_owned()))
        );
        assert_eq!(split_uri_headers("sip:c@x?Foo=bar"), ("sip:c@x", None));
        assert_eq!(
            split_uri_headers("sip:c@x?Replaces=%0D%0AVia"),
            ("sip:c@x", None)
        );
        assert_eq!(split_uri_headers("bob"), ("bob", None));
        assert_eq!(
            split_uri_headers("sip:c@x?Replaces=a%+F"),
            ("sip:c@x", None)
        );
    }
}
