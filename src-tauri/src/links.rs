//! `sip:`, `sips:`, `tel:` and `callto:` links (RFC 3261 §19.1, RFC 3966): what to dial.

/// The longest target we accept from a link: anything longer is not a phone number or URI
/// anyone typed.
const MAX_TARGET: usize = 512;

/// The dial target a link asks for, or `None` for a link that isn't ours or is malformed.
/// `sip:`/`sips:` links keep their URI (minus headers after `?`, which a link must not be
/// able to inject); `tel:` gives the number without visual separators (RFC 3966 §5.1.1) or
/// parameters; `callto:` (Skype-era, with or without `//`) gives what follows.
pub fn dial_target(link: &str) -> Option<String> {
    let link = percent_decode(link.trim())?;
    let (scheme, rest) = link.split_once(':')?;
    let target = match scheme.to_ascii_lowercase().as_str() {
        "sip" | "sips" => {
            let uri = rest.split('?').next().unwrap_or_default();
            (!uri.is_empty()).then(|| format!("{}:{uri}", scheme.to_ascii_lowercase()))?
        }
        "tel" => {
            let number = rest.split(';').next().unwrap_or_default();
            let digits: String = number
                .chars()
                .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
                .collect();
            let ok = !digits.is_empty()
                && digits.char_indices().all(|(i, c)| {
                    c.is_ascii_hexdigit() || "*#".contains(c) || (i == 0 && c == '+')
                });
            ok.then_some(digits)?
        }
        "callto" => {
            let who = rest.trim_start_matches("//").trim_end_matches('/');
            (!who.is_empty()).then(|| who.to_owned())?
        }
        _ => return None,
    };
    let clean = target.len() <= MAX_TARGET
        && !target
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "<>\"".contains(c));
    clean.then_some(target)
}

/// `%XX` escapes decoded; `None` when the result isn't UTF-8 or an escape is broken.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::dial_target;

    #[test]
    fn links_give_the_target_to_dial() {
        let cases = [
            ("sip:bob@example.com", Some("sip:bob@example.com")),
            (
                "SIP:bob@example.com;transport=tls",
                Some("sip:bob@example.com;transport=tls"),
            ),
            (
                "sips:carol@pbx.example.com:5061",
                Some("sips:carol@pbx.example.com:5061"),
            ),
            // Headers in a link could add anything to our INVITE: dropped.
            (
                "sip:bob@example.com?Subject=hi&Call-Info=x",
                Some("sip:bob@example.com"),
            ),
            ("tel:+1-201-555-0123", Some("+12015550123")),
            (
                "tel:+44%20(20)%207946%200018;phone-context=x",
                Some("+442079460018"),
            ),
            ("tel:*21#", Some("*21#")),
            ("callto://alice", Some("alice")),
            ("callto:1234", Some("1234")),
            ("tel:", None),
            ("tel:12+34", None),
            ("tel:555%0d%0aINVITE", None),
            ("sip:", None),
            ("sip:bob@example.com%0d%0aVia:x", None),
            ("sip:a%zz", None),
            ("http://example.com", None),
            ("javascript:alert(1)", None),
            ("bob", None),
        ];
        for (link, want) in cases {
            assert_eq!(dial_target(link).as_deref(), want, "{link}");
        }
        let long = format!("sip:{}@example.com", "a".repeat(600));
        assert_eq!(dial_target(&long), None);
    }
}
