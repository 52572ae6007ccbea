//! The audio hub against the fake sound backend: one microphone stream and one speaker stream
//! shared by every call, the mix, where the microphone goes, the frame the speaker got, and no
//! allocation per frame.

use assert_no_alloc::{assert_no_alloc, reset_violation_count, violation_count, AllocDisabler};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wren_audio::{DeviceFormat, FakeBackend, FrameSource, ToneSource, FRAME_SAMPLES};
use wren_engine::core::AudioPorts;
use wren_engine::hub::{AudioHub, AudioOp, Pace, STALL, TARGET};
use wren_engine::{AudioPrefs, CallId, MediaOptions};
use wren_testkit::tone::{goertzel_power_dbfs, sine};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const A: CallId = CallId(1);
const B: CallId = CallId(2);

fn fake() -> FakeBackend {
    let format = DeviceFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    FakeBackend::new()
        .with_input("mic", format)
        .with_output("speaker", format)
}

fn hub_with_two_calls(fake: &FakeBackend) -> AudioHub {
    let mut hub = AudioHub::with_backend(Arc::new(fake.clone()), AudioPrefs::default());
    for call in [A, B] {
        let port = hub.prepare(&MediaOptions::devices()).expect("device port");
        hub.attach(call, port);
    }
    hub
}

/// Far-end frames for a call: a tone of its own.
struct Far(ToneSource);

impl Far {
    fn frame(&mut self) -> [i16; FRAME_SAMPLES] {
        let mut f = [0; FRAME_SAMPLES];
        self.0.read_frame(&mut f);
        f
    }
}

fn level(samples: &[i16], hz: f32) -> f64 {
    goertzel_power_dbfs(samples, 48_000, hz)
}

/// One tick: the microphone delivers its frame, both far ends theirs; returns what each call
/// sends and what the hub rendered.
fn tick(
    hub: &mut AudioHub,
    fake: &FakeBackend,
    now: Instant,
    mic: &[f32],
    far: &mut [Far; 2],
) -> ([Vec<i16>; 2], Vec<i16>) {
    let (sent, rendered, _) = tick_with_far(hub, fake, now, mic, far);
    (sent, rendered)
}

/// [`tick`], also returning the far ends' frames of this tick.
fn tick_with_far(
    hub: &mut AudioHub,
    fake: &FakeBackend,
    now: Instant,
    mic: &[f32],
    far: &mut [Far; 2],
) -> ([Vec<i16>; 2], Vec<i16>, [[i16; FRAME_SAMPLES]; 2]) {
    assert!(fake.capture(mic), "the microphone stream runs");
    hub.begin(now);
    let frames = [far[0].frame(), far[1].frame()];
    hub.play(A, Some(&frames[0]));
    hub.play(B, Some(&frames[1]));
    let mut sent = [vec![0; FRAME_SAMPLES], vec![0; FRAME_SAMPLES]];
    hub.capture(A, &mut sent[0]);
    hub.capture(B, &mut sent[1]);
    hub.end(now);
    (sent, hub.rendered().to_vec(), frames)
}

#[test]
fn two_calls_share_one_microphone_and_one_speaker() {
    let fake = fake();
    let mut hub = hub_with_two_calls(&fake);
    // Two device-audio calls opened one stream each way, not two.
    assert_eq!(fake.running_input().as_deref(), Some("mic"));
    assert_eq!(fake.running_output().as_deref(), Some("speaker"));
    hub.apply(AudioOp::Close {
        call: A,
        busy: false,
    });
    assert!(
        fake.running_input().is_some(),
        "B still uses the microphone"
    );
    hub.apply(AudioOp::Close {
        call: B,
        busy: false,
    });
    assert_eq!(
        fake.running_input(),
        None,
        "the last call closed the microphone"
    );
    assert_eq!(fake.running_output(), None, "and the speaker");
}

#[test]
fn focus_moves_the_microphone() {
    let fake = fake();
    let mut hub = hub_with_two_calls(&fake);
    let mic = sine(1000.0, -6.0, 48_000, FRAME_SAMPLES);
    let mut far = [
        Far(ToneSource::new(440.0, -12.0)),
        Far(ToneSource::new(880.0, -12.0)),
    ];
    let now = Instant::now();
    for (live, hears, silent) in [(A, 0, 1), (B, 1, 0)] {
        hub.apply(AudioOp::Route {
            live: vec![live],
            conference: false,
        });
        let mut sent = [Vec::new(), Vec::new()];
        // Past the capture ring's 40 ms of prefilled silence.
        for _ in 0..5 {
            (sent, _) = tick(&mut hub, &fake, now, &mic, &mut far);
        }
        assert!(
            level(&sent[hears], 1000.0) > -10.0,
            "{live:?} gets the microphone"
        );
        assert!(
            level(&sent[silent], 1000.0) < -45.0,
            "the other call gets nothing"
        );
        // The held call's far end isn't heard either.
        let (_, rendered) = tick(&mut hub, &fake, now, &mic, &mut far);
        let (heard, not) = if hears == 0 {
            (440.0, 880.0)
        } else {
            (880.0, 440.0)
        };
        assert!(level(&rendered, heard) > -20.0);
        assert!(level(&rendered, not) < -45.0);
    }
}

#[test]
fn conference_mixes_both_legs_and_the_speaker_gets_exactly_the_rendered_frame() {
    let fake = fake();
    let mut hub = hub_with_two_calls(&fake);
    hub.apply(AudioOp::Route {
        live: vec![A, B],
        conference: true,
    });
    let silent_mic = vec![0.0f32; FRAME_SAMPLES];
    let mic = sine(1000.0, -6.0, 48_000, FRAME_SAMPLES);
    let mut far = [
        Far(ToneSource::new(440.0, -12.0)),
        Far(ToneSource::new(880.0, -12.0)),
    ];
    let now = Instant::now();
    let mut rendered = Vec::new();
    let mut played = Vec::new();
    let mut out = vec![0.0f32; FRAME_SAMPLES];
    for round in 0..12 {
        let mic = if round < 6 { &silent_mic } else { &mic };
        let (sent, r, frames) = tick_with_far(&mut hub, &fake, now, mic, &mut far);
        rendered.extend_from_slice(&r);
        assert!(fake.play(&mut out));
        played.extend(out.iter().map(|s| (s * 32768.0).round() as i32));
        if round < 6 {
            // Exactly: A sends what B's far end said and B what A's said, never their own;
            // the speaker gets both.
            assert_eq!(sent[0], frames[1], "A hears B and only B");
            assert_eq!(sent[1], frames[0], "B hears A and only A");
            let both: Vec<i16> = frames[0]
                .iter()
                .zip(&frames[1])
                .map(|(a, b)| a.saturating_add(*b))
                .collect();
            assert_eq!(r, both, "the speaker gets both far ends");
        } else if round > 8 {
            // Past the capture ring's prefill: the microphone goes to both legs too.
            assert!(level(&sent[0], 1000.0) > -10.0 && level(&sent[1], 1000.0) > -10.0);
            assert!(level(&sent[0], 880.0) > -20.0 && level(&sent[1], 440.0) > -20.0);
        }
    }
    // The speaker ring starts with 40 ms of silence; after it, the device got exactly the
    // frames the hub rendered, in order (to within the float conversion).
    let prefill = 2 * FRAME_SAMPLES;
    assert!(played[..prefill].iter().all(|s| *s == 0));
    let n = played.len() - prefill;
    let mismatch = played[prefill..]
        .iter()
        .zip(&rendered[..n])
        .position(|(p, r)| (p - i32::from(*r)).abs() > 1);
    assert_eq!(mismatch, None, "the device played the rendered frames");
}

#[test]
fn a_tick_allocates_nothing() {
    let fake = fake();
    let mut hub = hub_with_two_calls(&fake);
    hub.apply(AudioOp::Route {
        live: vec![A, B],
        conference: true,
    });
    hub.apply(AudioOp::Ring(wren_engine::core::RingMode::Waiting));
    hub.apply(AudioOp::Dtmf {
        call: A,
        digits: "5".into(),
    });
    let mic = sine(1000.0, -6.0, 48_000, FRAME_SAMPLES);
    let a = [1i16; FRAME_SAMPLES];
    let b = [2i16; FRAME_SAMPLES];
    let mut sent = [0i16; FRAME_SAMPLES];
    let mut out = vec![0.0f32; FRAME_SAMPLES];
    let mut now = Instant::now();
    // Warm up (tones size their scratch once), then count.
    for round in 0..60 {
        if round == 10 {
            reset_violation_count();
        }
        now += Duration::from_millis(20);
        assert!(fake.capture(&mic));
        let mut step = || {
            hub.begin(now);
            hub.play(A, Some(&a));
            hub.play(B, Some(&b));
            hub.capture(A, &mut sent);
            hub.capture(B, &mut sent);
            hub.end(now);
        };
        if round >= 10 {
            assert_no_alloc(step);
        } else {
            step();
        }
        assert!(fake.play(&mut out));
    }
    assert_eq!(violation_count(), 0, "allocations in the hub's tick");
}

const FRAME_TIME: Duration = Duration::from_millis(20);

/// The frames due and, when none is, how long until one is.
fn due(hub: &AudioHub, now: Instant) -> (usize, Duration) {
    match hub.pace(now) {
        Pace::Device { frames, wait } => (frames, wait),
        Pace::Free => panic!("a speaker plays, yet the hub runs on the driver's clock"),
    }
}

/// One tick with silence everywhere.
fn quiet_tick(hub: &mut AudioHub, now: Instant) {
    let silence = [0i16; FRAME_SAMPLES];
    let mut sent = [0i16; FRAME_SAMPLES];
    hub.begin(now);
    hub.play(A, Some(&silence));
    hub.capture(A, &mut sent);
    hub.end(now);
}

/// The device takes `ms` of audio (at 48 kHz).
fn device_plays(fake: &FakeBackend, ms: usize) {
    let mut out = vec![0.0f32; ms * 48];
    assert!(fake.play(&mut out), "the speaker stream runs");
}

#[test]
fn the_speaker_device_paces_the_ticks() {
    let fake = fake();
    let mut hub = hub_with_two_calls(&fake);
    let t0 = Instant::now();
    // The ring starts with TARGET of silence: one frame is due at once.
    assert_eq!(TARGET, Duration::from_millis(40));
    assert_eq!(due(&hub, t0).0, 1);
    quiet_tick(&mut hub, t0);
    // 60 ms queued: nothing is due until the device has played 20 ms of it.
    assert_eq!(due(&hub, t0), (0, Duration::from_millis(20)));
    device_plays(&fake, 10);
    assert_eq!(due(&hub, t0), (0, Duration::from_millis(10)));
    device_plays(&fake, 10);
    assert_eq!(due(&hub, t0).0, 1, "the device asked for the next frame");
    // The device ran ahead (a burst of callbacks): enough frames to refill to TARGET.
    device_plays(&fake, 40);
    assert_eq!(due(&hub, t0).0, 3);
    for _ in 0..3 {
        quiet_tick(&mut hub, t0);
    }
    assert_eq!(due(&hub, t0).0, 0);
    // A device that stops taking audio stops pacing: STALL after it last drained, the
    // driver's clock takes over (and the wait never runs past that point)...
    let (_, wait) = due(&hub, t0 + STALL - Duration::from_millis(5));
    assert!(wait <= Duration::from_millis(5), "{wait:?}");
    assert_eq!(hub.pace(t0 + STALL), Pace::Free);
    quiet_tick(&mut hub, t0 + STALL);
    assert_eq!(
        hub.pace(t0 + STALL + FRAME_TIME),
        Pace::Free,
        "still stalled"
    );
    // ...until it drains again.
    device_plays(&fake, 100);
    // The echo canceller's delay: what the speaker's ring held before this frame, plus what
    // waited behind the microphone frame read (one frame captured ahead of the next tick).
    assert!(fake.capture(&[0.0; 2 * FRAME_SAMPLES]));
    quiet_tick(&mut hub, t0 + STALL + FRAME_TIME);
    assert!(matches!(
        hub.pace(t0 + STALL + FRAME_TIME),
        Pace::Device { .. }
    ));
    let queued_ahead = Duration::from_millis(60 + 20 + 20 - 100);
    assert_eq!(hub.echo_delay(), queued_ahead + Duration::from_millis(20));
}

#[test]
fn without_a_speaker_the_driver_clock_paces() {
    let fake = fake();
    let mut hub = AudioHub::with_backend(Arc::new(fake.clone()), AudioPrefs::default());
    let tone = MediaOptions {
        input: wren_engine::AudioInput::Tone(440.0),
        ..Default::default()
    };
    let port = hub.prepare(&tone).expect("tone port");
    hub.attach(A, port);
    assert_eq!(fake.running_output(), None);
    assert_eq!(hub.pace(Instant::now()), Pace::Free);
}

/// A backend whose devices take as long to open as the test says: each open waits for a go.
struct Slow {
    inner: FakeBackend,
    go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl wren_audio::AudioBackend for Slow {
    fn devices(
        &self,
        direction: wren_audio::Direction,
    ) -> Result<Vec<wren_audio::DeviceInfo>, wren_audio::AudioError> {
        self.inner.devices(direction)
    }

    fn start_input(
        &self,
        name: Option<&str>,
        make: wren_audio::MakeInput<'_>,
    ) -> Result<wren_audio::RunningStream, wren_audio::AudioError> {
        let go = self.go.lock().unwrap();
        go.recv_timeout(Duration::from_secs(10))
            .expect("the test lets the device open");
        self.inner.start_input(name, make)
    }

    fn start_output(
        &self,
        name: Option<&str>,
        make: wren_audio::MakeOutput<'_>,
    ) -> Result<wren_audio::RunningStream, wren_audio::AudioError> {
        let go = self.go.lock().unwrap();
        go.recv_timeout(Duration::from_secs(10))
            .expect("the test lets the device open");
        self.inner.start_output(name, make)
    }
}

#[test]
fn devices_open_and_close_off_the_callers_thread() {
    let fake = fake();
    let (go_tx, go_rx) = std::sync::mpsc::channel();
    let slow = Arc::new(Slow {
        inner: fake.clone(),
        go: std::sync::Mutex::new(go_rx),
    });
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let mut hub = AudioHub::with_backend(slow.clone(), AudioPrefs::default());
    hub.use_worker(wren_engine::devices::DeviceWorker::spawn(slow, done_tx).unwrap());
    // Attaching a device port returns while both devices are still opening (if it waited,
    // nobody would send the go and it would fail after 10 s).
    let port = hub.prepare(&MediaOptions::devices()).unwrap();
    hub.attach(A, port);
    assert_eq!(fake.running_input(), None);
    assert_eq!(fake.running_output(), None);
    for _ in 0..2 {
        go_tx.send(()).unwrap();
        let opened = done
            .blocking_recv()
            .expect("an answer from the device thread");
        hub.device_opened(opened);
    }
    assert_eq!(fake.running_input().as_deref(), Some("mic"));
    assert_eq!(fake.running_output().as_deref(), Some("speaker"));
    // A device that finishes opening after its call is gone is closed, not kept.
    hub.apply(AudioOp::Close {
        call: A,
        busy: false,
    });
    let port = hub.prepare(&MediaOptions::devices()).unwrap();
    hub.attach(B, port);
    hub.apply(AudioOp::Close {
        call: B,
        busy: false,
    });
    for _ in 0..2 {
        go_tx.send(()).unwrap();
        hub.device_opened(done.blocking_recv().expect("an answer"));
    }
    // Closing goes through the device thread too: wait until it has run.
    for _ in 0..100 {
        if fake.running_input().is_none() && fake.running_output().is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fake.running_input(), None, "the late microphone was closed");
    assert_eq!(fake.running_output(), None, "the late speaker was closed");
}

/// The audio test opens its devices on the device thread and answers once they did: a tone
/// on the chosen speaker, or the device's error for one that isn't there.
#[tokio::test]
async fn the_audio_test_opens_its_devices_off_the_driver() {
    let fake = fake();
    let (engine, _events) = wren_engine::start_empty(Arc::new(fake.clone()), AudioPrefs::default());
    engine
        .test_audio(Some("speaker".into()), Some("mic".into()))
        .await
        .expect("both devices open");
    assert_eq!(fake.running_output().as_deref(), Some("speaker"));
    assert_eq!(fake.running_input().as_deref(), Some("mic"));
    // The tone plays on the device (the driver ticks it while the test runs).
    let mut heard = 0.0f32;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut out = vec![0.0f32; FRAME_SAMPLES];
        fake.play(&mut out);
        heard = heard.max(out.iter().fold(0.0, |m, s| m.max(s.abs())));
        if heard > 0.1 {
            break;
        }
    }
    assert!(
        heard > 0.1,
        "the test tone reached the speaker (peak {heard})"
    );
    let e = engine
        .test_audio(Some("no such speaker".into()), None)
        .await
        .unwrap_err();
    assert_eq!(e.code, wren_engine::ErrorCode::AudioNoDevice, "{e}");
    engine.shutdown().await;
}
