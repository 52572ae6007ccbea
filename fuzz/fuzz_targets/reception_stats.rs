//! `ReceptionStats` fed an arbitrary stream of sequence numbers (as steps, so runs, reorders,
//! duplicates, wraps and restarts are all easy to reach), RTP timestamps with arrival times,
//! and report blocks. Never panics; a packet the stats take counts as received; loss is
//! expected minus received; report blocks carry the extended highest sequence number and a
//! cumulative loss inside the 24-bit field; a packet up to 3000 ahead moves the
//! extended highest sequence number up to it (RFC 3550 §6.4.1, §A.3).
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use wren_media::reception::{ReceptionStats, SeqVerdict};
use wren_media::{RtpTimestamp, SeqNo, Ssrc};

#[derive(Arbitrary, Debug)]
enum Op {
    /// A packet `step` sequence numbers on, `ts_step` ticks on, arriving `ms` later.
    Packet {
        step: i16,
        ts_step: i32,
        ms: u16,
    },
    /// A run of `n` in-order packets, 20 ms apart.
    Run(u8),
    Report {
        last_sr: u32,
        dlsr: u32,
    },
}

fuzz_target!(|input: (bool, u16, Vec<Op>)| {
    let (narrow, seq0, ops) = input;
    let clock_rate = if narrow { 8_000 } else { 48_000 };
    let mut now = Instant::now();
    let mut seq = SeqNo::new(seq0);
    let mut ts = RtpTimestamp::new(0);
    let mut stats = ReceptionStats::new(seq, clock_rate, now);
    let feed = |stats: &mut ReceptionStats, seq: SeqNo, ts: RtpTimestamp, now: Instant| {
        let before = stats.received();
        let max_before = stats.extended_max();
        let udelta = seq.distance_from(SeqNo::new(max_before as u16));
        match stats.update(seq) {
            // Accepted counts it (a restart confirmed by this packet counts from 1).
            SeqVerdict::Accepted => {
                assert!(stats.received() == before + 1 || stats.received() == 1)
            }
            SeqVerdict::BadSeq => assert_eq!(stats.received(), before),
        }
        // In sequence (within MAX_DROPOUT ahead): the extended maximum moves up to it.
        if udelta < 3000 {
            assert_eq!(
                stats.extended_max(),
                max_before.wrapping_add(u32::from(udelta))
            );
        }
        stats.update_jitter(ts, now);
    };
    for op in ops.into_iter().take(4096) {
        match op {
            Op::Packet { step, ts_step, ms } => {
                seq = seq.wrapping_add(step as u16);
                ts = ts.wrapping_add(ts_step as u32);
                now += Duration::from_millis(u64::from(ms));
                feed(&mut stats, seq, ts, now);
            }
            Op::Run(n) => {
                for _ in 0..n {
                    seq = seq.next();
                    ts = ts.wrapping_add(clock_rate / 50);
                    now += Duration::from_millis(20);
                    feed(&mut stats, seq, ts, now);
                }
            }
            Op::Report { last_sr, dlsr } => {
                let extended = stats.extended_max();
                let block = stats.report_block(Ssrc::new(7), last_sr, dlsr);
                assert_eq!(block.highest_seq, extended);
                assert!((-0x80_0000..=0x7f_ffff).contains(&block.cumulative_lost));
                assert_eq!((block.last_sr, block.delay_since_last_sr), (last_sr, dlsr));
            }
        }
        assert_eq!(
            stats.cumulative_lost(),
            stats.expected() as i64 - stats.received() as i64
        );
        assert!(stats.jitter_ms().is_finite() && stats.jitter_ms() >= 0.0);
    }
});
