//! Sound devices in memory, for tests: the test runs the stream callbacks where a device's
//! thread would.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use super::{
    AudioBackend, DeviceFormat, DeviceInfo, Direction, InputCallbacks, MakeInput, MakeOutput,
    OutputCallbacks, RunningStream, StreamFault,
};
use crate::AudioError;

/// An [`AudioBackend`] whose devices are driven by the test: [`FakeBackend::capture`] delivers
/// microphone samples and [`FakeBackend::play`] pulls what the speaker would play. The first
/// device added in each direction is the default.
#[derive(Clone, Default)]
pub struct FakeBackend {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    inputs: Vec<(String, DeviceFormat)>,
    outputs: Vec<(String, DeviceFormat)>,
    input: Option<(String, InputCallbacks)>,
    output: Option<(String, OutputCallbacks)>,
}

impl std::fmt::Debug for FakeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeBackend")
    }
}

impl FakeBackend {
    /// A backend with no devices.
    pub fn new() -> Self {
        FakeBackend::default()
    }

    /// Adds a microphone.
    pub fn with_input(self, name: &str, format: DeviceFormat) -> Self {
        self.lock().inputs.push((name.to_owned(), format));
        self
    }

    /// Adds a speaker.
    pub fn with_output(self, name: &str, format: DeviceFormat) -> Self {
        self.lock().outputs.push((name.to_owned(), format));
        self
    }

    /// The device the capture stream runs on, if one is running.
    pub fn running_input(&self) -> Option<String> {
        self.lock().input.as_ref().map(|(name, _)| name.clone())
    }

    /// The device the playback stream runs on, if one is running.
    pub fn running_output(&self) -> Option<String> {
        self.lock().output.as_ref().map(|(name, _)| name.clone())
    }

    /// Runs the capture callback on interleaved `samples`; false if no capture is running.
    pub fn capture(&self, samples: &[f32]) -> bool {
        match &mut self.lock().input {
            Some((_, callbacks)) => {
                (callbacks.data)(samples);
                true
            }
            None => false,
        }
    }

    /// Runs the playback callback to fill interleaved `out`; false if no playback is running.
    pub fn play(&self, out: &mut [f32]) -> bool {
        match &mut self.lock().output {
            Some((_, callbacks)) => {
                (callbacks.data)(out);
                true
            }
            None => false,
        }
    }

    /// Reports `fault` on the stream in `direction`; false if none is running.
    pub fn fail(&self, direction: Direction, fault: StreamFault) -> bool {
        let mut state = self.lock();
        let error = match direction {
            Direction::Input => state.input.as_mut().map(|(_, c)| &mut c.error),
            Direction::Output => state.output.as_mut().map(|(_, c)| &mut c.error),
        };
        error.map(|error| error(fault)).is_some()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn find(
    devices: &[(String, DeviceFormat)],
    name: Option<&str>,
) -> Result<(String, DeviceFormat), AudioError> {
    let found = match name {
        Some(name) => devices.iter().find(|(n, _)| n == name),
        None => devices.first(),
    };
    found
        .cloned()
        .ok_or_else(|| AudioError::NoDevice(name.unwrap_or("default").to_owned()))
}

/// Stops its stream when dropped, as a real device's stream does.
struct FakeStream {
    state: Weak<Mutex<State>>,
    direction: Direction,
}

impl Drop for FakeStream {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade() {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            match self.direction {
                Direction::Input => state.input = None,
                Direction::Output => state.output = None,
            }
        }
    }
}

impl AudioBackend for FakeBackend {
    fn devices(&self, direction: Direction) -> Result<Vec<DeviceInfo>, AudioError> {
        let state = self.lock();
        let devices = match direction {
            Direction::Input => &state.inputs,
            Direction::Output => &state.outputs,
        };
        Ok(devices
            .iter()
            .enumerate()
            .map(|(i, (name, _))| DeviceInfo {
                name: name.clone(),
                is_default: i == 0,
            })
            .collect())
    }

    fn start_input(
        &self,
        name: Option<&str>,
        make: MakeInput<'_>,
    ) -> Result<RunningStream, AudioError> {
        let (name, format) = find(&self.lock().inputs, name)?;
        let callbacks = make(format);
        self.lock().input = Some((name, callbacks));
        Ok(RunningStream::new(FakeStream {
            state: Arc::downgrade(&self.state),
            direction: Direction::Input,
        }))
    }

    fn start_output(
        &self,
        name: Option<&str>,
        make: MakeOutput<'_>,
    ) -> Result<RunningStream, AudioError> {
        let (name, format) = find(&self.lock().outputs, name)?;
        let callbacks = make(format);
        self.lock().output = Some((name, callbacks));
        Ok(RunningStream::new(FakeStream {
            state: Arc::downgrade(&self.state),
            direction: Direction::Output,
        }))
    }
}
