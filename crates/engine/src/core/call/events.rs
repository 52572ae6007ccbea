//! What the user agents report about calls: incoming calls, answers, re-offers and the ends
//! of calls, turned into phases, audio operations and events.

use super::*;

impl EngineCore {
    pub(in crate::core) fn on_call_event(&mut self, now: Instant, account: AccountId, ev: UaEvent) {
        match ev {
            UaEvent::IncomingCall {
                call,
                from,
                offer,
                replaces,
            } => self.on_incoming(now, account, call, from, offer, replaces),
            UaEvent::Ringing { call, status, sdp } => {
                let Some(id) = self.by_sip.get(&(account, call)).copied() else {
                    return;
                };
                if let Some(Phase::Dialing { ringing, .. }) =
                    self.calls.get_mut(&id).map(|c| &mut c.phase)
                {
                    *ringing = Some(status.as_u16());
                    // Ringback is ours to play unless the far end sends early media (183 +
                    // SDP), which we don't play yet.
                    self.out.push_back(Output::Audio(AudioOp::Ringback {
                        call: id,
                        on: sdp.is_none(),
                    }));
                }
            }
            UaEvent::Answered { call, sdp } => self.on_answered(now, account, call, &sdp),
            UaEvent::Reoffer { call, sdp } => self.on_reoffer(now, account, call, &sdp),
            UaEvent::ReinviteAnswered { call, sdp } | UaEvent::RemoteSdp { call, sdp } => {
                self.on_reinvite_answered(now, account, call, &sdp)
            }
            UaEvent::ReinviteFailed {
                call,
                status,
                error,
            } => {
                match &error {
                    Some(e) => tracing::warn!("re-INVITE given up ({e}); the call stays as it was"),
                    None => tracing::info!(
                        status = status.as_u16(),
                        "re-INVITE refused; the call stays as it was"
                    ),
                }
                if let Some(a) = self.active_by_sip(account, call) {
                    a.media.local.direction = hold_direction(a.held);
                    a.refused = a.reinvite.take();
                }
            }
            UaEvent::TransferRequested { call, target } => {
                self.on_transfer_requested(now, account, call, &target)
            }
            UaEvent::TransferProgress { call, .. } => {
                // The far end accepted to try (202 and a NOTIFY): that is what we report.
                self.report_transfer(account, call, Ok(()));
            }
            UaEvent::Transferred { call } => {
                self.report_transfer(account, call, Ok(()));
                let consult = self
                    .active_by_sip(account, call)
                    .and_then(|a| a.consult.take());
                if let Some(id) = self.by_sip.get(&(account, call)).copied() {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.handed_over = true;
                    }
                }
                // RFC 5589 §7: the target should end the consultation call itself; if it
                // doesn't understand Replaces it won't, so we do.
                if let Some(consult) = consult {
                    if self.calls.contains_key(&consult) {
                        let _ = self.hang_up(now, consult);
                    }
                }
            }
            UaEvent::TransferFailed {
                call,
                status,
                error,
            } => {
                tracing::info!(
                    status = status.as_u16(),
                    "transfer failed; the call stays up"
                );
                // A challenge loop the user agent gave up on says so; otherwise the status.
                let error = error.map(EngineError::from).unwrap_or_else(|| {
                    EngineError::new(
                        ErrorCode::SipTransferFailed,
                        format!("the transfer failed with status {status}"),
                    )
                });
                self.report_transfer(account, call, Err(error));
                // The consultation call of an attended transfer stays ours.
                let consult = self
                    .active_by_sip(account, call)
                    .and_then(|a| a.consult.take());
                if let Some(c) = consult.and_then(|c| self.calls.get_mut(&c)) {
                    c.handed_over = false;
                }
            }
            UaEvent::Ended {
                call,
                reason,
                status,
            } => {
                let Some(id) = self.by_sip.get(&(account, call)).copied() else {
                    return;
                };
                let busy = matches!(
                    reason,
                    EndReason::Rejected(StatusCode::BUSY_HERE | StatusCode::BUSY_EVERYWHERE)
                );
                let handed_over = self.calls.get(&id).is_some_and(|c| c.handed_over);
                let (outcome, error) = match reason {
                    EndReason::Transferred => (CallOutcome::Transferred, None),
                    EndReason::LocalHangup | EndReason::RemoteHangup if handed_over => {
                        (CallOutcome::Transferred, None)
                    }
                    EndReason::LocalHangup | EndReason::RemoteHangup => {
                        (CallOutcome::Completed, None)
                    }
                    EndReason::Cancelled | EndReason::RemoteCancelled => {
                        (CallOutcome::Cancelled, None)
                    }
                    EndReason::Rejected(_) | EndReason::Declined(_) => {
                        (CallOutcome::Rejected, None)
                    }
                    EndReason::Failed(e) => (CallOutcome::Failed, Some(EngineError::from(e))),
                };
                let status = status.map(StatusCode::as_u16);
                self.end_call(now, id, outcome, status, error, busy);
            }
            UaEvent::Registered { .. }
            | UaEvent::Unregistered
            | UaEvent::RegistrationFailed { .. } => {}
        }
    }

    pub(in crate::core) fn active_by_sip(
        &mut self,
        account: AccountId,
        sip: CallHandle,
    ) -> Option<&mut Active> {
        let id = self.by_sip.get(&(account, sip))?;
        match &mut self.calls.get_mut(id)?.phase {
            Phase::Active(a) => Some(a),
            _ => None,
        }
    }

    pub(in crate::core) fn on_incoming(
        &mut self,
        now: Instant,
        account: AccountId,
        sip: CallHandle,
        from: String,
        offer: Bytes,
        replaces: Option<CallHandle>,
    ) {
        let reject = |core: &mut Self, code: StatusCode| {
            if let Some(acc) = core.accounts.get_mut(&account) {
                let _ = acc.ua.reject(now, sip, code);
            }
        };
        let retiring = self
            .accounts
            .get(&account)
            .is_none_or(|a| a.retiring.is_some());
        if self.shutdown.is_some() || retiring {
            return reject(self, StatusCode::TEMPORARILY_UNAVAILABLE);
        }
        // RFC 3891 §3: the replaced call must be one of ours, established or ringing out;
        // then the new one is answered in its place without ringing (its audio and place
        // move once it is up, and the old one ends: BYE, or CANCEL while it rang).
        let replacing = replaces.and_then(|h| self.by_sip.get(&(account, h)).copied());
        if replaces.is_some()
            && !replacing.is_some_and(|old| self.calls.get(&old).is_some_and(Call::replaceable))
        {
            return reject(self, StatusCode::CALL_DOES_NOT_EXIST);
        }
        let id = self.add_call(
            account,
            Direction::Incoming,
            display_remote(&from),
            Phase::Offered { sip, offer },
        );
        if let Some(old) = replacing {
            if let Some(call) = self.calls.get_mut(&id) {
                call.replacing = Some(old);
            }
            if let Err(e) = self.start_answer(id) {
                tracing::info!("can't take the replacing call: {e}");
                return reject(self, StatusCode::TEMPORARILY_UNAVAILABLE);
            }
            return;
        }
        if self.do_not_disturb || self.calls.len() > MAX_CALLS {
            // Shown and then ended, so the history has it as missed.
            return reject(self, StatusCode::BUSY_HERE);
        }
        if let Some(acc) = self.accounts.get_mut(&account) {
            let _ = acc.ua.ringing(now, sip);
        }
    }

    pub(in crate::core) fn on_answered(
        &mut self,
        now: Instant,
        account: AccountId,
        sip: CallHandle,
        sdp: &[u8],
    ) {
        let Some(id) = self.by_sip.get(&(account, sip)).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !matches!(call.phase, Phase::Dialing { .. }) {
            return; // incoming: we answered and media already runs
        }
        let placeholder = Phase::Binding {
            target: String::new(),
        };
        let Phase::Dialing { sip, mut media, .. } = std::mem::replace(&mut call.phase, placeholder)
        else {
            return;
        };
        let started = media.accept(sdp).and_then(|neg| {
            let remote_held = media.remote_holds(&neg);
            media.start(neg, now).map(|codec| (codec, remote_held))
        });
        match started {
            Ok((codec, remote_held)) => {
                call.phase = Active::start(sip, media, codec, remote_held);
                self.out.push_back(Output::Audio(AudioOp::Ringback {
                    call: id,
                    on: false,
                }));
                if let (Some(old), Some(acc)) = (call.on_behalf_of, self.accounts.get_mut(&account))
                {
                    // RFC 3515 §2.4.5: tell the transferor the new call is up.
                    let _ = acc.ua.transfer_result(now, old, StatusCode::OK);
                    // It carries on with the old call's audio and place.
                    if let Some(old_id) = self.by_sip.get(&(account, old)).copied() {
                        self.finish_transfer(old_id, id);
                    }
                }
            }
            Err(e) => {
                // RFC 3264 §6: the call can't carry audio; it ends as a failure with the
                // answer's `sdp.*` code, not as a completed call.
                tracing::warn!("answer unusable, hanging up: {e}");
                call.media_failed = Some(e);
                call.phase = Phase::Dialing {
                    sip,
                    media,
                    ringing: None,
                };
                // Ends it here too if the user agent no longer has the call.
                let _ = self.hang_up(now, id);
            }
        }
    }

    /// The far end's new offer (hold, resume, a codec change): answer it with our codecs and
    /// our own hold state (RFC 3264 §8).
    pub(in crate::core) fn on_reoffer(
        &mut self,
        now: Instant,
        account: AccountId,
        sip: CallHandle,
        sdp: &[u8],
    ) {
        let Some(acc) = self.accounts.get_mut(&account) else {
            return;
        };
        let Some(id) = self.by_sip.get(&(account, sip)).copied() else {
            let _ = acc
                .ua
                .reject_reoffer(now, sip, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        };
        let Some(Phase::Active(a)) = self.calls.get_mut(&id).map(|c| &mut c.phase) else {
            let _ = acc.ua.reject_reoffer(now, sip, StatusCode::REQUEST_PENDING);
            return;
        };
        if sdp.is_empty() {
            // An offerless re-INVITE: we offer in the 200, the answer comes in the ACK.
            let offer = a.media.offer();
            let _ = acc.ua.answer_reoffer(now, sip, Bytes::from(offer));
            return;
        }
        let answered = a.media.answer(sdp).and_then(|(answer, neg)| {
            let remote_held = a.media.remote_holds(&neg);
            a.media
                .start(neg, now)
                .map(|codec| (answer, codec, remote_held))
        });
        match answered {
            Ok((answer, codec, remote_held)) => {
                let _ = acc.ua.answer_reoffer(now, sip, Bytes::from(answer));
                a.codec = codec;
                a.remote_held = remote_held;
            }
            Err(e) => {
                tracing::info!("re-offer not acceptable: {e}");
                let _ = acc
                    .ua
                    .reject_reoffer(now, sip, StatusCode::NOT_ACCEPTABLE_HERE);
            }
        }
    }

    /// The answer to our re-INVITE (or, for an offerless one, to the offer in our 200).
    pub(in crate::core) fn on_reinvite_answered(
        &mut self,
        now: Instant,
        account: AccountId,
        sip: CallHandle,
        sdp: &[u8],
    ) {
        let Some(a) = self.active_by_sip(account, sip) else {
            return;
        };
        match a.media.accept(sdp).and_then(|neg| {
            let remote_held = a.media.remote_holds(&neg);
            a.media.start(neg, now).map(|codec| (codec, remote_held))
        }) {
            Ok((codec, remote_held)) => {
                a.held = a.media.local.direction == SdpDirection::SendOnly;
                a.codec = codec;
                a.remote_held = remote_held;
            }
            Err(e) => {
                // Not asked again until the intent changes (no storm against a broken answer).
                tracing::warn!("answer to our re-INVITE unusable: {e}");
                a.media.local.direction = hold_direction(a.held);
                a.refused = a.reinvite;
            }
        }
        a.reinvite = None;
    }
}
