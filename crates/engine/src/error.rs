//! Errors the engine reports, each with a stable code that UIs and scripts match on.

use serde::Serialize;
use std::fmt;

/// A failure with a stable `code` (`area.what`) and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EngineError {
    pub code: &'static str,
    pub message: String,
}

impl EngineError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for EngineError {}

impl From<wren_sip::SipError> for EngineError {
    fn from(e: wren_sip::SipError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<wren_sip::UaError> for EngineError {
    fn from(e: wren_sip::UaError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}
