//! A `UserAgent` fed a sequence of arbitrary inputs: raw bytes, and also well-formed
//! responses to what it sent and requests from a far end (so the fuzzer reaches transactions,
//! dialogs and calls, not just the parser), API calls and the passing of time. It must never
//! panic, and after `handle_timeout(now)` it must not ask to be woken at or before `now`
//! again (that would spin the engine's driver).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use wren_sip::message::{parse, HeadersExt, Message, Request, Response};
use wren_sip::{CallHandle, Credentials, StatusCode, Tag, Transport, UaConfig, UaEvent, UserAgent};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes as one received message.
    Raw(Vec<u8>),
    /// A response to one of the last requests the UA sent.
    Respond {
        back: u8,
        code: u16,
        to_tag: bool,
        contact: bool,
        challenge: u8,
        record_route: bool,
        body: bool,
        expires: Option<u32>,
    },
    /// A request from the far end, new or inside the dialog of one of the UA's messages.
    Request {
        method: u8,
        back: Option<u8>,
        cseq: u32,
        body: bool,
        branch: u8,
    },
    /// One of the UA's own transmissions comes back, possibly with a few bytes changed.
    Echo {
        back: u8,
        flips: Vec<(u16, u8)>,
    },
    /// Time passes (milliseconds, scaled up to cover minutes).
    Advance(u16),
    Register,
    Unregister,
    Invite(u8),
    Ringing(u8),
    Answer(u8),
    Reject(u8, u16),
    Hangup(u8),
    FlowReset,
}

struct Harness {
    ua: UserAgent,
    now: Instant,
    /// The UA's recent transmissions, parsed once.
    sent: Vec<(Bytes, Option<Message>)>,
    calls: Vec<CallHandle>,
}

const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

impl Harness {
    fn new(transport: Transport) -> Self {
        let cfg = UaConfig {
            user: "alice".into(),
            domain: "wren.lab".into(),
            display_name: Some("Alice".into()),
            credentials: Credentials {
                username: "alice".into(),
                password: "pw".into(),
            },
            transport,
            instance_id: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
            register_expires: 600,
            user_agent: "fuzz".into(),
        };
        Self {
            ua: UserAgent::new(cfg, 1),
            now: Instant::now(),
            sent: Vec::new(),
            calls: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(data) = self.ua.poll_transmit() {
            if self.sent.len() == 64 {
                self.sent.remove(0);
            }
            let parsed = parse(&data).ok();
            self.sent.push((data, parsed));
        }
        while let Some(event) = self.ua.poll_event() {
            if let UaEvent::IncomingCall { call, .. } = event {
                self.calls.push(call);
            }
        }
    }

    fn call(&self, i: u8) -> CallHandle {
        self.calls
            .get(usize::from(i) % self.calls.len().max(1))
            .copied()
            .unwrap_or(CallHandle(u64::from(i)))
    }

    /// The `back`-th most recent transmission that parses as a request.
    fn sent_request(&self, back: u8) -> Option<Request> {
        let requests: Vec<&Request> = self
            .sent
            .iter()
            .rev()
            .filter_map(|(_, m)| match m {
                Some(Message::Request(r)) => Some(r),
                _ => None,
            })
            .collect();
        let n = requests.len();
        (n > 0).then(|| requests[usize::from(back) % n].clone())
    }

    fn input(&mut self, data: &[u8]) {
        self.ua.handle_input(self.now, data);
        self.drain();
    }

    fn respond(&mut self, op: &Op) {
        let Op::Respond {
            back,
            code,
            to_tag,
            contact,
            challenge,
            record_route,
            body,
            expires,
        } = op
        else {
            return;
        };
        let Some(req) = self.sent_request(*back) else {
            return;
        };
        let code = StatusCode::new(100 + code % 600);
        let tag = to_tag.then(|| Tag::new("fartag"));
        let mut resp = Response::to_request(&req.method, &req.headers, code, tag.as_ref());
        let h = &mut resp.headers;
        if *contact {
            h.insert("Contact", "<sip:far@far.invalid;transport=ws>;expires=300");
        }
        if *record_route {
            h.insert("Record-Route", "<sip:proxy.wren.lab;lr>");
        }
        match challenge % 4 {
            1 => h.insert(
                "WWW-Authenticate",
                r#"Digest realm="wren.lab", nonce="n1", qop="auth""#,
            ),
            2 => h.insert(
                "Proxy-Authenticate",
                r#"Digest realm="wren.lab", nonce="n2", qop="auth", algorithm=SHA-256"#,
            ),
            3 => h.insert(
                "WWW-Authenticate",
                r#"Digest realm="wren.lab", nonce="n3", stale=true"#,
            ),
            _ => {}
        }
        if let Some(e) = expires {
            h.insert("Min-Expires", e.to_string());
            h.insert("Expires", e.to_string());
        }
        if *body {
            h.insert("Content-Type", "application/sdp");
            resp.body = Bytes::from_static(SDP);
        }
        let data = resp.to_bytes();
        self.input(&data);
    }

    fn request(&mut self, method: u8, back: Option<u8>, cseq: u32, body: bool, branch: u8) {
        const METHODS: [&str; 9] = [
            "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "MESSAGE", "FOO",
        ];
        let method = METHODS[usize::from(method) % METHODS.len()];
        // Inside a dialog: swap the roles of one of the UA's own messages.
        let (from, to, call_id) = match back.and_then(|b| self.dialog_of(b)) {
            Some(ids) => ids,
            None => (
                "<sip:bob@wren.lab>;tag=bobtag".to_owned(),
                "<sip:alice@wren.lab>".to_owned(),
                format!("fuzz-{branch}"),
            ),
        };
        let (ctype, payload): (&str, &[u8]) = if body {
            ("Content-Type: application/sdp\r\n", SDP)
        } else {
            ("", b"")
        };
        let mut text = format!(
            "{method} sip:alice@alice.invalid;transport=ws SIP/2.0\r\n\
             Via: SIP/2.0/WSS far.invalid;branch=z9hG4bKfuzz{branch}\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:bob@far.invalid;transport=ws>\r\n\
             Record-Route: <sip:proxy.wren.lab;lr>\r\n{ctype}Content-Length: {}\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        text.extend_from_slice(payload);
        self.input(&text);
    }

    /// From, To and Call-ID for a far-end request in the dialog of one of the UA's messages.
    fn dialog_of(&self, back: u8) -> Option<(String, String, String)> {
        let (_, parsed) = self
            .sent
            .iter()
            .rev()
            .nth(usize::from(back) % self.sent.len().max(1))?;
        match parsed.as_ref()? {
            // The UA's request: we are its To (with our tag), it is our To.
            Message::Request(r) => {
                let to = r.raw(&"To".into())?.to_owned();
                let from = r.raw(&"From".into())?.to_owned();
                let to = if to.contains("tag=") {
                    to
                } else {
                    format!("{to};tag=fartag")
                };
                Some((to, from, r.call_id().to_string()))
            }
            // The UA's response: it answered our request, so the roles stay.
            Message::Response(r) => Some((
                r.raw(&"From".into())?.to_owned(),
                r.raw(&"To".into())?.to_owned(),
                r.call_id().to_string(),
            )),
        }
    }

    fn step(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Raw(data) => self.input(&data),
            Op::Respond { .. } => self.respond(&op),
            Op::Request {
                method,
                back,
                cseq,
                body,
                branch,
            } => self.request(method, back, cseq, body, branch),
            Op::Echo { back, flips } => {
                let Some((data, _)) = self
                    .sent
                    .iter()
                    .rev()
                    .nth(usize::from(back) % self.sent.len().max(1))
                else {
                    return;
                };
                let mut data = data.to_vec();
                for (at, byte) in flips {
                    if !data.is_empty() {
                        let i = usize::from(at) % data.len();
                        data[i] = byte;
                    }
                }
                self.input(&data);
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(ms) * 8);
                // Fire every deadline up to now, as the driver would.
                for _ in 0..1000 {
                    match self.ua.poll_timeout() {
                        Some(t) if t <= self.now => {
                            self.ua.handle_timeout(t.max(now));
                            self.drain();
                        }
                        _ => break,
                    }
                }
                self.ua.handle_timeout(self.now);
                self.drain();
                if let Some(t) = self.ua.poll_timeout() {
                    assert!(
                        t > self.now,
                        "asks to be woken in the past: {t:?} <= {:?}",
                        self.now
                    );
                }
            }
            Op::Register => {
                self.ua.register(now);
                self.drain();
            }
            Op::Unregister => {
                self.ua.unregister(now);
                self.drain();
            }
            Op::Invite(n) => {
                let target =
                    ["bob", "sip:bob@wren.lab", "bob@example.com", "", "tel:1"][usize::from(n) % 5];
                if let Ok(call) = self.ua.invite(now, target, Bytes::from_static(SDP)) {
                    self.calls.push(call);
                }
                self.drain();
            }
            Op::Ringing(i) => {
                let _ = self.ua.ringing(now, self.call(i));
                self.drain();
            }
            Op::Answer(i) => {
                let _ = self.ua.answer(now, self.call(i), Bytes::from_static(SDP));
                self.drain();
            }
            Op::Reject(i, code) => {
                let _ = self.ua.reject(now, self.call(i), StatusCode::new(code));
                self.drain();
            }
            Op::Hangup(i) => {
                let _ = self.ua.hangup(now, self.call(i));
                self.drain();
            }
            Op::FlowReset => {
                self.ua.flow_reset(now);
                self.drain();
            }
        }
    }
}

fuzz_target!(|input: (bool, Vec<Op>)| {
    let (udp, ops) = input;
    let mut h = Harness::new(if udp { Transport::Udp } else { Transport::Ws });
    for op in ops.into_iter().take(256) {
        h.step(op);
    }
});
