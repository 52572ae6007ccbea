//! Scenario tests: UAs and a fake registrar/proxy on a simulated network, in simulated time
//! (STYLE.md §8). Each test is named after the behaviour it pins. `Transport::Ws` with a
//! reliable link for the stream cases, `Transport::Udp` with datagram links where loss matters.

use bytes::Bytes;
use std::time::Duration;
use wren_sip::{CallHandle, EndReason, SipError, Transport, UaEvent};
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
        |e| matches!(e, UaEvent::Ringing { call, status: 180, .. } if *call == a),
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
        UaEvent::Ended { reason, status, .. } => (reason, status),
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
    sim.with_ua(bob, |ua, now| ua.reject(now, b, 486))
        .expect("reject");
    assert_eq!(
        ended(&mut sim, bob, b),
        (EndReason::Declined(486), Some(486))
    );
    assert_eq!(
        ended(&mut sim, alice, a),
        (EndReason::Rejected(486), Some(486))
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
