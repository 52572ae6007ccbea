//! Reading the peer's audio stream out of its SDP (RFC 8866 §5; RFC 3605 `a=rtcp`).

use std::net::{IpAddr, SocketAddr};

use bytesstr::BytesStr;
use ezk_sdp_types::{
    MediaDescription, MediaType, SessionDescription, TaggedAddress, TransportProtocol,
};

use super::{Direction, SdpError};
use crate::codec::CodecKind;
use crate::wire::PayloadType;

/// `a=ptime` values we take; anything else means the default.
const PTIME_RANGE: std::ops::RangeInclusive<u32> = 10..=120;
/// RFC 7587 / RFC 3551 default packetisation.
pub(crate) const DEFAULT_PTIME_MS: u32 = 20;

/// What a payload type in the peer's `m=` line stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One of our codecs.
    Codec(CodecKind),
    /// RFC 4733 telephone-event at this clock rate.
    TelephoneEvent(u32),
    /// Something we don't do.
    Other,
}

/// The peer's audio stream, as far as we use it.
#[derive(Debug, Clone)]
pub(crate) struct RemoteAudio {
    /// Position of its `m=` line.
    pub(crate) index: usize,
    pub(crate) rtp: SocketAddr,
    pub(crate) rtcp: SocketAddr,
    /// `(payload type, format)` in the peer's preference order.
    pub(crate) formats: Vec<(PayloadType, Format)>,
    pub(crate) ptime_ms: u32,
    /// The peer's direction, with `c=0.0.0.0` hold (RFC 3264 §8.4) folded in.
    pub(crate) direction: Direction,
    pub(crate) proto: TransportProtocol,
}

impl RemoteAudio {
    /// The first payload type of ours for `kind`.
    pub(crate) fn pt_for(&self, kind: CodecKind) -> Option<PayloadType> {
        self.formats
            .iter()
            .find(|(_, f)| *f == Format::Codec(kind))
            .map(|(pt, _)| *pt)
    }

    /// The telephone-event payload type at `clock_rate` (RFC 4733 §2.1: same clock as audio).
    pub(crate) fn telephone_event_pt(&self, clock_rate: u32) -> Option<PayloadType> {
        self.formats
            .iter()
            .find(|(_, f)| *f == Format::TelephoneEvent(clock_rate))
            .map(|(pt, _)| *pt)
    }
}

pub(crate) fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    if !text.trim_start().starts_with("v=") {
        return Err(SdpError::Malformed("does not start with v=".into()));
    }
    SessionDescription::parse(&BytesStr::from(text)).map_err(|e| SdpError::Malformed(e.to_string()))
}

fn is_rtp_avp(proto: &TransportProtocol) -> bool {
    matches!(
        proto,
        TransportProtocol::RtpAvp | TransportProtocol::RtpAvpf
    )
}

fn ip_of(address: &TaggedAddress) -> Result<IpAddr, SdpError> {
    match address {
        TaggedAddress::IP4(ip) => Ok(IpAddr::V4(*ip)),
        TaggedAddress::IP6(ip) => Ok(IpAddr::V6(*ip)),
        TaggedAddress::IP4FQDN(name) | TaggedAddress::IP6FQDN(name) => {
            Err(SdpError::UnsupportedAddress(name.to_string()))
        }
    }
}

fn attribute<'a>(
    sdp: &'a SessionDescription,
    media: &'a MediaDescription,
    name: &str,
) -> Option<&'a str> {
    media
        .attributes
        .iter()
        .chain(&sdp.attributes)
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .and_then(|a| a.value.as_deref())
}

fn format_of(media: &MediaDescription, pt: PayloadType) -> Format {
    match media.rtpmap.iter().find(|m| m.payload == pt.as_u8()) {
        Some(map) if map.encoding.eq_ignore_ascii_case("telephone-event") => {
            Format::TelephoneEvent(map.clock_rate)
        }
        Some(map) => CodecKind::from_rtpmap(&map.encoding, map.clock_rate)
            .map_or(Format::Other, Format::Codec),
        None => {
            CodecKind::from_static_payload_type(pt.as_u8()).map_or(Format::Other, Format::Codec)
        }
    }
}

fn direction_of(media: &MediaDescription) -> Direction {
    match media.direction {
        ezk_sdp_types::Direction::SendRecv => Direction::SendRecv,
        ezk_sdp_types::Direction::SendOnly => Direction::SendOnly,
        ezk_sdp_types::Direction::RecvOnly => Direction::RecvOnly,
        ezk_sdp_types::Direction::Inactive => Direction::Inactive,
    }
}

/// Finds the first usable audio stream in `sdp`.
pub(crate) fn audio(sdp: &SessionDescription) -> Result<RemoteAudio, SdpError> {
    let audio: Vec<(usize, &MediaDescription)> = sdp
        .media_descriptions
        .iter()
        .enumerate()
        .filter(|(_, m)| m.media.media_type == MediaType::Audio)
        .collect();
    if audio.is_empty() {
        return Err(SdpError::NoAudio);
    }
    let Some(&(index, media)) = audio
        .iter()
        .find(|(_, m)| m.media.port != 0 && is_rtp_avp(&m.media.proto))
    else {
        return Err(match audio.iter().find(|(_, m)| m.media.port != 0) {
            Some((_, m)) => SdpError::UnsupportedTransport(m.media.proto.to_string()),
            None => SdpError::AudioRejected,
        });
    };

    let connection = media
        .connection
        .as_ref()
        .or(sdp.connection.as_ref())
        .ok_or(SdpError::NoConnection)?;
    let ip = ip_of(&connection.address)?;
    let port = media.media.port;
    let rtp = SocketAddr::new(ip, port);
    let rtcp = match &media.rtcp {
        Some(rtcp) => {
            let rtcp_ip = rtcp.address.as_ref().map_or(Ok(ip), ip_of)?;
            SocketAddr::new(rtcp_ip, rtcp.port)
        }
        None => {
            let rtcp_port = port
                .checked_add(1)
                .ok_or_else(|| SdpError::Malformed("RTP port 65535 leaves no RTCP port".into()))?;
            SocketAddr::new(ip, rtcp_port)
        }
    };

    let formats = media
        .media
        .fmts
        .iter()
        // RFC 3550 §5.1: payload types have 7 bits; larger numbers are not RTP's.
        .filter_map(|&pt| PayloadType::new(pt))
        .map(|pt| (pt, format_of(media, pt)))
        .collect();
    let ptime_ms = attribute(sdp, media, "ptime")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|p| PTIME_RANGE.contains(p))
        .unwrap_or(DEFAULT_PTIME_MS);
    let mut direction = direction_of(media);
    if ip.is_unspecified() {
        // RFC 3264 §8.4: c=0.0.0.0 is the old way of saying "don't send to me".
        direction = direction.without_receive();
    }
    Ok(RemoteAudio {
        index,
        rtp,
        rtcp,
        formats,
        ptime_ms,
        direction,
        proto: media.media.proto.clone(),
    })
}
