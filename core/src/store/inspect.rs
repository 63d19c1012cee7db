//! What the simulator's checker reads of a store's layers (behind the
//! `testing` feature).

use crate::flash::Flash;
use crate::types::{Hash, Value};

use super::*;

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
        Ok(incarnation.read_all(self.ledger.flash_mut())?)
    }

    /// The journal's generation and the entries in its pages on flash.
    pub fn journal_entries(&self) -> (u64, u64) {
        let journal = self.ledger.journal();
        (
            journal.region().generation,
            journal.stats().entries_on_flash,
        )
    }

    /// Each block's erase count as the store knows it.
    pub fn erase_counts(&self) -> Vec<u32> {
        self.ledger.allocator().erase_counts().to_vec()
    }

    /// The blocks holding the anchor record in force.
    pub fn anchor_lanes(&self) -> Vec<crate::flash::BlockAddr> {
        self.ledger.anchor_lanes()
    }

    /// Free blocks, and blocks retired as bad.
    pub fn blocks_free_and_bad(&self) -> (u32, u32) {
        self.ledger.free_and_bad_blocks()
    }

    /// The blocks the store has retired as bad.
    pub fn bad_blocks(&self) -> Vec<crate::flash::BlockAddr> {
        self.ledger.allocator().bad_blocks()
    }

    /// Where the journal's pages on flash sit, oldest first.
    pub fn journal_page_addrs(&self) -> Vec<crate::flash::PageAddr> {
        self.ledger.journal().page_addrs()
    }

    /// Every (hash, value) the log store holds, tombstones included.
    pub fn log_contents(&mut self) -> Result<Vec<(Hash, Value)>, StoreError> {
        Ok(self
            .table
            .contents(&mut self.ledger)?
            .into_iter()
            .map(|(entry, _)| (*entry.hash(), value_of(&entry)))
            .collect())
    }
}
