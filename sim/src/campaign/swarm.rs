//! Swarm campaigns: each seed draws its own configuration (Groce et al.,
//! "Swarm Testing", ISSTA 2012; TigerBeetle's VOPR draws its cluster and
//! faults per seed), so a campaign reaches the devices, stores and
//! workloads nobody picked by hand.
//!
//! Owns what a seed draws ([`swarm_case`]; its wear runs are
//! [`crate::measure::wear_swarm`]), the spread a
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
use crate::check::workload::WorkloadKind;
use crate::check::{Aging, CheckConfig};
use crate::nand::{pairing_name, Device, FaultRates};
use crate::CrashMode;

/// Most bytes a drawn device holds (data areas): 2 runs a core stay small.
pub(crate) const DEVICE_BYTES_MAX: u64 = 16 << 20;
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
    // Drawn last, so every draw above is as it was before reopens were.
    let reopen_every = rng.random_ratio(1, 3).then(|| rng.random_range(16..=400));
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
        reopen_every,
        op_failures: Vec::new(),
    }
    .with_drawn_failures()
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

/// Lowest and highest value drawn of each numeric parameter, and the values
/// drawn of each named one.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Spread {
    pub ranges: BTreeMap<&'static str, (f64, f64)>,
    pub kinds: BTreeMap<&'static str, BTreeSet<String>>,
    /// Distinct geometries (page bytes, pages a block, blocks) per device.
    pub geometries: BTreeMap<String, usize>,
    /// Every geometry drawn (device, page bytes, pages a block, blocks):
    /// what `geometries` counts, kept so that shards' spreads merge.
    pub shapes: BTreeSet<(String, u32, u32, u32)>,
}

impl Spread {
    fn number(&mut self, name: &'static str, value: f64) {
        let range = self.ranges.entry(name).or_insert((value, value));
        *range = (range.0.min(value), range.1.max(value));
    }

    fn kind(&mut self, name: &'static str, value: String) {
        self.kinds.entry(name).or_default().insert(value);
    }

    /// Notes how a wear run's worn blocks fail.
    pub fn note_wear_out(&mut self, wear_out: crate::nand::WearOut) {
        self.kind("wear_out", format!("{wear_out:?}"));
    }

    /// Notes whether the run reopens, and how often.
    pub fn note_reopens(&mut self, every: Option<u32>) {
        self.kind("reopens", every.is_some().to_string());
        if let Some(every) = every {
            self.number("reopen_every", f64::from(every));
        }
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
        (
            "journal entries, ",
            "durable journal entries dropped unnamed",
        ),
        (
            "reported a loss though no read went beyond",
            "loss reported without a cause",
        ),
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

/// Figures of an exhaustive swarm: the exhaustive campaign's, summed over
/// the drawn configurations that run, and what was drawn.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SwarmExhaustiveSummary {
    pub drawn: u64,
    pub refused: u64,
    pub refused_by_reason: BTreeMap<String, u64>,
    pub failures_by_kind: BTreeMap<String, u64>,
    pub spread: Spread,
    #[serde(flatten)]
    pub exhaustive: crate::campaign::ExhaustiveSummary,
}

/// `exhaustive` on the configuration each seed draws ([`swarm_case`] of
/// `ops` steps, its scheduled cuts and failures left out, its reopens, flushes and
/// device time kept): every operation hit by each of `hits` on devices,
/// stores and workloads nobody picked. Seeds run one after another, each
/// campaign's branches in parallel.
pub fn swarm_exhaustive(
    seeds: &[u64],
    ops: usize,
    hits: &[crate::campaign::Hit],
    depth: u32,
    bar: &ProgressBar,
) -> SwarmExhaustiveSummary {
    let start = Instant::now();
    let mut summary = SwarmExhaustiveSummary::default();
    for &seed in seeds {
        let mut case = swarm_case(seed, ops);
        case.crashes.clear();
        case.op_failures.clear();
        summary.drawn += 1;
        summary.spread.note(&case.config);
        summary.spread.note_reopens(case.reopen_every);
        if let Some(reason) = refusal(&case.config) {
            summary.refused += 1;
            *summary.refused_by_reason.entry(reason).or_default() += 1;
        } else {
            let hidden = ProgressBar::hidden();
            let one = crate::campaign::exhaustive_hits(&case, hits, depth, &hidden);
            summary.exhaustive.absorb(one);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for case in &summary.exhaustive.failed_cases {
        let message = case.failure.as_ref().map_or("", |f| f.message.as_str());
        *summary
            .failures_by_kind
            .entry(failure_kind(message))
            .or_default() += 1;
    }
    summary.exhaustive = std::mem::take(&mut summary.exhaustive).timed(start);
    summary
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
        summary.spread.note_reopens(case.reopen_every);
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
