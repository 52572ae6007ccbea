//! Registration usage (RFC 3261 §10, RFC 5626 instance id and reg-id, RFC 7118 §5.3 Contact),
//! with the back-off of RFC 5626 §4.5 between failed attempts.

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
    /// Failed attempts since the last success, for the back-off.
    pub failures: u32,
}

/// Raises of our expiry for 423s in one attempt before it fails.
pub(crate) const MAX_RAISES: u8 = 2;
/// The longest registration a 423 may make us ask for: a registrar wanting more is broken.
pub(crate) const MAX_MIN_EXPIRES: u32 = 86_400;
/// RFC 5626 §4.5 base-time (no flow up) and max-time between registration attempts.
const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(1800);

impl Registration {
    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            RegState::Registered { refresh_at } => Some(*refresh_at),
            RegState::Failed { retry_at } => *retry_at,
            _ => None,
        }
    }
}

/// How long to wait before the next attempt after `failures` failed ones in a row (at least
/// one), RFC 5626 §4.5: base-time doubled per failure up to max-time, then 50-100 % of that
/// picked by `random`.
pub(crate) fn retry_delay(failures: u32, random: u64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let wait = RETRY_BASE.saturating_mul(1 << doublings).min(RETRY_MAX);
    let half = wait.as_millis() as u64 / 2;
    Duration::from_millis(half + random % (half + 1))
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
    fn retry_delay_doubles_to_max_with_jitter_rfc5626() {
        let secs = |f, r| retry_delay(f, r).as_secs();
        assert_eq!((secs(1, 0), secs(1, 15_000)), (15, 30));
        assert_eq!((secs(2, 0), secs(3, 0), secs(6, 0)), (30, 60, 480));
        assert_eq!(
            (secs(7, 0), secs(40, 0), secs(u32::MAX, 0)),
            (900, 900, 900)
        );
        assert!((1..50).all(|f| retry_delay(f, 12_345) <= RETRY_MAX));
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
