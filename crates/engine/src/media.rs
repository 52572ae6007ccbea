//! One call's media in the engine: an RTP/RTCP socket pair on the flow's local address, the
//! sans-IO media session, and the file or tone source and recorder the CLI asked for.
//!
//! ```text
//!  source (WAV/tone) ─20 ms─▶ MediaSession::send_frame ─▶ poll_transmit ─▶ UDP (RTP/RTCP)
//!  UDP ─▶ handle_rtp/handle_rtcp ─▶ jitter buffer ─20 ms─▶ poll_audio ─▶ recorder (WAV)
//! ```

use crate::error::EngineError;
use crate::event::CallStats;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use wren_audio::{FrameSource, ToneSource, WavSink, WavSource};
use wren_media::{CodecKind, LocalMedia, MediaSession, Negotiated, PacketKind, FRAME_SAMPLES};

/// What to send into a call.
#[derive(Debug, Clone, Default)]
pub enum AudioInput {
    #[default]
    Silence,
    /// A sine at this frequency, -12 dBFS.
    Tone(f32),
    Wav(PathBuf),
}

/// Media choices for one call.
#[derive(Debug, Clone, Default)]
pub struct MediaOptions {
    pub input: AudioInput,
    /// Record what arrives (48 kHz mono 16-bit WAV).
    pub record: Option<PathBuf>,
    /// Codec order for this call; the account's when `None`.
    pub codecs: Option<Vec<CodecKind>>,
}

struct Silence;

impl FrameSource for Silence {
    fn read_frame(&mut self, out: &mut [i16]) -> bool {
        out.fill(0);
        true
    }
}

pub(crate) struct CallMedia {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    pub local: LocalMedia,
    session: Option<MediaSession>,
    source: Box<dyn FrameSource + Send + Sync>,
    sink: Option<WavSink>,
    frame: Vec<i16>,
    ssrc: u32,
    pub started: Option<Instant>,
}

impl CallMedia {
    /// Opens the files and binds an even/odd port pair on `ip` (RFC 3550 §11).
    pub fn open(
        ip: IpAddr,
        opts: &MediaOptions,
        codecs: Vec<CodecKind>,
        seed: u64,
    ) -> Result<Self, EngineError> {
        let source: Box<dyn FrameSource + Send + Sync> = match &opts.input {
            AudioInput::Silence => Box::new(Silence),
            AudioInput::Tone(hz) => Box::new(ToneSource::new(*hz, -12.0)),
            AudioInput::Wav(path) => Box::new(
                WavSource::open(path).map_err(|e| EngineError::new(e.code(), e.to_string()))?,
            ),
        };
        let sink = match &opts.record {
            Some(path) => {
                Some(WavSink::create(path).map_err(|e| EngineError::new(e.code(), e.to_string()))?)
            }
            None => None,
        };
        let (rtp, rtcp) = bind_pair(ip, seed)?;
        let addr = rtp
            .local_addr()
            .map_err(|e| EngineError::new("media.bind_failed", e.to_string()))?;
        Ok(Self {
            rtp,
            rtcp,
            local: LocalMedia {
                addr,
                codecs: opts.codecs.clone().unwrap_or(codecs),
                telephone_event: true,
            },
            session: None,
            source,
            sink,
            frame: vec![0; FRAME_SAMPLES],
            ssrc: (seed >> 16) as u32,
            started: None,
        })
    }

    /// Starts sending and receiving with the negotiated parameters.
    pub fn start(&mut self, neg: Negotiated, now: Instant) -> Result<(), EngineError> {
        let session = MediaSession::new(neg, self.ssrc, now)
            .map_err(|e| EngineError::new("media.codec_failed", e.to_string()))?;
        self.session = Some(session);
        self.started = Some(now);
        Ok(())
    }

    pub fn is_active(&self) -> bool {
        self.session.is_some()
    }

    /// One 20 ms step: send a frame, play out a frame, RTCP when due, flush packets.
    pub fn tick(&mut self, now: Instant, wall: SystemTime) {
        let Some(session) = &mut self.session else {
            return;
        };
        self.source.read_frame(&mut self.frame);
        session.send_frame(now, &self.frame);
        if let Some(frame) = session.poll_audio(now) {
            if let Some(sink) = &mut self.sink {
                if let Err(e) = sink.write_frame(&frame) {
                    tracing::warn!("recording failed, stopped: {e}");
                    self.sink = None;
                }
            }
        }
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle_timeout(now, wall);
        }
        self.flush();
    }

    fn flush(&mut self) {
        let Some(session) = &mut self.session else {
            return;
        };
        while let Some(t) = session.poll_transmit() {
            let socket = match t.kind {
                PacketKind::Rtp => &self.rtp,
                PacketKind::Rtcp => &self.rtcp,
            };
            // UDP: a full socket buffer drops the packet, like the network would.
            if let Err(e) = socket.try_send_to(&t.payload, t.dest) {
                tracing::debug!("media send failed: {e}");
            }
        }
    }

    /// Polls both sockets for one datagram.
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<(bool, SocketAddr, usize)> {
        for (is_rtcp, socket) in [(false, &self.rtp), (true, &self.rtcp)] {
            let mut rb = ReadBuf::new(buf);
            if let Poll::Ready(Ok(from)) = socket.poll_recv_from(cx, &mut rb) {
                return Poll::Ready((is_rtcp, from, rb.filled().len()));
            }
        }
        Poll::Pending
    }

    pub fn on_datagram(&mut self, now: Instant, is_rtcp: bool, from: SocketAddr, data: &[u8]) {
        let Some(session) = &mut self.session else {
            return;
        };
        if is_rtcp {
            session.handle_rtcp(now, from, data);
        } else {
            session.handle_rtp(now, from, data);
        }
        self.flush();
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
        }
        stats
    }

    /// Says goodbye (RTCP BYE, RFC 3550 §6.6) and ends the recording cleanly.
    pub fn finish(mut self, now: Instant) {
        if let Some(session) = &mut self.session {
            session.close(now, SystemTime::now());
        }
        self.flush();
        if let Some(sink) = self.sink {
            if let Err(e) = sink.finish() {
                tracing::warn!("finishing the recording failed: {e}");
            }
        }
    }
}

fn bind_pair(ip: IpAddr, seed: u64) -> Result<(UdpSocket, UdpSocket), EngineError> {
    let mut x = seed | 1;
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Above the lab peers' and most PBX defaults (10000-20000), below the ephemeral range.
        let port = 40_000 + ((x % 20_000) as u16 & !1);
        let Ok(rtp) = std::net::UdpSocket::bind((ip, port)) else {
            continue;
        };
        let Ok(rtcp) = std::net::UdpSocket::bind((ip, port + 1)) else {
            continue;
        };
        let wrap = |s: std::net::UdpSocket| -> Result<UdpSocket, EngineError> {
            s.set_nonblocking(true)
                .and_then(|()| UdpSocket::from_std(s))
                .map_err(|e| EngineError::new("media.bind_failed", e.to_string()))
        };
        return Ok((wrap(rtp)?, wrap(rtcp)?));
    }
    Err(EngineError::new(
        "media.bind_failed",
        format!("no free RTP port pair on {ip}"),
    ))
}
