//! G.711 µ-law and A-law (ITU-T G.711; RTP payload RFC 3551 §4.5.14), with 48 <-> 8 kHz
//! conversion and a repeat-and-fade concealment in the spirit of G.711 Appendix I.

use super::resample::{Downsampler, Upsampler, RATIO};
use super::{CodecError, Decoder, Encoder};
use crate::FRAME_SAMPLES;

/// Which companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Law {
    /// µ-law (PCMU), North America and Japan.
    Mu,
    /// A-law (PCMA), everywhere else.
    A,
}

impl Law {
    fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => audio_codec_algorithms::encode_ulaw(sample),
            Law::A => audio_codec_algorithms::encode_alaw(sample),
        }
    }

    fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Mu => audio_codec_algorithms::decode_ulaw(byte),
            Law::A => audio_codec_algorithms::decode_alaw(byte),
        }
    }
}

/// Encodes 48 kHz frames to 160-byte G.711 payloads.
pub(crate) struct G711Encoder {
    law: Law,
    down: Downsampler,
    narrow: Vec<i16>,
}

impl G711Encoder {
    pub(crate) fn new(law: Law) -> Self {
        G711Encoder {
            law,
            down: Downsampler::new(),
            narrow: Vec::with_capacity(FRAME_SAMPLES / RATIO),
        }
    }
}

impl Encoder for G711Encoder {
    fn encode(&mut self, pcm: &[i16; FRAME_SAMPLES], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.narrow.clear();
        self.down.process(pcm, &mut self.narrow);
        out.clear();
        out.extend(self.narrow.iter().map(|&s| self.law.encode(s)));
        Ok(())
    }
}

/// How much of the last frame concealment repeats, and how long it takes to fade out.
const HISTORY_8K: usize = 160;
const FADE_8K: usize = 3 * 160;

/// Decodes G.711 payloads of any length to 48 kHz.
pub(crate) struct G711Decoder {
    law: Law,
    up: Upsampler,
    narrow: Vec<i16>,
    /// The last [`HISTORY_8K`] decoded 8 kHz samples, for concealment.
    history: Vec<i16>,
    /// Concealed 8 kHz samples since the last real packet.
    concealed: usize,
}

impl G711Decoder {
    pub(crate) fn new(law: Law) -> Self {
        G711Decoder {
            law,
            up: Upsampler::new(),
            narrow: Vec::new(),
            history: Vec::with_capacity(HISTORY_8K),
            concealed: 0,
        }
    }
}

impl Decoder for G711Decoder {
    fn duration(&self, payload: &[u8]) -> Option<u32> {
        u32::try_from(payload.len()).ok()
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        self.narrow.clear();
        self.narrow
            .extend(payload.iter().map(|&b| self.law.decode(b)));
        let keep = self.narrow.len().min(HISTORY_8K);
        let overflow = (self.history.len() + keep).saturating_sub(HISTORY_8K);
        self.history.drain(..overflow);
        self.history
            .extend_from_slice(&self.narrow[self.narrow.len() - keep..]);
        self.concealed = 0;
        self.up.process(&self.narrow, out);
        Ok(())
    }

    fn conceal(&mut self, ticks: u32, out: &mut Vec<i16>) {
        self.narrow.clear();
        let ticks = ticks as usize;
        if self.history.is_empty() {
            self.narrow.resize(ticks, 0);
        } else {
            let period = self.history.len();
            for i in 0..ticks {
                let n = self.concealed + i;
                let gain = 1.0 - (n as f32 / FADE_8K as f32).min(1.0);
                self.narrow
                    .push((f32::from(self.history[n % period]) * gain) as i16);
            }
        }
        self.concealed += ticks;
        self.up.process(&self.narrow, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, sine_i16};

    fn round_trip(law: Law, input: &[i16]) -> Vec<i16> {
        let mut enc = G711Encoder::new(law);
        let mut dec = G711Decoder::new(law);
        let mut payload = Vec::new();
        let mut out = Vec::new();
        for frame in input.chunks_exact(FRAME_SAMPLES) {
            let frame: &[i16; FRAME_SAMPLES] = frame.try_into().expect("chunks_exact");
            enc.encode(frame, &mut payload).unwrap();
            assert_eq!(payload.len(), 160);
            dec.decode(&payload, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn one_khz_tone_survives_round_trip_at_same_frequency_and_level() {
        for law in [Law::Mu, Law::A] {
            let out = round_trip(law, &sine_i16(1000.0, -12.0, 48_000, 48_000));
            assert_eq!(out.len(), 48_000);
            let tail = &out[4800..];
            assert!(
                (dominant_frequency(tail, 48_000) - 1000.0).abs() < 1.0,
                "{law:?}"
            );
            let level = goertzel_power_dbfs(tail, 48_000, 1000.0);
            assert!((level + 12.0).abs() < 1.0, "{law:?}: {level} dBFS");
        }
    }

    #[test]
    fn concealment_repeats_then_fades_to_silence() {
        let mut dec = G711Decoder::new(Law::Mu);
        let mut out = Vec::new();
        dec.conceal(160, &mut out);
        assert_eq!(out.len(), 960);
        assert!(
            out.iter().all(|&s| s == 0),
            "nothing to repeat yet: silence"
        );

        let tone = sine_i16(1000.0, -6.0, 8000, 160);
        let payload: Vec<u8> = tone.iter().map(|&s| Law::Mu.encode(s)).collect();
        dec.decode(&payload, &mut out).unwrap();
        out.clear();
        dec.conceal(160, &mut out);
        let first = goertzel_power_dbfs(&out, 48_000, 1000.0);
        assert!(
            first > -16.0,
            "first concealed frame still carries the tone: {first}"
        );
        for _ in 0..3 {
            out.clear();
            dec.conceal(160, &mut out);
        }
        assert!(out[480..].iter().all(|&s| s.abs() < 50), "faded out");
    }

    #[test]
    fn any_payload_length_decodes_to_six_times_the_samples() {
        let mut dec = G711Decoder::new(Law::A);
        let mut out = Vec::new();
        for len in [0usize, 1, 80, 160, 320, 1500] {
            out.clear();
            dec.decode(&vec![0x55; len], &mut out).unwrap();
            assert_eq!(out.len(), len * 6);
            assert_eq!(dec.duration(&vec![0; len]), Some(len as u32));
        }
    }
}
