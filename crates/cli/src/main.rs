//! `wren`, the headless softphone: register, call and answer from the command line.
//!
//! Contract (other tools drive it): progress for humans on stderr; the last line on stdout is
//! one JSON object with `result`, `status`, `codec`, `rtp_tx`, `rtp_rx`, `rx_lost`,
//! `jitter_ms`, `duration_s` and, on failure, `error: {code, message}`. Exit 0 only on success.

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::{sleep_until, Instant};
use wren_engine::{
    AccountInput, AudioInput, CallId, CallOutcome, CallState, CallStats, CodecKind,
    ConnectionState, EngineError, EngineEvent, EngineHandle, ErrorCode, EventKind, MediaOptions,
    RegistrationState,
};

#[derive(Parser)]
#[command(
    name = "wren",
    version,
    about = "Wren headless softphone (SIP over WebSocket)"
)]
struct Cli {
    #[command(flatten)]
    account: AccountArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args)]
struct AccountArgs {
    /// SIP WebSocket server, ws:// or wss:// URL.
    #[arg(long, env = "WREN_SERVER", global = true, default_value = "")]
    server: String,
    /// SIP user name.
    #[arg(long, env = "WREN_USER", global = true, default_value = "")]
    user: String,
    /// Password (prefer the WREN_PASSWORD variable: arguments are visible to other users).
    #[arg(
        long,
        env = "WREN_PASSWORD",
        global = true,
        hide_env_values = true,
        default_value = ""
    )]
    password: String,
    /// SIP domain (default: the server's host).
    #[arg(long, env = "WREN_DOMAIN", global = true)]
    domain: Option<String>,
    /// Authentication user name, when it differs from the user.
    #[arg(long, env = "WREN_AUTH_USER", global = true)]
    auth_user: Option<String>,
    /// Extra trusted CA certificate (PEM) for a self-signed server.
    #[arg(long = "ca", env = "WREN_CA", global = true)]
    ca: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct MediaArgs {
    /// WAV file to send.
    #[arg(long, conflicts_with = "tone")]
    play: Option<PathBuf>,
    /// Send a sine tone of this frequency (Hz).
    #[arg(long)]
    tone: Option<f32>,
    /// Record received audio to this WAV file (48 kHz mono 16-bit).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Hang up this many seconds after the call is answered.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Send these DTMF digits (RFC 4733) one second after the call is answered.
    #[arg(long)]
    dtmf: Option<String>,
    /// Put the call on hold this many seconds after it is answered.
    #[arg(long)]
    hold_after: Option<f64>,
    /// Blind-transfer the call to this target two seconds after it is answered.
    #[arg(long)]
    transfer_to: Option<String>,
}

/// Something to do during an answered call.
#[derive(Debug, Clone)]
enum Action {
    Dtmf(String),
    Hold,
    Transfer(String),
}

impl MediaArgs {
    /// The actions and how long after the answer each one happens.
    fn actions(&self) -> Vec<(Duration, Action)> {
        let mut actions = Vec::new();
        if let Some(digits) = &self.dtmf {
            actions.push((Duration::from_secs(1), Action::Dtmf(digits.clone())));
        }
        if let Some(after) = self.hold_after {
            actions.push((secs(after), Action::Hold));
        }
        if let Some(target) = &self.transfer_to {
            actions.push((Duration::from_secs(2), Action::Transfer(target.clone())));
        }
        actions
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Register, print the result, unregister and exit.
    Register {
        /// Registration expiry to ask for, seconds.
        #[arg(long, default_value_t = 600)]
        expires: u32,
    },
    /// Place a call and send/record audio.
    Call {
        /// Who to call: user, user@host or sip: URI.
        uri: String,
        /// Offer only this codec.
        #[arg(long)]
        codec: Option<String>,
        /// Cancel if not answered within this many seconds.
        #[arg(long, default_value_t = 30.0)]
        ring_timeout: f64,
        #[command(flatten)]
        media: MediaArgs,
    },
    /// Register, wait for one incoming call, answer it, send/record audio.
    Answer {
        /// Give up if no call arrives within this many seconds.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
        /// Let it ring this many seconds before answering.
        #[arg(long, default_value_t = 0.0)]
        answer_after: f64,
        /// Decline with this status (e.g. 486, 603) instead of answering.
        #[arg(long)]
        reject: Option<u16>,
        #[command(flatten)]
        media: MediaArgs,
    },
}

/// The JSON line on stdout.
#[derive(Serialize, Default)]
struct Outcome {
    result: &'static str,
    status: Option<u16>,
    codec: Option<String>,
    rtp_tx: u64,
    rtp_rx: u64,
    rx_lost: u64,
    jitter_ms: f64,
    duration_s: f64,
    /// DTMF digits received.
    dtmf_rx: String,
    /// Whether the call was last seen on hold by us (after `--hold-after`).
    held: bool,
    /// Whether the far end had put us on hold when last seen.
    remote_held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<EngineError>,
}

impl Outcome {
    fn failed(error: EngineError) -> Self {
        Self {
            result: "failed",
            error: Some(error),
            ..Default::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The user's filter, then the rules no filter lifts (wren_engine::logging).
    let filter = tracing_subscriber::EnvFilter::try_from_env("WREN_LOG")
        .unwrap_or_else(|_| "warn,ezk_sip_auth=error".into());
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::fmt()
            .with_writer(|| wren_engine::logging::SafeWriter::new(std::io::stderr()))
            // Colour codes would come out escaped (the writer lets no escape sequence through).
            .with_ansi(false)
            .with_env_filter(filter)
            .finish()
            .with(tracing_subscriber::filter::filter_fn(
                wren_engine::logging::quiet_crates,
            ))
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return finish(Outcome::failed(EngineError::new(
                ErrorCode::CliInternal,
                e.to_string(),
            )))
        }
    };
    let outcome = runtime.block_on(run(cli));
    finish(outcome)
}

fn finish(outcome: Outcome) -> ExitCode {
    let ok = matches!(outcome.result, "registered" | "completed" | "transferred");
    if let Some(e) = &outcome.error {
        eprintln!("wren: error: {e}");
    }
    match serde_json::to_string(&outcome) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("wren: can't print the result: {e}"),
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(cli: Cli) -> Outcome {
    let mut input = AccountInput {
        server: cli.account.server,
        user: cli.account.user,
        domain: cli.account.domain,
        auth_user: cli.account.auth_user,
        password: cli.account.password,
        ca_file: cli.account.ca,
        ..Default::default()
    };
    let media = match &cli.command {
        Cmd::Register { expires } => {
            input.register_expires = Some(*expires);
            None
        }
        Cmd::Call { media, codec, .. } => match media_options(media, codec.as_deref()) {
            Ok(m) => Some(m),
            Err(e) => return Outcome::failed(e),
        },
        Cmd::Answer { media, .. } => match media_options(media, None) {
            Ok(m) => Some(m),
            Err(e) => return Outcome::failed(e),
        },
    };
    let account = match input.validate() {
        Ok(a) => a,
        Err(e) => return Outcome::failed(e),
    };
    if !account.server.secure {
        eprintln!(
            "wren: warning: {} is not encrypted (ws://): the password's digest, who calls whom and \
             the call's media details can be read on the network; use wss:// where you can",
            account.server.url()
        );
    }
    let (engine, mut events) = wren_engine::start(account);
    let actions = match &cli.command {
        Cmd::Call { media, .. } | Cmd::Answer { media, .. } => media.actions(),
        Cmd::Register { .. } => Vec::new(),
    };
    let mut session = Session {
        engine: engine.clone(),
        events: &mut events,
        actions,
    };
    let outcome = match (cli.command, media) {
        (Cmd::Register { .. }, _) => session.register().await,
        (
            Cmd::Call {
                uri,
                ring_timeout,
                media: args,
                ..
            },
            Some(m),
        ) => session.call(&uri, m, ring_timeout, args.duration).await,
        (
            Cmd::Answer {
                timeout,
                answer_after,
                reject,
                media: args,
            },
            Some(m),
        ) => {
            session
                .answer(m, timeout, answer_after, reject, args.duration)
                .await
        }
        _ => Outcome::failed(EngineError::new(
            ErrorCode::CliInternal,
            "media options missing",
        )),
    };
    engine.shutdown().await;
    outcome
}

fn media_options(args: &MediaArgs, codec: Option<&str>) -> Result<MediaOptions, EngineError> {
    let input = match (&args.play, args.tone) {
        (Some(path), _) => AudioInput::Wav(path.clone()),
        (None, Some(hz)) if hz > 0.0 && hz < 24_000.0 => AudioInput::Tone(hz),
        (None, Some(hz)) => {
            return Err(EngineError::new(
                ErrorCode::CliInvalidTone,
                format!("tone frequency {hz} Hz is outside 0-24000"),
            ))
        }
        (None, None) => AudioInput::Silence,
    };
    if !(args.duration.is_finite() && args.duration >= 0.0) {
        return Err(EngineError::new(
            ErrorCode::CliInvalidDuration,
            "duration must be >= 0",
        ));
    }
    let codecs = match codec {
        Some(name) => Some(vec![name.parse::<CodecKind>().map_err(|_| {
            EngineError::new(
                ErrorCode::CliInvalidCodec,
                format!("unknown codec {name:?} (opus, pcmu, pcma)"),
            )
        })?]),
        None => None,
    };
    Ok(MediaOptions {
        input,
        record: args.record.clone(),
        codecs,
        ..Default::default()
    })
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX / 4)
}

struct Session<'a> {
    engine: EngineHandle,
    events: &'a mut broadcast::Receiver<EngineEvent>,
    actions: Vec<(Duration, Action)>,
}

impl Session<'_> {
    /// Next event, or `None` at `deadline`.
    async fn next(&mut self, deadline: Instant) -> Option<EventKind> {
        loop {
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Ok(ev) => {
                        progress(&ev.kind);
                        return Some(ev.kind);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = sleep_until(deadline) => return None,
            }
        }
    }

    /// Waits for the flow; the first failure ends the run (the engine would keep retrying).
    async fn connected(&mut self) -> Result<(), EngineError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.next(deadline).await {
                Some(EventKind::Connection {
                    state: ConnectionState::Connected,
                    ..
                }) => return Ok(()),
                Some(EventKind::Connection {
                    state: ConnectionState::Disconnected { error, .. },
                    ..
                }) => return Err(error),
                Some(_) => {}
                None => {
                    return Err(EngineError::new(
                        ErrorCode::NetTimeout,
                        "could not connect in time",
                    ))
                }
            }
        }
    }

    /// Registers; a failure comes back as the outcome to print.
    async fn registered(&mut self) -> Result<u32, Outcome> {
        self.engine.register().await.map_err(Outcome::failed)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.next(deadline).await {
                Some(EventKind::Registration {
                    state: RegistrationState::Registered { expires },
                    ..
                }) => return Ok(expires),
                Some(EventKind::Registration {
                    state: RegistrationState::Failed { error, status },
                    ..
                }) => {
                    return Err(Outcome {
                        status,
                        ..Outcome::failed(error)
                    })
                }
                Some(EventKind::Connection {
                    state: ConnectionState::Disconnected { error, .. },
                    ..
                }) => return Err(Outcome::failed(error)),
                Some(_) => {}
                None => {
                    return Err(Outcome::failed(EngineError::new(
                        ErrorCode::SipTimeout,
                        "no answer to REGISTER in time",
                    )))
                }
            }
        }
    }

    async fn register(&mut self) -> Outcome {
        if let Err(e) = self.connected().await {
            return Outcome::failed(e);
        }
        match self.registered().await {
            Ok(expires) => Outcome {
                result: "registered",
                status: Some(200),
                expires: Some(expires),
                ..Default::default()
            },
            Err(outcome) => outcome,
        }
    }

    async fn call(&mut self, uri: &str, media: MediaOptions, ring: f64, dur: f64) -> Outcome {
        if let Err(e) = self.connected().await {
            return Outcome::failed(e);
        }
        let call = match self.engine.call(uri, media).await {
            Ok(c) => c,
            Err(e) => return Outcome::failed(e),
        };
        let ring_deadline = Instant::now() + secs(ring);
        self.follow(call, ring_deadline, dur).await
    }

    async fn answer(
        &mut self,
        media: MediaOptions,
        timeout: f64,
        answer_after: f64,
        reject: Option<u16>,
        dur: f64,
    ) -> Outcome {
        if let Err(e) = self.connected().await {
            return Outcome::failed(e);
        }
        if let Err(outcome) = self.registered().await {
            return outcome;
        }
        eprintln!("wren: waiting for a call");
        let deadline = Instant::now() + secs(timeout);
        let call = loop {
            match self.next(deadline).await {
                Some(EventKind::CallAdded {
                    call,
                    direction: wren_engine::Direction::Incoming,
                    ..
                }) => break call,
                Some(_) => {}
                None => {
                    return Outcome::failed(EngineError::new(
                        ErrorCode::CliNoIncomingCall,
                        format!("no call arrived within {timeout} s"),
                    ))
                }
            }
        };
        let answer_at = Instant::now() + secs(answer_after);
        // Let it ring, but notice a caller who gives up meanwhile.
        while Instant::now() < answer_at {
            match self.next(answer_at).await {
                Some(EventKind::CallRemoved { call: c, stats, .. }) if c == call => {
                    return Outcome {
                        result: "cancelled",
                        status: Some(487),
                        ..stats_outcome("cancelled", &stats)
                    };
                }
                _ => {}
            }
        }
        let result = match reject {
            Some(code) => self.engine.reject(call, code).await,
            None => self.engine.answer(call, media).await,
        };
        if let Err(e) = result {
            return Outcome::failed(e);
        }
        self.follow(call, Instant::now() + Duration::from_secs(5), dur)
            .await
    }

    /// Follows a call to its end: hangs up at the ring deadline if unanswered, or `dur`
    /// seconds after it became active.
    async fn follow(&mut self, call: CallId, ring_deadline: Instant, dur: f64) -> Outcome {
        let mut hangup_at = ring_deadline;
        let mut hung_up = false;
        let mut answered = false;
        let mut pending: Vec<(Instant, Action)> = Vec::new();
        let (mut held, mut remote_held) = (false, false);
        let mut ended: Option<(CallOutcome, Option<u16>, Option<EngineError>)> = None;
        // Hard stop: never hang around more than a minute after our hangup.
        loop {
            let deadline = if hung_up {
                hangup_at + Duration::from_secs(40)
            } else {
                hangup_at
            };
            let action_at = pending.iter().map(|(at, _)| *at).min();
            if let Some(at) = action_at.filter(|at| *at <= Instant::now()) {
                let idx = pending.iter().position(|(t, _)| *t == at).unwrap_or(0);
                let (_, action) = pending.remove(idx);
                let result = match &action {
                    Action::Dtmf(digits) => self.engine.send_dtmf(call, digits).await,
                    Action::Hold => self.engine.set_held(call, true).await,
                    Action::Transfer(target) => self.engine.transfer(call, target).await,
                };
                if let Err(e) = result {
                    eprintln!("wren: {action:?} failed: {e}");
                }
                continue;
            }
            let outer = deadline;
            let deadline = action_at.map_or(deadline, |at| at.min(deadline));
            match self.next(deadline).await {
                Some(EventKind::CallChanged { call: c, state, .. }) if c == call => match state {
                    CallState::Active {
                        held: h,
                        remote_held: r,
                        ..
                    } if !hung_up => {
                        (held, remote_held) = (h, r);
                        if !answered {
                            answered = true;
                            let now = Instant::now();
                            hangup_at = now + secs(dur);
                            pending = self
                                .actions
                                .iter()
                                .map(|(after, a)| (now + *after, a.clone()))
                                .collect();
                        }
                    }
                    CallState::Ended {
                        outcome,
                        status,
                        error,
                    } => ended = Some((outcome, status, error)),
                    _ => {}
                },
                Some(EventKind::CallRemoved { call: c, stats, .. }) if c == call => {
                    let (outcome, status, error) =
                        ended.unwrap_or((CallOutcome::Failed, None, None));
                    let result = match outcome {
                        CallOutcome::Completed => "completed",
                        CallOutcome::Rejected => "rejected",
                        CallOutcome::Cancelled => "cancelled",
                        CallOutcome::Transferred => "transferred",
                        CallOutcome::Failed => "failed",
                    };
                    return Outcome {
                        status,
                        error,
                        held,
                        remote_held,
                        ..stats_outcome(result, &stats)
                    };
                }
                Some(_) => {}
                // An action is due (not the hangup deadline, not a closed channel).
                None if action_at.is_some_and(|at| at < outer && at <= Instant::now()) => {}
                None if !hung_up => {
                    hung_up = true;
                    match self.engine.hangup(call).await {
                        // The far end hung up at the same moment: its end is on the way.
                        Err(e) if e.code == ErrorCode::SipNoSuchCall => {}
                        Err(e) => return Outcome::failed(e),
                        Ok(()) => {}
                    }
                }
                None => {
                    return Outcome::failed(EngineError::new(
                        ErrorCode::CliHangupTimeout,
                        "the call did not end after hanging up",
                    ))
                }
            }
        }
    }
}

fn stats_outcome(result: &'static str, stats: &CallStats) -> Outcome {
    Outcome {
        result,
        codec: stats.codec.clone(),
        rtp_tx: stats.rtp_tx,
        rtp_rx: stats.rtp_rx,
        rx_lost: stats.rx_lost,
        jitter_ms: (stats.jitter_ms * 100.0).round() / 100.0,
        duration_s: (stats.duration_s * 100.0).round() / 100.0,
        dtmf_rx: stats.dtmf_rx.clone(),
        ..Default::default()
    }
}

/// One line per event for the human watching stderr.
fn progress(kind: &EventKind) {
    let line = match kind {
        EventKind::Connection {
            state: ConnectionState::Connecting,
            ..
        } => "connecting".to_owned(),
        EventKind::Connection {
            state: ConnectionState::Connected,
            ..
        } => "connected".to_owned(),
        EventKind::Connection {
            state:
                ConnectionState::Disconnected {
                    error, retry_in_ms, ..
                },
            ..
        } => {
            format!("disconnected: {error} (retry in {retry_in_ms:?} ms)")
        }
        EventKind::Registration {
            state: RegistrationState::Registering,
            ..
        } => "registering".to_owned(),
        EventKind::Registration {
            state: RegistrationState::Registered { expires },
            ..
        } => {
            format!("registered for {expires} s")
        }
        EventKind::Registration {
            state: RegistrationState::Unregistered,
            ..
        } => "unregistered".to_owned(),
        EventKind::Registration {
            state: RegistrationState::Failed { error, .. },
            ..
        } => {
            format!("registration failed: {error}")
        }
        EventKind::CallAdded { direction, .. } => format!("call added ({direction:?})"),
        EventKind::CallChanged { state, .. } => format!("call: {state:?}"),
        EventKind::CallRemoved { stats, .. } => format!(
            "call removed: {} packets sent, {} received, {} lost",
            stats.rtp_tx, stats.rtp_rx, stats.rx_lost
        ),
        EventKind::AccountAdded { .. } => "account added".to_owned(),
        EventKind::AccountRemoved { .. } => "account removed".to_owned(),
        EventKind::Focus { .. } => return,
    };
    eprintln!("wren: {line}");
}
