//! [`SimFlash`]: a simulated NAND device that enforces the hardware's rules,
//! can lose power at any instant, and makes bit errors as real parts do.
//!
//! Owns the device image (raw pages: data and spare), a volatile write
//! cache (programs and erases since the last sync), power cuts resolved by
//! a [`CrashMode`] (`crash.rs`), seeded faults (read bit flips, program and
//! erase failures), wear (erase count per block, endurance spread between
//! blocks, worn blocks going bad as configured), raw bit errors growing
//! with wear, retention and read disturb ([`errors`]), device presets
//! ([`preset`]), a simulated clock, and counters. Promises: every random
//! choice comes from the caller's seed, so the same seed and calls give the
//! same bytes and counters; a rule breach is refused, counted and returned,
//! never silently applied; a crash leaves every page at a state it really
//! held since the last sync, except the one operation in flight in
//! [`CrashMode::Torn`].
//!
//! The wing's files:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`SimFlash`]'s state, power, clock, faults scheduled, placed pages |
//! | `ops.rs` | `impl Flash`: reads with bit errors and the ECC's verdict, programs and erases by the part's rules, factory marks |
//! | `config.rs` | [`SimConfig`], fault rates, wear-out, latencies, pairing names |
//! | `crash.rs` | what a power cut leaves of the operations in flight |
//! | [`errors`] | raw bit errors: wear, retention, read disturb |
//! | [`preset`] | the parts: SLC, MLC, TLC |

mod config;
mod crash;
pub mod errors;
mod ops;
pub mod preset;

pub use config::{
    pairing_by_name, pairing_name, CrashMode, FaultRates, Latency, ScheduledFault, SimConfig,
    WearOut, SIM_BLOCK_BYTES_MAX, SIM_PAGES_MAX,
};
pub use errors::ErrorModel;
pub use ops::factory_bad;
pub use preset::Device;

use config::probability;
use crash::InFlight;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use logstore::testing::PageStates;
use logstore::testing::{BlockState, ERASED};
use logstore::{BlockAddr, FlashError, PageAddr, Pairing};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Counters of everything the device did, for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub reads: u64,
    pub programs: u64,
    pub bytes_programmed: u64,
    pub erases: u64,
    pub syncs: u64,
    /// Rule breaches refused.
    pub violations: u64,
    /// Sticky flips forced or drawn by `FaultRates::read_flip`.
    pub bit_flips: u64,
    /// Raw bit errors the error model injected into reads.
    pub bit_errors: u64,
    /// Pages a torn program damaged through their pairing (lower-group
    /// pages of its wordline, written before).
    pub paired_pages_corrupted: u64,
    /// Reads that returned more flipped bits in some ECC codeword (a
    /// step's data and its parity slot) than the geometry's ECC corrects,
    /// counted against what was programmed: bit errors, and a page a torn
    /// program scrambled through a pairing the store is not bound to avoid
    /// (beyond the declared scheme and `Pairing::KNOWN`). From then on a
    /// loss the index reports is the device's doing. A torn page itself is
    /// not counted: its program never completed, so nothing on it was
    /// durable, and a store naming it lost is wrong.
    pub reads_beyond_ecc: u64,
    pub program_failures: u64,
    pub erase_failures: u64,
    /// Programs and erases that failed with a host I/O error
    /// ([`ScheduledFault::Io`]) before reaching the cells.
    #[serde(default)]
    pub io_failures: u64,
    pub power_cuts: u64,
    /// Sum of the simulated latency of every operation.
    pub device_time_ns: u64,
}

#[derive(Clone, Debug)]
enum Pending {
    Program {
        page: PageAddr,
        data: Vec<u8>,
        write_pointer_before: u32,
    },
    Erase {
        block: BlockAddr,
        before: Arc<Vec<u8>>,
        times_before: Arc<BlockTimes>,
        reads_before: u32,
        state_before: BlockState,
    },
}

/// When each page of a block was programmed, on the device's clock (0: not
/// programmed since the erase).
#[derive(Clone, Debug, PartialEq, Eq)]
struct BlockTimes {
    programmed_at_ns: Vec<u64>,
}

/// Hands out block stamps: a stamp is unique in the process, so two
/// snapshots of a device can tell whether a block's bytes (or sticky flips)
/// are the very ones a reader saw, whatever either did since.
static STAMPS: AtomicU64 = AtomicU64::new(1);

fn fresh_stamp() -> u64 {
    STAMPS.fetch_add(1, Ordering::Relaxed)
}

/// A simulated NAND device. `Clone` is a cheap snapshot: blocks are shared
/// copy-on-write.
#[derive(Clone, Debug)]
pub struct SimFlash {
    config: SimConfig,
    seed: u64,
    /// Each page's group on its wordline, as the cells pair (all 0
    /// without pairing).
    groups: Arc<Vec<u8>>,
    /// Blocks marked bad at manufacture.
    factory_bad: Vec<bool>,
    rng: ChaCha8Rng,
    blocks: Vec<Arc<Vec<u8>>>,
    times: Vec<Arc<BlockTimes>>,
    /// Reads of each block since its erase (read disturb).
    reads_since_erase: Vec<u32>,
    /// The P/E cycles each block endures.
    endurance: Vec<u32>,
    /// The simulated clock: every operation's latency, and idle time baked.
    clock_ns: u64,
    states: PageStates,
    erase_counts: Vec<u32>,
    /// Each block's wear terms of its RBER, with the erase count they are
    /// for (two powers a read saved; `None` until a read needs them).
    wear_terms: Vec<Option<(u32, errors::WearTerms)>>,
    /// Sticky read-disturb flips: page index → bit positions, cleared by erase.
    flips: BTreeMap<u64, Vec<u32>>,
    /// Pages a torn program of a page paired with them scrambled, where
    /// the cells pair beyond what the store is bound to avoid (the
    /// declared scheme and [`Pairing::KNOWN`]): page index → the raw bytes
    /// they held before (what was programmed), so a read of one counts as
    /// past the ECC ([`Counters::reads_beyond_ecc`]): a loss named after it
    /// is the device's doing. Damage the store should have avoided is not
    /// excused. Cleared by erase.
    paired_damage: BTreeMap<u64, Vec<u8>>,
    pending: VecDeque<Pending>,
    powered: bool,
    /// Armed power cuts: the mutating operation in flight when power is
    /// lost (by index), and how the cache resolves.
    cuts: BTreeMap<u64, CrashMode>,
    /// A stamp a block, renewed whenever the block's bytes or flips change.
    stamps: Vec<u64>,
    ops_mutating: u64,
    scheduled: BTreeMap<u64, ScheduledFault>,
    /// The block of the last program or erase that failed (scheduled,
    /// random or worn out).
    last_failed_block: Option<BlockAddr>,
    counters: Counters,
}

impl SimFlash {
    /// A fully erased device.
    pub fn new(config: SimConfig, seed: u64) -> Result<Self, FlashError> {
        config.check()?;
        let geometry = config.geometry;
        let block = Arc::new(vec![ERASED; geometry.raw_block_bytes() as usize]);
        let times = Arc::new(BlockTimes {
            programmed_at_ns: vec![0; geometry.pages_per_block as usize],
        });
        let endurance = if config.endurance_spread {
            errors::spread_endurance(config.endurance_cycles, geometry.blocks, seed)
        } else {
            vec![config.endurance_cycles; geometry.blocks as usize]
        };
        let factory_bad = factory_bad(&config, seed);
        let groups = config
            .cells_pairing()
            .roles(geometry.pages_per_block)
            .iter()
            .map(|r| r.group as u8)
            .collect();
        Ok(SimFlash {
            groups: Arc::new(groups),
            factory_bad,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            blocks: vec![block; geometry.blocks as usize],
            times: vec![times; geometry.blocks as usize],
            reads_since_erase: vec![0; geometry.blocks as usize],
            endurance,
            clock_ns: 0,
            states: PageStates::erased(geometry),
            erase_counts: vec![0; geometry.blocks as usize],
            wear_terms: vec![None; geometry.blocks as usize],
            flips: BTreeMap::new(),
            paired_damage: BTreeMap::new(),
            pending: VecDeque::new(),
            powered: true,
            cuts: BTreeMap::new(),
            stamps: (0..geometry.blocks).map(|_| fresh_stamp()).collect(),
            ops_mutating: 0,
            scheduled: BTreeMap::new(),
            last_failed_block: None,
            counters: Counters::default(),
            config,
        })
    }

    /// A device holding `image` (raw pages, all of it durable). A page that
    /// is all 0xFF counts as erased.
    pub fn from_image(config: SimConfig, image: &[u8], seed: u64) -> Result<Self, FlashError> {
        let mut flash = SimFlash::new(config, seed)?;
        let geometry = flash.config.geometry;
        if image.len() as u64 != geometry.image_bytes() {
            return Err(FlashError::ImageSize {
                expected: geometry.image_bytes(),
                actual: image.len() as u64,
            });
        }
        let block_bytes = geometry.raw_block_bytes() as usize;
        for (block, bytes) in flash.blocks.iter_mut().zip(image.chunks(block_bytes)) {
            *block = Arc::new(bytes.to_vec());
        }
        flash.stamps.iter_mut().for_each(|s| *s = fresh_stamp());
        let raw_page_bytes = geometry.raw_page_bytes() as usize;
        flash.states = PageStates::from_pages(geometry, image.chunks(raw_page_bytes));
        Ok(flash)
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Erase count of every block.
    pub fn erase_counts(&self) -> &[u32] {
        &self.erase_counts
    }

    /// Mutating operations (programs and erases) issued so far: the index the
    /// next one will have.
    pub fn ops_mutating(&self) -> u64 {
        self.ops_mutating
    }

    /// Un-synced operations in the write cache.
    pub fn pending_ops(&self) -> usize {
        self.pending.len()
    }

    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// A stamp unique in the process for the block's current bytes and
    /// sticky flips: equal stamps (even across snapshots) mean the same
    /// contents.
    pub fn block_stamp(&self, block: BlockAddr) -> u64 {
        self.stamps[block.0 as usize]
    }

    /// Power cuts armed and not yet happened.
    pub fn armed_cuts(&self) -> usize {
        self.cuts.len()
    }

    /// The simulated clock: every operation's latency, and idle time baked.
    pub fn clock_ns(&self) -> u64 {
        self.clock_ns
    }

    /// Lets the device sit idle (powered or not) for `ns`: retention errors
    /// grow with the time since each page was programmed.
    pub fn bake(&mut self, ns: u64) {
        self.clock_ns = self.clock_ns.saturating_add(ns);
    }

    /// Ages a fresh device: every block as if erased `wear` times its
    /// endurance (no erase is done, nothing is counted as an operation).
    pub fn precycle(&mut self, wear: f64) {
        if wear <= 0.0 {
            return;
        }
        for (count, &endurance) in self.erase_counts.iter_mut().zip(&self.endurance) {
            *count = (f64::from(endurance) * wear).round() as u32;
        }
    }

    /// The P/E cycles each block endures.
    pub fn endurance(&self) -> &[u32] {
        &self.endurance
    }

    /// The persistent raw bit error rate a read of `page` would see now.
    pub fn rber(&self, page: PageAddr) -> f64 {
        let b = page.block.0 as usize;
        let terms = self.config.errors.wear_terms(self.wear(b));
        self.config
            .errors
            .rber_with(terms, self.age_ns(page), self.reads_since_erase[b])
    }

    /// [`SimFlash::rber`], the wear's terms kept per block until its erase
    /// count changes: the same figure, bit for bit.
    fn rber_kept(&mut self, page: PageAddr) -> f64 {
        let b = page.block.0 as usize;
        let count = self.erase_counts[b];
        let terms = match self.wear_terms[b] {
            Some((kept_for, terms)) if kept_for == count => terms,
            _ => {
                let terms = self.config.errors.wear_terms(self.wear(b));
                self.wear_terms[b] = Some((count, terms));
                terms
            }
        };
        self.config
            .errors
            .rber_with(terms, self.age_ns(page), self.reads_since_erase[b])
    }

    /// The fraction of block `b`'s endurance its erases used.
    fn wear(&self, b: usize) -> f64 {
        f64::from(self.erase_counts[b]) / f64::from(self.endurance[b].max(1))
    }

    /// The time since `page` was programmed: retention is charge leaking
    /// from programmed cells, and an erased page holds none to lose (it
    /// sees only wear and read disturb).
    fn age_ns(&self, page: PageAddr) -> u64 {
        let programmed = self.times[page.block.0 as usize].programmed_at_ns[page.page as usize];
        if programmed > 0 {
            self.clock_ns.saturating_sub(programmed)
        } else {
            0
        }
    }

    /// The whole device as it reads now (raw pages), without bit errors.
    pub fn image(&self) -> Vec<u8> {
        let mut image = Vec::with_capacity(self.config.geometry.image_bytes() as usize);
        for block in &self.blocks {
            image.extend_from_slice(block);
        }
        image
    }

    /// Whether a block has outlived its endurance.
    pub fn is_worn_out(&self, block: BlockAddr) -> bool {
        self.erase_counts[block.0 as usize] >= self.endurance[block.0 as usize]
    }

    /// Loses power while the mutating operation with index `op_index` (see
    /// [`SimFlash::ops_mutating`]) is in flight. That operation and all
    /// later calls return [`FlashError::PowerLost`] until [`SimFlash::restart`].
    /// Several cuts may be armed: each fires at its operation (a later one
    /// during the recovery from an earlier one, say). Returns `false`, and
    /// changes nothing, if a cut is armed at that index already.
    pub fn cut_power_at(&mut self, op_index: u64, mode: CrashMode) -> bool {
        assert!(
            op_index >= self.ops_mutating,
            "crash point {op_index} already passed"
        );
        match self.cuts.entry(op_index) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(mode);
                true
            }
        }
    }

    /// Changes the random fault rates from now on (formatting a device on
    /// good blocks, then letting them fail, say).
    pub fn set_fault_rates(&mut self, faults: FaultRates) {
        self.config.faults = faults;
    }

    /// Withdraws every power cut armed by [`SimFlash::cut_power_at`] that
    /// has not happened yet; returns how many there were.
    pub fn cancel_power_cuts(&mut self) -> usize {
        let cancelled = self.cuts.len();
        self.cuts.clear();
        cancelled
    }

    /// Loses power now, with no operation in flight.
    pub fn cut_power_now(&mut self, mode: CrashMode) {
        if self.powered {
            self.crash(mode, None);
        }
    }

    /// Powers the device back on after a cut, exposing the durable image.
    /// While the power is on this does nothing.
    pub fn restart(&mut self) {
        if !self.powered {
            assert!(self.pending.is_empty());
            self.powered = true;
        }
    }

    /// Faults forced by [`SimFlash::schedule_fault`] at operations not yet
    /// made: each may fail one operation still to come.
    pub fn scheduled_faults_ahead(&self) -> usize {
        self.scheduled.range(self.ops_mutating..).count()
    }

    /// Forces `fault` on the mutating operation with index `op_index`, if it
    /// is of the matching kind.
    /// The block of the last program or erase that failed, if any did.
    pub fn last_failed_block(&self) -> Option<BlockAddr> {
        self.last_failed_block
    }

    pub fn schedule_fault(&mut self, op_index: u64, fault: ScheduledFault) {
        self.scheduled.insert(op_index, fault);
    }

    /// Flips one bit of a raw page (data, then spare), sticky until its
    /// block is erased.
    pub fn flip_bit(&mut self, page: PageAddr, bit: u32) -> Result<(), FlashError> {
        self.config.geometry.check_page(page)?;
        assert!(bit < self.config.geometry.raw_page_bytes() * 8);
        let index = self.config.geometry.page_index(page);
        self.flips.entry(index).or_default().push(bit);
        self.stamps[page.block.0 as usize] = fresh_stamp();
        self.counters.bit_flips += 1;
        Ok(())
    }

    /// The raw bytes of `page` as its cells hold them (data then spare),
    /// without the errors a read would add.
    pub fn raw_page(&self, page: PageAddr) -> Vec<u8> {
        self.blocks[page.block.0 as usize][self.page_range(page)].to_vec()
    }

    /// Puts `raw` (data then spare) in the cells of `page`, its sticky
    /// flips gone: a fault placed on purpose (a page read back erased,
    /// holding its stale or another page's bytes), as the `corrupt`
    /// campaign places them. Nothing else changes; it is not an operation.
    pub fn place_page(&mut self, page: PageAddr, raw: &[u8]) -> Result<(), FlashError> {
        self.config.geometry.check_page(page)?;
        assert_eq!(raw.len(), self.config.geometry.raw_page_bytes() as usize);
        let index = self.config.geometry.page_index(page);
        self.flips.remove(&index);
        self.paired_damage.remove(&index);
        self.page_bytes_mut(page).copy_from_slice(raw);
        Ok(())
    }

    fn page_range(&self, page: PageAddr) -> std::ops::Range<usize> {
        let page_bytes = self.config.geometry.raw_page_bytes() as usize;
        let start = page.page as usize * page_bytes;
        start..start + page_bytes
    }

    fn page_bytes_mut(&mut self, page: PageAddr) -> &mut [u8] {
        let range = self.page_range(page);
        self.stamps[page.block.0 as usize] = fresh_stamp();
        &mut Arc::make_mut(&mut self.blocks[page.block.0 as usize])[range]
    }

    /// Counts a mutating operation; returns `Err(PowerLost)` if power dies
    /// while it is in flight (the crash is already resolved then).
    fn begin_mutation(&mut self, in_flight: InFlight<'_>) -> Result<u64, FlashError> {
        if !self.powered {
            return Err(FlashError::PowerLost);
        }
        // Every operation attempted takes an index, the one power dies
        // during too: cuts armed at distinct indices stay distinct.
        let op_index = self.ops_mutating;
        self.ops_mutating += 1;
        if let Some(mode) = self.cuts.remove(&op_index) {
            self.crash(mode, Some(in_flight));
            return Err(FlashError::PowerLost);
        }
        if self.scheduled.get(&op_index) == Some(&ScheduledFault::Io) {
            self.counters.io_failures += 1;
            return Err(FlashError::Io(std::io::Error::other(format!(
                "host I/O failure scheduled at operation {op_index}"
            ))));
        }
        Ok(op_index)
    }

    fn check_powered(&self) -> Result<(), FlashError> {
        if self.powered {
            Ok(())
        } else {
            Err(FlashError::PowerLost)
        }
    }

    fn push_pending(&mut self, op: Pending) {
        if self.pending.len() >= self.config.cache_ops_max.max(1) {
            // The oldest cached operation becomes durable.
            self.pending.pop_front();
        }
        self.pending.push_back(op);
        debug_assert!(self.pending.len() <= self.config.cache_ops_max.max(1));
    }

    /// A program's latency by the page's group: on paired parts a lower page
    /// programs at half the nominal time, a middle (TLC) at it, an upper at
    /// one and a half times (their mean is the nominal time).
    fn program_ns(&self, page: PageAddr) -> u64 {
        let nominal = self.config.latency.program_ns;
        let groups = self.config.cells_pairing().groups();
        if groups == 1 {
            return nominal;
        }
        let group = u64::from(self.groups[page.page as usize]);
        let top = u64::from(groups - 1);
        nominal / 2 + nominal * group / top
    }

    /// Damages, as a torn program of `page` does on a paired part, the
    /// programmed pages of lower groups on its wordline (as the cells pair,
    /// whatever the geometry declares): most of their bits scrambled, far
    /// past any ECC.
    pub(super) fn damage_pairs(&mut self, page: PageAddr) {
        let geometry = self.config.geometry;
        for lower in self
            .config
            .cells_pairing()
            .damaged_by(page.page, geometry.pages_per_block)
        {
            let addr = PageAddr {
                block: page.block,
                page: lower,
            };
            if !self.states.is_programmed(addr) {
                continue;
            }
            let mut noise = vec![0u8; geometry.raw_page_bytes() as usize];
            self.rng.fill(&mut noise[..]);
            if !self.store_avoids(page.page, lower) {
                let held = self.raw_page(addr);
                self.paired_damage
                    .entry(geometry.page_index(addr))
                    .or_insert(held);
            }
            for (cell, n) in self.page_bytes_mut(addr).iter_mut().zip(&noise) {
                *cell ^= n & 0x55;
            }
            self.counters.paired_pages_corrupted += 1;
        }
    }

    /// Whether the store is bound to keep `upper` and `lower` (pages of one
    /// block) apart: they share a wordline under the declared scheme or
    /// one of [`Pairing::KNOWN`] (the schemes its journal layout covers).
    fn store_avoids(&self, upper: u32, lower: u32) -> bool {
        let pages = self.config.geometry.pages_per_block;
        std::iter::once(self.config.geometry.pairing)
            .chain(Pairing::KNOWN)
            .filter(|scheme| scheme.fits(pages))
            .any(|scheme| scheme.damaged_by(upper, pages).contains(&lower))
    }

    /// Whether `block` was marked bad at manufacture.
    pub fn is_factory_bad(&self, block: BlockAddr) -> bool {
        self.factory_bad
            .get(block.0 as usize)
            .copied()
            .unwrap_or(false)
    }

    fn wear_out_applies(&self, block: BlockAddr, failing: WearOut) -> bool {
        self.is_worn_out(block) && self.config.wear_out == failing
    }

    fn fault_fires(&mut self, op_index: u64, kind: ScheduledFault, rate: f64) -> bool {
        let scheduled = matches!(
            self.scheduled.get(&op_index),
            Some(&k) if k == kind || k == ScheduledFault::Fails
        );
        let random = probability(rate) > 0.0 && self.rng.random_bool(probability(rate));
        scheduled || random
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstore::Flash;

    /// The RBER a read sees with the wear's terms kept per block is the
    /// one computed afresh, bit for bit, through erases (the erase count
    /// changing under the kept terms), programs, baking and read disturb,
    /// on every preset.
    #[test]
    fn kept_wear_terms_give_the_rber_computed_afresh() {
        for device in Device::ALL {
            let geometry = device.small_geometry(16);
            let mut flash = SimFlash::new(device.sim_config(geometry), 7).unwrap();
            flash.precycle(0.5);
            let data = vec![0x5A; geometry.raw_page_bytes() as usize];
            let mut buf = vec![0; geometry.raw_page_bytes() as usize];
            for round in 0..4u32 {
                for block in (0..geometry.blocks).map(BlockAddr) {
                    if flash.is_bad(block).unwrap_or(true) {
                        continue;
                    }
                    flash.erase(block).unwrap();
                    let page = PageAddr { block, page: 0 };
                    flash.program(page, &data).unwrap();
                    flash.bake(u64::from(round) * 86_400_000_000_000);
                    for _ in 0..3 {
                        let afresh = flash.rber(page);
                        assert_eq!(flash.rber_kept(page).to_bits(), afresh.to_bits());
                        let _ = flash.read(page, &mut buf);
                    }
                }
            }
            assert!(flash.wear_terms.iter().any(Option::is_some), "{device:?}");
        }
    }
}
