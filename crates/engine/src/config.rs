//! Account settings, validated into types the engine can trust.

use crate::error::{EngineError, ErrorCode};
use std::fmt;
use std::path::PathBuf;
use wren_media::CodecKind;

/// The WebSocket server: `ws://` or `wss://` host, port and path (RFC 7118 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub secure: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl ServerUrl {
    /// Parses `wss://host[:port][/path]` (or `ws://`).
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        let bad = |why: &str| {
            EngineError::new(ErrorCode::ConfigInvalidServer, format!("{why}: {text:?}"))
        };
        let (secure, rest) = if let Some(r) = text.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(bad("the server must be a ws:// or wss:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("bad IPv6 address"))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(bad("missing or invalid host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
            None if secure => 443,
            None => 80,
        };
        Ok(Self {
            secure,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// The URL as text.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }
}

/// One SIP account. The password never prints.
#[derive(Clone)]
pub struct AccountConfig {
    pub server: ServerUrl,
    pub user: String,
    pub domain: String,
    pub auth_user: String,
    pub password: String,
    pub display_name: Option<String>,
    /// Extra trusted CA (PEM) for a self-signed PBX, on top of the system store.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint of a server certificate the user chose to trust.
    pub trusted_certificate: Option<String>,
    pub register_expires: u32,
    /// Codec preference order for offers and answers.
    pub codecs: Vec<CodecKind>,
    /// RFC 5626 instance id; derived from the account when not set, so it stays stable.
    pub instance_id: String,
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountConfig")
            .field("server", &self.server.url())
            .field("user", &"<redacted>")
            .field("password", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("codecs", &self.codecs)
            .finish()
    }
}

/// What a user typed, before validation.
#[derive(Default, Clone)]
pub struct AccountInput {
    pub server: String,
    pub user: String,
    pub domain: Option<String>,
    pub auth_user: Option<String>,
    pub password: String,
    pub display_name: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint of a server certificate to trust (pasted or from "Trust
    /// certificate").
    pub trusted_certificate: Option<String>,
    pub register_expires: Option<u32>,
    pub codecs: Option<Vec<CodecKind>>,
}

impl fmt::Debug for AccountInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountInput")
            .field("server", &self.server)
            .field("user", &"<redacted>")
            .field("password", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("codecs", &self.codecs)
            .finish_non_exhaustive()
    }
}

impl AccountInput {
    /// Validates every field; the first problem comes back with its own code.
    pub fn validate(self) -> Result<AccountConfig, EngineError> {
        let server = ServerUrl::parse(self.server.trim())?;
        let user = self.user.trim().to_owned();
        if user.is_empty() || user.contains(|c: char| c.is_whitespace() || "@:<>;\"".contains(c)) {
            return Err(EngineError::new(
                ErrorCode::ConfigInvalidUser,
                "the user name is empty or has characters a SIP user can't have",
            ));
        }
        let domain = self
            .domain
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| server.host.clone());
        if domain.contains(|c: char| c.is_whitespace() || "@<>;\"/".contains(c)) {
            return Err(EngineError::new(
                ErrorCode::ConfigInvalidDomain,
                "invalid SIP domain",
            ));
        }
        if self.password.is_empty() {
            return Err(EngineError::new(
                ErrorCode::ConfigMissingPassword,
                "no password given",
            ));
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                return Err(EngineError::new(
                    ErrorCode::ConfigCaNotFound,
                    format!("CA file {} does not exist", ca.display()),
                ));
            }
        }
        let trusted_certificate = match self.trusted_certificate.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(crate::wss::normalise_fingerprint(text).ok_or_else(|| {
                EngineError::new(
                    ErrorCode::ConfigInvalidFingerprint,
                    "a certificate fingerprint is 32 hexadecimal pairs (SHA-256)",
                )
            })?),
        };
        let expires = self.register_expires.unwrap_or(600);
        if !(60..=86_400).contains(&expires) {
            return Err(EngineError::new(
                ErrorCode::ConfigInvalidExpires,
                "registration expiry must be between 60 and 86400 seconds",
            ));
        }
        let codecs = self
            .codecs
            .unwrap_or_else(|| vec![CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma]);
        if codecs.is_empty() {
            return Err(EngineError::new(
                ErrorCode::ConfigNoCodecs,
                "no codec enabled",
            ));
        }
        let auth_user = self
            .auth_user
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| user.clone());
        let instance_id = instance_id(&format!("{user}@{domain} via {}", server.url()));
        Ok(AccountConfig {
            server,
            user,
            domain,
            auth_user,
            password: self.password,
            display_name: self.display_name,
            ca_file: self.ca_file,
            trusted_certificate,
            register_expires: expires,
            codecs,
            instance_id,
        })
    }
}

/// A name-based UUID for the account (FNV-1a, 128 bits): the same account always gets the
/// same RFC 5626 instance id, with nothing to store.
fn instance_id(key: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in key.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let b = h.to_be_bytes();
    let hex =
        |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "urn:uuid:{}-{}-5{}-{}-{}",
        hex(0..4),
        hex(4..6),
        &hex(6..8)[1..],
        hex(8..10),
        hex(10..16)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AccountInput {
        AccountInput {
            server: "wss://127.0.0.1:18443".into(),
            user: "alice".into(),
            password: "pw".into(),
            ..Default::default()
        }
    }

    #[test]
    fn nothing_that_holds_a_password_prints_it() {
        let input = AccountInput {
            password: "s3cret-pw".into(),
            user: "alice-identity".into(),
            ..input()
        };
        let config = input.clone().validate().unwrap();
        for text in [format!("{input:?}"), format!("{config:?}")] {
            assert!(!text.contains("s3cret-pw"), "{text}");
            assert!(!text.contains("alice-identity"), "{text}");
        }
    }

    #[test]
    fn server_urls_parse_with_defaults() {
        let s = ServerUrl::parse("wss://pbx.example.com").unwrap();
        assert_eq!((s.secure, s.port, s.path.as_str()), (true, 443, "/"));
        let s = ServerUrl::parse("ws://[::1]:8080/ws").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.path.as_str()),
            ("::1", 8080, "/ws")
        );
        for bad in [
            "http://x",
            "wss://",
            "wss://host:99999",
            "sip:alice@x",
            "wss://a b",
        ] {
            let e = ServerUrl::parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalidServer, "{bad}");
        }
    }

    #[test]
    fn domain_defaults_to_server_host_and_instance_id_is_stable() {
        let a = input().validate().unwrap();
        assert_eq!(a.domain, "127.0.0.1");
        assert_eq!(a.auth_user, "alice");
        assert_eq!(a.instance_id, input().validate().unwrap().instance_id);
        assert!(a.instance_id.starts_with("urn:uuid:"));
        assert_eq!(a.instance_id.len(), "urn:uuid:".len() + 36);
        let mut other = input();
        other.user = "bob".into();
        assert_ne!(a.instance_id, other.validate().unwrap().instance_id);
    }

    #[test]
    fn typos_get_their_own_codes() {
        type Edit = fn(&mut AccountInput);
        let cases: [(Edit, ErrorCode); 4] = [
            (|i| i.user = "al ice".into(), ErrorCode::ConfigInvalidUser),
            (
                |i| i.password = String::new(),
                ErrorCode::ConfigMissingPassword,
            ),
            (
                |i| i.register_expires = Some(5),
                ErrorCode::ConfigInvalidExpires,
            ),
            (
                |i| i.ca_file = Some("/nonexistent/ca.pem".into()),
                ErrorCode::ConfigCaNotFound,
            ),
        ];
        for (edit, code) in cases {
            let mut i = input();
            edit(&mut i);
            assert_eq!(i.validate().unwrap_err().code, code);
        }
    }

    #[test]
    fn debug_redacts_password_and_user() {
        let text = format!("{:?}", input().validate().unwrap());
        assert!(!text.contains("pw\"") && !text.contains("alice"), "{text}");
    }
}
