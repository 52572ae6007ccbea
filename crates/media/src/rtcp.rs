//! RTCP compound packets (RFC 3550 §6.4 SR/RR, §6.5 SDES, §6.6 BYE), validity per §A.2.
//!
//! Our own rather than rtc-rtcp 0.21: that crate returns `Vec<Box<dyn Packet>>` to be
//! downcast, and brings rtc-shared's url/idna/nix along, for the four packet types a
//! classic RTP/AVP call needs. Unknown packet types (XR, feedback, APP) are skipped, not
//! errors, so a compound packet from a richer peer still yields its SR/RR.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::wire::{RtpTimestamp, Ssrc};

/// RTCP packet type numbers (RFC 3550 §12.1).
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
const SDES_END: u8 = 0;
const SDES_CNAME: u8 = 1;
/// Report blocks per SR/RR: the count field has five bits.
pub const MAX_REPORT_BLOCKS: usize = 31;

/// Why an RTCP datagram was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Empty, or shorter than a header or than a packet's announced length.
    #[error("RTCP packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// Padding on a packet that is not the last, or a bad padding count.
    #[error("RTCP padding is invalid")]
    BadPadding,
    /// A packet's body does not hold what its count field announces.
    #[error("RTCP packet type {0} body does not match its count")]
    BadBody(u8),
}

impl RtcpError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            RtcpError::Truncated => "rtcp.truncated",
            RtcpError::BadVersion(_) => "rtcp.bad_version",
            RtcpError::BadPadding => "rtcp.bad_padding",
            RtcpError::BadBody(_) => "rtcp.bad_body",
        }
    }
}

/// A 64-bit NTP timestamp (RFC 3550 §4): seconds since 1900 in the high word, fraction below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct NtpTime(pub u64);

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

impl NtpTime {
    /// The NTP time of a wall-clock instant (before 1970 reads as the Unix epoch).
    pub fn from_system_time(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The middle 32 bits, as carried in LSR (RFC 3550 §6.4.1).
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// Sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// Wall-clock time of the report.
    pub ntp: NtpTime,
    /// The same instant in the RTP clock.
    pub rtp_timestamp: RtpTimestamp,
    /// RTP packets sent since the start.
    pub packet_count: u32,
    /// RTP payload octets sent since the start.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR from that source (0: none yet).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// One RTCP packet of a compound datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// Sender report (RFC 3550 §6.4.1).
    SenderReport {
        /// The sender.
        ssrc: Ssrc,
        /// What it sent.
        info: SenderInfo,
        /// What it received.
        reports: Vec<ReportBlock>,
    },
    /// Receiver report (RFC 3550 §6.4.2).
    ReceiverReport {
        /// The receiver.
        ssrc: Ssrc,
        /// What it received.
        reports: Vec<ReportBlock>,
    },
    /// Source description (RFC 3550 §6.5); only CNAME is kept.
    SourceDescription {
        /// `(ssrc, cname)` per chunk.
        chunks: Vec<(Ssrc, Option<String>)>,
    },
    /// Goodbye (RFC 3550 §6.6).
    Goodbye {
        /// Sources leaving.
        ssrcs: Vec<Ssrc>,
        /// Why, if said.
        reason: Option<String>,
    },
    /// Any other packet type, skipped.
    Other {
        /// Its packet type.
        packet_type: u8,
    },
}

fn be_u32(b: &[u8], at: usize) -> Result<u32, RtcpError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(RtcpError::Truncated)
}

fn be_ssrc(b: &[u8], at: usize) -> Result<Ssrc, RtcpError> {
    be_u32(b, at).map(Ssrc::new)
}

/// Parses a compound RTCP datagram into its packets (RFC 3550 §6.1, §A.2).
///
/// Unlike §A.2 a first packet other than SR/RR is tolerated (RFC 5506 reduced-size RTCP).
pub fn parse_compound(data: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    if data.is_empty() {
        return Err(RtcpError::Truncated);
    }
    let mut packets = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let padding = rest[0] & 0x20 != 0;
        let count = usize::from(rest[0] & 0x1f);
        let packet_type = rest[1];
        let len = 4 * (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1);
        if rest.len() < len {
            return Err(RtcpError::Truncated);
        }
        let (packet, tail) = rest.split_at(len);
        let mut body = &packet[4..];
        if padding {
            // Only the last packet of a compound may be padded (§A.2).
            if !tail.is_empty() {
                return Err(RtcpError::BadPadding);
            }
            let pad = usize::from(*packet.last().ok_or(RtcpError::BadPadding)?);
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::BadPadding);
            }
            body = &body[..body.len() - pad];
        }
        packets.push(parse_one(packet_type, count, body)?);
        rest = tail;
    }
    Ok(packets)
}

fn parse_one(packet_type: u8, count: usize, body: &[u8]) -> Result<RtcpPacket, RtcpError> {
    let bad = || RtcpError::BadBody(packet_type);
    Ok(match packet_type {
        PT_SR => {
            if body.len() < 24 + 24 * count {
                return Err(bad());
            }
            let ntp = (u64::from(be_u32(body, 4)?) << 32) | u64::from(be_u32(body, 8)?);
            RtcpPacket::SenderReport {
                ssrc: be_ssrc(body, 0)?,
                info: SenderInfo {
                    ntp: NtpTime(ntp),
                    rtp_timestamp: RtpTimestamp::new(be_u32(body, 12)?),
                    packet_count: be_u32(body, 16)?,
                    octet_count: be_u32(body, 20)?,
                },
                reports: parse_blocks(&body[24..], count)?,
            }
        }
        PT_RR => {
            if body.len() < 4 + 24 * count {
                return Err(bad());
            }
            RtcpPacket::ReceiverReport {
                ssrc: be_ssrc(body, 0)?,
                reports: parse_blocks(&body[4..], count)?,
            }
        }
        PT_SDES => RtcpPacket::SourceDescription {
            chunks: parse_sdes(body, count).ok_or_else(bad)?,
        },
        PT_BYE => {
            if body.len() < 4 * count {
                return Err(bad());
            }
            let ssrcs = (0..count)
                .map(|i| be_ssrc(body, 4 * i))
                .collect::<Result<Vec<_>, _>>()?;
            let reason = match body.get(4 * count) {
                Some(&n) => {
                    let text = body.get(4 * count + 1..4 * count + 1 + usize::from(n));
                    Some(String::from_utf8_lossy(text.ok_or_else(bad)?).into_owned())
                }
                None => None,
            };
            RtcpPacket::Goodbye { ssrcs, reason }
        }
        _ => RtcpPacket::Other { packet_type },
    })
}

fn parse_blocks(body: &[u8], count: usize) -> Result<Vec<ReportBlock>, RtcpError> {
    (0..count)
        .map(|i| {
            let at = 24 * i;
            let lost = be_u32(body, at + 4)?;
            // 24-bit two's complement, sign-extended.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            Ok(ReportBlock {
                ssrc: be_ssrc(body, at)?,
                fraction_lost: (lost >> 24) as u8,
                cumulative_lost,
                highest_seq: be_u32(body, at + 8)?,
                jitter: be_u32(body, at + 12)?,
                last_sr: be_u32(body, at + 16)?,
                delay_since_last_sr: be_u32(body, at + 20)?,
            })
        })
        .collect()
}

fn parse_sdes(body: &[u8], count: usize) -> Option<Vec<(Ssrc, Option<String>)>> {
    let mut chunks = Vec::with_capacity(count.min(MAX_REPORT_BLOCKS));
    let mut at = 0;
    for _ in 0..count {
        let ssrc = be_ssrc(body, at).ok()?;
        at += 4;
        let mut cname = None;
        loop {
            let item = *body.get(at)?;
            if item == SDES_END {
                // The chunk ends with nulls up to the next 32-bit boundary.
                at = (at / 4 + 1) * 4;
                break;
            }
            let len = usize::from(*body.get(at + 1)?);
            let text = body.get(at + 2..at + 2 + len)?;
            if item == SDES_CNAME {
                cname = Some(String::from_utf8_lossy(text).into_owned());
            }
            at += 2 + len;
        }
        chunks.push((ssrc, cname));
    }
    Some(chunks)
}

fn write_header(out: &mut Vec<u8>, count: usize, packet_type: u8, body_words: usize) {
    out.push(0x80 | (count as u8 & 0x1f));
    out.push(packet_type);
    out.extend_from_slice(&(body_words as u16).to_be_bytes());
}

fn write_blocks(out: &mut Vec<u8>, reports: &[ReportBlock]) {
    for r in reports {
        out.extend_from_slice(&r.ssrc.as_u32().to_be_bytes());
        let lost = (r.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        out.extend_from_slice(&((u32::from(r.fraction_lost) << 24) | lost).to_be_bytes());
        out.extend_from_slice(&r.highest_seq.to_be_bytes());
        out.extend_from_slice(&r.jitter.to_be_bytes());
        out.extend_from_slice(&r.last_sr.to_be_bytes());
        out.extend_from_slice(&r.delay_since_last_sr.to_be_bytes());
    }
}

fn text_of(s: &str) -> &[u8] {
    let bytes = s.as_bytes();
    &bytes[..bytes.len().min(255)]
}

impl RtcpPacket {
    /// Appends this packet to `out` (at most [`MAX_REPORT_BLOCKS`] blocks or chunks; text is
    /// cut at 255 bytes; `Other` writes nothing).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            RtcpPacket::SenderReport {
                ssrc,
                info,
                reports,
            } => {
                let reports = &reports[..reports.len().min(MAX_REPORT_BLOCKS)];
                write_header(out, reports.len(), PT_SR, 6 + 6 * reports.len());
                out.extend_from_slice(&ssrc.as_u32().to_be_bytes());
                out.extend_from_slice(&info.ntp.0.to_be_bytes());
                out.extend_from_slice(&info.rtp_timestamp.as_u32().to_be_bytes());
                out.extend_from_slice(&info.packet_count.to_be_bytes());
                out.extend_from_slice(&info.octet_count.to_be_bytes());
                write_blocks(out, reports);
            }
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                let reports = &reports[..reports.len().min(MAX_REPORT_BLOCKS)];
                write_header(out, reports.len(), PT_RR, 1 + 6 * reports.len());
                out.extend_from_slice(&ssrc.as_u32().to_be_bytes());
                write_blocks(out, reports);
            }
            RtcpPacket::SourceDescription { chunks } => {
                let chunks = &chunks[..chunks.len().min(MAX_REPORT_BLOCKS)];
                let mut body = Vec::new();
                for (ssrc, cname) in chunks {
                    body.extend_from_slice(&ssrc.as_u32().to_be_bytes());
                    if let Some(cname) = cname {
                        let text = text_of(cname);
                        body.push(SDES_CNAME);
                        body.push(text.len() as u8);
                        body.extend_from_slice(text);
                    }
                    // END item, then nulls to the 32-bit boundary (at least one null).
                    body.push(SDES_END);
                    while body.len() % 4 != 0 {
                        body.push(0);
                    }
                }
                write_header(out, chunks.len(), PT_SDES, body.len() / 4);
                out.extend_from_slice(&body);
            }
            RtcpPacket::Goodbye { ssrcs, reason } => {
                let ssrcs = &ssrcs[..ssrcs.len().min(MAX_REPORT_BLOCKS)];
                let mut body = Vec::new();
                for ssrc in ssrcs {
                    body.extend_from_slice(&ssrc.as_u32().to_be_bytes());
                }
                if let Some(reason) = reason {
                    let text = text_of(reason);
                    body.push(text.len() as u8);
                    body.extend_from_slice(text);
                    while body.len() % 4 != 0 {
                        body.push(0);
                    }
                }
                write_header(out, ssrcs.len(), PT_BYE, body.len() / 4);
                out.extend_from_slice(&body);
            }
            RtcpPacket::Other { .. } => {}
        }
    }
}

/// Serialises packets into one compound datagram (RFC 3550 §6.1).
pub fn write_compound(packets: &[RtcpPacket]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        p.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc::new(ssrc),
            fraction_lost: 25,
            cumulative_lost: lost,
            highest_seq: 0x0001_0005,
            jitter: 77,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65_536,
        }
    }

    #[test]
    fn compound_sr_sdes_bye_round_trips() {
        let packets = vec![
            RtcpPacket::SenderReport {
                ssrc: Ssrc::new(1),
                info: SenderInfo {
                    ntp: NtpTime(0xe000_0000_8000_0000),
                    rtp_timestamp: RtpTimestamp::new(960),
                    packet_count: 10,
                    octet_count: 1600,
                },
                reports: vec![block(2, -3), block(3, 0x7f_ffff)],
            },
            RtcpPacket::SourceDescription {
                chunks: vec![(Ssrc::new(1), Some("wren@example.invalid".into()))],
            },
            RtcpPacket::Goodbye {
                ssrcs: vec![Ssrc::new(1)],
                reason: Some("bye".into()),
            },
        ];
        let bytes = write_compound(&packets);
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(parse_compound(&bytes).unwrap(), packets);
    }

    #[test]
    fn receiver_report_without_blocks_and_sdes_without_cname() {
        let packets = vec![
            RtcpPacket::ReceiverReport {
                ssrc: Ssrc::new(9),
                reports: vec![],
            },
            RtcpPacket::SourceDescription {
                chunks: vec![(Ssrc::new(9), None), (Ssrc::new(10), Some("abc".into()))],
            },
        ];
        let bytes = write_compound(&packets);
        assert_eq!(&bytes[..8], &[0x80, 201, 0, 1, 0, 0, 0, 9]);
        assert_eq!(parse_compound(&bytes).unwrap(), packets);
    }

    #[test]
    fn unknown_types_are_skipped_and_padding_on_last_packet_is_removed() {
        let mut bytes = write_compound(&[RtcpPacket::ReceiverReport {
            ssrc: Ssrc::new(1),
            reports: vec![],
        }]);
        // RFC 4585 PSFB (206), 3 words, then an APP (204) with padding of 4.
        bytes.extend_from_slice(&[0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        bytes.extend_from_slice(&[0xa0, 204, 0, 3, 0, 0, 0, 1, b'n', b'a', b'm', b'e']);
        bytes.extend_from_slice(&[0, 0, 0, 4]);
        let packets = parse_compound(&bytes).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[1], RtcpPacket::Other { packet_type: 206 });
        assert_eq!(packets[2], RtcpPacket::Other { packet_type: 204 });
    }

    #[test]
    fn hostile_rtcp_is_an_error_not_a_panic() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "rtcp.truncated"),
            (&[0x80, 201, 0], "rtcp.truncated"),
            (&[0x40, 201, 0, 1, 0, 0, 0, 1], "rtcp.bad_version"),
            (&[0x80, 201, 0, 5, 0, 0, 0, 1], "rtcp.truncated"),
            (&[0x81, 201, 0, 1, 0, 0, 0, 1], "rtcp.bad_body"),
            (&[0x80, 200, 0, 1, 0, 0, 0, 1], "rtcp.bad_body"),
            (&[0x81, 202, 0, 1, 0, 0, 0, 1], "rtcp.bad_body"),
            (&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 0, 0], "rtcp.bad_body"),
            (&[0x82, 203, 0, 1, 0, 0, 0, 1], "rtcp.bad_body"),
            (
                &[0x81, 203, 0, 2, 0, 0, 0, 1, 9, b'x', 0, 0],
                "rtcp.bad_body",
            ),
            (&[0xa0, 201, 0, 1, 0, 0, 0, 0], "rtcp.bad_padding"),
            (&[0xa0, 201, 0, 1, 0, 0, 0, 9], "rtcp.bad_padding"),
            (
                &[0xa0, 201, 0, 1, 0, 0, 0, 4, 0x80, 201, 0, 1, 0, 0, 0, 1],
                "rtcp.bad_padding",
            ),
        ];
        for (data, code) in cases {
            assert_eq!(
                parse_compound(data).unwrap_err().code(),
                *code,
                "{data:02x?}"
            );
        }
    }

    #[test]
    fn every_prefix_of_a_valid_compound_parses_or_errors_without_panic() {
        let bytes = write_compound(&[
            RtcpPacket::SenderReport {
                ssrc: Ssrc::new(1),
                info: SenderInfo {
                    ntp: NtpTime(1),
                    rtp_timestamp: RtpTimestamp::new(2),
                    packet_count: 3,
                    octet_count: 4,
                },
                reports: vec![block(2, 1)],
            },
            RtcpPacket::SourceDescription {
                chunks: vec![(Ssrc::new(1), Some("x".repeat(300)))],
            },
            RtcpPacket::Goodbye {
                ssrcs: vec![Ssrc::new(1), Ssrc::new(2)],
                reason: Some("done".into()),
            },
        ]);
        for len in 0..bytes.len() {
            let _ = parse_compound(&bytes[..len]);
        }
    }

    #[test]
    fn ntp_time_counts_from_1900() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        let ntp = NtpTime::from_system_time(t);
        assert_eq!(ntp.0 >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp.0 & 0xffff_ffff, 1 << 31);
        assert_eq!(
            ntp.middle32(),
            (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000
        );
    }
}
