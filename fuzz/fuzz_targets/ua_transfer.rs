//! Transfers through a `UserAgent` with two confirmed calls (one it placed, one it
//! answered): the far ends send REFERs with arbitrary Refer-To values (RFC 3515), NOTIFYs
//! with arbitrary Event, Subscription-State and `message/sipfrag` bodies (RFC 3420), and new
//! INVITEs with arbitrary or near-miss Replaces values (RFC 3891); the owner starts blind and
//! attended transfers, reports transfer results and hangs up; the far ends answer the UA's
//! REFERs, NOTIFYs and BYEs; time passes. This reaches the private sipfrag, Refer-To,
//! Event, Subscription-State and Replaces parsers through `handle_input`.
//!
//! Checked: no panic; everything the UA sends parses; every REFER and NOTIFY the far end
//! sends gets exactly one final response at once; a transfer request names a URI (no
//! whitespace, has a scheme); after `handle_timeout(now)` the UA never asks to be woken at or
//! before `now`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use wren_sip::message::{parse, HeadersExt, Message, Request, Response};
use wren_sip::{CallHandle, Credentials, StatusCode, Tag, Transport, UaConfig, UaEvent, UserAgent};

const FAR_CONTACT: &str = "<sip:bob@192.0.2.9;transport=ws>";

#[derive(Arbitrary, Debug)]
enum ReferTo {
    Raw(String),
    /// One of a few well-formed targets.
    Known(u8),
    /// An attended transfer to the far end of dialog `.0`, Replaces escaped in the URI.
    Replacing(u8, bool),
}

#[derive(Arbitrary, Debug)]
enum Event {
    Raw(String),
    /// `refer;id=N`, N our REFER's CSeq plus the offset (None: no id).
    Refer(Option<i8>),
}

#[derive(Arbitrary, Debug)]
enum State {
    Raw(String),
    Active(Option<u64>),
    Pending,
    Terminated(Option<String>),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Frag(u16, String),
}

#[derive(Arbitrary, Debug)]
enum Replaces {
    Raw(String),
    /// Dialog `dialog`'s Call-ID and tags, tags swapped or not, maybe early-only, plus text.
    Dialog {
        dialog: u8,
        swap: bool,
        early_only: bool,
        extra: String,
    },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Refer {
        dialog: u8,
        refer_to: Vec<ReferTo>,
    },
    Notify {
        dialog: u8,
        event: Event,
        state: State,
        body: Body,
    },
    Invite(Vec<Replaces>),
    /// The UA's owner: blind transfer of call `.0` to target `.1`.
    ApiRefer(u8, u8),
    ApiReferReplacing(u8, u8),
    TransferResult(u8, u16),
    Hangup(u8),
    /// The far end answers one of the UA's recent requests.
    Respond {
        back: u8,
        code: u16,
        challenge: bool,
    },
    Advance(u16),
}

struct Dialog {
    call: CallHandle,
    near: String,
    far: String,
    call_id: String,
    far_cseq: u32,
}

struct Harness {
    ua: UserAgent,
    now: Instant,
    dialogs: Vec<Dialog>,
    /// The UA's recent requests.
    sent: Vec<Request>,
    /// CSeq of the UA's last REFER.
    refer_id: u32,
    branches: u32,
}

const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn tag_of(header: &str) -> &str {
    header.split(";tag=").nth(1).unwrap_or_default()
}

/// `%`-escapes everything but unreserved characters (RFC 3261 §25.1 `hvalue`).
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Harness {
    /// Drains transmissions and events; returns the UA's responses.
    fn drain(&mut self) -> Vec<Response> {
        let mut responses = Vec::new();
        while let Some(data) = self.ua.poll_transmit() {
            match parse(&data) {
                Ok(Message::Request(r)) => {
                    if r.method.to_string() == "REFER" {
                        if let Some(c) = r.cseq() {
                            self.refer_id = c.cseq;
                        }
                    }
                    if self.sent.len() == 16 {
                        self.sent.remove(0);
                    }
                    self.sent.push(r);
                }
                Ok(Message::Response(r)) => responses.push(r),
                Err(e) => panic!("the UA sent what it can't parse: {e:?}"),
            }
        }
        while let Some(event) = self.ua.poll_event() {
            if let UaEvent::TransferRequested { target, .. } = &event {
                assert!(
                    target.contains(':') && !target.contains(char::is_whitespace),
                    "transfer to {target:?}"
                );
            }
        }
        responses
    }

    fn input(&mut self, data: &[u8]) -> Vec<Response> {
        self.ua.handle_input(self.now, data);
        self.drain()
    }

    fn far_text(&mut self, d: usize, method: &str, extra: &str, body: &[u8]) -> Vec<u8> {
        self.branches += 1;
        let dlg = &mut self.dialogs[d];
        dlg.far_cseq += 1;
        let mut text = format!(
            "{method} sip:alice@a.invalid;transport=ws SIP/2.0\r\n\
             Via: SIP/2.0/WSS far.invalid;branch=z9hG4bKfar{}\r\nMax-Forwards: 70\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\n\
             Contact: {FAR_CONTACT}\r\n{extra}Content-Length: {}\r\n\r\n",
            self.branches,
            dlg.far,
            dlg.near,
            dlg.call_id,
            dlg.far_cseq,
            body.len()
        )
        .into_bytes();
        text.extend_from_slice(body);
        text
    }

    /// Sends a far-end request in dialog `d`; asserts one final response to it.
    fn far_request(&mut self, d: usize, method: &str, extra: &str, body: &[u8]) {
        let text = self.far_text(d, method, extra, body);
        // Header values with line breaks make another message: only check what parses as ours.
        let ours =
            matches!(parse(&text), Ok(Message::Request(ref r)) if r.method.to_string() == method);
        let branch = format!("z9hG4bKfar{}", self.branches);
        let responses = self.input(&text);
        if ours {
            let finals = responses
                .iter()
                .filter(|r| r.top_branch().is_some_and(|b| b.as_str() == branch))
                .filter(|r| r.code().as_u16() >= 200)
                .count();
            assert_eq!(finals, 1, "{method} answered {finals} times: {responses:?}");
        }
    }

    fn dialog(&self, i: u8) -> usize {
        usize::from(i) % self.dialogs.len()
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Refer { dialog, refer_to } => {
                let d = self.dialog(dialog);
                let mut extra = String::new();
                for r in refer_to.iter().take(3) {
                    let value = match r {
                        ReferTo::Raw(s) => s.clone(),
                        ReferTo::Known(n) => [
                            "<sip:carol@wren.lab>",
                            "sip:carol@wren.lab;method=INVITE",
                            "\"Carol\" <sip:carol@wren.lab>;p=1",
                            "<tel:+15551234>",
                            "<sips:carol@wren.lab?Subject=hi>",
                        ][usize::from(*n) % 5]
                            .to_owned(),
                        ReferTo::Replacing(o, early) => {
                            let o = &self.dialogs[self.dialog(*o)];
                            let mut v = format!(
                                "{};to-tag={};from-tag={}",
                                o.call_id,
                                tag_of(&o.far),
                                tag_of(&o.near)
                            );
                            if *early {
                                v.push_str(";early-only");
                            }
                            format!("<sip:carol@wren.lab?Replaces={}>", escape(&v))
                        }
                    };
                    extra.push_str(&format!("Refer-To: {value}\r\n"));
                }
                extra.push_str("Referred-By: <sip:bob@wren.lab>\r\n");
                self.far_request(d, "REFER", &extra, b"");
            }
            Op::Notify {
                dialog,
                event,
                state,
                body,
            } => {
                let d = self.dialog(dialog);
                let mut extra = match event {
                    Event::Raw(s) => format!("Event: {s}\r\n"),
                    Event::Refer(None) => "Event: refer\r\n".to_owned(),
                    Event::Refer(Some(off)) => format!(
                        "Event: refer;id={}\r\n",
                        i64::from(self.refer_id) + i64::from(off)
                    ),
                };
                match state {
                    State::Raw(s) => extra.push_str(&format!("Subscription-State: {s}\r\n")),
                    State::Active(None) => extra.push_str("Subscription-State: active\r\n"),
                    State::Active(Some(e)) => {
                        extra.push_str(&format!("Subscription-State: active;expires={e}\r\n"))
                    }
                    State::Pending => extra.push_str("Subscription-State: pending;expires=60\r\n"),
                    State::Terminated(reason) => extra.push_str(&format!(
                        "Subscription-State: terminated;reason={}\r\n",
                        reason.as_deref().unwrap_or("noresource")
                    )),
                    State::Missing => {}
                }
                let body = match body {
                    Body::Raw(b) => b,
                    Body::Frag(code, reason) => format!("SIP/2.0 {code} {reason}\r\n").into_bytes(),
                };
                extra.push_str("Content-Type: message/sipfrag;version=2.0\r\n");
                self.far_request(d, "NOTIFY", &extra, &body);
            }
            Op::Invite(values) => {
                self.branches += 1;
                let n = self.branches;
                let mut extra = String::new();
                for v in values.iter().take(2) {
                    let value = match v {
                        Replaces::Raw(s) => s.clone(),
                        Replaces::Dialog {
                            dialog,
                            swap,
                            early_only,
                            extra,
                        } => {
                            let o = &self.dialogs[self.dialog(*dialog)];
                            let (to, from) = (tag_of(&o.near), tag_of(&o.far));
                            let (to, from) = if *swap { (from, to) } else { (to, from) };
                            let early = if *early_only { ";early-only" } else { "" };
                            format!("{};to-tag={to};from-tag={from}{early}{extra}", o.call_id)
                        }
                    };
                    extra.push_str(&format!("Replaces: {value}\r\n"));
                }
                let mut text = format!(
                    "INVITE sip:alice@a.invalid;transport=ws SIP/2.0\r\n\
                     Via: SIP/2.0/WSS carol.invalid;branch=z9hG4bKcarol{n}\r\nMax-Forwards: 70\r\n\
                     From: <sip:carol@wren.lab>;tag=ct{n}\r\nTo: <sip:alice@wren.lab>\r\n\
                     Call-ID: carol-{n}\r\nCSeq: 1 INVITE\r\n\
                     Contact: <sip:carol@192.0.2.7;transport=ws>\r\n{extra}\
                     Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
                    SDP.len()
                )
                .into_bytes();
                text.extend_from_slice(SDP);
                self.input(&text);
            }
            Op::ApiRefer(d, t) => {
                let call = self.dialogs[self.dialog(d)].call;
                let target =
                    ["carol", "sip:carol@wren.lab", "", "tel:1", "a b"][usize::from(t) % 5];
                let _ = self.ua.refer(self.now, call, target);
                self.drain();
            }
            Op::ApiReferReplacing(a, b) => {
                let (a, b) = (
                    self.dialogs[self.dialog(a)].call,
                    self.dialogs[self.dialog(b)].call,
                );
                let _ = self.ua.refer_replacing(self.now, a, b);
                self.drain();
            }
            Op::TransferResult(d, code) => {
                let call = self.dialogs[self.dialog(d)].call;
                let _ = self
                    .ua
                    .transfer_result(self.now, call, StatusCode::new(code));
                self.drain();
            }
            Op::Hangup(d) => {
                let call = self.dialogs[self.dialog(d)].call;
                let _ = self.ua.hangup(self.now, call);
                self.drain();
            }
            Op::Respond {
                back,
                code,
                challenge,
            } => {
                if self.sent.is_empty() {
                    return;
                }
                let req =
                    self.sent[self.sent.len() - 1 - usize::from(back) % self.sent.len()].clone();
                if req.method.to_string() == "ACK" {
                    return;
                }
                let code = StatusCode::new(100 + code % 600);
                let mut resp = Response::to_request(&req.method, &req.headers, code, None);
                if challenge {
                    resp.headers.insert(
                        "WWW-Authenticate",
                        r#"Digest realm="wren.lab", nonce="n1", qop="auth""#,
                    );
                }
                self.input(&resp.to_bytes());
            }
            Op::Advance(ms) => {
                let until = self.now + Duration::from_millis(u64::from(ms) * 16);
                for _ in 0..1000 {
                    match self.ua.poll_timeout() {
                        Some(t) if t <= until => {
                            self.now = self.now.max(t);
                            self.ua.handle_timeout(self.now);
                            self.drain();
                            if let Some(next) = self.ua.poll_timeout() {
                                assert!(next > self.now, "asks to be woken in the past");
                            }
                        }
                        _ => break,
                    }
                }
                self.now = self.now.max(until);
            }
        }
    }
}

fn config() -> UaConfig {
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
        user_agent: "fuzz".into(),
    }
}

/// Alice called Bob and Bob answered; then Dave called Alice and Alice answered.
fn setup() -> Harness {
    let mut h = Harness {
        ua: UserAgent::new(config(), 7),
        now: Instant::now(),
        dialogs: Vec::new(),
        sent: Vec::new(),
        refer_id: 1,
        branches: 0,
    };
    let call =
        h.ua.invite(h.now, "bob", Bytes::from_static(SDP))
            .expect("an invite to bob");
    h.drain();
    let invite = h
        .sent
        .iter()
        .find(|r| r.method.to_string() == "INVITE")
        .cloned()
        .expect("INVITE sent");
    let mut ok = Response::to_request(
        &invite.method,
        &invite.headers,
        StatusCode::OK,
        Some(&Tag::new("bt")),
    );
    ok.headers.insert("Contact", FAR_CONTACT);
    ok.headers.insert("Content-Type", "application/sdp");
    ok.body = Bytes::from_static(SDP);
    h.input(&ok.to_bytes());
    h.dialogs.push(Dialog {
        call,
        near: invite.raw(&"From".into()).unwrap_or_default().to_owned(),
        far: ok.raw(&"To".into()).unwrap_or_default().to_owned(),
        call_id: invite.call_id().to_string(),
        far_cseq: 100,
    });
    h.dialogs.push(Dialog {
        call: CallHandle(u64::MAX),
        near: "<sip:alice@wren.lab>".into(),
        far: "<sip:dave@wren.lab>;tag=dt".into(),
        call_id: "dave-call".into(),
        far_cseq: 0,
    });
    let invite = h.far_text(1, "INVITE", "Content-Type: application/sdp\r\n", SDP);
    h.ua.handle_input(h.now, &invite);
    let mut incoming = None;
    while let Some(data) = h.ua.poll_transmit() {
        drop(data);
    }
    while let Some(ev) = h.ua.poll_event() {
        if let UaEvent::IncomingCall { call, .. } = ev {
            incoming = Some(call);
        }
    }
    let incoming = incoming.expect("dave's call comes in");
    h.dialogs[1].call = incoming;
    h.ua.answer(h.now, incoming, Bytes::from_static(SDP))
        .expect("answer dave");
    while let Some(data) = h.ua.poll_transmit() {
        if let Ok(Message::Response(r)) = parse(&data) {
            if r.code() == StatusCode::OK {
                h.dialogs[1].near = r.raw(&"To".into()).unwrap_or_default().to_owned();
            }
        }
    }
    h.dialogs[1].far_cseq -= 1; // the ACK has the INVITE's CSeq
    let ack = h.far_text(1, "ACK", "", b"");
    h.input(&ack);
    h.sent.clear();
    h
}

fuzz_target!(|ops: Vec<Op>| {
    let mut h = setup();
    for op in ops.into_iter().take(128) {
        h.step(op);
    }
});
