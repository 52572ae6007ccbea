//! Why an SDP offer or answer could not be used.

/// An SDP problem. Every variant but [`SdpError::Malformed`] means the peer is incompatible:
/// the answerer replies 488 Not Acceptable Here (RFC 3261 §13.3.1.1); a malformed offer is a
/// 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not parseable as SDP (RFC 8866 §5), or a field out of range.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No `m=audio` line at all.
    #[error("SDP has no audio stream")]
    NoAudio,
    /// The audio stream has port 0: disabled in an offer, rejected in an answer (RFC 3264 §6).
    #[error("audio stream rejected (port 0)")]
    AudioRejected,
    /// Audio only over a transport we don't speak yet (SRTP, DTLS).
    #[error("unsupported audio transport {0}")]
    UnsupportedTransport(String),
    /// None of our codecs is among the peer's formats.
    #[error("no codec in common")]
    NoCommonCodec,
    /// No `c=` line for the audio stream, at media or session level (RFC 8866 §5.7).
    #[error("no connection address for the audio stream")]
    NoConnection,
    /// The connection address is a host name; SDP from SIP peers carries addresses.
    #[error("connection address {0} is not an IP address")]
    UnsupportedAddress(String),
}

impl SdpError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            SdpError::Malformed(_) => "sdp.malformed",
            SdpError::NoAudio => "sdp.no_audio",
            SdpError::AudioRejected => "sdp.audio_rejected",
            SdpError::UnsupportedTransport(_) => "sdp.unsupported_transport",
            SdpError::NoCommonCodec => "sdp.no_common_codec",
            SdpError::NoConnection => "sdp.no_connection",
            SdpError::UnsupportedAddress(_) => "sdp.unsupported_address",
        }
    }
}
