//! The `logstore-sim` command line: simulations, crash campaigns, fill and
//! wear measurements, ingest of real files, and the report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use logstore::{Pairing, Policy, SlotLayoutKind};
use logstore_sim::campaign::{self, progress_bar, shard_seeds, Case};
use logstore_sim::fill::fill_stats;
use logstore_sim::ingest::{ingest, IngestConfig};
use logstore_sim::lookups::{incarnation_lookups, LookupsConfig};
use logstore_sim::nand::{pairing_by_name, WearOut};
use logstore_sim::report::{self, ReportSize};
use logstore_sim::swarm;
use logstore_sim::wear::{wear, WearConfig};
use logstore_sim::workload::WorkloadKind;
use logstore_sim::{CrashMode, Device};
use serde_json::json;

/// Deterministic simulation and fuzzing harness for a flash-resident
/// deduplication index (a cuckoo-hash log store, its journal, and hash
/// store incarnations) on a simulated NAND device.
///
/// Every run is fixed by its seeds: the same command prints the same
/// figures (timings aside) and, on failure, the one command that replays
/// it. Every command takes --json for one JSON object of its figures.
#[derive(Parser)]
#[command(name = "logstore-sim", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the campaigns and write reports/README.md with SVG plots.
    ///
    /// Default size takes about five minutes and 3 GB on 2 cores; --quick takes
    /// seconds, --full much longer. Figures other than timings are
    /// deterministic.
    Report {
        /// Smaller campaigns, for a quick look or CI.
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Larger campaigns.
        #[arg(long)]
        full: bool,
        /// Folder the report is written to.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run: a seeded workload with power cuts (1 to 4, at seeded
    /// points), every recovery checked against the model.
    ///
    /// Example: `logstore-sim run --seed 7 --ops 5000 --workload churn --crash-mode torn`
    Run {
        /// Seed of the workload, the crash points, the device and the table.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Steps of the workload.
        #[arg(long, default_value_t = 2_000)]
        ops: usize,
        /// Workload kind (default: chosen by the seed).
        #[arg(long, value_enum)]
        workload: Option<WorkloadKind>,
        /// Crash mode of the power cuts (default: chosen per cut by the seed).
        #[arg(long, value_enum)]
        crash_mode: Option<ModeArg>,
        /// Slot layout of the log store (default: chosen by the seed).
        #[arg(long, value_enum)]
        layout: Option<LayoutArg>,
        #[command(flatten)]
        part: PartArgs,
        #[command(flatten)]
        pairing: PairingArgs,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Many seeds, each a run with random workload, crash points, modes and
    /// faults, in parallel. Failures are saved as case files.
    ///
    /// Example: `logstore-sim sweep --seeds 0..10000 --ops 1000 --shard 1/4`
    ///
    /// With `--swarm` each seed also draws its own configuration (Groce et
    /// al., ISSTA 2012): device and geometry within the part's range,
    /// factory-bad blocks (0-5%, block 0 included), grown-bad rates,
    /// pairing declared and physical, aging; table shape, layout, policy,
    /// journal, incarnations, eviction; workload, flush cadence, crash
    /// modes. Configurations `create` refuses are counted, not run.
    ///
    /// Example: `logstore-sim sweep --swarm --seeds 0..2000 --json`
    Sweep {
        /// Seeds to run, as A..B (B excluded).
        #[arg(long, value_parser = parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Each seed draws its own device, store and workload (the part
        /// and pairing options are then not taken).
        #[arg(long)]
        swarm: bool,
        /// Steps of each run's workload.
        #[arg(long, default_value_t = 1_000)]
        ops: usize,
        /// Worker threads, at most one a core (default: one per core).
        #[arg(long, value_parser = parse_jobs)]
        jobs: Option<usize>,
        /// Run only shard I of N (seeds whose remainder mod N is I), e.g. 0/4.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        #[command(flatten)]
        part: PartArgs,
        #[command(flatten)]
        pairing: PairingArgs,
        /// Folder failing cases are saved to.
        #[arg(long, default_value = "corpus/regressions")]
        cases: PathBuf,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Crash at every mutating flash operation of one workload, in each
    /// mode, branching from snapshots; every branch recovers and is checked.
    ///
    /// Example: `logstore-sim exhaustive --ops 10000 --mode drop --depth 2 --jobs 1`
    Exhaustive {
        /// Steps of the workload; every flash operation they cause is a crash point.
        #[arg(long, default_value_t = 1_000)]
        ops: usize,
        /// Crash mode, or all three.
        #[arg(long, value_enum, default_value_t = ModeArg::All)]
        mode: ModeArg,
        #[arg(long, value_enum, default_value_t = WorkloadKind::Uniform)]
        workload: WorkloadKind,
        /// Slot layout of the log store.
        #[arg(long, value_enum, default_value_t = LayoutArg::Full)]
        layout: LayoutArg,
        /// Seed of the workload and the device.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// 1: a cut at every operation. 2: also, after each, a second cut at
        /// every operation of the recovery and the first flush that follow.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
        depth: u32,
        /// Keep up to 32 incarnations and answer Full past them, instead of
        /// keeping 8 and evicting the oldest (which lets a workload of any
        /// length keep freezing).
        #[arg(long)]
        no_evict: bool,
        /// Worker threads, at most one a core (default: one per core).
        #[arg(long, value_parser = parse_jobs)]
        jobs: Option<usize>,
        #[command(flatten)]
        part: PartArgs,
        #[command(flatten)]
        pairing: PairingArgs,
        /// Folder failing cases are saved to.
        #[arg(long, default_value = "corpus/regressions")]
        cases: PathBuf,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replay one saved case file and say whether it still fails.
    Replay {
        /// A case file written by a failing run, sweep or exhaustive campaign.
        case: PathBuf,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Fill of a cuckoo table at the first failed insert of random hashes.
    ///
    /// Example: `logstore-sim fill --bucket 4 --order 16 --policy bfs --max-kicks 6 --seeds 10`
    Fill {
        /// Slots per bucket: 2, 4 or 8.
        #[arg(long, default_value_t = 4)]
        bucket: usize,
        /// 2^order buckets.
        #[arg(long, default_value_t = 14)]
        order: u32,
        #[arg(long, value_enum, default_value_t = PolicyArg::RandomWalk)]
        policy: PolicyArg,
        /// Kick bound of the random walk and fixed victim; depth of BFS.
        #[arg(long, default_value_t = 128)]
        max_kicks: u32,
        /// Tables filled, one per seed 0..N (at most ten million).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=SEEDS_MAX))]
        seeds: u64,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Wear: a long ingest on a device of limited endurance; erase counts,
    /// write amplification, worn blocks, simulated device time.
    Wear {
        /// Inserts of new hashes.
        #[arg(long, default_value_t = 200_000)]
        ops: u64,
        /// Go on until the store goes read-only (the device worn out), then
        /// audit: `endurance_used`, `lost_flushed`, `bad_blocks_retired`.
        #[arg(long)]
        until_end_of_life: bool,
        /// P/E cycles a block endures. Default: the part's with --device,
        /// else 3,000.
        #[arg(long)]
        endurance: Option<u32>,
        #[command(flatten)]
        part: PartArgs,
        /// What a block past its endurance does.
        #[arg(long, value_enum, default_value = "erase-fails")]
        wear_out: WearOutArg,
        /// Flush after this many inserts.
        #[arg(long, default_value_t = 16)]
        flush_every: u32,
        /// Seed of the device and the infos stored.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Each seed of `--seeds` draws its own device, geometry, bad
        /// blocks, store, endurance (20-200 cycles) and flush cadence, and
        /// runs; with `--until-end-of-life` any end of life below 0.9 of
        /// endurance over usable blocks fails (unless too few blocks are
        /// usable, said in the JSON). The part options are then not taken.
        ///
        /// Example: `logstore-sim wear --swarm --until-end-of-life --seeds 0..50 --json`
        #[arg(long, requires = "seeds")]
        swarm: bool,
        /// Seeds of a swarm, as A..B (B excluded).
        #[arg(long, value_parser = parse_seeds, requires = "swarm")]
        seeds: Option<std::ops::Range<u64>>,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    Corrupt(CorruptArgs),
    /// Lookups across frozen incarnations: page reads a hit and a miss,
    /// RAM an entry, speed, with each incarnation's filter and without.
    ///
    /// Builds one store on the part, freezing until it holds N
    /// incarnations, then probes hits (uniform over the frozen keys) and
    /// misses, every answer checked. About 45 seconds and 70 MB at 32
    /// incarnations of order 12 (the default).
    ///
    /// Example: `logstore-sim lookups --incarnations 32 --device mlc --json`
    Lookups {
        /// Incarnations frozen before probing.
        #[arg(long, default_value_t = 32)]
        incarnations: u32,
        /// The part (geometry, ECC, bit errors, read latency).
        #[arg(long, value_enum, default_value_t = Device::Mlc)]
        device: Device,
        /// The log store's order: 2^order buckets of 4 slots, each
        /// incarnation one such table frozen (4 to 20). The filters take
        /// two bytes a slot at any order; larger orders take longer.
        #[arg(long, default_value_t = 12)]
        order: u32,
        /// Lookups probed, half hits, half misses.
        #[arg(long, default_value_t = 40_000)]
        probes: u64,
        /// Seed of the device and the probes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ingest real files: clusters hashed with SHA-256, looked up, inserted
    /// on a miss. Directories are walked; unreadable paths are reported.
    Ingest {
        /// Files and directories to ingest (directories are walked, links not followed).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Bytes a cluster; the last cluster of a file may be shorter.
        #[arg(long, default_value_t = 4096)]
        cluster_bytes: usize,
        #[command(flatten)]
        store: IngestStoreArgs,
        #[command(flatten)]
        part: PartArgs,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Largest table `fill` builds: 2^24 buckets of 8 full slots take 7.5 GiB.
const FILL_ORDER_MAX: u32 = 24;

/// Largest log store `ingest` builds: 2^20 buckets of 4 slots, 160 MiB.
const INGEST_ORDER_MAX: u32 = 20;

/// Largest cluster `ingest` reads at once.
const CLUSTER_BYTES_MAX: usize = 16 << 20;

/// The size of the store `ingest` fills: small enough, a real tree
/// freezes and evicts.
#[derive(clap::Args, Clone, Copy, Debug)]
struct IngestStoreArgs {
    /// The log store holds 2^order buckets of 4 slots (14: 65,536 slots);
    /// it freezes into an incarnation when full.
    #[arg(long, default_value_t = 14)]
    order: u32,
    /// Most incarnations kept; past it a freeze stops the ingest, or with
    /// --evict-oldest drops the oldest (its clusters are then missed).
    #[arg(long, default_value_t = 24)]
    incarnations_max: u32,
    /// Drop the oldest incarnation when a freeze would pass the limit.
    #[arg(long)]
    evict_oldest: bool,
}

/// The simulated part a command runs on.
#[derive(clap::Args, Clone, Debug, Default)]
struct PartArgs {
    /// A simulated part: its geometry or its small geometry (512-byte pages
    /// of the same technology, for campaigns), ECC, endurance (spread
    /// between blocks), latencies, raw bit errors and factory-bad blocks.
    /// Campaigns age it as the seed says. Default: an ideal device that
    /// never flips a bit.
    #[arg(long, value_enum)]
    device: Option<Device>,
    /// Blocks marked bad at manufacture, e.g. `0,1`, besides those the
    /// part's own factory marks give.
    #[arg(long, value_delimiter = ',')]
    bad_blocks: Vec<u32>,
}

/// A part that declares one pairing scheme while its cells follow
/// another. Schemes: none, dist3 (Linux's, the mlc preset's), dist5 (a
/// wider distance), mlc-lead1 to mlc-lead8, tlc (the tlc preset's), tlc2 (a
/// second TLC order). Recorded in saved cases, so `replay` runs the same.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
struct PairingArgs {
    /// How the cells really pair their pages: torn programs damage pages
    /// as this scheme pairs them. Default: the part's own (or as declared).
    #[arg(long, value_parser = pairing_by_name)]
    pairing_physical: Option<Pairing>,
    /// The pairing the part declares to the store. Default: the part's own.
    #[arg(long, value_parser = pairing_by_name)]
    declared_pairing: Option<Pairing>,
}

impl PairingArgs {
    /// The campaign part: `part`'s device and bad blocks, these schemes;
    /// checked.
    fn part(self, part: &PartArgs) -> Result<campaign::Part, String> {
        let on = campaign::Part {
            device: part.device,
            bad_blocks: part.bad_blocks.clone(),
            pairing_physical: self.pairing_physical,
            declared_pairing: self.declared_pairing,
        };
        on.check()?;
        Ok(on)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum WearOutArg {
    /// Erasing a worn block fails (the block is retired).
    EraseFails,
    /// Programming a worn block fails.
    ProgramFails,
    /// A worn block takes programs and erases and keeps nothing.
    Silent,
}

impl WearOutArg {
    fn wear_out(self) -> WearOut {
        match self {
            WearOutArg::EraseFails => WearOut::EraseFails,
            WearOutArg::ProgramFails => WearOut::ProgramFails,
            WearOutArg::Silent => WearOut::SilentNoop,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Drop,
    Reorder,
    Torn,
    All,
}

impl ModeArg {
    fn modes(self) -> Vec<CrashMode> {
        match self {
            ModeArg::Drop => vec![CrashMode::DropUnsynced],
            ModeArg::Reorder => vec![CrashMode::Reorder],
            ModeArg::Torn => vec![CrashMode::Torn],
            ModeArg::All => CrashMode::ALL.to_vec(),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    /// Whole hashes and values in RAM.
    Full,
    /// Tags and journal positions in RAM (SILT-style), 5 bytes a slot.
    Compact,
}

impl LayoutArg {
    fn kind(self) -> SlotLayoutKind {
        match self {
            LayoutArg::Full => SlotLayoutKind::Full,
            LayoutArg::Compact => SlotLayoutKind::Compact,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum PolicyArg {
    RandomWalk,
    Bfs,
    Fixed,
}

fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {text:?}"))?;
    let a: u64 = a.trim().parse().map_err(|e| format!("start {a:?}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("end {b:?}: {e}"))?;
    if a >= b {
        return Err(format!("empty range {a}..{b}: the end is excluded"));
    }
    if b - a > SEEDS_MAX {
        return Err(format!(
            "{} seeds: at most {SEEDS_MAX} a command (split the range, or use --shard)",
            b - a
        ));
    }
    Ok(a..b)
}

/// Most seeds one command runs (a range, or `fill --seeds`): ten million
/// seeds is a day of sweeping on one core.
const SEEDS_MAX: u64 = 10_000_000;

/// `--jobs`: at least one worker, at most one a core of this machine.
fn parse_jobs(text: &str) -> Result<usize, String> {
    let jobs: usize = text.trim().parse().map_err(|e| format!("{text:?}: {e}"))?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if jobs == 0 || jobs > cores {
        return Err(format!(
            "{jobs} workers: between 1 and this machine's {cores} cores"
        ));
    }
    Ok(jobs)
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("expected I/N, got {text:?}"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|e| format!("shard index {i:?}: {e}"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|e| format!("shard count {n:?}: {e}"))?;
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// Prints `figures` as one JSON object, or as an aligned table. A closed
/// stdout (`| head`) ends the printing quietly; any other write error
/// (`> /dev/full`) is an error, so no figure is lost unsaid.
fn emit(json: bool, figures: &serde_json::Value) -> Result<(), String> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let mut lines = Vec::new();
    if json {
        lines.push(figures.to_string());
    } else if let Some(map) = figures.as_object() {
        for (key, value) in map {
            let text = match value {
                serde_json::Value::Number(n) if n.is_f64() => {
                    format!("{:.4}", n.as_f64().unwrap_or(0.0))
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(format!("{key:<22} {text}"));
        }
    }
    let written = lines
        .iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("writing to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Saves failing cases and prints, for each, what failed and the command
/// that replays it.
fn save_failures(cases: &[Case], folder: &Path, prefix: &str) -> Vec<String> {
    let saved = campaign::save_failures(cases, folder, prefix);
    cases
        .iter()
        .zip(saved)
        .map(|(case, saved)| {
            let replay = saved.unwrap_or_else(|why| why);
            let failure = case
                .failure
                .as_ref()
                .map_or(String::new(), |f| f.to_string());
            eprintln!("FAILED ({failure})\n  replay: {replay}");
            replay
        })
        .collect()
}

struct RunArgs {
    seed: u64,
    ops: usize,
    workload: Option<WorkloadKind>,
    mode: Option<ModeArg>,
    layout: Option<LayoutArg>,
    part: PartArgs,
    pairing: PairingArgs,
}

fn cmd_run(args: RunArgs, json: bool) -> Result<bool, String> {
    let RunArgs {
        seed,
        ops,
        workload,
        mode,
        layout,
        part,
        pairing,
    } = args;
    campaign::check_ops(ops)?;
    let modes = mode.map_or(CrashMode::ALL.to_vec(), ModeArg::modes);
    let on = pairing.part(&part)?;
    let mut case = Case::from_seed(seed, ops, workload, &modes).on_part(&on);
    case.config.check()?;
    if let Some(layout) = layout {
        case.config.store.layout = layout.kind();
    }
    let outcome = case.run();
    let mut figures = json!({
        "seed": seed, "workload": case.workload.name(), "ops": ops,
        "crash_points": case.crashes.len(),
    });
    let ok = match outcome {
        Ok(report) => {
            figures["result"] = json!(serde_json::to_value(report).map_err(|e| e.to_string())?);
            true
        }
        Err(failure) => {
            let mut failed = case.clone();
            failed.failure = Some(failure.clone());
            figures["failure"] = json!(failure.to_string());
            figures["replay"] = json!(save_failures(
                &[failed],
                Path::new("corpus/regressions"),
                "run"
            ));
            false
        }
    };
    emit(json, &figures)?;
    Ok(ok)
}

fn cmd_sweep(
    seeds: std::ops::Range<u64>,
    ops: usize,
    (jobs, shard, part): (Option<usize>, Option<(u64, u64)>, campaign::Part),
    folder: &Path,
    json: bool,
) -> Result<bool, String> {
    campaign::check_ops(ops)?;
    let (index, count) = shard.unwrap_or((0, 1));
    let chosen = shard_seeds(seeds, index, count);
    let bar = progress_bar(chosen.len() as u64, "sweep");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .map_err(|e| e.to_string())?;
    let summary = pool.install(|| campaign::sweep(&chosen, ops, &CrashMode::ALL, &part, &bar));
    let replays = save_failures(&summary.failed_cases, folder, "sweep");
    let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    figures["replay"] = json!(replays);
    emit(json, &figures)?;
    Ok(summary.failures == 0)
}

/// A swarm draws the part: options naming one are refused, not ignored.
fn no_part_with_swarm(part: &PartArgs, pairing: &PairingArgs) -> Result<(), String> {
    let named = part.device.is_some()
        || !part.bad_blocks.is_empty()
        || pairing.pairing_physical.is_some()
        || pairing.declared_pairing.is_some();
    if named {
        return Err(
            "--swarm draws the device, bad blocks and pairing per seed: \
                    --device, --bad-blocks and the pairing options are not taken with it"
                .into(),
        );
    }
    Ok(())
}

fn cmd_sweep_swarm(
    seeds: std::ops::Range<u64>,
    ops: usize,
    (jobs, shard): (Option<usize>, Option<(u64, u64)>),
    folder: &Path,
    json: bool,
) -> Result<bool, String> {
    campaign::check_ops(ops)?;
    let (index, count) = shard.unwrap_or((0, 1));
    let chosen = shard_seeds(seeds, index, count);
    let bar = progress_bar(chosen.len() as u64, "swarm");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .map_err(|e| e.to_string())?;
    let summary = pool.install(|| swarm::swarm_sweep(&chosen, ops, &bar));
    let replays = save_failures(&summary.sweep.failed_cases, folder, "swarm");
    let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    figures["replay"] = json!(replays);
    emit(json, &figures)?;
    Ok(summary.sweep.failures == 0)
}

fn cmd_wear_swarm(
    seeds: std::ops::Range<u64>,
    ops: u64,
    until_end_of_life: bool,
    json: bool,
) -> Result<bool, String> {
    let chosen: Vec<u64> = seeds.collect();
    if chosen.is_empty() {
        return Err("--seeds: an empty range".into());
    }
    let bar = progress_bar(chosen.len() as u64, "wear swarm");
    let summary = swarm::swarm_wear_campaign(&chosen, ops, until_end_of_life, &|| bar.inc(1));
    bar.finish_and_clear();
    let figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    emit(json, &figures)?;
    if !json {
        for run in summary.runs_detail.iter().filter(|r| r.failure.is_some()) {
            eprintln!(
                "seed {} failed: {}\n  replay: logstore-sim wear --swarm --seeds {}..{}{} --ops {ops}",
                run.seed,
                run.failure.as_deref().unwrap_or(""),
                run.seed,
                run.seed + 1,
                if until_end_of_life { " --until-end-of-life" } else { "" },
            );
        }
    }
    Ok(summary.failures == 0)
}

struct ExhaustiveArgs {
    ops: usize,
    mode: ModeArg,
    workload: WorkloadKind,
    layout: LayoutArg,
    seed: u64,
    depth: u32,
    no_evict: bool,
    jobs: Option<usize>,
    part: campaign::Part,
}

fn cmd_exhaustive(args: ExhaustiveArgs, folder: &Path, json: bool) -> Result<bool, String> {
    campaign::check_ops(args.ops)?;
    let case = campaign::exhaustive_case(
        args.seed,
        args.ops,
        args.workload,
        args.layout.kind(),
        !args.no_evict,
        &args.part,
    );
    case.config.check()?;
    let bar = progress_bar(args.ops as u64, "exhaustive");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| e.to_string())?;
    let modes = args.mode.modes();
    let summary = pool.install(|| campaign::exhaustive(&case, &modes, args.depth, &bar));
    let replays = save_failures(&summary.failed_cases, folder, "exhaustive");
    let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    figures["replay"] = json!(replays);
    emit(json, &figures)?;
    Ok(summary.failures == 0)
}

fn cmd_replay(path: &Path, json: bool) -> Result<bool, String> {
    let case = Case::load(path).map_err(|e| e.to_string())?;
    let outcome = case.run();
    let mut figures = json!({
        "case": path.display().to_string(), "seed": case.seed,
        "workload": case.workload.name(), "ops": case.ops,
        "saved_by_version": case.version,
        "failed_when_saved": case.failure.as_ref().map(|f| f.to_string()),
    });
    let ok = match outcome {
        Ok(report) => {
            figures["result"] = serde_json::to_value(report).map_err(|e| e.to_string())?;
            true
        }
        Err(failure) => {
            figures["failure"] = json!(failure.to_string());
            false
        }
    };
    emit(json, &figures)?;
    Ok(ok)
}

fn cmd_fill(
    bucket: usize,
    order: u32,
    policy: PolicyArg,
    max_kicks: u32,
    seeds: u64,
    json: bool,
) -> Result<bool, String> {
    if order > FILL_ORDER_MAX {
        return Err(format!(
            "--order {order} is above {FILL_ORDER_MAX}: a table of 2^{order} buckets does not fit in memory here"
        ));
    }
    let policy = match policy {
        PolicyArg::RandomWalk => Policy::RandomWalk {
            max_kicks,
            retries: 10,
        },
        PolicyArg::Bfs => Policy::Bfs {
            max_depth: max_kicks,
        },
        PolicyArg::Fixed => Policy::FixedVictim { max_kicks },
    };
    let stats = fill_stats(order, bucket, policy, seeds)?;
    let figures = json!({
        "bucket": bucket, "order": order, "policy": format!("{policy:?}"), "seeds": seeds,
        "mean": stats.mean, "min": stats.min, "max": stats.max,
        "theoretical_limit": logstore_sim::fill::fill_limit(bucket),
    });
    emit(json, &figures)?;
    Ok(true)
}

struct WearArgs {
    ops: u64,
    until_end_of_life: bool,
    endurance: Option<u32>,
    part: PartArgs,
    wear_out: WearOutArg,
    flush_every: u32,
    seed: u64,
}

fn cmd_wear(args: WearArgs, json: bool) -> Result<bool, String> {
    let endurance = args
        .endurance
        .or(args.part.device.map(|d| d.part().endurance_cycles))
        .unwrap_or(3_000);
    if endurance == 0 {
        return Err("--endurance 0: a block endures at least one P/E cycle".into());
    }
    let mut config = WearConfig::new(args.ops, endurance, args.flush_every);
    if let Some(device) = args.part.device {
        config = config.on_device(device);
    }
    config.seed = args.seed;
    config.wear_out = args.wear_out.wear_out();
    config.until_end_of_life = args.until_end_of_life;
    config.bad_blocks = args.part.bad_blocks;
    let bar = if config.until_end_of_life {
        progress_bar(1_000, "endurance ‰")
    } else {
        progress_bar(args.ops, "wear")
    };
    let report = wear(&config, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    let figures = json!({
        "ops": report.ops_done, "erase_max": report.erase_max, "erase_mean": report.erase_mean,
        "erase_min": report.erase_min, "write_amplification": report.write_amplification,
        "bad_blocks": report.bad_blocks, "device_seconds": report.device_seconds,
        "erases": report.erases, "bytes_programmed": report.bytes_programmed,
        "reopens": report.reopens, "bits_corrected": report.bits_corrected,
        "pages_uncorrectable": report.pages_uncorrectable, "scrubs": report.scrubs,
        "lost_flushed": report.lost_flushed, "stale": report.stale,
        "resurrected": report.resurrected, "audit_failed": report.audit_failed,
        "stopped": report.stopped, "broken": report.broken,
        "read_only_at": report.read_only_at, "endurance_used": report.endurance_used,
        "bad_blocks_retired": report.bad_blocks_retired,
        "erases_per_reopen_max": report.erases_per_reopen_max,
        "erase_count_drift_max": report.erase_count_drift_max,
        "usable_blocks": report.usable_blocks, "usable_erase_min": report.usable_erase_min,
        "usable_erase_max": report.usable_erase_max,
        "usable_erase_stddev": report.usable_erase_stddev,
    });
    emit(json, &figures)?;
    Ok(report.audit_failed.is_none() && report.broken.is_none())
}

/// Most incarnations `lookups` builds.
const LOOKUPS_INCARNATIONS_MAX: u32 = 64;

/// Faults placed on purpose (CORDS-style): after each of `--flushes`
/// flushes, every programmed page in turn read back past the ECC, erased,
/// holding its stale or another page's bytes; then every pair of the
/// anchor's, the journal's last and the filters' pages; then a power cut
/// at every operation of the recovery. Each placement is kept, named or
/// silent (or the store lost); silent or lost fails the run (exit 1).
///
/// Example: `logstore-sim corrupt --device mlc --json`
#[derive(clap::Args, Debug)]
struct CorruptArgs {
    /// The part (geometry, ECC, bit errors); none: the ideal device.
    #[arg(long, value_enum)]
    device: Option<Device>,
    /// Seed of the workload and the device.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Quiescent points: flushes of the workload, each followed by every
    /// placement (1 to 1,000).
    #[arg(long, default_value_t = 20)]
    flushes: u32,
    /// Operations between two flushes, at most (drawn from 1).
    #[arg(long, default_value_t = 48)]
    ops_per_flush: u32,
    /// Skip the pairs of critical pages.
    #[arg(long)]
    no_pairs: bool,
    /// Skip the power cuts in the recovery after a placed fault.
    #[arg(long)]
    no_recovery_cuts: bool,
    /// Each seed of `--seeds` draws its own device, geometry, bad blocks,
    /// pairing and store, as `sweep --swarm` does (eviction off), and the
    /// campaign runs on each (`--device` and `--seed` are then not taken).
    ///
    /// Example: `logstore-sim corrupt --swarm --seeds 0..20 --flushes 5 --json`
    #[arg(long, requires = "seeds")]
    swarm: bool,
    /// Seeds of a swarm, as A..B (B excluded).
    #[arg(long, value_parser = parse_seeds, requires = "swarm")]
    seeds: Option<std::ops::Range<u64>>,
    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn cmd_corrupt(args: &CorruptArgs) -> Result<bool, String> {
    use logstore_sim::corrupt::{corrupt, CorruptPlan, FLUSHES_MAX};
    if args.flushes == 0 || args.flushes > FLUSHES_MAX || args.ops_per_flush == 0 {
        return Err(format!(
            "--flushes {} and --ops-per-flush {}: 1 to {FLUSHES_MAX} flushes, at least one operation",
            args.flushes, args.ops_per_flush
        ));
    }
    if let Some(seeds) = args.seeds.clone() {
        if args.device.is_some() {
            return Err("--swarm draws the device per seed: --device is not taken with it".into());
        }
        return cmd_corrupt_swarm(args, seeds);
    }
    let plan = CorruptPlan {
        flushes: args.flushes,
        ops_per_flush_max: args.ops_per_flush,
        singles: true,
        pairs: !args.no_pairs,
        recovery_cuts: !args.no_recovery_cuts,
        ..CorruptPlan::new(args.device, args.seed)
    };
    let bar = progress_bar(u64::from(plan.flushes), "quiescent points");
    let summary = corrupt(&plan, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "corrupt: {} points, {} placements: {} kept, {} named, {} silent, {} store lost",
            summary.points,
            summary.placements,
            summary.kept,
            summary.named,
            summary.silent,
            summary.store_lost
        );
        println!(
            "  singles {:?}\n  pairs {:?}\n  journal pairs (two witnesses of a flush; no guarantee) {:?}\n  recovery cuts {:?} ({} inside the salvage)\n  salvage wrong answers {}",
            summary.singles, summary.pairs, summary.journal_pairs, summary.recovery_cuts,
            summary.salvage_cuts, summary.salvage_wrong
        );
    }
    for failure in &summary.failures {
        eprintln!("{failure}");
    }
    Ok(!summary.failed())
}

/// `corrupt` on each seed's swarm draw: refused draws counted, the rest
/// run in parallel; silent or lost placements fail the run.
fn cmd_corrupt_swarm(args: &CorruptArgs, seeds: std::ops::Range<u64>) -> Result<bool, String> {
    use logstore_sim::corrupt::{corrupt, CorruptPlan};
    use rayon::prelude::*;
    let chosen: Vec<u64> = seeds.collect();
    let bar = progress_bar(chosen.len() as u64, "corrupt swarm");
    let mut refused = std::collections::BTreeMap::<String, u64>::new();
    let mut plans = Vec::new();
    for &seed in &chosen {
        match CorruptPlan::swarm(seed) {
            Ok(plan) => plans.push(CorruptPlan {
                flushes: args.flushes,
                ops_per_flush_max: args.ops_per_flush,
                pairs: !args.no_pairs,
                recovery_cuts: !args.no_recovery_cuts,
                ..plan
            }),
            Err(reason) => {
                *refused.entry(reason).or_default() += 1;
                bar.inc(1);
            }
        }
    }
    let runs: Vec<_> = plans
        .par_iter()
        .map(|plan| {
            let summary = corrupt(plan, &|_| {});
            bar.inc(1);
            (plan.seed, summary)
        })
        .collect();
    bar.finish_and_clear();
    let (mut placements, mut silent, mut store_lost, mut failures) = (0, 0, 0, Vec::new());
    let mut rows = Vec::new();
    for (seed, summary) in runs {
        let summary = summary?;
        placements += summary.placements;
        silent += summary.silent + summary.salvage_wrong;
        store_lost += summary.store_lost;
        for failure in &summary.failures {
            failures.push(format!("seed {seed}: {failure}"));
        }
        rows.push(json!({ "seed": seed, "summary": summary }));
    }
    let figures = json!({
        "drawn": chosen.len(), "refused": refused.values().sum::<u64>(),
        "refused_by_reason": refused, "runs": rows.len(), "placements": placements,
        "silent": silent, "store_lost": store_lost, "runs_detail": rows,
    });
    if args.json {
        println!("{figures}");
    } else {
        println!(
            "corrupt swarm: {} drawn, {} refused, {} runs, {placements} placements: {silent} silent, {store_lost} store lost",
            chosen.len(),
            figures["refused"],
            figures["runs"]
        );
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    Ok(silent == 0 && store_lost == 0)
}

fn cmd_lookups(config: &LookupsConfig, incarnations: u32, json: bool) -> Result<bool, String> {
    if incarnations > LOOKUPS_INCARNATIONS_MAX {
        return Err(format!(
            "--incarnations {incarnations}: at most {LOOKUPS_INCARNATIONS_MAX}"
        ));
    }
    if !(4..=20).contains(&config.order) {
        return Err(format!("--order {}: 4 to 20", config.order));
    }
    if config.probes < 2 || config.probes > 100_000_000 {
        return Err(format!("--probes {}: 2 to 100,000,000", config.probes));
    }
    let bar = progress_bar(u64::from(incarnations), "incarnations");
    let points = incarnation_lookups(config, &[incarnations], &|done| {
        bar.set_position(u64::from(done))
    })?;
    bar.finish_and_clear();
    let [on, off] = &points[0];
    let figures = json!({
        "device": config.device.name(), "order": config.order,
        "incarnations": on.incarnations, "frozen_entries": on.frozen_entries,
        "log_entries": on.log_entries, "probes": on.probes,
        "reads_per_miss": on.reads_per_miss, "reads_per_hit": on.reads_per_hit,
        "reads_per_hit_worst": on.reads_per_hit_worst,
        "ram_bytes_per_entry": on.ram_bytes_per_entry,
        "ram_bytes_per_frozen_entry": on.ram_bytes_per_frozen_entry,
        "lookups_per_s": on.lookups_per_s, "device_us_per_lookup": on.device_us_per_lookup,
        "unfiltered_reads_per_miss": off.reads_per_miss,
        "unfiltered_reads_per_hit": off.reads_per_hit,
        "unfiltered_lookups_per_s": off.lookups_per_s,
        "unfiltered_device_us_per_lookup": off.device_us_per_lookup,
    });
    emit(json, &figures)?;
    Ok(true)
}

fn cmd_ingest(
    paths: &[PathBuf],
    cluster_bytes: usize,
    store: IngestStoreArgs,
    part: PartArgs,
    json: bool,
) -> Result<bool, String> {
    if !(1..=CLUSTER_BYTES_MAX).contains(&cluster_bytes) {
        return Err(format!(
            "--cluster-bytes {cluster_bytes}: a cluster is 1 to {CLUSTER_BYTES_MAX} bytes"
        ));
    }
    if !(2..=INGEST_ORDER_MAX).contains(&store.order) {
        return Err(format!(
            "--order {}: the log store's order is 2 to {INGEST_ORDER_MAX}",
            store.order
        ));
    }
    if store.incarnations_max == 0 {
        return Err("--incarnations-max must be at least 1".into());
    }
    let mut config = IngestConfig::new(cluster_bytes);
    config.store.order = store.order;
    config.store.incarnations_max = store.incarnations_max;
    config.store.evict_oldest = store.evict_oldest;
    if let Some(device) = part.device {
        config = config.on_device(device);
    }
    config.bad_blocks = part.bad_blocks;
    let bar = progress_bar(0, "ingest");
    let report = ingest(paths, &config, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if report.files > 0 {
        for (path, why) in &report.skipped {
            eprintln!("warning: skipped {path}: {why}");
        }
    } else {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "nothing was read from {}: no readable regular file{}",
            named.join(", "),
            report
                .skipped
                .first()
                .map_or(String::new(), |(path, why)| format!(" ({path}: {why})"))
        ));
    }
    let figures = json!({
        "files": report.files, "clusters": report.clusters, "unique": report.unique,
        "dedup_ratio": report.dedup_ratio, "fill": report.fill, "incarnations": report.incarnations,
        "freezes": report.freezes, "evictions": report.evictions,
        "duplicates_missed": report.duplicates_missed, "bytes": report.bytes,
        "lookups": report.lookups, "reads_per_lookup": report.reads_per_lookup,
        "write_amplification": report.write_amplification,
        "bytes_programmed": report.bytes_programmed, "erases": report.erases,
        "device_seconds": report.device_seconds,
        "ram_bytes_per_entry": report.ram_bytes_per_entry,
        "skipped": report.skipped.len(), "stopped": report.stopped,
    });
    emit(json, &figures)?;
    Ok(true)
}

fn cmd_report(quick: bool, full: bool, out: &Path, json: bool) -> Result<bool, String> {
    let size = match (quick, full) {
        (true, _) => ReportSize::Quick,
        (_, true) => ReportSize::Full,
        _ => ReportSize::Default,
    };
    let summary = report::write(size, out)?;
    if json {
        emit(true, &summary)?;
    } else {
        for line in report::summary_lines(&summary) {
            println!("{line}");
        }
    }
    Ok(summary["failures"].as_u64() == Some(0))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // Bad arguments: one line, exit 2 (`--help` teaches the rest).
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("bad arguments").trim();
            eprintln!("{}", first);
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let outcome = match cli.command {
        Command::Report {
            quick,
            full,
            out,
            json,
        } => cmd_report(quick, full, &out, json),
        Command::Run {
            seed,
            ops,
            workload,
            crash_mode,
            layout,
            part,
            pairing,
            json,
        } => {
            let args = RunArgs {
                seed,
                ops,
                workload,
                mode: crash_mode,
                layout,
                part,
                pairing,
            };
            cmd_run(args, json)
        }
        Command::Sweep {
            seeds,
            swarm: true,
            ops,
            jobs,
            shard,
            part,
            pairing,
            cases,
            json,
        } => no_part_with_swarm(&part, &pairing)
            .and_then(|()| cmd_sweep_swarm(seeds, ops, (jobs, shard), &cases, json)),
        Command::Sweep {
            seeds,
            swarm: false,
            ops,
            jobs,
            shard,
            part,
            pairing,
            cases,
            json,
        } => pairing
            .part(&part)
            .and_then(|part| cmd_sweep(seeds, ops, (jobs, shard, part), &cases, json)),
        Command::Exhaustive {
            ops,
            mode,
            workload,
            layout,
            seed,
            depth,
            no_evict,
            jobs,
            part,
            pairing,
            cases,
            json,
        } => pairing.part(&part).and_then(|part| {
            let args = ExhaustiveArgs {
                ops,
                mode,
                workload,
                layout,
                seed,
                depth,
                no_evict,
                jobs,
                part,
            };
            cmd_exhaustive(args, &cases, json)
        }),
        Command::Replay { case, json } => cmd_replay(&case, json),
        Command::Fill {
            bucket,
            order,
            policy,
            max_kicks,
            seeds,
            json,
        } => cmd_fill(bucket, order, policy, max_kicks, seeds, json),
        Command::Wear {
            ops,
            until_end_of_life,
            endurance,
            part,
            wear_out: _,
            flush_every: _,
            seed: _,
            swarm: _,
            seeds: Some(seeds),
            json,
        } => no_part_with_swarm(&part, &PairingArgs::default()).and_then(|()| match endurance {
            Some(_) => {
                Err("--swarm draws each seed's endurance: --endurance is not taken with it".into())
            }
            None => cmd_wear_swarm(seeds, ops, until_end_of_life, json),
        }),
        Command::Wear {
            ops,
            until_end_of_life,
            endurance,
            part,
            wear_out,
            flush_every,
            seed,
            swarm: _,
            seeds: None,
            json,
        } => cmd_wear(
            WearArgs {
                ops,
                until_end_of_life,
                endurance,
                part,
                wear_out,
                flush_every,
                seed,
            },
            json,
        ),
        Command::Corrupt(args) => cmd_corrupt(&args),
        Command::Lookups {
            incarnations,
            device,
            order,
            probes,
            seed,
            json,
        } => {
            let config = LookupsConfig {
                device,
                order,
                probes,
                seed,
            };
            cmd_lookups(&config, incarnations, json)
        }
        Command::Ingest {
            paths,
            cluster_bytes,
            store,
            part,
            json,
        } => cmd_ingest(&paths, cluster_bytes, store, part, json),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
