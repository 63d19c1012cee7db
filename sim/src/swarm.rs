//! Swarm campaigns: each seed draws its own configuration (Groce et al.,
//! "Swarm Testing", ISSTA 2012; TigerBeetle's VOPR draws its cluster and
//! faults per seed), so a campaign reaches the devices, stores and
//! workloads nobody picked by hand.
//!
//! Owns what a seed draws ([`swarm_case`], [`swarm_wear`]), the spread a
//! campaign covered ([`Spread`]) and the swarm sweep ([`swarm_sweep`]).
//! Promises: a draw is a function of its seed alone, and the case it makes
//! carries the whole configuration, so `replay` of its case file runs it
//! again; a configuration the store refuses at `create` is counted as
//! refused, never run and never a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use indicatif::ProgressBar;
use logstore::{Geometry, Pairing, Policy, SlotLayoutKind, StoreConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::campaign::{Case, CrashPoint, DeviceTime, SweepSummary};
use crate::check::{Aging, CheckConfig};
use crate::nand::{pairing_name, Device, FaultRates};
use crate::wear::WearConfig;
use crate::workload::WorkloadKind;
use crate::CrashMode;

/// Most bytes a drawn device holds (data areas): 2 runs a core stay small.
pub const DEVICE_BYTES_MAX: u64 = 16 << 20;
/// Fewest and most erase blocks a drawn device has.
const BLOCKS_MIN: u32 = 24;
const BLOCKS_MAX: u32 = 512;
/// Most factory-bad blocks a draw marks, as a fraction of the device.
pub const BAD_FRACTION_MAX: f64 = 0.05;

/// Pages a block a drawn device may have: within each part's real range
/// (TLC in whole wordlines of three pages).
fn pages_per_block_choices(device: Option<Device>) -> &'static [u32] {
    match device {
        None | Some(Device::Slc) => &[16, 32, 64],
        Some(Device::Mlc) => &[16, 32, 64, 128],
        Some(Device::Tlc) => &[48, 96, 192],
    }
}

/// Page sizes a draw picks from (the presets' own are 2 to 16 KiB; larger
/// pages only make each run slower, not different in kind).
const PAGE_BYTES: [u32; 3] = [512, 1024, 2048];

/// A device drawn by `rng`: the ideal one or a preset, a geometry within
/// the preset's range with the part's ECC density, the pairing its cells
/// follow and the one it declares (each a known scheme that fits).
fn draw_device(rng: &mut ChaCha8Rng) -> (Option<Device>, Geometry, Option<Pairing>) {
    let device = [
        None,
        Some(Device::Slc),
        Some(Device::Mlc),
        Some(Device::Tlc),
    ][rng.random_range(0..4)];
    let page_bytes = PAGE_BYTES[rng.random_range(0..PAGE_BYTES.len())];
    let choices = pages_per_block_choices(device);
    let pages_per_block = choices[rng.random_range(0..choices.len())];
    let block_bytes = u64::from(page_bytes) * u64::from(pages_per_block);
    let fit = (DEVICE_BYTES_MAX / block_bytes).clamp(u64::from(BLOCKS_MIN), u64::from(BLOCKS_MAX));
    let blocks = rng.random_range(BLOCKS_MIN..=fit as u32);
    let geometry = Geometry::new(page_bytes, pages_per_block, blocks).expect("a drawn geometry");
    let Some(device) = device else {
        return (None, geometry, None);
    };
    let part = device.part();
    let steps = page_bytes / 512;
    let bits = (part.ecc_bits * 512 / part.ecc_step_bytes).max(1);
    let spare = device.small_geometry(BLOCKS_MIN).spare_bytes * steps;
    let geometry = geometry
        .with_ecc(spare, 512, bits)
        .expect("the part's ECC density fits its spare");
    let physical = draw_pairing(rng, device, pages_per_block, part.pairing);
    let declared = if rng.random_bool(0.5) {
        physical
    } else {
        draw_pairing(rng, device, pages_per_block, Pairing::None)
    };
    let geometry = geometry
        .with_pairing(declared)
        .expect("a drawn pairing fits");
    (
        Some(device),
        geometry,
        (physical != declared).then_some(physical),
    )
}

/// A pairing scheme of the part's cell kind (any, declared) that fits
/// blocks of `pages` pages; `fallback` if none does. For MLC cells, the
/// known schemes and the leads none of them covers (1 and 4 to
/// [`logstore::MLC_LEAD_MAX`]), so cells the store cannot avoid are drawn
/// too (their damage is the device's, and its losses must be named).
fn draw_pairing(rng: &mut ChaCha8Rng, device: Device, pages: u32, fallback: Pairing) -> Pairing {
    let cells = device.part().bits_per_cell;
    let wide = (1..=logstore::MLC_LEAD_MAX)
        .map(|lead| Pairing::Mlc { lead })
        .filter(|p| !Pairing::KNOWN.contains(p));
    let fitting: Vec<Pairing> = Pairing::KNOWN
        .into_iter()
        .chain(wide)
        .filter(|p| p.fits(pages) && (p.groups() == cells || p.groups() == 1))
        .collect();
    if fitting.is_empty() {
        return fallback;
    }
    fitting[rng.random_range(0..fitting.len())]
}

/// Factory-bad blocks anywhere (block 0 included): none for a quarter of
/// the seeds, else up to [`BAD_FRACTION_MAX`] of the device.
fn draw_bad_blocks(rng: &mut ChaCha8Rng, blocks: u32) -> Vec<u32> {
    if rng.random_ratio(1, 4) {
        return Vec::new();
    }
    let count = (f64::from(blocks) * rng.random_range(0.0..=BAD_FRACTION_MAX)).floor() as u32;
    let mut bad = BTreeSet::new();
    // Bounded: each draw adds a block or repeats one; `count` is at most
    // 5% of the blocks, so 64 tries a block are plenty.
    for _ in 0..count.saturating_mul(64) {
        if bad.len() as u32 >= count {
            break;
        }
        bad.insert(rng.random_range(0..blocks));
    }
    bad.into_iter().collect()
}

/// A store configuration: table shape, layout, policy, journal, how many
/// incarnations and whether the oldest is evicted.
fn draw_store(rng: &mut ChaCha8Rng, seed: u64) -> StoreConfig {
    let mut store = StoreConfig::new(rng.random_range(3..=9), rng.random_range(1..=8));
    store.bucket_slots = [2, 4, 8][rng.random_range(0..3)];
    store.layout = if rng.random_bool(0.5) {
        SlotLayoutKind::Compact
    } else {
        SlotLayoutKind::Full
    };
    store.policy = match rng.random_range(0..3) {
        0 => Policy::RandomWalk {
            max_kicks: rng.random_range(8..=500),
            retries: rng.random_range(1..=4),
        },
        1 => Policy::Bfs {
            max_depth: rng.random_range(1..=6),
        },
        _ => Policy::FixedVictim {
            max_kicks: rng.random_range(8..=128),
        },
    };
    store.incarnations_max = 1 << rng.random_range(0..=5);
    store.incarnations_max += rng.random_range(0..store.incarnations_max);
    store.evict_oldest = rng.random_bool(0.5);
    store.seed = seed;
    store
}

/// Program and erase failures (blocks growing bad) for a third of the
/// seeds, at rates up to a few in a hundred erases.
fn draw_faults(rng: &mut ChaCha8Rng) -> FaultRates {
    if !rng.random_ratio(1, 3) {
        return FaultRates::default();
    }
    FaultRates {
        read_flip: 0.0,
        program_fail: rng.random_range(0.0..0.004),
        erase_fail: rng.random_range(0.0..0.03),
    }
}

/// The run seed `seed` draws for a swarm sweep of `ops` workload steps:
/// device, store, workload, flush cadence, crash modes and faults.
pub fn swarm_case(seed: u64, ops: usize) -> Case {
    assert!(ops > 0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5A4A_4D00_5EED);
    let (device, geometry, pairing_physical) = draw_device(&mut rng);
    let bad_blocks = draw_bad_blocks(&mut rng, geometry.blocks);
    let store = draw_store(&mut rng, seed);
    let faults = draw_faults(&mut rng);
    let aging = match device {
        Some(_) => Aging {
            wear: rng.random_range(0.0..0.8),
            days_per_power_cut: rng.random_range(0.0..365.0),
        },
        None => Aging::default(),
    };
    let workload = WorkloadKind::ALL[rng.random_range(0..WorkloadKind::ALL.len())];
    let modes: Vec<CrashMode> = CrashMode::ALL
        .into_iter()
        .filter(|_| rng.random_bool(0.6))
        .collect();
    let crashes = draw_crashes(&mut rng, ops, &modes);
    let flush_every = rng.random_bool(0.5).then(|| rng.random_range(1..=64));
    let device_time = device.map(|_| DeviceTime {
        bake_days: rng.random_range(1..=60),
        every_steps: rng.random_range(50..=200),
    });
    Case {
        version: env!("CARGO_PKG_VERSION").to_string(),
        seed,
        workload,
        ops,
        crashes,
        config: CheckConfig {
            geometry,
            store,
            faults,
            device_seed: seed,
            device,
            aging,
            bad_blocks,
            pairing_physical,
            ..CheckConfig::default()
        },
        failure: None,
        device_time,
        flush_every,
    }
}

/// 0 to 4 power cuts in the drawn modes (none if no mode was drawn).
fn draw_crashes(rng: &mut ChaCha8Rng, ops: usize, modes: &[CrashMode]) -> Vec<CrashPoint> {
    if modes.is_empty() {
        return Vec::new();
    }
    let mut crashes: Vec<CrashPoint> = (0..rng.random_range(0..=4))
        .map(|_| CrashPoint {
            step: rng.random_range(0..ops),
            after_ops: rng.random_range(0..16),
            mode: modes[rng.random_range(0..modes.len())],
        })
        .collect();
    crashes.sort_by_key(|c| c.step);
    crashes
}

/// Pages a drawn wear run may program over the device's life, about: the
/// endurance drawn is lowered (to 20 at least) on large devices to keep
/// each run to seconds.
const WEAR_PAGE_PROGRAMS_MAX: u64 = 3_000_000;

/// The wear run seed `seed` draws: device, geometry, bad blocks, store and
/// flush cadence as a swarm sweep draws them, a low endurance (20 to 200
/// cycles, so a run reaches the end of life in seconds). The store always
/// evicts (one that answers `Full` stops wearing the device). Runs until
/// `ops` inserts or, `until_end_of_life`, until read-only.
pub fn swarm_wear(seed: u64, ops: u64, until_end_of_life: bool) -> WearConfig {
    let case = swarm_case(seed, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3EA2_5EED);
    let g = case.config.geometry;
    let block_pages = u64::from(g.blocks) * u64::from(g.pages_per_block);
    let affordable = (WEAR_PAGE_PROGRAMS_MAX / block_pages).clamp(20, 200) as u32;
    let endurance = rng.random_range(20..=affordable);
    let mut config = WearConfig::new(ops, endurance, rng.random_range(1..=64));
    config.seed = seed;
    config.geometry = case.config.geometry;
    config.device = case.config.device;
    config.store = case.config.store;
    // A store that answers `Full` stops writing and never wears out.
    config.store.evict_oldest = true;
    config.bad_blocks = case.config.bad_blocks;
    config.pairing_physical = case.config.pairing_physical;
    config.until_end_of_life = until_end_of_life;
    config
}

/// Lowest and highest value drawn of each numeric parameter, and the values
/// drawn of each named one.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Spread {
    pub ranges: BTreeMap<&'static str, (f64, f64)>,
    pub kinds: BTreeMap<&'static str, BTreeSet<String>>,
    /// Distinct geometries (page bytes, pages a block, blocks) per device.
    pub geometries: BTreeMap<String, usize>,
    #[serde(skip)]
    shapes: BTreeSet<(String, u32, u32, u32)>,
}

impl Spread {
    fn number(&mut self, name: &'static str, value: f64) {
        let range = self.ranges.entry(name).or_insert((value, value));
        *range = (range.0.min(value), range.1.max(value));
    }

    fn kind(&mut self, name: &'static str, value: String) {
        self.kinds.entry(name).or_default().insert(value);
    }

    /// Notes what `config` drew.
    pub fn note(&mut self, config: &CheckConfig) {
        let g = config.geometry;
        let device = config.device.map_or("ideal", Device::name).to_string();
        self.shapes
            .insert((device.clone(), g.page_bytes, g.pages_per_block, g.blocks));
        let count = self.shapes.iter().filter(|s| s.0 == device).count();
        self.geometries.insert(device.clone(), count);
        self.kind("device", device);
        self.number("page_bytes", f64::from(g.page_bytes));
        self.number("pages_per_block", f64::from(g.pages_per_block));
        self.number("blocks", f64::from(g.blocks));
        let bad = config.bad_blocks.len() as f64 / f64::from(g.blocks);
        self.number("bad_block_fraction", bad);
        self.number("erase_fail", config.faults.erase_fail);
        self.number("program_fail", config.faults.program_fail);
        self.number("wear", config.aging.wear);
        self.number("days_per_power_cut", config.aging.days_per_power_cut);
        self.kind("pairing_declared", pairing_name(g.pairing));
        let cells = config.pairing_physical.unwrap_or(g.pairing);
        self.kind("pairing_physical", pairing_name(cells));
        let s = config.store;
        self.number("order", f64::from(s.order));
        self.number("bucket_slots", s.bucket_slots as f64);
        self.number("journal_blocks", f64::from(s.journal_blocks));
        self.number("incarnations_max", f64::from(s.incarnations_max));
        self.kind("evict_oldest", s.evict_oldest.to_string());
        self.kind("layout", format!("{:?}", s.layout).to_lowercase());
        let policy = format!("{:?}", s.policy);
        self.kind("policy", policy.split(' ').next().unwrap_or("").to_string());
    }
}

/// Figures of a swarm sweep: the sweep's, plus what was drawn.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SwarmSummary {
    /// Configurations drawn (one a seed), and refused by `create` (not run).
    pub drawn: u64,
    pub refused: u64,
    /// Refusals by the part of the configuration refused.
    pub refused_by_reason: BTreeMap<String, u64>,
    /// Failures by kind (a promise broken, a loss, a broken NAND rule...).
    pub failures_by_kind: BTreeMap<String, u64>,
    pub spread: Spread,
    #[serde(flatten)]
    pub sweep: SweepSummary,
}

/// The kind of a failure, from its message: the promise it broke or the
/// loss it found.
pub fn failure_kind(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("promise broken: ") {
        return rest.split(':').next().unwrap_or(rest).to_string();
    }
    for (needle, kind) in [
        ("no state of the model", "durable state lost or stale"),
        ("NAND rules", "NAND rules broken"),
        ("get of key", "wrong answer"),
        ("panicked", "panic"),
    ] {
        if message.contains(needle) {
            return kind.to_string();
        }
    }
    "other".to_string()
}

/// Why `config` is refused, in a few words (the part before the first
/// colon), or `None` if it would run.
pub fn refusal(config: &CheckConfig) -> Option<String> {
    config
        .check()
        .err()
        .map(|e| e.split(':').next().unwrap_or(&e).to_string())
}

/// Runs the swarm case of each seed, in parallel: refused ones are
/// counted, the others run and summed as [`crate::campaign::sweep`] does.
pub fn swarm_sweep(seeds: &[u64], ops: usize, bar: &ProgressBar) -> SwarmSummary {
    let start = Instant::now();
    let mut summary = SwarmSummary::default();
    let mut runnable = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let case = swarm_case(seed, ops);
        summary.drawn += 1;
        summary.spread.note(&case.config);
        match refusal(&case.config) {
            Some(reason) => {
                summary.refused += 1;
                *summary.refused_by_reason.entry(reason).or_default() += 1;
                bar.inc(1);
            }
            None => runnable.push(case),
        }
    }
    let outcomes: Vec<_> = runnable
        .into_par_iter()
        .map(|case| {
            let outcome = case.run();
            bar.inc(1);
            (case, outcome)
        })
        .collect();
    bar.finish_and_clear();
    summary.sweep = crate::campaign::summarize(outcomes);
    for case in &summary.sweep.failed_cases {
        let message = case.failure.as_ref().map_or("", |f| f.message.as_str());
        *summary
            .failures_by_kind
            .entry(failure_kind(message))
            .or_default() += 1;
    }
    summary.sweep.seconds = start.elapsed().as_secs_f64();
    summary
}

/// The lowest share of rated endurance (mean over usable blocks) a run to
/// the end of life must reach, unless [`too_few_usable`] excuses it.
pub const END_OF_LIFE_ENDURANCE_MIN: f64 = 0.9;

/// One drawn wear run, as a swarm wear campaign reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WearRun {
    pub seed: u64,
    pub device: String,
    pub geometry: (u32, u32, u32),
    pub endurance_cycles: u32,
    pub factory_bad: usize,
    pub usable_blocks: u32,
    /// Good blocks the store's budget needs ([`logstore::BlockBudget::needed`]).
    pub blocks_needed: u32,
    pub ops_done: u64,
    pub endurance_used: f64,
    pub lost_flushed: u64,
    pub stopped: Option<String>,
    /// Why the run failed: broken, the audit, a loss, or an end of life
    /// below [`END_OF_LIFE_ENDURANCE_MIN`] not excused.
    pub failure: Option<String>,
    /// Why an early end of life is excused: too few usable blocks.
    pub excused: Option<String>,
}

/// Figures of a swarm wear campaign.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SwarmWearSummary {
    pub drawn: u64,
    pub refused: u64,
    pub refused_by_reason: BTreeMap<String, u64>,
    pub runs: u64,
    pub failures: u64,
    pub lost_flushed: u64,
    /// Lowest `endurance_used` over the runs that reached their end of life
    /// and were not excused.
    pub endurance_used_min: Option<f64>,
    pub excused: u64,
    pub spread: Spread,
    pub seconds: f64,
    pub runs_detail: Vec<WearRun>,
}

/// Whether a device has so few usable blocks beyond what the store needs
/// that its end of life may come before its blocks wear: the first blocks
/// to fail (the weakest of the endurance spread) take its whole margin.
/// Excused when the margin is under a tenth of the usable blocks.
pub fn too_few_usable(usable: u32, needed: u32) -> Option<String> {
    let margin = usable.saturating_sub(needed);
    (margin * 10 < usable).then(|| {
        format!("{usable} usable blocks, {needed} needed: a margin of {margin} (under a tenth)")
    })
}

/// Runs each seed's drawn wear configuration, in parallel; `tick` is called
/// once a run ends.
pub fn swarm_wear_campaign(
    seeds: &[u64],
    ops: u64,
    until_end_of_life: bool,
    tick: &(dyn Fn() + Sync),
) -> SwarmWearSummary {
    let start = Instant::now();
    let mut summary = SwarmWearSummary::default();
    let mut runnable = Vec::new();
    for &seed in seeds {
        let config = swarm_wear(seed, ops, until_end_of_life);
        let check = config.check_config();
        summary.drawn += 1;
        summary.spread.note(&check);
        match refusal(&check) {
            Some(reason) => {
                summary.refused += 1;
                *summary.refused_by_reason.entry(reason).or_default() += 1;
                tick();
            }
            None => runnable.push(config),
        }
    }
    let runs: Vec<WearRun> = runnable
        .into_par_iter()
        .map(|config| {
            let run = wear_run(&config);
            tick();
            run
        })
        .collect();
    for run in runs {
        summary.runs += 1;
        summary.lost_flushed += run.lost_flushed;
        summary.failures += u64::from(run.failure.is_some());
        summary.excused += u64::from(run.excused.is_some());
        if until_end_of_life && run.excused.is_none() && run.stopped.is_some() {
            let low = summary.endurance_used_min.unwrap_or(f64::MAX);
            summary.endurance_used_min = Some(low.min(run.endurance_used));
        }
        summary.runs_detail.push(run);
    }
    summary.seconds = start.elapsed().as_secs_f64();
    summary
}

fn wear_run(config: &WearConfig) -> WearRun {
    let g = config.geometry;
    let needed = config
        .store
        .block_budget(g)
        .map_or(g.blocks, |b| b.needed());
    let report = crate::wear::wear(config, &|_| {});
    let mut run = WearRun {
        seed: config.seed,
        device: config.device.map_or("ideal", Device::name).to_string(),
        geometry: (g.page_bytes, g.pages_per_block, g.blocks),
        endurance_cycles: config.endurance_cycles,
        factory_bad: config.bad_blocks.len(),
        usable_blocks: 0,
        blocks_needed: needed,
        ops_done: 0,
        endurance_used: 0.0,
        lost_flushed: 0,
        stopped: None,
        failure: None,
        excused: None,
    };
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            run.failure = Some(format!("could not start: {error}"));
            return run;
        }
    };
    run.usable_blocks = report.usable_blocks;
    run.ops_done = report.ops_done;
    run.endurance_used = report.endurance_used;
    run.lost_flushed = report.lost_flushed;
    run.stopped = report.stopped.clone();
    run.excused = too_few_usable(report.usable_blocks, needed);
    run.failure = wear_failure(config, &report, run.excused.is_some());
    run
}

/// What a finished wear run broke, if anything.
fn wear_failure(
    config: &WearConfig,
    report: &crate::wear::WearReport,
    excused: bool,
) -> Option<String> {
    if let Some(broken) = &report.broken {
        return Some(format!("broken: {broken}"));
    }
    if let Some(audit) = &report.audit_failed {
        return Some(format!("audit: {audit}"));
    }
    if report.lost_flushed + report.stale + report.resurrected > 0 {
        return Some(format!(
            "lost {} flushed, {} stale, {} resurrected",
            report.lost_flushed, report.stale, report.resurrected
        ));
    }
    let early = config.until_end_of_life && report.endurance_used < END_OF_LIFE_ENDURANCE_MIN;
    (early && !excused).then(|| {
        format!(
            "end of life at {:.3} of endurance over {} usable blocks (at least {END_OF_LIFE_ENDURANCE_MIN}): {}",
            report.endurance_used,
            report.usable_blocks,
            report.stopped.as_deref().unwrap_or("not stopped")
        )
    })
}
