//! The filter in front of an incarnation: SILT's in-RAM tag table. Every
//! slot of the frozen cuckoo table has a 17-bit tag in RAM, at the same
//! bucket and slot: 0 for an empty slot, else 17 bits of the hash the slot
//! holds (tombstones included) that the bucket choice does not use. A
//! lookup compares its hash's tag with the tags of its two candidate
//! buckets: a miss reads flash only where a tag matches falsely (about
//! 2·B / 131,071 an incarnation, 6·10⁻⁵ at B = 4), a hit reads the one page
//! of the bucket whose tag matched, plus a false match of a newer
//! incarnation now and then. RAM is 17 bits a slot, so 2.125 / fill bytes
//! an entry: 2.17 at the 0.98 fill a BFS-filled table freezes at, whatever
//! the incarnation's size. (16-bit tags took 2.04 bytes, but a hit in the
//! oldest of 32 incarnations then met about 0.004 false matches on the way,
//! too close to the 0.01 a hit allows; 18 bits would take 2.30.)
//!
//! Owns building the tags, their bytes on flash (tags packed little-endian,
//! tag `i` at bit 17·i, in bucket and slot order, then 3 bytes of padding)
//! and decoding them back. Promises: no false negative for a filter built
//! from a table's placement; bytes decode only at the exact length of the
//! shape given, so no lookup indexes outside them.

use crate::cuckoo;
use crate::types::Hash;

/// A filter of an incarnation's hashes: a tag for every slot of its table.
#[derive(Clone, Debug)]
pub struct HashFilter {
    order: u32,
    bucket_slots: usize,
    /// The packed tags: slot `bucket * bucket_slots + slot` at bit 17 times
    /// that; 0 is an empty slot.
    packed: Box<[u8]>,
}

/// Bits of a tag.
pub const TAG_BITS: u32 = 17;
const TAG_MASK: u32 = (1 << TAG_BITS) - 1;
/// Bytes past the last tag, so that every tag is read as one 4-byte word
/// (a tag starts at most 7 bits into its first byte: 7 + 17 ≤ 32).
const PAD_BYTES: u64 = 3;

/// The tag of `hash`: 17 bits from bytes 24 to 26 (the candidate buckets
/// come from bytes 0 to 15), never 0, which marks an empty slot.
#[inline]
fn tag_of(hash: &Hash) -> u32 {
    (u32::from_le_bytes([hash[24], hash[25], hash[26], 0]) & TAG_MASK).max(1)
}

/// The byte holding slot `index`'s first bit, and the bit within it.
#[inline]
fn locate(index: usize) -> (usize, u32) {
    let bit = index * TAG_BITS as usize;
    (bit / 8, (bit % 8) as u32)
}

#[inline]
fn word_at(packed: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(packed[at..at + 4].try_into().expect("four bytes"))
}

impl HashFilter {
    /// Bytes of the filter of a table of 2^`order` buckets of
    /// `bucket_slots` slots: 17 bits a slot, whatever it holds, and the
    /// padding.
    pub fn bytes_for(order: u32, bucket_slots: usize) -> u64 {
        let slots = (1u64 << order.min(63)).saturating_mul(bucket_slots as u64);
        slots.saturating_mul(u64::from(TAG_BITS)).div_ceil(8) + PAD_BYTES
    }

    /// The filter of a table of 2^`order` buckets of `bucket_slots` slots
    /// whose `placed` hashes sit at (bucket, slot). A placement outside the
    /// table is a caller's bug.
    pub fn build<'a>(
        order: u32,
        bucket_slots: usize,
        placed: impl Iterator<Item = (u64, usize, &'a Hash)>,
    ) -> HashFilter {
        let mut packed = vec![0u8; Self::bytes_for(order, bucket_slots) as usize];
        for (bucket, slot, hash) in placed {
            assert!(slot < bucket_slots, "slot {slot} of {bucket_slots}");
            assert!(bucket < 1u64 << order, "bucket {bucket} of 2^{order}");
            let (at, shift) = locate(bucket as usize * bucket_slots + slot);
            let word = word_at(&packed, at);
            assert!(
                (word >> shift) & TAG_MASK == 0,
                "bucket {bucket} slot {slot} placed twice"
            );
            // The field is zero (asserted), so adding the tag sets it.
            packed[at..at + 4].copy_from_slice(&(word + (tag_of(hash) << shift)).to_le_bytes());
        }
        HashFilter {
            order,
            bucket_slots,
            packed: packed.into_boxed_slice(),
        }
    }

    /// Whether slot `slot` of `bucket` holds `hash`'s tag: what the
    /// filter was built with for a hash placed there. A placement outside
    /// the table is a caller's bug.
    pub fn holds_at(&self, bucket: u64, slot: usize, hash: &Hash) -> bool {
        assert!(
            slot < self.bucket_slots,
            "slot {slot} of {}",
            self.bucket_slots
        );
        assert!(
            bucket < 1u64 << self.order,
            "bucket {bucket} of 2^{}",
            self.order
        );
        let (at, shift) = locate(bucket as usize * self.bucket_slots + slot);
        (word_at(&self.packed, at) >> shift) & TAG_MASK == tag_of(hash)
    }

    /// Whether `hash` may sit in its first and in its second candidate
    /// bucket (false: it surely does not).
    #[inline]
    pub fn candidates(&self, hash: &Hash) -> [bool; 2] {
        let tag = tag_of(hash);
        let holds = |bucket: u64| {
            let first = bucket as usize * self.bucket_slots;
            (first..first + self.bucket_slots).any(|index| {
                let (at, shift) = locate(index);
                (word_at(&self.packed, at) >> shift) & TAG_MASK == tag
            })
        };
        [
            holds(cuckoo::h1(hash, self.order)),
            holds(cuckoo::h2(hash, self.order)),
        ]
    }

    /// RAM the tags take.
    pub fn ram_bytes(&self) -> usize {
        self.packed.len()
    }

    /// The bytes stored on flash.
    pub fn encode(&self) -> Vec<u8> {
        self.packed.to_vec()
    }

    /// Decodes [`HashFilter::encode`]'s bytes for a table of 2^`order`
    /// buckets of `bucket_slots` slots: `None` unless they are exactly that
    /// table's length.
    pub fn decode(bytes: &[u8], order: u32, bucket_slots: usize) -> Option<HashFilter> {
        if order >= usize::BITS || bytes.len() as u64 != Self::bytes_for(order, bucket_slots) {
            return None;
        }
        Some(HashFilter {
            order,
            bucket_slots,
            packed: bytes.into(),
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

    /// A table of 2^`order` buckets of 4 slots filled with `set`, each hash
    /// in its first bucket or, that full, its second (one that fits neither
    /// is left out): (bucket, slot, hash).
    fn place(set: &[Hash], order: u32) -> Vec<(u64, usize, Hash)> {
        let mut used = vec![0usize; 1 << order];
        let mut placed = Vec::new();
        for hash in set {
            let buckets = [cuckoo::h1(hash, order), cuckoo::h2(hash, order)];
            if let Some(&bucket) = buckets.iter().find(|&&b| used[b as usize] < 4) {
                placed.push((bucket, used[bucket as usize], *hash));
                used[bucket as usize] += 1;
            }
        }
        placed
    }

    fn filter_of(placed: &[(u64, usize, Hash)], order: u32) -> HashFilter {
        HashFilter::build(order, 4, placed.iter().map(|(b, s, h)| (*b, *s, h)))
    }

    #[test]
    fn no_false_negative_few_false_positives_and_a_round_trip() {
        for order in [0, 1, 6, 12] {
            let set = hashes(u64::from(order), 4 << order);
            let placed = place(&set, order);
            let filter = filter_of(&placed, order);
            let back = HashFilter::decode(&filter.encode(), order, 4).expect("decodes");
            for f in [&filter, &back] {
                for (bucket, _, hash) in &placed {
                    let second = usize::from(*bucket != cuckoo::h1(hash, order));
                    assert!(
                        f.candidates(hash)[second],
                        "a false negative at order {order}"
                    );
                }
            }
            if order < 12 {
                continue;
            }
            // Another hash, or a placed one's other bucket, answers falsely
            // about B / 131,071 a bucket asked.
            let wrong_bucket = placed
                .iter()
                .filter(|(b, _, h)| {
                    let second = *b != cuckoo::h1(h, order);
                    cuckoo::h1(h, order) != cuckoo::h2(h, order)
                        && back.candidates(h)[usize::from(!second)]
                })
                .count();
            let asked = placed.len();
            assert!(wrong_bucket <= 10, "{wrong_bucket} of {asked}");
            let others = hashes(u64::MAX, 100_000);
            let positives: usize = others
                .iter()
                .map(|h| back.candidates(h).iter().filter(|&&b| b).count())
                .sum();
            assert!(
                (1..=20).contains(&positives),
                "{positives} false positives in 200,000 buckets asked"
            );
        }
    }

    #[test]
    fn seventeen_bits_a_slot_and_empty_slots_match_nothing() {
        let filter = HashFilter::build(10, 4, std::iter::empty());
        assert_eq!(filter.ram_bytes() as u64, HashFilter::bytes_for(10, 4));
        assert_eq!(filter.ram_bytes(), 17 * 4 * 1024 / 8 + 3);
        assert!(hashes(3, 10_000)
            .iter()
            .all(|h| filter.candidates(h) == [false, false]));
    }

    #[test]
    #[should_panic(expected = "placed twice")]
    fn a_slot_placed_twice_is_a_bug() {
        let set = hashes(4, 2);
        HashFilter::build(3, 4, set.iter().map(|h| (5, 1, h)));
    }

    #[test]
    fn only_the_exact_length_decodes() {
        let set = hashes(9, 64);
        let filter = filter_of(&place(&set, 4), 4);
        let bytes = filter.encode();
        assert!(HashFilter::decode(&bytes, 4, 4).is_some());
        assert!(HashFilter::decode(&bytes[1..], 4, 4).is_none());
        assert!(HashFilter::decode(&bytes, 5, 4).is_none());
        assert!(HashFilter::decode(&bytes, 4, 2).is_none());
        assert!(HashFilter::decode(&bytes, 70, 4).is_none());
    }
}
