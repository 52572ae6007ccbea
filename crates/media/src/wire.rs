//! RTP header values as their own types (RFC 3550 §5.1; STYLE.md §6): SSRC, payload type,
//! sequence number and media timestamp. Sequence numbers and timestamps wrap, so they
//! compare by signed distance, never by `<`.

use std::fmt;

/// A synchronisation source identifier (RFC 3550 §5.1, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(u32);

impl Ssrc {
    pub const fn new(ssrc: u32) -> Self {
        Self(ssrc)
    }

    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl From<u32> for Ssrc {
    fn from(ssrc: u32) -> Self {
        Self(ssrc)
    }
}

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::LowerHex for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// An RTP payload type: 7 bits, 0-127 (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// Largest payload type.
    pub const MAX: u8 = 127;

    /// A payload type from outside (SDP, API): `None` above 127.
    pub const fn new(pt: u8) -> Option<Self> {
        if pt <= Self::MAX {
            Some(Self(pt))
        } else {
            None
        }
    }

    /// One of our own constants; a value above 127 fails to compile.
    pub(crate) const fn known(pt: u8) -> Self {
        assert!(pt <= Self::MAX, "payload types have 7 bits");
        Self(pt)
    }

    /// The low 7 bits of an RTP header's second byte (the marker bit dropped).
    pub const fn from_header_bits(byte: u8) -> Self {
        Self(byte & 0x7f)
    }

    pub const fn as_u8(self) -> u8 {
        self.0
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An RTP sequence number (RFC 3550 §5.1), counting modulo 2^16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNo(u16);

impl SeqNo {
    pub const fn new(seq: u16) -> Self {
        Self(seq)
    }

    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The sequence number after this one, wrapping.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }

    /// `n` numbers on, wrapping.
    #[must_use]
    pub const fn wrapping_add(self, n: u16) -> Self {
        Self(self.0.wrapping_add(n))
    }

    /// How far ahead of `earlier` this is, modulo 2^16 (RFC 3550 §A.1 `udelta`).
    pub const fn distance_from(self, earlier: Self) -> u16 {
        self.0.wrapping_sub(earlier.0)
    }

    /// Signed distance `self - other`, taking the shorter way round the wrap.
    pub const fn diff(self, other: Self) -> i16 {
        self.0.wrapping_sub(other.0) as i16
    }
}

impl From<u16> for SeqNo {
    fn from(seq: u16) -> Self {
        Self(seq)
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An RTP timestamp: media time in the codec's clock, modulo 2^32 (RFC 3550 §5.1). Not
/// monotonic time (`Instant`) and not wall-clock time (`NtpTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpTimestamp(u32);

impl RtpTimestamp {
    pub const fn new(ts: u32) -> Self {
        Self(ts)
    }

    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// `ticks` of the RTP clock later, wrapping.
    #[must_use]
    pub const fn wrapping_add(self, ticks: u32) -> Self {
        Self(self.0.wrapping_add(ticks))
    }

    /// Signed distance `self - other` in ticks, taking the shorter way round the wrap.
    pub const fn diff(self, other: Self) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
}

impl From<u32> for RtpTimestamp {
    fn from(ts: u32) -> Self {
        Self(ts)
    }
}

impl fmt::Display for RtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_wrap_rfc3550_a1() {
        let last = SeqNo::new(u16::MAX);
        assert_eq!(last.next(), SeqNo::new(0));
        assert_eq!(SeqNo::new(2).diff(last), 3);
        assert_eq!(last.diff(SeqNo::new(2)), -3);
        assert_eq!(SeqNo::new(2).distance_from(last), 3);
        assert_eq!(last.distance_from(SeqNo::new(2)), u16::MAX - 2);
        assert_eq!(SeqNo::new(65_530).wrapping_add(10), SeqNo::new(4));
    }

    #[test]
    fn timestamp_difference_crosses_the_wrap() {
        let before = RtpTimestamp::new(u32::MAX - 159);
        let after = before.wrapping_add(320);
        assert_eq!(after, RtpTimestamp::new(160));
        assert_eq!(after.diff(before), 320);
        assert_eq!(before.diff(after), -320);
        assert_eq!(RtpTimestamp::new(5).diff(RtpTimestamp::new(5)), 0);
    }

    #[test]
    fn payload_type_is_seven_bits() {
        assert_eq!(PayloadType::new(0).map(PayloadType::as_u8), Some(0));
        assert_eq!(PayloadType::new(127).map(PayloadType::as_u8), Some(127));
        assert_eq!(PayloadType::new(128), None);
        assert_eq!(PayloadType::new(200), None);
        assert_eq!(PayloadType::from_header_bits(0x80 | 111).as_u8(), 111);
    }

    #[test]
    fn values_print_as_numbers() {
        assert_eq!(Ssrc::new(0x5eed).to_string(), "24301");
        assert_eq!(format!("{:08x}", Ssrc::new(0x5eed)), "00005eed");
        assert_eq!(PayloadType::from_header_bits(8).to_string(), "8");
        assert_eq!(SeqNo::new(7).to_string(), "7");
        assert_eq!(RtpTimestamp::new(960).to_string(), "960");
    }
}
