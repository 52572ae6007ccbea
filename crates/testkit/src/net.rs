//! A simulated network of nodes joined by one-way links, each with its own delay, jitter, loss
//! and reordering, all drawn from one seeded generator. Packets are whole SIP messages (one
//! per datagram or WebSocket message), delivered in arrival-time order.

use crate::rng::Rng;
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::time::{Duration, Instant};
use wren_sip::message::{parse, HeadersExt, Message};

/// A network endpoint (a UA or the proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node(pub u32);

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// How one direction of a link behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Base one-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter]`.
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet is held back by `reorder_delay`, so later ones overtake it.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Deliver in send order whatever the jitter (a stream: TCP, WebSocket).
    pub ordered: bool,
}

impl Link {
    /// A stream transport (WS, TCP): in order, nothing lost.
    pub fn reliable(delay: Duration) -> Self {
        Self {
            delay,
            jitter: Duration::ZERO,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            ordered: true,
        }
    }

    /// Datagrams: no ordering, and whatever loss, jitter and reordering the test sets.
    pub fn datagram(delay: Duration) -> Self {
        Self {
            ordered: false,
            ..Self::reliable(delay)
        }
    }
}

/// A message on the wire.
#[derive(Debug, Clone)]
pub struct Packet {
    pub from: Node,
    pub to: Node,
    pub sent_at: Instant,
    pub data: Bytes,
}

impl Packet {
    pub fn message(&self) -> Option<Message> {
        parse(&self.data).ok()
    }

    /// `INVITE`, `200/INVITE`... : what the trace and the filters look at.
    pub fn summary(&self) -> String {
        match self.message() {
            Some(Message::Request(r)) => r.method.to_string(),
            Some(Message::Response(r)) => {
                let method = r.cseq().map(|c| c.method.to_string()).unwrap_or_default();
                format!("{}/{method}", r.code())
            }
            None => "<unparsable>".into(),
        }
    }

    pub fn is_request(&self, method: &str) -> bool {
        matches!(self.message(), Some(Message::Request(r)) if r.method.to_string() == method)
    }

    pub fn is_response(&self, code: u16, method: &str) -> bool {
        matches!(self.message(), Some(Message::Response(r))
            if r.code() == code && r.cseq().is_some_and(|c| c.method.to_string() == method))
    }
}

/// What happened to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    /// Lost to the link's loss rate.
    Lost,
    /// Dropped on purpose by a test filter.
    Dropped,
}

/// One line of the network trace.
#[derive(Debug, Clone)]
pub struct TraceEntry {
    pub sent_at: Instant,
    pub from: Node,
    pub to: Node,
    pub summary: String,
    pub fate: Fate,
    /// The message as sent.
    pub data: Bytes,
}

type Filter = Box<dyn FnMut(&Packet) -> bool>;

/// The network. Deterministic: the same seed and the same sends give the same arrivals.
pub struct SimNet {
    rng: Rng,
    default_link: Link,
    links: BTreeMap<(Node, Node), Link>,
    /// Arrival time, send sequence number, packet.
    queue: BinaryHeap<Reverse<(Instant, u64, QueuedPacket)>>,
    seq: u64,
    /// Latest arrival per ordered link, so later packets can't overtake.
    last_arrival: BTreeMap<(Node, Node), Instant>,
    filters: Vec<(usize, Filter)>,
    trace: Vec<TraceEntry>,
}

/// Heap entries compare by (arrival, seq) only; the packet rides along.
struct QueuedPacket(Packet);

impl PartialEq for QueuedPacket {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for QueuedPacket {}
impl PartialOrd for QueuedPacket {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for QueuedPacket {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl fmt::Debug for SimNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimNet")
            .field("in_flight", &self.queue.len())
            .field("sent", &self.trace.len())
            .finish()
    }
}

impl SimNet {
    pub fn new(seed: u64, default_link: Link) -> Self {
        Self {
            rng: Rng::new(seed),
            default_link,
            links: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            last_arrival: BTreeMap::new(),
            filters: Vec::new(),
            trace: Vec::new(),
        }
    }

    /// Sets the behaviour of the direction `from` → `to`.
    pub fn set_link(&mut self, from: Node, to: Node, link: Link) {
        self.links.insert((from, to), link);
    }

    /// Sets both directions between `a` and `b`.
    pub fn set_links(&mut self, a: Node, b: Node, link: Link) {
        self.set_link(a, b, link.clone());
        self.set_link(b, a, link);
    }

    pub fn link(&self, from: Node, to: Node) -> &Link {
        self.links.get(&(from, to)).unwrap_or(&self.default_link)
    }

    /// Drops the next `count` packets for which `matches` is true.
    pub fn drop_next(&mut self, count: usize, matches: impl FnMut(&Packet) -> bool + 'static) {
        self.filters.push((count, Box::new(matches)));
    }

    pub fn send(&mut self, now: Instant, from: Node, to: Node, data: Bytes) {
        let packet = Packet {
            from,
            to,
            sent_at: now,
            data,
        };
        let mut fate = Fate::Delivered;
        for (left, matches) in &mut self.filters {
            if *left > 0 && matches(&packet) {
                *left -= 1;
                fate = Fate::Dropped;
                break;
            }
        }
        let link = self.link(from, to).clone();
        // Draw from the generator in the same order whatever the fate, so one dropped packet
        // doesn't reshuffle the rest of the run.
        let lost = self.rng.chance(link.loss);
        let jitter = Duration::from_nanos(self.rng.up_to(link.jitter.as_nanos() as u64));
        let held = self.rng.chance(link.reorder);
        if fate == Fate::Delivered && lost {
            fate = Fate::Lost;
        }
        self.trace.push(TraceEntry {
            sent_at: now,
            from,
            to,
            summary: packet.summary(),
            data: packet.data.clone(),
            fate,
        });
        if fate != Fate::Delivered {
            return;
        }
        let mut at = now + link.delay + jitter;
        if held {
            at += link.reorder_delay;
        }
        if link.ordered {
            let last = self.last_arrival.entry((from, to)).or_insert(at);
            at = at.max(*last);
            *last = at;
        }
        self.seq += 1;
        self.queue
            .push(Reverse((at, self.seq, QueuedPacket(packet))));
    }

    /// When the next packet arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The earliest packet that has arrived by `now`.
    pub fn pop_arrived(&mut self, now: Instant) -> Option<Packet> {
        if self.next_arrival()? > now {
            return None;
        }
        self.queue.pop().map(|Reverse((_, _, QueuedPacket(p)))| p)
    }

    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Everything sent so far, with its fate.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// How many packets `from` sent to `to` whose summary is `summary` (e.g. `"200/BYE"`).
    pub fn count(&self, from: Node, to: Node, summary: &str) -> usize {
        self.trace
            .iter()
            .filter(|t| t.from == from && t.to == to && t.summary == summary)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u32) -> Bytes {
        Bytes::from(format!("packet {n}"))
    }

    #[test]
    fn ordered_links_never_reorder_and_datagrams_can() {
        let (a, b) = (Node(0), Node(1));
        let now = Instant::now();
        let mut link = Link::datagram(Duration::from_millis(10));
        link.jitter = Duration::from_millis(50);
        let mut net = SimNet::new(9, link.clone());
        for n in 0..50 {
            net.send(now + Duration::from_millis(n.into()), a, b, msg(n));
        }
        let number = |p: Packet| -> u32 {
            let text = String::from_utf8(p.data.to_vec()).unwrap();
            text["packet ".len()..].parse().unwrap()
        };
        let order: Vec<_> = std::iter::from_fn(|| net.pop_arrived(now + Duration::from_secs(1)))
            .map(number)
            .collect();
        assert_eq!(order.len(), 50);
        assert!(
            order.windows(2).any(|w| w[0] > w[1]),
            "jitter should reorder datagrams"
        );

        link.ordered = true;
        let mut net = SimNet::new(9, link);
        for n in 0..50 {
            net.send(now + Duration::from_millis(n.into()), a, b, msg(n));
        }
        let order: Vec<_> = std::iter::from_fn(|| net.pop_arrived(now + Duration::from_secs(1)))
            .map(|p| String::from_utf8(p.data.to_vec()).unwrap())
            .collect();
        let expected: Vec<_> = (0..50).map(|n| format!("packet {n}")).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn loss_and_filters_are_deterministic_per_seed() {
        let run = |seed| {
            let mut link = Link::datagram(Duration::from_millis(5));
            link.loss = 0.3;
            let mut net = SimNet::new(seed, link);
            net.drop_next(2, |p| p.data.ends_with(b"7"));
            let now = Instant::now();
            for n in 0..100 {
                net.send(now, Node(0), Node(1), msg(n));
            }
            net.trace().iter().map(|t| t.fate).collect::<Vec<_>>()
        };
        let a = run(1);
        assert_eq!(a, run(1));
        assert_ne!(a, run(2));
        assert_eq!(a.iter().filter(|f| **f == Fate::Dropped).count(), 2);
        let lost = a.iter().filter(|f| **f == Fate::Lost).count();
        assert!((15..45).contains(&lost), "{lost}");
    }
}
