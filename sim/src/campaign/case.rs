//! [`Case`] files: one run, its device, store, workload and power cuts,
//! saved as JSON so `replay` runs it bit for bit; and the [`Part`] a
//! campaign runs on.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::check::workload::{generate, Step, WorkloadKind};
use crate::check::{run, Aging, CheckConfig, CheckFailure, CheckReport};
use crate::nand::{CrashMode, Device, FaultRates};
use logstore::Pairing;

/// A power cut inserted before step `step` of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrashPoint {
    pub step: usize,
    pub after_ops: u32,
    pub mode: CrashMode,
}

/// A program or erase made to fail (`BadBlock`, power on; or with `io` a
/// host I/O error) before step `step` of the workload: the `after_ops`-th
/// mutating operation from there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailPoint {
    pub step: usize,
    pub after_ops: u32,
    #[serde(default)]
    pub io: bool,
}

impl FailPoint {
    fn as_step(&self) -> Step {
        let after_ops = self.after_ops;
        if self.io {
            Step::IoError { after_ops }
        } else {
            Step::FailOp { after_ops }
        }
    }
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
    /// A reopen (the store dropped and the device opened again, power
    /// on) before every this many workload steps: the recoveries a clean
    /// restart runs, and the writes they make, meet the workload too.
    #[serde(default)]
    pub reopen_every: Option<u32>,
    /// Operations forced to fail, placed as crash points are (exhaustive
    /// `--fail-ops` saves its failing branches so).
    #[serde(default)]
    pub op_failures: Vec<FailPoint>,
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
            reopen_every: None,
            op_failures: Vec::new(),
        }
    }

    /// The same run with clean reopens drawn from its seed (a stream of
    /// its own, so nothing else the seed drew moves): one seed in four
    /// reopens every 25 to 400 workload steps.
    pub fn with_drawn_reopens(mut self) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x0E0E_2E0E_5EED);
        self.reopen_every = rng.random_ratio(1, 4).then(|| rng.random_range(25..=400));
        self
    }

    /// A quarter of the seeds also fail one or two operations on purpose,
    /// placed as crash points are: a program or erase failing (its block
    /// goes bad there) or, one in two, a host I/O error (the operation
    /// never reaches the cells). Drawn from a stream of its own, so every
    /// other draw of the seed stays as it was.
    pub fn with_drawn_failures(mut self) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xFA11_0B5E_ED00);
        if rng.random_ratio(1, 4) {
            let ops = self.ops;
            let drawn = (0..rng.random_range(1..=2)).map(|_| FailPoint {
                step: rng.random_range(0..ops),
                after_ops: rng.random_range(0..16),
                io: rng.random_bool(0.5),
            });
            self.op_failures.extend(drawn.collect::<Vec<_>>());
            self.op_failures.sort_by_key(|f| f.step);
        }
        self
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
        let mut failures_sorted = self.op_failures.clone();
        failures_sorted.sort_by_key(|f| f.step);
        let mut failures = failures_sorted.iter().peekable();
        let mut steps = Vec::with_capacity(workload.len() + self.crashes.len() + 8);
        for (index, step) in workload.into_iter().enumerate() {
            while let Some(crash) = crashes.next_if(|c| c.step <= index) {
                steps.push(Step::CutPower {
                    after_ops: crash.after_ops,
                    mode: crash.mode,
                });
            }
            while let Some(failure) = failures.next_if(|f| f.step <= index) {
                steps.push(failure.as_step());
            }
            if let (Some(every), Some(time)) = (every, self.device_time) {
                if index > 0 && index % every == 0 {
                    steps.push(Step::Bake {
                        days: time.bake_days,
                    });
                    steps.push(Step::Scrub { pages: SCRUB_PAGES });
                }
            }
            if let Some(every) = self.reopen_every {
                if index > 0 && index.is_multiple_of(every.max(1) as usize) {
                    steps.push(Step::Reopen);
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
        steps.extend(failures.map(FailPoint::as_step));
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
        if let Some(failure) = self.op_failures.iter().find(|f| f.step > self.ops) {
            return Err(format!(
                "failed operation at step {} is past the workload's {} steps",
                failure.step, self.ops
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
