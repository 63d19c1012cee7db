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
//! Every loop is bounded: by the incarnations, and by the caller's budget.

use crate::flash::Flash;
use crate::hashstore::Incarnation;

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
        if self.log.journal().needs_scrub() {
            self.rewrite_journal()?;
            rewrites += 1;
        }
        if self.log.anchor_needs_scrub() {
            self.log.recommit()?;
            rewrites += 1;
        }
        let due = std::mem::take(&mut self.scrub_due);
        for generation in due {
            if let Some(index) = self.incarnation_index(generation) {
                self.rewrite_incarnation(index)?;
                rewrites += 1;
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
    /// figures say how often). A page already past correcting is an error
    /// naming it.
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
            let (read, pages, bits) = self.scrub_target(target, first, budget)?;
            report.pages_read += read;
            report.bits_corrected_max = report.bits_corrected_max.max(bits);
            self.scrub_cursor = if first + read < pages {
                (self.target_generation(target), first + read)
            } else {
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

    /// The scrub's targets: incarnations 0.. in order, then the journal.
    fn target_generation(&self, target: usize) -> u64 {
        self.incarnations
            .get(target)
            .map_or(self.log.journal().region().generation, |i| {
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
        if generation == self.log.journal().region().generation {
            return (self.incarnations.len(), page);
        }
        (0, 0)
    }

    /// Reads up to `budget` pages of `target` from page `first`: returns the
    /// pages read, the pages the target has, and the most bits corrected.
    fn scrub_target(
        &mut self,
        target: usize,
        first: u64,
        budget: u64,
    ) -> Result<(u64, u64, u32), StoreError> {
        if let Some(incarnation) = self.incarnations.get(target) {
            let pages = incarnation.pages();
            let (first, last) = (first.min(pages), first.saturating_add(budget).min(pages));
            let status = incarnation.check_pages(self.log.flash_mut(), first..last)?;
            let generation = incarnation.region().generation;
            if status.scrub && !self.scrub_due.contains(&generation) {
                self.scrub_due.push(generation);
            }
            return Ok((last - first, pages, status.bits_corrected));
        }
        let sequences = self.log.journal().sequences_on_flash();
        let pages = sequences.end - sequences.start;
        let (first, last) = (first.min(pages), first.saturating_add(budget).min(pages));
        let start = sequences.start;
        let bits = self.log.check_journal_pages(start + first..start + last)?;
        Ok((last - first, pages, bits))
    }

    fn incarnation_index(&self, generation: u64) -> Option<usize> {
        self.incarnations
            .iter()
            .position(|i| i.region().generation == generation)
    }

    /// Copies incarnation `index` to fresh blocks under a new generation,
    /// same buckets, and swaps it in with one anchor commit; the old blocks
    /// are freed. A crash leaves the old one or the new one.
    fn rewrite_incarnation(&mut self, index: usize) -> Result<(), StoreError> {
        let table = self.incarnations[index].read_table(self.log.flash_mut())?;
        let generation = self.log.next_generation();
        let (flash, alloc) = self.log.flash_and_allocator();
        let copy = Incarnation::freeze(flash, alloc, generation, &table)?;
        let mut regions: Vec<_> = self
            .incarnations
            .iter()
            .map(|i| i.region().clone())
            .collect();
        regions[index] = copy.region().clone();
        if let Err(error) = self.log.commit_incarnations(regions) {
            self.log.release_region(copy.region());
            return Err(self.blocks_full(error));
        }
        self.incarnations[index] = copy;
        Ok(())
    }
}
