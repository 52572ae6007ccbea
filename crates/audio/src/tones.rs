//! The tones a phone plays locally: ringback, busy, ringtones and DTMF feedback. Each is one
//! or two sines switched on and off by a cadence, as a [`FrameSource`].
//!
//! Frequencies and cadences follow ITU-T E.180 Supplement 2 (North American values).

use std::collections::VecDeque;

use crate::{FrameSource, ToneSource, SAMPLE_RATE};

/// Which ringtone plays for an incoming call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ringtone {
    /// Two tones, double ring (0.4 s on, 0.2 s off, 0.4 s on, 2 s off).
    #[default]
    Classic,
    /// One quieter tone, 1 s on, 3 s off.
    Soft,
    /// No sound.
    Off,
}

/// One or two sines played through an on/off cadence, forever or once.
#[derive(Debug, Clone)]
pub struct CadencedTone {
    sines: Vec<ToneSource>,
    /// (on, off) in samples; repeats unless `once`.
    cadence: Vec<(usize, usize)>,
    once: bool,
    /// Samples played so far.
    pos: usize,
    scratch: Vec<i16>,
}

fn ms(n: u32) -> usize {
    (SAMPLE_RATE / 1000 * n) as usize
}

impl CadencedTone {
    /// Sines at `freqs` (each at `level_dbfs`), switched by `cadence` (milliseconds on, off).
    pub fn new(freqs: &[f32], level_dbfs: f32, cadence: &[(u32, u32)], once: bool) -> Self {
        CadencedTone {
            sines: freqs
                .iter()
                .map(|&f| ToneSource::new(f, level_dbfs))
                .collect(),
            cadence: cadence.iter().map(|&(on, off)| (ms(on), ms(off))).collect(),
            once,
            pos: 0,
            scratch: Vec::new(),
        }
    }

    /// Ringback (the far end rings): 440 + 480 Hz, 2 s on, 4 s off.
    pub fn ringback() -> Self {
        Self::new(&[440.0, 480.0], -19.0, &[(2000, 4000)], false)
    }

    /// Call waiting (another call is waiting for an answer): 440 Hz, 0.3 s twice, every 10 s.
    pub fn call_waiting() -> Self {
        Self::new(&[440.0], -22.0, &[(300, 200), (300, 9200)], false)
    }

    /// Busy: 480 + 620 Hz, 0.5 s on, 0.5 s off.
    pub fn busy() -> Self {
        Self::new(&[480.0, 620.0], -19.0, &[(500, 500)], false)
    }

    /// The ringtone for an incoming call; `None` for [`Ringtone::Off`].
    pub fn ringtone(style: Ringtone) -> Option<Self> {
        match style {
            Ringtone::Classic => Some(Self::new(
                &[853.0, 960.0],
                -12.0,
                &[(400, 200), (400, 2000)],
                false,
            )),
            Ringtone::Soft => Some(Self::new(&[660.0], -20.0, &[(1000, 3000)], false)),
            Ringtone::Off => None,
        }
    }

    /// One DTMF digit's local feedback: its two frequencies (ITU-T Q.23) for 100 ms, then
    /// 60 ms of silence (the RFC 4733 timing we send), once. `None` for a non-digit.
    pub fn dtmf(digit: char) -> Option<Self> {
        let (low, high) = dtmf_pair(digit)?;
        Some(Self::new(&[low, high], -18.0, &[(100, 60)], true))
    }

    /// Samples in one pass through the cadence.
    fn period(&self) -> usize {
        self.cadence.iter().map(|(on, off)| on + off).sum()
    }

    /// Whether sample `pos` of the pattern is in an "on" part.
    fn is_on(&self, pos: usize) -> bool {
        let period = self.period();
        if period == 0 {
            return false;
        }
        let mut t = pos % period;
        for &(on, off) in &self.cadence {
            if t < on {
                return true;
            }
            if t < on + off {
                return false;
            }
            t -= on + off;
        }
        false
    }

    /// Whether a one-shot tone has finished.
    pub fn finished(&self) -> bool {
        self.once && self.pos >= self.period()
    }
}

/// DTMF row and column frequencies (ITU-T Q.23).
pub fn dtmf_pair(digit: char) -> Option<(f32, f32)> {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (r, c) = match digit.to_ascii_uppercase() {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => return None,
    };
    Some((ROWS[r], COLS[c]))
}

impl FrameSource for CadencedTone {
    /// Fills `out`; false once a one-shot tone is over (with `out` silent).
    fn read_frame(&mut self, out: &mut [i16]) -> bool {
        out.fill(0);
        if self.finished() {
            return false;
        }
        if self.scratch.len() < out.len() {
            self.scratch.resize(out.len(), 0);
        }
        let scratch = &mut self.scratch[..out.len()];
        for sine in &mut self.sines {
            sine.read_frame(scratch);
            for (o, &s) in out.iter_mut().zip(scratch.iter()) {
                *o = o.saturating_add(s);
            }
        }
        let start = self.pos;
        for (i, o) in out.iter_mut().enumerate() {
            if !self.is_on(start + i) || (self.once && start + i >= self.period()) {
                *o = 0;
            }
        }
        self.pos += out.len();
        true
    }
}

/// One-shot tones played one after another (DTMF feedback for a string of digits).
#[derive(Debug, Clone, Default)]
pub struct ToneQueue(VecDeque<CadencedTone>);

impl ToneQueue {
    /// Adds the feedback of each digit in `digits`; other characters are skipped.
    pub fn push_dtmf(&mut self, digits: &str) {
        self.0.extend(digits.chars().filter_map(CadencedTone::dtmf));
    }

    /// Whether nothing is left to play.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FrameSource for ToneQueue {
    /// Fills `out` from the current tone; false (and silence) when the queue is empty.
    fn read_frame(&mut self, out: &mut [i16]) -> bool {
        while let Some(tone) = self.0.front_mut() {
            if tone.read_frame(out) {
                if tone.finished() {
                    self.0.pop_front();
                }
                return true;
            }
            self.0.pop_front();
        }
        out.fill(0);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_SAMPLES;
    use wren_testkit::tone::{goertzel_power_dbfs, rms_dbfs};

    fn render(source: &mut impl FrameSource, frames: usize) -> Vec<i16> {
        let mut all = Vec::new();
        let mut frame = [0i16; FRAME_SAMPLES];
        for _ in 0..frames {
            source.read_frame(&mut frame);
            all.extend_from_slice(&frame);
        }
        all
    }

    fn seconds(all: &[i16], from: f32, to: f32) -> &[i16] {
        &all[(from * 48_000.0) as usize..(to * 48_000.0) as usize]
    }

    #[test]
    fn ringback_is_440_plus_480_two_on_four_off() {
        let all = render(&mut CadencedTone::ringback(), 50 * 7);
        let on = seconds(&all, 0.1, 1.9);
        for f in [440.0, 480.0] {
            assert!(
                (goertzel_power_dbfs(on, 48_000, f) + 19.0).abs() < 0.5,
                "{f}"
            );
        }
        assert!(goertzel_power_dbfs(on, 48_000, 1000.0) < -60.0);
        assert_eq!(
            rms_dbfs(seconds(&all, 2.05, 5.95)),
            -200.0,
            "silent off-part"
        );
        assert!(
            rms_dbfs(seconds(&all, 6.05, 6.5)) > -20.0,
            "repeats after 6 s"
        );
    }

    #[test]
    fn busy_cadence_is_half_a_second() {
        let all = render(&mut CadencedTone::busy(), 50 * 2);
        assert!(goertzel_power_dbfs(seconds(&all, 0.0, 0.5), 48_000, 620.0) > -20.0);
        assert_eq!(rms_dbfs(seconds(&all, 0.5, 1.0)), -200.0, "silent");
        assert!(goertzel_power_dbfs(seconds(&all, 1.0, 1.5), 48_000, 480.0) > -20.0);
    }

    #[test]
    fn ringtones_differ_and_off_is_none() {
        let classic = render(&mut CadencedTone::ringtone(Ringtone::Classic).unwrap(), 50);
        assert!(goertzel_power_dbfs(seconds(&classic, 0.0, 0.4), 48_000, 853.0) > -13.0);
        assert_eq!(
            rms_dbfs(seconds(&classic, 0.4, 0.6)),
            -200.0,
            "double ring gap"
        );
        let soft = render(&mut CadencedTone::ringtone(Ringtone::Soft).unwrap(), 50);
        assert!((goertzel_power_dbfs(seconds(&soft, 0.0, 1.0), 48_000, 660.0) + 20.0).abs() < 0.5);
        assert!(CadencedTone::ringtone(Ringtone::Off).is_none());
    }

    #[test]
    fn dtmf_feedback_plays_each_digit_once_then_ends() {
        let mut q = ToneQueue::default();
        q.push_dtmf("5x#");
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut all = Vec::new();
        while q.read_frame(&mut frame) {
            all.extend_from_slice(&frame);
            assert!(all.len() < 48_000, "bounded");
        }
        assert!(q.is_empty());
        assert_eq!(all.len(), 2 * 8 * FRAME_SAMPLES, "two digits, 160 ms each");
        let five = seconds(&all, 0.0, 0.1);
        assert!(goertzel_power_dbfs(five, 48_000, 770.0) > -19.0);
        assert!(goertzel_power_dbfs(five, 48_000, 1336.0) > -19.0);
        assert_eq!(rms_dbfs(seconds(&all, 0.1, 0.16)), -200.0, "silent");
        let hash = seconds(&all, 0.16, 0.26);
        assert!(goertzel_power_dbfs(hash, 48_000, 941.0) > -19.0);
        assert!(goertzel_power_dbfs(hash, 48_000, 1477.0) > -19.0);
        assert_eq!(dtmf_pair('x'), None);
    }
}
