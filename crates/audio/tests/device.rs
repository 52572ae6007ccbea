//! The device pipelines against the fake backend: rate and channel conversion, ring hand-off,
//! drop counting, and callbacks that never allocate.

use std::time::Duration;

use assert_no_alloc::{assert_no_alloc, reset_violation_count, violation_count, AllocDisabler};
use wren_audio::{
    AudioBackend, Capture, DeviceConfig, DeviceFormat, DeviceInfo, Direction, FakeBackend,
    FrameSource, Playback, StreamFault, StreamStats, FRAME_SAMPLES,
};
use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, sine, sine_i16};

// Counts allocations made inside `assert_no_alloc` on this thread (warn mode: see the
// workspace dependency's features).
#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const MIC: &str = "Built-in Microphone";
const HEADSET: &str = "USB Headset";

fn format(sample_rate: u32, channels: u16) -> DeviceFormat {
    DeviceFormat {
        sample_rate,
        channels,
    }
}

fn mic(sample_rate: u32, channels: u16) -> FakeBackend {
    FakeBackend::new().with_input(MIC, format(sample_rate, channels))
}

fn speaker(sample_rate: u32, channels: u16) -> FakeBackend {
    FakeBackend::new().with_output(HEADSET, format(sample_rate, channels))
}

/// Copies mono `samples` into every channel.
fn interleave(samples: &[f32], channels: usize) -> Vec<f32> {
    samples
        .iter()
        .flat_map(|&s| std::iter::repeat_n(s, channels))
        .collect()
}

/// Runs 20 ms ticks: the device captures one tick of `mono` (interleaved to its channels), the
/// engine reads one frame. Returns what the engine read.
fn capture_ticks(fake: &FakeBackend, capture: &mut Capture, mono: &[f32]) -> Vec<i16> {
    let format = capture.format();
    let per_tick = (format.sample_rate / 50) as usize;
    let mut out = Vec::new();
    for tick in mono.chunks(per_tick) {
        assert!(fake.capture(&interleave(tick, usize::from(format.channels))));
        let mut frame = [0i16; FRAME_SAMPLES];
        assert!(capture.read_frame(&mut frame));
        out.extend_from_slice(&frame);
    }
    out
}

/// Runs 20 ms ticks: the engine writes one frame of `pcm`, the device plays one tick. Returns
/// what the device played, interleaved.
fn playback_ticks(fake: &FakeBackend, playback: &mut Playback, pcm: &[i16]) -> Vec<f32> {
    let format = playback.format();
    let per_tick = (format.sample_rate / 50) as usize * usize::from(format.channels);
    let mut out = Vec::new();
    for frame in pcm.chunks(FRAME_SAMPLES) {
        playback.write_frame(frame);
        let mut buffer = vec![0.0; per_tick];
        assert!(fake.play(&mut buffer));
        out.extend_from_slice(&buffer);
    }
    out
}

fn channel(interleaved: &[f32], channels: usize, which: usize) -> Vec<f32> {
    interleaved
        .iter()
        .skip(which)
        .step_by(channels)
        .copied()
        .collect()
}

#[test]
fn lists_devices_and_opens_the_default_or_the_named_one() {
    let fake = mic(48_000, 1).with_input(HEADSET, format(16_000, 1));
    assert_eq!(
        fake.devices(Direction::Input).unwrap(),
        vec![
            DeviceInfo {
                name: MIC.into(),
                is_default: true
            },
            DeviceInfo {
                name: HEADSET.into(),
                is_default: false
            },
        ]
    );
    assert!(fake.devices(Direction::Output).unwrap().is_empty());

    let default = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    assert_eq!(fake.running_input().as_deref(), Some(MIC));
    drop(default);

    let named = Capture::open(&fake, Some(HEADSET), DeviceConfig::default()).unwrap();
    assert_eq!(named.format(), format(16_000, 1));
    assert_eq!(fake.running_input().as_deref(), Some(HEADSET));

    let missing = Capture::open(&fake, Some("Gone"), DeviceConfig::default()).unwrap_err();
    assert_eq!(missing.code(), "audio.no_device");
    let no_speaker = Playback::open(&fake, None, DeviceConfig::default()).unwrap_err();
    assert_eq!(no_speaker.code(), "audio.no_device");
}

#[test]
fn dropping_a_stream_stops_its_device() {
    let fake = mic(48_000, 1).with_output(HEADSET, format(48_000, 2));
    let capture = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    let playback = Playback::open(&fake, None, DeviceConfig::default()).unwrap();
    drop(capture);
    drop(playback);
    assert!(!fake.capture(&[0.0; 960]));
    assert!(!fake.play(&mut [0.0; 1920]));
}

#[test]
fn a_48k_ring_hands_samples_over_unchanged_after_the_prefill() {
    let fake = mic(48_000, 1);
    let mut capture = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    let ramp: Vec<f32> = (0..4800)
        .map(|i| (i % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let got = capture_ticks(&fake, &mut capture, &ramp);
    // 40 ms of prefill: two frames of silence, then the ramp, sample for sample.
    let prefill = 2 * FRAME_SAMPLES;
    assert!(got[..prefill].iter().all(|&s| s == 0));
    for (i, (&g, &r)) in got[prefill..].iter().zip(&ramp).enumerate() {
        assert!(
            (i32::from(g) - (r * 32767.0).round() as i32).abs() <= 1,
            "sample {i}"
        );
    }
    assert_eq!(capture.stats(), StreamStats::default());

    let fake = speaker(48_000, 1);
    let mut playback = Playback::open(&fake, None, DeviceConfig::default()).unwrap();
    let pcm: Vec<i16> = (0..4800).map(|i| (i % 2000 - 1000) as i16 * 30).collect();
    let played = playback_ticks(&fake, &mut playback, &pcm);
    assert!(played[..prefill].iter().all(|&s| s == 0.0));
    for (i, (&p, &s)) in played[prefill..].iter().zip(&pcm).enumerate() {
        assert_eq!(p, f32::from(s) / 32768.0, "sample {i}");
    }
    assert_eq!(playback.stats(), StreamStats::default());
}

#[test]
fn a_44k1_microphone_delivers_a_1khz_tone_at_48k_at_its_level() {
    let fake = mic(44_100, 1);
    let mut capture = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    let meter = capture.meter();
    let got = capture_ticks(&fake, &mut capture, &sine(1000.0, -6.0, 44_100, 44_100));
    assert_eq!(got.len(), 48_000);
    assert_eq!(capture.stats(), StreamStats::default());
    // Past the prefill and the resampler's delay: the steady tone.
    let steady = &got[9600..];
    assert!((dominant_frequency(steady, 48_000) - 1000.0).abs() < 0.5);
    let power = goertzel_power_dbfs(steady, 48_000, 1000.0);
    assert!((power + 6.0).abs() < 0.2, "{power} dBFS");
    let level = meter.take();
    assert!((level.peak_dbfs + 6.0).abs() < 0.2, "{level:?}");
    // The window also held the prefill's silence, which pulls the RMS down a little.
    assert!(level.rms_dbfs < -6.0 && level.rms_dbfs > -7.0, "{level:?}");
}

#[test]
fn a_44k1_speaker_plays_a_48k_1khz_tone_at_its_level() {
    let fake = speaker(44_100, 1);
    let mut playback = Playback::open(&fake, None, DeviceConfig::default()).unwrap();
    let played = playback_ticks(
        &fake,
        &mut playback,
        &sine_i16(1000.0, -6.0, 48_000, 48_000),
    );
    assert_eq!(played.len(), 44_100);
    assert_eq!(playback.stats(), StreamStats::default());
    let steady = &played[8820..];
    assert!((dominant_frequency(steady, 44_100) - 1000.0).abs() < 0.5);
    let power = goertzel_power_dbfs(steady, 44_100, 1000.0);
    assert!((power + 6.0).abs() < 0.2, "{power} dBFS");
    assert!((playback.meter().take().peak_dbfs + 6.0).abs() < 0.1);
}

#[test]
fn a_stereo_microphone_is_mixed_down_to_the_mono_pipeline() {
    let fake = mic(48_000, 2);
    let mut capture = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    let tone = sine(1000.0, -6.0, 48_000, 9600);
    let mut stereo = interleave(&tone, 2);
    // Left carries the tone, right its inverse at half the level: their average is a quarter
    // of the tone, 12 dB down.
    for frame in stereo.chunks_exact_mut(2) {
        frame[1] = -frame[0] * 0.5;
    }
    let mut got = Vec::new();
    for tick in stereo.chunks(2 * 960) {
        assert!(fake.capture(tick));
        let mut frame = [0i16; FRAME_SAMPLES];
        capture.read_frame(&mut frame);
        got.extend_from_slice(&frame);
    }
    let steady = &got[2 * FRAME_SAMPLES..];
    let power = goertzel_power_dbfs(steady, 48_000, 1000.0);
    assert!((power + 18.0).abs() < 0.2, "{power} dBFS");
}

#[test]
fn the_mono_pipeline_plays_on_every_speaker_channel() {
    let fake = speaker(48_000, 2);
    let mut playback = Playback::open(&fake, None, DeviceConfig::default()).unwrap();
    let played = playback_ticks(&fake, &mut playback, &sine_i16(1000.0, -6.0, 48_000, 9600));
    let (left, right) = (channel(&played, 2, 0), channel(&played, 2, 1));
    assert_eq!(left, right);
    assert_eq!(left.len(), 9600);
    let power = goertzel_power_dbfs(&left[2 * FRAME_SAMPLES..], 48_000, 1000.0);
    assert!((power + 6.0).abs() < 0.2, "{power} dBFS");
}

#[test]
fn capture_counts_an_underrun_when_the_device_falls_behind() {
    let fake = mic(48_000, 1);
    let mut capture = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    let mut frame = [1i16; FRAME_SAMPLES];
    // The 40 ms prefill covers two reads; the third finds nothing and yields silence.
    for _ in 0..3 {
        assert!(capture.read_frame(&mut frame));
    }
    assert_eq!(frame, [0; FRAME_SAMPLES]);
    assert_eq!(capture.stats().underruns, 1);
    // The device catching up ends it.
    assert!(fake.capture(&[0.25; FRAME_SAMPLES]));
    capture.read_frame(&mut frame);
    assert_eq!(frame, [8192; FRAME_SAMPLES]);
    assert_eq!(capture.stats().underruns, 1);
    assert_eq!(capture.stats().overruns, 0);
}

#[test]
fn capture_counts_an_overrun_for_each_callback_that_finds_the_ring_full() {
    let fake = mic(48_000, 1);
    let config = DeviceConfig {
        target_latency: Duration::from_millis(40),
        capacity: Duration::from_millis(100),
    };
    let capture = Capture::open(&fake, None, config).unwrap();
    // 100 ms holds five frames; the prefill takes two. Three more fit, the next two don't.
    for _ in 0..5 {
        assert!(fake.capture(&[0.1; FRAME_SAMPLES]));
    }
    assert_eq!(capture.stats().overruns, 2);
    assert_eq!(capture.stats().underruns, 0);
}

#[test]
fn playback_counts_an_underrun_when_the_engine_falls_behind() {
    let fake = speaker(48_000, 2);
    let playback = Playback::open(&fake, None, DeviceConfig::default()).unwrap();
    let mut buffer = [1.0f32; 2 * FRAME_SAMPLES];
    for _ in 0..3 {
        assert!(fake.play(&mut buffer));
    }
    assert_eq!(
        buffer,
        [0.0; 2 * FRAME_SAMPLES],
        "silence, not stale samples"
    );
    assert_eq!(playback.stats().underruns, 1);
    assert_eq!(playback.stats().overruns, 0);
}

#[test]
fn playback_counts_an_overrun_for_each_frame_the_ring_cannot_hold() {
    let fake = speaker(48_000, 1);
    let config = DeviceConfig {
        target_latency: Duration::from_millis(40),
        capacity: Duration::from_millis(100),
    };
    let mut playback = Playback::open(&fake, None, config).unwrap();
    for _ in 0..5 {
        playback.write_frame(&[1000; FRAME_SAMPLES]);
    }
    assert_eq!(playback.stats().overruns, 2);
    assert_eq!(playback.stats().underruns, 0);
}

#[test]
fn faults_the_device_reports_are_counted_by_kind() {
    let fake = mic(48_000, 1).with_output(HEADSET, format(48_000, 1));
    let capture = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    let playback = Playback::open(&fake, None, DeviceConfig::default()).unwrap();
    assert!(fake.fail(Direction::Input, StreamFault::Xrun));
    assert!(fake.fail(Direction::Input, StreamFault::Xrun));
    assert!(fake.fail(Direction::Output, StreamFault::Other));
    assert_eq!(
        capture.stats(),
        StreamStats {
            xruns: 2,
            ..StreamStats::default()
        }
    );
    assert_eq!(playback.stats().errors, 1);
    assert!(!playback.stats().lost);
    assert!(fake.fail(Direction::Output, StreamFault::Lost));
    assert_eq!(playback.stats().errors, 2);
    assert!(playback.stats().lost);
}

#[test]
fn device_callbacks_never_allocate() {
    // The checker works: an allocation (and its free) inside is counted.
    reset_violation_count();
    assert_no_alloc(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(64))));
    assert!(violation_count() > 0);
    reset_violation_count();

    for (rate, channels) in [(48_000, 1), (44_100, 2), (16_000, 6)] {
        let fake = mic(rate, channels).with_output(HEADSET, format(rate, channels));
        let config = DeviceConfig {
            target_latency: Duration::from_millis(40),
            capacity: Duration::from_millis(100),
        };
        let mut capture = Capture::open(&fake, None, config).unwrap();
        let mut playback = Playback::open(&fake, None, config).unwrap();
        let tick = (rate / 50) as usize * usize::from(channels);
        let input = interleave(&sine(440.0, -3.0, rate, tick), 1);
        let mut output = vec![0.0f32; tick];
        let mut frame = [0i16; FRAME_SAMPLES];
        // Steady state, then the device racing ahead (overruns) and the engine stalling
        // (underruns): every path through the callbacks.
        for step in 0..20 {
            assert_no_alloc(|| {
                assert!(fake.capture(&input));
                assert!(fake.play(&mut output));
                assert!(fake.fail(Direction::Input, StreamFault::Xrun));
            });
            if !(5..=15).contains(&step) {
                capture.read_frame(&mut frame);
                playback.write_frame(&frame);
            }
        }
        for _ in 0..10 {
            assert_no_alloc(|| assert!(fake.play(&mut output)));
        }
        assert!(capture.stats().overruns > 0, "{rate}/{channels}");
        assert!(playback.stats().underruns > 0, "{rate}/{channels}");
    }
    assert_eq!(violation_count(), 0, "allocations in device callbacks");
}

#[test]
fn the_engine_side_does_not_allocate_per_frame_either() {
    let fake = mic(44_100, 2).with_output(HEADSET, format(44_100, 2));
    let mut capture = Capture::open(&fake, None, DeviceConfig::default()).unwrap();
    let mut playback = Playback::open(&fake, None, DeviceConfig::default()).unwrap();
    let meter = capture.meter();
    let input = interleave(&sine(440.0, -3.0, 44_100, 882), 2);
    let mut output = vec![0.0f32; 882 * 2];
    let mut frame = [0i16; FRAME_SAMPLES];
    reset_violation_count();
    for _ in 0..50 {
        assert!(fake.capture(&input));
        assert_no_alloc(|| {
            capture.read_frame(&mut frame);
            playback.write_frame(&frame);
            meter.take();
        });
        assert!(fake.play(&mut output));
    }
    assert_eq!(
        violation_count(),
        0,
        "allocations in read_frame/write_frame"
    );
}
