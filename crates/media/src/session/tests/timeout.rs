//! The media timeout (issue 13): a far end that sends neither RTP nor RTCP for the configured
//! time is reported, unless the call is on hold.

use super::*;

/// Drives `session` alone as the engine would, every 20 ms for `span`, with nothing arriving;
/// returns the events and when they came.
fn silence(
    session: &mut MediaSession,
    now: &mut Instant,
    span: Duration,
) -> Vec<(Instant, MediaEvent)> {
    let wall = SystemTime::UNIX_EPOCH;
    let until = *now + span;
    let mut events = Vec::new();
    while *now < until {
        session.send_frame(*now, &[0; FRAME_SAMPLES]);
        let _ = session.poll_audio(*now);
        if session.poll_timeout().is_some_and(|t| t <= *now) {
            session.handle_timeout(*now, wall);
        }
        while session.poll_transmit().is_some() {}
        while let Some(e) = session.poll_event() {
            events.push((*now, e));
        }
        *now += FRAME;
    }
    events
}

#[test]
fn media_timeout_fires_once_after_the_configured_silence() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    assert_eq!(pair.b.media_timeout(), Some(DEFAULT_MEDIA_TIMEOUT));
    assert_eq!(DEFAULT_MEDIA_TIMEOUT, Duration::from_secs(30));
    pair.b.set_media_timeout(Some(Duration::from_secs(5)));
    pair.run(50);
    assert_eq!(pair.b.poll_event(), None);
    // The far end vanishes: nothing more arrives, RTP or RTCP.
    let mut now = pair.now;
    let stopped = now;
    let deadline = pair.b.poll_timeout().expect("a deadline");
    assert!(deadline <= stopped + Duration::from_secs(5));
    let events = silence(&mut pair.b, &mut now, Duration::from_secs(20));
    assert_eq!(events.len(), 1, "{events:?}");
    let (at, MediaEvent::MediaTimeout { silent_for }) = &events[0] else {
        panic!("{events:?}");
    };
    let fired_after = *at - stopped;
    assert!(
        fired_after >= Duration::from_millis(4900) && fired_after <= Duration::from_millis(5020),
        "{fired_after:?}"
    );
    assert!(*silent_for >= Duration::from_secs(5), "{silent_for:?}");
}

#[test]
fn a_far_end_never_heard_times_out_from_the_start() {
    let now = Instant::now();
    let (_, at_b) = negotiate(CodecKind::Opus);
    let mut b = MediaSession::new(at_b, Ssrc::new(2), now).unwrap();
    let mut t = now;
    let events = silence(&mut b, &mut t, Duration::from_secs(31));
    assert!(
        matches!(
            events.as_slice(),
            [(at, MediaEvent::MediaTimeout { .. })] if *at - now >= DEFAULT_MEDIA_TIMEOUT
        ),
        "{events:?}"
    );
}

#[test]
fn no_media_timeout_while_either_end_holds_and_it_restarts_on_resume() {
    for held in [
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ] {
        let mut pair = Pair::new(CodecKind::Pcmu);
        pair.b.set_media_timeout(Some(Duration::from_secs(5)));
        pair.run(50);
        let mut neg = pair.b.negotiated().clone();
        neg.direction = held;
        pair.b.renegotiate(neg.clone()).expect("hold");
        let mut now = pair.now;
        let events = silence(&mut pair.b, &mut now, Duration::from_secs(60));
        assert!(events.is_empty(), "{held:?}: {events:?}");
        // Resumed, and still nothing comes: it counts from the resumption.
        neg.direction = Direction::SendRecv;
        pair.b.renegotiate(neg).expect("resume");
        let resumed = now;
        let events = silence(&mut pair.b, &mut now, Duration::from_secs(10));
        let [(at, MediaEvent::MediaTimeout { .. })] = events.as_slice() else {
            panic!("{held:?}: {events:?}");
        };
        let after = *at - resumed;
        assert!(
            after >= Duration::from_secs(5) && after <= Duration::from_millis(5040),
            "{held:?}: {after:?}"
        );
    }
}

#[test]
fn rtcp_alone_keeps_a_quiet_far_end_alive() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.b.set_media_timeout(Some(Duration::from_secs(10)));
    pair.run(20);
    // A stops sending RTP (muted, or a sender that stops during silence); RTCP goes on.
    let mut quiet = pair.a.negotiated().clone();
    quiet.direction = Direction::Inactive;
    pair.a.renegotiate(quiet).expect("inactive");
    pair.run(3000); // 60 s
    assert_eq!(pair.b.poll_event(), None);
    assert!(pair.b.stats().rtcp_rx >= 8);
}

#[test]
fn a_disabled_media_timeout_never_fires_and_close_stops_it() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.b.set_media_timeout(None);
    pair.run(10);
    let mut now = pair.now;
    assert!(silence(&mut pair.b, &mut now, Duration::from_secs(120)).is_empty());
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(10);
    pair.b.close(pair.now, pair.wall);
    assert_eq!(pair.b.poll_timeout(), None);
    let mut now = pair.now;
    assert!(silence(&mut pair.b, &mut now, Duration::from_secs(60)).is_empty());
}

#[test]
fn packets_from_a_stranger_do_not_keep_a_dead_call_alive() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.b.set_media_timeout(Some(Duration::from_secs(5)));
    pair.run(20);
    let packet = pair.a_rtp.last().unwrap().clone();
    let report = rtcp::write_compound(&[RtcpPacket::ReceiverReport {
        ssrc: Ssrc::new(0xaaaa_0001),
        reports: Vec::new(),
    }]);
    let mut now = pair.now;
    let stopped = now;
    let mut fired = None;
    while now < stopped + Duration::from_secs(10) && fired.is_none() {
        pair.b.handle_rtp(now, addr("198.51.100.66:4000"), &packet);
        pair.b.handle_rtcp(now, addr("198.51.100.66:4001"), &report);
        fired = silence(&mut pair.b, &mut now, FRAME).pop();
    }
    let (at, event) = fired.expect("timed out");
    assert!(matches!(event, MediaEvent::MediaTimeout { .. }));
    assert!(at - stopped <= Duration::from_millis(5020));
}
