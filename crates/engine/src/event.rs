//! What the engine publishes: numbered events, and a snapshot a UI can resync from.

use crate::error::EngineError;
use serde::Serialize;

/// The engine's id for an account, minted when it is added and never reused while the engine
/// runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AccountId(pub u32);

/// The engine's id for a call, stable for its life and never reused while the engine runs
/// (not the SIP Call-ID, not the user agent's handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CallId(pub u64);

/// State of the WebSocket flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    Connecting,
    Connected,
    /// Lost or failed; retried in `retry_in_ms` (none when we stopped trying).
    Disconnected {
        error: EngineError,
        retry_in_ms: Option<u64>,
        /// The server certificate we refused (`tls.untrusted_certificate`), so the user can
        /// compare its fingerprint and trust it.
        certificate: Option<Certificate>,
    },
}

/// A server certificate, as the user sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Certificate {
    /// SHA-256 of the DER, uppercase hex pairs joined by `:`.
    pub sha256: String,
}

/// State of the account's registration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RegistrationState {
    Unregistered,
    Registering,
    Registered {
        expires: u32,
    },
    Failed {
        error: EngineError,
        status: Option<u16>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// Where a call stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    Calling,
    /// The far end rings (180) or plays early media (183).
    Ringing {
        status: u16,
    },
    /// Incoming and not answered yet; `waiting` while another call is up (call waiting: a
    /// tone in the current call instead of the ringer).
    Incoming {
        waiting: bool,
    },
    Active {
        codec: String,
        /// Our microphone is muted.
        muted: bool,
        /// We put the call on hold.
        held: bool,
        /// The far end put us on hold.
        remote_held: bool,
        /// A leg of the local three-way conference: it hears the other legs and the microphone.
        conference: bool,
    },
    Ended {
        outcome: CallOutcome,
        status: Option<u16>,
        error: Option<EngineError>,
    },
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// It was answered and then hung up by either side.
    Completed,
    /// The far end (or we, for incoming) refused it.
    Rejected,
    /// Cancelled before answer.
    Cancelled,
    /// Handed over to someone else (blind or attended transfer, RFC 3515), or replaced by
    /// another call (RFC 3891).
    Transferred,
    Failed,
}

/// Media counters of a call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CallStats {
    pub codec: Option<String>,
    pub rtp_tx: u64,
    pub rtp_rx: u64,
    pub rx_lost: u64,
    pub jitter_ms: f64,
    /// Seconds from answer to end.
    pub duration_s: f64,
    /// DTMF digits the far end sent (RFC 4733).
    pub dtmf_rx: String,
}

/// One event kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// An account was added (or changed: the same id comes again with its new name).
    AccountAdded {
        account: AccountId,
        /// `user@domain`, as the user knows the account.
        name: String,
        /// Calls go out from the default account unless the user picks another.
        default: bool,
        /// Its flow is encrypted (`wss://`); a `ws://` account's traffic is readable on the path.
        secure: bool,
    },
    AccountRemoved {
        account: AccountId,
    },
    Connection {
        account: AccountId,
        #[serde(flatten)]
        #[cfg_attr(feature = "ts", ts(flatten))]
        state: ConnectionState,
    },
    Registration {
        account: AccountId,
        #[serde(flatten)]
        #[cfg_attr(feature = "ts", ts(flatten))]
        state: RegistrationState,
    },
    CallAdded {
        call: CallId,
        account: AccountId,
        direction: Direction,
        remote: String,
    },
    CallChanged {
        call: CallId,
        account: AccountId,
        state: CallState,
    },
    CallRemoved {
        call: CallId,
        account: AccountId,
        stats: CallStats,
    },
    /// The call that has the microphone and the speaker (none: every call is held or
    /// ringing); every conference leg has them too.
    Focus {
        call: Option<CallId>,
    },
}

impl EventKind {
    /// The kind's name, for logs (which must not carry identities).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::AccountAdded { .. } => "account_added",
            EventKind::AccountRemoved { .. } => "account_removed",
            EventKind::Connection { .. } => "connection",
            EventKind::Registration { .. } => "registration",
            EventKind::CallAdded { .. } => "call_added",
            EventKind::CallChanged { .. } => "call_changed",
            EventKind::CallRemoved { .. } => "call_removed",
            EventKind::Focus { .. } => "focus",
        }
    }
}

/// An event with its sequence number (gapless, from 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EngineEvent {
    pub seq: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// One account in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AccountSnapshot {
    pub account: AccountId,
    pub name: String,
    pub default: bool,
    /// Its flow is encrypted (`wss://`).
    pub secure: bool,
    pub connection: ConnectionState,
    pub registration: RegistrationState,
}

/// One call in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CallSnapshot {
    pub call: CallId,
    pub account: AccountId,
    pub direction: Direction,
    pub remote: String,
    pub state: CallState,
}

/// Everything a UI needs to redraw, as of event `seq`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Snapshot {
    pub seq: u64,
    /// In the order they were added.
    pub accounts: Vec<AccountSnapshot>,
    /// In the order they were added.
    pub calls: Vec<CallSnapshot>,
    pub focus: Option<CallId>,
}

impl Snapshot {
    /// No account, no call, before any event.
    pub fn empty() -> Self {
        Self::new()
    }

    pub(crate) fn new() -> Self {
        Self {
            seq: 0,
            accounts: Vec::new(),
            calls: Vec::new(),
            focus: None,
        }
    }

    /// The account with this id.
    pub fn account(&self, id: AccountId) -> Option<&AccountSnapshot> {
        self.accounts.iter().find(|a| a.account == id)
    }

    /// The call with this id.
    pub fn call(&self, id: CallId) -> Option<&CallSnapshot> {
        self.calls.iter().find(|c| c.call == id)
    }

    /// Folds an event into the snapshot (the same projection a UI makes).
    pub fn apply(&mut self, ev: &EngineEvent) {
        self.seq = ev.seq;
        match &ev.kind {
            EventKind::AccountAdded {
                account,
                name,
                default,
                secure,
            } => {
                if *default {
                    for a in &mut self.accounts {
                        a.default = false;
                    }
                }
                match self.accounts.iter_mut().find(|a| a.account == *account) {
                    Some(a) => {
                        a.name = name.clone();
                        a.default = *default;
                        a.secure = *secure;
                    }
                    None => self.accounts.push(AccountSnapshot {
                        account: *account,
                        name: name.clone(),
                        default: *default,
                        secure: *secure,
                        connection: ConnectionState::Connecting,
                        registration: RegistrationState::Unregistered,
                    }),
                }
            }
            EventKind::AccountRemoved { account } => {
                self.accounts.retain(|a| a.account != *account)
            }
            EventKind::Connection { account, state } => {
                if let Some(a) = self.accounts.iter_mut().find(|a| a.account == *account) {
                    a.connection = state.clone();
                }
            }
            EventKind::Registration { account, state } => {
                if let Some(a) = self.accounts.iter_mut().find(|a| a.account == *account) {
                    a.registration = state.clone();
                }
            }
            EventKind::CallAdded {
                call,
                account,
                direction,
                remote,
            } => self.calls.push(CallSnapshot {
                call: *call,
                account: *account,
                direction: *direction,
                remote: remote.clone(),
                state: match direction {
                    Direction::Outgoing => CallState::Calling,
                    Direction::Incoming => CallState::Incoming { waiting: false },
                },
            }),
            EventKind::CallChanged { call, state, .. } => {
                if let Some(c) = self.calls.iter_mut().find(|c| c.call == *call) {
                    c.state = state.clone();
                }
            }
            EventKind::CallRemoved { call, .. } => self.calls.retain(|c| c.call != *call),
            EventKind::Focus { call } => self.focus = *call,
        }
    }
}
