//! Inputs from the fuzzers (`fuzz/`), replayed on every test run: the seed corpus, and any
//! input that once crashed a target (keep those in `tests/data/fuzz/`, one file each, named
//! after what broke). Parsing and a `UserAgent` must take each one without panicking.
//!
//! `ua_input` crashes are op sequences, not messages: turn those into a scenario or unit test.

use std::path::Path;
use std::time::Instant;
use wren_sip::message::parse;
use wren_sip::{Credentials, Transport, UaConfig, UserAgent};

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            Some((name, std::fs::read(&path).ok()?))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fuzz_seeds_and_past_crashes_are_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = inputs(&root.join("../../fuzz/seeds/sip_parse"));
    all.extend(inputs(&root.join("tests/data/fuzz")));
    assert!(all.len() > 30, "the seed corpus went missing");
    for transport in [Transport::Ws, Transport::Udp] {
        let mut ua = UserAgent::new(
            UaConfig {
                user: "alice".into(),
                domain: "wren.lab".into(),
                display_name: None,
                credentials: Credentials {
                    username: "alice".into(),
                    password: "pw".into(),
                },
                transport,
                instance_id: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
                register_expires: 600,
                user_agent: "regressions".into(),
            },
            7,
        );
        let now = Instant::now();
        for (name, data) in &all {
            if let Ok(m) = parse(data) {
                let printed = match m {
                    wren_sip::message::Message::Request(r) => r.to_bytes(),
                    wren_sip::message::Message::Response(r) => r.to_bytes(),
                };
                assert!(parse(&printed).is_ok(), "{name}: reprint refused");
            }
            ua.handle_input(now, data);
            while ua.poll_transmit().is_some() {}
            while ua.poll_event().is_some() {}
        }
    }
}

/// Found by `fuzz/fuzz_targets/ua_transfer.rs`: a NOTIFY for our REFER saying
/// `Subscription-State: active;expires=18446744073709551615` overflowed the subscription's
/// deadline (`now + expires + grace`) and panicked. The UA must take it and keep a deadline
/// in the future.
#[test]
fn notify_with_huge_subscription_expires_is_taken() {
    use bytes::Bytes;
    use wren_sip::message::{HeadersExt, Message, Request, Response};
    use wren_sip::{StatusCode, Tag};

    const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n\
t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let mut ua = UserAgent::new(
        UaConfig {
            user: "alice".into(),
            domain: "wren.lab".into(),
            display_name: None,
            credentials: Credentials {
                username: "alice".into(),
                password: "pw".into(),
            },
            transport: Transport::Ws,
            instance_id: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
            register_expires: 600,
            user_agent: "regressions".into(),
        },
        7,
    );
    let now = Instant::now();
    let sent = |ua: &mut UserAgent, method: &str| -> Request {
        let mut found = None;
        while let Some(data) = ua.poll_transmit() {
            if let Ok(Message::Request(r)) = parse(&data) {
                if r.method.to_string() == method {
                    found = Some(r);
                }
            }
        }
        found.unwrap_or_else(|| panic!("no {method} sent"))
    };
    let call = ua
        .invite(now, "bob", Bytes::from_static(SDP))
        .expect("invite");
    let invite = sent(&mut ua, "INVITE");
    let mut ok = Response::to_request(
        &invite.method,
        &invite.headers,
        StatusCode::OK,
        Some(&Tag::new("bt")),
    );
    ok.headers
        .insert("Contact", "<sip:bob@192.0.2.9;transport=ws>");
    ok.headers.insert("Content-Type", "application/sdp");
    ok.body = Bytes::from_static(SDP);
    ua.handle_input(now, &ok.to_bytes());
    sent(&mut ua, "ACK");
    ua.refer(now, call, "carol").expect("refer");
    let refer = sent(&mut ua, "REFER");
    let near = invite.raw(&"From".into()).expect("From").to_owned();
    let far = ok.raw(&"To".into()).expect("To").to_owned();
    let frag = b"SIP/2.0 100 Trying\r\n";
    let mut notify = format!(
        "NOTIFY sip:alice@a.invalid;transport=ws SIP/2.0\r\n\
         Via: SIP/2.0/WSS far.invalid;branch=z9hG4bKfar1\r\nMax-Forwards: 70\r\n\
         From: {far}\r\nTo: {near}\r\nCall-ID: {}\r\nCSeq: 101 NOTIFY\r\n\
         Contact: <sip:bob@192.0.2.9;transport=ws>\r\nEvent: refer;id={}\r\n\
         Subscription-State: active;expires=18446744073709551615\r\n\
         Content-Type: message/sipfrag;version=2.0\r\nContent-Length: {}\r\n\r\n",
        invite.call_id(),
        refer.cseq().expect("CSeq").cseq,
        frag.len()
    )
    .into_bytes();
    notify.extend_from_slice(frag);
    ua.handle_input(now, &notify);
    while ua.poll_transmit().is_some() {}
    while ua.poll_event().is_some() {}
    ua.handle_timeout(now);
    assert!(ua.poll_timeout().is_none_or(|t| t > now));
}
