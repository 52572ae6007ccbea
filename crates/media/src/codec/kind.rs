//! Which codec, and its RTP facts (RFC 3551 §6 table 4, RFC 7587 §4 and §7).

use std::fmt;
use std::str::FromStr;

/// A codec Wren can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// Opus (RFC 6716, RTP payload format RFC 7587).
    Opus,
    /// G.711 µ-law (RFC 3551 static payload type 0).
    Pcmu,
    /// G.711 A-law (RFC 3551 static payload type 8).
    Pcma,
}

/// A codec name that isn't one of [`CodecKind`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec {0:?} (expected opus, pcmu or pcma)")]
pub struct UnknownCodec(pub String);

impl UnknownCodec {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        "codec.unknown"
    }
}

impl CodecKind {
    /// Every codec, in Wren's default preference order.
    pub const ALL: [CodecKind; 3] = [CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma];

    /// The encoding name in `a=rtpmap` (RFC 4855 registry spelling).
    pub fn encoding_name(self) -> &'static str {
        match self {
            CodecKind::Opus => "opus",
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate in Hz (RFC 7587 §4.1: always 48000 for Opus).
    pub fn clock_rate(self) -> u32 {
        match self {
            CodecKind::Opus => 48_000,
            CodecKind::Pcmu | CodecKind::Pcma => 8_000,
        }
    }

    /// The channel count written in `a=rtpmap` (RFC 7587 §7: always 2 for Opus).
    pub fn channels(self) -> u8 {
        match self {
            CodecKind::Opus => 2,
            CodecKind::Pcmu | CodecKind::Pcma => 1,
        }
    }

    /// The static payload type (RFC 3551 §6), if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            CodecKind::Opus => None,
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
        }
    }

    /// RTP timestamp ticks in one 20 ms frame.
    pub fn ticks_per_frame(self) -> u32 {
        self.clock_rate() / 50
    }

    /// The codec an `a=rtpmap` encoding name and clock rate denote, if we have it.
    pub fn from_rtpmap(encoding: &str, clock_rate: u32) -> Option<CodecKind> {
        CodecKind::ALL.into_iter().find(|kind| {
            kind.encoding_name().eq_ignore_ascii_case(encoding) && kind.clock_rate() == clock_rate
        })
    }

    /// The codec a static payload type denotes without an `a=rtpmap` (RFC 3551 §6).
    pub fn from_static_payload_type(pt: u8) -> Option<CodecKind> {
        CodecKind::ALL
            .into_iter()
            .find(|kind| kind.static_payload_type() == Some(pt))
    }
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodecKind::Opus => "opus",
            CodecKind::Pcmu => "pcmu",
            CodecKind::Pcma => "pcma",
        })
    }
}

impl FromStr for CodecKind {
    type Err = UnknownCodec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        CodecKind::ALL
            .into_iter()
            .find(|kind| kind.encoding_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCodec(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively_and_round_trips_display() {
        for (text, kind) in [
            ("opus", CodecKind::Opus),
            ("OPUS", CodecKind::Opus),
            ("PcMu", CodecKind::Pcmu),
            ("pcma", CodecKind::Pcma),
        ] {
            assert_eq!(text.parse::<CodecKind>(), Ok(kind));
            assert_eq!(kind.to_string().parse::<CodecKind>(), Ok(kind));
        }
        let err = "g729".parse::<CodecKind>().unwrap_err();
        assert_eq!(err.code(), "codec.unknown");
    }

    #[test]
    fn rtp_facts_follow_rfc_3551_and_7587() {
        assert_eq!(CodecKind::Opus.clock_rate(), 48_000);
        assert_eq!(CodecKind::Opus.channels(), 2);
        assert_eq!(CodecKind::Opus.ticks_per_frame(), 960);
        assert_eq!(CodecKind::Pcmu.ticks_per_frame(), 160);
        assert_eq!(
            CodecKind::from_static_payload_type(8),
            Some(CodecKind::Pcma)
        );
        assert_eq!(CodecKind::from_static_payload_type(3), None);
        assert_eq!(
            CodecKind::from_rtpmap("OPUS", 48_000),
            Some(CodecKind::Opus)
        );
        assert_eq!(CodecKind::from_rtpmap("PCMU", 16_000), None);
    }
}
