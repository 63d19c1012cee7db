//! The filter in front of an incarnation: a binary fuse filter (xorf's
//! `BinaryFuse16`, about 18 bits an entry, false positives about 2^-16) of
//! every hash the incarnation holds, tombstones included, each keyed with
//! the candidate bucket it sits in (its first or its second). A lookup asks
//! for both: a miss reads no flash unless one answers falsely (about 2^-15
//! an incarnation), a hit reads the one page holding its bucket. So SILT's
//! in-RAM tags do, which the filter replaces at about 2.25 bytes an entry.
//!
//! Owns building a filter, its bytes on flash (a 20-byte descriptor, then
//! the 16-bit fingerprints), and decoding them back. Promises: no false
//! negative for a filter built here; bytes that decode are checked so that
//! no lookup can index outside the fingerprints (a crafted descriptor gives
//! `None`, never a panic).

use xorf::{BinaryFuse16, Descriptor, Filter as _};

use crate::types::Hash;

/// Bytes of the descriptor: seed, segment length, its mask, the segments'
/// whole length.
const DESCRIPTOR_BYTES: usize = 20;

/// Most fingerprints a decoded filter may hold: far past any incarnation
/// (2^24 buckets of 8 slots), so a crafted length cannot allocate the world.
const FINGERPRINTS_MAX: usize = 1 << 28;

/// A filter of an incarnation's hashes.
#[derive(Clone, Debug)]
pub struct HashFilter {
    inner: BinaryFuse16,
}

/// What keys a hash in its second candidate bucket apart from the same
/// hash in its first (an odd constant: the golden ratio's bits).
const SECOND_BUCKET_KEY: u64 = 0x9E37_79B9_7F4A_7C15;

/// The filter's key of a hash in its first or second candidate bucket: its
/// first eight bytes (hashes are uniform), told apart by bucket.
fn key_of(hash: &Hash, second: bool) -> u64 {
    let key = u64::from_le_bytes(hash[..8].try_into().expect("eight bytes"));
    if second {
        key ^ SECOND_BUCKET_KEY
    } else {
        key
    }
}

impl HashFilter {
    /// The filter of `placed` hashes, each with whether it sits in its
    /// second candidate bucket; `None` if it cannot be built (xorf gives up
    /// after its retries: lookups then read the pages, as without one).
    pub fn build<'a>(placed: impl Iterator<Item = (&'a Hash, bool)>) -> Option<HashFilter> {
        let mut keys: Vec<u64> = placed.map(|(hash, second)| key_of(hash, second)).collect();
        keys.sort_unstable();
        keys.dedup();
        BinaryFuse16::try_from(&keys)
            .ok()
            .map(|inner| HashFilter { inner })
    }

    /// Whether `hash` may sit in its first and in its second candidate
    /// bucket (false: it surely does not).
    #[inline]
    pub fn candidates(&self, hash: &Hash) -> [bool; 2] {
        [
            self.inner.contains(&key_of(hash, false)),
            self.inner.contains(&key_of(hash, true)),
        ]
    }

    /// The most bytes [`HashFilter::encode`] gives for `keys` keys: xorf's
    /// sizing of a 3-wise binary fuse filter (segment length and size
    /// factor), plus its two trailing segments and one of rounding.
    pub fn bytes_max(keys: u64) -> u64 {
        let n = keys.max(2) as f64;
        let segment = 2f64
            .powf((n.ln() / 3.33f64.ln() + 2.25).floor())
            .min(262_144.0);
        let factor = (0.875 + 0.25 * 1e6f64.ln() / n.ln()).max(1.125);
        let slots = (n * factor).ceil() + 3.0 * segment;
        DESCRIPTOR_BYTES as u64 + 2 * slots as u64
    }

    /// RAM the fingerprints take.
    pub fn ram_bytes(&self) -> usize {
        self.inner.fingerprints.len() * 2 + DESCRIPTOR_BYTES
    }

    /// The bytes stored on flash.
    pub fn encode(&self) -> Vec<u8> {
        let d = &self.inner.descriptor;
        let mut bytes = Vec::with_capacity(DESCRIPTOR_BYTES + self.inner.fingerprints.len() * 2);
        bytes.extend_from_slice(&d.seed.to_le_bytes());
        bytes.extend_from_slice(&d.segment_length.to_le_bytes());
        bytes.extend_from_slice(&d.segment_length_mask.to_le_bytes());
        bytes.extend_from_slice(&d.segment_count_length.to_le_bytes());
        for fingerprint in self.inner.fingerprints.iter() {
            bytes.extend_from_slice(&fingerprint.to_le_bytes());
        }
        bytes
    }

    /// Decodes [`HashFilter::encode`]'s bytes, checking that every index a
    /// lookup computes falls inside the fingerprints: the segment length a
    /// power of two with its mask, the segments at least one and a whole
    /// number of it, and room for two segments past them. (A key's first
    /// index lies in some segment below the total; its second and third,
    /// one and two segments on, stay in their segments' windows, so below
    /// the total plus two segments.)
    pub fn decode(bytes: &[u8]) -> Option<HashFilter> {
        if bytes.len() < DESCRIPTOR_BYTES || (bytes.len() - DESCRIPTOR_BYTES) % 2 != 0 {
            return None;
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let descriptor = Descriptor {
            seed: u64::from_le_bytes(bytes[..8].try_into().expect("8")),
            segment_length: u32_at(8),
            segment_length_mask: u32_at(12),
            segment_count_length: u32_at(16),
        };
        let fingerprints: Box<[u16]> = bytes[DESCRIPTOR_BYTES..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let (length, mask, total) = (
            descriptor.segment_length,
            descriptor.segment_length_mask,
            u64::from(descriptor.segment_count_length),
        );
        let sound = length.is_power_of_two()
            && mask == length - 1
            && total >= u64::from(length)
            && total % u64::from(length) == 0
            && fingerprints.len() <= FINGERPRINTS_MAX
            && fingerprints.len() as u64 >= total + 2 * u64::from(length);
        sound.then_some(HashFilter {
            inner: BinaryFuse16 {
                descriptor,
                fingerprints,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn hashes(seed: u64, n: usize) -> Vec<Hash> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random()).collect()
    }

    /// Each hash placed in its first or second bucket by its last bit.
    fn placed(set: &[Hash]) -> impl Iterator<Item = (&Hash, bool)> {
        set.iter().map(|h| (h, h[31] & 1 == 1))
    }

    fn may_contain(filter: &HashFilter, hash: &Hash) -> bool {
        filter.candidates(hash) != [false, false]
    }

    #[test]
    fn no_false_negative_few_false_positives_and_a_round_trip() {
        for n in [0, 1, 7, 1_000, 20_000] {
            let set = hashes(n as u64, n);
            let filter = HashFilter::build(placed(&set)).expect("builds");
            let back = HashFilter::decode(&filter.encode()).expect("decodes");
            for f in [&filter, &back] {
                for hash in &set {
                    let second = usize::from(hash[31] & 1 == 1);
                    assert!(f.candidates(hash)[second], "a false negative at n = {n}");
                }
            }
            // The other bucket, like another hash, answers falsely rarely.
            let wrong_bucket = set
                .iter()
                .filter(|h| back.candidates(h)[usize::from(h[31] & 1 == 0)])
                .count();
            assert!(
                wrong_bucket * 10_000 <= n.max(1) * 3,
                "{wrong_bucket} of {n}"
            );
            let others = hashes(u64::MAX - n as u64, 100_000);
            let positives = others.iter().filter(|h| may_contain(&back, h)).count();
            assert!(
                positives <= 12,
                "{positives} false positives in 100,000 at n = {n}"
            );
            if n >= 1_000 {
                let bits = back.ram_bytes() as f64 * 8.0 / n as f64;
                assert!(bits < 23.0, "{bits} bits an entry at n = {n}");
            }
        }
    }

    #[test]
    fn bytes_max_bounds_every_filter_built() {
        for n in [
            0usize, 1, 2, 3, 10, 100, 255, 1_000, 4_096, 16_000, 65_536, 300_000,
        ] {
            let set = hashes(n as u64 + 7, n);
            let filter = HashFilter::build(placed(&set)).expect("builds");
            let bytes = filter.encode().len() as u64;
            let max = HashFilter::bytes_max(n as u64);
            assert!(bytes <= max, "n = {n}: {bytes} bytes, bound {max}");
            assert!(
                max <= bytes + bytes / 4 + 512,
                "n = {n}: bound {max} loose for {bytes}"
            );
        }
    }

    /// Larger sets cost less a key: about 18 bits at a million.
    #[test]
    fn a_million_hashes_cost_under_two_point_three_bytes_each() {
        let set = hashes(5, 1_000_000);
        let filter = HashFilter::build(placed(&set)).unwrap();
        let bytes = filter.ram_bytes() as f64 / 1e6;
        assert!(bytes <= 2.3, "{bytes} bytes an entry");
    }

    #[test]
    fn crafted_bytes_never_index_outside_the_fingerprints() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let probe = hashes(2, 200);
        for _ in 0..2_000 {
            let len = DESCRIPTOR_BYTES + 2 * rng.random_range(0..300usize);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Often a plausible descriptor: a power of two and its mask.
            if rng.random_bool(0.5) {
                let length = 1u32 << rng.random_range(0..8);
                bytes[8..12].copy_from_slice(&length.to_le_bytes());
                bytes[12..16].copy_from_slice(&(length - 1).to_le_bytes());
                let total = length * rng.random_range(0..8u32);
                bytes[16..20].copy_from_slice(&total.to_le_bytes());
            }
            if let Some(filter) = HashFilter::decode(&bytes) {
                for hash in &probe {
                    may_contain(&filter, hash);
                }
            }
        }
    }
}
