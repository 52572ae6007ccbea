//! INVITE sessions (RFC 3261 §13-§15): placing, answering, cancelling and ending calls.

use super::*;

#[derive(Debug)]
pub(super) enum CancelState {
    None,
    /// Hung up before any provisional response: CANCEL goes out on the first one.
    Pending,
    Sent,
}

#[derive(Debug)]
pub(super) enum CallState {
    /// Our INVITE is in flight (transaction `branch`).
    Calling {
        branch: String,
        local_tag: String,
        cancel: CancelState,
        provisional: bool,
    },
    /// An INVITE arrived in server transaction `branch`; not answered yet.
    Incoming {
        branch: String,
        invite: Request,
        local_tag: String,
    },
    /// We sent 200 and wait for the ACK, retransmitting (RFC 3261 §13.3.1.4).
    Answering {
        dialog: Dialog,
        ok: Bytes,
        retransmit_at: Instant,
        interval: Duration,
        give_up_at: Instant,
    },
    Confirmed {
        dialog: Dialog,
        /// ACK for the 2xx, resent when the 2xx is retransmitted.
        ack: Option<Bytes>,
    },
    /// Our BYE is in flight.
    Terminating,
}

#[derive(Debug)]
pub(super) struct Call {
    pub(super) handle: CallHandle,
    pub(super) call_id: String,
    pub(super) state: CallState,
    pub(super) auth: Authenticator,
    pub(super) local_sdp: Bytes,
    /// Why we are ending it, reported when the BYE transaction ends.
    pub(super) ending: Option<EndReason>,
    pub(super) last_status: Option<u16>,
    pub(super) ended: bool,
}

impl UserAgent {
    /// Places a call to `target` (`user`, `user@host`, `sip:...` or `sips:...`) with an SDP offer.
    pub fn invite(
        &mut self,
        now: Instant,
        target: &str,
        offer: Bytes,
    ) -> Result<CallHandle, UaError> {
        let uri = self.target_uri(target)?;
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.ids.hex(10);
        let call_id = self.ids.hex(20);
        let from = format!("{};tag={local_tag}", self.aor_name_addr());
        let to = format!("<{}>", uri_string(&uri, &Method::INVITE));
        let mut req = self.new_request(Method::INVITE, uri, &from, &to, &call_id, 1, &[]);
        req.headers.insert(Name::CONTACT, self.dialog_contact());
        req.headers.insert(Name::ALLOW, ALLOW);
        req.headers.insert(Name::SUPPORTED, "outbound");
        req.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        req.body = offer.clone();
        let mut call = Call {
            handle,
            call_id,
            state: CallState::Calling {
                branch: String::new(),
                local_tag,
                cancel: CancelState::None,
                provisional: false,
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
            Response::to_request(&invite.method, &invite.headers, 180, Some(local_tag)),
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
        let mut ok = Response::to_request(&invite.method, &invite.headers, 200, Some(local_tag));
        ok.headers.insert(Name::CONTACT, contact);
        ok.headers.insert(Name::ALLOW, ALLOW);
        ok.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        ok.body = sdp.clone();
        let branch = branch.clone();
        call.local_sdp = sdp;
        let wire = ok.to_bytes();
        call.state = CallState::Answering {
            dialog,
            ok: wire,
            retransmit_at: now + T1,
            interval: T1,
            give_up_at: now + 64 * T1,
        };
        self.respond_server(now, &branch, &ok);
        self.events.push_back(UaEvent::Answered {
            call: handle,
            sdp: Bytes::new(),
        });
        Ok(())
    }

    /// Declines an incoming call (486 Busy Here, 603 Decline...).
    pub fn reject(&mut self, now: Instant, handle: CallHandle, code: u16) -> Result<(), UaError> {
        let call = self.call_mut(handle)?;
        let CallState::Incoming {
            branch,
            invite,
            local_tag,
        } = &call.state
        else {
            return Err(UaError::InvalidState);
        };
        let code = if (400..700).contains(&code) {
            code
        } else {
            603
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
            CallState::Incoming { .. } => self.reject(now, handle, 603),
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
        let Some((tx, _)) = self.clients.iter().find(|(t, _)| &t.branch == branch) else {
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
        self.clients.push((tx, Owner::Cancel));
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1).
    pub(super) fn dialog_request(
        &mut self,
        dialog: &mut Dialog,
        method: Method,
        seq: u32,
    ) -> Request {
        let routes = dialog.route_set.clone();
        let mut req = self.new_request(
            method,
            dialog.remote_target.clone(),
            &dialog.local,
            &dialog.remote,
            &dialog.call_id.clone(),
            seq,
            &routes,
        );
        if req.method == Method::INVITE {
            req.headers.insert(Name::CONTACT, self.dialog_contact());
        }
        req
    }

    pub(super) fn send_bye(&mut self, now: Instant, handle: CallHandle, reason: EndReason) {
        let Ok(idx) = self.call_index(handle) else {
            return;
        };
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
        let bye = self.dialog_request(&mut dialog, Method::BYE, seq);
        self.calls[idx].ending = Some(reason);
        self.send_client(now, bye, Owner::Bye(handle));
    }

    pub(super) fn on_invite_result(
        &mut self,
        now: Instant,
        h: CallHandle,
        req: Option<Request>,
        ev: ClientEvent,
    ) {
        let Ok(idx) = self.call_index(h) else { return };
        let resp = match ev {
            ClientEvent::Timeout => {
                if matches!(self.calls[idx].state, CallState::Calling { .. }) {
                    self.end(h, EndReason::Failed(SipError::Timeout), Some(408));
                }
                return;
            }
            ClientEvent::Response(r) => r,
        };
        let code = resp.code();
        self.calls[idx].last_status = Some(code);
        let call = &mut self.calls[idx];
        match (&mut call.state, code) {
            (
                CallState::Calling {
                    provisional,
                    cancel,
                    ..
                },
                100..=199,
            ) => {
                let first = !*provisional;
                *provisional = true;
                let cancel_now = first && matches!(cancel, CancelState::Pending);
                if code > 100 {
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
                let Some(req) = req else { return };
                let Some(mut dialog) = Dialog::as_uac(&req, &resp, local_tag) else {
                    // A 2xx we can't build a dialog from (no Contact or To tag): ACK is
                    // impossible to route; give up on the call.
                    self.end(h, EndReason::Failed(SipError::Malformed), Some(code));
                    return;
                };
                let seq = dialog.local_seq;
                let mut ack = self.dialog_request(&mut dialog, Method::ACK, seq);
                // RFC 3261 §22.1: the ACK for a 2xx carries the INVITE's credentials.
                for name in [Name::AUTHORIZATION, Name::PROXY_AUTHORIZATION] {
                    for v in req.headers.get_raw(&name) {
                        ack.headers.insert(name.clone(), v.clone());
                    }
                }
                let branch = format!("z9hG4bK{}", self.ids.hex(16));
                set_header(
                    &mut ack.headers,
                    Name::VIA,
                    format!(
                        "SIP/2.0/{} {};branch={branch}",
                        self.cfg.transport.via(),
                        self.via_host
                    ),
                );
                let wire = ack.to_bytes();
                self.transmits.push_back(wire.clone());
                let Ok(idx) = self.call_index(h) else { return };
                self.calls[idx].state = CallState::Confirmed {
                    dialog,
                    ack: Some(wire),
                };
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
            (CallState::Confirmed { ack, .. }, 200..=299) => {
                // 2xx retransmission: our ACK was lost.
                self.transmits.extend(ack.clone());
            }
            (
                CallState::Calling {
                    cancel: CancelState::None,
                    ..
                },
                401 | 407,
            ) => {
                let Some(req) = req else { return };
                match call.auth.handle_challenge(&req, &resp) {
                    Challenge::Retry => {
                        let mut invite = req;
                        bump_cseq(&mut invite);
                        call.auth.authorize(&mut invite);
                        let branch = self.send_client(now, invite, Owner::Invite(h));
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
                    Challenge::Rejected => {
                        self.end(h, EndReason::Failed(SipError::AuthFailed), Some(code))
                    }
                    Challenge::Unsupported(why) => self.end(
                        h,
                        EndReason::Failed(SipError::AuthUnsupported(why)),
                        Some(code),
                    ),
                }
            }
            (CallState::Calling { cancel, .. }, 300..=699) => {
                let reason = if code == 487 && !matches!(cancel, CancelState::None) {
                    EndReason::Cancelled
                } else {
                    EndReason::Rejected(code)
                };
                self.end(h, reason, Some(code));
            }
            _ => {}
        }
    }

    pub(super) fn on_ack(&mut self, now: Instant, req: &Request, branch: &str) {
        if let Some(tx) = self
            .servers
            .iter_mut()
            .find(|t| t.branch == branch && t.request.method == Method::INVITE && t.is_final())
        {
            tx.on_ack(now);
            return;
        }
        for call in &mut self.calls {
            if let CallState::Answering { dialog, .. } = &call.state {
                if dialog.matches(req) {
                    let CallState::Answering { dialog, .. } =
                        std::mem::replace(&mut call.state, CallState::Terminating)
                    else {
                        unreachable!("matched Answering just above")
                    };
                    call.state = CallState::Confirmed { dialog, ack: None };
                    return;
                }
            }
        }
    }

    pub(super) fn on_cancel(&mut self, now: Instant, req: &Request, branch: &str) {
        let pending = self.servers.iter().position(|t| {
            t.branch == branch && t.request.method == Method::INVITE && !t.is_final()
        });
        let Some(idx) = pending else {
            return self.reply(now, req, 481, &[]);
        };
        self.reply(now, req, 200, &[]);
        let invite_branch = self.servers[idx].branch.clone();
        let call = self.calls.iter().find_map(|c| match &c.state {
            CallState::Incoming {
                branch,
                invite,
                local_tag,
            } if *branch == invite_branch => Some((c.handle, invite.clone(), local_tag.clone())),
            _ => None,
        });
        if let Some((handle, invite, tag)) = call {
            let resp = Response::to_request(&invite.method, &invite.headers, 487, Some(&tag));
            self.respond_server(now, &invite_branch, &resp);
            self.end(handle, EndReason::RemoteCancelled, Some(487));
        }
    }

    pub(super) fn on_invite(&mut self, now: Instant, req: Request, branch: String) {
        if req.body.is_empty() {
            // Offerless INVITEs (late offer) are not supported yet.
            return self.reply(now, &req, 488, &[]);
        }
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.ids.hex(10);
        let mut tx = ServerTx::new(branch.clone(), req.clone(), self.cfg.transport.reliable());
        let mut out = Vec::new();
        tx.respond(
            now,
            &Response::to_request(&req.method, &req.headers, 100, None),
            &mut out,
        );
        self.transmits.extend(out);
        self.servers.push(tx);
        let from = req.raw(&Name::FROM).unwrap_or_default().to_owned();
        let offer = req.body.clone();
        self.calls.push(Call {
            handle,
            call_id: req.call_id().to_owned(),
            state: CallState::Incoming {
                branch,
                invite: req,
                local_tag,
            },
            auth: Authenticator::new(&self.cfg.credentials),
            local_sdp: Bytes::new(),
            ending: None,
            last_status: None,
            ended: false,
        });
        self.events.push_back(UaEvent::IncomingCall {
            call: handle,
            from,
            offer,
        });
    }

    pub(super) fn on_in_dialog(&mut self, now: Instant, req: Request) {
        let found = self.calls.iter_mut().find_map(|c| match &mut c.state {
            CallState::Answering { dialog, .. } | CallState::Confirmed { dialog, .. }
                if dialog.matches(&req) =>
            {
                Some((
                    c.handle,
                    dialog.accept_remote_seq(&req),
                    c.local_sdp.clone(),
                ))
            }
            _ => None,
        });
        let Some((handle, in_order, local_sdp)) = found else {
            return self.reply(now, &req, 481, &[]);
        };
        if !in_order {
            return self.reply(now, &req, 500, &[]);
        }
        match req.method {
            Method::BYE => {
                self.reply(now, &req, 200, &[]);
                self.end(handle, EndReason::RemoteHangup, None);
            }
            Method::INVITE => {
                // Session refresh or new offer: keep our media as it is (hold comes later).
                let mut extra = vec![(Name::CONTACT, self.dialog_contact())];
                extra.push((Name::CONTENT_TYPE, "application/sdp".into()));
                let mut resp = Response::to_request(&req.method, &req.headers, 200, None);
                for (n, v) in extra {
                    resp.headers.insert(n, v);
                }
                resp.body = local_sdp;
                let branch = req.top_branch().unwrap_or_default();
                let mut tx = ServerTx::new(branch, req.clone(), self.cfg.transport.reliable());
                let mut out = Vec::new();
                tx.respond(now, &resp, &mut out);
                self.transmits.extend(out);
                self.servers.push(tx);
                if !req.body.is_empty() {
                    self.events.push_back(UaEvent::RemoteSdp {
                        call: handle,
                        sdp: req.body,
                    });
                }
            }
            Method::OPTIONS | Method::INFO => self.reply(now, &req, 200, &options_headers()),
            _ => self.reply(now, &req, 501, &[(Name::ALLOW, ALLOW.into())]),
        }
    }

    pub(super) fn call_timers(&mut self, now: Instant) {
        let mut give_up = Vec::new();
        for call in &mut self.calls {
            if let CallState::Answering {
                ok,
                retransmit_at,
                interval,
                give_up_at,
                ..
            } = &mut call.state
            {
                if *give_up_at <= now {
                    give_up.push(call.handle);
                } else if *retransmit_at <= now {
                    self.transmits.push_back(ok.clone());
                    *interval = (*interval * 2).min(T2);
                    *retransmit_at = now + *interval;
                }
            }
        }
        for h in give_up {
            // RFC 3261 §13.3.1.4: no ACK in 64*T1 ends the session with a BYE.
            self.send_bye(now, h, EndReason::Failed(SipError::NoAck));
        }
    }

    pub(super) fn end(&mut self, handle: CallHandle, reason: EndReason, status: Option<u16>) {
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
