//! The system's sound devices through cpal: PulseAudio's native protocol where a server runs
//! (PulseAudio itself, or PipeWire's pulse server), otherwise the default host (ALSA on Linux).

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    BufferSize, ErrorKind, FromSample, Sample, SampleFormat, SizedSample, StreamConfig,
    SupportedBufferSize, SupportedStreamConfig,
};

use super::{
    AudioBackend, DeviceFormat, DeviceInfo, Direction, InputCallbacks, MakeInput, MakeOutput,
    OutputCallbacks, RunningStream, StreamFault,
};
use crate::{AudioError, SAMPLE_RATE};

/// Frames converted to `f32` per callback call on devices with integer samples; the
/// conversion buffer is allocated when the stream is built, never in the callback.
const SCRATCH_FRAMES: usize = 4096;

/// cpal's default host.
pub struct CpalBackend {
    host: cpal::Host,
    /// Why PulseAudio's own protocol is not in use, when a server seemed to be there.
    fallback: Option<String>,
}

impl std::fmt::Debug for CpalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpalBackend")
            .field("host", &self.host.id())
            .finish()
    }
}

impl Default for CpalBackend {
    fn default() -> Self {
        CpalBackend::new()
    }
}

impl CpalBackend {
    /// PulseAudio's own protocol where a server answers (PipeWire's pulse server too), else
    /// the platform's default host (ALSA on Linux).
    pub fn new() -> Self {
        let mut fallback = None;
        #[cfg(any(target_os = "linux", target_os = "freebsd"))]
        if cpal::available_hosts().contains(&cpal::HostId::PulseAudio) {
            // A socket that doesn't answer (a stale server) falls back to ALSA.
            match cpal::host_from_id(cpal::HostId::PulseAudio) {
                Ok(host) => return CpalBackend { host, fallback },
                Err(e) => fallback = Some(e.to_string()),
            }
        }
        CpalBackend {
            host: cpal::default_host(),
            fallback,
        }
    }

    /// Why a PulseAudio server that seemed to run is not used (for the log).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Which sound system this backend talks to (`"PulseAudio"`, `"ALSA"`, ...).
    pub fn host_name(&self) -> &'static str {
        self.host.id().name()
    }

    fn device_list(&self, direction: Direction) -> Result<Vec<cpal::Device>, AudioError> {
        Ok(match direction {
            Direction::Input => self.host.input_devices().map_err(device_error)?.collect(),
            Direction::Output => self.host.output_devices().map_err(device_error)?.collect(),
        })
    }

    fn default_device(&self, direction: Direction) -> Option<cpal::Device> {
        match direction {
            Direction::Input => self.host.default_input_device(),
            Direction::Output => self.host.default_output_device(),
        }
    }

    fn find(&self, direction: Direction, name: Option<&str>) -> Result<cpal::Device, AudioError> {
        let found = match name {
            None => self.default_device(direction),
            Some(wanted) => self
                .device_list(direction)?
                .into_iter()
                .find(|d| device_name(d).as_deref() == Some(wanted)),
        };
        found.ok_or_else(|| AudioError::NoDevice(name.unwrap_or("default").to_owned()))
    }
}

fn device_name(device: &cpal::Device) -> Option<String> {
    device.description().ok().map(|d| d.name().to_owned())
}

fn device_error(err: cpal::Error) -> AudioError {
    AudioError::Device(err.to_string())
}

/// The device's default format, moved to 48 kHz when the device offers it there (sparing the
/// resampler).
fn choose_config(
    device: &cpal::Device,
    direction: Direction,
) -> Result<SupportedStreamConfig, AudioError> {
    let (default, ranges) = match direction {
        Direction::Input => (
            device.default_input_config(),
            device
                .supported_input_configs()
                .map(|r| r.collect::<Vec<_>>()),
        ),
        Direction::Output => (
            device.default_output_config(),
            device
                .supported_output_configs()
                .map(|r| r.collect::<Vec<_>>()),
        ),
    };
    let default = default.map_err(device_error)?;
    let at_48k = ranges.unwrap_or_default().into_iter().find(|r| {
        r.channels() == default.channels()
            && r.sample_format() == default.sample_format()
            && r.contains_rate(SAMPLE_RATE)
    });
    Ok(at_48k.map_or(default, |r| r.with_sample_rate(SAMPLE_RATE)))
}

/// Buffer sizes to try: 20 ms where the device may allow it (the ALSA-to-PulseAudio default
/// is far larger), then the device's own default.
fn buffer_sizes(config: &SupportedStreamConfig) -> Vec<BufferSize> {
    let frames = config.sample_rate() / 50;
    match config.buffer_size() {
        SupportedBufferSize::Range { min, max } if !(*min..=*max).contains(&frames) => {
            vec![BufferSize::Default]
        }
        _ => vec![BufferSize::Fixed(frames), BufferSize::Default],
    }
}

fn format_of(config: &SupportedStreamConfig) -> DeviceFormat {
    DeviceFormat {
        sample_rate: config.sample_rate(),
        channels: config.channels(),
    }
}

fn build_input<T>(
    device: &cpal::Device,
    config: StreamConfig,
    callbacks: InputCallbacks,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let InputCallbacks {
        mut data,
        mut error,
    } = callbacks;
    let mut scratch = vec![0.0f32; SCRATCH_FRAMES * usize::from(config.channels.max(1))];
    device.build_input_stream::<T, _, _>(
        config,
        move |samples: &[T], _| {
            for piece in samples.chunks(scratch.len()) {
                for (f, &s) in scratch.iter_mut().zip(piece) {
                    *f = f32::from_sample(s);
                }
                data(&scratch[..piece.len()]);
            }
        },
        move |e| error(fault(&e)),
        None,
    )
}

fn build_output<T>(
    device: &cpal::Device,
    config: StreamConfig,
    callbacks: OutputCallbacks,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let OutputCallbacks {
        mut data,
        mut error,
    } = callbacks;
    let mut scratch = vec![0.0f32; SCRATCH_FRAMES * usize::from(config.channels.max(1))];
    device.build_output_stream::<T, _, _>(
        config,
        move |samples: &mut [T], _| {
            for piece in samples.chunks_mut(scratch.len()) {
                let scratch = &mut scratch[..piece.len()];
                data(scratch);
                for (s, &f) in piece.iter_mut().zip(scratch.iter()) {
                    *s = T::from_sample(f);
                }
            }
        },
        move |e| error(fault(&e)),
        None,
    )
}

fn fault(err: &cpal::Error) -> StreamFault {
    match err.kind() {
        ErrorKind::Xrun => StreamFault::Xrun,
        ErrorKind::DeviceNotAvailable
        | ErrorKind::StreamInvalidated
        | ErrorKind::HostUnavailable => StreamFault::Lost,
        _ => StreamFault::Other,
    }
}

fn unsupported(format: SampleFormat) -> AudioError {
    AudioError::Device(format!("unsupported device sample format {format}"))
}

impl AudioBackend for CpalBackend {
    fn devices(&self, direction: Direction) -> Result<Vec<DeviceInfo>, AudioError> {
        // By id: the default device's description ("Default Audio Device") differs from that
        // of the same device in the list.
        let default = self.default_device(direction).and_then(|d| d.id().ok());
        Ok(self
            .device_list(direction)?
            .iter()
            .filter_map(|device| {
                Some(DeviceInfo {
                    name: device_name(device)?,
                    is_default: default.is_some() && device.id().ok() == default,
                })
            })
            .collect())
    }

    fn start_input(
        &self,
        name: Option<&str>,
        make: MakeInput<'_>,
    ) -> Result<RunningStream, AudioError> {
        let device = self.find(Direction::Input, name)?;
        let supported = choose_config(&device, Direction::Input)?;
        let mut last_error = None;
        for buffer_size in buffer_sizes(&supported) {
            let config = StreamConfig {
                buffer_size,
                ..supported.config()
            };
            let callbacks = make(format_of(&supported));
            let built = match supported.sample_format() {
                SampleFormat::F32 => build_input::<f32>(&device, config, callbacks),
                SampleFormat::I16 => build_input::<i16>(&device, config, callbacks),
                SampleFormat::I32 => build_input::<i32>(&device, config, callbacks),
                SampleFormat::U16 => build_input::<u16>(&device, config, callbacks),
                other => return Err(unsupported(other)),
            };
            match built {
                Ok(stream) => {
                    stream.play().map_err(device_error)?;
                    return Ok(RunningStream::new(stream));
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.map_or_else(|| AudioError::NoDevice("input".into()), device_error))
    }

    fn start_output(
        &self,
        name: Option<&str>,
        make: MakeOutput<'_>,
    ) -> Result<RunningStream, AudioError> {
        let device = self.find(Direction::Output, name)?;
        let supported = choose_config(&device, Direction::Output)?;
        let mut last_error = None;
        for buffer_size in buffer_sizes(&supported) {
            let config = StreamConfig {
                buffer_size,
                ..supported.config()
            };
            let callbacks = make(format_of(&supported));
            let built = match supported.sample_format() {
                SampleFormat::F32 => build_output::<f32>(&device, config, callbacks),
                SampleFormat::I16 => build_output::<i16>(&device, config, callbacks),
                SampleFormat::I32 => build_output::<i32>(&device, config, callbacks),
                SampleFormat::U16 => build_output::<u16>(&device, config, callbacks),
                other => return Err(unsupported(other)),
            };
            match built {
                Ok(stream) => {
                    stream.play().map_err(device_error)?;
                    return Ok(RunningStream::new(stream));
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.map_or_else(|| AudioError::NoDevice("output".into()), device_error))
    }
}
