//! Two sessions back to back over a simulated network, in simulated time.

use super::*;
use crate::codec::CodecKind;
use crate::sdp::{self, Direction, LocalMedia};
use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, sine_i16};

const FRAME: Duration = Duration::from_millis(20);
const A_ADDR: &str = "192.0.2.1:40000";
const B_ADDR: &str = "192.0.2.2:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// Negotiates `codec` through real SDP offer/answer; returns (A's view, B's view).
fn negotiate(codec: CodecKind) -> (Negotiated, Negotiated) {
    let a = LocalMedia {
        addr: addr(A_ADDR),
        codecs: vec![codec],
        telephone_event: true,
        direction: Default::default(),
    };
    let b = LocalMedia {
        addr: addr(B_ADDR),
        codecs: CodecKind::ALL.to_vec(),
        telephone_event: true,
        direction: Default::default(),
    };
    let offer = sdp::create_offer(&a, 1, 1);
    let (answer, at_b) = sdp::answer_offer(&offer, &b, 2, 1).expect("answer");
    let at_a = sdp::accept_answer(&answer, &a).expect("accept");
    (at_a, at_b)
}

/// A datagram from a third party: where it claims to come from, and its bytes.
type Datagram = (SocketAddr, Vec<u8>);

/// A datagram on the simulated wire.
struct InFlight {
    at: Instant,
    from: SocketAddr,
    transmit: Transmit,
}

/// A sends a tone to B every 20 ms; the network may drop or delay A's RTP packets.
struct Pair {
    a: MediaSession,
    b: MediaSession,
    now: Instant,
    wall: SystemTime,
    wire: Vec<InFlight>,
    /// Where A's packets appear to come from (a NAT may rewrite it).
    a_source: SocketAddr,
    sent: usize,
    tone: Vec<i16>,
    /// Everything B played.
    heard: Vec<i16>,
    /// Delay of A's n-th RTP packet, or None to drop it.
    network: Box<dyn FnMut(usize) -> Option<Duration>>,
    /// A's RTP packets as sent, for inspection.
    a_rtp: Vec<Vec<u8>>,
    /// Datagrams a third party sends to B's RTP socket each tick, given A's latest header.
    inject: Box<dyn FnMut(Option<RtpHeader>) -> Vec<Datagram>>,
}

impl Pair {
    fn new(codec: CodecKind) -> Pair {
        let now = Instant::now();
        let (at_a, at_b) = negotiate(codec);
        Pair {
            a: MediaSession::new(at_a, Ssrc::new(0xaaaa_0001), now).unwrap(),
            b: MediaSession::new(at_b, Ssrc::new(0xbbbb_0002), now).unwrap(),
            now,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            wire: Vec::new(),
            a_source: addr(A_ADDR),
            sent: 0,
            tone: sine_i16(1000.0, -12.0, 48_000, 48_000 * 20),
            heard: Vec::new(),
            network: Box::new(|_| Some(Duration::from_millis(10))),
            a_rtp: Vec::new(),
            inject: Box::new(|_| Vec::new()),
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.a.poll_transmit() {
            let delay = if t.kind == PacketKind::Rtp {
                self.a_rtp.push(t.payload.clone());
                let n = self.a_rtp.len() - 1;
                (self.network)(n)
            } else {
                Some(Duration::from_millis(10))
            };
            if let Some(d) = delay {
                self.wire.push(InFlight {
                    at: self.now + d,
                    from: self.a_source,
                    transmit: t,
                });
            }
        }
        while let Some(t) = self.b.poll_transmit() {
            self.wire.push(InFlight {
                at: self.now + Duration::from_millis(10),
                from: addr(B_ADDR),
                transmit: t,
            });
        }
    }

    fn inject(&mut self) {
        let last = self
            .a_rtp
            .last()
            .and_then(|p| RtpPacket::parse(p).ok())
            .map(|p| p.header);
        for (from, payload) in (self.inject)(last) {
            self.wire.push(InFlight {
                at: self.now + Duration::from_millis(10),
                from,
                transmit: Transmit {
                    dest: addr(B_ADDR),
                    payload,
                    kind: PacketKind::Rtp,
                },
            });
        }
    }

    fn deliver_due(&mut self) {
        self.wire.sort_by_key(|f| f.at);
        while self.wire.first().is_some_and(|f| f.at <= self.now) {
            let f = self.wire.remove(0);
            let (to_b, kind) = (f.from != addr(B_ADDR), f.transmit.kind);
            let session = if to_b { &mut self.b } else { &mut self.a };
            match kind {
                PacketKind::Rtp => session.handle_rtp(f.at, f.from, &f.transmit.payload),
                PacketKind::Rtcp => session.handle_rtcp(f.at, f.from, &f.transmit.payload),
            }
        }
    }

    /// Runs `frames` 20 ms ticks, stepping 5 ms at a time so deliveries land between ticks.
    fn run(&mut self, frames: usize) {
        for _ in 0..frames {
            let start = self.sent * FRAME_SAMPLES;
            let frame = self.tone[start % self.tone.len()..][..FRAME_SAMPLES].to_vec();
            self.sent += 1;
            self.a.send_frame(self.now, &frame);
            let audio = self.b.poll_audio(self.now);
            self.heard
                .extend_from_slice(&audio.unwrap_or([0; FRAME_SAMPLES]));
            for quarter in 0..4 {
                for s in [&mut self.a, &mut self.b] {
                    if s.poll_timeout().is_some_and(|t| t <= self.now) {
                        s.handle_timeout(self.now, self.wall);
                    }
                }
                self.drain();
                if quarter == 0 {
                    self.inject();
                }
                self.deliver_due();
                self.now += FRAME / 4;
                self.wall += FRAME / 4;
            }
        }
    }

    fn heard_tail(&self, skip_frames: usize) -> &[i16] {
        &self.heard[skip_frames * FRAME_SAMPLES..]
    }
}

fn assert_tone(samples: &[i16], what: &str) {
    let freq = dominant_frequency(samples, 48_000);
    let level = goertzel_power_dbfs(samples, 48_000, 1000.0);
    assert!((freq - 1000.0).abs() < 2.0, "{what}: heard {freq} Hz");
    assert!((level + 12.0).abs() < 2.0, "{what}: heard {level} dBFS");
}

#[test]
fn one_khz_tone_crosses_opus_pcmu_and_pcma_at_its_frequency_and_level() {
    for codec in CodecKind::ALL {
        let mut pair = Pair::new(codec);
        pair.run(100);
        assert_eq!(pair.b.negotiated().codec, codec);
        assert_tone(pair.heard_tail(10), &codec.to_string());
        let stats = pair.b.stats();
        assert_eq!(stats.codec, codec);
        assert_eq!(stats.rx_lost, 0);
        assert_eq!(stats.concealed_frames, 0, "{codec}: {stats:?}");
        assert!(stats.rtp_rx >= 98);
        assert_eq!(pair.a.stats().rtp_tx, 100);
    }
}

#[test]
fn rtp_timestamps_advance_by_the_codec_clock_and_first_packet_has_marker() {
    for (codec, ticks) in [
        (CodecKind::Opus, 960u32),
        (CodecKind::Pcmu, 160),
        (CodecKind::Pcma, 160),
    ] {
        let mut pair = Pair::new(codec);
        pair.run(5);
        let headers: Vec<RtpHeader> = pair
            .a_rtp
            .iter()
            .map(|p| RtpPacket::parse(p).unwrap().header)
            .collect();
        assert_eq!(headers.len(), 5);
        assert!(headers[0].marker);
        assert!(headers[1..].iter().all(|h| !h.marker));
        for w in headers.windows(2) {
            assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
            assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(ticks));
            assert_eq!(w[1].ssrc, Ssrc::new(0xaaaa_0001));
            assert_eq!(w[1].payload_type.as_u8(), pair.a.negotiated().pt);
        }
        if codec != CodecKind::Opus {
            assert_eq!(RtpPacket::parse(&pair.a_rtp[0]).unwrap().payload.len(), 160);
        }
    }
}

#[test]
fn lost_packets_are_counted_and_concealed_without_losing_the_tone() {
    for codec in CodecKind::ALL {
        let mut pair = Pair::new(codec);
        pair.network = Box::new(|n| (n % 10 != 5).then_some(Duration::from_millis(10)));
        pair.run(100);
        let stats = pair.b.stats();
        assert_eq!(stats.rx_lost, 10, "{codec}: {stats:?}");
        assert!(
            stats.concealed_frames + stats.fec_recovered >= 9,
            "{codec}: {stats:?}"
        );
        if codec == CodecKind::Opus {
            assert!(
                stats.fec_recovered >= 9,
                "in-band FEC rebuilds them: {stats:?}"
            );
        }
        let tail = pair.heard_tail(10);
        let freq = dominant_frequency(tail, 48_000);
        assert!((freq - 1000.0).abs() < 2.0, "{codec}: {freq} Hz");
        let level = goertzel_power_dbfs(tail, 48_000, 1000.0);
        assert!(level > -16.0, "{codec}: {level} dBFS");
    }
}

#[test]
fn reordered_packets_within_the_buffer_play_in_order() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    // Every other packet overtakes its predecessor.
    pair.network = Box::new(|n| Some(Duration::from_millis(if n % 2 == 0 { 35 } else { 10 })));
    pair.run(100);
    let stats = pair.b.stats();
    assert_eq!(stats.rx_lost, 0);
    assert_eq!(stats.rx_late, 0);
    assert_eq!(stats.concealed_frames, 0, "{stats:?}");
    assert!(stats.jitter_ms > 5.0, "{stats:?}");
    assert_tone(pair.heard_tail(10), "reordered");
}

#[test]
fn packets_later_than_the_buffer_are_dropped_as_late() {
    let mut pair = Pair::new(CodecKind::Pcma);
    pair.network = Box::new(|n| Some(Duration::from_millis(if n == 50 { 200 } else { 10 })));
    pair.run(100);
    let stats = pair.b.stats();
    assert_eq!(stats.rx_late, 1, "{stats:?}");
    assert!(stats.concealed_frames >= 1);
    assert_eq!(stats.rx_lost, 0, "late is not lost in RFC 3550 terms");
}

#[test]
fn duplicates_are_dropped() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(10);
    let packet = pair.a_rtp[9].clone();
    pair.b.handle_rtp(pair.now, addr(A_ADDR), &packet);
    pair.b.handle_rtp(pair.now, addr(A_ADDR), &packet);
    let stats = pair.b.stats();
    assert!(stats.rx_duplicate + stats.rx_late >= 2, "{stats:?}");
}

/// Hand-made PCMU packets from a peer whose sequence numbers and timestamps wrap.
#[test]
fn sequence_and_timestamp_wrap_are_seamless() {
    let now = Instant::now();
    let (_, at_b) = negotiate(CodecKind::Pcmu);
    let mut b = MediaSession::new(at_b, Ssrc::new(2), now).unwrap();
    let tone = sine_i16(1000.0, -12.0, 8000, 8000);
    let mut t = now;
    let mut heard = Vec::new();
    for i in 0..50u32 {
        let seq = 65_510u16.wrapping_add(i as u16);
        let ts = (u32::MAX - 160 * 20).wrapping_add(i * 160);
        if i != 30 {
            let payload: Vec<u8> = tone[(i as usize * 160) % 8000..][..160]
                .iter()
                .map(|&s| audio_codec_algorithms::encode_ulaw(s))
                .collect();
            let mut packet = Vec::new();
            RtpHeader {
                marker: i == 0,
                payload_type: PayloadType::new(0).unwrap(),
                seq: SeqNo::new(seq),
                timestamp: RtpTimestamp::new(ts),
                ssrc: Ssrc::new(0x5eed),
            }
            .write(&payload, &mut packet);
            b.handle_rtp(t, addr(A_ADDR), &packet);
        }
        heard.extend_from_slice(&b.poll_audio(t).unwrap_or([0; FRAME_SAMPLES]));
        t += FRAME;
    }
    let stats = b.stats();
    assert_eq!(stats.rtp_rx, 49);
    assert_eq!(stats.rx_lost, 1);
    assert_eq!(stats.rx_late, 0);
    let remote = b.remote.as_ref().unwrap();
    assert_eq!(remote.stats.extended_max(), 65_536 + (65_510 + 49 - 65_536));
    assert_tone(&heard[10 * FRAME_SAMPLES..], "wrapped");
}

#[test]
fn symmetric_rtp_latches_onto_the_peers_nat_address() {
    let mut pair = Pair::new(CodecKind::Opus);
    pair.a_source = addr("203.0.113.5:31000");
    assert_eq!(pair.b.rtp_destination(), addr(A_ADDR));
    pair.run(3);
    assert_eq!(pair.b.rtp_destination(), addr("203.0.113.5:31000"));
    pair.b.send_frame(pair.now, &[0; FRAME_SAMPLES]);
    let t = pair.b.poll_transmit().unwrap();
    assert_eq!(
        (t.dest, t.kind),
        (addr("203.0.113.5:31000"), PacketKind::Rtp)
    );
    // A later packet from elsewhere does not move it again.
    let packet = pair.a_rtp[2].clone();
    pair.b.handle_rtp(pair.now, addr("198.51.100.1:1"), &packet);
    assert_eq!(pair.b.rtp_destination(), addr("203.0.113.5:31000"));
}

#[test]
fn telephone_events_are_counted_not_played_and_other_payload_types_ignored() {
    let now = Instant::now();
    let (_, at_b) = negotiate(CodecKind::Pcmu);
    let dtmf_pt = at_b.dtmf_pt.expect("telephone-event negotiated");
    let mut b = MediaSession::new(at_b, Ssrc::new(2), now).unwrap();
    let mut t = now;
    for i in 0..5u16 {
        let mut packet = Vec::new();
        RtpHeader {
            marker: i == 0,
            payload_type: PayloadType::new(dtmf_pt).unwrap(),
            seq: SeqNo::new(100 + i),
            timestamp: RtpTimestamp::new(8000),
            ssrc: Ssrc::new(9),
        }
        // RFC 4733 §2.3: event 5, volume 10, growing duration.
        .write(&[5, 10, 0, (i * 40) as u8], &mut packet);
        b.handle_rtp(t, addr(A_ADDR), &packet);
        assert_eq!(b.poll_audio(t), None, "telephone-event is not audio");
        t += FRAME;
    }
    let mut cn = Vec::new();
    RtpHeader {
        marker: false,
        payload_type: PayloadType::new(13).unwrap(),
        seq: SeqNo::new(105),
        timestamp: RtpTimestamp::new(8800),
        ssrc: Ssrc::new(9),
    }
    .write(&[40], &mut cn);
    b.handle_rtp(t, addr(A_ADDR), &cn);
    let stats = b.stats();
    assert_eq!(stats.rx_telephone_event, 5);
    assert_eq!(stats.rx_unexpected_pt, 1);
    assert_eq!(stats.concealed_frames, 0);
}

#[test]
fn sessions_can_move_between_threads_and_be_borrowed_across_awaits() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MediaSession>();
}

mod source;
mod timeout;

#[test]
fn a_new_ssrc_neither_disturbs_playout_nor_takes_over_while_the_far_end_sends() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.run(10);
    let stray = |ssrc: u32, seq: u16| {
        let mut p = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: PayloadType::new(0).unwrap(),
            seq: SeqNo::new(seq),
            timestamp: RtpTimestamp::new(77),
            ssrc: Ssrc::new(ssrc),
        }
        .write(&[0xff; 160], &mut p);
        p
    };
    let before = pair.b.stats().rtp_rx;
    pair.b.handle_rtp(pair.now, addr(A_ADDR), &stray(0x0bad, 5));
    assert_eq!(pair.b.stats().rtp_rx, before, "a stray packet is not taken");
    pair.run(10);
    assert_eq!(pair.b.stats().concealed_frames, 0, "playout undisturbed");
    // Two in sequence would pass probation, but the far end's stream is alive.
    pair.b.handle_rtp(pair.now, addr(A_ADDR), &stray(0x0bad, 5));
    pair.b.handle_rtp(pair.now, addr(A_ADDR), &stray(0x0bad, 6));
    assert_eq!(
        pair.b.remote.as_ref().map(|r| r.ssrc),
        Some(Ssrc::new(0xaaaa_0001))
    );
    assert_eq!(pair.b.stats().rx_other_ssrc, 3);
    assert_eq!(pair.b.stats().stream_restarts, 0);
}

#[test]
fn nothing_is_sent_after_close() {
    let mut pair = Pair::new(CodecKind::Opus);
    pair.a.close(pair.now, pair.wall);
    while pair.a.poll_transmit().is_some() {}
    pair.a.send_frame(pair.now, &[0; FRAME_SAMPLES]);
    assert!(pair.a.poll_transmit().is_none());
}

#[test]
fn silence_before_the_first_packet() {
    let mut pair = Pair::new(CodecKind::Opus);
    assert_eq!(pair.b.poll_audio(pair.now), None);
    pair.run(1);
    assert_eq!(pair.b.poll_audio(pair.now), None, "still buffering");
}

#[test]
fn rtcp_reports_flow_both_ways_and_give_round_trip_time() {
    let mut pair = Pair::new(CodecKind::Pcma);
    let first = pair.a.poll_timeout().unwrap();
    assert_eq!(first - pair.now, Duration::from_millis(2500));
    pair.run(600); // 12 s: each side reports two or three times.
    let (a, b) = (pair.a.stats(), pair.b.stats());
    assert!(a.rtcp_tx >= 2 && b.rtcp_tx >= 2, "{a:?} {b:?}");
    assert!(a.rtcp_rx >= 1 && b.rtcp_rx >= 1);
    let rtt = a.rtt_ms.expect("A sent SRs and B's reports echo them");
    assert!((rtt - 20.0).abs() < 1.0, "10 ms each way: {rtt}");
}

#[test]
fn sender_report_carries_counts_and_receiver_report_carries_loss() {
    let mut pair = Pair::new(CodecKind::Pcmu);
    pair.network = Box::new(|n| (n != 7).then_some(Duration::from_millis(10)));
    pair.run(130);
    let mut a_reports = Vec::new();
    let mut b_reports = Vec::new();
    // Run to the next reports of both and capture them.
    let until = pair.now + Duration::from_secs(8);
    while pair.now < until {
        for (s, out) in [(&mut pair.a, &mut a_reports), (&mut pair.b, &mut b_reports)] {
            if s.poll_timeout().is_some_and(|t| t <= pair.now) {
                s.handle_timeout(pair.now, pair.wall);
            }
            while let Some(t) = s.poll_transmit() {
                if t.kind == PacketKind::Rtcp {
                    out.push(rtcp::parse_compound(&t.payload).unwrap());
                }
            }
        }
        pair.now += FRAME;
    }
    let sr = a_reports.iter().flatten().find_map(|p| match p {
        RtcpPacket::SenderReport { info, .. } => Some(*info),
        _ => None,
    });
    assert_eq!(sr.expect("A sent since its last report?").packet_count, 130);
    let (rr_ssrc, block) = b_reports
        .iter()
        .flatten()
        .find_map(|p| match p {
            RtcpPacket::ReceiverReport { ssrc, reports } => Some((*ssrc, reports.first().copied())),
            _ => None,
        })
        .expect("B only receives: RR");
    assert_eq!(rr_ssrc, Ssrc::new(0xbbbb_0002));
    let block = block.expect("a block about A");
    assert_eq!(block.ssrc, Ssrc::new(0xaaaa_0001));
    assert_eq!(block.cumulative_lost, 1);
    assert!(b_reports[0].iter().any(|p| matches!(
        p,
        RtcpPacket::SourceDescription { chunks } if chunks[0].1.as_deref() == Some("wren-bbbb0002@wren.invalid")
    )));
}

#[test]
fn close_sends_bye_and_stops_reporting() {
    let mut pair = Pair::new(CodecKind::Opus);
    pair.run(10);
    pair.a.close(pair.now, pair.wall);
    assert_eq!(pair.a.poll_timeout(), None);
    pair.drain();
    pair.now += Duration::from_millis(50);
    pair.deliver_due();
    assert!(pair.b.stats().remote_bye);
}

#[test]
fn recvonly_session_sends_nothing_but_keeps_its_clock() {
    let now = Instant::now();
    let (mut neg, _) = negotiate(CodecKind::Pcmu);
    neg.direction = Direction::RecvOnly;
    let mut s = MediaSession::new(neg, Ssrc::new(1), now).unwrap();
    for _ in 0..3 {
        s.send_frame(now, &[0; FRAME_SAMPLES]);
    }
    assert!(s.poll_transmit().is_none());
    assert_eq!(s.stats().rtp_tx, 0);
}

#[test]
fn wrong_length_frames_are_ignored() {
    let mut pair = Pair::new(CodecKind::Opus);
    pair.a.send_frame(pair.now, &[0; 100]);
    pair.a.send_frame(pair.now, &[]);
    assert!(pair.a.poll_transmit().is_none());
}

#[test]
fn invalid_payload_type_in_negotiation_is_refused() {
    let (mut neg, _) = negotiate(CodecKind::Opus);
    neg.pt = 200;
    let err = MediaSession::new(neg, Ssrc::new(1), Instant::now())
        .err()
        .unwrap();
    assert_eq!(err.code(), "media.invalid_payload_type");
}

#[test]
fn hostile_datagrams_are_counted_and_never_panic() {
    let mut pair = Pair::new(CodecKind::Opus);
    pair.run(5);
    let from = addr(A_ADDR);
    let mut state = 0x9e37_79b9_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut invalid = 0;
    for i in 0..5000 {
        let len = (next() % 80) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && len > 12 {
            // Valid-looking header with our payload type and garbage after it.
            data[0] = 0x80;
            data[1] = pair.b.negotiated().pt;
        } else {
            invalid += 1;
        }
        pair.b.handle_rtp(pair.now, from, &data);
        pair.b.handle_rtcp(pair.now, from, &data);
        if i % 50 == 0 {
            pair.now += FRAME;
            let _ = pair.b.poll_audio(pair.now);
        }
    }
    assert!(pair.b.stats().rx_invalid > 0 && invalid > 0);
    // The session still works afterwards.
    pair.run(20);
}

#[test]
fn dtmf_digits_cross_as_rfc_4733_events_and_audio_resumes() {
    for codec in [CodecKind::Opus, CodecKind::Pcmu] {
        let mut p = Pair::new(codec);
        let dtmf_pt =
            p.a.negotiated()
                .dtmf_pt
                .expect("telephone-event negotiated");
        p.run(10);
        p.a.send_dtmf("1#9").expect("queued");
        assert!(p.a.dtmf_pending());
        p.run(40);
        assert!(!p.a.dtmf_pending());
        let mut got = String::new();
        while let Some(d) = p.b.poll_dtmf() {
            got.push(d);
        }
        assert_eq!(got, "1#9", "{codec:?}");
        assert_eq!(p.b.stats().dtmf_rx, "1#9");
        // 3 digits × (5 tone + 2 extra end packets), each event on one timestamp.
        let events: Vec<RtpPacket<'_>> = p
            .a_rtp
            .iter()
            .filter_map(|d| RtpPacket::parse(d).ok())
            .filter(|r| r.header.payload_type.as_u8() == dtmf_pt)
            .collect();
        assert_eq!(events.len(), 21, "{codec:?}");
        let markers = events.iter().filter(|e| e.header.marker).count();
        assert_eq!(markers, 3, "one marker per event");
        let ticks = codec.ticks_per_frame();
        let last = events.last().unwrap();
        assert_eq!(last.payload[1] & 0x80, 0x80, "ends with the E bit");
        assert_eq!(
            u16::from_be_bytes([last.payload[2], last.payload[3]]) as u32,
            5 * ticks
        );
        // Audio packets keep flowing between and after the digits, and B still hears the tone.
        let audio_after = p
            .a_rtp
            .iter()
            .rev()
            .take(5)
            .filter_map(|d| RtpPacket::parse(d).ok())
            .all(|r| r.header.payload_type.as_u8() == p.a.negotiated().pt);
        assert!(audio_after);
        let tail = &p.heard[p.heard.len() - 4800..];
        assert!((dominant_frequency(tail, 48_000) - 1000.0).abs() < 20.0);
    }
}

#[test]
fn dtmf_is_refused_without_telephone_event_bad_digits_or_on_hold() {
    let now = Instant::now();
    let (mut at_a, _) = negotiate(CodecKind::Pcmu);
    let mut s = MediaSession::new(at_a.clone(), Ssrc::new(1), now).unwrap();
    assert_eq!(s.send_dtmf("12x").unwrap_err().code(), "media.invalid_dtmf");
    assert!(!s.dtmf_pending(), "all or nothing");
    assert_eq!(s.send_dtmf("").unwrap_err().code(), "media.invalid_dtmf");
    assert_eq!(
        s.send_dtmf(&"1".repeat(40)).unwrap_err().code(),
        "media.dtmf_queue_full"
    );
    at_a.direction = Direction::RecvOnly;
    let mut held = MediaSession::new(at_a.clone(), Ssrc::new(1), now).unwrap();
    assert_eq!(held.send_dtmf("1").unwrap_err().code(), "media.not_sending");
    at_a.dtmf_pt = None;
    at_a.direction = Direction::SendRecv;
    let mut none = MediaSession::new(at_a, Ssrc::new(1), now).unwrap();
    assert_eq!(
        none.send_dtmf("1").unwrap_err().code(),
        "media.dtmf_unsupported"
    );
}

#[test]
fn hold_offer_is_sendonly_and_the_answer_recvonly() {
    let a = LocalMedia {
        addr: addr(A_ADDR),
        codecs: vec![CodecKind::Opus],
        telephone_event: true,
        direction: Direction::SendOnly,
    };
    let b = LocalMedia {
        addr: addr(B_ADDR),
        codecs: CodecKind::ALL.to_vec(),
        telephone_event: true,
        direction: Direction::SendRecv,
    };
    let offer = sdp::create_offer(&a, 1, 2);
    assert!(offer.contains("a=sendonly"), "{offer}");
    let (answer, at_b) = sdp::answer_offer(&offer, &b, 2, 2).expect("answer");
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert_eq!(at_b.direction, Direction::RecvOnly);
    let at_a = sdp::accept_answer(&answer, &a).expect("accept");
    assert_eq!(at_a.direction, Direction::SendOnly);
    // Both on hold: inactive.
    let both = LocalMedia {
        direction: Direction::SendOnly,
        ..b
    };
    let (answer, at_b) = sdp::answer_offer(&offer, &both, 2, 3).expect("answer");
    assert!(answer.contains("a=inactive"), "{answer}");
    assert_eq!(at_b.direction, Direction::Inactive);
}

#[test]
fn renegotiating_to_recvonly_stops_sending_and_back_resumes() {
    let mut p = Pair::new(CodecKind::Opus);
    p.run(20);
    let sent = p.a.stats().rtp_tx;
    let mut held = p.a.negotiated().clone();
    held.direction = Direction::Inactive;
    p.a.renegotiate(held.clone()).expect("hold");
    p.run(20);
    assert_eq!(p.a.stats().rtp_tx, sent, "nothing sent while inactive");
    held.direction = Direction::SendRecv;
    p.a.renegotiate(held).expect("resume");
    p.run(30);
    assert!(p.a.stats().rtp_tx >= sent + 29);
    let tail = &p.heard[p.heard.len() - 4800..];
    assert!((dominant_frequency(tail, 48_000) - 1000.0).abs() < 20.0);
    // A codec change mid-call: fresh codec state, audio still crosses.
    let (mut to_pcmu, _) = negotiate(CodecKind::Pcmu);
    to_pcmu.remote_rtp = p.a.negotiated().remote_rtp;
    to_pcmu.remote_rtcp = p.a.negotiated().remote_rtcp;
    p.a.renegotiate(to_pcmu).expect("codec change");
    assert_eq!(p.a.stats().codec, CodecKind::Pcmu);
}
