//! One sans-IO audio stream (RFC 3550 RTP/RTCP, RFC 3551 audio profile): encode and
//! packetise, receive through the jitter buffer and decode, report over RTCP.
//!
//! ```text
//!  send_frame(pcm) ─▶ Encoder ─▶ RTP (seq+1, ts+ticks, M on first) ─┐
//!     (a queued send_dtmf digit replaces the frame with its event packet) │
//!                                                                   ├─▶ poll_transmit()
//!  handle_timeout() ─▶ RTCP SR/RR + SDES (every ~5 s, §6.2) ────────┘
//!
//!  handle_rtp() ─▶ parse ─▶ admit: latched source, one SSRC, probation ─▶ ReceptionStats
//!                     │      (see `source.rs` for the rules)                (§A.1, A.8)
//!                     └─▶ telephone-event? ─▶ DtmfReceiver ─▶ poll_dtmf() (RFC 4733)
//!                     └─▶ JitterBuffer ─▶ poll_audio(): Decoder / FEC / PLC ─▶ 960 samples
//!  handle_rtcp() ─▶ admit: the peer's RTCP source ─▶ LSR/DLSR bookkeeping, RTT, BYE ─┐
//!  handle_timeout() ─▶ nothing heard for the media timeout (`watchdog.rs`) ──────────┴─▶ poll_event()
//! ```
//!
//! The driver calls [`MediaSession::send_frame`] and [`MediaSession::poll_audio`] every
//! 20 ms, feeds datagrams to `handle_rtp`/`handle_rtcp`, sleeps until
//! [`MediaSession::poll_timeout`] and drains [`MediaSession::poll_transmit`] and
//! [`MediaSession::poll_event`] after each call.

mod report;
mod source;
mod stats;
mod watchdog;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

pub use source::SSRC_TAKEOVER_SILENCE;
pub use stats::MediaStats;
pub use watchdog::DEFAULT_MEDIA_TIMEOUT;

use crate::codec::{self, Decoder, Encoder};
use crate::dtmf::{self, DtmfReceiver, DtmfSender, Step};
use crate::jitter::{Insert, JitterBuffer, Playout, DEFAULT_TARGET_MS};
use crate::reception::SeqVerdict;
use crate::rtcp::{self, RtcpPacket};
use crate::rtp::{RtpHeader, RtpPacket};
use crate::sdp::{Direction, Negotiated};
use crate::wire::{PayloadType, RtpTimestamp, SeqNo, Ssrc};
use crate::{MediaError, FRAME_SAMPLES};
use source::{Admit, Destination, Probation, RemoteSource};
use watchdog::Watchdog;

/// RFC 3550 §6.2: minimum report interval; the first report comes at half of it.
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// SRs we remember for RTT matching.
const SR_HISTORY: usize = 8;
/// Decoding steps per [`MediaSession::poll_audio`] call at most (10 ms packets need 2).
const MAX_DECODE_STEPS: usize = 16;
/// Longest packet we buffer, in milliseconds (Opus maximum, RFC 6716 §3.2.5).
const MAX_PACKET_MS: u32 = 120;

/// What a [`Transmit`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// An RTP packet, for the RTP socket.
    Rtp,
    /// An RTCP compound packet, for the RTCP socket.
    Rtcp,
}

/// A datagram for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub dest: SocketAddr,
    /// The datagram.
    pub payload: Vec<u8>,
    /// Which socket.
    pub kind: PacketKind,
}

/// Something about the call as a whole, from [`MediaSession::poll_event`]. Either one means
/// the far end's media is gone: the call should end, with this as its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// No RTP and no RTCP came from the far end for `silent_for` (at least the media
    /// timeout) while both directions were negotiated.
    MediaTimeout {
        /// How long it had been silent.
        silent_for: Duration,
    },
    /// The far end's stream left with RTCP BYE (RFC 3550 §6.6).
    RemoteBye {
        /// Its reason, if it gave one.
        reason: Option<String>,
    },
}

/// Our outgoing stream's state.
struct Sender {
    seq: SeqNo,
    timestamp: RtpTimestamp,
    /// The next packet starts a talkspurt (RFC 3551 §4.1).
    marker: bool,
    packets: u64,
    octets: u64,
    /// When the last packet went out and its timestamp, to place an SR on the RTP clock.
    last_sent: Option<(Instant, RtpTimestamp)>,
    sent_since_report: bool,
    payload: Vec<u8>,
}

/// One audio stream of a call; see the module docs for the run loop.
pub struct MediaSession {
    neg: Negotiated,
    /// `neg.pt` and `neg.dtmf_pt`, checked.
    pt: PayloadType,
    dtmf_pt: Option<PayloadType>,
    ssrc: Ssrc,
    cname: String,
    ticks_per_frame: u32,
    encoder: Exclusive<Box<dyn Encoder>>,
    decoder: Exclusive<Box<dyn Decoder>>,
    sender: Sender,
    rtp_dest: Destination,
    rtcp_dest: Destination,
    remote: Option<RemoteSource>,
    /// A new source's first packet, until the next confirms it (RFC 3550 §A.1 probation).
    probation: Option<Probation>,
    watchdog: Watchdog,
    events: VecDeque<MediaEvent>,
    jitter: JitterBuffer,
    /// Decoded audio not yet handed out.
    pending: Vec<i16>,
    transmits: VecDeque<Transmit>,
    rtcp_due: Option<Instant>,
    rng: u64,
    /// Our recent SRs: middle 32 bits of their NTP time and when they went out.
    sr_sent: VecDeque<(u32, Instant)>,
    closed: bool,
    stats: MediaStats,
    dtmf_tx: DtmfSender,
    dtmf_rx: DtmfReceiver,
}

/// Makes a `Send` value `Sync` by never sharing it: every access goes through `&mut`, where
/// `Mutex::get_mut` hands it out without locking. libopus handles are `Send` but not `Sync`,
/// and a driver future holding `&MediaSession` across an await needs the session `Sync`.
struct Exclusive<T>(std::sync::Mutex<T>);

impl<T> Exclusive<T> {
    fn new(value: T) -> Self {
        Exclusive(std::sync::Mutex::new(value))
    }

    fn get(&mut self) -> &mut T {
        // Never locked, so never poisoned; into_inner covers the impossible case.
        self.0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The negotiated payload types as RTP carries them: 7 bits (RFC 3550 §5.1).
fn payload_types(neg: &Negotiated) -> Result<(PayloadType, Option<PayloadType>), MediaError> {
    let check = |pt| PayloadType::new(pt).ok_or(MediaError::InvalidPayloadType(pt));
    Ok((check(neg.pt)?, neg.dtmf_pt.map(check).transpose()?))
}

/// Whether the far end should be sending: only then can its silence time out.
fn expects_media(neg: &Negotiated) -> bool {
    neg.direction == Direction::SendRecv
}

/// SplitMix64: spreads the caller's random SSRC into the other random starting values.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl MediaSession {
    /// A session sending and receiving `neg.codec` with our `ssrc` (random, from the caller).
    ///
    /// The initial sequence number and timestamp are derived from `ssrc` (RFC 3550 §5.1 wants
    /// them random; the SSRC already is).
    pub fn new(neg: Negotiated, ssrc: Ssrc, now: Instant) -> Result<Self, MediaError> {
        let (pt, dtmf_pt) = payload_types(&neg)?;
        let encoder = codec::new_encoder(neg.codec)?;
        let decoder = codec::new_decoder(neg.codec)?;
        let seed = mix(u64::from(ssrc.as_u32()));
        let stats = MediaStats {
            codec: neg.codec,
            rtp_tx: 0,
            rtp_rx: 0,
            rx_lost: 0,
            jitter_ms: 0.0,
            rx_late: 0,
            rx_duplicate: 0,
            rx_invalid: 0,
            rx_wrong_source: 0,
            rx_other_ssrc: 0,
            rx_out_of_sequence: 0,
            stream_restarts: 0,
            rx_unexpected_pt: 0,
            rx_telephone_event: 0,
            concealed_frames: 0,
            fec_recovered: 0,
            rtcp_tx: 0,
            rtcp_rx: 0,
            rtt_ms: None,
            remote_bye: false,
            dtmf_rx: String::new(),
        };
        Ok(MediaSession {
            pt,
            dtmf_pt,
            ssrc,
            cname: format!("wren-{ssrc:08x}@wren.invalid"),
            ticks_per_frame: neg.codec.ticks_per_frame(),
            encoder: Exclusive::new(encoder),
            decoder: Exclusive::new(decoder),
            sender: Sender {
                seq: SeqNo::new(seed as u16),
                timestamp: RtpTimestamp::new((seed >> 32) as u32),
                marker: true,
                packets: 0,
                octets: 0,
                last_sent: None,
                sent_since_report: false,
                payload: Vec::with_capacity(1500),
            },
            rtp_dest: Destination::new(neg.remote_rtp),
            rtcp_dest: Destination::new(neg.remote_rtcp),
            remote: None,
            probation: None,
            watchdog: Watchdog::new(now, expects_media(&neg)),
            events: VecDeque::new(),
            jitter: JitterBuffer::new(neg.codec.clock_rate(), DEFAULT_TARGET_MS),
            pending: Vec::with_capacity(2 * FRAME_SAMPLES),
            transmits: VecDeque::new(),
            rtcp_due: Some(now + RTCP_INTERVAL / 2),
            rng: seed | 1,
            sr_sent: VecDeque::with_capacity(SR_HISTORY),
            closed: false,
            stats,
            neg,
            dtmf_tx: DtmfSender::default(),
            dtmf_rx: DtmfReceiver::default(),
        })
    }

    /// Applies a new offer/answer outcome mid-call (a re-INVITE, RFC 3264 §8): direction,
    /// peer address and payload types change in place; a different codec gets fresh codec
    /// state and playout. The RTP sequence and timestamp carry on (one SSRC, one stream).
    /// A new peer address reopens the source latch; a change to or from hold stops or
    /// restarts the media timeout.
    pub fn renegotiate(&mut self, neg: Negotiated) -> Result<(), MediaError> {
        let (pt, dtmf_pt) = payload_types(&neg)?;
        if neg.codec != self.neg.codec {
            self.encoder = Exclusive::new(codec::new_encoder(neg.codec)?);
            self.decoder = Exclusive::new(codec::new_decoder(neg.codec)?);
            self.ticks_per_frame = neg.codec.ticks_per_frame();
            self.jitter = JitterBuffer::new(neg.codec.clock_rate(), DEFAULT_TARGET_MS);
            self.pending.clear();
            self.remote = None;
            self.stats.codec = neg.codec;
        }
        let moved =
            neg.remote_rtp != self.neg.remote_rtp || neg.remote_rtcp != self.neg.remote_rtcp;
        if !neg.direction.sends() {
            self.dtmf_tx = DtmfSender::default();
        }
        if !self.closed {
            self.watchdog.expect(expects_media(&neg));
        }
        self.sender.marker = true;
        self.neg = neg;
        self.pt = pt;
        self.dtmf_pt = dtmf_pt;
        if moved {
            self.peer_moved();
        }
        Ok(())
    }

    /// Sets how long the far end may send neither RTP nor RTCP before
    /// [`MediaEvent::MediaTimeout`]; `None` never times out. Default:
    /// [`DEFAULT_MEDIA_TIMEOUT`].
    pub fn set_media_timeout(&mut self, timeout: Option<Duration>) {
        self.watchdog.set_timeout(timeout);
    }

    // ----- getters -----

    /// Our SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// What was negotiated.
    pub fn negotiated(&self) -> &Negotiated {
        &self.neg
    }

    /// Where RTP goes now (the SDP address until the peer's first packets latch it).
    pub fn rtp_destination(&self) -> SocketAddr {
        self.rtp_dest.addr
    }

    /// The media timeout in force (see [`MediaSession::set_media_timeout`]).
    pub fn media_timeout(&self) -> Option<Duration> {
        self.watchdog.timeout()
    }

    /// The counters so far.
    pub fn stats(&self) -> MediaStats {
        let mut stats = self.stats.clone();
        if let Some(remote) = &self.remote {
            stats.rx_lost = remote.stats.cumulative_lost().max(0).unsigned_abs();
            stats.jitter_ms = remote.stats.jitter_ms();
        }
        let jb = self.jitter.counters();
        stats.rx_late = jb.late;
        stats.rx_duplicate = jb.duplicate;
        stats.dtmf_rx = self.dtmf_rx.received().to_owned();
        stats
    }

    /// Whether queued DTMF digits are still going out.
    pub fn dtmf_pending(&self) -> bool {
        self.dtmf_tx.busy()
    }

    // ----- inputs -----

    /// Encodes and packetises one 20 ms frame of 48 kHz mono audio.
    ///
    /// A frame of the wrong length is dropped (API misuse, logged). While the negotiated
    /// direction doesn't send, the RTP clock still advances and nothing goes out; after
    /// [`MediaSession::close`] nothing happens.
    pub fn send_frame(&mut self, now: Instant, pcm: &[i16]) {
        if self.closed {
            return;
        }
        self.watchdog.tick(now);
        let Ok(frame) = <&[i16; FRAME_SAMPLES]>::try_from(pcm) else {
            tracing::warn!(len = pcm.len(), "send_frame needs {FRAME_SAMPLES} samples");
            return;
        };
        let ts = self.sender.timestamp;
        self.sender.timestamp = ts.wrapping_add(self.ticks_per_frame);
        if !self.neg.direction.sends() {
            self.sender.marker = true;
            return;
        }
        if let (
            Some(pt),
            Step::Event {
                payload,
                start,
                first,
            },
        ) = (self.dtmf_pt, self.dtmf_tx.step(ts, self.ticks_per_frame))
        {
            // The next audio packet starts a new talkspurt.
            self.sender.marker = true;
            let header = RtpHeader {
                marker: first,
                payload_type: pt,
                seq: self.sender.seq,
                timestamp: start,
                ssrc: self.ssrc,
            };
            self.emit_rtp(now, header, &payload.write());
            return;
        }
        if let Err(e) = self.encoder.get().encode(frame, &mut self.sender.payload) {
            tracing::warn!(error = %e, "encoding failed; frame dropped");
            self.sender.marker = true;
            return;
        }
        let header = RtpHeader {
            marker: std::mem::take(&mut self.sender.marker),
            payload_type: self.pt,
            seq: self.sender.seq,
            timestamp: ts,
            ssrc: self.ssrc,
        };
        let payload = std::mem::take(&mut self.sender.payload);
        self.emit_rtp(now, header, &payload);
        self.sender.payload = payload;
    }

    fn emit_rtp(&mut self, now: Instant, header: RtpHeader, payload: &[u8]) {
        self.sender.seq = self.sender.seq.next();
        let mut datagram = Vec::with_capacity(crate::rtp::HEADER_LEN + payload.len());
        header.write(payload, &mut datagram);
        self.sender.packets += 1;
        self.sender.octets += payload.len() as u64;
        self.sender.last_sent = Some((now, header.timestamp));
        self.sender.sent_since_report = true;
        self.stats.rtp_tx += 1;
        self.transmits.push_back(Transmit {
            dest: self.rtp_dest.addr,
            payload: datagram,
            kind: PacketKind::Rtp,
        });
    }

    /// Queues DTMF digits (`0-9`, `*`, `#`, `A-D`) to go out as RFC 4733 events, 100 ms each
    /// with 60 ms between them, in place of audio frames. All or nothing: an invalid digit
    /// queues none.
    pub fn send_dtmf(&mut self, digits: &str) -> Result<(), MediaError> {
        if self.neg.dtmf_pt.is_none() {
            return Err(MediaError::DtmfUnsupported);
        }
        if !self.neg.direction.sends() || self.closed {
            return Err(MediaError::NotSending);
        }
        let codes = digits
            .chars()
            .map(|d| dtmf::event_code(d).ok_or(MediaError::InvalidDtmf(d)))
            .collect::<Result<Vec<u8>, _>>()?;
        if codes.is_empty() {
            return Err(MediaError::InvalidDtmf(' '));
        }
        for code in codes {
            if !self.dtmf_tx.push(code) {
                return Err(MediaError::DtmfQueueFull);
            }
        }
        Ok(())
    }

    /// The next DTMF digit the peer sent, once per event.
    pub fn poll_dtmf(&mut self) -> Option<char> {
        self.dtmf_rx.poll()
    }

    /// Takes an RTP datagram that arrived on our RTP socket from `from`. Only the far end's
    /// current stream is played (see `source.rs`); anything else is counted and dropped.
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.watchdog.tick(now);
        let packet = match RtpPacket::parse(data) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%from, code = e.code(), "invalid RTP dropped");
                self.stats.rx_invalid += 1;
                return;
            }
        };
        let header = packet.header;
        if header.ssrc == self.ssrc {
            // Our own packets looped back, or an SSRC collision (RFC 3550 §8.2).
            self.stats.rx_invalid += 1;
            return;
        }
        let current = self.remote.as_ref().map(|r| r.ssrc) == Some(header.ssrc)
            && self.rtp_dest.is_source(from);
        if current {
            // Comfort noise and the like still say the far end is there.
            self.heard(now);
        }
        if header.payload_type != self.pt && Some(header.payload_type) != self.dtmf_pt {
            self.stats.rx_unexpected_pt += 1;
            return;
        }
        match self.admit(now, from, &header, data) {
            Admit::Current => self.receive(now, packet),
            Admit::Started(at, held) => {
                if let Ok(first) = RtpPacket::parse(&held) {
                    self.receive(at, first);
                }
                self.receive(now, packet);
            }
            Admit::Refused => {}
        }
    }

    /// Records that the far end's current stream or RTCP was heard.
    fn heard(&mut self, now: Instant) {
        self.watchdog.heard(now);
        if let Some(remote) = &mut self.remote {
            remote.last_heard = now;
        }
    }

    /// Takes a packet of the current stream.
    fn receive(&mut self, now: Instant, packet: RtpPacket<'_>) {
        let header = packet.header;
        self.heard(now);
        let clock_rate = self.neg.codec.clock_rate();
        let Some(remote) = self.remote.as_mut() else {
            return;
        };
        if remote.stats.update(header.seq) == SeqVerdict::BadSeq {
            self.stats.rx_out_of_sequence += 1;
            return;
        }
        self.stats.rtp_rx += 1;
        if Some(header.payload_type) == self.dtmf_pt {
            // RFC 4733 events are not audio; their timestamps mark event starts, so they
            // stay out of the jitter estimate and the playout buffer.
            self.stats.rx_telephone_event += 1;
            self.dtmf_rx.on_packet(header.timestamp, packet.payload);
            return;
        }
        remote.stats.update_jitter(header.timestamp, now);
        let max_ticks = clock_rate / 1000 * MAX_PACKET_MS;
        let duration = self
            .decoder
            .get()
            .duration(packet.payload)
            .unwrap_or(self.ticks_per_frame);
        if duration == 0 || duration > max_ticks {
            self.stats.rx_invalid += 1;
            return;
        }
        if self
            .jitter
            .insert(header.seq, header.timestamp, duration, packet.payload)
            == Insert::Restarted
        {
            tracing::debug!("peer's timestamps restarted; playout re-buffers");
        }
    }

    /// Takes an RTCP datagram that arrived on our RTCP socket from `from`. Only the far
    /// end's RTCP counts; its BYE for the current stream is reported by `poll_event`.
    pub fn handle_rtcp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.watchdog.tick(now);
        let packets = match rtcp::parse_compound(data) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%from, code = e.code(), "invalid RTCP dropped");
                self.stats.rx_invalid += 1;
                return;
            }
        };
        if !self.admit_rtcp(from) {
            return;
        }
        self.stats.rtcp_rx += 1;
        self.watchdog.heard(now);
        for packet in packets {
            match packet {
                RtcpPacket::SenderReport {
                    ssrc,
                    info,
                    reports,
                } => {
                    if let Some(remote) = self.remote.as_mut().filter(|r| r.ssrc == ssrc) {
                        remote.last_sr = Some((info.ntp.middle32(), now));
                    }
                    self.take_reports(now, &reports);
                }
                RtcpPacket::ReceiverReport { reports, .. } => self.take_reports(now, &reports),
                RtcpPacket::Goodbye { ssrcs, reason } => {
                    let Some(remote) = self.remote.as_mut() else {
                        continue;
                    };
                    if ssrcs.contains(&remote.ssrc) && !remote.left {
                        remote.left = true;
                        self.stats.remote_bye = true;
                        // The reason is the peer's free text: not logged.
                        tracing::info!("the far end's stream said RTCP BYE");
                        self.events.push_back(MediaEvent::RemoteBye { reason });
                    }
                }
                RtcpPacket::SourceDescription { .. } | RtcpPacket::Other { .. } => {}
            }
        }
    }

    /// Sends RTCP reports when due (call at or after [`MediaSession::poll_timeout`]).
    /// Also reports the media timeout when it has passed.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        self.watchdog.tick(now);
        if let Some(silent_for) = self.watchdog.expire(now) {
            tracing::info!(
                ?silent_for,
                "no RTP or RTCP from the far end: media timeout"
            );
            self.events
                .push_back(MediaEvent::MediaTimeout { silent_for });
        }
        if self.rtcp_due.is_some_and(|due| now >= due) {
            let report = self.report(now, wall, None);
            self.queue_rtcp(report);
            self.rtcp_due = Some(now + self.next_interval());
        }
    }

    /// Ends the stream: sends a final report with RTCP BYE (RFC 3550 §6.6) and stops
    /// sending and reporting.
    pub fn close(&mut self, now: Instant, wall: SystemTime) {
        self.closed = true;
        self.watchdog.expect(false);
        if self.rtcp_due.take().is_some() {
            let report = self.report(now, wall, Some("call ended"));
            self.queue_rtcp(report);
        }
    }

    // ----- outputs -----

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`MediaSession::handle_timeout`] wants to run next: the next RTCP report or the
    /// media timeout, whichever is first (`None` once closed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.rtcp_due, self.watchdog.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next thing that happened to the call as a whole (media timeout, RTCP BYE).
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The next 20 ms of decoded audio, or `None` when there is nothing to play yet (before
    /// the first packets, or re-buffering after the peer stopped): play silence then.
    /// Lost packets come out concealed. Call every 20 ms.
    pub fn poll_audio(&mut self, now: Instant) -> Option<[i16; FRAME_SAMPLES]> {
        self.watchdog.tick(now);
        let mut steps = 0;
        while self.pending.len() < FRAME_SAMPLES && steps < MAX_DECODE_STEPS {
            steps += 1;
            match self.jitter.pop() {
                Playout::Packet(packet) => {
                    if let Err(e) = self
                        .decoder
                        .get()
                        .decode(&packet.payload, &mut self.pending)
                    {
                        tracing::debug!(code = e.code(), "undecodable packet concealed");
                        self.conceal(packet.duration);
                    }
                }
                Playout::Lost { ticks, next } => {
                    let recovered = next.is_some_and(|next| {
                        self.decoder.get().recover(&next, ticks, &mut self.pending)
                    });
                    if recovered {
                        self.stats.fec_recovered += 1;
                    } else {
                        self.conceal(ticks);
                    }
                }
                Playout::Underrun { ticks } => self.conceal(ticks),
                Playout::Idle => break,
            }
        }
        if self.pending.is_empty() {
            return None;
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        let n = self.pending.len().min(FRAME_SAMPLES);
        frame[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Some(frame)
    }

    // ----- internals -----

    fn conceal(&mut self, ticks: u32) {
        self.stats.concealed_frames += 1;
        self.decoder.get().conceal(ticks, &mut self.pending);
    }
}

#[cfg(test)]
mod tests;
