//! A fixed-delay playout (jitter) buffer: holds about [`DEFAULT_TARGET_MS`] of audio packets,
//! reorders them, drops duplicates and packets too late to play, and says when one is lost.
//!
//! Packets are ordered by RTP timestamp (extended past its 32-bit wrap), not by sequence
//! number: RFC 4733 telephone-events share the sequence space, and a peer may send packets
//! of other durations than 20 ms, while timestamps are media time itself (RFC 3550 §5.1).
//! Sequence numbers drive the loss statistics instead ([`crate::reception`], RFC 3550 §A.3).
//! The adaptive buffer (RFC 3550 §6.4.1 jitter driving the target) comes later.

use std::collections::BTreeMap;

use crate::wire::{RtpTimestamp, SeqNo};

/// Default playout delay.
pub const DEFAULT_TARGET_MS: u32 = 60;
/// Audio beyond the target that may pile up before the oldest is skipped.
const MAX_EXCESS_MS: u32 = 200;
/// Frames of underrun after which playout stops and re-buffers.
const MAX_STARVED_FRAMES: u32 = 5;
/// A packet this far behind is a timestamp restart, not a late packet.
const RESTART_BEHIND_MS: u32 = 1000;
/// Packets held at most (about 4 s of 20 ms packets).
const MAX_PACKETS: usize = 200;

/// One buffered packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedPacket {
    /// Its RTP sequence number.
    pub seq: SeqNo,
    /// Its RTP timestamp.
    pub timestamp: RtpTimestamp,
    /// RTP clock ticks it covers.
    pub duration: u32,
    /// The codec payload.
    pub payload: Vec<u8>,
}

/// What to play next, from [`JitterBuffer::pop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Decode this packet.
    Packet(BufferedPacket),
    /// The packet due now was lost; later ones are here. Conceal `ticks`, or rebuild them
    /// from `next`'s redundancy when `next` directly follows the gap.
    Lost {
        /// RTP clock ticks to cover.
        ticks: u32,
        /// The payload right after the gap, for FEC.
        next: Option<Vec<u8>>,
    },
    /// Nothing buffered while playing: conceal `ticks`.
    Underrun {
        /// RTP clock ticks to cover.
        ticks: u32,
    },
    /// Not playing (before the first packets, or re-buffering): play silence.
    Idle,
}

/// What happened to an inserted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Buffered.
    Buffered,
    /// Already buffered or played.
    Duplicate,
    /// Its time to play has passed.
    Late,
    /// Buffered after a timestamp restart emptied the buffer.
    Restarted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting the target delay before playing.
    Buffering,
    /// Playing: `next` is the extended timestamp due next.
    Playing { next: i64, starved: u32 },
}

/// Counters kept by the buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterCounters {
    /// Packets dropped because their time had passed.
    pub late: u64,
    /// Packets dropped as duplicates.
    pub duplicate: u64,
    /// Packets skipped because too much audio piled up.
    pub overflow: u64,
    /// Packets reported lost to the decoder.
    pub lost: u64,
    /// Frames of underrun.
    pub underrun: u64,
}

/// The fixed playout buffer for one stream.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    ticks_per_frame: u32,
    target: i64,
    max_span: i64,
    restart_behind: i64,
    packets: BTreeMap<i64, BufferedPacket>,
    /// Highest extended timestamp seen: the reference for extending the next one.
    highest: Option<i64>,
    /// End of the last packet actually played: anything before it is a duplicate.
    played_end: Option<i64>,
    state: State,
    counters: JitterCounters,
}

impl JitterBuffer {
    /// A buffer for a codec with `clock_rate`, playing `target_ms` behind the first packet.
    pub fn new(clock_rate: u32, target_ms: u32) -> Self {
        let ticks = |ms: u32| i64::from(clock_rate) * i64::from(ms) / 1000;
        JitterBuffer {
            ticks_per_frame: (clock_rate / 50).max(1),
            target: ticks(target_ms),
            max_span: ticks(target_ms + MAX_EXCESS_MS),
            restart_behind: ticks(RESTART_BEHIND_MS),
            packets: BTreeMap::new(),
            highest: None,
            played_end: None,
            state: State::Buffering,
            counters: JitterCounters::default(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> JitterCounters {
        self.counters
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no packet is waiting.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Drops everything (new source), keeping the counters.
    pub fn reset(&mut self) {
        self.packets.clear();
        self.highest = None;
        self.played_end = None;
        self.state = State::Buffering;
    }

    fn extend(&self, timestamp: RtpTimestamp) -> i64 {
        match self.highest {
            None => i64::from(timestamp.as_u32()),
            // The low 32 bits of an extended timestamp are the wire timestamp.
            Some(h) => h + i64::from(timestamp.diff(RtpTimestamp::new(h as u32))),
        }
    }

    /// Offers a packet covering `duration` ticks from `timestamp`.
    pub fn insert(
        &mut self,
        seq: SeqNo,
        timestamp: RtpTimestamp,
        duration: u32,
        payload: &[u8],
    ) -> Insert {
        let mut ext = self.extend(timestamp);
        let mut verdict = Insert::Buffered;
        if self.highest.is_some_and(|h| ext < h - self.restart_behind) {
            self.reset();
            ext = i64::from(timestamp.as_u32());
            verdict = Insert::Restarted;
        }
        if self.packets.contains_key(&ext) {
            self.counters.duplicate += 1;
            return Insert::Duplicate;
        }
        let deadline = match self.state {
            State::Playing { next, .. } => Some(next),
            State::Buffering => self.played_end,
        };
        if deadline.is_some_and(|d| ext < d) {
            self.counters.late += 1;
            return Insert::Late;
        }
        if self.packets.len() >= MAX_PACKETS {
            self.packets.pop_first();
            self.counters.overflow += 1;
        }
        self.packets.insert(
            ext,
            BufferedPacket {
                seq,
                timestamp,
                duration,
                payload: payload.to_vec(),
            },
        );
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        verdict
    }

    /// Ticks from `from` to the end of the newest packet.
    fn span_from(&self, from: i64) -> i64 {
        self.packets
            .last_key_value()
            .map_or(0, |(ts, p)| ts + i64::from(p.duration) - from)
    }

    /// The next thing to play; call once per frame, and again while the decoder's output
    /// is short of a frame.
    pub fn pop(&mut self) -> Playout {
        let (mut next, starved) = match self.state {
            State::Buffering => {
                let Some((&first, _)) = self.packets.first_key_value() else {
                    return Playout::Idle;
                };
                if self.span_from(first) < self.target {
                    return Playout::Idle;
                }
                (first, 0)
            }
            State::Playing { next, starved } => (next, starved),
        };
        // Too much waiting (the sender's clock runs fast, a burst, or its timestamps jumped
        // ahead): skip a gap first, then the oldest packets.
        while self.span_from(next) > self.max_span {
            let Some((&first, _)) = self.packets.first_key_value() else {
                break;
            };
            if first > next {
                next = first;
                continue;
            }
            self.packets.pop_first();
            self.counters.overflow += 1;
            next = self.packets.first_key_value().map_or(next, |(&t, _)| t);
        }
        let Some((&first, _)) = self.packets.first_key_value() else {
            let starved = starved + 1;
            self.counters.underrun += 1;
            self.state = if starved >= MAX_STARVED_FRAMES {
                State::Buffering
            } else {
                State::Playing {
                    next: next + i64::from(self.ticks_per_frame),
                    starved,
                }
            };
            return Playout::Underrun {
                ticks: self.ticks_per_frame,
            };
        };
        if first <= next {
            // Due now (or, after a restart or skip, overdue: play it rather than lose it).
            let Some((ts, packet)) = self.packets.pop_first() else {
                return Playout::Idle;
            };
            let end = ts + i64::from(packet.duration);
            self.played_end = Some(end);
            self.state = State::Playing {
                next: end,
                starved: 0,
            };
            return Playout::Packet(packet);
        }
        let gap = first - next;
        let ticks = gap.min(i64::from(self.ticks_per_frame)) as u32;
        let follows = i64::from(ticks) == gap;
        self.counters.lost += 1;
        self.state = State::Playing {
            next: next + i64::from(ticks),
            starved: 0,
        };
        Playout::Lost {
            ticks,
            next: follows
                .then(|| self.packets.get(&first).map(|p| p.payload.clone()))
                .flatten(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u32 = 160;

    fn jb() -> JitterBuffer {
        JitterBuffer::new(8000, 60)
    }

    fn put(jb: &mut JitterBuffer, i: u32, base: u32) -> Insert {
        jb.insert(
            SeqNo::new(i as u16),
            RtpTimestamp::new(base.wrapping_add(i * F)),
            F,
            &[i as u8],
        )
    }

    fn played(p: Playout) -> Option<u8> {
        match p {
            Playout::Packet(packet) => Some(packet.payload[0]),
            _ => None,
        }
    }

    #[test]
    fn waits_for_target_then_plays_in_order() {
        let mut jb = jb();
        assert_eq!(jb.pop(), Playout::Idle);
        put(&mut jb, 0, 1000);
        put(&mut jb, 1, 1000);
        assert_eq!(jb.pop(), Playout::Idle, "40 ms buffered, target 60");
        put(&mut jb, 2, 1000);
        assert_eq!(played(jb.pop()), Some(0));
        assert_eq!(played(jb.pop()), Some(1));
        assert_eq!(played(jb.pop()), Some(2));
    }

    #[test]
    fn reorders_and_drops_duplicates() {
        let mut jb = jb();
        for i in [2, 0, 1, 1, 4, 3] {
            put(&mut jb, i, 0);
        }
        assert_eq!(jb.counters().duplicate, 1);
        let order: Vec<_> = (0..5).map(|_| played(jb.pop())).collect();
        assert_eq!(order, [Some(0), Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(put(&mut jb, 2, 0), Insert::Late);
    }

    #[test]
    fn reports_loss_with_the_following_packet_for_fec() {
        let mut jb = jb();
        for i in [0, 1, 3, 4] {
            put(&mut jb, i, 0);
        }
        assert_eq!(played(jb.pop()), Some(0));
        assert_eq!(played(jb.pop()), Some(1));
        assert_eq!(
            jb.pop(),
            Playout::Lost {
                ticks: F,
                next: Some(vec![3])
            }
        );
        assert_eq!(played(jb.pop()), Some(3));
        // Packet 2 turning up now is too late.
        assert_eq!(put(&mut jb, 2, 0), Insert::Late);
        assert_eq!(jb.counters().lost, 1);
        assert_eq!(jb.counters().late, 1);
    }

    #[test]
    fn plays_across_timestamp_wrap() {
        let mut jb = jb();
        let base = u32::MAX - F * 2 + 1;
        for i in 0..6 {
            put(&mut jb, i, base);
        }
        let order: Vec<_> = (0..6).map(|_| played(jb.pop())).collect();
        assert_eq!(order, (0..6).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn underrun_conceals_then_rebuffers_and_resumes_after_a_pause() {
        let mut jb = jb();
        for i in 0..3 {
            put(&mut jb, i, 0);
        }
        for _ in 0..3 {
            assert!(played(jb.pop()).is_some());
        }
        for _ in 0..MAX_STARVED_FRAMES {
            assert_eq!(jb.pop(), Playout::Underrun { ticks: F });
        }
        assert_eq!(jb.pop(), Playout::Idle);
        // The sender resumes where it stopped (a stall, not silence suppression).
        for i in 3..6 {
            assert_eq!(put(&mut jb, i, 0), Insert::Buffered);
        }
        assert_eq!(played(jb.pop()), Some(3));
    }

    #[test]
    fn timestamp_restart_far_behind_resets() {
        let mut jb = jb();
        for i in 0..3 {
            put(&mut jb, i, 1_000_000);
        }
        jb.pop();
        assert_eq!(put(&mut jb, 0, 5), Insert::Restarted);
        put(&mut jb, 1, 5);
        put(&mut jb, 2, 5);
        assert_eq!(played(jb.pop()), Some(0));
    }

    #[test]
    fn pile_up_beyond_max_skips_oldest() {
        let mut jb = jb();
        for i in 0..40 {
            put(&mut jb, i, 0);
        }
        let first = played(jb.pop()).unwrap();
        assert!(
            first > 20,
            "skipped to keep latency bounded, played {first}"
        );
        assert!(jb.counters().overflow > 0);
        assert!(jb.len() as i64 * i64::from(F) <= jb.max_span);
    }

    #[test]
    fn timestamp_jump_ahead_while_playing_skips_the_gap() {
        let mut jb = jb();
        for i in 0..3 {
            put(&mut jb, i, 0);
        }
        jb.pop();
        // The sender's timestamps leap 10 s ahead and it carries on from there.
        for i in 0..20 {
            put(&mut jb, i, 80_000);
        }
        let mut played_new = None;
        for n in 0..10 {
            if let Playout::Packet(p) = jb.pop() {
                if p.timestamp.as_u32() >= 80_000 {
                    played_new = Some(n);
                    break;
                }
            }
        }
        assert!(
            played_new.is_some(),
            "new packets play within a few frames, not after 10 s"
        );
    }

    #[test]
    fn hostile_timestamps_keep_memory_bounded() {
        let mut jb = jb();
        for i in 0..10_000u32 {
            jb.insert(
                SeqNo::new(i as u16),
                RtpTimestamp::new(i.wrapping_mul(2_654_435_761)),
                F,
                &[0],
            );
        }
        assert!(jb.len() <= MAX_PACKETS);
        for _ in 0..1000 {
            jb.pop();
        }
    }
}
