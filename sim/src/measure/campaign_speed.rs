//! Campaign rates on one core, as issue 24 measured them: crash points a
//! second of the exhaustive campaign on the `mlc` preset (torn) and on
//! the ideal device (drop), seeds a second of a sweep on `mlc`, and
//! executions a second of the `ops` fuzz target's body over its committed
//! corpus. Machine-dependent by nature; the report sets them beside the
//! figures the issue measured and the targets it set.
//!
//! Owns nothing but the timing; every campaign is the library's own.

use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;

use crate::campaign::{self, Part};
use crate::check::workload::WorkloadKind;
use crate::nand::{CrashMode, Device};

/// One campaign's rate now, with what issue 24 measured at `fede5b8`
/// (the same command, this machine's kind, one core) and its target.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CampaignRate {
    pub key: &'static str,
    pub command: &'static str,
    pub unit: &'static str,
    pub now: f64,
    pub issue_24: &'static str,
    pub target: f64,
}

/// Files of the `ops` corpus replayed for its rate, at most.
const OPS_FILES_MAX: usize = 400;

/// Runs `f` on a pool of one thread.
fn one_core<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(pool.install(f))
}

fn exhaustive_rate(device: Option<Device>, mode: CrashMode) -> Result<f64, String> {
    let part = Part::on(device);
    let layout = logstore::SlotLayoutKind::Full;
    let case = campaign::exhaustive_case(0, 10_000, WorkloadKind::Uniform, layout, true, &part);
    let summary = one_core(|| campaign::exhaustive(&case, &[mode], 1, &ProgressBar::hidden()))?;
    if summary.failures > 0 {
        return Err(format!("the timed exhaustive campaign failed: {summary:?}"));
    }
    Ok(summary.crash_points_per_s)
}

fn sweep_rate() -> Result<f64, String> {
    let seeds: Vec<u64> = (0..100).collect();
    let part = Part::on(Some(Device::Mlc));
    let start = Instant::now();
    let summary =
        one_core(|| campaign::sweep(&seeds, 1000, &CrashMode::ALL, &part, &ProgressBar::hidden()))?;
    if summary.failures > 0 {
        return Err("the timed sweep failed".into());
    }
    Ok(seeds.len() as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// Executions a second of the `ops` body over the first `files_max` files
/// of `corpus/ops` (sorted), on this thread; `None` without the corpus.
fn ops_rate(corpus: &Path, files_max: usize) -> Option<f64> {
    let mut files: Vec<_> = std::fs::read_dir(corpus)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.truncate(files_max);
    let inputs: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    if inputs.is_empty() {
        return None;
    }
    let start = Instant::now();
    for input in &inputs {
        campaign::fuzzing::ops(input);
    }
    Some(inputs.len() as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// Every rate, each against issue 24's figure and target. The `ops`
/// corpus is read from `corpus/ops` under `root` (skipped without it).
pub fn campaign_rates(root: &Path) -> Result<Vec<CampaignRate>, String> {
    let mut rates = vec![
        CampaignRate {
            key: "exhaustive_mlc_torn_crash_points_per_s",
            command: "exhaustive --ops 10000 --workload uniform --jobs 1 --device mlc --mode torn",
            unit: "crash points a second",
            now: exhaustive_rate(Some(Device::Mlc), CrashMode::Torn)?,
            issue_24: "228",
            target: 5_000.0,
        },
        CampaignRate {
            key: "exhaustive_ideal_drop_crash_points_per_s",
            command: "exhaustive --ops 10000 --workload uniform --jobs 1 --mode drop",
            unit: "crash points a second",
            now: exhaustive_rate(None, CrashMode::DropUnsynced)?,
            issue_24: "4,900-5,100",
            target: 20_000.0,
        },
        CampaignRate {
            key: "sweep_mlc_seeds_per_s",
            command: "sweep --seeds 0..100 --ops 1000 --jobs 1 --device mlc",
            unit: "seeds a second",
            now: sweep_rate()?,
            issue_24: "64",
            target: 300.0,
        },
    ];
    if let Some(now) = ops_rate(&root.join("corpus").join("ops"), OPS_FILES_MAX) {
        rates.push(CampaignRate {
            key: "fuzz_ops_execs_per_s",
            command:
                "the `ops` fuzz target's body over the first 400 files of corpus/ops, one thread",
            unit: "executions a second",
            now,
            issue_24: "21 (CI's 60 s libFuzzer run)",
            target: 1_000.0,
        });
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `ops` rate replays the committed corpus (some of it) and says
    /// so with a rate; a folder without inputs gives none, not a zero.
    #[test]
    fn the_ops_rate_replays_the_corpus_or_says_there_is_none() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let rate = ops_rate(&root.join("corpus").join("ops"), 10).expect("a committed corpus");
        assert!(rate > 0.0 && rate.is_finite(), "{rate}");
        let empty = std::env::temp_dir().join(format!("logstore-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(ops_rate(&empty, 10), None);
        assert_eq!(ops_rate(&empty.join("absent"), 10), None);
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
