//! Building requests: our address of record and Contact, the target a user typed turned into
//! a SIP URI, and a new out-of-dialog request (RFC 3261 §8.1.1).

use super::*;

impl UserAgent {
    pub(super) fn aor_name_addr(&self) -> String {
        let uri = format!("sip:{}@{}", self.cfg.user, self.cfg.domain);
        match &self.cfg.display_name {
            Some(name) if !name.is_empty() => {
                format!("\"{}\" <{uri}>", name.replace(['"', '\\'], ""))
            }
            _ => format!("<{uri}>"),
        }
    }

    pub(super) fn contact_uri(&self) -> String {
        format!(
            "sip:{}@{};transport={}",
            self.contact_user,
            self.via_host,
            self.cfg.transport.uri_param()
        )
    }

    /// Contact for dialog-forming requests and responses: `;ob` (RFC 5626 §5.4, RFC 7118).
    pub(super) fn dialog_contact(&self) -> String {
        format!("<{};ob>", self.contact_uri())
    }

    /// Checks that `target` is something [`UserAgent::invite`] can call.
    pub fn check_target(&self, target: &str) -> Result<(), UaError> {
        self.target_uri(target).map(drop)
    }

    pub(super) fn target_uri(&self, target: &str) -> Result<SipUri, UaError> {
        let t = target.trim();
        let text = if t.starts_with("sip:") || t.starts_with("sips:") {
            t.to_owned()
        } else if t.contains(':') && !t.contains('@') {
            return Err(UaError::InvalidUri(target.to_owned()));
        } else if t.contains('@') {
            format!("sip:{t}")
        } else {
            format!("sip:{t}@{}", self.cfg.domain)
        };
        let bad = || UaError::InvalidUri(target.to_owned());
        if t.is_empty() || text.contains(char::is_whitespace) {
            return Err(bad());
        }
        SipUri::from_str(&text).map_err(|_| bad())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_request(
        &mut self,
        method: Method,
        uri: SipUri,
        from: &str,
        to: &str,
        call_id: &SipCallId,
        cseq: u32,
        routes: &[String],
    ) -> Request {
        let mut headers = Headers::new();
        // The branch is filled in when the transaction starts.
        headers.insert(Name::VIA, String::new());
        headers.insert(Name::MAX_FORWARDS, "70");
        for r in routes {
            headers.insert(Name::ROUTE, r.clone());
        }
        headers.insert(Name::FROM, from.to_owned());
        headers.insert(Name::TO, to.to_owned());
        headers.insert(Name::CALL_ID, call_id.as_str().to_owned());
        headers.insert(Name::CSEQ, format!("{cseq} {method}"));
        headers.insert(Name::USER_AGENT, self.cfg.user_agent.clone());
        Request {
            method,
            uri,
            headers,
            body: Bytes::new(),
        }
    }
}
