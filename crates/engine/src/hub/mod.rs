//! The audio hub: every call's audio meets here, one port per call, around one microphone
//! stream and one speaker stream for the whole app (plus the ringer's device when the user
//! picked a separate one).
//!
//! ```text
//!                         ┌──────────────────── AudioHub (one tick = 20 ms) ───────────────────┐
//!  mic stream ─▶ mic ─────┤ capture(call): live port ─▶ its input (mic, WAV or tone)          │
//!                         │                 + in a conference, every other live port's rx   ─┼─▶ call's encoder
//!  call's decoder ─▶ play(call) ─▶ port.rx ─▶ recorder (WAV)                                  │
//!                         │ render: Σ live ports' rx × volume + ringback + DTMF feedback     │
//!                         │         + call-waiting tone + busy tone ─▶ `rendered` ───────────┼─▶ speaker stream
//!  ringtone ──────────────┼──────────────────────────────────────────────────────────────────┼─▶ ringer stream
//!                         └────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The engine core decides which calls are live (the focused call, or every conference leg)
//! and tells the hub through [`AudioOp`]s; the hub knows nothing of SIP. `rendered` is exactly
//! the frame written to the speaker stream, and `captured` the microphone frame read in the
//! same tick, the one that goes out: the echo canceller's reference and its input, with
//! `echo_delay` between them (what the two rings held at that tick).
//!
//! **Paced by the device.** While a speaker stream plays, the hub ticks when the device asks:
//! [`AudioHub::pace`] reads how much audio the speaker's ring still holds (the device thread
//! drains it at the device's own clock) and says how many 20 ms frames are due to bring it
//! back to [`TARGET`], or how long until the next one is. The driver ticks exactly that often,
//! so each call's playout, its RTP clock and the microphone all follow the sound card's clock
//! (no slow drift into overruns or underruns), and nothing runs on the device's thread but
//! the ring copies. The driver's own 20 ms clock takes over only when nothing plays (calls
//! with files or tones, no device) or the device stops taking audio for [`STALL`]:
//! a stuck sound server must not stop a call's RTP.
//!
//! ```text
//!  speaker ring ── queued ≤ TARGET? ──▶ pace() = Device { frames: n } ──▶ driver: n × tick
//!        ▲                         └─ no: Device { frames: 0, wait: queued − TARGET }
//!        └── device thread drains it at the device's rate
//! ```

use crate::core::RingMode;
use crate::devices::{DeviceWorker, Opened, Slot, Stream};
use crate::error::EngineError;
use crate::event::CallId;
use crate::media::{audio_error, AudioEnv, AudioInput, AudioOutput, Levels, MediaOptions, Speaker};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use wren_audio::{
    CadencedTone, Capture, FrameSource, LevelMeter, Playback, ToneQueue, ToneSource, WavSink,
    WavSource, FRAME_SAMPLES, SILENCE_DBFS,
};

mod ports;

/// The audio the speaker's ring should hold when the hub ticks: the device's jitter margin.
pub const TARGET: Duration = Duration::from_millis(40);
/// One frame.
const FRAME: Duration = Duration::from_millis(20);
/// Most frames one wake-up renders, after a stall.
const MAX_BURST: u128 = 5;
/// The shortest wait between two looks at a device that wants nothing yet.
const MIN_WAIT: Duration = Duration::from_millis(2);
/// A device that takes no audio for this long no longer paces the calls.
pub const STALL: Duration = Duration::from_millis(100);

/// When the hub's next tick is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Nothing plays on a device: the driver's clock ticks every 20 ms.
    Free,
    /// A device plays: `frames` ticks are due now; when none is, look again after `wait`.
    Device { frames: usize, wait: Duration },
}

/// How long the busy tone plays after the far end is busy.
const BUSY_TONE: Duration = Duration::from_secs(3);
/// How long the audio test plays its tone.
const TEST_TONE: Duration = Duration::from_secs(1);

/// What the core asks of the hub.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioOp {
    /// The call's audio moves to another call (a transfer we carry out continues with the
    /// same microphone, file or tone).
    Move { from: CallId, to: CallId },
    /// The call is gone; `busy` plays the busy tone if it used the speaker.
    Close { call: CallId, busy: bool },
    /// Ringback for a call whose far end rings without early media.
    Ringback { call: CallId, on: bool },
    /// Local feedback for DTMF digits we send.
    Dtmf { call: CallId, digits: String },
    /// The ringer: off, ringing, or the call-waiting tone in the current call.
    Ring(RingMode),
    /// The calls that have the microphone and the speaker; in a conference they also hear
    /// each other.
    Route { live: Vec<CallId>, conference: bool },
}

enum Input {
    /// The shared microphone.
    Mic,
    Source(Mutex<Box<dyn FrameSource + Send>>),
}

/// A call's audio: where its outgoing audio comes from, where its incoming audio goes.
pub struct Port {
    input: Input,
    speaker: bool,
    record: Option<WavSink>,
    ringback: Option<CadencedTone>,
    feedback: ToneQueue,
    /// The far end's frame this tick (silence when none came).
    rx: Vec<i16>,
}

struct Silence;

impl FrameSource for Silence {
    fn read_frame(&mut self, out: &mut [i16]) -> bool {
        out.fill(0);
        true
    }
}

/// The audio test: a tone on a chosen speaker while a chosen microphone is metered.
struct AudioTest {
    speaker: Speaker,
    tone: ToneSource,
    mic: Mutex<Capture>,
    meter: LevelMeter,
    /// Set by its first tick.
    until: Option<Instant>,
}

/// A stream of the wrong direction came back (a bug of ours, never the user's).
fn mixed_up() -> EngineError {
    EngineError::new(
        crate::error::ErrorCode::EngineFailed,
        "the device thread opened a stream of the wrong direction",
    )
}

/// The audio test's streams as they arrive from the device thread.
#[derive(Default)]
struct TestOpening {
    speaker: Option<Result<Playback, EngineError>>,
    mic: Option<Result<Capture, EngineError>>,
}

/// The hub (see the module's drawing).
pub struct AudioHub {
    pub(crate) env: AudioEnv,
    ports: BTreeMap<CallId, Port>,
    live: Vec<CallId>,
    conference: bool,
    mic: Option<(Mutex<Capture>, LevelMeter)>,
    speaker: Option<Speaker>,
    ringer: Option<(Speaker, CadencedTone)>,
    ring: RingMode,
    waiting: Option<CadencedTone>,
    busy: Option<(CadencedTone, Instant)>,
    test: Option<AudioTest>,
    /// The audio test's devices while they open, and its answer once they did.
    test_opening: Option<TestOpening>,
    test_result: Option<Result<(), EngineError>>,
    /// Opens and closes devices off the caller's thread (the driver's); without one (tests,
    /// the hub on its own) they open in place.
    worker: Option<DeviceWorker>,
    generation: u64,
    /// Opens under way: the generation asked for.
    mic_opening: Option<u64>,
    speaker_opening: Option<u64>,
    ringer_opening: Option<u64>,
    test_mic_opening: Option<u64>,
    test_speaker_opening: Option<u64>,
    /// The ringtone waiting for the ringer's device.
    ringer_tone: Option<CadencedTone>,
    mic_frame: Vec<i16>,
    /// What the microphone's ring held when this tick's frame was read.
    mic_queued: Duration,
    /// The frame the speaker got this tick (the echo canceller's reference).
    rendered: Vec<i16>,
    /// From `rendered` being written to `captured` having been read, through the rings.
    echo_delay: Duration,
    /// What the pacing stream held after the last tick, and when it was last seen to drain.
    paced_after: Option<Duration>,
    drained_at: Option<Instant>,
    scratch: Vec<i16>,
    now: Option<Instant>,
}

impl AudioHub {
    /// A hub over `backend`'s devices with the user's choices.
    pub fn with_backend(
        backend: std::sync::Arc<dyn wren_audio::AudioBackend + Send + Sync>,
        prefs: crate::media::AudioPrefs,
    ) -> Self {
        Self::new(AudioEnv { backend, prefs })
    }

    /// Opens and closes devices through `worker` from now on.
    pub fn use_worker(&mut self, worker: DeviceWorker) {
        self.worker = Some(worker);
    }

    pub(crate) fn new(env: AudioEnv) -> Self {
        Self {
            env,
            ports: BTreeMap::new(),
            live: Vec::new(),
            conference: false,
            mic: None,
            speaker: None,
            ringer: None,
            ring: RingMode::Off,
            waiting: None,
            busy: None,
            test: None,
            test_opening: None,
            test_result: None,
            worker: None,
            generation: 0,
            mic_opening: None,
            speaker_opening: None,
            ringer_opening: None,
            test_mic_opening: None,
            test_speaker_opening: None,
            ringer_tone: None,
            mic_frame: vec![0; FRAME_SAMPLES],
            mic_queued: Duration::ZERO,
            rendered: vec![0; FRAME_SAMPLES],
            echo_delay: Duration::ZERO,
            paced_after: None,
            drained_at: None,
            scratch: vec![0; FRAME_SAMPLES],
            now: None,
        }
    }

    /// Opens what `opts` names that can fail (a WAV to play, a file to record to), before the
    /// call exists, so a typo fails the command instead of the call.
    pub fn prepare(&self, opts: &MediaOptions) -> Result<Port, EngineError> {
        let input = match &opts.input {
            AudioInput::Device => Input::Mic,
            AudioInput::Silence => Input::Source(Mutex::new(Box::new(Silence))),
            AudioInput::Tone(hz) => {
                Input::Source(Mutex::new(Box::new(ToneSource::new(*hz, -12.0))))
            }
            AudioInput::Wav(path) => Input::Source(Mutex::new(Box::new(
                WavSource::open(path).map_err(audio_error)?,
            ))),
        };
        let record = match &opts.record {
            Some(path) => Some(WavSink::create(path).map_err(audio_error)?),
            None => None,
        };
        Ok(Port {
            input,
            speaker: opts.output == AudioOutput::Device,
            record,
            ringback: None,
            feedback: ToneQueue::default(),
            rx: vec![0; FRAME_SAMPLES],
        })
    }

    /// Gives `call` its port.
    pub fn attach(&mut self, call: CallId, port: Port) {
        self.ports.insert(call, port);
        self.update_devices();
    }

    pub fn apply(&mut self, op: AudioOp) {
        match op {
            AudioOp::Move { from, to } => {
                if let Some(mut port) = self.ports.remove(&from) {
                    // The new call records nothing of the old one.
                    port.record = None;
                    port.ringback = None;
                    self.ports.insert(to, port);
                }
            }
            AudioOp::Close { call, busy } => {
                if let Some(port) = self.ports.remove(&call) {
                    if busy && port.speaker {
                        self.busy = self.now.map(|now| (CadencedTone::busy(), now + BUSY_TONE));
                    }
                    if let Some(sink) = port.record {
                        if let Err(e) = sink.finish() {
                            tracing::warn!("finishing the recording failed: {e}");
                        }
                    }
                }
                self.live.retain(|c| *c != call);
            }
            AudioOp::Ringback { call, on } => {
                if let Some(port) = self.ports.get_mut(&call) {
                    port.ringback = on.then(CadencedTone::ringback);
                }
            }
            AudioOp::Dtmf { call, digits } => {
                if let Some(port) = self.ports.get_mut(&call) {
                    port.feedback.push_dtmf(&digits);
                }
            }
            AudioOp::Ring(mode) => self.set_ring(mode),
            AudioOp::Route { live, conference } => {
                self.live = live;
                self.conference = conference;
            }
        }
        self.update_devices();
    }

    fn set_ring(&mut self, mode: RingMode) {
        if mode == self.ring {
            return;
        }
        self.ring = mode;
        self.waiting = None;
        self.ringer_tone = None;
        self.ringer_opening = None;
        if let Some((speaker, _)) = self.ringer.take() {
            self.close(Stream::Playback(Box::new(speaker.into_playback())));
        }
        match mode {
            RingMode::Off => {}
            RingMode::Waiting => self.waiting = Some(CadencedTone::call_waiting()),
            RingMode::Ring => {
                // `Off` rings silently; the UI still shows the call.
                self.ringer_tone = CadencedTone::ringtone(self.env.prefs.ringtone);
                if self.ringer_tone.is_some() {
                    self.open(Slot::Ringer);
                }
            }
        }
    }

    /// Asks for a slot's device: through the worker, or at once without one.
    fn open(&mut self, slot: Slot) {
        let name = match slot {
            Slot::Mic => self.env.prefs.microphone.clone(),
            Slot::Speaker => self.env.prefs.speaker.clone(),
            Slot::Ringer => self.env.prefs.ringer.clone(),
            // Opened by `test_audio` with the devices it names.
            Slot::TestMic | Slot::TestSpeaker => return,
        };
        self.open_named(slot, name);
    }

    /// Asks for `slot` on the device called `name`.
    fn open_named(&mut self, slot: Slot, name: Option<String>) {
        if self.worker.is_some() {
            self.generation += 1;
            let generation = self.generation;
            *self.opening(slot) = Some(generation);
            if let Some(worker) = &self.worker {
                worker.open(slot, generation, name);
            }
        } else {
            let result = self.open_here(slot, name.as_deref());
            self.install(slot, result);
        }
    }

    /// Opens a slot's device on this thread (no worker: tests, the hub on its own).
    fn open_here(&self, slot: Slot, name: Option<&str>) -> Result<Stream, EngineError> {
        match slot {
            Slot::Mic | Slot::TestMic => self
                .env
                .open_capture_from(name)
                .map(|c| Stream::Capture(Box::new(c))),
            Slot::Speaker | Slot::Ringer | Slot::TestSpeaker => self
                .env
                .open_playback(name)
                .map(|p| Stream::Playback(Box::new(p))),
        }
    }

    fn opening(&mut self, slot: Slot) -> &mut Option<u64> {
        match slot {
            Slot::Mic => &mut self.mic_opening,
            Slot::Speaker => &mut self.speaker_opening,
            Slot::Ringer => &mut self.ringer_opening,
            Slot::TestMic => &mut self.test_mic_opening,
            Slot::TestSpeaker => &mut self.test_speaker_opening,
        }
    }

    /// A device the worker opened: installed where it is still wanted (the ringer's stream
    /// may have become the speaker's meanwhile), else closed.
    pub fn device_opened(&mut self, opened: Opened) {
        let slot = [
            Slot::Mic,
            Slot::Speaker,
            Slot::Ringer,
            Slot::TestMic,
            Slot::TestSpeaker,
        ]
        .into_iter()
        .find(|s| *self.opening(*s) == Some(opened.generation));
        let Some(slot) = slot else {
            if let Ok(stream) = opened.result {
                self.close(stream);
            }
            return;
        };
        *self.opening(slot) = None;
        self.install(slot, opened.result);
    }

    fn install(&mut self, slot: Slot, result: Result<Stream, EngineError>) {
        match (slot, result) {
            (Slot::Mic, Ok(Stream::Capture(c))) => {
                let meter = c.meter();
                self.mic = Some((Mutex::new(*c), meter));
            }
            (Slot::Speaker, Ok(Stream::Playback(p))) => self.speaker = Some(Speaker::new(*p)),
            (Slot::Ringer, Ok(Stream::Playback(p))) => match self.ringer_tone.take() {
                Some(tone) => self.ringer = Some((Speaker::new(*p), tone)),
                None => self.close(Stream::Playback(p)),
            },
            (Slot::TestMic, result) => {
                let mic = result.and_then(|s| match s {
                    Stream::Capture(c) => Ok(*c),
                    Stream::Playback(_) => Err(mixed_up()),
                });
                self.test_opening.get_or_insert_with(Default::default).mic = Some(mic);
                self.start_test();
            }
            (Slot::TestSpeaker, result) => {
                let speaker = result.and_then(|s| match s {
                    Stream::Playback(p) => Ok(*p),
                    Stream::Capture(_) => Err(mixed_up()),
                });
                self.test_opening
                    .get_or_insert_with(Default::default)
                    .speaker = Some(speaker);
                self.start_test();
            }
            (_, Ok(stream)) => self.close(stream),
            // No sound device (a server, a test): the call goes on without it.
            (Slot::Ringer, Err(e)) => tracing::debug!("no ringtone: {e}"),
            (Slot::Mic, Err(e)) => tracing::warn!("no microphone: {e}"),
            (Slot::Speaker, Err(e)) => tracing::warn!("no speaker: {e}"),
        }
    }

    /// Closes a stream through the worker (closing joins the stream's thread), logging what
    /// it dropped or padded: the measure of how well the pacing held.
    fn close(&self, stream: Stream) {
        match &stream {
            Stream::Playback(p) => tracing::info!(stats = ?p.stats(), "playback stream closed"),
            Stream::Capture(c) => tracing::info!(stats = ?c.stats(), "capture stream closed"),
        }
        match &self.worker {
            Some(worker) => worker.close(stream),
            None => drop(stream),
        }
    }

    fn close_mic(&mut self) {
        self.mic_opening = None;
        if let Some((capture, _)) = self.mic.take() {
            let capture = capture.into_inner().unwrap_or_else(PoisonError::into_inner);
            self.close(Stream::Capture(Box::new(capture)));
        }
    }

    fn close_speaker(&mut self) {
        self.speaker_opening = None;
        if let Some(speaker) = self.speaker.take() {
            self.close(Stream::Playback(Box::new(speaker.into_playback())));
        }
    }

    /// New devices, ringtone or volume; the streams reopen on the new devices.
    pub(crate) fn set_prefs(&mut self, prefs: crate::media::AudioPrefs) {
        let devices_changed = prefs.microphone != self.env.prefs.microphone
            || prefs.speaker != self.env.prefs.speaker;
        let ring_changed =
            prefs.ringtone != self.env.prefs.ringtone || prefs.ringer != self.env.prefs.ringer;
        self.env.prefs = prefs;
        if devices_changed {
            self.close_mic();
            self.close_speaker();
        }
        if ring_changed {
            let mode = std::mem::replace(&mut self.ring, RingMode::Off);
            self.set_ring(mode);
        }
        self.update_devices();
    }

    /// Opens the shared streams while some port needs them and closes them when none does.
    fn update_devices(&mut self) {
        let want_mic = self.ports.values().any(|p| matches!(p.input, Input::Mic));
        let want_speaker = self.ports.values().any(|p| p.speaker) || self.busy.is_some();
        if !want_mic {
            self.close_mic();
        } else if self.mic.is_none() && self.mic_opening.is_none() {
            self.open(Slot::Mic);
        }
        if !want_speaker {
            self.close_speaker();
        } else if self.speaker.is_none() && self.speaker_opening.is_none() {
            if self.env.prefs.ringer == self.env.prefs.speaker {
                // A call is taking the speaker while the ringer plays on the same device:
                // the ringer's stream becomes the speaker's (a second stream on the device
                // fails with some sound servers, and this one is already running).
                self.ringer_tone = None;
                if let Some((speaker, _)) = self.ringer.take() {
                    self.speaker = Some(speaker);
                    return;
                }
                if let Some(generation) = self.ringer_opening.take() {
                    self.speaker_opening = Some(generation);
                    return;
                }
            }
            self.open(Slot::Speaker);
        }
    }

    /// Whether the hub needs the tick without any call media (tones, tests).
    pub fn active(&self) -> bool {
        !self.ports.is_empty()
            || self.ringer.is_some()
            || self.busy.is_some()
            || self.test.is_some()
    }

    /// Plays a test tone on `speaker` while metering `microphone`, for a second. The devices
    /// open off this thread: the answer (whether both opened) comes from
    /// [`AudioHub::take_test_result`] once they did.
    pub(crate) fn test_audio(&mut self, speaker: Option<String>, microphone: Option<String>) {
        // A test already running or opening gives way to the new one.
        self.end_test();
        self.test_result = None;
        self.test_opening = Some(TestOpening::default());
        self.open_named(Slot::TestSpeaker, speaker);
        self.open_named(Slot::TestMic, microphone);
    }

    /// Starts the test once both its streams are here; the first failure is its answer.
    fn start_test(&mut self) {
        let Some(TestOpening {
            speaker: Some(_),
            mic: Some(_),
        }) = &self.test_opening
        else {
            return;
        };
        let Some(TestOpening {
            speaker: Some(speaker),
            mic: Some(mic),
        }) = self.test_opening.take()
        else {
            return;
        };
        match (speaker, mic) {
            (Ok(speaker), Ok(capture)) => {
                let meter = capture.meter();
                self.test = Some(AudioTest {
                    speaker: Speaker::new(speaker),
                    tone: ToneSource::new(440.0, -12.0),
                    mic: Mutex::new(capture),
                    meter,
                    until: None,
                });
                self.test_result = Some(Ok(()));
            }
            (speaker, mic) => {
                let mut error = None;
                match speaker {
                    Ok(p) => self.close(Stream::Playback(Box::new(p))),
                    Err(e) => error = Some(e),
                }
                match mic {
                    Ok(c) => self.close(Stream::Capture(Box::new(c))),
                    Err(e) => error = error.or(Some(e)),
                }
                self.test_result = error.map(Err);
            }
        }
    }

    /// Stops the audio test, if one runs or opens.
    fn end_test(&mut self) {
        self.test_mic_opening = None;
        self.test_speaker_opening = None;
        self.test_opening = None;
        if let Some(test) = self.test.take() {
            self.close(Stream::Playback(Box::new(test.speaker.into_playback())));
            let mic = test
                .mic
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            self.close(Stream::Capture(Box::new(mic)));
        }
    }

    /// The audio test's answer, once its devices opened (or failed to).
    pub(crate) fn take_test_result(&mut self) -> Option<Result<(), EngineError>> {
        self.test_result.take()
    }

    /// Microphone and speaker levels since the last call.
    pub fn levels(&self) -> Levels {
        if let Some(test) = &self.test {
            return Levels {
                input_dbfs: test.meter.take().rms_dbfs,
                output_dbfs: test.speaker.level(),
            };
        }
        Levels {
            input_dbfs: self
                .mic
                .as_ref()
                .map_or(SILENCE_DBFS, |(_, m)| m.take().rms_dbfs),
            output_dbfs: self.speaker.as_ref().map_or(SILENCE_DBFS, Speaker::level),
        }
    }

    /// The frame the speaker stream got in the last tick (the echo canceller's reference).
    pub fn rendered(&self) -> &[i16] {
        &self.rendered
    }

    /// The microphone frame read in the last tick (what the echo canceller cleans).
    pub fn captured(&self) -> &[i16] {
        &self.mic_frame
    }

    /// How long after the last `rendered` frame reached its ring a sound from it can be in
    /// `captured` at the earliest: the audio queued ahead of it for the speaker plus the
    /// audio queued behind the microphone frame (the devices' own buffers come on top).
    pub fn echo_delay(&self) -> Duration {
        self.echo_delay
    }

    /// The stream whose device paces the ticks: the calls' speaker, else the audio test's,
    /// else the ringer's.
    fn pacing_queue(&self) -> Option<Duration> {
        self.speaker
            .as_ref()
            .or(self.test.as_ref().map(|t| &t.speaker))
            .or(self.ringer.as_ref().map(|(s, _)| s))
            .map(Speaker::queued)
    }

    /// How many ticks are due at `now` (see the module's notes).
    pub fn pace(&self, now: Instant) -> Pace {
        let Some(queued) = self.pacing_queue() else {
            return Pace::Free;
        };
        // A device that took nothing for STALL (unplugged, a stuck sound server) no longer
        // paces: the driver's clock keeps the calls' RTP going until it drains again.
        let stall_at = self.drained_at.map(|at| at + STALL);
        if stall_at.is_some_and(|at| now >= at) {
            return Pace::Free;
        }
        let frames = if queued <= TARGET {
            ((TARGET + FRAME - queued).as_micros() / FRAME.as_micros()).min(MAX_BURST) as usize
        } else {
            0
        };
        let mut wait = queued.saturating_sub(TARGET).max(MIN_WAIT);
        if let Some(at) = stall_at {
            wait = wait.min(at.saturating_duration_since(now).max(MIN_WAIT));
        }
        Pace::Device { frames, wait }
    }

    fn is_live(&self, call: CallId) -> bool {
        self.live.contains(&call)
    }
}
