//! The engine core's call policy in simulated time: the sans-IO [`EngineCore`] with its real
//! audio hub, on testkit's simulated network with a fake registrar/proxy, against far ends
//! that are real SIP user agents with real RTP sessions (tones in, recordings out). No sockets,
//! no sleeps: seconds of calls run in milliseconds.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wren_audio::{FrameSource, ToneSource};
use wren_engine::core::{EngineCore, FlowDown, FlowMessage, Output, RingMode};
use wren_engine::hub::{AudioHub, AudioOp};
use wren_engine::{
    AccountId, AccountInput, AudioInput, AudioOutput, AudioPrefs, CallId, CallOutcome, CallState,
    CodecKind, EngineError, EngineEvent, ErrorCode, EventKind, FakeBackend, MediaOptions,
    RegistrationState,
};
use wren_media::{Direction as SdpDirection, LocalMedia, MediaSession, FRAME_SAMPLES};
use wren_sip::{CallHandle, StatusCode, Transport, UaEvent};
use wren_testkit::tone::goertzel_power_dbfs;
use wren_testkit::{ua_config, Link, Node, ProxyConfig, Sim, UaId};

const DOMAIN: &str = "sip.test";
const TICK: Duration = Duration::from_millis(20);
/// Wren's own "microphone" in these tests: a 1 kHz tone on every call.
const WREN_HZ: f32 = 1000.0;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A far end's media for one call: sends its tone, records what it hears.
struct FarMedia {
    session: MediaSession,
    local: LocalMedia,
    tone: ToneSource,
    heard: Vec<i16>,
    version: u64,
}

/// A far end: a SIP UA in the simulation that answers, re-answers holds, carries out
/// transfers and takes replacements, with one tone of its own.
struct Far {
    id: UaId,
    hz: f32,
    addr: IpAddr,
    next_port: u16,
    cursor: usize,
    auto_answer: bool,
    /// Re-INVITEs are refused with this status instead of answered.
    refuse_reoffers: Option<u16>,
    /// Re-INVITEs are answered with SDP that can't be used.
    broken_reanswers: bool,
    /// Its media no longer reaches Wren (a far end whose phone died, a cut network path).
    silent: bool,
    /// Our calls are answered with this SDP instead of a usable one.
    broken_answer: Option<&'static str>,
    calls: BTreeMap<CallHandle, FarMedia>,
    /// Offers of our calls still waiting for their answer.
    offers: BTreeMap<CallHandle, LocalMedia>,
    reoffers: usize,
    /// Transfers we carry out: (the call that asked, our new call).
    transferring: Vec<(CallHandle, CallHandle)>,
}

struct Lab {
    sim: Sim,
    core: EngineCore,
    hub: AudioHub,
    nodes: BTreeMap<AccountId, Node>,
    /// Flows that accept nothing (a server that stopped reading), with what piled up.
    stalled: BTreeMap<AccountId, usize>,
    media: BTreeMap<CallId, SocketAddr>,
    far: Vec<Far>,
    events: Vec<EngineEvent>,
    rings: Vec<RingMode>,
    transfers: Vec<(u64, Result<(), EngineError>)>,
    next_tick: Instant,
    next_port: u16,
    /// Datagrams Wren sent, per call, since the start.
    sent: BTreeMap<CallId, usize>,
}

fn proxy() -> ProxyConfig {
    ProxyConfig::new(DOMAIN)
        .user("alice", "pw-a")
        .user("alice2", "pw-a2")
        .user("bob", "pw-b")
        .user("carol", "pw-c")
}

fn account(user: &str, password: &str) -> wren_engine::AccountConfig {
    AccountInput {
        server: "ws://proxy.sip.test".into(),
        user: user.into(),
        domain: Some(DOMAIN.into()),
        password: password.into(),
        codecs: Some(vec![CodecKind::Pcmu]),
        ..Default::default()
    }
    .validate()
    .expect("valid account")
}

fn tone_port(hub: &AudioHub) -> wren_engine::hub::Port {
    hub.prepare(&MediaOptions {
        input: AudioInput::Tone(WREN_HZ),
        output: AudioOutput::Device,
        ..Default::default()
    })
    .expect("a tone needs no file")
}

impl Lab {
    fn new(seed: u64) -> Self {
        let mut sim = Sim::new(seed, proxy(), Link::reliable(Duration::from_millis(5)));
        let now = sim.now();
        let mut far = Vec::new();
        for (i, (user, pw, hz)) in [("bob", "pw-b", 440.0), ("carol", "pw-c", 880.0)]
            .into_iter()
            .enumerate()
        {
            let id = sim.add_ua(ua_config(user, DOMAIN, pw, Transport::Ws));
            sim.with_ua(id, |ua, now| ua.register(now));
            far.push(Far {
                id,
                hz,
                addr: IpAddr::from([10, 0, 0, 10 + i as u8]),
                next_port: 20_000,
                cursor: 0,
                auto_answer: true,
                refuse_reoffers: None,
                broken_reanswers: false,
                silent: false,
                broken_answer: None,
                calls: BTreeMap::new(),
                offers: BTreeMap::new(),
                reoffers: 0,
                transferring: Vec::new(),
            });
        }
        let backend = Arc::new(FakeBackend::new());
        let mut lab = Lab {
            sim,
            core: EngineCore::new(seed ^ 0x5eed),
            hub: AudioHub::with_backend(backend, AudioPrefs::default()),
            nodes: BTreeMap::new(),
            stalled: BTreeMap::new(),
            media: BTreeMap::new(),
            far,
            events: Vec::new(),
            rings: Vec::new(),
            transfers: Vec::new(),
            next_tick: now,
            next_port: 40_000,
            sent: BTreeMap::new(),
        };
        lab.run_for(secs(0.5)); // the far ends register
        lab
    }

    fn now(&self) -> Instant {
        self.sim.now()
    }

    fn add_account(&mut self, user: &str, password: &str) -> AccountId {
        let now = self.now();
        let id = self.core.add_account(now, account(user, password));
        self.nodes.insert(id, Node(100 + id.0));
        self.perform();
        id
    }

    fn bob(&self) -> UaId {
        self.far[0].id
    }

    fn carol(&self) -> UaId {
        self.far[1].id
    }

    /// Carries out what the core asked, as the driver does.
    fn perform(&mut self) {
        while let Some(out) = self.core.poll_output() {
            let now = self.now();
            match out {
                // A flow opens at once (the link's delay is on its messages).
                Output::Connect { account, .. } => {
                    self.core.flow_up(now, account, IpAddr::from([10, 0, 0, 1]))
                }
                Output::Disconnect { .. } => {}
                Output::Send { account, message } => {
                    if let Some(queued) = self.stalled.get_mut(&account) {
                        // The driver's writer queue: full is a lost flow.
                        *queued += 1;
                        if *queued > 256 {
                            self.stalled.remove(&account);
                            let e = EngineError::new(ErrorCode::NetSendStalled, "stalled");
                            self.core.flow_down(now, account, FlowDown::Lost(e));
                        }
                        continue;
                    }
                    if let FlowMessage::Sip(bytes) = message {
                        let node = self.nodes[&account];
                        let proxy = self.sim.proxy_node();
                        self.sim.send_from(node, proxy, bytes);
                    }
                }
                Output::BindMedia { call, ip } => {
                    let addr = SocketAddr::new(ip, self.next_port);
                    self.next_port += 2;
                    self.media.insert(call, addr);
                    self.core.media_bound(now, call, Ok(addr));
                }
                Output::Datagram {
                    call,
                    rtcp,
                    dest,
                    payload,
                } => {
                    *self.sent.entry(call).or_default() += 1;
                    let from = self.media[&call];
                    for far in &mut self.far {
                        for m in far.calls.values_mut() {
                            if m.local.addr == dest && !rtcp {
                                m.session.handle_rtp(now, from, &payload);
                            }
                        }
                    }
                }
                Output::ReleaseMedia { call } => {
                    self.media.remove(&call);
                }
                Output::Audio(op) => {
                    if let AudioOp::Ring(mode) = &op {
                        self.rings.push(*mode);
                    }
                    self.hub.apply(op);
                }
                Output::Event(ev) => self.events.push(ev),
                Output::TransferDone { ticket, result } => self.transfers.push((ticket, result)),
                Output::Stopped => {}
            }
        }
    }

    /// One step: the next packet, timer or media tick.
    fn step(&mut self, limit: Instant) -> bool {
        let next = [
            self.sim.next_event_at(),
            self.core.poll_timeout(),
            Some(self.next_tick),
        ]
        .into_iter()
        .flatten()
        .min()
        .filter(|t| *t <= limit);
        let Some(next) = next else {
            self.sim.progress_until(limit);
            return false;
        };
        self.sim.progress_until(next);
        let now = self.now();
        for p in self.sim.take_external() {
            if let Some((account, _)) = self.nodes.iter().find(|(_, n)| **n == p.to) {
                self.core.flow_data(now, *account, &p.data);
            }
        }
        self.perform();
        self.far_ends();
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
        }
        self.perform();
        if self.next_tick <= now {
            self.next_tick = now + TICK;
            self.core.media_tick(now, SystemTime::now(), &mut self.hub);
            self.perform();
            self.far_media(now);
        }
        true
    }

    fn run_until(&mut self, mut cond: impl FnMut(&Lab) -> bool, max: Duration) -> bool {
        let deadline = self.now() + max;
        loop {
            if cond(self) {
                return true;
            }
            if self.now() >= deadline || !self.step(deadline) {
                return cond(self);
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(|_| false, d);
    }

    /// The far ends' media: each sends a frame of its tone and records a frame.
    fn far_media(&mut self, now: Instant) {
        let mut to_wren = Vec::new();
        for far in &mut self.far {
            let silent = far.silent;
            for m in far.calls.values_mut() {
                let mut frame = [0i16; FRAME_SAMPLES];
                m.tone.read_frame(&mut frame);
                m.session.send_frame(now, &frame);
                let heard = m.session.poll_audio(now).unwrap_or([0; FRAME_SAMPLES]);
                m.heard.extend_from_slice(&heard);
                while let Some(t) = m.session.poll_transmit() {
                    if !silent {
                        to_wren.push((m.local.addr, t));
                    }
                }
            }
        }
        for (from, t) in to_wren {
            let rtcp = t.kind == wren_media::PacketKind::Rtcp;
            let call = self
                .media
                .iter()
                .find(|(_, a)| **a == t.dest)
                .map(|(c, _)| *c);
            if let Some(call) = call {
                self.core.handle_datagram(now, call, rtcp, from, &t.payload);
                continue;
            }
            // Far end to far end (after a transfer).
            for far in &mut self.far {
                for m in far.calls.values_mut() {
                    if m.local.addr == t.dest && !rtcp {
                        m.session.handle_rtp(now, from, &t.payload);
                    }
                }
            }
        }
        self.perform();
    }

    /// What the far ends do with their UAs' events.
    fn far_ends(&mut self) {
        for i in 0..self.far.len() {
            let id = self.far[i].id;
            loop {
                let cursor = self.far[i].cursor;
                let Some((_, ev)) = self.sim.timed_events(id).get(cursor).cloned() else {
                    break;
                };
                self.far[i].cursor += 1;
                self.far_event(i, ev);
            }
        }
    }

    fn far_local(&mut self, i: usize) -> LocalMedia {
        let far = &mut self.far[i];
        far.next_port += 2;
        LocalMedia {
            addr: SocketAddr::new(far.addr, far.next_port),
            codecs: vec![CodecKind::Pcmu],
            telephone_event: true,
            direction: SdpDirection::SendRecv,
        }
    }

    fn far_start(
        &mut self,
        i: usize,
        call: CallHandle,
        local: LocalMedia,
        neg: wren_media::Negotiated,
    ) {
        let now = self.now();
        let far = &mut self.far[i];
        let ssrc = 0x1000 + ((i as u32) << 16) + u32::from(far.next_port);
        let session = MediaSession::new(neg, wren_media::Ssrc::new(ssrc), now).expect("session");
        far.calls.insert(
            call,
            FarMedia {
                session,
                local,
                tone: ToneSource::new(far.hz, -12.0),
                heard: Vec::new(),
                version: 1,
            },
        );
    }

    fn far_event(&mut self, i: usize, ev: UaEvent) {
        let id = self.far[i].id;
        match ev {
            UaEvent::IncomingCall {
                call,
                offer,
                replaces,
                ..
            } => {
                if !self.far[i].auto_answer && replaces.is_none() {
                    return;
                }
                if let Some(junk) = self.far[i].broken_answer {
                    self.sim
                        .with_ua(id, |ua, now| {
                            ua.answer(now, call, Bytes::from_static(junk.as_bytes()))
                        })
                        .expect("answer");
                    return;
                }
                let local = self.far_local(i);
                let (answer, neg) =
                    wren_media::answer_offer(&String::from_utf8_lossy(&offer), &local, 7, 1)
                        .expect("an answerable offer");
                self.sim
                    .with_ua(id, |ua, now| ua.answer(now, call, Bytes::from(answer)))
                    .expect("answer");
                self.far_start(i, call, local, neg);
                if let Some(old) = replaces {
                    // RFC 3891: the replaced call ends.
                    self.far[i].calls.remove(&old);
                    let _ = self.sim.with_ua(id, |ua, now| ua.hangup(now, old));
                }
            }
            UaEvent::Answered { call, sdp } if !sdp.is_empty() => {
                if let Some(local) = self.far[i].offers.remove(&call) {
                    let neg = wren_media::accept_answer(&String::from_utf8_lossy(&sdp), &local)
                        .expect("a usable answer");
                    self.far_start(i, call, local, neg);
                }
                self.report_transfer(i, call, 200);
            }
            UaEvent::Reoffer { call, sdp } => {
                self.far[i].reoffers += 1;
                if self.far[i].broken_reanswers {
                    let junk = Bytes::from_static(b"v=0\r\ns=-\r\n");
                    let _ = self
                        .sim
                        .with_ua(id, |ua, now| ua.answer_reoffer(now, call, junk));
                    return;
                }
                if let Some(code) = self.far[i].refuse_reoffers {
                    let _ = self.sim.with_ua(id, |ua, now| {
                        ua.reject_reoffer(now, call, StatusCode::new(code))
                    });
                    return;
                }
                let Some(m) = self.far[i].calls.get_mut(&call) else {
                    return;
                };
                m.version += 1;
                let (answer, neg) = wren_media::answer_offer(
                    &String::from_utf8_lossy(&sdp),
                    &m.local,
                    7,
                    m.version,
                )
                .expect("an answerable re-offer");
                m.session.renegotiate(neg).expect("renegotiate");
                let _ = self.sim.with_ua(id, |ua, now| {
                    ua.answer_reoffer(now, call, Bytes::from(answer))
                });
            }
            UaEvent::TransferRequested { call, target } => {
                let local = self.far_local(i);
                let offer = wren_media::create_offer(&local, 9, 1);
                let new = self
                    .sim
                    .with_ua(id, |ua, now| ua.invite(now, &target, Bytes::from(offer)))
                    .expect("the transfer target");
                self.far[i].offers.insert(new, local);
                self.far[i].calls.remove(&call);
                // Reported once the new call is up (or isn't), like a real phone.
                self.far[i].transferring.push((call, new));
            }
            UaEvent::Ended { call, status, .. } => {
                self.far[i].calls.remove(&call);
                let status = status.map(StatusCode::as_u16);
                self.report_transfer(i, call, status.filter(|s| *s >= 300).unwrap_or(487));
            }
            _ => {}
        }
    }

    /// The transferee tells the transferor how its new call went (RFC 3515 §2.4.5).
    fn report_transfer(&mut self, i: usize, new: CallHandle, status: u16) {
        let id = self.far[i].id;
        let Some(k) = self.far[i].transferring.iter().position(|(_, n)| *n == new) else {
            return;
        };
        let (old, _) = self.far[i].transferring.remove(k);
        let _ = self.sim.with_ua(id, |ua, now| {
            ua.transfer_result(now, old, StatusCode::new(status))
        });
    }

    /// A far end places a call to Wren's `user`.
    fn far_calls(&mut self, i: usize, user: &str) -> CallHandle {
        let id = self.far[i].id;
        let local = self.far_local(i);
        let offer = wren_media::create_offer(&local, 5, 1);
        let call = self
            .sim
            .with_ua(id, |ua, now| ua.invite(now, user, Bytes::from(offer)))
            .expect("invite");
        self.far[i].offers.insert(call, local);
        call
    }

    // ---- what Wren published ----

    fn state(&self, call: CallId) -> Option<CallState> {
        self.core.snapshot().call(call).map(|c| c.state.clone())
    }

    fn registered(&self, account: AccountId) -> bool {
        matches!(
            self.core
                .snapshot()
                .account(account)
                .map(|a| &a.registration),
            Some(RegistrationState::Registered { .. })
        )
    }

    fn wait_registered(&mut self, account: AccountId) {
        assert!(
            self.run_until(|lab| lab.registered(account), secs(5.0)),
            "account {account:?} registers\n{}",
            self.sim.trace_text()
        );
    }

    fn wait_state(&mut self, call: CallId, what: &str, pred: impl Fn(&CallState) -> bool) {
        assert!(
            self.run_until(|lab| lab.state(call).as_ref().is_some_and(&pred), secs(5.0)),
            "call {call:?}: {what}; it is {:?}\n{}",
            self.state(call),
            self.sim.trace_text()
        );
    }

    fn wait_active(&mut self, call: CallId) {
        self.wait_state(call, "active and not held", |s| {
            matches!(s, CallState::Active { held: false, .. })
        });
    }

    fn wait_held(&mut self, call: CallId) {
        self.wait_state(call, "held", |s| {
            matches!(s, CallState::Active { held: true, .. })
        });
    }

    /// Wren places a call with its tone as the microphone.
    fn call(&mut self, account: Option<AccountId>, target: &str) -> CallId {
        let now = self.now();
        let port = tone_port(&self.hub);
        let id = self.core.call(now, account, target, None).expect("call");
        self.hub.attach(id, port);
        self.perform();
        id
    }

    fn answer(&mut self, call: CallId) {
        let now = self.now();
        let port = tone_port(&self.hub);
        self.hub.attach(call, port);
        self.core.answer(now, call, None).expect("answer");
        self.perform();
    }

    /// The next incoming call Wren shows, from now on.
    fn incoming(&mut self) -> CallId {
        let from = self.events.len();
        let found = |lab: &Lab| {
            lab.events[from..].iter().find_map(|e| match e.kind {
                EventKind::CallAdded {
                    call,
                    direction: wren_engine::Direction::Incoming,
                    ..
                } => Some(call),
                _ => None,
            })
        };
        assert!(
            self.run_until(|lab| found(lab).is_some(), secs(5.0)),
            "an incoming call"
        );
        found(self).expect("seen")
    }

    /// The far end `i`'s recording of its only call, the last `secs` of it.
    fn heard(&self, i: usize, secs: f64) -> Vec<i16> {
        let m = self.far[i].calls.values().next().expect("a far call");
        let n = (48_000.0 * secs) as usize;
        m.heard[m.heard.len().saturating_sub(n)..].to_vec()
    }

    fn ended_as(&self, call: CallId) -> Option<CallOutcome> {
        self.events.iter().find_map(|e| match &e.kind {
            EventKind::CallChanged {
                call: c,
                state: CallState::Ended { outcome, .. },
                ..
            } if *c == call => Some(*outcome),
            _ => None,
        })
    }
}

/// The level of `hz` in `samples` (48 kHz), dBFS.
fn level(samples: &[i16], hz: f32) -> f64 {
    goertzel_power_dbfs(samples, 48_000, hz)
}

fn sdp_direction_of_last_reoffer(lab: &Lab, far: UaId) -> Option<String> {
    lab.sim
        .events(far)
        .filter_map(|e| match e {
            UaEvent::Reoffer { sdp, .. } => {
                let text = String::from_utf8_lossy(sdp).into_owned();
                ["sendonly", "recvonly", "inactive", "sendrecv"]
                    .into_iter()
                    .find(|d| text.contains(&format!("a={d}")))
                    .map(str::to_owned)
                    .or(Some("sendrecv".into()))
            }
            _ => None,
        })
        .last()
}

/// alice registered, calling bob, bob answered.
fn lab_with_call_to_bob(seed: u64) -> (Lab, AccountId, CallId) {
    let mut lab = Lab::new(seed);
    let alice = lab.add_account("alice", "pw-a");
    let now = lab.now();
    lab.core.register(now);
    lab.perform();
    lab.wait_registered(alice);
    let bob_call = lab.call(None, "bob");
    lab.wait_active(bob_call);
    (lab, alice, bob_call)
}

/// [`lab_with_call_to_bob`], then carol calls and Wren answers: bob is held.
fn lab_with_bob_held_for_carol(seed: u64) -> (Lab, CallId, CallId) {
    let (mut lab, _alice, bob_call) = lab_with_call_to_bob(seed);
    lab.far_calls(1, "alice");
    let carol_call = lab.incoming();
    lab.answer(carol_call);
    lab.wait_held(bob_call);
    (lab, bob_call, carol_call)
}

#[test]
fn second_account_registers_without_touching_the_first() {
    let (mut lab, alice, bob_call) = lab_with_call_to_bob(1);
    lab.run_for(secs(1.0));
    let before = lab.events.len();
    let sent_before = lab.sent[&bob_call];
    let start = lab.now();
    let alice2 = lab.add_account("alice2", "pw-a2");
    lab.wait_registered(alice2);
    lab.run_for(secs(1.0));
    assert!(lab.registered(alice), "the first account stays registered");
    let now = lab.now();
    for aor in ["alice@sip.test", "alice2@sip.test"] {
        assert!(lab.sim.proxy.binding(aor, now).is_some(), "{aor} is bound");
    }
    // Nothing about the first account or its call was published meanwhile.
    for ev in &lab.events[before..] {
        match &ev.kind {
            EventKind::Connection { account, .. }
            | EventKind::Registration { account, .. }
            | EventKind::AccountAdded { account, .. } => assert_eq!(*account, alice2, "{ev:?}"),
            EventKind::CallChanged { call, .. } => panic!("call {call:?} changed: {ev:?}"),
            _ => {}
        }
    }
    assert!(matches!(
        lab.state(bob_call),
        Some(CallState::Active { held: false, .. })
    ));
    // 2 s of 20 ms frames went on flowing to bob.
    let frames = lab.sent[&bob_call] - sent_before;
    let ticks = ((lab.now() - start).as_millis() / 20) as usize;
    assert!(
        frames + 1 >= ticks,
        "media kept flowing: {frames} frames in {ticks} ticks"
    );
    assert!(level(&lab.heard(0, 1.0), WREN_HZ) > -25.0, "bob hears Wren");

    // Changing and removing the second account leaves the first and its call alone.
    let now = lab.now();
    lab.core
        .update_account(now, alice2, account("alice2", "pw-a2"))
        .expect("update");
    lab.core.remove_account(now, alice2).expect("remove");
    lab.perform();
    assert!(lab.run_until(
        |lab| lab.core.snapshot().account(alice2).is_none(),
        secs(5.0)
    ));
    assert!(lab.registered(alice));
    assert!(matches!(
        lab.state(bob_call),
        Some(CallState::Active { held: false, .. })
    ));
    assert!(
        lab.sim
            .proxy
            .binding("alice2@sip.test", lab.now())
            .is_none(),
        "alice2 unregistered"
    );
}

#[test]
fn calls_go_out_from_the_account_the_user_picks() {
    let mut lab = Lab::new(2);
    let alice = lab.add_account("alice", "pw-a");
    let alice2 = lab.add_account("alice2", "pw-a2");
    let now = lab.now();
    lab.core.register(now);
    lab.perform();
    lab.wait_registered(alice);
    lab.wait_registered(alice2);
    let call = lab.call(Some(alice2), "bob");
    lab.wait_active(call);
    assert_eq!(
        lab.core.snapshot().call(call).map(|c| c.account),
        Some(alice2)
    );
    let from = lab.sim.events(lab.bob()).find_map(|e| match e {
        UaEvent::IncomingCall { from, .. } => Some(from.clone()),
        _ => None,
    });
    assert!(
        from.is_some_and(|f| f.contains("alice2@sip.test")),
        "bob sees alice2"
    );
}

#[test]
fn an_answer_without_usable_media_fails_the_call_with_its_sdp_code() {
    // RFC 3264 §6: an answer must be usable; one that isn't ends the call (BYE) as a failure.
    let cases = [
        ("no c= line", "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
        ("port 0", "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"),
        ("unknown codecs only", "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 99\r\na=rtpmap:99 X-NOPE/8000\r\n"),
        ("a host name", "v=0\r\no=- 1 1 IN IP4 far.example\r\ns=-\r\nc=IN IP4 far.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
        ("garbage", "this is not SDP"),
    ];
    for (seed, (what, junk)) in cases.into_iter().enumerate() {
        let mut lab = Lab::new(40 + seed as u64);
        let alice = lab.add_account("alice", "pw-a");
        let now = lab.now();
        lab.core.register(now);
        lab.perform();
        lab.wait_registered(alice);
        lab.far[0].broken_answer = Some(junk);
        let call = lab.call(None, "bob");
        assert!(
            lab.run_until(|lab| lab.state(call).is_none(), secs(10.0)),
            "{what}: the call should end"
        );
        assert_eq!(lab.ended_as(call), Some(CallOutcome::Failed), "{what}");
        let code = lab.events.iter().find_map(|e| match &e.kind {
            EventKind::CallChanged {
                call: c,
                state: CallState::Ended { error, .. },
                ..
            } if *c == call => error.as_ref().map(|e| e.code),
            _ => None,
        });
        assert!(
            code.is_some_and(|c| c.as_str().starts_with("sdp.")),
            "{what}: ended with {code:?}"
        );
        let bob = lab.bob();
        assert!(
            lab.sim
                .events(bob)
                .any(|e| matches!(e, UaEvent::Ended { .. })),
            "{what}: bob's call was ended (BYE)"
        );
    }
}

#[test]
fn a_call_whose_media_stops_is_ended_with_a_reason_but_not_while_held() {
    let (mut lab, _alice, bob_call) = lab_with_call_to_bob(21);
    // Held, bob may send nothing (he is told we won't listen): the call stays.
    lab.core.set_held(lab.now(), bob_call, true).unwrap();
    lab.perform();
    lab.wait_held(bob_call);
    lab.far[0].silent = true;
    lab.run_for(secs(45.0));
    assert!(
        lab.state(bob_call).is_some(),
        "a held call is not timed out"
    );
    // Resumed, and still nothing from bob: after the media timeout the call ends, with a BYE
    // to bob and a reason the user can read.
    lab.core.set_held(lab.now(), bob_call, false).unwrap();
    lab.perform();
    assert!(lab.run_until(|lab| lab.state(bob_call).is_none(), secs(40.0)));
    assert_eq!(lab.ended_as(bob_call), Some(CallOutcome::Failed));
    let error = lab.events.iter().find_map(|e| match &e.kind {
        EventKind::CallChanged {
            call,
            state: CallState::Ended { error, .. },
            ..
        } if *call == bob_call => error.clone(),
        _ => None,
    });
    assert_eq!(error.map(|e| e.code), Some(ErrorCode::MediaTimeout));
    let bob = lab.bob();
    assert!(
        lab.sim.events(bob).any(|e| matches!(
            e,
            UaEvent::Ended {
                reason: wren_sip::EndReason::RemoteHangup,
                ..
            }
        )),
        "bob got a BYE"
    );
}

#[test]
fn answering_a_waiting_call_holds_the_current_one() {
    let (mut lab, _alice, bob_call) = lab_with_call_to_bob(3);
    lab.far_calls(1, "alice");
    let carol_call = lab.incoming();
    lab.wait_state(carol_call, "waiting", |s| {
        matches!(s, CallState::Incoming { waiting: true })
    });
    assert_eq!(
        lab.rings.last(),
        Some(&RingMode::Waiting),
        "the waiting tone, not the ringer"
    );
    lab.answer(carol_call);
    lab.wait_active(carol_call);
    lab.wait_held(bob_call);
    assert_eq!(
        sdp_direction_of_last_reoffer(&lab, lab.bob()).as_deref(),
        Some("sendonly"),
        "bob got a hold offer (RFC 3264 §8.4)"
    );
    assert_eq!(lab.core.snapshot().focus, Some(carol_call));
    assert_eq!(lab.rings.last(), Some(&RingMode::Off));
    // Only carol hears Wren now.
    lab.run_for(secs(1.0));
    assert!(
        level(&lab.heard(1, 0.5), WREN_HZ) > -25.0,
        "carol hears Wren"
    );
    assert!(
        level(&lab.heard(0, 0.5), WREN_HZ) < -60.0,
        "held bob doesn't"
    );
}

#[test]
fn switching_resumes_the_held_call_and_holds_the_other() {
    let (mut lab, bob_call, carol_call) = lab_with_bob_held_for_carol(4);
    let now = lab.now();
    lab.core.focus(now, bob_call).expect("switch");
    lab.perform();
    lab.wait_active(bob_call);
    lab.wait_held(carol_call);
    assert_eq!(lab.core.snapshot().focus, Some(bob_call));
    assert_eq!(
        sdp_direction_of_last_reoffer(&lab, lab.bob()).as_deref(),
        Some("sendrecv")
    );
}

#[test]
fn conference_mixes_both_legs() {
    let (mut lab, bob_call, carol_call) = lab_with_bob_held_for_carol(5);
    let now = lab.now();
    lab.core.merge(now, carol_call, bob_call).expect("merge");
    lab.perform();
    for call in [bob_call, carol_call] {
        lab.wait_state(call, "a live conference leg", |s| {
            matches!(
                s,
                CallState::Active {
                    held: false,
                    conference: true,
                    ..
                }
            )
        });
    }
    lab.run_for(secs(1.5));
    let bob_hears = lab.heard(0, 1.0);
    let carol_hears = lab.heard(1, 1.0);
    // Each far end hears the other and Wren (PCMU both ways, so within a few dB of -12 dBFS
    // each, and nothing of its own tone).
    assert!(level(&bob_hears, 880.0) > -25.0, "bob hears carol");
    assert!(level(&bob_hears, WREN_HZ) > -25.0, "bob hears Wren");
    assert!(level(&bob_hears, 440.0) < -45.0, "bob doesn't hear himself");
    assert!(level(&carol_hears, 440.0) > -25.0, "carol hears bob");
    assert!(level(&carol_hears, WREN_HZ) > -25.0, "carol hears Wren");
    assert!(
        level(&carol_hears, 880.0) < -45.0,
        "carol doesn't hear herself"
    );
    // The speaker got both far ends too.
    let rendered = lab.hub.rendered().to_vec();
    assert!(level(&rendered, 440.0) > -30.0 && level(&rendered, 880.0) > -30.0);

    // Hanging up one leg leaves the other, as a plain call with the focus.
    let now = lab.now();
    lab.core.hangup(now, carol_call).expect("hang up carol");
    lab.perform();
    assert!(lab.run_until(|lab| lab.state(carol_call).is_none(), secs(5.0)));
    lab.wait_state(bob_call, "a plain call again", |s| {
        matches!(
            s,
            CallState::Active {
                held: false,
                conference: false,
                ..
            }
        )
    });
    assert_eq!(lab.core.snapshot().focus, Some(bob_call));
}

#[test]
fn splitting_a_leg_holds_it_and_leaves_the_other() {
    let (mut lab, bob_call, carol_call) = lab_with_bob_held_for_carol(6);
    let now = lab.now();
    lab.core.merge(now, carol_call, bob_call).expect("merge");
    lab.perform();
    lab.wait_active(bob_call);
    let now = lab.now();
    lab.core.split(now, bob_call).expect("split");
    lab.perform();
    lab.wait_held(bob_call);
    lab.wait_state(carol_call, "alone, live", |s| {
        matches!(
            s,
            CallState::Active {
                held: false,
                conference: false,
                ..
            }
        )
    });
}

#[test]
fn attended_transfer_sends_refer_with_replaces() {
    let (mut lab, _alice, bob_call) = lab_with_call_to_bob(7);
    let carol_call = lab.call(None, "carol");
    lab.wait_active(carol_call);
    lab.wait_held(bob_call);
    let now = lab.now();
    lab.core
        .transfer_attended(now, bob_call, carol_call, 42)
        .expect("transfer");
    lab.perform();
    assert!(
        lab.run_until(|lab| lab.core.snapshot().calls.is_empty(), secs(10.0)),
        "Wren has no call left; {:?}\n{}",
        lab.core.snapshot().calls,
        lab.sim.trace_text()
    );
    let target = lab.sim.events(lab.bob()).find_map(|e| match e {
        UaEvent::TransferRequested { target, .. } => Some(target.clone()),
        _ => None,
    });
    let target = target.expect("bob was asked to transfer");
    assert!(
        target.contains("carol@sip.test") && target.contains("?Replaces="),
        "{target}"
    );
    assert_eq!(lab.ended_as(bob_call), Some(CallOutcome::Transferred));
    assert_eq!(lab.ended_as(carol_call), Some(CallOutcome::Transferred));
    assert!(matches!(lab.transfers.last(), Some((42, Ok(())))));
    // bob and carol are connected and hear each other.
    let replaced = lab.sim.events(lab.carol()).any(|e| {
        matches!(
            e,
            UaEvent::IncomingCall {
                replaces: Some(_),
                ..
            }
        )
    });
    assert!(
        replaced,
        "carol's phone took bob's INVITE as replacing Wren's call"
    );
    lab.run_for(secs(1.0));
    let bob_hears = lab.heard(0, 0.5);
    let carol_hears = lab.heard(1, 0.5);
    assert!(
        level(&bob_hears, 880.0) > -25.0 && level(&carol_hears, 440.0) > -25.0,
        "bob and carol hear each other: {:.1} {:.1} dBFS; bob's {:?}, carol's {:?}",
        level(&bob_hears, 880.0),
        level(&carol_hears, 440.0),
        lab.far[0]
            .calls
            .values()
            .map(|m| (m.local.addr, m.session.stats()))
            .collect::<Vec<_>>(),
        lab.far[1]
            .calls
            .values()
            .map(|m| (m.local.addr, m.session.stats()))
            .collect::<Vec<_>>(),
    );
}

#[test]
fn incoming_invite_with_replaces_replaces_the_call() {
    // bob calls Wren; bob consults carol, then transfers Wren to carol (attended): carol
    // sends Wren an INVITE with Replaces naming its call with bob (RFC 3891).
    let mut lab = Lab::new(8);
    let alice = lab.add_account("alice", "pw-a");
    let now = lab.now();
    lab.core.register(now);
    lab.perform();
    lab.wait_registered(alice);
    let bob_to_wren = lab.far_calls(0, "alice");
    let wren_bob = lab.incoming();
    lab.answer(wren_bob);
    lab.wait_active(wren_bob);
    let bob_to_carol = lab.far_calls(0, "carol");
    let bob = lab.bob();
    assert!(lab.run_until(
        |lab| lab
            .sim
            .events(bob)
            .any(|e| matches!(e, UaEvent::Answered { call, .. } if *call == bob_to_carol)),
        secs(5.0)
    ));
    // bob REFERs carol to Wren, replacing bob's call with Wren.
    lab.sim
        .with_ua(bob, |ua, now| {
            ua.refer_replacing(now, bob_to_carol, bob_to_wren)
        })
        .expect("refer");
    let carol_call = lab.incoming();
    lab.wait_active(carol_call);
    assert!(lab.run_until(|lab| lab.state(wren_bob).is_none(), secs(5.0)));
    assert_eq!(lab.ended_as(wren_bob), Some(CallOutcome::Transferred));
    assert_eq!(lab.core.snapshot().focus, Some(carol_call));
    lab.run_for(secs(1.0));
    assert!(
        level(&lab.heard(1, 0.5), WREN_HZ) > -25.0,
        "carol hears Wren's microphone"
    );
}

#[test]
fn do_not_disturb_declines_with_busy_and_reports_the_call() {
    let mut lab = Lab::new(9);
    let alice = lab.add_account("alice", "pw-a");
    let now = lab.now();
    lab.core.register(now);
    lab.core.set_do_not_disturb(true);
    lab.perform();
    lab.wait_registered(alice);
    lab.far_calls(1, "alice");
    let call = lab.incoming();
    assert!(lab.run_until(|lab| lab.state(call).is_none(), secs(5.0)));
    assert_eq!(lab.ended_as(call), Some(CallOutcome::Rejected));
    let carol = lab.carol();
    lab.run_until(
        |lab| {
            lab.sim
                .events(carol)
                .any(|e| matches!(e, UaEvent::Ended { .. }))
        },
        secs(5.0),
    );
    assert!(
        lab.sim.events(carol).any(|e| matches!(
            e,
            UaEvent::Ended {
                reason: wren_sip::EndReason::Rejected(StatusCode::BUSY_HERE),
                ..
            }
        )),
        "{:?}",
        lab.sim.events(carol).collect::<Vec<_>>()
    );
    assert!(!lab.rings.contains(&RingMode::Ring), "it never rang");
}

#[test]
fn a_far_end_that_refuses_hold_gets_one_reinvite_not_a_storm() {
    let (mut lab, _alice, bob_call) = lab_with_call_to_bob(10);
    lab.far[0].refuse_reoffers = Some(488);
    lab.far_calls(1, "alice");
    let carol_call = lab.incoming();
    lab.answer(carol_call);
    lab.wait_active(carol_call);
    lab.run_for(secs(10.0));
    assert_eq!(lab.far[0].reoffers, 1, "one hold attempt");
    // Locally bob is silenced anyway: the microphone went to carol.
    assert!(level(&lab.heard(0, 0.5), WREN_HZ) < -60.0);
    assert!(matches!(
        lab.state(bob_call),
        Some(CallState::Active { held: false, .. })
    ));
}

#[test]
fn stalled_flow_does_not_delay_media() {
    let (mut lab, alice, bob_call) = lab_with_call_to_bob(11);
    let alice2 = lab.add_account("alice2", "pw-a2");
    lab.wait_registered(alice2);
    // alice2's server stops reading; carol's INVITE to alice2 keeps it busy answering.
    lab.stalled.insert(alice2, 0);
    let sent_before = lab.sent[&bob_call];
    let start = lab.now();
    // Keep alice2's flow busy: every OPTIONS the proxy sends wants an answer.
    for _ in 0..300 {
        lab.sim.proxy_options("alice2@sip.test");
        lab.run_for(Duration::from_millis(5));
    }
    let elapsed = lab.now() - start;
    let lost = lab.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Connection { account, state: wren_engine::ConnectionState::Disconnected { error, .. } }
            if *account == alice2 && error.code == ErrorCode::NetSendStalled)
    });
    assert!(lost, "the stalled flow is declared lost");
    // Every 20 ms tick went on sending bob a frame.
    let frames = lab.sent[&bob_call] - sent_before;
    let ticks = (elapsed.as_millis() / 20) as usize;
    assert!(frames + 2 >= ticks, "{frames} frames in {ticks} ticks");
    assert!(lab.registered(alice));
    // alice2 comes back.
    lab.wait_registered(alice2);
}

#[test]
fn an_unusable_answer_to_a_hold_gets_no_second_reinvite() {
    let (mut lab, _alice, bob_call) = lab_with_call_to_bob(12);
    lab.far[0].broken_reanswers = true;
    lab.far_calls(1, "alice");
    let carol_call = lab.incoming();
    lab.answer(carol_call);
    lab.wait_active(carol_call);
    lab.run_for(secs(10.0));
    assert_eq!(lab.far[0].reoffers, 1, "one hold attempt, not a storm");
    assert!(matches!(
        lab.state(bob_call),
        Some(CallState::Active { held: false, .. })
    ));
}

#[test]
fn a_transfer_that_fails_leaves_the_call_with_its_audio() {
    let (mut lab, _alice, bob_call) = lab_with_call_to_bob(13);
    lab.run_for(secs(0.5)); // bob has our ACK
    let bob = lab.bob();
    let sip = *lab.far[0].calls.keys().next().expect("bob's call");
    lab.sim
        .with_ua(bob, |ua, now| ua.refer(now, sip, "nobody"))
        .expect("refer");
    let failed = |lab: &Lab| {
        lab.sim
            .events(bob)
            .any(|e| matches!(e, UaEvent::TransferFailed { .. }))
    };
    assert!(
        lab.run_until(failed, secs(10.0)),
        "{}",
        lab.sim.trace_text()
    );
    lab.wait_active(bob_call);
    assert_eq!(lab.core.snapshot().focus, Some(bob_call));
    lab.run_for(secs(1.0));
    assert!(
        level(&lab.heard(0, 0.5), WREN_HZ) > -25.0,
        "bob still hears Wren"
    );
}
