//! A continuous-phase sine generator (test tones, ringback-style tones later).

use crate::{FrameSource, SAMPLE_RATE};

/// An endless sine at 48 kHz whose phase carries over from frame to frame.
#[derive(Debug, Clone)]
pub struct ToneSource {
    /// Phase increment per sample, in cycles.
    step: f64,
    /// Current phase, in cycles, kept in [0, 1).
    phase: f64,
    /// Peak amplitude in sample units.
    amplitude: f64,
}

impl ToneSource {
    /// A sine of `freq_hz` whose peak is `level_dbfs` below full scale (0 dBFS: full-scale
    /// sine). Frequencies are taken modulo the sample rate; levels above 0 dBFS clip to it.
    pub fn new(freq_hz: f32, level_dbfs: f32) -> Self {
        // NaN means no level at all: silence.
        let level = if level_dbfs.is_nan() {
            f64::NEG_INFINITY
        } else {
            f64::from(level_dbfs.min(0.0))
        };
        let step = f64::from(freq_hz) / f64::from(SAMPLE_RATE);
        ToneSource {
            step: if step.is_finite() {
                step.rem_euclid(1.0)
            } else {
                0.0
            },
            phase: 0.0,
            amplitude: 10f64.powf(level / 20.0) * f64::from(i16::MAX),
        }
    }
}

impl FrameSource for ToneSource {
    fn read_frame(&mut self, out: &mut [i16]) -> bool {
        for sample in out.iter_mut() {
            *sample = (self.amplitude * (std::f64::consts::TAU * self.phase).sin()).round() as i16;
            self.phase = (self.phase + self.step).fract();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_SAMPLES;
    use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, rms_dbfs};

    #[test]
    fn tone_has_its_frequency_and_level_and_no_phase_jumps() {
        let mut tone = ToneSource::new(1000.0, -6.0);
        let mut all = Vec::new();
        let mut frame = [0i16; FRAME_SAMPLES];
        for _ in 0..50 {
            assert!(tone.read_frame(&mut frame));
            all.extend_from_slice(&frame);
        }
        assert!((dominant_frequency(&all, 48_000) - 1000.0).abs() < 0.5);
        assert!((goertzel_power_dbfs(&all, 48_000, 1000.0) + 6.0).abs() < 0.1);
        assert!((rms_dbfs(&all) + 6.0).abs() < 0.1);
        // Continuous phase: no sample-to-sample step bigger than the sine's steepest slope.
        let max_step = 0.5 * 32767.0 * std::f64::consts::TAU * 1000.0 / 48_000.0 + 2.0;
        assert!(all
            .windows(2)
            .all(|w| f64::from((i32::from(w[1]) - i32::from(w[0])).abs()) <= max_step));
    }

    #[test]
    fn odd_frame_sizes_and_odd_parameters_are_fine() {
        let mut frame = [0i16; 7];
        assert!(ToneSource::new(f32::NAN, f32::NAN).read_frame(&mut frame));
        assert!(ToneSource::new(-440.0, 6.0).read_frame(&mut frame));
        assert!(ToneSource::new(1e9, -200.0).read_frame(&mut []));
    }
}
