//! Errors from setting up a media session.

use crate::codec::CodecError;

/// Why a [`crate::session::MediaSession`] could not be created.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The codec could not be set up (a local problem).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A payload type outside 0-127 (RFC 3550 §5.1): API misuse.
    #[error("payload type {0} is not a 7-bit RTP payload type")]
    InvalidPayloadType(u8),
}

impl MediaError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Codec(e) => e.code(),
            MediaError::InvalidPayloadType(_) => "media.invalid_payload_type",
        }
    }
}
