//! The commands that search for failures: `run`, `sweep` (with `--swarm`),
//! `exhaustive` and `replay`. Each is one `Args` struct (its flags, their
//! help and bounds) and the function that runs it.

use std::path::PathBuf;

use logstore_sim::campaign::{self, progress_bar, shard_seeds, swarm, Case};
use logstore_sim::check::workload::WorkloadKind;
use logstore_sim::nand::Device;
use logstore_sim::subject::{self, index::IndexSubject, SubjectConfig, SubjectSummary};
use logstore_sim::CrashMode;
use serde_json::json;

use super::args::{
    emit, no_part_with_swarm, parse_jobs, parse_seeds, parse_shard, save_failures, LayoutArg,
    ModeArg, Output, PairingArgs, PartArgs,
};

/// One run: a seeded workload with power cuts (1 to 4, at seeded
/// points), for one seed in four an operation or two made to fail (as a
/// sweep draws them), every recovery checked against the model.
///
/// Example: `logstore-sim run --seed 7 --ops 5000 --workload churn --crash-mode torn`
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
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
    #[command(flatten)]
    output: Output,
}

pub(crate) fn run(args: RunArgs) -> Result<bool, String> {
    campaign::check_ops(args.ops)?;
    let modes = args
        .crash_mode
        .map_or(CrashMode::ALL.to_vec(), ModeArg::modes);
    let on = args.pairing.part(&args.part)?;
    let mut case = Case::from_seed(args.seed, args.ops, args.workload, &modes)
        .with_drawn_reopens()
        .with_drawn_failures()
        .on_part(&on);
    case.config.check()?;
    if let Some(layout) = args.layout {
        case.config.store.layout = layout.kind();
    }
    let outcome = case.run();
    let mut figures = json!({
        "seed": args.seed, "workload": case.workload.name(), "ops": args.ops,
        "crash_points": case.crashes.len(), "fail_points": case.op_failures.len(),
        "reopen_every": case.reopen_every,
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
            let folder = std::path::Path::new("corpus/regressions");
            figures["replay"] = json!(save_failures(&[failed], folder, "run"));
            false
        }
    };
    emit(args.output.json, &figures)?;
    Ok(ok)
}

/// Many seeds, each a run with random workload, crash points, modes and
/// faults, in parallel: a quarter of the seeds also fail one or two
/// operations at seeded points (a block going bad, a host I/O error).
/// Failures are saved as case files.
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
#[derive(clap::Args, Debug)]
pub(crate) struct SweepArgs {
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
    /// The store put through the cuts: this index under its own checker,
    /// or a subject through the seam: littlefs (a build with `--features
    /// littlefs`) or this index as littlefs meets it (`logstore-seam`). A
    /// subject runs a file workload a seed, its crash mode drawn, cut at a
    /// seeded eighth of its crash points; it takes --seeds, --ops, --jobs,
    /// --shard, --device, --no-ecc and --swarm (each seed then also draws
    /// the part, raw pages, factory-bad blocks, failing blocks, host I/O
    /// errors and depth 2).
    ///
    /// Example: `logstore-sim sweep --subject littlefs --swarm --seeds 0..200 --ops 300`
    #[arg(long, value_enum, default_value_t = SubjectArg::Logstore)]
    subject: SubjectArg,
    /// With --subject littlefs on a part: raw pages, without our ECC.
    #[arg(long)]
    no_ecc: bool,
    #[command(flatten)]
    part: PartArgs,
    #[command(flatten)]
    pairing: PairingArgs,
    /// Folder failing cases are saved to.
    #[arg(long, default_value = "corpus/regressions")]
    cases: PathBuf,
    #[command(flatten)]
    output: Output,
}

/// A pool of `jobs` workers (default: one a core).
fn pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .map_err(|e| e.to_string())
}

pub(crate) fn sweep(args: SweepArgs) -> Result<bool, String> {
    campaign::check_ops(args.ops)?;
    let (index, count) = args.shard.unwrap_or((0, 1));
    let chosen = shard_seeds(args.seeds.clone(), index, count);
    if args.subject != SubjectArg::Logstore {
        return sweep_seam(&args, &chosen);
    }
    if args.no_ecc {
        return Err("--no-ecc is taken with --subject littlefs only".into());
    }
    if args.swarm {
        no_part_with_swarm(&args.part, &args.pairing)?;
        let bar = progress_bar(chosen.len() as u64, "swarm");
        let summary = pool(args.jobs)?.install(|| swarm::swarm_sweep(&chosen, args.ops, &bar));
        let replays = save_failures(&summary.sweep.failed_cases, &args.cases, "swarm");
        let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
        figures["replay"] = json!(replays);
        figures["cases"] = json!(summary.sweep.failed_cases);
        figures["campaign"] = sweep_campaign(&args, "drawn per seed");
        emit(args.output.json, &figures)?;
        return Ok(summary.sweep.failures == 0);
    }
    let part = args.pairing.part(&args.part)?;
    let bar = progress_bar(chosen.len() as u64, "sweep");
    let summary = pool(args.jobs)?
        .install(|| campaign::sweep(&chosen, args.ops, &CrashMode::ALL, &part, &bar));
    let replays = save_failures(&summary.failed_cases, &args.cases, "sweep");
    let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    figures["replay"] = json!(replays);
    figures["cases"] = json!(summary.failed_cases);
    figures["campaign"] = sweep_campaign(&args, &format!("{part:?}"));
    emit(args.output.json, &figures)?;
    Ok(summary.failures == 0)
}

/// What names a sweep's campaign in its result, for `merge`: everything
/// that decides its figures, and its shard.
fn sweep_campaign(args: &SweepArgs, part: &str) -> serde_json::Value {
    let (index, count) = args.shard.unwrap_or((0, 1));
    json!({
        "command": if args.swarm { "sweep --swarm" } else { "sweep" },
        "seeds": format!("{}..{}", args.seeds.start, args.seeds.end),
        "ops": args.ops,
        "part": part,
        "version": env!("CARGO_PKG_VERSION"),
        "shard": [index, count],
    })
}

/// Folds the `--json` results of every shard of one sweep (`sweep
/// --shard I/N --json`, run anywhere) into one result: the figures one
/// unsharded run gives, the seconds summed (work done) with the slowest
/// shard's beside them. The failing cases, carried in the results, are
/// saved to `--cases` with the command that replays each. Shards of
/// another campaign, a shard twice or one missing are refused, named.
///
/// Example: `for i in 0 1 2 3; do logstore-sim sweep --seeds 0..100000
/// --shard $i/4 --json > shard-$i.json; done; logstore-sim merge
/// merged.json shard-*.json`
#[derive(clap::Args, Debug)]
pub(crate) struct MergeArgs {
    /// File the merged result is written to (JSON; `report --from` reads it).
    out: PathBuf,
    /// Each shard's result, once (any order).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Folder the failing cases are saved to.
    #[arg(long, default_value = "corpus/regressions")]
    cases: PathBuf,
    #[command(flatten)]
    output: Output,
}

/// Largest shard result `merge` reads.
const SHARD_BYTES_MAX: u64 = 1 << 30;

pub(crate) fn merge(args: MergeArgs) -> Result<bool, String> {
    let mut shards = Vec::with_capacity(args.shards.len());
    for path in &args.shards {
        let bytes = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if bytes > SHARD_BYTES_MAX {
            return Err(format!(
                "{}: {bytes} bytes, more than a shard's result holds",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a result (sweep --json): {e}", path.display()))?;
        shards.push(value);
    }
    let mut merged = campaign::merge::merge(&shards).map_err(|e| e.to_string())?;
    let cases: Vec<Case> = match merged["cases"].take() {
        serde_json::Value::Null => Vec::new(),
        cases => serde_json::from_value(cases)
            .map_err(|e| format!("the shards' failing cases do not read: {e}"))?,
    };
    let prefix = if merged["campaign"]["command"] == "sweep --swarm" {
        "swarm"
    } else {
        "sweep"
    };
    merged["replay"] = json!(save_failures(&cases, &args.cases, prefix));
    merged["cases"] = json!(cases);
    let text = serde_json::to_string_pretty(&merged).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&args.out, text).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let mut shown = merged.clone();
    if let Some(map) = shown.as_object_mut() {
        map.remove("cases");
    }
    emit(args.output.json, &shown)?;
    Ok(merged["failures"].as_u64() == Some(0))
}

/// Crash at every mutating flash operation of one workload, in each
/// mode, branching from snapshots; every branch recovers and is checked.
///
/// Example: `logstore-sim exhaustive --ops 10000 --mode drop --depth 2 --jobs 1`
#[derive(clap::Args, Debug)]
pub(crate) struct ExhaustiveArgs {
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
    /// Reopen the store (power on, no cut) before every N workload steps:
    /// each reopen's recovery is crashed at every operation too.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    reopen_every: Option<u32>,
    /// Draw the configuration per seed (device, geometry, pairing, bad
    /// blocks, store, workload, reopens, as `sweep --swarm` does) and run
    /// the campaign on each: needs --seeds.
    #[arg(long, requires = "seeds", conflicts_with_all = ["reopen_every", "no_evict", "seed", "layout", "workload"])]
    swarm: bool,
    /// Seeds of the swarm's draws, A..B.
    #[arg(long, value_parser = parse_seeds, requires = "swarm")]
    seeds: Option<std::ops::Range<u64>>,
    /// Also make each operation fail instead (a program or erase answers
    /// BadBlock, power on): one more branch an operation, where a block
    /// goes bad at that very point and the store must handle it.
    #[arg(long)]
    fail_ops: bool,
    /// Also make each operation fail with a host I/O error (the bus, a
    /// driver or the file under the device fails; nothing reaches the
    /// cells): one more branch an operation, where the store must return
    /// the error, and lose nothing flushed across the reopen that follows.
    #[arg(long)]
    io_errors: bool,
    /// Also, from each operation, this many host I/O errors in a row
    /// (2 to 64): one more branch an operation, where every retry the
    /// store makes fails in turn, past its own retries and the checker's
    /// attempts; the store must return the error and lose nothing.
    ///
    /// Example: `logstore-sim exhaustive --ops 2000 --mode drop --io-burst 12`
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=i64::from(campaign::IO_BURST_MAX)))]
    io_burst: Option<u32>,
    /// Worker threads, at most one a core (default: one per core).
    #[arg(long, value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// The store put through the cuts: this index under its own checker,
    /// or a subject through the seam: littlefs (a build with `--features
    /// littlefs`) or this index as littlefs meets it (`logstore-seam`). A
    /// subject runs a file workload, each operation cut at every flash
    /// operation; it takes --ops, --seed, --mode, --device, --bad-blocks,
    /// --fail-ops, --io-errors, --depth 2, --no-ecc, --crash-at,
    /// --then-crash-at, --then-fail-at and (littlefs) --adapter-bug.
    ///
    /// Example: `logstore-sim exhaustive --subject littlefs --ops 300 --mode drop --depth 2 --fail-ops`
    #[arg(long, value_enum, default_value_t = SubjectArg::Logstore)]
    subject: SubjectArg,
    /// With --subject littlefs on a part: raw pages, without our ECC.
    #[arg(long, requires = "subject")]
    no_ecc: bool,
    /// With --subject littlefs: only this crash point (what a failure's
    /// replay command names).
    #[arg(long, requires = "subject")]
    crash_at: Option<u64>,
    /// With a subject at --depth 2: only this crash point of the retry
    /// after the first cut (what a depth-2 failure's replay names).
    #[arg(long, requires = "crash_at")]
    then_crash_at: Option<u64>,
    /// With a subject at --depth 2 and --fail-ops or --io-errors: only
    /// this second failing operation in the first failure's handling
    /// (what such a failure's replay names); the second-level cuts are
    /// skipped.
    #[arg(long, requires = "crash_at", conflicts_with = "then_crash_at")]
    then_fail_at: Option<u64>,
    /// With --subject littlefs: plant a defect in the adapter between
    /// littlefs and the device, to see what the campaign catches in an
    /// adapter (yours will have one like it): no-sync (programs never
    /// made durable: caught as losses after cuts), failure-swallowed (a
    /// failed program answered as done: littlefs reads each program back,
    /// so it is absorbed; with --fail-ops), failure-as-io (a bad block
    /// answered as an I/O error: littlefs refuses instead of relocating;
    /// with --fail-ops, counted in `refusals`).
    ///
    /// Example: `logstore-sim exhaustive --subject littlefs --ops 200 --mode drop --adapter-bug no-sync`
    #[arg(long, value_enum, requires = "subject")]
    adapter_bug: Option<AdapterBugArg>,
    #[command(flatten)]
    part: PartArgs,
    #[command(flatten)]
    pairing: PairingArgs,
    /// Folder failing cases are saved to.
    #[arg(long, default_value = "corpus/regressions")]
    cases: PathBuf,
    #[command(flatten)]
    output: Output,
}

/// A defect planted in littlefs's adapter (`littlefs::AdapterBug`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AdapterBugArg {
    /// Programs and erases never made durable.
    NoSync,
    /// A failed program answered as done.
    FailureSwallowed,
    /// A bad block answered as a host I/O error.
    FailureAsIo,
}

/// The store a campaign runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SubjectArg {
    /// This crate's flash index, under its own checker: every promise it
    /// makes (incarnations, journal, evictions, wear) at every recovery.
    Logstore,
    /// littlefs, through the littlefs2 crate (a build with
    /// `--features littlefs`).
    Littlefs,
    /// This index through the subject seam: the campaign and model
    /// littlefs meets, checking only the guarantee every subject states
    /// (after a cut, a prefix of the acknowledged operations holding every
    /// flushed one); the lifecycle workload.
    LogstoreSeam,
}

impl SubjectArg {
    pub(crate) fn name(self) -> &'static str {
        match self {
            SubjectArg::Logstore => "logstore",
            SubjectArg::Littlefs => "littlefs",
            SubjectArg::LogstoreSeam => "logstore-seam",
        }
    }
}

pub(crate) fn exhaustive(args: ExhaustiveArgs) -> Result<bool, String> {
    campaign::check_ops(args.ops)?;
    if args.subject != SubjectArg::Logstore {
        return exhaustive_seam(&args);
    }
    if args.no_ecc || args.crash_at.is_some() {
        return Err(
            "--no-ecc and --crash-at are taken with --subject littlefs or logstore-seam only"
                .into(),
        );
    }
    if let Some(seeds) = args.seeds.clone().filter(|_| args.swarm) {
        return exhaustive_swarm(&args, seeds);
    }
    let part = args.pairing.part(&args.part)?;
    let mut case = campaign::exhaustive_case(
        args.seed,
        args.ops,
        args.workload,
        args.layout.kind(),
        !args.no_evict,
        &part,
    );
    case.reopen_every = args.reopen_every;
    case.config.check()?;
    let bar = progress_bar(args.ops as u64, "exhaustive");
    let hits = hits_of(&args);
    let summary =
        pool(args.jobs)?.install(|| campaign::exhaustive_hits(&case, &hits, args.depth, &bar));
    let replays = save_failures(&summary.failed_cases, &args.cases, "exhaustive");
    let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    figures["replay"] = json!(replays);
    figures["ecc_remainders"] = json!(logstore::ecc_remainder_path());
    emit(args.output.json, &figures)?;
    Ok(summary.failures == 0)
}

/// The branches the arguments ask for at each operation.
fn hits_of(args: &ExhaustiveArgs) -> Vec<campaign::Hit> {
    let mut hits = campaign::Hit::all(&args.mode.modes(), args.fail_ops, args.io_errors);
    hits.extend(args.io_burst.map(campaign::Hit::IoBurst));
    hits
}

/// `exhaustive --swarm`: the campaign on each seed's drawn configuration.
fn exhaustive_swarm(args: &ExhaustiveArgs, seeds: std::ops::Range<u64>) -> Result<bool, String> {
    no_part_with_swarm(&args.part, &args.pairing)?;
    let seeds: Vec<u64> = seeds.collect();
    let hits = hits_of(args);
    let bar = progress_bar(seeds.len() as u64, "exhaustive swarm");
    let summary = pool(args.jobs)?
        .install(|| swarm::swarm_exhaustive(&seeds, args.ops, &hits, args.depth, &bar));
    let failed = &summary.exhaustive.failed_cases;
    let replays = save_failures(failed, &args.cases, "exhaustive-swarm");
    let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    figures["replay"] = json!(replays);
    figures["ecc_remainders"] = json!(logstore::ecc_remainder_path());
    emit(args.output.json, &figures)?;
    Ok(summary.exhaustive.failures == 0)
}

/// Replay one saved case file and say whether it still fails.
#[derive(clap::Args, Debug)]
pub(crate) struct ReplayArgs {
    /// A case file written by a failing run, sweep or exhaustive campaign.
    case: PathBuf,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn replay(args: ReplayArgs) -> Result<bool, String> {
    let path = &args.case;
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
    emit(args.output.json, &figures)?;
    Ok(ok)
}

/// `exhaustive --subject littlefs|logstore-seam`: the subject seam's
/// campaign, every mode asked, summed.
fn exhaustive_seam(args: &ExhaustiveArgs) -> Result<bool, String> {
    let other = args.depth > 2
        || args.io_burst.is_some()
        || args.swarm
        || args.reopen_every.is_some()
        || args.no_evict
        || args.pairing.pairing_physical.is_some()
        || args.pairing.declared_pairing.is_some();
    if other {
        return Err(format!(
            "--subject {} takes --ops, --seed, --mode, --device, --bad-blocks, --fail-ops, --io-errors, --depth 2, --no-ecc, --crash-at, --then-crash-at, --then-fail-at and (littlefs) --adapter-bug only",
            args.subject.name()
        ));
    }
    if args.adapter_bug.is_some() && args.subject != SubjectArg::Littlefs {
        return Err(
            "--adapter-bug plants a defect in littlefs's adapter: --subject littlefs only".into(),
        );
    }
    let mut total = SubjectSummary::default();
    for mode in args.mode.modes() {
        let config = SubjectConfig {
            seed: args.seed,
            ops: args.ops,
            device: args.part.device,
            mode,
            ecc: !args.no_ecc,
            fail_ops: args.fail_ops,
            bad_blocks: args.part.bad_blocks.clone(),
            depth: args.depth,
            then_crash_at: args.then_crash_at,
            then_fail_at: args.then_fail_at,
            io_errors: args.io_errors,
        };
        let summary = match args.subject {
            SubjectArg::Littlefs => littlefs_exhaustive(&config, args.adapter_bug, args.crash_at)?,
            _ => subject::exhaustive::<IndexSubject>(&config, &(), args.crash_at)?,
        };
        for replay in &summary.replay {
            eprintln!("FAILED ({replay})");
        }
        total.add(&summary);
    }
    let mut figures = serde_json::to_value(&total).map_err(|e| e.to_string())?;
    figures["crash_points_per_s"] = json!(total.crash_points as f64 / total.seconds.max(1e-9));
    figures["device"] = json!(args.part.device.map_or("ideal", |d| d.name()));
    figures["ecc_remainders"] = json!(logstore::ecc_remainder_path());
    emit(args.output.json, &figures)?;
    Ok(total.failures == 0)
}

#[cfg(feature = "littlefs")]
fn littlefs_exhaustive(
    config: &SubjectConfig,
    bug: Option<AdapterBugArg>,
    crash_at: Option<u64>,
) -> Result<SubjectSummary, String> {
    use logstore_sim::littlefs::AdapterBug;
    let bug = bug.map(|bug| match bug {
        AdapterBugArg::NoSync => AdapterBug::NoSync,
        AdapterBugArg::FailureSwallowed => AdapterBug::FailureSwallowed,
        AdapterBugArg::FailureAsIo => AdapterBug::FailureAsIo,
    });
    logstore_sim::littlefs::exhaustive(config, bug, crash_at)
}

#[cfg(not(feature = "littlefs"))]
fn littlefs_exhaustive(
    _: &SubjectConfig,
    _: Option<AdapterBugArg>,
    _: Option<u64>,
) -> Result<SubjectSummary, String> {
    Err(NO_LITTLEFS.into())
}

#[cfg(feature = "littlefs")]
fn littlefs_sweep(
    seeds: &[u64],
    ops: usize,
    part: (Option<Device>, bool),
    swarm: bool,
) -> Result<SubjectSummary, String> {
    logstore_sim::littlefs::sweep(seeds, ops, part, swarm)
}

#[cfg(not(feature = "littlefs"))]
fn littlefs_sweep(
    _: &[u64],
    _: usize,
    _: (Option<Device>, bool),
    _: bool,
) -> Result<SubjectSummary, String> {
    Err(NO_LITTLEFS.into())
}

/// What a subject swarm drew over `seeds`: parts, raw pages, failing
/// operations, factory-bad blocks, I/O errors and depth 2, counted (the
/// draw is the index's and littlefs's alike but for raw pages, which only
/// littlefs takes, and the bad blocks' numbers).
fn drawn(seeds: &[u64], ops: usize) -> serde_json::Value {
    use logstore_sim::subject::{draw, index::IndexSubject};
    let mut devices = std::collections::BTreeMap::<&str, u64>::new();
    let (mut fail_ops, mut bad, mut io, mut depth2) = (0u64, 0u64, 0u64, 0u64);
    for &seed in seeds {
        let config = draw::<IndexSubject>(seed, ops);
        *devices
            .entry(config.device.map_or("ideal", |d| d.name()))
            .or_default() += 1;
        fail_ops += u64::from(config.fail_ops);
        bad += u64::from(!config.bad_blocks.is_empty());
        io += u64::from(config.io_errors);
        depth2 += u64::from(config.depth > 1);
    }
    json!({"devices": devices, "fail_ops": fail_ops, "with_bad_blocks": bad,
        "io_errors": io, "depth_2": depth2})
}

#[cfg(not(feature = "littlefs"))]
pub(crate) const NO_LITTLEFS: &str = "this build has no littlefs: build with `--features littlefs` \
     (littlefs2 binds littlefs's C with bindgen, which needs libclang: apt-get install libclang-dev)";

/// `sweep --subject littlefs|logstore-seam`: a seed a run, summed.
fn sweep_seam(args: &SweepArgs, seeds: &[u64]) -> Result<bool, String> {
    if args.swarm && (args.part.device.is_some() || args.no_ecc) {
        return Err(
            "--swarm draws the part per seed: --device and --no-ecc are not taken with it".into(),
        );
    }
    let other = !args.part.bad_blocks.is_empty()
        || args.pairing.pairing_physical.is_some()
        || args.pairing.declared_pairing.is_some();
    if other {
        return Err(format!(
            "--subject {} takes --seeds, --ops, --jobs, --shard, --device, --no-ecc and --swarm only",
            args.subject.name()
        ));
    }
    let part = (args.part.device, !args.no_ecc);
    let summary = pool(args.jobs)?.install(|| match args.subject {
        SubjectArg::Littlefs => littlefs_sweep(seeds, args.ops, part, args.swarm),
        _ => subject::sweep::<IndexSubject>(seeds, args.ops, part, args.swarm),
    })?;
    for replay in &summary.replay {
        eprintln!("FAILED ({replay})");
    }
    let mut figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    figures["runs"] = json!(seeds.len());
    if args.swarm {
        figures["drawn"] = drawn(seeds, args.ops);
    } else {
        figures["device"] = json!(args.part.device.map_or("ideal", |d| d.name()));
    }
    emit(args.output.json, &figures)?;
    Ok(summary.failures == 0)
}
