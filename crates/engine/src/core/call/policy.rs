//! The focus rule and holds: which calls have the microphone and speaker (the focused call,
//! or every leg of the local conference), switching, merging and splitting, and
//! [`EngineCore::settle`], which brings the ringer, the hub's routing and each call's hold
//! state (a re-INVITE, RFC 3264 §8.4) in line with that intent after every input.

use super::*;

impl EngineCore {
    /// The calls that have the microphone and speaker now.
    pub(in crate::core) fn live(&self) -> Vec<CallId> {
        match self.focus {
            Some(f) if self.conference.contains(&f) => self.conference.clone(),
            Some(f) => vec![f],
            None => Vec::new(),
        }
    }

    /// Brings derived state in line with the calls and the intent: published call states,
    /// the ringer, the hub's routing, holds. Returns whether it queued work for the UAs.
    pub(in crate::core) fn settle(&mut self, now: Instant) -> bool {
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
}
