//! Sound devices: microphone and speaker, behind the small [`AudioBackend`] trait (cpal for
//! real, [`FakeBackend`] for tests), adapted to the internal 48 kHz mono format.
//!
//! ```text
//! Capture (microphone to engine)
//!
//!  .--------.  device thread   .------------------.  engine side   .-----------------.
//!  | device |--> to f32 ------>| SPSC ring, mono  |--> rubato ---->| i16, LevelMeter |--> read_frame
//!  '--------'    downmix       | f32, device rate |    device rate | (peak, RMS)     |    (FrameSource)
//!   any rate,    (overrun if   | prefilled with   |    to 48 kHz   '-----------------'
//!   N channels    ring full)   | target latency   |    (underrun if ring short: silence)
//!                              '------------------'
//!
//! Playback (engine to speaker)
//!
//!                .-----------------.  engine side  .------------------.  device thread  .--------.
//!  write_frame ->| LevelMeter, f32 |--> rubato --->| SPSC ring, mono  |--> upmix ------>| device |
//!   48 kHz i16   '-----------------'    48 kHz to  | f32, device rate |    from f32     '--------'
//!                 (overrun if ring full: dropped)  | prefilled with   |    (underrun if ring
//!                                                  | target latency   |     short: silence)
//!                                                  '------------------'
//! ```
//!
//! The device threads (the callbacks) only convert samples and move them through the rings:
//! they never allocate, lock or block, and count their drops in atomics. Resampling, `i16`
//! conversion and level metering happen on the engine side, off those threads.

mod callback;
mod capture;
mod cpal_backend;
mod fake;
mod meter;
mod playback;
mod resampler;
mod stats;

use std::time::Duration;

use crate::AudioError;

pub use capture::Capture;
pub use cpal_backend::CpalBackend;
pub use fake::FakeBackend;
pub use meter::{Level, LevelMeter, SILENCE_DBFS};
pub use playback::Playback;
pub use stats::StreamStats;

/// Which way audio flows through a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Capture: a microphone.
    Input,
    /// Playback: a speaker.
    Output,
}

/// The rate and channel count a device stream runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceFormat {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame.
    pub channels: u16,
}

/// A device the user can choose, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The name to select it by.
    pub name: String,
    /// Whether it is the system's default for its direction.
    pub is_default: bool,
}

/// How much audio the rings between device and engine hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Silence each ring starts with: the jitter the pipeline absorbs, and latency it adds.
    pub target_latency: Duration,
    /// Most audio a ring holds before dropping (an overrun).
    pub capacity: Duration,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            target_latency: Duration::from_millis(40),
            capacity: Duration::from_millis(200),
        }
    }
}

/// Takes interleaved samples just captured, in `[-1, 1]`.
pub type InputData = Box<dyn FnMut(&[f32]) + Send>;
/// Fills the interleaved buffer the device plays next, in `[-1, 1]`.
pub type OutputData = Box<dyn FnMut(&mut [f32]) + Send>;
/// Told that the stream reported a problem.
pub type StreamError = Box<dyn FnMut(StreamFault) + Send>;

/// A problem a running stream reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamFault {
    /// The device's own buffer ran dry or overflowed: audio was lost, the stream goes on.
    Xrun,
    /// The device is gone or the stream no longer valid: it must be reopened.
    Lost,
    /// Anything else the backend reports.
    Other,
}

/// What a capture stream calls on its device's thread.
pub struct InputCallbacks {
    /// Called with each captured buffer.
    pub data: InputData,
    /// Called when the stream reports an error.
    pub error: StreamError,
}

/// What a playback stream calls on its device's thread.
pub struct OutputCallbacks {
    /// Called for each buffer to play.
    pub data: OutputData,
    /// Called when the stream reports an error.
    pub error: StreamError,
}

/// Builds a stream's callbacks once the backend knows the device's format. A backend may call
/// it again if its first attempt to open the device fails; the last call's callbacks run.
pub type MakeInput<'a> = &'a mut dyn FnMut(DeviceFormat) -> InputCallbacks;
/// Builds a playback stream's callbacks once its format is known; see [`MakeInput`].
pub type MakeOutput<'a> = &'a mut dyn FnMut(DeviceFormat) -> OutputCallbacks;

/// A running device stream; dropping it stops the device.
pub struct RunningStream {
    _stream: Box<dyn Send>,
}

impl RunningStream {
    /// Keeps `stream` (whatever stops the device when dropped) alive.
    pub fn new(stream: impl Send + 'static) -> Self {
        RunningStream {
            _stream: Box::new(stream),
        }
    }
}

impl std::fmt::Debug for RunningStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunningStream")
    }
}

/// The device edge: lists devices and runs streams on them (cpal, or a fake for tests).
pub trait AudioBackend {
    /// Devices that can capture ([`Direction::Input`]) or play ([`Direction::Output`]).
    fn devices(&self, direction: Direction) -> Result<Vec<DeviceInfo>, AudioError>;
    /// Starts capturing from the device called `name`, or the default one.
    fn start_input(
        &self,
        name: Option<&str>,
        make: MakeInput<'_>,
    ) -> Result<RunningStream, AudioError>;
    /// Starts playing to the device called `name`, or the default one.
    fn start_output(
        &self,
        name: Option<&str>,
        make: MakeOutput<'_>,
    ) -> Result<RunningStream, AudioError>;
}

/// How long `frames` last at `rate`.
fn duration_of(frames: usize, rate: u32) -> Duration {
    Duration::from_micros(frames as u64 * 1_000_000 / u64::from(rate.max(1)))
}

/// Frames of `duration` at `rate`, at least one.
fn frames_in(duration: Duration, rate: u32) -> usize {
    let frames = duration.as_micros() * u128::from(rate) / 1_000_000;
    usize::try_from(frames).unwrap_or(usize::MAX).max(1)
}

/// A ring of `config.capacity` at `rate`, prefilled with `config.target_latency` of silence so
/// the reader starts at the target latency (shared by capture and playback).
fn prefilled_ring(config: &DeviceConfig, rate: u32) -> (rtrb::Producer<f32>, rtrb::Consumer<f32>) {
    let (mut producer, consumer) = rtrb::RingBuffer::new(frames_in(config.capacity, rate));
    let prefill = frames_in(config.target_latency, rate).min(producer.slots());
    if let Ok(chunk) = producer.write_chunk_uninit(prefill) {
        chunk.fill_from_iter(std::iter::repeat(0.0));
    }
    (producer, consumer)
}
