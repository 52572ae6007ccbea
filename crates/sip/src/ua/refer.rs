//! Blind transfer (RFC 3515 REFER, RFC 3892 Referred-By) inside a confirmed INVITE session.
//! As transferor we REFER the far end and follow the `message/sipfrag` NOTIFYs of the
//! subscription that creates (RFC 3515 §2.4.4-§2.4.5, RFC 6665); as transferee we accept a
//! REFER, our owner places the new call, and we report its outcome in NOTIFYs.

use super::*;

/// Subscription lifetime we grant as notifier, and assume as subscriber when a NOTIFY
/// doesn't say (RFC 3515 leaves it to the notifier).
const SUBSCRIPTION_SECS: u64 = 60;

/// Longest subscription a NOTIFY may ask us to keep waiting for (the far end's `expires` is
/// any number: unclamped, `now + expires` overflows). A day is far past any transfer.
const MAX_SUBSCRIPTION_SECS: u64 = 24 * 60 * 60;

/// How long after its stated expiry we keep waiting for a subscription's final NOTIFY.
const SUBSCRIPTION_GRACE: Duration = Duration::from_secs(32);

/// Our REFER and the implicit subscription it creates (RFC 3515 §2.4.4).
#[derive(Debug, Default)]
pub(super) enum Transfer {
    #[default]
    Idle,
    /// The REFER with CSeq number `id` is in flight (its NOTIFYs may overtake its 202).
    Referring { id: u32 },
    /// Accepted: NOTIFYs report the new call until one is final or `expires_at` passes.
    Subscribed { id: u32, expires_at: Instant },
}

/// The far end's REFER, which we serve as notifier (RFC 3515 §2.4.4).
#[derive(Debug, Default)]
pub(super) enum Referred {
    #[default]
    Idle,
    /// Accepted; our owner is placing the call. `id` is the REFER's CSeq number.
    Pending { id: u32 },
}

/// RFC 3892's header, unknown to ezk.
fn referred_by() -> Name {
    Name::from("Referred-By")
}

/// The status of a `message/sipfrag` body's start line (RFC 3420, RFC 3515 §2.4.5):
/// `SIP/2.0 180 Ringing` gives 180. `None` for anything else, including an empty body.
pub(super) fn sipfrag_status(body: &[u8]) -> Option<StatusCode> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let body = &body[start..];
    let end = body.iter().position(|b| *b == b'\n').unwrap_or(body.len());
    let line = std::str::from_utf8(&body[..end]).ok()?.trim_end();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let (code, reason) = rest.split_at_checked(3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || !(reason.is_empty() || reason.starts_with(' '))
    {
        return None;
    }
    code.parse::<u16>()
        .ok()
        .filter(|c| (100..=699).contains(c))
        .map(StatusCode::new)
}

/// The URI of a Refer-To value (`<sip:x@y>`, `"X" <sip:x@y>;p=1`, `sip:x@y`), as text.
fn refer_to_uri(value: &str) -> Option<String> {
    let v = value.trim();
    let uri = match (v.find('<'), v.rfind('>')) {
        (Some(start), Some(end)) if start < end => &v[start + 1..end],
        (None, None) => v.split(';').next().unwrap_or_default(),
        _ => return None,
    };
    let uri = uri.trim();
    (!uri.is_empty() && uri.contains(':') && !uri.contains(char::is_whitespace))
        .then(|| uri.to_owned())
}

/// Event package and `id` parameter of an Event value (RFC 6665 §8.2.1): `refer;id=93`.
fn event_package(value: &str) -> (&str, Option<&str>) {
    let mut parts = value.split(';');
    let package = parts.next().unwrap_or_default().trim();
    let id = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("id").then(|| v.trim())
    });
    (package, id)
}

/// Whether a Subscription-State value says terminated, and its `expires` if any.
fn subscription_state(value: &str) -> (bool, Option<u64>) {
    let mut parts = value.split(';');
    let state = parts.next().unwrap_or_default().trim();
    let expires = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("expires")
            .then(|| v.trim().parse().ok())
            .flatten()
    });
    (state.eq_ignore_ascii_case("terminated"), expires)
}

/// What one NOTIFY tells us about our transfer.
enum Report {
    Progress(StatusCode),
    Success,
    Failure(StatusCode),
    Nothing,
}

impl UserAgent {
    /// Blind transfer: asks the far end to call `target` (resolved like
    /// [`UserAgent::invite`]'s) in our place. [`UaEvent::TransferProgress`] may follow, then
    /// [`UaEvent::Transferred`] (and the call ends with [`EndReason::Transferred`]) or
    /// [`UaEvent::TransferFailed`] (and the call stays up).
    pub fn refer(&mut self, now: Instant, handle: CallHandle, target: &str) -> Result<(), UaError> {
        let uri = self.target_uri(target)?;
        self.send_refer(
            now,
            handle,
            format!("<{}>", uri_string(&uri, &Method::INVITE)),
        )
    }

    /// Attended transfer (RFC 5589 §7): asks the far end of `handle` to call the far end of
    /// `other` with a Replaces header naming `other`'s dialog (RFC 3891), so the two are
    /// connected and both our calls end. Events as for [`UserAgent::refer`].
    pub fn refer_replacing(
        &mut self,
        now: Instant,
        handle: CallHandle,
        other: CallHandle,
    ) -> Result<(), UaError> {
        if handle == other {
            return Err(UaError::InvalidState);
        }
        let idx = self.call_index(other)?;
        let Some(dialog) = self.calls[idx].confirmed_dialog() else {
            return Err(UaError::InvalidState);
        };
        let refer_to = super::replaces::refer_to(dialog);
        self.send_refer(now, handle, refer_to)
    }

    fn send_refer(
        &mut self,
        now: Instant,
        handle: CallHandle,
        refer_to: String,
    ) -> Result<(), UaError> {
        let idx = self.call_index(handle)?;
        match &self.calls[idx].state {
            CallState::Confirmed {
                transfer: Transfer::Idle,
                ..
            } => {}
            // Another transfer, or our 2xx still awaiting its ACK.
            CallState::Confirmed { .. } | CallState::Answering { .. } => {
                return Err(UaError::Pending)
            }
            _ => return Err(UaError::InvalidState),
        }
        let Some(dialog) = self.calls[idx].next_request_dialog() else {
            return Err(UaError::InvalidState);
        };
        let id = dialog.local_seq;
        let mut req = self.dialog_request(&dialog, Method::REFER, id);
        req.headers.insert(Name::REFER_TO, refer_to);
        req.headers.insert(referred_by(), self.aor_name_addr());
        if let CallState::Confirmed { transfer, .. } = &mut self.calls[idx].state {
            *transfer = Transfer::Referring { id };
        }
        self.send_client(now, req, Owner::Refer(handle));
        Ok(())
    }

    /// Reports the outcome of the call placed for the far end's REFER
    /// ([`UaEvent::TransferRequested`]) in a NOTIFY: 1xx as progress, 200-699 as the end of
    /// the subscription. A status outside 100-699 is reported as 500.
    pub fn transfer_result(
        &mut self,
        now: Instant,
        handle: CallHandle,
        status: StatusCode,
    ) -> Result<(), UaError> {
        let idx = self.call_index(handle)?;
        let CallState::Confirmed { referred, .. } = &mut self.calls[idx].state else {
            return Err(UaError::InvalidState);
        };
        let Referred::Pending { id } = *referred else {
            return Err(UaError::InvalidState);
        };
        let status = if status.class().is_some() {
            status
        } else {
            StatusCode::SERVER_INTERNAL_ERROR
        };
        if status.is_final() {
            *referred = Referred::Idle;
        }
        self.send_refer_notify(now, idx, id, status);
        Ok(())
    }

    /// NOTIFY for the subscription of the REFER with CSeq `id` (RFC 3515 §2.4.4, §2.4.5).
    fn send_refer_notify(&mut self, now: Instant, idx: usize, id: u32, status: StatusCode) {
        let Some(dialog) = self.calls[idx].next_request_dialog() else {
            return;
        };
        let mut req = self.dialog_request(&dialog, Method::NOTIFY, dialog.local_seq);
        // The id is optional for a dialog's first REFER and required after (RFC 3515
        // §2.4.6); always sending it is always right.
        req.headers.insert(Name::EVENT, format!("refer;id={id}"));
        let state = if status.is_final() {
            "terminated;reason=noresource".to_owned()
        } else {
            format!("active;expires={SUBSCRIPTION_SECS}")
        };
        req.headers.insert(Name::SUBSCRIPTION_STATE, state);
        req.headers
            .insert(Name::CONTENT_TYPE, "message/sipfrag;version=2.0");
        req.body = format!("SIP/2.0 {status} {}\r\n", message::reason_phrase(status)).into();
        let handle = self.calls[idx].handle;
        self.send_client(now, req, Owner::Notify(handle));
    }

    pub(super) fn on_refer_result(
        &mut self,
        now: Instant,
        h: CallHandle,
        sent: Option<Sent>,
        ev: ClientEvent,
    ) {
        let resp = match ev {
            ClientEvent::Response(r) if !r.code().is_final() => return,
            ClientEvent::Response(r) => Some(r),
            ClientEvent::Timeout => None,
        };
        let code = resp
            .as_ref()
            .map_or(StatusCode::REQUEST_TIMEOUT, Response::code);
        let seq = sent.as_ref().and_then(|s| s.req.cseq()).map(|c| c.cseq);
        let Ok(idx) = self.call_index(h) else { return };
        let CallState::Confirmed { transfer, .. } = &mut self.calls[idx].state else {
            return;
        };
        let current = match transfer {
            Transfer::Referring { id } | Transfer::Subscribed { id, .. } => *id,
            Transfer::Idle => return,
        };
        if seq.is_some_and(|s| s != current) {
            return; // about a REFER we already gave up on
        }
        if code.is_success() {
            if let Transfer::Referring { id } = *transfer {
                *transfer = Transfer::Subscribed {
                    id,
                    expires_at: now + Duration::from_secs(SUBSCRIPTION_SECS) + SUBSCRIPTION_GRACE,
                };
            }
            return;
        }
        let mut error = None;
        if let (Some(resp), Some(sent), true) = (&resp, sent, is_auth_challenge(code)) {
            match self.retry_authorized(now, h, sent, resp, Owner::Refer(h)) {
                Ok(id) => {
                    if let CallState::Confirmed { transfer, .. } = &mut self.calls[idx].state {
                        *transfer = Transfer::Referring { id };
                    }
                    return;
                }
                Err(verdict) => error = Some(challenge_error(verdict)),
            }
        }
        if let CallState::Confirmed { transfer, .. } = &mut self.calls[idx].state {
            *transfer = Transfer::Idle;
        }
        self.events.push_back(UaEvent::TransferFailed {
            call: h,
            status: code,
            error,
        });
    }

    /// The far end's subscription outlived its expiry without a final NOTIFY.
    pub(super) fn transfer_lapsed(&mut self, h: CallHandle) {
        let Ok(idx) = self.call_index(h) else { return };
        let CallState::Confirmed { transfer, .. } = &mut self.calls[idx].state else {
            return;
        };
        *transfer = Transfer::Idle;
        self.events.push_back(UaEvent::TransferFailed {
            call: h,
            status: StatusCode::REQUEST_TIMEOUT,
            error: None,
        });
    }

    /// A NOTIFY in the dialog of call `idx`: progress of our REFER, or 481.
    pub(super) fn on_notify(&mut self, now: Instant, idx: usize, req: Request) {
        let h = self.calls[idx].handle;
        let (package, event_id) = event_package(req.raw(&Name::EVENT).unwrap_or_default());
        let CallState::Confirmed { transfer, .. } = &mut self.calls[idx].state else {
            return self.reply(now, &req, StatusCode::CALL_DOES_NOT_EXIST, &[]);
        };
        let ours = match transfer {
            Transfer::Referring { id } | Transfer::Subscribed { id, .. } => Some(*id),
            Transfer::Idle => None,
        };
        let matches = package.eq_ignore_ascii_case("refer")
            && ours.is_some_and(|id| event_id.is_none_or(|e| e == id.to_string()));
        let Some(id) = ours.filter(|_| matches) else {
            return self.reply(now, &req, StatusCode::CALL_DOES_NOT_EXIST, &[]); // no such subscription (RFC 6665 §4.1.3)
        };
        let (terminated, expires) =
            subscription_state(req.raw(&Name::SUBSCRIPTION_STATE).unwrap_or_default());
        let report = match sipfrag_status(&req.body) {
            Some(s) if s.is_success() => Report::Success,
            Some(s) if s.is_failure() => Report::Failure(s),
            // The subscription ended without telling us how the call went (RFC 3515
            // §2.4.7): 487 Request Terminated.
            Some(_) if terminated => Report::Failure(StatusCode::REQUEST_TERMINATED),
            Some(s) => Report::Progress(s),
            None if terminated && req.body.is_empty() => {
                Report::Failure(StatusCode::REQUEST_TERMINATED)
            }
            // An ending report we can't read: the transfer didn't visibly succeed.
            None if terminated => Report::Failure(StatusCode::SERVER_INTERNAL_ERROR),
            None => Report::Nothing,
        };
        match report {
            Report::Progress(_) | Report::Nothing => {
                let secs = expires
                    .unwrap_or(SUBSCRIPTION_SECS)
                    .clamp(1, MAX_SUBSCRIPTION_SECS);
                *transfer = Transfer::Subscribed {
                    id,
                    expires_at: now + Duration::from_secs(secs) + SUBSCRIPTION_GRACE,
                };
            }
            Report::Success | Report::Failure(_) => *transfer = Transfer::Idle,
        }
        self.reply(now, &req, StatusCode::OK, &[]);
        match report {
            Report::Progress(status) => self
                .events
                .push_back(UaEvent::TransferProgress { call: h, status }),
            Report::Failure(status) => self.events.push_back(UaEvent::TransferFailed {
                call: h,
                status,
                error: None,
            }),
            Report::Success => {
                self.events.push_back(UaEvent::Transferred { call: h });
                // RFC 5589 §6: the transferor hangs up once the transfer succeeded.
                self.send_bye(now, h, EndReason::Transferred);
            }
            Report::Nothing => {}
        }
    }

    pub(super) fn on_notify_result(
        &mut self,
        now: Instant,
        h: CallHandle,
        sent: Option<Sent>,
        ev: ClientEvent,
    ) {
        let ClientEvent::Response(resp) = ev else {
            return tracing::debug!(call = %h, "NOTIFY timed out");
        };
        if let (Some(sent), true) = (sent, is_auth_challenge(resp.code())) {
            if let Err(verdict) = self.retry_authorized(now, h, sent, &resp, Owner::Notify(h)) {
                tracing::info!(call = %h, ?verdict, "NOTIFY challenge not answered");
            }
        }
    }

    /// A REFER in the confirmed dialog of call `idx` (RFC 3515 §2.4.2).
    pub(super) fn on_refer(&mut self, now: Instant, idx: usize, req: Request) {
        let mut values = req.headers.get_raw(&Name::REFER_TO);
        let target = match (values.next(), values.next()) {
            (Some(one), None) => refer_to_uri(one.as_str()),
            _ => None,
        };
        // RFC 3515 §2.4.1: exactly one Refer-To.
        let Some(target) = target else {
            return self.reply(now, &req, StatusCode::BAD_REQUEST, &[]);
        };
        let CallState::Confirmed { referred, .. } = &mut self.calls[idx].state else {
            return self.reply(now, &req, StatusCode::CALL_DOES_NOT_EXIST, &[]);
        };
        if matches!(referred, Referred::Pending { .. }) {
            // One transfer at a time: the far end may try again once ours reported.
            return self.reply(now, &req, StatusCode::REQUEST_PENDING, &[]);
        }
        let id = req.cseq().map_or(0, |c| c.cseq);
        *referred = Referred::Pending { id };
        let handle = self.calls[idx].handle;
        let contact = self.dialog_contact();
        self.reply(now, &req, StatusCode::ACCEPTED, &[(Name::CONTACT, contact)]);
        self.send_refer_notify(now, idx, id, StatusCode::TRYING);
        self.events.push_back(UaEvent::TransferRequested {
            call: handle,
            target,
        });
    }
}
