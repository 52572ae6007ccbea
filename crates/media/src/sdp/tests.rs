//! Offer/answer vectors in the style of RFC 4317 (host names replaced by documentation
//! addresses, since we take IP addresses only), RFC 7587 §7 Opus, RFC 3605 `a=rtcp`, and a
//! table of hostile input.

use super::*;
use std::net::{IpAddr, Ipv4Addr};

fn local(port: u16, codecs: &[CodecKind]) -> LocalMedia {
    LocalMedia {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), port),
        codecs: codecs.to_vec(),
        telephone_event: true,
        direction: Default::default(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn crlf(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

#[test]
fn offer_lists_codecs_in_preference_order_with_telephone_events() {
    let offer = create_offer(&local(40_000, &CodecKind::ALL), 42, 1);
    let expected = crlf(&[
        "v=0",
        "o=- 42 1 IN IP4 192.0.2.10",
        "s=-",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "m=audio 40000 RTP/AVP 111 0 8 101 100",
        "a=sendrecv",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/48000",
        "a=rtpmap:100 telephone-event/8000",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=fmtp:101 0-16",
        "a=fmtp:100 0-16",
        "a=ptime:20",
    ]);
    assert_eq!(offer, expected);
}

#[test]
fn offer_without_opus_or_dtmf_has_only_what_is_asked() {
    let mut l = local(40_000, &[CodecKind::Pcma]);
    l.telephone_event = false;
    let offer = create_offer(&l, 1, 2);
    assert!(offer.contains("m=audio 40000 RTP/AVP 8\r\n"), "{offer}");
    assert!(!offer.contains("telephone-event"));
    assert!(!offer.contains("opus"));
}

#[test]
fn empty_preferences_offer_everything_and_duplicates_collapse() {
    let offer = create_offer(&local(40_000, &[]), 1, 1);
    assert!(offer.contains("RTP/AVP 111 0 8 101 100"), "{offer}");
    let offer = create_offer(&local(40_000, &[CodecKind::Pcmu, CodecKind::Pcmu]), 1, 1);
    assert!(offer.contains("RTP/AVP 0 100\r\n"), "{offer}");
}

#[test]
fn ipv6_offer_uses_ip6_connection() {
    let l = LocalMedia {
        addr: addr("[2001:db8::1]:5004"),
        codecs: vec![CodecKind::Opus],
        telephone_event: false,
        direction: Default::default(),
    };
    let offer = create_offer(&l, 1, 1);
    assert!(offer.contains("c=IN IP6 2001:db8::1\r\n"), "{offer}");
    let (_, neg) = answer_offer(&offer, &local(6000, &[]), 2, 1).unwrap();
    assert_eq!(neg.remote_rtp, addr("[2001:db8::1]:5004"));
    assert_eq!(neg.remote_rtcp, addr("[2001:db8::1]:5005"));
}

#[test]
fn wren_to_wren_offer_answer_agrees_on_codec_pt_and_dtmf() {
    let alice = local(40_000, &[CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma]);
    let mut bob = local(50_000, &[CodecKind::Pcma, CodecKind::Opus]);
    bob.addr = addr("198.51.100.7:50000");
    let offer = create_offer(&alice, 1, 1);
    let (answer, at_bob) = answer_offer(&offer, &bob, 7, 1).unwrap();
    assert_eq!(at_bob.codec, CodecKind::Pcma);
    assert_eq!(at_bob.pt, 8);
    assert_eq!(at_bob.dtmf_pt, Some(100));
    assert_eq!(at_bob.remote_rtp, addr("192.0.2.10:40000"));
    assert_eq!(at_bob.remote_rtcp, addr("192.0.2.10:40001"));
    assert_eq!(at_bob.direction, Direction::SendRecv);
    assert!(
        answer.contains("m=audio 50000 RTP/AVP 8 100\r\n"),
        "{answer}"
    );

    let at_alice = accept_answer(&answer, &alice).unwrap();
    assert_eq!(at_alice.codec, CodecKind::Pcma);
    assert_eq!(at_alice.pt, 8);
    assert_eq!(at_alice.dtmf_pt, Some(100));
    assert_eq!(at_alice.remote_rtp, addr("198.51.100.7:50000"));
    assert_eq!(at_alice.ptime_ms, 20);
}

#[test]
fn opus_is_answered_with_telephone_event_at_48k() {
    let offer = create_offer(&local(40_000, &[]), 1, 1);
    let (answer, neg) = answer_offer(&offer, &local(50_000, &[]), 2, 1).unwrap();
    assert_eq!(
        (neg.codec, neg.pt, neg.dtmf_pt),
        (CodecKind::Opus, 111, Some(101))
    );
    assert!(answer.contains("a=rtpmap:111 opus/48000/2\r\n"));
    assert!(answer.contains("a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
    assert!(answer.contains("a=rtpmap:101 telephone-event/48000\r\n"));
}

/// RFC 4317 §2.1 (Audio and Video 1): PCMU, PCMA and iLBC offered with video; the answer
/// takes one audio codec and, here, rejects the video.
const RFC4317_2_1_OFFER: &str = "v=0\r
o=alice 2890844526 2890844526 IN IP4 192.0.2.1\r
s=\r
c=IN IP4 192.0.2.1\r
t=0 0\r
m=audio 49170 RTP/AVP 0 8 97\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:97 iLBC/8000\r
m=video 51372 RTP/AVP 31 32\r
a=rtpmap:31 H261/90000\r
a=rtpmap:32 MPV/90000\r
";

#[test]
fn rfc4317_audio_and_video_offer_gets_g711_and_rejected_video() {
    let (answer, neg) = answer_offer(
        RFC4317_2_1_OFFER,
        &local(49_174, &CodecKind::ALL),
        2808844564,
        1,
    )
    .unwrap();
    assert_eq!((neg.codec, neg.pt, neg.dtmf_pt), (CodecKind::Pcmu, 0, None));
    assert_eq!(neg.remote_rtp, addr("192.0.2.1:49170"));
    assert!(answer.contains("m=audio 49174 RTP/AVP 0\r\n"), "{answer}");
    assert!(answer.contains("m=video 0 RTP/AVP 31 32\r\n"), "{answer}");
    let audio = answer.find("m=audio").unwrap();
    let video = answer.find("m=video").unwrap();
    assert!(
        audio < video,
        "m= lines keep the offer's order (RFC 3264 §6)"
    );

    let (_, neg) = answer_offer(
        RFC4317_2_1_OFFER,
        &local(49_174, &[CodecKind::Pcma, CodecKind::Pcmu]),
        1,
        1,
    )
    .unwrap();
    assert_eq!(
        (neg.codec, neg.pt),
        (CodecKind::Pcma, 8),
        "our preference wins"
    );
}

#[test]
fn rfc4317_answer_with_one_codec_and_video_is_accepted() {
    let answer = crlf(&[
        "v=0",
        "o=bob 2808844564 2808844564 IN IP4 192.0.2.2",
        "s=",
        "c=IN IP4 192.0.2.2",
        "t=0 0",
        "m=audio 49174 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "m=video 49170 RTP/AVP 32",
        "a=rtpmap:32 MPV/90000",
    ]);
    let neg = accept_answer(&answer, &local(49_170, &CodecKind::ALL)).unwrap();
    assert_eq!((neg.codec, neg.pt), (CodecKind::Pcmu, 0));
    assert_eq!(neg.remote_rtp, addr("192.0.2.2:49174"));
}

#[test]
fn rfc4317_hold_directions_are_mirrored() {
    // RFC 4317 §3.1: a=sendonly puts us on hold; the answer says recvonly.
    for (offered, ours, written) in [
        ("a=sendonly", Direction::RecvOnly, "a=recvonly"),
        ("a=recvonly", Direction::SendOnly, "a=sendonly"),
        ("a=inactive", Direction::Inactive, "a=inactive"),
        ("a=sendrecv", Direction::SendRecv, "a=sendrecv"),
    ] {
        let offer = crlf(&[
            "v=0",
            "o=alice 1 2 IN IP4 192.0.2.1",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=0 0",
            "m=audio 49170 RTP/AVP 0",
            offered,
        ]);
        let (answer, neg) = answer_offer(&offer, &local(4000, &[]), 1, 1).unwrap();
        assert_eq!(neg.direction, ours, "{offered}");
        assert!(
            answer.contains(&format!("{written}\r\n")),
            "{offered}: {answer}"
        );
    }
}

#[test]
fn session_level_direction_and_zero_address_hold() {
    let offer = crlf(&[
        "v=0",
        "o=alice 1 2 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
    ]);
    let (_, neg) = answer_offer(&offer, &local(4000, &[]), 1, 1).unwrap();
    assert_eq!(
        neg.direction,
        Direction::RecvOnly,
        "RFC 3264 §8.4 c=0.0.0.0 hold"
    );

    let offer = crlf(&[
        "v=0",
        "o=alice 1 2 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "a=inactive",
        "m=audio 49170 RTP/AVP 0",
    ]);
    let (_, neg) = answer_offer(&offer, &local(4000, &[]), 1, 1).unwrap();
    assert_eq!(
        neg.direction,
        Direction::Inactive,
        "session-level attribute applies"
    );
}

/// RFC 7587 §7: an Opus offer on a dynamic payload type, with fmtp parameters and ptime 40.
#[test]
fn rfc7587_opus_offer_is_answered_on_the_offered_payload_type() {
    let offer = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.5",
        "s=-",
        "c=IN IP4 192.0.2.5",
        "t=0 0",
        "m=audio 54312 RTP/AVP 101",
        "a=rtpmap:101 opus/48000/2",
        "a=fmtp:101 maxplaybackrate=16000; sprop-maxcapturerate=16000; \
         maxaveragebitrate=20000; stereo=1; useinbandfec=1; usedtx=0",
        "a=ptime:40",
        "a=maxptime:40",
    ]);
    let (answer, neg) = answer_offer(&offer, &local(4000, &CodecKind::ALL), 1, 1).unwrap();
    assert_eq!(
        (neg.codec, neg.pt, neg.dtmf_pt),
        (CodecKind::Opus, 101, None)
    );
    assert_eq!(neg.ptime_ms, 40);
    assert!(answer.contains("m=audio 4000 RTP/AVP 101\r\n"), "{answer}");
    assert!(answer.contains("a=rtpmap:101 opus/48000/2\r\n"), "{answer}");
}

#[test]
fn telephone_event_at_another_clock_rate_is_not_taken() {
    let offer = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.5",
        "s=-",
        "c=IN IP4 192.0.2.5",
        "t=0 0",
        "m=audio 5000 RTP/AVP 96 0 101",
        "a=rtpmap:96 OPUS/48000/2",
        "a=rtpmap:101 telephone-event/8000",
    ]);
    let (_, neg) = answer_offer(&offer, &local(4000, &[]), 1, 1).unwrap();
    assert_eq!(
        (neg.codec, neg.pt, neg.dtmf_pt),
        (CodecKind::Opus, 96, None)
    );
    let (_, neg) = answer_offer(&offer, &local(4000, &[CodecKind::Pcmu]), 1, 1).unwrap();
    assert_eq!(
        (neg.codec, neg.pt, neg.dtmf_pt),
        (CodecKind::Pcmu, 0, Some(101))
    );
}

#[test]
fn rfc3605_rtcp_attribute_and_media_level_connection() {
    let offer = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.5",
        "s=-",
        "c=IN IP4 192.0.2.5",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
        "c=IN IP4 203.0.113.9",
        "a=rtcp:53020",
    ]);
    let (_, neg) = answer_offer(&offer, &local(4000, &[]), 1, 1).unwrap();
    assert_eq!(neg.remote_rtp, addr("203.0.113.9:49170"));
    assert_eq!(neg.remote_rtcp, addr("203.0.113.9:53020"));

    let offer = offer.replace("a=rtcp:53020", "a=rtcp:53021 IN IP4 126.16.64.4");
    let (_, neg) = answer_offer(&offer, &local(4000, &[]), 1, 1).unwrap();
    assert_eq!(neg.remote_rtcp, addr("126.16.64.4:53021"));
}

#[test]
fn incompatible_offers_get_distinct_errors() {
    let base = |m: &str, extra: &[&str]| {
        let mut lines = vec![
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.5",
            "s=-",
            "c=IN IP4 192.0.2.5",
        ];
        lines.push("t=0 0");
        lines.push(m);
        lines.extend_from_slice(extra);
        crlf(&lines)
    };
    let cases = [
        (base("m=video 5000 RTP/AVP 31", &[]), "sdp.no_audio"),
        (base("m=audio 0 RTP/AVP 0", &[]), "sdp.audio_rejected"),
        (
            base(
                "m=audio 5000 RTP/SAVP 0",
                &["a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA"],
            ),
            "sdp.unsupported_transport",
        ),
        (
            base("m=audio 5000 RTP/AVP 18 9", &["a=rtpmap:18 G729/8000"]),
            "sdp.no_common_codec",
        ),
        (
            base("m=audio 5000 RTP/AVP 96", &["a=rtpmap:96 opus/16000/2"]),
            "sdp.no_common_codec",
        ),
        (
            crlf(&[
                "v=0",
                "o=- 1 1 IN IP4 192.0.2.5",
                "s=-",
                "t=0 0",
                "m=audio 5000 RTP/AVP 0",
            ]),
            "sdp.no_connection",
        ),
        (
            base("m=audio 5000 RTP/AVP 0", &["c=IN IP4 pbx.example.com"]),
            "sdp.unsupported_address",
        ),
        (base("m=audio 65535 RTP/AVP 0", &[]), "sdp.malformed"),
    ];
    for (sdp, code) in &cases {
        let err = answer_offer(sdp, &local(4000, &[]), 1, 1).unwrap_err();
        assert_eq!(err.code(), *code, "{sdp}");
        let err = accept_answer(sdp, &local(4000, &[])).unwrap_err();
        assert_eq!(err.code(), *code, "{sdp}");
    }
}

#[test]
fn answer_rejecting_audio_is_an_error_for_the_offerer() {
    let answer = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.5",
        "s=-",
        "c=IN IP4 192.0.2.5",
        "t=0 0",
        "m=audio 0 RTP/AVP 0",
    ]);
    assert_eq!(
        accept_answer(&answer, &local(4000, &[])).unwrap_err(),
        SdpError::AudioRejected
    );
}

#[test]
fn hostile_sdp_is_an_error_not_a_panic() {
    let valid = create_offer(&local(40_000, &[]), 1, 1);
    let hostile: Vec<String> = vec![
        String::new(),
        "garbage".into(),
        "\0\0\0".into(),
        "v=0".into(),
        "v=0\r\n".into(),
        "v=0\r\nm=audio 1 RTP/AVP 0\r\n".into(),
        valid.replace("o=- 1 1 IN IP4 192.0.2.10\r\n", ""),
        valid.replace("t=0 0", "t=x y"),
        valid.replace("m=audio 40000", "m=audio 99999999999999999999"),
        valid.replace("m=audio 40000", "m=audio -1"),
        valid.replace("m=audio 40000 RTP/AVP", "m=audio"),
        valid.replace("c=IN IP4 192.0.2.10", "c=IN IP4 999.1.1.1"),
        valid.replace("c=IN IP4 192.0.2.10", "c=IN IP9 1.2.3.4"),
        valid.replace("c=IN IP4 192.0.2.10", "c="),
        valid.replace(
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:111 opus/99999999999999",
        ),
        valid.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:999 opus/48000/2"),
        valid.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:"),
        valid.replace("a=fmtp:111", "a=fmtp:abc"),
        valid.replace("a=sendrecv", "a=rtcp:99999999"),
        valid.replace("a=sendrecv", "a=rtcp:"),
        "v=0\r\nc\r\no\r\nm\r\na\r\n".into(),
        "é".repeat(1000),
        "v=0\r\n".repeat(10_000),
    ];
    for sdp in &hostile {
        assert!(
            answer_offer(sdp, &local(4000, &[]), 1, 1).is_err(),
            "{sdp:?}"
        );
        assert!(accept_answer(sdp, &local(4000, &[])).is_err(), "{sdp:?}");
    }
    // Out-of-range values that are ignored, not fatal.
    for tolerable in [
        valid.replace("a=ptime:20", "a=ptime:99999999999999999999"),
        valid.replace("a=ptime:20", "a=ptime:0"),
        valid.replace("RTP/AVP 111", "RTP/AVP 200 111"),
    ] {
        let (_, neg) = answer_offer(&tolerable, &local(4000, &[]), 1, 1).unwrap();
        assert_eq!((neg.codec, neg.ptime_ms), (CodecKind::Opus, 20));
    }
}

#[test]
fn mutated_sdp_never_panics() {
    let valid = create_offer(&local(40_000, &[]), 1, 1).into_bytes();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"0123456789 /:=\r\nacmovtIPN-.";
    for _ in 0..3000 {
        let mut sdp = valid.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % sdp.len() as u64) as usize;
            match next() % 3 {
                0 => sdp[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => {
                    sdp.remove(at);
                }
                _ => sdp.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        let text = String::from_utf8_lossy(&sdp);
        let _ = answer_offer(&text, &local(4000, &[]), 1, 1);
        let _ = accept_answer(&text, &local(4000, &[]));
    }
}
