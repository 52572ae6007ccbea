//! Parser behaviours found while running the RFC 4475 vectors, pinned outside the table.

use wren_sip::message::{parse, HeadersExt, Message};

fn request(text: &str) -> wren_sip::message::Request {
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        Ok(Message::Response(_)) => panic!("parsed as a response"),
        Err(e) => panic!("refused: {}", e.reason),
    }
}

const OPTIONS: &str = "OPTIONS sip:alice@a.invalid;transport=ws SIP/2.0\r\n\
    Via: SIP/2.0/WSS proxy.example.com;branch=z9hG4bK1\r\n\
    Via: SIP/2.0/UDP old-2543-ua.example.com\r\n\
    From: FROM\r\nTo: <sip:alice@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
    Content-Length: 0\r\n\r\n";

/// Only the top Via's branch matters to us: an RFC 2543 hop below a proxy is fine.
#[test]
fn branchless_via_below_the_top_one_is_accepted() {
    let r = request(&OPTIONS.replace("FROM", "<sip:bob@example.com>;tag=1"));
    assert_eq!(r.vias().len(), 2);
    assert_eq!(r.top_branch().as_deref(), Some("z9hG4bK1"));
    let top_only = OPTIONS
        .replace("FROM", "<sip:bob@example.com>;tag=1")
        .replace(";branch=z9hG4bK1", "");
    assert_eq!(
        parse(top_only.as_bytes()).unwrap_err().reason,
        "Via without branch"
    );
}

/// ezk stops a quoted display name at `\"`; we check display names ourselves and keep the tag.
#[test]
fn escaped_quotes_in_display_name_keep_the_tag() {
    for name in [
        r#""Bob \"B\" Smith""#,
        r#""\\""#,
        r#""a\\\"b""#,
        "Bob",
        "Bob Smith",
        "",
    ] {
        let from = format!("{name} <sip:bob@example.com>;tag=t1");
        let r = request(&OPTIONS.replace("FROM", &from));
        let tag = r.header_from().and_then(|f| f.tag).map(|t| t.to_string());
        assert_eq!(tag.as_deref(), Some("t1"), "{from}");
    }
}

#[test]
fn malformed_display_names_are_refused() {
    for from in [
        r#""unterminated <sip:bob@example.com>;tag=1"#,
        "Bob, Smith <sip:bob@example.com>;tag=1",
        r#""quoted" sip:bob@example.com;tag=1"#,
        "sip:bob@example.com?Subject=hi;tag=1",
    ] {
        let text = OPTIONS.replace("FROM", from);
        let err = parse(text.as_bytes()).expect_err(from);
        assert_eq!(err.reason, "bad From", "{from}");
        assert!(err.partial.is_some(), "{from}: a 400 can still be built");
    }
}
