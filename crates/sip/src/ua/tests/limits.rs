//! Servers that would make the UA repeat itself: every challenge, 423 and failure loop has a
//! bound (RFC 3261 §22.3 spirit, §10.2.8) and repeated REGISTER failures back off (RFC 5626
//! §4.5). Each test runs ten simulated minutes against a scripted far end answering every
//! request one round trip later, and counts what the UA sent.

use super::*;

/// Round trip to the scripted far end.
const RTT: Duration = Duration::from_millis(20);
const TEN_MINUTES: Duration = Duration::from_secs(600);

/// What the UA sent (with when), and what it reported.
struct Run {
    sent: Vec<(Duration, Request)>,
    events: Vec<UaEvent>,
}

impl Run {
    fn count(&self, method: &str) -> usize {
        self.sent
            .iter()
            .filter(|(_, r)| r.method.to_string() == method)
            .count()
    }
}

/// Runs `ua` from `now` for `span` against a far end that answers each request of ours
/// (ACKs aside) `RTT` later with what `answer` makes of it.
fn against(
    ua: &mut UserAgent,
    now: &mut Instant,
    span: Duration,
    mut answer: impl FnMut(&Request) -> Option<Response>,
) -> Run {
    let start = *now;
    let end = start + span;
    let mut due: VecDeque<(Instant, Bytes)> = VecDeque::new();
    let mut run = Run {
        sent: Vec::new(),
        events: Vec::new(),
    };
    loop {
        while let Some(data) = ua.poll_transmit() {
            if let Ok(Message::Request(req)) = message::parse(&data) {
                if req.method != Method::ACK {
                    if let Some(resp) = answer(&req) {
                        due.push_back((*now + RTT, resp.to_bytes()));
                    }
                    run.sent.push((*now - start, req));
                }
            }
        }
        run.events.extend(std::iter::from_fn(|| ua.poll_event()));
        assert!(run.sent.len() < 100_000, "request storm");
        let arrival = due.front().map(|(t, _)| *t);
        match [arrival, ua.poll_timeout()].into_iter().flatten().min() {
            Some(t) if t <= end => {
                *now = t.max(*now);
                if arrival == Some(t) {
                    let (_, data) = due.pop_front().expect("its time was just read");
                    ua.handle_input(*now, &data);
                } else {
                    ua.handle_timeout(*now);
                }
            }
            _ => {
                *now = end;
                return run;
            }
        }
    }
}

fn answer(req: &Request, code: u16, extra: &[(Name, String)]) -> Response {
    let mut resp = Response::to_request(
        &req.method,
        &req.headers,
        StatusCode::new(code),
        Some(&Tag::new("far")),
    );
    for (name, value) in extra {
        resp.headers.insert(name.clone(), value.clone());
    }
    resp
}

/// A 401 (`header` WWW-Authenticate) or 407 with a new nonce every time, always `stale=true`.
fn stale_forever(header: Name) -> impl FnMut(&Request) -> Option<Response> {
    let code = if header == Name::WWW_AUTHENTICATE {
        401
    } else {
        407
    };
    let mut nonces = 0;
    move |req| {
        nonces += 1;
        let value =
            format!(r#"Digest realm="wren.lab", nonce="n{nonces}", qop="auth", stale=true"#);
        Some(answer(req, code, &[(header.clone(), value)]))
    }
}

fn registering() -> (UserAgent, Instant) {
    let mut ua = UserAgent::new(config("alice"), 7);
    let now = Instant::now();
    ua.register(now);
    (ua, now)
}

fn registration_errors(run: &Run) -> Vec<SipError> {
    run.events
        .iter()
        .filter_map(|e| match e {
            UaEvent::RegistrationFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

/// The start of each REGISTER attempt: a REGISTER without credentials or after a failure,
/// i.e. more than a round trip after the one before.
fn attempt_starts(run: &Run) -> Vec<Duration> {
    let mut starts: Vec<Duration> = Vec::new();
    let mut last = None;
    for (at, _) in run
        .sent
        .iter()
        .filter(|(_, r)| r.method == Method::REGISTER)
    {
        if last.is_none_or(|l: Duration| *at > l + RTT) {
            starts.push(*at);
        }
        last = Some(*at);
    }
    starts
}

/// RFC 5626 §4.5: 30 s doubling per failure up to 1800 s, 50-100 % of it.
fn assert_backs_off(starts: &[Duration]) {
    for (i, pair) in starts.windows(2).enumerate() {
        // The gap includes the failed attempt's own round trips.
        let gap = pair[1] - pair[0];
        let wait = Duration::from_secs((30u64 << i).min(1800));
        assert!(
            gap >= wait / 2 && gap <= wait + RTT * 4,
            "attempt {} after {gap:?}, window {wait:?}: {starts:?}",
            i + 2
        );
    }
}

/// Before: one REGISTER per round trip, 30,001 in ten minutes. Now each attempt answers two
/// stale challenges (after the first, usual one), fails with `sip.auth_loop`, and the next
/// attempt comes after the RFC 5626 back-off.
#[test]
fn register_401_stale_forever_fails_with_auth_loop_and_backs_off() {
    let (mut ua, mut now) = registering();
    let run = against(
        &mut ua,
        &mut now,
        TEN_MINUTES,
        stale_forever(Name::WWW_AUTHENTICATE),
    );
    let starts = attempt_starts(&run);
    // 4 in the first attempt (the first carries no credentials), 3 in each of the next 5.
    assert_eq!(run.count("REGISTER"), 19, "{starts:?}");
    assert_eq!(starts.len(), 6, "{starts:?}");
    assert_eq!(registration_errors(&run), vec![SipError::AuthLoop; 6]);
    assert_backs_off(&starts);
}

/// Before: 30,001 REGISTERs in ten minutes, Expires growing by 60 s each. Now two raises,
/// then `sip.interval_too_brief`, and no retry.
#[test]
fn register_423_with_ever_growing_min_expires_fails_after_two_raises() {
    let (mut ua, mut now) = registering();
    let run = against(&mut ua, &mut now, TEN_MINUTES, |req| {
        let asked: u32 = req.raw(&Name::EXPIRES)?.parse().ok()?;
        Some(answer(
            req,
            423,
            &[(Name::MIN_EXPIRES, (asked + 60).to_string())],
        ))
    });
    let asked: Vec<_> = run
        .sent
        .iter()
        .filter_map(|(_, r)| r.raw(&Name::EXPIRES))
        .collect();
    assert_eq!(asked, ["600", "660", "720"]);
    assert_eq!(registration_errors(&run), [SipError::IntervalTooBrief]);
}

/// A Min-Expires over a day is not worth one raise.
#[test]
fn register_423_with_absurd_min_expires_fails_at_once() {
    let (mut ua, mut now) = registering();
    let run = against(&mut ua, &mut now, TEN_MINUTES, |req| {
        Some(answer(req, 423, &[(Name::MIN_EXPIRES, "90000".into())]))
    });
    assert_eq!(run.count("REGISTER"), 1);
    assert_eq!(registration_errors(&run), [SipError::IntervalTooBrief]);
}

/// Before: 30,001 REGISTERs in ten minutes, each resent unchanged. Now one, and
/// `sip.auth_unsupported`, for a challenge we can't read and for Basic (RFC 3261 §22.1).
#[test]
fn register_garbage_or_basic_challenge_fails_at_once() {
    for challenge in ["%%% garbage ,,,", r#"Basic realm="wren.lab""#] {
        let (mut ua, mut now) = registering();
        let run = against(&mut ua, &mut now, TEN_MINUTES, |req| {
            Some(answer(
                req,
                401,
                &[(Name::WWW_AUTHENTICATE, challenge.into())],
            ))
        });
        assert_eq!(run.count("REGISTER"), 1, "{challenge}");
        let errors = registration_errors(&run);
        assert!(
            matches!(errors[..], [SipError::AuthUnsupported(_)]),
            "{challenge}: {errors:?}"
        );
    }
}

/// Before: 21 REGISTERs in ten minutes (one every 30 s). Now the gaps double from 15-30 s to
/// at most 30 min, and a success starts them over.
#[test]
fn register_failures_back_off_and_success_resets_rfc5626() {
    let (mut ua, mut now) = registering();
    let mut attempts = 0;
    let run = against(&mut ua, &mut now, Duration::from_secs(4 * 3600), |req| {
        attempts += 1;
        // Down for 9 attempts, up for one (600 s, refreshed after 540 s), down again.
        let code = if attempts == 10 { 200 } else { 503 };
        Some(answer(req, code, &[]))
    });
    let starts = attempt_starts(&run);
    let ok = starts[9];
    let (down, again) = (&starts[..10], &starts[10..]);
    assert_backs_off(down);
    // The refresh after the success fails, and the back-off starts over from 30 s.
    assert_eq!(again[0] - ok, Duration::from_secs(540) + RTT, "{starts:?}");
    assert_backs_off(again);
    assert!(again.len() >= 4, "{starts:?}");
    let gaps: Vec<_> = down.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert!(gaps.iter().any(|g| *g > 900), "reaches the cap: {gaps:?}");
}

/// Before: 30,001 INVITEs in ten minutes. Now the usual challenge and two stale ones are
/// answered, then the call ends with `sip.auth_loop`.
#[test]
fn invite_407_stale_forever_ends_the_call_with_auth_loop() {
    let mut ua = UserAgent::new(config("alice"), 7);
    let mut now = Instant::now();
    let call = ua.invite(now, "bob", sdp("sendrecv")).unwrap();
    let run = against(
        &mut ua,
        &mut now,
        TEN_MINUTES,
        stale_forever(Name::PROXY_AUTHENTICATE),
    );
    assert_eq!(run.count("INVITE"), 4);
    let ended: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            UaEvent::Ended {
                call: c,
                reason,
                status,
            } if *c == call => Some((reason, *status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        [(
            &EndReason::Failed(SipError::AuthLoop),
            Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
        )]
    );
}

/// Before: 30,001 re-INVITEs in ten minutes. Now four; the re-INVITE fails with
/// `sip.auth_loop` and the call stays up.
#[test]
fn reinvite_401_stale_forever_fails_with_auth_loop_and_keeps_the_call() {
    let mut p = Peer::caller(1);
    p.ua.reinvite(p.now, p.call, sdp("sendonly")).unwrap();
    let run = against(
        &mut p.ua,
        &mut p.now,
        TEN_MINUTES,
        stale_forever(Name::WWW_AUTHENTICATE),
    );
    assert_eq!(run.count("INVITE"), 4);
    assert!(matches!(
        run.events[..],
        [UaEvent::ReinviteFailed {
            status: StatusCode::UNAUTHORIZED,
            error: Some(SipError::AuthLoop),
            ..
        }]
    ));
    assert!(p.ua.has_calls());
}

/// Before: 30,001 BYEs in ten minutes. Now four, and the call ends anyway.
#[test]
fn bye_401_stale_forever_ends_the_call_after_four_byes() {
    let mut p = Peer::caller(1);
    p.ua.hangup(p.now, p.call).unwrap();
    let run = against(
        &mut p.ua,
        &mut p.now,
        TEN_MINUTES,
        stale_forever(Name::WWW_AUTHENTICATE),
    );
    assert_eq!(run.count("BYE"), 4);
    assert!(matches!(
        run.events[..],
        [UaEvent::Ended {
            reason: EndReason::LocalHangup,
            ..
        }]
    ));
    assert!(!p.ua.has_calls());
}

/// Before: a REFER per round trip. Now four; the transfer fails with `sip.auth_loop`.
#[test]
fn refer_407_stale_forever_fails_the_transfer_with_auth_loop() {
    let mut p = Peer::caller(1);
    p.ua.refer(p.now, p.call, "sip:carol@wren.lab").unwrap();
    let run = against(
        &mut p.ua,
        &mut p.now,
        TEN_MINUTES,
        stale_forever(Name::PROXY_AUTHENTICATE),
    );
    assert_eq!(run.count("REFER"), 4);
    assert!(matches!(
        run.events[..],
        [UaEvent::TransferFailed {
            error: Some(SipError::AuthLoop),
            ..
        }]
    ));
}
