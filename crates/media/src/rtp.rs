//! RTP packets (RFC 3550 §5.1): parse with the validity checks of §A.1, serialise.
//!
//! Our own rather than rtc-rtp 0.21: its header parser does not reject versions other than 2,
//! it hands out `bytes::Bytes` and owned CSRC/extension vectors we don't use, and its
//! rtc-shared dependency pulls url, idna and nix into a crate that needs a 12-byte header.
//! SRTP (rtc-srtp) works on the serialised bytes, so nothing there depends on its types.

use crate::wire::{PayloadType, RtpTimestamp, SeqNo, Ssrc};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;

/// Why an RTP packet was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than the header it announces.
    #[error("RTP packet truncated: {len} bytes, header needs {needed}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes the header says it needs.
        needed: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or longer than the payload.
    #[error("RTP padding count {0} is invalid")]
    BadPadding(u8),
    /// A payload type RTCP uses (RFC 5761 §4: 72-76 with the marker bit look like SR/RR...).
    #[error("payload type {0} collides with RTCP")]
    RtcpPayloadType(u8),
}

impl RtpError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            RtpError::Truncated { .. } => "rtp.truncated",
            RtpError::BadVersion(_) => "rtp.bad_version",
            RtpError::BadPadding(_) => "rtp.bad_padding",
            RtpError::RtcpPayloadType(_) => "rtp.rtcp_payload_type",
        }
    }
}

/// The fields of an RTP header we act on (CSRCs and extensions are skipped on parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit: for audio, the first packet of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// Payload type, 0-127.
    pub payload_type: PayloadType,
    /// Sequence number.
    pub seq: SeqNo,
    /// Media timestamp in the codec's clock.
    pub timestamp: RtpTimestamp,
    /// Synchronisation source.
    pub ssrc: Ssrc,
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The header.
    pub header: RtpHeader,
    /// The payload, with padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram, rejecting anything RFC 3550 §A.1 calls invalid.
    pub fn parse(data: &'a [u8]) -> Result<Self, RtpError> {
        let truncated = |needed| RtpError::Truncated {
            len: data.len(),
            needed,
        };
        if data.len() < HEADER_LEN {
            return Err(truncated(HEADER_LEN));
        }
        let version = data[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let padding = data[0] & 0x20 != 0;
        let extension = data[0] & 0x10 != 0;
        let csrc_count = usize::from(data[0] & 0x0f);
        let marker = data[1] & 0x80 != 0;
        let payload_type = PayloadType::from_header_bits(data[1]);
        // RFC 5761 §4: 64-95 are RTCP's packet types with the marker bit folded in.
        if (72..=76).contains(&payload_type.as_u8()) {
            return Err(RtpError::RtcpPayloadType(payload_type.as_u8()));
        }
        let mut offset = HEADER_LEN + 4 * csrc_count;
        if data.len() < offset {
            return Err(truncated(offset));
        }
        if extension {
            if data.len() < offset + 4 {
                return Err(truncated(offset + 4));
            }
            let words = usize::from(u16::from_be_bytes([data[offset + 2], data[offset + 3]]));
            offset += 4 + 4 * words;
            if data.len() < offset {
                return Err(truncated(offset));
            }
        }
        let mut end = data.len();
        if padding {
            let count = data[end - 1];
            if count == 0 || usize::from(count) > end - offset {
                return Err(RtpError::BadPadding(count));
            }
            end -= usize::from(count);
        }
        Ok(RtpPacket {
            header: RtpHeader {
                marker,
                payload_type,
                seq: SeqNo::new(u16::from_be_bytes([data[2], data[3]])),
                timestamp: RtpTimestamp::new(u32::from_be_bytes([
                    data[4], data[5], data[6], data[7],
                ])),
                ssrc: Ssrc::new(u32::from_be_bytes([data[8], data[9], data[10], data[11]])),
            },
            payload: &data[offset..end],
        })
    }
}

impl RtpHeader {
    /// Appends this header (no CSRCs, no extension, no padding) and `payload` to `out`.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(HEADER_LEN + payload.len());
        out.push(0x80);
        out.push((u8::from(self.marker) << 7) | (self.payload_type.as_u8() & 0x7f));
        out.extend_from_slice(&self.seq.as_u16().to_be_bytes());
        out.extend_from_slice(&self.timestamp.as_u32().to_be_bytes());
        out.extend_from_slice(&self.ssrc.as_u32().to_be_bytes());
        out.extend_from_slice(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: PayloadType::from_header_bits(111),
            seq: SeqNo::new(0xfffe),
            timestamp: RtpTimestamp::new(0xdead_beef),
            ssrc: Ssrc::new(0x1234_5678),
        }
    }

    #[test]
    fn round_trips_header_and_payload() {
        let mut buf = Vec::new();
        header().write(b"abc", &mut buf);
        assert_eq!(&buf[..2], &[0x80, 0x80 | 111]);
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.header, header());
        assert_eq!(p.payload, b"abc");
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        // RFC 3550 §5.1/§5.3.1: V=2 P=1 X=1 CC=2, then 2 CSRCs, a 1-word extension, 3 bytes
        // of payload and 2 bytes of padding.
        let mut p = vec![0xb2, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0, 0, 0, 9];
        p.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]);
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00]);
        p.extend_from_slice(&[7, 8, 9, 0, 2]);
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.payload, &[7, 8, 9]);
        assert_eq!(parsed.header.seq, SeqNo::new(1));
        assert_eq!(parsed.header.timestamp, RtpTimestamp::new(160));
        assert_eq!(parsed.header.ssrc, Ssrc::new(9));
        assert!(!parsed.header.marker);
    }

    #[test]
    fn hostile_packets_are_errors_not_panics() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "rtp.truncated"),
            (&[0x80; 11], "rtp.truncated"),
            (&[0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "rtp.bad_version"),
            (&[0x00; 12], "rtp.bad_version"),
            (&[0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "rtp.truncated"),
            (&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "rtp.truncated"),
            (
                &[
                    0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff,
                ],
                "rtp.truncated",
            ),
            (
                &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
                "rtp.bad_padding",
            ),
            (
                &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9],
                "rtp.bad_padding",
            ),
            (&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 13], "rtp.bad_padding"),
            (
                &[0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                "rtp.rtcp_payload_type",
            ),
        ];
        for (data, code) in cases {
            assert_eq!(
                RtpPacket::parse(data).unwrap_err().code(),
                *code,
                "{data:02x?}"
            );
        }
        // Padding that eats the whole payload is fine.
        let p = RtpPacket::parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]).unwrap();
        assert!(p.payload.is_empty());
    }

    #[test]
    fn every_short_prefix_of_a_valid_packet_is_rejected_or_parsed_without_panic() {
        let mut buf = Vec::new();
        header().write(&[1; 40], &mut buf);
        buf[0] |= 0x3f; // P, X and CC=15: the worst case for bounds.
        for len in 0..buf.len() {
            let _ = RtpPacket::parse(&buf[..len]);
        }
    }
}
