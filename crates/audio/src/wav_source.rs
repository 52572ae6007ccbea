//! Reading WAV files as 48 kHz mono frames: 8/16/24/32-bit integer or 32-bit float PCM,
//! any channel count (averaged to mono), any rate (resampled with rubato).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::resample::To48k;
use crate::{AudioError, FrameSource, SAMPLE_RATE};

/// Input frames decoded per refill.
const READ_FRAMES: usize = 2048;

/// How the file's samples become `f32` in [-1, 1].
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Int { scale: f32 },
    Float,
}

/// A WAV file yielding 48 kHz mono frames, read as it plays.
pub struct WavSource {
    reader: hound::WavReader<BufReader<File>>,
    encoding: Encoding,
    channels: usize,
    /// `None` when the file is already at 48 kHz.
    resampler: Option<To48k>,
    /// 48 kHz mono samples ready to hand out, from `ready_at` on.
    ready: Vec<f32>,
    ready_at: usize,
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    eof: bool,
}

impl std::fmt::Debug for WavSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSource")
            .field("spec", &self.reader.spec())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl WavSource {
    /// Opens `path` and checks that we can read its format.
    pub fn open(path: impl AsRef<Path>) -> Result<WavSource, AudioError> {
        let path = path.as_ref();
        let reader = hound::WavReader::open(path).map_err(|e| AudioError::from_hound(e, path))?;
        let spec = reader.spec();
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(AudioError::InvalidFile(format!(
                "{} channels at {} Hz",
                spec.channels, spec.sample_rate
            )));
        }
        let encoding = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, bits @ 1..=32) => Encoding::Int {
                scale: 1.0 / 2f32.powi(i32::from(bits) - 1),
            },
            (hound::SampleFormat::Float, 32) => Encoding::Float,
            (format, bits) => {
                return Err(AudioError::UnsupportedFormat(format!(
                    "{bits}-bit {format:?} samples"
                )))
            }
        };
        let resampler = if spec.sample_rate == SAMPLE_RATE {
            None
        } else {
            Some(To48k::new(spec.sample_rate)?)
        };
        Ok(WavSource {
            reader,
            encoding,
            channels: usize::from(spec.channels),
            resampler,
            ready: Vec::new(),
            ready_at: 0,
            interleaved: Vec::new(),
            mono: Vec::new(),
            eof: false,
        })
    }

    /// The file's own sample rate, channel count and bits per sample.
    pub fn spec(&self) -> (u32, u16, u16) {
        let spec = self.reader.spec();
        (spec.sample_rate, spec.channels, spec.bits_per_sample)
    }

    /// Decodes the next block of the file into `ready`; sets `eof` at the end (a damaged
    /// tail counts as the end).
    fn refill(&mut self) {
        self.ready.drain(..self.ready_at);
        self.ready_at = 0;
        let want = READ_FRAMES * self.channels;
        self.interleaved.clear();
        match self.encoding {
            Encoding::Int { scale } => {
                let samples = self.reader.samples::<i32>().take(want);
                for s in samples {
                    match s {
                        Ok(v) => self.interleaved.push(v as f32 * scale),
                        Err(_) => break,
                    }
                }
            }
            Encoding::Float => {
                for s in self.reader.samples::<f32>().take(want) {
                    match s {
                        Ok(v) if v.is_finite() => self.interleaved.push(v.clamp(-1.0, 1.0)),
                        Ok(_) => self.interleaved.push(0.0),
                        Err(_) => break,
                    }
                }
            }
        }
        let complete = self.interleaved.len() == want;
        self.mono.clear();
        self.mono.extend(
            self.interleaved
                .chunks_exact(self.channels)
                .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32),
        );
        let result = match &mut self.resampler {
            None => {
                self.ready.extend_from_slice(&self.mono);
                Ok(())
            }
            Some(r) => r.push(&self.mono, &mut self.ready).and_then(|()| {
                if complete {
                    Ok(())
                } else {
                    r.flush(&mut self.ready)
                }
            }),
        };
        if result.is_err() || !complete {
            self.eof = true;
        }
    }
}

impl FrameSource for WavSource {
    fn read_frame(&mut self, out: &mut [i16]) -> bool {
        while self.ready.len() - self.ready_at < out.len() && !self.eof {
            self.refill();
        }
        let available = &self.ready[self.ready_at..];
        let n = available.len().min(out.len());
        for (o, s) in out.iter_mut().zip(&available[..n]) {
            *o = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        out[n..].fill(0);
        self.ready_at += n;
        n > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_SAMPLES;
    use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, sine};

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("wren-audio-{}-{name}.wav", std::process::id()))
    }

    fn read_all(source: &mut WavSource) -> Vec<i16> {
        let mut all = Vec::new();
        let mut frame = [0i16; FRAME_SAMPLES];
        while source.read_frame(&mut frame) {
            all.extend_from_slice(&frame);
        }
        assert!(frame.iter().all(|&s| s == 0), "exhausted: silence");
        all
    }

    fn write_tone(name: &str, spec: hound::WavSpec, freq: f32, secs: f64) -> std::path::PathBuf {
        let path = temp_path(name);
        let n = (f64::from(spec.sample_rate) * secs) as usize;
        let tone = sine(freq, -6.0, spec.sample_rate, n);
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for s in tone {
            for _ in 0..spec.channels {
                match spec.sample_format {
                    hound::SampleFormat::Float => w.write_sample(s).unwrap(),
                    hound::SampleFormat::Int => {
                        let full = 2f32.powi(i32::from(spec.bits_per_sample) - 1);
                        w.write_sample((s * full) as i32).unwrap()
                    }
                }
            }
        }
        w.finalize().unwrap();
        path
    }

    #[test]
    fn stereo_44k1_tone_comes_out_as_48k_mono_at_its_frequency_and_level() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let path = write_tone("stereo44k1", spec, 700.0, 1.0);
        let mut source = WavSource::open(&path).unwrap();
        assert_eq!(source.spec(), (44_100, 2, 16));
        let out = read_all(&mut source);
        std::fs::remove_file(&path).ok();
        // One second of input is 50 frames at 48 kHz.
        assert_eq!(out.len(), 50 * FRAME_SAMPLES);
        assert!((dominant_frequency(&out, 48_000) - 700.0).abs() < 0.5);
        let level = goertzel_power_dbfs(&out[4800..43_200], 48_000, 700.0);
        assert!((level + 6.0).abs() < 0.2, "{level} dBFS");
    }

    #[test]
    fn every_sample_format_and_channel_count_reads() {
        for (name, channels, rate, bits, format) in [
            ("u8", 1, 8000, 8, hound::SampleFormat::Int),
            ("s24", 3, 16_000, 24, hound::SampleFormat::Int),
            ("s32", 1, 48_000, 32, hound::SampleFormat::Int),
            ("f32", 2, 22_050, 32, hound::SampleFormat::Float),
        ] {
            let spec = hound::WavSpec {
                channels,
                sample_rate: rate,
                bits_per_sample: bits,
                sample_format: format,
            };
            let path = write_tone(name, spec, 440.0, 0.5);
            let mut source = WavSource::open(&path).unwrap();
            let out = read_all(&mut source);
            std::fs::remove_file(&path).ok();
            assert_eq!(out.len(), 25 * FRAME_SAMPLES, "{name}");
            assert!(
                (dominant_frequency(&out, 48_000) - 440.0).abs() < 1.0,
                "{name}"
            );
            let level = goertzel_power_dbfs(&out[4800..19_200], 48_000, 440.0);
            assert!((level + 6.0).abs() < 0.5, "{name}: {level} dBFS");
        }
    }

    #[test]
    fn partial_last_frame_is_padded_then_source_is_exhausted() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let path = temp_path("partial");
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for _ in 0..1000 {
            w.write_sample(1000i16).unwrap();
        }
        w.finalize().unwrap();
        let mut source = WavSource::open(&path).unwrap();
        std::fs::remove_file(&path).ok();
        let mut frame = [7i16; FRAME_SAMPLES];
        assert!(source.read_frame(&mut frame));
        assert!(frame.iter().all(|&s| s == 1000));
        assert!(source.read_frame(&mut frame));
        assert!(frame[..40].iter().all(|&s| s == 1000));
        assert!(frame[40..].iter().all(|&s| s == 0));
        assert!(!source.read_frame(&mut frame));
        assert!(frame.iter().all(|&s| s == 0));
    }

    #[test]
    fn missing_garbage_and_unsupported_files_have_distinct_codes() {
        let err = WavSource::open("/nonexistent/dir/file.wav").unwrap_err();
        assert_eq!(err.code(), "audio.file_not_found");

        let garbage = temp_path("garbage");
        std::fs::write(&garbage, b"this is not a RIFF file at all").unwrap();
        let err = WavSource::open(&garbage).unwrap_err();
        assert_eq!(err.code(), "audio.invalid_file", "{err}");

        std::fs::write(&garbage, b"").unwrap();
        let err = WavSource::open(&garbage).unwrap_err();
        assert!(
            ["audio.invalid_file", "audio.io"].contains(&err.code()),
            "{err}"
        );

        // A consistent RIFF/WAVE header announcing format tag 6 (A-law), which we don't read.
        let mut alaw = Vec::new();
        alaw.extend_from_slice(b"RIFF");
        alaw.extend_from_slice(&36u32.to_le_bytes());
        alaw.extend_from_slice(b"WAVEfmt ");
        alaw.extend_from_slice(&16u32.to_le_bytes());
        alaw.extend_from_slice(&6u16.to_le_bytes());
        alaw.extend_from_slice(&1u16.to_le_bytes());
        alaw.extend_from_slice(&8000u32.to_le_bytes());
        alaw.extend_from_slice(&8000u32.to_le_bytes());
        alaw.extend_from_slice(&1u16.to_le_bytes());
        alaw.extend_from_slice(&8u16.to_le_bytes());
        alaw.extend_from_slice(b"data");
        alaw.extend_from_slice(&0u32.to_le_bytes());
        std::fs::write(&garbage, &alaw).unwrap();
        let err = WavSource::open(&garbage).unwrap_err();
        std::fs::remove_file(&garbage).ok();
        assert_eq!(err.code(), "audio.unsupported_format", "{err}");
    }

    #[test]
    fn truncated_file_plays_what_is_there() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let path = write_tone("truncated", spec, 500.0, 1.0);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2 + 1]).unwrap();
        let result = WavSource::open(&path);
        let out = result.map(|mut s| read_all(&mut s));
        std::fs::remove_file(&path).ok();
        if let Ok(out) = out {
            assert!(out.len() <= 50 * FRAME_SAMPLES);
        }
    }
}
