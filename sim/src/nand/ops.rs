//! The device's operations as the store sees them (`impl Flash`): reads
//! with raw bit errors and the ECC's verdict, programs and erases that
//! enforce the part's rules, fail, wear and tear as the part does; and
//! the factory's bad-block marks.

use super::*;
use config::probability;
use crash::InFlight;
use logstore::testing::ERASED;
use logstore::{BlockAddr, Flash, FlashError, FlashOp, Geometry, PageAddr};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

impl SimFlash {
    /// The raw bit errors a read of `page` sees now (see [`errors`]): the
    /// page's weak bits at its persistent RBER, then read noise; counts the
    /// read against its block's read disturb.
    pub(super) fn raw_bit_errors(&mut self, page: PageAddr, buf: &mut [u8]) -> u32 {
        if self.config.errors.is_off() {
            return 0;
        }
        let rber = self.rber_kept(page);
        let b = page.block.0 as usize;
        let index = self.config.geometry.page_index(page);
        let seed = errors::page_seed(self.seed, index, self.erase_counts[b]);
        let mut flips = errors::flip_weak_bits(buf, seed, rber);
        flips += errors::flip_noise(buf, &mut self.rng, self.config.errors.read_noise);
        self.counters.bit_errors += u64::from(flips);
        self.reads_since_erase[b] = self.reads_since_erase[b].saturating_add(1);
        flips
    }

    /// Whether `read`, the raw page as a read returns it, differs from what
    /// the cells hold in more bits of some ECC codeword than the ECC
    /// corrects (without an ECC: any flipped bit). Work: one pass over the
    /// page.
    pub(super) fn beyond_ecc(&self, page: PageAddr, read: &[u8]) -> bool {
        let geometry = self.config.geometry;
        let Some(slot) = geometry.ecc_parity_bytes() else {
            return true;
        };
        let held = match self.paired_damage.get(&geometry.page_index(page)) {
            Some(programmed) => programmed.as_slice(),
            None => &self.blocks[page.block.0 as usize][self.page_range(page)],
        };
        let (step, slot) = (geometry.ecc_step_bytes as usize, slot as usize);
        let page_bytes = geometry.page_bytes as usize;
        let differing = |range: std::ops::Range<usize>| -> u32 {
            read[range.clone()]
                .iter()
                .zip(&held[range])
                .map(|(a, b)| (a ^ b).count_ones())
                .sum()
        };
        (0..page_bytes / step).any(|i| {
            let data = differing(i * step..(i + 1) * step);
            let spare = page_bytes + i * slot;
            data + differing(spare..spare + slot) > geometry.ecc_bits
        })
    }

    /// Programs bits as NAND does: a 1 may become 0, never the reverse.
    pub(super) fn apply_program(&mut self, page: PageAddr, data: &[u8]) {
        for (cell, &bit) in self.page_bytes_mut(page).iter_mut().zip(data) {
            *cell &= bit;
        }
        self.states.mark_programmed(page);
        let now = self.clock_ns.max(1);
        Arc::make_mut(&mut self.times[page.block.0 as usize]).programmed_at_ns
            [page.page as usize] = now;
    }

    pub(super) fn apply_erase(&mut self, block: BlockAddr) {
        let b = block.0 as usize;
        self.blocks[b] = Arc::new(vec![
            ERASED;
            self.config.geometry.raw_block_bytes() as usize
        ]);
        self.times[b] = Arc::new(BlockTimes {
            programmed_at_ns: vec![0; self.config.geometry.pages_per_block as usize],
        });
        self.reads_since_erase[b] = 0;
        self.stamps[b] = fresh_stamp();
        self.states.mark_erased(block);
        let pages = u64::from(self.config.geometry.pages_per_block);
        let first = u64::from(block.0) * pages;
        let keys: Vec<u64> = self
            .flips
            .range(first..first + pages)
            .map(|(&k, _)| k)
            .collect();
        self.paired_damage
            .retain(|&k, _| !(first..first + pages).contains(&k));
        for key in keys {
            self.flips.remove(&key);
        }
    }
}

/// Which blocks `config` marks bad at manufacture on a device of `seed`:
/// its list, and `factory_bad_per_mille` of the rest drawn from the seed
/// (block 0 spared). Cheap: no device is built. `config` must pass
/// [`SimConfig::check`].
pub fn factory_bad(config: &SimConfig, seed: u64) -> Vec<bool> {
    let blocks = config.geometry.blocks as usize;
    let mut bad = vec![false; blocks];
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xBAD_B10C);
    for marked in bad.iter_mut().skip(1) {
        *marked = rng.random_ratio(config.factory_bad_per_mille.min(1_000), 1_000);
    }
    for &block in &config.factory_bad {
        bad[block as usize] = true;
    }
    bad
}

impl Flash for SimFlash {
    fn geometry(&self) -> Geometry {
        self.config.geometry
    }

    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        self.check_powered()?;
        self.config.geometry.check_io(page, buf.len())?;
        self.counters.reads += 1;
        self.counters.device_time_ns += self.config.latency.read_ns;
        self.clock_ns += self.config.latency.read_ns;
        let rate = self.config.faults.read_flip;
        if probability(rate) > 0.0 && self.rng.random_bool(probability(rate)) {
            let bit = self
                .rng
                .random_range(0..self.config.geometry.raw_page_bytes() * 8);
            self.flip_bit(page, bit)?;
        }
        let range = self.page_range(page);
        buf.copy_from_slice(&self.blocks[page.block.0 as usize][range]);
        let mut flips = 0;
        if let Some(bits) = self.flips.get(&self.config.geometry.page_index(page)) {
            for &bit in bits {
                buf[(bit / 8) as usize] ^= 1 << (bit % 8);
            }
            flips += bits.len() as u32;
        }
        flips += self.raw_bit_errors(page, buf);
        let index = self.config.geometry.page_index(page);
        let damaged = self.paired_damage.contains_key(&index);
        if (damaged || flips > self.config.geometry.ecc_bits) && self.beyond_ecc(page, buf) {
            self.counters.reads_beyond_ecc += 1;
        }
        Ok(())
    }

    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        self.check_powered()?;
        self.config.geometry.check_io(page, data.len())?;
        if let Err(rule) = self.states.check_program(page) {
            self.counters.violations += 1;
            return Err(FlashError::Violation { rule, page });
        }
        let op_index = self.begin_mutation(InFlight::Program { page, data })?;
        self.counters.programs += 1;
        let program_ns = self.program_ns(page);
        self.counters.device_time_ns += program_ns;
        self.clock_ns += program_ns;
        if self.is_factory_bad(page.block) {
            self.counters.program_failures += 1;
            return Err(FlashError::BadBlock {
                block: page.block,
                op: FlashOp::Program,
            });
        }
        if self.wear_out_applies(page.block, WearOut::SilentNoop) {
            // Nothing reaches the cells; the rules still see the program.
            self.states.mark_programmed(page);
            return Ok(());
        }
        let rate = self.config.faults.program_fail;
        let failed = self.wear_out_applies(page.block, WearOut::ProgramFails)
            || self.fault_fires(op_index, ScheduledFault::ProgramFail, rate);
        let mut written = data.to_vec();
        if failed {
            self.last_failed_block = Some(page.block);
            for byte in written.iter_mut() {
                *byte |= self.rng.random::<u8>();
            }
        }
        let write_pointer_before = self.states.write_pointer(page.block);
        self.apply_program(page, &written);
        self.push_pending(Pending::Program {
            page,
            data: written,
            write_pointer_before,
        });
        if failed {
            self.counters.program_failures += 1;
            return Err(FlashError::BadBlock {
                block: page.block,
                op: FlashOp::Program,
            });
        }
        self.counters.bytes_programmed += data.len() as u64;
        Ok(())
    }

    fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
        self.check_powered()?;
        self.config.geometry.check_block(block)?;
        let op_index = self.begin_mutation(InFlight::Erase { block })?;
        self.counters.erases += 1;
        self.counters.device_time_ns += self.config.latency.erase_ns;
        self.clock_ns += self.config.latency.erase_ns;
        if self.is_factory_bad(block) {
            self.counters.erase_failures += 1;
            return Err(FlashError::BadBlock {
                block,
                op: FlashOp::Erase,
            });
        }
        let silent = self.wear_out_applies(block, WearOut::SilentNoop);
        let rate = self.config.faults.erase_fail;
        let failed = self.wear_out_applies(block, WearOut::EraseFails)
            || self.fault_fires(op_index, ScheduledFault::EraseFail, rate);
        self.erase_counts[block.0 as usize] += 1;
        if silent {
            // The cells keep what they held; the rules see the erase the
            // index asked for (a later program of the block is legal).
            self.states.mark_erased(block);
            return Ok(());
        }
        let before = Arc::clone(&self.blocks[block.0 as usize]);
        let times_before = Arc::clone(&self.times[block.0 as usize]);
        let reads_before = self.reads_since_erase[block.0 as usize];
        let state_before = self.states.block_state(block);
        if failed {
            self.last_failed_block = Some(block);
            self.tear_erase(block);
        } else {
            self.apply_erase(block);
        }
        self.push_pending(Pending::Erase {
            block,
            before,
            times_before,
            reads_before,
            state_before,
        });
        if failed {
            self.counters.erase_failures += 1;
            return Err(FlashError::BadBlock {
                block,
                op: FlashOp::Erase,
            });
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), FlashError> {
        self.check_powered()?;
        self.pending.clear();
        self.counters.syncs += 1;
        Ok(())
    }

    fn is_bad(&mut self, block: BlockAddr) -> Result<bool, FlashError> {
        self.check_powered()?;
        self.config.geometry.check_block(block)?;
        Ok(self.is_factory_bad(block))
    }
}
