//! `sweep`: many seeds, each a run with its own workload, crash points,
//! modes and faults, in parallel, summed into a [`SweepSummary`].

use std::time::Instant;

use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::check::{CheckFailure, CheckReport};
use crate::nand::CrashMode;

use super::*;

/// Figures of a sweep.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SweepSummary {
    pub runs: u64,
    /// Power cuts scheduled by the runs' crash points.
    pub crashes_scheduled: u64,
    /// Power cuts that happened (each followed by a recovery and a check).
    pub crashes: u64,
    /// Power cuts scheduled that no operation reached before the run ended.
    pub crashes_not_reached: u64,
    /// Clean reopens (power on) the runs made, each followed by a check.
    pub reopens: u64,
    /// Operations the runs made fail on purpose (a block going bad, a
    /// host I/O error), and the device failures the runs recovered from by
    /// reopening (those and any the random fault rates caused there).
    pub failures_scheduled: u64,
    pub device_failures: u64,
    pub failures: u64,
    pub seconds: f64,
    /// Operations the stores acknowledged, over all runs.
    pub acknowledged: u64,
    /// Runs that evicted, and the entries evicted over all runs.
    pub runs_evicting: u64,
    pub entries_evicted: u64,
    /// What the ECC saw over all runs: bits corrected, pages beyond it,
    /// rewrites to move data (scrubs), raw bit errors the devices made.
    pub bits_corrected: u64,
    pub pages_uncorrectable: u64,
    pub scrubs: u64,
    pub bit_errors: u64,
    /// Reads that went beyond the ECC (more flipped bits in a codeword
    /// than it corrects), and runs that stopped at a loss the store
    /// reported after such a read.
    pub reads_beyond_ecc: u64,
    pub losses_reported: u64,
    /// Entries the failing runs lost, found stale or found back after a
    /// delete (0 while errors stay within the ECC).
    pub lost_flushed: u64,
    pub stale: u64,
    pub resurrected: u64,
    #[serde(skip)]
    pub failed_cases: Vec<Case>,
}

/// Which seeds of `seeds` belong to shard `index` of `count`.
pub fn shard_seeds(seeds: std::ops::Range<u64>, index: u64, count: u64) -> Vec<u64> {
    assert!(count > 0 && index < count);
    seeds.filter(|seed| seed % count == index).collect()
}

/// Runs one case per seed, in parallel.
pub fn sweep(
    seeds: &[u64],
    ops: usize,
    modes: &[CrashMode],
    part: &Part,
    bar: &ProgressBar,
) -> SweepSummary {
    let start = Instant::now();
    let outcomes: Vec<(Case, Result<CheckReport, CheckFailure>)> = seeds
        .par_iter()
        .map(|&seed| {
            let case = Case::from_seed(seed, ops, None, modes)
                .with_drawn_reopens()
                .with_drawn_failures()
                .on_part(part);
            let outcome = case.run();
            bar.inc(1);
            (case, outcome)
        })
        .collect();
    bar.finish_and_clear();
    let mut summary = summarize(outcomes);
    summary.seconds = start.elapsed().as_secs_f64();
    summary
}

/// A sweep's figures from its runs' outcomes (`seconds` left at 0).
pub fn summarize(outcomes: Vec<(Case, Result<CheckReport, CheckFailure>)>) -> SweepSummary {
    let mut summary = SweepSummary::default();
    for (mut case, outcome) in outcomes {
        summary.runs += 1;
        summary.crashes_scheduled += case.crashes.len() as u64;
        match outcome {
            Ok(report) => {
                assert_eq!(
                    report.crashes_scheduled,
                    case.crashes.len() as u64,
                    "every crash point of seed {} arms a cut",
                    case.seed
                );
                summary.crashes += report.crashes;
                summary.crashes_not_reached += report.crashes_not_reached;
                summary.reopens += report.reopens;
                summary.failures_scheduled += report.failures_scheduled;
                summary.device_failures += report.device_failures;
                summary.acknowledged += report.acknowledged;
                summary.runs_evicting += u64::from(report.evictions > 0);
                summary.entries_evicted += report.entries_evicted;
                summary.bits_corrected += report.bits_corrected;
                summary.pages_uncorrectable += report.pages_uncorrectable;
                summary.scrubs += report.scrubs;
                summary.bit_errors += report.bit_errors;
                summary.reads_beyond_ecc += report.reads_beyond_ecc;
                summary.losses_reported += report.losses_reported;
            }
            Err(failure) => {
                summary.failures += 1;
                summary.lost_flushed += failure.losses.lost_flushed;
                summary.stale += failure.losses.stale;
                summary.resurrected += failure.losses.resurrected;
                case.failure = Some(failure);
                summary.failed_cases.push(case);
            }
        }
    }
    summary
}
