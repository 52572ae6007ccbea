//! wren-sip: a sans-IO SIP user agent (RFC 3261, RFC 7118 SIP over WebSocket).
//!
//! Layered as the RFC is: [`message`] (syntax), [`transaction`] (§17), [`dialog`] (§12),
//! usages (registration, INVITE sessions) and the [`UserAgent`] that drives them. No sockets,
//! no clock, no runtime: time comes in as `now`, bytes go out through `poll_transmit`.

pub mod auth;
pub mod dialog;
mod error;
mod ids;
pub mod message;
mod redact;
mod registration;
pub mod transaction;
mod ua;
mod wire;

pub use auth::Credentials;
pub use error::SipError;
pub use redact::redact;
pub use ua::{CallHandle, EndReason, Transport, UaConfig, UaError, UaEvent, UserAgent};
pub use wire::{Branch, SipCallId, StatusClass, StatusCode, Tag};
