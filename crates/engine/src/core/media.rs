//! One call's media, sans-IO: the local SDP it offers or answers with (RFC 3264) and, once
//! negotiated, the RTP/RTCP session. Its sockets belong to the driver and its audio to the hub;
//! this holds only protocol state, fed with datagrams, frames and `now`.

use crate::error::{EngineError, ErrorCode};
use crate::event::CallStats;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};
use wren_media::{CodecKind, Direction, LocalMedia, MediaSession, Negotiated, Ssrc, Transmit};

pub(crate) struct CallMedia {
    pub local: LocalMedia,
    session: Option<Box<MediaSession>>,
    ssrc: Ssrc,
    session_id: u64,
    /// The `o=` version of our last SDP (RFC 3264 §8: +1 for every new offer or answer).
    sdp_version: u64,
    pub started: Option<Instant>,
}

fn sdp_error(e: wren_media::SdpError) -> EngineError {
    EngineError::from(e)
}

fn media_error(e: wren_media::MediaError) -> EngineError {
    EngineError::from(e)
}

impl CallMedia {
    /// Media on the RTP address `addr` (its RTCP is the next port, RFC 3550 §11).
    pub fn new(addr: SocketAddr, codecs: Vec<CodecKind>, seed: u64) -> Self {
        Self {
            local: LocalMedia {
                addr,
                codecs,
                telephone_event: true,
                direction: Direction::SendRecv,
            },
            session: None,
            ssrc: Ssrc::new((seed >> 16) as u32),
            session_id: seed >> 1,
            sdp_version: 0,
            started: None,
        }
    }

    /// The session's next event (its media stopped, the far end said RTCP BYE).
    pub fn poll_event(&mut self) -> Option<wren_media::MediaEvent> {
        self.session.as_mut()?.poll_event()
    }

    /// RTP packets taken from the far end so far.
    pub fn rtp_received(&self) -> u64 {
        self.session.as_ref().map_or(0, |s| s.stats().rtp_rx)
    }

    /// Back to the usual patience (media came back after an RTCP BYE).
    pub fn restore_media_timeout(&mut self) {
        if let Some(session) = &mut self.session {
            session.set_media_timeout(Some(wren_media::DEFAULT_MEDIA_TIMEOUT));
        }
    }

    /// Ends the session's patience sooner: after `at_most` of silence from now on.
    pub fn shorten_media_timeout(&mut self, at_most: std::time::Duration) {
        if let Some(session) = &mut self.session {
            let shorter = session.media_timeout().map_or(at_most, |t| t.min(at_most));
            session.set_media_timeout(Some(shorter));
        }
    }

    /// Our next offer, in `self.local.direction` (RFC 3264 §5, §8).
    pub fn offer(&mut self) -> String {
        self.sdp_version += 1;
        wren_media::create_offer(&self.local, self.session_id, self.sdp_version)
    }

    /// Answers `offer` with our codecs and direction.
    pub fn answer(&mut self, offer: &[u8]) -> Result<(String, Negotiated), EngineError> {
        self.sdp_version += 1;
        wren_media::answer_offer(
            &String::from_utf8_lossy(offer),
            &self.local,
            self.session_id,
            self.sdp_version,
        )
        .map_err(sdp_error)
    }

    /// Reads the answer to our last offer.
    pub fn accept(&self, answer: &[u8]) -> Result<Negotiated, EngineError> {
        wren_media::accept_answer(&String::from_utf8_lossy(answer), &self.local).map_err(sdp_error)
    }

    /// Whether `neg` means the far end holds us: we want to receive but it won't send.
    pub fn remote_holds(&self, neg: &Negotiated) -> bool {
        self.local.direction.receives() && !neg.direction.receives()
    }

    /// Starts the session with the negotiated parameters, or applies a new negotiation to the
    /// running one (re-INVITE). Returns the codec's name.
    pub fn start(&mut self, neg: Negotiated, now: Instant) -> Result<String, EngineError> {
        let codec = neg.codec.to_string();
        match &mut self.session {
            Some(session) => session.renegotiate(neg).map_err(media_error)?,
            None => {
                let session = MediaSession::new(neg, self.ssrc, now).map_err(media_error)?;
                self.session = Some(Box::new(session));
                self.started = Some(now);
            }
        }
        Ok(codec)
    }

    pub fn is_running(&self) -> bool {
        self.session.is_some()
    }

    /// Queues DTMF digits as RFC 4733 events.
    pub fn send_dtmf(&mut self, digits: &str) -> Result<(), EngineError> {
        let session = self.session.as_mut().ok_or_else(|| {
            EngineError::new(ErrorCode::MediaNotSending, "the call has no media yet")
        })?;
        session.send_dtmf(digits).map_err(media_error)
    }

    /// The far end's next 20 ms frame, if the playout buffer has one.
    pub fn poll_audio(&mut self, now: Instant) -> Option<[i16; wren_media::FRAME_SAMPLES]> {
        let session = self.session.as_mut()?;
        let frame = session.poll_audio(now);
        while session.poll_dtmf().is_some() {}
        frame
    }

    /// Encodes and queues our next 20 ms frame; RTCP when due.
    pub fn send_frame(&mut self, now: Instant, wall: SystemTime, frame: &[i16]) {
        if let Some(session) = &mut self.session {
            session.send_frame(now, frame);
            if session.poll_timeout().is_some_and(|t| t <= now) {
                session.handle_timeout(now, wall);
            }
        }
    }

    pub fn handle_datagram(&mut self, now: Instant, rtcp: bool, from: SocketAddr, data: &[u8]) {
        if let Some(session) = &mut self.session {
            if rtcp {
                session.handle_rtcp(now, from, data);
            } else {
                session.handle_rtp(now, from, data);
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.session.as_mut()?.poll_transmit()
    }

    /// Counters so far.
    pub fn stats(&self, now: Instant) -> CallStats {
        let mut stats = CallStats {
            duration_s: self.started.map_or(0.0, |s| (now - s).as_secs_f64()),
            ..Default::default()
        };
        if let Some(session) = &self.session {
            let s = session.stats();
            stats.codec = Some(s.codec.to_string());
            stats.rtp_tx = s.rtp_tx;
            stats.rtp_rx = s.rtp_rx;
            stats.rx_lost = s.rx_lost;
            stats.jitter_ms = s.jitter_ms;
            stats.dtmf_rx = s.dtmf_rx;
        }
        stats
    }

    /// Says goodbye (RTCP BYE, RFC 3550 §6.6); drain [`CallMedia::poll_transmit`] after.
    pub fn close(&mut self, now: Instant, wall: SystemTime) {
        if let Some(session) = &mut self.session {
            session.close(now, wall);
        }
    }
}
