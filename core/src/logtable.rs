//! The log store's table in either slot layout: `Full` keeps each hash and
//! its value in RAM; `Compact` keeps a tag and the entry's journal position
//! (SILT-style) and confirms every tag match by reading the entry.
//!
//! Owns the layout choice and hides it from the store. Promises: both
//! layouts answer the same; a failed insert changes nothing; the compact
//! layout reads flash only through the journal (RAM page first).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::cuckoo::{CompactError, CompactTable, CuckooConfig, CuckooError, CuckooTable};
use crate::flash::Flash;
use crate::journal::Entry;
use crate::log::{Log, LogError};
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
    Log(LogError),
}

/// What undoes an applied entry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Undo {
    Full(Option<Value>),
    /// The hash's previous position (`None`: it was not there).
    Compact(Option<u64>),
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

/// The full hash at `position`, or `pending`'s hash for the entry not yet
/// appended.
fn resolve<F: Flash>(
    log: &mut Log<F>,
    position: u64,
    pending: Option<(u64, Hash)>,
) -> Result<Hash, LogError> {
    match pending {
        Some((at, hash)) if at == position => Ok(hash),
        _ => Ok(*log.read_entry(position)?.hash()),
    }
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
        log: &mut Log<F>,
        hash: &Hash,
    ) -> Result<Option<Value>, LogError> {
        match self {
            LogTable::Full(t) => Ok(t.get(hash).copied()),
            LogTable::Compact(t) => {
                let found = t.get(hash, &mut |p| resolve(log, p, None))?;
                match found {
                    Some(position) => Ok(Some(value_of(&log.read_entry(position)?))),
                    None => Ok(None),
                }
            }
        }
    }

    /// Records `entry`, about to be appended at journal `position`: stores
    /// its value, or (a tombstone, `remove`) drops the hash.
    pub(crate) fn apply<F: Flash>(
        &mut self,
        log: &mut Log<F>,
        entry: &Entry,
        position: u64,
        remove: bool,
    ) -> Result<Undo, ApplyError> {
        let hash = *entry.hash();
        let tombstone = matches!(entry, Entry::Tombstone { .. });
        match self {
            LogTable::Full(t) => {
                let old = t.get(&hash).copied();
                if tombstone && remove {
                    t.remove(&hash);
                } else {
                    t.insert(hash, value_of(entry)).map_err(|e| match e {
                        CuckooError::Full { .. } => ApplyError::Full,
                        other => ApplyError::Cuckoo(other),
                    })?;
                }
                Ok(Undo::Full(old))
            }
            LogTable::Compact(t) => {
                let pending = Some((position, hash));
                let mut resolver = |p| resolve(log, p, pending);
                let old = if tombstone && remove {
                    t.remove(&hash, &mut resolver).map_err(ApplyError::Log)?
                } else {
                    t.insert(&hash, position, &mut resolver)
                        .map_err(|e| match e {
                            CompactError::Full { .. } => ApplyError::Full,
                            CompactError::Resolve(e) => ApplyError::Log(e),
                            CompactError::Position { pos, limit } => {
                                ApplyError::Cuckoo(CuckooError::CompactPosition { pos, limit })
                            }
                        })?
                };
                Ok(Undo::Compact(old))
            }
        }
    }

    /// Puts the table back as it was before `apply(entry, position, ..)`,
    /// whose entry never reached the journal.
    pub(crate) fn undo<F: Flash>(
        &mut self,
        log: &mut Log<F>,
        hash: Hash,
        position: u64,
        undo: Undo,
    ) -> Result<(), LogError> {
        match (self, undo) {
            (LogTable::Full(t), Undo::Full(old)) => {
                match old {
                    // A freed or overwritten slot takes it back: no kick.
                    Some(value) => drop(t.insert(hash, value)),
                    None => drop(t.remove(&hash)),
                }
                Ok(())
            }
            (LogTable::Compact(t), Undo::Compact(old)) => {
                let pending = Some((position, hash));
                let mut resolver = |p| resolve(log, p, pending);
                match old {
                    Some(previous) => drop(t.insert(&hash, previous, &mut resolver)),
                    None => drop(t.remove(&hash, &mut resolver)?),
                }
                Ok(())
            }
            _ => unreachable!("an undo token comes from the same layout"),
        }
    }

    /// Every (hash, value) the table holds, with each slot's position for
    /// the compact layout (read in position order: a page read serves many).
    pub(crate) fn contents<F: Flash>(
        &mut self,
        log: &mut Log<F>,
    ) -> Result<Vec<(Entry, Option<u64>)>, LogError> {
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
        log: &mut Log<F>,
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
                    .collect::<Result<Vec<_>, LogError>>()
                    .map_err(FrozenError::Log)?;
                let full = CuckooTable::from_placements(*t.config(), resolved)
                    .map_err(FrozenError::Cuckoo)?;
                Ok(Cow::Owned(full))
            }
        }
    }
}

#[derive(Debug)]
pub(crate) enum FrozenError {
    Log(LogError),
    Cuckoo(CuckooError),
}
