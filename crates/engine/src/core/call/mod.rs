//! Calls and their policy: placing, answering, call waiting, holding whatever loses the focus,
//! switching, the local conference, blind and attended transfer (RFC 3515, RFC 5589) and
//! replacement (RFC 3891).
//!
//! Commands change the intent (which call has the focus, which calls are in the conference);
//! [`EngineCore::settle`] then brings the rest in line after every input: the hub's routing,
//! the ringer, and a re-INVITE for every call whose hold state no longer matches (RFC 3264
//! §8.4), each tried once per intent so a far end that refuses can't start a request storm.

mod events;
mod policy;
mod transfer;

use super::media::CallMedia;
use super::{no_call, AccountId, EngineCore, Output, RingMode, MAX_CALLS};
use crate::error::{EngineError, ErrorCode};
use crate::event::{CallId, CallOutcome, CallState, Direction, EventKind};
use crate::hub::AudioOp;
use bytes::Bytes;
use std::time::{Duration, Instant};
use wren_media::{CodecKind, Direction as SdpDirection, MediaEvent};

/// How long media may stay away after the far end's RTCP BYE before the call ends.
const BYE_GRACE: Duration = Duration::from_secs(3);
use wren_sip::{CallHandle, EndReason, StatusCode, UaError, UaEvent};

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
    /// We are hanging it up because its media failed: it ends with this error.
    media_failed: Option<EngineError>,
    /// The far end's stream said RTCP BYE (with this many RTP packets received by then); the
    /// call ends if no media follows.
    remote_bye: Option<u64>,
    /// The state last published.
    published: CallState,
}

impl Call {
    pub fn has_media(&self) -> bool {
        matches!(self.phase, Phase::Active(_))
    }

    /// An INVITE with Replaces may take this call's place: it is up, or it is ours and still
    /// ringing (RFC 3891 §3; the user agent already refused the other cases).
    pub fn replaceable(&self) -> bool {
        matches!(self.phase, Phase::Active(_) | Phase::Dialing { .. })
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
                media_failed: None,
                remote_bye: None,
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
                        let _ = acc.ua.reject(now, sip, StatusCode::SERVER_INTERNAL_ERROR);
                    }
                }
                return self.fail_call(now, id, e);
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
                    Err(e) => return self.fail_call(now, id, e.into()),
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
                            return self.fail_call(now, id, e.into());
                        }
                        call.phase = Active::start(sip, media, codec, remote_held);
                        if let Some(old) = call.replacing {
                            self.finish_replacement(now, old, id);
                        }
                    }
                    Err(e) => {
                        // RFC 3264 §6: nothing acceptable in the offer.
                        let _ = acc.ua.reject(now, sip, StatusCode::NOT_ACCEPTABLE_HERE);
                        return self.fail_call(now, id, e);
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
        acc.ua.reject(now, sip, StatusCode::new(code))?;
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
                    acc.ua.reject(now, sip, StatusCode::DECLINE)
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
        // A call hung up because its media stopped ended in failure, whatever the BYE did.
        let (outcome, error) = match call.media_failed.take() {
            Some(e) => (CallOutcome::Failed, Some(e)),
            None => (outcome, error),
        };
        let account = call.account;
        self.by_sip.retain(|_, v| *v != id);
        if let (Some(old), false) = (call.on_behalf_of, call.has_media()) {
            if let Some(acc) = self.accounts.get_mut(&account) {
                let status = status.filter(|s| *s >= 300).unwrap_or(487);
                let _ = acc.ua.transfer_result(now, old, StatusCode::new(status));
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

    /// The call failed with `error` (published as its outcome).
    /// A call's media event: its media stopped (the call is hung up with a clear reason), or
    /// the far end's stream said RTCP BYE (some servers say it when they switch streams, so
    /// the call ends only if no media follows within [`BYE_GRACE`]).
    pub(in crate::core) fn on_media_event(&mut self, now: Instant, id: CallId, event: MediaEvent) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // Early media (a 183 whose far end then sends nothing while it rings) is no reason to
        // give up on a call: only an answered one is ended.
        if !call.has_media() {
            tracing::debug!(event = ?event, "media event before the answer ignored");
            return;
        }
        let error = match event {
            MediaEvent::RemoteBye { reason } => {
                tracing::info!(reason = ?reason, "the far end's stream said goodbye (RTCP BYE)");
                call.remote_bye = call.media_mut().map(|media| {
                    media.shorten_media_timeout(BYE_GRACE);
                    media.rtp_received()
                });
                return;
            }
            MediaEvent::MediaTimeout { silent_for } if call.remote_bye.is_some() => {
                EngineError::new(
                    ErrorCode::MediaRemoteBye,
                    format!(
                        "the other side ended its audio (RTCP BYE) and sent nothing for {} s",
                        silent_for.as_secs()
                    ),
                )
            }
            MediaEvent::MediaTimeout { silent_for } => EngineError::new(
                ErrorCode::MediaTimeout,
                format!(
                    "no audio or RTCP from the other side for {} s",
                    silent_for.as_secs()
                ),
            ),
            other => {
                tracing::debug!(event = ?other, "media event ignored");
                return;
            }
        };
        tracing::warn!("ending a call whose media stopped: {error}");
        call.media_failed = Some(error);
        let _ = self.hang_up(now, id);
    }

    /// Media came back after an RTCP BYE (a server switching streams): the grace is over and
    /// the call gets the usual media timeout again.
    pub(in crate::core) fn media_resumed_after_bye(&mut self) {
        for call in self.calls.values_mut() {
            let Some(at_bye) = call.remote_bye else {
                continue;
            };
            let resumed = call.media_mut().is_some_and(|media| {
                let more = media.rtp_received() > at_bye;
                if more {
                    media.restore_media_timeout();
                }
                more
            });
            if resumed {
                call.remote_bye = None;
            }
        }
    }

    pub(in crate::core) fn fail_call(&mut self, now: Instant, id: CallId, error: EngineError) {
        self.end_call(now, id, CallOutcome::Failed, None, Some(error), false);
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
