//! Peak and RMS of the audio passing through, accumulated on the engine side and read by the
//! UI about 20 times a second.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// The level reported for silence, and the floor of every level.
pub const SILENCE_DBFS: f32 = -100.0;

/// A level reading, in dBFS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Largest sample magnitude: 0 dBFS is `i16` full scale.
    pub peak_dbfs: f32,
    /// Root mean square, AES17-style: a full-scale sine reads 0 dBFS.
    pub rms_dbfs: f32,
}

/// A handle on a stream's level, cheap to clone; one reader should [`take`](Self::take) it.
#[derive(Debug, Clone, Default)]
pub struct LevelMeter(Arc<Window>);

/// The audio since the last reading. Updates and readings race harmlessly: a frame may count
/// towards the next reading instead.
#[derive(Debug, Default)]
struct Window {
    peak: AtomicU32,
    sum_squares: AtomicU64,
    samples: AtomicU64,
}

impl LevelMeter {
    pub(crate) fn update(&self, pcm: &[i16]) {
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        let sum: u64 = pcm.iter().map(|&s| i64::from(s).pow(2) as u64).sum();
        self.0.peak.fetch_max(u32::from(peak), Ordering::Relaxed);
        self.0.sum_squares.fetch_add(sum, Ordering::Relaxed);
        self.0
            .samples
            .fetch_add(pcm.len() as u64, Ordering::Relaxed);
    }

    /// The level of the audio since the previous call, and starts a new window.
    pub fn take(&self) -> Level {
        let peak = self.0.peak.swap(0, Ordering::Relaxed);
        let sum = self.0.sum_squares.swap(0, Ordering::Relaxed);
        let samples = self.0.samples.swap(0, Ordering::Relaxed);
        let rms = if samples == 0 {
            0.0
        } else {
            (sum as f64 / samples as f64).sqrt() * std::f64::consts::SQRT_2
        };
        Level {
            peak_dbfs: dbfs(f64::from(peak)),
            rms_dbfs: dbfs(rms),
        }
    }
}

fn dbfs(magnitude: f64) -> f32 {
    if magnitude <= 0.0 {
        return SILENCE_DBFS;
    }
    ((20.0 * (magnitude / 32768.0).log10()) as f32).max(SILENCE_DBFS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wren_testkit::tone::sine_i16;

    #[test]
    fn reads_a_sine_window_then_silence() {
        let meter = LevelMeter::default();
        for frame in sine_i16(1000.0, -12.0, 48_000, 4800).chunks(960) {
            meter.update(frame);
        }
        let level = meter.take();
        assert!((level.peak_dbfs + 12.0).abs() < 0.1, "{level:?}");
        assert!((level.rms_dbfs + 12.0).abs() < 0.1, "{level:?}");
        assert_eq!(meter.take().peak_dbfs, SILENCE_DBFS);
        meter.update(&[0; 960]);
        assert_eq!(meter.take().rms_dbfs, SILENCE_DBFS);
    }
}
