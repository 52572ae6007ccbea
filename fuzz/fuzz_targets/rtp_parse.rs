//! `RtpPacket::parse` on arbitrary bytes: never panics; an accepted packet's payload lies
//! inside the datagram after the fixed header, and writing its header and payload back
//! parses to the same header and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wren_media::rtp::{RtpPacket, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    assert!(packet.payload.len() + HEADER_LEN <= data.len());
    assert!(packet.header.payload_type.as_u8() <= 127);
    let mut out = Vec::new();
    packet.header.write(packet.payload, &mut out);
    let again = RtpPacket::parse(&out).expect("our own packet parses");
    assert_eq!(again, packet);
});
