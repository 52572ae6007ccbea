//! Transfers: blind (RFC 3515) and attended (RFC 5589 §7, REFER with Replaces) ones we ask
//! for, the ones a far end asks of us, and calls that take over another (RFC 3891).

use super::*;

impl EngineCore {
    /// Blind transfer (RFC 3515): the outcome comes as [`Output::TransferDone`] with `ticket`.
    pub fn transfer(
        &mut self,
        now: Instant,
        id: CallId,
        target: &str,
        ticket: u64,
    ) -> Result<(), EngineError> {
        let call = self.calls.get_mut(&id).ok_or_else(no_call)?;
        let account = call.account;
        let active = call.active_mut()?;
        let acc = self.accounts.get_mut(&account).ok_or_else(no_call)?;
        acc.ua.refer(now, active.sip, target)?;
        active.transfer = Some(ticket);
        self.pump(now);
        Ok(())
    }

    /// Attended transfer (RFC 5589 §7): the far end of `id` is asked to call the far end of
    /// `to` replacing our call with it (RFC 3891); both our calls end when it is done. Both
    /// calls must be on the same account.
    pub fn transfer_attended(
        &mut self,
        now: Instant,
        id: CallId,
        to: CallId,
        ticket: u64,
    ) -> Result<(), EngineError> {
        let other = self.calls.get_mut(&to).ok_or_else(no_call)?;
        let other_account = other.account;
        let other_sip = other.active_mut()?.sip;
        let call = self.calls.get_mut(&id).ok_or_else(no_call)?;
        if call.account != other_account {
            return Err(EngineError::new(
                ErrorCode::EngineDifferentAccounts,
                "an attended transfer needs both calls on the same account",
            ));
        }
        let active = call.active_mut()?;
        let acc = self.accounts.get_mut(&other_account).ok_or_else(no_call)?;
        acc.ua.refer_replacing(now, active.sip, other_sip)?;
        active.transfer = Some(ticket);
        active.consult = Some(to);
        if let Some(other) = self.calls.get_mut(&to) {
            other.handed_over = true;
        }
        self.pump(now);
        Ok(())
    }

    pub(in crate::core) fn report_transfer(
        &mut self,
        account: AccountId,
        sip: CallHandle,
        result: Result<(), EngineError>,
    ) {
        if let Some(ticket) = self
            .active_by_sip(account, sip)
            .and_then(|a| a.transfer.take())
        {
            self.out.push_back(Output::TransferDone { ticket, result });
        }
    }

    /// The replacing call is up: it takes the replaced one's audio, focus and conference
    /// place, and the replaced one ends as handed over.
    pub(in crate::core) fn finish_replacement(&mut self, now: Instant, old: CallId, new: CallId) {
        if !self.calls.contains_key(&old) {
            return;
        }
        self.out
            .push_back(Output::Audio(AudioOp::Move { from: old, to: new }));
        for c in &mut self.conference {
            if *c == old {
                *c = new;
            }
        }
        if self.focus == Some(old) {
            self.focus = Some(new);
        }
        let Some(call) = self.calls.get_mut(&old) else {
            return;
        };
        call.handed_over = true;
        let account = call.account;
        if let (Some(sip), Some(acc)) = (call.sip(), self.accounts.get_mut(&account)) {
            let _ = acc.ua.hangup(now, sip);
        }
    }

    /// The call we placed for the far end's REFER is up: it takes the old call's audio,
    /// focus and conference place (the far end hangs the old one up).
    pub(in crate::core) fn finish_transfer(&mut self, old: CallId, new: CallId) {
        self.out
            .push_back(Output::Audio(AudioOp::Move { from: old, to: new }));
        for c in &mut self.conference {
            if *c == old {
                *c = new;
            }
        }
        if self.focus == Some(old) || self.conference.contains(&new) {
            self.focus = Some(new);
        }
    }

    /// The far end asks us to call `target` instead (RFC 3515): place the call from the same
    /// account with the same audio, report how it goes; the far end then hangs up on us.
    pub(in crate::core) fn on_transfer_requested(
        &mut self,
        now: Instant,
        account: AccountId,
        sip: CallHandle,
        target: &str,
    ) {
        let Some(old) = self.by_sip.get(&(account, sip)).copied() else {
            return;
        };
        let codecs = self.calls.get(&old).map(|c| c.codecs.clone());
        let focus = self.focus;
        match self.call(now, Some(account), target, codecs) {
            Ok(id) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.on_behalf_of = Some(sip);
                }
                // The old call keeps its audio and place until the new one is up (a failed
                // transfer leaves it as it was, RFC 5589 §6).
                self.focus = focus;
            }
            Err(e) => {
                tracing::info!("transfer target unreachable: {e}");
                if let Some(acc) = self.accounts.get_mut(&account) {
                    let _ = acc
                        .ua
                        .transfer_result(now, sip, StatusCode::SERVICE_UNAVAILABLE);
                }
            }
        }
    }
}
