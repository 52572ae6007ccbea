//! The engine core, sans-IO: every account (its user agent, its WebSocket flow's state and its
//! registration) and every call (its account, SIP handle, media and phase), and all call
//! policy: call waiting, hold on switch, the local conference, transfers, do-not-disturb,
//! reconnecting.
//!
//! Like [`wren_sip::UserAgent`] it does no I/O and reads no clock. Feed it commands (the
//! mutators below), what the I/O layer saw (`flow_*`, [`EngineCore::media_bound`],
//! [`EngineCore::handle_datagram`]) and time ([`EngineCore::handle_timeout`],
//! [`EngineCore::media_tick`]); then drain [`EngineCore::poll_output`]: requests to the I/O
//! layer (open a flow, send on it, bind a socket pair, send a datagram), audio operations for
//! the hub, and [`EngineEvent`]s. [`EngineCore::poll_timeout`] says when to call again.
//!
//! Methods are sorted as quinn-proto sorts `Connection`'s: getters, commands, inputs, polls.

mod accounts;
mod call;
mod flow;
mod media;

use crate::config::AccountConfig;
use crate::error::{EngineError, ErrorCode};
use crate::event::{
    AccountId, CallId, Certificate, ConnectionState, EngineEvent, EventKind, RegistrationState,
    Snapshot,
};
use crate::hub::AudioOp;
use bytes::Bytes;
use call::Call;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};
use wren_sip::{CallHandle, StatusCode, Transport, UaConfig, UaEvent, UserAgent};

/// WebSocket ping interval (keeps NATs and proxies from dropping an idle flow).
const PING_EVERY: Duration = Duration::from_secs(25);
/// No frame for this long means the flow is dead.
const DEAD_AFTER: Duration = Duration::from_secs(70);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// After a policy close (1008) or an unsupported-data close (1003) we don't hammer the server.
const POLICY_BACKOFF: Duration = Duration::from_secs(300);
/// How long shutting down, or removing an account, waits for BYEs and the unregistration.
const GRACE: Duration = Duration::from_secs(3);
/// More calls than this at once are declined busy (a desk phone's line keys).
pub const MAX_CALLS: usize = 4;

/// What the core asks of the I/O layer, the audio hub and the event stream.
#[derive(Debug)]
pub enum Output {
    /// Open the account's WebSocket flow; answer with [`EngineCore::flow_up`] or
    /// [`EngineCore::flow_down`].
    Connect {
        account: AccountId,
        config: Box<AccountConfig>,
    },
    /// Close the account's flow (if open) and forget it; nothing more comes from it.
    Disconnect {
        account: AccountId,
    },
    /// Send on the account's flow without waiting: a full queue is a lost flow.
    Send {
        account: AccountId,
        message: FlowMessage,
    },
    /// Bind an RTP/RTCP port pair on `ip`; answer with [`EngineCore::media_bound`].
    BindMedia {
        call: CallId,
        ip: IpAddr,
    },
    /// Send a datagram from the call's RTP (or RTCP) socket.
    Datagram {
        call: CallId,
        rtcp: bool,
        dest: SocketAddr,
        payload: Vec<u8>,
    },
    /// The call's sockets are no longer needed.
    ReleaseMedia {
        call: CallId,
    },
    Audio(AudioOp),
    Event(EngineEvent),
    /// The transfer asked for with this ticket went through, or didn't.
    TransferDone {
        ticket: u64,
        result: Result<(), EngineError>,
    },
    /// Shutdown is complete: every flow is closed.
    Stopped,
}

/// A message for a flow.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowMessage {
    /// One SIP message (RFC 7118 §5.1: a text frame when UTF-8, binary otherwise).
    Sip(Bytes),
    /// A WebSocket ping (keep-alive).
    Ping,
}

/// How a flow ended, as the I/O layer saw it.
#[derive(Debug, Clone)]
pub enum FlowDown {
    /// The connection attempt failed. `retry_slowly` when retrying soon can't help (a
    /// certificate or configuration problem); `certificate` is the refused server
    /// certificate's SHA-256, so the user can trust it.
    ConnectFailed {
        error: EngineError,
        retry_slowly: bool,
        certificate: Option<String>,
    },
    /// The server closed it with this code (RFC 6455 §7.4) and reason.
    Closed { code: u16, reason: String },
    /// It broke: an I/O error, the end of the stream, or a send queue that stayed full.
    Lost(EngineError),
}

/// What the ringer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingMode {
    #[default]
    Off,
    /// An incoming call and no other call: the ringtone.
    Ring,
    /// An incoming call while another is up: the call-waiting tone in the current call.
    Waiting,
}

/// Where a call's audio goes, one 20 ms frame at a time: the audio hub, or a test's fake.
pub trait AudioPorts {
    /// A new tick starts (the microphone's frame is read once for every call).
    fn begin(&mut self, now: Instant);
    /// The far end's decoded frame of `call`, or `None` when the playout buffer had none.
    fn play(&mut self, call: CallId, frame: Option<&[i16]>);
    /// What `call` sends this tick.
    fn capture(&mut self, call: CallId, out: &mut [i16]);
    /// The tick is over: render the speaker.
    fn end(&mut self, now: Instant);
}

enum Flow {
    /// No connection; the next attempt at `retry_at` (none: not trying).
    Down {
        retry_at: Option<Instant>,
    },
    Connecting,
    Up {
        local_ip: IpAddr,
        last_rx: Instant,
        ping_at: Instant,
    },
}

struct Account {
    cfg: AccountConfig,
    ua: UserAgent,
    flow: Flow,
    backoff: Duration,
    want_registered: bool,
    /// A new configuration that changes the connection, kept until the account's calls end.
    pending: Option<AccountConfig>,
    /// Being removed: gone once its calls end and its unregistration is answered, or then.
    retiring: Option<Instant>,
}

fn ua_config(cfg: &AccountConfig) -> UaConfig {
    UaConfig {
        user: cfg.user.clone(),
        domain: cfg.domain.clone(),
        display_name: cfg.display_name.clone(),
        credentials: wren_sip::Credentials {
            username: cfg.auth_user.clone(),
            password: cfg.password.clone(),
        },
        transport: if cfg.server.secure {
            Transport::Wss
        } else {
            Transport::Ws
        },
        instance_id: cfg.instance_id.clone(),
        register_expires: cfg.register_expires,
        user_agent: format!("Wren/{}", env!("CARGO_PKG_VERSION")),
    }
}

/// Whether going from `a` to `b` needs a new flow and user agent (anything but the codecs).
fn connection_differs(a: &AccountConfig, b: &AccountConfig) -> bool {
    a.server != b.server
        || a.user != b.user
        || a.domain != b.domain
        || a.auth_user != b.auth_user
        || a.password != b.password
        || a.display_name != b.display_name
        || a.ca_file != b.ca_file
        || a.trusted_certificate != b.trusted_certificate
        || a.register_expires != b.register_expires
        || a.instance_id != b.instance_id
}

/// A close reason as it may be shown: printable characters only, at most 120 of them.
fn printable(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect()
}

fn no_account() -> EngineError {
    EngineError::new(ErrorCode::EngineNoSuchAccount, "there is no such account")
}

fn no_call() -> EngineError {
    wren_sip::UaError::NoSuchCall.into()
}

/// The sans-IO engine: accounts, calls and policy.
pub struct EngineCore {
    accounts: BTreeMap<AccountId, Account>,
    default: Option<AccountId>,
    calls: BTreeMap<CallId, Call>,
    /// The user agent's handles, per account, to our ids.
    by_sip: BTreeMap<(AccountId, CallHandle), CallId>,
    /// The call that has the microphone and speaker; when it is a conference leg, every leg.
    focus: Option<CallId>,
    /// The legs of the local conference (none, or two and more).
    conference: Vec<CallId>,
    ring: RingMode,
    /// The routing last sent to the hub.
    route: (Vec<CallId>, bool),
    do_not_disturb: bool,
    registering: bool,
    shutdown: Option<Instant>,
    stopped: bool,
    next_account: u32,
    next_call: u64,
    seed: u64,
    snapshot: Snapshot,
    /// The wall clock as of the last media tick (RTCP's NTP time for a goodbye).
    wall: SystemTime,
    out: VecDeque<Output>,
    frame: Vec<i16>,
}

impl EngineCore {
    /// An engine with no accounts; `seed` drives every random choice (tags, ports, SSRCs).
    pub fn new(seed: u64) -> Self {
        Self {
            accounts: BTreeMap::new(),
            default: None,
            calls: BTreeMap::new(),
            by_sip: BTreeMap::new(),
            focus: None,
            conference: Vec::new(),
            ring: RingMode::Off,
            route: (Vec::new(), false),
            do_not_disturb: false,
            registering: false,
            shutdown: None,
            stopped: false,
            next_account: 1,
            next_call: 1,
            seed,
            snapshot: Snapshot::new(),
            wall: SystemTime::UNIX_EPOCH,
            out: VecDeque::new(),
            frame: vec![0; wren_media::FRAME_SAMPLES],
        }
    }

    // ---- getters ----

    /// Everything as of the last event.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Whether calls need the 20 ms media tick.
    pub fn media_active(&self) -> bool {
        self.calls.values().any(Call::has_media)
    }

    /// The account calls go out from unless the user picks one.
    pub fn default_account(&self) -> Option<AccountId> {
        self.default
    }

    /// Whether shutdown has completed.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    // ---- accounts ----

    /// When [`EngineCore::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let accounts = self.accounts.values().flat_map(|a| {
            let flow = match a.flow {
                Flow::Down { retry_at } => retry_at,
                Flow::Connecting => None,
                Flow::Up { ping_at, .. } => Some(ping_at),
            };
            [a.ua.poll_timeout(), flow, a.retiring]
        });
        accounts.chain([self.shutdown]).flatten().min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<AccountId> = self.accounts.keys().copied().collect();
        for id in ids {
            let Some(account) = self.accounts.get_mut(&id) else {
                continue;
            };
            match account.flow {
                Flow::Down { retry_at: Some(at) } if at <= now => self.connect(now, id),
                Flow::Up {
                    last_rx, ping_at, ..
                } if ping_at <= now => {
                    if now.duration_since(last_rx) > DEAD_AFTER {
                        let error = EngineError::new(
                            ErrorCode::NetKeepaliveTimeout,
                            "the server stopped answering",
                        );
                        self.out.push_back(Output::Disconnect { account: id });
                        self.flow_down(now, id, FlowDown::Lost(error));
                    } else {
                        if let Flow::Up { ping_at, .. } = &mut account.flow {
                            *ping_at = now + PING_EVERY;
                        }
                        self.out.push_back(Output::Send {
                            account: id,
                            message: FlowMessage::Ping,
                        });
                    }
                }
                _ => {}
            }
            if let Some(account) = self.accounts.get_mut(&id) {
                if account.ua.poll_timeout().is_some_and(|t| t <= now) {
                    account.ua.handle_timeout(now);
                }
            }
        }
        self.pump(now);
        self.check_retiring(now);
        self.check_shutdown(now);
    }

    /// One 20 ms media step: every call's far-end frame to `ports`, every live call's frame
    /// from `ports` to its encoder, RTCP when due.
    pub fn media_tick(&mut self, now: Instant, wall: SystemTime, ports: &mut impl AudioPorts) {
        self.wall = wall;
        ports.begin(now);
        for (id, call) in &mut self.calls {
            if let Some(media) = call.media_mut() {
                let frame = media.poll_audio(now);
                ports.play(*id, frame.as_ref().map(|f| &f[..]));
            }
        }
        for (id, call) in &mut self.calls {
            let muted = call.muted();
            if let Some(media) = call.media_mut().filter(|m| m.is_running()) {
                ports.capture(*id, &mut self.frame);
                if muted {
                    self.frame.fill(0);
                }
                media.send_frame(now, wall, &self.frame);
            }
        }
        ports.end(now);
        self.flush_media(now);
    }

    /// A datagram arrived on the call's RTP (or RTCP) socket.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        call: CallId,
        rtcp: bool,
        from: SocketAddr,
        data: &[u8],
    ) {
        if let Some(media) = self.calls.get_mut(&call).and_then(Call::media_mut) {
            media.handle_datagram(now, rtcp, from, data);
        }
        self.flush_media(now);
    }

    // ---- outputs ----

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // ---- internals ----

    /// The account's calls.
    fn calls_of(&self, account: AccountId) -> Vec<CallId> {
        self.calls
            .iter()
            .filter(|(_, c)| c.account == account)
            .map(|(k, _)| *k)
            .collect()
    }

    fn next_seed(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed
    }

    fn emit(&mut self, kind: EventKind) {
        let ev = EngineEvent {
            seq: self.snapshot.seq + 1,
            kind,
        };
        self.snapshot.apply(&ev);
        // Events carry identities (remote parties): log only what happened. Registration and
        // connection changes carry none and are what a user's log is read for.
        match &ev.kind {
            EventKind::Registration { account, state } => match state {
                RegistrationState::Registered { expires } => {
                    tracing::info!(account = account.0, "registered (expires in {expires} s)")
                }
                RegistrationState::Failed { error, status } => {
                    tracing::info!(
                        account = account.0,
                        ?status,
                        "registration failed: {}",
                        error.code
                    )
                }
                RegistrationState::Registering => {
                    tracing::info!(account = account.0, "registering")
                }
                RegistrationState::Unregistered => {
                    tracing::info!(account = account.0, "unregistered")
                }
            },
            EventKind::Connection {
                account,
                state:
                    ConnectionState::Disconnected {
                        error, retry_in_ms, ..
                    },
            } => tracing::info!(
                account = account.0,
                ?retry_in_ms,
                "disconnected: {}",
                error.code
            ),
            kind => tracing::debug!(seq = ev.seq, "event {}", kind.name()),
        }
        self.out.push_back(Output::Event(ev));
    }

    /// Sends what the user agents queued and handles what they reported, until quiet; then
    /// brings the derived state (ringer, routing, holds) in line.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            let ids: Vec<AccountId> = self.accounts.keys().copied().collect();
            for id in ids {
                let Some(account) = self.accounts.get_mut(&id) else {
                    continue;
                };
                let up = matches!(account.flow, Flow::Up { .. });
                while let Some(bytes) = account.ua.poll_transmit() {
                    busy = true;
                    if !up {
                        continue; // lost with the flow; transactions time out or get reset
                    }
                    tracing::trace!(
                        account = id.0,
                        "send {}",
                        wren_sip::redact(&String::from_utf8_lossy(&bytes))
                    );
                    self.out.push_back(Output::Send {
                        account: id,
                        message: FlowMessage::Sip(bytes),
                    });
                }
                let mut events = Vec::new();
                while let Some(ev) = account.ua.poll_event() {
                    events.push(ev);
                }
                for ev in events {
                    busy = true;
                    self.on_ua_event(now, id, ev);
                }
            }
            if !busy && !self.settle(now) {
                break;
            }
        }
    }

    fn on_ua_event(&mut self, now: Instant, id: AccountId, ev: UaEvent) {
        let registration = |state| EventKind::Registration { account: id, state };
        match ev {
            UaEvent::Registered { expires } => {
                if let Some(a) = self.accounts.get_mut(&id) {
                    a.backoff = BACKOFF_MIN;
                }
                self.emit(registration(RegistrationState::Registered { expires }));
            }
            UaEvent::Unregistered => self.emit(registration(RegistrationState::Unregistered)),
            UaEvent::RegistrationFailed { error, status } => {
                self.emit(registration(RegistrationState::Failed {
                    error: error.into(),
                    status: status.map(StatusCode::as_u16),
                }))
            }
            other => self.on_call_event(now, id, other),
        }
    }

    fn flush_media(&mut self, now: Instant) {
        self.media_resumed_after_bye();
        let mut events = Vec::new();
        for (id, call) in &mut self.calls {
            if let Some(media) = call.media_mut() {
                while let Some(t) = media.poll_transmit() {
                    self.out.push_back(Output::Datagram {
                        call: *id,
                        rtcp: t.kind == wren_media::PacketKind::Rtcp,
                        dest: t.dest,
                        payload: t.payload,
                    });
                }
                while let Some(event) = media.poll_event() {
                    events.push((*id, event));
                }
            }
        }
        if events.is_empty() {
            return;
        }
        for (id, event) in events {
            self.on_media_event(now, id, event);
        }
        self.pump(now);
    }
}
