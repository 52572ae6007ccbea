//! SDP offer/answer (RFC 3264) on arbitrary text: `answer_offer` and `accept_answer` under
//! a few local configurations (codec preferences, telephone-event, hold). Never panics; what
//! they negotiate has 7-bit payload types and starts a `MediaSession`; the answer we write
//! is accepted by an offerer that offered the codec we chose, with the same codec, payload
//! type and telephone-event type, our address, and the mirrored direction (RFC 3264 §6.1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Instant;
use wren_media::{
    accept_answer, answer_offer, CodecKind, Direction, LocalMedia, MediaSession, Negotiated, Ssrc,
};

fn local(config: u8) -> LocalMedia {
    let codecs = match config % 5 {
        0 => vec![],
        1 => vec![CodecKind::Opus],
        2 => vec![CodecKind::Pcmu, CodecKind::Pcma],
        3 => vec![CodecKind::Pcma, CodecKind::Opus, CodecKind::Pcma],
        _ => vec![CodecKind::Pcmu],
    };
    let direction = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ][usize::from(config / 5 % 4)];
    LocalMedia {
        addr: "192.0.2.10:40000".parse().expect("literal address"),
        codecs,
        telephone_event: config & 0x80 == 0,
        direction,
    }
}

fn check(neg: &Negotiated) {
    assert!(neg.pt <= 127, "{neg:?}");
    assert!(neg.dtmf_pt.is_none_or(|pt| pt <= 127), "{neg:?}");
    // The session is what the engine builds from it next.
    let session = MediaSession::new(neg.clone(), Ssrc::new(1), Instant::now());
    assert!(session.is_ok(), "{neg:?}: {:?}", session.err());
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let ours = local(config);
    if let Ok((answer, neg)) = answer_offer(&text, &ours, 7, 1) {
        check(&neg);
        let offerer = LocalMedia {
            addr: neg.remote_rtp,
            codecs: vec![neg.codec],
            telephone_event: neg.dtmf_pt.is_some(),
            direction: Direction::SendRecv,
        };
        let theirs = accept_answer(&answer, &offerer)
            .unwrap_or_else(|e| panic!("our answer refused: {e}\n{answer}"));
        assert_eq!(
            (theirs.codec, theirs.pt, theirs.dtmf_pt),
            (neg.codec, neg.pt, neg.dtmf_pt),
            "{answer}"
        );
        assert_eq!(theirs.remote_rtp, ours.addr, "{answer}");
        assert_eq!(theirs.direction, neg.direction.flipped(), "{answer}");
    }
    if let Ok(neg) = accept_answer(&text, &ours) {
        check(&neg);
    }
});
