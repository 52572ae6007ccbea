//! The driver: one task that owns the WebSocket flow, the RTP sockets, the SIP user agent and
//! the media sessions, and one deadline. It `select!`s over commands, frames, datagrams, the
//! media clock and the timer, then drains the user agent's outputs.

use crate::config::AccountConfig;
use crate::error::EngineError;
use crate::event::{
    CallId, CallOutcome, CallState, ConnectionState, Direction, EngineEvent, EventKind,
    RegistrationState, Snapshot,
};
use crate::handle::Command;
use crate::media::{CallMedia, MediaOptions};
use crate::wss::{self, Flow, Ws};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::future::{pending, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wren_sip::{CallHandle, EndReason, Transport, UaConfig, UaEvent, UserAgent};

/// WebSocket ping interval (keeps NATs and proxies from dropping an idle flow).
const PING_EVERY: Duration = Duration::from_secs(25);
/// No frame for this long means the flow is dead.
const DEAD_AFTER: Duration = Duration::from_secs(70);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// After a policy close (1008, 1003) we don't hammer the server.
const POLICY_BACKOFF: Duration = Duration::from_secs(300);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
const MEDIA_TICK: Duration = Duration::from_millis(20);

type Connecting = Pin<Box<dyn Future<Output = Result<Flow, EngineError>> + Send>>;

enum Wake {
    Command(Option<Command>),
    Connected(Box<Result<Flow, EngineError>>),
    Frame(Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>),
    Timer,
    MediaTick,
    Datagram(CallHandle, bool, SocketAddr, usize),
}

struct CallSlot {
    direction: Direction,
    offer: Option<Bytes>,
    media: Option<CallMedia>,
    active: bool,
}

pub(crate) struct Driver {
    account: AccountConfig,
    ua: UserAgent,
    cmds: mpsc::Receiver<Command>,
    events: broadcast::Sender<EngineEvent>,
    snapshot: Snapshot,
    ws: Option<Ws>,
    connecting: Option<Connecting>,
    local_ip: IpAddr,
    want_registered: bool,
    reconnect_at: Option<Instant>,
    backoff: Duration,
    ping_at: Option<Instant>,
    last_rx: Instant,
    calls: BTreeMap<CallHandle, CallSlot>,
    media_tick: Option<Interval>,
    seed: u64,
    shutdown: Option<(oneshot::Sender<()>, Instant)>,
    buf: Vec<u8>,
}

impl Driver {
    pub fn new(
        account: AccountConfig,
        cmds: mpsc::Receiver<Command>,
        events: broadcast::Sender<EngineEvent>,
    ) -> Self {
        let seed: u64 = rand::random();
        let ua = UserAgent::new(
            UaConfig {
                user: account.user.clone(),
                domain: account.domain.clone(),
                display_name: account.display_name.clone(),
                credentials: wren_sip::Credentials {
                    username: account.auth_user.clone(),
                    password: account.password.clone(),
                },
                transport: if account.server.secure {
                    Transport::Wss
                } else {
                    Transport::Ws
                },
                instance_id: account.instance_id.clone(),
                register_expires: account.register_expires,
                user_agent: format!("Wren/{}", env!("CARGO_PKG_VERSION")),
            },
            seed,
        );
        Self {
            account,
            ua,
            cmds,
            events,
            snapshot: Snapshot::new(),
            ws: None,
            connecting: None,
            local_ip: IpAddr::from([127, 0, 0, 1]),
            want_registered: false,
            reconnect_at: None,
            backoff: BACKOFF_MIN,
            ping_at: None,
            last_rx: Instant::now(),
            calls: BTreeMap::new(),
            media_tick: None,
            seed,
            shutdown: None,
            buf: vec![0; 2048],
        }
    }

    pub async fn run(mut self) {
        self.start_connect();
        loop {
            let wake = self.wait().await;
            let now = Instant::now();
            match wake {
                Wake::Command(None) => break, // every handle is gone
                Wake::Command(Some(cmd)) => self.on_command(now, cmd),
                Wake::Connected(result) => {
                    self.connecting = None;
                    self.on_connected(now, *result);
                }
                Wake::Frame(frame) => self.on_frame(now, frame).await,
                Wake::Timer => self.on_timer(now).await,
                Wake::MediaTick => {
                    let wall = SystemTime::now();
                    for slot in self.calls.values_mut() {
                        if let Some(m) = &mut slot.media {
                            m.tick(now, wall);
                        }
                    }
                }
                Wake::Datagram(h, is_rtcp, from, n) => {
                    if let Some(m) = self.calls.get_mut(&h).and_then(|s| s.media.as_mut()) {
                        m.on_datagram(now, is_rtcp, from, &self.buf[..n]);
                    }
                }
            }
            self.pump(now).await;
            if self.shutdown_complete(now).await {
                break;
            }
        }
    }

    fn media_active(&self) -> bool {
        self.calls
            .values()
            .any(|s| s.media.as_ref().is_some_and(CallMedia::is_active))
    }

    async fn wait(&mut self) -> Wake {
        let deadline = [
            self.ua.poll_timeout(),
            self.reconnect_at,
            self.ping_at,
            self.shutdown.as_ref().map(|(_, at)| *at),
        ]
        .into_iter()
        .flatten()
        .min();
        let media_active = self.media_active();
        if media_active && self.media_tick.is_none() {
            let mut tick = tokio::time::interval(MEDIA_TICK);
            // Keep the RTP clock honest after a stall: send what is due.
            tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
            self.media_tick = Some(tick);
        } else if !media_active {
            self.media_tick = None;
        }
        let (calls, buf) = (&self.calls, &mut self.buf);
        tokio::select! {
            cmd = self.cmds.recv() => Wake::Command(cmd),
            res = async {
                match self.connecting.as_mut() {
                    Some(c) => c.as_mut().await,
                    None => pending().await,
                }
            } => Wake::Connected(Box::new(res)),
            frame = async {
                match self.ws.as_mut() {
                    Some(ws) => ws.next().await,
                    None => pending().await,
                }
            } => Wake::Frame(frame),
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => pending().await,
                }
            } => Wake::Timer,
            _ = async {
                match self.media_tick.as_mut() {
                    Some(t) => t.tick().await,
                    None => pending().await,
                }
            } => Wake::MediaTick,
            (h, is_rtcp, from, n) = std::future::poll_fn(|cx| {
                for (h, slot) in calls {
                    if let Some(m) = &slot.media {
                        if let Poll::Ready((r, f, n)) = m.poll_recv(cx, buf) {
                            return Poll::Ready((*h, r, f, n));
                        }
                    }
                }
                Poll::Pending
            }) => Wake::Datagram(h, is_rtcp, from, n),
        }
    }

    fn emit(&mut self, kind: EventKind) {
        let ev = EngineEvent {
            seq: self.snapshot.seq + 1,
            kind,
        };
        self.snapshot.apply(&ev);
        // Events carry identities (remote parties): log only what happened.
        tracing::debug!(seq = ev.seq, "event {}", ev.kind.name());
        // No subscriber is fine: the snapshot still has it.
        let _ = self.events.send(ev);
    }

    // ---- connection ----

    fn start_connect(&mut self) {
        self.reconnect_at = None;
        let account = self.account.clone();
        self.connecting = Some(Box::pin(async move { wss::connect(&account).await }));
        if self.snapshot.connection != ConnectionState::Connecting {
            self.emit(EventKind::Connection(ConnectionState::Connecting));
        }
    }

    fn on_connected(&mut self, now: Instant, result: Result<Flow, EngineError>) {
        match result {
            Ok(flow) => {
                tracing::info!("connected to {}", self.account.server.url());
                self.ws = Some(flow.ws);
                self.local_ip = flow.local_ip;
                self.last_rx = now;
                self.ping_at = Some(now + PING_EVERY);
                self.emit(EventKind::Connection(ConnectionState::Connected));
                if self.want_registered && self.shutdown.is_none() {
                    self.ua.register(now);
                    self.emit(EventKind::Registration(RegistrationState::Registering));
                }
            }
            Err(error) => self.schedule_reconnect(now, error, None),
        }
    }

    fn schedule_reconnect(&mut self, now: Instant, error: EngineError, close: Option<CloseCode>) {
        tracing::warn!("connection: {error}");
        let delay = match close {
            Some(CloseCode::Policy | CloseCode::Unsupported) => POLICY_BACKOFF,
            _ if error.code.starts_with("tls.") || error.code.starts_with("config.") => BACKOFF_MAX,
            _ => self.backoff,
        };
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        let retry = self.shutdown.is_none().then_some(delay);
        self.reconnect_at = retry.map(|d| now + d);
        self.emit(EventKind::Connection(ConnectionState::Disconnected {
            error,
            retry_in_ms: retry.map(|d| d.as_millis() as u64),
        }));
    }

    fn lose_flow(&mut self, now: Instant, error: EngineError, close: Option<CloseCode>) {
        self.ws = None;
        self.ping_at = None;
        self.ua.flow_reset(now);
        self.schedule_reconnect(now, error, close);
        if self.want_registered {
            self.emit(EventKind::Registration(RegistrationState::Registering));
        }
    }

    async fn on_frame(
        &mut self,
        now: Instant,
        frame: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) {
        self.last_rx = now;
        match frame {
            Some(Ok(WsMessage::Text(text))) => {
                tracing::trace!("recv {}", wren_sip::redact(&text));
                self.ua.handle_input(now, text.as_bytes());
            }
            Some(Ok(WsMessage::Binary(data))) => self.ua.handle_input(now, &data),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
            Some(Ok(WsMessage::Close(frame))) => {
                let code = frame.as_ref().map(|f| f.code);
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                let error = EngineError::new(
                    "ws.closed",
                    format!("the server closed the connection ({code:?} {reason})"),
                );
                self.lose_flow(now, error, code);
            }
            Some(Err(e)) => self.lose_flow(
                now,
                EngineError::new("net.connection_lost", e.to_string()),
                None,
            ),
            None => self.lose_flow(
                now,
                EngineError::new("net.connection_lost", "the connection ended"),
                None,
            ),
        }
    }

    async fn on_timer(&mut self, now: Instant) {
        if self.reconnect_at.is_some_and(|t| t <= now) {
            self.start_connect();
        }
        if self.ping_at.is_some_and(|t| t <= now) {
            if now.duration_since(self.last_rx) > DEAD_AFTER {
                let error =
                    EngineError::new("net.keepalive_timeout", "the server stopped answering");
                self.lose_flow(now, error, Some(CloseCode::Abnormal));
            } else {
                self.ping_at = Some(now + PING_EVERY);
                self.send_ws(now, WsMessage::Ping(Bytes::new())).await;
            }
        }
        self.ua.handle_timeout(now);
    }

    async fn send_ws(&mut self, now: Instant, msg: WsMessage) {
        let Some(ws) = self.ws.as_mut() else { return };
        if let Err(e) = ws.send(msg).await {
            self.lose_flow(
                now,
                EngineError::new("net.connection_lost", e.to_string()),
                None,
            );
        }
    }

    // ---- commands ----

    fn on_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Register(reply) => {
                self.want_registered = true;
                if self.ws.is_some() {
                    self.ua.register(now);
                    self.emit(EventKind::Registration(RegistrationState::Registering));
                }
                let _ = reply.send(Ok(()));
            }
            Command::Unregister(reply) => {
                self.want_registered = false;
                if self.ws.is_some() {
                    self.ua.unregister(now);
                }
                let _ = reply.send(Ok(()));
            }
            Command::Call {
                target,
                media,
                reply,
            } => {
                let result = self.place_call(now, &target, &media);
                let _ = reply.send(result);
            }
            Command::Answer { call, media, reply } => {
                let _ = reply.send(self.answer(now, CallHandle(call.0), &media));
            }
            Command::Reject { call, code, reply } => {
                let _ = reply.send(
                    self.ua
                        .reject(now, CallHandle(call.0), code)
                        .map_err(Into::into),
                );
            }
            Command::Hangup { call, reply } => {
                let _ = reply.send(self.ua.hangup(now, CallHandle(call.0)).map_err(Into::into));
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(self.snapshot.clone());
            }
            Command::Shutdown(reply) => {
                let handles: Vec<_> = self.calls.keys().copied().collect();
                for h in handles {
                    let _ = self.ua.hangup(now, h);
                }
                if self.want_registered && self.ws.is_some() {
                    self.ua.unregister(now);
                }
                self.want_registered = false;
                self.reconnect_at = None;
                self.shutdown = Some((reply, now + SHUTDOWN_GRACE));
            }
        }
    }

    fn next_seed(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed
    }

    fn place_call(
        &mut self,
        now: Instant,
        target: &str,
        opts: &MediaOptions,
    ) -> Result<CallId, EngineError> {
        if self.ws.is_none() {
            return Err(EngineError::new(
                "net.not_connected",
                "not connected to the server",
            ));
        }
        let seed = self.next_seed();
        let media = CallMedia::open(self.local_ip, opts, self.account.codecs.clone(), seed)?;
        let offer = wren_media::create_offer(&media.local, seed >> 1, 1);
        let handle = self.ua.invite(now, target, Bytes::from(offer))?;
        self.calls.insert(
            handle,
            CallSlot {
                direction: Direction::Outgoing,
                offer: None,
                media: Some(media),
                active: false,
            },
        );
        self.emit(EventKind::CallAdded {
            call: handle.into(),
            direction: Direction::Outgoing,
            remote: target.to_owned(),
        });
        Ok(handle.into())
    }

    fn answer(
        &mut self,
        now: Instant,
        h: CallHandle,
        opts: &MediaOptions,
    ) -> Result<(), EngineError> {
        let seed = self.next_seed();
        let slot = self.calls.get(&h).ok_or(wren_sip::UaError::NoSuchCall)?;
        let offer = slot.offer.clone().ok_or(wren_sip::UaError::InvalidState)?;
        let mut media = CallMedia::open(self.local_ip, opts, self.account.codecs.clone(), seed)?;
        let offer = String::from_utf8_lossy(&offer);
        let (answer, neg) = match wren_media::answer_offer(&offer, &media.local, seed >> 1, 1) {
            Ok(ok) => ok,
            Err(e) => {
                // RFC 3264 §6: nothing acceptable in the offer.
                let _ = self.ua.reject(now, h, 488);
                return Err(EngineError::new(e.code(), e.to_string()));
            }
        };
        self.ua.answer(now, h, Bytes::from(answer))?;
        let codec = neg.codec.to_string();
        media.start(neg, now)?;
        if let Some(slot) = self.calls.get_mut(&h) {
            slot.media = Some(media);
            slot.active = true;
        }
        self.emit(EventKind::CallChanged {
            call: h.into(),
            state: CallState::Active { codec },
        });
        Ok(())
    }

    // ---- user agent outputs ----

    async fn pump(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(ev) = self.ua.poll_event() {
                busy = true;
                self.on_ua_event(now, ev);
            }
            while let Some(bytes) = self.ua.poll_transmit() {
                busy = true;
                if self.ws.is_none() {
                    continue; // lost with the flow; transactions time out or get reset
                }
                tracing::trace!(
                    "send {}",
                    wren_sip::redact(&String::from_utf8_lossy(&bytes))
                );
                // RFC 7118 §5.1: text frames for UTF-8, binary otherwise.
                let msg = match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => WsMessage::text(text),
                    Err(_) => WsMessage::binary(bytes),
                };
                self.send_ws(now, msg).await;
            }
            if !busy {
                break;
            }
        }
    }

    fn on_ua_event(&mut self, now: Instant, ev: UaEvent) {
        match ev {
            UaEvent::Registered { expires } => {
                self.backoff = BACKOFF_MIN;
                self.emit(EventKind::Registration(RegistrationState::Registered {
                    expires,
                }));
            }
            UaEvent::Unregistered => {
                self.emit(EventKind::Registration(RegistrationState::Unregistered))
            }
            UaEvent::RegistrationFailed { error, status } => {
                self.emit(EventKind::Registration(RegistrationState::Failed {
                    error: error.into(),
                    status,
                }))
            }
            UaEvent::IncomingCall { call, from, offer } => {
                if self.shutdown.is_some() {
                    let _ = self.ua.reject(now, call, 480);
                    return;
                }
                self.calls.insert(
                    call,
                    CallSlot {
                        direction: Direction::Incoming,
                        offer: Some(offer),
                        media: None,
                        active: false,
                    },
                );
                let _ = self.ua.ringing(now, call);
                self.emit(EventKind::CallAdded {
                    call: call.into(),
                    direction: Direction::Incoming,
                    remote: display_remote(&from),
                });
            }
            UaEvent::Ringing { call, status, .. } => self.emit(EventKind::CallChanged {
                call: call.into(),
                state: CallState::Ringing { status },
            }),
            UaEvent::Answered { call, sdp } => self.on_answered(now, call, &sdp),
            UaEvent::RemoteSdp { .. } => {
                tracing::debug!("re-INVITE answered with our current SDP");
            }
            UaEvent::Ended {
                call,
                reason,
                status,
            } => self.on_ended(now, call, reason, status),
        }
    }

    fn on_answered(&mut self, now: Instant, call: CallHandle, sdp: &[u8]) {
        let Some(slot) = self.calls.get_mut(&call) else {
            return;
        };
        if slot.direction == Direction::Incoming {
            return; // we answered; media already runs
        }
        let Some(media) = slot.media.as_mut() else {
            return;
        };
        let started = wren_media::accept_answer(&String::from_utf8_lossy(sdp), &media.local)
            .map_err(|e| EngineError::new(e.code(), e.to_string()))
            .and_then(|neg| {
                let codec = neg.codec.to_string();
                media.start(neg, now).map(|()| codec)
            });
        match started {
            Ok(codec) => {
                slot.active = true;
                self.emit(EventKind::CallChanged {
                    call: call.into(),
                    state: CallState::Active { codec },
                });
            }
            Err(e) => {
                tracing::warn!("answer unusable, hanging up: {e}");
                let _ = self.ua.hangup(now, call);
            }
        }
    }

    fn on_ended(&mut self, now: Instant, call: CallHandle, reason: EndReason, status: Option<u16>) {
        let Some(slot) = self.calls.remove(&call) else {
            return;
        };
        let (outcome, error) = match reason {
            EndReason::LocalHangup | EndReason::RemoteHangup => (CallOutcome::Completed, None),
            EndReason::Cancelled | EndReason::RemoteCancelled => (CallOutcome::Cancelled, None),
            EndReason::Rejected(_) | EndReason::Declined(_) => (CallOutcome::Rejected, None),
            EndReason::Failed(e) => (CallOutcome::Failed, Some(EngineError::from(e))),
        };
        let stats = slot
            .media
            .as_ref()
            .map(|m| m.stats(now))
            .unwrap_or_default();
        if let Some(media) = slot.media {
            media.finish(now);
        }
        self.emit(EventKind::CallChanged {
            call: call.into(),
            state: CallState::Ended {
                outcome,
                status,
                error,
            },
        });
        self.emit(EventKind::CallRemoved {
            call: call.into(),
            stats,
        });
    }

    /// During shutdown: done once calls are gone and the unregister is answered (or time is up).
    async fn shutdown_complete(&mut self, now: Instant) -> bool {
        let Some((_, deadline)) = &self.shutdown else {
            return false;
        };
        let settled = self.calls.is_empty() && !self.ua.registration_pending();
        if !settled && now < *deadline {
            return false;
        }
        if let Some(ws) = self.ws.as_mut() {
            let _ = ws.close(None).await;
        }
        if let Some((reply, _)) = self.shutdown.take() {
            let _ = reply.send(());
        }
        true
    }
}

/// The caller as a UI shows it: display name and URI, parameters stripped.
fn display_remote(from: &str) -> String {
    let end = from.find('>').map_or(from.len(), |i| i + 1);
    from[..end].trim().to_owned()
}
