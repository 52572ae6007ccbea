//! The `JitterBuffer` fed an arbitrary sequence of inserts (sequence numbers and timestamps
//! as steps from the last, so the fuzzer finds in-order, reordered, duplicate, wrapping and
//! restarting streams), pops and resets, at the clock rates of our codecs. Never panics;
//! never holds more than its bound of packets; a pop that plays nothing while packets wait
//! is `Idle` only while buffering; losses and underruns always cover some time; the
//! counters only grow.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use wren_media::jitter::{JitterBuffer, JitterCounters, Playout};
use wren_media::{RtpTimestamp, SeqNo};

/// `MAX_PACKETS` in jitter.rs (private): about 4 s of 20 ms packets.
const MAX_PACKETS: usize = 200;
/// Longest packet the session buffers (its `MAX_PACKET_MS`).
const MAX_PACKET_MS: u32 = 120;

#[derive(Arbitrary, Debug)]
enum Op {
    Insert {
        seq_step: i16,
        /// Timestamp step in 2.5 ms units, or raw ticks when `raw`.
        ts_step: i16,
        raw: bool,
        /// Duration in 2.5 ms units (0..=48, as the session allows up to 120 ms).
        duration: u8,
        payload: u8,
    },
    Pop,
    PopMany(u8),
    Reset,
}

fn grew(before: JitterCounters, after: JitterCounters) -> bool {
    after.late >= before.late
        && after.duplicate >= before.duplicate
        && after.overflow >= before.overflow
        && after.lost >= before.lost
        && after.underrun >= before.underrun
}

fuzz_target!(|input: (u8, u8, u32, u16, Vec<Op>)| {
    let (rate, target, ts0, seq0, ops) = input;
    let clock_rate = if rate % 2 == 0 { 48_000 } else { 8_000 };
    let target_ms = [0, 20, 60, 120, 200][usize::from(target) % 5];
    let unit = clock_rate / 400; // 2.5 ms
    let max_duration = clock_rate / 1000 * MAX_PACKET_MS;
    let mut jb = JitterBuffer::new(clock_rate, target_ms);
    let (mut seq, mut ts) = (SeqNo::new(seq0), RtpTimestamp::new(ts0));
    for op in ops.into_iter().take(2048) {
        let before = jb.counters();
        match op {
            Op::Insert {
                seq_step,
                ts_step,
                raw,
                duration,
                payload,
            } => {
                seq = SeqNo::new(seq.as_u16().wrapping_add(seq_step as u16));
                let step = if raw {
                    i32::from(ts_step)
                } else {
                    i32::from(ts_step) * unit as i32
                };
                ts = ts.wrapping_add(step as u32);
                let duration = (u32::from(duration) * unit).min(max_duration);
                jb.insert(seq, ts, duration, &[payload]);
            }
            Op::Pop => check_pop(&mut jb),
            Op::PopMany(n) => {
                for _ in 0..n % 64 {
                    check_pop(&mut jb);
                }
            }
            Op::Reset => {
                jb.reset();
                assert!(jb.is_empty());
            }
        }
        assert!(jb.len() <= MAX_PACKETS, "holds {} packets", jb.len());
        assert_eq!(jb.is_empty(), jb.len() == 0);
        assert!(
            grew(before, jb.counters()),
            "{before:?} -> {:?}",
            jb.counters()
        );
    }
});

fn check_pop(jb: &mut JitterBuffer) {
    let len = jb.len();
    match jb.pop() {
        Playout::Packet(_) => assert_eq!(jb.len() + 1 <= len, true),
        Playout::Lost { ticks, .. } | Playout::Underrun { ticks } => assert!(ticks > 0),
        Playout::Idle => assert_eq!(jb.len(), len),
    }
}
