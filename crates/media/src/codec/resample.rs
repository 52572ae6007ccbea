//! 48 kHz <-> 8 kHz conversion for G.711: a Kaiser-windowed sinc low-pass FIR, run polyphase.
//!
//! Not rubato: the ratio is a fixed integer (6), so a streaming FIR gives exactly 160 samples
//! per 960 and back with a 3.75 ms delay, where rubato's FFT resampler works in blocks and
//! needs FIFOs and priming around it. The filter passes 0-3.4 kHz flat and stops from 4 kHz
//! (about 70 dB), so nothing above the 8 kHz Nyquist folds back into the telephone band.

/// Rate ratio between the internal 48 kHz and G.711's 8 kHz.
pub(crate) const RATIO: usize = 6;
/// Taps per polyphase branch; the whole filter has `RATIO * TAPS_PER_PHASE` taps.
const TAPS_PER_PHASE: usize = 60;
const TAPS: usize = RATIO * TAPS_PER_PHASE;
/// -6 dB point, in the middle of the 3.4-4.0 kHz transition band.
const CUTOFF_HZ: f64 = 3700.0;
/// Kaiser beta for about 70 dB stop-band attenuation.
const KAISER_BETA: f64 = 6.76;

/// Zeroth-order modified Bessel function of the first kind, by its power series.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= (half / k as f64).powi(2);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

/// The low-pass prototype at 48 kHz, normalised to unity gain at DC.
fn design_lowpass() -> Vec<f64> {
    let fc = CUTOFF_HZ / 48_000.0;
    let centre = (TAPS - 1) as f64 / 2.0;
    let i0_beta = bessel_i0(KAISER_BETA);
    let mut taps: Vec<f64> = (0..TAPS)
        .map(|n| {
            let t = n as f64 - centre;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
            };
            let r = t / centre;
            let window = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            sinc * window
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    for tap in &mut taps {
        *tap /= sum;
    }
    taps
}

fn to_i16(x: f32) -> i16 {
    x.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

/// 48 kHz -> 8 kHz: filter, then keep every sixth sample.
pub(crate) struct Downsampler {
    taps: Vec<f32>,
    /// The last `TAPS - 1` inputs, then the block being converted.
    history: Vec<f32>,
    /// Input samples still needed before the next output (carries odd-length inputs over).
    phase: usize,
}

impl Downsampler {
    pub(crate) fn new() -> Self {
        Downsampler {
            taps: design_lowpass().into_iter().map(|t| t as f32).collect(),
            history: vec![0.0; TAPS - 1],
            phase: 0,
        }
    }

    /// Converts `input`, appending `input.len() / 6` (give or take carry-over) samples to `out`.
    pub(crate) fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let start = self.history.len() - (TAPS - 1);
        self.history.drain(..start);
        self.history.extend(input.iter().map(|&s| f32::from(s)));
        let mut end = TAPS - 1 + self.phase;
        while end < self.history.len() {
            let window = &self.history[end + 1 - TAPS..=end];
            let acc: f32 = window
                .iter()
                .rev()
                .zip(&self.taps)
                .map(|(x, h)| x * h)
                .sum();
            out.push(to_i16(acc));
            end += RATIO;
        }
        self.phase = end - self.history.len();
    }
}

/// 8 kHz -> 48 kHz: stuff five zeros after each sample and filter, one branch per phase.
pub(crate) struct Upsampler {
    /// `phases[p][j]` is prototype tap `j * RATIO + p`, scaled by `RATIO` for unity gain.
    phases: Vec<[f32; TAPS_PER_PHASE]>,
    /// The last `TAPS_PER_PHASE` inputs, newest last.
    history: Vec<f32>,
}

impl Upsampler {
    pub(crate) fn new() -> Self {
        let proto = design_lowpass();
        let phases = (0..RATIO)
            .map(|p| {
                let mut branch = [0.0f32; TAPS_PER_PHASE];
                for (j, tap) in branch.iter_mut().enumerate() {
                    *tap = (proto[j * RATIO + p] * RATIO as f64) as f32;
                }
                branch
            })
            .collect();
        Upsampler {
            phases,
            history: vec![0.0; TAPS_PER_PHASE],
        }
    }

    /// Converts `input`, appending exactly `6 * input.len()` samples to `out`.
    pub(crate) fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.reserve(input.len() * RATIO);
        for &sample in input {
            self.history.remove(0);
            self.history.push(f32::from(sample));
            for branch in &self.phases {
                let acc: f32 = self
                    .history
                    .iter()
                    .rev()
                    .zip(branch.iter())
                    .map(|(x, h)| x * h)
                    .sum();
                out.push(to_i16(acc));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wren_testkit::tone::{goertzel_power_dbfs, sine_i16};

    fn down(input: &[i16]) -> Vec<i16> {
        let mut d = Downsampler::new();
        let mut out = Vec::new();
        for chunk in input.chunks(960) {
            d.process(chunk, &mut out);
        }
        out
    }

    #[test]
    fn downsampling_gives_one_sample_per_six_in_any_chunking() {
        let input = sine_i16(1000.0, -6.0, 48_000, 4800);
        let mut d = Downsampler::new();
        let mut out = Vec::new();
        for chunk in input.chunks(7) {
            d.process(chunk, &mut out);
        }
        assert_eq!(out.len(), 800);
        assert_eq!(out, down(&input));
    }

    #[test]
    fn passband_tone_keeps_frequency_and_level_both_ways() {
        for freq in [300.0, 1000.0, 3000.0] {
            let input = sine_i16(freq, -10.0, 48_000, 48_000);
            let narrow = down(&input);
            let level8k = goertzel_power_dbfs(&narrow[400..], 8000, freq);
            assert!((level8k + 10.0).abs() < 0.5, "{freq} Hz at 8k: {level8k}");
            let mut up = Upsampler::new();
            let mut wide = Vec::new();
            up.process(&narrow, &mut wide);
            assert_eq!(wide.len(), 48_000);
            let level48k = goertzel_power_dbfs(&wide[4800..], 48_000, freq);
            assert!(
                (level48k + 10.0).abs() < 0.5,
                "{freq} Hz at 48k: {level48k}"
            );
        }
    }

    #[test]
    fn tones_above_4khz_do_not_alias_into_the_band() {
        // 5 kHz would fold to 3 kHz, 7 kHz to 1 kHz, without the anti-aliasing filter.
        for (freq, alias) in [(5000.0, 3000.0), (7000.0, 1000.0), (4300.0, 3700.0)] {
            let narrow = down(&sine_i16(freq, -1.0, 48_000, 48_000));
            let level = goertzel_power_dbfs(&narrow[400..], 8000, alias);
            assert!(
                level < -45.0,
                "{freq} Hz aliased to {alias} Hz at {level} dBFS"
            );
        }
    }

    #[test]
    fn upsampling_images_are_suppressed() {
        let narrow = sine_i16(1000.0, -6.0, 8000, 8000);
        let mut up = Upsampler::new();
        let mut wide = Vec::new();
        up.process(&narrow, &mut wide);
        // Zero-stuffing images 1 kHz to 7, 9, 15, 17 kHz; the filter must remove them.
        for image in [7000.0, 9000.0, 15_000.0, 17_000.0] {
            let level = goertzel_power_dbfs(&wide[4800..], 48_000, image);
            assert!(level < -55.0, "image at {image} Hz: {level} dBFS");
        }
    }

    #[test]
    fn full_scale_input_does_not_wrap() {
        let loud = vec![i16::MAX; 960];
        let out = down(&loud);
        assert!(out[100..].iter().all(|&s| s > 30_000));
    }
}
