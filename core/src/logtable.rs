//! The log store's table in either slot layout: `Full` keeps each hash and
//! its value in RAM; `Compact` keeps a tag and the entry's journal position
//! (SILT-style) and confirms every tag match by reading the entry.
//!
//! Owns the layout choice and hides it from the store. Promises: both
//! layouts answer the same; an entry is planned, then committed once the
//! journal holds it, so nothing needs undoing; the compact layout reads
//! flash only through the journal (RAM page first).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::cuckoo::{
    CompactError, CompactTable, CuckooConfig, CuckooError, CuckooTable, InsertPlan, SlotPos,
};
use crate::flash::Flash;
use crate::format::journal::Entry;
use crate::ledger::{Ledger, LedgerError};
use crate::planted::{self, Bug};
use crate::types::{Hash, Value};

/// Which slot layout the log store uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SlotLayoutKind {
    /// The whole hash and value in every slot (~57 bytes a slot).
    #[default]
    Full,
    /// A tag (the alternate bucket) and a journal position (5 bytes a
    /// slot); lookups read the entry from the journal to confirm.
    Compact,
}

/// Why an entry could not be applied to the table.
#[derive(Debug)]
pub(crate) enum ApplyError {
    Full,
    Cuckoo(CuckooError),
    Ledger(LedgerError),
}

/// What applying an entry will do to the table, planned without changing it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Plan {
    /// Store the entry's value (full layout) or position (compact).
    Insert(InsertPlan),
    /// Drop the hash from this slot (a tombstone with nothing to shadow).
    Remove(SlotPos),
    /// Nothing to do (removing a hash that is not there).
    Nothing,
}

#[derive(Clone, Debug)]
pub(crate) enum LogTable {
    Full(CuckooTable<Value>),
    Compact(CompactTable),
}

fn value_of(entry: &Entry) -> Value {
    match entry {
        Entry::Hash { info, .. } => Value::Live(*info),
        Entry::Tombstone { .. } => Value::Tombstone,
    }
}

fn entry_of(hash: Hash, value: Value) -> Entry {
    match value {
        Value::Live(info) => Entry::Hash { hash, info },
        Value::Tombstone => Entry::Tombstone { hash },
    }
}

/// The full hash at journal `position`.
fn resolve<F: Flash>(log: &mut Ledger<F>, position: u64) -> Result<Hash, LedgerError> {
    Ok(*log.read_entry(position)?.hash())
}

impl LogTable {
    pub(crate) fn new(
        layout: SlotLayoutKind,
        config: CuckooConfig,
        position_bits: u32,
    ) -> Result<Self, CuckooError> {
        Ok(match layout {
            SlotLayoutKind::Full => LogTable::Full(CuckooTable::new(config)?),
            SlotLayoutKind::Compact => LogTable::Compact(CompactTable::new(config, position_bits)?),
        })
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            LogTable::Full(t) => t.len(),
            LogTable::Compact(t) => t.len(),
        }
    }

    pub(crate) fn fill(&self) -> f64 {
        match self {
            LogTable::Full(t) => t.fill(),
            LogTable::Compact(t) => t.fill(),
        }
    }

    pub(crate) fn ram_bytes(&self) -> u64 {
        match self {
            LogTable::Full(t) => t.ram_bytes(),
            LogTable::Compact(t) => t.ram_bytes(),
        }
    }

    /// Sets how hard an insert searches for room; placed entries stay.
    pub(crate) fn set_policy(&mut self, policy: crate::Policy) {
        match self {
            LogTable::Full(t) => t.set_policy(policy),
            LogTable::Compact(t) => t.set_policy(policy),
        }
    }

    pub(crate) fn clear(&mut self) {
        match self {
            LogTable::Full(t) => t.clear(),
            LogTable::Compact(t) => t.clear(),
        }
    }

    /// (resolves, false positives) of the compact layout; zeros for full.
    pub(crate) fn resolves(&self) -> (u64, u64) {
        match self {
            LogTable::Full(_) => (0, 0),
            LogTable::Compact(t) => (t.resolves(), t.false_positives()),
        }
    }

    /// What the table holds for `hash`.
    pub(crate) fn get<F: Flash>(
        &mut self,
        log: &mut Ledger<F>,
        hash: &Hash,
    ) -> Result<Option<Value>, LedgerError> {
        match self {
            LogTable::Full(t) => Ok(t.get(hash).copied()),
            LogTable::Compact(t) => {
                let found = t.get(hash, &mut |p| resolve(log, p))?;
                match found {
                    Some(position) => Ok(Some(value_of(&log.read_entry(position)?))),
                    None => Ok(None),
                }
            }
        }
    }

    /// Plans recording `entry` (a tombstone with `remove`: dropping the
    /// hash) without changing the table. `Full` if it has no room.
    pub(crate) fn plan<F: Flash>(
        &mut self,
        log: &mut Ledger<F>,
        entry: &Entry,
        remove: bool,
    ) -> Result<Plan, ApplyError> {
        let hash = entry.hash();
        let removing = remove && matches!(entry, Entry::Tombstone { .. });
        match self {
            LogTable::Full(t) if removing => {
                Ok(t.find_slot(hash).map_or(Plan::Nothing, Plan::Remove))
            }
            // `plan_insert`'s only error is `Full`.
            LogTable::Full(t) => t
                .plan_insert(hash)
                .map(Plan::Insert)
                .map_err(|_full| ApplyError::Full),
            LogTable::Compact(t) => {
                let mut resolver = |p| resolve(log, p);
                if removing {
                    let found = t
                        .find_slot(hash, &mut resolver)
                        .map_err(ApplyError::Ledger)?;
                    return Ok(found.map_or(Plan::Nothing, |(slot, _)| Plan::Remove(slot)));
                }
                t.plan_insert(hash, &mut resolver)
                    .map(Plan::Insert)
                    .map_err(|e| match e {
                        CompactError::Resolve(e) => ApplyError::Ledger(e),
                        // `plan_insert` fails on a resolve or on room: a
                        // position is checked by `commit_insert`, not here.
                        _full => ApplyError::Full,
                    })
            }
        }
    }

    /// Carries out `plan`, made for `entry` with no change to the table
    /// since; `position` is where the journal put the entry.
    pub(crate) fn commit(
        &mut self,
        plan: Plan,
        entry: &Entry,
        position: u64,
    ) -> Result<(), CuckooError> {
        match (self, plan) {
            (_, Plan::Nothing) => {}
            (LogTable::Full(t), Plan::Remove(slot)) => drop(t.remove_at(slot)),
            (LogTable::Compact(t), Plan::Remove(slot)) => drop(t.remove_at(slot)),
            (LogTable::Full(t), Plan::Insert(plan)) => {
                t.commit_insert(plan, *entry.hash(), value_of(entry));
            }
            (LogTable::Compact(t), Plan::Insert(plan)) => {
                t.commit_insert(plan, entry.hash(), position)?;
            }
        }
        Ok(())
    }

    /// Plans and commits at once: replaying an entry already in the
    /// journal at `position`.
    pub(crate) fn apply<F: Flash>(
        &mut self,
        log: &mut Ledger<F>,
        entry: &Entry,
        position: u64,
        remove: bool,
    ) -> Result<(), ApplyError> {
        let plan = self.plan(log, entry, remove)?;
        self.commit(plan, entry, position)
            .map_err(ApplyError::Cuckoo)
    }

    /// Every (hash, value) the table holds, with each slot's position for
    /// the compact layout (read in position order: a page read serves many).
    pub(crate) fn contents<F: Flash>(
        &mut self,
        log: &mut Ledger<F>,
    ) -> Result<Vec<(Entry, Option<u64>)>, LedgerError> {
        match self {
            LogTable::Full(t) => Ok(t.iter().map(|(h, v)| (entry_of(*h, *v), None)).collect()),
            LogTable::Compact(t) => {
                let mut positions: Vec<u64> = t.placements().map(|(_, _, p)| p).collect();
                positions.sort_unstable();
                positions
                    .into_iter()
                    .map(|p| Ok((log.read_entry(p)?, Some(p))))
                    .collect()
            }
        }
    }

    /// After a pack wrote `contents` (in that order) at `new` positions.
    /// Every occupied slot's position must be among `contents`: one that is
    /// not is a bug, refused without changing the table.
    pub(crate) fn remap(
        &mut self,
        contents: &[(Entry, Option<u64>)],
        new: &[u64],
    ) -> Result<(), CuckooError> {
        if let LogTable::Compact(t) = self {
            let map: HashMap<u64, u64> = contents
                .iter()
                .zip(new)
                .filter_map(|((_, old), &new)| old.map(|old| (old, new)))
                .collect();
            if let Some((_, _, stray)) = t.placements().find(|(_, _, p)| !map.contains_key(p)) {
                return Err(CuckooError::CompactPosition {
                    pos: stray,
                    limit: u64::MAX,
                });
            }
            t.remap_positions(&mut |old| map[&old])?;
        }
        Ok(())
    }

    /// The table as a full table with the same placement, to freeze.
    pub(crate) fn frozen<F: Flash>(
        &mut self,
        log: &mut Ledger<F>,
    ) -> Result<Cow<'_, CuckooTable<Value>>, FrozenError> {
        let frozen = self.frozen_as_is(log)?;
        if !planted::active(Bug::FreezeDropsTombstones) {
            return Ok(frozen);
        }
        let mut table = frozen.into_owned();
        let tombstones: Vec<Hash> = table
            .iter()
            .filter(|(_, v)| **v == Value::Tombstone)
            .map(|(h, _)| *h)
            .collect();
        for hash in &tombstones {
            let slot = table
                .find_slot(hash)
                .expect("a tombstone the table just listed");
            table.remove_at(slot);
        }
        Ok(Cow::Owned(table))
    }

    fn frozen_as_is<F: Flash>(
        &mut self,
        log: &mut Ledger<F>,
    ) -> Result<Cow<'_, CuckooTable<Value>>, FrozenError> {
        match self {
            LogTable::Full(t) => Ok(Cow::Borrowed(t)),
            LogTable::Compact(t) => {
                let mut placements: Vec<(u64, usize, u64)> = t.placements().collect();
                placements.sort_unstable_by_key(|p| p.2);
                let resolved = placements
                    .into_iter()
                    .map(|(bucket, slot, p)| {
                        let entry = log.read_entry(p)?;
                        Ok((bucket, slot, *entry.hash(), value_of(&entry)))
                    })
                    .collect::<Result<Vec<_>, LedgerError>>()
                    .map_err(FrozenError::Ledger)?;
                let full = CuckooTable::from_placements(*t.config(), resolved)
                    .map_err(FrozenError::Cuckoo)?;
                Ok(Cow::Owned(full))
            }
        }
    }
}

#[derive(Debug)]
pub(crate) enum FrozenError {
    Ledger(LedgerError),
    Cuckoo(CuckooError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_flash::FileFlash;
    use crate::flash::Geometry;
    use crate::types::Info;

    /// Bits of a journal position in the compact tables below.
    const POSITION_BITS: u32 = 20;
    /// The first position those tables cannot hold (all ones marks a free slot).
    const POSITION_LIMIT: u64 = (1 << POSITION_BITS) - 1;

    /// An empty ledger on a file-backed device in `dir`.
    fn ledger(dir: &tempfile::TempDir) -> Ledger<FileFlash> {
        let geometry = Geometry::new(512, 8, 16).unwrap();
        let flash = FileFlash::create(&dir.path().join("image"), geometry).unwrap();
        Ledger::create(flash, 4, Vec::new()).unwrap()
    }

    /// Entry `n` of a family whose hashes share buckets 2 and 5 at order 3,
    /// so each lookup among them resolves the others' positions too.
    fn put(n: u8) -> Entry {
        let mut hash = [n; 32];
        hash[..8].copy_from_slice(&2u64.to_le_bytes());
        hash[8..16].copy_from_slice(&5u64.to_le_bytes());
        let info = Info {
            physical_sector: u64::from(n),
            first_logical_sector: 0,
        };
        Entry::Hash { hash, info }
    }

    /// A compact table of 2^3 buckets holding `entries`, appended to `log`.
    fn compact(log: &mut Ledger<FileFlash>, entries: &[Entry]) -> LogTable {
        let config = CuckooConfig::new(3, 1);
        let mut table = LogTable::new(SlotLayoutKind::Compact, config, POSITION_BITS).unwrap();
        for entry in entries {
            let position = log.append(entry).unwrap();
            table.apply(log, entry, position, false).unwrap();
        }
        table
    }

    /// A compact table over `log` holding `put(0)` on the journal's first
    /// page, that page on flash alone (later pages hold more entries) and
    /// then overwritten with zeros in the image: it no longer checks out.
    /// Returns the table and the entry's position.
    fn compact_over_a_corrupt_page(
        dir: &tempfile::TempDir,
        log: &mut Ledger<FileFlash>,
    ) -> (LogTable, u64) {
        let mut table = compact(log, &[put(0)]);
        let position = table.contents(log).unwrap()[0].1.unwrap();
        for n in 1..40 {
            log.append(&put(n)).unwrap();
        }
        log.flush().unwrap();
        let first = log.journal().page_addrs()[0];
        let geometry = log.flash().geometry();
        let mut image = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("image"))
            .unwrap();
        use std::io::{Seek, SeekFrom, Write};
        image
            .seek(SeekFrom::Start(geometry.page_offset(first)))
            .unwrap();
        image
            .write_all(&vec![0; geometry.page_bytes as usize])
            .unwrap();
        (table, position)
    }

    /// Each layout refuses a shape it cannot hold with the typed error: a
    /// bucket of 3 slots; a compact position of 38 bits beside a 3-bit tag
    /// (37 fit a 40-bit slot).
    #[test]
    fn either_layout_refuses_a_shape_it_cannot_hold() {
        let odd = CuckooConfig {
            bucket_slots: 3,
            ..CuckooConfig::new(3, 1)
        };
        let full = LogTable::new(SlotLayoutKind::Full, odd, POSITION_BITS);
        assert_eq!(
            full.err(),
            Some(CuckooError::BucketSlots { bucket_slots: 3 })
        );
        let config = CuckooConfig::new(3, 1);
        assert!(LogTable::new(SlotLayoutKind::Compact, config, 37).is_ok());
        assert_eq!(
            LogTable::new(SlotLayoutKind::Compact, config, 38).err(),
            Some(CuckooError::CompactTooWide {
                order: 3,
                pos_bits: 38
            })
        );
    }

    /// A planned insert committed at a position the compact slots cannot
    /// hold is refused with `CompactPosition`, the table unchanged; the same
    /// plan at the entry's journal position is then committed and found.
    #[test]
    fn a_commit_past_the_position_bits_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ledger(&dir);
        let mut table = compact(&mut log, &[put(0)]);
        let entry = put(1);
        let plan = table.plan(&mut log, &entry, false).unwrap();
        let position = log.append(&entry).unwrap();
        assert_eq!(
            table.commit(plan, &entry, POSITION_LIMIT).err(),
            Some(CuckooError::CompactPosition {
                pos: POSITION_LIMIT,
                limit: POSITION_LIMIT
            })
        );
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(&mut log, entry.hash()).unwrap(), None);
        table.commit(plan, &entry, position).unwrap();
        assert_eq!(
            table.get(&mut log, entry.hash()).unwrap(),
            Some(value_of(&entry))
        );
        assert_eq!(table.len(), 2);
    }

    /// A remap leaving out an occupied slot's position, or mapping one past
    /// the slot's bits, is refused and changes nothing; a complete one moves
    /// every slot to its new position.
    #[test]
    fn a_remap_must_cover_every_slot_and_fit_its_bits() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ledger(&dir);
        let mut table = compact(&mut log, &[put(0), put(1)]);
        let before = table.contents(&mut log).unwrap();
        let old: Vec<u64> = before.iter().map(|(_, p)| p.unwrap()).collect();
        let stray = table.remap(&before[..1], &old[..1]);
        assert_eq!(
            stray.err(),
            Some(CuckooError::CompactPosition {
                pos: old[1],
                limit: u64::MAX
            })
        );
        let too_far = table.remap(&before, &[old[0], POSITION_LIMIT]);
        assert_eq!(
            too_far.err(),
            Some(CuckooError::CompactPosition {
                pos: POSITION_LIMIT,
                limit: POSITION_LIMIT
            })
        );
        assert_eq!(table.contents(&mut log).unwrap(), before);
        // The same entries again, further on: a pack's new positions.
        let new: Vec<u64> = [put(0), put(1)]
            .iter()
            .map(|entry| log.append(entry).unwrap())
            .collect();
        table.remap(&before, &new).unwrap();
        let after = table.contents(&mut log).unwrap();
        let moved: Vec<(Entry, Option<u64>)> =
            [(put(0), Some(new[0])), (put(1), Some(new[1]))].into();
        assert_eq!(after, moved);
    }

    /// A journal page that no longer checks out makes every compact read
    /// through it the ledger's typed error: a lookup, a removal's plan, the
    /// contents and a freeze, each naming what reading the entry names.
    #[test]
    fn a_corrupt_journal_page_fails_every_compact_read_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ledger(&dir);
        let (mut table, position) = compact_over_a_corrupt_page(&dir, &mut log);
        let cause = format!("{:?}", log.read_entry(position).unwrap_err());
        assert!(cause.starts_with("Journal(Corrupt"), "{cause}");
        let hash = *put(0).hash();
        let lookup = table.get(&mut log, &hash).unwrap_err();
        assert_eq!(format!("{lookup:?}"), cause);
        let removal = table.plan(&mut log, &Entry::Tombstone { hash }, true);
        assert_eq!(
            format!("{:?}", removal.unwrap_err()),
            format!("Ledger({cause})")
        );
        let contents = table.contents(&mut log).unwrap_err();
        assert_eq!(format!("{contents:?}"), cause);
        let frozen = table.frozen(&mut log).map(|_| ()).unwrap_err();
        assert_eq!(format!("{frozen:?}"), format!("Ledger({cause})"));
    }
}
