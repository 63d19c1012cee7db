//! [`SimFlash`]: a simulated NAND device that enforces the hardware's rules
//! and can lose power at any instant.
//!
//! Owns the device image, a volatile write cache (programs and erases since
//! the last sync), power cuts resolved by a [`CrashMode`], seeded faults (read
//! bit flips, program and erase failures), wear (erase count per block, worn
//! blocks going bad as configured), counters and simulated device time.
//! Promises: every random choice comes from the caller's seed, so the same
//! seed and calls give the same bytes and counters; a rule breach is refused,
//! counted and returned, never silently applied; a crash leaves every page at
//! a state it really held since the last sync, except the one operation in
//! flight in [`CrashMode::Torn`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use logstore::testing::PageStates;
use logstore::testing::{BlockState, ERASED};
use logstore::{BlockAddr, Flash, FlashError, FlashOp, Geometry, PageAddr};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How the un-synced operations are resolved when power is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CrashMode {
    /// None of them persist.
    DropUnsynced,
    /// Each persists or not, chosen by the seeded RNG. Blocks persist in any
    /// order; inside a block the device keeps erase-before-program order (an
    /// operation whose block's earlier erase was lost is lost too), but a
    /// program may be lost while a later one in the same block persists.
    Reorder,
    /// As `Reorder`, and the operation in flight is torn: a program leaves a
    /// random mix of old and new bits, an erase leaves the block partly
    /// erased and unprogrammable until erased again.
    Torn,
}

impl CrashMode {
    pub const ALL: [CrashMode; 3] = [CrashMode::DropUnsynced, CrashMode::Reorder, CrashMode::Torn];

    pub fn name(self) -> &'static str {
        match self {
            CrashMode::DropUnsynced => "drop",
            CrashMode::Reorder => "reorder",
            CrashMode::Torn => "torn",
        }
    }
}

/// What a block past its endurance does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WearOut {
    /// Erase returns `BadBlock` (and leaves the block partly erased).
    EraseFails,
    /// Program returns `BadBlock` (and leaves the page partly programmed).
    ProgramFails,
    /// Program and erase return `Ok` but change nothing.
    SilentNoop,
}

/// Simulated latency of each operation, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    pub read_ns: u64,
    pub program_ns: u64,
    pub erase_ns: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            read_ns: 50_000,
            program_ns: 600_000,
            erase_ns: 3_000_000,
        }
    }
}

/// Probabilities of random faults, per operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaultRates {
    /// A page read flips one bit, sticky until the block is erased.
    pub read_flip: f64,
    /// A program fails (`BadBlock`), leaving the page partly programmed.
    pub program_fail: f64,
    /// An erase fails (`BadBlock`), leaving the block partly erased.
    pub erase_fail: f64,
}

/// A fault forced on one mutating operation, by its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScheduledFault {
    /// The program with this index fails.
    ProgramFail,
    /// The erase with this index fails.
    EraseFail,
}

/// Everything that shapes a simulated device besides its seed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    pub geometry: Geometry,
    /// P/E cycles a block endures before it goes bad.
    pub endurance_cycles: u32,
    pub wear_out: WearOut,
    pub latency: Latency,
    pub faults: FaultRates,
    /// Most un-synced operations the write cache holds; past it the oldest
    /// becomes durable, as a real device writes back when its cache fills.
    pub cache_ops_max: usize,
}

/// Most pages a simulated device may have: its page bookkeeping is a bit a
/// page (8 MiB at this limit), allocated up front.
pub const SIM_PAGES_MAX: u64 = 1 << 26;
/// Largest simulated erase block: an erased block is one shared buffer,
/// and every block written gets its own copy.
pub const SIM_BLOCK_BYTES_MAX: u64 = 64 << 20;

impl SimConfig {
    pub fn new(geometry: Geometry) -> Self {
        SimConfig {
            geometry,
            endurance_cycles: 3_000,
            wear_out: WearOut::EraseFails,
            latency: Latency::default(),
            faults: FaultRates::default(),
            cache_ops_max: 4_096,
        }
    }

    /// Checks what [`SimFlash::new`] checks, without allocating: a valid
    /// geometry within the simulator's limits.
    pub fn check(&self) -> Result<(), FlashError> {
        let geometry = self.geometry;
        geometry.validate()?;
        let over = |what, index, limit| FlashError::OutOfRange { what, index, limit };
        if geometry.pages() > SIM_PAGES_MAX {
            return Err(over("simulated pages", geometry.pages(), SIM_PAGES_MAX));
        }
        if geometry.block_bytes() > SIM_BLOCK_BYTES_MAX {
            let bytes = geometry.block_bytes();
            return Err(over("simulated block bytes", bytes, SIM_BLOCK_BYTES_MAX));
        }
        Ok(())
    }
}

impl FaultRates {
    /// Each rate a probability: finite, in 0..=1. (The device itself treats
    /// a rate outside as the nearest bound, never panics.)
    pub fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("read_flip", self.read_flip),
            ("program_fail", self.program_fail),
            ("erase_fail", self.erase_fail),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "fault rate {name} = {rate}: a rate is a probability, 0 to 1"
                ));
            }
        }
        Ok(())
    }
}

/// A rate as a probability the generator takes: NaN as 0, clamped to 0..=1.
fn probability(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

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
    pub bit_flips: u64,
    pub program_failures: u64,
    pub erase_failures: u64,
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
        state_before: BlockState,
    },
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
    rng: ChaCha8Rng,
    blocks: Vec<Arc<Vec<u8>>>,
    states: PageStates,
    erase_counts: Vec<u32>,
    /// Sticky read-disturb flips: page index → bit positions, cleared by erase.
    flips: BTreeMap<u64, Vec<u32>>,
    pending: VecDeque<Pending>,
    powered: bool,
    /// Armed power cuts: the mutating operation in flight when power is
    /// lost (by index), and how the cache resolves.
    cuts: BTreeMap<u64, CrashMode>,
    /// A stamp a block, renewed whenever the block's bytes or flips change.
    stamps: Vec<u64>,
    ops_mutating: u64,
    scheduled: BTreeMap<u64, ScheduledFault>,
    counters: Counters,
}

impl SimFlash {
    /// A fully erased device.
    pub fn new(config: SimConfig, seed: u64) -> Result<Self, FlashError> {
        config.check()?;
        let geometry = config.geometry;
        let block = Arc::new(vec![ERASED; geometry.block_bytes() as usize]);
        Ok(SimFlash {
            rng: ChaCha8Rng::seed_from_u64(seed),
            blocks: vec![block; geometry.blocks as usize],
            states: PageStates::erased(geometry),
            erase_counts: vec![0; geometry.blocks as usize],
            flips: BTreeMap::new(),
            pending: VecDeque::new(),
            powered: true,
            cuts: BTreeMap::new(),
            stamps: (0..geometry.blocks).map(|_| fresh_stamp()).collect(),
            ops_mutating: 0,
            scheduled: BTreeMap::new(),
            counters: Counters::default(),
            config,
        })
    }

    /// A device holding `image` (all of it durable). A page that is all 0xFF
    /// counts as erased.
    pub fn from_image(config: SimConfig, image: &[u8], seed: u64) -> Result<Self, FlashError> {
        let mut flash = SimFlash::new(config, seed)?;
        let geometry = flash.config.geometry;
        if image.len() as u64 != geometry.device_bytes() {
            return Err(FlashError::ImageSize {
                expected: geometry.device_bytes(),
                actual: image.len() as u64,
            });
        }
        let block_bytes = geometry.block_bytes() as usize;
        for (block, bytes) in flash.blocks.iter_mut().zip(image.chunks(block_bytes)) {
            *block = Arc::new(bytes.to_vec());
        }
        flash.stamps.iter_mut().for_each(|s| *s = fresh_stamp());
        flash.states = PageStates::from_pages(geometry, image.chunks(geometry.page_bytes as usize));
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

    /// The whole device as it reads now, without the sticky bit flips.
    pub fn image(&self) -> Vec<u8> {
        let mut image = Vec::with_capacity(self.config.geometry.device_bytes() as usize);
        for block in &self.blocks {
            image.extend_from_slice(block);
        }
        image
    }

    /// Whether a block has outlived its endurance.
    pub fn is_worn_out(&self, block: BlockAddr) -> bool {
        self.erase_counts[block.0 as usize] >= self.config.endurance_cycles
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

    /// Forces `fault` on the mutating operation with index `op_index`, if it
    /// is of the matching kind.
    pub fn schedule_fault(&mut self, op_index: u64, fault: ScheduledFault) {
        self.scheduled.insert(op_index, fault);
    }

    /// Flips one bit of a page, sticky until its block is erased.
    pub fn flip_bit(&mut self, page: PageAddr, bit: u32) -> Result<(), FlashError> {
        self.config.geometry.check_page(page)?;
        assert!(bit < self.config.geometry.page_bytes * 8);
        let index = self.config.geometry.page_index(page);
        self.flips.entry(index).or_default().push(bit);
        self.stamps[page.block.0 as usize] = fresh_stamp();
        self.counters.bit_flips += 1;
        Ok(())
    }

    fn page_range(&self, page: PageAddr) -> std::ops::Range<usize> {
        let page_bytes = self.config.geometry.page_bytes as usize;
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

    fn wear_out_applies(&self, block: BlockAddr, failing: WearOut) -> bool {
        self.is_worn_out(block) && self.config.wear_out == failing
    }

    fn fault_fires(&mut self, op_index: u64, kind: ScheduledFault, rate: f64) -> bool {
        let scheduled = self.scheduled.get(&op_index) == Some(&kind);
        let random = probability(rate) > 0.0 && self.rng.random_bool(probability(rate));
        scheduled || random
    }
}

/// The operation in flight when power is cut.
#[derive(Clone, Copy)]
enum InFlight<'a> {
    Program { page: PageAddr, data: &'a [u8] },
    Erase { block: BlockAddr },
}

impl SimFlash {
    /// Resolves the write cache as power dies, then leaves the device off.
    fn crash(&mut self, mode: CrashMode, in_flight: Option<InFlight<'_>>) {
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
                state_before,
            } => {
                self.blocks[block.0 as usize] = Arc::clone(before);
                self.stamps[block.0 as usize] = fresh_stamp();
                self.states.restore_block(*block, state_before);
            }
        }
    }

    /// Programs bits as NAND does: a 1 may become 0, never the reverse.
    fn apply_program(&mut self, page: PageAddr, data: &[u8]) {
        for (cell, &bit) in self.page_bytes_mut(page).iter_mut().zip(data) {
            *cell &= bit;
        }
        self.states.mark_programmed(page);
    }

    fn apply_erase(&mut self, block: BlockAddr) {
        self.blocks[block.0 as usize] =
            Arc::new(vec![ERASED; self.config.geometry.block_bytes() as usize]);
        self.stamps[block.0 as usize] = fresh_stamp();
        self.states.mark_erased(block);
        let pages = u64::from(self.config.geometry.pages_per_block);
        let first = u64::from(block.0) * pages;
        let keys: Vec<u64> = self
            .flips
            .range(first..first + pages)
            .map(|(&k, _)| k)
            .collect();
        for key in keys {
            self.flips.remove(&key);
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
            (CrashMode::Torn, InFlight::Program { page, data }) => self.tear_program(page, data),
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
    fn tear_erase(&mut self, block: BlockAddr) {
        let geometry = self.config.geometry;
        let reads_erased = self.rng.random_ratio(1, 4);
        for page in 0..geometry.pages_per_block {
            let addr = PageAddr { block, page };
            let choice = if reads_erased {
                0
            } else {
                self.rng.random_range(0..3u8)
            };
            let mut noise = vec![0u8; geometry.page_bytes as usize];
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
        self.states.mark_unknown(block);
    }
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
        let rate = self.config.faults.read_flip;
        if probability(rate) > 0.0 && self.rng.random_bool(probability(rate)) {
            let bit = self
                .rng
                .random_range(0..self.config.geometry.page_bytes * 8);
            self.flip_bit(page, bit)?;
        }
        let range = self.page_range(page);
        buf.copy_from_slice(&self.blocks[page.block.0 as usize][range]);
        if let Some(bits) = self.flips.get(&self.config.geometry.page_index(page)) {
            for &bit in bits {
                buf[(bit / 8) as usize] ^= 1 << (bit % 8);
            }
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
        self.counters.device_time_ns += self.config.latency.program_ns;
        if self.wear_out_applies(page.block, WearOut::SilentNoop) {
            return Ok(());
        }
        let rate = self.config.faults.program_fail;
        let failed = self.wear_out_applies(page.block, WearOut::ProgramFails)
            || self.fault_fires(op_index, ScheduledFault::ProgramFail, rate);
        let mut written = data.to_vec();
        if failed {
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
        let silent = self.wear_out_applies(block, WearOut::SilentNoop);
        let rate = self.config.faults.erase_fail;
        let failed = self.wear_out_applies(block, WearOut::EraseFails)
            || self.fault_fires(op_index, ScheduledFault::EraseFail, rate);
        self.erase_counts[block.0 as usize] += 1;
        if silent {
            return Ok(());
        }
        let before = Arc::clone(&self.blocks[block.0 as usize]);
        let state_before = self.states.block_state(block);
        if failed {
            self.tear_erase(block);
        } else {
            self.apply_erase(block);
        }
        self.push_pending(Pending::Erase {
            block,
            before,
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
}
