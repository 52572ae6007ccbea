//! The user agent against a scripted far end: re-INVITEs (RFC 3261 §14) and transfers
//! (RFC 3515), message by message. The far end's messages are written out as text so the
//! tests read like the call flows of RFC 3665 and RFC 5589.

use super::refer::sipfrag_status;
use super::*;

mod limits;

const FAR_CONTACT: &str = "<sip:bob@192.0.2.9;transport=ws>";
const FAR_TARGET: &str = "sip:bob@192.0.2.9;transport=ws";

fn config(user: &str) -> UaConfig {
    UaConfig {
        user: user.into(),
        domain: "wren.lab".into(),
        display_name: None,
        credentials: Credentials {
            username: user.into(),
            password: "pw".into(),
        },
        transport: Transport::Ws,
        instance_id: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
        register_expires: 600,
        user_agent: "unit".into(),
    }
}

fn sdp(direction: &str) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\na={direction}\r\n"
    ))
}

/// A UA with one confirmed call, and what the far end of that call needs to talk to it.
struct Peer {
    ua: UserAgent,
    now: Instant,
    call: CallHandle,
    /// The UA's From/To value in the dialog, with its tag.
    near: String,
    /// The far end's, with its tag.
    far: String,
    call_id: String,
    far_cseq: u32,
    far_branches: u32,
    /// The Route headers the UA must put on its in-dialog requests.
    routes: [&'static str; 2],
}

impl Peer {
    /// Alice called Bob through two record-routing proxies; Bob answered.
    fn caller(seed: u64) -> Self {
        let mut ua = UserAgent::new(config("alice"), seed);
        let now = Instant::now();
        let call = ua.invite(now, "bob", sdp("sendrecv")).unwrap();
        let mut p = Peer::new(
            ua,
            now,
            call,
            ["<sip:edge1.example;lr>", "<sip:edge2.example;lr>"],
        );
        let invite = only_request(&p.sent(), "INVITE");
        let mut ok = Response::to_request(
            &invite.method,
            &invite.headers,
            StatusCode::OK,
            Some(&Tag::new("bt")),
        );
        // As they arrive: the proxy nearest Bob on top (RFC 3261 §16.6 step 4).
        ok.headers
            .insert(Name::RECORD_ROUTE, "<sip:edge2.example;lr>");
        ok.headers
            .insert(Name::RECORD_ROUTE, "<sip:edge1.example;lr>");
        ok.headers.insert(Name::CONTACT, FAR_CONTACT);
        ok.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        ok.body = sdp("sendrecv");
        p.input(&ok.to_bytes());
        only_request(&p.sent(), "ACK");
        assert!(matches!(p.events()[..], [UaEvent::Answered { .. }]));
        p.near = invite.raw(&Name::FROM).unwrap().to_owned();
        p.far = ok.raw(&Name::TO).unwrap().to_owned();
        p.call_id = invite.call_id().to_string();
        p
    }

    /// Bob called Alice through two record-routing proxies; Alice answered and got the ACK.
    fn callee(seed: u64) -> Self {
        let ua = UserAgent::new(config("alice"), seed);
        let mut p = Peer::new(
            ua,
            Instant::now(),
            CallHandle(0),
            ["<sip:edge2.example;lr>", "<sip:edge1.example;lr>"],
        );
        p.far = "<sip:bob@wren.lab>;tag=bt".into();
        p.near = "<sip:alice@wren.lab>".into();
        p.call_id = "callee-call".into();
        p.far_cseq = 1;
        let offer = sdp("sendrecv");
        let invite = p.far_text(
            "INVITE",
            1,
            "z9hG4bKinvite",
            "Record-Route: <sip:edge2.example;lr>\r\nRecord-Route: <sip:edge1.example;lr>\r\n\
             Content-Type: application/sdp\r\n",
            &offer,
        );
        p.input(&invite);
        let [UaEvent::IncomingCall { call, .. }] = p.events()[..] else {
            panic!("no incoming call")
        };
        p.call = call;
        p.ua.answer(p.now, call, sdp("sendrecv")).unwrap();
        let ok = only_response(&p.sent(), 200);
        p.near = ok.raw(&Name::TO).unwrap().to_owned();
        let ack = p.far_text("ACK", 1, "z9hG4bKack1", "", b"");
        p.input(&ack);
        p.events();
        p
    }

    fn new(ua: UserAgent, now: Instant, call: CallHandle, routes: [&'static str; 2]) -> Self {
        Self {
            ua,
            now,
            call,
            near: String::new(),
            far: String::new(),
            call_id: String::new(),
            far_cseq: 100,
            far_branches: 0,
            routes,
        }
    }

    fn sent(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(data) = self.ua.poll_transmit() {
            out.push(message::parse(&data).expect("the UA sends what it can parse"));
        }
        out
    }

    fn events(&mut self) -> Vec<UaEvent> {
        std::iter::from_fn(|| self.ua.poll_event()).collect()
    }

    fn input(&mut self, data: &[u8]) {
        self.ua.handle_input(self.now, data);
    }

    /// Lets `d` pass, firing every deadline on the way as the engine's driver would.
    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        for _ in 0..10_000 {
            match self.ua.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.ua.handle_timeout(self.now);
                    if let Some(next) = self.ua.poll_timeout() {
                        assert!(next > self.now, "asks to be woken in the past");
                    }
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("timers never settle");
    }

    /// A request from the far end in the dialog, as text.
    fn far_text(&self, method: &str, cseq: u32, branch: &str, extra: &str, body: &[u8]) -> Vec<u8> {
        let mut text = format!(
            "{method} sip:alice@a.invalid;transport=ws SIP/2.0\r\n\
             Via: SIP/2.0/WSS far.invalid;branch={branch}\r\nMax-Forwards: 70\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             Contact: {FAR_CONTACT}\r\n{extra}Content-Length: {}\r\n\r\n",
            self.far,
            self.near,
            self.call_id,
            body.len()
        )
        .into_bytes();
        text.extend_from_slice(body);
        text
    }

    /// Sends a new request from the far end; returns its CSeq number and branch.
    fn far_request(&mut self, method: &str, extra: &str, body: &[u8]) -> (u32, String) {
        self.far_cseq += 1;
        self.far_branches += 1;
        let branch = format!("z9hG4bKfar{}", self.far_branches);
        let text = self.far_text(method, self.far_cseq, &branch, extra, body);
        self.input(&text);
        (self.far_cseq, branch)
    }

    /// The far end's ACK for a 2xx to its INVITE with CSeq `cseq`.
    fn far_ack(&mut self, cseq: u32, body: &[u8]) {
        self.far_branches += 1;
        let branch = format!("z9hG4bKfar{}", self.far_branches);
        let extra = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let text = self.far_text("ACK", cseq, &branch, extra, body);
        self.input(&text);
    }

    /// The far end answers `req` (To tag and all already in it).
    fn respond(&mut self, req: &Request, code: u16, extra: &[(&str, &str)], body: &[u8]) {
        let mut resp = Response::to_request(&req.method, &req.headers, StatusCode::new(code), None);
        for (name, value) in extra {
            resp.headers
                .insert(Name::from(name.to_string()), value.to_string());
        }
        resp.body = Bytes::copy_from_slice(body);
        self.input(&resp.to_bytes());
    }

    /// Asserts the shape of an in-dialog request of ours (RFC 3261 §12.2.1.1).
    fn assert_in_dialog(&self, req: &Request) {
        assert_eq!(uri_string(&req.uri, &req.method), FAR_TARGET);
        assert_eq!(routes(req), self.routes);
        assert_eq!(req.raw(&Name::FROM), Some(self.near.as_str()));
        assert_eq!(req.raw(&Name::TO), Some(self.far.as_str()));
        assert_eq!(req.call_id(), self.call_id);
    }
}

fn requests(msgs: &[Message], method: &str) -> Vec<Request> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method.to_string() == method => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn only_request(msgs: &[Message], method: &str) -> Request {
    let found = requests(msgs, method);
    assert_eq!(found.len(), 1, "one {method} expected in {msgs:#?}");
    found.into_iter().next().expect("checked just above")
}

fn responses(msgs: &[Message]) -> Vec<Response> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn only_response(msgs: &[Message], code: u16) -> Response {
    let found: Vec<_> = responses(msgs)
        .into_iter()
        .filter(|r| r.code() == code)
        .collect();
    assert_eq!(found.len(), 1, "one {code} expected in {msgs:#?}");
    found.into_iter().next().expect("checked just above")
}

fn routes(req: &Request) -> Vec<String> {
    req.headers
        .get_raw(&Name::ROUTE)
        .map(|r| r.to_string())
        .collect()
}

fn cseq(msg: &impl HeadersExt) -> (u32, String) {
    let c = msg.cseq().expect("CSeq");
    (c.cseq, c.method.to_string())
}

// ---- re-INVITE, ours (RFC 3261 §14.1) ----

/// RFC 3261 §13.2.2.4: the ACK for a 2xx is an in-dialog request with the INVITE's CSeq
/// number, method ACK, over the route set; a retransmitted 2xx gets the same ACK again.
#[test]
fn reinvite_2xx_is_acked_with_invite_cseq_over_route_set() {
    let mut p = Peer::caller(1);
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
    let invite = only_request(&p.sent(), "INVITE");
    p.assert_in_dialog(&invite);
    assert_eq!(cseq(&invite), (2, "INVITE".into()));
    assert_eq!(invite.raw(&Name::CONTENT_TYPE), Some("application/sdp"));
    assert!(invite.raw(&Name::CONTACT).is_some());
    assert_eq!(invite.body, sdp("sendonly"));
    let busy = p.ua.reinvite(p.now, p.call, sdp("sendrecv")).unwrap_err();
    assert_eq!(busy.code(), "sip.request_pending");
    assert_eq!(busy, UaError::Pending);

    let ct = [("Content-Type", "application/sdp")];
    p.respond(&invite, 200, &ct, &sdp("recvonly"));
    let sent = p.sent();
    let ack = only_request(&sent, "ACK");
    p.assert_in_dialog(&ack);
    assert_eq!(cseq(&ack), (2, "ACK".into()));
    assert_ne!(
        ack.top_branch(),
        invite.top_branch(),
        "a 2xx ACK is its own transaction"
    );
    let [UaEvent::ReinviteAnswered { call, sdp: answer }] = &p.events()[..] else {
        panic!("no ReinviteAnswered")
    };
    assert_eq!((*call, answer), (p.call, &sdp("recvonly")));
    assert_eq!(p.ua.local_sdp(p.call), Some(&sdp("sendonly")));

    p.respond(&invite, 200, &ct, &sdp("recvonly"));
    let again = only_request(&p.sent(), "ACK");
    assert_eq!(
        again.to_bytes(),
        ack.to_bytes(),
        "the same ACK for the retransmission"
    );
    assert!(p.events().is_empty());
    // The exchange is over: the next one may start.
    p.ua.reinvite(p.now, p.call, sdp("sendrecv")).unwrap();
    assert_eq!(
        cseq(&only_request(&p.sent(), "INVITE")),
        (3, "INVITE".into())
    );
}

/// RFC 3261 §14.1: after a 491 the owner of the Call-ID (the caller) retries after 2.1-4 s,
/// the other side after 0-2 s; only once, a second 491 is final.
#[test]
fn reinvite_491_is_retried_once_within_rfc3261_bounds() {
    for (caller, bounds) in [(true, (2100, 4000)), (false, (0, 2000))] {
        let mut delays = Vec::new();
        for seed in 0..24 {
            let mut p = if caller {
                Peer::caller(seed)
            } else {
                Peer::callee(seed)
            };
            p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
            let first = only_request(&p.sent(), "INVITE");
            p.respond(&first, 491, &[], b"");
            assert_eq!(
                cseq(&only_request(&p.sent(), "ACK")),
                (cseq(&first).0, "ACK".into())
            );
            assert!(p.events().is_empty(), "a 491 is retried, not reported");
            // Let the transaction's own (zero-length on WS) Timer D go first.
            p.ua.handle_timeout(p.now);
            let at = p.ua.poll_timeout().expect("a retry is scheduled");
            let delay = (at - p.now).as_millis() as u64;
            assert!(
                (bounds.0..=bounds.1).contains(&delay) && delay.is_multiple_of(10),
                "caller {caller}, seed {seed}: {delay} ms"
            );
            delays.push(delay);
            if delay > 0 {
                p.advance(Duration::from_millis(delay - 1));
                assert!(requests(&p.sent(), "INVITE").is_empty(), "retried early");
            }
            p.advance(Duration::from_millis(1));
            let retry = only_request(&p.sent(), "INVITE");
            p.assert_in_dialog(&retry);
            assert_eq!(cseq(&retry).0, cseq(&first).0 + 1);
            assert_eq!(retry.body, sdp("sendonly"));

            p.respond(&retry, 491, &[], b"");
            let events = p.events();
            assert!(
                matches!(events[..], [UaEvent::ReinviteFailed { status: StatusCode::REQUEST_PENDING, call, error: None }] if call == p.call),
                "{events:?}"
            );
            p.advance(Duration::from_secs(60));
            assert!(requests(&p.sent(), "INVITE").is_empty(), "retried twice");
            assert!(p.ua.has_calls(), "a refused re-INVITE leaves the call up");
            assert_eq!(p.ua.local_sdp(p.call), Some(&sdp("sendrecv")));
        }
        delays.sort_unstable();
        delays.dedup();
        assert!(delays.len() > 5, "the back-off is random: {delays:?}");
    }
}

/// RFC 3261 §14.2: a re-INVITE while ours is in progress is glare: 491, and the owner hears
/// nothing; ours completes as usual.
#[test]
fn reinvite_from_far_end_while_ours_is_pending_gets_491() {
    let mut p = Peer::callee(2);
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
    let ours = only_request(&p.sent(), "INVITE");
    let (theirs, _) = p.far_request(
        "INVITE",
        "Content-Type: application/sdp\r\n",
        &sdp("sendonly"),
    );
    let glare = only_response(&p.sent(), 491);
    assert_eq!(cseq(&glare), (theirs, "INVITE".into()));
    assert!(p.events().is_empty());
    p.respond(
        &ours,
        200,
        &[("Content-Type", "application/sdp")],
        &sdp("recvonly"),
    );
    only_request(&p.sent(), "ACK");
    assert!(matches!(p.events()[..], [UaEvent::ReinviteAnswered { .. }]));
}

/// RFC 3261 §12.2.1.2: 481 means the dialog is gone (just end); a timeout means it is
/// presumed gone (end with BYE).
#[test]
fn reinvite_481_ends_the_call_and_a_timeout_sends_bye() {
    let mut p = Peer::caller(3);
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
    let invite = only_request(&p.sent(), "INVITE");
    p.respond(&invite, 481, &[], b"");
    let events = p.events();
    let [UaEvent::Ended { reason, status, .. }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (reason, *status),
        (
            &EndReason::Failed(SipError::DialogGone),
            Some(StatusCode::CALL_DOES_NOT_EXIST)
        )
    );
    assert_eq!(SipError::DialogGone.code(), "sip.dialog_gone");
    assert!(requests(&p.sent(), "BYE").is_empty());

    let mut p = Peer::caller(4);
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
    p.sent();
    p.advance(64 * T1);
    let bye = only_request(&p.sent(), "BYE");
    p.assert_in_dialog(&bye);
    p.respond(&bye, 200, &[], b"");
    let events = p.events();
    assert!(
        matches!(
            &events[..],
            [UaEvent::Ended {
                reason: EndReason::Failed(SipError::Timeout),
                ..
            }]
        ),
        "{events:?}"
    );
}

// ---- re-INVITE, theirs (RFC 3261 §14.2) ----

#[test]
fn reoffer_is_answered_by_owner_with_contact_and_sdp() {
    let mut p = Peer::caller(5);
    let ct = "Content-Type: application/sdp\r\n";
    let (n, _) = p.far_request("INVITE", ct, &sdp("sendonly"));
    only_response(&p.sent(), 100);
    let events = p.events();
    let [UaEvent::Reoffer { call, sdp: offer }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!((*call, offer), (p.call, &sdp("sendonly")));
    assert_eq!(
        p.ua.reinvite(p.now, p.call, sdp("sendonly")),
        Err(UaError::Pending)
    );

    p.ua.answer_reoffer(p.now, p.call, sdp("recvonly")).unwrap();
    let ok = only_response(&p.sent(), 200);
    assert_eq!(cseq(&ok), (n, "INVITE".into()));
    assert!(ok.raw(&Name::CONTACT).is_some_and(|c| c.contains(";ob")));
    assert_eq!(ok.raw(&Name::CONTENT_TYPE), Some("application/sdp"));
    assert_eq!(ok.raw(&Name::TO), Some(p.near.as_str()));
    assert_eq!(ok.body, sdp("recvonly"));
    assert_eq!(
        p.ua.answer_reoffer(p.now, p.call, sdp("recvonly")),
        Err(UaError::InvalidState)
    );
    // The 2xx is retransmitted until the ACK comes (RFC 3261 §13.3.1.4)...
    p.advance(T1);
    assert_eq!(only_response(&p.sent(), 200).to_bytes(), ok.to_bytes());
    p.far_ack(n, b"");
    assert!(
        p.events().is_empty(),
        "the offer came in the INVITE: nothing in the ACK"
    );
    // ...and not after.
    p.advance(Duration::from_secs(40));
    assert!(responses(&p.sent()).is_empty());
    assert_eq!(p.ua.local_sdp(p.call), Some(&sdp("recvonly")));
    p.ua.reinvite(p.now, p.call, sdp("sendrecv")).unwrap();
}

#[test]
fn reoffer_rejected_by_owner_keeps_the_call() {
    let mut p = Peer::callee(6);
    let ct = "Content-Type: application/sdp\r\n";
    let (n, branch) = p.far_request("INVITE", ct, &sdp("inactive"));
    p.events();
    p.ua.reject_reoffer(p.now, p.call, StatusCode::new(488))
        .unwrap();
    let refused = only_response(&p.sent(), 488);
    assert_eq!(cseq(&refused), (n, "INVITE".into()));
    assert_eq!(
        p.ua.reject_reoffer(p.now, p.call, StatusCode::new(488)),
        Err(UaError::InvalidState)
    );
    // The far end's ACK for the 488 belongs to the INVITE transaction.
    let ack = p.far_text("ACK", n, &branch, "", b"");
    p.input(&ack);
    p.advance(Duration::from_secs(40));
    assert!(p.sent().is_empty());
    assert!(p.events().is_empty());
    assert_eq!(p.ua.local_sdp(p.call), Some(&sdp("sendrecv")));

    // A nonsense code is refused as 488.
    p.far_request("INVITE", ct, &sdp("inactive"));
    p.sent();
    p.ua.reject_reoffer(p.now, p.call, StatusCode::new(200))
        .unwrap();
    only_response(&p.sent(), 488);
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
}

#[test]
fn reoffer_unanswered_by_owner_gets_500_after_32_s() {
    let mut p = Peer::caller(7);
    let (n, _) = p.far_request(
        "INVITE",
        "Content-Type: application/sdp\r\n",
        &sdp("sendonly"),
    );
    p.sent();
    p.advance(Duration::from_millis(31_999));
    assert!(responses(&p.sent()).is_empty());
    p.advance(Duration::from_millis(1));
    let resp = only_response(&p.sent(), 500);
    assert_eq!(cseq(&resp), (n, "INVITE".into()));
    assert_eq!(
        p.ua.answer_reoffer(p.now, p.call, sdp("recvonly")),
        Err(UaError::InvalidState)
    );
    assert!(p.ua.has_calls());
    assert!(matches!(p.events()[..], [UaEvent::Reoffer { .. }]));
}

/// RFC 3264 §4 / RFC 3261 §14.2: an offerless re-INVITE gets our offer in the 200 and the
/// far end's answer in the ACK, which comes out as `RemoteSdp`.
#[test]
fn offerless_reoffer_gets_its_answer_from_the_ack() {
    let mut p = Peer::callee(8);
    let (n, _) = p.far_request("INVITE", "", b"");
    let events = p.events();
    assert!(
        matches!(&events[..], [UaEvent::Reoffer { sdp, .. }] if sdp.is_empty()),
        "{events:?}"
    );
    p.ua.answer_reoffer(p.now, p.call, sdp("sendrecv")).unwrap();
    assert_eq!(only_response(&p.sent(), 200).body, sdp("sendrecv"));
    // A second re-INVITE before the ACK: the first exchange isn't finished (RFC 6337 §3.1).
    p.far_request("INVITE", "", b"");
    only_response(&p.sent(), 491);
    p.far_ack(n, &sdp("recvonly"));
    let events = p.events();
    assert!(
        matches!(&events[..], [UaEvent::RemoteSdp { call, sdp: s }] if *call == p.call && *s == sdp("recvonly")),
        "{events:?}"
    );
}

/// A BYE while the owner still ponders a re-INVITE: the re-INVITE gets 487.
#[test]
fn bye_during_reoffer_terminates_it_with_487() {
    let mut p = Peer::caller(9);
    p.far_request(
        "INVITE",
        "Content-Type: application/sdp\r\n",
        &sdp("sendonly"),
    );
    p.sent();
    p.far_request("BYE", "", b"");
    let sent = p.sent();
    assert_eq!(
        responses(&sent)
            .iter()
            .map(Response::code)
            .collect::<Vec<_>>(),
        [487, 200]
    );
    assert!(p.events().iter().any(|e| matches!(
        e,
        UaEvent::Ended {
            reason: EndReason::RemoteHangup,
            ..
        }
    )));
}

/// RFC 3261 §9.2: a CANCEL of a pending re-INVITE gets 200, the re-INVITE 487, and the
/// call stays as it was.
#[test]
fn cancelled_reoffer_gets_487_and_the_call_stays() {
    let mut p = Peer::callee(17);
    let ct = "Content-Type: application/sdp\r\n";
    let (n, branch) = p.far_request("INVITE", ct, &sdp("sendonly"));
    p.sent();
    let cancel = p.far_text("CANCEL", n, &branch, "", b"");
    p.input(&cancel);
    let sent = p.sent();
    let codes: Vec<_> = responses(&sent)
        .iter()
        .map(|r| (r.code().as_u16(), cseq(r).1))
        .collect();
    assert_eq!(codes, [(200, "CANCEL".into()), (487, "INVITE".into())]);
    assert_eq!(
        p.ua.answer_reoffer(p.now, p.call, sdp("recvonly")),
        Err(UaError::InvalidState)
    );
    assert!(p.ua.has_calls());
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
}

// ---- REFER, ours (RFC 3515 §2.4.1, RFC 3892) ----

#[test]
fn refer_carries_refer_to_referred_by_and_contact_over_the_route_set() {
    let mut p = Peer::caller(10);
    assert!(matches!(
        p.ua.refer(p.now, p.call, "sip:carol@x y"),
        Err(UaError::InvalidUri(_))
    ));
    p.ua.refer(p.now, p.call, "carol").unwrap();
    let refer = only_request(&p.sent(), "REFER");
    p.assert_in_dialog(&refer);
    assert_eq!(cseq(&refer), (2, "REFER".into()));
    assert_eq!(refer.raw(&Name::REFER_TO), Some("<sip:carol@wren.lab>"));
    assert_eq!(
        refer.raw(&Name::from("Referred-By")),
        Some("<sip:alice@wren.lab>")
    );
    assert!(refer.raw(&Name::CONTACT).is_some_and(|c| c.contains(";ob")));
    assert_eq!(p.ua.refer(p.now, p.call, "dave"), Err(UaError::Pending));
    p.respond(&refer, 202, &[], b"");
    assert!(p.events().is_empty());
    assert_eq!(p.ua.refer(p.now, p.call, "dave"), Err(UaError::Pending));
    // In-dialog requests keep counting up.
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
    assert_eq!(cseq(&only_request(&p.sent(), "INVITE")).0, 3);
}

#[test]
fn refer_refused_or_unanswered_fails_the_transfer() {
    let mut p = Peer::callee(11);
    p.ua.refer(p.now, p.call, "carol").unwrap();
    let refer = only_request(&p.sent(), "REFER");
    p.respond(&refer, 403, &[], b"");
    let events = p.events();
    assert!(
        matches!(
            events[..],
            [UaEvent::TransferFailed {
                status: StatusCode::FORBIDDEN,
                ..
            }]
        ),
        "{events:?}"
    );

    p.ua.refer(p.now, p.call, "carol").unwrap();
    p.sent();
    p.advance(64 * T1);
    let events = p.events();
    assert!(
        matches!(
            events[..],
            [UaEvent::TransferFailed {
                status: StatusCode::REQUEST_TIMEOUT,
                ..
            }]
        ),
        "{events:?}"
    );
    assert!(p.ua.has_calls());
    assert!(requests(&p.sent(), "BYE").is_empty());
}

/// RFC 3420 start lines, and what must not be taken for one.
#[test]
fn sipfrag_status_lines() {
    let cases: [(&[u8], Option<u16>); 12] = [
        (b"SIP/2.0 100 Trying\r\n", Some(100)),
        (b"SIP/2.0 180 Ringing\r\n", Some(180)),
        (b"SIP/2.0 200 OK\r\nContact: <sip:c@d>\r\n\r\n", Some(200)),
        (b"SIP/2.0 503 Service Unavailable", Some(503)),
        (b"\r\nSIP/2.0 486\r\n", Some(486)),
        (b"", None),
        (b"garbage", None),
        (b"SIP/2.0 2000 OK\r\n", None),
        (b"SIP/2.0 099 Low\r\n", None),
        (b"SIP/2.0 20x OK\r\n", None),
        (b"INVITE sip:a@b SIP/2.0\r\n", None),
        (b"SIP/2.0 \xff\xfe\r\n", None),
    ];
    for (body, want) in cases {
        assert_eq!(
            sipfrag_status(body).map(StatusCode::as_u16),
            want,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

/// RFC 3515 §2.4.5: NOTIFYs with sipfrag bodies report the new call; each gets 200.
#[test]
fn notify_sipfrag_reports_transfer_progress_and_outcome() {
    let frag = "Event: refer\r\nContent-Type: message/sipfrag;version=2.0\r\n";
    let active = format!("{frag}Subscription-State: active;expires=60\r\n");
    let done = format!("{frag}Subscription-State: terminated;reason=noresource\r\n");
    let mut p = Peer::caller(12);
    p.ua.refer(p.now, p.call, "carol").unwrap();
    let refer = only_request(&p.sent(), "REFER");
    // The first NOTIFY may overtake the 202.
    p.far_request("NOTIFY", &active, b"SIP/2.0 100 Trying\r\n");
    assert_eq!(cseq(&only_response(&p.sent(), 200)).1, "NOTIFY");
    p.respond(&refer, 202, &[], b"");
    p.far_request("NOTIFY", &active, b"nonsense");
    only_response(&p.sent(), 200);
    p.far_request("NOTIFY", &active, b"SIP/2.0 180 Ringing\r\n");
    only_response(&p.sent(), 200);
    p.far_request("NOTIFY", &done, b"SIP/2.0 503 Service Unavailable\r\n");
    only_response(&p.sent(), 200);
    let statuses: Vec<_> = p
        .events()
        .into_iter()
        .map(|e| match e {
            UaEvent::TransferProgress { status, .. } => format!("progress {status}"),
            UaEvent::TransferFailed { status, .. } => format!("failed {status}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, ["progress 100", "progress 180", "failed 503"]);
    assert!(p.ua.has_calls() && requests(&p.sent(), "BYE").is_empty());
    // That subscription is over.
    p.far_request("NOTIFY", &done, b"SIP/2.0 200 OK\r\n");
    only_response(&p.sent(), 481);
    assert!(p.events().is_empty());

    // Ended with a report we can't read: 500; ended without a report: 487.
    for (body, status) in [(&b"SIP/2.0 OK"[..], 500), (&b""[..], 487)] {
        p.ua.refer(p.now, p.call, "carol").unwrap();
        p.sent();
        p.far_request("NOTIFY", &done, body);
        only_response(&p.sent(), 200);
        let events = p.events();
        assert!(
            matches!(events[..], [UaEvent::TransferFailed { status: s, .. }] if s == status),
            "{events:?}"
        );
    }

    // Success: Transferred, then our BYE, and the call ends as Transferred.
    p.ua.refer(p.now, p.call, "carol").unwrap();
    let refer = only_request(&p.sent(), "REFER");
    let id = cseq(&refer).0;
    let wrong = format!(
        "Event: refer;id={}\r\nSubscription-State: active\r\n",
        id + 7
    );
    p.far_request("NOTIFY", &wrong, b"SIP/2.0 200 OK\r\n");
    only_response(&p.sent(), 481);
    let right = format!("Event: refer;id={id}\r\nSubscription-State: terminated\r\n");
    p.far_request("NOTIFY", &right, b"SIP/2.0 200 OK\r\n");
    let sent = p.sent();
    only_response(&sent, 200);
    let bye = only_request(&sent, "BYE");
    p.assert_in_dialog(&bye);
    assert!(matches!(p.events()[..], [UaEvent::Transferred { call }] if call == p.call));
    p.respond(&bye, 200, &[], b"");
    let events = p.events();
    assert!(
        matches!(
            &events[..],
            [UaEvent::Ended {
                reason: EndReason::Transferred,
                status: Some(StatusCode::OK),
                ..
            }]
        ),
        "{events:?}"
    );
}

#[test]
fn notify_for_no_refer_of_ours_gets_481() {
    let mut p = Peer::callee(13);
    let ev = "Event: refer\r\nSubscription-State: active\r\n";
    p.far_request("NOTIFY", ev, b"SIP/2.0 200 OK\r\n");
    only_response(&p.sent(), 481);
    // Outside any dialog: no subscription either; a REFER there is refused.
    for (method, code) in [("NOTIFY", 481), ("REFER", 403)] {
        let mut text = String::from_utf8(p.far_text(method, 1, "z9hG4bKood", ev, b"")).unwrap();
        text = text
            .replace(&p.near, "<sip:alice@wren.lab>")
            .replace("callee-call", "other");
        p.input(text.as_bytes());
        only_response(&p.sent(), code);
    }
    assert!(p.events().is_empty());
}

// ---- REFER, theirs (RFC 3515 §2.4.2-§2.4.5) ----

#[test]
fn incoming_refer_gets_202_and_notify_100_then_the_result_ends_the_subscription() {
    let mut p = Peer::callee(14);
    let (id, _) = p.far_request(
        "REFER",
        "Refer-To: \"Carol\" <sip:carol@wren.lab>\r\nReferred-By: <sip:bob@wren.lab>\r\n",
        b"",
    );
    let sent = p.sent();
    let accepted = only_response(&sent, 202);
    assert!(accepted.to_bytes().starts_with(b"SIP/2.0 202 Accepted\r\n"));
    let notify = only_request(&sent, "NOTIFY");
    p.assert_in_dialog(&notify);
    assert_eq!(
        notify.raw(&Name::EVENT),
        Some(format!("refer;id={id}").as_str())
    );
    assert_eq!(
        notify.raw(&Name::SUBSCRIPTION_STATE),
        Some("active;expires=60")
    );
    assert_eq!(
        notify.raw(&Name::CONTENT_TYPE),
        Some("message/sipfrag;version=2.0")
    );
    assert!(notify.raw(&Name::CONTACT).is_some());
    assert_eq!(&notify.body[..], b"SIP/2.0 100 Trying\r\n");
    let events = p.events();
    let [UaEvent::TransferRequested { call, target }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!((*call, target.as_str()), (p.call, "sip:carol@wren.lab"));
    p.respond(&notify, 200, &[], b"");

    // One at a time.
    p.far_request("REFER", "Refer-To: <sip:dave@wren.lab>\r\n", b"");
    only_response(&p.sent(), 491);

    p.ua.transfer_result(p.now, p.call, StatusCode::new(180))
        .unwrap();
    let ringing = only_request(&p.sent(), "NOTIFY");
    assert_eq!(&ringing.body[..], b"SIP/2.0 180 Ringing\r\n");
    assert_eq!(
        ringing.raw(&Name::SUBSCRIPTION_STATE),
        Some("active;expires=60")
    );
    p.ua.transfer_result(p.now, p.call, StatusCode::new(200))
        .unwrap();
    let last = only_request(&p.sent(), "NOTIFY");
    assert_eq!(&last.body[..], b"SIP/2.0 200 OK\r\n");
    assert_eq!(
        last.raw(&Name::SUBSCRIPTION_STATE),
        Some("terminated;reason=noresource")
    );
    assert!(cseq(&notify).0 < cseq(&ringing).0 && cseq(&ringing).0 < cseq(&last).0);
    assert_eq!(
        p.ua.transfer_result(p.now, p.call, StatusCode::new(200)),
        Err(UaError::InvalidState)
    );
    assert!(p.events().is_empty());
}

#[test]
fn refer_without_exactly_one_refer_to_gets_400() {
    let mut p = Peer::caller(15);
    for extra in [
        "",
        "Refer-To: <>\r\n",
        "Refer-To: <sip:a@wren.lab>\r\nRefer-To: <sip:b@wren.lab>\r\n",
    ] {
        p.far_request("REFER", extra, b"");
        let sent = p.sent();
        only_response(&sent, 400);
        assert!(requests(&sent, "NOTIFY").is_empty());
    }
    assert!(p.events().is_empty());
    assert_eq!(
        p.ua.transfer_result(p.now, p.call, StatusCode::new(200)),
        Err(UaError::InvalidState)
    );
}

#[test]
fn allow_lists_refer_and_notify() {
    let mut p = Peer::caller(16);
    p.far_request("OPTIONS", "", b"");
    let ok = only_response(&p.sent(), 200);
    let allow = ok.raw(&Name::ALLOW).unwrap_or_default();
    assert!(
        allow.contains("REFER") && allow.contains("NOTIFY"),
        "{allow}"
    );
}

/// A new INVITE from carol (outside any dialog, a new transaction each time) with
/// `Replaces: {replaces}`.
fn replacing_invite(replaces: &str) -> Vec<u8> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let body = sdp("sendrecv");
    let mut text = format!(
        "INVITE sip:alice@a.invalid;transport=ws SIP/2.0\r\n\
         Via: SIP/2.0/WSS carol.invalid;branch=z9hG4bKcarol{n}\r\nMax-Forwards: 70\r\n\
         From: <sip:carol@wren.lab>;tag=ct{n}\r\nTo: <sip:alice@wren.lab>\r\n\
         Call-ID: carol-replacing-{n}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:carol@192.0.2.7;transport=ws>\r\nReplaces: {replaces}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    text.extend_from_slice(&body);
    text
}

/// The tag in a From or To header value.
fn tag_of(header: &str) -> &str {
    header.split(";tag=").nth(1).expect("a tag")
}

/// What the UA does with carol's INVITE: `Ok(replaced call)` or the status it refused with.
fn offer_replacing(p: &mut Peer, replaces: &str) -> Result<Option<CallHandle>, u16> {
    p.input(&replacing_invite(replaces));
    let events = p.events();
    if let [UaEvent::IncomingCall { replaces, .. }] = &events[..] {
        return Ok(*replaces);
    }
    assert!(events.is_empty(), "{events:?}");
    let refused: Vec<u16> = responses(&p.sent())
        .iter()
        .map(|r| r.code().as_u16())
        .filter(|c| *c >= 200)
        .collect();
    match refused[..] {
        [code] => Err(code),
        _ => panic!("neither taken nor refused once: {refused:?}"),
    }
}

#[test]
fn replaces_takes_a_confirmed_call_unless_early_only() {
    // RFC 3891 §3: the dialog is named from our side: to-tag ours, from-tag the far end's.
    let mut p = Peer::caller(71);
    let (ours, theirs) = (tag_of(&p.near).to_owned(), tag_of(&p.far).to_owned());
    let named = format!("{};to-tag={ours};from-tag={theirs}", p.call_id);
    assert_eq!(
        offer_replacing(&mut p, &format!("{named};early-only")),
        Err(486)
    );
    let mut p = Peer::caller(71);
    assert_eq!(offer_replacing(&mut p, &named), Ok(Some(p.call)));
    // The tags swapped (the far end's view) name no dialog of ours.
    let mut p = Peer::caller(71);
    let swapped = format!("{};to-tag={theirs};from-tag={ours}", p.call_id);
    assert_eq!(offer_replacing(&mut p, &swapped), Err(481));
}

#[test]
fn replaces_takes_an_early_call_we_placed_but_not_one_ringing_here() {
    let mut ua = UserAgent::new(config("alice"), 72);
    let now = Instant::now();
    let call = ua.invite(now, "bob", sdp("sendrecv")).unwrap();
    let mut p = Peer::new(ua, now, call, ["<sip:e1;lr>", "<sip:e2;lr>"]);
    let invite = only_request(&p.sent(), "INVITE");
    let ringing = Response::to_request(
        &invite.method,
        &invite.headers,
        StatusCode::RINGING,
        Some(&Tag::new("early-bob")),
    );
    p.input(&ringing.to_bytes());
    p.events();
    let ours = tag_of(invite.raw(&Name::FROM).unwrap()).to_owned();
    let early = format!("{};to-tag={ours};from-tag=early-bob", invite.call_id());
    assert_eq!(offer_replacing(&mut p, &early), Ok(Some(call)));
    // Another far tag is another (unknown) early dialog.
    let other = format!("{};to-tag={ours};from-tag=someone-else", invite.call_id());
    assert_eq!(offer_replacing(&mut p, &other), Err(481));

    // An incoming call still ringing here can't be replaced by a third party: 481.
    let mut p = Peer::new(
        UserAgent::new(config("alice"), 73),
        Instant::now(),
        CallHandle(0),
        ["<sip:e1;lr>", "<sip:e2;lr>"],
    );
    p.far = "<sip:bob@wren.lab>;tag=bt".into();
    p.near = "<sip:alice@wren.lab>".into();
    p.call_id = "ringing-here".into();
    let offer = sdp("sendrecv");
    let invite = p.far_text(
        "INVITE",
        1,
        "z9hG4bKring",
        "Content-Type: application/sdp\r\n",
        &offer,
    );
    p.input(&invite);
    let [UaEvent::IncomingCall { call, .. }] = p.events()[..] else {
        panic!("no incoming call")
    };
    p.ua.ringing(p.now, call).unwrap();
    let ring = only_response(&p.sent(), 180);
    let ours = tag_of(ring.raw(&Name::TO).unwrap()).to_owned();
    assert_eq!(
        offer_replacing(&mut p, &format!("ringing-here;to-tag={ours};from-tag=bt")),
        Err(481)
    );
}

#[test]
fn replaces_naming_a_call_being_hung_up_gets_603() {
    let mut p = Peer::caller(74);
    let named = format!(
        "{};to-tag={};from-tag={}",
        p.call_id,
        tag_of(&p.near),
        tag_of(&p.far)
    );
    p.ua.hangup(p.now, p.call).unwrap();
    only_request(&p.sent(), "BYE");
    assert_eq!(offer_replacing(&mut p, &named), Err(603));
    // And a Call-ID we never saw: 481.
    assert_eq!(
        offer_replacing(&mut p, "nobody;to-tag=a;from-tag=b"),
        Err(481)
    );
}
