//! What the CLI and the desktop app log through. Two rules hold whatever filter the user sets
//! in `WREN_LOG`:
//!
//! - **Nothing from the network reaches a terminal or a log file raw.** [`SafeWriter`] writes
//!   every control character other than newline and tab (ESC, CR, BEL, DEL, the C1 range
//!   such as CSI) as a visible `\u{..}` escape, so a hostile display name, reason phrase or
//!   close reason can't move the cursor, recolour the screen or forge a log line.
//! - **No credentials or whole messages from other crates.** Our own crates redact SIP at the
//!   source (`wren_sip::redact`); the WebSocket and TLS crates log whole frames (digest
//!   responses, SDP) at debug and trace, so [`quiet_crates`] drops those levels from them
//!   outright. It is a filter in code, not a directive: a more specific `WREN_LOG` directive
//!   can't lift it.

use std::io::{self, Write};
use tracing::{Level, Metadata};

/// Crates whose debug and trace output carries whole SIP messages or secrets.
const LOUD_CRATES: &[&str] = &["tungstenite", "tokio_tungstenite", "rustls", "ezk_sip_auth"];

/// Whether an event may be logged at all, whatever the user's filter: not above `info` from
/// the crates in `LOUD_CRATES`.
pub fn quiet_crates(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let loud = LOUD_CRATES.iter().any(|c| {
        target
            .strip_prefix(c)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    });
    !loud || *meta.level() <= Level::INFO
}

/// A writer that escapes control characters on their way to `inner` (see the module's notes).
pub struct SafeWriter<W> {
    inner: W,
    /// The first byte of a two-byte UTF-8 sequence split across writes.
    pending: Option<u8>,
}

impl<W: Write> SafeWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

fn escaped(out: &mut Vec<u8>, c: u32) {
    out.extend_from_slice(format!("\\u{{{c:x}}}").as_bytes());
}

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len() + 16);
        let mut bytes = buf.iter().copied().peekable();
        if let Some(lead) = self.pending.take() {
            match bytes.peek() {
                Some(&b) if (0x80..=0x9f).contains(&b) => {
                    bytes.next();
                    escaped(&mut out, u32::from(b));
                }
                _ => out.push(lead),
            }
        }
        while let Some(b) = bytes.next() {
            match b {
                b'\n' | b'\t' => out.push(b),
                0x00..=0x1f | 0x7f => escaped(&mut out, u32::from(b)),
                // U+0080..U+009F (C1 controls, CSI among them) are C2 80..C2 9F in UTF-8.
                0xc2 => match bytes.peek() {
                    Some(&next) if (0x80..=0x9f).contains(&next) => {
                        bytes.next();
                        escaped(&mut out, u32::from(next));
                    }
                    None => self.pending = Some(b),
                    Some(_) => out.push(b),
                },
                _ => out.push(b),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(lead) = self.pending.take() {
            self.inner.write_all(&[lead])?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(parts: &[&[u8]]) -> String {
        let mut w = SafeWriter::new(Vec::new());
        for p in parts {
            w.write_all(p).unwrap();
        }
        w.flush().unwrap();
        String::from_utf8(w.inner).unwrap()
    }

    #[test]
    fn control_characters_are_escaped_and_text_kept() {
        assert_eq!(
            through(&[b"reason: \x1b[31mred\x1b[0m\r\nforged line\x07\n"]),
            "reason: \\u{1b}[31mred\\u{1b}[0m\\u{d}\\u{a}forged line\\u{7}\n"
                .replace("\\u{a}", "\n")
        );
        // C1 CSI (U+009B), even split across writes; other UTF-8 untouched.
        assert_eq!(through(&["a\u{9b}b".as_bytes()]), "a\\u{9b}b");
        assert_eq!(through(&[b"a\xc2", b"\x9bb"]), "a\\u{9b}b");
        assert_eq!(
            through(&["caf\u{e9} \u{a9} \u{1F600}\t|".as_bytes()]),
            "caf\u{e9} \u{a9} \u{1F600}\t|"
        );
    }

    #[test]
    fn loud_crates_stay_at_info_whatever_the_filter() {
        use tracing::callsite::Identifier;
        use tracing::field::FieldSet;
        use tracing::metadata::Kind;
        struct Cs;
        impl tracing::callsite::Callsite for Cs {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static CS: Cs = Cs;
        let meta = |target: &'static str, level: Level| {
            Metadata::new(
                "event",
                target,
                level,
                None,
                None,
                None,
                FieldSet::new(&[], Identifier(&CS)),
                Kind::EVENT,
            )
        };
        assert!(!quiet_crates(&meta("tungstenite::protocol", Level::TRACE)));
        assert!(!quiet_crates(&meta("tokio_tungstenite", Level::DEBUG)));
        assert!(!quiet_crates(&meta("rustls::client", Level::DEBUG)));
        assert!(quiet_crates(&meta("tungstenite::protocol", Level::INFO)));
        assert!(quiet_crates(&meta("tungstenite_extra", Level::TRACE)));
        assert!(quiet_crates(&meta("wren_engine::driver", Level::TRACE)));
    }
}
