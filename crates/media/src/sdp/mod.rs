//! SDP offer/answer for one audio stream (RFC 3264 §5-§8) over ezk-sdp-types, classic
//! RTP/AVP profile, with Opus (RFC 7587 §7), G.711 (RFC 3551) and telephone-event (RFC 4733).

mod build;
mod error;
mod remote;

use std::net::SocketAddr;

pub use error::SdpError;

use crate::codec::CodecKind;
use crate::wire::PayloadType;
use build::{LocalFormat, OPUS_PT, TELEPHONE_EVENT_48K_PT, TELEPHONE_EVENT_8K_PT};
use ezk_sdp_types::TransportProtocol;

/// Our side of the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Where we receive RTP; RTCP is on the next port.
    pub addr: SocketAddr,
    /// Codecs in preference order (from settings). Empty means all, in default order.
    pub codecs: Vec<CodecKind>,
    /// Whether to offer and accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// What we want to do: `SendRecv`, or `SendOnly` to put the call on hold (RFC 3264 §8.4).
    pub direction: Direction,
}

/// A stream direction (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// Only sending.
    SendOnly,
    /// Only receiving.
    RecvOnly,
    /// Neither (RTCP still flows).
    Inactive,
}

impl Direction {
    /// Whether RTP is sent.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether RTP is received.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The same direction seen from the other end.
    pub fn flipped(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    pub(crate) fn without_receive(self) -> Direction {
        Direction::from_flags(self.sends(), false)
    }

    /// What we can do given what we want and what the peer says it does (RFC 3264 §6.1).
    fn ours_given(self, remote: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && remote.receives(),
            self.receives() && remote.sends(),
        )
    }

    fn to_ezk(self) -> ezk_sdp_types::Direction {
        match self {
            Direction::SendRecv => ezk_sdp_types::Direction::SendRecv,
            Direction::SendOnly => ezk_sdp_types::Direction::SendOnly,
            Direction::RecvOnly => ezk_sdp_types::Direction::RecvOnly,
            Direction::Inactive => ezk_sdp_types::Direction::Inactive,
        }
    }
}

/// The outcome of offer/answer: what to send, where, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP (until symmetric RTP latches onto the peer's source).
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP.
    pub remote_rtcp: SocketAddr,
    /// The codec both ends send.
    pub codec: CodecKind,
    /// Its payload type (the offerer's number, RFC 3264 §6.1).
    pub pt: u8,
    /// The telephone-event payload type, at the codec's clock rate, if both ends do RFC 4733.
    pub dtmf_pt: Option<u8>,
    /// The packet duration the peer asked for (`a=ptime`, default 20); we send 20 ms.
    pub ptime_ms: u32,
    /// What we do: send, receive, both or neither.
    pub direction: Direction,
}

fn preferences(local: &LocalMedia) -> Vec<CodecKind> {
    let mut prefs: Vec<CodecKind> = Vec::new();
    for kind in &local.codecs {
        if !prefs.contains(kind) {
            prefs.push(*kind);
        }
    }
    if prefs.is_empty() {
        prefs.extend(CodecKind::ALL);
    }
    prefs
}

/// Our formats for an offer: codecs in preference order, then telephone-event per clock rate.
fn offer_formats(local: &LocalMedia) -> Vec<LocalFormat> {
    let prefs = preferences(local);
    let mut formats: Vec<LocalFormat> = prefs
        .iter()
        .map(|&kind| {
            let pt = kind.static_payload_type().and_then(PayloadType::new);
            LocalFormat::Codec(kind, pt.unwrap_or(OPUS_PT))
        })
        .collect();
    if local.telephone_event {
        if prefs.contains(&CodecKind::Opus) {
            formats.push(LocalFormat::TelephoneEvent {
                clock_rate: 48_000,
                pt: TELEPHONE_EVENT_48K_PT,
            });
        }
        if prefs.iter().any(|k| k.clock_rate() == 8000) {
            formats.push(LocalFormat::TelephoneEvent {
                clock_rate: 8000,
                pt: TELEPHONE_EVENT_8K_PT,
            });
        }
    }
    formats
}

/// An offer (RFC 3264 §5, §8): one RTP/AVP audio stream in `local.direction`.
pub fn create_offer(local: &LocalMedia, session_id: u64, version: u64) -> String {
    let media = build::audio_section(
        local.addr,
        &offer_formats(local),
        local.direction,
        TransportProtocol::RtpAvp,
    );
    build::session(local.addr.ip(), session_id, version, vec![media]).to_string()
}

/// Answers `offer` (RFC 3264 §6): the first of our codecs the offer has, on the offer's
/// payload type; every other stream rejected with port 0.
pub fn answer_offer(
    offer: &str,
    local: &LocalMedia,
    session_id: u64,
    version: u64,
) -> Result<(String, Negotiated), SdpError> {
    let sdp = remote::parse(offer)?;
    let remote = remote::audio(&sdp)?;
    let (codec, pt) = preferences(local)
        .into_iter()
        .find_map(|kind| remote.pt_for(kind).map(|pt| (kind, pt)))
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_pt = local
        .telephone_event
        .then(|| remote.telephone_event_pt(codec.clock_rate()))
        .flatten();
    let direction = local.direction.ours_given(remote.direction);

    let mut formats = vec![LocalFormat::Codec(codec, pt)];
    if let Some(pt) = dtmf_pt {
        formats.push(LocalFormat::TelephoneEvent {
            clock_rate: codec.clock_rate(),
            pt,
        });
    }
    let media = sdp
        .media_descriptions
        .iter()
        .enumerate()
        .map(|(i, offered)| {
            if i == remote.index {
                build::audio_section(local.addr, &formats, direction, remote.proto.clone())
            } else {
                build::rejected_like(offered)
            }
        })
        .collect();
    let answer = build::session(local.addr.ip(), session_id, version, media).to_string();
    Ok((
        answer,
        Negotiated {
            remote_rtp: remote.rtp,
            remote_rtcp: remote.rtcp,
            codec,
            pt: pt.as_u8(),
            dtmf_pt: dtmf_pt.map(PayloadType::as_u8),
            ptime_ms: remote.ptime_ms,
            direction,
        },
    ))
}

/// Takes the answer to our offer (RFC 3264 §7): the answer's first format we offered.
pub fn accept_answer(answer: &str, local: &LocalMedia) -> Result<Negotiated, SdpError> {
    let sdp = remote::parse(answer)?;
    let remote = remote::audio(&sdp)?;
    let prefs = preferences(local);
    let (codec, pt) = remote
        .formats
        .iter()
        .find_map(|&(pt, format)| match format {
            remote::Format::Codec(kind) if prefs.contains(&kind) => Some((kind, pt)),
            _ => None,
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_pt = local
        .telephone_event
        .then(|| remote.telephone_event_pt(codec.clock_rate()))
        .flatten();
    Ok(Negotiated {
        remote_rtp: remote.rtp,
        remote_rtcp: remote.rtcp,
        codec,
        pt: pt.as_u8(),
        dtmf_pt: dtmf_pt.map(PayloadType::as_u8),
        ptime_ms: remote.ptime_ms,
        direction: local.direction.ours_given(remote.direction),
    })
}

#[cfg(test)]
mod tests;
