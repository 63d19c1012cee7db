//! Runs steps on a store over [`SimFlash`] beside the [`Model`], cutting
//! power where the steps say, and checks the guarantees of DESIGN.md after
//! every recovery: the store equals the model after a prefix of the
//! acknowledged operations that holds every flushed one.
//!
//! Owns [`CheckConfig`] and the [`Runner`] (store, device, model). Promises:
//! a run is a pure function of its configuration and steps; a broken
//! guarantee is a [`CheckFailure`] naming the step, never a panic.

use std::collections::BTreeMap;

use logstore::{FlashError, Geometry, Policy};
use logstore::{Store, StoreConfig, StoreError};

use crate::model::{Model, Op};
use crate::nand::{CrashMode, FaultRates, SimConfig, SimFlash};
use crate::workload::{hash_of, info_of, Step};

/// The device and store a check runs on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckConfig {
    pub geometry: Geometry,
    pub store: StoreConfig,
    /// Program and erase failures only: a sticky read flip destroys data
    /// no index can keep without ECC, so durability is checked without it.
    pub faults: FaultRates,
    pub device_seed: u64,
}

impl Default for CheckConfig {
    /// 1 MiB of 512-byte pages, 16 pages a block; a 256-slot log store with
    /// a 4-block journal and up to 32 incarnations.
    fn default() -> Self {
        let mut store = StoreConfig::new(6, 4);
        store.incarnations_max = 32;
        store.policy = Policy::default();
        CheckConfig {
            geometry: Geometry::new(512, 16, 128).expect("valid geometry"),
            store,
            faults: FaultRates::default(),
            device_seed: 0,
        }
    }
}

impl CheckConfig {
    /// Checks the device and store configuration and the fault rates, as
    /// [`Runner::new`] would take them, without allocating anything.
    pub fn check(&self) -> Result<(), String> {
        self.geometry
            .validate()
            .map_err(|e| format!("geometry: {e}"))?;
        SimConfig::new(self.geometry)
            .check()
            .map_err(|e| format!("device: {e}"))?;
        self.store
            .check(self.geometry)
            .map_err(|e| format!("store configuration: {e}"))?;
        self.faults.check()
    }
}

/// A broken guarantee.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckFailure {
    /// Index of the step during or after which it broke.
    pub step: usize,
    pub message: String,
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
    /// Power cuts that happened, each followed by a recovery.
    pub crashes: u64,
    pub reopens: u64,
    /// Device failures (a bad anchor block, say) that were recovered from
    /// by reopening.
    pub device_failures: u64,
    pub full: u64,
    pub freezes: u64,
    pub packs: u64,
    pub mutating_ops: u64,
}

/// A store on a simulated device, with its model.
#[derive(Clone, Debug)]
pub struct Runner {
    store: Option<Store<SimFlash>>,
    model: Model,
    report: CheckReport,
    /// The mode of the power cut armed, if any.
    armed: Option<CrashMode>,
}

type Checked<T> = Result<T, String>;

/// Most opens one reopen tries: a recovery that writes may lose power
/// (an armed cut fires once) or meet a failing block (faults are random).
const OPEN_ATTEMPTS_MAX: u32 = 8;

impl Runner {
    /// A freshly formatted store; the faults start once it is formatted
    /// (a device whose anchor blocks fail at format is of no use to test).
    pub fn new(config: &CheckConfig) -> Result<Self, String> {
        if config.store.evict_oldest {
            return Err(
                "evict_oldest drops data by design: the model cannot check it (turn it off)".into(),
            );
        }
        config.check()?;
        let sim = SimConfig::new(config.geometry);
        let flash = SimFlash::new(sim, config.device_seed).map_err(|e| format!("device: {e}"))?;
        let mut store = Store::create(flash, config.store).map_err(|e| format!("create: {e}"))?;
        store.flash_mut().set_fault_rates(config.faults);
        Ok(Runner {
            store: Some(store),
            model: Model::new(),
            report: CheckReport::default(),
            armed: None,
        })
    }

    pub fn report(&self) -> CheckReport {
        self.report
    }

    pub fn flash(&self) -> &SimFlash {
        self.store().flash()
    }

    pub fn flash_mut(&mut self) -> &mut SimFlash {
        self.store_mut().flash_mut()
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

    /// Arms a power cut `after_ops` mutating operations from now.
    pub fn arm(&mut self, after_ops: u64, mode: CrashMode) {
        let flash = self.flash_mut();
        let at = flash.ops_mutating() + after_ops;
        flash.cut_power_at(at, mode);
        self.armed = Some(mode);
    }

    /// Runs one step; a device failure is recovered from and checked.
    pub fn step(&mut self, step: &Step) -> Checked<()> {
        self.report.steps += 1;
        let result = match *step {
            Step::Insert { key, info } => self.insert(key, info),
            Step::Delete { key } => self.delete(key),
            Step::Get { key } => self.get(key),
            Step::Flush => self
                .store_mut()
                .flush()
                .map(|()| self.model.flush())
                .map_err(Failure::Store),
            Step::CutPower { after_ops, mode } => {
                self.arm(u64::from(after_ops), mode);
                Ok(())
            }
            Step::Reopen => self.reopen(false).map_err(Failure::Check),
        };
        if let Some(store) = &self.store {
            self.report.mutating_ops = store.flash().ops_mutating();
        }
        match result {
            Ok(()) => {}
            Err(Failure::Check(message)) => return Err(message),
            Err(Failure::Store(error)) if is_device_failure(&error) => self.recover()?,
            Err(Failure::Store(error)) => return Err(format!("{step:?} failed: {error}")),
        }
        self.check_rules()
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
        match self.store_mut().insert(hash, info) {
            Ok(()) => {
                self.model.apply(Op::Insert(hash, info));
                self.report.acknowledged += 1;
                Ok(())
            }
            Err(StoreError::Full(_)) => {
                self.report.full += 1;
                Ok(())
            }
            Err(error) => Err(Failure::Store(error)),
        }
    }

    fn delete(&mut self, key: u64) -> Result<(), Failure> {
        let hash = hash_of(key);
        let expected = self.model.get(&hash).is_some();
        match self.store_mut().delete(&hash) {
            Ok(existed) if existed != expected => Err(Failure::Check(format!(
                "delete of key {key}: store says it existed: {existed}, model: {expected}"
            ))),
            Ok(existed) => {
                if existed {
                    self.model.apply(Op::Delete(hash));
                    self.report.acknowledged += 1;
                }
                Ok(())
            }
            Err(StoreError::Full(_)) => {
                self.report.full += 1;
                Ok(())
            }
            Err(error) => Err(Failure::Store(error)),
        }
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
        let mut flash = self.store.take().expect("store open").into_flash();
        let mut durable = power_cycle;
        if power_cycle {
            flash.restart();
        } else {
            self.report.reopens += 1;
        }
        for _ in 0..OPEN_ATTEMPTS_MAX {
            match Store::open_returning(flash) {
                Ok((store, _report)) => {
                    self.store = Some(store);
                    return self.check_prefix(durable);
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
                Err((error, _)) => return Err(format!("open failed: {error}")),
            }
        }
        Err(format!("power lost on each of {OPEN_ATTEMPTS_MAX} opens"))
    }

    fn check_prefix(&mut self, durable: bool) -> Checked<()> {
        let contents: BTreeMap<_, _> = self
            .store_mut()
            .contents()
            .map_err(|e| format!("reading the store back: {e}"))?
            .into_iter()
            .collect();
        let Some(k) = self.model.match_prefix(&contents) else {
            return Err(format!(
                "after {}: the store's {} entries are no prefix of the {} operations since the last crash ({} flushed)",
                if durable { "a power cut" } else { "a reopen" },
                contents.len(),
                self.model.history_len(),
                self.model.flushed_len()
            ));
        };
        if durable {
            self.model.crash_to(k);
        } else {
            self.model.reopen_to(k);
        }
        Ok(())
    }

    /// Withdraws a pending power cut, flushes, reopens, and checks that the
    /// store holds exactly what the model does.
    pub fn finish(&mut self) -> Checked<CheckReport> {
        self.flash_mut().cancel_power_cut();
        if let Err(error) = self.store_mut().flush() {
            if !is_device_failure(&error) {
                return Err(format!("final flush: {error}"));
            }
            self.recover()?;
        }
        let stats = self.store().stats();
        self.report.freezes += stats.freezes;
        self.report.packs += stats.packs;
        self.reopen(false)?;
        let contents: BTreeMap<_, _> = self
            .store_mut()
            .contents()
            .map_err(|e| format!("reading the store back: {e}"))?
            .into_iter()
            .collect();
        if &contents != self.model.current() {
            return Err(format!(
                "after a final flush and reopen the store holds {} entries, the model {}",
                contents.len(),
                self.model.current().len()
            ));
        }
        self.check_rules()?;
        Ok(self.report)
    }
}

enum Failure {
    Store(StoreError),
    Check(String),
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
/// failure names its step by its index in the workload, power cuts not
/// counted: the numbering of a case's crash points.
pub fn run(config: &CheckConfig, steps: &[Step]) -> Result<CheckReport, CheckFailure> {
    let fail = |step: usize| move |message: String| CheckFailure { step, message };
    let mut runner = Runner::new(config).map_err(fail(0))?;
    let mut workload_index = 0;
    for step in steps {
        runner.step(step).map_err(fail(workload_index))?;
        if !matches!(step, Step::CutPower { .. }) {
            workload_index += 1;
        }
    }
    runner.finish().map_err(fail(workload_index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{generate, WorkloadKind};

    #[test]
    fn workloads_pass_without_crashes() {
        for kind in WorkloadKind::ALL {
            let steps = generate(kind, 1, 1_500);
            let report = run(&CheckConfig::default(), &steps).unwrap();
            assert!(report.acknowledged > 300, "{kind:?}: {report:?}");
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
    }
}
