//! The engine side of capture: 48 kHz mono frames out of the device's ring.

use std::sync::Arc;
use std::time::Duration;

use rtrb::Consumer;

use super::resampler::FrameResampler;
use super::stats::Counters;
use super::{
    callback, prefilled_ring, AudioBackend, DeviceConfig, DeviceFormat, InputCallbacks, LevelMeter,
    RunningStream, StreamStats,
};
use crate::{AudioError, FrameSource, FRAME_SAMPLES, SAMPLE_RATE};

/// A microphone as a [`FrameSource`] of 48 kHz mono frames; stops when dropped.
pub struct Capture {
    ring: Consumer<f32>,
    /// None when the device already runs at 48 kHz.
    resampler: Option<FrameResampler>,
    /// Device-rate samples taken from the ring.
    input: Vec<f32>,
    /// One 48 kHz frame.
    frame: Vec<f32>,
    format: DeviceFormat,
    counters: Arc<Counters>,
    meter: LevelMeter,
    _stream: RunningStream,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Starts capturing from the device called `name`, or the default one.
    pub fn open(
        backend: &dyn AudioBackend,
        name: Option<&str>,
        config: DeviceConfig,
    ) -> Result<Capture, AudioError> {
        let counters = Arc::new(Counters::default());
        let mut opened = None;
        let stream = backend.start_input(name, &mut |format| {
            let (producer, consumer) = prefilled_ring(&config, format.sample_rate);
            opened = Some((format, consumer));
            InputCallbacks {
                data: callback::capture(format.channels, producer, counters.clone()),
                error: callback::error(counters.clone()),
            }
        })?;
        let (format, ring) =
            opened.ok_or_else(|| AudioError::Device("backend opened no stream".into()))?;
        let resampler = match format.sample_rate {
            SAMPLE_RATE => None,
            rate => Some(FrameResampler::from_device(rate)?),
        };
        let input_max = resampler.as_ref().map_or(FRAME_SAMPLES, |r| r.input_max());
        Ok(Capture {
            ring,
            resampler,
            input: vec![0.0; input_max],
            frame: vec![0.0; FRAME_SAMPLES],
            format,
            counters,
            meter: LevelMeter::default(),
            _stream: stream,
        })
    }

    /// The format the device runs at.
    pub fn format(&self) -> DeviceFormat {
        self.format
    }

    /// Drops and errors so far.
    pub fn stats(&self) -> StreamStats {
        self.counters.snapshot()
    }

    /// The level of the captured audio, for the UI.
    pub fn meter(&self) -> LevelMeter {
        self.meter.clone()
    }

    /// Audio captured and not read yet (the ring's fill): how old the next frame read is.
    pub fn queued(&self) -> Duration {
        super::duration_of(self.ring.slots(), self.format.sample_rate)
    }

    /// Fills `self.frame` with the next 48 kHz frame, or silence if the device is behind.
    fn next_frame(&mut self) {
        let needed = self
            .resampler
            .as_ref()
            .map_or(FRAME_SAMPLES, |r| r.input_next());
        let Ok(chunk) = self.ring.read_chunk(needed) else {
            self.counters.underrun();
            self.frame.fill(0.0);
            return;
        };
        let (first, second) = chunk.as_slices();
        self.input[..first.len()].copy_from_slice(first);
        self.input[first.len()..needed].copy_from_slice(second);
        chunk.commit_all();
        match &mut self.resampler {
            Some(resampler) => {
                resampler.process(&self.input[..needed], &mut self.frame);
            }
            None => self.frame.copy_from_slice(&self.input[..needed]),
        }
    }
}

impl FrameSource for Capture {
    /// Fills `out` (a whole number of frames) with captured audio; a device never runs out.
    fn read_frame(&mut self, out: &mut [i16]) -> bool {
        for piece in out.chunks_mut(FRAME_SAMPLES) {
            self.next_frame();
            for (o, &s) in piece.iter_mut().zip(&self.frame) {
                *o = to_i16(s);
            }
        }
        self.meter.update(out);
        true
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}
