//! Digest authentication as a client (RFC 3261 §22, RFC 7616 MD5/SHA-256, qop=auth) over
//! ezk-sip-auth, with our own decision of when a challenge means "wrong password".

use crate::message::{Request, Response};
use ezk_sip_auth::{
    ClientAuthenticator, DigestAuthenticator, DigestCredentials, DigestUser, RequestParts,
    ResponseParts,
};
use ezk_sip_types::msg::{RequestLine, StatusLine};
use ezk_sip_types::{Headers, Name};
use std::fmt;

/// Username and password for digest auth; the password never prints.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &"<redacted>")
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What a 401/407 means for the request that got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Resend the request with the new authorization.
    Retry,
    /// The credentials were refused (already answered this realm's non-stale challenge).
    Rejected,
    /// The challenge can't be answered (unknown algorithm or qop, no Digest).
    Unsupported(String),
}

/// Per-usage authenticator (one per registration or dialog, as nonce counts are per nonce).
pub struct Authenticator {
    inner: DigestAuthenticator,
    /// Non-stale challenges to requests that carried our credentials, since the last success.
    refused: u32,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    pub fn new(creds: &Credentials) -> Self {
        let mut credentials = DigestCredentials::new();
        credentials.set_default(DigestUser::new(
            creds.username.clone(),
            creds.password.as_bytes().to_vec(),
        ));
        Self {
            inner: DigestAuthenticator::new(credentials),
            refused: 0,
        }
    }

    /// Adds Authorization / Proxy-Authorization for every realm answered so far.
    pub fn authorize(&mut self, req: &mut Request) {
        req.headers.remove(&Name::AUTHORIZATION);
        req.headers.remove(&Name::PROXY_AUTHORIZATION);
        self.inner.authorize_request(&mut req.headers);
    }

    /// The server accepted a request: refusals start counting again.
    pub fn accepted(&mut self) {
        self.refused = 0;
    }

    /// Digests a 401/407 for `req` (the request as sent, with any authorization it carried).
    pub fn handle_challenge(&mut self, req: &Request, resp: &Response) -> Challenge {
        let carried = req.headers.contains(&Name::AUTHORIZATION)
            || req.headers.contains(&Name::PROXY_AUTHORIZATION);
        let stale = challenge_headers(&resp.headers).any(|v| {
            v.to_ascii_lowercase()
                .replace(' ', "")
                .contains("stale=true")
        });
        if carried && !stale {
            // One more try with the fresh nonce covers a server that lost its nonce state
            // (restart); a second refusal in a row means the credentials are wrong.
            self.refused += 1;
            if self.refused >= 2 {
                return Challenge::Rejected;
            }
        }
        if challenge_headers(&resp.headers).next().is_none() {
            return Challenge::Unsupported("challenge without authenticate header".into());
        }
        let line = RequestLine {
            method: req.method.clone(),
            uri: req.uri.clone(),
        };
        let status = StatusLine {
            code: ezk_sip_types::StatusCode::from(resp.status.as_u16()),
            reason: None,
        };
        let result = self.inner.handle_rejection(
            RequestParts {
                line: &line,
                headers: &req.headers,
                body: &req.body,
            },
            ResponseParts {
                line: &status,
                headers: &resp.headers,
                body: &resp.body,
            },
        );
        match result {
            Ok(()) => Challenge::Retry,
            // ezk refuses to answer the same nonce twice: the credentials were wrong.
            Err(ezk_sip_auth::DigestError::FailedToAuthenticate(_)) if carried => {
                Challenge::Rejected
            }
            Err(e) => Challenge::Unsupported(e.to_string()),
        }
    }
}

fn challenge_headers(headers: &Headers) -> impl Iterator<Item = &str> {
    headers
        .get_raw(&Name::WWW_AUTHENTICATE)
        .chain(headers.get_raw(&Name::PROXY_AUTHENTICATE))
        .map(|v| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, Message};

    fn req(extra: &str) -> Request {
        let text = format!(
            "REGISTER sip:wren.lab SIP/2.0\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n\
             From: <sip:alice@wren.lab>;tag=1\r\nTo: <sip:alice@wren.lab>\r\nCall-ID: c1\r\n\
             CSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!("a request was written"),
        }
    }

    fn resp(code: u16, challenge: &str) -> Response {
        let text = format!(
            "SIP/2.0 {code} Unauthorized\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n\
             From: <sip:alice@wren.lab>;tag=1\r\nTo: <sip:alice@wren.lab>;tag=2\r\n\
             Call-ID: c1\r\nCSeq: 1 REGISTER\r\n{challenge}\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()).unwrap() {
            Message::Response(r) => r,
            Message::Request(_) => unreachable!("a response was written"),
        }
    }

    fn creds() -> Credentials {
        Credentials {
            username: "alice".into(),
            password: "alice-secret".into(),
        }
    }

    #[test]
    fn answers_401_md5_qop_auth_rfc7616() {
        let mut auth = Authenticator::new(&creds());
        let mut r = req("");
        let c = resp(
            401,
            r#"WWW-Authenticate: Digest realm="wren.lab", nonce="abc", qop="auth""#,
        );
        assert_eq!(auth.handle_challenge(&r, &c), Challenge::Retry);
        auth.authorize(&mut r);
        let h = r
            .headers
            .get_raw(&Name::AUTHORIZATION)
            .next()
            .unwrap()
            .to_string();
        assert!(h.contains("username=\"alice\""), "{h}");
        assert!(h.contains("qop=auth"), "{h}");
        assert!(h.contains("nc=00000001"), "{h}");
        // A non-stale challenge to the authorized request is retried once (the server may
        // have lost its nonces), and a second one in a row means a wrong password.
        let fresh = |n: &str| {
            resp(
                401,
                &format!(r#"WWW-Authenticate: Digest realm="wren.lab", nonce="{n}", qop="auth""#),
            )
        };
        assert_eq!(auth.handle_challenge(&r, &fresh("n2")), Challenge::Retry);
        assert_eq!(auth.handle_challenge(&r, &fresh("n3")), Challenge::Rejected);
        auth.accepted();
        assert_eq!(auth.handle_challenge(&r, &fresh("n4")), Challenge::Retry);
        // The same nonce challenged again: ezk won't answer it twice.
        assert_eq!(auth.handle_challenge(&r, &fresh("n4")), Challenge::Rejected);
    }

    #[test]
    fn answers_407_sha256_and_stale_nonce() {
        let mut auth = Authenticator::new(&creds());
        let mut r = req("");
        let c = resp(
            407,
            r#"Proxy-Authenticate: Digest realm="wren.lab", nonce="n1", algorithm=SHA-256, qop="auth""#,
        );
        assert_eq!(auth.handle_challenge(&r, &c), Challenge::Retry);
        auth.authorize(&mut r);
        let h = r
            .headers
            .get_raw(&Name::PROXY_AUTHORIZATION)
            .next()
            .unwrap()
            .to_string();
        assert!(h.contains("SHA-256"), "{h}");
        let stale = resp(
            407,
            r#"Proxy-Authenticate: Digest realm="wren.lab", nonce="n2", stale=true, qop="auth""#,
        );
        assert_eq!(auth.handle_challenge(&r, &stale), Challenge::Retry);
        auth.authorize(&mut r);
        let h = r
            .headers
            .get_raw(&Name::PROXY_AUTHORIZATION)
            .next()
            .unwrap()
            .to_string();
        assert!(h.contains("nonce=\"n2\""), "{h}");
    }

    #[test]
    fn debug_never_shows_password() {
        assert!(!format!("{:?}", creds()).contains("secret"));
    }
}
