//! Sound devices are opened and closed on a thread of their own: opening one can take a while
//! (a PulseAudio round trip, a Bluetooth headset waking up) and closing one joins its stream's
//! thread, and the driver, which carries signalling and every call's RTP, must wait for
//! neither. The hub asks; the answer comes back to the driver as an [`Opened`].

use crate::error::EngineError;
use std::sync::mpsc;
use std::sync::Arc;
use wren_audio::{AudioBackend, Capture, DeviceConfig, Playback};

/// Which of the hub's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Mic,
    Speaker,
    Ringer,
    /// The audio test's microphone and speaker (any device the user is trying out).
    TestMic,
    TestSpeaker,
}

/// An open stream.
pub enum Stream {
    Capture(Box<Capture>),
    Playback(Box<Playback>),
}

/// The answer to an open request: `generation` tells a stale answer from the current one.
pub struct Opened {
    pub slot: Slot,
    pub generation: u64,
    pub result: Result<Stream, EngineError>,
}

enum Job {
    Open {
        slot: Slot,
        generation: u64,
        name: Option<String>,
    },
    Close(Stream),
}

/// The device thread's handle; the thread ends when the handle drops.
pub struct DeviceWorker {
    jobs: mpsc::Sender<Job>,
}

impl DeviceWorker {
    /// Starts the thread; answers go to `done`.
    pub fn spawn(
        backend: Arc<dyn AudioBackend + Send + Sync>,
        done: tokio::sync::mpsc::UnboundedSender<Opened>,
    ) -> Result<Self, EngineError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("wren-devices".into())
            .spawn(move || {
                for job in queue {
                    match job {
                        Job::Open {
                            slot,
                            generation,
                            name,
                        } => {
                            let config = DeviceConfig::default();
                            let result = match slot {
                                Slot::Mic | Slot::TestMic => {
                                    Capture::open(&*backend, name.as_deref(), config)
                                        .map(|c| Stream::Capture(Box::new(c)))
                                }
                                Slot::Speaker | Slot::Ringer | Slot::TestSpeaker => {
                                    Playback::open(&*backend, name.as_deref(), config)
                                        .map(|p| Stream::Playback(Box::new(p)))
                                }
                            };
                            let opened = Opened {
                                slot,
                                generation,
                                result: result.map_err(EngineError::from),
                            };
                            if done.send(opened).is_err() {
                                return; // the driver is gone
                            }
                        }
                        Job::Close(stream) => drop(stream),
                    }
                }
            })
            .map_err(|e| EngineError::new(crate::error::ErrorCode::EngineFailed, e.to_string()))?;
        Ok(Self { jobs })
    }

    /// Asks for `slot` on the device called `name` (the default one when `None`).
    pub fn open(&self, slot: Slot, generation: u64, name: Option<String>) {
        let _ = self.jobs.send(Job::Open {
            slot,
            generation,
            name,
        });
    }

    /// Closes a stream away from the caller's thread.
    pub fn close(&self, stream: Stream) {
        let _ = self.jobs.send(Job::Close(stream));
    }
}
