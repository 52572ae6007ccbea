//! Reception statistics for one remote source: extended sequence numbers (RFC 3550 §A.1),
//! loss (§A.3) and interarrival jitter (§A.8), as carried in report blocks (§6.4.1).
//!
//! §A.1's probation of a new source (`MIN_SEQUENTIAL`) is the session's, which also checks
//! the source address (`session/source.rs`); this starts counting once a source is taken.

use std::time::Instant;

use crate::rtcp::ReportBlock;
use crate::wire::{RtpTimestamp, SeqNo, Ssrc};

/// A jump of more than this many sequence numbers ahead is a restart, not loss (§A.1).
const MAX_DROPOUT: u16 = 3000;
/// Packets up to this far behind are late duplicates or reordering, not a restart (§A.1).
pub(crate) const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// What [`ReceptionStats::update`] made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In sequence, or within the reorder window: counts as received.
    Accepted,
    /// So far off the sequence that it is held as a possible restart and not counted.
    BadSeq,
}

/// Per-source counters of RFC 3550 §A.1 and §A.3, and the §A.8 jitter estimate.
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    clock_rate: u32,
    max_seq: SeqNo,
    /// Sequence number wraps, shifted left 16 (§A.1 `cycles`).
    cycles: u32,
    base_seq: u32,
    /// The sequence number after a big jump (§A.1 `bad_seq`), to confirm a restart.
    bad_seq: Option<SeqNo>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Arrival instant that timestamp 0 of arrival time is counted from.
    epoch: Instant,
    last_transit: Option<i64>,
    /// Jitter in timestamp units, scaled by 16 as in §A.8's integer version.
    jitter_q4: u64,
}

impl ReceptionStats {
    /// Starts tracking a source whose first valid packet had `seq`, arriving at `now`.
    pub fn new(seq: SeqNo, clock_rate: u32, now: Instant) -> Self {
        let mut stats = ReceptionStats {
            clock_rate: clock_rate.max(1),
            max_seq: seq,
            cycles: 0,
            base_seq: 0,
            bad_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            epoch: now,
            last_transit: None,
            jitter_q4: 0,
        };
        stats.init_seq(seq);
        stats
    }

    fn init_seq(&mut self, seq: SeqNo) {
        self.base_seq = u32::from(seq.as_u16());
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Records a packet with `seq` (§A.1 `update_seq`).
    ///
    /// A jump is taken as a restart only when the very next packet continues it: unlike
    /// §A.1's code, a packet of the old sequence in between cancels it, so a stranger's
    /// packets interleaved with the stream never confirm one another.
    pub fn update(&mut self, seq: SeqNo) -> SeqVerdict {
        let udelta = seq.distance_from(self.max_seq);
        let jump = self.bad_seq.take();
        if udelta < MAX_DROPOUT {
            if seq.as_u16() < self.max_seq.as_u16() {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            if jump == Some(seq) {
                self.init_seq(seq);
            } else {
                self.bad_seq = Some(seq.next());
                return SeqVerdict::BadSeq;
            }
        }
        // Otherwise a duplicate or reordered packet: counted, max unchanged.
        self.received += 1;
        SeqVerdict::Accepted
    }

    /// Feeds the §A.8 jitter estimator with a packet's RTP timestamp and arrival time.
    pub fn update_jitter(&mut self, timestamp: RtpTimestamp, now: Instant) {
        let arrival_ticks = now.saturating_duration_since(self.epoch).as_nanos()
            * u128::from(self.clock_rate)
            / 1_000_000_000;
        // Both clocks wrap the same way in i64 modulo 2^32 arithmetic.
        let transit = i64::from(RtpTimestamp::new(arrival_ticks as u32).diff(timestamp));
        if let Some(last) = self.last_transit {
            let d = i64::from(((transit - last) as i32).wrapping_abs()).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16 (§A.8).
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Extended highest sequence number received (§A.1 `cycles + max_seq`).
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq.as_u16()))
    }

    /// Packets expected from the first to the highest sequence number (§A.3).
    pub fn expected(&self) -> u64 {
        (u64::from(self.cycles) + u64::from(self.max_seq.as_u16()) + 1)
            .saturating_sub(u64::from(self.base_seq))
    }

    /// Packets received, duplicates included (§A.3).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost: expected minus received, negative with duplicates (§A.3).
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in RTP timestamp units (§A.8).
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_q4 as f64 / 16.0 * 1000.0 / f64::from(self.clock_rate)
    }

    /// A report block for this source, starting a new loss interval (§A.3 `fraction`).
    pub fn report_block(
        &mut self,
        ssrc: Ssrc,
        last_sr: u32,
        delay_since_last_sr: u32,
    ) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_loss_across_sequence_wrap() {
        let now = Instant::now();
        let mut s = ReceptionStats::new(SeqNo::new(65_530), 8000, now);
        for seq in (65_530u16..=65_535).chain(0..10) {
            if seq != 2 && seq != 3 {
                assert_eq!(s.update(SeqNo::new(seq)), SeqVerdict::Accepted);
            }
        }
        assert_eq!(s.extended_max(), 65_536 + 9);
        assert_eq!(s.expected(), 16);
        assert_eq!(s.received(), 14);
        assert_eq!(s.cumulative_lost(), 2);
        let block = s.report_block(Ssrc::new(7), 0, 0);
        assert_eq!(block.cumulative_lost, 2);
        assert_eq!(block.fraction_lost, (2 * 256 / 16) as u8);
        assert_eq!(block.highest_seq, 65_545);
        // Nothing new: the next interval has no loss.
        assert_eq!(s.report_block(Ssrc::new(7), 0, 0).fraction_lost, 0);
    }

    #[test]
    fn late_reordered_packet_fills_a_gap_and_duplicates_go_negative() {
        let mut s = ReceptionStats::new(SeqNo::new(100), 8000, Instant::now());
        s.update(SeqNo::new(100));
        s.update(SeqNo::new(102));
        assert_eq!(s.cumulative_lost(), 1);
        s.update(SeqNo::new(101));
        assert_eq!(s.cumulative_lost(), 0);
        assert_eq!(s.extended_max(), 102);
        s.update(SeqNo::new(101));
        assert_eq!(s.cumulative_lost(), -1);
    }

    #[test]
    fn big_jump_is_held_then_taken_as_a_restart() {
        let mut s = ReceptionStats::new(SeqNo::new(10), 8000, Instant::now());
        s.update(SeqNo::new(10));
        assert_eq!(s.update(SeqNo::new(40_000)), SeqVerdict::BadSeq);
        assert_eq!(s.update(SeqNo::new(40_001)), SeqVerdict::Accepted);
        assert_eq!(s.extended_max(), 40_001);
        assert_eq!(s.expected(), 1);
        assert_eq!(s.received(), 1);
    }

    #[test]
    fn a_jump_interleaved_with_the_old_sequence_is_never_confirmed() {
        let mut s = ReceptionStats::new(SeqNo::new(10), 8000, Instant::now());
        for i in 0..50u16 {
            assert_eq!(s.update(SeqNo::new(10 + i)), SeqVerdict::Accepted);
            assert_eq!(s.update(SeqNo::new(10_010 + i)), SeqVerdict::BadSeq);
        }
        assert_eq!(s.extended_max(), 59);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn steady_arrivals_have_no_jitter_and_alternating_delay_converges() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(SeqNo::new(0), 8000, t0);
        for i in 0..50u32 {
            s.update_jitter(
                RtpTimestamp::new(1000 + i * 160),
                t0 + Duration::from_millis(20 * u64::from(i)),
            );
        }
        assert_eq!(s.jitter(), 0);
        // Every other packet 10 ms (80 ticks) late: |D| = 80 each time, J -> 80.
        for i in 50..1000u32 {
            let late = if i % 2 == 0 { 10 } else { 0 };
            s.update_jitter(
                RtpTimestamp::new(1000 + i * 160),
                t0 + Duration::from_millis(20 * u64::from(i) + late),
            );
        }
        assert!((s.jitter() as i64 - 80).abs() <= 1, "{}", s.jitter());
        assert!((s.jitter_ms() - 10.0).abs() < 0.2);
    }

    #[test]
    fn jitter_survives_timestamp_wrap() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(SeqNo::new(0), 48_000, t0);
        let start = u32::MAX - 960 * 5;
        for i in 0..20u32 {
            s.update_jitter(
                RtpTimestamp::new(start.wrapping_add(i * 960)),
                t0 + Duration::from_millis(20 * u64::from(i)),
            );
        }
        assert_eq!(s.jitter(), 0);
    }
}
