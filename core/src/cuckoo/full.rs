//! The full slot layout and [`CuckooTable`]: every slot keeps the whole hash
//! and its value, so a lookup never leaves RAM and a kick derives the
//! entry's other bucket from its hash.

use super::config::{order_mask, CuckooConfig, CuckooError, PlacementProblem, Roots, SlotPos};
use super::planner::SlotLayout;
use super::table::{InsertPlan, Table};
use crate::types::Hash;

/// The full layout: each slot keeps the whole hash and the value; one occupancy bit
/// a slot, a byte a bucket. Empty slots hold stale or default data, never exposed.
#[derive(Clone, Debug)]
pub struct FullSlots<V> {
    order: u32,
    bucket_slots: usize,
    hashes: Vec<Hash>,
    values: Vec<V>,
    occupied: Vec<u8>,
}

impl<V: Copy + Default> FullSlots<V> {
    fn new(config: &CuckooConfig) -> Result<Self, CuckooError> {
        let capacity = config.capacity()? as usize;
        let buckets = config.buckets()? as usize;
        let too_large = || CuckooError::TooLarge {
            order: config.order,
            bucket_slots: config.bucket_slots,
        };
        let mut hashes = Vec::new();
        let mut values = Vec::new();
        let mut occupied = Vec::new();
        hashes
            .try_reserve_exact(capacity)
            .map_err(|_| too_large())?;
        values
            .try_reserve_exact(capacity)
            .map_err(|_| too_large())?;
        occupied
            .try_reserve_exact(buckets)
            .map_err(|_| too_large())?;
        hashes.resize(capacity, [0u8; 32]);
        values.resize(capacity, V::default());
        occupied.resize(buckets, 0u8);
        Ok(FullSlots {
            order: config.order,
            bucket_slots: config.bucket_slots,
            hashes,
            values,
            occupied,
        })
    }

    fn index(&self, pos: SlotPos) -> usize {
        assert!(pos.slot < self.bucket_slots);
        assert!((pos.bucket as usize) < self.occupied.len());
        pos.bucket as usize * self.bucket_slots + pos.slot
    }

    fn is_occupied(&self, pos: SlotPos) -> bool {
        self.occupied[pos.bucket as usize] & (1 << pos.slot) != 0
    }

    /// The slot of `hash` in `bucket`, if there.
    fn find_in(&self, bucket: u64, hash: &Hash) -> Option<SlotPos> {
        let base = bucket as usize * self.bucket_slots;
        let mut mask = self.occupied[bucket as usize];
        while mask != 0 {
            // Bounded: one iteration per set bit, at most bucket_slots.
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if self.hashes[base + slot] == *hash {
                return Some(SlotPos { bucket, slot });
            }
        }
        None
    }

    fn put(&mut self, pos: SlotPos, hash: Hash, value: V) {
        assert!(!self.is_occupied(pos));
        let index = self.index(pos);
        self.hashes[index] = hash;
        self.values[index] = value;
        self.occupied[pos.bucket as usize] |= 1 << pos.slot;
    }

    fn take(&mut self, pos: SlotPos) -> V {
        assert!(self.is_occupied(pos));
        self.occupied[pos.bucket as usize] &= !(1u8 << pos.slot);
        self.values[self.index(pos)]
    }

    fn entry(&self, pos: SlotPos) -> Option<(&Hash, &V)> {
        let index = self.index(pos);
        self.is_occupied(pos)
            .then(|| (&self.hashes[index], &self.values[index]))
    }
}

impl<V: Copy + Default> SlotLayout for FullSlots<V> {
    fn buckets(&self) -> u64 {
        self.occupied.len() as u64
    }

    fn ram_bytes(&self) -> usize {
        self.hashes.capacity() * size_of::<Hash>()
            + self.values.capacity() * size_of::<V>()
            + self.occupied.capacity()
    }

    fn clear(&mut self) {
        self.occupied.fill(0);
    }

    fn is_free(&self, pos: SlotPos) -> bool {
        !self.is_occupied(pos)
    }

    fn bucket_slots(&self) -> usize {
        self.bucket_slots
    }

    fn free_slot(&self, bucket: u64) -> Option<usize> {
        let free = self.occupied[bucket as usize].trailing_ones() as usize;
        (free < self.bucket_slots).then_some(free)
    }

    fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64> {
        let pos = SlotPos { bucket, slot };
        if !self.is_occupied(pos) {
            return None;
        }
        let roots = Roots::of(&self.hashes[self.index(pos)], self.order);
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
        let hash = self.hashes[self.index(from)];
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
        config.capacity()?;
        let slots = FullSlots::new(&config)?;
        Table::with_slots(config, slots)
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

    pub fn get(&self, hash: &Hash) -> Option<&V> {
        let pos = self.find(hash)?;
        Some(&self.slots.values[self.slots.index(pos)])
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
                    self.slots.is_occupied(pos) && self.slots.hashes[self.slots.index(pos)] == hash
                );
                let index = self.slots.index(pos);
                Some(std::mem::replace(&mut self.slots.values[index], value))
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

    fn find(&self, hash: &Hash) -> Option<SlotPos> {
        let roots = Roots::of(hash, self.config.order);
        roots
            .as_slice()
            .iter()
            .find_map(|&bucket| self.slots.find_in(bucket, hash))
    }
}
