//! Audio codecs behind one small contract: Opus (RFC 6716, RTP mapping RFC 7587) and G.711
//! µ-law/A-law (ITU-T G.711, RTP mapping RFC 3551 §4.5.14).
//!
//! Every codec speaks the internal format on its audio side (48 kHz mono `i16`, 20 ms frames of
//! [`FRAME_SAMPLES`]) and RTP payloads on the other; G.711 converts rates inside.

mod g711;
mod kind;
mod opus;
mod resample;

pub use kind::{CodecKind, UnknownCodec};

use crate::FRAME_SAMPLES;

/// Why a codec failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// libopus refused to create a coder or to encode (a local problem, not the peer's).
    #[error("opus: {0}")]
    Opus(String),
    /// The peer sent a payload the decoder could not decode.
    #[error("undecodable {codec} payload of {len} bytes")]
    InvalidPayload {
        /// The codec that failed.
        codec: CodecKind,
        /// Payload length in bytes.
        len: usize,
    },
}

impl CodecError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::Opus(_) => "codec.opus",
            CodecError::InvalidPayload { .. } => "codec.invalid_payload",
        }
    }
}

/// Turns 20 ms frames of 48 kHz mono audio into RTP payloads.
pub trait Encoder: Send {
    /// Encodes one frame, replacing the contents of `out` with the payload.
    fn encode(&mut self, pcm: &[i16; FRAME_SAMPLES], out: &mut Vec<u8>) -> Result<(), CodecError>;
}

/// Turns RTP payloads back into 48 kHz mono audio, and covers for the lost ones.
pub trait Decoder: Send {
    /// How many RTP clock ticks `payload` covers, or `None` if it can't be told.
    fn duration(&self, payload: &[u8]) -> Option<u32>;
    /// Decodes `payload`, appending 48 kHz samples to `out`.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError>;
    /// Appends `ticks` RTP clock ticks worth of 48 kHz concealment audio for a lost packet.
    fn conceal(&mut self, ticks: u32, out: &mut Vec<i16>);
    /// Rebuilds the `ticks` lost just before `next` from redundancy inside `next` (Opus
    /// in-band FEC, RFC 6716 §2.1.7), appending to `out`; false if the codec has none.
    fn recover(&mut self, _next: &[u8], _ticks: u32, _out: &mut Vec<i16>) -> bool {
        false
    }
}

/// A new encoder for `kind`.
pub fn new_encoder(kind: CodecKind) -> Result<Box<dyn Encoder>, CodecError> {
    Ok(match kind {
        CodecKind::Opus => Box::new(opus::OpusEncoder::new()?),
        CodecKind::Pcmu => Box::new(g711::G711Encoder::new(g711::Law::Mu)),
        CodecKind::Pcma => Box::new(g711::G711Encoder::new(g711::Law::A)),
    })
}

/// A new decoder for `kind`.
pub fn new_decoder(kind: CodecKind) -> Result<Box<dyn Decoder>, CodecError> {
    Ok(match kind {
        CodecKind::Opus => Box::new(opus::OpusDecoder::new()?),
        CodecKind::Pcmu => Box::new(g711::G711Decoder::new(g711::Law::Mu)),
        CodecKind::Pcma => Box::new(g711::G711Decoder::new(g711::Law::A)),
    })
}
