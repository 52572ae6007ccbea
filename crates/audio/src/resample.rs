//! Streaming conversion of any sample rate to 48 kHz with rubato's FFT resampler (fixed
//! ratio, anti-aliased), trimming its start-up delay and flushing its tail.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::{AudioError, SAMPLE_RATE};

/// Input frames per resampler call.
const CHUNK: usize = 1024;

/// Mono `f32` in at the file's rate, 48 kHz out.
pub(crate) struct To48k {
    inner: Fft<f32>,
    /// Input not yet resampled.
    input: Vec<f32>,
    output: Vec<f32>,
    /// Output frames still to drop: the filter's delay.
    to_trim: usize,
    rate: u32,
    consumed: u64,
    produced: u64,
}

impl To48k {
    pub(crate) fn new(rate: u32) -> Result<Self, AudioError> {
        let inner = Fft::<f32>::new(
            rate as usize,
            SAMPLE_RATE as usize,
            CHUNK,
            1,
            FixedSync::Input,
        )
        .map_err(|e| AudioError::Resample(e.to_string()))?;
        Ok(To48k {
            to_trim: inner.output_delay(),
            output: vec![0.0; inner.output_frames_max()],
            rate,
            inner,
            input: Vec::with_capacity(2 * CHUNK),
            consumed: 0,
            produced: 0,
        })
    }

    fn run(&mut self, len: usize, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let needed = self.inner.input_frames_next();
        let fail = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
        let padded;
        let input: &[f32] = if self.input.len() >= needed {
            &self.input
        } else {
            padded = {
                let mut p = self.input.clone();
                p.resize(needed, 0.0);
                p
            };
            &padded
        };
        let adapter_in = InterleavedSlice::new(input, 1, needed).map_err(|e| fail(&e))?;
        let out_frames = self.inner.output_frames_next();
        let mut adapter_out =
            InterleavedSlice::new_mut(&mut self.output, 1, out_frames).map_err(|e| fail(&e))?;
        let indexing = Indexing {
            partial_len: (len < needed).then_some(len),
            ..Indexing::default()
        };
        let (_, written) = self
            .inner
            .process_into_buffer(&adapter_in, &mut adapter_out, Some(&indexing))
            .map_err(|e| fail(&e))?;
        self.input.drain(..len.min(self.input.len()));
        self.consumed += len as u64;
        let trim = self.to_trim.min(written);
        self.to_trim -= trim;
        out.extend_from_slice(&self.output[trim..written]);
        self.produced += (written - trim) as u64;
        Ok(())
    }

    /// Resamples `samples`, appending whatever 48 kHz output is ready to `out`.
    pub(crate) fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.input.extend_from_slice(samples);
        while self.input.len() >= self.inner.input_frames_next() {
            let n = self.inner.input_frames_next();
            self.run(n, out)?;
        }
        Ok(())
    }

    /// Resamples what is left and the filter's tail, appending exactly the output the whole
    /// input amounts to.
    pub(crate) fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let total_in = self.consumed + self.input.len() as u64;
        let total = (total_in * u64::from(SAMPLE_RATE)).div_ceil(u64::from(self.rate));
        let start = out.len();
        let mut guard = 0;
        while self.produced < total && guard < 64 {
            let len = self.input.len().min(self.inner.input_frames_next());
            self.run(len, out)?;
            guard += 1;
        }
        let excess = (self.produced.saturating_sub(total)) as usize;
        out.truncate(out.len().saturating_sub(excess).max(start));
        self.produced = total.min(self.produced);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, sine};

    #[test]
    fn converts_44k1_tone_with_exact_length_and_no_leading_delay() {
        let input = sine(700.0, -6.0, 44_100, 44_100);
        let mut r = To48k::new(44_100).unwrap();
        let mut out = Vec::new();
        for chunk in input.chunks(333) {
            r.push(chunk, &mut out).unwrap();
        }
        r.flush(&mut out).unwrap();
        assert_eq!(out.len(), 48_000);
        assert!((dominant_frequency(&out, 48_000) - 700.0).abs() < 0.5);
        assert!((goertzel_power_dbfs(&out[2000..46_000], 48_000, 700.0) + 6.0).abs() < 0.2);
        // Delay trimmed: the sine starts at once (sin rises from zero at sample 0).
        let expected = sine(700.0, -6.0, 48_000, 200);
        let err: f32 = out[20..200]
            .iter()
            .zip(&expected[20..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.02, "aligned with the input: {err}");
    }

    #[test]
    fn downsampling_from_96k_removes_what_48k_cannot_hold() {
        // 30 kHz would alias to 18 kHz without the anti-aliasing filter.
        let input = sine(30_000.0, -1.0, 96_000, 96_000);
        let mut r = To48k::new(96_000).unwrap();
        let mut out = Vec::new();
        r.push(&input, &mut out).unwrap();
        r.flush(&mut out).unwrap();
        assert_eq!(out.len(), 48_000);
        assert!(goertzel_power_dbfs(&out, 48_000, 18_000.0) < -60.0);
    }

    #[test]
    fn short_input_flushes_to_its_length() {
        let mut r = To48k::new(8000).unwrap();
        let mut out = Vec::new();
        r.push(&[0.5; 10], &mut out).unwrap();
        r.flush(&mut out).unwrap();
        assert_eq!(out.len(), 60);
    }
}
