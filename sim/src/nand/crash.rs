//! What a power cut does: the write cache resolved by the [`CrashMode`]
//! (each cached operation persists or not, blocks in any order, erase
//! before program kept within a block), and the operation in flight lost,
//! applied, or torn; a torn program on a paired part (MLC, TLC) damages the
//! pages of lower groups on its wordline too, synced or not.

use logstore::testing::ERASED;
use std::sync::Arc;

use logstore::{BlockAddr, PageAddr};
use rand::Rng;

use super::{fresh_stamp, CrashMode, Pending, SimFlash};

/// The operation in flight when power is cut.
#[derive(Clone, Copy)]
pub(super) enum InFlight<'a> {
    Program { page: PageAddr, data: &'a [u8] },
    Erase { block: BlockAddr },
}

impl SimFlash {
    /// Resolves the write cache as power dies, then leaves the device off.
    pub(super) fn crash(&mut self, mode: CrashMode, in_flight: Option<InFlight<'_>>) {
        let pending: Vec<Pending> = std::mem::take(&mut self.pending).into();
        let persisted = self.choose_persisted(mode, &pending);
        // Back to the durable image: undo every cached operation, newest first.
        for op in pending.iter().rev() {
            self.undo(op);
        }
        // Then replay, oldest first, the ones that reached the media.
        for (op, &keep) in pending.iter().zip(&persisted) {
            match (op, keep) {
                (Pending::Program { page, data, .. }, true) => self.apply_program(*page, data),
                (Pending::Erase { block, .. }, true) => self.apply_erase(*block),
                (_, false) => {}
            }
        }
        let lost_blocks = self.blocks_with_lost_erase(&pending, &persisted);
        if let Some(op) = in_flight {
            self.resolve_in_flight(mode, op, &lost_blocks);
        }
        self.powered = false;
        self.counters.power_cuts += 1;
        debug_assert!(self.pending.is_empty());
    }

    /// Which cached operations persist: none when dropping; otherwise each by
    /// a coin, except that an operation on a block whose earlier cached erase
    /// was lost is lost too.
    fn choose_persisted(&mut self, mode: CrashMode, pending: &[Pending]) -> Vec<bool> {
        let mut erase_lost: Vec<u32> = Vec::new();
        let mut persisted = Vec::with_capacity(pending.len());
        for op in pending {
            let block = match op {
                Pending::Program { page, .. } => page.block,
                Pending::Erase { block, .. } => *block,
            };
            let coin = mode != CrashMode::DropUnsynced && self.rng.random_bool(0.5);
            let keep = coin && !erase_lost.contains(&block.0);
            if !keep && matches!(op, Pending::Erase { .. }) {
                erase_lost.push(block.0);
            }
            persisted.push(keep);
        }
        persisted
    }

    fn blocks_with_lost_erase(&self, pending: &[Pending], persisted: &[bool]) -> Vec<u32> {
        pending
            .iter()
            .zip(persisted)
            .filter_map(|(op, &keep)| match op {
                Pending::Erase { block, .. } if !keep => Some(block.0),
                _ => None,
            })
            .collect()
    }

    fn undo(&mut self, op: &Pending) {
        match op {
            Pending::Program {
                page,
                write_pointer_before,
                ..
            } => {
                self.page_bytes_mut(*page).fill(ERASED);
                self.states.unprogram(*page, *write_pointer_before);
            }
            Pending::Erase {
                block,
                before,
                times_before,
                reads_before,
                state_before,
            } => {
                self.times[block.0 as usize] = Arc::clone(times_before);
                self.reads_since_erase[block.0 as usize] = *reads_before;
                self.blocks[block.0 as usize] = Arc::clone(before);
                self.stamps[block.0 as usize] = fresh_stamp();
                self.states.restore_block(*block, state_before);
            }
        }
    }

    fn resolve_in_flight(&mut self, mode: CrashMode, op: InFlight<'_>, lost_blocks: &[u32]) {
        let block = match op {
            InFlight::Program { page, .. } => page.block,
            InFlight::Erase { block } => block,
        };
        if lost_blocks.contains(&block.0) {
            return;
        }
        match (mode, op) {
            (CrashMode::DropUnsynced, _) => {}
            (CrashMode::Reorder, _) if !self.rng.random_bool(0.5) => {}
            (CrashMode::Reorder, InFlight::Program { page, data }) => {
                self.apply_program(page, data)
            }
            (CrashMode::Reorder, InFlight::Erase { block }) => self.apply_erase(block),
            (CrashMode::Torn, InFlight::Program { page, data }) => {
                self.tear_program(page, data);
                self.damage_pairs(page);
            }
            (CrashMode::Torn, InFlight::Erase { block }) => self.tear_erase(block),
        }
    }

    /// How a program in flight is torn, by the seeded RNG: one time in four
    /// no bit took (the page reads erased yet may not be programmed again);
    /// one in four the bytes took in order up to a random point, with a
    /// few bytes of mixed bits there and the rest untouched (the header
    /// intact, the tail garbled); otherwise a random subset of the 0 bits
    /// took all over the page.
    fn tear_program(&mut self, page: PageAddr, data: &[u8]) {
        let mut torn = data.to_vec();
        match self.rng.random_range(0..4u8) {
            0 => torn.fill(ERASED),
            1 => {
                let cut = self.rng.random_range(0..torn.len());
                let mixed_end = (cut + 8).min(torn.len());
                for byte in &mut torn[cut..mixed_end] {
                    *byte |= self.rng.random::<u8>();
                }
                torn[mixed_end..].fill(ERASED);
            }
            _ => {
                for byte in torn.iter_mut() {
                    *byte |= self.rng.random::<u8>();
                }
            }
        }
        self.apply_program(page, &torn);
    }

    /// One time in four the block reads fully erased; otherwise each page is
    /// erased, untouched, or has a random subset of bits set to 1. Either
    /// way the block must be erased again before any program.
    pub(super) fn tear_erase(&mut self, block: BlockAddr) {
        let geometry = self.config.geometry;
        let reads_erased = self.rng.random_ratio(1, 4);
        for page in 0..geometry.pages_per_block {
            let addr = PageAddr { block, page };
            let choice = if reads_erased {
                0
            } else {
                self.rng.random_range(0..3u8)
            };
            let mut noise = vec![0u8; geometry.raw_page_bytes() as usize];
            self.rng.fill(&mut noise[..]);
            let bytes = self.page_bytes_mut(addr);
            match choice {
                0 => bytes.fill(ERASED),
                1 => {}
                _ => bytes
                    .iter_mut()
                    .zip(&noise)
                    .for_each(|(cell, n)| *cell |= n),
            }
        }
        let pages = u64::from(geometry.pages_per_block);
        let first = u64::from(block.0) * pages;
        self.paired_damage
            .retain(|&k, _| !(first..first + pages).contains(&k));
        self.states.mark_unknown(block);
    }
}
