//! Opus (RFC 6716) through libopus: mono VoIP encoder with in-band FEC, mono decoder with PLC
//! and FEC recovery (RFC 7587 §3.3 and §7: `useinbandfec=1`).

use ::opus::{Application, Bitrate, Channels};

use super::{CodecError, CodecKind, Decoder, Encoder};
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Longest Opus packet: 120 ms at 48 kHz (RFC 6716 §3.2.5).
const MAX_PACKET_SAMPLES: usize = 5760;
/// Opus frame durations come in multiples of 2.5 ms.
const MIN_FRAME_SAMPLES: usize = 120;
/// Largest payload we let the encoder write (one MTU).
const MAX_PAYLOAD: usize = 1275;
/// Wideband speech with room for FEC.
const BITRATE: i32 = 32_000;
/// Expected loss the encoder plans FEC for; libopus adds none at 0.
const PLANNED_LOSS_PERCENT: i32 = 10;

fn opus_error(err: ::opus::Error) -> CodecError {
    CodecError::Opus(err.to_string())
}

/// Opus encoder: 48 kHz mono, VoIP application, in-band FEC on.
pub(crate) struct OpusEncoder {
    inner: ::opus::Encoder,
    buf: [u8; MAX_PAYLOAD],
}

impl OpusEncoder {
    pub(crate) fn new() -> Result<Self, CodecError> {
        let mut inner = ::opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip)
            .map_err(opus_error)?;
        inner
            .set_bitrate(Bitrate::Bits(BITRATE))
            .map_err(opus_error)?;
        inner.set_inband_fec(true).map_err(opus_error)?;
        inner
            .set_packet_loss_perc(PLANNED_LOSS_PERCENT)
            .map_err(opus_error)?;
        Ok(OpusEncoder {
            inner,
            buf: [0; MAX_PAYLOAD],
        })
    }
}

impl Encoder for OpusEncoder {
    fn encode(&mut self, pcm: &[i16; FRAME_SAMPLES], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let len = self.inner.encode(pcm, &mut self.buf).map_err(opus_error)?;
        out.clear();
        out.extend_from_slice(&self.buf[..len.min(MAX_PAYLOAD)]);
        Ok(())
    }
}

/// Opus decoder: 48 kHz mono (a stereo stream is downmixed by libopus).
pub(crate) struct OpusDecoder {
    inner: ::opus::Decoder,
    buf: Box<[i16; MAX_PACKET_SAMPLES]>,
}

impl OpusDecoder {
    pub(crate) fn new() -> Result<Self, CodecError> {
        Ok(OpusDecoder {
            inner: ::opus::Decoder::new(SAMPLE_RATE, Channels::Mono).map_err(opus_error)?,
            buf: Box::new([0; MAX_PACKET_SAMPLES]),
        })
    }

    /// PLC and FEC want a whole number of 2.5 ms frames, at most 120 ms.
    fn plc_len(ticks: u32) -> usize {
        let ticks = (ticks as usize).clamp(MIN_FRAME_SAMPLES, MAX_PACKET_SAMPLES);
        ticks.div_ceil(MIN_FRAME_SAMPLES) * MIN_FRAME_SAMPLES
    }
}

impl Decoder for OpusDecoder {
    fn duration(&self, payload: &[u8]) -> Option<u32> {
        let samples = ::opus::packet::get_nb_samples(payload, SAMPLE_RATE).ok()?;
        if samples == 0 || samples > MAX_PACKET_SAMPLES {
            return None;
        }
        u32::try_from(samples).ok()
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        if payload.is_empty() {
            // An empty slice means "lost" to libopus; an empty payload is the peer's error.
            return Err(CodecError::InvalidPayload {
                codec: CodecKind::Opus,
                len: 0,
            });
        }
        let n = self
            .inner
            .decode(payload, &mut self.buf[..], false)
            .map_err(|_| CodecError::InvalidPayload {
                codec: CodecKind::Opus,
                len: payload.len(),
            })?;
        out.extend_from_slice(&self.buf[..n.min(MAX_PACKET_SAMPLES)]);
        Ok(())
    }

    fn conceal(&mut self, ticks: u32, out: &mut Vec<i16>) {
        let want = ticks as usize;
        let len = Self::plc_len(ticks);
        let n = self
            .inner
            .decode(&[], &mut self.buf[..len], false)
            .unwrap_or(0);
        let n = n.min(len);
        out.extend_from_slice(&self.buf[..n.min(want)]);
        // Keep the promised length even if libopus gave less.
        out.resize(out.len() + want.saturating_sub(n), 0);
    }

    fn recover(&mut self, next: &[u8], ticks: u32, out: &mut Vec<i16>) -> bool {
        let want = ticks as usize;
        if next.is_empty() || !want.is_multiple_of(MIN_FRAME_SAMPLES) || want > MAX_PACKET_SAMPLES {
            return false;
        }
        match self.inner.decode(next, &mut self.buf[..want], true) {
            Ok(n) if n == want => {
                out.extend_from_slice(&self.buf[..n]);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wren_testkit::tone::{dominant_frequency, goertzel_power_dbfs, sine_i16};

    #[test]
    fn one_khz_tone_survives_opus_round_trip() {
        let input = sine_i16(1000.0, -12.0, 48_000, 48_000);
        let mut enc = OpusEncoder::new().unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut payload = Vec::new();
        let mut out = Vec::new();
        for frame in input.chunks_exact(FRAME_SAMPLES) {
            enc.encode(frame.try_into().expect("chunks_exact"), &mut payload)
                .unwrap();
            assert_eq!(dec.duration(&payload), Some(960));
            dec.decode(&payload, &mut out).unwrap();
        }
        assert_eq!(out.len(), 48_000);
        let tail = &out[9600..];
        assert!((dominant_frequency(tail, 48_000) - 1000.0).abs() < 1.0);
        let level = goertzel_power_dbfs(tail, 48_000, 1000.0);
        assert!((level + 12.0).abs() < 1.5, "{level} dBFS");
    }

    #[test]
    fn fec_recovers_a_lost_frame_from_the_next_packet() {
        let input = sine_i16(600.0, -12.0, 48_000, 48_000);
        let mut enc = OpusEncoder::new().unwrap();
        let payloads: Vec<Vec<u8>> = input
            .chunks_exact(FRAME_SAMPLES)
            .map(|frame| {
                let mut p = Vec::new();
                enc.encode(frame.try_into().expect("chunks_exact"), &mut p)
                    .unwrap();
                p
            })
            .collect();
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = Vec::new();
        for p in &payloads[..30] {
            dec.decode(p, &mut out).unwrap();
        }
        let mut recovered = Vec::new();
        assert!(dec.recover(&payloads[31], 960, &mut recovered));
        assert_eq!(recovered.len(), 960);
        let level = goertzel_power_dbfs(&recovered, 48_000, 600.0);
        assert!(level > -20.0, "FEC frame carries the tone: {level}");
    }

    #[test]
    fn garbage_payload_is_an_error_and_plc_keeps_length() {
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = Vec::new();
        for bad in [&[][..], &[0xff, 0xff, 0xff][..], &[0x03][..]] {
            if let Err(e) = dec.decode(bad, &mut out) {
                assert_eq!(e.code(), "codec.invalid_payload");
            }
        }
        out.clear();
        dec.conceal(960, &mut out);
        assert_eq!(out.len(), 960);
        out.clear();
        dec.conceal(100, &mut out);
        assert_eq!(out.len(), 100);
        assert!(!dec.recover(&[], 960, &mut out));
    }
}
