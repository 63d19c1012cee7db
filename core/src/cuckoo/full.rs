//! The full slot layout and [`CuckooTable`]: every slot keeps the whole hash
//! and its value, so a lookup never leaves RAM and a kick derives the
//! entry's other bucket from its hash.

use super::config::{order_mask, CuckooConfig, CuckooError, PlacementProblem, Roots, SlotPos};
use super::planner::SlotLayout;
use super::table::{InsertPlan, Table};
use crate::types::Hash;

/// The full layout: each slot keeps the whole hash and the value, and a
/// byte of tag a slot (0: empty; else a byte of the hash that no bucket
/// index uses, 1 to 255), a bucket's bytes read as one word. A lookup matches
/// the tag against the bucket's word at once (as hashbrown's control bytes
/// are matched) and compares whole hashes only where it matches: a miss
/// compares one in 255 occupied slots. Empty slots hold stale or default
/// data, never exposed.
#[derive(Clone, Debug)]
pub struct FullSlots<V> {
    order: u32,
    bucket_slots: usize,
    /// Each slot's hash and value side by side: a hit touches one line
    /// besides the tags.
    entries: Vec<(Hash, V)>,
    /// A byte a slot, a bucket's bytes together (as hashbrown's control
    /// bytes): byte `slot` of bucket `b` at `b * bucket_slots + slot`,
    /// read as one little-endian word of `bucket_slots` bytes.
    tags: Vec<u8>,
    /// The bucket count.
    buckets: usize,
    /// The high bit of each byte that is a slot of the bucket.
    slot_bits: u64,
}

/// Every byte 0x01.
const BYTES_ONE: u64 = 0x0101_0101_0101_0101;
/// Every byte 0x7f.
const BYTES_LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `word` that is zero, and of no other (exact:
/// no carry crosses a byte): where a bucket has a free slot.
#[inline]
fn zero_bytes(word: u64) -> u64 {
    !(((word & BYTES_LOW7) + BYTES_LOW7) | word | BYTES_LOW7)
}

/// A slot's tag: the hash's byte 16 (bytes 0 to 15 give the buckets), 0
/// taken as 1 so that 0 means empty.
#[inline]
fn tag_of(hash: &Hash) -> u8 {
    hash[16].max(1)
}

impl<V: Copy + Default> FullSlots<V> {
    fn new(config: &CuckooConfig) -> Result<Self, CuckooError> {
        let capacity = config.capacity()? as usize;
        // `capacity()` is `buckets()` times the slots: it checked the config.
        let buckets = config.buckets().expect("capacity() checked the config") as usize;
        assert!([2, 4, 8].contains(&config.bucket_slots));
        let mut entries = Vec::new();
        let mut tags = Vec::new();
        entries
            .try_reserve_exact(capacity)
            .and_then(|()| tags.try_reserve_exact(capacity))
            .map_err(|_| CuckooError::TooLarge {
                order: config.order,
                bucket_slots: config.bucket_slots,
            })?;
        entries.resize(capacity, ([0u8; 32], V::default()));
        tags.resize(capacity, 0u8);
        let slot_bits = (0..config.bucket_slots).fold(0u64, |bits, slot| bits | 0x80 << (8 * slot));
        Ok(FullSlots {
            order: config.order,
            bucket_slots: config.bucket_slots,
            entries,
            tags,
            buckets,
            slot_bits,
        })
    }

    fn index(&self, pos: SlotPos) -> usize {
        assert!(pos.slot < self.bucket_slots);
        assert!((pos.bucket as usize) < self.buckets);
        pos.bucket as usize * self.bucket_slots + pos.slot
    }

    /// Bucket `bucket`'s tags as one word, byte `slot` its slot's: one
    /// load of 2, 4 or 8 bytes; the bytes above are 0.
    #[inline]
    fn word(&self, bucket: u64) -> u64 {
        let start = bucket as usize * self.bucket_slots;
        let bytes = &self.tags[start..start + self.bucket_slots];
        match *bytes {
            [a, b] => u64::from(u16::from_le_bytes([a, b])),
            [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
            // `CuckooConfig::capacity()` admits 2, 4 or 8 slots a bucket.
            _ => u64::from_le_bytes(bytes.try_into().expect("bucket_slots is 2, 4 or 8")),
        }
    }

    fn tag_at(&self, pos: SlotPos) -> u8 {
        self.tags[self.index(pos)]
    }

    fn is_occupied(&self, pos: SlotPos) -> bool {
        self.tag_at(pos) != 0
    }

    /// The slot of `hash` in `bucket`. The tag (repeated in every byte) is
    /// matched against the bucket's word by the cheap zero-byte test,
    /// which marks every slot holding it and, through its borrow, maybe a
    /// slot above one: a whole hash is compared only at a mark, and a slot
    /// answers only if its tag matches exactly too (an empty slot keeps a
    /// stale hash). A miss whose tag no slot holds compares nothing.
    #[inline]
    fn find_among(&self, bucket: u64, tag: u64, hash: &Hash) -> Option<SlotPos> {
        let base = bucket as usize * self.bucket_slots;
        let word = self.word(bucket) ^ tag;
        let mut marks = word.wrapping_sub(BYTES_ONE) & !word & self.slot_bits;
        while marks != 0 {
            // Bounded: one iteration per mark, at most bucket_slots.
            let slot = (marks.trailing_zeros() / 8) as usize;
            marks &= marks - 1;
            if self.entries[base + slot].0 == *hash && (word >> (8 * slot)) as u8 == 0 {
                return Some(SlotPos { bucket, slot });
            }
        }
        None
    }

    fn put(&mut self, pos: SlotPos, hash: Hash, value: V) {
        assert!(!self.is_occupied(pos));
        let index = self.index(pos);
        self.entries[index] = (hash, value);
        self.tags[index] = tag_of(&hash);
        assert_eq!(self.tag_at(pos), tag_of(&hash));
    }

    fn take(&mut self, pos: SlotPos) -> V {
        assert!(self.is_occupied(pos));
        let index = self.index(pos);
        self.tags[index] = 0;
        self.entries[self.index(pos)].1
    }

    fn entry(&self, pos: SlotPos) -> Option<(&Hash, &V)> {
        let index = self.index(pos);
        self.is_occupied(pos)
            .then(|| (&self.entries[index].0, &self.entries[index].1))
    }
}

impl<V: Copy + Default> SlotLayout for FullSlots<V> {
    fn buckets(&self) -> u64 {
        self.buckets as u64
    }

    fn ram_bytes(&self) -> usize {
        self.entries.capacity() * size_of::<(Hash, V)>() + self.tags.capacity()
    }

    fn clear(&mut self) {
        self.tags.fill(0);
    }

    fn is_free(&self, pos: SlotPos) -> bool {
        !self.is_occupied(pos)
    }

    fn bucket_slots(&self) -> usize {
        self.bucket_slots
    }

    fn free_slot(&self, bucket: u64) -> Option<usize> {
        let free = zero_bytes(self.word(bucket)) & self.slot_bits;
        (free != 0).then(|| (free.trailing_zeros() / 8) as usize)
    }

    fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64> {
        let pos = SlotPos { bucket, slot };
        // The policies kick only out of full buckets (see `SlotLayout`).
        assert!(self.is_occupied(pos), "kicking out of a free slot");
        let roots = Roots::of(&self.entries[self.index(pos)].0, self.order);
        assert!(
            roots.as_slice().contains(&bucket),
            "entry outside its buckets"
        );
        let alternate = if roots.buckets[0] == bucket {
            roots.buckets[1]
        } else {
            roots.buckets[0]
        };
        if crate::planted::active(crate::planted::Bug::KickWrongBucket) && alternate != bucket {
            return Some((alternate + 1) & order_mask(self.order));
        }
        (alternate != bucket).then_some(alternate)
    }

    fn move_entry(&mut self, from: SlotPos, to: SlotPos) {
        assert_eq!(
            self.alternate_bucket(from.bucket, from.slot),
            Some(to.bucket)
        );
        let hash = self.entries[self.index(from)].0;
        let value = self.take(from);
        self.put(to, hash, value);
    }
}

/// A bucketed cuckoo hash table from [`Hash`](type@Hash) to `V`. Empty slots
/// hold `V::default()` internally; it is never returned.
pub type CuckooTable<V> = Table<FullSlots<V>>;

impl<V: Copy + Default> Table<FullSlots<V>> {
    /// An empty table; allocates all its slots now.
    pub fn new(config: CuckooConfig) -> Result<Self, CuckooError> {
        let slots = FullSlots::new(&config)?;
        Ok(Table::with_slots(config, slots))
    }

    /// A table with exactly the given placement (bucket, slot, hash, value), used to
    /// freeze a [`super::CompactTable`] with the same layout. `Err(Placement)` if a
    /// bucket or slot is out of range, a hash is not in one of its buckets, or a slot
    /// or a hash comes twice. Its generator and counters start as in [`Table::new`].
    pub fn from_placements(
        config: CuckooConfig,
        placements: impl IntoIterator<Item = (u64, usize, Hash, V)>,
    ) -> Result<Self, CuckooError> {
        let mut table = Self::new(config)?;
        for (bucket, slot, hash, value) in placements {
            // Bounded: every placement fills a free slot or returns, so at most
            // capacity + 1 iterations.
            table.place(SlotPos { bucket, slot }, hash, value)?;
        }
        Ok(table)
    }

    fn place(&mut self, pos: SlotPos, hash: Hash, value: V) -> Result<(), CuckooError> {
        let problem = if pos.bucket >= self.buckets() {
            Some(PlacementProblem::BucketOutOfRange)
        } else if pos.slot >= self.slots.bucket_slots {
            Some(PlacementProblem::SlotOutOfRange)
        } else if !Roots::of(&hash, self.config.order)
            .as_slice()
            .contains(&pos.bucket)
        {
            Some(PlacementProblem::NotItsBucket)
        } else if self.slots.is_occupied(pos) {
            Some(PlacementProblem::SlotTaken)
        } else if self.find(&hash).is_some() {
            Some(PlacementProblem::HashTwice)
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(CuckooError::Placement {
                bucket: pos.bucket,
                slot: pos.slot,
                problem,
            });
        }
        self.slots.put(pos, hash, value);
        self.len += 1;
        Ok(())
    }

    #[inline]
    pub fn get(&self, hash: &Hash) -> Option<&V> {
        let pos = self.find(hash)?;
        let index = pos.bucket as usize * self.slots.bucket_slots + pos.slot;
        Some(&self.slots.entries[index].1)
    }

    #[cfg(feature = "testing")]
    pub fn contains(&self, hash: &Hash) -> bool {
        self.find(hash).is_some()
    }

    /// Plans an insert of `hash` without changing any slot: its own slot if
    /// present, else room for it. `Err(Full)` if there is none within the
    /// policy's bounds.
    pub fn plan_insert(&mut self, hash: &Hash) -> Result<InsertPlan, CuckooError> {
        if let Some(pos) = self.find(hash) {
            return Ok(InsertPlan::Present(pos));
        }
        let roots = Roots::of(hash, self.config.order);
        let placement = self.plan_room(roots).ok_or(CuckooError::Full {
            len: self.len,
            capacity: self.capacity,
        })?;
        Ok(InsertPlan::New(placement))
    }

    /// Carries out `plan`, made by [`Table::plan_insert`] for `hash` with
    /// no change to the table since; returns the value replaced.
    pub fn commit_insert(&mut self, plan: InsertPlan, hash: Hash, value: V) -> Option<V> {
        match plan {
            InsertPlan::Present(pos) => {
                assert!(
                    self.slots.is_occupied(pos)
                        && self.slots.entries[self.slots.index(pos)].0 == hash
                );
                let index = self.slots.index(pos);
                Some(std::mem::replace(&mut self.slots.entries[index].1, value))
            }
            InsertPlan::New(placement) => {
                let pos = self.take_room(placement);
                self.slots.put(pos, hash, value);
                self.len += 1;
                assert_eq!(self.find(&hash), Some(pos));
                None
            }
        }
    }

    /// Store `value` for `hash`: overwrites and returns the previous value if present.
    /// On `Err(Full)` the table's contents are unchanged.
    #[cfg(feature = "testing")]
    pub fn insert(&mut self, hash: Hash, value: V) -> Result<Option<V>, CuckooError> {
        let plan = self.plan_insert(&hash)?;
        Ok(self.commit_insert(plan, hash, value))
    }

    /// The slot holding `hash`, if any.
    pub fn find_slot(&self, hash: &Hash) -> Option<SlotPos> {
        self.find(hash)
    }

    /// Empties the occupied slot `pos`; returns its value.
    pub fn remove_at(&mut self, pos: SlotPos) -> V {
        assert!(self.slots.is_occupied(pos) && self.len > 0);
        self.len -= 1;
        self.slots.take(pos)
    }

    /// Remove `hash`; returns its value if it was present.
    #[cfg(feature = "testing")]
    pub fn remove(&mut self, hash: &Hash) -> Option<V> {
        let pos = self.find(hash)?;
        Some(self.remove_at(pos))
    }

    /// The slots of bucket `index` in order, `None` for a free slot: the bucket image
    /// a hash store writes. Panics if `index >= self.buckets()`.
    pub fn bucket(&self, index: u64) -> impl Iterator<Item = Option<(&Hash, &V)>> + '_ {
        assert!(
            index < self.buckets(),
            "bucket {index} out of {}",
            self.buckets()
        );
        (0..self.slots.bucket_slots).map(move |slot| {
            self.slots.entry(SlotPos {
                bucket: index,
                slot,
            })
        })
    }

    /// Every stored entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (&Hash, &V)> + '_ {
        (0..self.buckets()).flat_map(move |bucket| self.bucket(bucket).flatten())
    }

    /// Tags first: the first bucket's word is matched and its entries
    /// compared only where the tag matches, then the second's: a miss
    /// loads two words and compares no hash but one time in 255 an
    /// occupied slot; a hit in its first bucket (most, below 90% fill)
    /// loads one word and one entry, as hashbrown loads one control group
    /// and one entry.
    #[inline]
    fn find(&self, hash: &Hash) -> Option<SlotPos> {
        let roots = Roots::of(hash, self.config.order);
        let [first, second] = roots.buckets;
        let slots = &self.slots;
        let tag = BYTES_ONE * u64::from(tag_of(hash));
        if let Some(pos) = slots.find_among(first, tag, hash) {
            return Some(pos);
        }
        if roots.count == 1 {
            return None;
        }
        slots.find_among(second, tag, hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zero-byte match is exact: every byte pattern of a word, byte by
    /// byte against a reference.
    #[test]
    fn zero_bytes_marks_exactly_the_zero_bytes() {
        let mut word = 0x0123_4567_89ab_cdefu64;
        for step in 0..200_000u64 {
            // Words with zero bytes, 0x01 and 0x80 bytes next to them.
            let pick = step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            word = word.rotate_left(7) ^ pick;
            for slot in 0..8 {
                match (pick >> (slot * 3)) & 7 {
                    0 | 1 => word &= !(0xff << (8 * slot)),
                    2 => word = (word & !(0xff << (8 * slot))) | 1 << (8 * slot),
                    3 => word = (word & !(0xff << (8 * slot))) | 0x80 << (8 * slot),
                    _ => {}
                }
            }
            let expected = (0..8).fold(0u64, |bits, slot| {
                if (word >> (8 * slot)) as u8 == 0 {
                    bits | 0x80 << (8 * slot)
                } else {
                    bits
                }
            });
            assert_eq!(zero_bytes(word), expected, "{word:#018x}");
        }
    }

    /// A slot's tag is its hash's byte 16, 0 taken as 1 (0 marks a free
    /// slot): hashes of one bucket differing there are told apart without
    /// reading their whole hashes.
    #[test]
    fn a_tag_is_the_hashs_byte_16_and_never_zero() {
        for byte in [0u8, 1, 2, 0x37, 0xff] {
            let mut hash = [9u8; 32];
            hash[16] = byte;
            assert_eq!(tag_of(&hash), byte.max(1));
        }
    }

    /// Hashes sharing a bucket and a tag are told apart by the whole hash;
    /// a removed one is gone, the other stays.
    #[test]
    fn equal_tags_in_one_bucket_are_told_apart() {
        for bucket_slots in [2, 4, 8] {
            let config = CuckooConfig {
                bucket_slots,
                ..CuckooConfig::new(3, 1)
            };
            let mut table: CuckooTable<u64> = CuckooTable::new(config).unwrap();
            let twins: Vec<Hash> = (0..bucket_slots as u8)
                .map(|n| {
                    let mut hash = [0u8; 32];
                    hash[16] = if n % 2 == 0 { 0 } else { 1 };
                    hash[31] = n;
                    hash
                })
                .collect();
            for (n, hash) in twins.iter().enumerate() {
                table.insert(*hash, n as u64).unwrap();
            }
            for (n, hash) in twins.iter().enumerate() {
                assert_eq!(table.get(hash), Some(&(n as u64)));
            }
            let mut other = twins[0];
            other[30] = 9;
            assert_eq!(table.get(&other), None);
            assert_eq!(table.remove(&twins[1]), Some(1));
            assert_eq!(table.get(&twins[1]), None);
            assert_eq!(table.get(&twins[0]), Some(&0));
            assert_eq!(table.len(), bucket_slots as u64 - 1);
        }
    }

    /// `contains` answers for a hash in either of its buckets, and no
    /// longer once it is removed.
    #[test]
    fn contains_follows_inserts_and_removes() {
        let mut table: CuckooTable<u64> = CuckooTable::new(CuckooConfig::new(3, 1)).unwrap();
        let mut first = [7u8; 32];
        first[..8].copy_from_slice(&2u64.to_le_bytes());
        first[8..16].copy_from_slice(&5u64.to_le_bytes());
        let mut absent = first;
        absent[31] = 8;
        assert!(!table.contains(&first));
        table.insert(first, 1).unwrap();
        assert!(table.contains(&first) && !table.contains(&absent));
        assert_eq!(table.remove(&first), Some(1));
        assert!(!table.contains(&first));
    }

    /// A bucket past the last is refused with both numbers named.
    #[test]
    #[should_panic(expected = "bucket 8 out of 8")]
    fn a_bucket_past_the_last_panics_naming_the_count() {
        let table: CuckooTable<u64> = CuckooTable::new(CuckooConfig::new(3, 1)).unwrap();
        let _ = table.bucket(8);
    }

    /// A valid config whose slots the address space cannot hold (2^43
    /// slots of 40 bytes: 320 TiB, above the 128 TiB of a 47-bit user
    /// space) is `TooLarge`, an error, not an abort.
    #[test]
    fn a_table_beyond_the_address_space_is_too_large() {
        let config = CuckooConfig {
            order: 40,
            bucket_slots: 8,
            ..CuckooConfig::default()
        };
        assert_eq!(config.capacity(), Ok(1 << 43));
        let table = CuckooTable::<u64>::new(config);
        assert_eq!(
            table.err(),
            Some(CuckooError::TooLarge {
                order: 40,
                bucket_slots: 8
            })
        );
    }
}
