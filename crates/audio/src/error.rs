//! Why an audio file or device could not be used.

use std::path::PathBuf;

/// An audio problem, with a stable [`AudioError::code`].
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No file at that path.
    #[error("audio file not found: {}", .0.display())]
    FileNotFound(PathBuf),
    /// A WAV file in an encoding we can't read (compressed, 64-bit float, ...).
    #[error("unsupported audio format: {0}")]
    UnsupportedFormat(String),
    /// Not a WAV file, or a damaged one.
    #[error("not a valid WAV file: {0}")]
    InvalidFile(String),
    /// Reading or writing failed.
    #[error("audio file I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The resampler refused the file's rate.
    #[error("cannot resample: {0}")]
    Resample(String),
    /// No sound device by that name (or no default one).
    #[error("no audio device: {0}")]
    NoDevice(String),
    /// The sound system refused to list or open a device.
    #[error("audio device failed: {0}")]
    Device(String),
}

impl AudioError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::FileNotFound(_) => "audio.file_not_found",
            AudioError::UnsupportedFormat(_) => "audio.unsupported_format",
            AudioError::InvalidFile(_) => "audio.invalid_file",
            AudioError::Io(_) => "audio.io",
            AudioError::Resample(_) => "audio.resample",
            AudioError::NoDevice(_) => "audio.no_device",
            AudioError::Device(_) => "audio.device",
        }
    }

    pub(crate) fn from_hound(err: hound::Error, path: &std::path::Path) -> Self {
        match err {
            hound::Error::IoError(e) if e.kind() == std::io::ErrorKind::NotFound => {
                AudioError::FileNotFound(path.to_path_buf())
            }
            hound::Error::IoError(e) => AudioError::Io(e),
            hound::Error::Unsupported => {
                AudioError::UnsupportedFormat("encoding not supported by the WAV reader".into())
            }
            hound::Error::TooWide => AudioError::UnsupportedFormat("sample too wide".into()),
            other => AudioError::InvalidFile(other.to_string()),
        }
    }
}
