//! Swarm wear campaigns: each seed draws its device, store and flush
//! cadence as a swarm sweep does ([`crate::campaign::swarm::swarm_case`]),
//! with a low endurance, and wears it to the end of its life: how much of
//! its rated endurance it used, what it lost, and whether it kept the
//! promise of going read-only with its data readable.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::campaign::swarm::{refusal, swarm_case, Spread};
use crate::measure::wear::WearConfig;
use crate::nand::{Device, WearOut};

/// Pages a drawn wear run may program over the device's life, about: the
/// endurance drawn is lowered (to 20 at least) on large devices to keep
/// each run to seconds.
const WEAR_PAGE_PROGRAMS_MAX: u64 = 3_000_000;

/// The wear run seed `seed` draws: device, geometry, bad blocks, store and
/// flush cadence as a swarm sweep draws them, a low endurance (20 to 200
/// cycles, so a run reaches the end of life in seconds) and the way worn
/// blocks fail. The store always
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
    // Drawn last, so every draw above is as it was before: how a block
    // past its endurance fails (an erase or a program answering BadBlock,
    // or both doing nothing and answering Ok).
    config.wear_out = WEAR_OUTS[rng.random_range(0..WEAR_OUTS.len())];
    config
}

/// The wear-out modes a draw picks from.
const WEAR_OUTS: [WearOut; 3] = [
    WearOut::EraseFails,
    WearOut::ProgramFails,
    WearOut::SilentNoop,
];

/// The lowest share of rated endurance (mean over usable blocks) a run to
/// the end of life must reach, unless `too_few_usable` excuses it.
pub const END_OF_LIFE_ENDURANCE_MIN: f64 = 0.9;

/// One drawn wear run, as a swarm wear campaign reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WearRun {
    pub seed: u64,
    pub device: String,
    pub geometry: (u32, u32, u32),
    pub endurance_cycles: u32,
    /// How its blocks fail past their endurance.
    pub wear_out: WearOut,
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
pub(crate) fn too_few_usable(usable: u32, needed: u32) -> Option<String> {
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
        summary.spread.note_wear_out(config.wear_out);
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
    let report = crate::measure::wear::wear(config, &|_| {});
    let mut run = WearRun {
        seed: config.seed,
        device: config.device.map_or("ideal", Device::name).to_string(),
        geometry: (g.page_bytes, g.pages_per_block, g.blocks),
        endurance_cycles: config.endurance_cycles,
        wear_out: config.wear_out,
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
    report: &crate::measure::wear::WearReport,
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
