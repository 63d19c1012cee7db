//! [`Digest`]: an order-independent fingerprint of a set of live (hash,
//! info) entries, updated in O(1) a change, so a checker can compare a store
//! with its model without walking either.
//!
//! The digest is the wrapping sum of a 128-bit mix of each live entry. The
//! hashes are SHA-256 outputs and the mix is a bijection of the info per
//! hash, so two different sets collide only by chance (about 2^-128 per
//! comparison); a mismatch is always a real difference.

use std::hash::{BuildHasherDefault, Hasher};

use logstore::{Hash, Info};

/// A hasher for maps keyed by content hashes: the keys are SHA-256
/// outputs, already uniform, so their first eight bytes serve as the hash.
/// Deterministic (no random seed) and far cheaper than SipHash.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length_prefix: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by content hashes, hashed by [`KeyHasher`].
pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Digest(u128);

const K1: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835;
const K2: u128 = 0xD6E8_FEB8_6659_FD93_2B5C_1F3E_4E96_D1A7;

/// The 128-bit contribution of one live entry.
fn mix(hash: &Hash, info: &Info) -> u128 {
    let low = u128::from_le_bytes(hash[..16].try_into().expect("16 bytes"));
    let high = u128::from_le_bytes(hash[16..].try_into().expect("16 bytes"));
    let value = u128::from(info.physical_sector) | u128::from(info.first_logical_sector) << 64;
    let value = (value ^ high).wrapping_mul(K1);
    (value ^ (value >> 67) ^ low).wrapping_mul(K2)
}

impl Digest {
    /// Accounts for `hash` going from `before` to `after` (`None`: absent).
    pub fn replace(&mut self, hash: &Hash, before: Option<Info>, after: Option<Info>) {
        if let Some(info) = before {
            self.0 = self.0.wrapping_sub(mix(hash, &info));
        }
        if let Some(info) = after {
            self.0 = self.0.wrapping_add(mix(hash, &info));
        }
    }

    /// The digest of `entries` (each hash once).
    pub fn of<'a>(entries: impl IntoIterator<Item = (&'a Hash, &'a Info)>) -> Digest {
        let mut digest = Digest::default();
        for (hash, info) in entries {
            digest.replace(hash, None, Some(*info));
        }
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(a: u64, b: u64) -> Info {
        Info {
            physical_sector: a,
            first_logical_sector: b,
        }
    }

    #[test]
    fn order_free_and_sensitive_to_every_field() {
        let (h1, h2) = ([1u8; 32], [2u8; 32]);
        let ab = Digest::of([(&h1, &info(1, 2)), (&h2, &info(3, 4))]);
        let ba = Digest::of([(&h2, &info(3, 4)), (&h1, &info(1, 2))]);
        assert_eq!(ab, ba);
        assert_ne!(ab, Digest::of([(&h1, &info(1, 2)), (&h2, &info(3, 5))]));
        assert_ne!(ab, Digest::of([(&h1, &info(2, 1)), (&h2, &info(3, 4))]));
        assert_ne!(ab, Digest::of([(&h1, &info(3, 4)), (&h2, &info(1, 2))]));
        let mut d = ab;
        d.replace(&h2, Some(info(3, 4)), None);
        assert_eq!(d, Digest::of([(&h1, &info(1, 2))]));
        d.replace(&h1, Some(info(1, 2)), None);
        assert_eq!(d, Digest::default());
    }
}
