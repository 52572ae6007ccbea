//! Several accounts and several calls, through the engine's API, against the lab's real peers:
//! Kamailio (WSS registrar and proxy), baresip (bob, 440 Hz) and linphonec (carol, 880 Hz).
//! Audio is checked by frequency and level in what the far ends recorded.
//!
//! Needs a running lab (`tests/run.sh` starts one and sets `WREN_LAB_DIR`); without it every
//! test fails, loudly.

mod common;

use common::{lab, Lab};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;
use wren_engine::{
    AccountId, AccountInput, AudioInput, CallId, CallState, EngineEvent, EngineHandle, EventKind,
    MediaOptions, RegistrationState,
};
use wren_testkit::tone::{goertzel_power_dbfs, read_wav_mono};

const WREN_HZ: f32 = 1000.0;
const BOB_HZ: f32 = 440.0;
const CAROL_HZ: f32 = 880.0;

impl Lab {
    fn account(&self, user: &str) -> wren_engine::AccountConfig {
        AccountInput {
            server: self.get("WREN_LAB_WSS").into(),
            user: user.into(),
            password: format!("{user}-secret"),
            ca_file: Some(self.get("WREN_LAB_CA").into()),
            ..Default::default()
        }
        .validate()
        .expect("a valid lab account")
    }

    /// The far end's newest recording, begun after `since`, once it is a readable WAV.
    async fn recording(&self, which: &str, since: SystemTime) -> PathBuf {
        for _ in 0..50 {
            let out = self.ctl(&[which]);
            let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            let fresh = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if out.status.success() && fresh && read_wav_mono(&path).is_ok() {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no fresh {which} recording");
    }
}

/// The engine with these lab accounts, registered.
async fn engine(lab: &Lab, users: &[&str]) -> (EngineHandle, Events, Vec<AccountId>) {
    let (engine, rx) = wren_engine::start(lab.account(users[0]));
    let mut events = Events(rx);
    let mut ids = vec![AccountId(1)];
    for user in &users[1..] {
        ids.push(engine.add_account(lab.account(user)).await.expect("add"));
    }
    engine.register().await.expect("register");
    for id in &ids {
        events
            .wait(&engine, "registered", |s| {
                matches!(
                    s.account(*id).map(|a| &a.registration),
                    Some(RegistrationState::Registered { .. })
                )
            })
            .await;
    }
    (engine, events, ids)
}

struct Events(broadcast::Receiver<EngineEvent>);

impl Events {
    /// Waits (at most 15 s) until the engine's snapshot satisfies `cond`.
    async fn wait(
        &mut self,
        engine: &EngineHandle,
        what: &str,
        cond: impl Fn(&wren_engine::Snapshot) -> bool,
    ) -> wren_engine::Snapshot {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let snap = engine.snapshot().await.expect("engine alive");
            if cond(&snap) {
                return snap;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never happened; last {snap:#?}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), self.0.recv()).await;
        }
    }

    /// The next incoming call.
    async fn incoming(&mut self) -> CallId {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.0.recv()).await {
                Ok(Ok(EngineEvent {
                    kind:
                        EventKind::CallAdded {
                            call,
                            direction: wren_engine::Direction::Incoming,
                            ..
                        },
                    ..
                })) => return call,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => panic!("no incoming call within 15 s"),
            }
        }
    }
}

fn tone(hz: f32) -> MediaOptions {
    MediaOptions {
        input: AudioInput::Tone(hz),
        ..Default::default()
    }
}

fn state(snap: &wren_engine::Snapshot, call: CallId) -> Option<&CallState> {
    snap.call(call).map(|c| &c.state)
}

fn live(snap: &wren_engine::Snapshot, call: CallId, conference: bool) -> bool {
    matches!(state(snap, call), Some(CallState::Active { held: false, conference: c, .. }) if *c == conference)
}

fn held(snap: &wren_engine::Snapshot, call: CallId) -> bool {
    matches!(
        state(snap, call),
        Some(CallState::Active { held: true, .. })
    )
}

/// Levels of `tones` in the last `secs` before the end of a recording (its first channel).
fn tail_levels(path: &Path, secs: f64, tones: &[f32]) -> Vec<f64> {
    let (samples, rate, _) = read_wav_mono(path).expect("a WAV");
    let n = (f64::from(rate) * secs) as usize;
    // Leave out the last half second (the hangup).
    let end = samples.len().saturating_sub(rate as usize / 2);
    let tail = &samples[end.saturating_sub(n)..end];
    tones
        .iter()
        .map(|hz| goertzel_power_dbfs(tail, rate, *hz))
        .collect()
}

#[tokio::test]
async fn two_accounts_are_registered_at_once_and_removing_one_keeps_the_other() {
    let lab = lab();
    let (engine, mut events, ids) = engine(&lab, &["alice", "erin"]).await;
    assert!(lab.registered("alice"), "alice bound in Kamailio");
    assert!(lab.registered("erin"), "erin bound in Kamailio");
    engine.remove_account(ids[1]).await.expect("remove");
    events
        .wait(&engine, "erin removed", |s| s.account(ids[1]).is_none())
        .await;
    assert!(!lab.registered("erin"), "erin unregistered");
    assert!(lab.registered("alice"), "alice untouched");
    engine.shutdown().await;
}

/// Wren calls carol; bob calls Wren; the waiting call is answered and carol is held (her
/// phone agrees to the hold offer); then both are merged: each far end hears the other and
/// Wren. (The roles are swapped from "Wren calls bob" because baresip 1.0 stops its decode
/// recording at a re-INVITE: `wren call bob --hold-after 1 --duration 4` leaves a 0.96 s
/// file. Bob, who calls in and is answered, gets no re-INVITE; linphonec records on.)
#[tokio::test]
async fn waiting_call_holds_the_current_one_then_the_conference_mixes_all_three() {
    let lab = lab();
    let since = SystemTime::now();
    let (engine, mut events, _) = engine(&lab, &["alice"]).await;
    let carol = engine
        .call(lab.get("CAROL_URI"), tone(WREN_HZ))
        .await
        .expect("call carol");
    events
        .wait(&engine, "carol answers", |s| live(s, carol, false))
        .await;
    let dial = lab.ctl(&["baresip-dial", "sip:alice@127.0.0.1"]);
    assert!(dial.status.success(), "{dial:?}");
    let bob = events.incoming().await;
    events
        .wait(&engine, "bob waits", |s| {
            matches!(state(s, bob), Some(CallState::Incoming { waiting: true }))
        })
        .await;
    engine.answer(bob, tone(WREN_HZ)).await.expect("answer bob");
    events
        .wait(&engine, "bob live, carol held by agreement", |s| {
            live(s, bob, false) && held(s, carol)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    engine.merge(bob, carol).await.expect("merge");
    events
        .wait(&engine, "a conference", |s| {
            live(s, bob, true) && live(s, carol, true)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    engine.hangup(bob).await.expect("hang up bob");
    engine.hangup(carol).await.expect("hang up carol");
    events
        .wait(&engine, "no calls", |s| s.calls.is_empty())
        .await;
    engine.shutdown().await;

    let bob_rec = lab.recording("latest-baresip-rec", since).await;
    assert_conference_heard(&bob_rec, "bob", BOB_HZ, CAROL_HZ);
    let carol_rec = lab.recording("latest-linphone-rec", since).await;
    assert_conference_heard(&carol_rec, "carol", CAROL_HZ, BOB_HZ);
}

/// In the last 3 s of `who`'s recording: the other leg's tone and Wren's, each within a few
/// dB of the -12 dBFS they were sent at, and nothing of `who`'s own tone.
fn assert_conference_heard(rec: &Path, who: &str, own_hz: f32, other_hz: f32) {
    let [other, wren, own] = tail_levels(rec, 3.0, &[other_hz, WREN_HZ, own_hz])[..] else {
        unreachable!()
    };
    let at = rec.display();
    assert!(
        other > -40.0,
        "{who} hears the other leg: {other:.1} dBFS in {at}"
    );
    assert!(wren > -40.0, "{who} hears Wren: {wren:.1} dBFS in {at}");
    assert!(
        own < other - 15.0,
        "{who} doesn't hear itself: {own:.1} dBFS in {at}"
    );
}

/// Wren calls carol, consults bob, and transfers carol to bob (REFER with Replaces): Wren has
/// no call left and carol and bob hear each other.
#[tokio::test]
async fn attended_transfer_connects_carol_and_bob() {
    let lab = lab();
    let (engine, mut events, _) = engine(&lab, &["alice"]).await;
    let carol = engine
        .call(lab.get("CAROL_URI"), tone(WREN_HZ))
        .await
        .expect("call carol");
    events
        .wait(&engine, "carol answers", |s| live(s, carol, false))
        .await;
    let bob = engine
        .call(lab.get("BOB_URI"), tone(WREN_HZ))
        .await
        .expect("consult bob");
    events
        .wait(&engine, "bob answers, carol held", |s| {
            live(s, bob, false) && held(s, carol)
        })
        .await;
    let since = SystemTime::now();
    engine
        .transfer_attended(carol, bob)
        .await
        .expect("transfer");
    events
        .wait(&engine, "Wren has no call left", |s| s.calls.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let hung = lab.ctl(&["baresip-hangup"]);
    assert!(
        hung.status.success(),
        "bob and carol were connected: {hung:?}"
    );
    engine.shutdown().await;
    let bob_rec = lab.recording("latest-baresip-rec", since).await;
    let [b_carol] = tail_levels(&bob_rec, 2.0, &[CAROL_HZ])[..] else {
        unreachable!()
    };
    assert!(
        b_carol > -40.0,
        "bob hears carol: {b_carol:.1} dBFS in {}",
        bob_rec.display()
    );
    let carol_rec = lab.recording("latest-linphone-rec", since).await;
    let [c_bob] = tail_levels(&carol_rec, 2.0, &[BOB_HZ])[..] else {
        unreachable!()
    };
    assert!(
        c_bob > -40.0,
        "carol hears bob: {c_bob:.1} dBFS in {}",
        carol_rec.display()
    );
}

/// A real far end's INVITE with Replaces replaces a Wren call (RFC 3891): erin (one Wren)
/// calls carol, then consults alice (another Wren, which answers), and transfers carol to
/// alice. linphonec sends alice an INVITE with Replaces naming alice's call with erin: alice's
/// Wren takes carol's call in its place without ringing, erin's Wren has no call left, and
/// carol hears alice's tone.
#[tokio::test]
async fn an_invite_with_replaces_from_linphonec_replaces_the_call() {
    const ALICE_HZ: f32 = 1500.0;
    let lab = lab();
    let (erin, mut erin_events, _) = engine(&lab, &["erin"]).await;
    let (alice, mut alice_events, _) = engine(&lab, &["alice"]).await;
    let carol = erin
        .call(lab.get("CAROL_URI"), tone(WREN_HZ))
        .await
        .expect("call carol");
    erin_events
        .wait(&erin, "carol answers", |s| live(s, carol, false))
        .await;
    let domain = lab.get("WREN_LAB_DOMAIN").to_owned();
    let to_alice = erin
        .call(&format!("sip:alice@{domain}"), tone(WREN_HZ))
        .await
        .expect("consult alice");
    let from_erin = alice_events.incoming().await;
    alice
        .answer(from_erin, tone(ALICE_HZ))
        .await
        .expect("alice answers");
    erin_events
        .wait(&erin, "alice answers, carol held", |s| {
            live(s, to_alice, false) && held(s, carol)
        })
        .await;
    let since = SystemTime::now();
    erin.transfer_attended(carol, to_alice)
        .await
        .expect("transfer");
    let snap = alice_events
        .wait(&alice, "carol's call in place of erin's", |s| {
            s.calls.len() == 1
                && s.call(from_erin).is_none()
                && s.calls[0].remote.contains("carol")
                && live(s, s.calls[0].call, false)
        })
        .await;
    let with_carol = snap.calls[0].call;
    erin_events
        .wait(&erin, "erin has no call left", |s| s.calls.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    alice.hangup(with_carol).await.expect("hang up carol");
    alice_events
        .wait(&alice, "no calls", |s| s.calls.is_empty())
        .await;
    erin.shutdown().await;
    alice.shutdown().await;
    let carol_rec = lab.recording("latest-linphone-rec", since).await;
    let [c_alice] = tail_levels(&carol_rec, 2.0, &[ALICE_HZ])[..] else {
        unreachable!()
    };
    assert!(
        c_alice > -40.0,
        "carol hears alice: {c_alice:.1} dBFS in {}",
        carol_rec.display()
    );
}

/// The engine records its own finished calls (the desktop shell no longer does): a call to
/// carol from a recording engine is in the history with its account, and the store's
/// subscribers hear of it.
#[tokio::test]
async fn the_engine_records_finished_calls_in_the_history() {
    let lab = lab();
    let dir = std::env::temp_dir().join(format!("wren-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let store = wren_engine::HistoryStore::open(&dir.join("history.sqlite3")).expect("db");
    let mut changes = store.subscribe();
    let (engine, rx) = wren_engine::start_recording(
        std::sync::Arc::new(wren_audio::FakeBackend::new()),
        wren_engine::AudioPrefs::default(),
        store.clone(),
    );
    let mut events = Events(rx);
    let alice = engine.add_account(lab.account("alice")).await.expect("add");
    engine.register().await.expect("register");
    events
        .wait(&engine, "registered", |s| {
            matches!(
                s.account(alice).map(|a| &a.registration),
                Some(RegistrationState::Registered { .. })
            )
        })
        .await;
    let carol = engine
        .call(lab.get("CAROL_URI"), tone(WREN_HZ))
        .await
        .expect("call carol");
    events
        .wait(&engine, "carol answers", |s| live(s, carol, false))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    engine.hangup(carol).await.expect("hang up");
    let change = tokio::time::timeout(Duration::from_secs(10), changes.recv())
        .await
        .expect("a history change within 10 s")
        .expect("the store is open");
    let wren_engine::HistoryChange::Added(entry) = change else {
        panic!("expected an added entry, got {change:?}");
    };
    assert!(entry.remote.contains("carol"), "{entry:?}");
    assert_eq!(entry.account, "alice@127.0.0.1");
    assert_eq!(entry.outcome, wren_engine::HistoryOutcome::Answered);
    assert!(entry.duration_s >= 0.9, "{entry:?}");
    assert_eq!(store.list(10).await.expect("list"), [entry]);
    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The UDP ports on 127.0.0.1 this process has open (its sockets, by inode, in
/// /proc/net/udp).
fn own_udp_ports() -> std::collections::BTreeSet<u16> {
    let inodes: std::collections::BTreeSet<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (ip, port) = cols.get(1)?.split_once(':')?;
            let inode = cols.get(9)?;
            (ip == "0100007F" && inodes.contains(*inode))
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect()
}

/// G.711 µ-law of one sample (ITU-T G.711, the usual bias-and-segment form).
fn ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = (s + BIAS).min(0x7fff);
    let exponent = (7 - (s.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// Someone who can reach Wren's RTP port sends a stream of their own (a new SSRC, from a new
/// address) during a call with bob: Wren keeps playing bob's tone (RTP source validation).
#[tokio::test]
async fn rtp_from_a_stranger_does_not_replace_the_far_end() {
    const STRANGER_HZ: f32 = 2000.0;
    let lab = lab();
    let (engine, mut events, _) = engine(&lab, &["alice"]).await;
    let before = own_udp_ports();
    let rec = std::env::temp_dir().join(format!("wren-stranger-{}.wav", std::process::id()));
    let options = MediaOptions {
        input: AudioInput::Tone(WREN_HZ),
        record: Some(rec.clone()),
        codecs: Some(vec![wren_media::CodecKind::Pcmu]),
        ..Default::default()
    };
    let bob = engine
        .call(lab.get("BOB_URI"), options)
        .await
        .expect("call bob");
    events
        .wait(&engine, "bob answers", |s| live(s, bob, false))
        .await;
    let rtp_ports: Vec<u16> = own_udp_ports()
        .difference(&before)
        .copied()
        .filter(|p| p % 2 == 0)
        .collect();
    assert!(!rtp_ports.is_empty(), "found Wren's RTP port");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Two seconds of the stranger's 2 kHz tone, PCMU, 20 ms packets, its own SSRC.
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for n in 0u16..100 {
        let mut packet = vec![0x80, 0x00];
        packet.extend_from_slice(&(40_000u16.wrapping_add(n)).to_be_bytes());
        packet.extend_from_slice(&(u32::from(n) * 160).to_be_bytes());
        packet.extend_from_slice(&0x5eed_0bad_u32.to_be_bytes());
        packet.extend((0..160).map(|i| {
            let t = f32::from(n * 160 + i) / 8000.0;
            ulaw((8000.0 * (2.0 * std::f32::consts::PI * STRANGER_HZ * t).sin()) as i16)
        }));
        for port in &rtp_ports {
            let _ = stranger.send_to(&packet, ("127.0.0.1", *port)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.hangup(bob).await.expect("hang up");
    events
        .wait(&engine, "no calls", |s| s.calls.is_empty())
        .await;
    engine.shutdown().await;
    let [b, s] = tail_levels(&rec, 1.5, &[BOB_HZ, STRANGER_HZ])[..] else {
        unreachable!()
    };
    let _ = std::fs::remove_file(&rec);
    eprintln!(
        "heard while the stranger sent to {rtp_ports:?}: bob {b:.1} dBFS, stranger {s:.1} dBFS"
    );
    assert!(b > -30.0, "bob's tone kept playing: {b:.1} dBFS");
    assert!(
        s < b - 25.0,
        "the stranger's tone was heard: {s:.1} dBFS against bob's {b:.1}"
    );
}
