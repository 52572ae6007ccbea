//! Tags, branches and Call-IDs from a seeded generator (the core reads no OS randomness).

use crate::wire::{Branch, SipCallId, Tag};

/// SplitMix64: tiny, fast, and plenty for identifiers that only need to be unique.
#[derive(Debug, Clone)]
pub struct IdGen(u64);

impl IdGen {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` lowercase hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }

    /// `len` lowercase letters and digits, starting with a letter (a valid host label).
    pub fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|i| {
                let n = if i == 0 { 26 } else { ALPHABET.len() as u64 };
                ALPHABET[(self.next() % n) as usize] as char
            })
            .collect()
    }

    /// A fresh From/To tag.
    pub fn tag(&mut self) -> Tag {
        Tag::new(self.hex(10))
    }

    /// A fresh Call-ID.
    pub fn call_id(&mut self) -> SipCallId {
        SipCallId::new(self.hex(20))
    }

    /// A fresh branch with RFC 3261's magic cookie (§8.1.1.7).
    pub fn branch(&mut self) -> Branch {
        Branch::new(format!("z9hG4bK{}", self.hex(16)))
    }
}
