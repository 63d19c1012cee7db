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

    /// A background scrub step: reads up to `pages_max` incarnation pages,
    /// going on from where the last step stopped (round robin over every
    /// incarnation), then moves whatever needs it. Run it often enough that
    /// cold data is read again before retention takes it past the ECC (the
    /// report's retention figures say how often).
    pub fn scrub(&mut self, pages_max: u64) -> Result<ScrubReport, StoreError> {
        let mut report = ScrubReport::default();
        let rounds_max = self.incarnations.len() as u64 + 1;
        for _ in 0..rounds_max {
            if report.pages_read >= pages_max || self.incarnations.is_empty() {
                break;
            }
            let (generation, page) = self.scrub_cursor;
            let index = self.incarnation_index(generation).unwrap_or(0);
            let incarnation = &self.incarnations[index];
            let pages = incarnation.pages();
            let first = if incarnation.region().generation == generation {
                page.min(pages)
            } else {
                0
            };
            let last = (first + pages_max - report.pages_read).min(pages);
            let status = incarnation.check_pages(self.log.flash_mut(), first..last)?;
            report.pages_read += last - first;
            report.bits_corrected_max = report.bits_corrected_max.max(status.bits_corrected);
            let generation = incarnation.region().generation;
            if status.scrub && !self.scrub_due.contains(&generation) {
                self.scrub_due.push(generation);
            }
            self.scrub_cursor = if last < pages {
                (generation, last)
            } else {
                let next = (index + 1) % self.incarnations.len();
                (self.incarnations[next].region().generation, 0)
            };
        }
        report.rewrites = self.maintain()?;
        Ok(report)
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
