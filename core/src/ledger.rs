//! The ledger: a journal made durable and crash-safe by the anchor, on
//! blocks handed out by the allocator. (The log store is the in-RAM table
//! with its journal; the ledger is what keeps the journal and every region
//! durable.)
//!
//! Owns the flash device, the allocator, the anchor record in force and the
//! open journal. Promises: `open` after any crash gives back a prefix of the
//! appended entries that holds every entry appended before the last
//! successful `flush`; `pack`, `recycle` and `replace_journal` switch regions
//! atomically through one anchor commit (a crash leaves the old state or the
//! new one, whole). After any error but `Full`, the ledger refuses further work
//! (`Poisoned`): drop it and `open` the device again.

use crate::alloc::{Allocator, OutOfBlocks};
use crate::anchor::{Anchor, AnchorError, AnchorRecord, LANES};
use crate::flash::BlockAddr;
use crate::flash::{Flash, FlashError};
use crate::format::journal::Entry;
use crate::journal::{Journal, JournalError, RecoveryReport};
use crate::region::Region;

/// Everything a log operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The journal region has no room; nothing was changed.
    #[error("journal full: {pages} pages")]
    Full { pages: u64 },
    #[error("device of {blocks} good blocks is too small: {needed} needed (2 anchor lanes + {journal_blocks} journal blocks)")]
    DeviceTooSmall {
        blocks: u32,
        needed: u32,
        journal_blocks: u32,
    },
    #[error("an earlier operation failed mid-way; reopen the device")]
    Poisoned,
    #[error(transparent)]
    Journal(JournalError),
    #[error(transparent)]
    Anchor(AnchorError),
    #[error(transparent)]
    OutOfBlocks(#[from] OutOfBlocks),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

impl From<AnchorError> for LedgerError {
    fn from(error: AnchorError) -> Self {
        match error {
            AnchorError::Flash(e) => LedgerError::Flash(e),
            AnchorError::OutOfBlocks(e) => LedgerError::OutOfBlocks(e),
            other => LedgerError::Anchor(other),
        }
    }
}

impl From<JournalError> for LedgerError {
    fn from(error: JournalError) -> Self {
        match error {
            JournalError::Full { pages } => LedgerError::Full { pages },
            JournalError::OutOfBlocks(e) => LedgerError::OutOfBlocks(e),
            JournalError::Flash(e) => LedgerError::Flash(e),
            other => LedgerError::Journal(other),
        }
    }
}

/// Most fresh regions one journal replacement tries when blocks fail.
pub const REGION_ATTEMPTS_MAX: u32 = 4;

/// Generations a commit reserves: the record it makes durable names a
/// next generation this many past the next one to hand out, and a
/// generation is handed out only below the durable record's. A power cut
/// that stops a freeze or a pack after its pages are programmed thus
/// leaves them under a generation no reopen hands out again. Else the
/// retry, on the same blocks (the allocator's state is the record's),
/// would reuse the generation, and one page read back as it was before
/// its block's erase would pass for the retry's own (found by `corrupt`'s
/// power cuts in a segment: a bucket page of the stopped freeze served
/// for the retry's, flushed entries missing without an error). Handing
/// out past the reserve (the first after an open, or more than this many
/// between two commits) commits the record in force first.
pub const GENERATIONS_RESERVED: u64 = 16;

/// The log. See the module documentation.
#[derive(Clone, Debug)]
pub struct Ledger<F: Flash> {
    flash: F,
    alloc: Allocator,
    anchor: Anchor,
    record: AnchorRecord,
    journal: Journal,
    poisoned: bool,
    /// While on, every region a commit names for the first time, and every
    /// journal written with entries, is marked uncertain (a salvage).
    salvaging: bool,
    /// Pages programmed and passed over by the journals replaced since
    /// open (the current one counts its own).
    journal_pages_before: JournalPages,
    /// The generation handed out next. Invariant: every generation handed
    /// out since the record in force was committed lies below that
    /// record's next generation, and this is not above it; at open it is
    /// that next generation (those below may be on flash already).
    generation_next: u64,
}

/// A journal's pages: programmed, and passed over (left erased so that a
/// cut program could not reach an acknowledged page).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalPages {
    pub programmed: u64,
    pub passed_over: u64,
}

impl JournalPages {
    fn of(journal: &Journal) -> JournalPages {
        let stats = journal.stats();
        JournalPages {
            programmed: stats.pages_programmed,
            passed_over: stats.pages_passed_over,
        }
    }

    fn plus(self, other: JournalPages) -> JournalPages {
        JournalPages {
            programmed: self.programmed + other.programmed,
            passed_over: self.passed_over + other.passed_over,
        }
    }
}

impl<F: Flash> Ledger<F> {
    /// Formats `flash`: the blocks marked bad at manufacture retired, an
    /// empty journal of `journal_blocks` erase blocks, and an anchor naming
    /// it, with the caller's opaque `config`.
    pub fn create(mut flash: F, journal_blocks: u32, config: Vec<u8>) -> Result<Self, LedgerError> {
        let geometry = flash.geometry();
        let mut alloc = Allocator::new(geometry.blocks, vec![0; geometry.blocks as usize]);
        for b in 0..geometry.blocks {
            if flash.is_bad(BlockAddr(b))? {
                alloc.retire(BlockAddr(b));
            }
        }
        let good = geometry.blocks - alloc.bad_count();
        let needed = LANES as u32 + journal_blocks;
        if good < needed || journal_blocks == 0 {
            return Err(LedgerError::DeviceTooSmall {
                blocks: good,
                needed,
                journal_blocks,
            });
        }
        let generation = match crate::planted::active(crate::planted::Bug::FormatFromGenerationOne)
        {
            true => 1,
            false => Anchor::generation_above(&mut flash)?,
        };
        if generation >= u64::MAX - 1 - GENERATIONS_RESERVED {
            return Err(AnchorError::GenerationsExhausted.into());
        }
        let journal = Journal::create(&mut flash, &mut alloc, generation, journal_blocks)?;
        let record = AnchorRecord {
            sequence: 0,
            lanes: [BlockAddr(0); LANES],
            // The journal's generation is used; the next ones reserved.
            next_generation: generation + 1 + GENERATIONS_RESERVED,
            config,
            journal: journal.region().clone(),
            incarnations: Vec::new(),
            bad_blocks: Vec::new(),
            erase_counts: Vec::new(),
            uncertain: Vec::new(),
        };
        let (anchor, record) = Anchor::format(&mut flash, &mut alloc, record)?;
        let generation_next = generation + 1;
        Ok(Ledger {
            flash,
            alloc,
            anchor,
            record,
            journal,
            poisoned: false,
            salvaging: false,
            journal_pages_before: JournalPages::default(),
            generation_next,
        })
    }

    /// Opens a formatted device after a clean stop or a crash: the newest
    /// anchor record, then the journal's entries in order.
    #[cfg(feature = "testing")]
    pub fn open(flash: F) -> Result<(Self, Vec<Entry>, RecoveryReport), LedgerError> {
        Ledger::open_returning(flash).map_err(|(error, _)| error)
    }

    /// As [`Ledger::open`], but a failure gives the device back with the error
    /// (to power-cycle and retry, say).
    pub fn open_returning(
        mut flash: F,
    ) -> Result<(Self, Vec<Entry>, RecoveryReport), (LedgerError, F)> {
        // What the device shows now is what recovery builds on: make it
        // durable first, so no later crash can take back what was found.
        if let Err(error) = flash.sync() {
            return Err((error.into(), flash));
        }
        let found = match Anchor::open(&mut flash) {
            Ok(found) => found,
            Err(error) => return Err((error.into(), flash)),
        };
        let alloc = allocator_of(&found, flash.geometry().blocks);
        let (journal, entries, report) =
            match Journal::recover(&mut flash, found.record.journal.clone()) {
                Ok(recovered) => recovered,
                Err(error) => return Err((error.into(), flash)),
            };
        let generation_next = found.record.next_generation;
        let log = Ledger {
            flash,
            alloc,
            anchor: found.anchor,
            record: found.record,
            journal,
            poisoned: false,
            salvaging: false,
            journal_pages_before: JournalPages::default(),
            generation_next,
        };
        Ok((log, entries, report))
    }

    fn check(&self) -> Result<(), LedgerError> {
        if self.poisoned {
            Err(LedgerError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Runs `op`, poisoning the ledger on any error but `Full`.
    fn guarded<T>(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        self.check()?;
        let result = op(self);
        if let Err(error) = &result {
            self.poisoned = !matches!(error, LedgerError::Full { .. });
        }
        result
    }

    /// Appends an entry (durable at the next successful flush).
    /// Returns the entry's position in the journal (see [`Ledger::read_entry`]).
    pub fn append(&mut self, entry: &Entry) -> Result<u64, LedgerError> {
        self.guarded(|log| Ok(log.journal.append(&mut log.flash, &mut log.alloc, entry)?))
    }

    /// Whether `append(entry)` would succeed without `Full`.
    pub fn has_room_for(&self, entry: &Entry) -> bool {
        self.journal.has_room_for(entry)
    }

    /// Makes every appended entry durable; a block retired since the last
    /// commit is recorded by one, so no reopen hands it out again.
    pub fn flush(&mut self) -> Result<(), LedgerError> {
        self.guarded(|log| {
            log.journal.flush(&mut log.flash, &mut log.alloc)?;
            let retired = log.alloc.bad_count() as usize != log.record.bad_blocks.len();
            if retired && !crate::planted::active(crate::planted::Bug::RetiredForgotten) {
                let (journal, incarnations) =
                    (log.record.journal.clone(), log.record.incarnations.clone());
                log.commit(journal, incarnations)?;
            }
            Ok(())
        })
    }

    /// Copies the journal's last page at the resume point if no copy of it
    /// is on flash (see [`Journal::commit_tail`]): called after an open,
    /// before anything is served. A journal with no page left keeps it for
    /// the next flush.
    pub fn commit_tail(&mut self) -> Result<(), LedgerError> {
        self.guarded(
            |log| match log.journal.commit_tail(&mut log.flash, &mut log.alloc) {
                Err(JournalError::Full { .. }) => Ok(()),
                other => Ok(other?),
            },
        )
    }

    /// Copies `live` into a fresh journal region and switches to it;
    /// returns each entry's new position.
    pub fn pack(&mut self, live: &[Entry]) -> Result<Vec<u64>, LedgerError> {
        let incarnations = self.record.incarnations.clone();
        self.replace_journal(live, incarnations)
    }

    /// Starts an empty journal in a fresh region (a new generation).
    #[cfg(feature = "testing")]
    pub fn recycle(&mut self) -> Result<(), LedgerError> {
        let incarnations = self.record.incarnations.clone();
        self.replace_journal(&[], incarnations).map(|_| ())
    }

    /// A fresh region's generation, never handed out before on this
    /// device, across power cuts too: it lies below the next generation of
    /// the durable record ([`GENERATIONS_RESERVED`]), which no reopen hands
    /// out again. A record read from a crafted image may have none left
    /// to hand out: `GenerationsExhausted`, nothing changed.
    pub fn next_generation(&mut self) -> Result<u64, LedgerError> {
        if self.generation_next >= u64::MAX - 1 {
            return Err(AnchorError::GenerationsExhausted.into());
        }
        let planted = crate::planted::active(crate::planted::Bug::GenerationsUnreserved);
        if self.generation_next >= self.record.next_generation && !planted {
            let (journal, incarnations) = (
                self.record.journal.clone(),
                self.record.incarnations.clone(),
            );
            self.guarded(|log| log.commit(journal, incarnations))?;
            assert!(self.generation_next < self.record.next_generation);
        }
        let generation = self.generation_next;
        self.generation_next += 1;
        Ok(generation)
    }

    /// Writes `live` to a new journal region and commits an anchor naming it
    /// and `incarnations`; then frees every block no longer named. `Full` if
    /// `live` does not fit, `OutOfBlocks` if no region could be had: nothing
    /// the record names changed then, and the ledger stays usable.
    pub fn replace_journal(
        &mut self,
        live: &[Entry],
        incarnations: Vec<Region>,
    ) -> Result<Vec<u64>, LedgerError> {
        self.check()?;
        let (journal, positions) = match self.write_journal(live) {
            Ok(written) => written,
            Err(error @ (LedgerError::Full { .. } | LedgerError::OutOfBlocks(_))) => {
                return Err(error)
            }
            Err(error) => {
                self.poisoned = true;
                return Err(error);
            }
        };
        if self.salvaging && !live.is_empty() {
            self.mark_uncertain(journal.region().generation);
        }
        self.guarded(|log| {
            log.commit(journal.region().clone(), incarnations)?;
            log.journal_pages_before = log
                .journal_pages_before
                .plus(JournalPages::of(&log.journal));
            log.journal = journal;
            Ok(positions)
        })
    }

    /// A fresh journal region holding `live`, flushed. A region whose
    /// blocks failed under the writes (retired) is given up for another,
    /// at most [`REGION_ATTEMPTS_MAX`] times; `Full` if `live` does not fit.
    fn write_journal(&mut self, live: &[Entry]) -> Result<(Journal, Vec<u64>), LedgerError> {
        let blocks = self.record.journal.blocks.len() as u32;
        let mut last_error = None;
        for _ in 0..REGION_ATTEMPTS_MAX {
            let generation = self.next_generation()?;
            let mut journal =
                Journal::create(&mut self.flash, &mut self.alloc, generation, blocks)?;
            let written = live
                .iter()
                .map(|entry| journal.append(&mut self.flash, &mut self.alloc, entry))
                .collect::<Result<Vec<u64>, _>>()
                .and_then(|positions| {
                    journal
                        .flush(&mut self.flash, &mut self.alloc)
                        .map(|()| positions)
                });
            match written {
                Ok(positions) => return Ok((journal, positions)),
                Err(error) => {
                    self.release_region(journal.region());
                    let blocks_failed = journal.stats().blocks_retired > 0;
                    if !(blocks_failed && matches!(error, JournalError::Full { .. })) {
                        return Err(error.into());
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("at least one attempt").into())
    }

    /// Commits an anchor record naming `journal` and `incarnations`, then
    /// releases every block the previous record named and this one does not.
    fn commit(&mut self, journal: Region, incarnations: Vec<Region>) -> Result<(), LedgerError> {
        // The record in force changes only once the new one is durable: a
        // failed commit leaves it naming what is on flash.
        if self.salvaging {
            let new: Vec<u64> = incarnations
                .iter()
                .map(|r| r.generation)
                .filter(|g| !self.record.incarnations.iter().any(|o| o.generation == *g))
                .collect();
            new.into_iter().for_each(|g| self.mark_uncertain(g));
        }
        // Only generations the record names stay uncertain: an incarnation
        // evicted or replaced by its copy takes its mark with it.
        let mut uncertain = self.record.uncertain.clone();
        uncertain
            .retain(|&g| journal.generation == g || incarnations.iter().any(|r| r.generation == g));
        let reserved = if crate::planted::active(crate::planted::Bug::GenerationsUnreserved) {
            self.generation_next
        } else {
            (self.generation_next.saturating_add(GENERATIONS_RESERVED)).min(u64::MAX - 1)
        };
        let proposed = AnchorRecord {
            journal,
            incarnations,
            uncertain,
            next_generation: reserved,
            ..self.record.clone()
        };
        let committed = self
            .anchor
            .commit(&mut self.flash, &mut self.alloc, proposed)?;
        let old = std::mem::replace(&mut self.record, committed);
        let (old_journal, old) = (old.journal, old.incarnations);
        let named: std::collections::HashSet<_> = std::iter::once(&self.record.journal)
            .chain(&self.record.incarnations)
            .flat_map(|r| r.blocks.iter().copied())
            .collect();
        for region in std::iter::once(&old_journal).chain(&old) {
            for block in region.blocks.iter().filter(|b| !named.contains(b)) {
                self.alloc.release(*block);
            }
        }
        Ok(())
    }

    /// Commits an anchor naming the current journal and `incarnations`
    /// (one incarnation swapped for its copy, say); frees the blocks no
    /// longer named.
    pub fn commit_incarnations(&mut self, incarnations: Vec<Region>) -> Result<(), LedgerError> {
        self.guarded(|log| {
            let journal = log.record.journal.clone();
            log.commit(journal, incarnations)
        })
    }

    /// Commits the record in force with the blocks retired and the erases
    /// counted since, even after a failure (what a store going read-only
    /// leaves for the next open). The record's regions are the ones in
    /// force, so this is safe whatever failed.
    pub fn record_wear(&mut self) -> Result<(), LedgerError> {
        let (journal, incarnations) = (
            self.record.journal.clone(),
            self.record.incarnations.clone(),
        );
        self.commit(journal, incarnations)
    }

    /// The generations a salvage left uncertain (see
    /// [`AnchorRecord::uncertain`]), the next commit's wish included.
    pub fn uncertain(&self) -> &[u64] {
        &self.record.uncertain
    }

    /// Marks `generation` uncertain from the next commit on (if that commit
    /// names it).
    pub fn mark_uncertain(&mut self, generation: u64) {
        if !self.record.uncertain.contains(&generation) {
            self.record.uncertain.push(generation);
            self.record.uncertain.sort_unstable();
        }
    }

    /// Forgets every uncertain mark from the next commit on.
    pub fn forget_uncertain(&mut self) {
        self.record.uncertain.clear();
    }

    /// Turns salvaging on or off: while on, each region a commit names for
    /// the first time, and each journal written with entries, is marked
    /// uncertain (it holds entries older than the pages lost).
    pub fn set_salvaging(&mut self, on: bool) {
        self.salvaging = on;
    }

    /// Commits the record in force again (a scrub of the anchor).
    pub fn recommit(&mut self) -> Result<(), LedgerError> {
        let incarnations = self.record.incarnations.clone();
        self.commit_incarnations(incarnations)
    }

    /// Whether the anchor record in force was read with corrected bits at
    /// the scrub threshold.
    pub fn anchor_needs_scrub(&self) -> bool {
        self.anchor.needs_scrub()
    }

    /// Free blocks, and blocks retired as bad.
    pub fn free_and_bad_blocks(&self) -> (u32, u32) {
        (self.alloc.free_count(), self.alloc.bad_count())
    }

    pub fn flash(&self) -> &F {
        &self.flash
    }

    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    pub fn into_flash(self) -> F {
        self.flash
    }

    /// The device and the allocator together, to write a new region.
    pub fn flash_and_allocator(&mut self) -> (&mut F, &mut Allocator) {
        (&mut self.flash, &mut self.alloc)
    }

    /// Gives back the blocks of a region that was written but never
    /// committed.
    pub fn release_region(&mut self, region: &Region) {
        for &block in &region.blocks {
            self.alloc.release(block);
        }
    }

    #[cfg(feature = "testing")]
    pub fn anchor_lanes(&self) -> Vec<BlockAddr> {
        self.anchor
            .lanes()
            .map_or_else(Vec::new, |lanes| lanes.to_vec())
    }

    #[cfg(feature = "testing")]
    pub fn allocator(&self) -> &Allocator {
        &self.alloc
    }

    /// The anchor record in force.
    pub fn record(&self) -> &AnchorRecord {
        &self.record
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Reads journal pages `pages` (counted from the first on flash) back
    /// as a scrub does (see [`Journal::check_pages`]).
    pub fn check_journal_pages(
        &mut self,
        pages: std::ops::Range<u64>,
    ) -> Result<(u32, u64), LedgerError> {
        Ok(self.journal.check_pages(&mut self.flash, pages)?)
    }

    /// Reads the anchor's lanes back as a scrub does (see
    /// [`Anchor::check_pages`]): the most bits corrected, the pages read.
    pub fn check_anchor_pages(&mut self) -> Result<(u32, u64), LedgerError> {
        Ok(self.anchor.check_pages(&mut self.flash)?)
    }

    /// The entry at `position` of the current journal (RAM page or flash).
    pub fn read_entry(&mut self, position: u64) -> Result<Entry, LedgerError> {
        Ok(self.journal.read_entry(&mut self.flash, position)?)
    }

    /// Pages the journals programmed and passed over since open.
    pub fn journal_pages(&self) -> JournalPages {
        self.journal_pages_before
            .plus(JournalPages::of(&self.journal))
    }

    #[cfg(feature = "testing")]
    pub fn journal_stats(&self) -> crate::journal::JournalStats {
        self.journal.stats()
    }
}

/// The allocator a found anchor implies: each block's erase count the
/// higher of the record's and its page 0's; the regions and lanes named in
/// use; the bad blocks retired.
fn allocator_of(found: &crate::anchor::Found, blocks: u32) -> Allocator {
    let record = &found.record;
    let counts = record
        .erase_counts
        .iter()
        .zip(&found.erase_counts_seen)
        .map(|(&listed, &seen)| listed.max(seen))
        .collect();
    let mut alloc = Allocator::new(blocks, counts);
    for region in std::iter::once(&record.journal).chain(&record.incarnations) {
        alloc.mark_in_use(&region.blocks);
    }
    alloc.mark_in_use(&record.lanes);
    for &block in &record.bad_blocks {
        alloc.retire(block);
    }
    alloc
}
