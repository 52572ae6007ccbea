//! Scenario tests: UAs and a fake registrar/proxy on a simulated network, in simulated time
//! (STYLE.md §8). Each test is named after the behaviour it pins. `Transport::Ws` with a
//! reliable link for the stream cases, `Transport::Udp` with datagram links where loss matters.

use bytes::Bytes;
use std::time::Duration;
use wren_sip::{CallHandle, EndReason, SipError, StatusCode, Transport, UaError, UaEvent};
use wren_testkit::{ua_config, Fate, Link, ProxyConfig, Sim, UaId};

const DOMAIN: &str = "wren.lab";
const ALICE: &str = "alice@wren.lab";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn proxy() -> ProxyConfig {
    ProxyConfig::new(DOMAIN)
        .user("alice", "alice-pw")
        .user("bob", "bob-pw")
}

fn link_for(transport: Transport) -> Link {
    match transport {
        Transport::Udp => Link::datagram(ms(20)),
        _ => Link::reliable(ms(20)),
    }
}

fn offer(who: &str) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no={who} 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\n"
    ))
}

fn register(sim: &mut Sim, id: UaId) -> u32 {
    sim.with_ua(id, |ua, now| ua.register(now));
    match sim.expect_event(id, secs(10), |e| {
        matches!(
            e,
            UaEvent::Registered { .. } | UaEvent::RegistrationFailed { .. }
        )
    }) {
        UaEvent::Registered { expires } => expires,
        other => panic!("registration failed: {other:?}\n{}", sim.trace_text()),
    }
}

/// Alice and Bob, both registered.
fn two_registered(seed: u64, transport: Transport, cfg: ProxyConfig) -> (Sim, UaId, UaId) {
    let mut sim = Sim::new(seed, cfg, link_for(transport));
    let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", transport));
    let bob = sim.add_ua(ua_config("bob", DOMAIN, "bob-pw", transport));
    register(&mut sim, alice);
    register(&mut sim, bob);
    (sim, alice, bob)
}

/// Alice calls Bob and Bob's phone rings; returns both call handles.
fn ringing(sim: &mut Sim, alice: UaId, bob: UaId) -> (CallHandle, CallHandle) {
    let a = sim
        .with_ua(alice, |ua, now| ua.invite(now, "bob", offer("alice")))
        .expect("invite");
    let UaEvent::IncomingCall {
        call: b,
        offer: got,
        ..
    } = sim.expect_event(bob, secs(5), |e| matches!(e, UaEvent::IncomingCall { .. }))
    else {
        unreachable!("matched IncomingCall")
    };
    assert_eq!(got, offer("alice"));
    sim.with_ua(bob, |ua, now| ua.ringing(now, b))
        .expect("ringing");
    sim.expect_event(
        alice,
        secs(5),
        |e| matches!(e, UaEvent::Ringing { call, status: StatusCode::RINGING, .. } if *call == a),
    );
    (a, b)
}

/// Alice calls Bob, Bob answers; both see the call up.
fn established(sim: &mut Sim, alice: UaId, bob: UaId) -> (CallHandle, CallHandle) {
    let (a, b) = ringing(sim, alice, bob);
    sim.with_ua(bob, |ua, now| ua.answer(now, b, offer("bob")))
        .expect("answer");
    let UaEvent::Answered { sdp, .. } = sim.expect_event(
        alice,
        secs(5),
        |e| matches!(e, UaEvent::Answered { call, .. } if *call == a),
    ) else {
        unreachable!("matched Answered")
    };
    assert_eq!(sdp, offer("bob"));
    sim.expect_event(
        bob,
        secs(5),
        |e| matches!(e, UaEvent::Answered { call, .. } if *call == b),
    );
    (a, b)
}

/// Waits for the call to end on `id`; returns why and the last status.
fn ended(sim: &mut Sim, id: UaId, call: CallHandle) -> (EndReason, Option<u16>) {
    match sim.expect_event(
        id,
        secs(40),
        |e| matches!(e, UaEvent::Ended { call: c, .. } if *c == call),
    ) {
        UaEvent::Ended { reason, status, .. } => (reason, status.map(StatusCode::as_u16)),
        _ => unreachable!("matched Ended"),
    }
}

fn no_calls_left(sim: &mut Sim, ids: &[UaId]) {
    // Let linger timers (J, K, L...) run out so finished transactions are collected too.
    sim.run_for(secs(40));
    for id in ids {
        assert!(!sim.ua(*id).has_calls(), "UA {id:?} still has calls");
    }
}

#[test]
fn register_refreshes_before_expiry() {
    let mut sim = Sim::new(1, proxy(), Link::reliable(ms(30)));
    let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Ws));
    assert_eq!(register(&mut sim, alice), 600);
    let start = sim.elapsed();
    // An hour, looked at every 10 s: the binding is never gone.
    while sim.elapsed() < start + secs(3600) {
        sim.run_for(secs(10));
        let now = sim.now();
        assert!(
            sim.proxy.binding(ALICE, now).is_some(),
            "binding lapsed at {:?}\n{}",
            sim.elapsed(),
            sim.trace_text()
        );
    }
    let stats = sim.proxy.stats().clone();
    assert_eq!(stats.lapses, 0);
    assert!(stats.refreshes >= 6, "{stats:?}");
    // The refreshes reuse the digest (nonce count going up): one challenge in the hour.
    assert_eq!(stats.challenges, 1, "{stats:?}");
    assert_eq!(stats.bad_digests, 0, "{stats:?}");
    let refreshed = sim
        .events(alice)
        .filter(|e| matches!(e, UaEvent::Registered { expires: 600 }))
        .count();
    assert_eq!(refreshed as u32, stats.refreshes + 1);
}

#[test]
fn register_401_then_success() {
    let mut sim = Sim::new(2, proxy(), Link::reliable(ms(20)));
    let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Ws));
    assert_eq!(register(&mut sim, alice), 600);
    let node = sim.node(alice);
    let proxy = sim.proxy_node();
    assert_eq!(sim.net.count(node, proxy, "REGISTER"), 2);
    assert_eq!(sim.net.count(proxy, node, "401/REGISTER"), 1);
    assert_eq!(sim.net.count(proxy, node, "200/REGISTER"), 1);
    let binding = sim.proxy.binding(ALICE, sim.now()).expect("bound").clone();
    assert!(binding.contact.ends_with(";transport=ws"), "{binding:?}");
    assert_eq!(binding.node, node);
    assert_eq!(sim.proxy.stats().bad_digests, 0);
}

#[test]
fn register_wrong_password_fails_with_auth_code() {
    let mut sim = Sim::new(3, proxy(), Link::reliable(ms(20)));
    let alice = sim.add_ua(ua_config(
        "alice",
        DOMAIN,
        "not-the-password",
        Transport::Ws,
    ));
    sim.with_ua(alice, |ua, now| ua.register(now));
    let UaEvent::RegistrationFailed { error, .. } = sim.expect_event(alice, secs(10), |e| {
        matches!(
            e,
            UaEvent::RegistrationFailed { .. } | UaEvent::Registered { .. }
        )
    }) else {
        panic!("registered with a wrong password")
    };
    assert_eq!(error, SipError::AuthFailed);
    assert_eq!(error.code(), "sip.auth_failed");
    // One re-challenge is retried (the registrar may have lost its nonces); the second
    // refusal in a row is the verdict.
    assert_eq!(sim.proxy.stats().bad_digests, 2, "{}", sim.trace_text());
    // A refused password is final: no retry loop hammering the registrar.
    sim.run_for(secs(600));
    assert_eq!(sim.proxy.stats().registers, 3);
    assert!(sim.proxy.binding(ALICE, sim.now()).is_none());
}

#[test]
fn register_423_retries_with_min_expires() {
    let mut cfg = proxy();
    cfg.min_expires = Some(1800);
    let mut sim = Sim::new(4, cfg, Link::reliable(ms(20)));
    let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Ws));
    assert_eq!(register(&mut sim, alice), 1800);
    let (node, proxy) = (sim.node(alice), sim.proxy_node());
    assert_eq!(sim.net.count(proxy, node, "423/REGISTER"), 1);
    let left = sim
        .proxy
        .binding(ALICE, sim.now())
        .expect("bound")
        .expires_at
        - sim.now();
    assert!(left > secs(1790) && left <= secs(1800), "{left:?}");
    // And the next refresh keeps asking for the raised expiry.
    sim.expect_event(alice, secs(1800), |e| {
        matches!(e, UaEvent::Registered { expires: 1800 })
    });
    assert_eq!(sim.net.count(proxy, node, "423/REGISTER"), 1);
}

#[test]
fn invite_200_ack_bye() {
    let (mut sim, alice, bob) = two_registered(5, Transport::Ws, proxy());
    let (an, bn, pn) = (sim.node(alice), sim.node(bob), sim.proxy_node());

    // Caller hangs up.
    let (a, b) = established(&mut sim, alice, bob);
    sim.run_for(secs(1));
    assert_eq!(sim.net.count(pn, bn, "ACK"), 1, "{}", sim.trace_text());
    sim.run_for(secs(30));
    assert_eq!(
        sim.net.count(bn, pn, "200/INVITE"),
        1,
        "the ACK stopped 2xx retransmission"
    );
    sim.with_ua(alice, |ua, now| ua.hangup(now, a))
        .expect("hangup");
    assert_eq!(
        ended(&mut sim, alice, a),
        (EndReason::LocalHangup, Some(200))
    );
    assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
    assert_eq!(sim.net.count(an, pn, "BYE"), 1);

    // Callee hangs up.
    let (a, b) = established(&mut sim, alice, bob);
    sim.with_ua(bob, |ua, now| ua.hangup(now, b))
        .expect("hangup");
    assert_eq!(ended(&mut sim, bob, b), (EndReason::LocalHangup, Some(200)));
    assert_eq!(ended(&mut sim, alice, a).0, EndReason::RemoteHangup);
    assert_eq!(sim.net.count(bn, pn, "BYE"), 1);
    no_calls_left(&mut sim, &[alice, bob]);
}

/// Timer B bounds only the Calling state (RFC 3261 §17.1.1.2): a phone may ring for minutes.
#[test]
fn call_rings_longer_than_timer_b_and_is_answered() {
    for transport in [Transport::Ws, Transport::Udp] {
        let (mut sim, alice, bob) = two_registered(15, transport, proxy());
        let (a, b) = ringing(&mut sim, alice, bob);
        sim.run_for(secs(90));
        assert!(
            !sim.events(alice)
                .any(|e| matches!(e, UaEvent::Ended { .. })),
            "{transport:?}: the ringing call timed out\n{}",
            sim.trace_text()
        );
        sim.with_ua(bob, |ua, now| ua.answer(now, b, offer("bob")))
            .expect("answer");
        sim.expect_event(
            alice,
            secs(5),
            |e| matches!(e, UaEvent::Answered { call, .. } if *call == a),
        );
        sim.with_ua(alice, |ua, now| ua.hangup(now, a))
            .expect("hangup");
        assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
    }
}

#[test]
fn invite_407_then_success() {
    let mut cfg = proxy();
    cfg.challenge_invites = true;
    let (mut sim, alice, bob) = two_registered(6, Transport::Ws, cfg);
    let (an, pn) = (sim.node(alice), sim.proxy_node());
    let challenges = sim.proxy.stats().challenges;
    let (a, b) = established(&mut sim, alice, bob);
    assert_eq!(sim.net.count(pn, an, "407/INVITE"), 1);
    assert_eq!(sim.net.count(an, pn, "INVITE"), 2);
    assert_eq!(sim.proxy.stats().challenges, challenges + 1);
    assert_eq!(sim.proxy.stats().bad_digests, 0);
    let incoming = sim
        .events(bob)
        .filter(|e| matches!(e, UaEvent::IncomingCall { .. }))
        .count();
    assert_eq!(incoming, 1, "the challenged INVITE must not reach Bob");
    sim.with_ua(alice, |ua, now| ua.hangup(now, a))
        .expect("hangup");
    assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
    assert_eq!(
        ended(&mut sim, alice, a),
        (EndReason::LocalHangup, Some(200))
    );
}

#[test]
fn invite_rejected_486() {
    let (mut sim, alice, bob) = two_registered(7, Transport::Ws, proxy());
    let (a, b) = ringing(&mut sim, alice, bob);
    sim.with_ua(bob, |ua, now| ua.reject(now, b, StatusCode::new(486)))
        .expect("reject");
    assert_eq!(
        ended(&mut sim, bob, b),
        (EndReason::Declined(StatusCode::new(486)), Some(486))
    );
    assert_eq!(
        ended(&mut sim, alice, a),
        (EndReason::Rejected(StatusCode::new(486)), Some(486))
    );
    sim.run_for(secs(1));
    let (pn, bn) = (sim.proxy_node(), sim.node(bob));
    assert_eq!(sim.net.count(pn, bn, "ACK"), 1, "the 486 is acknowledged");
    no_calls_left(&mut sim, &[alice, bob]);
}

#[test]
fn cancel_while_ringing_ends_487() {
    let (mut sim, alice, bob) = two_registered(8, Transport::Ws, proxy());
    let (a, b) = ringing(&mut sim, alice, bob);
    sim.run_for(secs(2));
    sim.with_ua(alice, |ua, now| ua.hangup(now, a))
        .expect("hangup");
    assert_eq!(ended(&mut sim, alice, a), (EndReason::Cancelled, Some(487)));
    assert_eq!(
        ended(&mut sim, bob, b),
        (EndReason::RemoteCancelled, Some(487))
    );
    sim.run_for(secs(1));
    let (bn, pn) = (sim.node(bob), sim.proxy_node());
    assert_eq!(sim.net.count(bn, pn, "200/CANCEL"), 1);
    assert_eq!(
        sim.net.count(pn, bn, "ACK"),
        1,
        "the 487 is acknowledged\n{}",
        sim.trace_text()
    );
    no_calls_left(&mut sim, &[alice, bob]);
}

#[test]
fn cancel_races_200_ok() {
    let (mut sim, alice, bob) = two_registered(9, Transport::Ws, proxy());
    let (a, b) = ringing(&mut sim, alice, bob);
    // Same instant: Bob's 200 and Alice's CANCEL cross in the network.
    sim.with_ua(bob, |ua, now| ua.answer(now, b, offer("bob")))
        .expect("answer");
    sim.with_ua(alice, |ua, now| ua.hangup(now, a))
        .expect("hangup");
    // Alice ACKs the 200 and ends the call she no longer wants with BYE.
    assert_eq!(ended(&mut sim, alice, a), (EndReason::Cancelled, Some(200)));
    assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
    let (an, bn, pn) = (sim.node(alice), sim.node(bob), sim.proxy_node());
    assert_eq!(
        sim.net.count(bn, pn, "481/CANCEL"),
        1,
        "{}",
        sim.trace_text()
    );
    assert_eq!(sim.net.count(an, pn, "ACK"), 1);
    assert_eq!(sim.net.count(an, pn, "BYE"), 1);
    assert!(
        !sim.events(alice)
            .any(|e| matches!(e, UaEvent::Answered { .. })),
        "a cancelled call is never reported answered"
    );
    no_calls_left(&mut sim, &[alice, bob]);
}

#[test]
fn lost_response_is_retransmitted_on_udp() {
    let (mut sim, alice, bob) = two_registered(10, Transport::Udp, proxy());
    let (an, bn, pn) = (sim.node(alice), sim.node(bob), sim.proxy_node());
    let (a, b) = established(&mut sim, alice, bob);
    sim.net
        .drop_next(1, move |p| p.to == an && p.is_response(200, "BYE"));
    sim.with_ua(alice, |ua, now| ua.hangup(now, a))
        .expect("hangup");
    assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
    assert_eq!(
        ended(&mut sim, alice, a),
        (EndReason::LocalHangup, Some(200))
    );
    // Timer E resent the BYE after T1; Bob's server transaction answered from its memory.
    assert_eq!(sim.net.count(an, pn, "BYE"), 2, "{}", sim.trace_text());
    assert_eq!(sim.net.count(bn, pn, "200/BYE"), 2);
    assert!(sim.elapsed() < secs(60));
}

#[test]
fn lost_register_response_is_retransmitted_on_udp() {
    let mut sim = Sim::new(11, proxy(), Link::datagram(ms(20)));
    let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Udp));
    let an = sim.node(alice);
    sim.net
        .drop_next(1, move |p| p.to == an && p.is_response(200, "REGISTER"));
    assert_eq!(register(&mut sim, alice), 600);
    let pn = sim.proxy_node();
    assert_eq!(sim.net.count(an, pn, "REGISTER"), 3, "{}", sim.trace_text());
    let dropped = sim
        .net
        .trace()
        .iter()
        .filter(|t| t.fate == Fate::Dropped)
        .count();
    assert_eq!(dropped, 1);
}

#[test]
fn lost_ack_2xx_retransmitted() {
    let (mut sim, alice, bob) = two_registered(12, Transport::Udp, proxy());
    let (an, bn, pn) = (sim.node(alice), sim.node(bob), sim.proxy_node());
    sim.net
        .drop_next(1, move |p| p.from == an && p.is_request("ACK"));
    let (a, b) = established(&mut sim, alice, bob);
    // Bob retransmits the 2xx until an ACK comes (RFC 3261 §13.3.1.4); Alice re-ACKs it.
    sim.run_for(secs(40));
    assert!(
        sim.net.count(bn, pn, "200/INVITE") >= 2,
        "{}",
        sim.trace_text()
    );
    assert_eq!(sim.net.count(an, pn, "ACK"), 2);
    assert!(
        !sim.events(bob).any(|e| matches!(e, UaEvent::Ended { .. })),
        "Bob gave up although the second ACK arrived"
    );
    sim.with_ua(alice, |ua, now| ua.hangup(now, a))
        .expect("hangup");
    assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
    assert_eq!(
        ended(&mut sim, alice, a),
        (EndReason::LocalHangup, Some(200))
    );
}

#[test]
fn options_answered_200() {
    let mut sim = Sim::new(13, proxy(), Link::reliable(ms(20)));
    let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Ws));
    register(&mut sim, alice);
    assert!(sim.proxy_options(ALICE));
    assert!(sim.run_until(|s| !s.proxy.answers().is_empty(), secs(5)));
    let answer = &sim.proxy.answers()[0];
    assert_eq!(answer.code(), 200);
    let allow = answer
        .headers
        .get_raw(&ezk_sip_types::Name::ALLOW)
        .next()
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert!(allow.contains("INVITE"), "{allow}");
}

#[test]
fn unregister_on_shutdown() {
    let mut sim = Sim::new(14, proxy(), Link::reliable(ms(20)));
    let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Ws));
    register(&mut sim, alice);
    assert!(sim.proxy.binding(ALICE, sim.now()).is_some());
    sim.with_ua(alice, |ua, now| ua.unregister(now));
    assert!(sim.ua(alice).registration_pending());
    sim.expect_event(alice, secs(10), |e| matches!(e, UaEvent::Unregistered));
    assert!(sim.proxy.binding(ALICE, sim.now()).is_none());
    assert!(!sim.ua(alice).registration_pending());
    // Nothing refreshes a binding we gave up.
    let registers = sim.proxy.stats().registers;
    sim.run_for(secs(3600));
    assert_eq!(sim.proxy.stats().registers, registers);
}

/// The same seed replays the same run, packet for packet, loss and jitter included.
#[test]
fn same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut link = Link::datagram(ms(30));
        link.jitter = ms(40);
        link.loss = 0.1;
        link.reorder = 0.1;
        link.reorder_delay = ms(100);
        let mut sim = Sim::new(seed, proxy(), link);
        let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Udp));
        sim.with_ua(alice, |ua, now| ua.register(now));
        sim.run_for(secs(120));
        let start = sim.now() - sim.elapsed();
        sim.net
            .trace()
            .iter()
            .map(|t| (t.sent_at - start, t.from, t.to, t.summary.clone(), t.fate))
            .collect::<Vec<_>>()
    };
    let first = run(21);
    assert!(first.len() > 3);
    assert_eq!(first, run(21));
    assert_ne!(first, run(22));
}

/// Registration and a whole call over a bad UDP path: loss, jitter and reordering, many seeds.
#[test]
fn call_completes_over_lossy_udp() {
    for seed in 100..120 {
        let mut link = Link::datagram(ms(40));
        link.jitter = ms(30);
        link.loss = 0.1;
        link.reorder = 0.05;
        link.reorder_delay = ms(200);
        let mut sim = Sim::new(seed, proxy(), link);
        let alice = sim.add_ua(ua_config("alice", DOMAIN, "alice-pw", Transport::Udp));
        let bob = sim.add_ua(ua_config("bob", DOMAIN, "bob-pw", Transport::Udp));
        register(&mut sim, alice);
        register(&mut sim, bob);
        // Not `established`: a lost 180 is never resent without 100rel, so Alice may not
        // see Ringing; the INVITE, the 2xx and the BYE are retransmitted until they land.
        let a = sim
            .with_ua(alice, |ua, now| ua.invite(now, "bob", offer("alice")))
            .expect("invite");
        let UaEvent::IncomingCall { call: b, .. } =
            sim.expect_event(bob, secs(32), |e| matches!(e, UaEvent::IncomingCall { .. }))
        else {
            unreachable!("matched IncomingCall")
        };
        sim.with_ua(bob, |ua, now| ua.ringing(now, b))
            .expect("ringing");
        sim.run_for(secs(1));
        sim.with_ua(bob, |ua, now| ua.answer(now, b, offer("bob")))
            .expect("answer");
        sim.expect_event(
            alice,
            secs(32),
            |e| matches!(e, UaEvent::Answered { call, .. } if *call == a),
        );
        sim.run_for(secs(5));
        sim.with_ua(alice, |ua, now| ua.hangup(now, a))
            .expect("hangup");
        let (reason, _) = ended(&mut sim, alice, a);
        assert_eq!(reason, EndReason::LocalHangup, "seed {seed}");
        let (reason, _) = ended(&mut sim, bob, b);
        assert_eq!(reason, EndReason::RemoteHangup, "seed {seed}");
    }
}

// ---- hold, resume and transfer (RFC 3261 §14, RFC 3515) ----

/// `offer(who)` with a direction attribute: `sendonly` puts the far end on hold.
fn offer_dir(who: &str, direction: &str) -> Bytes {
    let mut sdp = offer(who).to_vec();
    sdp.extend_from_slice(format!("a={direction}\r\n").as_bytes());
    Bytes::from(sdp)
}

/// What an owner answers to an offer: hold (`sendonly`) with `recvonly`, else `sendrecv`.
fn answer_to(who: &str, offer: &[u8]) -> Bytes {
    let held = String::from_utf8_lossy(offer).contains("a=sendonly");
    offer_dir(who, if held { "recvonly" } else { "sendrecv" })
}

/// Runs until `done`, answering every re-INVITE any of `owners` gets, as the engine would.
fn run_answering_reoffers(
    sim: &mut Sim,
    owners: &[(UaId, &str)],
    max: Duration,
    done: impl Fn(&Sim) -> bool,
) -> bool {
    let deadline = sim.now() + max;
    let mut seen: Vec<usize> = owners
        .iter()
        .map(|(id, _)| sim.events(*id).count())
        .collect();
    loop {
        for (i, (id, who)) in owners.iter().enumerate() {
            let fresh: Vec<UaEvent> = sim.events(*id).skip(seen[i]).cloned().collect();
            seen[i] += fresh.len();
            for event in fresh {
                if let UaEvent::Reoffer { call, sdp } = event {
                    let answer = answer_to(who, &sdp);
                    sim.with_ua(*id, |ua, now| ua.answer_reoffer(now, call, answer))
                        .expect("answer_reoffer");
                }
            }
        }
        if done(sim) {
            return true;
        }
        if sim.now() >= deadline || !sim.progress_until(deadline) {
            return done(sim);
        }
    }
}

#[test]
fn hold_and_resume_via_reinvite() {
    for (seed, transport) in [(31, Transport::Ws), (32, Transport::Udp)] {
        let (mut sim, alice, bob) = two_registered(seed, transport, proxy());
        let (an, bn, pn) = (sim.node(alice), sim.node(bob), sim.proxy_node());
        let (a, b) = established(&mut sim, alice, bob);
        for (mine, theirs) in [("sendonly", "recvonly"), ("sendrecv", "sendrecv")] {
            sim.with_ua(alice, |ua, now| {
                ua.reinvite(now, a, offer_dir("alice", mine))
            })
            .expect("reinvite");
            let UaEvent::Reoffer { call, sdp } =
                sim.expect_event(bob, secs(5), |e| matches!(e, UaEvent::Reoffer { .. }))
            else {
                unreachable!("matched Reoffer")
            };
            assert_eq!((call, sdp), (b, offer_dir("alice", mine)));
            sim.with_ua(bob, |ua, now| {
                ua.answer_reoffer(now, b, offer_dir("bob", theirs))
            })
            .expect("answer_reoffer");
            let UaEvent::ReinviteAnswered { sdp, .. } = sim.expect_event(
                alice,
                secs(5),
                |e| matches!(e, UaEvent::ReinviteAnswered { call, .. } if *call == a),
            ) else {
                unreachable!("matched ReinviteAnswered")
            };
            assert_eq!(sdp, offer_dir("bob", theirs), "{transport:?}");
            assert_eq!(sim.ua(alice).local_sdp(a), Some(&offer_dir("alice", mine)));
            assert_eq!(sim.ua(bob).local_sdp(b), Some(&offer_dir("bob", theirs)));
            sim.run_for(secs(1));
        }
        // Each 2xx was acknowledged, so Bob stopped resending it (RFC 3261 §13.3.1.4).
        sim.run_for(secs(40));
        assert_eq!(sim.net.count(an, pn, "INVITE"), 3, "{}", sim.trace_text());
        assert_eq!(sim.net.count(an, pn, "ACK"), 3);
        assert_eq!(
            sim.net.count(bn, pn, "200/INVITE"),
            3,
            "{}",
            sim.trace_text()
        );
        assert!(
            !sim.events(alice).chain(sim.events(bob)).any(|e| matches!(
                e,
                UaEvent::ReinviteFailed { .. } | UaEvent::Ended { .. } | UaEvent::RemoteSdp { .. }
            )),
            "{transport:?}\n{}",
            sim.trace_text()
        );
        sim.with_ua(bob, |ua, now| ua.hangup(now, b))
            .expect("hangup");
        assert_eq!(ended(&mut sim, alice, a).0, EndReason::RemoteHangup);
        assert_eq!(ended(&mut sim, bob, b).0, EndReason::LocalHangup);
    }
}

/// Both put the other on hold at the same instant (RFC 3261 §14.1): both get 491, each
/// retries once, Bob (not the Call-ID's owner) within 2 s, Alice after 2.1-4 s, and both
/// re-INVITEs go through.
#[test]
fn reinvite_glare_491() {
    let (mut sim, alice, bob) = two_registered(33, Transport::Ws, proxy());
    let (an, bn, pn) = (sim.node(alice), sim.node(bob), sim.proxy_node());
    let (a, b) = established(&mut sim, alice, bob);
    // Bob may re-INVITE once Alice's ACK is in.
    assert_eq!(
        sim.with_ua(bob, |ua, now| ua.reinvite(now, b, offer("bob"))),
        Err(UaError::Pending)
    );
    sim.run_for(secs(1));
    let before = sim.net.trace().len();
    sim.with_ua(alice, |ua, now| {
        ua.reinvite(now, a, offer_dir("alice", "sendonly"))
    })
    .expect("alice reinvite");
    sim.with_ua(bob, |ua, now| {
        ua.reinvite(now, b, offer_dir("bob", "sendonly"))
    })
    .expect("bob reinvite");
    let answered = |s: &Sim, id: UaId| {
        s.events(id)
            .filter(|e| matches!(e, UaEvent::ReinviteAnswered { .. }))
            .count()
    };
    let both = |s: &Sim| answered(s, alice) == 1 && answered(s, bob) == 1;
    assert!(
        run_answering_reoffers(&mut sim, &[(alice, "alice"), (bob, "bob")], secs(10), both),
        "{}",
        sim.trace_text()
    );
    sim.run_for(secs(5));
    assert_eq!((answered(&sim, alice), answered(&sim, bob)), (1, 1));
    assert!(
        !sim.events(alice)
            .chain(sim.events(bob))
            .any(|e| matches!(e, UaEvent::ReinviteFailed { .. } | UaEvent::Ended { .. })),
        "{}",
        sim.trace_text()
    );
    assert_eq!(
        sim.net.count(an, pn, "491/INVITE"),
        1,
        "{}",
        sim.trace_text()
    );
    assert_eq!(sim.net.count(bn, pn, "491/INVITE"), 1);

    // When each got its 491 and when it sent its retry.
    let start = sim.now() - sim.elapsed();
    let trace = &sim.net.trace()[before..];
    let at = |from, to, summary: &str, nth: usize| {
        trace
            .iter()
            .filter(|t| t.from == from && t.to == to && t.summary == summary)
            .nth(nth)
            .map(|t| t.sent_at + ms(20) - start)
            .unwrap_or_else(|| panic!("no {summary} #{nth}\n{}", sim.trace_text()))
    };
    let alice_wait = at(an, pn, "INVITE", 1) - ms(20) - at(pn, an, "491/INVITE", 0);
    let bob_wait = at(bn, pn, "INVITE", 1) - ms(20) - at(pn, bn, "491/INVITE", 0);
    // Alice's retry may also wait for Bob's re-INVITE to finish (never two at once).
    assert!(
        alice_wait >= ms(2100) && alice_wait <= ms(4200),
        "alice waited {alice_wait:?}"
    );
    assert!(bob_wait <= ms(2000), "bob waited {bob_wait:?}");
    assert_eq!(
        trace
            .iter()
            .filter(|t| t.from == an && t.summary == "INVITE")
            .count(),
        2
    );
    assert_eq!(
        trace
            .iter()
            .filter(|t| t.from == bn && t.summary == "INVITE")
            .count(),
        2
    );
    // Last word: Alice's retry put Bob on hold after Bob's had put her on hold.
    assert_eq!(
        sim.ua(alice).local_sdp(a),
        Some(&offer_dir("alice", "sendonly"))
    );
    assert_eq!(
        sim.ua(bob).local_sdp(b),
        Some(&offer_dir("bob", "recvonly"))
    );
}

/// Alice, Bob and Carol, all registered.
fn three_registered(seed: u64) -> (Sim, UaId, UaId, UaId) {
    let (mut sim, alice, bob) =
        two_registered(seed, Transport::Ws, proxy().user("carol", "carol-pw"));
    let carol = sim.add_ua(ua_config("carol", DOMAIN, "carol-pw", Transport::Ws));
    register(&mut sim, carol);
    (sim, alice, bob, carol)
}

/// Alice refers Bob to Carol (RFC 5589 §6, blind transfer): Bob's owner is asked to call
/// the returned target, and Alice hears that Bob is trying.
fn transfer_requested(sim: &mut Sim, alice: UaId, bob: UaId, a: CallHandle) -> String {
    sim.with_ua(alice, |ua, now| ua.refer(now, a, "carol"))
        .expect("refer");
    let UaEvent::TransferRequested { target, .. } = sim.expect_event(bob, secs(5), |e| {
        matches!(e, UaEvent::TransferRequested { .. })
    }) else {
        unreachable!("matched TransferRequested")
    };
    sim.expect_event(
        alice,
        secs(5),
        |e| matches!(e, UaEvent::TransferProgress { call, status: StatusCode::TRYING } if *call == a),
    );
    target
}

#[test]
fn blind_transfer_ends_call_on_notify_200() {
    let (mut sim, alice, bob, carol) = three_registered(34);
    let (an, bn, pn) = (sim.node(alice), sim.node(bob), sim.proxy_node());
    let (a, b) = established(&mut sim, alice, bob);
    let target = transfer_requested(&mut sim, alice, bob, a);
    assert_eq!(target, "sip:carol@wren.lab");

    // Bob's owner places the new call and reports how it goes.
    let bc = sim
        .with_ua(bob, |ua, now| ua.invite(now, &target, offer("bob")))
        .expect("invite carol");
    let UaEvent::IncomingCall { call: cb, .. } = sim.expect_event(carol, secs(5), |e| {
        matches!(e, UaEvent::IncomingCall { .. })
    }) else {
        unreachable!("matched IncomingCall")
    };
    sim.with_ua(carol, |ua, now| ua.ringing(now, cb))
        .expect("ringing");
    sim.expect_event(
        bob,
        secs(5),
        |e| matches!(e, UaEvent::Ringing { call, .. } if *call == bc),
    );
    sim.with_ua(bob, |ua, now| {
        ua.transfer_result(now, b, StatusCode::new(180))
    })
    .expect("progress");
    sim.expect_event(
        alice,
        secs(5),
        |e| matches!(e, UaEvent::TransferProgress { call, status: StatusCode::RINGING } if *call == a),
    );
    sim.with_ua(carol, |ua, now| ua.answer(now, cb, offer("carol")))
        .expect("answer");
    sim.expect_event(
        bob,
        secs(5),
        |e| matches!(e, UaEvent::Answered { call, .. } if *call == bc),
    );
    sim.with_ua(bob, |ua, now| {
        ua.transfer_result(now, b, StatusCode::new(200))
    })
    .expect("result");

    sim.expect_event(
        alice,
        secs(5),
        |e| matches!(e, UaEvent::Transferred { call } if *call == a),
    );
    assert_eq!(
        ended(&mut sim, alice, a),
        (EndReason::Transferred, Some(200))
    );
    assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
    assert_eq!(sim.net.count(an, pn, "REFER"), 1);
    assert_eq!(sim.net.count(bn, pn, "202/REFER"), 1);
    assert_eq!(sim.net.count(bn, pn, "NOTIFY"), 3, "{}", sim.trace_text());
    assert_eq!(sim.net.count(an, pn, "200/NOTIFY"), 3);
    assert!(
        !sim.events(alice)
            .any(|e| matches!(e, UaEvent::TransferFailed { .. })),
        "{}",
        sim.trace_text()
    );

    // Bob and Carol talk on.
    sim.run_for(secs(5));
    assert!(
        !sim.events(carol)
            .any(|e| matches!(e, UaEvent::Ended { .. })),
        "{}",
        sim.trace_text()
    );
    sim.with_ua(carol, |ua, now| ua.hangup(now, cb))
        .expect("hangup");
    assert_eq!(ended(&mut sim, bob, bc).0, EndReason::RemoteHangup);
    no_calls_left(&mut sim, &[alice, bob, carol]);
}

#[test]
fn transfer_rejected_keeps_call() {
    let (mut sim, alice, bob, carol) = three_registered(35);
    let (a, b) = established(&mut sim, alice, bob);
    let target = transfer_requested(&mut sim, alice, bob, a);

    // Carol is busy; Bob's owner reports it.
    sim.with_ua(bob, |ua, now| ua.invite(now, &target, offer("bob")))
        .expect("invite carol");
    let UaEvent::IncomingCall { call: cb, .. } = sim.expect_event(carol, secs(5), |e| {
        matches!(e, UaEvent::IncomingCall { .. })
    }) else {
        unreachable!("matched IncomingCall")
    };
    sim.with_ua(carol, |ua, now| ua.reject(now, cb, StatusCode::new(486)))
        .expect("reject");
    let UaEvent::Ended {
        call: bc, reason, ..
    } = sim.expect_event(bob, secs(5), |e| matches!(e, UaEvent::Ended { .. }))
    else {
        unreachable!("matched Ended")
    };
    assert_eq!(reason, EndReason::Rejected(StatusCode::new(486)));
    assert_ne!(bc, b);
    sim.with_ua(bob, |ua, now| {
        ua.transfer_result(now, b, StatusCode::new(486))
    })
    .expect("result");
    sim.expect_event(
        alice,
        secs(5),
        |e| matches!(e, UaEvent::TransferFailed { call, status: StatusCode::BUSY_HERE, error: None } if *call == a),
    );

    // The call between Alice and Bob goes on: it can be transferred again and hung up.
    sim.run_for(secs(60));
    assert!(
        !sim.events(alice)
            .chain(sim.events(bob))
            .any(|e| matches!(e, UaEvent::Ended { call, .. } if *call == a || *call == b)),
        "{}",
        sim.trace_text()
    );
    sim.with_ua(alice, |ua, now| ua.refer(now, a, "carol"))
        .expect("a second transfer may start");
    sim.with_ua(alice, |ua, now| ua.hangup(now, a))
        .expect("hangup");
    assert_eq!(ended(&mut sim, alice, a).0, EndReason::LocalHangup);
    assert_eq!(ended(&mut sim, bob, b).0, EndReason::RemoteHangup);
}
