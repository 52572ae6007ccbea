//! RFC 4733 telephone-events: the DTMF digits we send as RTP events, and the ones we read
//! from the peer's.
//!
//! ```text
//!  send: digit ─▶ queue ─▶ each 20 ms frame: event packet (same timestamp, duration grows)
//!                          ─▶ 3 end packets (E bit) ─▶ gap frames of audio ─▶ next digit
//!  recv: event packet ─▶ new (timestamp) ? ─▶ one digit, however many packets repeat it
//! ```

use std::collections::VecDeque;

use crate::wire::RtpTimestamp;

/// How long each digit sounds (RFC 4733 §2.5.1.2 leaves it to the sender; 100 ms is what
/// phones and IVRs expect).
pub const TONE_FRAMES: u32 = 5;
/// Audio frames between two digits, so the far end sees two events.
pub const GAP_FRAMES: u32 = 3;
/// The final packet goes out three times (RFC 4733 §2.5.1.4).
const END_REPEATS: u32 = 3;
/// Digits waiting at most; more is API misuse.
pub const MAX_QUEUED: usize = 32;
/// Received digits remembered for the stats.
const MAX_RECEIVED: usize = 64;
/// Event volume: -10 dBm0, as the RFC 4733 §2.3.4 examples.
const VOLUME: u8 = 10;

/// The event code of a DTMF digit (RFC 4733 §3.2), or `None` for anything else.
pub fn event_code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The digit of an event code 0-15.
pub fn digit_of(code: u8) -> Option<char> {
    match code {
        0..=9 => Some(char::from(b'0' + code)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + code - 12)),
        _ => None,
    }
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl EventPayload {
    pub fn write(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }

    pub fn parse(data: &[u8]) -> Option<Self> {
        let [event, flags, d0, d1] = *data.get(..4)?.first_chunk::<4>()?;
        Some(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }
}

/// What the sender does with the next 20 ms frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send the audio frame.
    Audio,
    /// Send this event packet instead, with the event's start timestamp (`start`) and the
    /// marker bit when `first`.
    Event {
        payload: EventPayload,
        start: RtpTimestamp,
        first: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Active {
    event: u8,
    start: RtpTimestamp,
    /// Frames sent so far.
    frames: u32,
}

/// The sending side: a queue of digits played out one frame at a time.
#[derive(Debug, Default)]
pub struct DtmfSender {
    queue: VecDeque<u8>,
    active: Option<Active>,
    /// Audio frames still to send before the next digit.
    gap: u32,
}

impl DtmfSender {
    /// Queues a digit; `false` when the queue is full.
    pub fn push(&mut self, event: u8) -> bool {
        if self.queue.len() >= MAX_QUEUED {
            return false;
        }
        self.queue.push_back(event);
        true
    }

    /// Whether digits are playing or waiting.
    pub fn busy(&self) -> bool {
        self.active.is_some() || !self.queue.is_empty()
    }

    /// The step for the frame at RTP timestamp `ts`, `ticks` long.
    pub fn step(&mut self, ts: RtpTimestamp, ticks: u32) -> Step {
        if self.active.is_none() {
            if self.gap > 0 {
                self.gap -= 1;
                return Step::Audio;
            }
            let Some(event) = self.queue.pop_front() else {
                return Step::Audio;
            };
            self.active = Some(Active {
                event,
                start: ts,
                frames: 0,
            });
        }
        let Some(active) = self.active.as_mut() else {
            return Step::Audio;
        };
        active.frames += 1;
        let first = active.frames == 1;
        let end = active.frames >= TONE_FRAMES;
        // The end packets repeat the final duration (§2.5.1.4).
        let duration = ticks.saturating_mul(active.frames.min(TONE_FRAMES));
        let step = Step::Event {
            payload: EventPayload {
                event: active.event,
                end,
                volume: VOLUME,
                duration: u16::try_from(duration).unwrap_or(u16::MAX),
            },
            start: active.start,
            first,
        };
        if active.frames >= TONE_FRAMES + END_REPEATS - 1 {
            self.active = None;
            self.gap = GAP_FRAMES;
        }
        step
    }
}

/// The receiving side: one digit per event, however often its packets repeat.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    /// Start timestamp of the last event we reported.
    last: Option<RtpTimestamp>,
    received: String,
    pending: VecDeque<char>,
}

impl DtmfReceiver {
    /// Takes one event packet with RTP timestamp `ts`.
    pub fn on_packet(&mut self, ts: RtpTimestamp, payload: &[u8]) {
        let Some(ev) = EventPayload::parse(payload) else {
            return;
        };
        let Some(digit) = digit_of(ev.event) else {
            return;
        };
        if self.last == Some(ts) {
            return;
        }
        self.last = Some(ts);
        if self.received.len() < MAX_RECEIVED {
            self.received.push(digit);
        }
        if self.pending.len() < MAX_RECEIVED {
            self.pending.push_back(digit);
        }
    }

    /// Digits received so far (the first 64).
    pub fn received(&self) -> &str {
        &self.received
    }

    /// The next digit not yet handed out.
    pub fn poll(&mut self) -> Option<char> {
        self.pending.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_cover_rfc_4733_table_3() {
        let digits = "0123456789*#ABCD";
        for (code, d) in digits.chars().enumerate() {
            assert_eq!(event_code(d), Some(code as u8));
            assert_eq!(digit_of(code as u8), Some(d));
        }
        assert_eq!(event_code('a'), Some(12));
        assert_eq!(event_code('E'), None);
        assert_eq!(event_code(','), None);
        assert_eq!(digit_of(16), None);
    }

    #[test]
    fn payload_round_trips_and_short_input_is_refused() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 4800,
        };
        assert_eq!(p.write(), [11, 0x8a, 0x12, 0xc0]);
        assert_eq!(EventPayload::parse(&p.write()), Some(p));
        assert_eq!(EventPayload::parse(&[1, 2, 3]), None);
    }

    #[test]
    fn one_digit_is_five_tone_frames_three_ends_then_a_gap() {
        let mut s = DtmfSender::default();
        assert!(s.push(5));
        let mut steps = Vec::new();
        for i in 0..12u32 {
            steps.push(s.step(RtpTimestamp::new(1000 + i * 960), 960));
        }
        let events: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Event {
                    payload,
                    start,
                    first,
                } => Some((*payload, *start, *first)),
                Step::Audio => None,
            })
            .collect();
        assert_eq!(events.len(), 7);
        assert!(events
            .iter()
            .all(|(p, start, _)| p.event == 5 && start.as_u32() == 1000));
        assert!(events[0].2 && events[1..].iter().all(|e| !e.2));
        let durations: Vec<u16> = events.iter().map(|e| e.0.duration).collect();
        assert_eq!(durations, [960, 1920, 2880, 3840, 4800, 4800, 4800]);
        let ends: Vec<bool> = events.iter().map(|e| e.0.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(steps[7..].iter().all(|s| *s == Step::Audio));
        assert!(!s.busy());
    }

    #[test]
    fn two_digits_are_separated_by_audio_and_start_on_their_own_timestamps() {
        let mut s = DtmfSender::default();
        s.push(1);
        s.push(2);
        let starts: Vec<Option<u32>> = (0..20u32)
            .map(|i| match s.step(RtpTimestamp::new(i * 160), 160) {
                Step::Event { start, .. } => Some(start.as_u32()),
                Step::Audio => None,
            })
            .collect();
        assert_eq!(starts[0], Some(0));
        assert_eq!(starts[7..10], [None, None, None]);
        assert_eq!(starts[10], Some(1600));
    }

    #[test]
    fn queue_is_bounded() {
        let mut s = DtmfSender::default();
        for _ in 0..MAX_QUEUED {
            assert!(s.push(1));
        }
        assert!(!s.push(1));
    }

    #[test]
    fn receiver_reports_each_event_once() {
        let mut r = DtmfReceiver::default();
        let mut s = DtmfSender::default();
        s.push(1);
        s.push(11);
        for i in 0..30u32 {
            if let Step::Event { payload, start, .. } = s.step(RtpTimestamp::new(i * 960), 960) {
                r.on_packet(start, &payload.write());
            }
        }
        r.on_packet(RtpTimestamp::new(0), &[200, 0, 0, 0]);
        r.on_packet(RtpTimestamp::new(5), &[1]);
        assert_eq!(r.received(), "1#");
        assert_eq!(r.poll(), Some('1'));
        assert_eq!(r.poll(), Some('#'));
        assert_eq!(r.poll(), None);
    }
}
