//! `rtcp::parse_compound` on arbitrary bytes: never panics; what it accepts writes back
//! (`write_compound`) into a datagram that parses again to the same SR/RR/SDES/BYE packets
//! (unknown packet types are skipped on write; text that wasn't valid UTF-8 is compared
//! only by presence, since it was read lossily).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wren_media::rtcp::{parse_compound, write_compound, RtcpPacket, MAX_REPORT_BLOCKS};

/// The packet with any lossily decoded text blanked, for comparison.
fn comparable(p: &RtcpPacket) -> RtcpPacket {
    let clean = |t: &Option<String>| {
        t.as_ref().map(|s| {
            if s.contains('\u{fffd}') {
                String::new()
            } else {
                s.clone()
            }
        })
    };
    match p {
        RtcpPacket::SourceDescription { chunks } => RtcpPacket::SourceDescription {
            chunks: chunks.iter().map(|(s, c)| (*s, clean(c))).collect(),
        },
        RtcpPacket::Goodbye { ssrcs, reason } => RtcpPacket::Goodbye {
            ssrcs: ssrcs.clone(),
            reason: clean(reason),
        },
        other => other.clone(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(packets) = parse_compound(data) else {
        return;
    };
    assert!(!packets.is_empty());
    for p in &packets {
        match p {
            RtcpPacket::SenderReport { reports, .. }
            | RtcpPacket::ReceiverReport { reports, .. } => {
                assert!(reports.len() <= MAX_REPORT_BLOCKS);
                for r in reports {
                    assert!((-0x80_0000..=0x7f_ffff).contains(&r.cumulative_lost));
                }
            }
            RtcpPacket::SourceDescription { chunks } => assert!(chunks.len() <= MAX_REPORT_BLOCKS),
            RtcpPacket::Goodbye { ssrcs, .. } => assert!(ssrcs.len() <= MAX_REPORT_BLOCKS),
            RtcpPacket::Other { .. } => {}
        }
    }
    let known: Vec<RtcpPacket> = packets
        .iter()
        .filter(|p| !matches!(p, RtcpPacket::Other { .. }))
        .cloned()
        .collect();
    let written = write_compound(&known);
    if known.is_empty() {
        assert!(written.is_empty());
        return;
    }
    let again = parse_compound(&written).expect("our own compound packet parses");
    assert_eq!(
        again.iter().map(comparable).collect::<Vec<_>>(),
        known.iter().map(comparable).collect::<Vec<_>>()
    );
});
