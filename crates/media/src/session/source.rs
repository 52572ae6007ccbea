//! Whose packets a session takes (issue 13: nobody but the far end reaches the speaker).
//!
//! The rules, in order:
//!
//! 1. **Address.** RTP is taken from one source address. The first source to pass probation
//!    (rule 3) latches it (symmetric RTP, RFC 4961: a NAT may rewrite the SDP's address);
//!    from then on RTP from any other address is dropped and counted (`rx_wrong_source`).
//!    The SDP's own address is the exception: the signalling named it, so it may take the
//!    latch over once (then nothing else can). A re-INVITE that changes the peer's address
//!    reopens the latch, refusing the address latched before (its packets still in flight
//!    must not win the race against the new one).
//!    RTCP latches the same way, once, to the first RTCP source on the SDP's IP or the IP
//!    RTP latched onto (a NAT maps the two ports apart), and is then taken only from there.
//! 2. **SSRC.** One stream at a time. Another SSRC from the latched address is ignored
//!    (`rx_other_ssrc`) while the current one is alive: it sent within
//!    [`SSRC_TAKEOVER_SILENCE`] and has not said RTCP BYE. After that it may replace the
//!    stream (a far end that restarted): playout, decoder and statistics start afresh
//!    (`stream_restarts`). It is never mixed in.
//! 3. **Probation** (RFC 3550 §A.1, `MIN_SEQUENTIAL` = 2): a new source or SSRC is taken
//!    once two of its packets arrive in sequence, within `MAX_MISORDER` (100) of each other
//!    either way (§A.1's strict `max_seq + 1` would never take a stream whose first packets
//!    swap places); the first is held meanwhile and played after the second confirms it, so
//!    nothing is lost at call start. Within a stream, a jump of
//!    `MAX_DROPOUT` (3000) or more is taken only when the very next packet continues it
//!    ([`crate::reception`]); anything else, such as the old sequence carrying on, cancels it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::MediaSession;
use crate::codec;
use crate::reception::{ReceptionStats, MAX_MISORDER};
use crate::rtp::RtpHeader;
use crate::wire::{SeqNo, Ssrc};

/// How long the current SSRC must have been silent before another may replace it.
pub const SSRC_TAKEOVER_SILENCE: Duration = Duration::from_secs(2);

/// Where the peer's packets go, and which address we take them from.
pub(super) struct Destination {
    /// The SDP's address until a source latches, then that source.
    pub addr: SocketAddr,
    latch: Latch,
}

enum Latch {
    /// Nothing latched yet: any source but `refused` may latch.
    Open { refused: Option<SocketAddr> },
    /// `addr` is the peer's source.
    Latched,
}

impl Destination {
    /// Before any packet: the SDP's address.
    pub fn new(sdp: SocketAddr) -> Self {
        Destination {
            addr: sdp,
            latch: Latch::Open { refused: None },
        }
    }

    /// After the signalling moved the peer to `sdp`: open again, but not to the old source.
    pub fn moved_to(&self, sdp: SocketAddr) -> Self {
        let refused = match self.latch {
            Latch::Latched if self.addr != sdp => Some(self.addr),
            Latch::Latched => None,
            Latch::Open { refused } => refused,
        };
        Destination {
            addr: sdp,
            latch: Latch::Open { refused },
        }
    }

    pub fn is_latched(&self) -> bool {
        matches!(self.latch, Latch::Latched)
    }

    /// Whether `from` is the latched source.
    pub fn is_source(&self, from: SocketAddr) -> bool {
        self.is_latched() && from == self.addr
    }

    /// Whether `from` may latch, besides the SDP's address which always may.
    pub fn may_latch(&self, from: SocketAddr) -> bool {
        match self.latch {
            Latch::Open { refused } => refused != Some(from),
            Latch::Latched => false,
        }
    }

    pub fn latch(&mut self, from: SocketAddr) {
        if from != self.addr {
            tracing::debug!(before = %self.addr, wire = %from, "latched onto the peer's source");
        }
        self.addr = from;
        self.latch = Latch::Latched;
    }
}

/// The peer's stream as we receive it.
pub(super) struct RemoteSource {
    pub ssrc: Ssrc,
    pub stats: ReceptionStats,
    /// The middle of the NTP time of its last SR, and when that arrived (for LSR/DLSR).
    pub last_sr: Option<(u32, Instant)>,
    /// When its last packet was taken.
    pub last_heard: Instant,
    /// It said RTCP BYE.
    pub left: bool,
}

impl RemoteSource {
    /// Whether it still holds the stream against another SSRC (rule 2).
    fn alive(&self, now: Instant) -> bool {
        !self.left && now.saturating_duration_since(self.last_heard) < SSRC_TAKEOVER_SILENCE
    }
}

/// A new source's first packet, held until the next one in sequence confirms it.
pub(super) struct Probation {
    from: SocketAddr,
    ssrc: Ssrc,
    first_seq: SeqNo,
    at: Instant,
    datagram: Vec<u8>,
}

/// What [`MediaSession::admit`] made of an RTP packet.
pub(super) enum Admit {
    /// Part of the current stream.
    Current,
    /// Confirmed a new stream, now current: play the held packet (arrived at the instant,
    /// as this datagram) before this one.
    Started(Instant, Vec<u8>),
    /// Dropped, or held on probation.
    Refused,
}

impl MediaSession {
    /// Applies rules 1 to 3 to an RTP packet from `from`.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &RtpHeader,
        datagram: &[u8],
    ) -> Admit {
        if !self.rtp_dest.is_source(from) {
            if from == self.neg.remote_rtp || self.rtp_dest.may_latch(from) {
                return self.probe(now, from, header, datagram);
            }
            self.stats.rx_wrong_source += 1;
            return Admit::Refused;
        }
        match &self.remote {
            Some(remote) if remote.ssrc == header.ssrc => Admit::Current,
            Some(remote) if remote.alive(now) => {
                self.stats.rx_other_ssrc += 1;
                Admit::Refused
            }
            _ => self.probe(now, from, header, datagram),
        }
    }

    fn probe(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &RtpHeader,
        datagram: &[u8],
    ) -> Admit {
        match self.probation.take() {
            Some(held)
                if held.from == from
                    && held.ssrc == header.ssrc
                    && header.seq != held.first_seq
                    && header.seq.diff(held.first_seq).unsigned_abs() <= MAX_MISORDER =>
            {
                // Loss is counted from the earlier of the two.
                let base = if header.seq.diff(held.first_seq) < 0 {
                    header.seq
                } else {
                    held.first_seq
                };
                self.start_stream(from, held.ssrc, base, held.at);
                Admit::Started(held.at, held.datagram)
            }
            superseded => {
                if superseded.is_some() {
                    self.stats.rx_other_ssrc += 1;
                }
                self.probation = Some(Probation {
                    from,
                    ssrc: header.ssrc,
                    first_seq: header.seq,
                    at: now,
                    datagram: datagram.to_vec(),
                });
                Admit::Refused
            }
        }
    }

    /// Makes the confirmed source current, first packet `seq` at `at`.
    fn start_stream(&mut self, from: SocketAddr, ssrc: Ssrc, seq: SeqNo, at: Instant) {
        self.rtp_dest.latch(from);
        if self.remote.as_ref().is_some_and(|r| r.ssrc == ssrc) {
            // The same stream from a new address (a re-INVITE moved it): it carries on.
            return;
        }
        if let Some(old) = &self.remote {
            tracing::debug!(
                old = old.ssrc.as_u32(),
                new = ssrc.as_u32(),
                "peer's stream replaced; playout restarts"
            );
            self.stats.stream_restarts += 1;
            self.jitter.reset();
            self.pending.clear();
            match codec::new_decoder(self.neg.codec) {
                Ok(decoder) => *self.decoder.get() = decoder,
                Err(e) => tracing::warn!(error = %e, "decoder not renewed"),
            }
        }
        self.remote = Some(RemoteSource {
            ssrc,
            stats: ReceptionStats::new(seq, self.neg.codec.clock_rate(), at),
            last_sr: None,
            last_heard: at,
            left: false,
        });
    }

    /// Whether an RTCP datagram from `from` is the peer's (rule 1), latching if it may.
    pub(super) fn admit_rtcp(&mut self, from: SocketAddr) -> bool {
        if self.rtcp_dest.is_source(from) {
            return true;
        }
        let on_rtp_ip = self.rtp_dest.is_latched() && from.ip() == self.rtp_dest.addr.ip();
        let on_sdp_ip = from.ip() == self.neg.remote_rtcp.ip();
        if (on_sdp_ip || on_rtp_ip) && self.rtcp_dest.may_latch(from) {
            self.rtcp_dest.latch(from);
            return true;
        }
        self.stats.rx_wrong_source += 1;
        false
    }

    /// Forgets the latches after the signalling moved the peer (a re-INVITE's new c=/m=).
    pub(super) fn peer_moved(&mut self) {
        self.rtp_dest = self.rtp_dest.moved_to(self.neg.remote_rtp);
        self.rtcp_dest = self.rtcp_dest.moved_to(self.neg.remote_rtcp);
        self.probation = None;
    }
}
