//! Who may feed B's playout (issue 13): only the latched source, one SSRC at a time, and
//! sequence jumps only once confirmed (RFC 3550 §A.1). The far end (A) sends a 1 kHz tone and
//! an intruder a 400 Hz one, so every 20 ms window B plays says whose audio it was.

use super::*;

const STRANGER: &str = "198.51.100.66:4000";
const FAR_SSRC: Ssrc = Ssrc::new(0xaaaa_0001);

/// PCMU packets of a 400 Hz tone, 20 ms each.
struct Intruder {
    tone: Vec<i16>,
    sent: usize,
}

impl Intruder {
    fn new() -> Intruder {
        Intruder {
            tone: sine_i16(400.0, -12.0, 8000, 8000),
            sent: 0,
        }
    }

    fn packet(&mut self, ssrc: Ssrc, seq: SeqNo, timestamp: RtpTimestamp) -> Vec<u8> {
        // 8000 samples hold a whole number of 160-sample packets and 400 Hz periods.
        let start = (self.sent * 160) % self.tone.len();
        self.sent += 1;
        let payload: Vec<u8> = self.tone[start..][..160]
            .iter()
            .map(|&s| audio_codec_algorithms::encode_ulaw(s))
            .collect();
        let mut packet = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: PayloadType::new(0).expect("PCMU"),
            seq,
            timestamp,
            ssrc,
        }
        .write(&payload, &mut packet);
        packet
    }
}

/// Shares of the 20 ms windows in which the far end's tone and the intruder's can be heard.
#[derive(Debug)]
struct Heard {
    far_end: f64,
    intruder: f64,
}

fn listen(samples: &[i16], what: &str) -> Heard {
    let windows: Vec<&[i16]> = samples.chunks_exact(FRAME_SAMPLES).collect();
    let share = |freq: f32| {
        let n = windows
            .iter()
            .filter(|w| goertzel_power_dbfs(w, 48_000, freq) > -30.0)
            .count();
        n as f64 / windows.len() as f64
    };
    let heard = Heard {
        far_end: share(1000.0),
        intruder: share(400.0),
    };
    eprintln!(
        "{what}: far end in {:.1} % of windows, intruder in {:.1} %",
        heard.far_end * 100.0,
        heard.intruder * 100.0
    );
    heard
}

#[test]
fn a_stranger_sending_with_the_far_ends_ssrc_is_not_heard() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(10);
    let mut intruder = Intruder::new();
    // It copies the far end's header and runs three packets ahead, so its audio comes first.
    pair.inject = Box::new(move |last| {
        last.map(|h| {
            let packet = intruder.packet(
                h.ssrc,
                h.seq.wrapping_add(3),
                h.timestamp.wrapping_add(3 * 160),
            );
            (addr(STRANGER), packet)
        })
        .into_iter()
        .collect()
    });
    pair.run(250);
    let heard = listen(pair.heard_tail(20), "stranger with the far end's SSRC");
    assert_eq!(heard.intruder, 0.0);
    assert_eq!(heard.far_end, 1.0);
    assert_eq!(pair.b.stats().rx_wrong_source, 250);
    assert_eq!(pair.b.rtp_destination(), addr(A_ADDR));
}

#[test]
fn a_new_ssrc_from_the_latched_address_is_not_mixed_in_while_the_far_end_talks() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(10);
    let mut intruder = Intruder::new();
    let mut tick = 0u32;
    // Two packets back to back every other tick: each pair is in sequence.
    pair.inject = Box::new(move |_| {
        tick += 1;
        if tick % 2 == 1 {
            return Vec::new();
        }
        (tick - 1..=tick)
            .map(|n| {
                let packet = intruder.packet(
                    Ssrc::new(0x0bad),
                    SeqNo::new(1000).wrapping_add(n as u16),
                    RtpTimestamp::new(5000).wrapping_add(n * 160),
                );
                (addr(A_ADDR), packet)
            })
            .collect()
    });
    pair.run(250);
    let heard = listen(pair.heard_tail(20), "new SSRC from the latched address");
    assert_eq!(heard.intruder, 0.0);
    assert_eq!(heard.far_end, 1.0);
    assert_eq!(pair.b.remote.as_ref().map(|r| r.ssrc), Some(FAR_SSRC));
    let stats = pair.b.stats();
    assert_eq!(stats.rx_other_ssrc, 250);
    assert_eq!(stats.stream_restarts, 0);
    assert_eq!(stats.concealed_frames, 0);
}

#[test]
fn a_far_end_that_restarts_with_a_new_ssrc_after_falling_silent_is_heard() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    // The old stream stops after one second ...
    pair.network = Box::new(|n| (n < 50).then_some(Duration::from_millis(10)));
    pair.run(50);
    // ... and 2.5 s later the far end starts again with a new SSRC and sequence.
    let mut restarted = Intruder::new();
    let mut n = 0u32;
    pair.inject = Box::new(move |_| {
        n += 1;
        if n <= 125 {
            return Vec::new();
        }
        let packet = restarted.packet(
            Ssrc::new(0x0e57),
            SeqNo::new(7).wrapping_add(n as u16),
            RtpTimestamp::new(90_000).wrapping_add(n * 160),
        );
        vec![(addr(A_ADDR), packet)]
    });
    pair.run(200);
    let tail = &pair.heard[pair.heard.len() - 50 * FRAME_SAMPLES..];
    let heard = listen(tail, "far end restarted with a new SSRC");
    assert_eq!(heard.intruder, 1.0, "the restarted stream plays");
    assert_eq!(
        pair.b.remote.as_ref().map(|r| r.ssrc),
        Some(Ssrc::new(0x0e57))
    );
    let stats = pair.b.stats();
    assert_eq!(stats.stream_restarts, 1);
    assert_eq!(
        stats.rx_other_ssrc, 0,
        "its first packet is held, not dropped"
    );
    assert_eq!(stats.rx_lost, 0, "statistics restarted with the stream");
}

#[test]
fn a_sequence_jump_is_not_played_until_the_next_packet_confirms_it() {
    // One packet 10,000 ahead, then the far end carries on at its own sequence.
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(10);
    let mut intruder = Intruder::new();
    let mut once = true;
    pair.inject = Box::new(move |last| match last {
        Some(h) if std::mem::take(&mut once) => {
            let packet = intruder.packet(h.ssrc, h.seq.wrapping_add(10_000), h.timestamp);
            vec![(addr(A_ADDR), packet)]
        }
        _ => Vec::new(),
    });
    pair.run(100);
    let heard = listen(pair.heard_tail(20), "one jump of 10,000");
    assert_eq!(heard.intruder, 0.0);
    assert_eq!(heard.far_end, 1.0);

    // A jumped sequence interleaved with the far end's never has its next packet confirm it.
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(10);
    let mut intruder = Intruder::new();
    pair.inject = Box::new(move |last| {
        last.map(|h| {
            let packet = intruder.packet(
                h.ssrc,
                h.seq.wrapping_add(10_000),
                h.timestamp.wrapping_add(3 * 160),
            );
            (addr(A_ADDR), packet)
        })
        .into_iter()
        .collect()
    });
    pair.run(250);
    let heard = listen(pair.heard_tail(20), "interleaved jump of 10,000");
    assert_eq!(heard.intruder, 0.0);
    assert_eq!(heard.far_end, 1.0);
    assert_eq!(pair.b.stats().rx_out_of_sequence, 250);
}

#[test]
fn a_far_end_that_said_bye_may_be_replaced_at_once() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(20);
    let bye = rtcp::write_compound(&[RtcpPacket::Goodbye {
        ssrcs: vec![FAR_SSRC],
        reason: None,
    }]);
    pair.b.handle_rtcp(pair.now, addr(A_ADDR), &bye);
    let mut next = Intruder::new();
    let mut n = 0u32;
    pair.inject = Box::new(move |_| {
        n += 1;
        let packet = next.packet(
            Ssrc::new(0x0e57),
            SeqNo::new(n as u16),
            RtpTimestamp::new(n * 160),
        );
        vec![(addr(A_ADDR), packet)]
    });
    pair.network = Box::new(|_| None);
    pair.run(50);
    assert_eq!(
        pair.b.remote.as_ref().map(|r| r.ssrc),
        Some(Ssrc::new(0x0e57))
    );
    assert_eq!(pair.b.stats().stream_restarts, 1);
}

#[test]
fn rtcp_from_a_stranger_is_dropped_and_its_bye_ignored() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(20);
    let bye = rtcp::write_compound(&[RtcpPacket::Goodbye {
        ssrcs: vec![FAR_SSRC],
        reason: Some("spoofed".into()),
    }]);
    let before = pair.b.stats();
    pair.b
        .handle_rtcp(pair.now, addr("198.51.100.66:4001"), &bye);
    let after = pair.b.stats();
    assert_eq!(after.rx_wrong_source, before.rx_wrong_source + 1);
    assert_eq!(after.rtcp_rx, before.rtcp_rx);
    assert!(!after.remote_bye);
    assert_eq!(pair.b.poll_event(), None);
    // A BYE from the far end's address for some other SSRC is not the far end leaving.
    let other = rtcp::write_compound(&[RtcpPacket::Goodbye {
        ssrcs: vec![Ssrc::new(0x0bad)],
        reason: None,
    }]);
    pair.b.handle_rtcp(pair.now, addr(A_ADDR), &other);
    assert_eq!(pair.b.poll_event(), None);
}

#[test]
fn the_far_ends_bye_is_reported_once_with_its_reason() {
    let mut pair = Pair::new(CodecKind::Opus);
    pair.run(10);
    pair.a.close(pair.now, pair.wall);
    pair.drain();
    pair.now += Duration::from_millis(50);
    pair.deliver_due();
    assert_eq!(
        pair.b.poll_event(),
        Some(MediaEvent::RemoteBye {
            reason: Some("call ended".into())
        })
    );
    assert_eq!(pair.b.poll_event(), None);
    let bye = rtcp::write_compound(&[RtcpPacket::Goodbye {
        ssrcs: vec![FAR_SSRC],
        reason: None,
    }]);
    pair.b.handle_rtcp(pair.now, addr(A_ADDR), &bye);
    assert_eq!(pair.b.poll_event(), None, "once");
}

#[test]
fn the_sdp_address_takes_the_latch_from_a_stranger_that_came_first() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    let mut intruder = Intruder::new();
    let mut n = 0u32;
    pair.inject = Box::new(move |_| {
        n += 1;
        let packet = intruder.packet(
            Ssrc::new(0x0bad),
            SeqNo::new(n as u16),
            RtpTimestamp::new(n * 160),
        );
        vec![(addr(STRANGER), packet)]
    });
    // The stranger's packets reach B before the far end's first.
    pair.network = Box::new(|n| (n >= 3).then_some(Duration::from_millis(10)));
    pair.run(150);
    assert_eq!(pair.b.rtp_destination(), addr(A_ADDR));
    let heard = listen(
        pair.heard_tail(20),
        "stranger first, then the SDP's address",
    );
    assert_eq!(heard.intruder, 0.0);
    assert_eq!(heard.far_end, 1.0);
}

#[test]
fn a_re_invite_moving_the_far_end_reopens_the_latch_but_not_to_the_old_address() {
    const MOVED: &str = "192.0.2.9:52000";
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.a_source = addr("203.0.113.5:31000");
    pair.run(20);
    assert_eq!(pair.b.rtp_destination(), addr("203.0.113.5:31000"));
    let mut neg = pair.b.negotiated().clone();
    neg.remote_rtp = addr(MOVED);
    neg.remote_rtcp = addr("192.0.2.9:52001");
    pair.b.renegotiate(neg).expect("re-INVITE");
    assert_eq!(pair.b.rtp_destination(), addr(MOVED));
    // The old address keeps sending its own stream for a while; the far end now sends from
    // behind another NAT binding.
    pair.a_source = addr("203.0.113.77:42000");
    let mut old = Intruder::new();
    let mut n = 0u32;
    pair.inject = Box::new(move |_| {
        n += 1;
        let packet = old.packet(
            Ssrc::new(0x01d),
            SeqNo::new(n as u16),
            RtpTimestamp::new(n * 160),
        );
        vec![(addr("203.0.113.5:31000"), packet)]
    });
    pair.run(150);
    assert_eq!(pair.b.rtp_destination(), addr("203.0.113.77:42000"));
    let heard = listen(pair.heard_tail(40), "after the re-INVITE");
    assert_eq!(heard.intruder, 0.0);
    assert_eq!(heard.far_end, 1.0);
    assert_eq!(pair.b.stats().stream_restarts, 0, "the same stream, moved");
}
