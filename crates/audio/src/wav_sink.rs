//! Writing 48 kHz mono 16-bit WAV files (call recordings, test captures).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::{AudioError, SAMPLE_RATE};

/// A WAV file being written; finalised by [`WavSink::finish`] or on drop.
pub struct WavSink {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink")
            .field("open", &self.writer.is_some())
            .finish()
    }
}

impl WavSink {
    /// Creates (or truncates) `path` as a 48 kHz mono 16-bit WAV file.
    pub fn create(path: impl AsRef<Path>) -> Result<WavSink, AudioError> {
        let path = path.as_ref();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer =
            hound::WavWriter::create(path, spec).map_err(|e| AudioError::from_hound(e, path))?;
        Ok(WavSink {
            writer: Some(writer),
        })
    }

    /// Appends samples (any count; normally one 960-sample frame).
    pub fn write_frame(&mut self, pcm: &[i16]) -> Result<(), AudioError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(AudioError::Io(std::io::Error::other(
                "WAV sink already finished",
            )));
        };
        let mut samples = writer.get_i16_writer(pcm.len() as u32);
        for &s in pcm {
            samples.write_sample(s);
        }
        samples
            .flush()
            .map_err(|e| AudioError::from_hound(e, Path::new("")))
    }

    /// Writes the header's final lengths and closes the file.
    pub fn finish(mut self) -> Result<(), AudioError> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<(), AudioError> {
        match self.writer.take() {
            Some(writer) => writer
                .finalize()
                .map_err(|e| AudioError::from_hound(e, Path::new(""))),
            None => Ok(()),
        }
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        // Errors can't be reported from drop; finish() reports them.
        let _ = self.finish_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FrameSource, ToneSource, WavSource, FRAME_SAMPLES};
    use wren_testkit::tone::analyse_wav;

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("wren-audio-sink-{}-{name}.wav", std::process::id()))
    }

    #[test]
    fn writes_48k_mono_16bit_that_reads_back_the_same() {
        let path = temp_path("roundtrip");
        let mut tone = ToneSource::new(1000.0, -10.0);
        let mut sink = WavSink::create(&path).unwrap();
        let mut written = Vec::new();
        let mut frame = [0i16; FRAME_SAMPLES];
        for _ in 0..50 {
            tone.read_frame(&mut frame);
            sink.write_frame(&frame).unwrap();
            written.extend_from_slice(&frame);
        }
        sink.finish().unwrap();

        let report = analyse_wav(&path).unwrap();
        assert_eq!((report.rate, report.channels), (48_000, 1));
        assert!((report.dominant_hz - 1000.0).abs() < 0.5);
        assert!((report.duration_s - 1.0).abs() < 1e-9);

        let mut source = WavSource::open(&path).unwrap();
        let mut read = Vec::new();
        while source.read_frame(&mut frame) {
            read.extend_from_slice(&frame);
        }
        std::fs::remove_file(&path).ok();
        assert_eq!(
            read, written,
            "48 kHz 16-bit is the internal format: bit exact"
        );
    }

    #[test]
    fn dropping_finalises_the_file() {
        let path = temp_path("dropped");
        {
            let mut sink = WavSink::create(&path).unwrap();
            sink.write_frame(&[100; FRAME_SAMPLES]).unwrap();
        }
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.duration(), FRAME_SAMPLES as u32);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let err = WavSink::create("/nonexistent/dir/out.wav").unwrap_err();
        assert_eq!(err.code(), "audio.file_not_found");
    }
}
