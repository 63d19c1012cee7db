//! Making room: a write planned, appended and committed; a full journal
//! packed or frozen; a freeze written, an oldest incarnation evicted when
//! configured and that is what makes room.

use crate::flash::Flash;
use crate::format::journal::Entry;
use crate::hashstore::{HashStoreError, Incarnation};
use crate::ledger::LedgerError;
use crate::logtable::{ApplyError, FrozenError};
use crate::planted::{self, Bug};

use super::*;

impl<F: Flash> Store<F> {
    /// Records `entry` in the table and the journal, making room first
    /// (pack or freeze) when either is full: plans its place in the table,
    /// appends it, then commits the plan, so a failed append leaves the
    /// table untouched. Without incarnations a tombstone just removes; with
    /// them it stays and shadows them.
    ///
    /// The table is planned before the journal's room is made: a full table
    /// that cannot freeze refuses the write at once, where packing the
    /// journal first would rewrite a region for a write that fails anyway
    /// (after every reopen, as a recovered journal resumes on a fresh page).
    pub(super) fn put(&mut self, entry: Entry) -> Result<(), StoreError> {
        self.maintain()?;
        for _ in 0..ROOM_ATTEMPTS_MAX {
            let remove = self.incarnations.is_empty();
            let plan = match self.table.plan(&mut self.ledger, &entry, remove) {
                Ok(plan) => plan,
                Err(ApplyError::Full) => {
                    self.freeze(&[], false)?;
                    continue;
                }
                Err(ApplyError::Cuckoo(e)) => return Err(e.into()),
                Err(ApplyError::Ledger(e)) => return Err(e.into()),
            };
            if !self.ledger.has_room_for(&entry) {
                // A pack or a freeze moves the entries: plan again after it.
                let still_full = self.make_journal_room(false)?;
                match still_full {
                    Some(why) if !self.ledger.has_room_for(&entry) => {
                        return Err(StoreError::Full(why))
                    }
                    _ => continue,
                }
            }
            match self.ledger.append(&entry) {
                Ok(position) => {
                    self.table.commit(plan, &entry, position)?;
                    self.bytes_appended += entry.encoded_bytes() as u64;
                    return Ok(());
                }
                Err(LedgerError::Full { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Full(FullReason::JournalRegion {
            pages: self.ledger.journal().pages_left(),
        }))
    }

    /// A full journal: pack when the live entries fill at most half of a
    /// region, else freeze. A store that cannot freeze (`Full`: out of
    /// blocks or incarnations) packs instead, so a `flushing` store can
    /// still place its commit copy, if the live entries fit a region; to
    /// take more entries, only if they fill at most [`PACK_FILL_MAX`] of it
    /// (past that, each pack would rewrite the region for a few entries).
    /// It answers the freeze's reason then (`Some`), as the store is full
    /// all the same, or that `Full` if it does not pack.
    pub(super) fn make_journal_room(
        &mut self,
        flushing: bool,
    ) -> Result<Option<FullReason>, StoreError> {
        let contents = self.table.contents(&mut self.ledger)?;
        let live: Vec<Entry> = contents.iter().map(|(entry, _)| *entry).collect();
        let live_bytes: u64 = live.iter().map(|e| e.encoded_bytes() as u64).sum();
        let region_bytes = self.ledger.journal().region_bytes();
        // Half a region in bytes may still fill it in pages (page headers,
        // the commit copy): a pack that leaves no room is no pack.
        let journal = self.ledger.journal();
        let pack_takes_more = journal.would_take_more_after(&live);
        if live_bytes * 2 <= region_bytes && pack_takes_more {
            return self.pack(&contents, &live).map(|()| None);
        }
        // A pack after which the journal takes no more entries would
        // rewrite the region at every refused write, for nothing.
        let (numerator, denominator) = PACK_FILL_MAX;
        let worth_packing = flushing
            || planted::active(Bug::PackAtEveryRefusal)
            || (live_bytes * denominator <= region_bytes * numerator && pack_takes_more);
        match self.freeze(&[], false) {
            Err(StoreError::Full(why)) if worth_packing => self.pack_instead(&contents, &live, why),
            other => other.map(|_| None),
        }
    }

    /// A pack where a freeze answered `Full` for `why`: `Some(why)` once
    /// packed, `Full(why)` if the live entries do not fit a region. The
    /// failed freeze's erases are recorded first, so a pack failing too
    /// never leaves a block erased twice unrecorded.
    pub(super) fn pack_instead(
        &mut self,
        contents: &[(Entry, Option<u64>)],
        live: &[Entry],
        why: FullReason,
    ) -> Result<Option<FullReason>, StoreError> {
        match self.ledger.record_wear() {
            Err(LedgerError::OutOfBlocks(_) | LedgerError::Full { .. }) => {
                return Err(StoreError::Full(why))
            }
            other => other?,
        }
        match self.pack(contents, live) {
            Ok(()) => Ok(Some(why)),
            Err(StoreError::Full(_)) => Err(StoreError::Full(why)),
            Err(other) => Err(other),
        }
    }

    /// Copies `live` (the table's `contents`) into a fresh journal region;
    /// a store that evicts drops its oldest incarnation if that is what
    /// makes room.
    pub(super) fn pack(
        &mut self,
        contents: &[(Entry, Option<u64>)],
        live: &[Entry],
    ) -> Result<(), StoreError> {
        let budget = self.budget();
        let need = budget.journal_blocks + budget.lanes;
        let positions = self.evicting_for_room(need, false, |store| {
            store.blocks_for(need)?;
            store.ledger.pack(live).map_err(|e| store.blocks_full(e))
        })?;
        self.table.remap(contents, &positions)?;
        self.packs += 1;
        Ok(())
    }

    /// Copies the live entries into a fresh journal region (a pack, whether
    /// or not the journal is full): what a scrub does to the journal.
    pub(super) fn rewrite_journal(&mut self) -> Result<(), StoreError> {
        let contents = self.table.contents(&mut self.ledger)?;
        let live: Vec<Entry> = contents.iter().map(|(entry, _)| *entry).collect();
        self.pack(&contents, &live)
    }

    pub(super) fn blocks_full(&self, error: LedgerError) -> StoreError {
        match error {
            LedgerError::OutOfBlocks(e) => StoreError::Full(FullReason::Blocks(e)),
            LedgerError::Full { pages } => StoreError::Full(FullReason::JournalRegion { pages }),
            other => other.into(),
        }
    }

    /// Writes the table as a new incarnation and, in one anchor commit,
    /// names it and a new journal holding `carry` (whose new positions come
    /// back). Past `incarnations_max` the oldest is dropped if so
    /// configured (or, `recovering`, kept: the limit must not make stored
    /// data unreadable), else `Full`. Out of blocks, a store that evicts
    /// drops its oldest incarnation first to make room (see
    /// [`Store::evicting_for_room`]).
    pub(super) fn freeze(
        &mut self,
        carry: &[Entry],
        recovering: bool,
    ) -> Result<Vec<u64>, StoreError> {
        let mut keep = self.incarnations.len();
        if keep as u32 >= self.config.incarnations_max && !recovering {
            if !self.config.evict_oldest {
                return Err(StoreError::Full(FullReason::Incarnations {
                    max: self.config.incarnations_max,
                }));
            }
            keep = (self.config.incarnations_max as usize).saturating_sub(1);
        }
        let need = self.budget().freeze_blocks();
        self.evicting_for_room(need, recovering, |store| {
            if !recovering {
                store.blocks_for(need)?;
            }
            let keep = keep.min(store.incarnations.len());
            store.freeze_keeping(carry, keep)
        })
    }

    /// `Full` without touching the flash if fewer than `need` blocks are
    /// free: a write bound to run out would only erase blocks for nothing
    /// (wear no anchor records until the next commit).
    pub(super) fn blocks_for(&self, need: u32) -> Result<(), StoreError> {
        let (free, bad) = self.ledger.free_and_bad_blocks();
        if free >= need {
            return Ok(());
        }
        let blocks = self.ledger.flash().geometry().blocks;
        Err(StoreError::Full(FullReason::Blocks(
            crate::alloc::OutOfBlocks {
                in_use: blocks - free - bad,
                bad,
            },
        )))
    }

    /// Runs `op`, a write needing `need` free blocks at once. A store that
    /// evicts, with fewer free blocks than that, first drops its oldest
    /// incarnations until they are free (each one anchor commit, after a
    /// flush: everything acknowledged is durable before anything is
    /// evicted), if dropping them can free enough; at most once an
    /// incarnation held. Never while `recovering`.
    pub(super) fn evicting_for_room<T>(
        &mut self,
        need: u32,
        recovering: bool,
        op: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..self.incarnations.len() {
            let (free, _) = self.ledger.free_and_bad_blocks();
            if recovering || free >= need || !self.eviction_makes_room(need) {
                break;
            }
            self.evict_oldest_for_room()?;
        }
        op(self)
    }

    /// Whether the store evicts and its incarnations hold enough blocks
    /// that, dropped, they would leave `need` free.
    pub(super) fn eviction_makes_room(&self, need: u32) -> bool {
        self.config.evict_oldest
            && !self.incarnations.is_empty()
            && self.room() >= u64::from(need)
            && !planted::active(Bug::EvictOnlyAtLimit)
    }

    /// Free blocks, and on a store that evicts the blocks its incarnations
    /// hold too, if an eviction has the blocks for two lane moves (its
    /// anchor commit, and the flush's before it, which records retired
    /// blocks): the room a write can have.
    pub(super) fn room(&self) -> u64 {
        let (free, _) = self.ledger.free_and_bad_blocks();
        if !self.config.evict_oldest || free < self.budget().lanes.saturating_mul(2) {
            return u64::from(free);
        }
        let held: usize = self
            .incarnations
            .iter()
            .map(|i| i.region().blocks.len())
            .sum();
        u64::from(free) + held as u64
    }

    /// Drops the oldest incarnation to make room: flushes the journal, so
    /// everything acknowledged is durable, then commits the anchor without
    /// it, which frees its blocks.
    pub(super) fn evict_oldest_for_room(&mut self) -> Result<(), StoreError> {
        self.ledger.flush().map_err(|e| self.blocks_full(e))?;
        let kept: Vec<_> = self.incarnations[..self.incarnations.len() - 1]
            .iter()
            .map(|i| i.region().clone())
            .collect();
        self.ledger
            .commit_incarnations(kept)
            .map_err(|e| self.blocks_full(e))?;
        self.incarnations.pop();
        self.evictions += 1;
        Ok(())
    }

    /// A freeze keeping the `keep` newest incarnations (the `keep` oldest,
    /// with a planted bug).
    pub(super) fn freeze_keeping(
        &mut self,
        carry: &[Entry],
        keep: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let incarnation = self.write_incarnation()?;
        let mut kept = 0..keep;
        if planted::active(Bug::EvictNewest) {
            kept = self.incarnations.len() - keep..self.incarnations.len();
        }
        let mut regions = vec![incarnation.region().clone()];
        regions.extend(
            self.incarnations[kept.clone()]
                .iter()
                .map(|i| i.region().clone()),
        );
        let positions = match self.ledger.replace_journal(carry, regions) {
            Ok(positions) => positions,
            Err(error) => {
                self.ledger.release_region(incarnation.region());
                return Err(self.blocks_full(error));
            }
        };
        self.evictions += (self.incarnations.len() - keep) as u64;
        self.incarnations.drain(kept.end..);
        self.incarnations.drain(..kept.start);
        self.incarnations.insert(0, incarnation);
        self.table.clear();
        self.freezes += 1;
        Ok(positions)
    }

    /// The table, as an incarnation on freshly allocated blocks.
    pub(super) fn write_incarnation(&mut self) -> Result<Incarnation, StoreError> {
        let generation = self.ledger.next_generation()?;
        let frozen = self.table.frozen(&mut self.ledger).map_err(|e| match e {
            FrozenError::Ledger(e) => StoreError::from(e),
            FrozenError::Cuckoo(e) => StoreError::from(e),
        })?;
        let (flash, alloc) = self.ledger.flash_and_allocator();
        Incarnation::freeze(flash, alloc, generation, &frozen).map_err(|e| match e {
            HashStoreError::OutOfBlocks(e) => StoreError::Full(FullReason::Blocks(e)),
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_flash::FileFlash;
    use crate::flash::Geometry;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// An evicting store counts the blocks its incarnations hold as room
    /// from exactly two lane moves' worth of free blocks (an eviction's
    /// anchor commit and the flush before it can be made), not below.
    #[test]
    fn room_counts_the_incarnations_from_two_lane_moves_of_free_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let geometry = Geometry::new(512, 16, 128).unwrap();
        let flash = FileFlash::create(&dir.path().join("image"), geometry).unwrap();
        let mut config = StoreConfig::new(6, 4);
        config.evict_oldest = true;
        let mut store = Store::create(flash, config).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in 0..10_000u64 {
            // Bounded: a 256-slot table freezes long before.
            if !store.incarnations.is_empty() {
                break;
            }
            let info = Info {
                physical_sector: n,
                first_logical_sector: n,
            };
            store.insert(rng.random(), info).unwrap();
        }
        let held: usize = store
            .incarnations
            .iter()
            .map(|i| i.region().blocks.len())
            .sum();
        assert!(held > 0);
        let two_moves = store.budget().lanes * 2;
        for _ in 0..geometry.blocks {
            // Bounded by the device's blocks: each pass takes one.
            if store.ledger.free_and_bad_blocks().0 == two_moves {
                break;
            }
            store.ledger.flash_and_allocator().1.allocate().unwrap();
        }
        let (free, _) = store.ledger.free_and_bad_blocks();
        assert_eq!(free, two_moves);
        assert_eq!(store.room(), u64::from(free) + held as u64);
        store.ledger.flash_and_allocator().1.allocate().unwrap();
        assert_eq!(store.room(), u64::from(free - 1));
    }
}
