//! The filter in front of an incarnation: SILT's in-RAM tag table. Every
//! slot of the frozen cuckoo table has a 16-bit tag in RAM, at the same
//! bucket and slot: 0 for an empty slot, else 16 bits of the hash the slot
//! holds (tombstones included) that the bucket choice does not use. A
//! lookup compares its hash's tag with the tags of its two candidate
//! buckets: a miss reads flash only where a tag matches falsely (about
//! 2·B / 65,535 an incarnation, 1.2·10⁻⁴ at B = 4), a hit reads the one
//! page of the bucket whose tag matched. RAM is 2 bytes a slot, so 2 / fill
//! an entry: 2.04 bytes at the 0.98 fill a BFS-filled table freezes at,
//! whatever the incarnation's size.
//!
//! Owns building the tags, their bytes on flash (each tag little-endian, in
//! bucket and slot order) and decoding them back. Promises: no false
//! negative for a filter built from a table's placement; bytes decode only
//! at the exact length of the shape given, so no lookup indexes outside
//! the tags.

use crate::cuckoo;
use crate::types::Hash;

/// A filter of an incarnation's hashes: a tag for every slot of its table.
#[derive(Clone, Debug)]
pub struct HashFilter {
    order: u32,
    bucket_slots: usize,
    /// `tags[bucket * bucket_slots + slot]`; 0 is an empty slot.
    tags: Box<[u16]>,
}

/// Bytes on flash (and in RAM) of a tag.
const TAG_BYTES: u64 = 2;

/// The tag of `hash`: bytes 24 and 25 (the candidate buckets come from
/// bytes 0 to 15), never 0, which marks an empty slot.
#[inline]
fn tag_of(hash: &Hash) -> u16 {
    u16::from_le_bytes([hash[24], hash[25]]).max(1)
}

impl HashFilter {
    /// Bytes of the filter of a table of 2^`order` buckets of
    /// `bucket_slots` slots: two a slot, whatever it holds.
    pub fn bytes_for(order: u32, bucket_slots: usize) -> u64 {
        (1u64 << order)
            .saturating_mul(bucket_slots as u64)
            .saturating_mul(TAG_BYTES)
    }

    /// The filter of a table of 2^`order` buckets of `bucket_slots` slots
    /// whose `placed` hashes sit at (bucket, slot). A placement outside the
    /// table is a caller's bug.
    pub fn build<'a>(
        order: u32,
        bucket_slots: usize,
        placed: impl Iterator<Item = (u64, usize, &'a Hash)>,
    ) -> HashFilter {
        let slots = (Self::bytes_for(order, bucket_slots) / TAG_BYTES) as usize;
        let mut tags = vec![0u16; slots].into_boxed_slice();
        for (bucket, slot, hash) in placed {
            assert!(slot < bucket_slots, "slot {slot} of {bucket_slots}");
            tags[bucket as usize * bucket_slots + slot] = tag_of(hash);
        }
        HashFilter {
            order,
            bucket_slots,
            tags,
        }
    }

    /// Whether `hash` may sit in its first and in its second candidate
    /// bucket (false: it surely does not).
    #[inline]
    pub fn candidates(&self, hash: &Hash) -> [bool; 2] {
        let tag = tag_of(hash);
        let holds = |bucket: u64| {
            let first = bucket as usize * self.bucket_slots;
            self.tags[first..first + self.bucket_slots].contains(&tag)
        };
        [
            holds(cuckoo::h1(hash, self.order)),
            holds(cuckoo::h2(hash, self.order)),
        ]
    }

    /// RAM the tags take.
    pub fn ram_bytes(&self) -> usize {
        self.tags.len() * TAG_BYTES as usize
    }

    /// The bytes stored on flash.
    pub fn encode(&self) -> Vec<u8> {
        self.tags.iter().flat_map(|tag| tag.to_le_bytes()).collect()
    }

    /// Decodes [`HashFilter::encode`]'s bytes for a table of 2^`order`
    /// buckets of `bucket_slots` slots: `None` unless they are exactly that
    /// table's length.
    pub fn decode(bytes: &[u8], order: u32, bucket_slots: usize) -> Option<HashFilter> {
        if order >= usize::BITS || bytes.len() as u64 != Self::bytes_for(order, bucket_slots) {
            return None;
        }
        let tags = bytes
            .chunks_exact(TAG_BYTES as usize)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(HashFilter {
            order,
            bucket_slots,
            tags,
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
            // about B / 65,535 a bucket asked.
            let wrong_bucket = placed
                .iter()
                .filter(|(b, _, h)| {
                    let second = *b != cuckoo::h1(h, order);
                    cuckoo::h1(h, order) != cuckoo::h2(h, order)
                        && back.candidates(h)[usize::from(!second)]
                })
                .count();
            assert!(wrong_bucket <= 10, "{wrong_bucket} of {}", placed.len());
            let others = hashes(u64::MAX, 100_000);
            let positives: usize = others
                .iter()
                .map(|h| back.candidates(h).iter().filter(|&&b| b).count())
                .sum();
            assert!(
                (3..=30).contains(&positives),
                "{positives} false positives in 200,000 buckets asked"
            );
        }
    }

    #[test]
    fn two_bytes_a_slot_and_empty_slots_match_nothing() {
        let filter = HashFilter::build(10, 4, std::iter::empty());
        assert_eq!(filter.ram_bytes() as u64, HashFilter::bytes_for(10, 4));
        assert_eq!(filter.ram_bytes(), 2 * 4 * 1024);
        assert!(hashes(3, 10_000)
            .iter()
            .all(|h| filter.candidates(h) == [false, false]));
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
