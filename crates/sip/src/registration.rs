//! Registration usage (RFC 3261 §10, RFC 5626 instance id and reg-id, RFC 7118 §5.3 Contact).

use crate::auth::Authenticator;
use crate::message::{split_list, HeadersExt, Response};
use crate::wire::{Branch, SipCallId};
use ezk_sip_types::Name;
use std::time::{Duration, Instant};

/// Where the registration stands.
#[derive(Debug, Clone)]
pub(crate) enum RegState {
    Idle,
    /// A REGISTER is in flight in the client transaction with this branch.
    Pending {
        branch: Branch,
        unregister: bool,
        /// Times this attempt raised its expiry for a 423 (RFC 3261 §10.2.8).
        raises: u8,
    },
    Registered {
        refresh_at: Instant,
    },
    /// Failed; retried at `retry_at` when set.
    Failed {
        retry_at: Option<Instant>,
    },
}

/// One account's registration binding.
#[derive(Debug)]
pub(crate) struct Registration {
    pub call_id: SipCallId,
    pub cseq: u32,
    /// Expiry we ask for (raised by 423 Interval Too Brief).
    pub expires: u32,
    pub auth: Authenticator,
    pub state: RegState,
}

/// Raises of our expiry for 423s in one attempt before it fails.
pub(crate) const MAX_RAISES: u8 = 2;
/// The longest registration a 423 may make us ask for: a registrar wanting more is broken.
pub(crate) const MAX_MIN_EXPIRES: u32 = 86_400;
/// Retry delay after a failure that may be transient (timeout, 5xx).
pub(crate) const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

impl Registration {
    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            RegState::Registered { refresh_at } => Some(*refresh_at),
            RegState::Failed { retry_at } => *retry_at,
            _ => None,
        }
    }
}

/// When to refresh a binding granted for `expires` seconds: comfortably before expiry.
pub(crate) fn refresh_delay(expires: u32) -> Duration {
    let secs = if expires > 120 {
        expires - 60
    } else {
        expires / 2
    };
    Duration::from_secs(u64::from(secs.max(1)))
}

/// The expiry the registrar granted our contact (RFC 3261 §10.2.4): the `expires` param of the
/// Contact that is ours, else the Expires header, else what we asked.
pub(crate) fn granted_expires(resp: &Response, our_contact_host: &str, asked: u32) -> u32 {
    let ours = resp
        .headers
        .get_raw(&Name::CONTACT)
        .flat_map(|v| split_list(v.as_str()))
        .find(|c| c.contains(our_contact_host));
    let from_contact = ours.and_then(|c| {
        let params = c.rsplit_once('>').map_or(c, |(_, p)| p);
        params.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("expires"))
                .then(|| v.trim().parse().ok())
                .flatten()
        })
    });
    from_contact
        .or_else(|| resp.raw(&Name::EXPIRES).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(asked)
}

/// Min-Expires of a 423 (RFC 3261 §10.2.8).
pub(crate) fn min_expires(resp: &Response) -> Option<u32> {
    resp.raw(&Name::MIN_EXPIRES)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, Message};

    #[test]
    fn refresh_is_before_expiry() {
        assert_eq!(refresh_delay(600), Duration::from_secs(540));
        assert_eq!(refresh_delay(60), Duration::from_secs(30));
        assert_eq!(refresh_delay(0), Duration::from_secs(1));
    }

    #[test]
    fn granted_expiry_comes_from_our_contact() {
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/WSS a.invalid;branch=z9hG4bK1\r\n\
            From: <sip:alice@x>;tag=1\r\nTo: <sip:alice@x>;tag=2\r\nCall-ID: c\r\n\
            CSeq: 1 REGISTER\r\n\
            Contact: <sip:o@other.invalid;transport=ws>;expires=3600, \
            <sip:me@mine.invalid;transport=ws>;expires=300\r\nExpires: 999\r\n\r\n";
        let Message::Response(r) = parse(text.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(granted_expires(&r, "mine.invalid", 600), 300);
        assert_eq!(granted_expires(&r, "nobody.invalid", 600), 999);
    }
}
