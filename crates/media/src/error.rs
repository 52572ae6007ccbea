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
    /// The peer did not accept telephone-event, so there is no way to send DTMF in band.
    #[error("the other side does not accept RFC 4733 telephone-events")]
    DtmfUnsupported,
    /// Not a DTMF digit (0-9, *, #, A-D).
    #[error("{0:?} is not a DTMF digit")]
    InvalidDtmf(char),
    /// Too many digits waiting.
    #[error("too many DTMF digits are waiting to be sent")]
    DtmfQueueFull,
    /// The stream doesn't send now (held or closed).
    #[error("the stream is not sending (on hold or closed)")]
    NotSending,
}

impl MediaError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Codec(e) => e.code(),
            MediaError::InvalidPayloadType(_) => "media.invalid_payload_type",
            MediaError::DtmfUnsupported => "media.dtmf_unsupported",
            MediaError::InvalidDtmf(_) => "media.invalid_dtmf",
            MediaError::DtmfQueueFull => "media.dtmf_queue_full",
            MediaError::NotSending => "media.not_sending",
        }
    }
}
