//! Scrubbing, as UBI does on bitflips: data read back with corrected bits at
//! or past the threshold ([`crate::flash::ReadStatus::scrub`]) is moved
//! before its errors outgrow what the ECC corrects. The journal is packed
//! into a fresh region; an incarnation is copied to fresh blocks (same
//! buckets, a new generation) and swapped in by one anchor commit; the
//! anchor record is committed again.
//!
//! Reads note what needs moving; the next write does the moving
//! ([`Store::maintain`]), or the caller's background step
//! ([`Store::scrub`]), which also reads cold incarnations a few pages at a
//! time so retention errors are found before they are past correcting.
//! It covers every page of an incarnation, filter pages included. A page it
//! cannot read is named once ([`ScrubReport::pages_lost`],
//! [`crate::StoreStats::incarnation_pages_lost`]) and passed over: the
//! cursor always moves on. Every loop is bounded: by the incarnations, and
//! by the caller's budget.

use crate::flash::Flash;
use crate::hashstore::{HashStoreError, Incarnation};

use super::{Store, StoreError};

/// What one background scrub step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrubReport {
    /// Incarnation pages read and checked.
    pages_read: u64,
    /// Rewrites done: journal packs, incarnations copied, anchor commits.
    pub rewrites: u64,
    /// The most bits corrected in one ECC step of a page read.
    pub bits_corrected_max: u32,
    /// Incarnation bucket pages found unreadable (past the ECC, erased, or
    /// holding another page's bytes) for the first time: each is named
    /// once, here, and counted in
    /// [`crate::StoreStats::incarnation_pages_lost`]; its entries are a
    /// typed error on lookup. The scrub goes on past it.
    pub pages_lost: u64,
    /// Filter pages that no longer checked out: their incarnation is
    /// rewritten, its filter built again from the buckets.
    pub filter_pages_damaged: u64,
}

impl ScrubReport {
    pub fn pages_read(&self) -> u64 {
        self.pages_read
    }
}

impl<F: Flash> Store<F> {
    /// Moves what reads found needing it: the journal (packed), the
    /// incarnations noted (rewritten), the anchor (committed again).
    /// Called at the start of every write; bounded by the incarnations.
    pub(super) fn maintain(&mut self) -> Result<u64, StoreError> {
        if crate::planted::active(crate::planted::Bug::ScrubNever) {
            return Ok(0);
        }
        let mut rewrites = 0;
        if self.ledger.journal().needs_scrub() {
            self.rewrite_journal()?;
            rewrites += 1;
        }
        if self.ledger.anchor_needs_scrub() {
            self.ledger.recommit()?;
            rewrites += 1;
        }
        let due = std::mem::take(&mut self.scrub_due);
        for generation in due {
            if let Some(index) = self.incarnation_index(generation) {
                rewrites += u64::from(self.rewrite_incarnation(index)?);
            }
        }
        self.scrubs += rewrites;
        Ok(rewrites)
    }

    /// A background scrub step: reads up to `pages_max` pages, going on
    /// from where the last step stopped (round robin over every
    /// incarnation, then the journal's pages on flash), then moves
    /// whatever needs it. Run it often enough that cold data is read again
    /// before retention takes it past the ECC (the report's retention
    /// figures say how often). A page already past correcting is named in
    /// the report ([`ScrubReport::pages_lost`]) and passed over, never an
    /// error that would hold the cursor on it.
    pub fn scrub(&mut self, pages_max: u64) -> Result<ScrubReport, StoreError> {
        self.writing(|store| store.scrub_step(pages_max))
    }

    fn scrub_step(&mut self, pages_max: u64) -> Result<ScrubReport, StoreError> {
        let mut report = ScrubReport::default();
        // Each round finishes a target or the budget: every target once,
        // plus the one the cursor starts inside.
        let rounds_max = self.incarnations.len() as u64 + 2;
        for _ in 0..rounds_max {
            if report.pages_read >= pages_max {
                break;
            }
            let (target, first) = self.scrub_position();
            let budget = pages_max - report.pages_read;
            let (read, pages) = self.scrub_target(target, first, budget, &mut report)?;
            report.pages_read += read;
            self.scrub_cursor = if first + read < pages {
                (self.target_generation(target), first + read)
            } else {
                if target == self.incarnations.len() {
                    // A round ends with the journal: the anchor's lanes next.
                    report.pages_read += self.scrub_anchor(&mut report)?;
                }
                let next = (target + 1) % (self.incarnations.len() + 1);
                (self.target_generation(next), 0)
            };
            if read == 0 && self.incarnations.is_empty() {
                break;
            }
        }
        report.rewrites = self.maintain()?;
        Ok(report)
    }

    /// Reads the anchor's lanes back (their first pages and the record in
    /// force): what ages there unread makes the store unopenable. Returns
    /// the pages read.
    fn scrub_anchor(&mut self, report: &mut ScrubReport) -> Result<u64, StoreError> {
        if crate::planted::active(crate::planted::Bug::ScrubSkipsAnchor) {
            return Ok(0);
        }
        let (bits, read) = self.ledger.check_anchor_pages()?;
        report.bits_corrected_max = report.bits_corrected_max.max(bits);
        Ok(read)
    }

    /// The scrub's targets: incarnations 0.. in order, then the journal,
    /// then (at the end of each round) the anchor's lanes.
    fn target_generation(&self, target: usize) -> u64 {
        self.incarnations
            .get(target)
            .map_or(self.ledger.journal().region().generation, |i| {
                i.region().generation
            })
    }

    /// Where the cursor points now: its target (the first incarnation if
    /// the target it named is gone) and the page to go on from.
    fn scrub_position(&self) -> (usize, u64) {
        let (generation, page) = self.scrub_cursor;
        if let Some(index) = self.incarnation_index(generation) {
            return (index, page);
        }
        if generation == self.ledger.journal().region().generation {
            return (self.incarnations.len(), page);
        }
        (0, 0)
    }

    /// Reads up to `budget` pages of `target` from page `first`: returns the
    /// pages read and the pages the target has; notes in `report` the most
    /// bits corrected and the pages that could not be read.
    fn scrub_target(
        &mut self,
        target: usize,
        first: u64,
        budget: u64,
        report: &mut ScrubReport,
    ) -> Result<(u64, u64), StoreError> {
        let (flash, incarnations) = (self.ledger.flash_mut(), &mut self.incarnations);
        if let Some(incarnation) = incarnations.get_mut(target) {
            let pages = incarnation.pages();
            let (first, last) = (first.min(pages), first.saturating_add(budget).min(pages));
            let checked = incarnation.check_pages(flash, first..last)?;
            report.pages_lost += incarnation.note_lost(&checked.lost);
            report.filter_pages_damaged += checked.filter_pages_damaged;
            let bits = checked.status.bits_corrected;
            report.bits_corrected_max = report.bits_corrected_max.max(bits);
            let generation = incarnation.region().generation;
            if checked.status.scrub && !self.scrub_due.contains(&generation) {
                self.scrub_due.push(generation);
            }
            return Ok((last - first, pages));
        }
        let pages = self.ledger.journal().pages_on_flash();
        let (first, last) = (first.min(pages), first.saturating_add(budget).min(pages));
        let (bits, named) = self.ledger.check_journal_pages(first..last)?;
        report.bits_corrected_max = report.bits_corrected_max.max(bits);
        report.pages_lost += named;
        Ok((last - first, pages))
    }

    fn incarnation_index(&self, generation: u64) -> Option<usize> {
        self.incarnations
            .iter()
            .position(|i| i.region().generation == generation)
    }

    /// Copies incarnation `index` to fresh blocks under a new generation,
    /// same buckets, and swaps it in with one anchor commit; the old blocks
    /// are freed. A crash leaves the old one or the new one. Returns
    /// whether it was rewritten.
    ///
    /// An incarnation with a bucket page known lost (or found so by the
    /// copy's read) is not rewritten, and that is no error: the copy could
    /// not keep the loss visible. Its filter, written from the buckets
    /// that read back, would rule the lost hashes out after a reopen, so
    /// a lookup of one would answer "absent" (or an older incarnation's
    /// value) where the old blocks answer a typed error. Left in place,
    /// the lost page keeps failing its checks, and every other page of the
    /// incarnation keeps being scrubbed, a page past the ECC named in
    /// turn, never dropped silently.
    fn rewrite_incarnation(&mut self, index: usize) -> Result<bool, StoreError> {
        let incarnation = &mut self.incarnations[index];
        if !incarnation.lost_pages().is_empty() {
            return Ok(false);
        }
        let table = match incarnation.read_table(self.ledger.flash_mut()) {
            Ok(table) => table,
            Err(HashStoreError::Corrupt { page, .. }) => {
                let page = incarnation.page_index(page);
                incarnation.note_lost(page.as_slice());
                return Ok(false);
            }
            Err(other) => return Err(other.into()),
        };
        let generation = self.ledger.next_generation()?;
        let (flash, alloc) = self.ledger.flash_and_allocator();
        let copy = Incarnation::freeze(flash, alloc, generation, &table).map_err(|e| match e {
            HashStoreError::OutOfBlocks(e) => StoreError::Full(super::FullReason::Blocks(e)),
            other => other.into(),
        })?;
        let mut regions: Vec<_> = self
            .incarnations
            .iter()
            .map(|i| i.region().clone())
            .collect();
        regions[index] = copy.region().clone();
        // A copy holds what its original held: uncertain if that was.
        let original = self.incarnations[index].region().generation;
        if self.ledger.uncertain().contains(&original) {
            self.ledger.mark_uncertain(generation);
        }
        if let Err(error) = self.ledger.commit_incarnations(regions) {
            self.ledger.release_region(copy.region());
            return Err(self.blocks_full(error));
        }
        self.incarnations[index] = copy;
        Ok(true)
    }
}
