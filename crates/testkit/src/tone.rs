//! Tone checks for tests: Goertzel level, RMS level, dominant frequency, WAV analysis.
//!
//! Levels are in dBFS with the AES17 convention: a full-scale sine reads 0 dBFS both as a tone
//! level ([`goertzel_power_dbfs`]) and as an RMS level ([`rms_dbfs`]), so a tone of amplitude `A`
//! (relative to full scale) reads `20·log10(A)` on both. Silence reads [`SILENCE_DBFS`].

use std::f64::consts::PI;
use std::path::Path;

/// Level reported for digital silence (instead of minus infinity).
pub const SILENCE_DBFS: f64 = -200.0;

/// Blocks quieter than this count as silence in [`analyse_wav`].
pub const ACTIVITY_THRESHOLD_DBFS: f64 = -50.0;

/// A sample type the analysers accept: `i16` PCM or `f32` in `[-1, 1]`.
pub trait Sample: Copy {
    /// The sample as a fraction of full scale.
    fn to_unit(self) -> f64;
}

impl Sample for i16 {
    fn to_unit(self) -> f64 {
        f64::from(self) / 32768.0
    }
}

impl Sample for f32 {
    fn to_unit(self) -> f64 {
        f64::from(self)
    }
}

impl Sample for f64 {
    fn to_unit(self) -> f64 {
        self
    }
}

fn to_dbfs(amplitude: f64) -> f64 {
    if amplitude <= 1e-10 {
        SILENCE_DBFS
    } else {
        20.0 * amplitude.log10()
    }
}

fn hann(i: usize, n: usize) -> f64 {
    if n < 2 {
        return 1.0;
    }
    0.5 - 0.5 * (2.0 * PI * i as f64 / (n - 1) as f64).cos()
}

/// Level in dBFS of the `freq` component of `samples` (Hann-windowed Goertzel).
///
/// A sine of amplitude `A` at `freq` reads `20·log10(A)`; other frequencies further than a few
/// `rate / len` away are rejected by the window's side lobes (< -31 dB).
pub fn goertzel_power_dbfs<S: Sample>(samples: &[S], rate: u32, freq: f32) -> f64 {
    let n = samples.len();
    if n == 0 || rate == 0 {
        return SILENCE_DBFS;
    }
    let omega = 2.0 * PI * f64::from(freq) / f64::from(rate);
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut window_sum = 0.0;
    for (i, s) in samples.iter().enumerate() {
        let w = hann(i, n);
        window_sum += w;
        let s0 = s.to_unit() * w + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    if window_sum <= 0.0 {
        return SILENCE_DBFS;
    }
    to_dbfs(2.0 * power.sqrt() / window_sum)
}

/// RMS level in dBFS (AES17: a full-scale sine reads 0 dBFS).
pub fn rms_dbfs<S: Sample>(samples: &[S]) -> f64 {
    if samples.is_empty() {
        return SILENCE_DBFS;
    }
    let sum: f64 = samples.iter().map(|s| s.to_unit().powi(2)).sum();
    to_dbfs((sum / samples.len() as f64).sqrt() * std::f64::consts::SQRT_2)
}

/// The frequency in Hz of the strongest component of `samples`, to a fraction of a hertz.
///
/// A coarse scan over the bins of a short centred block finds the peak, a fine scan over the
/// centred second (or all of it) around that peak refines it, and a parabola through the
/// three best points interpolates between steps. Returns 0.0 for fewer than 16 samples.
pub fn dominant_frequency<S: Sample>(samples: &[S], rate: u32) -> f32 {
    if samples.len() < 16 || rate == 0 {
        return 0.0;
    }
    let coarse_block = centred(samples, 4096);
    let coarse_step = f64::from(rate) / coarse_block.len() as f64;
    let bins = coarse_block.len() / 2;
    let mut best = (coarse_step, SILENCE_DBFS);
    for k in 1..bins {
        let f = k as f64 * coarse_step;
        let level = goertzel_power_dbfs(coarse_block, rate, f as f32);
        if level > best.1 {
            best = (f, level);
        }
    }

    let fine_block = centred(samples, rate as usize);
    let fine_step = (f64::from(rate) / fine_block.len() as f64 / 2.0).min(coarse_step / 4.0);
    let lo = (best.0 - coarse_step).max(fine_step);
    let hi = (best.0 + coarse_step).min(f64::from(rate) / 2.0);
    let steps = ((hi - lo) / fine_step).ceil().max(1.0) as usize;
    let levels: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let f = lo + i as f64 * fine_step;
            (f, goertzel_power_dbfs(fine_block, rate, f as f32))
        })
        .collect();
    let (i_best, &(f_best, _)) = levels
        .iter()
        .enumerate()
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .unwrap_or((0, &(best.0, best.1)));
    if i_best == 0 || i_best + 1 >= levels.len() {
        return f_best as f32;
    }
    let (a, b, c) = (levels[i_best - 1].1, levels[i_best].1, levels[i_best + 1].1);
    let denom = a - 2.0 * b + c;
    let offset = if denom.abs() > 1e-12 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    (f_best + offset * fine_step) as f32
}

fn centred<S>(samples: &[S], max_len: usize) -> &[S] {
    let len = samples.len().min(max_len.max(1));
    let start = (samples.len() - len) / 2;
    &samples[start..start + len]
}

/// What [`analyse_wav`] found in a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneReport {
    /// Sample rate of the file in Hz.
    pub rate: u32,
    /// Channels in the file (analysed as their average).
    pub channels: u16,
    /// Strongest frequency in the non-silent audio, in Hz (0.0 when all silent).
    pub dominant_hz: f32,
    /// Level of that frequency in dBFS.
    pub dominant_dbfs: f64,
    /// RMS level of the non-silent audio in dBFS.
    pub rms_dbfs: f64,
    /// Length of the whole file in seconds.
    pub duration_s: f64,
    /// Seconds of non-silent audio (10 ms blocks above [`ACTIVITY_THRESHOLD_DBFS`]).
    pub active_s: f64,
}

/// Reads any PCM or float WAV (any channel count and rate) as mono `f32` samples and its rate.
pub fn read_wav_mono(path: impl AsRef<Path>) -> Result<(Vec<f32>, u32, u16), hound::Error> {
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    // Some far ends (linphonec) write a data chunk size that counts the header too: read what
    // is there and stop at the first short read, as players do.
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => lenient(reader.samples::<f32>())?,
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            lenient(reader.samples::<i32>().map(|s| s.map(|v| v as f32 / scale)))?
        }
    };
    let mono = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    Ok((mono, spec.sample_rate, spec.channels))
}

/// Collects samples up to the first error; an error before any sample is returned.
fn lenient(
    samples: impl Iterator<Item = Result<f32, hound::Error>>,
) -> Result<Vec<f32>, hound::Error> {
    let mut out = Vec::new();
    for s in samples {
        match s {
            Ok(v) => out.push(v),
            Err(_) if !out.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Analyses a WAV file: dominant frequency and level, RMS level, total and non-silent duration.
pub fn analyse_wav(path: impl AsRef<Path>) -> Result<ToneReport, hound::Error> {
    let (mono, rate, channels) = read_wav_mono(path)?;
    let block = (rate as usize / 100).max(1);
    let active: Vec<f32> = mono
        .chunks(block)
        .filter(|b| rms_dbfs(b) > ACTIVITY_THRESHOLD_DBFS)
        .flatten()
        .copied()
        .collect();
    let duration_s = mono.len() as f64 / f64::from(rate.max(1));
    let active_s = active.len() as f64 / f64::from(rate.max(1));
    if active.is_empty() {
        return Ok(ToneReport {
            rate,
            channels,
            dominant_hz: 0.0,
            dominant_dbfs: SILENCE_DBFS,
            rms_dbfs: SILENCE_DBFS,
            duration_s,
            active_s,
        });
    }
    let dominant_hz = dominant_frequency(&active, rate);
    Ok(ToneReport {
        rate,
        channels,
        dominant_hz,
        dominant_dbfs: goertzel_power_dbfs(centred(&active, rate as usize), rate, dominant_hz),
        rms_dbfs: rms_dbfs(&active),
        duration_s,
        active_s,
    })
}

/// A sine of `freq` Hz at `level_dbfs`, `len` samples at `rate`, as `f32` (for tests).
pub fn sine(freq: f32, level_dbfs: f64, rate: u32, len: usize) -> Vec<f32> {
    let amp = 10f64.powf(level_dbfs / 20.0);
    let w = 2.0 * PI * f64::from(freq) / f64::from(rate);
    (0..len)
        .map(|i| (amp * (w * i as f64).sin()) as f32)
        .collect()
}

/// The same sine as [`sine`], as `i16` PCM.
pub fn sine_i16(freq: f32, level_dbfs: f64, rate: u32, len: usize) -> Vec<i16> {
    sine(freq, level_dbfs, rate, len)
        .into_iter()
        .map(|s| (f64::from(s) * 32767.0).round() as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("wren-testkit-{}-{name}.wav", std::process::id()))
    }

    #[test]
    fn goertzel_reads_sine_level_at_its_frequency() {
        let s = sine(1000.0, -6.0, 48_000, 4800);
        assert!((goertzel_power_dbfs(&s, 48_000, 1000.0) + 6.0).abs() < 0.2);
        assert!(goertzel_power_dbfs(&s, 48_000, 1500.0) < -60.0);
    }

    #[test]
    fn goertzel_works_on_i16_and_non_bin_frequencies() {
        let s = sine_i16(1234.5, -20.0, 8000, 2000);
        assert!((goertzel_power_dbfs(&s, 8000, 1234.5) + 20.0).abs() < 0.2);
    }

    #[test]
    fn rms_of_sine_matches_its_level_and_silence_is_floor() {
        let s = sine(440.0, -12.0, 44_100, 44_100);
        assert!((rms_dbfs(&s) + 12.0).abs() < 0.05);
        assert_eq!(rms_dbfs(&[0i16; 100]), SILENCE_DBFS);
        assert_eq!(rms_dbfs::<i16>(&[]), SILENCE_DBFS);
    }

    #[test]
    fn dominant_frequency_finds_tone_to_a_fraction_of_a_hertz() {
        for (freq, rate) in [
            (1000.0, 48_000),
            (700.0, 44_100),
            (440.0, 8000),
            (3333.3, 16_000),
        ] {
            let s = sine(freq, -10.0, rate, rate as usize);
            let found = dominant_frequency(&s, rate);
            assert!(
                (found - freq).abs() < 0.5,
                "{freq} Hz at {rate}: found {found}"
            );
        }
    }

    #[test]
    fn dominant_frequency_picks_louder_of_two_tones() {
        let a = sine(500.0, -20.0, 48_000, 24_000);
        let b = sine(2500.0, -6.0, 48_000, 24_000);
        let mix: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert!((dominant_frequency(&mix, 48_000) - 2500.0).abs() < 1.0);
    }

    #[test]
    fn dominant_frequency_of_tiny_input_is_zero() {
        assert_eq!(dominant_frequency(&[0.1f32; 4], 8000), 0.0);
    }

    #[test]
    fn analyse_wav_reports_stereo_tone_and_active_time() {
        let path = temp_path("stereo");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        let tone = sine_i16(700.0, -10.0, 44_100, 44_100);
        for _ in 0..22_050 {
            w.write_sample(0i16).unwrap();
            w.write_sample(0i16).unwrap();
        }
        for s in &tone {
            w.write_sample(*s).unwrap();
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();

        let report = analyse_wav(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!((report.rate, report.channels), (44_100, 2));
        assert!((report.dominant_hz - 700.0).abs() < 0.5, "{report:?}");
        assert!((report.dominant_dbfs + 10.0).abs() < 0.5, "{report:?}");
        assert!((report.rms_dbfs + 10.0).abs() < 0.5, "{report:?}");
        assert!((report.duration_s - 1.5).abs() < 1e-6, "{report:?}");
        assert!((report.active_s - 1.0).abs() < 0.011, "{report:?}");
    }

    #[test]
    fn analyse_wav_of_float_silence_reports_nothing_active() {
        let path = temp_path("silence");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for _ in 0..8000 {
            w.write_sample(0.0f32).unwrap();
        }
        w.finalize().unwrap();
        let report = analyse_wav(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(report.active_s, 0.0);
        assert_eq!(report.dominant_hz, 0.0);
        assert!((report.duration_s - 1.0).abs() < 1e-9);
    }

    #[test]
    fn analyse_wav_of_missing_or_garbage_file_is_an_error() {
        assert!(analyse_wav("/nonexistent/wren.wav").is_err());
        let path = temp_path("garbage");
        std::fs::write(&path, b"RIFF\x00\x00not a wave at all").unwrap();
        let result = analyse_wav(&path);
        std::fs::remove_file(&path).ok();
        assert!(result.is_err());
    }
}
