//! The digest client (`auth::Authenticator`, over ezk-sip-auth) fed 401/407 responses whose
//! WWW-Authenticate / Proxy-Authenticate values are arbitrary: the input's first byte picks
//! the header per response, the rest is one challenge value per line, each the next
//! response to the same request and its re-sends.
//!
//! Checked: no panic; a request gets at most `MAX_CHALLENGE_RETRIES` re-sends (RFC 3261
//! §22.3: no loops); after each `Retry` the re-sent request carries an Authorization or
//! Proxy-Authorization header, prints, and parses again with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wren_sip::auth::{Authenticator, Challenge, ChallengeCount, MAX_CHALLENGE_RETRIES};
use wren_sip::message::{parse, HeadersExt, Message, Request, Response};
use wren_sip::Credentials;

const REQUEST: &str =
    "REGISTER sip:wren.lab SIP/2.0\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n\
From: <sip:alice@wren.lab>;tag=1\r\nTo: <sip:alice@wren.lab>\r\nCall-ID: c1\r\n\
CSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

fn request() -> Request {
    match parse(REQUEST.as_bytes()) {
        Ok(Message::Request(r)) => r,
        _ => unreachable!("the literal is a request"),
    }
}

fn response(proxy: bool, value: &str) -> Option<Response> {
    let (code, name) = if proxy {
        (407, "Proxy-Authenticate")
    } else {
        (401, "WWW-Authenticate")
    };
    let text = format!(
        "SIP/2.0 {code} Challenge\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n\
         From: <sip:alice@wren.lab>;tag=1\r\nTo: <sip:alice@wren.lab>;tag=2\r\n\
         Call-ID: c1\r\nCSeq: 1 REGISTER\r\n{name}: {value}\r\nContent-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()) {
        Ok(Message::Response(r)) => Some(r),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut auth = Authenticator::new(&Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    let mut req = request();
    let mut count = ChallengeCount::default();
    let mut retries = 0u8;
    for (i, value) in text.split('\n').take(8).enumerate() {
        let Some(resp) = response(flags & (1 << i) != 0, value) else {
            continue;
        };
        match auth.handle_challenge(&req, &resp, &mut count) {
            Challenge::Retry => {
                retries += 1;
                assert!(retries <= MAX_CHALLENGE_RETRIES, "re-sent {retries} times");
                auth.authorize(&mut req);
                let has_auth = |r: &Request| {
                    r.raw(&"Authorization".into()).is_some()
                        || r.raw(&"Proxy-Authorization".into()).is_some()
                };
                assert!(has_auth(&req), "a retry without credentials");
                match parse(&req.to_bytes()) {
                    Ok(Message::Request(again)) => assert!(has_auth(&again)),
                    other => panic!("the authorized request doesn't parse: {other:?}"),
                }
            }
            Challenge::Rejected | Challenge::Loop | Challenge::Unsupported(_) => {}
        }
    }
});
