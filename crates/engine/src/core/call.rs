//! Calls and their policy: placing, answering, call waiting, holding whatever loses the focus,
//! switching, the local conference, blind and attended transfer (RFC 3515, RFC 5589) and
//! replacement (RFC 3891).
//!
//! Commands change the intent (which call has the focus, which calls are in the conference);
//! [`EngineCore::settle`] then brings the rest in line after every input: the hub's routing,
//! the ringer, and a re-INVITE for every call whose hold state no longer matches (RFC 3264
//! §8.4), each tried once per intent so a far end that refuses can't start a request storm.

use super::media::CallMedia;
use super::{no_call, AccountId, EngineCore, Output, RingMode, MAX_CALLS};
use crate::error::{EngineError, ErrorCode};
use crate::event::{CallId, CallOutcome, CallState, Direction, EventKind};
use crate::hub::AudioOp;
use bytes::Bytes;
use std::time::Instant;
use wren_media::{CodecKind, Direction as SdpDirection};
use wren_sip::{CallHandle, EndReason, UaError, UaEvent};

/// An established call.
pub(super) struct Active {
    sip: CallHandle,
    media: CallMedia,
    codec: String,
    /// On hold as the far end last agreed.
    held: bool,
    remote_held: bool,
    muted: bool,
    /// Our re-INVITE under way: the hold state it asks for.
    reinvite: Option<bool>,
    /// The hold state the far end refused; not asked again until the intent changes.
    refused: Option<bool>,
    /// Our REFER under way, with the ticket to report it on.
    transfer: Option<u64>,
    /// The consultation call of our attended transfer: ended with this one when the
    /// transfer goes through, in case its far end doesn't end it (no RFC 3891 support).
    consult: Option<CallId>,
}

impl Active {
    /// A call just established: not held, not muted, nothing under way.
    fn start(sip: CallHandle, media: CallMedia, codec: String, remote_held: bool) -> Phase {
        Phase::Active(Box::new(Active {
            sip,
            media,
            codec,
            held: false,
            remote_held,
            muted: false,
            reinvite: None,
            refused: None,
            transfer: None,
            consult: None,
        }))
    }
}

pub(super) enum Phase {
    /// Outgoing: its sockets are being bound, so the INVITE can carry their address.
    Binding {
        target: String,
    },
    /// Outgoing: the INVITE is out; `ringing` once the far end rings.
    Dialing {
        sip: CallHandle,
        media: CallMedia,
        ringing: Option<u16>,
    },
    /// Incoming, not answered yet.
    Offered {
        sip: CallHandle,
        offer: Bytes,
    },
    /// Incoming, answered: its sockets are being bound for the answer.
    Answering {
        sip: CallHandle,
        offer: Bytes,
    },
    Active(Box<Active>),
}

pub(super) struct Call {
    pub account: AccountId,
    codecs: Vec<CodecKind>,
    phase: Phase,
    /// This call carries out the far end's REFER of that call: report to it (RFC 3515 §2.4.5).
    on_behalf_of: Option<CallHandle>,
    /// This call, answered, takes the place of that one (RFC 3891), which then ends.
    replacing: Option<CallId>,
    /// It ends as handed over (a transfer or a replacement), not as hung up.
    handed_over: bool,
    /// The state last published.
    published: CallState,
}

impl Call {
    pub fn has_media(&self) -> bool {
        matches!(self.phase, Phase::Active(_))
    }

    pub fn media_mut(&mut self) -> Option<&mut CallMedia> {
        match &mut self.phase {
            Phase::Active(a) => Some(&mut a.media),
            Phase::Dialing { media, .. } => Some(media),
            _ => None,
        }
    }

    pub fn muted(&self) -> bool {
        matches!(&self.phase, Phase::Active(a) if a.muted)
    }

    fn sip(&self) -> Option<CallHandle> {
        match &self.phase {
            Phase::Binding { .. } => None,
            Phase::Dialing { sip, .. }
            | Phase::Offered { sip, .. }
            | Phase::Answering { sip, .. } => Some(*sip),
            Phase::Active(a) => Some(a.sip),
        }
    }

    fn active_mut(&mut self) -> Result<&mut Active, EngineError> {
        match &mut self.phase {
            Phase::Active(a) => Ok(a),
            _ => Err(UaError::InvalidState.into()),
        }
    }

    fn is_offered(&self) -> bool {
        matches!(self.phase, Phase::Offered { .. })
    }
}

impl EngineCore {
    /// The calls that have the microphone and speaker now.
    fn live(&self) -> Vec<CallId> {
        match self.focus {
            Some(f) if self.conference.contains(&f) => self.conference.clone(),
            Some(f) => vec![f],
            None => Vec::new(),
        }
    }

    fn state_of(&self, id: CallId, call: &Call) -> CallState {
        match &call.phase {
            Phase::Binding { .. } | Phase::Dialing { ringing: None, .. } => CallState::Calling,
            Phase::Dialing {
                ringing: Some(status),
                ..
            } => CallState::Ringing { status: *status },
            Phase::Offered { .. } | Phase::Answering { .. } => CallState::Incoming {
                waiting: self.calls.iter().any(|(k, c)| *k != id && !c.is_offered()),
            },
            Phase::Active(a) => CallState::Active {
                codec: a.codec.clone(),
                muted: a.muted,
                held: a.held,
                remote_held: a.remote_held,
                conference: self.conference.contains(&id),
            },
        }
    }

    fn add_call(
        &mut self,
        account: AccountId,
        direction: Direction,
        remote: String,
        phase: Phase,
    ) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        let codecs = self
            .accounts
            .get(&account)
            .map(|a| a.cfg.codecs.clone())
            .unwrap_or_default();
        let published = match direction {
            Direction::Outgoing => CallState::Calling,
            Direction::Incoming => CallState::Incoming { waiting: false },
        };
        if let Some(sip) = match &phase {
            Phase::Offered { sip, .. } | Phase::Dialing { sip, .. } => Some(*sip),
            _ => None,
        } {
            self.by_sip.insert((account, sip), id);
        }
        self.calls.insert(
            id,
            Call {
                account,
                codecs,
                phase,
                on_behalf_of: None,
                replacing: None,
                handed_over: false,
                published,
            },
        );
        self.emit(EventKind::CallAdded {
            call: id,
            account,
            direction,
            remote,
        });
        id
    }

    /// Brings derived state in line with the calls and the intent: published call states,
    /// the ringer, the hub's routing, holds. Returns whether it queued work for the UAs.
    pub(super) fn settle(&mut self, now: Instant) -> bool {
        // A focus or conference leg that is gone is dropped.
        self.conference.retain(|c| self.calls.contains_key(c));
        if self.conference.len() < 2 {
            if let Some(last) = self.conference.pop() {
                if self.focus.is_some_and(|f| !self.calls.contains_key(&f)) {
                    self.focus = Some(last);
                }
            }
        }
        if self.focus.is_some_and(|f| !self.calls.contains_key(&f)) {
            self.focus = None;
        }
        if self.snapshot.focus != self.focus {
            self.emit(EventKind::Focus { call: self.focus });
        }
        let live = self.live();
        let route = (live.clone(), self.conference.len() >= 2 && live.len() >= 2);
        if route != self.route {
            self.route = route.clone();
            self.out.push_back(Output::Audio(AudioOp::Route {
                live: route.0,
                conference: route.1,
            }));
        }
        let offered = self.calls.values().any(Call::is_offered);
        let others = self.calls.values().any(|c| !c.is_offered());
        let ring = match (offered, others) {
            (false, _) => RingMode::Off,
            (true, false) => RingMode::Ring,
            (true, true) => RingMode::Waiting,
        };
        if ring != self.ring {
            self.ring = ring;
            self.out.push_back(Output::Audio(AudioOp::Ring(ring)));
        }
        let mut queued = false;
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let want_held = !live.contains(&id);
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            let account = call.account;
            if let Phase::Active(a) = &mut call.phase {
                if a.refused.is_some_and(|r| r != want_held) {
                    a.refused = None;
                }
                if a.held != want_held && a.reinvite.is_none() && a.refused.is_none() {
                    a.media.local.direction = if want_held {
                        SdpDirection::SendOnly
                    } else {
                        SdpDirection::SendRecv
                    };
                    let offer = Bytes::from(a.media.offer());
                    if let Some(acc) = self.accounts.get_mut(&account) {
                        match acc.ua.reinvite(now, a.sip, offer) {
                            Ok(()) => {
                                a.reinvite = Some(want_held);
                                queued = true;
                            }
                            // The far end's re-INVITE or a REFER is under way: after it.
                            Err(UaError::Pending) => {
                                a.media.local.direction = hold_direction(a.held)
                            }
                            Err(e) => {
                                tracing::info!("can't change hold: {e}");
                                a.media.local.direction = hold_direction(a.held);
                                a.refused = Some(want_held);
                            }
                        }
                    }
                }
            }
            let Some(call) = self.calls.get(&id) else {
                continue;
            };
            let state = self.state_of(id, call);
            if state != call.published {
                let account = call.account;
                if let Some(call) = self.calls.get_mut(&id) {
                    call.published = state.clone();
                }
                self.emit(EventKind::CallChanged {
                    call: id,
                    account,
                    state,
                });
            }
        }
        queued
    }

    // ---- commands ----

    /// Places a call from `account` (the default one when `None`) to a user name,
    /// `user@host` or SIP URI. The call is added at once; its sockets are bound before the
    /// INVITE goes. The call that had the focus is put on hold.
    pub fn call(
        &mut self,
        now: Instant,
        account: Option<AccountId>,
        target: &str,
        codecs: Option<Vec<CodecKind>>,
    ) -> Result<CallId, EngineError> {
        let account = account.or(self.default).ok_or_else(super::no_account)?;
        let acc = self.accounts.get(&account).ok_or_else(super::no_account)?;
        if acc.retiring.is_some() {
            return Err(super::no_account());
        }
        let super::Flow::Up { local_ip, .. } = acc.flow else {
            return Err(EngineError::new(
                ErrorCode::NetNotConnected,
                "not connected to the server",
            ));
        };
        acc.ua.check_target(target)?;
        if self.calls.len() >= MAX_CALLS {
            return Err(EngineError::new(
                ErrorCode::EngineTooManyCalls,
                format!("at most {MAX_CALLS} calls at once"),
            ));
        }
        // A transfer target may carry `?Replaces=...` (Call-ID and tags): not for display.
        let shown = target
            .split('?')
            .next()
            .unwrap_or(target)
            .trim_start_matches('<');
        let id = self.add_call(
            account,
            Direction::Outgoing,
            shown.to_owned(),
            Phase::Binding {
                target: target.to_owned(),
            },
        );
        if let (Some(codecs), Some(call)) = (codecs, self.calls.get_mut(&id)) {
            call.codecs = codecs;
        }
        self.focus = Some(id);
        self.out.push_back(Output::BindMedia {
            call: id,
            ip: local_ip,
        });
        self.pump(now);
        Ok(id)
    }

    /// The call's sockets are bound at `addr` (or couldn't be): the INVITE or the answer goes.
    pub fn media_bound(
        &mut self,
        now: Instant,
        id: CallId,
        addr: Result<std::net::SocketAddr, EngineError>,
    ) {
        let seed = self.next_seed();
        let Some(call) = self.calls.get_mut(&id) else {
            self.out.push_back(Output::ReleaseMedia { call: id });
            return;
        };
        let addr = match addr {
            Ok(a) => a,
            Err(e) => {
                if let Some(sip) = call.sip() {
                    let account = call.account;
                    if let Some(acc) = self.accounts.get_mut(&account) {
                        let _ = acc.ua.reject(now, sip, 500);
                    }
                }
                return self.end_call(now, id, CallOutcome::Failed, None, Some(e), false);
            }
        };
        let mut media = CallMedia::new(addr, call.codecs.clone(), seed);
        let account = call.account;
        let Some(acc) = self.accounts.get_mut(&account) else {
            return;
        };
        match std::mem::replace(
            &mut call.phase,
            Phase::Binding {
                target: String::new(),
            },
        ) {
            Phase::Binding { target } => {
                let offer = Bytes::from(media.offer());
                match acc.ua.invite(now, &target, offer) {
                    Ok(sip) => {
                        call.phase = Phase::Dialing {
                            sip,
                            media,
                            ringing: None,
                        };
                        self.by_sip.insert((account, sip), id);
                    }
                    Err(e) => {
                        return self.end_call(
                            now,
                            id,
                            CallOutcome::Failed,
                            None,
                            Some(e.into()),
                            false,
                        )
                    }
                }
            }
            Phase::Answering { sip, offer } => {
                let answered = media.answer(&offer).and_then(|(answer, neg)| {
                    let remote_held = media.remote_holds(&neg);
                    let codec = media.start(neg, now)?;
                    Ok((answer, codec, remote_held))
                });
                match answered {
                    Ok((answer, codec, remote_held)) => {
                        if let Err(e) = acc.ua.answer(now, sip, Bytes::from(answer)) {
                            return self.end_call(
                                now,
                                id,
                                CallOutcome::Failed,
                                None,
                                Some(e.into()),
                                false,
                            );
                        }
                        call.phase = Active::start(sip, media, codec, remote_held);
                        if let Some(old) = call.replacing {
                            self.finish_replacement(now, old, id);
                        }
                    }
                    Err(e) => {
                        // RFC 3264 §6: nothing acceptable in the offer.
                        let _ = acc.ua.reject(now, sip, 488);
                        return self.end_call(now, id, CallOutcome::Failed, None, Some(e), false);
                    }
                }
            }
            other => call.phase = other,
        }
        self.pump(now);
    }

    /// Answers an incoming call; the call that had the focus is put on hold.
    pub fn answer(
        &mut self,
        now: Instant,
        id: CallId,
        codecs: Option<Vec<CodecKind>>,
    ) -> Result<(), EngineError> {
        if let (Some(codecs), Some(call)) = (codecs, self.calls.get_mut(&id)) {
            if call.is_offered() {
                call.codecs = codecs;
            }
        }
        self.start_answer(id)?;
        self.focus = Some(id);
        self.pump(now);
        Ok(())
    }

    /// Moves an offered call to `Answering` and asks for its sockets; the answer goes out
    /// from [`EngineCore::media_bound`]. Touches neither the focus nor the user agents.
    fn start_answer(&mut self, id: CallId) -> Result<(), EngineError> {
        let call = self.calls.get_mut(&id).ok_or_else(no_call)?;
        if !call.is_offered() {
            return Err(UaError::InvalidState.into());
        }
        let account = call.account;
        let Some(super::Flow::Up { local_ip: ip, .. }) =
            self.accounts.get(&account).map(|a| &a.flow)
        else {
            return Err(EngineError::new(
                ErrorCode::NetNotConnected,
                "not connected to the server",
            ));
        };
        let ip = *ip;
        let placeholder = Phase::Binding {
            target: String::new(),
        };
        if let Phase::Offered { sip, offer } = std::mem::replace(&mut call.phase, placeholder) {
            call.phase = Phase::Answering { sip, offer };
        }
        self.out.push_back(Output::BindMedia { call: id, ip });
        Ok(())
    }

    /// Declines an incoming call with `code` (486 busy, 603 decline).
    pub fn reject(&mut self, now: Instant, id: CallId, code: u16) -> Result<(), EngineError> {
        let call = self.calls.get(&id).ok_or_else(no_call)?;
        let (Phase::Offered { sip, .. } | Phase::Answering { sip, .. }) = call.phase else {
            return Err(UaError::InvalidState.into());
        };
        let account = call.account;
        let acc = self.accounts.get_mut(&account).ok_or_else(no_call)?;
        acc.ua.reject(now, sip, code)?;
        self.pump(now);
        Ok(())
    }

    /// Hangs up, cancels or declines a call.
    pub fn hangup(&mut self, now: Instant, id: CallId) -> Result<(), EngineError> {
        self.hang_up(now, id)?;
        self.pump(now);
        Ok(())
    }

    /// [`EngineCore::hangup`] without running the user agents' outputs (for use inside
    /// [`EngineCore::pump`]).
    fn hang_up(&mut self, now: Instant, id: CallId) -> Result<(), EngineError> {
        let call = self.calls.get(&id).ok_or_else(no_call)?;
        let account = call.account;
        match call.sip() {
            None => self.end_call(now, id, CallOutcome::Cancelled, None, None, false),
            Some(sip) => {
                let acc = self.accounts.get_mut(&account).ok_or_else(no_call)?;
                let result = if call.is_offered() {
                    acc.ua.reject(now, sip, 603)
                } else {
                    acc.ua.hangup(now, sip)
                };
                if let Err(e) = result {
                    // The UA has no such call any more: it is ours to end.
                    tracing::debug!("hangup: {e}");
                    self.end_call(now, id, CallOutcome::Completed, None, None, false);
                }
            }
        }
        Ok(())
    }

    pub fn set_muted(&mut self, now: Instant, id: CallId, muted: bool) -> Result<(), EngineError> {
        let call = self.calls.get_mut(&id).ok_or_else(no_call)?;
        call.active_mut()?.muted = muted;
        self.pump(now);
        Ok(())
    }

    /// Puts a call on hold (with a conference, the whole conference) or takes it off hold,
    /// which gives it the focus and holds the call that had it.
    pub fn set_held(&mut self, now: Instant, id: CallId, held: bool) -> Result<(), EngineError> {
        let call = self.calls.get_mut(&id).ok_or_else(no_call)?;
        call.active_mut()?;
        if held {
            if self.live().contains(&id) {
                self.focus = None;
            }
        } else {
            self.focus = Some(id);
        }
        self.pump(now);
        Ok(())
    }

    /// Switches to a call: it gets the focus (resumed), the call or conference that had it is
    /// held. A ringing incoming call must be answered instead.
    pub fn focus(&mut self, now: Instant, id: CallId) -> Result<(), EngineError> {
        let call = self.calls.get(&id).ok_or_else(no_call)?;
        if call.is_offered() {
            return Err(UaError::InvalidState.into());
        }
        self.focus = Some(id);
        self.pump(now);
        Ok(())
    }

    /// Joins two established calls (or a call and the conference) into the local conference:
    /// each far end hears the other and our microphone.
    pub fn merge(&mut self, now: Instant, a: CallId, b: CallId) -> Result<(), EngineError> {
        for id in [a, b] {
            self.calls.get_mut(&id).ok_or_else(no_call)?.active_mut()?;
        }
        if a == b {
            return Err(UaError::InvalidState.into());
        }
        for id in [a, b] {
            if !self.conference.contains(&id) {
                self.conference.push(id);
            }
        }
        self.focus = Some(a);
        self.pump(now);
        Ok(())
    }

    /// Takes a leg out of the conference and puts it on hold; the rest stay (a conference of
    /// one is a plain call).
    pub fn split(&mut self, now: Instant, id: CallId) -> Result<(), EngineError> {
        if !self.conference.contains(&id) {
            return Err(UaError::InvalidState.into());
        }
        let was_live = self.focus.is_some_and(|f| self.conference.contains(&f));
        self.conference.retain(|c| *c != id);
        if self.conference.len() == 1 {
            let last = self.conference.pop();
            if was_live {
                self.focus = last;
            }
        } else if self.focus == Some(id) {
            self.focus = self.conference.first().copied();
        }
        self.pump(now);
        Ok(())
    }

    pub fn send_dtmf(&mut self, now: Instant, id: CallId, digits: &str) -> Result<(), EngineError> {
        let call = self.calls.get_mut(&id).ok_or_else(no_call)?;
        let media = call.media_mut().filter(|m| m.is_running()).ok_or_else(|| {
            EngineError::new(ErrorCode::MediaNotSending, "the call has no media yet")
        })?;
        media.send_dtmf(digits)?;
        self.out.push_back(Output::Audio(AudioOp::Dtmf {
            call: id,
            digits: digits.to_owned(),
        }));
        self.pump(now);
        Ok(())
    }

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

    // ---- user agent events ----

    pub(super) fn on_call_event(&mut self, now: Instant, account: AccountId, ev: UaEvent) {
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
                    *ringing = Some(status);
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
            UaEvent::ReinviteFailed { call, status } => {
                tracing::info!(status, "re-INVITE refused; the call stays as it was");
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
            UaEvent::TransferFailed { call, status } => {
                tracing::info!(status, "transfer failed; the call stays up");
                let error = EngineError::new(
                    ErrorCode::SipTransferFailed,
                    format!("the transfer failed with status {status}"),
                );
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
                let busy = matches!(reason, EndReason::Rejected(486 | 600));
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
                self.end_call(now, id, outcome, status, error, busy);
            }
            UaEvent::Registered { .. }
            | UaEvent::Unregistered
            | UaEvent::RegistrationFailed { .. } => {}
        }
    }

    fn active_by_sip(&mut self, account: AccountId, sip: CallHandle) -> Option<&mut Active> {
        let id = self.by_sip.get(&(account, sip))?;
        match &mut self.calls.get_mut(id)?.phase {
            Phase::Active(a) => Some(a),
            _ => None,
        }
    }

    fn report_transfer(
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

    fn on_incoming(
        &mut self,
        now: Instant,
        account: AccountId,
        sip: CallHandle,
        from: String,
        offer: Bytes,
        replaces: Option<CallHandle>,
    ) {
        let reject = |core: &mut Self, code| {
            if let Some(acc) = core.accounts.get_mut(&account) {
                let _ = acc.ua.reject(now, sip, code);
            }
        };
        let retiring = self
            .accounts
            .get(&account)
            .is_none_or(|a| a.retiring.is_some());
        if self.shutdown.is_some() || retiring {
            return reject(self, 480);
        }
        // RFC 3891 §3: the replaced call must be one of ours, established; then the new one
        // is answered in its place without ringing (its audio and place move once it is up).
        let replacing = replaces.and_then(|h| self.by_sip.get(&(account, h)).copied());
        if replaces.is_some()
            && !replacing.is_some_and(|old| self.calls.get(&old).is_some_and(Call::has_media))
        {
            return reject(self, 481);
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
                return reject(self, 480);
            }
            return;
        }
        if self.do_not_disturb || self.calls.len() > MAX_CALLS {
            // Shown and then ended, so the history has it as missed.
            return reject(self, 486);
        }
        if let Some(acc) = self.accounts.get_mut(&account) {
            let _ = acc.ua.ringing(now, sip);
        }
    }

    /// The replacing call is up: it takes the replaced one's audio, focus and conference
    /// place, and the replaced one ends as handed over.
    fn finish_replacement(&mut self, now: Instant, old: CallId, new: CallId) {
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

    fn on_answered(&mut self, now: Instant, account: AccountId, sip: CallHandle, sdp: &[u8]) {
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
                    let _ = acc.ua.transfer_result(now, old, 200);
                    // It carries on with the old call's audio and place.
                    if let Some(old_id) = self.by_sip.get(&(account, old)).copied() {
                        self.finish_transfer(old_id, id);
                    }
                }
            }
            Err(e) => {
                tracing::warn!("answer unusable, hanging up: {e}");
                call.phase = Phase::Dialing {
                    sip,
                    media,
                    ringing: None,
                };
                if let Some(acc) = self.accounts.get_mut(&account) {
                    let _ = acc.ua.hangup(now, sip);
                }
            }
        }
    }

    /// The call we placed for the far end's REFER is up: it takes the old call's audio,
    /// focus and conference place (the far end hangs the old one up).
    fn finish_transfer(&mut self, old: CallId, new: CallId) {
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

    /// The far end's new offer (hold, resume, a codec change): answer it with our codecs and
    /// our own hold state (RFC 3264 §8).
    fn on_reoffer(&mut self, now: Instant, account: AccountId, sip: CallHandle, sdp: &[u8]) {
        let Some(acc) = self.accounts.get_mut(&account) else {
            return;
        };
        let Some(id) = self.by_sip.get(&(account, sip)).copied() else {
            let _ = acc.ua.reject_reoffer(now, sip, 481);
            return;
        };
        let Some(Phase::Active(a)) = self.calls.get_mut(&id).map(|c| &mut c.phase) else {
            let _ = acc.ua.reject_reoffer(now, sip, 491);
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
                let _ = acc.ua.reject_reoffer(now, sip, 488);
            }
        }
    }

    /// The answer to our re-INVITE (or, for an offerless one, to the offer in our 200).
    fn on_reinvite_answered(
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

    /// The far end asks us to call `target` instead (RFC 3515): place the call from the same
    /// account with the same audio, report how it goes; the far end then hangs up on us.
    fn on_transfer_requested(
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
                    let _ = acc.ua.transfer_result(now, sip, 503);
                }
            }
        }
    }

    /// The call is over: publish how, free its sockets and audio, report what depended on it.
    pub(super) fn end_call(
        &mut self,
        now: Instant,
        id: CallId,
        outcome: CallOutcome,
        status: Option<u16>,
        error: Option<EngineError>,
        busy: bool,
    ) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let account = call.account;
        self.by_sip.retain(|_, v| *v != id);
        if let (Some(old), false) = (call.on_behalf_of, call.has_media()) {
            if let Some(acc) = self.accounts.get_mut(&account) {
                let _ =
                    acc.ua
                        .transfer_result(now, old, status.filter(|s| *s >= 300).unwrap_or(487));
            }
        }
        let mut stats = Default::default();
        let mut media_bound = false;
        match &mut call.phase {
            Phase::Active(a) => {
                if let Some(ticket) = a.transfer.take() {
                    self.out.push_back(Output::TransferDone {
                        ticket,
                        result: Err(EngineError::new(
                            ErrorCode::SipTransferFailed,
                            "the call ended before the transfer went through",
                        )),
                    });
                }
                stats = a.media.stats(now);
                a.media.close(now, self.wall);
                media_bound = true;
            }
            Phase::Dialing { media, .. } => {
                stats = media.stats(now);
                media_bound = true;
            }
            _ => {}
        }
        if let Some(media) = call.media_mut() {
            while let Some(t) = media.poll_transmit() {
                self.out.push_back(Output::Datagram {
                    call: id,
                    rtcp: t.kind == wren_media::PacketKind::Rtcp,
                    dest: t.dest,
                    payload: t.payload,
                });
            }
        }
        if media_bound || matches!(call.phase, Phase::Answering { .. }) {
            self.out.push_back(Output::ReleaseMedia { call: id });
        }
        self.out
            .push_back(Output::Audio(AudioOp::Close { call: id, busy }));
        self.emit(EventKind::CallChanged {
            call: id,
            account,
            state: CallState::Ended {
                outcome,
                status,
                error,
            },
        });
        self.emit(EventKind::CallRemoved {
            call: id,
            account,
            stats,
        });
        // A call waiting to replace this one has nothing to replace any more.
        for c in self.calls.values_mut() {
            if c.replacing == Some(id) {
                c.replacing = None;
            }
        }
        if let Some(acc) = self.accounts.get(&account) {
            let idle = !self.calls.values().any(|c| c.account == account);
            if idle && acc.pending.is_some() && acc.retiring.is_none() {
                if let Some(cfg) = self
                    .accounts
                    .get_mut(&account)
                    .and_then(|a| a.pending.take())
                {
                    self.replace_config(now, account, cfg);
                }
            }
        }
    }

    /// Forgets a call without SIP (its account or the engine is going away).
    pub(super) fn drop_call(&mut self, now: Instant, id: CallId) {
        self.end_call(now, id, CallOutcome::Failed, None, None, false);
    }
}

fn hold_direction(held: bool) -> SdpDirection {
    if held {
        SdpDirection::SendOnly
    } else {
        SdpDirection::SendRecv
    }
}

/// The caller as a UI shows it: display name and URI, parameters stripped.
fn display_remote(from: &str) -> String {
    let end = from.find('>').map_or(from.len(), |i| i + 1);
    from[..end].trim().to_owned()
}
