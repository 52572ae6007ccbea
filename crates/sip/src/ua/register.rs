//! The registration usage of the user agent (RFC 3261 §10), with bounded re-sends for
//! challenges and 423s and the back-off of RFC 5626 §4.5 between failed attempts.

use super::*;

impl UserAgent {
    /// Starts a new REGISTER attempt (API call, refresh or retry).
    pub(super) fn send_register(&mut self, now: Instant, unregister: bool) {
        self.resend_register(now, unregister, ChallengeCount::default(), 0);
    }

    /// Sends the attempt's REGISTER again, or the first time: after `challenges` and after
    /// `raises` raises of the expiry for 423s.
    fn resend_register(
        &mut self,
        now: Instant,
        unregister: bool,
        challenges: ChallengeCount,
        raises: u8,
    ) {
        if let RegState::Pending { branch, .. } = &self.reg.state {
            let branch = branch.clone();
            self.clients.retain(|c| c.tx.branch != branch);
        }
        self.reg.cseq += 1;
        let aor = self.aor_name_addr();
        let uri = SipUri::from_str(&format!("sip:{}", self.cfg.domain)).unwrap_or_else(|_| {
            // The domain was validated when the config was built; fall back to a literal.
            SipUri::from_str("sip:invalid.invalid").expect("literal URI parses")
        });
        let from = format!("{aor};tag={}", self.ids.tag());
        let call_id = self.reg.call_id.clone();
        let mut req = self.new_request(
            Method::REGISTER,
            uri,
            &from,
            &aor,
            &call_id,
            self.reg.cseq,
            &[],
        );
        let expires = if unregister { 0 } else { self.reg.expires };
        req.headers.insert(
            Name::CONTACT,
            format!(
                "<{}>;+sip.instance=\"<{}>\";reg-id=1;expires={expires}",
                self.contact_uri(),
                self.cfg.instance_id
            ),
        );
        req.headers.insert(Name::EXPIRES, expires.to_string());
        req.headers.insert(Name::SUPPORTED, "path, outbound, gruu");
        req.headers.insert(Name::ALLOW, ALLOW);
        self.reg.auth.authorize(&mut req);
        let branch = self.resend_client(now, req, Owner::Register, challenges);
        self.reg.state = RegState::Pending {
            branch,
            unregister,
            raises,
        };
    }

    pub(super) fn on_register_result(&mut self, now: Instant, sent: Option<Sent>, ev: ClientEvent) {
        let RegState::Pending {
            unregister, raises, ..
        } = self.reg.state
        else {
            return;
        };
        let resp = match ev {
            ClientEvent::Timeout => {
                return self.registration_failed(
                    now,
                    SipError::Timeout,
                    Some(StatusCode::REQUEST_TIMEOUT),
                    true,
                )
            }
            ClientEvent::Response(r) if !r.code().is_final() => return,
            ClientEvent::Response(r) => r,
        };
        let code = resp.code();
        match code.as_u16() {
            200..=299 if unregister => {
                self.reg.state = RegState::Idle;
                self.events.push_back(UaEvent::Unregistered);
            }
            200..=299 => {
                let expires =
                    registration::granted_expires(&resp, &self.via_host, self.reg.expires);
                if expires == 0 {
                    return self.registration_failed(
                        now,
                        SipError::Rejected(code),
                        Some(code),
                        true,
                    );
                }
                self.reg.failures = 0;
                self.reg.state = RegState::Registered {
                    refresh_at: now + registration::refresh_delay(expires),
                };
                self.events.push_back(UaEvent::Registered { expires });
            }
            401 | 407 => {
                let Some(Sent {
                    req,
                    mut challenges,
                }) = sent
                else {
                    return;
                };
                match self.reg.auth.handle_challenge(&req, &resp, &mut challenges) {
                    Challenge::Retry => self.resend_register(now, unregister, challenges, raises),
                    // A server stuck on stale nonces may recover: try again after the back-off.
                    Challenge::Loop => {
                        self.registration_failed(now, SipError::AuthLoop, Some(code), true)
                    }
                    // Wrong password or a scheme we can't do: retrying can't help, and
                    // repeated failures get an account banned.
                    verdict => {
                        self.registration_failed(now, challenge_error(verdict), Some(code), false)
                    }
                }
            }
            // RFC 3261 §10.2.8: ask again with the Min-Expires, a few times, within reason.
            423 => match registration::min_expires(&resp) {
                Some(min)
                    if !unregister
                        && min > self.reg.expires
                        && min <= registration::MAX_MIN_EXPIRES
                        && raises < registration::MAX_RAISES =>
                {
                    self.reg.expires = min;
                    let challenges = sent.map(|s| s.challenges).unwrap_or_default();
                    self.resend_register(now, false, challenges, raises + 1);
                }
                _ => self.registration_failed(now, SipError::IntervalTooBrief, Some(code), false),
            },
            _ => {
                let transient = code.as_u16() >= 500 || code == StatusCode::REQUEST_TIMEOUT;
                self.registration_failed(now, SipError::Rejected(code), Some(code), transient)
            }
        }
    }

    /// The attempt failed; with `retry`, another one follows after the back-off.
    pub(super) fn registration_failed(
        &mut self,
        now: Instant,
        error: SipError,
        status: Option<StatusCode>,
        retry: bool,
    ) {
        let unregistering = matches!(
            self.reg.state,
            RegState::Pending {
                unregister: true,
                ..
            }
        );
        self.reg.failures = self.reg.failures.saturating_add(1);
        let retry_at = (retry && self.want_registered)
            .then(|| now + registration::retry_delay(self.reg.failures, self.ids.next()));
        self.reg.state = RegState::Failed { retry_at };
        if unregistering {
            // An unregister that fails still ends our interest in the binding.
            self.events.push_back(UaEvent::Unregistered);
        } else {
            self.events
                .push_back(UaEvent::RegistrationFailed { error, status });
        }
    }
}
