//! SIP-level failures with stable codes, sorted by whose fault they are (STYLE.md §7).

use crate::wire::StatusCode;

/// A failure of a SIP usage (registration, call).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// The server refused our credentials.
    #[error("authentication failed: the server refused the username or password")]
    AuthFailed,
    /// The server's challenge can't be answered (algorithm, qop).
    #[error("unsupported authentication challenge: {0}")]
    AuthUnsupported(String),
    /// The server kept challenging (`stale=true` again and again): we stopped re-sending.
    #[error("the server kept asking to authenticate again; giving up")]
    AuthLoop,
    /// The registrar's 423 kept asking for a longer registration than we would accept (more
    /// raises than allowed, a Min-Expires over a day, or none above what we asked).
    #[error("the registrar demands an unacceptable registration interval")]
    IntervalTooBrief,
    /// No final response in time (Timer B/F) or the flow went away.
    #[error("the server did not answer in time")]
    Timeout,
    /// A final failure response.
    #[error("the server answered {0}")]
    Rejected(StatusCode),
    /// The far end's message was unusable (e.g. a 2xx without Contact).
    #[error("the far end sent a malformed message")]
    Malformed,
    /// We answered but the ACK never came (RFC 3261 §13.3.1.4).
    #[error("the far end never acknowledged our answer")]
    NoAck,
    /// The far end no longer knows the call (481 to an in-dialog request).
    #[error("the far end no longer knows the call")]
    DialogGone,
}

impl SipError {
    /// Stable code for UIs, scripts and logs.
    pub fn code(&self) -> &'static str {
        match self {
            SipError::AuthFailed => "sip.auth_failed",
            SipError::AuthUnsupported(_) => "sip.auth_unsupported",
            SipError::AuthLoop => "sip.auth_loop",
            SipError::IntervalTooBrief => "sip.interval_too_brief",
            SipError::Timeout => "sip.timeout",
            SipError::Rejected(_) => "sip.rejected",
            SipError::Malformed => "sip.malformed",
            SipError::NoAck => "sip.no_ack",
            SipError::DialogGone => "sip.dialog_gone",
        }
    }
}
