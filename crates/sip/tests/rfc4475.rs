//! RFC 4475 §3.1 torture messages, table-driven: the §3.1.1 valid messages parse and reprint to
//! an equivalent message; the §3.1.2 invalid ones are refused, and a `UserAgent` answers each
//! invalid request with the RFC's status instead of staying silent.
//!
//! The messages live in `data/rfc4475/` in the RFC's own notation (see its README); `decode`
//! turns them into wire bytes. A row whose behaviour differs from the RFC's verdict says why in
//! `expected_divergence`, and the test asserts the divergent behaviour so it can't drift.

use std::time::Instant;
use wren_sip::message::{parse, HeadersExt, Message};
use wren_sip::{Credentials, Transport, UaConfig, UserAgent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// RFC 4475 §3.1.1: well-formed.
    Valid,
    /// RFC 4475 §3.1.2: malformed.
    Invalid,
}

/// What our UA sends back when the message arrives on its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Status(u16),
    /// Nothing goes out (a response, or one that matches no transaction).
    Silence,
}

struct Vector {
    name: &'static str,
    section: &'static str,
    text: &'static str,
    verdict: Verdict,
    answer: Answer,
    /// Why we knowingly differ from the RFC's verdict: the test then asserts the opposite.
    expected_divergence: Option<&'static str>,
}

use Answer::{Silence, Status};
use Verdict::{Invalid, Valid};

macro_rules! vector {
    ($name:literal, $section:literal, $verdict:expr, $answer:expr) => {
        vector!($name, $section, $verdict, $answer, None)
    };
    ($name:literal, $section:literal, $verdict:expr, $answer:expr, $divergence:expr) => {
        Vector {
            name: $name,
            section: $section,
            text: include_str!(concat!("data/rfc4475/", $name, ".txt")),
            verdict: $verdict,
            answer: $answer,
            expected_divergence: $divergence,
        }
    };
}

const VECTORS: &[Vector] = &[
    // §3.1.1 Valid messages.
    // Its To has a tag: an in-dialog INVITE for a dialog we don't have (RFC 3261 §12.2.2).
    vector!("wsinv", "3.1.1.1", Valid, Status(481)),
    // Unknown methods get 501 (the RFC's text for endpoints).
    vector!("intmeth", "3.1.1.2", Valid, Status(501)),
    vector!("esc01", "3.1.1.3", Valid, Status(100)),
    vector!("escnull", "3.1.1.4", Valid, Status(405)),
    vector!("esc02", "3.1.1.5", Valid, Status(501)),
    vector!("lwsdisp", "3.1.1.6", Valid, Status(200)),
    vector!(
        "longreq",
        "3.1.1.7",
        Valid,
        Status(400),
        Some(
            "its top Via has no branch (RFC 2543 style): we match transactions on the RFC 3261 \
             branch only and refuse branchless requests; see longreq_parses_once_its_top_via_has_a_branch"
        )
    ),
    vector!("dblreq", "3.1.1.8", Valid, Status(405)),
    vector!("semiuri", "3.1.1.9", Valid, Status(200)),
    vector!("transports", "3.1.1.10", Valid, Status(200)),
    vector!("mpart01", "3.1.1.11", Valid, Status(405)),
    vector!("unreason", "3.1.1.12", Valid, Silence),
    vector!("noreason", "3.1.1.13", Valid, Silence),
    // §3.1.2 Invalid messages.
    vector!("badinv01", "3.1.2.1", Invalid, Status(400)),
    vector!("clerr", "3.1.2.2", Invalid, Status(400)),
    vector!("ncl", "3.1.2.3", Invalid, Status(400)),
    vector!("scalar02", "3.1.2.4", Invalid, Status(400)),
    vector!("scalarlg", "3.1.2.5", Invalid, Silence),
    vector!("quotbal", "3.1.2.6", Invalid, Status(400)),
    vector!("ltgtruri", "3.1.2.7", Invalid, Status(400)),
    vector!("lwsruri", "3.1.2.8", Invalid, Status(400)),
    vector!("lwsstart", "3.1.2.9", Invalid, Status(400)),
    vector!("trws", "3.1.2.10", Invalid, Status(400)),
    vector!("escruri", "3.1.2.11", Invalid, Status(400)),
    vector!(
        "baddate",
        "3.1.2.12",
        Invalid,
        Status(100),
        Some(
            "we never read Date, and §3.1.2.12 itself says not to reject over it unless the \
             value matters to the element"
        )
    ),
    vector!("regbadct", "3.1.2.13", Invalid, Status(400)),
    vector!("badaspec", "3.1.2.14", Invalid, Status(400)),
    vector!("baddn", "3.1.2.15", Invalid, Status(400)),
    vector!("badvers", "3.1.2.16", Invalid, Status(505)),
    vector!("mismatch01", "3.1.2.17", Invalid, Status(400)),
    // §3.1.2.18 prefers 501 but allows 400.
    vector!("mismatch02", "3.1.2.18", Invalid, Status(400)),
    vector!("bigcode", "3.1.2.19", Invalid, Silence),
];

/// RFC 4475 §2 notation to wire bytes: `<allOneLine>`, `<repeat count=N>`, `<hex>`, and every
/// other line break is CRLF.
fn decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut one_line = false;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("<allOneLine>\n") {
            one_line = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("</allOneLine>\n") {
            one_line = false;
            out.extend_from_slice(b"\r\n");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("<hex>") {
            let end = r.find("</hex>").expect("unterminated <hex>");
            let digits: Vec<u8> = r[..end]
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
            for pair in digits.chunks(2) {
                let pair = std::str::from_utf8(pair).expect("hex is ASCII");
                out.push(u8::from_str_radix(pair, 16).expect("hex digit"));
            }
            rest = &r[end + "</hex>".len()..];
        } else if let Some(r) = rest.strip_prefix("<repeat count=") {
            let (count, r) = r.split_once('>').expect("unterminated <repeat>");
            let (body, r) = r.split_once("</repeat>").expect("unterminated <repeat>");
            out.extend_from_slice(body.repeat(count.parse().expect("count")).as_bytes());
            rest = r;
        } else if let Some(r) = rest.strip_prefix('\n') {
            if !one_line {
                out.extend_from_slice(b"\r\n");
            }
            rest = r;
        } else {
            let c = rest.chars().next().expect("rest is not empty");
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn wire(v: &Vector) -> Vec<u8> {
    decode(v.text)
}

fn ua() -> UserAgent {
    UserAgent::new(
        UaConfig {
            user: "alice".into(),
            domain: "example.com".into(),
            display_name: None,
            credentials: Credentials {
                username: "alice".into(),
                password: "secret".into(),
            },
            transport: Transport::Udp,
            instance_id: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
            register_expires: 600,
            user_agent: "wren-test".into(),
        },
        4475,
    )
}

/// Whether the RFC's verdict is what we implement for this row.
fn expects_parse_ok(v: &Vector) -> bool {
    (v.verdict == Valid) == v.expected_divergence.is_none()
}

#[test]
fn valid_messages_parse_and_reprint_equivalently_rfc4475_3_1_1() {
    for v in VECTORS.iter().filter(|v| v.verdict == Valid) {
        let data = wire(v);
        let parsed = parse(&data);
        if !expects_parse_ok(v) {
            assert!(
                parsed.is_err(),
                "{} ({}) now parses: drop its divergence",
                v.name,
                v.section
            );
            continue;
        }
        let first = parsed.unwrap_or_else(|e| panic!("{} ({}): {}", v.name, v.section, e.reason));
        let printed = to_bytes(&first);
        let again = parse(&printed).unwrap_or_else(|e| {
            panic!(
                "{}: reprint refused: {}\n{}",
                v.name,
                e.reason,
                lossy(&printed)
            )
        });
        assert_equivalent(v.name, &first, &again);
        // Printing is a fixed point after one round.
        assert_eq!(
            to_bytes(&again),
            printed,
            "{}: printing is not stable",
            v.name
        );
    }
}

#[test]
fn invalid_messages_are_refused_rfc4475_3_1_2() {
    for v in VECTORS.iter().filter(|v| v.verdict == Invalid) {
        let parsed = parse(&wire(v));
        if expects_parse_ok(v) {
            assert!(
                parsed.is_ok(),
                "{} ({}) is now refused: drop its divergence",
                v.name,
                v.section
            );
        } else {
            assert!(parsed.is_err(), "{} ({}) was accepted", v.name, v.section);
        }
    }
}

#[test]
fn user_agent_answers_each_vector_as_the_rfc_asks() {
    for v in VECTORS {
        let mut ua = ua();
        ua.handle_input(Instant::now(), &wire(v));
        let sent: Vec<_> = std::iter::from_fn(|| ua.poll_transmit()).collect();
        match v.answer {
            Silence => assert!(sent.is_empty(), "{}: answered {}", v.name, lossy(&sent[0])),
            Status(code) => {
                let first = lossy(
                    sent.first()
                        .unwrap_or_else(|| panic!("{}: no answer", v.name)),
                );
                // Not `parse`: a 400 echoes the request's broken Via, as RFC 3261 §8.2.6 says.
                assert!(
                    first.starts_with(&format!("SIP/2.0 {code} ")),
                    "{}: {first}",
                    v.name
                );
                let call_id = first.lines().find_map(|l| l.strip_prefix("Call-ID: "));
                let text = String::from_utf8_lossy(&wire(v)).into_owned();
                assert!(
                    call_id.is_some_and(|c| text.contains(c)),
                    "{}: {first}",
                    v.name
                );
            }
        }
    }
}

/// The decoded bodies are exactly as long as the RFC's Content-Length says, so a slip in the
/// transcription (a lost CRLF, a wrong repeat count) fails here rather than passing silently.
#[test]
fn transcriptions_match_their_content_length() {
    for v in VECTORS {
        if matches!(v.name, "clerr" | "ncl" | "dblreq") {
            continue; // wrong by design, or followed by a second message
        }
        let data = wire(v);
        let head = data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{}: no end of head", v.name))
            + 4;
        let text = String::from_utf8_lossy(&data[..head]).to_ascii_lowercase();
        let declared: usize = text
            .split("\r\n")
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                matches!(name.trim(), "content-length" | "l").then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("{}: no Content-Length", v.name));
        assert_eq!(data.len() - head, declared, "{}: body length", v.name);
    }
}

/// What the RFC's text says about a few vectors' headers, against what we parsed.
#[test]
fn parsed_values_match_the_rfc_text() {
    let request = |name: &str| {
        let v = VECTORS.iter().find(|v| v.name == name).expect("row");
        match parse(&wire(v)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{name}: {:?}", other.err().map(|e| e.reason)),
        }
    };
    let contacts =
        |r: &wren_sip::message::Request| r.headers.get_raw(&ezk_sip_types::Name::CONTACT).count();
    let wsinv = request("wsinv");
    assert_eq!(wsinv.vias().len(), 3);
    assert_eq!(wsinv.top_branch().as_deref(), Some("390skdjuw"));
    assert_eq!(wsinv.cseq().map(|c| c.cseq), Some(9));
    assert_eq!(
        wsinv.header_from().and_then(|f| f.tag).as_deref(),
        Some("98asjd8")
    );
    assert_eq!(
        wsinv.header_to().and_then(|f| f.tag).as_deref(),
        Some("1918181833n")
    );
    let intmeth = request("intmeth");
    assert_eq!(
        intmeth.method.to_string(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert_eq!(
        intmeth.call_id(),
        r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#
    );
    assert_eq!(request("transports").vias().len(), 5);
    assert_eq!(contacts(&request("escnull")), 2);
    // `C%6Fntact` is an unknown header, not a third Contact (§3.1.1.5).
    assert_eq!(contacts(&request("esc02")), 2);
    assert_eq!(request("esc02").method.to_string(), "RE%47IST%45R");
    let dblreq = request("dblreq");
    assert_eq!(dblreq.method.to_string(), "REGISTER");
    assert!(dblreq.body.is_empty(), "the second request is not a body");
    assert_eq!(request("mpart01").body.len(), 553);
}

#[test]
fn longreq_parses_once_its_top_via_has_a_branch() {
    let v = VECTORS.iter().find(|v| v.name == "longreq").expect("row");
    let err = parse(&wire(v)).expect_err("divergent row");
    assert_eq!(err.reason, "Via without branch");
    let text = String::from_utf8(wire(v)).expect("longreq is ASCII");
    let fixed = text.replacen(
        "sip33.example.com\r\n",
        "sip33.example.com;branch=z9hG4bK33\r\n",
        1,
    );
    let Ok(Message::Request(req)) = parse(fixed.as_bytes()) else {
        panic!("longreq with a branch still refused")
    };
    assert_eq!(req.vias().len(), 34);
    assert_eq!(req.cseq().map(|c| c.cseq), Some(3_882_340));
    assert_eq!(
        req.header_from().and_then(|f| f.tag).map(|t| t.len()),
        Some(155)
    );
    assert_equivalent(
        "longreq",
        &Message::Request(req.clone()),
        &parse(&req.to_bytes()).unwrap(),
    );
}

#[test]
fn every_data_file_has_a_row() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc4475");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("data dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".txt").map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut rows: Vec<String> = VECTORS.iter().map(|v| v.name.to_owned()).collect();
    rows.sort();
    assert_eq!(files, rows);
    // Fuzz seeds come from these vectors: `WREN_DUMP_RFC4475=dir cargo test ... every_data_file`.
    if let Some(out) = std::env::var_os("WREN_DUMP_RFC4475") {
        for v in VECTORS {
            let path = std::path::Path::new(&out).join(format!("rfc4475-{}.sip", v.name));
            std::fs::write(path, wire(v)).expect("write seed");
        }
    }
}

/// The listed divergences, so adding or dropping one is a visible change.
#[test]
fn divergences_are_the_documented_ones() {
    let rows: Vec<_> = VECTORS
        .iter()
        .filter(|v| v.expected_divergence.is_some())
        .map(|v| v.name)
        .collect();
    assert_eq!(rows, ["longreq", "baddate"]);
}

fn to_bytes(m: &Message) -> Vec<u8> {
    match m {
        Message::Request(r) => r.to_bytes().to_vec(),
        Message::Response(r) => r.to_bytes().to_vec(),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_equivalent(name: &str, a: &Message, b: &Message) {
    fn summary<M: HeadersExt>(m: &M) -> impl PartialEq + std::fmt::Debug {
        let count = |n: &str| {
            m.headers()
                .iter()
                .filter(|(name, _)| name.as_print_str().eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str().split(',').count())
                .sum::<usize>()
        };
        (
            m.call_id().to_owned(),
            m.cseq().map(|c| (c.cseq, c.method.to_string())),
            m.vias().len(),
            m.top_branch(),
            m.header_from().and_then(|f| f.tag.map(|t| t.to_string())),
            m.header_to().and_then(|t| t.tag.map(|t| t.to_string())),
            (count("Contact"), count("Route"), count("Record-Route")),
            m.headers().iter().count(),
        )
    }
    match (a, b) {
        (Message::Request(a), Message::Request(b)) => {
            assert_eq!(a.method, b.method, "{name}: method");
            assert_eq!(summary(a), summary(b), "{name}");
            assert_eq!(a.body, b.body, "{name}: body");
        }
        (Message::Response(a), Message::Response(b)) => {
            assert_eq!(a.code(), b.code(), "{name}: status");
            assert_eq!(summary(a), summary(b), "{name}");
            assert_eq!(a.body, b.body, "{name}: body");
        }
        _ => panic!("{name}: reprinted as the other kind of message"),
    }
}
