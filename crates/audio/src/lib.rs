//! wren-audio: audio that isn't the network's: sound devices, WAV file sources and sinks, tone
//! generators, resampling to the internal format. Knows nothing of SIP.
//!
//! Everything speaks the internal format: 48 kHz mono `i16` in 20 ms frames of
//! [`FRAME_SAMPLES`].

mod device;
mod error;
mod resample;
mod tone;
mod tones;
mod wav_sink;
mod wav_source;

pub use device::{
    AudioBackend, Capture, CpalBackend, DeviceConfig, DeviceFormat, DeviceInfo, Direction,
    FakeBackend, InputCallbacks, InputData, Level, LevelMeter, MakeInput, MakeOutput,
    OutputCallbacks, OutputData, Playback, RunningStream, StreamError, StreamFault, StreamStats,
    SILENCE_DBFS,
};
pub use error::AudioError;
pub use tone::ToneSource;
pub use tones::{dtmf_pair, CadencedTone, Ringtone, ToneQueue};
pub use wav_sink::WavSink;
pub use wav_source::WavSource;

/// Samples in one 20 ms frame of the internal format (48 kHz mono `i16`).
pub const FRAME_SAMPLES: usize = 960;
/// Sample rate of the internal format.
pub const SAMPLE_RATE: u32 = 48_000;

/// Something that yields frames of 48 kHz mono audio, one at a time.
pub trait FrameSource {
    /// Fills `out` with the next samples; returns false when exhausted, with `out` silent.
    fn read_frame(&mut self, out: &mut [i16]) -> bool;
}

#[cfg(test)]
mod tests {
    #[test]
    fn sources_and_sinks_can_live_in_a_driver_task() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::WavSource>();
        assert_send_sync::<crate::WavSink>();
        assert_send_sync::<crate::ToneSource>();
        fn assert_send<T: Send>() {}
        assert_send::<crate::Capture>();
        assert_send::<crate::Playback>();
    }
}
