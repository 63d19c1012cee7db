//! Wear: a long ingest workload on a store over [`SimFlash`] with a set
//! endurance (or a part's), run by the checker's [`Runner`] beside its
//! model: erase counts over time, write amplification, the blocks that went
//! bad, what the ECC corrected, and at the end an audit of every durable
//! entry.
//!
//! Owns [`WearConfig`] and [`WearReport`]. Promises: deterministic from the
//! seed; device failures (worn blocks) are survived by reopening, each
//! reopen checked; the run stops, saying why, when the device can no longer
//! hold the index or a guarantee broke; either way the audit then loses
//! power, recovers and compares every entry with the model.

use logstore::testing::format::ENTRY_BYTES;
use logstore::{Geometry, StoreConfig};

use crate::check::workload::Step;
use crate::check::{CheckConfig, Losses, Runner};
use crate::nand::{Device, SimFlash, WearOut};

/// Bytes a journal entry for an insert takes (tag, hash, info): what write
/// amplification is measured against.
pub(crate) const INSERT_ENTRY_BYTES: u64 = ENTRY_BYTES as u64;

/// Pages the background scrub step reads, every [`SCRUB_EVERY_OPS`] inserts
/// on a part with bit errors.
const SCRUB_PAGES: u32 = 32;
const SCRUB_EVERY_OPS: u64 = 1_024;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WearConfig {
    /// Inserts to attempt.
    pub ops: u64,
    pub endurance_cycles: u32,
    /// Flush after this many inserts.
    pub flush_every: u32,
    pub seed: u64,
    pub geometry: Geometry,
    pub store: StoreConfig,
    /// The part (its bit errors, latencies, endurance spread); none: an
    /// ideal device of `endurance_cycles`.
    pub device: Option<Device>,
    pub wear_out: WearOut,
    /// Go on past `ops` until the store goes read-only (at most
    /// `EOL_OPS_MAX` inserts).
    pub until_end_of_life: bool,
    /// Blocks marked bad at manufacture.
    pub bad_blocks: Vec<u32>,
    /// How the cells pair their pages, when not as the geometry declares.
    #[serde(default)]
    pub pairing_physical: Option<logstore::Pairing>,
}

/// Most inserts a run to the end of life attempts: a device that never
/// wears out (or an index that never stops) ends there.
pub(crate) const EOL_OPS_MAX: u64 = 1 << 32;

impl WearConfig {
    /// A 1 MiB device (512-byte pages, 16 a block, 128 blocks) holding a
    /// 1,024-slot log store with an 8-block journal (room for the whole
    /// table, so it freezes full) and 6 incarnations, the oldest dropped
    /// when full so the ingest can go on for ever: with the spare a freeze
    /// needs, 85 good blocks (it fits with 28 bad).
    pub fn new(ops: u64, endurance_cycles: u32, flush_every: u32) -> Self {
        let mut store = StoreConfig::new(8, 8);
        store.incarnations_max = 6;
        store.evict_oldest = true;
        WearConfig {
            ops,
            endurance_cycles,
            flush_every: flush_every.max(1),
            seed: 0,
            geometry: Geometry::new(512, 16, 128).expect("valid geometry"),
            store,
            device: None,
            wear_out: WearOut::EraseFails,
            until_end_of_life: false,
            bad_blocks: Vec::new(),
            pairing_physical: None,
        }
    }

    /// The same run on `device`: its small geometry (128 blocks of 512-byte
    /// pages with its ECC), bit errors and spread of endurance.
    pub fn on_device(mut self, device: Device) -> Self {
        self.geometry = device.small_geometry(128);
        self.device = Some(device);
        self
    }

    /// The checker's configuration the run is made of.
    pub fn check_config(&self) -> CheckConfig {
        CheckConfig {
            geometry: self.geometry,
            store: self.store,
            device_seed: self.seed,
            device: self.device,
            endurance_cycles: Some(self.endurance_cycles),
            wear_out: Some(self.wear_out),
            bad_blocks: self.bad_blocks.clone(),
            pairing_physical: self.pairing_physical,
            ..CheckConfig::default()
        }
    }
}

/// Erase counts at one point of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct WearSample {
    pub ops: u64,
    pub erase_max: u32,
    pub erase_mean: f64,
    pub erase_min: u32,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct WearReport {
    pub ops_done: u64,
    pub erase_max: u32,
    pub erase_mean: f64,
    pub erase_min: u32,
    /// Bytes programmed on the device (spare areas included) / bytes of
    /// journal entries appended.
    pub write_amplification: f64,
    /// Blocks worn past their endurance.
    pub bad_blocks: u32,
    /// Simulated device time, seconds.
    pub device_seconds: f64,
    pub bytes_programmed: u64,
    pub erases: u64,
    pub reopens: u64,
    /// What the ECC saw: bits corrected, pages it could not correct (torn
    /// ones included), rewrites to move data.
    pub bits_corrected: u64,
    pub pages_uncorrectable: u64,
    pub scrubs: u64,
    /// Journal pages programmed, and passed over (left erased: see
    /// `logstore::journal_pages_at_risk`), over the whole run.
    pub journal_pages_programmed: u64,
    pub journal_pages_passed_over: u64,
    /// The audit: durable entries lost, found with an older value, or back
    /// after their delete. 0 unless a guarantee broke.
    pub lost_flushed: u64,
    pub stale: u64,
    pub resurrected: u64,
    /// Why the audit did not find every durable entry as the model holds
    /// it (none: it did).
    pub audit_failed: Option<String>,
    /// Why the run ended before `ops`: the device could no longer hold
    /// the index.
    pub stopped: Option<String>,
    /// Inserts done when the store went read-only (worn out), if it did.
    pub read_only_at: Option<u64>,
    /// Mean erase count of the usable blocks (all but the factory-bad)
    /// when the run ended (read-only, at the end of life), as a fraction of
    /// rated endurance.
    pub endurance_used: f64,
    /// Blocks not marked bad at manufacture, and their erase counts' spread
    /// at the end: lowest, highest, standard deviation.
    pub usable_blocks: u32,
    pub usable_erase_min: u32,
    pub usable_erase_max: u32,
    pub usable_erase_stddev: f64,
    /// Blocks the store retired as bad (factory-bad ones included).
    pub bad_blocks_retired: u32,
    /// The most erases one reopen cost, and how far any block's erase
    /// count as the store knew it fell behind the device's.
    pub erases_per_reopen_max: u64,
    pub erase_count_drift_max: u64,
    /// A guarantee the run broke (a reopen that lost durable entries, say),
    /// which ended it.
    pub broken: Option<String>,
    /// Erase count of every block at the end.
    pub erase_counts: Vec<u32>,
    /// The blocks holding the anchor at the end.
    pub anchor_lanes: Vec<u32>,
    pub timeline: Vec<WearSample>,
}

fn sample(ops: u64, counts: &[u32]) -> WearSample {
    WearSample {
        ops,
        erase_max: counts.iter().copied().max().unwrap_or(0),
        erase_mean: counts.iter().map(|&c| f64::from(c)).sum::<f64>() / counts.len().max(1) as f64,
        erase_min: counts.iter().copied().min().unwrap_or(0),
    }
}

/// Runs the ingest, then the audit; `tick` is called with the ops done
/// (to the end of life: the thousandths of endurance used), for a progress
/// bar. `Err` only for a configuration that cannot start.
pub fn wear(config: &WearConfig, tick: &dyn Fn(u64)) -> Result<WearReport, String> {
    let mut runner = Runner::new(&config.check_config())?;
    let mut report = WearReport::default();
    let ops = if config.until_end_of_life {
        EOL_OPS_MAX
    } else {
        config.ops
    };
    let sample_every = if config.until_end_of_life {
        4_096
    } else {
        (ops / 50).max(1)
    };
    for op in 0..ops {
        if let Some(error) = wear_steps(config, op)
            .iter()
            .find_map(|s| runner.step(s).err())
        {
            let why = format!("after {op} inserts: {error}");
            if runner.refused() {
                report.stopped = Some(why);
            } else {
                report.broken = Some(why);
            }
            break;
        }
        if runner.read_only_at().is_some() {
            report.read_only_at = Some(op);
            let why = runner.read_only_why().unwrap_or("worn out");
            report.stopped = Some(format!("read-only after {op} inserts: {why}"));
            break;
        }
        report.ops_done += 1;
        if op % sample_every == 0 {
            let counts = runner.flash().erase_counts();
            report.timeline.push(sample(op, counts));
            tick(progress(config, op, counts));
        }
    }
    report.audit_failed = runner.audit().err();
    finish(&mut report, &runner, config);
    Ok(report)
}

/// Insert `op`, then a flush every `flush_every` and a background scrub
/// step every [`SCRUB_EVERY_OPS`] on a part with bit errors.
fn wear_steps(config: &WearConfig, op: u64) -> Vec<Step> {
    let mut steps = vec![Step::Insert {
        key: op,
        info: op.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ config.seed,
    }];
    if (op + 1).is_multiple_of(u64::from(config.flush_every.max(1))) {
        steps.push(Step::Flush);
    }
    if config.device.is_some() && (op + 1).is_multiple_of(SCRUB_EVERY_OPS) {
        steps.push(Step::Scrub { pages: SCRUB_PAGES });
    }
    steps
}

/// Ops done, or to the end of life thousandths of endurance used.
fn progress(config: &WearConfig, op: u64, counts: &[u32]) -> u64 {
    if !config.until_end_of_life {
        return op;
    }
    let mean = counts.iter().map(|&c| f64::from(c)).sum::<f64>() / counts.len().max(1) as f64;
    (1_000.0 * mean / f64::from(config.endurance_cycles.max(1))) as u64
}

/// How long the flash lasts at a given rate of new clusters, from a wear
/// run's figures.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Lifetime {
    pub erases_per_insert: f64,
    /// endurance × blocks / erases per insert: inserts the run's device takes.
    pub device_inserts: f64,
    pub device_days: f64,
    /// Max / mean erase count: how unevenly the blocks wore.
    pub spread: f64,
    /// endurance × 1 GiB / (write amplification × entry bytes × spread).
    pub gib_inserts: f64,
    pub gib_days: f64,
}

/// The lifetime a run's wear implies at `inserts_per_s` new clusters a
/// second, on the run's device and on a 1 GiB partition of the same parts.
pub fn lifetime(config: &WearConfig, report: &WearReport, inserts_per_s: f64) -> Lifetime {
    let erases_per_insert = report.erases as f64 / report.ops_done.max(1) as f64;
    let device_inserts = f64::from(config.endurance_cycles) * f64::from(config.geometry.blocks)
        / erases_per_insert.max(f64::MIN_POSITIVE);
    let spread = f64::from(report.erase_max) / report.erase_mean.max(f64::MIN_POSITIVE);
    let gib_inserts = f64::from(config.endurance_cycles) * (1u64 << 30) as f64
        / (report.write_amplification * INSERT_ENTRY_BYTES as f64).max(f64::MIN_POSITIVE)
        / spread.max(1.0);
    let days = |inserts: f64| inserts / inserts_per_s.max(f64::MIN_POSITIVE) / 86_400.0;
    Lifetime {
        erases_per_insert,
        device_inserts,
        device_days: days(device_inserts),
        spread,
        gib_inserts,
        gib_days: days(gib_inserts),
    }
}

fn finish(report: &mut WearReport, runner: &Runner, config: &WearConfig) {
    let flash: &SimFlash = runner.flash();
    let counts = flash.erase_counts().to_vec();
    let last = sample(report.ops_done, &counts);
    report.timeline.push(last);
    report.erase_max = last.erase_max;
    report.erase_mean = last.erase_mean;
    report.erase_min = last.erase_min;
    let counters = flash.counters();
    report.bytes_programmed = counters.bytes_programmed;
    report.erases = counters.erases;
    report.device_seconds = counters.device_time_ns as f64 / 1e9;
    report.write_amplification =
        counters.bytes_programmed as f64 / (report.ops_done * INSERT_ENTRY_BYTES).max(1) as f64;
    report.bad_blocks = (0..counts.len() as u32)
        .filter(|&b| flash.is_worn_out(logstore::BlockAddr(b)))
        .count() as u32;
    report.erase_counts = counts;
    let checked = runner.report();
    report.reopens = checked.reopens + checked.crashes + checked.device_failures;
    report.bits_corrected = checked.bits_corrected;
    report.pages_uncorrectable = checked.pages_uncorrectable;
    report.scrubs = checked.scrubs;
    report.journal_pages_programmed = checked.journal_pages_programmed;
    report.journal_pages_passed_over = checked.journal_pages_passed_over;
    report.erases_per_reopen_max = checked.erases_per_reopen_max;
    report.erase_count_drift_max = checked.erase_count_drift_max;
    let usable = usable_counts(flash);
    report.usable_blocks = usable.len() as u32;
    let spread = sample(report.ops_done, &usable);
    (report.usable_erase_min, report.usable_erase_max) = (spread.erase_min, spread.erase_max);
    report.usable_erase_stddev = (usable
        .iter()
        .map(|&c| (f64::from(c) - spread.erase_mean).powi(2))
        .sum::<f64>()
        / usable.len().max(1) as f64)
        .sqrt();
    report.endurance_used = spread.erase_mean / f64::from(config.endurance_cycles.max(1));
    report.bad_blocks_retired = runner.bad_blocks_known();
    report.anchor_lanes = runner.anchor_lanes();
    let Losses {
        lost_flushed,
        stale,
        resurrected,
    } = runner.losses();
    (report.lost_flushed, report.stale, report.resurrected) = (lost_flushed, stale, resurrected);
}

/// Erase counts of the blocks not marked bad at manufacture: the ones the
/// store could wear.
fn usable_counts(flash: &SimFlash) -> Vec<u32> {
    flash
        .erase_counts()
        .iter()
        .enumerate()
        .filter(|&(b, _)| !flash.is_factory_bad(logstore::BlockAddr(b as u32)))
        .map(|(_, &c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushing_less_often_amplifies_less() {
        let every = wear(&WearConfig::new(3_000, 100_000, 1), &|_| {}).unwrap();
        let rarely = wear(&WearConfig::new(3_000, 100_000, 64), &|_| {}).unwrap();
        assert_eq!(every.ops_done, 3_000);
        assert!(
            every.write_amplification > 4.0 * rarely.write_amplification,
            "{every:?} {rarely:?}"
        );
        assert!(rarely.write_amplification >= 1.0);
    }

    #[test]
    fn on_a_part_bits_are_corrected_and_the_audit_finds_every_entry() {
        let config = WearConfig::new(30_000, 1_000, 16).on_device(Device::Tlc);
        let report = wear(&config, &|_| {}).unwrap();
        assert_eq!(report.ops_done, 30_000, "{:?}", report.stopped);
        assert_eq!(
            (report.audit_failed.as_deref(), report.broken.as_deref()),
            (None, None)
        );
        assert_eq!(report.lost_flushed + report.stale + report.resurrected, 0);
        assert!(report.bits_corrected > 0, "{report:?}");
    }

    #[test]
    fn worn_blocks_are_survived_and_counted() {
        let report = wear(&WearConfig::new(40_000, 4, 8), &|_| {}).unwrap();
        assert!(report.bad_blocks > 0, "{report:?}");
        assert!(report.reopens > 0 || report.stopped.is_some());
        assert!(
            f64::from(report.erase_max) <= 1.5 * report.erase_mean.max(1.0) + 2.0,
            "{report:?}"
        );
    }
}
