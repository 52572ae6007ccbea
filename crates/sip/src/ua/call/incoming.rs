//! Requests that arrive for calls: a new INVITE (RFC 3261 §13.3), its CANCEL (§9.2) and ACK,
//! and in-dialog requests routed to their call (§12.2.2).

use super::*;

impl UserAgent {
    pub(in crate::ua) fn on_ack(&mut self, now: Instant, req: &Request, branch: &Branch) {
        if let Some(tx) = self
            .servers
            .iter_mut()
            .find(|t| t.branch == *branch && t.request.method == Method::INVITE && t.is_final())
        {
            tx.on_ack(now);
            return;
        }
        let Some(idx) = self
            .calls
            .iter_mut()
            .position(|c| c.dialog_mut().is_some_and(|d| d.matches(req)))
        else {
            return;
        };
        if let CallState::Answering { .. } = self.calls[idx].state {
            return self.calls[idx].confirm();
        }
        self.on_reoffer_ack(idx, req);
    }

    pub(in crate::ua) fn on_cancel(&mut self, now: Instant, req: &Request, branch: &Branch) {
        let pending = self.servers.iter().position(|t| {
            t.branch == *branch && t.request.method == Method::INVITE && !t.is_final()
        });
        let Some(idx) = pending else {
            return self.reply(now, req, StatusCode::CALL_DOES_NOT_EXIST, &[]);
        };
        self.reply(now, req, StatusCode::OK, &[]);
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
            let resp = Response::to_request(
                &invite.method,
                &invite.headers,
                StatusCode::REQUEST_TERMINATED,
                Some(&tag),
            );
            self.respond_server(now, &invite_branch, &resp);
            self.end(
                handle,
                EndReason::RemoteCancelled,
                Some(StatusCode::REQUEST_TERMINATED),
            );
            return;
        }
        // A cancelled re-INVITE ends with 487 and leaves the session as it was (§9.2).
        let reoffer = self.calls.iter().position(|c| {
            matches!(&c.state, CallState::Confirmed {
                reoffer: Reoffer::Offered { branch, .. },
                ..
            } if *branch == invite_branch)
        });
        if let Some(idx) = reoffer {
            self.abandon_reoffer(now, idx);
        }
    }

    pub(in crate::ua) fn on_invite(&mut self, now: Instant, req: Request, branch: Branch) {
        if req.body.is_empty() {
            // Offerless INVITEs (late offer) are not supported yet.
            return self.reply(now, &req, StatusCode::NOT_ACCEPTABLE_HERE, &[]);
        }
        let replaces = match self.replaced_call(&req) {
            Ok(r) => r,
            // RFC 3891 §3: no such confirmed dialog, or more than one Replaces.
            Err(code) => return self.reply(now, &req, code, &[]),
        };
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.ids.tag();
        let mut tx = ServerTx::new(branch.clone(), req.clone(), self.cfg.transport.reliable());
        let mut out = Vec::new();
        tx.respond(
            now,
            &Response::to_request(&req.method, &req.headers, StatusCode::TRYING, None),
            &mut out,
        );
        self.transmits.extend(out);
        self.servers.push(tx);
        let from = req.raw(&Name::FROM).unwrap_or_default().to_owned();
        let offer = req.body.clone();
        self.calls.push(Call {
            handle,
            call_id: req.call_id(),
            outgoing: false,
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
            replaces,
        });
    }

    pub(in crate::ua) fn on_in_dialog(&mut self, now: Instant, req: Request) {
        let found = self
            .calls
            .iter_mut()
            .position(|c| c.dialog_mut().is_some_and(|d| d.matches(&req)));
        let Some(idx) = found else {
            return self.reply(now, &req, StatusCode::CALL_DOES_NOT_EXIST, &[]);
        };
        let in_order = self.calls[idx]
            .dialog_mut()
            .is_some_and(|d| d.accept_remote_seq(&req));
        if !in_order {
            return self.reply(now, &req, StatusCode::SERVER_INTERNAL_ERROR, &[]);
        }
        let handle = self.calls[idx].handle;
        if matches!(req.method, Method::INVITE | Method::REFER) {
            self.calls[idx].confirm();
        }
        match req.method {
            Method::BYE => {
                self.abandon_reoffer(now, idx);
                self.reply(now, &req, StatusCode::OK, &[]);
                self.end(handle, EndReason::RemoteHangup, None);
            }
            Method::INVITE => self.on_reinvite(now, idx, req),
            Method::REFER => self.on_refer(now, idx, req),
            Method::NOTIFY => self.on_notify(now, idx, req),
            Method::OPTIONS | Method::INFO => {
                self.reply(now, &req, StatusCode::OK, &options_headers())
            }
            _ => self.reply(
                now,
                &req,
                StatusCode::NOT_IMPLEMENTED,
                &[(Name::ALLOW, ALLOW.into())],
            ),
        }
    }
}
