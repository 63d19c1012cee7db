//! Erase-block allocator: which blocks are free, in use or bad, and how
//! worn each is.
//!
//! Free blocks are handed out least-worn first (ties to the lowest index, so
//! equal wear rotates through the device). A bad block is retired for good.
//! Pure bookkeeping, no I/O: the state is rebuilt on open from the anchor
//! record (regions and anchor lanes in use, bad blocks, erase counts). Invariant: every block
//! is in exactly one state, and the free set holds exactly the free blocks.

use std::collections::BTreeSet;

use crate::flash::{BlockAddr, Flash, FlashError};

/// What a block is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockUse {
    Free,
    InUse,
    Bad,
}

/// No free block is left.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no free erase block: {in_use} in use, {bad} bad")]
pub struct OutOfBlocks {
    pub in_use: u32,
    pub bad: u32,
}

/// The allocator. See the module documentation.
#[derive(Clone, Debug)]
pub struct Allocator {
    uses: Vec<BlockUse>,
    erase_counts: Vec<u32>,
    /// (erase count, block) of every free block.
    free: BTreeSet<(u32, u32)>,
    /// Blocks marked [`BlockUse::Bad`]: the checker asks at every step,
    /// so it is kept, not counted.
    bad: u32,
}

impl Allocator {
    /// `blocks` blocks, all free, with the given erase counts.
    pub fn new(blocks: u32, erase_counts: Vec<u32>) -> Self {
        assert_eq!(erase_counts.len(), blocks as usize);
        let mut allocator = Allocator {
            uses: vec![BlockUse::Free; blocks as usize],
            erase_counts,
            free: BTreeSet::new(),
            bad: 0,
        };
        allocator.rebuild_free();
        allocator
    }

    fn rebuild_free(&mut self) {
        self.free = (0..self.uses.len() as u32)
            .filter(|&b| self.uses[b as usize] == BlockUse::Free)
            .map(|b| (self.erase_counts[b as usize], b))
            .collect();
    }

    /// Marks blocks as in use (a region listed by the anchor).
    pub fn mark_in_use(&mut self, blocks: &[BlockAddr]) {
        for &block in blocks {
            self.set_use(block, BlockUse::InUse);
        }
    }

    /// Retires a block for good.
    pub fn retire(&mut self, block: BlockAddr) {
        self.set_use(block, BlockUse::Bad);
    }

    fn set_use(&mut self, block: BlockAddr, new: BlockUse) {
        let index = block.0 as usize;
        let old = self.uses[index];
        if old == BlockUse::Bad {
            return;
        }
        if old == BlockUse::Free {
            let removed = self.free.remove(&(self.erase_counts[index], block.0));
            assert!(removed);
        }
        if new == BlockUse::Free {
            self.free.insert((self.erase_counts[index], block.0));
        }
        self.bad += u32::from(new == BlockUse::Bad);
        self.uses[index] = new;
    }

    /// The least-worn free block, now in use: for short-lived data (the
    /// journal, rewritten at every pack and freeze).
    pub fn allocate(&mut self) -> Result<BlockAddr, OutOfBlocks> {
        let Some(&(count, block)) = self.free.first() else {
            return Err(self.out_of_blocks());
        };
        self.take(count, block)
    }

    /// The most-worn free block, now in use: for long-lived data (an
    /// incarnation), so worn blocks rest under it while the least-worn ones
    /// take the journal's churn — hot and cold separated, wear evened.
    pub fn allocate_cold(&mut self) -> Result<BlockAddr, OutOfBlocks> {
        let Some(&(count, block)) = self.free.last() else {
            return Err(self.out_of_blocks());
        };
        self.take(count, block)
    }

    fn take(&mut self, count: u32, block: u32) -> Result<BlockAddr, OutOfBlocks> {
        let removed = self.free.remove(&(count, block));
        assert!(removed);
        self.uses[block as usize] = BlockUse::InUse;
        Ok(BlockAddr(block))
    }

    /// Gives a block back; a bad block stays bad.
    pub fn release(&mut self, block: BlockAddr) {
        self.set_use(block, BlockUse::Free);
    }

    /// Counts one erase of `block`.
    pub fn note_erase(&mut self, block: BlockAddr) {
        let index = block.0 as usize;
        let free = self.uses[index] == BlockUse::Free;
        if free {
            self.free.remove(&(self.erase_counts[index], block.0));
        }
        self.erase_counts[index] = self.erase_counts[index].saturating_add(1);
        if free {
            self.free.insert((self.erase_counts[index], block.0));
        }
    }

    #[cfg(feature = "testing")]
    pub fn block_use(&self, block: BlockAddr) -> BlockUse {
        self.uses[block.0 as usize]
    }

    pub fn erase_counts(&self) -> &[u32] {
        &self.erase_counts
    }

    pub fn free_count(&self) -> u32 {
        self.free.len() as u32
    }

    pub fn bad_count(&self) -> u32 {
        self.bad
    }

    pub fn bad_blocks(&self) -> Vec<BlockAddr> {
        self.blocks_in(BlockUse::Bad)
    }

    pub fn blocks_in(&self, wanted: BlockUse) -> Vec<BlockAddr> {
        (0..self.uses.len() as u32)
            .filter(|&b| self.uses[b as usize] == wanted)
            .map(BlockAddr)
            .collect()
    }

    fn out_of_blocks(&self) -> OutOfBlocks {
        let count = |wanted| self.uses.iter().filter(|&&u| u == wanted).count() as u32;
        OutOfBlocks {
            in_use: count(BlockUse::InUse),
            bad: count(BlockUse::Bad),
        }
    }
}

/// Erases `block`, counting the erase; a block whose erase fails is
/// retired and `false` returned.
pub fn erase_or_retire<F: Flash>(
    flash: &mut F,
    alloc: &mut Allocator,
    block: BlockAddr,
) -> Result<bool, FlashError> {
    erase_or_retire_counted(flash, alloc, block, true)
}

/// As [`erase_or_retire`], counting the erase only if `counted` (a planted
/// bug forgets to).
pub fn erase_or_retire_counted<F: Flash>(
    flash: &mut F,
    alloc: &mut Allocator,
    block: BlockAddr,
    counted: bool,
) -> Result<bool, FlashError> {
    if counted {
        alloc.note_erase(block);
    }
    match flash.erase(block) {
        Ok(()) => Ok(true),
        Err(FlashError::BadBlock { .. }) => {
            alloc.retire(block);
            Ok(false)
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_count_counts_each_retired_block_once() {
        let mut alloc = Allocator::new(6, vec![0; 6]);
        assert_eq!((alloc.free_count(), alloc.bad_count()), (6, 0));
        alloc.retire(BlockAddr(1));
        alloc.retire(BlockAddr(4));
        alloc.retire(BlockAddr(4));
        assert_eq!((alloc.free_count(), alloc.bad_count()), (4, 2));
        assert_eq!(alloc.bad_blocks(), vec![BlockAddr(1), BlockAddr(4)]);
    }

    #[test]
    fn cold_data_goes_to_the_most_worn_block() {
        let mut alloc = Allocator::new(4, vec![0, 3, 9, 5]);
        alloc.mark_in_use(&[BlockAddr(0)]);
        assert_eq!(alloc.allocate_cold(), Ok(BlockAddr(2)));
        assert_eq!(alloc.allocate(), Ok(BlockAddr(1)));
        assert_eq!(alloc.allocate_cold(), Ok(BlockAddr(3)));
    }

    #[test]
    fn least_worn_first_and_retired_for_good() {
        let mut alloc = Allocator::new(5, vec![9, 3, 1, 3, 7]);
        alloc.mark_in_use(&[BlockAddr(0)]);
        assert_eq!(alloc.allocate(), Ok(BlockAddr(2)));
        assert_eq!(alloc.allocate(), Ok(BlockAddr(1)));
        alloc.retire(BlockAddr(3));
        assert_eq!(alloc.allocate(), Ok(BlockAddr(4)));
        assert!(alloc.allocate().is_err());
        alloc.release(BlockAddr(3));
        assert_eq!(alloc.block_use(BlockAddr(3)), BlockUse::Bad);
        alloc.release(BlockAddr(2));
        alloc.note_erase(BlockAddr(2));
        assert_eq!(alloc.erase_counts()[2], 2);
        assert_eq!(alloc.allocate(), Ok(BlockAddr(2)));
        let err = alloc.allocate().unwrap_err();
        assert_eq!(err, alloc.allocate_cold().unwrap_err());
        assert_eq!((err.in_use, err.bad), (4, 1));
    }
}
