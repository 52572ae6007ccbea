//! The hub's tick, as the engine core drives it ([`AudioPorts`]): the microphone frame in,
//! each call's far-end frame, what each call sends, and the speaker's mix out.

use super::{AudioHub, Input, FRAME, TEST_TONE};
use crate::core::AudioPorts;
use crate::event::CallId;
use crate::media::{apply_volume, exclusive, mix};
use std::time::{Duration, Instant};
use wren_audio::FrameSource;

impl AudioPorts for AudioHub {
    fn begin(&mut self, now: Instant) {
        self.now = Some(now);
        match &mut self.mic {
            Some((capture, _)) => {
                let capture = exclusive(capture);
                capture.read_frame(&mut self.mic_frame);
                self.mic_queued = capture.queued();
            }
            None => {
                self.mic_frame.fill(0);
                self.mic_queued = Duration::ZERO;
            }
        }
        for port in self.ports.values_mut() {
            port.rx.fill(0);
        }
    }

    fn play(&mut self, call: CallId, frame: Option<&[i16]>) {
        let Some(port) = self.ports.get_mut(&call) else {
            return;
        };
        let Some(frame) = frame else { return };
        port.rx.copy_from_slice(frame);
        if let Some(sink) = &mut port.record {
            if let Err(e) = sink.write_frame(frame) {
                tracing::warn!("recording failed, stopped: {e}");
                port.record = None;
            }
        }
    }

    fn capture(&mut self, call: CallId, out: &mut [i16]) {
        out.fill(0);
        let live = self.is_live(call);
        let Some(port) = self.ports.get_mut(&call) else {
            return;
        };
        match &mut port.input {
            Input::Mic => {
                if live {
                    out.copy_from_slice(&self.mic_frame);
                }
            }
            // A file or tone keeps its place whether or not the call is live.
            Input::Source(source) => {
                exclusive(source).read_frame(out);
                if !live {
                    out.fill(0);
                }
            }
        }
        if live && self.conference {
            for (other, port) in &self.ports {
                if *other != call && self.live.contains(other) {
                    mix(out, &port.rx);
                }
            }
        }
    }

    fn end(&mut self, now: Instant) {
        // Whether the pacing device took anything since the last tick.
        let before = self.pacing_queue();
        match (before, self.paced_after) {
            (Some(b), Some(a)) if b >= a && self.drained_at.is_some() => {}
            (Some(_), _) => self.drained_at = Some(now),
            (None, _) => self.drained_at = None,
        }
        self.end_tick(now);
        self.paced_after = self.pacing_queue();
    }
}

impl AudioHub {
    fn end_tick(&mut self, now: Instant) {
        self.rendered.fill(0);
        let volume = self.env.prefs.volume;
        for (call, port) in &mut self.ports {
            if !port.speaker || !self.live.contains(call) {
                continue;
            }
            self.scratch.copy_from_slice(&port.rx);
            apply_volume(&mut self.scratch, volume);
            mix(&mut self.rendered, &self.scratch);
            if let Some(tone) = &mut port.ringback {
                tone.read_frame(&mut self.scratch);
                mix(&mut self.rendered, &self.scratch);
            }
            if port.feedback.read_frame(&mut self.scratch) {
                mix(&mut self.rendered, &self.scratch);
            }
        }
        if let Some(tone) = &mut self.waiting {
            tone.read_frame(&mut self.scratch);
            mix(&mut self.rendered, &self.scratch);
        }
        if let Some((tone, until)) = &mut self.busy {
            if now >= *until {
                self.busy = None;
                self.update_devices();
            } else {
                tone.read_frame(&mut self.scratch);
                mix(&mut self.rendered, &self.scratch);
            }
        }
        if let Some(speaker) = &mut self.speaker {
            speaker.write(&self.rendered);
            self.echo_delay = speaker.queued().saturating_sub(FRAME) + self.mic_queued;
        }
        if let Some((speaker, tone)) = &mut self.ringer {
            tone.read_frame(&mut self.scratch);
            speaker.write(&self.scratch);
        }
        if let Some(test) = &mut self.test {
            let until = *test.until.get_or_insert(now + TEST_TONE);
            if now >= until {
                self.end_test();
            } else {
                test.tone.read_frame(&mut self.scratch);
                test.speaker.write(&self.scratch);
                // Read (and so meter) the microphone; the audio itself goes nowhere.
                exclusive(&mut test.mic).read_frame(&mut self.scratch);
            }
        }
    }
}
