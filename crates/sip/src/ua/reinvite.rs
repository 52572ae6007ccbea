//! Re-INVITEs in a confirmed INVITE session (RFC 3261 §14): ours, with the 491 back-off of
//! §14.1, and the far end's, which our owner answers. Hold and resume ride on these; the SDP
//! itself (`a=sendonly`, `a=recvonly`...) is the owner's business.

use super::*;

/// How long our owner may take to answer the far end's re-INVITE before the UA answers 500.
pub(super) const REOFFER_TIMEOUT: Duration = Duration::from_secs(32);

/// Our re-INVITE (RFC 3261 §14.1).
#[derive(Debug, Default)]
pub(super) enum Reinvite {
    #[default]
    Idle,
    /// In flight with `offer`; `retried` once it is the retry after a 491.
    Sent { offer: Bytes, retried: bool },
    /// A 491 came back: send `offer` again at `at` (or once the far end's re-INVITE is done).
    Backoff { offer: Bytes, at: Instant },
}

/// The far end's re-INVITE (RFC 3261 §14.2).
#[derive(Debug, Default)]
pub(super) enum Reoffer {
    #[default]
    Idle,
    /// Waiting for our owner's answer in server transaction `branch`.
    Offered {
        branch: Branch,
        invite: Box<Request>,
        give_up_at: Instant,
    },
    /// We sent 2xx to the re-INVITE with CSeq `cseq` and wait for its ACK, which carries the
    /// far end's answer when the re-INVITE was `offerless`.
    Answered {
        cseq: u32,
        offerless: bool,
        unacked: Unacked,
    },
}

impl UserAgent {
    /// Sends a re-INVITE with a new offer (hold: `a=sendonly`, resume: `a=sendrecv`).
    /// [`UaError::Pending`] while another INVITE of the call is in progress, either way.
    /// [`UaEvent::ReinviteAnswered`] or [`UaEvent::ReinviteFailed`] follows, or the call ends
    /// if the far end lost the dialog (481) or never answers (408, then BYE).
    pub fn reinvite(
        &mut self,
        now: Instant,
        handle: CallHandle,
        sdp: Bytes,
    ) -> Result<(), UaError> {
        let idx = self.call_index(handle)?;
        let (reinvite, reoffer) = match &self.calls[idx].state {
            CallState::Confirmed {
                reinvite, reoffer, ..
            } => (reinvite, reoffer),
            // Our 2xx awaits its ACK: the first INVITE is still in progress.
            CallState::Answering { .. } => return Err(UaError::Pending),
            _ => return Err(UaError::InvalidState),
        };
        // RFC 3261 §14.1: no new INVITE while another is in progress in either direction.
        if !matches!(reinvite, Reinvite::Idle) || !matches!(reoffer, Reoffer::Idle) {
            return Err(UaError::Pending);
        }
        self.send_reinvite(now, idx, sdp, false);
        Ok(())
    }

    /// Answers the far end's re-INVITE ([`UaEvent::Reoffer`]) with 200 and our SDP: the
    /// answer to its offer, or our offer when it sent none.
    pub fn answer_reoffer(
        &mut self,
        now: Instant,
        handle: CallHandle,
        sdp: Bytes,
    ) -> Result<(), UaError> {
        let contact = self.dialog_contact();
        let idx = self.call_index(handle)?;
        let call = &mut self.calls[idx];
        let CallState::Confirmed { reoffer, .. } = &mut call.state else {
            return Err(UaError::InvalidState);
        };
        let Reoffer::Offered { branch, invite, .. } = reoffer else {
            return Err(UaError::InvalidState);
        };
        let mut ok = Response::to_request(&invite.method, &invite.headers, StatusCode::OK, None);
        ok.headers.insert(Name::CONTACT, contact);
        ok.headers.insert(Name::ALLOW, ALLOW);
        ok.headers.insert(Name::SUPPORTED, "outbound, replaces");
        if !sdp.is_empty() {
            ok.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        }
        ok.body = sdp.clone();
        let branch = branch.clone();
        *reoffer = Reoffer::Answered {
            cseq: invite.cseq().map_or(0, |c| c.cseq),
            offerless: invite.body.is_empty(),
            unacked: Unacked::new(now, ok.to_bytes()),
        };
        call.local_sdp = sdp;
        self.respond_server(now, &branch, &ok);
        Ok(())
    }

    /// Refuses the far end's re-INVITE (488 Not Acceptable Here, ...); the call stays up
    /// with the media it had. Codes outside 300-699 become 488.
    pub fn reject_reoffer(
        &mut self,
        now: Instant,
        handle: CallHandle,
        code: StatusCode,
    ) -> Result<(), UaError> {
        let idx = self.call_index(handle)?;
        let CallState::Confirmed { reoffer, .. } = &mut self.calls[idx].state else {
            return Err(UaError::InvalidState);
        };
        if !matches!(reoffer, Reoffer::Offered { .. }) {
            return Err(UaError::InvalidState);
        }
        let Reoffer::Offered { branch, invite, .. } = std::mem::take(reoffer) else {
            unreachable!("matched Offered just above")
        };
        let code = if code.is_failure() {
            code
        } else {
            StatusCode::NOT_ACCEPTABLE_HERE
        };
        let resp = Response::to_request(&invite.method, &invite.headers, code, None);
        self.respond_server(now, &branch, &resp);
        Ok(())
    }

    /// Our current SDP for the call: the last offer or answer of ours the far end accepted.
    pub fn local_sdp(&self, handle: CallHandle) -> Option<&Bytes> {
        let idx = self.call_index(handle).ok()?;
        Some(&self.calls[idx].local_sdp)
    }

    fn send_reinvite(&mut self, now: Instant, idx: usize, offer: Bytes, retried: bool) {
        let Some(dialog) = self.calls[idx].next_request_dialog() else {
            return;
        };
        // No credentials up front, as for BYE: a challenge gets a fresh answer.
        let mut req = self.dialog_request(&dialog, Method::INVITE, dialog.local_seq);
        req.headers.insert(Name::ALLOW, ALLOW);
        req.headers.insert(Name::SUPPORTED, "outbound, replaces");
        req.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        req.body = offer.clone();
        let handle = self.calls[idx].handle;
        if let CallState::Confirmed { reinvite, .. } = &mut self.calls[idx].state {
            *reinvite = Reinvite::Sent { offer, retried };
        }
        self.send_client(now, req, Owner::Reinvite(handle));
    }

    /// The back-off after a 491 is over and no re-INVITE of the far end's is under way.
    pub(super) fn retry_reinvite(&mut self, now: Instant, h: CallHandle) {
        let Ok(idx) = self.call_index(h) else { return };
        let CallState::Confirmed { reinvite, .. } = &mut self.calls[idx].state else {
            return;
        };
        if let Reinvite::Backoff { offer, .. } = std::mem::take(reinvite) {
            self.send_reinvite(now, idx, offer, true);
        }
    }

    pub(super) fn on_reinvite_result(
        &mut self,
        now: Instant,
        h: CallHandle,
        sent: Option<Sent>,
        ev: ClientEvent,
    ) {
        let resp = match ev {
            ClientEvent::Timeout => return self.reinvite_lost(now, h),
            ClientEvent::Response(r) => r,
        };
        match resp.code().as_u16() {
            100..=199 => {}
            200..=299 => {
                if let Some(sent) = sent {
                    self.ack_reinvite(&sent.req, resp, h);
                }
            }
            _ => self.reinvite_refused(now, h, sent, resp),
        }
    }

    /// RFC 3261 §13.2.2.4: every 2xx gets an ACK, a retransmitted one the same ACK again,
    /// even after we hung up.
    fn ack_reinvite(&mut self, req: &Request, resp: Response, h: CallHandle) {
        let cseq = req.cseq().map_or(0, |c| c.cseq);
        let idx = self.call_index(h).ok();
        if let Some(idx) = idx {
            if let CallState::Confirmed { ack: Some(ack), .. } = &self.calls[idx].state {
                if ack.cseq == cseq {
                    self.transmits.push_back(ack.wire.clone());
                    return;
                }
            }
        }
        let wire = self.ack_for_2xx(req);
        self.transmits.push_back(wire.clone());
        let Some(idx) = idx else { return };
        let call = &mut self.calls[idx];
        let CallState::Confirmed {
            dialog,
            ack,
            reinvite,
            ..
        } = &mut call.state
        else {
            return;
        };
        *ack = Some(Ack { cseq, wire });
        if let Reinvite::Sent { offer, .. } = std::mem::take(reinvite) {
            // A 2xx to a re-INVITE refreshes the remote target (RFC 3261 §12.2.1.2).
            if let Some(target) = contact_uri(&resp) {
                dialog.remote_target = target;
            }
            call.local_sdp = offer;
            self.events.push_back(UaEvent::ReinviteAnswered {
                call: h,
                sdp: resp.body,
            });
        }
    }

    /// The ACK for a 2xx to our in-dialog INVITE `invite` (RFC 3261 §13.2.2.4): its
    /// Request-URI, route set, From, To and Call-ID, CSeq number and credentials (§22.1).
    fn ack_for_2xx(&mut self, invite: &Request) -> Bytes {
        let routes: Vec<String> = invite
            .headers
            .get_raw(&Name::ROUTE)
            .map(|r| r.to_string())
            .collect();
        let from = invite.raw(&Name::FROM).unwrap_or_default().to_owned();
        let to = invite.raw(&Name::TO).unwrap_or_default().to_owned();
        let call_id = invite.call_id();
        let seq = invite.cseq().map_or(0, |c| c.cseq);
        let mut ack = self.new_request(
            Method::ACK,
            invite.uri.clone(),
            &from,
            &to,
            &call_id,
            seq,
            &routes,
        );
        for name in [Name::AUTHORIZATION, Name::PROXY_AUTHORIZATION] {
            for v in invite.headers.get_raw(&name) {
                ack.headers.insert(name.clone(), v.clone());
            }
        }
        self.stamp_via(&mut ack);
        ack.to_bytes()
    }

    fn reinvite_refused(
        &mut self,
        now: Instant,
        h: CallHandle,
        sent: Option<Sent>,
        resp: Response,
    ) {
        let code = resp.code();
        let mut error = None;
        let Ok(idx) = self.call_index(h) else { return };
        if !matches!(
            self.calls[idx].state,
            CallState::Confirmed {
                reinvite: Reinvite::Sent { .. },
                ..
            }
        ) {
            return;
        }
        match code.as_u16() {
            401 | 407 => {
                if let Some(sent) = sent {
                    match self.retry_authorized(now, h, sent, &resp, Owner::Reinvite(h)) {
                        Ok(_) => return,
                        Err(verdict) => error = Some(challenge_error(verdict)),
                    }
                }
            }
            // The far end no longer knows the dialog (RFC 3261 §12.2.1.2, RFC 5057 §5.1):
            // a BYE would get 481 too.
            481 => {
                return self.end(
                    h,
                    EndReason::Failed(SipError::DialogGone),
                    Some(StatusCode::CALL_DOES_NOT_EXIST),
                );
            }
            408 => return self.reinvite_lost(now, h),
            491 => {
                let owner = self.calls[idx].outgoing;
                let r = self.ids.next();
                let CallState::Confirmed { reinvite, .. } = &mut self.calls[idx].state else {
                    return;
                };
                if let Reinvite::Sent {
                    offer,
                    retried: false,
                } = std::mem::take(reinvite)
                {
                    // RFC 3261 §14.1, in units of 10 ms: the owner of the Call-ID waits
                    // 2.1-4 s, the other side 0-2 s, so the retries don't collide again.
                    let tens = if owner { 210 + r % 191 } else { r % 201 };
                    *reinvite = Reinvite::Backoff {
                        offer,
                        at: now + Duration::from_millis(tens * 10),
                    };
                    return;
                }
            }
            _ => {}
        }
        if let CallState::Confirmed { reinvite, .. } = &mut self.calls[idx].state {
            *reinvite = Reinvite::Idle;
        }
        self.events.push_back(UaEvent::ReinviteFailed {
            call: h,
            status: code,
            error,
        });
    }

    /// Our re-INVITE timed out or got 408: the dialog is presumed dead (RFC 3261 §12.2.1.2),
    /// so the session ends with a BYE.
    fn reinvite_lost(&mut self, now: Instant, h: CallHandle) {
        let Ok(idx) = self.call_index(h) else { return };
        let call = &mut self.calls[idx];
        let CallState::Confirmed { reinvite, .. } = &mut call.state else {
            return;
        };
        if !matches!(reinvite, Reinvite::Sent { .. }) {
            return;
        }
        *reinvite = Reinvite::Idle;
        call.last_status = Some(StatusCode::REQUEST_TIMEOUT);
        self.send_bye(now, h, EndReason::Failed(SipError::Timeout));
    }

    /// An INVITE in the confirmed dialog of call `idx` (its CSeq already checked).
    pub(super) fn on_reinvite(&mut self, now: Instant, idx: usize, req: Request) {
        let CallState::Confirmed {
            dialog,
            reinvite,
            reoffer,
            ..
        } = &mut self.calls[idx].state
        else {
            return self.reply(now, &req, StatusCode::REQUEST_PENDING, &[]);
        };
        if matches!(reinvite, Reinvite::Sent { .. }) {
            // Glare (RFC 3261 §14.2): both sides re-INVITEd; both back off and retry.
            return self.reply(now, &req, StatusCode::REQUEST_PENDING, &[]);
        }
        match reoffer {
            Reoffer::Offered { .. } => {
                // RFC 3261 §14.2: a second INVITE before our final response to the first.
                let secs = self.ids.next() % 11;
                return self.reply(
                    now,
                    &req,
                    StatusCode::SERVER_INTERNAL_ERROR,
                    &[(Name::RETRY_AFTER, secs.to_string())],
                );
            }
            // Its offerless exchange waits for the ACK's answer (RFC 6337 §3.1).
            Reoffer::Answered { .. } => {
                return self.reply(now, &req, StatusCode::REQUEST_PENDING, &[])
            }
            Reoffer::Idle => {}
        }
        // A re-INVITE refreshes the remote target (RFC 3261 §12.2.2).
        if let Some(target) = contact_uri(&req) {
            dialog.remote_target = target;
        }
        let branch = req.top_branch().unwrap_or_default();
        *reoffer = Reoffer::Offered {
            branch: branch.clone(),
            invite: Box::new(req.clone()),
            give_up_at: now + REOFFER_TIMEOUT,
        };
        let handle = self.calls[idx].handle;
        let mut tx = ServerTx::new(branch, req.clone(), self.cfg.transport.reliable());
        let mut out = Vec::new();
        tx.respond(
            now,
            &Response::to_request(&req.method, &req.headers, StatusCode::TRYING, None),
            &mut out,
        );
        self.transmits.extend(out);
        self.servers.push(tx);
        self.events.push_back(UaEvent::Reoffer {
            call: handle,
            sdp: req.body,
        });
    }

    /// An ACK in the confirmed dialog of call `idx`: for our 2xx to the far end's re-INVITE.
    pub(super) fn on_reoffer_ack(&mut self, idx: usize, ack: &Request) {
        let handle = self.calls[idx].handle;
        let CallState::Confirmed { reoffer, .. } = &mut self.calls[idx].state else {
            return;
        };
        let Reoffer::Answered {
            cseq, offerless, ..
        } = reoffer
        else {
            return;
        };
        if ack.cseq().is_none_or(|c| c.cseq != *cseq) {
            return;
        }
        let offerless = *offerless;
        *reoffer = Reoffer::Idle;
        if !offerless {
            return;
        }
        if ack.body.is_empty() {
            // RFC 3264 §4 would have the answer here; the media stays as it was.
            tracing::debug!(call = %handle, "ACK for an offerless re-INVITE without an answer");
            return;
        }
        self.events.push_back(UaEvent::RemoteSdp {
            call: handle,
            sdp: ack.body.clone(),
        });
    }

    /// The call is ending while the far end's re-INVITE awaits our answer: 487 it.
    pub(super) fn abandon_reoffer(&mut self, now: Instant, idx: usize) {
        let CallState::Confirmed { reoffer, .. } = &mut self.calls[idx].state else {
            return;
        };
        if let Reoffer::Offered { branch, invite, .. } = std::mem::take(reoffer) {
            let resp = Response::to_request(
                &invite.method,
                &invite.headers,
                StatusCode::REQUEST_TERMINATED,
                None,
            );
            self.respond_server(now, &branch, &resp);
        }
    }

    /// Our owner never answered the far end's re-INVITE: 500, and the call goes on.
    pub(super) fn reoffer_unanswered(&mut self, now: Instant, h: CallHandle) {
        let Ok(idx) = self.call_index(h) else { return };
        let CallState::Confirmed { reoffer, .. } = &mut self.calls[idx].state else {
            return;
        };
        if let Reoffer::Offered { branch, invite, .. } = std::mem::take(reoffer) {
            tracing::debug!(call = %h, "re-INVITE unanswered by the owner: 500");
            let resp = Response::to_request(
                &invite.method,
                &invite.headers,
                StatusCode::SERVER_INTERNAL_ERROR,
                None,
            );
            self.respond_server(now, &branch, &resp);
        }
    }
}
