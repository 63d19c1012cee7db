//! Runs steps on a store over [`SimFlash`] beside the [`Model`], cutting
//! power where the steps say, and checks the guarantees of DESIGN.md after
//! every recovery: the store equals the model after a prefix of the
//! acknowledged operations that holds every durable one; an eviction drops
//! only what the oldest incarnation alone held; a clean reopen drops no
//! page; the device never refused an operation as a breach of its rules.
//!
//! Owns [`CheckConfig`] and the [`Runner`] (store, device, model, and the
//! store's incarnations as last seen). Promises: a run is a pure function
//! of its configuration and steps; a broken guarantee is a [`CheckFailure`]
//! naming the step, never a panic; checking a recovery compares digests
//! ([`crate::check::digest`]), so its cost does not grow with the store's size.
//!
//! The wing's files:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`CheckConfig`], the [`Runner`] and its checks |
//! | [`model`] | the reference the store is checked against, and its prefix rule |
//! | [`workload`] | seeded operation streams ([`workload::Step`]) |
//! | [`layers`] | the store's incarnations as the checker reads them, cached |
//! | [`digest`] | the order-independent fingerprint compared after a recovery |

pub mod digest;
pub mod layers;
pub mod model;
pub mod workload;

use logstore::{FlashError, Geometry, Hash, Pairing, Policy, RecoveryReport, Value};
use logstore::{Store, StoreConfig, StoreError};

use std::sync::Arc;

use crate::check::layers::{Layer, LayerKey, Layers, ReadError};
use crate::check::model::{Model, Op};
use crate::check::workload::{hash_of, info_of, Step};
use crate::nand::{CrashMode, Device, ErrorModel, FaultRates, SimConfig, SimFlash, WearOut};

/// The device and store a check runs on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckConfig {
    pub geometry: Geometry,
    pub store: StoreConfig,
    /// Program and erase failures (a sticky read flip, beyond any ECC on a
    /// device without one, is left to the bit error model of a preset).
    pub faults: FaultRates,
    pub device_seed: u64,
    /// The part simulated: its endurance, latencies and raw bit errors
    /// (none: an ideal device that never flips a bit).
    #[serde(default)]
    pub device: Option<Device>,
    /// How worn and how old the device is.
    #[serde(default)]
    pub aging: Aging,
    /// P/E cycles a block endures, if not the part's (or the default's).
    #[serde(default)]
    pub endurance_cycles: Option<u32>,
    /// What a block past its endurance does, if not the default's (erase
    /// fails).
    #[serde(default)]
    pub wear_out: Option<WearOut>,
    /// Raw bit errors, if not the part's (none: the part's, or no errors
    /// on an ideal device).
    #[serde(default)]
    pub error_model: Option<ErrorModel>,
    /// Blocks marked bad at manufacture, besides any the part's own
    /// factory marks give.
    #[serde(default)]
    pub bad_blocks: Vec<u32>,
    /// How the cells really pair their pages, when not as
    /// `geometry.pairing` (what the part declares) says.
    #[serde(default)]
    pub pairing_physical: Option<Pairing>,
}

/// How worn a device starts and how long it sits between power cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Aging {
    /// Each block starts with this fraction of its endurance used.
    pub wear: f64,
    /// Days the device sits unpowered at each power cut (retention).
    pub days_per_power_cut: f64,
}

impl Default for CheckConfig {
    /// 1 MiB of 512-byte pages, 16 pages a block; a 256-slot log store with
    /// a 4-block journal and up to 32 incarnations, no eviction.
    fn default() -> Self {
        let mut store = StoreConfig::new(6, 4);
        store.incarnations_max = 32;
        store.policy = Policy::default();
        CheckConfig {
            geometry: Geometry::new(512, 16, 128).expect("valid geometry"),
            store,
            faults: FaultRates::default(),
            device_seed: 0,
            device: None,
            aging: Aging::default(),
            endurance_cycles: None,
            wear_out: None,
            error_model: None,
            bad_blocks: Vec::new(),
            pairing_physical: None,
        }
    }
}

impl CheckConfig {
    /// As the default, but keeping at most 8 incarnations and dropping the
    /// oldest when full: a workload of any length keeps freezing and
    /// evicting instead of answering `Full`.
    pub fn evicting() -> Self {
        let mut config = CheckConfig::default();
        config.store.incarnations_max = 8;
        config.store.evict_oldest = true;
        config
    }

    /// The default check on `device`: its small geometry (512-byte pages
    /// with the part's ECC density), its endurance, latencies and bit errors.
    pub fn on_device(device: Device) -> Self {
        CheckConfig {
            geometry: device.small_geometry(128),
            device: Some(device),
            ..CheckConfig::default()
        }
    }

    /// The simulator configuration the check runs on.
    pub fn sim_config(&self) -> SimConfig {
        let mut sim = match self.device {
            Some(device) => device.sim_config(self.geometry),
            None => SimConfig::new(self.geometry),
        };
        sim.faults = FaultRates::default();
        if let Some(cycles) = self.endurance_cycles {
            sim.endurance_cycles = cycles;
        }
        if let Some(wear_out) = self.wear_out {
            sim.wear_out = wear_out;
        }
        if let Some(errors) = self.error_model {
            sim.errors = errors;
        }
        sim.factory_bad.extend(self.bad_blocks.iter().copied());
        sim.pairing_physical = self.pairing_physical;
        sim
    }

    /// The same check with the part declaring `declared` (if given) while
    /// its cells pair as `physical` (if given; else as they did before):
    /// a part that declares a scheme it does not follow. Checked: each
    /// scheme must fit the geometry's blocks.
    pub fn with_pairing(
        mut self,
        physical: Option<Pairing>,
        declared: Option<Pairing>,
    ) -> Result<Self, String> {
        let cells = physical
            .or(self.pairing_physical)
            .unwrap_or(self.geometry.pairing);
        if let Some(declared) = declared {
            self.geometry = self.geometry.with_pairing(declared).map_err(|_| {
                format!(
                    "declared pairing {}: does not fit blocks of {} pages",
                    crate::nand::pairing_name(declared),
                    self.geometry.pages_per_block
                )
            })?;
        }
        if !cells.fits(self.geometry.pages_per_block) {
            return Err(format!(
                "physical pairing {}: does not fit blocks of {} pages",
                crate::nand::pairing_name(cells),
                self.geometry.pages_per_block
            ));
        }
        self.pairing_physical = (cells != self.geometry.pairing).then_some(cells);
        Ok(self)
    }

    /// Checks the device and store configuration and the fault rates, as
    /// [`Runner::new`] would take them, without allocating anything.
    pub fn check(&self) -> Result<(), String> {
        self.geometry
            .validate()
            .map_err(|e| format!("geometry: {e}"))?;
        self.sim_config()
            .check()
            .map_err(|e| format!("device: {e}"))?;
        self.store
            .check(self.geometry)
            .map_err(|e| format!("store configuration: {e}"))?;
        if self.endurance_cycles == Some(0) {
            return Err("endurance_cycles 0: a block endures at least one P/E cycle".into());
        }
        self.check_good_blocks()?;
        if let Some(errors) = &self.error_model {
            errors.check()?;
        }
        let aging_ok = (0.0..=10.0).contains(&self.aging.wear)
            && (0.0..=36_500.0).contains(&self.aging.days_per_power_cut);
        if !aging_ok {
            return Err(format!(
                "aging {:?}: wear 0 to 10 (fractions of endurance), 0 to 36,500 days a power cut",
                self.aging
            ));
        }
        self.faults.check()
    }
}

impl CheckConfig {
    /// The blocks marked bad at manufacture (the list and the part's marks
    /// for this device seed) must leave the store the good blocks it
    /// needs: else the configuration is bad input, refused as `create`
    /// would refuse it.
    fn check_good_blocks(&self) -> Result<(), String> {
        let sim = self.sim_config();
        let bad = crate::nand::factory_bad(&sim, self.device_seed)
            .iter()
            .filter(|&&b| b)
            .count() as u32;
        let budget = self
            .store
            .block_budget(self.geometry)
            .map_err(|e| format!("store configuration: {e}"))?;
        budget
            .check(self.geometry.blocks, bad)
            .map_err(|e| format!("bad blocks: {e}"))
    }
}

/// A broken guarantee.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckFailure {
    /// Index of the step during or after which it broke.
    pub step: usize,
    pub message: String,
    /// What the store had lost, when the failure was a store that matched
    /// no state of its model.
    #[serde(default)]
    pub losses: Losses,
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {}", self.step, self.message)
    }
}

/// Figures of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckReport {
    pub steps: u64,
    /// Operations the store acknowledged.
    pub acknowledged: u64,
    /// Power cuts armed by the steps.
    pub crashes_scheduled: u64,
    /// Power cuts that happened, each followed by a recovery.
    pub crashes: u64,
    /// Power cuts armed that no operation reached by the end of the run.
    pub crashes_not_reached: u64,
    pub reopens: u64,
    /// Device failures (a bad anchor block, say) that were recovered from
    /// by reopening.
    pub device_failures: u64,
    pub full: u64,
    pub freezes: u64,
    pub packs: u64,
    /// Incarnations dropped by eviction, and the entries that went with them.
    pub evictions: u64,
    pub entries_evicted: u64,
    pub mutating_ops: u64,
    /// The device's mutating operations when the final flush had returned.
    pub ops_at_final_flush: u64,
    /// Bits the store's ECC corrected, pages it found uncorrectable, and
    /// the rewrites it did to move data before errors outgrew the ECC.
    pub bits_corrected: u64,
    pub pages_uncorrectable: u64,
    pub scrubs: u64,
    /// Raw bit errors the device injected into reads.
    pub bit_errors: u64,
    /// Reads with more flipped bits in a codeword than the ECC corrects.
    pub reads_beyond_ecc: u64,
    /// The step at which the store went read-only (worn out), if it did:
    /// writes after it are refused and not acknowledged.
    pub read_only_at: Option<u64>,
    /// The most any block's erase count as the store knows it fell behind
    /// the device's, at a recovery.
    pub erase_count_drift_max: u64,
    /// The most erases one reopen cost: from the open to the end of the
    /// step after it (the client's retry, or the next operation).
    pub erases_per_reopen_max: u64,
    /// Losses the store reported (durable journal pages lost at open, a
    /// page it could not read back) after the device had gone beyond the
    /// ECC: the run stops checking there. 0 or 1.
    pub losses_reported: u64,
}

/// How a store that matches no state of its model differs from the durable
/// one: flushed entries gone, entries with an older value, deleted hashes
/// back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Losses {
    pub lost_flushed: u64,
    pub stale: u64,
    pub resurrected: u64,
}

/// A store on a simulated device, with its model.
#[derive(Clone, Debug)]
pub struct Runner {
    store: Option<Store<SimFlash>>,
    model: Model,
    report: CheckReport,
    layers: Layers,
    /// The store's incarnations when last checked, newest first, with
    /// their contents (read when each first appeared).
    known: Vec<(LayerKey, Arc<Layer>)>,
    /// The journal's generation and the entries of it on flash that are
    /// durable: as of the last flush, freeze or power cycle.
    journal_durable: (u64, u64),
    /// Simulated time the device sits unpowered at each power cut.
    bake_ns: u64,
    /// How the store differed from the model at the last mismatch.
    losses: Losses,
    /// The loss the store reported, beyond the ECC: from then on steps
    /// are skipped and nothing more is checked.
    reported_loss: Option<String>,
    /// The store refused a step with an error that is neither a device
    /// failure nor a reported loss (out of blocks, say).
    refused: bool,
    /// The device, when the store on it would not open: kept for its
    /// counters and the rest of the run's bookkeeping.
    orphan: Option<SimFlash>,
    /// The blocks the store had retired at the last successful flush: a
    /// reopen must not forget them.
    bad_durable: Vec<logstore::BlockAddr>,
    /// The device's erases when the last reopen began, until the step
    /// after it ends.
    reopen_erases_from: Option<u64>,
    /// Each block's erases before the store was made (a precycled part):
    /// what the store cannot know of.
    erases_before: Vec<u32>,
    /// Why the store went read-only, as it said.
    read_only_why: Option<String>,
    /// Bad blocks when the current step began: more after it means blocks
    /// failed under its writes.
    bad_before_step: u32,
}

type Checked<T> = Result<T, String>;

/// `create` accepts only a configuration whose incarnations, journal,
/// lanes and spare fit the device's good blocks.
fn create_promise(store: &Store<SimFlash>) -> Checked<()> {
    let budget = store.block_budget();
    let (_, bad) = store.blocks_free_and_bad();
    let good = logstore::Flash::geometry(store.flash()).blocks - bad;
    if good >= budget.needed() {
        return Ok(());
    }
    Err(format!(
        "promise broken: a configuration that cannot fit accepted: {} good blocks, the budget needs {} ({budget:?})",
        good,
        budget.needed()
    ))
}

/// An insert or delete the store acknowledged, appended to its log store
/// after any eviction the step made: the hash, and the log store's size and
/// the store's freezes before the step.
#[derive(Clone, Copy, Debug)]
struct Appended {
    hash: Hash,
    tombstone: bool,
    log_entries: u64,
    freezes: u64,
}

/// Most opens one reopen tries past one for each power cut armed: a
/// recovery that writes may lose power (every armed cut fires once) or meet
/// a failing block.
const OPEN_ATTEMPTS_MAX: u32 = 8;

impl Runner {
    /// A freshly formatted store; the faults start once it is formatted
    /// (a device whose anchor blocks fail at format is of no use to test).
    pub fn new(config: &CheckConfig) -> Result<Self, String> {
        Runner::with_layers(config, Layers::default())
    }

    /// As [`Runner::new`], sharing a layer cache with other runs.
    pub fn with_layers(config: &CheckConfig, layers: Layers) -> Result<Self, String> {
        config.check()?;
        let sim = config.sim_config();
        let mut flash =
            SimFlash::new(sim, config.device_seed).map_err(|e| format!("device: {e}"))?;
        flash.precycle(config.aging.wear);
        let erases_before = flash.erase_counts().to_vec();
        let mut store = Store::create(flash, config.store).map_err(|e| format!("create: {e}"))?;
        store.flash_mut().set_fault_rates(config.faults);
        let (_, bad_before_step) = store.blocks_free_and_bad();
        create_promise(&store)?;
        Ok(Runner {
            store: Some(store),
            model: Model::new(),
            report: CheckReport::default(),
            layers,
            known: Vec::new(),
            journal_durable: (0, 0),
            bake_ns: (config.aging.days_per_power_cut * 86_400e9) as u64,
            losses: Losses::default(),
            reported_loss: None,
            refused: false,
            orphan: None,
            bad_durable: Vec::new(),
            reopen_erases_from: None,
            erases_before,
            read_only_why: None,
            bad_before_step,
        })
    }

    pub fn report(&self) -> CheckReport {
        self.report
    }

    /// How the store differed from the model at the last mismatch.
    pub fn losses(&self) -> Losses {
        self.losses
    }

    /// Adds what the store's ECC saw (and the device injected) to the
    /// report: called before a store is dropped.
    fn absorb_stats(&mut self) {
        if let Some(store) = &self.store {
            let stats = store.stats();
            self.report.bits_corrected += stats.ecc.bits_corrected;
            self.report.pages_uncorrectable += stats.ecc.pages_uncorrectable;
            self.report.scrubs += stats.scrubs;
            let counters = store.flash().counters();
            self.report.bit_errors = counters.bit_errors;
            self.report.reads_beyond_ecc = counters.reads_beyond_ecc;
        }
    }

    /// The blocks holding the open store's anchor (none if none is open).
    pub fn anchor_lanes(&self) -> Vec<u32> {
        self.store
            .as_ref()
            .map_or_else(Vec::new, |s| s.anchor_lanes().iter().map(|b| b.0).collect())
    }

    /// Blocks the open store has retired as bad (0 if none is open).
    pub fn bad_blocks_known(&self) -> u32 {
        self.store
            .as_ref()
            .map_or(0, |s| s.bad_blocks().len() as u32)
    }

    /// The step at which the store went read-only, if it did.
    pub fn read_only_at(&self) -> Option<u64> {
        self.report.read_only_at
    }

    /// Why the store went read-only, as it said, if it did.
    pub fn read_only_why(&self) -> Option<&str> {
        self.read_only_why.as_deref()
    }

    /// Whether the last failed step was the store refusing it (rather than
    /// a broken guarantee): the end of a device's life, for `wear`.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// Loses power (nothing un-synced persists) and recovers, then checks
    /// the store entry by entry:
    /// every durable entry must be there as the model holds it.
    pub fn audit(&mut self) -> Checked<()> {
        self.report.crashes += 1;
        self.flash_mut().cut_power_now(CrashMode::DropUnsynced);
        match self.reopen(true).and_then(|()| {
            if self.reported_loss.is_some() {
                return Ok(());
            }
            self.compare_whole()
        }) {
            Err(_) if self.reported_loss.is_some() => Ok(()),
            other => other,
        }
    }

    /// A read of the store the check made: a loss the store names after
    /// the device went past the ECC is taken as reported (the run stops
    /// checking); any other failure is a failure.
    fn read<T>(&mut self, result: Result<T, ReadError>) -> Checked<T> {
        result.map_err(|failed| {
            if is_reported_loss(&failed.error) {
                let beyond = self.flash().counters().reads_beyond_ecc;
                if let Err(message) = self.accept_loss(beyond, &failed.error) {
                    return message;
                }
            }
            failed.to_string()
        })
    }

    /// The loss the store reported, if any: the run checked nothing after.
    pub fn reported_loss(&self) -> Option<&str> {
        self.reported_loss.as_deref()
    }

    /// Takes a loss the store reported: the device's doing if some read
    /// went beyond the ECC (the run stops checking), a failure if not.
    fn accept_loss(&mut self, reads_beyond_ecc: u64, error: &StoreError) -> Checked<()> {
        if reads_beyond_ecc == 0 {
            return Err(format!(
                "the store reported a loss though no read went beyond the ECC: {error}"
            ));
        }
        self.report.losses_reported += 1;
        self.reported_loss = Some(error.to_string());
        Ok(())
    }

    pub fn flash(&self) -> &SimFlash {
        match (&self.store, &self.orphan) {
            (Some(store), _) => store.flash(),
            (None, Some(orphan)) => orphan,
            (None, None) => unreachable!("a runner always holds its device"),
        }
    }

    pub fn flash_mut(&mut self) -> &mut SimFlash {
        match (&mut self.store, &mut self.orphan) {
            (Some(store), _) => store.flash_mut(),
            (None, Some(orphan)) => orphan,
            (None, None) => unreachable!("a runner always holds its device"),
        }
    }

    fn store(&self) -> &Store<SimFlash> {
        self.store
            .as_ref()
            .expect("the store is open between steps")
    }

    fn store_mut(&mut self) -> &mut Store<SimFlash> {
        self.store
            .as_mut()
            .expect("the store is open between steps")
    }

    /// Arms a power cut `after_ops` mutating operations from now (or at the
    /// first later operation no cut is armed at yet).
    pub fn arm(&mut self, after_ops: u64, mode: CrashMode) {
        let now = self.flash().ops_mutating();
        self.arm_at(now + after_ops, mode);
    }

    /// Arms a power cut at the mutating operation with index `op_index`, or
    /// at the first later one no cut is armed at.
    pub fn arm_at(&mut self, op_index: u64, mode: CrashMode) {
        let flash = self.flash_mut();
        let before = flash.armed_cuts();
        let first = op_index.max(flash.ops_mutating());
        // Bounded: each armed cut takes one index, so at most `before` tries.
        for at in first..=first + before as u64 {
            if flash.cut_power_at(at, mode) {
                break;
            }
        }
        assert_eq!(flash.armed_cuts(), before + 1);
        self.report.crashes_scheduled += 1;
    }

    /// Runs one step; a device failure is recovered from and checked, then
    /// the step is tried once more, as a client retries what failed.
    pub fn step(&mut self, step: &Step) -> Checked<()> {
        self.report.steps += 1;
        if self.reported_loss.is_some() {
            if matches!(step, Step::CutPower { .. }) {
                self.report.crashes_scheduled += 1;
                self.report.crashes_not_reached += 1;
            }
            return Ok(());
        }
        let tried = self.attempt(step).and_then(|failed| {
            if failed {
                self.attempt(step)
            } else {
                Ok(false)
            }
        });
        if !matches!(step, Step::CutPower { .. }) {
            if let Some(from) = self.reopen_erases_from.take() {
                let erases = self.flash().counters().erases.saturating_sub(from);
                self.report.erases_per_reopen_max = self.report.erases_per_reopen_max.max(erases);
            }
        }
        match tried {
            // A loss the store named, beyond the ECC: the run ends here.
            Err(_) if self.reported_loss.is_some() => Ok(()),
            Err(message) => Err(message),
            Ok(_) => self.check_rules(),
        }
    }

    /// One try of a step; `Ok(true)` if a device failure interrupted it
    /// (recovered from and checked).
    fn attempt(&mut self, step: &Step) -> Checked<bool> {
        if let Some(store) = &self.store {
            self.bad_before_step = store.blocks_free_and_bad().1;
        }
        let result = match *step {
            Step::Insert { key, info } => self.insert(key, info),
            Step::Delete { key } => self.delete(key),
            Step::Get { key } => self.get(key),
            Step::Flush => self.flush(),
            Step::CutPower { after_ops, mode } => {
                self.arm(u64::from(after_ops), mode);
                Ok(())
            }
            Step::Reopen => self.reopen(false).map_err(Failure::Check),
            Step::Bake { days } => {
                self.flash_mut().bake(u64::from(days) * 86_400_000_000_000);
                Ok(())
            }
            Step::Scrub { pages } => self
                .store_mut()
                .scrub(u64::from(pages))
                .map(|_| ())
                .map_err(Failure::Store),
        };
        if let Some(store) = &self.store {
            self.report.mutating_ops = store.flash().ops_mutating();
        }
        match result {
            Ok(()) => Ok(false),
            Err(Failure::Check(message)) => Err(message),
            Err(Failure::Store(error)) if is_device_failure(&error) => {
                self.recover()?;
                Ok(true)
            }
            Err(Failure::Store(StoreError::ReadOnly(why))) => {
                // Worn out: the write was refused, not acknowledged.
                if self.report.read_only_at.is_none() {
                    self.end_of_life_promise(&why)?;
                }
                self.report.read_only_at.get_or_insert(self.report.steps);
                self.read_only_why.get_or_insert(why.to_string());
                Ok(false)
            }
            Err(Failure::Store(error)) if is_reported_loss(&error) => {
                let beyond = self.flash().counters().reads_beyond_ecc;
                self.accept_loss(beyond, &error).map(|()| false)
            }
            Err(Failure::Store(error)) => {
                self.refused = true;
                Err(format!("{step:?} failed: {error}"))
            }
        }
    }

    /// A store goes read-only for want of spare blocks only when bad blocks
    /// leave fewer free than its spare ([`logstore::BlockBudget::spare`]):
    /// read-only with the spare free is a false end of life.
    fn end_of_life_promise(&self, why: &logstore::WornOut) -> Checked<()> {
        let logstore::WornOut::NoSpareBlocks { .. } = why else {
            return Ok(());
        };
        let store = self.store();
        let (free, bad) = store.blocks_free_and_bad();
        let spare = store.block_budget().spare();
        if free < spare {
            return Ok(());
        }
        Err(format!(
            "promise broken: a false end of life: read-only ({why}) with {free} blocks free, a spare of {spare}, {bad} bad"
        ))
    }

    /// `Full` for want of blocks breaks a promise unless blocks failed under
    /// the step's writes: an evicting store evicts to make room, and one
    /// that does not holds its `incarnations_max` incarnations within the
    /// budget `create` accepted (bad blocks that eat into its spare make it
    /// read-only instead).
    fn full_promise(&self, why: &logstore::FullReason) -> Checked<()> {
        let logstore::FullReason::Blocks(_) = why else {
            return Ok(());
        };
        let store = self.store();
        let (free, bad) = store.blocks_free_and_bad();
        if bad > self.bad_before_step {
            return Ok(());
        }
        let (config, held) = (store.config(), store.stats().incarnations);
        if config.evict_oldest && held > 0 {
            return Err(format!(
                "promise broken: no eviction: an evicting store answered Full ({why:?}) holding {held} incarnations it could evict ({free} blocks free, {bad} bad)"
            ));
        }
        if !config.evict_oldest && held < config.incarnations_max {
            let needed = store.block_budget().needed();
            return Err(format!(
                "promise broken: out of blocks within the budget: {held} of {} incarnations, {free} blocks free, {bad} bad, the budget counts {needed}",
                config.incarnations_max
            ));
        }
        Ok(())
    }

    /// Fails the run if the device refused any operation as a breach of the
    /// NAND rules: the index must never attempt one.
    fn check_rules(&self) -> Checked<()> {
        let violations = self
            .store
            .as_ref()
            .map_or(0, |s| s.flash().counters().violations);
        if violations > 0 {
            return Err(format!(
                "the store broke the NAND rules: {violations} operation(s) refused by the device"
            ));
        }
        Ok(())
    }

    fn insert(&mut self, key: u64, info: u64) -> Result<(), Failure> {
        let (hash, info) = (hash_of(key), info_of(info));
        let appended = self.appending(hash, false);
        let result = self.store_mut().insert(hash, info);
        match result {
            Ok(()) => {
                self.observe_layers_after(Some(appended))
                    .map_err(Failure::Check)?;
                self.model.apply(Op::Insert(hash, info));
                self.report.acknowledged += 1;
                Ok(())
            }
            Err(StoreError::Full(why)) => {
                self.report.full += 1;
                self.full_promise(&why).map_err(Failure::Check)?;
                self.observe_layers().map_err(Failure::Check)
            }
            Err(error) => Err(Failure::Store(error)),
        }
    }

    fn delete(&mut self, key: u64) -> Result<(), Failure> {
        let hash = hash_of(key);
        let expected = self.model.get(&hash).is_some();
        let appended = self.appending(hash, true);
        match self.store_mut().delete(&hash) {
            Ok(existed) if existed != expected => Err(Failure::Check(format!(
                "delete of key {key}: store says it existed: {existed}, model: {expected}"
            ))),
            Ok(existed) => {
                self.observe_layers_after(existed.then_some(appended))
                    .map_err(Failure::Check)?;
                if existed {
                    self.model.apply(Op::Delete(hash));
                    self.report.acknowledged += 1;
                }
                Ok(())
            }
            Err(StoreError::Full(why)) => {
                self.report.full += 1;
                self.full_promise(&why).map_err(Failure::Check)?;
                self.observe_layers().map_err(Failure::Check)
            }
            Err(error) => Err(Failure::Store(error)),
        }
    }

    fn flush(&mut self) -> Result<(), Failure> {
        self.store_mut().flush().map_err(Failure::Store)?;
        self.observe_layers().map_err(Failure::Check)?;
        self.durable_point();
        // A flush records the blocks retired before it.
        self.bad_durable = self.store().bad_blocks();
        Ok(())
    }

    /// Everything acknowledged so far is durable: the model's changes and
    /// the journal's entries on flash.
    fn durable_point(&mut self) {
        self.model.flush();
        self.journal_durable = self.store().journal_entries();
    }

    fn get(&mut self, key: u64) -> Result<(), Failure> {
        let hash = hash_of(key);
        let found = self.store_mut().get(&hash).map_err(Failure::Store)?;
        let expected = self.model.get(&hash);
        if found != expected {
            return Err(Failure::Check(format!(
                "get of key {key}: store {found:?}, model {expected:?}"
            )));
        }
        Ok(())
    }

    /// After a device failure: power-cycle if power was lost (what is found
    /// is then durable), else reopen; check the prefix rule either way.
    fn recover(&mut self) -> Checked<()> {
        let powered = self.flash().is_powered();
        if powered {
            self.report.device_failures += 1;
        } else {
            self.report.crashes += 1;
        }
        self.reopen(!powered)
    }

    /// Drops the store (losing its RAM) and opens the device again.
    /// Power lost during an open (its recovery may write) is followed by
    /// a power cycle and another open; a failing block by another open.
    pub fn reopen(&mut self, power_cycle: bool) -> Checked<()> {
        let Some(store) = self.store.as_ref() else {
            return Err("the store is not open: an earlier open failed".into());
        };
        let journal = (store.journal_entries(), self.journal_durable);
        let erases = store.flash().counters().erases;
        self.reopen_erases_from.get_or_insert(erases);
        self.absorb_stats();
        let mut flash = self.store.take().expect("store open").into_flash();
        let mut durable = power_cycle;
        if power_cycle {
            flash.bake(self.bake_ns);
            flash.restart();
        } else {
            self.report.reopens += 1;
        }
        // Each armed cut may fire in one open's recovery; past them, a
        // failing block costs an open.
        let attempts_max = flash.armed_cuts() as u32 + OPEN_ATTEMPTS_MAX;
        for _ in 0..attempts_max {
            match Store::open_returning(flash) {
                Ok((store, recovery)) => {
                    self.store = Some(store);
                    check_journal_kept(journal, durable, &recovery)?;
                    self.check_blocks()?;
                    return self.check_recovered(durable);
                }
                Err((error, returned)) if is_device_failure(&error) => {
                    flash = returned;
                    if flash.is_powered() {
                        self.report.device_failures += 1;
                    } else {
                        flash.restart();
                        durable = true;
                        self.report.crashes += 1;
                    }
                }
                Err((error @ StoreError::DataLoss(_), mut returned)) => {
                    let accepted = self.accept_loss(returned.counters().reads_beyond_ecc, &error);
                    self.report.crashes_not_reached += returned.cancel_power_cuts() as u64;
                    let kept = returned.clone();
                    if let Err(message) = accepted {
                        self.orphan = Some(kept);
                        return Err(message);
                    }
                    match Store::open_salvaging(returned) {
                        Ok((store, _)) => self.store = Some(store),
                        Err(e) => {
                            self.orphan = Some(kept);
                            return Err(format!("salvaging after {error}: {e}"));
                        }
                    }
                    return Ok(());
                }
                Err((error, returned)) => {
                    self.orphan = Some(returned);
                    return Err(format!("open failed: {error}"));
                }
            }
        }
        self.orphan = Some(flash);
        Err(format!("a device failure on each of {attempts_max} opens"))
    }

    /// Checks the blocks of a store just opened: every block retired as of
    /// the last durable point is still retired, and no usable block's erase
    /// count fell more than one a power cut (plus one) behind the device's.
    fn check_blocks(&mut self) -> Checked<()> {
        let store = self.store();
        let bad = store.bad_blocks();
        if let Some(lost) = self.bad_durable.iter().find(|b| !bad.contains(b)) {
            return Err(format!(
                "block {lost} was retired as bad before the last flush; the reopen forgot it"
            ));
        }
        // A block past its endurance is of no use whatever its count (the
        // store retires it at its first failed program).
        let flash = store.flash();
        let known = store.erase_counts();
        let drift = (0..known.len())
            .filter(|&b| !flash.is_worn_out(logstore::BlockAddr(b as u32)))
            .map(|b| {
                let erased = flash.erase_counts()[b].saturating_sub(self.erases_before[b]);
                u64::from(erased.saturating_sub(known[b]))
            })
            .max()
            .unwrap_or(0);
        self.report.erase_count_drift_max = self.report.erase_count_drift_max.max(drift);
        let slack = 1 + self.report.crashes;
        if drift > slack {
            return Err(format!(
                "a block's erase count fell {drift} behind the device's after {} power cuts (at most {slack})",
                self.report.crashes
            ));
        }
        Ok(())
    }

    /// Checks a store just opened: its incarnations
    /// against the ones last seen, and its contents (by digest) against the
    /// model's prefixes; then moves the model to the prefix found.
    fn check_recovered(&mut self, durable: bool) -> Checked<()> {
        let keys = Layers::keys(self.store());
        let (added, dropped) = self.diff_layers(&keys)?;
        if dropped > 0 {
            // An eviction persisted, so the freeze it was part of did: it
            // wrote the whole table, everything acknowledged is durable.
            self.durable_point();
            self.evict(&keys, dropped, None)?;
            self.learn(keys, added)?;
            let digest = self.layers.store_digest(self.store.as_mut().expect("open"));
            if self.read(digest)? != self.model.digest() {
                return Err(self.mismatch("an eviction that persisted"));
            }
            return Ok(());
        }
        let digest = self.layers.store_digest(self.store.as_mut().expect("open"));
        let digest = self.read(digest)?;
        let Some(k) = self.model.match_digest(digest) else {
            let when = if durable { "a power cut" } else { "a reopen" };
            return Err(self.mismatch(when));
        };
        if durable {
            self.model.crash_to(k);
        } else {
            self.model.reopen_to(k);
        }
        if durable || added > 0 {
            // What survived a power cut is on the media for good; a freeze
            // during recovery wrote what was recovered.
            self.durable_point();
        }
        self.learn(keys, added)
    }

    /// Takes `keys` as the incarnations known, reading the contents of the
    /// `added` newest (the rest are known already).
    fn learn(&mut self, keys: Vec<LayerKey>, added: usize) -> Checked<()> {
        let kept = self.known.len().min(keys.len() - added);
        let mut known = Vec::with_capacity(keys.len());
        for (index, key) in keys.into_iter().enumerate() {
            let layer = if index < added {
                let read = self
                    .layers
                    .layer(self.store.as_mut().expect("open"), index, &key);
                self.read(read)?
            } else {
                Arc::clone(&self.known[index - added].1)
            };
            known.push((key, layer));
        }
        assert!(known.len() == added + kept);
        // The merged view of the new list, derived from the old one's, so
        // every check of this list (and every branch of it) finds it ready.
        let keys: Vec<LayerKey> = known.iter().map(|(k, _)| k.clone()).collect();
        let store = self.store.as_mut().expect("open");
        let merged = self.layers.merged_after(store, &keys, &self.known);
        self.read(merged)?;
        self.known = known;
        Ok(())
    }

    /// After a step the store acknowledged: a freeze (new incarnations)
    /// made everything before the step durable; an eviction (the oldest
    /// gone) dropped what only they held.
    fn observe_layers(&mut self) -> Checked<()> {
        self.observe_layers_after(None)
    }

    /// [`Runner::observe_layers`] after a step that appended `appended`
    /// to the log store (after any eviction it made).
    fn observe_layers_after(&mut self, appended: Option<Appended>) -> Checked<()> {
        let keys = Layers::keys(self.store());
        if keys.len() == self.known.len() && keys.iter().zip(&self.known).all(|(a, b)| *a == b.0) {
            return Ok(());
        }
        let (added, dropped) = self.diff_layers(&keys)?;
        if added > 0 {
            self.durable_point();
        }
        if dropped > 0 {
            self.evict(&keys, dropped, appended)?;
        }
        self.learn(keys, added)
    }

    /// What the log store held before an insert or delete of `hash`
    /// (a tombstone if `tombstone`): its size and the freezes so far, read
    /// from RAM, to tell afterwards whether the hash was in it then.
    fn appending(&self, hash: Hash, tombstone: bool) -> Appended {
        let stats = self.store().stats();
        Appended {
            hash,
            tombstone,
            log_entries: stats.log_entries,
            freezes: stats.freezes,
        }
    }

    /// How the store's incarnations `now` follow from those known: some
    /// new ones in front (a freeze), some of the oldest gone (an eviction),
    /// the rest in order, each unchanged or rewritten by a scrub (a new key,
    /// the same contents, the same place: its known key is updated).
    /// Anything else is a failure. Returns (added, dropped).
    ///
    /// A kept incarnation keeps its place, so one matched by key fixes how
    /// many are new; with none matched by key, the fewest new that fit are
    /// tried first. Contents are compared only at the place a rewrite would
    /// have: a new incarnation holding what an evicted one held (the same
    /// inserts again) is new, not a rewrite.
    fn diff_layers(&mut self, now: &[LayerKey]) -> Checked<(usize, usize)> {
        let position = |key: &LayerKey| self.known.iter().position(|(k, _)| k == key);
        let by_key: Vec<Option<usize>> = now.iter().map(position).collect();
        let fewest = now.len().saturating_sub(self.known.len());
        let tries: Vec<usize> = match by_key
            .iter()
            .enumerate()
            .find_map(|(i, m)| m.map(|j| (i, j)))
        {
            Some((i, j)) => i
                .checked_sub(j)
                .filter(|&a| a >= fewest)
                .into_iter()
                .collect(),
            None => (fewest..=now.len()).collect(),
        };
        for added in tries {
            if let Some(rewritten) = self.aligned(now, &by_key, added)? {
                for i in rewritten {
                    self.known[i - added].0 = now[i].clone();
                }
                return Ok((added, self.known.len() - (now.len() - added)));
            }
        }
        Err(format!(
            "the store's incarnations changed other than by freezing, rewriting and evicting \
             the oldest: generations {:?}, then {:?}",
            self.known.iter().map(|k| k.0 .0).collect::<Vec<_>>(),
            now.iter().map(|k| k.0).collect::<Vec<_>>()
        ))
    }

    /// With the `added` newest of `now` new and the rest the oldest known
    /// in order (`now[added + j]` is known `j`): the places of `now` that
    /// are rewrites, or `None` when some kept place is neither its known
    /// key nor a rewrite of its known contents.
    fn aligned(
        &mut self,
        now: &[LayerKey],
        by_key: &[Option<usize>],
        added: usize,
    ) -> Checked<Option<Vec<usize>>> {
        assert!(added <= now.len() && now.len() - added <= self.known.len());
        if by_key[..added].iter().any(Option::is_some) {
            return Ok(None);
        }
        let mut rewritten = Vec::new();
        for (i, key) in now.iter().enumerate().skip(added) {
            let j = i - added;
            match by_key[i] {
                Some(k) if k == j => continue,
                Some(_) => return Ok(None),
                None if by_key.contains(&Some(j)) => return Ok(None),
                None => {}
            }
            let store = self.store.as_mut().expect("open");
            let layer = self.layers.layer(store, i, key);
            if *self.read(layer)? != *self.known[j].1 {
                return Ok(None);
            }
            rewritten.push(i);
        }
        Ok(Some(rewritten))
    }

    /// Applies the eviction of the `dropped` oldest known incarnations to
    /// the model: an entry they held goes unless a newer incarnation (the
    /// store's `keys` now) or the log store as it was at the eviction holds
    /// its hash. That is the log store now but for `appended`, the entry
    /// the step made after evicting. The model must have held exactly what
    /// the store showed for it.
    fn evict(
        &mut self,
        keys: &[LayerKey],
        dropped: usize,
        appended: Option<Appended>,
    ) -> Checked<()> {
        let evicted = &self.known[self.known.len() - dropped..];
        let mut gone: crate::check::digest::HashMap<Hash, Value> = Default::default();
        // Oldest first, so a newer evicted incarnation's value wins.
        for (_, layer) in evicted.iter().rev() {
            gone.extend(layer.iter().map(|(h, v)| (*h, *v)));
        }
        let store = self.store.as_mut().expect("open");
        // An eviction to make room comes between freezes: the log store's
        // entries shadow the evicted ones as a newer incarnation would.
        let mut table: std::collections::HashSet<Hash> = store
            .log_contents()
            .map_err(|e| format!("reading the log store: {e}"))?
            .into_iter()
            .map(|(hash, _)| hash)
            .collect();
        // The step's own entry came after the eviction (every eviction
        // precedes the append) and is not in the model yet: its hash
        // shadowed the evicted one only if the log store held it before the
        // step, unfrozen (a freeze moved what it held to a newer
        // incarnation). The table's size tells: an entry replaced keeps
        // it, one added grows it; a tombstone with no incarnation left
        // removes the hash instead, shrinking it if it was there.
        if let Some(own) = appended {
            let stats = store.stats();
            let removing = own.tombstone && keys.is_empty();
            let held_before = stats.freezes == own.freezes
                && if removing {
                    stats.log_entries < own.log_entries
                } else {
                    stats.log_entries == own.log_entries
                };
            table.remove(&own.hash);
            if held_before {
                table.insert(own.hash);
            }
        }
        let merged = self.layers.merged_after(store, keys, &self.known);
        let merged = self.read(merged)?;
        let mut hashes: Vec<Hash> = gone
            .into_iter()
            .filter(|(hash, _)| !merged.map.contains_key(hash) && !table.contains(hash))
            .map(|(hash, value)| {
                let shown = match value {
                    Value::Live(info) => Some(info),
                    Value::Tombstone => None,
                };
                (hash, shown)
            })
            .filter(|(hash, shown)| shown.is_some() || self.model.get(hash).is_some())
            .map(|(hash, shown)| {
                let held = self.model.get(&hash);
                if held == shown {
                    Ok(hash)
                } else {
                    Err(format!(
                        "before the eviction the store showed {shown:?} for a hash the model holds as {held:?}"
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        hashes.sort_unstable();
        self.report.evictions += dropped as u64;
        self.report.entries_evicted += hashes.len() as u64;
        self.model.flush();
        self.model.evict(&hashes);
        Ok(())
    }

    /// A failure message for a store that matches no state of the model:
    /// sizes, and the first hash it differs on from the latest state.
    fn mismatch(&mut self, when: &str) -> String {
        let contents = match self.store_mut().contents() {
            Ok(contents) => contents,
            Err(e) => return format!("after {when}: reading the store back: {e}"),
        };
        let states = self.model.prefix_states();
        let latest = states.last().cloned().unwrap_or_default();
        let stored: std::collections::BTreeMap<Hash, logstore::Info> =
            contents.into_iter().collect();
        let durable = states.first().cloned().unwrap_or_default();
        self.losses = classify(&stored, &durable, &latest);
        let first = stored
            .iter()
            .find(|(h, i)| latest.get(*h) != Some(i))
            .map(|(h, i)| format!("holds {i:?} for {} (model {:?})", hex(h), latest.get(h)))
            .or_else(|| {
                latest
                    .iter()
                    .find(|(h, _)| !stored.contains_key(*h))
                    .map(|(h, i)| format!("lacks {} (model {i:?})", hex(h)))
            })
            .unwrap_or_else(|| "holds the latest state, yet the digests differ".into());
        format!(
            "after {when}: the store's {} entries are no state of the model's last {} changes \
             ({} at the latest, {} at the durable point; {:?}); the store {first}",
            stored.len(),
            states.len() - 1,
            latest.len(),
            durable.len(),
            self.losses
        )
    }

    /// Flushes with any armed cut still armed, reopens, and checks the
    /// store against the model: by digest, and with `full` also entry by
    /// entry (reading every incarnation). Cuts no operation reached by then
    /// are counted and withdrawn.
    pub fn finish(&mut self, full: bool) -> Checked<CheckReport> {
        if self.reported_loss.is_none() {
            match self.final_checks(full) {
                Err(message) if self.reported_loss.is_none() => return Err(message),
                Err(_) => {}
                Ok(()) => return Ok(self.report),
            }
        }
        // A loss the store named, beyond the ECC: nothing more to check.
        self.absorb_stats();
        self.report.crashes_not_reached += self.flash_mut().cancel_power_cuts() as u64;
        self.check_rules()?;
        Ok(self.report)
    }

    fn final_checks(&mut self, full: bool) -> Checked<()> {
        if self.report.read_only_at.is_some() {
            // No flush can be made: lose power, recover, compare.
            self.audit()?;
            self.report.crashes_not_reached = self.flash_mut().cancel_power_cuts() as u64;
            self.report.mutating_ops = self.flash().ops_mutating();
            return self.check_rules();
        }
        if let Err(why) = self.final_flush()? {
            // The final flush found the device worn out: the flush was
            // refused, so the audit decides, as for a store read-only before.
            self.end_of_life_promise(&why)?;
            self.report.read_only_at.get_or_insert(self.report.steps);
            self.read_only_why.get_or_insert(why.to_string());
            return self.final_checks(full);
        }
        self.observe_layers()?;
        self.durable_point();
        self.bad_durable = self.store().bad_blocks();
        self.report.ops_at_final_flush = self.flash().ops_mutating();
        let stats = self.store().stats();
        self.report.freezes += stats.freezes;
        self.report.packs += stats.packs;
        self.reopen(false)?;
        self.absorb_stats();
        if full {
            self.compare_whole()?;
        }
        self.report.crashes_not_reached = self.flash_mut().cancel_power_cuts() as u64;
        self.report.mutating_ops = self.flash().ops_mutating();
        self.check_rules()
    }

    /// Flushes at the end of the workload. A power cut still armed may fire
    /// inside it (a cut during the final flush), and so may the next one
    /// after the recovery: each failed attempt fired an armed cut or met a
    /// failing block, so the armed cuts and [`OPEN_ATTEMPTS_MAX`] bound them.
    /// `Ok(Err(why))`: the store turned read-only (worn out) instead.
    fn final_flush(&mut self) -> Checked<Result<(), logstore::WornOut>> {
        let attempts_max = self.flash().armed_cuts() as u32 + OPEN_ATTEMPTS_MAX;
        for _ in 0..attempts_max {
            match self.store_mut().flush() {
                Ok(()) => return Ok(Ok(())),
                Err(StoreError::ReadOnly(why)) => return Ok(Err(why)),
                Err(error) if is_device_failure(&error) => self.recover()?,
                Err(error) => return Err(self.store_failed(error, "final flush")),
            }
        }
        Err(format!(
            "final flush: a device failure on each of {attempts_max} attempts"
        ))
    }

    /// A store operation the check made that failed: see [`Runner::read`].
    fn store_failed(&mut self, error: StoreError, what: &str) -> String {
        self.read::<()>(Err(ReadError {
            what: what.to_string(),
            error,
        }))
        .expect_err("an error stays one")
    }

    /// Every entry of the store against the model's current state.
    fn compare_whole(&mut self) -> Checked<()> {
        let contents = match self.store_mut().contents() {
            Ok(contents) => contents,
            Err(error) => return Err(self.store_failed(error, "the store")),
        };
        let contents: std::collections::BTreeMap<_, _> = contents.into_iter().collect();
        let model = self.model.current();
        if contents != model {
            self.losses = classify(&contents, &model, &model);
            return Err(format!(
                "after a reopen the store holds {} entries, the model {} ({:?})",
                contents.len(),
                model.len(),
                self.losses
            ));
        }
        Ok(())
    }
}

/// Checks a recovery report against the journal before the reopen (its
/// generation and entries on flash; and the generation and entries durable
/// as of the last flush, freeze or power cycle): without a power cut every
/// entry that reached flash is found again; after one, at least every
/// durable one.
fn check_journal_kept(
    ((generation, on_flash), (durable_generation, durable_entries)): ((u64, u64), (u64, u64)),
    power_lost: bool,
    recovery: &RecoveryReport,
) -> Checked<()> {
    let kept = recovery.entries_kept;
    if !power_lost && recovery.journal_generation == generation && kept != on_flash {
        return Err(format!(
            "a reopen without a power cut found {kept} journal entries, {on_flash} were on flash: {recovery:?}"
        ));
    }
    if power_lost && recovery.journal_generation == durable_generation && kept < durable_entries {
        return Err(format!(
            "after a power cut recovery kept {kept} journal entries, {durable_entries} were durable: {recovery:?}"
        ));
    }
    Ok(())
}

/// How `stored` differs from the model's `durable` and `latest` states:
/// durable entries it lacks, entries with a value neither state has, and
/// hashes neither state holds.
fn classify(
    stored: &std::collections::BTreeMap<Hash, logstore::Info>,
    durable: &std::collections::BTreeMap<Hash, logstore::Info>,
    latest: &std::collections::BTreeMap<Hash, logstore::Info>,
) -> Losses {
    let mut losses = Losses::default();
    for hash in durable.keys() {
        if !stored.contains_key(hash) && latest.contains_key(hash) {
            losses.lost_flushed += 1;
        }
    }
    for (hash, info) in stored {
        match (durable.get(hash), latest.get(hash)) {
            (None, None) => losses.resurrected += 1,
            (d, l) if d != Some(info) && l != Some(info) => losses.stale += 1,
            _ => {}
        }
    }
    losses
}

fn hex(hash: &Hash) -> String {
    hash[..6].iter().map(|b| format!("{b:02x}")).collect()
}

enum Failure {
    Store(StoreError),
    Check(String),
}

/// A loss the store names rather than hides: durable journal pages lost
/// at open, or a page it could not read back.
fn is_reported_loss(error: &StoreError) -> bool {
    use logstore::errors::{HashStoreError, JournalError, LogError};
    matches!(
        error,
        StoreError::DataLoss(_)
            | StoreError::HashStore(HashStoreError::Corrupt { .. })
            | StoreError::Log(LogError::Journal(JournalError::Corrupt { .. }))
            | StoreError::Flash(FlashError::Uncorrectable { .. })
    )
}

/// Power lost, a bad block where the store cannot route around it, or an
/// earlier such failure: reopen and carry on.
fn is_device_failure(error: &StoreError) -> bool {
    use logstore::errors::LogError;
    matches!(
        error,
        StoreError::Flash(FlashError::PowerLost | FlashError::BadBlock { .. })
            | StoreError::Log(LogError::Poisoned)
    )
}

/// Runs `steps` from a fresh store and finishes with a full check. A
/// failure names its step by its index in the workload, power cuts and
/// time passing not counted: the numbering of a case's crash points.
pub fn run(config: &CheckConfig, steps: &[Step]) -> Result<CheckReport, CheckFailure> {
    let fail = |step: usize, losses: Losses| {
        move |message: String| CheckFailure {
            step,
            message,
            losses,
        }
    };
    let mut runner = Runner::new(config).map_err(fail(0, Losses::default()))?;
    let mut workload_index = 0;
    for step in steps {
        if let Err(message) = runner.step(step) {
            return Err(fail(workload_index, runner.losses())(message));
        }
        if step.is_workload() {
            workload_index += 1;
        }
    }
    match runner.finish(true) {
        Ok(report) => Ok(report),
        Err(message) => Err(fail(workload_index, runner.losses())(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::workload::{generate, WorkloadKind};

    #[test]
    fn workloads_pass_without_crashes() {
        for kind in WorkloadKind::ALL {
            let steps = generate(kind, 1, 1_500);
            let report = run(&CheckConfig::default(), &steps).unwrap();
            assert!(report.acknowledged > 300, "{kind:?}: {report:?}");
        }
    }

    #[test]
    fn evicting_workloads_pass_and_evict() {
        for kind in WorkloadKind::ALL {
            let steps = generate(kind, 2, 6_000);
            let report = run(&CheckConfig::evicting(), &steps).unwrap();
            assert_eq!(report.full, 0, "{kind:?}: {report:?}");
            if kind == WorkloadKind::Uniform {
                assert!(report.entries_evicted > 0, "{kind:?}: {report:?}");
            }
        }
    }

    #[test]
    fn a_refused_flash_operation_fails_the_run_even_if_swallowed() {
        let mut runner = Runner::new(&CheckConfig::default()).unwrap();
        runner.step(&Step::Flush).unwrap();
        // A program of a page already programmed (the anchor's first page),
        // its error dropped as a buggy caller might drop it.
        let page = logstore::PageAddr::new(0, 0);
        let bytes = vec![0u8; 512];
        let first = logstore::Flash::program(runner.flash_mut(), page, &bytes);
        let again = logstore::Flash::program(runner.flash_mut(), page, &bytes);
        assert!(first.is_err() || again.is_err());
        let failure = runner.step(&Step::Get { key: 1 }).unwrap_err();
        assert!(failure.contains("NAND rules"), "{failure}");
    }

    #[test]
    fn power_cuts_are_recovered_and_checked() {
        let mut steps = generate(WorkloadKind::Uniform, 2, 1_500);
        for (i, mode) in CrashMode::ALL.into_iter().enumerate() {
            steps.insert(200 + i * 400, Step::CutPower { after_ops: 3, mode });
        }
        let report = run(&CheckConfig::default(), &steps).unwrap();
        assert_eq!(report.crashes, 3, "{report:?}");
        assert_eq!(report.crashes_scheduled, 3);
    }

    #[test]
    fn cuts_armed_together_all_fire() {
        let mut steps = generate(WorkloadKind::Uniform, 3, 800);
        for mode in CrashMode::ALL {
            steps.insert(100, Step::CutPower { after_ops: 0, mode });
        }
        let report = run(&CheckConfig::default(), &steps).unwrap();
        assert_eq!(report.crashes_scheduled, 3);
        assert_eq!(report.crashes, 3, "{report:?}");
    }
}
