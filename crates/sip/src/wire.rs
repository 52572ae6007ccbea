//! Wire values as their own types (STYLE.md §6): status codes (RFC 3261 §21), tags
//! (§19.3), branches (§8.1.1.7) and Call-IDs (§8.1.1.4).
//!
//! None of them validates: any status a parsed response carries, and any tag, branch or
//! Call-ID text the parser accepted, is kept as it came and prints back byte for byte.

use std::fmt;
use std::ops::Deref;

/// A SIP status code (RFC 3261 §7.2, §21). Open: any number round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

/// The class of a status code, its first digit (RFC 3261 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// 1xx.
    Provisional,
    /// 2xx.
    Success,
    /// 3xx.
    Redirection,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// 6xx.
    GlobalFailure,
}

impl StatusCode {
    pub const TRYING: Self = Self(100);
    pub const RINGING: Self = Self(180);
    pub const SESSION_PROGRESS: Self = Self(183);
    pub const OK: Self = Self(200);
    pub const ACCEPTED: Self = Self(202);
    pub const BAD_REQUEST: Self = Self(400);
    pub const UNAUTHORIZED: Self = Self(401);
    pub const FORBIDDEN: Self = Self(403);
    pub const NOT_FOUND: Self = Self(404);
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    pub const PROXY_AUTHENTICATION_REQUIRED: Self = Self(407);
    pub const REQUEST_TIMEOUT: Self = Self(408);
    pub const INTERVAL_TOO_BRIEF: Self = Self(423);
    pub const TEMPORARILY_UNAVAILABLE: Self = Self(480);
    pub const CALL_DOES_NOT_EXIST: Self = Self(481);
    pub const BUSY_HERE: Self = Self(486);
    pub const REQUEST_TERMINATED: Self = Self(487);
    pub const NOT_ACCEPTABLE_HERE: Self = Self(488);
    pub const REQUEST_PENDING: Self = Self(491);
    pub const SERVER_INTERNAL_ERROR: Self = Self(500);
    pub const NOT_IMPLEMENTED: Self = Self(501);
    pub const SERVICE_UNAVAILABLE: Self = Self(503);
    pub const VERSION_NOT_SUPPORTED: Self = Self(505);
    pub const BUSY_EVERYWHERE: Self = Self(600);
    pub const DECLINE: Self = Self(603);

    /// Any number; nothing is rejected (out-of-range codes have no [`StatusCode::class`]).
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    /// The number as on the wire.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The class, or `None` outside 100-699.
    pub const fn class(self) -> Option<StatusClass> {
        Some(match self.0 {
            100..=199 => StatusClass::Provisional,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            600..=699 => StatusClass::GlobalFailure,
            _ => return None,
        })
    }

    /// 1xx.
    pub const fn is_provisional(self) -> bool {
        matches!(self.0, 100..=199)
    }

    /// 2xx.
    pub const fn is_success(self) -> bool {
        matches!(self.0, 200..=299)
    }

    /// 200 and above: ends a transaction (RFC 3261 §7.2).
    pub const fn is_final(self) -> bool {
        self.0 >= 200
    }

    /// 300-699: a final failure (redirection or error).
    pub const fn is_failure(self) -> bool {
        matches!(self.0, 300..=699)
    }
}

impl From<u16> for StatusCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<StatusCode> for u16 {
    fn from(code: StatusCode) -> Self {
        code.0
    }
}

impl PartialEq<u16> for StatusCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A text identifier as it goes on the wire; the text is kept exactly as given.
macro_rules! wire_text {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The text as on the wire, unchecked (parsing stays tolerant).
            pub fn new(text: impl Into<String>) -> Self {
                Self(text.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

wire_text!(
    /// A From or To tag (RFC 3261 §19.3): one half of a dialog's identity.
    Tag
);
wire_text!(
    /// A Via branch (RFC 3261 §8.1.1.7): names a transaction; ours start `z9hG4bK`.
    Branch
);
wire_text!(
    /// The SIP Call-ID header value (RFC 3261 §8.1.1.4); not the engine's call handle.
    SipCallId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_follow_the_first_digit_rfc3261_7_2() {
        assert_eq!(StatusCode::TRYING.class(), Some(StatusClass::Provisional));
        assert_eq!(StatusCode::new(199).class(), Some(StatusClass::Provisional));
        assert_eq!(StatusCode::OK.class(), Some(StatusClass::Success));
        assert_eq!(StatusCode::new(302).class(), Some(StatusClass::Redirection));
        assert_eq!(
            StatusCode::BUSY_HERE.class(),
            Some(StatusClass::ClientError)
        );
        assert_eq!(
            StatusCode::SERVICE_UNAVAILABLE.class(),
            Some(StatusClass::ServerError)
        );
        assert_eq!(
            StatusCode::DECLINE.class(),
            Some(StatusClass::GlobalFailure)
        );
        assert_eq!(StatusCode::new(99).class(), None);
        assert_eq!(StatusCode::new(700).class(), None);
        assert!(StatusCode::RINGING.is_provisional() && !StatusCode::RINGING.is_final());
        assert!(StatusCode::ACCEPTED.is_success() && StatusCode::ACCEPTED.is_final());
        assert!(StatusCode::new(699).is_failure() && !StatusCode::OK.is_failure());
    }

    #[test]
    fn wire_values_print_as_they_came() {
        assert_eq!(StatusCode::new(487).to_string(), "487");
        assert_eq!(StatusCode::new(7).to_string(), "7");
        assert_eq!(Tag::new("a;b").to_string(), "a;b");
        assert_eq!(Branch::from("z9hG4bK1").as_str(), "z9hG4bK1");
        assert_eq!(SipCallId::new("c@h"), "c@h");
    }
}
