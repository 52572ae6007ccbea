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
