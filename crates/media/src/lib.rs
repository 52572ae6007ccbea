//! wren-media: sans-IO media for one call: SDP offer/answer (RFC 3264), RTP/RTCP
//! (RFC 3550/3551), a fixed jitter buffer, the Opus and G.711 codecs, and DTMF as RFC 4733
//! telephone-events.
//!
//! Nothing here opens a socket, reads a clock or starts a thread: time comes in as `now`
//! (and wall-clock `SystemTime` where RTCP needs NTP), datagrams come in through
//! `handle_*` and go out through `poll_transmit` (see [`session`]).

pub mod codec;
pub mod dtmf;
mod error;
pub mod jitter;
pub mod reception;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
mod wire;

pub use codec::CodecKind;
pub use error::MediaError;
pub use sdp::{
    accept_answer, answer_offer, create_offer, Direction, LocalMedia, Negotiated, SdpError,
};
pub use session::{
    MediaEvent, MediaSession, MediaStats, PacketKind, Transmit, DEFAULT_MEDIA_TIMEOUT,
};
pub use wire::{PayloadType, RtpTimestamp, SeqNo, Ssrc};

/// Samples in one 20 ms frame of the internal format (48 kHz mono `i16`).
pub const FRAME_SAMPLES: usize = 960;
/// Sample rate of the internal format.
pub const SAMPLE_RATE: u32 = 48_000;
