//! Digest authentication as a client (RFC 3261 §22, RFC 7616 MD5/SHA-256, qop=auth) over
//! ezk-sip-auth, with our own decision of when a challenge means "wrong password" and when
//! a server that keeps challenging has had enough re-sends (RFC 3261 §22.3: no loops).

use crate::message::{Request, Response};
use ezk_sip_auth::{
    ClientAuthenticator, DigestAuthenticator, DigestCredentials, DigestUser, RequestParts,
    ResponseParts,
};
use ezk_sip_types::header::typed::{Algorithm, AlgorithmValue, AuthChallenge, QopOption};
use ezk_sip_types::msg::{RequestLine, StatusLine};
use ezk_sip_types::{Headers, Name};
use std::fmt;

/// Re-sends after a `stale=true` challenge to a request that carried our credentials.
pub const MAX_STALE_RETRIES: u8 = 2;
/// Re-sends after any challenge, in all, for one request.
pub const MAX_CHALLENGE_RETRIES: u8 = 4;

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
    /// The challenge can't be answered (not Digest, unreadable, unknown algorithm or qop).
    Unsupported(String),
    /// The server keeps challenging (stale nonces): the request has had its re-sends.
    Loop,
}

/// The challenges one request has been re-sent for so far: a request and its re-sends share
/// one, a new request starts from zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChallengeCount {
    /// Re-sends for any challenge.
    total: u8,
    /// Re-sends for `stale=true` challenges to a request with our credentials.
    stale: u8,
    /// Re-sends for non-stale challenges to a request with our credentials.
    refused: u8,
}

/// Per-usage authenticator (one per registration or dialog, as nonce counts are per nonce).
pub struct Authenticator {
    inner: DigestAuthenticator,
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
        }
    }

    /// Adds Authorization / Proxy-Authorization for every realm answered so far.
    pub fn authorize(&mut self, req: &mut Request) {
        req.headers.remove(&Name::AUTHORIZATION);
        req.headers.remove(&Name::PROXY_AUTHORIZATION);
        self.inner.authorize_request(&mut req.headers);
    }

    /// Digests a 401/407 for `req` (the request as sent, with any authorization it carried);
    /// `count` is that request's, and counts the re-send when the verdict is
    /// [`Challenge::Retry`].
    pub fn handle_challenge(
        &mut self,
        req: &Request,
        resp: &Response,
        count: &mut ChallengeCount,
    ) -> Challenge {
        let carried = req.headers.contains(&Name::AUTHORIZATION)
            || req.headers.contains(&Name::PROXY_AUTHORIZATION);
        // Answering what we can't read, or a scheme without Digest, would re-send the request
        // as it was, to the same challenge, forever.
        let stale = match answerable(&resp.headers) {
            Ok(stale) => stale,
            Err(why) => return Challenge::Unsupported(why),
        };
        if count.total >= MAX_CHALLENGE_RETRIES {
            return Challenge::Loop;
        }
        if carried && stale {
            if count.stale >= MAX_STALE_RETRIES {
                return Challenge::Loop;
            }
            count.stale += 1;
        } else if carried {
            // One more try with the fresh nonce covers a server that lost its nonce state
            // (restart); a second refusal in a row means the credentials are wrong.
            if count.refused >= 1 {
                return Challenge::Rejected;
            }
            count.refused += 1;
        }
        count.total += 1;
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

/// Whether the 401/407's challenges hold a Digest one we can answer (RFC 3261 §22.4: Basic is
/// not for SIP), and if so whether any is `stale=true`; else why not.
fn answerable(headers: &Headers) -> Result<bool, String> {
    let mut found = Vec::new();
    for name in [Name::WWW_AUTHENTICATE, Name::PROXY_AUTHENTICATE] {
        match headers.try_get::<Vec<AuthChallenge>>(name) {
            None => {}
            Some(Ok(list)) => found.extend(list),
            Some(Err(_)) => return Err("unreadable authenticate header".into()),
        }
    }
    if found.is_empty() {
        let present = headers.contains(&Name::WWW_AUTHENTICATE)
            || headers.contains(&Name::PROXY_AUTHENTICATE);
        return Err(if present {
            "unreadable authenticate header".into()
        } else {
            "challenge without authenticate header".into()
        });
    }
    let mut unknown = None;
    let mut stale = None;
    for challenge in &found {
        let AuthChallenge::Digest(digest) = challenge else {
            continue;
        };
        let algorithm = match &digest.algorithm {
            Algorithm::AlgorithmValue(v) | Algorithm::AkaNamespace((_, v)) => v,
        };
        let qop_ok = digest.qop.is_empty()
            || digest
                .qop
                .iter()
                .any(|q| matches!(q, QopOption::Auth | QopOption::AuthInt));
        match algorithm {
            AlgorithmValue::Other(name) => unknown = Some(format!("digest algorithm {name}")),
            _ if !qop_ok => unknown = Some("digest qop other than auth".into()),
            _ => stale = Some(stale.unwrap_or(false) || digest.stale),
        }
    }
    stale.ok_or_else(|| unknown.unwrap_or_else(|| "no Digest challenge (e.g. Basic)".into()))
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
        let mut count = ChallengeCount::default();
        assert_eq!(auth.handle_challenge(&r, &c, &mut count), Challenge::Retry);
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
        assert_eq!(
            auth.handle_challenge(&r, &fresh("n2"), &mut count),
            Challenge::Retry
        );
        assert_eq!(
            auth.handle_challenge(&r, &fresh("n3"), &mut count),
            Challenge::Rejected
        );
        // A new request starts counting again.
        let mut count = ChallengeCount::default();
        assert_eq!(
            auth.handle_challenge(&r, &fresh("n4"), &mut count),
            Challenge::Retry
        );
        // The same nonce challenged again: ezk won't answer it twice.
        let mut count = ChallengeCount::default();
        assert_eq!(
            auth.handle_challenge(&r, &fresh("n4"), &mut count),
            Challenge::Rejected
        );
    }

    fn fresh(nonce: &str) -> Response {
        resp(
            401,
            &format!(r#"WWW-Authenticate: Digest realm="wren.lab", nonce="{nonce}", qop="auth""#),
        )
    }

    fn stale(nonce: &str) -> Response {
        resp(
            401,
            &format!(
                r#"WWW-Authenticate: Digest realm="wren.lab", nonce="{nonce}", stale=true, qop="auth""#
            ),
        )
    }

    /// RFC 3261 §22.3 spirit: a server that calls every nonce stale gets two re-sends of an
    /// authorized request, then [`Challenge::Loop`].
    #[test]
    fn stale_challenges_are_answered_twice_per_request() {
        let mut auth = Authenticator::new(&creds());
        let mut r = req("");
        let mut count = ChallengeCount::default();
        // The first challenge, to a request without credentials, is the usual one.
        assert_eq!(
            auth.handle_challenge(&r, &stale("s0"), &mut count),
            Challenge::Retry
        );
        auth.authorize(&mut r);
        for n in ["s1", "s2"] {
            assert_eq!(
                auth.handle_challenge(&r, &stale(n), &mut count),
                Challenge::Retry
            );
        }
        assert_eq!(
            auth.handle_challenge(&r, &stale("s3"), &mut count),
            Challenge::Loop
        );
        // A refusal in between does not make the stale ones count again.
        let mut count = ChallengeCount::default();
        let verdicts: Vec<_> = ["t0", "t1", "t2", "t3", "t4"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let c = if i == 1 { fresh(n) } else { stale(n) };
                auth.handle_challenge(&r, &c, &mut count)
            })
            .collect();
        let retries = verdicts.iter().filter(|v| **v == Challenge::Retry).count();
        assert_eq!(retries, 3, "{verdicts:?}");
        assert_eq!(verdicts[3], Challenge::Loop);
    }

    /// Challenges we can't answer fail at once instead of re-sending the request unchanged.
    #[test]
    fn unanswerable_challenges_are_unsupported_at_once() {
        let cases = [
            ("Basic", r#"WWW-Authenticate: Basic realm="wren.lab""#),
            ("garbage", "WWW-Authenticate: %%% garbage ,,,"),
            ("no nonce", r#"WWW-Authenticate: Digest realm="wren.lab""#),
            (
                "algorithm",
                r#"WWW-Authenticate: Digest realm="wren.lab", nonce="a", algorithm=SHA-1"#,
            ),
            (
                "qop",
                r#"WWW-Authenticate: Digest realm="wren.lab", nonce="a", qop="auth-conf""#,
            ),
            ("no header", "X-Nothing: here"),
        ];
        for (what, header) in cases {
            let mut auth = Authenticator::new(&creds());
            let mut count = ChallengeCount::default();
            let verdict = auth.handle_challenge(&req(""), &resp(401, header), &mut count);
            assert!(
                matches!(verdict, Challenge::Unsupported(_)),
                "{what}: {verdict:?}"
            );
        }
        // Basic beside Digest: the Digest one is answered.
        let mut auth = Authenticator::new(&creds());
        let both = resp(
            401,
            "WWW-Authenticate: Basic realm=\"x\"\r\n\
             WWW-Authenticate: Digest realm=\"wren.lab\", nonce=\"a\"",
        );
        let mut count = ChallengeCount::default();
        assert_eq!(
            auth.handle_challenge(&req(""), &both, &mut count),
            Challenge::Retry
        );
    }

    #[test]
    fn answers_407_sha256_and_stale_nonce() {
        let mut auth = Authenticator::new(&creds());
        let mut r = req("");
        let c = resp(
            407,
            r#"Proxy-Authenticate: Digest realm="wren.lab", nonce="n1", algorithm=SHA-256, qop="auth""#,
        );
        let mut count = ChallengeCount::default();
        assert_eq!(auth.handle_challenge(&r, &c, &mut count), Challenge::Retry);
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
        assert_eq!(
            auth.handle_challenge(&r, &stale, &mut count),
            Challenge::Retry
        );
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
