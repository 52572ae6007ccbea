//! Writing our SDP (RFC 8866 §5) through ezk-sdp-types' printer.

use std::net::{IpAddr, SocketAddr};

use bytesstr::BytesStr;
use ezk_sdp_types::{
    Connection, Fmtp, Media, MediaDescription, MediaType, Origin, RtpMap, SessionDescription,
    TaggedAddress, Time, TransportProtocol, UnknownAttribute,
};

use super::Direction;
use crate::codec::CodecKind;
use crate::wire::PayloadType;

/// Dynamic payload type we offer Opus on (the common choice, RFC 7587 §7 examples).
pub(crate) const OPUS_PT: PayloadType = PayloadType::known(111);
/// Dynamic payload types we offer telephone-event on, at 48 kHz and 8 kHz (RFC 4733 §7).
pub(crate) const TELEPHONE_EVENT_48K_PT: PayloadType = PayloadType::known(101);
pub(crate) const TELEPHONE_EVENT_8K_PT: PayloadType = PayloadType::known(100);
/// RFC 7587 §7: we take 10 ms packets and use in-band FEC.
const OPUS_FMTP: &str = "minptime=10;useinbandfec=1";
/// RFC 4733 §7.1.1: DTMF digits 0-9, *, #, A-D and flash.
const TELEPHONE_EVENT_FMTP: &str = "0-16";

/// One format of our `m=` line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LocalFormat {
    Codec(CodecKind, PayloadType),
    TelephoneEvent { clock_rate: u32, pt: PayloadType },
}

impl LocalFormat {
    fn pt(self) -> u8 {
        match self {
            LocalFormat::Codec(_, pt) | LocalFormat::TelephoneEvent { pt, .. } => pt.as_u8(),
        }
    }
}

fn bytes(s: &str) -> BytesStr {
    BytesStr::from(s)
}

/// An audio `m=` section for `addr` with `formats`.
pub(crate) fn audio_section(
    addr: SocketAddr,
    formats: &[LocalFormat],
    direction: Direction,
    proto: TransportProtocol,
) -> MediaDescription {
    let mut media = MediaDescription::rejected(MediaType::Audio);
    media.media = Media {
        media_type: MediaType::Audio,
        port: addr.port(),
        ports_num: None,
        proto,
        fmts: formats.iter().map(|f| f.pt()).collect(),
    };
    media.direction = direction.to_ezk();
    for format in formats {
        match *format {
            LocalFormat::Codec(kind, pt) => {
                media.rtpmap.push(RtpMap {
                    payload: pt.as_u8(),
                    encoding: bytes(kind.encoding_name()),
                    clock_rate: kind.clock_rate(),
                    params: (kind.channels() > 1).then(|| bytes(&kind.channels().to_string())),
                });
                if kind == CodecKind::Opus {
                    media.fmtp.push(Fmtp {
                        format: pt.as_u8(),
                        params: bytes(OPUS_FMTP),
                    });
                }
            }
            LocalFormat::TelephoneEvent { clock_rate, pt } => {
                media.rtpmap.push(RtpMap {
                    payload: pt.as_u8(),
                    encoding: bytes("telephone-event"),
                    clock_rate,
                    params: None,
                });
                media.fmtp.push(Fmtp {
                    format: pt.as_u8(),
                    params: bytes(TELEPHONE_EVENT_FMTP),
                });
            }
        }
    }
    media.attributes.push(UnknownAttribute {
        name: bytes("ptime"),
        value: Some(bytes("20")),
    });
    media
}

/// A session around `media`, from `ip`.
pub(crate) fn session(
    ip: IpAddr,
    session_id: u64,
    version: u64,
    media: Vec<MediaDescription>,
) -> SessionDescription {
    let address = TaggedAddress::from(ip);
    let mut sdp = SessionDescription {
        origin: Origin {
            username: bytes("-"),
            session_id: bytes(&session_id.to_string()),
            session_version: bytes(&version.to_string()),
            address: address.clone(),
        },
        name: bytes("-"),
        connection: Some(Connection {
            address,
            ttl: None,
            num: None,
        }),
        bandwidth: Vec::new(),
        time: Time { start: 0, stop: 0 },
        direction: ezk_sdp_types::Direction::SendRecv,
        group: Vec::new(),
        extmap: Vec::new(),
        extmap_allow_mixed: false,
        ice_lite: false,
        ice_options: Default::default(),
        ice_ufrag: None,
        ice_pwd: None,
        setup: None,
        fingerprint: Vec::new(),
        attributes: Vec::new(),
        media_descriptions: Vec::new(),
    };
    sdp.media_descriptions = media;
    sdp
}

/// The `m=` line answering a stream we don't take: same type, proto and formats, port 0
/// (RFC 3264 §6).
pub(crate) fn rejected_like(offered: &MediaDescription) -> MediaDescription {
    let mut media = MediaDescription::rejected(offered.media.media_type);
    media.media.proto = offered.media.proto.clone();
    media.media.fmts = offered.media.fmts.clone();
    media
}
