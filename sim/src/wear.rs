//! Wear: a long ingest workload on a store over [`SimFlash`] with a set
//! endurance, measuring erase counts over time, write amplification and
//! the blocks that went bad.
//!
//! Owns [`WearConfig`] and [`WearReport`]. Promises: deterministic from the
//! seed; device failures (worn blocks) are survived by reopening, and the
//! run stops, saying why, only when the device can no longer hold the index.

use logstore::testing::format::ENTRY_BYTES;
use logstore::{FlashError, Geometry, Info};
use logstore::{Store, StoreConfig, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::nand::{SimConfig, SimFlash, WearOut};
use crate::workload::hash_of;

/// Bytes a journal entry for an insert takes (tag, hash, info).
const INSERT_ENTRY_BYTES: u64 = ENTRY_BYTES as u64;

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
}

impl WearConfig {
    /// A 1 MiB device (512-byte pages, 16 a block, 128 blocks) holding a
    /// 1,024-slot log store with an 8-block journal (room for the whole
    /// table, so it freezes full) and 8 incarnations, the oldest dropped
    /// when full so the ingest can go on for ever.
    pub fn new(ops: u64, endurance_cycles: u32, flush_every: u32) -> Self {
        let mut store = StoreConfig::new(8, 8);
        store.incarnations_max = 8;
        store.evict_oldest = true;
        WearConfig {
            ops,
            endurance_cycles,
            flush_every: flush_every.max(1),
            seed: 0,
            geometry: Geometry::new(512, 16, 128).expect("valid geometry"),
            store,
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
    /// Bytes programmed on the device / bytes of journal entries appended.
    pub write_amplification: f64,
    /// Blocks worn past their endurance.
    pub bad_blocks: u32,
    /// Simulated device time, seconds.
    pub device_seconds: f64,
    pub bytes_programmed: u64,
    pub erases: u64,
    pub reopens: u64,
    /// Why the run ended before `ops`, if it did.
    pub stopped: Option<String>,
    /// Erase count of every block at the end.
    pub erase_counts: Vec<u32>,
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

/// Runs the ingest; `tick` is called with the ops done, for a progress bar.
pub fn wear(config: &WearConfig, tick: &dyn Fn(u64)) -> Result<WearReport, String> {
    let mut sim = SimConfig::new(config.geometry);
    sim.endurance_cycles = config.endurance_cycles;
    sim.wear_out = WearOut::EraseFails;
    let flash = SimFlash::new(sim, config.seed).map_err(|e| e.to_string())?;
    let mut store = Some(Store::create(flash, config.store).map_err(|e| e.to_string())?);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut report = WearReport::default();
    let samples = 50;
    let sample_every = (config.ops / samples).max(1);
    for op in 0..config.ops {
        let current = store.as_mut().expect("open");
        let outcome = current
            .insert(
                hash_of(op),
                Info {
                    physical_sector: op,
                    first_logical_sector: rng.random(),
                },
            )
            .and_then(|()| {
                if (op + 1) % u64::from(config.flush_every) == 0 {
                    current.flush()
                } else {
                    Ok(())
                }
            });
        match outcome {
            Ok(()) => report.ops_done += 1,
            Err(StoreError::Flash(FlashError::BadBlock { .. } | FlashError::Io(_)))
            | Err(StoreError::Log(_)) => {
                let flash = store.take().expect("open").into_flash();
                report.reopens += 1;
                match Store::open(flash) {
                    Ok((reopened, _)) => store = Some(reopened),
                    Err(error) => {
                        report.stopped = Some(format!(
                            "after {op} inserts the device could not be reopened: {error}"
                        ));
                        break;
                    }
                }
            }
            Err(error) => {
                report.stopped = Some(format!("after {op} inserts: {error}"));
                let _ = store.as_ref().map(|s| s.flash());
                break;
            }
        }
        if op % sample_every == 0 {
            let flash = store.as_ref().expect("open").flash();
            report.timeline.push(sample(op, flash.erase_counts()));
            tick(op);
        }
    }
    let flash = store
        .as_ref()
        .map(|s| s.flash())
        .ok_or("the store was lost")?;
    finish(&mut report, flash);
    Ok(report)
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

fn finish(report: &mut WearReport, flash: &SimFlash) {
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
