//! RFC 4733 telephone-events. The `DtmfReceiver` fed arbitrary (timestamp, payload) packets:
//! never panics; reports one digit per event start timestamp (however often its packets
//! repeat), only digits of RFC 4733 table 3, in the order received, and remembers at most
//! 64. `EventPayload` round-trips. The `DtmfSender` fed arbitrary digits and frames: each
//! digit is sent as 7 packets with one start timestamp, the marker on the first only,
//! growing durations and the end bit on the last three (§2.5.1).
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use wren_media::dtmf::{digit_of, event_code, DtmfReceiver, DtmfSender, EventPayload, Step};
use wren_media::RtpTimestamp;

const DIGITS: &str = "0123456789*#ABCD";

#[derive(Arbitrary, Debug)]
enum Op {
    /// An event packet: same start timestamp as the last one when `same`, else `ts`.
    Receive {
        same: bool,
        ts: u32,
        payload: Vec<u8>,
    },
    /// A packet carrying a well-formed event.
    Event {
        same: bool,
        ts: u32,
        event: u8,
        end: bool,
        duration: u16,
    },
    Push(char),
    /// Send `n` frames.
    Frames(u8),
}

fuzz_target!(|input: (bool, Vec<Op>)| {
    let (narrow, ops) = input;
    // A session's frames are all one length: 20 ms of its codec's clock.
    let ticks = if narrow { 160 } else { 960 };
    let mut rx = DtmfReceiver::default();
    let mut tx = DtmfSender::default();
    let mut last_ts: Option<u32> = None;
    // What the receiver should have reported: one digit per new start timestamp.
    let mut expected = String::new();
    let mut polled = String::new();
    let mut frame_ts = RtpTimestamp::new(0);
    // The sender's current event: (code, start, packets so far, last duration).
    let mut sending: Option<(u8, RtpTimestamp, u32, u16)> = None;
    let mut queued = std::collections::VecDeque::new();
    for op in ops.into_iter().take(1024) {
        match op {
            Op::Receive { same, ts, payload } => {
                receive(&mut rx, &mut last_ts, &mut expected, same, ts, &payload)
            }
            Op::Event {
                same,
                ts,
                event,
                end,
                duration,
            } => {
                let p = EventPayload {
                    event: event % 20,
                    end,
                    volume: 10,
                    duration,
                };
                let bytes = p.write();
                assert_eq!(EventPayload::parse(&bytes), Some(p));
                receive(&mut rx, &mut last_ts, &mut expected, same, ts, &bytes);
            }
            Op::Push(c) => {
                if let Some(code) = event_code(c) {
                    assert_eq!(digit_of(code), Some(c.to_ascii_uppercase()));
                    if tx.push(code) {
                        queued.push_back(code);
                    }
                }
            }
            Op::Frames(n) => {
                for _ in 0..n % 32 {
                    match tx.step(frame_ts, ticks) {
                        Step::Audio => assert!(sending.is_none(), "audio in the middle of a digit"),
                        Step::Event {
                            payload,
                            start,
                            first,
                        } => {
                            let (code, st, count, last) = match sending {
                                None => {
                                    assert!(first, "a digit starts with the marker");
                                    assert_eq!(start, frame_ts);
                                    let code = queued.pop_front().expect("a digit was queued");
                                    (code, start, 0, 0)
                                }
                                Some(s) => {
                                    assert!(!first);
                                    s
                                }
                            };
                            assert_eq!((payload.event, start), (code, st));
                            assert!(payload.duration >= last);
                            let count = count + 1;
                            assert_eq!(payload.end, count >= 5);
                            sending = (count < 7).then_some((code, st, count, payload.duration));
                        }
                    }
                    frame_ts = frame_ts.wrapping_add(ticks);
                }
            }
        }
        while let Some(d) = rx.poll() {
            polled.push(d);
        }
        assert!(rx.received().len() <= 64);
        assert!(rx.received().chars().all(|c| DIGITS.contains(c)));
        assert!(expected.starts_with(rx.received()));
        assert_eq!(rx.received().len(), expected.len().min(64));
    }
    // Drained after every packet, so every digit is handed out, past the 64 remembered too.
    assert_eq!(polled, expected);
    assert!(tx.busy() == (sending.is_some() || !queued.is_empty()));
});

fn receive(
    rx: &mut DtmfReceiver,
    last_ts: &mut Option<u32>,
    expected: &mut String,
    same: bool,
    ts: u32,
    payload: &[u8],
) {
    let ts = if same { last_ts.unwrap_or(ts) } else { ts };
    let digit = EventPayload::parse(payload).and_then(|p| digit_of(p.event));
    if let Some(d) = digit {
        if *last_ts != Some(ts) {
            expected.push(d);
            *last_ts = Some(ts);
        }
    }
    rx.on_packet(RtpTimestamp::new(ts), payload);
}
