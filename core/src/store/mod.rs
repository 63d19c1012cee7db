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

mod config;
#[cfg(feature = "testing")]
mod inspect;
mod open;
mod room;
mod salvage;
mod scrub;

pub use config::{BlockBudget, StoreConfig, TooFewBlocks};
pub use scrub::ScrubReport;

use crate::alloc::OutOfBlocks;
use crate::codec::DecodeError;
use crate::cuckoo::CuckooError;
use crate::ecc::{EccCounts, Media};
use crate::flash::{Flash, FlashError, IoCounts};
use crate::format::journal::Entry;
use crate::hashstore::{HashStoreError, Incarnation};
use crate::journal::RecoveryReport;
use crate::ledger::{Ledger, LedgerError};
use crate::logtable::LogTable;
use crate::planted::{self, Bug};
use crate::types::{Hash, Info, Value};

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
    /// The device has too few good blocks for the configuration's
    /// incarnations, journal, lanes and spare: refused at create.
    #[error("store configuration does not fit the device: {0}")]
    TooFewBlocks(TooFewBlocks),
    /// `journal_blocks` is 0: the log store needs a journal.
    #[error("a store needs at least one journal block (journal_blocks is 0)")]
    NoJournal,
    #[error("store configuration in the anchor does not decode: {0}")]
    ConfigDecode(DecodeError),
    #[error(transparent)]
    HashStore(HashStoreError),
    #[error(transparent)]
    Ledger(LedgerError),
    /// The device failed (power lost, I/O error, a rule broken).
    #[error(transparent)]
    Flash(FlashError),
    /// Opening found durable journal pages unreadable (more bit errors than
    /// the ECC corrects): the report says which. Nothing was changed;
    /// [`Store::open_salvaging`] opens with what is left.
    #[error("durable journal pages are lost: {}", describe_loss(.0))]
    DataLoss(Box<RecoveryReport>),
    /// After [`Store::open_salvaging`]: the answer for this hash is not
    /// known. Journal pages lost at the salvage may have held a newer entry
    /// for it; `best` is what the store holds (possibly stale: an older
    /// value, or a hash since deleted). See [`Store::accept_loss`].
    #[error("the answer is unknown: journal pages lost at a salvage may have held a newer entry (best known: {best:?})")]
    Unknown { best: Option<Info> },
    /// The device is worn out: no spare block is left for the next write,
    /// as UBI goes read-only. Every flushed entry stays readable, and the
    /// store opens read-only after a restart.
    #[error("the store is read-only: {0}")]
    ReadOnly(WornOut),
}

/// Why a store went read-only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WornOut {
    /// Too few good blocks are left to write a new region and move the
    /// anchor.
    #[error("{free} free blocks, {needed} needed for the writes the store must be able to make (a freeze: an incarnation, a journal region and a lane move), {bad} retired as bad")]
    NoSpareBlocks { free: u32, needed: u32, bad: u32 },
    /// Every fresh block tried for the anchor failed.
    #[error("the anchor could not move to good blocks")]
    AnchorCannotMove,
    /// Every block tried for a region failed under the writes.
    #[error("fresh regions kept failing under the writes ({bad} blocks retired)")]
    RegionsFailing { bad: u32 },
}

fn describe_loss(report: &RecoveryReport) -> String {
    let pages: u64 = report
        .lost
        .iter()
        .map(|l| l.sequences.end - l.sequences.start)
        .sum();
    let first = report.lost.first().map_or(0, |l| l.position);
    format!(
        "{pages} page(s) of journal generation {} from region position {first}; {} entries still readable",
        report.journal_generation, report.entries_kept
    )
}

impl From<LedgerError> for StoreError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Flash(e) => StoreError::Flash(e),
            other => StoreError::Ledger(other),
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
    /// Journal pages programmed since open, and pages the journal left
    /// erased rather than put an acknowledged page within a cut program's
    /// reach (see [`crate::journal_pages_at_risk`]).
    pub journal_pages_programmed: u64,
    pub journal_pages_passed_over: u64,
    /// Every operation the store sent to flash since open.
    pub io: IoCounts,
    /// What the error correction saw since open.
    pub ecc: EccCounts,
    /// Rewrites done since open to move data before its bit errors outgrow
    /// the ECC (journal packs, incarnations rewritten, anchor recommitted).
    pub scrubs: u64,
    /// Incarnation bucket pages found unreadable (at open or by the scrub)
    /// in the incarnations kept: what they held is a typed error on
    /// lookup. [`Store::lost_pages`] names them.
    pub incarnation_pages_lost: u64,
    /// Incarnations holding entries older than journal pages a salvage
    /// lost: answers from them (and absences) are
    /// [`StoreError::Unknown`]. 0 on a store that never lost a page.
    pub incarnations_uncertain: u64,
    /// Bytes of ECC parity each page carries in its spare area.
    pub parity_bytes_per_page: u64,
    /// RAM held by the log store table.
    pub ram_bytes: u64,
    /// RAM held by the incarnations' filters (their encoded bytes, which
    /// their filter pages hold on flash).
    pub filter_ram_bytes: u64,
    /// Compact layout: journal entries read to confirm a tag match, and
    /// those that turned out to be another hash.
    pub resolves: u64,
    pub false_positives: u64,
}

/// The index. See the module documentation. `Clone` (on a cloneable
/// device) snapshots the whole store, RAM and flash alike.
#[derive(Clone, Debug)]
pub struct Store<F: Flash> {
    ledger: Ledger<Media<F>>,
    config: StoreConfig,
    table: LogTable,
    /// Newest first.
    incarnations: Vec<Incarnation>,
    packs: u64,
    freezes: u64,
    evictions: u64,
    bytes_appended: u64,
    /// Incarnations read back needing a scrub, by generation, to rewrite.
    scrub_due: Vec<u64>,
    /// Rewrites done to move data before its errors outgrow the ECC.
    scrubs: u64,
    /// Where the background scrub goes on: (incarnation generation, page).
    scrub_cursor: (u64, u64),
    /// Set for good when the device can no longer take a write.
    read_only: Option<WornOut>,
    /// A page buffer lookups reuse.
    scratch: Vec<u8>,
    /// Whether lookups consult the incarnations' filters (always, but to
    /// measure what they save).
    use_filters: bool,
}

/// Most times one operation makes room (pack or freeze) before it gives up.
const ROOM_ATTEMPTS_MAX: u32 = 4;

/// How hard an open's rebuild searches for a place the configured policy
/// missed: breadth-first to the deepest path the tables allow.
const REBUILD_POLICY: crate::Policy = crate::Policy::Bfs {
    max_depth: crate::cuckoo::config::DEPTH_MAX,
};

/// The most a region the live entries may fill (numerator, denominator)
/// for a store that cannot freeze to pack instead, to take more entries.
const PACK_FILL_MAX: (u64, u64) = (3, 4);

impl<F: Flash> Store<F> {
    /// Formats `flash` as an empty store.
    pub fn create(mut flash: F, config: StoreConfig) -> Result<Self, StoreError> {
        let geometry = flash.geometry();
        config.check(geometry)?;
        let mut bad = 0;
        for block in 0..geometry.blocks {
            bad += u32::from(
                flash
                    .is_bad(crate::flash::BlockAddr(block))
                    .map_err(StoreError::Flash)?,
            );
        }
        let budget = config
            .block_budget(geometry)
            .expect("checked with the config");
        budget.check(geometry.blocks, bad)?;
        // The config's check validated the geometry Media checks.
        let media = Media::new(flash).map_err(|(error, _)| error);
        let media = media.expect("checked with the config");
        let log = Ledger::create(media, config.journal_blocks, config.encode())?;
        // The config's check fitted the journal's positions in the slots.
        let table = LogTable::new(
            config.layout,
            config.cuckoo(),
            log.journal().position_bits(),
        )
        .expect("checked with the config");
        Ok(Store::assemble(log, config, table, Vec::new()))
    }

    fn assemble(
        ledger: Ledger<Media<F>>,
        config: StoreConfig,
        table: LogTable,
        incarnations: Vec<Incarnation>,
    ) -> Self {
        Store {
            ledger,
            config,
            table,
            incarnations,
            packs: 0,
            freezes: 0,
            evictions: 0,
            bytes_appended: 0,
            scrub_due: Vec::new(),
            scrubs: 0,
            scrub_cursor: (0, 0),
            read_only: None,
            scratch: Vec::new(),
            use_filters: true,
        }
    }

    /// Whether the store went read-only, and why.
    pub fn read_only(&self) -> Option<&WornOut> {
        self.read_only.as_ref()
    }

    /// The blocks this store's configuration needs on its device.
    fn budget(&self) -> BlockBudget {
        let geometry = self.ledger.flash().geometry();
        self.config.block_budget_or_device(geometry)
    }

    /// The blocks the store's configuration needs on its device, and the
    /// spare below which it is worn out.
    pub fn block_budget(&self) -> BlockBudget {
        self.budget()
    }

    /// Whether bad blocks leave fewer free blocks than the writes the store
    /// must always be able to make take at once ([`BlockBudget::spare`]):
    /// it is worn out. Fewer free blocks than a freeze needs, with that
    /// spare still there, is full, not the end of life.
    fn worn_out(&self) -> Option<WornOut> {
        let (free, bad) = self.ledger.free_and_bad_blocks();
        let needed = self.budget().spare();
        let short = self.room() < u64::from(needed);
        (bad > 0 && short).then_some(WornOut::NoSpareBlocks { free, needed, bad })
    }

    /// Runs a write: refused while read-only; an error that says the device
    /// is worn out turns the store read-only for good.
    fn writing<T>(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(why) = &self.read_only {
            return Err(StoreError::ReadOnly(why.clone()));
        }
        // A store that evicts keeps room for a freeze (the one an open's
        // rebuild may make too): it drops its oldest incarnations first.
        let need = self.budget().freeze_blocks();
        let result = self.evicting_for_room(need, false, op);
        self.worn_out_on(result)
    }

    /// A write's result: an error that says the device is worn out turns
    /// the store read-only for good (and is `ReadOnly`).
    fn worn_out_on<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let Err(error) = &result else {
            return result;
        };
        let (_, bad) = self.ledger.free_and_bad_blocks();
        let why = match error {
            StoreError::Ledger(LedgerError::Anchor(
                crate::anchor::AnchorError::MovesExhausted { .. },
            )) => Some(WornOut::AnchorCannotMove),
            StoreError::Full(FullReason::JournalRegion { .. }) if bad > 0 => {
                Some(WornOut::RegionsFailing { bad })
            }
            StoreError::Full(FullReason::Blocks(_))
            | StoreError::Ledger(LedgerError::OutOfBlocks(_)) => self.worn_out(),
            StoreError::Full(_) if bad > 0 && planted::active(Bug::FullIsEndOfLife) => {
                let (free, _) = self.ledger.free_and_bad_blocks();
                let needed = self.budget().spare();
                Some(WornOut::NoSpareBlocks { free, needed, bad })
            }
            _ => None,
        };
        match why {
            Some(why) => {
                self.read_only = Some(why.clone());
                // Best effort: the blocks retired on the way, recorded so
                // the next open sees the device worn out too.
                let _ = self.ledger.record_wear();
                Err(StoreError::ReadOnly(why))
            }
            None => {
                if matches!(result, Err(StoreError::Full(FullReason::Blocks(_)))) {
                    // Best effort: the erases and retirements of the write
                    // that ran out, recorded, so a reopen counts them.
                    let _ = self.ledger.record_wear();
                }
                result
            }
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Looks in the log store, then the incarnations newest first. A page
    /// read with corrected bits at the scrub threshold is noted, and moved
    /// by the next write or [`Store::scrub`].
    ///
    /// After a salvage, an answer a lost journal page may have changed is
    /// [`StoreError::Unknown`] instead.
    pub fn get(&mut self, hash: &Hash) -> Result<Option<Info>, StoreError> {
        if let Some(value) = self.table.get(&mut self.ledger, hash)? {
            return Ok(live(value));
        }
        for incarnation in &mut self.incarnations {
            let flash = self.ledger.flash_mut();
            let found =
                match incarnation.lookup_with(flash, hash, &mut self.scratch, self.use_filters) {
                    Ok(found) => found,
                    Err(error) => {
                        // A page that failed its checks is named from now on.
                        if let HashStoreError::Corrupt { page, .. } = &error {
                            let page = incarnation.page_index(*page);
                            incarnation.note_lost(page.as_slice());
                        }
                        return Err(error.into());
                    }
                };
            if found.scrub {
                let generation = incarnation.region().generation;
                if !self.scrub_due.contains(&generation) {
                    self.scrub_due.push(generation);
                }
            }
            if let Some(value) = found.value {
                let generation = incarnation.region().generation;
                return self.answer(Some((value, generation)));
            }
        }
        self.answer(None)
    }

    /// Whether lookups consult the incarnations' filters: on from create
    /// and open. Off only to measure what the filters save (every answer
    /// is the same; a miss then reads its candidate pages in every
    /// incarnation).
    pub fn set_filters(&mut self, on: bool) {
        self.use_filters = on;
    }

    /// Stores `info` for `hash`, replacing any earlier info.
    pub fn insert(&mut self, hash: Hash, info: Info) -> Result<(), StoreError> {
        self.writing(|store| store.put(Entry::Hash { hash, info }))
    }

    /// Deletes `hash`; returns whether it was there (or, after a salvage,
    /// may have been: its answer was [`StoreError::Unknown`]).
    pub fn delete(&mut self, hash: &Hash) -> Result<bool, StoreError> {
        if let Some(why) = &self.read_only {
            return Err(StoreError::ReadOnly(why.clone()));
        }
        match self.get(hash) {
            Ok(None) => return Ok(false),
            Ok(Some(_)) | Err(StoreError::Unknown { .. }) => {}
            Err(other) => return Err(other),
        }
        self.writing(|store| store.put(Entry::Tombstone { hash: *hash }))?;
        Ok(true)
    }

    /// Makes every acknowledged operation durable. Should failed programs
    /// have used up the journal's region, the table is packed or frozen
    /// instead, which makes it durable too.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.writing(|store| {
            store.maintain()?;
            match store.ledger.flush() {
                // A pack in place of a freeze flushes its fresh journal,
                // commit copy included: the flush is done either way.
                Err(LedgerError::Full { .. }) => store.make_journal_room(true).map(|_| ()),
                other => Ok(other?),
            }
        })
    }

    pub fn stats(&self) -> StoreStats {
        let (resolves, false_positives) = self.table.resolves();
        StoreStats {
            log_entries: self.table.len(),
            incarnation_entries: self.incarnations.iter().map(Incarnation::entries).sum(),
            fill: self.table.fill(),
            incarnations: self.incarnations.len() as u32,
            journal_use: self.ledger.journal().use_fraction(),
            packs: self.packs,
            freezes: self.freezes,
            evictions: self.evictions,
            bytes_appended: self.bytes_appended,
            journal_pages_programmed: self.ledger.journal_pages().programmed,
            journal_pages_passed_over: self.ledger.journal_pages().passed_over,
            io: self.ledger.flash().counts(),
            ecc: self.ledger.flash().ecc_counts(),
            scrubs: self.scrubs,
            incarnation_pages_lost: self
                .incarnations
                .iter()
                .map(|i| i.lost_pages().len() as u64)
                .sum(),
            incarnations_uncertain: self.uncertain_incarnations() as u64,
            parity_bytes_per_page: self.ledger.flash().parity_bytes_per_page() as u64,
            ram_bytes: self.table.ram_bytes(),
            filter_ram_bytes: self
                .incarnations
                .iter()
                .filter_map(Incarnation::filter)
                .map(|f| f.ram_bytes() as u64)
                .sum(),
            resolves,
            false_positives,
        }
    }

    /// The incarnation pages found unreadable so far (at open, by the
    /// scrub, by a lookup), newest incarnation first: what they held is a
    /// typed error on lookup, never "absent".
    pub fn lost_pages(&self) -> Vec<crate::flash::PageAddr> {
        self.incarnations
            .iter()
            .flat_map(|i| i.lost_pages().iter().map(|&page| i.page_addr(page)))
            .collect()
    }

    pub fn flash(&self) -> &F {
        self.ledger.flash().inner()
    }

    pub fn flash_mut(&mut self) -> &mut F {
        self.ledger.flash_mut().inner_mut()
    }

    pub fn into_flash(self) -> F {
        self.ledger.into_flash().into_inner()
    }

    /// Every live (hash, info) the store holds, newest value per hash, in
    /// hash order: the table over the incarnations, tombstones applied.
    pub fn contents(&mut self) -> Result<Vec<(Hash, Info)>, StoreError> {
        let mut merged = std::collections::BTreeMap::new();
        for incarnation in self.incarnations.iter().rev() {
            for (hash, value) in incarnation.read_all(self.ledger.flash_mut())? {
                merged.insert(hash, value);
            }
        }
        for (entry, _) in self.table.contents(&mut self.ledger)? {
            merged.insert(*entry.hash(), value_of(&entry));
        }
        Ok(merged
            .into_iter()
            .filter_map(|(h, v)| live(v).map(|info| (h, info)))
            .collect())
    }
}

fn value_of(entry: &Entry) -> Value {
    match entry {
        Entry::Hash { info, .. } => Value::Live(*info),
        Entry::Tombstone { .. } => Value::Tombstone,
    }
}

fn live(value: Value) -> Option<Info> {
    match value {
        Value::Live(info) => Some(info),
        Value::Tombstone => None,
    }
}
