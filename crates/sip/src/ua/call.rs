//! INVITE sessions (RFC 3261 §13-§15): placing, answering, cancelling and ending calls.
//! Re-INVITEs live in `reinvite.rs`, transfers in `refer.rs`.

mod incoming;

use super::*;

#[derive(Debug)]
pub(super) enum CancelState {
    None,
    /// Hung up before any provisional response: CANCEL goes out on the first one.
    Pending,
    Sent,
}

/// Most early dialogs remembered per call (a forking proxy may create one per branch).
const MAX_EARLY: usize = 16;

#[derive(Debug)]
pub(super) enum CallState {
    /// Our INVITE is in flight (transaction `branch`).
    Calling {
        branch: Branch,
        local_tag: Tag,
        cancel: CancelState,
        provisional: bool,
        /// The far ends' tags of the early dialogs our 1xx created (RFC 3261 §12.1.2), for
        /// an INVITE with Replaces naming one (RFC 3891 §3). At most [`MAX_EARLY`].
        early: Vec<Tag>,
    },
    /// An INVITE arrived in server transaction `branch`; not answered yet.
    Incoming {
        branch: Branch,
        invite: Request,
        local_tag: Tag,
    },
    /// We sent 200 and wait for the ACK, retransmitting (RFC 3261 §13.3.1.4).
    Answering { dialog: Dialog, unacked: Unacked },
    Confirmed {
        dialog: Dialog,
        /// ACK for the latest 2xx to an INVITE of ours, resent when that 2xx comes again.
        ack: Option<Ack>,
        /// Our re-INVITE, if one is under way.
        reinvite: Reinvite,
        /// The far end's re-INVITE, if one is under way.
        reoffer: Reoffer,
        /// Our REFER and the subscription it created.
        transfer: Transfer,
        /// The far end's REFER, while our owner places the new call.
        referred: Referred,
    },
    /// Our BYE is in flight.
    Terminating,
}

impl CallState {
    /// A confirmed dialog with nothing else under way.
    pub(super) fn confirmed(dialog: Dialog, ack: Option<Ack>) -> Self {
        CallState::Confirmed {
            dialog,
            ack,
            reinvite: Reinvite::Idle,
            reoffer: Reoffer::Idle,
            transfer: Transfer::Idle,
            referred: Referred::Idle,
        }
    }
}

/// The ACK we sent for a 2xx to our INVITE with CSeq number `cseq`.
#[derive(Debug)]
pub(super) struct Ack {
    pub(super) cseq: u32,
    pub(super) wire: Bytes,
}

/// A 2xx to an INVITE, retransmitted until the ACK comes (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub(super) struct Unacked {
    ok: Bytes,
    retransmit_at: Instant,
    interval: Duration,
    give_up_at: Instant,
}

impl Unacked {
    pub(super) fn new(now: Instant, ok: Bytes) -> Self {
        Self {
            ok,
            retransmit_at: now + T1,
            interval: T1,
            give_up_at: now + 64 * T1,
        }
    }

    pub(super) fn next_timeout(&self) -> Instant {
        self.retransmit_at.min(self.give_up_at)
    }

    /// Retransmits into `out` when due; true once 64*T1 passed without an ACK.
    pub(super) fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> bool {
        if self.give_up_at <= now {
            return true;
        }
        if self.retransmit_at <= now {
            out.push(self.ok.clone());
            self.interval = (self.interval * 2).min(T2);
            self.retransmit_at = now + self.interval;
        }
        false
    }
}

#[derive(Debug)]
pub(super) struct Call {
    pub(super) handle: CallHandle,
    pub(super) call_id: SipCallId,
    /// We placed the call, so we own its Call-ID (the 491 back-off of RFC 3261 §14.1).
    pub(super) outgoing: bool,
    pub(super) state: CallState,
    pub(super) auth: Authenticator,
    pub(super) local_sdp: Bytes,
    /// Why we are ending it, reported when the BYE transaction ends.
    pub(super) ending: Option<EndReason>,
    pub(super) last_status: Option<StatusCode>,
    pub(super) ended: bool,
}

impl Call {
    /// The dialog once the call is confirmed (acknowledged both ways).
    pub(super) fn confirmed_dialog(&self) -> Option<&Dialog> {
        match &self.state {
            CallState::Confirmed { dialog, .. } => Some(dialog),
            _ => None,
        }
    }

    /// The dialog, once there is one to send requests in.
    pub(super) fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match &mut self.state {
            CallState::Answering { dialog, .. } | CallState::Confirmed { dialog, .. } => {
                Some(dialog)
            }
            _ => None,
        }
    }

    /// The confirmed dialog with its CSeq advanced for a new request (a copy to build it from).
    pub(super) fn next_request_dialog(&mut self) -> Option<Dialog> {
        let CallState::Confirmed { dialog, .. } = &mut self.state else {
            return None;
        };
        dialog.next_seq();
        Some(dialog.clone())
    }

    /// Answering becomes Confirmed: the ACK came, or a request only a confirmed dialog may
    /// carry proved that the far end has our 2xx (the ACK was lost or overtaken).
    pub(super) fn confirm(&mut self) {
        if let CallState::Answering { .. } = self.state {
            let CallState::Answering { dialog, .. } =
                std::mem::replace(&mut self.state, CallState::Terminating)
            else {
                unreachable!("matched Answering just above")
            };
            self.state = CallState::confirmed(dialog, None);
        }
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            CallState::Answering { unacked, .. } => Some(unacked.next_timeout()),
            CallState::Confirmed {
                reinvite,
                reoffer,
                transfer,
                ..
            } => {
                let reoffer_at = match reoffer {
                    Reoffer::Idle => None,
                    Reoffer::Offered { give_up_at, .. } => Some(*give_up_at),
                    Reoffer::Answered { unacked, .. } => Some(unacked.next_timeout()),
                };
                // A retry after 491 waits until the far end's re-INVITE is done.
                let retry_at = match (reinvite, reoffer) {
                    (Reinvite::Backoff { at, .. }, Reoffer::Idle) => Some(*at),
                    _ => None,
                };
                let transfer_at = match transfer {
                    Transfer::Subscribed { expires_at, .. } => Some(*expires_at),
                    _ => None,
                };
                [reoffer_at, retry_at, transfer_at]
                    .into_iter()
                    .flatten()
                    .min()
            }
            _ => None,
        }
    }
}

impl UserAgent {
    /// Places a call to `target` (`user`, `user@host`, `sip:...` or `sips:...`) with an SDP offer.
    pub fn invite(
        &mut self,
        now: Instant,
        target: &str,
        offer: Bytes,
    ) -> Result<CallHandle, UaError> {
        // A Refer-To of an attended transfer carries `?Replaces=...` (RFC 5589 §7): it becomes
        // the INVITE's Replaces header. Other URI headers are dropped, so a REFER can't make us
        // send headers of its choosing.
        let (target, replaces) = super::replaces::split_uri_headers(target);
        let uri = self.target_uri(target)?;
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.ids.tag();
        let call_id = self.ids.call_id();
        let from = format!("{};tag={local_tag}", self.aor_name_addr());
        let to = format!("<{}>", uri_string(&uri, &Method::INVITE));
        let mut req = self.new_request(Method::INVITE, uri, &from, &to, &call_id, 1, &[]);
        req.headers.insert(Name::CONTACT, self.dialog_contact());
        req.headers.insert(Name::ALLOW, ALLOW);
        req.headers.insert(Name::SUPPORTED, "outbound, replaces");
        req.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        if let Some(replaces) = replaces {
            req.headers.insert(Name::from("Replaces"), replaces);
        }
        req.body = offer.clone();
        let mut call = Call {
            handle,
            call_id,
            outgoing: true,
            state: CallState::Calling {
                branch: Branch::default(),
                local_tag,
                cancel: CancelState::None,
                provisional: false,
                early: Vec::new(),
            },
            auth: Authenticator::new(&self.cfg.credentials),
            local_sdp: offer,
            ending: None,
            last_status: None,
            ended: false,
        };
        let branch = self.send_client(now, req, Owner::Invite(handle));
        if let CallState::Calling { branch: b, .. } = &mut call.state {
            *b = branch;
        }
        self.calls.push(call);
        Ok(handle)
    }

    /// Sends 180 Ringing for an incoming call.
    pub fn ringing(&mut self, now: Instant, handle: CallHandle) -> Result<(), UaError> {
        let call = self.call_mut(handle)?;
        let CallState::Incoming {
            branch,
            invite,
            local_tag,
        } = &call.state
        else {
            return Err(UaError::InvalidState);
        };
        let (branch, mut resp) = (
            branch.clone(),
            Response::to_request(
                &invite.method,
                &invite.headers,
                StatusCode::RINGING,
                Some(local_tag),
            ),
        );
        resp.headers.insert(Name::CONTACT, self.dialog_contact());
        self.respond_server(now, &branch, &resp);
        Ok(())
    }

    /// Answers an incoming call with our SDP.
    pub fn answer(&mut self, now: Instant, handle: CallHandle, sdp: Bytes) -> Result<(), UaError> {
        let contact = self.dialog_contact();
        let seq = (self.ids.next() % 10_000) as u32 + 1;
        let call = self.call_mut(handle)?;
        let CallState::Incoming {
            branch,
            invite,
            local_tag,
        } = &call.state
        else {
            return Err(UaError::InvalidState);
        };
        let dialog = Dialog::as_uas(invite, local_tag, seq).ok_or(UaError::InvalidState)?;
        let mut ok = Response::to_request(
            &invite.method,
            &invite.headers,
            StatusCode::OK,
            Some(local_tag),
        );
        ok.headers.insert(Name::CONTACT, contact);
        ok.headers.insert(Name::ALLOW, ALLOW);
        ok.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        ok.body = sdp.clone();
        let branch = branch.clone();
        call.local_sdp = sdp;
        let wire = ok.to_bytes();
        call.state = CallState::Answering {
            dialog,
            unacked: Unacked::new(now, wire),
        };
        self.respond_server(now, &branch, &ok);
        self.events.push_back(UaEvent::Answered {
            call: handle,
            sdp: Bytes::new(),
        });
        Ok(())
    }

    /// Declines an incoming call (486 Busy Here, 603 Decline...).
    pub fn reject(
        &mut self,
        now: Instant,
        handle: CallHandle,
        code: StatusCode,
    ) -> Result<(), UaError> {
        let call = self.call_mut(handle)?;
        let CallState::Incoming {
            branch,
            invite,
            local_tag,
        } = &call.state
        else {
            return Err(UaError::InvalidState);
        };
        let code = if (400..700).contains(&code.as_u16()) {
            code
        } else {
            StatusCode::DECLINE
        };
        let resp = Response::to_request(&invite.method, &invite.headers, code, Some(local_tag));
        let branch = branch.clone();
        self.respond_server(now, &branch, &resp);
        self.end(handle, EndReason::Declined(code), Some(code));
        Ok(())
    }

    /// Ends a call whatever its state: CANCEL, decline with 603, or BYE.
    pub fn hangup(&mut self, now: Instant, handle: CallHandle) -> Result<(), UaError> {
        let idx = self.call_index(handle)?;
        match &mut self.calls[idx].state {
            CallState::Calling {
                cancel,
                provisional,
                ..
            } => {
                if !matches!(cancel, CancelState::None) {
                    return Ok(());
                }
                *cancel = CancelState::Pending;
                if *provisional {
                    self.send_cancel(now, handle);
                }
                Ok(())
            }
            CallState::Incoming { .. } => self.reject(now, handle, StatusCode::DECLINE),
            CallState::Answering { .. } | CallState::Confirmed { .. } => {
                self.send_bye(now, handle, EndReason::LocalHangup);
                Ok(())
            }
            CallState::Terminating => Ok(()),
        }
    }

    pub(super) fn send_cancel(&mut self, now: Instant, handle: CallHandle) {
        let Some(call) = self.calls.iter_mut().find(|c| c.handle == handle) else {
            return;
        };
        let CallState::Calling { branch, cancel, .. } = &mut call.state else {
            return;
        };
        *cancel = CancelState::Sent;
        let Some(Client { tx, .. }) = self.clients.iter().find(|c| &c.tx.branch == branch) else {
            return;
        };
        // RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number, top Via and Route.
        let inv = &tx.request;
        let mut headers = Headers::new();
        for name in [Name::VIA, Name::ROUTE, Name::FROM, Name::TO, Name::CALL_ID] {
            for v in inv
                .headers
                .get_raw(&name)
                .take(if name == Name::VIA { 1 } else { usize::MAX })
            {
                headers.insert(name.clone(), v.clone());
            }
        }
        let seq = inv.cseq().map_or(1, |c| c.cseq);
        headers.insert(Name::CSEQ, format!("{seq} CANCEL"));
        headers.insert(Name::MAX_FORWARDS, "70");
        let req = Request {
            method: Method::CANCEL,
            uri: inv.uri.clone(),
            headers,
            body: Bytes::new(),
        };
        let mut out = Vec::new();
        let branch = tx.branch.clone();
        let tx = ClientTx::start(now, branch, req, self.cfg.transport.reliable(), &mut out);
        self.transmits.extend(out);
        self.clients.push(Client {
            tx,
            owner: Owner::Cancel,
            challenges: ChallengeCount::default(),
        });
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1).
    pub(super) fn dialog_request(&mut self, dialog: &Dialog, method: Method, seq: u32) -> Request {
        let routes = dialog.route_set.clone();
        let mut req = self.new_request(
            method,
            dialog.remote_target.clone(),
            &dialog.local,
            &dialog.remote,
            &dialog.call_id,
            seq,
            &routes,
        );
        // Target refresh and subscription requests carry our Contact (RFC 3261 §12.2.1.1,
        // RFC 3515 §2.4.1 via RFC 6665 §4.2.1.1 for REFER, RFC 6665 §4.2.2.1 for NOTIFY).
        if matches!(req.method, Method::INVITE | Method::REFER | Method::NOTIFY) {
            req.headers.insert(Name::CONTACT, self.dialog_contact());
        }
        req
    }

    pub(super) fn send_bye(&mut self, now: Instant, handle: CallHandle, reason: EndReason) {
        let Ok(idx) = self.call_index(handle) else {
            return;
        };
        self.abandon_reoffer(now, idx);
        let state = std::mem::replace(&mut self.calls[idx].state, CallState::Terminating);
        let mut dialog = match state {
            CallState::Answering { dialog, .. } | CallState::Confirmed { dialog, .. } => dialog,
            other => {
                self.calls[idx].state = other;
                return;
            }
        };
        let seq = dialog.next_seq();
        // No credentials up front: the INVITE's digest is for INVITE, not BYE. A proxy that
        // challenges the BYE gets a fresh answer below (Owner::Bye).
        let bye = self.dialog_request(&dialog, Method::BYE, seq);
        self.calls[idx].ending = Some(reason);
        self.send_client(now, bye, Owner::Bye(handle));
    }

    pub(super) fn on_invite_result(
        &mut self,
        now: Instant,
        h: CallHandle,
        sent: Option<Sent>,
        ev: ClientEvent,
    ) {
        let Ok(idx) = self.call_index(h) else { return };
        let resp = match ev {
            ClientEvent::Timeout => {
                if matches!(self.calls[idx].state, CallState::Calling { .. }) {
                    self.end(
                        h,
                        EndReason::Failed(SipError::Timeout),
                        Some(StatusCode::REQUEST_TIMEOUT),
                    );
                }
                return;
            }
            ClientEvent::Response(r) => r,
        };
        let code = resp.code();
        self.calls[idx].last_status = Some(code);
        let call = &mut self.calls[idx];
        match (&mut call.state, code.as_u16()) {
            (
                CallState::Calling {
                    provisional,
                    cancel,
                    early,
                    ..
                },
                100..=199,
            ) => {
                let first = !*provisional;
                *provisional = true;
                if let Some(tag) = resp.header_to_tag() {
                    if !early.contains(&tag) && early.len() < MAX_EARLY {
                        early.push(tag);
                    }
                }
                let cancel_now = first && matches!(cancel, CancelState::Pending);
                if code != StatusCode::TRYING {
                    let sdp = (!resp.body.is_empty()).then(|| resp.body.clone());
                    self.events.push_back(UaEvent::Ringing {
                        call: h,
                        status: code,
                        sdp,
                    });
                }
                if cancel_now {
                    self.send_cancel(now, h);
                }
            }
            (
                CallState::Calling {
                    local_tag, cancel, ..
                },
                200..=299,
            ) => {
                let cancelled = !matches!(cancel, CancelState::None);
                let Some(Sent { req, .. }) = sent else { return };
                let Some(dialog) = Dialog::as_uac(&req, &resp, local_tag) else {
                    // A 2xx we can't build a dialog from (no Contact or To tag): ACK is
                    // impossible to route; give up on the call.
                    self.end(h, EndReason::Failed(SipError::Malformed), Some(code));
                    return;
                };
                let seq = dialog.local_seq;
                let mut ack = self.dialog_request(&dialog, Method::ACK, seq);
                // RFC 3261 §22.1: the ACK for a 2xx carries the INVITE's credentials.
                for name in [Name::AUTHORIZATION, Name::PROXY_AUTHORIZATION] {
                    for v in req.headers.get_raw(&name) {
                        ack.headers.insert(name.clone(), v.clone());
                    }
                }
                self.stamp_via(&mut ack);
                let wire = ack.to_bytes();
                self.transmits.push_back(wire.clone());
                let Ok(idx) = self.call_index(h) else { return };
                self.calls[idx].state = CallState::confirmed(dialog, Some(Ack { cseq: seq, wire }));
                if cancelled {
                    // CANCEL lost the race with 200 OK (RFC 3261 §9.1): end with BYE.
                    self.send_bye(now, h, EndReason::Cancelled);
                } else {
                    self.events.push_back(UaEvent::Answered {
                        call: h,
                        sdp: resp.body.clone(),
                    });
                }
            }
            (CallState::Confirmed { ack: Some(ack), .. }, 200..=299)
                if resp.cseq().is_some_and(|c| c.cseq == ack.cseq) =>
            {
                // 2xx retransmission: our ACK was lost.
                self.transmits.push_back(ack.wire.clone());
            }
            (
                CallState::Calling {
                    cancel: CancelState::None,
                    ..
                },
                401 | 407,
            ) => {
                let Some(Sent {
                    req,
                    mut challenges,
                }) = sent
                else {
                    return;
                };
                match call.auth.handle_challenge(&req, &resp, &mut challenges) {
                    Challenge::Retry => {
                        let mut invite = req;
                        bump_cseq(&mut invite);
                        call.auth.authorize(&mut invite);
                        let branch = self.resend_client(now, invite, Owner::Invite(h), challenges);
                        if let Ok(idx) = self.call_index(h) {
                            if let CallState::Calling {
                                branch: b,
                                provisional,
                                ..
                            } = &mut self.calls[idx].state
                            {
                                *b = branch;
                                *provisional = false;
                            }
                        }
                    }
                    verdict => self.end(h, EndReason::Failed(challenge_error(verdict)), Some(code)),
                }
            }
            (CallState::Calling { cancel, .. }, 300..=699) => {
                let reason = if code == StatusCode::REQUEST_TERMINATED
                    && !matches!(cancel, CancelState::None)
                {
                    EndReason::Cancelled
                } else {
                    EndReason::Rejected(code)
                };
                self.end(h, reason, Some(code));
            }
            _ => {}
        }
    }

    pub(super) fn call_timers(&mut self, now: Instant) {
        let mut out = Vec::new();
        let mut no_ack = Vec::new();
        let mut owner_silent = Vec::new();
        for call in &mut self.calls {
            let unacked = match &mut call.state {
                CallState::Answering { unacked, .. } => Some(unacked),
                CallState::Confirmed { reoffer, .. } => match reoffer {
                    Reoffer::Answered { unacked, .. } => Some(unacked),
                    Reoffer::Offered { give_up_at, .. } if *give_up_at <= now => {
                        owner_silent.push(call.handle);
                        None
                    }
                    _ => None,
                },
                _ => None,
            };
            if unacked.is_some_and(|u| u.on_timeout(now, &mut out)) {
                no_ack.push(call.handle);
            }
        }
        self.transmits.extend(out);
        for h in no_ack {
            // RFC 3261 §13.3.1.4: no ACK in 64*T1 ends the session with a BYE.
            self.send_bye(now, h, EndReason::Failed(SipError::NoAck));
        }
        for h in owner_silent {
            self.reoffer_unanswered(now, h);
        }
        // After the far end's re-INVITEs, whose end may free a retry of ours.
        let mut retries = Vec::new();
        let mut lapsed = Vec::new();
        for call in &self.calls {
            if let CallState::Confirmed {
                reinvite,
                reoffer,
                transfer,
                ..
            } = &call.state
            {
                if let (Reinvite::Backoff { at, .. }, Reoffer::Idle) = (reinvite, reoffer) {
                    if *at <= now {
                        retries.push(call.handle);
                    }
                }
                if let Transfer::Subscribed { expires_at, .. } = transfer {
                    if *expires_at <= now {
                        lapsed.push(call.handle);
                    }
                }
            }
        }
        for h in retries {
            self.retry_reinvite(now, h);
        }
        for h in lapsed {
            self.transfer_lapsed(h);
        }
    }

    pub(super) fn end(
        &mut self,
        handle: CallHandle,
        reason: EndReason,
        status: Option<StatusCode>,
    ) {
        if let Some(call) = self.calls.iter_mut().find(|c| c.handle == handle) {
            if call.ended {
                return;
            }
            call.ended = true;
            let status = status.or(call.last_status);
            tracing::debug!(call = %handle, call_id = %call.call_id.len(), "call ended");
            self.events.push_back(UaEvent::Ended {
                call: handle,
                reason,
                status,
            });
        }
    }

    pub(super) fn call_index(&self, handle: CallHandle) -> Result<usize, UaError> {
        self.calls
            .iter()
            .position(|c| c.handle == handle && !c.ended)
            .ok_or(UaError::NoSuchCall)
    }

    pub(super) fn call_mut(&mut self, handle: CallHandle) -> Result<&mut Call, UaError> {
        let idx = self.call_index(handle)?;
        Ok(&mut self.calls[idx])
    }
}
