//! The store: the log store (cuckoo table in RAM) and its journal, frozen
//! into hash store incarnations when full — the public API of the index.
//!
//! Owns the log (journal, anchor, allocator), the table and the open
//! incarnations. Promises: an acknowledged operation is in the table and
//! the journal; after a crash, `open` gives back a store equal to a prefix
//! of the acknowledged operations that holds everything flushed; pack and
//! freeze switch state atomically through one anchor commit; out of space
//! is [`StoreError::Full`] with nothing already stored lost (unless the
//! configuration opts in to dropping the oldest incarnation).

use crate::alloc::OutOfBlocks;
use crate::codec::{DecodeError, Reader, Writer};
use crate::cuckoo::config::COMPACT_SLOT_BITS;
use crate::cuckoo::{CuckooConfig, CuckooError, Policy};
use crate::flash::Geometry;
use crate::flash::{Counted, Flash, FlashError, IoCounts};
use crate::format::journal::Entry;
use crate::format::journal::JOURNAL_PAGE_BYTES_MIN;
use crate::hashstore::{HashStoreError, Incarnation};
use crate::journal::{position_bits, JournalError, RecoveryReport};
use crate::log::{Log, LogError};
use crate::logtable::{ApplyError, FrozenError, LogTable, SlotLayoutKind};
use crate::planted::{self, Bug};
use crate::types::{Hash, Info, Value};

const CONFIG_VERSION: u16 = 2;

/// The shape and policies of a store, kept in the anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoreConfig {
    /// The log store has 2^order buckets.
    pub order: u32,
    /// Slots per bucket: 2, 4 or 8.
    pub bucket_slots: usize,
    pub policy: Policy,
    /// Erase blocks of each journal region.
    pub journal_blocks: u32,
    /// Most incarnations kept.
    pub incarnations_max: u32,
    /// Past `incarnations_max`, drop the oldest incarnation (and what only it
    /// held) instead of returning `Full`. Off by default.
    pub evict_oldest: bool,
    /// Seeds the cuckoo table's random choices.
    pub seed: u64,
    /// The log store's slot layout: full hashes, or tags and journal
    /// positions (SILT-style).
    #[cfg_attr(feature = "serde", serde(default))]
    pub layout: SlotLayoutKind,
}

impl StoreConfig {
    /// 2^order buckets of 4 slots, the default policy, `journal_blocks`
    /// blocks of journal, at most 8 incarnations, no eviction.
    pub fn new(order: u32, journal_blocks: u32) -> Self {
        StoreConfig {
            order,
            bucket_slots: 4,
            policy: Policy::default(),
            journal_blocks,
            incarnations_max: 8,
            evict_oldest: false,
            seed: 0,
            layout: SlotLayoutKind::Full,
        }
    }

    /// Checks the configuration against a device of `geometry` without
    /// touching the device: what [`Store::create`] would refuse for its
    /// shape, this refuses, before anything is allocated or written.
    pub fn check(&self, geometry: Geometry) -> Result<(), StoreError> {
        geometry.validate().map_err(StoreError::Flash)?;
        self.cuckoo().capacity()?;
        check_fits(self, geometry)?;
        if geometry.page_bytes < JOURNAL_PAGE_BYTES_MIN {
            let page_bytes = geometry.page_bytes;
            return Err(LogError::Journal(JournalError::PageTooSmall { page_bytes }).into());
        }
        Incarnation::check_shape(geometry, self.order, self.bucket_slots)?;
        if self.layout == SlotLayoutKind::Compact {
            let pos_bits = position_bits(geometry, self.journal_blocks);
            if pos_bits > COMPACT_SLOT_BITS.saturating_sub(self.order) {
                let order = self.order;
                return Err(CuckooError::CompactTooWide { order, pos_bits }.into());
            }
        }
        Ok(())
    }

    fn cuckoo(&self) -> CuckooConfig {
        CuckooConfig {
            order: self.order,
            bucket_slots: self.bucket_slots,
            policy: self.policy,
            seed: self.seed,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u16(CONFIG_VERSION)
            .u32(self.order)
            .u8(self.bucket_slots as u8);
        match self.policy {
            Policy::RandomWalk { max_kicks, retries } => w.u8(0).u32(max_kicks).u32(retries),
            Policy::Bfs { max_depth } => w.u8(1).u32(max_depth).u32(0),
            Policy::FixedVictim { max_kicks } => w.u8(2).u32(max_kicks).u32(0),
        };
        w.u32(self.journal_blocks)
            .u32(self.incarnations_max)
            .u8(u8::from(self.evict_oldest))
            .u64(self.seed)
            .u8(match self.layout {
                SlotLayoutKind::Full => 0,
                SlotLayoutKind::Compact => 1,
            });
        w.bytes
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u16()?;
        if version != CONFIG_VERSION {
            return Err(DecodeError::Invalid {
                what: "store config version",
                value: u64::from(version),
            });
        }
        let order = r.u32()?;
        let bucket_slots = usize::from(r.u8()?);
        let (tag, a, b) = (r.u8()?, r.u32()?, r.u32()?);
        let policy = match tag {
            0 => Policy::RandomWalk {
                max_kicks: a,
                retries: b,
            },
            1 => Policy::Bfs { max_depth: a },
            2 => Policy::FixedVictim { max_kicks: a },
            other => {
                return Err(DecodeError::Invalid {
                    what: "policy tag",
                    value: u64::from(other),
                })
            }
        };
        Ok(StoreConfig {
            order,
            bucket_slots,
            policy,
            journal_blocks: r.u32()?,
            incarnations_max: r.u32()?,
            evict_oldest: r.u8()? != 0,
            seed: r.u64()?,
            layout: match r.u8()? {
                0 => SlotLayoutKind::Full,
                1 => SlotLayoutKind::Compact,
                other => {
                    return Err(DecodeError::Invalid {
                        what: "slot layout",
                        value: u64::from(other),
                    })
                }
            },
        })
    }
}

/// What is full when [`StoreError::Full`] comes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FullReason {
    /// The table and the journal are full and `incarnations_max`
    /// incarnations exist; eviction is off.
    Incarnations { max: u32 },
    /// No free erase block for a new region.
    Blocks(OutOfBlocks),
    /// Fresh journal regions kept failing under the writes (bad blocks) and
    /// could not take the live entries.
    JournalRegion { pages: u64 },
}

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Out of space; the operation was not done and nothing stored was lost.
    #[error("store full: {0:?}")]
    Full(FullReason),
    #[error("store configuration invalid: {0}")]
    Config(#[from] CuckooError),
    /// The table could never be frozen on this device, or the journal does
    /// not fit: refused before anything is allocated.
    #[error("store configuration does not fit the device: {0}")]
    TooLarge(String),
    /// `journal_blocks` is 0: the log store needs a journal.
    #[error("a store needs at least one journal block (journal_blocks is 0)")]
    NoJournal,
    #[error("store configuration in the anchor does not decode: {0}")]
    ConfigDecode(DecodeError),
    #[error(transparent)]
    HashStore(HashStoreError),
    #[error(transparent)]
    Log(LogError),
    /// The device failed (power lost, I/O error, a rule broken).
    #[error(transparent)]
    Flash(FlashError),
}

impl From<LogError> for StoreError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Flash(e) => StoreError::Flash(e),
            other => StoreError::Log(other),
        }
    }
}

impl From<HashStoreError> for StoreError {
    fn from(error: HashStoreError) -> Self {
        match error {
            HashStoreError::Flash(e) => StoreError::Flash(e),
            other => StoreError::HashStore(other),
        }
    }
}

/// Figures of a store, as of now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StoreStats {
    /// Entries in the log store (tombstones included).
    pub log_entries: u64,
    /// Entries in all incarnations (tombstones included).
    pub incarnation_entries: u64,
    /// Log store fill: used slots / all slots.
    pub fill: f64,
    pub incarnations: u32,
    /// Fraction of the journal region's pages used.
    pub journal_use: f64,
    pub packs: u64,
    pub freezes: u64,
    /// Incarnations dropped by `evict_oldest`.
    pub evictions: u64,
    /// Bytes of journal entries appended since open.
    pub bytes_appended: u64,
    /// Every operation the store sent to flash since open.
    pub io: IoCounts,
    /// RAM held by the log store table.
    pub ram_bytes: u64,
    /// Compact layout: journal entries read to confirm a tag match, and
    /// those that turned out to be another hash.
    pub resolves: u64,
    pub false_positives: u64,
}

/// The index. See the module documentation. `Clone` (on a cloneable
/// device) snapshots the whole store, RAM and flash alike.
#[derive(Clone, Debug)]
pub struct Store<F: Flash> {
    log: Log<Counted<F>>,
    config: StoreConfig,
    table: LogTable,
    /// Newest first.
    incarnations: Vec<Incarnation>,
    packs: u64,
    freezes: u64,
    evictions: u64,
    bytes_appended: u64,
}

/// Most times one operation makes room (pack or freeze) before it gives up.
const ROOM_ATTEMPTS_MAX: u32 = 4;

impl<F: Flash> Store<F> {
    /// Formats `flash` as an empty store.
    pub fn create(flash: F, config: StoreConfig) -> Result<Self, StoreError> {
        config.check(flash.geometry())?;
        let log = Log::create(Counted::new(flash), config.journal_blocks, config.encode())?;
        let table = LogTable::new(
            config.layout,
            config.cuckoo(),
            log.journal().position_bits(),
        )?;
        Ok(Store::assemble(log, config, table, Vec::new()))
    }

    fn assemble(
        log: Log<Counted<F>>,
        config: StoreConfig,
        table: LogTable,
        incarnations: Vec<Incarnation>,
    ) -> Self {
        Store {
            log,
            config,
            table,
            incarnations,
            packs: 0,
            freezes: 0,
            evictions: 0,
            bytes_appended: 0,
        }
    }

    /// Opens a store after a clean stop or a crash: the anchor's
    /// configuration and incarnations, then the table rebuilt from the
    /// journal. Returns the journal's recovery report too.
    pub fn open(flash: F) -> Result<(Self, RecoveryReport), StoreError> {
        Store::open_returning(flash).map_err(|(error, _)| error)
    }

    /// As [`Store::open`], but a failure gives the device back with the
    /// error: power lost while a recovery writes (a rebuild that freezes),
    /// say, can be power-cycled and opened again.
    pub fn open_returning(flash: F) -> Result<(Self, RecoveryReport), (StoreError, F)> {
        let (log, entries, report) = match Log::open_returning(Counted::new(flash)) {
            Ok(opened) => opened,
            Err((error, flash)) => return Err((error.into(), flash.into_inner())),
        };
        let (config, table, incarnations) = match Store::assemble_opened(&log) {
            Ok(parts) => parts,
            Err(error) => return Err((error, log.into_flash().into_inner())),
        };
        let positions = log.journal().recovered_positions().to_vec();
        let mut store = Store::assemble(log, config, table, incarnations);
        match store.rebuild(entries, positions) {
            Ok(()) => Ok((store, report)),
            Err(error) => Err((error, store.into_flash())),
        }
    }

    /// The configuration, an empty table and the incarnations the anchor
    /// names; no flash I/O.
    fn assemble_opened(
        log: &Log<Counted<F>>,
    ) -> Result<(StoreConfig, LogTable, Vec<Incarnation>), StoreError> {
        let config = StoreConfig::decode(&log.record().config).map_err(StoreError::ConfigDecode)?;
        let geometry = log.flash().geometry();
        check_fits(&config, geometry)?;
        let incarnations = log
            .record()
            .incarnations
            .iter()
            .map(|region| Incarnation::open(region.clone(), geometry))
            .collect::<Result<Vec<_>, _>>()?;
        let table = LogTable::new(
            config.layout,
            config.cuckoo(),
            log.journal().position_bits(),
        )?;
        Ok((config, table, incarnations))
    }

    /// Replays the journal into the table. Should an order of inserts the
    /// table cannot hold come up, the part replayed is frozen and the rest
    /// carried into a new journal (at new positions), then replayed.
    fn rebuild(
        &mut self,
        mut entries: Vec<Entry>,
        mut positions: Vec<u64>,
    ) -> Result<(), StoreError> {
        for _ in 0..=entries.len() {
            match self.replay(&entries, &positions)? {
                None => return Ok(()),
                Some(done) => {
                    entries.drain(..done);
                    positions = self.freeze(&entries, true)?;
                }
            }
        }
        unreachable!("every freeze replays at least one entry")
    }

    /// Applies entries to the table; `Some(n)` if entry `n` did not fit.
    fn replay(
        &mut self,
        entries: &[Entry],
        positions: &[u64],
    ) -> Result<Option<usize>, StoreError> {
        assert_eq!(entries.len(), positions.len());
        let remove = self.incarnations.is_empty();
        for (index, (entry, &position)) in entries.iter().zip(positions).enumerate() {
            match self.table.apply(&mut self.log, entry, position, remove) {
                Ok(()) => {}
                Err(ApplyError::Full) => return Ok(Some(index)),
                Err(ApplyError::Cuckoo(e)) => return Err(e.into()),
                Err(ApplyError::Log(e)) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Looks in the log store, then the incarnations newest first.
    pub fn get(&mut self, hash: &Hash) -> Result<Option<Info>, StoreError> {
        if let Some(value) = self.table.get(&mut self.log, hash)? {
            return Ok(live(value));
        }
        for incarnation in &self.incarnations {
            if let Some(value) = incarnation.get(self.log.flash_mut(), hash)? {
                return Ok(live(value));
            }
        }
        Ok(None)
    }

    /// Stores `info` for `hash`, replacing any earlier info.
    pub fn insert(&mut self, hash: Hash, info: Info) -> Result<(), StoreError> {
        self.put(Entry::Hash { hash, info })
    }

    /// Deletes `hash`; returns whether it was there.
    pub fn delete(&mut self, hash: &Hash) -> Result<bool, StoreError> {
        if self.get(hash)?.is_none() {
            return Ok(false);
        }
        self.put(Entry::Tombstone { hash: *hash })?;
        Ok(true)
    }

    /// Makes every acknowledged operation durable. Should failed programs
    /// have used up the journal's region, the table is packed or frozen
    /// instead, which makes it durable too.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        match self.log.flush() {
            Err(LogError::Full { .. }) => self.make_journal_room(),
            other => Ok(other?),
        }
    }

    /// Records `entry` in the table and the journal, making room first
    /// (pack or freeze) when either is full: plans its place in the table,
    /// appends it, then commits the plan, so a failed append leaves the
    /// table untouched. Without incarnations a tombstone just removes; with
    /// them it stays and shadows them.
    fn put(&mut self, entry: Entry) -> Result<(), StoreError> {
        for _ in 0..ROOM_ATTEMPTS_MAX {
            if !self.log.has_room_for(&entry) {
                self.make_journal_room()?;
                continue;
            }
            let remove = self.incarnations.is_empty();
            let plan = match self.table.plan(&mut self.log, &entry, remove) {
                Ok(plan) => plan,
                Err(ApplyError::Full) => {
                    self.freeze(&[], false)?;
                    continue;
                }
                Err(ApplyError::Cuckoo(e)) => return Err(e.into()),
                Err(ApplyError::Log(e)) => return Err(e.into()),
            };
            match self.log.append(&entry) {
                Ok(position) => {
                    self.table.commit(plan, &entry, position)?;
                    self.bytes_appended += entry.encoded_bytes() as u64;
                    return Ok(());
                }
                Err(LogError::Full { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Full(FullReason::JournalRegion {
            pages: self.log.journal().pages_left(),
        }))
    }

    /// A full journal: pack when the live entries fill at most half of a
    /// region, else freeze.
    fn make_journal_room(&mut self) -> Result<(), StoreError> {
        let contents = self.table.contents(&mut self.log)?;
        let live: Vec<Entry> = contents.iter().map(|(entry, _)| *entry).collect();
        let geometry = self.log.flash().geometry();
        let live_bytes: u64 = live.iter().map(|e| e.encoded_bytes() as u64).sum();
        let region_bytes = u64::from(self.config.journal_blocks) * geometry.block_bytes();
        if live_bytes * 2 > region_bytes {
            return self.freeze(&[], false).map(|_| ());
        }
        let positions = self.log.pack(&live).map_err(|e| self.blocks_full(e))?;
        self.table.remap(&contents, &positions)?;
        self.packs += 1;
        Ok(())
    }

    fn blocks_full(&self, error: LogError) -> StoreError {
        match error {
            LogError::OutOfBlocks(e) => StoreError::Full(FullReason::Blocks(e)),
            LogError::Full { pages } => StoreError::Full(FullReason::JournalRegion { pages }),
            other => other.into(),
        }
    }

    /// Writes the table as a new incarnation and, in one anchor commit,
    /// names it and a new journal holding `carry` (whose new positions come
    /// back). Past `incarnations_max` the oldest is dropped if so
    /// configured (or, `recovering`, kept: the limit must not make stored
    /// data unreadable), else `Full`.
    fn freeze(&mut self, carry: &[Entry], recovering: bool) -> Result<Vec<u64>, StoreError> {
        let mut keep = self.incarnations.len();
        if keep as u32 >= self.config.incarnations_max && !recovering {
            if !self.config.evict_oldest {
                return Err(StoreError::Full(FullReason::Incarnations {
                    max: self.config.incarnations_max,
                }));
            }
            keep = (self.config.incarnations_max as usize).saturating_sub(1);
        }
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
        let positions = match self.log.replace_journal(carry, regions) {
            Ok(positions) => positions,
            Err(error) => {
                self.log.release_region(incarnation.region());
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
    fn write_incarnation(&mut self) -> Result<Incarnation, StoreError> {
        let generation = self.log.next_generation();
        let frozen = self.table.frozen(&mut self.log).map_err(|e| match e {
            FrozenError::Log(e) => StoreError::from(e),
            FrozenError::Cuckoo(e) => StoreError::from(e),
        })?;
        let (flash, alloc) = self.log.flash_and_allocator();
        Incarnation::freeze(flash, alloc, generation, &frozen).map_err(|e| match e {
            HashStoreError::OutOfBlocks(e) => StoreError::Full(FullReason::Blocks(e)),
            other => other.into(),
        })
    }

    pub fn stats(&self) -> StoreStats {
        let (resolves, false_positives) = self.table.resolves();
        StoreStats {
            log_entries: self.table.len(),
            incarnation_entries: self.incarnations.iter().map(Incarnation::entries).sum(),
            fill: self.table.fill(),
            incarnations: self.incarnations.len() as u32,
            journal_use: self.log.journal().use_fraction(),
            packs: self.packs,
            freezes: self.freezes,
            evictions: self.evictions,
            bytes_appended: self.bytes_appended,
            io: self.log.flash().counts(),
            ram_bytes: self.table.ram_bytes(),
            resolves,
            false_positives,
        }
    }

    pub fn flash(&self) -> &F {
        self.log.flash().inner()
    }

    pub fn flash_mut(&mut self) -> &mut F {
        self.log.flash_mut().inner_mut()
    }

    pub fn into_flash(self) -> F {
        self.log.into_flash().into_inner()
    }

    /// Every live (hash, info) the store holds, newest value per hash, in
    /// hash order: the table over the incarnations, tombstones applied.
    pub fn contents(&mut self) -> Result<Vec<(Hash, Info)>, StoreError> {
        let mut merged = std::collections::BTreeMap::new();
        for incarnation in self.incarnations.iter().rev() {
            for (hash, value) in incarnation.read_all(self.log.flash_mut())? {
                merged.insert(hash, value);
            }
        }
        for (entry, _) in self.table.contents(&mut self.log)? {
            merged.insert(*entry.hash(), value_of(&entry));
        }
        Ok(merged
            .into_iter()
            .filter_map(|(h, v)| live(v).map(|info| (h, info)))
            .collect())
    }
}

/// What the simulator's checker reads of a store's layers, to check it
/// against its model a layer at a time.
#[cfg(feature = "testing")]
impl<F: Flash> Store<F> {
    /// The incarnations' regions (generation and blocks), newest first.
    pub fn incarnation_regions(&self) -> Vec<crate::region::Region> {
        self.incarnations
            .iter()
            .map(|i| i.region().clone())
            .collect()
    }

    /// Every (hash, value) of the `index`-th incarnation, newest first,
    /// tombstones included, read and checked from flash.
    pub fn incarnation_contents(&mut self, index: usize) -> Result<Vec<(Hash, Value)>, StoreError> {
        let incarnation = self.incarnations.get(index).ok_or_else(|| {
            StoreError::TooLarge(format!(
                "no incarnation {index} of {}",
                self.incarnations.len()
            ))
        })?;
        Ok(incarnation.read_all(self.log.flash_mut())?)
    }

    /// The journal's generation and the entries in its pages on flash.
    pub fn journal_entries(&self) -> (u64, u64) {
        let journal = self.log.journal();
        (
            journal.region().generation,
            journal.stats().entries_on_flash,
        )
    }

    /// Every (hash, value) the log store holds, tombstones included.
    pub fn log_contents(&mut self) -> Result<Vec<(Hash, Value)>, StoreError> {
        Ok(self
            .table
            .contents(&mut self.log)?
            .into_iter()
            .map(|(entry, _)| (*entry.hash(), value_of(&entry)))
            .collect())
    }
}

fn value_of(entry: &Entry) -> Value {
    match entry {
        Entry::Hash { info, .. } => Value::Live(*info),
        Entry::Tombstone { .. } => Value::Tombstone,
    }
}

/// Refuses a configuration whose table, frozen, would not fit on the
/// device next to its journal: checked before the table's RAM is allocated,
/// so a crafted anchor cannot make `open` allocate gigabytes.
fn check_fits(config: &StoreConfig, geometry: Geometry) -> Result<(), StoreError> {
    let capacity = config.cuckoo().capacity()?;
    let table_bytes = capacity.saturating_mul(crate::format::incarnation::SLOT_BYTES as u64);
    let journal_bytes = u64::from(config.journal_blocks).saturating_mul(geometry.block_bytes());
    let anchor_bytes = 2 * geometry.block_bytes();
    let needed = table_bytes
        .saturating_add(journal_bytes)
        .saturating_add(anchor_bytes);
    if config.journal_blocks == 0 {
        return Err(StoreError::NoJournal);
    }
    if needed > geometry.device_bytes() {
        return Err(StoreError::TooLarge(format!(
            "{capacity} slots ({table_bytes} bytes frozen) and {} journal blocks ({journal_bytes} bytes) need {needed} bytes; the device has {}",
            config.journal_blocks,
            geometry.device_bytes()
        )));
    }
    Ok(())
}

fn live(value: Value) -> Option<Info> {
    match value {
        Value::Live(info) => Some(info),
        Value::Tombstone => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips() {
        for policy in [
            Policy::RandomWalk {
                max_kicks: 500,
                retries: 10,
            },
            Policy::Bfs { max_depth: 6 },
            Policy::FixedVictim { max_kicks: 9 },
        ] {
            let mut config = StoreConfig::new(12, 16);
            config.policy = policy;
            config.evict_oldest = true;
            config.seed = 77;
            assert_eq!(StoreConfig::decode(&config.encode()), Ok(config));
        }
        assert!(StoreConfig::decode(&[1, 0, 3]).is_err());
        assert!(StoreConfig::decode(&[9, 0]).is_err());
    }
}
