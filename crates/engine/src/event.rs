//! What the engine publishes: numbered events, and a snapshot a UI can resync from.

use crate::error::EngineError;
use serde::Serialize;
use wren_sip::CallHandle;

/// Our id for a call, stable for its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CallId(pub u64);

impl From<CallHandle> for CallId {
    fn from(h: CallHandle) -> Self {
        CallId(h.0)
    }
}

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
    /// Incoming and not answered yet.
    Incoming,
    Active {
        codec: String,
        /// Our microphone is muted.
        muted: bool,
        /// We put the call on hold.
        held: bool,
        /// The far end put us on hold.
        remote_held: bool,
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
    /// Handed over to someone else (blind transfer, RFC 3515).
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
    Connection(ConnectionState),
    Registration(RegistrationState),
    CallAdded {
        call: CallId,
        direction: Direction,
        remote: String,
    },
    CallChanged {
        call: CallId,
        state: CallState,
    },
    CallRemoved {
        call: CallId,
        stats: CallStats,
    },
}

impl EventKind {
    /// The kind's name, for logs (which must not carry identities).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Connection(_) => "connection",
            EventKind::Registration(_) => "registration",
            EventKind::CallAdded { .. } => "call_added",
            EventKind::CallChanged { .. } => "call_changed",
            EventKind::CallRemoved { .. } => "call_removed",
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

/// One call in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CallSnapshot {
    pub call: CallId,
    pub direction: Direction,
    pub remote: String,
    pub state: CallState,
}

/// Everything a UI needs to redraw, as of event `seq`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Snapshot {
    pub seq: u64,
    pub connection: ConnectionState,
    pub registration: RegistrationState,
    pub calls: Vec<CallSnapshot>,
}

impl Snapshot {
    pub(crate) fn new() -> Self {
        Self {
            seq: 0,
            connection: ConnectionState::Connecting,
            registration: RegistrationState::Unregistered,
            calls: Vec::new(),
        }
    }

    /// Folds an event into the snapshot (the same projection a UI makes).
    pub fn apply(&mut self, ev: &EngineEvent) {
        self.seq = ev.seq;
        match &ev.kind {
            EventKind::Connection(c) => self.connection = c.clone(),
            EventKind::Registration(r) => self.registration = r.clone(),
            EventKind::CallAdded {
                call,
                direction,
                remote,
            } => self.calls.push(CallSnapshot {
                call: *call,
                direction: *direction,
                remote: remote.clone(),
                state: match direction {
                    Direction::Outgoing => CallState::Calling,
                    Direction::Incoming => CallState::Incoming,
                },
            }),
            EventKind::CallChanged { call, state } => {
                if let Some(c) = self.calls.iter_mut().find(|c| c.call == *call) {
                    c.state = state.clone();
                }
            }
            EventKind::CallRemoved { call, .. } => self.calls.retain(|c| c.call != *call),
        }
    }
}
