//! One long-running engine places many calls in a row to bob (baresip, through Kamailio):
//! a leak inside one engine shows only here, not in back-to-back CLI runs
//! (`tests/soak/calls.sh`). Every call is answered, carries a second of tone, is hung up and
//! leaves no call behind; this process's resident memory after the last call stays within a
//! bound of what it was after the first; bob is left with no call and Kamailio with no binding.
//!
//! `WREN_SOAK_CALLS` calls (default 10, CI's short version; `tests/soak/README.md` has the
//! 200-call figures). Needs a running lab (`WREN_LAB_DIR`), like the other interop suites.

mod common;

use common::{lab, Lab};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use wren_engine::{
    AccountInput, AudioInput, CallId, CallOutcome, CallState, EngineEvent, EngineHandle, EventKind,
    MediaOptions, RegistrationState, Snapshot,
};

const WREN_HZ: f32 = 1000.0;
const DEFAULT_CALLS: usize = 10;
/// Allowed growth of resident memory from after call 1 to after the last call: under 20 MB
/// and under 25 % (with a ~10 MB process the 25 % is the one that bites, ~2.5 MB). Measured
/// on the lab machine (tests/soak/README.md): 304 kB over 200 calls, 100 kB over 10, so the
/// bound leaves about 8x headroom at 200 calls and would catch a leak of ~12 kB a call (far
/// less than one call's media buffers) there.
const MAX_GROWTH_KB: u64 = 20 * 1024;
const MAX_GROWTH_SHARE: f64 = 0.25;
/// Every wait in the loop is bounded: one call must be over within this.
const PER_CALL: Duration = Duration::from_secs(30);

/// This process's resident set (VmRSS), in kB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Waits until the snapshot satisfies `cond`, or `deadline`; the snapshot either way.
async fn wait_until(
    engine: &EngineHandle,
    events: &mut broadcast::Receiver<EngineEvent>,
    deadline: tokio::time::Instant,
    cond: impl Fn(&Snapshot) -> bool,
) -> Result<Snapshot, Snapshot> {
    loop {
        let snap = engine.snapshot().await.expect("engine alive");
        if cond(&snap) {
            return Ok(snap);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(snap);
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    }
}

fn active(snap: &Snapshot, call: CallId) -> bool {
    matches!(
        snap.call(call).map(|c| &c.state),
        Some(CallState::Active { held: false, .. })
    )
}

/// The end of one call as the event stream told it: outcome and media counters.
#[derive(Debug, Default)]
struct Ending {
    outcome: Option<CallOutcome>,
    rtp_tx: u64,
    rtp_rx: u64,
    removed: bool,
}

/// Places one call to bob, keeps it a second, hangs up; `Err` says what went wrong.
async fn one_call(
    lab: &Lab,
    engine: &EngineHandle,
    events: &mut broadcast::Receiver<EngineEvent>,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + PER_CALL;
    // Events of earlier calls are of no interest here.
    while events.try_recv().is_ok() {}
    let options = MediaOptions {
        input: AudioInput::Tone(WREN_HZ),
        ..Default::default()
    };
    let call = engine
        .call(lab.get("BOB_URI"), options)
        .await
        .map_err(|e| format!("call: {e}"))?;
    let answered = wait_until(engine, events, deadline, |s| active(s, call)).await;
    if let Err(snap) = answered {
        let _ = engine.hangup(call).await;
        return Err(format!("not answered: {:?}", snap.call(call)));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    engine
        .hangup(call)
        .await
        .map_err(|e| format!("hangup: {e}"))?;
    let mut ending = Ending::default();
    while !ending.removed {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(EngineEvent { kind, .. })) => match kind {
                EventKind::CallChanged {
                    call: c,
                    state: CallState::Ended { outcome, .. },
                    ..
                } if c == call => ending.outcome = Some(outcome),
                EventKind::CallRemoved { call: c, stats, .. } if c == call => {
                    ending.rtp_tx = stats.rtp_tx;
                    ending.rtp_rx = stats.rtp_rx;
                    ending.removed = true;
                }
                _ => {}
            },
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                return Err(format!("event stream lagged by {n}"))
            }
            Ok(Err(e)) => return Err(format!("event stream: {e}")),
            Err(_) => return Err(format!("not removed within {PER_CALL:?}: {ending:?}")),
        }
    }
    if ending.outcome != Some(CallOutcome::Completed) {
        return Err(format!("ended badly: {ending:?}"));
    }
    // A second of 20 ms packets is 50 each way; leave room for the answer and the hangup.
    if ending.rtp_tx < 30 || ending.rtp_rx < 30 {
        return Err(format!("too little media: {ending:?}"));
    }
    wait_until(engine, events, deadline, |s| s.calls.is_empty())
        .await
        .map_err(|snap| format!("calls left: {:?}", snap.calls))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_places_many_calls_in_a_row_without_failures_or_growth() {
    let calls: usize = std::env::var("WREN_SOAK_CALLS")
        .ok()
        .map(|v| v.parse().expect("WREN_SOAK_CALLS is a number"))
        .unwrap_or(DEFAULT_CALLS);
    assert!(calls >= 2, "WREN_SOAK_CALLS must be at least 2");
    let lab = lab();
    let started = Instant::now();
    let account = AccountInput {
        server: lab.get("WREN_LAB_WSS").into(),
        user: "alice".into(),
        password: "alice-secret".into(),
        ca_file: Some(lab.get("WREN_LAB_CA").into()),
        ..Default::default()
    }
    .validate()
    .expect("a valid lab account");
    let (engine, mut events) = wren_engine::start(account);
    engine.register().await.expect("register");
    let registered = wait_until(
        &engine,
        &mut events,
        tokio::time::Instant::now() + Duration::from_secs(15),
        |s| {
            s.accounts
                .iter()
                .any(|a| matches!(a.registration, RegistrationState::Registered { .. }))
        },
    )
    .await;
    assert!(registered.is_ok(), "never registered: {registered:?}");

    let mut failures = Vec::new();
    let mut rss_first = 0;
    let mut rss_max = 0;
    let loop_start = Instant::now();
    for n in 1..=calls {
        if let Err(why) = one_call(&lab, &engine, &mut events).await {
            eprintln!("call {n}: {why}");
            failures.push((n, why));
            // Bounded: a run that keeps failing stops early rather than hammering the lab.
            if failures.len() >= 10 {
                break;
            }
        }
        let rss = rss_kb();
        rss_max = rss_max.max(rss);
        if n == 1 {
            rss_first = rss;
        }
        if n == 1 || n % 10 == 0 || n == calls {
            eprintln!("call {n}: VmRSS {rss} kB");
        }
    }
    let rss_last = rss_kb();
    let loop_s = loop_start.elapsed().as_secs_f64();

    let bob = lab.ctl(&["baresip-cmd", "listcalls"]);
    let bob_calls = String::from_utf8_lossy(&bob.stdout).into_owned();
    engine.shutdown().await;
    // The un-REGISTER has been sent once shutdown returns; give Kamailio a moment.
    let mut still_bound = lab.registered("alice");
    for _ in 0..20 {
        if !still_bound {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        still_bound = lab.registered("alice");
    }

    let growth = rss_last.saturating_sub(rss_first);
    eprintln!(
        "soak: {calls} calls, {} failures, VmRSS after call 1 {rss_first} kB, after the last \
         {rss_last} kB (max {rss_max} kB, growth {growth} kB), {loop_s:.1} s ({:.2} s a call), \
         {:.1} s in all",
        failures.len(),
        loop_s / calls as f64,
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    assert!(
        growth < MAX_GROWTH_KB && (growth as f64) < MAX_GROWTH_SHARE * rss_first as f64,
        "resident memory grew {growth} kB over {calls} calls ({rss_first} -> {rss_last} kB)"
    );
    assert!(
        bob.status.success() && bob_calls.contains("Active calls (0)"),
        "bob left in a call: {bob_calls}"
    );
    assert!(!still_bound, "alice still bound at Kamailio after shutdown");
}
