//! Log redaction: SIP identities and credentials never reach a log line as they are.

/// Redacts a SIP message (or any text) for logging: the values of Authorization-type headers,
/// the user part of every `sip:`/`sips:`/`tel:` URI, and quoted display names.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let lower = line.to_ascii_lowercase();
        let credential = ["authorization:", "proxy-authorization:"]
            .iter()
            .any(|h| lower.starts_with(h));
        if credential {
            let name = &line[..line.find(':').unwrap_or(0)];
            out.push_str(name);
            out.push_str(": <redacted>");
            if line.ends_with('\r') {
                out.push('\r');
            }
            continue;
        }
        out.push_str(&redact_line(line));
    }
    out
}

fn redact_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = find_identity(rest) {
        let (before, after) = rest.split_at(pos);
        out.push_str(before);
        if let Some(quoted) = after.strip_prefix('"') {
            // A quoted display name.
            match quoted.find('"') {
                Some(end) => {
                    out.push_str("\"***\"");
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str(after);
                    rest = "";
                }
            }
            continue;
        }
        let scheme_len = after.find(':').map_or(0, |i| i + 1);
        out.push_str(&after[..scheme_len]);
        let body = &after[scheme_len..];
        let end = body
            .find(['>', ';', ' ', ',', '\r', '?'])
            .unwrap_or(body.len());
        match body[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&body[at..end]);
            }
            None if after.starts_with("tel:") => out.push_str("***"),
            None => out.push_str(&body[..end]),
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

fn find_identity(s: &str) -> Option<usize> {
    ["sip:", "sips:", "tel:", "\""]
        .iter()
        .filter_map(|p| s.find(p))
        .min()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn identities_and_credentials_are_redacted() {
        let msg = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
            From: \"Alice Smith\" <sip:alice@wren.lab>;tag=1\r\n\
            To: <tel:+15551234567>\r\n\
            Proxy-Authorization: Digest username=\"alice\", response=\"abc\"\r\n\
            Contact: <sip:x7@ab.invalid;transport=ws;ob>\r\n";
        let r = redact(msg);
        for secret in ["bob", "alice", "Alice Smith", "5551234567", "abc", "x7@"] {
            assert!(!r.contains(secret), "{secret} leaked in {r}");
        }
        assert!(r.contains("sip:***@127.0.0.1"), "{r}");
        assert!(r.contains("Proxy-Authorization: <redacted>\r\n"), "{r}");
        assert!(r.starts_with("INVITE "));
    }
}
