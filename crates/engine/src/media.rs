//! One call's media in the engine: an RTP/RTCP socket pair on the flow's local address, the
//! sans-IO media session, and where its audio comes from and goes to (sound devices, a file or
//! tone, a recording), plus the tones the phone plays locally.
//!
//! ```text
//!  source (mic/WAV/tone) ─mute?─20 ms─▶ MediaSession::send_frame ─▶ poll_transmit ─▶ UDP
//!  UDP ─▶ handle_rtp/handle_rtcp ─▶ jitter buffer ─20 ms─▶ poll_audio ─┬▶ recorder (WAV)
//!                          ringback / DTMF feedback ─▶ mix × volume ◀──┘─▶ speaker
//! ```

use crate::error::EngineError;
use crate::event::CallStats;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use wren_audio::{
    AudioBackend, AudioError, CadencedTone, Capture, DeviceConfig, FrameSource, LevelMeter,
    Playback, Ringtone, ToneQueue, ToneSource, WavSink, WavSource, SILENCE_DBFS,
};
use wren_media::{
    CodecKind, Direction, LocalMedia, MediaError, MediaSession, Negotiated, PacketKind,
    FRAME_SAMPLES,
};

/// What to send into a call.
#[derive(Debug, Clone, Default)]
pub enum AudioInput {
    #[default]
    Silence,
    /// A sine at this frequency, -12 dBFS.
    Tone(f32),
    Wav(PathBuf),
    /// The microphone chosen in the audio preferences.
    Device,
}

/// Where the far end's audio (and local tones) go, besides a recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AudioOutput {
    #[default]
    None,
    /// The speaker chosen in the audio preferences.
    Device,
}

/// Media choices for one call.
#[derive(Debug, Clone, Default)]
pub struct MediaOptions {
    pub input: AudioInput,
    pub output: AudioOutput,
    /// Record what arrives (48 kHz mono 16-bit WAV).
    pub record: Option<PathBuf>,
    /// Codec order for this call; the account's when `None`.
    pub codecs: Option<Vec<CodecKind>>,
}

impl MediaOptions {
    /// A desktop call: microphone in, speaker out.
    pub fn devices() -> Self {
        MediaOptions {
            input: AudioInput::Device,
            output: AudioOutput::Device,
            ..Default::default()
        }
    }
}

/// The sound devices and tones a desktop user chose. `None` means the system default.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPrefs {
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub ringer: Option<String>,
    pub ringtone: Ringtone,
    /// Speaker volume, 0 to 1.
    pub volume: f32,
}

impl Default for AudioPrefs {
    fn default() -> Self {
        AudioPrefs {
            microphone: None,
            speaker: None,
            ringer: None,
            ringtone: Ringtone::Classic,
            volume: 1.0,
        }
    }
}

/// The audio side the driver owns: a device backend and the user's choices.
pub(crate) struct AudioEnv {
    pub backend: Arc<dyn AudioBackend + Send + Sync>,
    pub prefs: AudioPrefs,
}

impl AudioEnv {
    pub fn open_playback(&self, name: Option<&str>) -> Result<Playback, EngineError> {
        Playback::open(&*self.backend, name, DeviceConfig::default()).map_err(audio_error)
    }

    pub fn open_capture(&self) -> Result<Capture, EngineError> {
        self.open_capture_from(self.prefs.microphone.as_deref())
    }

    pub fn open_capture_from(&self, name: Option<&str>) -> Result<Capture, EngineError> {
        Capture::open(&*self.backend, name, DeviceConfig::default()).map_err(audio_error)
    }
}

pub(crate) fn audio_error(e: AudioError) -> EngineError {
    EngineError::new(e.code(), e.to_string())
}

pub(crate) fn media_error(e: MediaError) -> EngineError {
    EngineError::new(e.code(), e.to_string())
}

/// Input and output levels in dBFS (RMS), for the UI's meters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Levels {
    pub input_dbfs: f32,
    pub output_dbfs: f32,
}

impl Levels {
    pub const SILENT: Levels = Levels {
        input_dbfs: SILENCE_DBFS,
        output_dbfs: SILENCE_DBFS,
    };
}

/// A `Send` value made `Sync` by only ever using it through `&mut` (`Mutex::get_mut` never
/// locks); device streams are `Send` but not `Sync`, and the driver future needs `Sync`.
pub(crate) fn exclusive<T>(m: &mut Mutex<T>) -> &mut T {
    m.get_mut().unwrap_or_else(PoisonError::into_inner)
}

/// Plays frames to a speaker at a volume, with its meter.
pub(crate) struct Speaker {
    playback: Mutex<Playback>,
    meter: LevelMeter,
}

impl Speaker {
    pub fn new(playback: Playback) -> Self {
        let meter = playback.meter();
        Speaker {
            playback: Mutex::new(playback),
            meter,
        }
    }

    pub fn write(&mut self, frame: &[i16]) {
        exclusive(&mut self.playback).write_frame(frame);
    }

    pub fn level(&self) -> f32 {
        self.meter.take().rms_dbfs
    }
}

/// Scales `frame` by `volume` (0-1).
pub(crate) fn apply_volume(frame: &mut [i16], volume: f32) {
    if volume >= 1.0 {
        return;
    }
    let v = volume.clamp(0.0, 1.0);
    for s in frame {
        *s = (f32::from(*s) * v) as i16;
    }
}

/// Adds `tone` into `frame`, saturating.
pub(crate) fn mix(frame: &mut [i16], tone: &[i16]) {
    for (o, &t) in frame.iter_mut().zip(tone) {
        *o = o.saturating_add(t);
    }
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
    input: AudioInput,
    source: Mutex<Box<dyn FrameSource + Send>>,
    input_meter: Option<LevelMeter>,
    sink: Option<WavSink>,
    speaker: Option<Speaker>,
    /// Ringback while the far end rings (180 without early media).
    ringback: Option<CadencedTone>,
    feedback: ToneQueue,
    pub muted: bool,
    pub volume: f32,
    frame: Vec<i16>,
    out: Vec<i16>,
    tone: Vec<i16>,
    ssrc: u32,
    session_id: u64,
    /// The `o=` version of our last SDP (RFC 3264 §8: +1 for every new offer or answer).
    sdp_version: u64,
    pub started: Option<Instant>,
}

impl CallMedia {
    /// Opens the files and the speaker and binds an even/odd port pair on `ip` (RFC 3550
    /// §11). The microphone opens when media starts.
    pub fn open(
        ip: IpAddr,
        opts: &MediaOptions,
        codecs: Vec<CodecKind>,
        seed: u64,
        audio: &AudioEnv,
    ) -> Result<Self, EngineError> {
        let source: Box<dyn FrameSource + Send> = match &opts.input {
            AudioInput::Silence | AudioInput::Device => Box::new(Silence),
            AudioInput::Tone(hz) => Box::new(ToneSource::new(*hz, -12.0)),
            AudioInput::Wav(path) => Box::new(WavSource::open(path).map_err(audio_error)?),
        };
        let sink = match &opts.record {
            Some(path) => Some(WavSink::create(path).map_err(audio_error)?),
            None => None,
        };
        let speaker = match opts.output {
            AudioOutput::Device => Some(Speaker::new(
                audio.open_playback(audio.prefs.speaker.as_deref())?,
            )),
            AudioOutput::None => None,
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
                direction: Direction::SendRecv,
            },
            session: None,
            input: opts.input.clone(),
            source: Mutex::new(source),
            input_meter: None,
            sink,
            speaker,
            ringback: None,
            feedback: ToneQueue::default(),
            muted: false,
            volume: audio.prefs.volume,
            frame: vec![0; FRAME_SAMPLES],
            out: vec![0; FRAME_SAMPLES],
            tone: vec![0; FRAME_SAMPLES],
            ssrc: (seed >> 16) as u32,
            session_id: seed >> 1,
            sdp_version: 0,
            started: None,
        })
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
        .map_err(|e| EngineError::new(e.code(), e.to_string()))
    }

    /// Whether `neg` means the far end holds us: we want to receive but it won't send.
    pub fn remote_holds(&self, neg: &Negotiated) -> bool {
        self.local.direction.receives() && !neg.direction.receives()
    }

    /// Reads the answer to our last offer.
    pub fn accept(&self, answer: &[u8]) -> Result<Negotiated, EngineError> {
        wren_media::accept_answer(&String::from_utf8_lossy(answer), &self.local)
            .map_err(|e| EngineError::new(e.code(), e.to_string()))
    }

    /// Starts sending and receiving with the negotiated parameters, or applies a new
    /// negotiation to the running session (re-INVITE).
    pub fn start(
        &mut self,
        neg: Negotiated,
        now: Instant,
        audio: &AudioEnv,
    ) -> Result<(), EngineError> {
        if let Some(session) = &mut self.session {
            return session.renegotiate(neg).map_err(media_error);
        }
        if matches!(self.input, AudioInput::Device) {
            let capture = audio.open_capture()?;
            self.input_meter = Some(capture.meter());
            self.source = Mutex::new(Box::new(capture));
        }
        let session = MediaSession::new(neg, self.ssrc, now).map_err(media_error)?;
        self.session = Some(session);
        self.started = Some(now);
        self.ringback = None;
        Ok(())
    }

    /// Whether it needs the 20 ms clock: media flows or a speaker must be fed.
    pub fn is_active(&self) -> bool {
        self.session.is_some() || self.speaker.is_some()
    }

    /// Plays (or stops) ringback on the speaker until media starts.
    pub fn set_ringback(&mut self, on: bool) {
        self.ringback =
            (on && self.session.is_none() && self.speaker.is_some()).then(CadencedTone::ringback);
    }

    /// Queues DTMF digits as RFC 4733 events, with local feedback on the speaker.
    pub fn send_dtmf(&mut self, digits: &str) -> Result<(), EngineError> {
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| EngineError::new("media.not_sending", "the call has no media yet"))?;
        session.send_dtmf(digits).map_err(media_error)?;
        self.feedback.push_dtmf(digits);
        Ok(())
    }

    /// The levels since the last call (silence for what has no device).
    pub fn levels(&self) -> Levels {
        Levels {
            input_dbfs: self
                .input_meter
                .as_ref()
                .map_or(SILENCE_DBFS, |m| m.take().rms_dbfs),
            output_dbfs: self.speaker.as_ref().map_or(SILENCE_DBFS, Speaker::level),
        }
    }

    /// One 20 ms step: send a frame, play out a frame, RTCP when due, flush packets.
    pub fn tick(&mut self, now: Instant, wall: SystemTime) {
        self.out.fill(0);
        if let Some(session) = &mut self.session {
            exclusive(&mut self.source).read_frame(&mut self.frame);
            if self.muted {
                self.frame.fill(0);
            }
            session.send_frame(now, &self.frame);
            if let Some(frame) = session.poll_audio(now) {
                if let Some(sink) = &mut self.sink {
                    if let Err(e) = sink.write_frame(&frame) {
                        tracing::warn!("recording failed, stopped: {e}");
                        self.sink = None;
                    }
                }
                self.out.copy_from_slice(&frame);
            }
            while session.poll_dtmf().is_some() {}
            if session.poll_timeout().is_some_and(|t| t <= now) {
                session.handle_timeout(now, wall);
            }
        }
        if let Some(speaker) = &mut self.speaker {
            apply_volume(&mut self.out, self.volume);
            if let Some(tone) = &mut self.ringback {
                tone.read_frame(&mut self.tone);
                mix(&mut self.out, &self.tone);
            }
            if self.feedback.read_frame(&mut self.tone) {
                mix(&mut self.out, &self.tone);
            }
            speaker.write(&self.out);
        }
        self.flush();
    }

    /// Hands over the speaker (to finish a busy tone after the call is gone).
    pub fn take_speaker(&mut self) -> Option<Speaker> {
        self.speaker.take()
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
            stats.dtmf_rx = s.dtmf_rx;
        }
        stats
    }

    /// Says goodbye (RTCP BYE, RFC 3550 §6.6) and ends the recording cleanly.
    pub fn finish(mut self, now: Instant) {
        self.speaker = None;
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
