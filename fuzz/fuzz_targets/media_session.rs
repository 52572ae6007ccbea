//! A `MediaSession` (negotiated for Opus, PCMU or PCMA, with or without telephone-event)
//! fed an arbitrary sequence of datagrams from a few addresses (the SDP address, the same
//! host on another port as a NAT would rewrite it, a stranger) with advancing time: RTP
//! built from a few SSRCs' running sequence numbers and timestamps (so the fuzzer reaches
//! latching, SSRC switches, probation, the jitter buffer, decoding, FEC and concealment),
//! raw RTP and RTCP, plus the API calls the engine makes (poll_audio, send_frame, send_dtmf,
//! renegotiate, handle_timeout, close).
//!
//! Checked: no panic; every frame out is FRAME_SAMPLES long; after `handle_timeout(now)` the
//! session never asks to be woken at or before `now`; every datagram it sends parses (RTP
//! with our SSRC and a negotiated payload type, RTCP as a compound packet) and goes to the
//! SDP address or one it heard the peer from; received DTMF digits are RFC 4733 digits.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use wren_media::codec::{new_encoder, Encoder};
use wren_media::rtcp::parse_compound;
use wren_media::rtp::{RtpHeader, RtpPacket};
use wren_media::{
    CodecKind, Direction, MediaSession, Negotiated, PacketKind, PayloadType, RtpTimestamp, SeqNo,
    Ssrc, FRAME_SAMPLES,
};

#[derive(Arbitrary, Debug)]
enum Op {
    /// RTP from address `from`, stream `stream` (of 3 SSRCs), `seq_step` and `ts_frames`
    /// (in 20 ms frames, or raw ticks when `raw_ts`) on from that stream's last packet.
    Rtp {
        from: u8,
        stream: u8,
        seq_step: i8,
        ts_frames: i8,
        raw_ts: Option<i32>,
        marker: bool,
        /// 0: the codec's type, 1: telephone-event, else this number.
        pt: u8,
        payload: Payload,
    },
    /// Raw bytes on the RTP socket.
    RawRtp {
        from: u8,
        data: Vec<u8>,
    },
    /// Raw bytes on the RTCP socket.
    Rtcp {
        from: u8,
        data: Vec<u8>,
    },
    /// Time passes (ms, up to about a minute).
    Advance(u16),
    /// 20 ms of the driver: poll_audio, send_frame, handle_timeout when due.
    Tick(u8),
    PollAudio,
    SendFrame(i16),
    SendDtmf(String),
    Timeout,
    Renegotiate {
        codec: u8,
        direction: u8,
        dtmf: bool,
        moved: bool,
    },
    SetMediaTimeout(Option<u8>),
    Close,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Bytes(Vec<u8>),
    /// A frame encoded by our encoder (a tone at this amplitude), so decoding succeeds.
    Encoded(i16),
    /// A telephone-event: event, end bit, duration.
    Event(u8, bool, u16),
}

struct Stream {
    ssrc: Ssrc,
    seq: SeqNo,
    ts: RtpTimestamp,
}

struct Harness {
    session: MediaSession,
    neg: Negotiated,
    now: Instant,
    wall: SystemTime,
    sources: [SocketAddr; 3],
    rtcp_sources: [SocketAddr; 3],
    streams: [Stream; 3],
    encoder: Option<Box<dyn Encoder>>,
    encoder_kind: CodecKind,
    closed: bool,
}

fn neg(codec: u8, dtmf: bool, direction: u8, moved: bool) -> Negotiated {
    let codec = [CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma][usize::from(codec % 3)];
    let port = if moved { 50_002 } else { 50_000 };
    Negotiated {
        remote_rtp: SocketAddr::from(([192, 0, 2, 20], port)),
        remote_rtcp: SocketAddr::from(([192, 0, 2, 20], port + 1)),
        codec,
        pt: codec.static_payload_type().unwrap_or(111),
        dtmf_pt: dtmf.then_some(if codec == CodecKind::Opus { 101 } else { 100 }),
        ptime_ms: 20,
        direction: [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ][usize::from(direction % 4)],
    }
}

impl Harness {
    fn drain(&mut self) {
        let mut allowed = self.sources.to_vec();
        allowed.extend(self.rtcp_sources);
        allowed.extend([self.neg.remote_rtp, self.neg.remote_rtcp]);
        while let Some(t) = self.session.poll_transmit() {
            assert!(allowed.contains(&t.dest), "sent to {}", t.dest);
            match t.kind {
                PacketKind::Rtp => {
                    let p = RtpPacket::parse(&t.payload).expect("our RTP parses");
                    assert_eq!(p.header.ssrc, self.session.ssrc());
                    let pt = p.header.payload_type.as_u8();
                    assert!(
                        pt == self.neg.pt || Some(pt) == self.neg.dtmf_pt,
                        "sent payload type {pt}, negotiated {:?}",
                        self.neg
                    );
                }
                PacketKind::Rtcp => {
                    parse_compound(&t.payload).expect("our RTCP parses");
                }
            }
        }
        while self.session.poll_event().is_some() {}
        while let Some(d) = self.session.poll_dtmf() {
            assert!("0123456789*#ABCD".contains(d), "digit {d:?}");
        }
        let _ = self.session.stats();
    }

    fn poll_audio(&mut self) {
        if let Some(frame) = self.session.poll_audio(self.now) {
            assert_eq!(frame.len(), FRAME_SAMPLES);
        }
    }

    fn timeout(&mut self) {
        self.session.handle_timeout(self.now, self.wall);
        self.drain();
        if let Some(t) = self.session.poll_timeout() {
            assert!(
                t > self.now,
                "asks to be woken in the past: {t:?} <= {:?}",
                self.now
            );
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.wall += d;
        // Fire the deadlines passed on the way, as the driver would.
        for _ in 0..100 {
            match self.session.poll_timeout() {
                Some(t) if t <= self.now => {
                    self.session.handle_timeout(t, self.wall);
                    self.drain();
                }
                _ => break,
            }
        }
    }

    fn encoded(&mut self, amplitude: i16) -> Vec<u8> {
        if self.encoder.is_none() || self.encoder_kind != self.neg.codec {
            self.encoder = new_encoder(self.neg.codec).ok();
            self.encoder_kind = self.neg.codec;
        }
        let mut pcm = [0i16; FRAME_SAMPLES];
        for (i, s) in pcm.iter_mut().enumerate() {
            *s = if (i / 24) % 2 == 0 {
                amplitude
            } else {
                amplitude.saturating_neg()
            };
        }
        let mut out = Vec::new();
        if let Some(enc) = self.encoder.as_mut() {
            let _ = enc.encode(&pcm, &mut out);
        }
        out
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Rtp {
                from,
                stream,
                seq_step,
                ts_frames,
                raw_ts,
                marker,
                pt,
                payload,
            } => {
                let ticks = self.neg.codec.ticks_per_frame();
                let s = &mut self.streams[usize::from(stream % 3)];
                s.seq = s.seq.wrapping_add(seq_step as u16);
                s.ts = match raw_ts {
                    Some(t) => s.ts.wrapping_add(t as u32),
                    None => {
                        s.ts.wrapping_add((i32::from(ts_frames) * ticks as i32) as u32)
                    }
                };
                let pt = match pt {
                    0 => self.neg.pt,
                    1 => self.neg.dtmf_pt.unwrap_or(101),
                    n => n & 0x7f,
                };
                let header = RtpHeader {
                    marker,
                    payload_type: PayloadType::from_header_bits(pt),
                    seq: s.seq,
                    timestamp: s.ts,
                    ssrc: s.ssrc,
                };
                let body = match payload {
                    Payload::Bytes(b) => b,
                    Payload::Encoded(a) => self.encoded(a),
                    Payload::Event(e, end, d) => {
                        vec![e, (u8::from(end) << 7) | 10, (d >> 8) as u8, d as u8]
                    }
                };
                let mut data = Vec::new();
                header.write(&body, &mut data);
                let from = self.sources[usize::from(from % 3)];
                self.session.handle_rtp(self.now, from, &data);
            }
            Op::RawRtp { from, data } => {
                let from = self.sources[usize::from(from % 3)];
                self.session.handle_rtp(self.now, from, &data);
            }
            Op::Rtcp { from, data } => {
                let from = self.rtcp_sources[usize::from(from % 3)];
                self.session.handle_rtcp(self.now, from, &data);
            }
            Op::Advance(ms) => self.advance(Duration::from_millis(u64::from(ms))),
            Op::Tick(n) => {
                for _ in 0..n % 16 {
                    self.advance(Duration::from_millis(20));
                    self.poll_audio();
                    self.session.send_frame(self.now, &[0; FRAME_SAMPLES]);
                }
            }
            Op::PollAudio => self.poll_audio(),
            Op::SendFrame(level) => self.session.send_frame(self.now, &[level; FRAME_SAMPLES]),
            Op::SendDtmf(digits) => {
                let _ = self.session.send_dtmf(&digits);
            }
            Op::Timeout => self.timeout(),
            Op::Renegotiate {
                codec,
                direction,
                dtmf,
                moved,
            } => {
                let n = neg(codec, dtmf, direction, moved);
                if self.session.renegotiate(n.clone()).is_ok() {
                    self.neg = n;
                }
            }
            Op::SetMediaTimeout(secs) => self
                .session
                .set_media_timeout(secs.map(|s| Duration::from_secs(u64::from(s)))),
            Op::Close => {
                if !self.closed {
                    self.session.close(self.now, self.wall);
                    self.closed = true;
                }
            }
        }
        self.drain();
    }
}

fuzz_target!(|input: (u8, bool, u8, Vec<Op>)| {
    let (codec, dtmf, direction, ops) = input;
    let neg = neg(codec, dtmf, direction, false);
    let now = Instant::now();
    let Ok(session) = MediaSession::new(neg.clone(), Ssrc::new(0x5eed), now) else {
        panic!("a valid negotiation makes a session");
    };
    let peer = neg.remote_rtp;
    let nat = SocketAddr::from(([192, 0, 2, 20], 61_000));
    let stranger = SocketAddr::from(([198, 51, 100, 7], 50_000));
    let mut h = Harness {
        session,
        encoder_kind: neg.codec,
        neg,
        now,
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        sources: [peer, nat, stranger],
        rtcp_sources: [
            SocketAddr::from(([192, 0, 2, 20], 50_001)),
            SocketAddr::from(([192, 0, 2, 20], 61_001)),
            SocketAddr::from(([198, 51, 100, 7], 50_001)),
        ],
        streams: [
            Stream {
                ssrc: Ssrc::new(0xaaaa_0001),
                seq: SeqNo::new(1000),
                ts: RtpTimestamp::new(0),
            },
            Stream {
                ssrc: Ssrc::new(0xbbbb_0002),
                seq: SeqNo::new(65_500),
                ts: RtpTimestamp::new(u32::MAX - 5000),
            },
            Stream {
                ssrc: Ssrc::new(0xcccc_0003),
                seq: SeqNo::new(7),
                ts: RtpTimestamp::new(123_456),
            },
        ],
        encoder: None,
        closed: false,
    };
    for op in ops.into_iter().take(512) {
        h.step(op);
    }
});
