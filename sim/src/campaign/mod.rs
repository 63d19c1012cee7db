//! Crash campaigns: `sweep` (many seeds, random crash points, modes and
//! faults, in parallel), `exhaustive` (every mutating flash operation of a
//! workload as a crash point, in each mode, branching from snapshots as
//! littlefs's power-loss runner does) and [`Case`] files that replay one
//! run bit for bit.
//!
//! Promises: a campaign's figures depend only on its arguments (timings
//! aside); every failure comes back as a [`Case`] that `replay` runs again.
//!
//! The wing's files:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Case`] files, `run`, `sweep`, `exhaustive` |
//! | [`swarm`] | what each seed draws (device, store, workload) and the swarm sweep |
//! | [`corrupt`] | faults placed on purpose, CORDS-style |
//! | [`scenarios`] | seeded scenarios of what real parts do (retention, a page lost mid-log) |
//! | [`fuzzing`] | the bodies of the fuzz targets, shared with `cargo test` |

pub mod corrupt;
pub mod fuzzing;
pub mod scenarios;
pub mod swarm;

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::check::workload::{generate, Step, WorkloadKind};
use crate::check::{run, Aging, CheckConfig, CheckFailure, CheckReport, Runner};
use crate::nand::{CrashMode, Device, FaultRates};
use logstore::Pairing;

/// A power cut inserted before step `step` of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrashPoint {
    pub step: usize,
    pub after_ops: u32,
    pub mode: CrashMode,
}

/// Everything that fixes one run: replaying it gives the same outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Case {
    /// The logstore-sim version that wrote the case.
    pub version: String,
    pub seed: u64,
    pub workload: WorkloadKind,
    pub ops: usize,
    pub crashes: Vec<CrashPoint>,
    pub config: CheckConfig,
    /// What the run found when the case was saved.
    #[serde(default)]
    pub failure: Option<CheckFailure>,
    /// On a part: how time passes between the steps.
    #[serde(default)]
    pub device_time: Option<DeviceTime>,
    /// A flush after every this many workload steps, besides the
    /// workload's own (a swarm draws it).
    #[serde(default)]
    pub flush_every: Option<u32>,
}

/// Time passing on a simulated part: every `every_steps` steps of the
/// workload the device sits idle `bake_days`, then a background scrub step
/// reads a few incarnation pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceTime {
    pub bake_days: u32,
    pub every_steps: u32,
}

/// Incarnation pages one background scrub step of a case reads.
pub const SCRUB_PAGES: u32 = 32;

/// Most steps one run holds: a run keeps its workload in memory (about
/// 24 bytes a step), so larger runs are refused before anything is
/// allocated.
pub const OPS_MAX: usize = 20_000_000;

/// Why a case file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a case file: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} was written by logstore-sim {found}, this is {current}, and it no longer reads: {source}")]
    Version {
        path: PathBuf,
        found: String,
        current: &'static str,
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Checks a run's size: at least one step, at most [`OPS_MAX`].
pub fn check_ops(ops: usize) -> Result<(), String> {
    if ops == 0 {
        return Err("--ops must be at least 1".into());
    }
    if ops > OPS_MAX {
        return Err(format!(
            "--ops {ops} is more than the {OPS_MAX} steps a run can hold in memory"
        ));
    }
    Ok(())
}

/// The largest case file `load` reads: a saved case is a few kilobytes.
pub const CASE_BYTES_MAX: u64 = 16 << 20;

impl Case {
    /// A run chosen by `seed`: its workload (unless given), 1 to 4 crash
    /// points with modes from `modes`, one seed in four with program and
    /// erase failures, and half of them with the compact slot layout.
    pub fn from_seed(
        seed: u64,
        ops: usize,
        workload: Option<WorkloadKind>,
        modes: &[CrashMode],
    ) -> Case {
        assert!(!modes.is_empty() && ops > 0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let kinds = WorkloadKind::ALL.len();
        let workload = workload.unwrap_or(WorkloadKind::ALL[rng.random_range(0..kinds)]);
        let mut crashes: Vec<CrashPoint> = (0..rng.random_range(1..=4))
            .map(|_| CrashPoint {
                step: rng.random_range(0..ops),
                after_ops: rng.random_range(0..16),
                mode: modes[rng.random_range(0..modes.len())],
            })
            .collect();
        crashes.sort_by_key(|c| c.step);
        let mut config = CheckConfig {
            device_seed: seed,
            ..CheckConfig::default()
        };
        if rng.random_ratio(1, 4) {
            config.faults = FaultRates {
                read_flip: 0.0,
                program_fail: 0.002,
                erase_fail: 0.01,
            };
        }
        // Half the seeds run the compact slot layout.
        if rng.random_bool(0.5) {
            config.store.layout = logstore::SlotLayoutKind::Compact;
        }
        // Half keep at most 2 incarnations and evict the oldest when full.
        if rng.random_bool(0.5) {
            config.store.incarnations_max = 2;
            config.store.evict_oldest = true;
        }
        Case {
            version: env!("CARGO_PKG_VERSION").to_string(),
            seed,
            workload,
            ops,
            crashes,
            config,
            failure: None,
            device_time: None,
            flush_every: None,
        }
    }

    /// The same run on `device` (its small geometry, endurance, latencies
    /// and bit errors), aged as the seed says: each block 0 to 80% worn,
    /// 0 to a year unpowered at every power cut. No device: unchanged.
    pub fn with_device(mut self, device: Option<Device>) -> Case {
        let Some(device) = device else {
            return self;
        };
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xA6E0_0FDE_71CE);
        let store = self.config.store;
        let faults = self.config.faults;
        self.config = CheckConfig {
            store,
            faults,
            device_seed: self.seed,
            aging: Aging {
                wear: rng.random_range(0.0..0.8),
                days_per_power_cut: rng.random_range(0.0..365.0),
            },
            ..CheckConfig::on_device(device)
        };
        self.device_time = Some(DeviceTime {
            bake_days: rng.random_range(1..=60),
            every_steps: rng.random_range(50..=200),
        });
        self
    }

    /// The same run on `part`: its device, bad blocks and pairing. A part
    /// [`Part::check`] refuses cannot be built: panics.
    pub fn on_part(self, part: &Part) -> Case {
        let mut case = self
            .with_device(part.device)
            .with_bad_blocks(&part.bad_blocks);
        case.config = part
            .pairing_of(case.config)
            .expect("a part that Part::check accepts");
        case
    }

    /// The same run with `blocks` marked bad at manufacture too.
    pub fn with_bad_blocks(mut self, blocks: &[u32]) -> Case {
        self.config.bad_blocks.extend_from_slice(blocks);
        self
    }

    /// The workload's steps with the power cuts (and, on a part, the time
    /// passing) in place.
    pub fn steps(&self) -> Vec<Step> {
        let workload = generate(self.workload, self.seed, self.ops);
        let every = self.device_time.map(|t| t.every_steps.max(1) as usize);
        let mut crashes = self.crashes.iter().peekable();
        let mut steps = Vec::with_capacity(workload.len() + self.crashes.len() + 8);
        for (index, step) in workload.into_iter().enumerate() {
            while let Some(crash) = crashes.next_if(|c| c.step <= index) {
                steps.push(Step::CutPower {
                    after_ops: crash.after_ops,
                    mode: crash.mode,
                });
            }
            if let (Some(every), Some(time)) = (every, self.device_time) {
                if index > 0 && index % every == 0 {
                    steps.push(Step::Bake {
                        days: time.bake_days,
                    });
                    steps.push(Step::Scrub { pages: SCRUB_PAGES });
                }
            }
            steps.push(step);
            if let Some(every) = self.flush_every {
                if (index + 1).is_multiple_of(every.max(1) as usize) {
                    steps.push(Step::Flush);
                }
            }
        }
        steps.extend(crashes.map(|crash| Step::CutPower {
            after_ops: crash.after_ops,
            mode: crash.mode,
        }));
        steps
    }

    pub fn run(&self) -> Result<CheckReport, CheckFailure> {
        run(&self.config, &self.steps())
    }

    /// Reads a case file and checks it ([`Case::check`]): a case from
    /// another version that no longer reads says so.
    pub fn load(path: &Path) -> Result<Case, CaseError> {
        let io = |source| CaseError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() || meta.len() > CASE_BYTES_MAX {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "not a case file: a case is a regular file of at most {CASE_BYTES_MAX} bytes, this is {}",
                    if meta.is_file() { "larger" } else { "not a regular file (a FIFO, device or directory)" }
                ),
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let case: Case = serde_json::from_str(&text).map_err(|source| {
            let found = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("version").and_then(|v| v.as_str().map(String::from)));
            match found {
                Some(found) if found != env!("CARGO_PKG_VERSION") => CaseError::Version {
                    path: path.to_path_buf(),
                    found,
                    current: env!("CARGO_PKG_VERSION"),
                    source,
                },
                _ => CaseError::Json {
                    path: path.to_path_buf(),
                    source,
                },
            }
        })?;
        case.check().map_err(|reason| CaseError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(case)
    }

    /// Checks everything a run takes from the case before anything is
    /// allocated: the size, the crash points, the device and store
    /// configuration, the fault rates.
    pub fn check(&self) -> Result<(), String> {
        check_ops(self.ops).map_err(|e| e.replace("--ops", "ops"))?;
        if let Some(crash) = self.crashes.iter().find(|c| c.step > self.ops) {
            return Err(format!(
                "crash point at step {} is past the workload's {} steps",
                crash.step, self.ops
            ));
        }
        self.config.check()
    }

    /// Writes the case as pretty JSON into `folder`, named after its seed
    /// and schedule; returns the path.
    pub fn save(&self, folder: &Path, stem: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(folder)?;
        let path = folder.join(format!("{stem}.json"));
        let text = serde_json::to_string_pretty(self).expect("a case serializes");
        std::fs::write(&path, text + "\n")?;
        Ok(path)
    }
}

/// Saves each failing case into `folder`, named after the campaign
/// (`prefix`), workload, layout, seed and first crash step; returns, for
/// each, the command that replays it, or why it could not be saved.
pub fn save_failures(cases: &[Case], folder: &Path, prefix: &str) -> Vec<Result<String, String>> {
    cases
        .iter()
        .map(|case| {
            let step = case.crashes.first().map_or(0, |c| c.step);
            let layout = match case.config.store.layout {
                logstore::SlotLayoutKind::Full => "full",
                logstore::SlotLayoutKind::Compact => "compact",
            };
            let stem = format!(
                "{prefix}-{}-{layout}-seed{}-step{step}",
                case.workload.name(),
                case.seed
            );
            case.save(folder, &stem)
                .map(|path| replay_command(&path))
                .map_err(|e| format!("could not save the case to {}: {e}", folder.display()))
        })
        .collect()
}

/// The one command that replays a saved case.
pub fn replay_command(path: &Path) -> String {
    format!("cargo run --release -- replay {}", path.display())
}

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

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta} left)")
        .expect("valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// The part a campaign runs on: a preset (or an ideal device), blocks
/// marked bad at manufacture, and the pairing it declares and its cells
/// follow, when these differ from the preset's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Part {
    pub device: Option<Device>,
    pub bad_blocks: Vec<u32>,
    /// How the cells pair their pages (default: the preset's, or as
    /// declared).
    pub pairing_physical: Option<Pairing>,
    /// The pairing the part declares to the store (default: the preset's).
    pub declared_pairing: Option<Pairing>,
}

impl Part {
    /// The part on `device` with no bad blocks, pairing as it declares.
    pub fn on(device: Option<Device>) -> Part {
        Part {
            device,
            ..Part::default()
        }
    }

    /// The bad blocks lie on the device every run of a campaign builds;
    /// the pairing schemes fit its blocks.
    pub fn check(&self) -> Result<(), String> {
        let base = self
            .device
            .map_or_else(CheckConfig::default, CheckConfig::on_device);
        let base = self.pairing_of(base)?;
        let geometry = base.geometry;
        if let Some(block) = self.bad_blocks.iter().find(|&&b| b >= geometry.blocks) {
            return Err(format!(
                "--bad-blocks {block}: the device has blocks 0 to {}",
                geometry.blocks - 1
            ));
        }
        // The largest store a campaign's seeds build must fit what is left.
        let config = CheckConfig {
            bad_blocks: self.bad_blocks.clone(),
            ..base
        };
        config.check().map_err(|e| format!("--bad-blocks: {e}"))
    }

    /// `config` with the part's declared and physical pairing.
    pub fn pairing_of(&self, config: CheckConfig) -> Result<CheckConfig, String> {
        config.with_pairing(self.pairing_physical, self.declared_pairing)
    }
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
            let case = Case::from_seed(seed, ops, None, modes).on_part(part);
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

/// Figures of an exhaustive campaign.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ExhaustiveSummary {
    /// Depth 1: (mutating operation, mode) pairs crashed at.
    pub crash_points: u64,
    /// Depth 2: after each first cut, a second cut at each mutating
    /// operation of the recovery and the first flush that follow, in each
    /// mode.
    pub crash_points_depth2: u64,
    pub failures: u64,
    pub seconds: f64,
    /// All crash points (both depths) a second, over the whole campaign.
    pub crash_points_per_s: f64,
    /// Mutating flash operations of the workload without crashes.
    pub ops_mutating: u64,
    pub steps: u64,
    /// Incarnations the workload evicted (without crashes).
    pub evictions: u64,
    /// Pages that torn programs damaged through their pairing (paired
    /// parts, torn mode), over every branch at both depths: how often a
    /// cut struck an upper-page program over data written before.
    pub paired_pages_corrupted: u64,
    /// Crash points (both depths) at which that happened.
    pub crash_points_pairs_damaged: u64,
    #[serde(skip)]
    pub failed_cases: Vec<Case>,
}

/// The case an exhaustive campaign runs: `ops` steps of `workload` from
/// `seed`, no scheduled cuts or faults, the evicting configuration (or,
/// with `evict` off, the default one that answers `Full` past its
/// incarnations), on `layout`, on `part` (which [`Part::check`] must
/// accept: a part it refuses panics).
pub fn exhaustive_case(
    seed: u64,
    ops: usize,
    workload: WorkloadKind,
    layout: logstore::SlotLayoutKind,
    evict: bool,
    part: &Part,
) -> Case {
    let device = part.device;
    let mut case = Case::from_seed(seed, ops, Some(workload), &CrashMode::ALL);
    case.crashes.clear();
    let base = device.map_or_else(CheckConfig::default, CheckConfig::on_device);
    let store = if evict {
        CheckConfig::evicting().store
    } else {
        base.store
    };
    case.config = CheckConfig {
        store: logstore::StoreConfig { layout, ..store },
        device_seed: seed,
        // On a part: half worn, three months unpowered at every cut.
        aging: Aging {
            wear: if device.is_some() { 0.5 } else { 0.0 },
            days_per_power_cut: if device.is_some() { 90.0 } else { 0.0 },
        },
        bad_blocks: part.bad_blocks.clone(),
        ..base
    };
    case.config = part
        .pairing_of(case.config)
        .expect("a part that Part::check accepts");
    case
}

/// One branch of the exhaustive tree: the cuts it arms, relative to the
/// start of its step.
#[derive(Clone, Copy, Debug)]
struct Branch {
    first: (u64, CrashMode),
    second: Option<(u64, CrashMode)>,
}

impl Branch {
    /// Runs the branch from `snapshot`: the step with its cuts armed, then
    /// the final flush, reopen and digest check. Returns the device's
    /// mutating operations when the final flush had returned.
    ///
    /// Also returns the pages its cuts damaged through pairing.
    fn run(&self, snapshot: &Runner, step: &Step) -> (Result<u64, String>, u64) {
        let mut branch = snapshot.clone();
        branch.arm(self.first.0, self.first.1);
        if let Some((after, mode)) = self.second {
            branch.arm(after, mode);
        }
        let before = snapshot.flash().counters().paired_pages_corrupted;
        let outcome = branch
            .step(step)
            .and_then(|()| branch.finish(false))
            .map(|report| report.ops_at_final_flush);
        let damaged = branch.flash().counters().paired_pages_corrupted - before;
        (outcome, damaged)
    }

    fn failed_case(&self, case: &Case, at: At, message: String) -> Case {
        let point = |(after_ops, mode): (u64, CrashMode)| CrashPoint {
            step: at.workload,
            after_ops: (at.ops_before + after_ops) as u32,
            mode,
        };
        let mut failed = case.clone();
        failed.crashes = std::iter::once(point(self.first))
            .chain(self.second.map(point))
            .collect();
        failed.failure = Some(CheckFailure {
            step: at.workload,
            message,
            losses: Default::default(),
        });
        failed
    }
}

/// Where a branching step sits for replay: the workload step a cut armed
/// before it precedes, and the mutating operations the device-time steps
/// in between perform first.
#[derive(Clone, Copy, Debug)]
struct At {
    workload: usize,
    ops_before: u64,
}

/// Crashes the workload at every mutating flash operation, in each mode:
/// runs it once, snapshots the runner before each step, and for each
/// operation the step performs, branches from the snapshot with power cut
/// there, recovers, checks, then flushes, reopens and checks again. With
/// `depth` 2, each such branch branches again: a second cut at every
/// mutating operation of the recovery and final flush that follow the
/// first, in each mode.
pub fn exhaustive(
    case: &Case,
    modes: &[CrashMode],
    depth: u32,
    bar: &ProgressBar,
) -> ExhaustiveSummary {
    let start = Instant::now();
    let steps = case.steps();
    let mut summary = ExhaustiveSummary::default();
    let mut runner = match Runner::new(&case.config) {
        Ok(runner) => runner,
        Err(message) => return failed_at_start(case, message, start),
    };
    bar.set_length(steps.len() as u64);
    let ops_at_start = runner.flash().ops_mutating();
    // A failure is replayed by a cut armed before workload step `workload`:
    // device-time steps between there and the branching step shift its
    // operation count by `ops_in_group`.
    let (mut workload, mut ops_in_group) = (0usize, 0u64);
    // The runner as it was after the last step that reached flash, and the
    // quiet steps since (buffered in RAM, no flash operation): the state
    // before a step is the snapshot with those replayed. Cloning only at
    // steps that reach flash keeps a clone of the device off most steps.
    let mut snapshot = runner.clone();
    let mut quiet: Vec<&Step> = Vec::new();
    for step in &steps {
        bar.inc(1);
        if matches!(step, Step::CutPower { .. }) {
            continue;
        }
        let before = runner.flash().ops_mutating();
        let at = At {
            workload,
            ops_before: ops_in_group,
        };
        if let Err(message) = runner.step(step) {
            let branch = Branch {
                first: (0, modes[0]),
                second: None,
            };
            summary.failures += 1;
            let mut failed = branch.failed_case(case, at, message);
            failed.crashes.clear();
            summary.failed_cases.push(failed);
            break;
        }
        let after = runner.flash().ops_mutating();
        if after == before {
            quiet.push(step);
        } else {
            // Bounded: the quiet steps since the last snapshot.
            for replayed in quiet.drain(..) {
                snapshot
                    .step(replayed)
                    .expect("a step that passed replays the same from the same state");
            }
            explore_step(
                case,
                &snapshot,
                (at, step),
                after - before,
                modes,
                depth,
                &mut summary,
            );
            snapshot = runner.clone();
        }
        if step.is_workload() {
            (workload, ops_in_group) = (workload + 1, 0);
        } else {
            ops_in_group += after - before;
        }
    }
    bar.finish_and_clear();
    summary.ops_mutating = runner.flash().ops_mutating() - ops_at_start;
    summary.evictions = runner.report().evictions;
    summary.steps = steps.len() as u64;
    summary.seconds = start.elapsed().as_secs_f64();
    let points = summary.crash_points + summary.crash_points_depth2;
    summary.crash_points_per_s = points as f64 / summary.seconds.max(f64::MIN_POSITIVE);
    summary
}

/// The branches of one step: every first cut among its `ops` operations,
/// and with `depth` 2 every second cut after each.
fn explore_step(
    case: &Case,
    snapshot: &Runner,
    (at, step): (At, &Step),
    ops: u64,
    modes: &[CrashMode],
    depth: u32,
    summary: &mut ExhaustiveSummary,
) {
    let firsts: Vec<Branch> = (0..ops)
        .flat_map(|op| modes.iter().map(move |&mode| (op, mode)))
        .map(|first| Branch {
            first,
            second: None,
        })
        .collect();
    let outcomes: Vec<(Branch, Result<u64, String>, u64)> = firsts
        .par_iter()
        .map(|branch| {
            let (outcome, damaged) = branch.run(snapshot, step);
            (*branch, outcome, damaged)
        })
        .collect();
    summary.crash_points += outcomes.len() as u64;
    summary.note_pairs(outcomes.iter().map(|o| o.2));
    let start_ops = snapshot.flash().ops_mutating();
    let mut seconds = Vec::new();
    for (branch, outcome, _) in outcomes {
        match outcome {
            Err(message) => {
                summary.failures += 1;
                summary
                    .failed_cases
                    .push(branch.failed_case(case, at, message));
            }
            Ok(final_flush) if depth >= 2 => {
                // Operations after the first cut's (which took an index).
                let first_at = start_ops + branch.first.0;
                let recovery_ops = final_flush.saturating_sub(first_at + 1);
                seconds.extend((0..recovery_ops).flat_map(|j| {
                    modes.iter().map(move |&mode| Branch {
                        first: branch.first,
                        second: Some((branch.first.0 + 1 + j, mode)),
                    })
                }));
            }
            Ok(_) => {}
        }
    }
    let runs: Vec<(Option<Case>, u64)> = seconds
        .par_iter()
        .map(|branch| {
            let (outcome, damaged) = branch.run(snapshot, step);
            let failed = outcome
                .err()
                .map(|message| branch.failed_case(case, at, message));
            (failed, damaged)
        })
        .collect();
    summary.crash_points_depth2 += seconds.len() as u64;
    summary.note_pairs(runs.iter().map(|r| r.1));
    let failed: Vec<Case> = runs.into_iter().filter_map(|r| r.0).collect();
    summary.failures += failed.len() as u64;
    summary.failed_cases.extend(failed);
}

impl ExhaustiveSummary {
    /// Counts the pages each branch's cuts damaged through pairing.
    fn note_pairs(&mut self, damaged: impl Iterator<Item = u64>) {
        for pages in damaged {
            self.paired_pages_corrupted += pages;
            self.crash_points_pairs_damaged += u64::from(pages > 0);
        }
    }
}

fn failed_at_start(case: &Case, message: String, start: Instant) -> ExhaustiveSummary {
    let mut failed = case.clone();
    failed.failure = Some(CheckFailure {
        step: 0,
        message,
        losses: Default::default(),
    });
    ExhaustiveSummary {
        failures: 1,
        failed_cases: vec![failed],
        seconds: start.elapsed().as_secs_f64(),
        ..ExhaustiveSummary::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_replays_to_the_same_report() {
        let case = Case::from_seed(12, 800, None, &CrashMode::ALL);
        assert_eq!(case.run(), case.run());
        let dir = tempfile::tempdir().unwrap();
        let path = case.save(dir.path(), "case").unwrap();
        assert_eq!(Case::load(&path).unwrap(), case);
        assert!(Case::load(&dir.path().join("missing.json")).is_err());
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        assert!(matches!(
            Case::load(&dir.path().join("bad.json")),
            Err(CaseError::Json { .. })
        ));
    }

    #[test]
    fn shards_partition_the_seeds() {
        let all: Vec<u64> = (0..3).flat_map(|i| shard_seeds(10..40, i, 3)).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (10..40).collect::<Vec<_>>());
    }

    #[test]
    fn exhaustive_covers_every_operation_in_every_mode() {
        let case = Case {
            crashes: vec![],
            ..Case::from_seed(3, 150, Some(WorkloadKind::Uniform), &CrashMode::ALL)
        };
        let summary = exhaustive(&case, &CrashMode::ALL, 1, &ProgressBar::hidden());
        assert_eq!(
            summary.failures,
            0,
            "{:?}",
            summary.failed_cases.first().map(|c| &c.failure)
        );
        assert_eq!(summary.crash_points, summary.ops_mutating * 3);
        assert!(summary.ops_mutating > 10);
    }

    /// On paired parts a torn program damages pages written before; the
    /// index never loses a flushed entry to it.
    #[test]
    fn exhaustive_on_paired_parts_damages_pairs_and_loses_nothing() {
        for device in [Device::Mlc, Device::Tlc] {
            let part = Part::on(Some(device));
            let layout = logstore::SlotLayoutKind::Full;
            let case = exhaustive_case(1, 2_500, WorkloadKind::Uniform, layout, true, &part);
            let summary = exhaustive(&case, &[CrashMode::Torn], 1, &ProgressBar::hidden());
            let first = summary.failed_cases.first().map(|c| &c.failure);
            assert_eq!(summary.failures, 0, "{device:?}: {first:?}");
            assert!(
                summary.crash_points_pairs_damaged > 0,
                "{device:?}: {summary:?}"
            );
        }
    }

    #[test]
    fn exhaustive_crashes_inside_evictions_and_their_recoveries() {
        let mut case = Case::from_seed(9, 2_500, Some(WorkloadKind::Lifecycle), &CrashMode::ALL);
        case.crashes.clear();
        case.config = CheckConfig::evicting();
        case.config.store.incarnations_max = 2;
        let summary = exhaustive(&case, &[CrashMode::Torn], 2, &ProgressBar::hidden());
        let first = summary.failed_cases.first().map(|c| &c.failure);
        assert_eq!(summary.failures, 0, "{first:?}");
        assert!(summary.evictions >= 3, "{summary:?}");
        assert_eq!(summary.crash_points, summary.ops_mutating);
        assert!(
            summary.crash_points_depth2 > summary.crash_points,
            "{summary:?}"
        );
    }
}
