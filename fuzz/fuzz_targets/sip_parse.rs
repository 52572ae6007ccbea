//! `message::parse` on arbitrary bytes: never panics; whatever it accepts prints, and the
//! printed form parses again without panicking; the typed accessors the UA relies on and the
//! log redaction hold up on it too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wren_sip::message::{parse, HeadersExt, Message, Response};
use wren_sip::{StatusCode, Tag};

fn poke<M: HeadersExt>(m: &M) {
    let _ = (m.call_id(), m.cseq(), m.header_from(), m.header_to());
    let _ = (m.vias(), m.top_branch(), wren_sip::dialog::contact_uri(m));
}

fuzz_target!(|data: &[u8]| {
    let _ = wren_sip::redact(&String::from_utf8_lossy(data));
    match parse(data) {
        Ok(Message::Request(req)) => {
            poke(&req);
            // What the UA answers with.
            let resp = Response::to_request(
                &req.method,
                &req.headers,
                StatusCode::OK,
                Some(&Tag::new("fuzz")),
            );
            let _ = parse(&resp.to_bytes());
            let printed = req.to_bytes();
            if let Ok(Message::Request(again)) = parse(&printed) {
                poke(&again);
            }
        }
        Ok(Message::Response(resp)) => {
            poke(&resp);
            if let Ok(Message::Response(again)) = parse(&resp.to_bytes()) {
                poke(&again);
            }
        }
        Err(err) => {
            let _ = err.status();
            if let Some((method, headers)) = err.partial {
                let resp = Response::to_request(&method, &headers, StatusCode::BAD_REQUEST, None);
                let _ = resp.to_bytes();
            }
        }
    }
});
