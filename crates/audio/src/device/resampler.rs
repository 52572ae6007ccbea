//! Rate conversion between a device and the 48 kHz pipeline, one 20 ms engine frame per call,
//! into buffers allocated up front.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::{AudioError, FRAME_SAMPLES, SAMPLE_RATE};

/// Mono rubato FFT resampler with the engine's side fixed at one frame.
pub(super) struct FrameResampler {
    inner: Fft<f32>,
}

impl FrameResampler {
    /// Device rate in, exactly [`FRAME_SAMPLES`] out per call.
    pub(super) fn from_device(rate: u32) -> Result<Self, AudioError> {
        Self::new(rate, SAMPLE_RATE, FixedSync::Output)
    }

    /// Exactly [`FRAME_SAMPLES`] in per call, device rate out.
    pub(super) fn to_device(rate: u32) -> Result<Self, AudioError> {
        Self::new(SAMPLE_RATE, rate, FixedSync::Input)
    }

    fn new(from: u32, to: u32, fixed: FixedSync) -> Result<Self, AudioError> {
        let inner = Fft::<f32>::new(from as usize, to as usize, FRAME_SAMPLES, 1, fixed)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
        Ok(FrameResampler { inner })
    }

    /// Input the next call needs.
    pub(super) fn input_next(&self) -> usize {
        self.inner.input_frames_next()
    }

    pub(super) fn input_max(&self) -> usize {
        self.inner.input_frames_max()
    }

    pub(super) fn output_max(&self) -> usize {
        self.inner.output_frames_max()
    }

    /// Resamples `input` (exactly [`input_next`](Self::input_next) samples) into `output`,
    /// returning how many samples it wrote.
    pub(super) fn process(&mut self, input: &[f32], output: &mut [f32]) -> usize {
        let out_len = output.len();
        // Sizes come from the resampler's own input_next/output_max: the adapters and the
        // call cannot fail.
        let adapter_in =
            InterleavedSlice::new(input, 1, input.len()).expect("input is one mono chunk");
        let mut adapter_out =
            InterleavedSlice::new_mut(output, 1, out_len).expect("output holds output_max");
        let (_, written) = self
            .inner
            .process_into_buffer(&adapter_in, &mut adapter_out, None)
            .expect("buffers sized by the resampler");
        written
    }
}
