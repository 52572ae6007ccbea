//! The driver: one task that owns the WebSocket flow, the RTP sockets, the SIP user agent and
//! the media sessions, and one deadline. It `select!`s over commands, frames, datagrams, the
//! media clock and the timer, then drains the user agent's outputs.

use crate::config::AccountConfig;
use crate::error::EngineError;
use crate::event::{
    CallId, CallOutcome, CallState, Certificate, ConnectionState, Direction, EngineEvent,
    EventKind, RegistrationState, Snapshot,
};
use crate::handle::{Command, Reply};
use crate::media::{exclusive, AudioEnv, AudioOutput, CallMedia, Levels, MediaOptions, Speaker};
use crate::wss::{self, Flow, Ws};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::future::{pending, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wren_audio::{CadencedTone, Capture, FrameSource, LevelMeter, ToneSource, FRAME_SAMPLES};
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
/// Level meters update about 20 times a second.
const LEVELS_EVERY: Duration = Duration::from_millis(50);
/// How long the busy tone plays after the far end is busy.
const BUSY_TONE: Duration = Duration::from_secs(3);
/// How long the audio test plays its tone.
const TEST_TONE: Duration = Duration::from_secs(1);

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
    opts: MediaOptions,
    active: bool,
    codec: String,
    held: bool,
    remote_held: bool,
    /// Waiting for the far end to take our REFER (or refuse it).
    transfer_reply: Option<Reply<()>>,
    /// This call carries out the far end's REFER on that call: report how it goes.
    transfer_for: Option<CallHandle>,
}

impl CallSlot {
    fn new(direction: Direction, opts: MediaOptions) -> Self {
        CallSlot {
            direction,
            offer: None,
            media: None,
            opts,
            active: false,
            codec: String::new(),
            held: false,
            remote_held: false,
            transfer_reply: None,
            transfer_for: None,
        }
    }

    fn active_state(&self) -> CallState {
        CallState::Active {
            codec: self.codec.clone(),
            muted: self.media.as_ref().is_some_and(|m| m.muted),
            held: self.held,
            remote_held: self.remote_held,
        }
    }
}

/// Local sound not tied to a live call: a busy tone after the call is gone, or the audio test.
struct LocalSound {
    speaker: Speaker,
    tone: Box<dyn FrameSource + Send + Sync>,
    until: Instant,
    /// The microphone, metered (audio test only).
    mic: Option<(Mutex<Capture>, LevelMeter)>,
}

fn no_call() -> EngineError {
    wren_sip::UaError::NoSuchCall.into()
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
    audio: AudioEnv,
    levels: watch::Sender<Levels>,
    levels_at: Instant,
    do_not_disturb: bool,
    /// The ringtone, while an incoming call rings.
    ringer: Option<(Speaker, CadencedTone)>,
    local_sound: Option<LocalSound>,
    /// The server certificate the last TLS handshake refused.
    refused_cert: Arc<Mutex<Option<String>>>,
    frame: Vec<i16>,
}

impl Driver {
    pub fn new(
        account: AccountConfig,
        cmds: mpsc::Receiver<Command>,
        events: broadcast::Sender<EngineEvent>,
        audio: AudioEnv,
        levels: watch::Sender<Levels>,
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
            audio,
            levels,
            levels_at: Instant::now(),
            do_not_disturb: false,
            ringer: None,
            local_sound: None,
            refused_cert: Arc::default(),
            frame: vec![0; FRAME_SAMPLES],
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
                Wake::MediaTick => self.media_tick(now),
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
        self.ringer.is_some()
            || self.local_sound.is_some()
            || self
                .calls
                .values()
                .any(|s| s.media.as_ref().is_some_and(CallMedia::is_active))
    }

    /// Every 20 ms while audio runs: calls, ringtone, local sounds, then the level meters.
    fn media_tick(&mut self, now: Instant) {
        let wall = SystemTime::now();
        for slot in self.calls.values_mut() {
            if let Some(m) = &mut slot.media {
                m.tick(now, wall);
            }
        }
        if let Some((speaker, tone)) = &mut self.ringer {
            tone.read_frame(&mut self.frame);
            speaker.write(&self.frame);
        }
        let mut sound_levels = None;
        if let Some(sound) = &mut self.local_sound {
            if now >= sound.until {
                self.local_sound = None;
            } else {
                sound.tone.read_frame(&mut self.frame);
                sound.speaker.write(&self.frame);
                if let Some((mic, _)) = &mut sound.mic {
                    // Read (and so meter) the microphone; the audio itself goes nowhere.
                    exclusive(mic).read_frame(&mut self.frame);
                }
            }
        }
        if now.duration_since(self.levels_at) < LEVELS_EVERY {
            return;
        }
        self.levels_at = now;
        if let Some(sound) = &self.local_sound {
            sound_levels = Some(Levels {
                input_dbfs: sound
                    .mic
                    .as_ref()
                    .map_or(wren_audio::SILENCE_DBFS, |(_, m)| m.take().rms_dbfs),
                output_dbfs: sound.speaker.level(),
            });
        }
        let levels = sound_levels.or_else(|| {
            self.calls
                .values()
                .filter(|s| s.active && !s.held)
                .find_map(|s| s.media.as_ref().map(CallMedia::levels))
        });
        let levels = levels.unwrap_or(Levels::SILENT);
        self.levels.send_if_modified(|old| {
            let changed = *old != levels;
            *old = levels;
            changed
        });
    }

    /// Starts or stops the ringtone: on while an incoming call waits for an answer.
    fn update_ringer(&mut self) {
        let ringing = self
            .calls
            .values()
            .any(|s| s.direction == Direction::Incoming && !s.active);
        if !ringing {
            self.ringer = None;
            return;
        }
        if self.ringer.is_some() {
            return;
        }
        let Some(tone) = CadencedTone::ringtone(self.audio.prefs.ringtone) else {
            return;
        };
        let ringer = self.audio.prefs.ringer.clone();
        match self.audio.open_playback(ringer.as_deref()) {
            Ok(playback) => self.ringer = Some((Speaker::new(playback), tone)),
            // No sound device (a server, a test): ring silently, the UI still shows it.
            Err(e) => tracing::debug!("no ringtone: {e}"),
        }
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
        // Events carry identities (remote parties): log only what happened. Registration and
        // connection changes carry none and are what a user's log is read for.
        match &ev.kind {
            EventKind::Registration(r) => match r {
                RegistrationState::Registered { expires } => {
                    tracing::info!("registered (expires in {expires} s)")
                }
                RegistrationState::Failed { error, status } => {
                    tracing::info!(?status, "registration failed: {}", error.code)
                }
                RegistrationState::Registering => tracing::info!("registering"),
                RegistrationState::Unregistered => tracing::info!("unregistered"),
            },
            EventKind::Connection(ConnectionState::Disconnected {
                error, retry_in_ms, ..
            }) => tracing::info!(?retry_in_ms, "disconnected: {}", error.code),
            kind => tracing::debug!(seq = ev.seq, "event {}", kind.name()),
        }
        // No subscriber is fine: the snapshot still has it.
        let _ = self.events.send(ev);
    }

    /// Publishes a call's active state (codec, mute, hold) as it stands now.
    fn emit_active(&mut self, h: CallHandle) {
        if let Some(state) = self.calls.get(&h).map(CallSlot::active_state) {
            self.emit(EventKind::CallChanged {
                call: h.into(),
                state,
            });
        }
    }

    // ---- connection ----

    fn start_connect(&mut self) {
        self.reconnect_at = None;
        let account = self.account.clone();
        let refused = self.refused_cert.clone();
        self.connecting = Some(Box::pin(
            async move { wss::connect(&account, refused).await },
        ));
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
        let refused = self
            .refused_cert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let certificate = (error.code == "tls.untrusted_certificate")
            .then_some(refused)
            .flatten()
            .map(|sha256| Certificate { sha256 });
        self.emit(EventKind::Connection(ConnectionState::Disconnected {
            error,
            retry_in_ms: retry.map(|d| d.as_millis() as u64),
            certificate,
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
            Command::SetMuted { call, muted, reply } => {
                let _ = reply.send(self.set_muted(CallHandle(call.0), muted));
            }
            Command::SetHeld { call, held, reply } => {
                let _ = reply.send(self.set_held(now, CallHandle(call.0), held));
            }
            Command::SendDtmf {
                call,
                digits,
                reply,
            } => {
                let result = self
                    .calls
                    .get_mut(&CallHandle(call.0))
                    .and_then(|s| s.media.as_mut())
                    .ok_or_else(no_call)
                    .and_then(|m| m.send_dtmf(&digits));
                let _ = reply.send(result);
            }
            Command::Transfer {
                call,
                target,
                reply,
            } => {
                let h = CallHandle(call.0);
                match self.ua.refer(now, h, &target) {
                    Ok(()) => match self.calls.get_mut(&h) {
                        Some(slot) => slot.transfer_reply = Some(reply),
                        None => {
                            let _ = reply.send(Err(no_call()));
                        }
                    },
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::SetAudio(prefs, reply) => {
                for m in self.calls.values_mut().filter_map(|s| s.media.as_mut()) {
                    m.volume = prefs.volume;
                }
                let ringtone_changed = prefs.ringtone != self.audio.prefs.ringtone
                    || prefs.ringer != self.audio.prefs.ringer;
                self.audio.prefs = prefs;
                if ringtone_changed {
                    self.ringer = None;
                    self.update_ringer();
                }
                let _ = reply.send(Ok(()));
            }
            Command::SetDoNotDisturb(on, reply) => {
                self.do_not_disturb = on;
                let _ = reply.send(Ok(()));
            }
            Command::TestAudio {
                speaker,
                microphone,
                reply,
            } => {
                let _ = reply.send(self.test_audio(now, speaker, microphone));
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

    fn set_muted(&mut self, h: CallHandle, muted: bool) -> Result<(), EngineError> {
        let slot = self.calls.get_mut(&h).ok_or_else(no_call)?;
        let media = slot
            .media
            .as_mut()
            .filter(|_| slot.active)
            .ok_or_else(|| EngineError::new("sip.invalid_state", "the call is not active"))?;
        media.muted = muted;
        self.emit_active(h);
        Ok(())
    }

    /// Hold (RFC 3264 §8.4: offer `sendonly`) or resume (`sendrecv`) with a re-INVITE.
    fn set_held(&mut self, now: Instant, h: CallHandle, held: bool) -> Result<(), EngineError> {
        let slot = self.calls.get_mut(&h).ok_or_else(no_call)?;
        let media = slot
            .media
            .as_mut()
            .filter(|_| slot.active)
            .ok_or_else(|| EngineError::new("sip.invalid_state", "the call is not active"))?;
        if slot.held == held {
            return Ok(());
        }
        let before = media.local.direction;
        media.local.direction = if held {
            wren_media::Direction::SendOnly
        } else {
            wren_media::Direction::SendRecv
        };
        let offer = media.offer();
        if let Err(e) = self.ua.reinvite(now, h, Bytes::from(offer)) {
            media.local.direction = before;
            return Err(e.into());
        }
        Ok(())
    }

    fn test_audio(
        &mut self,
        now: Instant,
        speaker: Option<String>,
        microphone: Option<String>,
    ) -> Result<(), EngineError> {
        let speaker = Speaker::new(self.audio.open_playback(speaker.as_deref())?);
        let capture = self.audio.open_capture_from(microphone.as_deref())?;
        let meter = capture.meter();
        self.local_sound = Some(LocalSound {
            speaker,
            tone: Box::new(ToneSource::new(440.0, -12.0)),
            until: now + TEST_TONE,
            mic: Some((Mutex::new(capture), meter)),
        });
        Ok(())
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
        // A new call silences what is left of a busy tone or test.
        self.local_sound = None;
        let mut media = CallMedia::open(
            self.local_ip,
            opts,
            self.account.codecs.clone(),
            seed,
            &self.audio,
        )?;
        let offer = media.offer();
        let handle = self.ua.invite(now, target, Bytes::from(offer))?;
        let mut slot = CallSlot::new(Direction::Outgoing, opts.clone());
        slot.media = Some(media);
        self.calls.insert(handle, slot);
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
        // The ringtone stops before the speaker opens (they may be the same device).
        self.ringer = None;
        let mut media = CallMedia::open(
            self.local_ip,
            opts,
            self.account.codecs.clone(),
            seed,
            &self.audio,
        )?;
        let (answer, neg) = match media.answer(&offer) {
            Ok(ok) => ok,
            Err(e) => {
                // RFC 3264 §6: nothing acceptable in the offer.
                let _ = self.ua.reject(now, h, 488);
                self.update_ringer();
                return Err(e);
            }
        };
        self.ua.answer(now, h, Bytes::from(answer))?;
        let codec = neg.codec.to_string();
        let remote_held = media.remote_holds(&neg);
        media.start(neg, now, &self.audio)?;
        if let Some(slot) = self.calls.get_mut(&h) {
            slot.media = Some(media);
            slot.opts = opts.clone();
            slot.active = true;
            slot.codec = codec;
            slot.remote_held = remote_held;
            self.emit_active(h);
        }
        self.update_ringer();
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
                let mut slot = CallSlot::new(Direction::Incoming, MediaOptions::default());
                slot.offer = Some(offer);
                self.calls.insert(call, slot);
                self.emit(EventKind::CallAdded {
                    call: call.into(),
                    direction: Direction::Incoming,
                    remote: display_remote(&from),
                });
                if self.do_not_disturb {
                    // Shown and then ended, so the history has it as missed.
                    let _ = self.ua.reject(now, call, 486);
                    return;
                }
                let _ = self.ua.ringing(now, call);
                self.update_ringer();
            }
            UaEvent::Ringing { call, status, sdp } => {
                if let Some(m) = self.calls.get_mut(&call).and_then(|s| s.media.as_mut()) {
                    // Ringback is ours to play unless the far end sends early media (183 +
                    // SDP), which we don't play yet.
                    m.set_ringback(sdp.is_none());
                }
                self.emit(EventKind::CallChanged {
                    call: call.into(),
                    state: CallState::Ringing { status },
                })
            }
            UaEvent::Answered { call, sdp } => self.on_answered(now, call, &sdp),
            UaEvent::Reoffer { call, sdp } => self.on_reoffer(now, call, &sdp),
            UaEvent::ReinviteAnswered { call, sdp } => self.on_reinvite_answered(now, call, &sdp),
            UaEvent::ReinviteFailed { call, status } => {
                tracing::info!(status, "re-INVITE refused; the call stays as it was");
                if let Some(slot) = self.calls.get_mut(&call) {
                    if let Some(m) = slot.media.as_mut() {
                        m.local.direction = if slot.held {
                            wren_media::Direction::SendOnly
                        } else {
                            wren_media::Direction::SendRecv
                        };
                    }
                    self.emit_active(call);
                }
            }
            UaEvent::RemoteSdp { call, sdp } => self.on_reinvite_answered(now, call, &sdp),
            UaEvent::TransferRequested { call, target } => {
                self.on_transfer_requested(now, call, &target)
            }
            UaEvent::TransferProgress { call, .. } | UaEvent::Transferred { call } => {
                if let Some(reply) = self
                    .calls
                    .get_mut(&call)
                    .and_then(|s| s.transfer_reply.take())
                {
                    let _ = reply.send(Ok(()));
                }
            }
            UaEvent::TransferFailed { call, status } => {
                let error = EngineError::new(
                    "sip.transfer_failed",
                    format!("the transfer failed with status {status}"),
                );
                tracing::info!(status, "transfer failed; the call stays up");
                if let Some(reply) = self
                    .calls
                    .get_mut(&call)
                    .and_then(|s| s.transfer_reply.take())
                {
                    let _ = reply.send(Err(error));
                }
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
        let audio = &self.audio;
        let started = media.accept(sdp).and_then(|neg| {
            let codec = neg.codec.to_string();
            let remote_held = media.remote_holds(&neg);
            media.start(neg, now, audio).map(|()| (codec, remote_held))
        });
        match started {
            Ok((codec, remote_held)) => {
                slot.active = true;
                slot.codec = codec;
                slot.remote_held = remote_held;
                let transfer_for = slot.transfer_for;
                self.emit_active(call);
                if let Some(old) = transfer_for {
                    // RFC 3515 §2.4.5: tell the transferor the new call is up.
                    let _ = self.ua.transfer_result(now, old, 200);
                }
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
        if let Some(old) = slot.transfer_for.filter(|_| !slot.active) {
            let _ = self
                .ua
                .transfer_result(now, old, status.filter(|s| *s >= 300).unwrap_or(487));
        }
        if let Some(reply) = slot.transfer_reply {
            let _ = reply.send(Err(EngineError::new(
                "sip.transfer_failed",
                "the call ended before the transfer went through",
            )));
        }
        let busy = matches!(reason, EndReason::Rejected(486 | 600));
        let (outcome, error) = match reason {
            EndReason::Transferred => (CallOutcome::Transferred, None),
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
        if let Some(mut media) = slot.media {
            if busy && slot.opts.output == AudioOutput::Device {
                if let Some(speaker) = media.take_speaker() {
                    self.local_sound = Some(LocalSound {
                        speaker,
                        tone: Box::new(CadencedTone::busy()),
                        until: now + BUSY_TONE,
                        mic: None,
                    });
                }
            }
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
        self.update_ringer();
    }

    /// The far end's new offer (hold, resume, a codec change): answer it with our codecs and
    /// our own hold state (RFC 3264 §8).
    fn on_reoffer(&mut self, now: Instant, call: CallHandle, sdp: &[u8]) {
        let Some(slot) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(media) = slot.media.as_mut().filter(|_| slot.active) else {
            let _ = self.ua.reject_reoffer(now, call, 491);
            return;
        };
        if sdp.is_empty() {
            // An offerless re-INVITE: we offer in the 200, the answer comes in the ACK.
            let offer = media.offer();
            let _ = self.ua.answer_reoffer(now, call, Bytes::from(offer));
            return;
        }
        let answered = media.answer(sdp).and_then(|(answer, neg)| {
            let remote_held = media.remote_holds(&neg);
            media
                .start(neg, now, &self.audio)
                .map(|()| (answer, remote_held))
        });
        match answered {
            Ok((answer, remote_held)) => {
                let _ = self.ua.answer_reoffer(now, call, Bytes::from(answer));
                slot.remote_held = remote_held;
                self.emit_active(call);
            }
            Err(e) => {
                tracing::info!("re-offer not acceptable: {e}");
                let _ = self.ua.reject_reoffer(now, call, 488);
            }
        }
    }

    /// The answer to our re-INVITE (or, for an offerless one, to the offer in our 200).
    fn on_reinvite_answered(&mut self, now: Instant, call: CallHandle, sdp: &[u8]) {
        let Some(slot) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(media) = slot.media.as_mut() else {
            return;
        };
        let audio = &self.audio;
        match media.accept(sdp).and_then(|neg| {
            let remote_held = media.remote_holds(&neg);
            media.start(neg, now, audio).map(|()| remote_held)
        }) {
            Ok(remote_held) => {
                slot.held = media.local.direction == wren_media::Direction::SendOnly;
                slot.remote_held = remote_held;
            }
            Err(e) => tracing::warn!("answer to our re-INVITE unusable: {e}"),
        }
        self.emit_active(call);
    }

    /// The far end asks us to call `target` instead (blind transfer, RFC 3515): place the
    /// call with the same audio, report how it goes; the far end then hangs up on us.
    fn on_transfer_requested(&mut self, now: Instant, call: CallHandle, target: &str) {
        let opts = match self.calls.get(&call) {
            Some(slot) => slot.opts.clone(),
            None => return,
        };
        if let Some(m) = self.calls.get_mut(&call).and_then(|s| s.media.as_mut()) {
            // Our old speaker goes quiet so the new call can have the device.
            let _ = m.take_speaker();
        }
        match self.place_call(now, target, &opts) {
            Ok(id) => {
                if let Some(slot) = self.calls.get_mut(&CallHandle(id.0)) {
                    slot.transfer_for = Some(call);
                }
            }
            Err(e) => {
                tracing::info!("transfer target unreachable: {e}");
                let _ = self.ua.transfer_result(now, call, 503);
            }
        }
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
