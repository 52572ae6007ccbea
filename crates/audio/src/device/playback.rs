//! The engine side of playback: 48 kHz mono frames into the device's ring.

use std::sync::Arc;
use std::time::Duration;

use rtrb::Producer;

use super::resampler::FrameResampler;
use super::stats::Counters;
use super::{
    callback, prefilled_ring, AudioBackend, DeviceConfig, DeviceFormat, LevelMeter,
    OutputCallbacks, RunningStream, StreamStats,
};
use crate::{AudioError, FRAME_SAMPLES, SAMPLE_RATE};

/// A speaker taking 48 kHz mono frames; stops when dropped.
pub struct Playback {
    ring: Producer<f32>,
    /// None when the device already runs at 48 kHz.
    resampler: Option<FrameResampler>,
    /// One 48 kHz frame.
    frame: Vec<f32>,
    /// Device-rate samples for the ring.
    output: Vec<f32>,
    format: DeviceFormat,
    counters: Arc<Counters>,
    meter: LevelMeter,
    _stream: RunningStream,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Playback {
    /// Starts playing to the device called `name`, or the default one.
    pub fn open(
        backend: &dyn AudioBackend,
        name: Option<&str>,
        config: DeviceConfig,
    ) -> Result<Playback, AudioError> {
        let counters = Arc::new(Counters::default());
        let mut opened = None;
        let stream = backend.start_output(name, &mut |format| {
            let (producer, consumer) = prefilled_ring(&config, format.sample_rate);
            opened = Some((format, producer));
            OutputCallbacks {
                data: callback::playback(format.channels, consumer, counters.clone()),
                error: callback::error(counters.clone()),
            }
        })?;
        let (format, ring) =
            opened.ok_or_else(|| AudioError::Device("backend opened no stream".into()))?;
        let resampler = match format.sample_rate {
            SAMPLE_RATE => None,
            rate => Some(FrameResampler::to_device(rate)?),
        };
        let output_max = resampler.as_ref().map_or(FRAME_SAMPLES, |r| r.output_max());
        Ok(Playback {
            ring,
            resampler,
            frame: vec![0.0; FRAME_SAMPLES],
            output: vec![0.0; output_max],
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

    /// The level of the played audio, for the UI.
    pub fn meter(&self) -> LevelMeter {
        self.meter.clone()
    }

    /// Audio written and not yet taken by the device (the ring's fill): how long until it
    /// runs dry. The device thread moves it, so this is the device's clock as seen from here.
    pub fn queued(&self) -> Duration {
        let filled = self.ring.buffer().capacity() - self.ring.slots();
        super::duration_of(filled, self.format.sample_rate)
    }

    /// Queues 48 kHz mono audio (a whole number of frames; a short last one is padded with
    /// silence), dropping what the ring can't hold (an overrun).
    pub fn write_frame(&mut self, pcm: &[i16]) {
        self.meter.update(pcm);
        for piece in pcm.chunks(FRAME_SAMPLES) {
            for (f, &s) in self.frame.iter_mut().zip(piece) {
                *f = f32::from(s) / 32768.0;
            }
            self.frame[piece.len()..].fill(0.0);
            let out = match &mut self.resampler {
                Some(resampler) => {
                    let written = resampler.process(&self.frame, &mut self.output);
                    &self.output[..written]
                }
                None => &self.frame[..],
            };
            let (_, dropped) = self.ring.push_partial_slice(out);
            if !dropped.is_empty() {
                self.counters.overrun();
            }
        }
    }
}
