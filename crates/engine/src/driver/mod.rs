//! The driver: one task that owns the I/O and feeds the sans-IO [`EngineCore`]. It `select!`s
//! over commands, what the flows report, RTP/RTCP datagrams, the core's next deadline and the
//! media tick, then performs what the core asks. No call policy lives here.
//!
//! Each account's flow is three small tasks: one connects, one reads frames and reports them
//! here, one writes from a bounded queue. The driver never awaits a socket write: a full
//! queue is a lost flow, so a server that stops reading can't stall commands or audio.

use crate::config::AccountConfig;
use crate::core::{EngineCore, FlowDown, FlowMessage, Output};
use crate::devices::{DeviceWorker, Opened};
use crate::error::{EngineError, ErrorCode};
use crate::event::{AccountId, CallId, EngineEvent, EventKind};
use crate::handle::{Command, Reply};
use crate::history::{CallLog, HistoryStore};
use crate::hub::{AudioHub, Pace};
use crate::media::{AudioEnv, Levels};
use crate::wss;
use flow::{spawn_flow, FlowIo, FlowNote, FlowSlot, FlowWhat, SEND_QUEUE};

mod flow;
use std::collections::BTreeMap;
use std::future::pending;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const MEDIA_TICK: Duration = Duration::from_millis(20);
/// Level meters update about 20 times a second.
const LEVELS_EVERY: Duration = Duration::from_millis(50);
enum Wake {
    Command(Option<Command>),
    Device(Opened),
    Flow(FlowNote),
    Timer,
    MediaTick,
    Datagram(CallId, bool, SocketAddr, usize),
}

pub(crate) struct Driver {
    core: EngineCore,
    hub: AudioHub,
    cmds: mpsc::Receiver<Command>,
    events: broadcast::Sender<EngineEvent>,
    levels: watch::Sender<Levels>,
    levels_at: Instant,
    flows: BTreeMap<AccountId, FlowSlot>,
    notes_tx: mpsc::Sender<FlowNote>,
    notes: mpsc::Receiver<FlowNote>,
    /// Devices the worker opened.
    devices: mpsc::UnboundedReceiver<Opened>,
    generation: u64,
    sockets: BTreeMap<CallId, (UdpSocket, UdpSocket)>,
    media_tick: Option<Interval>,
    /// The audio test's answer, waiting for its devices.
    test_reply: Option<Reply<()>>,
    /// Where finished calls are recorded, and the log that tells when a call is finished.
    history: Option<(HistoryStore, CallLog)>,
    transfers: BTreeMap<u64, Reply<()>>,
    next_ticket: u64,
    shutdown: Vec<oneshot::Sender<()>>,
    seed: u64,
    buf: Vec<u8>,
    poll_from: usize,
}

impl Driver {
    pub fn new(
        cmds: mpsc::Receiver<Command>,
        events: broadcast::Sender<EngineEvent>,
        audio: AudioEnv,
        levels: watch::Sender<Levels>,
        history: Option<HistoryStore>,
    ) -> Self {
        let seed: u64 = rand::random();
        let (notes_tx, notes) = mpsc::channel(256);
        let (devices_tx, devices) = mpsc::unbounded_channel();
        let backend = audio.backend.clone();
        let mut hub = AudioHub::new(audio);
        match DeviceWorker::spawn(backend, devices_tx) {
            Ok(worker) => hub.use_worker(worker),
            // Devices then open on the driver's thread, as before.
            Err(e) => tracing::warn!("no device thread: {e}"),
        }
        Self {
            core: EngineCore::new(seed),
            hub,
            cmds,
            events,
            levels,
            levels_at: Instant::now(),
            flows: BTreeMap::new(),
            notes_tx,
            notes,
            devices,
            generation: 0,
            sockets: BTreeMap::new(),
            media_tick: None,
            test_reply: None,
            history: history.map(|store| (store, CallLog::default())),
            transfers: BTreeMap::new(),
            next_ticket: 1,
            shutdown: Vec::new(),
            seed,
            buf: vec![0; 2048],
            poll_from: 0,
        }
    }

    pub async fn run(mut self, first: Option<AccountConfig>) {
        if let Some(cfg) = first {
            self.core.add_account(Instant::now(), cfg);
            self.perform();
        }
        loop {
            let wake = self.wait().await;
            let now = Instant::now();
            match wake {
                Wake::Command(None) => break, // every handle is gone
                Wake::Command(Some(cmd)) => self.on_command(now, cmd),
                Wake::Flow(note) => self.on_flow(now, note),
                Wake::Device(opened) => {
                    self.hub.device_opened(opened);
                    self.answer_test();
                }
                Wake::Timer => self.core.handle_timeout(now),
                Wake::MediaTick => {
                    // As many ticks as the playing device asks for (none if it was early).
                    let ticks = match self.hub.pace(now) {
                        Pace::Free => 1,
                        Pace::Device { frames, .. } => frames,
                    };
                    for _ in 0..ticks {
                        self.core.media_tick(now, SystemTime::now(), &mut self.hub);
                    }
                    self.publish_levels(now);
                }
                Wake::Datagram(call, rtcp, from, n) => {
                    self.core
                        .handle_datagram(now, call, rtcp, from, &self.buf[..n])
                }
            }
            if self.perform() {
                break;
            }
        }
        for (_, flow) in std::mem::take(&mut self.flows) {
            flow.close();
        }
        for reply in self.shutdown.drain(..) {
            let _ = reply.send(());
        }
    }

    async fn wait(&mut self) -> Wake {
        let deadline = self.core.poll_timeout();
        let media = self.core.media_active() || self.hub.active();
        // The playing device paces the ticks; the driver's clock only when none plays.
        let pace = media.then(|| self.hub.pace(Instant::now()));
        if pace == Some(Pace::Free) {
            if self.media_tick.is_none() {
                let mut tick = tokio::time::interval(MEDIA_TICK);
                // Keep the RTP clock honest after a stall: send what is due.
                tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
                self.media_tick = Some(tick);
            }
        } else {
            self.media_tick = None;
        }
        // Start each poll at the next socket, so one flooded port can't starve the others.
        self.poll_from = self.poll_from.wrapping_add(1);
        let skip = self.poll_from % self.sockets.len().max(1);
        let (sockets, buf) = (&self.sockets, &mut self.buf);
        tokio::select! {
            cmd = self.cmds.recv() => Wake::Command(cmd),
            Some(note) = self.notes.recv() => Wake::Flow(note),
            Some(opened) = self.devices.recv() => Wake::Device(opened),
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => pending().await,
                }
            } => Wake::Timer,
            () = async {
                match (pace, self.media_tick.as_mut()) {
                    (Some(Pace::Device { frames: 0, wait }), _) => tokio::time::sleep(wait).await,
                    (Some(Pace::Device { .. }), _) => {}
                    (Some(Pace::Free), Some(t)) => {
                        t.tick().await;
                    }
                    _ => pending().await,
                }
            } => Wake::MediaTick,
            (call, rtcp, from, n) = std::future::poll_fn(|cx| {
                for (call, (rtp, rtcp)) in sockets.iter().cycle().skip(skip).take(sockets.len()) {
                    for (is_rtcp, socket) in [(false, rtp), (true, rtcp)] {
                        let mut rb = ReadBuf::new(buf);
                        if let Poll::Ready(Ok(from)) = socket.poll_recv_from(cx, &mut rb) {
                            return Poll::Ready((*call, is_rtcp, from, rb.filled().len()));
                        }
                    }
                }
                Poll::Pending
            }) => Wake::Datagram(call, rtcp, from, n),
        }
    }

    fn publish_levels(&mut self, now: Instant) {
        if now.duration_since(self.levels_at) < LEVELS_EVERY {
            return;
        }
        self.levels_at = now;
        let levels = self.hub.levels();
        self.levels.send_if_modified(|old| {
            let changed = *old != levels;
            *old = levels;
            changed
        });
    }

    /// Carries out what the core asked; true once it has stopped.
    /// Hands a finished call to the history store (its own thread writes it; the driver
    /// doesn't wait).
    fn record(&mut self, kind: &EventKind) {
        let Some((store, log)) = &mut self.history else {
            return;
        };
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        if let Some(entry) = log.observe(kind, now_ms) {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.add(entry).await {
                    tracing::warn!("a call was not recorded: {e}");
                }
            });
        }
    }

    /// Answers the audio test once its devices opened (or one failed to).
    fn answer_test(&mut self) {
        if let Some(result) = self.hub.take_test_result() {
            if let Some(reply) = self.test_reply.take() {
                let _ = reply.send(result);
            }
        }
    }

    fn perform(&mut self) -> bool {
        let mut stopped = false;
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Connect { account, config } => self.connect(account, *config),
                Output::Disconnect { account } => {
                    if let Some(flow) = self.flows.remove(&account) {
                        flow.close();
                    }
                }
                Output::Send { account, message } => self.send(account, message),
                Output::BindMedia { call, ip } => {
                    self.seed = self
                        .seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let bound = bind_pair(ip, self.seed).and_then(|(rtp, rtcp)| {
                        let addr = rtp.local_addr().map_err(|e| {
                            EngineError::new(ErrorCode::MediaBindFailed, e.to_string())
                        })?;
                        self.sockets.insert(call, (rtp, rtcp));
                        Ok(addr)
                    });
                    self.core.media_bound(Instant::now(), call, bound);
                }
                Output::Datagram {
                    call,
                    rtcp,
                    dest,
                    payload,
                } => {
                    if let Some((rtp_socket, rtcp_socket)) = self.sockets.get(&call) {
                        let socket = if rtcp { rtcp_socket } else { rtp_socket };
                        // UDP: a full socket buffer drops the packet, like the network would.
                        if let Err(e) = socket.try_send_to(&payload, dest) {
                            tracing::debug!("media send failed: {e}");
                        }
                    }
                }
                Output::ReleaseMedia { call } => {
                    self.sockets.remove(&call);
                }
                Output::Audio(op) => self.hub.apply(op),
                Output::Event(ev) => {
                    self.record(&ev.kind);
                    // No subscriber is fine: the snapshot still has it.
                    let _ = self.events.send(ev);
                }
                Output::TransferDone { ticket, result } => {
                    if let Some(reply) = self.transfers.remove(&ticket) {
                        let _ = reply.send(result);
                    }
                }
                Output::Stopped => stopped = true,
            }
        }
        stopped
    }

    fn connect(&mut self, account: AccountId, config: AccountConfig) {
        if let Some(old) = self.flows.remove(&account) {
            old.close();
        }
        self.generation += 1;
        let generation = self.generation;
        let notes = self.notes_tx.clone();
        let task = tokio::spawn(async move {
            let refused = Arc::new(Mutex::new(None));
            let what = match wss::connect(&config, refused.clone()).await {
                Ok(flow) => {
                    let (writer, tasks) = spawn_flow(account, generation, flow.ws, notes.clone());
                    FlowWhat::Up {
                        local_ip: flow.local_ip,
                        writer,
                        tasks,
                    }
                }
                Err(e) => {
                    let certificate = refused
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take();
                    FlowWhat::Down(FlowDown::ConnectFailed {
                        certificate: certificate.filter(|_| e.error.code.is_certificate()),
                        error: e.error,
                        retry_slowly: e.retry_slowly,
                    })
                }
            };
            let _ = notes
                .send(FlowNote {
                    account,
                    generation,
                    what,
                })
                .await;
        });
        self.flows.insert(
            account,
            FlowSlot {
                generation,
                io: FlowIo::Connecting(task),
            },
        );
    }

    fn send(&mut self, account: AccountId, message: FlowMessage) {
        let Some(FlowSlot {
            io: FlowIo::Up { writer, .. },
            ..
        }) = self.flows.get(&account)
        else {
            return;
        };
        let msg = match message {
            // RFC 7118 §5.1: text frames for UTF-8, binary otherwise.
            FlowMessage::Sip(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => WsMessage::text(text),
                Err(_) => WsMessage::binary(bytes),
            },
            FlowMessage::Ping => WsMessage::Ping(bytes::Bytes::new()),
        };
        match writer.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let error = EngineError::new(
                    ErrorCode::NetSendStalled,
                    format!("the server stopped reading ({SEND_QUEUE} messages queued)"),
                );
                if let Some(flow) = self.flows.remove(&account) {
                    flow.close();
                }
                self.core
                    .flow_down(Instant::now(), account, FlowDown::Lost(error));
            }
            // The writer ended; its report is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn on_flow(&mut self, now: Instant, note: FlowNote) {
        let current = self
            .flows
            .get(&note.account)
            .is_some_and(|f| f.generation == note.generation);
        if !current {
            if let FlowWhat::Up { tasks, .. } = note.what {
                tasks.iter().for_each(JoinHandle::abort);
            }
            return;
        }
        match note.what {
            FlowWhat::Up {
                local_ip,
                writer,
                tasks,
            } => {
                if let Some(slot) = self.flows.get_mut(&note.account) {
                    slot.io = FlowIo::Up { writer, tasks };
                }
                self.core.flow_up(now, note.account, local_ip);
            }
            FlowWhat::Frame(WsMessage::Text(text)) => {
                self.core.flow_data(now, note.account, text.as_bytes())
            }
            FlowWhat::Frame(WsMessage::Binary(data)) => {
                self.core.flow_data(now, note.account, &data)
            }
            FlowWhat::Frame(_) => self.core.flow_alive(now, note.account),
            FlowWhat::Down(why) => {
                if let Some(flow) = self.flows.remove(&note.account) {
                    flow.close();
                }
                self.core.flow_down(now, note.account, why);
            }
        }
    }

    fn on_command(&mut self, now: Instant, cmd: Command) {
        let core = &mut self.core;
        match cmd {
            Command::AddAccount(cfg, reply) => {
                let _ = reply.send(Ok(core.add_account(now, *cfg)));
            }
            Command::UpdateAccount(id, cfg, reply) => {
                let _ = reply.send(core.update_account(now, id, *cfg));
            }
            Command::RemoveAccount(id, reply) => {
                let _ = reply.send(core.remove_account(now, id));
            }
            Command::SetDefaultAccount(id, reply) => {
                let _ = reply.send(core.set_default(id));
            }
            Command::Register(reply) => {
                core.register(now);
                let _ = reply.send(Ok(()));
            }
            Command::Unregister(reply) => {
                core.unregister(now);
                let _ = reply.send(Ok(()));
            }
            Command::Call {
                account,
                target,
                media,
                reply,
            } => {
                let result = self.hub.prepare(&media).and_then(|port| {
                    let id = core.call(now, account, &target, media.codecs.clone())?;
                    self.hub.attach(id, port);
                    Ok(id)
                });
                let _ = reply.send(result);
            }
            Command::Answer { call, media, reply } => {
                // The port is attached only once the core took the answer (a second Answer
                // must not replace a live call's port); the sockets are bound, and the
                // answer sent, when the core's outputs run after this command.
                let result = self.hub.prepare(&media).and_then(|port| {
                    core.answer(now, call, media.codecs.clone())?;
                    self.hub.attach(call, port);
                    Ok(())
                });
                let _ = reply.send(result);
            }
            Command::Reject { call, code, reply } => {
                let _ = reply.send(core.reject(now, call, code));
            }
            Command::Hangup { call, reply } => {
                let _ = reply.send(core.hangup(now, call));
            }
            Command::SetMuted { call, muted, reply } => {
                let _ = reply.send(core.set_muted(now, call, muted));
            }
            Command::SetHeld { call, held, reply } => {
                let _ = reply.send(core.set_held(now, call, held));
            }
            Command::Focus { call, reply } => {
                let _ = reply.send(core.focus(now, call));
            }
            Command::Merge { call, other, reply } => {
                let _ = reply.send(core.merge(now, call, other));
            }
            Command::Split { call, reply } => {
                let _ = reply.send(core.split(now, call));
            }
            Command::SendDtmf {
                call,
                digits,
                reply,
            } => {
                let _ = reply.send(core.send_dtmf(now, call, &digits));
            }
            Command::Transfer {
                call,
                target,
                reply,
            } => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                match core.transfer(now, call, &target, ticket) {
                    Ok(()) => {
                        self.transfers.insert(ticket, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::TransferAttended { call, to, reply } => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                match core.transfer_attended(now, call, to, ticket) {
                    Ok(()) => {
                        self.transfers.insert(ticket, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::SetAudio(prefs, reply) => {
                self.hub.set_prefs(prefs);
                let _ = reply.send(Ok(()));
            }
            Command::SetDoNotDisturb(on, reply) => {
                core.set_do_not_disturb(on);
                let _ = reply.send(Ok(()));
            }
            Command::TestAudio {
                speaker,
                microphone,
                reply,
            } => {
                // A test still opening its devices gives way to this one.
                if let Some(earlier) = self.test_reply.take() {
                    let _ = earlier.send(Ok(()));
                }
                self.hub.test_audio(speaker, microphone);
                self.test_reply = Some(reply);
                self.answer_test();
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(core.snapshot().clone());
            }
            Command::Shutdown(reply) => {
                self.shutdown.push(reply);
                core.shutdown(now);
            }
        }
    }
}

fn bind_pair(ip: IpAddr, seed: u64) -> Result<(UdpSocket, UdpSocket), EngineError> {
    let mut x = seed | 1;
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Above the lab peers' and most PBX defaults (10000-20000), below the ephemeral range.
        let port = 40_000 + ((x % 20_000) as u16 & !1);
        let Ok(rtp) = std::net::UdpSocket::bind((ip, port)) else {
            continue;
        };
        let Ok(rtcp) = std::net::UdpSocket::bind((ip, port + 1)) else {
            continue;
        };
        let wrap = |s: std::net::UdpSocket| -> Result<UdpSocket, EngineError> {
            s.set_nonblocking(true)
                .and_then(|()| UdpSocket::from_std(s))
                .map_err(|e| EngineError::new(ErrorCode::MediaBindFailed, e.to_string()))
        };
        return Ok((wrap(rtp)?, wrap(rtcp)?));
    }
    Err(EngineError::new(
        ErrorCode::MediaBindFailed,
        format!("no free RTP port pair on {ip}"),
    ))
}
