//! The compact slot layout and [`CompactTable`] (SILT's LogStore): a slot
//! keeps only a tag — the entry's other bucket — and the entry's position
//! on flash, 5 bytes. A kick needs no hash (the tag names where to go); a
//! lookup confirms every tag match through a caller-given resolver.

use thiserror::Error;

use super::config::{order_mask, CuckooConfig, CuckooError, Roots, SlotPos, COMPACT_SLOT_BITS};
use super::planner::SlotLayout;
use super::table::{InsertPlan, Table};
use crate::types::Hash;

const COMPACT_SLOT_BYTES: usize = (COMPACT_SLOT_BITS / 8) as usize;

/// What can go wrong with a [`CompactTable`] insert.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CompactError<E> {
    /// No free slot within the policy's bounds; the table is unchanged.
    #[error(
        "compact cuckoo table full: {len} of {capacity} slots used, no room within the \
         policy's bounds"
    )]
    Full { len: u64, capacity: u64 },
    /// The resolver failed; the table is unchanged.
    #[error("resolving a position to its hash: {0}")]
    Resolve(E),
    /// The position is not below `limit` (2^pos_bits - 1); the table is
    /// unchanged. Only the testing `insert` checks it here; the store's
    /// commit returns [`CuckooError::CompactPosition`].
    #[cfg(feature = "testing")]
    #[error("position {pos} does not fit a compact slot: positions must be below {limit}")]
    Position { pos: u64, limit: u64 },
}

/// The compact layout: a slot is [`COMPACT_SLOT_BITS`] bits, little-endian in 5 bytes,
/// the tag (the entry's other bucket, `order` bits) low and the position above it. An
/// all-ones position marks a free slot, so a slot needs no other occupancy bit.
#[derive(Clone, Debug)]
pub struct CompactSlots {
    order: u32,
    bucket_slots: usize,
    /// The all-ones position: the free-slot marker and the bound of stored positions.
    pos_empty: u64,
    bytes: Vec<u8>,
    /// Positions resolved by lookups, and those that held another hash.
    resolves: u64,
    false_positives: u64,
}

impl CompactSlots {
    fn new(config: &CuckooConfig, pos_bits: u32) -> Result<Self, CuckooError> {
        let capacity = config.capacity()?;
        // `capacity()` checked order <= ORDER_MAX == COMPACT_SLOT_BITS.
        if pos_bits == 0 || pos_bits > COMPACT_SLOT_BITS.saturating_sub(config.order) {
            return Err(CuckooError::CompactTooWide {
                order: config.order,
                pos_bits,
            });
        }
        let mut bytes = Vec::new();
        let size = usize::try_from(capacity)
            .ok()
            .and_then(|slots| slots.checked_mul(COMPACT_SLOT_BYTES))
            .filter(|&size| bytes.try_reserve_exact(size).is_ok())
            .ok_or(CuckooError::TooLarge {
                order: config.order,
                bucket_slots: config.bucket_slots,
            })?;
        bytes.resize(size, 0xff);
        Ok(CompactSlots {
            order: config.order,
            bucket_slots: config.bucket_slots,
            pos_empty: (1u64 << pos_bits) - 1,
            bytes,
            resolves: 0,
            false_positives: 0,
        })
    }

    fn offset(&self, pos: SlotPos) -> usize {
        assert!(pos.slot < self.bucket_slots);
        (pos.bucket as usize * self.bucket_slots + pos.slot) * COMPACT_SLOT_BYTES
    }

    fn word(&self, pos: SlotPos) -> u64 {
        let offset = self.offset(pos);
        let mut word = [0u8; 8];
        word[..COMPACT_SLOT_BYTES]
            .copy_from_slice(&self.bytes[offset..offset + COMPACT_SLOT_BYTES]);
        u64::from_le_bytes(word)
    }

    fn set_word(&mut self, pos: SlotPos, word: u64) {
        let offset = self.offset(pos);
        self.bytes[offset..offset + COMPACT_SLOT_BYTES]
            .copy_from_slice(&word.to_le_bytes()[..COMPACT_SLOT_BYTES]);
    }

    /// (tag, position) of the slot, `None` if it is free.
    fn entry(&self, pos: SlotPos) -> Option<(u64, u64)> {
        self.decode(self.word(pos))
    }

    fn decode(&self, word: u64) -> Option<(u64, u64)> {
        let position = (word >> self.order) & self.pos_empty;
        (position != self.pos_empty).then_some((word & order_mask(self.order), position))
    }

    /// The slot words of `bucket`, in slot order; one bounds check a bucket.
    fn bucket_words(&self, bucket: u64) -> impl Iterator<Item = u64> + '_ {
        let size = self.bucket_slots * COMPACT_SLOT_BYTES;
        let base = bucket as usize * size;
        self.bytes[base..base + size]
            .chunks_exact(COMPACT_SLOT_BYTES)
            .map(|bytes| {
                let mut word = [0u8; 8];
                word[..COMPACT_SLOT_BYTES].copy_from_slice(bytes);
                u64::from_le_bytes(word)
            })
    }

    /// Fill the free slot `pos`; `position < pos_empty`, `tag` within `order` bits.
    fn put(&mut self, pos: SlotPos, tag: u64, position: u64) {
        assert!(self.entry(pos).is_none());
        assert!(position < self.pos_empty && tag <= order_mask(self.order));
        self.set_word(pos, tag | position << self.order);
    }

    /// Give the occupied slot `pos` a new position, keeping its tag.
    fn set_position(&mut self, pos: SlotPos, position: u64) {
        assert!(position < self.pos_empty);
        let tag = self.word(pos) & order_mask(self.order);
        self.set_word(pos, tag | position << self.order);
    }

    fn free(&mut self, pos: SlotPos) {
        self.set_word(pos, u64::MAX);
    }
}

impl SlotLayout for CompactSlots {
    fn buckets(&self) -> u64 {
        (self.bytes.len() / (self.bucket_slots * COMPACT_SLOT_BYTES)) as u64
    }

    fn ram_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    fn clear(&mut self) {
        self.bytes.fill(0xff);
        self.resolves = 0;
        self.false_positives = 0;
    }

    fn is_free(&self, pos: SlotPos) -> bool {
        self.entry(pos).is_none()
    }

    fn bucket_slots(&self) -> usize {
        self.bucket_slots
    }

    fn free_slot(&self, bucket: u64) -> Option<usize> {
        self.bucket_words(bucket)
            .position(|word| self.decode(word).is_none())
    }

    fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64> {
        // The policies kick only out of full buckets (see `SlotLayout`).
        let (tag, _position) = self
            .entry(SlotPos { bucket, slot })
            .expect("kicking out of a free slot");
        if crate::planted::active(crate::planted::Bug::KickWrongBucket) && tag != bucket {
            return Some((tag + 1) & order_mask(self.order));
        }
        (tag != bucket).then_some(tag)
    }

    fn move_entry(&mut self, from: SlotPos, to: SlotPos) {
        assert_eq!(
            self.alternate_bucket(from.bucket, from.slot),
            Some(to.bucket)
        );
        let (_tag, position) = self.entry(from).expect("kicking a free slot");
        self.free(from);
        // The entry's other bucket is the one it leaves: no hash needed.
        self.put(to, from.bucket, position);
    }
}

/// A bucketed cuckoo table of (tag, position) slots, RAM ~5 bytes a slot (SILT's
/// LogStore). The tag is the entry's other bucket, so kicks never need the hash; a
/// lookup confirms tag matches by resolving positions to hashes through the caller.
/// With the same configuration and the same operations it places entries exactly
/// where a [`super::CuckooTable`] would.
pub type CompactTable = Table<CompactSlots>;

/// A resolver: the hash stored at a position.
pub type Resolve<'a, E> = dyn FnMut(u64) -> Result<Hash, E> + 'a;

impl Table<CompactSlots> {
    /// An empty table; allocates all its slots now. `pos_bits`: bits a position needs,
    /// 1 to `COMPACT_SLOT_BITS - order`; positions must be below 2^pos_bits - 1.
    pub fn new(config: CuckooConfig, pos_bits: u32) -> Result<Self, CuckooError> {
        let slots = CompactSlots::new(&config, pos_bits)?;
        Ok(Table::with_slots(config, slots))
    }

    /// Positions must be below this: 2^pos_bits - 1 (all ones marks a free slot).
    #[cfg(feature = "testing")]
    pub fn position_limit(&self) -> u64 {
        self.slots.pos_empty
    }

    /// RAM bytes of the slots alone divided by capacity (5.0 for 40-bit slots).
    #[cfg(feature = "testing")]
    pub fn slot_bytes(&self) -> f64 {
        self.slots.bytes.len() as f64 / self.capacity as f64
    }

    /// Resolves performed by get, insert and remove.
    pub fn resolves(&self) -> u64 {
        self.slots.resolves
    }

    /// Resolves whose hash was not the one looked for (tag false positives).
    pub fn false_positives(&self) -> u64 {
        self.slots.false_positives
    }

    /// The position holding `hash`, if any. Resolves the position of every slot of h1
    /// tagged h2 and of h2 tagged h1 (at most 2 * bucket_slots); resolver errors
    /// propagate.
    pub fn get<E>(&mut self, hash: &Hash, resolve: &mut Resolve<'_, E>) -> Result<Option<u64>, E> {
        Ok(self
            .find_slot(hash, resolve)?
            .map(|(_slot, position)| position))
    }

    /// Plans an insert of `hash` without changing any slot: its slot if
    /// present (confirmed through `resolve`), else room for it, kicking
    /// entries by their tags only.
    pub fn plan_insert<E>(
        &mut self,
        hash: &Hash,
        resolve: &mut Resolve<'_, E>,
    ) -> Result<InsertPlan, CompactError<E>> {
        let found = self
            .find_slot(hash, resolve)
            .map_err(CompactError::Resolve)?;
        if let Some((slot, _)) = found {
            return Ok(InsertPlan::Present(slot));
        }
        let roots = Roots::of(hash, self.config.order);
        let placement = self.plan_room(roots).ok_or(CompactError::Full {
            len: self.len,
            capacity: self.capacity,
        })?;
        Ok(InsertPlan::New(placement))
    }

    /// Carries out `plan`, made by [`Table::plan_insert`] for `hash` with no
    /// change to the table since, storing position `pos`; returns the
    /// position replaced. `Err(CompactPosition)` (nothing changed) if `pos`
    /// does not fit a slot.
    pub fn commit_insert(
        &mut self,
        plan: InsertPlan,
        hash: &Hash,
        pos: u64,
    ) -> Result<Option<u64>, CuckooError> {
        if pos >= self.slots.pos_empty {
            let limit = self.slots.pos_empty;
            return Err(CuckooError::CompactPosition { pos, limit });
        }
        match plan {
            InsertPlan::Present(slot) => {
                let previous = self.slots.entry(slot).map(|(_tag, position)| position);
                assert!(previous.is_some(), "planned slot emptied");
                self.slots.set_position(slot, pos);
                Ok(previous)
            }
            InsertPlan::New(placement) => {
                let slot = self.take_room(placement);
                let roots = Roots::of(hash, self.config.order);
                let tag = if roots.buckets[0] == slot.bucket {
                    roots.buckets[1]
                } else {
                    roots.buckets[0]
                };
                self.slots.put(slot, tag, pos);
                self.len += 1;
                Ok(None)
            }
        }
    }

    /// Store `hash` at position `pos`: if present (confirmed through `resolve`) its
    /// position becomes `pos` and the old one is returned; else it is inserted, kicking
    /// entries by their tags only. On `Err` the table's contents are unchanged.
    #[cfg(feature = "testing")]
    pub fn insert<E>(
        &mut self,
        hash: &Hash,
        pos: u64,
        resolve: &mut Resolve<'_, E>,
    ) -> Result<Option<u64>, CompactError<E>> {
        if pos >= self.slots.pos_empty {
            let limit = self.slots.pos_empty;
            return Err(CompactError::Position { pos, limit });
        }
        let plan = self.plan_insert(hash, resolve)?;
        Ok(self
            .commit_insert(plan, hash, pos)
            .expect("the position was checked above"))
    }

    /// Empties the occupied slot `slot`; returns its position.
    pub fn remove_at(&mut self, slot: SlotPos) -> u64 {
        let entry = self.slots.entry(slot);
        assert!(entry.is_some() && self.len > 0, "removing a free slot");
        self.slots.free(slot);
        self.len -= 1;
        entry.map_or(0, |(_tag, position)| position)
    }

    /// Remove `hash` (confirmed through `resolve`); returns its position if present.
    #[cfg(feature = "testing")]
    pub fn remove<E>(
        &mut self,
        hash: &Hash,
        resolve: &mut Resolve<'_, E>,
    ) -> Result<Option<u64>, E> {
        let Some((slot, _)) = self.find_slot(hash, resolve)? else {
            return Ok(None);
        };
        Ok(Some(self.remove_at(slot)))
    }

    /// Every occupied slot: (bucket, slot index, position), in bucket order.
    pub fn placements(&self) -> impl Iterator<Item = (u64, usize, u64)> + '_ {
        let bucket_slots = self.slots.bucket_slots as u64;
        (0..self.capacity).filter_map(move |index| {
            let bucket = index / bucket_slots;
            let slot = (index % bucket_slots) as usize;
            let (_tag, position) = self.slots.entry(SlotPos { bucket, slot })?;
            Some((bucket, slot, position))
        })
    }

    /// Rewrite every occupied slot's position through `map`, called once a slot in
    /// bucket order (after the journal is packed elsewhere). `Err(CompactPosition)` if
    /// a new position does not fit; the table is unchanged then.
    pub fn remap_positions(&mut self, map: &mut dyn FnMut(u64) -> u64) -> Result<(), CuckooError> {
        let limit = self.slots.pos_empty;
        let mut remapped = Vec::new();
        remapped
            .try_reserve_exact(self.len as usize)
            .ok()
            .ok_or(CuckooError::TooLarge {
                order: self.config.order,
                bucket_slots: self.config.bucket_slots,
            })?;
        for (_bucket, _slot, position) in self.placements() {
            let pos = map(position);
            if pos >= limit {
                return Err(CuckooError::CompactPosition { pos, limit });
            }
            remapped.push(pos);
        }
        let mut remapped = remapped.into_iter();
        let bucket_slots = self.slots.bucket_slots as u64;
        for index in 0..self.capacity {
            let slot = SlotPos {
                bucket: index / bucket_slots,
                slot: (index % bucket_slots) as usize,
            };
            if self.slots.entry(slot).is_some() {
                let pos = remapped.next();
                assert!(pos.is_some(), "fewer remapped positions than entries");
                self.slots.set_position(slot, pos.unwrap_or(limit - 1));
            }
        }
        Ok(())
    }

    /// The slot and position of `hash`: resolves the slots of h1 tagged h2, then of
    /// h2 tagged h1 (h1 tagged h1 if they are equal).
    pub fn find_slot<E>(
        &mut self,
        hash: &Hash,
        resolve: &mut Resolve<'_, E>,
    ) -> Result<Option<(SlotPos, u64)>, E> {
        let roots = Roots::of(hash, self.config.order);
        let tag_mask = order_mask(self.config.order);
        let (mut resolves, mut false_positives) = (0, 0);
        let mut found = None;
        'buckets: for (index, &bucket) in roots.as_slice().iter().enumerate() {
            // With one root, buckets[1] == buckets[0]: the tag is the bucket itself.
            let tag = roots.buckets[1 - index];
            // Bounded: bucket_slots words a bucket. The tag test comes first: it almost
            // always fails, a branch easier to predict than the slot being free.
            for (slot, word) in self.slots.bucket_words(bucket).enumerate() {
                if word & tag_mask != tag {
                    continue;
                }
                let Some((_tag, position)) = self.slots.decode(word) else {
                    continue;
                };
                resolves += 1;
                match resolve(position) {
                    Ok(stored) if stored == *hash => {
                        found = Some(Ok((SlotPos { bucket, slot }, position)));
                        break 'buckets;
                    }
                    Ok(_) => false_positives += 1,
                    Err(e) => {
                        found = Some(Err(e));
                        break 'buckets;
                    }
                }
            }
        }
        self.slots.resolves += resolves;
        self.slots.false_positives += false_positives;
        found.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The journal stand-in: the hash at each position.
    fn resolve(journal: &[Hash], pos: u64) -> Result<Hash, String> {
        journal
            .get(pos as usize)
            .copied()
            .ok_or(format!("no {pos}"))
    }

    /// The slots' RAM is every bucket's slots at their packed width (the
    /// figure the report's RAM per entry divides), allocated up front.
    #[test]
    fn ram_bytes_counts_every_packed_slot() {
        let table = CompactTable::new(CuckooConfig::new(8, 1), 20).unwrap();
        let slots = table.slots.buckets() as usize * table.slots.bucket_slots();
        assert_eq!(slots, 256 * 4);
        assert!(table.slots.ram_bytes() >= slots * COMPACT_SLOT_BYTES);
        assert!(table.slots.ram_bytes() < 2 * slots * COMPACT_SLOT_BYTES);
    }

    /// A table of 4-bit positions takes positions up to 14 (15 marks a free
    /// slot): `position_limit` says so, and a commit at 15 is refused with
    /// `CompactPosition`, the table unchanged, where one at 14 is stored.
    #[test]
    fn a_commit_at_the_position_limit_is_refused_one_below_is_kept() {
        let mut table = CompactTable::new(CuckooConfig::new(3, 1), 4).unwrap();
        assert_eq!(table.position_limit(), 15);
        let journal: Vec<Hash> = (0..15u8).map(|n| [n; 32]).collect();
        let hash = journal[14];
        let mut resolver = |p| resolve(&journal, p);
        let plan = table.plan_insert(&hash, &mut resolver).unwrap();
        assert_eq!(
            table.commit_insert(plan, &hash, 15),
            Err(CuckooError::CompactPosition { pos: 15, limit: 15 })
        );
        assert_eq!(table.len(), 0);
        assert_eq!(table.placements().count(), 0);
        assert_eq!(table.commit_insert(plan, &hash, 14), Ok(None));
        assert_eq!(table.get(&hash, &mut resolver), Ok(Some(14)));
        assert_eq!(table.len(), 1);
    }
}
