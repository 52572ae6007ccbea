//! The cpal backend against a real PulseAudio daemon, started by `tests/lab/pulse-start.sh`
//! (which `tests/run.sh` runs): its default source is the default sink's monitor, so what the
//! speaker plays the microphone records. Fails, never skips, without the daemon.

use std::time::{Duration, Instant};

use wren_audio::{
    AudioBackend, Capture, CpalBackend, DeviceConfig, Direction, FrameSource, Playback,
    FRAME_SAMPLES, SAMPLE_RATE,
};
use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, sine_i16};

fn backend() -> CpalBackend {
    let server = std::env::var("PULSE_SERVER").unwrap_or_default();
    assert!(
        !server.is_empty(),
        "PULSE_SERVER is not set: start PulseAudio with tests/lab/pulse-start.sh RUNDIR and \
         export PULSE_SERVER=unix:RUNDIR/pulse/native"
    );
    CpalBackend::new()
}

#[test]
fn a_running_pulseaudio_is_used_natively_not_through_alsa() {
    assert_eq!(backend().host_name(), "PulseAudio");
}

#[test]
fn lists_the_default_devices() {
    let backend = backend();
    for direction in [Direction::Input, Direction::Output] {
        let devices = backend.devices(direction).unwrap();
        assert!(
            devices.iter().filter(|d| d.is_default).count() == 1,
            "{direction:?}: {devices:?}"
        );
    }
}

#[test]
fn a_tone_played_on_the_default_speaker_is_recorded_by_the_default_microphone() {
    let backend = backend();
    // Generous: the test paces itself with sleeps on a shared machine.
    let config = DeviceConfig {
        target_latency: Duration::from_millis(100),
        capacity: Duration::from_millis(500),
    };
    let mut playback = Playback::open(&backend, None, config).unwrap();
    let mut capture = Capture::open(&backend, None, config).unwrap();
    // One second of 1 kHz is whole cycles: looping it is seamless.
    let tone = sine_i16(1000.0, -6.0, SAMPLE_RATE, SAMPLE_RATE as usize);
    let meter = capture.meter();
    let mut recorded = Vec::new();
    let mut first = None;
    let mut frame = [0i16; FRAME_SAMPLES];
    let start = Instant::now();
    // A fresh daemon can take a second or two to get audio flowing: play until the tone
    // comes back, then record a few seconds of it.
    for (i, out) in tone.chunks(FRAME_SAMPLES).cycle().enumerate() {
        let due = start + Duration::from_millis(20 * i as u64);
        assert!(
            due < start + Duration::from_secs(15),
            "no tone recorded in 15 s; capture {:?}, playback {:?}",
            capture.stats(),
            playback.stats()
        );
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        playback.write_frame(out);
        capture.read_frame(&mut frame);
        if first.is_none() && frame.iter().any(|s| s.unsigned_abs() > 1000) {
            first = Some(recorded.len());
            meter.take();
        }
        recorded.extend_from_slice(&frame);
        if first.is_some_and(|at| recorded.len() >= at + 3 * SAMPLE_RATE as usize) {
            break;
        }
    }
    let first = first.expect("the loop ends once the tone was recorded");
    // The steadiest half second, past the start-up: a loaded machine may starve the device
    // threads (this test proves the path, not real-time scheduling).
    let window = SAMPLE_RATE as usize / 2;
    let steady = (first + window..recorded.len() - window)
        .step_by(FRAME_SAMPLES)
        .map(|at| &recorded[at..at + window])
        .min_by(|a, b| {
            let off = |w: &[i16]| (goertzel_power_dbfs(w, SAMPLE_RATE, 1000.0) + 6.0).abs();
            off(a).total_cmp(&off(b))
        })
        .expect("more than a second of tone");
    let power = goertzel_power_dbfs(steady, SAMPLE_RATE, 1000.0);
    assert!(
        (power + 6.0).abs() < 0.5,
        "{power} dBFS; capture {:?}, playback {:?}",
        capture.stats(),
        playback.stats()
    );
    let freq = dominant_frequency(steady, SAMPLE_RATE);
    assert!((freq - 1000.0).abs() < 1.0, "{freq} Hz");
    // The meter saw the tone (its peak may include a start-up click).
    let level = meter.take();
    assert!(level.peak_dbfs > -7.0 && level.rms_dbfs > -9.0, "{level:?}");
    assert!(!capture.stats().lost && !playback.stats().lost);
}
