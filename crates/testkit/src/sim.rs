//! The scenario harness: UAs and a [`FakeProxy`] on a [`SimNet`], driven in simulated time.
//!
//! [`Sim::progress`] jumps straight to the next thing that can happen (a packet arriving, a
//! UA's `poll_timeout`), feeds it in and drains every output, as an engine's driver would; no
//! sleeps, so an hour of signalling runs in milliseconds. Everything derives from one seed.

use crate::clock::SimClock;
use crate::net::{Link, Node, Packet, SimNet};
use crate::proxy::{FakeProxy, ProxyConfig};
use crate::rng::Rng;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use wren_sip::{Credentials, Transport, UaConfig, UaEvent, UserAgent};

/// A UA in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UaId(usize);

struct SimUa {
    node: Node,
    ua: UserAgent,
    /// Every event so far, with the simulated time it came out.
    events: Vec<(Duration, UaEvent)>,
    /// Events before this index were already matched by [`Sim::expect_event`].
    cursor: usize,
}

/// A UA configuration for account `user` at `domain` (testing defaults elsewhere).
pub fn ua_config(user: &str, domain: &str, password: &str, transport: Transport) -> UaConfig {
    UaConfig {
        user: user.to_owned(),
        domain: domain.to_owned(),
        display_name: None,
        credentials: Credentials {
            username: user.to_owned(),
            password: password.to_owned(),
        },
        transport,
        // Stable per user, distinct between users (RFC 5626 instance ids are per device).
        instance_id: format!(
            "urn:uuid:00000000-0000-4000-8000-{:012x}",
            user.bytes()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b))
                    .wrapping_mul(0x100_0000_01b3))
                & 0xffff_ffff_ffff
        ),
        register_expires: 600,
        user_agent: "wren-testkit".to_owned(),
    }
}

/// Guard against a machine that keeps asking to be woken at the same instant.
const MAX_STEPS_PER_INSTANT: usize = 10_000;

/// Two or more UAs, a proxy, a network and a clock.
pub struct Sim {
    clock: SimClock,
    pub net: SimNet,
    pub proxy: FakeProxy,
    proxy_node: Node,
    uas: Vec<SimUa>,
    /// Packets for nodes the simulation doesn't drive (a test's own machine, such as the
    /// engine core), kept until [`Sim::take_external`].
    external: Vec<Packet>,
    rng: Rng,
    steps_at_instant: (Instant, usize),
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("elapsed", &self.clock.elapsed())
            .field("net", &self.net)
            .field("uas", &self.uas.len())
            .finish()
    }
}

impl Sim {
    /// A simulation whose links all behave like `link` until changed through [`Sim::net`].
    pub fn new(seed: u64, proxy: ProxyConfig, link: Link) -> Self {
        let mut rng = Rng::new(seed);
        let clock = SimClock::new();
        let now = clock.now();
        Self {
            net: SimNet::new(rng.next_u64(), link),
            proxy: FakeProxy::new(proxy),
            proxy_node: Node(0),
            uas: Vec::new(),
            external: Vec::new(),
            rng,
            clock,
            steps_at_instant: (now, 0),
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    pub fn proxy_node(&self) -> Node {
        self.proxy_node
    }

    pub fn add_ua(&mut self, cfg: UaConfig) -> UaId {
        let id = UaId(self.uas.len());
        let seed = self.rng.next_u64();
        self.uas.push(SimUa {
            node: Node(id.0 as u32 + 1),
            ua: UserAgent::new(cfg, seed),
            events: Vec::new(),
            cursor: 0,
        });
        id
    }

    pub fn node(&self, id: UaId) -> Node {
        self.uas[id.0].node
    }

    /// Read access to a UA (its getters).
    pub fn ua(&self, id: UaId) -> &UserAgent {
        &self.uas[id.0].ua
    }

    /// Calls the UA's API at the current time, then sends whatever it queued.
    pub fn with_ua<R>(&mut self, id: UaId, f: impl FnOnce(&mut UserAgent, Instant) -> R) -> R {
        let now = self.now();
        let r = f(&mut self.uas[id.0].ua, now);
        self.drain(id);
        r
    }

    /// Every event the UA has emitted so far.
    pub fn events(&self, id: UaId) -> impl Iterator<Item = &UaEvent> {
        self.uas[id.0].events.iter().map(|(_, e)| e)
    }

    /// The proxy sends OPTIONS to `aor`'s registered contact.
    pub fn proxy_options(&mut self, aor: &str) -> bool {
        let now = self.now();
        match self.proxy.options(now, aor) {
            Some((to, data)) => {
                self.net.send(now, self.proxy_node, to, data);
                true
            }
            None => false,
        }
    }

    /// Packets that arrived for nodes outside the simulation, oldest first.
    pub fn take_external(&mut self) -> Vec<Packet> {
        std::mem::take(&mut self.external)
    }

    /// Sends `data` from a node outside the simulation (to the proxy, usually).
    pub fn send_from(&mut self, from: Node, to: Node, data: bytes::Bytes) {
        let now = self.now();
        self.net.send(now, from, to, data);
    }

    /// Every event of `id` with the simulated time it came, matched or not.
    pub fn timed_events(&self, id: UaId) -> &[(Duration, UaEvent)] {
        &self.uas[id.0].events
    }

    /// When the next thing happens, if anything is pending.
    pub fn next_event_at(&self) -> Option<Instant> {
        let uas = self.uas.iter().filter_map(|u| u.ua.poll_timeout());
        self.net.next_arrival().into_iter().chain(uas).min()
    }

    /// Advances to the next event (not beyond `limit`) and processes everything due then.
    /// Returns false when nothing is pending before `limit` (the clock then sits at `limit`).
    pub fn progress_until(&mut self, limit: Instant) -> bool {
        let Some(next) = self.next_event_at().filter(|t| *t <= limit) else {
            self.clock.advance_to(limit);
            return false;
        };
        self.clock.advance_to(next);
        let now = self.now();
        self.guard_livelock(now);
        while let Some(packet) = self.net.pop_arrived(now) {
            if packet.to == self.proxy_node {
                for (to, data) in self.proxy.handle(now, packet.from, &packet.data) {
                    self.net.send(now, self.proxy_node, to, data);
                }
            } else if let Some(i) = self.uas.iter().position(|u| u.node == packet.to) {
                self.uas[i].ua.handle_input(now, &packet.data);
                self.drain(UaId(i));
            } else {
                self.external.push(packet);
            }
        }
        for i in 0..self.uas.len() {
            if self.uas[i].ua.poll_timeout().is_some_and(|t| t <= now) {
                self.uas[i].ua.handle_timeout(now);
                self.drain(UaId(i));
            }
        }
        true
    }

    /// [`Sim::progress_until`] with no limit.
    pub fn progress(&mut self) -> bool {
        let far = self.now() + Duration::from_secs(365 * 24 * 3600);
        self.progress_until(far)
    }

    /// Runs until `cond` holds or `max` of simulated time has passed; returns whether it held.
    pub fn run_until(&mut self, mut cond: impl FnMut(&Sim) -> bool, max: Duration) -> bool {
        let deadline = self.now() + max;
        loop {
            if cond(self) {
                return true;
            }
            if self.now() >= deadline || !self.progress_until(deadline) {
                return cond(self);
            }
        }
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(|_| false, d);
    }

    /// Waits (in simulated time, at most `max`) for the next not yet matched event of `id`
    /// that `pred` accepts, and returns it; panics with the network trace if none comes.
    pub fn expect_event(
        &mut self,
        id: UaId,
        max: Duration,
        pred: impl Fn(&UaEvent) -> bool,
    ) -> UaEvent {
        let find = |s: &Sim| {
            let u = &s.uas[id.0];
            u.events[u.cursor..]
                .iter()
                .position(|(_, e)| pred(e))
                .map(|i| i + u.cursor)
        };
        if self.run_until(|s| find(s).is_some(), max) {
            let i = find(self).expect("run_until saw it");
            self.uas[id.0].cursor = i + 1;
            return self.uas[id.0].events[i].1.clone();
        }
        panic!(
            "no matching event for UA {} within {max:?}\nevents: {:#?}\n{}",
            id.0,
            self.uas[id.0].events,
            self.trace_text()
        );
    }

    /// The network trace, one line per message, for failure messages.
    pub fn trace_text(&self) -> String {
        let start = self.now() - self.elapsed();
        let mut out = String::from("trace:\n");
        for t in self.net.trace() {
            let _ = writeln!(
                out,
                "  {:>10.3?} {} -> {} {} {:?}",
                t.sent_at - start,
                t.from,
                t.to,
                t.summary,
                t.fate
            );
        }
        out
    }

    /// The network trace with every message in full.
    pub fn trace_full(&self) -> String {
        let start = self.now() - self.elapsed();
        let mut out = String::new();
        for t in self.net.trace() {
            let _ = writeln!(
                out,
                "---- {:.3?} {} -> {} {:?}\n{}",
                t.sent_at - start,
                t.from,
                t.to,
                t.fate,
                String::from_utf8_lossy(&t.data)
            );
        }
        out
    }

    fn drain(&mut self, id: UaId) {
        let now = self.now();
        let elapsed = self.elapsed();
        let u = &mut self.uas[id.0];
        while let Some(data) = u.ua.poll_transmit() {
            self.net.send(now, u.node, self.proxy_node, data);
        }
        while let Some(event) = u.ua.poll_event() {
            u.events.push((elapsed, event));
        }
    }

    fn guard_livelock(&mut self, now: Instant) {
        if self.steps_at_instant.0 == now {
            self.steps_at_instant.1 += 1;
            assert!(
                self.steps_at_instant.1 < MAX_STEPS_PER_INSTANT,
                "livelock: {MAX_STEPS_PER_INSTANT} steps at {:?} without time passing\n{}",
                self.elapsed(),
                self.trace_text()
            );
        } else {
            self.steps_at_instant = (now, 0);
        }
    }
}
