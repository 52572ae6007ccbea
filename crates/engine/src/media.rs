//! What a call's audio is made of (options and preferences), and the small pieces the hub
//! plays it with: the device environment, a metered speaker, volume and mixing.

use crate::error::EngineError;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use wren_audio::{
    AudioBackend, AudioError, Capture, DeviceConfig, LevelMeter, Playback, Ringtone, SILENCE_DBFS,
};
use wren_media::CodecKind;

/// What to send into a call.
#[derive(Debug, Clone, Default)]
pub enum AudioInput {
    #[default]
    Silence,
    /// A sine at this frequency, -12 dBFS.
    Tone(f32),
    Wav(PathBuf),
    /// The microphone chosen in the audio preferences.
    Device,
}

/// Where the far end's audio (and local tones) go, besides a recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AudioOutput {
    #[default]
    None,
    /// The speaker chosen in the audio preferences.
    Device,
}

/// Media choices for one call.
#[derive(Debug, Clone, Default)]
pub struct MediaOptions {
    pub input: AudioInput,
    pub output: AudioOutput,
    /// Record what arrives (48 kHz mono 16-bit WAV).
    pub record: Option<PathBuf>,
    /// Codec order for this call; the account's when `None`.
    pub codecs: Option<Vec<CodecKind>>,
}

impl MediaOptions {
    /// A desktop call: microphone in, speaker out.
    pub fn devices() -> Self {
        MediaOptions {
            input: AudioInput::Device,
            output: AudioOutput::Device,
            ..Default::default()
        }
    }
}

/// The sound devices and tones a desktop user chose. `None` means the system default.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPrefs {
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub ringer: Option<String>,
    pub ringtone: Ringtone,
    /// Speaker volume, 0 to 1.
    pub volume: f32,
}

impl Default for AudioPrefs {
    fn default() -> Self {
        AudioPrefs {
            microphone: None,
            speaker: None,
            ringer: None,
            ringtone: Ringtone::Classic,
            volume: 1.0,
        }
    }
}

/// The audio side the driver owns: a device backend and the user's choices.
pub(crate) struct AudioEnv {
    pub backend: Arc<dyn AudioBackend + Send + Sync>,
    pub prefs: AudioPrefs,
}

impl AudioEnv {
    pub fn open_playback(&self, name: Option<&str>) -> Result<Playback, EngineError> {
        Playback::open(&*self.backend, name, DeviceConfig::default()).map_err(audio_error)
    }

    pub fn open_capture_from(&self, name: Option<&str>) -> Result<Capture, EngineError> {
        Capture::open(&*self.backend, name, DeviceConfig::default()).map_err(audio_error)
    }
}

pub(crate) fn audio_error(e: AudioError) -> EngineError {
    EngineError::from(e)
}

/// Input and output levels in dBFS (RMS), for the UI's meters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Levels {
    pub input_dbfs: f32,
    pub output_dbfs: f32,
}

impl Levels {
    pub const SILENT: Levels = Levels {
        input_dbfs: SILENCE_DBFS,
        output_dbfs: SILENCE_DBFS,
    };
}

/// A `Send` value made `Sync` by only ever using it through `&mut` (`Mutex::get_mut` never
/// locks); device streams are `Send` but not `Sync`, and the driver future needs `Sync`.
pub(crate) fn exclusive<T>(m: &mut Mutex<T>) -> &mut T {
    m.get_mut().unwrap_or_else(PoisonError::into_inner)
}

/// Plays frames to a speaker at a volume, with its meter.
pub(crate) struct Speaker {
    playback: Mutex<Playback>,
    meter: LevelMeter,
}

impl Speaker {
    pub fn new(playback: Playback) -> Self {
        let meter = playback.meter();
        Speaker {
            playback: Mutex::new(playback),
            meter,
        }
    }

    pub fn write(&mut self, frame: &[i16]) {
        exclusive(&mut self.playback).write_frame(frame);
    }

    pub fn level(&self) -> f32 {
        self.meter.take().rms_dbfs
    }

    /// Audio written and not yet played (see [`Playback::queued`]).
    pub fn queued(&self) -> std::time::Duration {
        self.playback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queued()
    }

    /// The stream, to close it elsewhere.
    pub fn into_playback(self) -> Playback {
        self.playback
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Scales `frame` by `volume` (0-1).
pub(crate) fn apply_volume(frame: &mut [i16], volume: f32) {
    if volume >= 1.0 {
        return;
    }
    let v = volume.clamp(0.0, 1.0);
    for s in frame {
        *s = (f32::from(*s) * v) as i16;
    }
}

/// Adds `tone` into `frame`, saturating.
pub(crate) fn mix(frame: &mut [i16], tone: &[i16]) {
    for (o, &t) in frame.iter_mut().zip(tone) {
        *o = o.saturating_add(t);
    }
}
