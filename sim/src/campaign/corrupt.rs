//! The `corrupt` campaign: faults placed on purpose, where they hurt most,
//! as CORDS does for distributed stores (Ganesan et al., FAST 2017),
//! instead of where a random model drops them.
//!
//! A seeded workload runs on a store; after each flush (a quiescent point:
//! the durable state is the model's) every programmed page of the device
//! in turn gets each fault kind ([`Fault`]: read back past the ECC, erased,
//! its stale bytes from before its block's last erase (kept per block
//! from the points before, so a page programmed long after its block's
//! erase gets them too), another page's bytes), and the store is reopened and every key the workload touched
//! is read back. Each placement is **kept** (every answer right),
//! **named** (`DataLoss` at open, or a typed error on the keys it cost,
//! no wrong answer), **silent** (some answer wrong: a value lost,
//! reverted or resurrected) or **store lost** (the open fails otherwise).
//! Then every pair of the pages the store depends on most (the anchor's
//! lanes, the journal's last pages, the incarnations' filter pages and a
//! few of their bucket pages; each pair with the same fault on both:
//! past the ECC, another page's bytes, a header bit, the ECC's limit and
//! one past it, a lost write: two in a row of one lane are where the
//! open's read of a lane ends), and a
//! power cut at every mutating operation of the recovery after each
//! fault on those pages at every point, and after a page past the ECC
//! anywhere and the ECC's limit, one past and past it on each erased page
//! an open reads, at the last point. Then power cuts between two flushes
//! (guarantee 10 says "any power cuts plus any one page lost"): a torn
//! cut at every mutating operation of the stretch of operations before
//! each point, the recovery, the stretch run again and flushed, and each
//! page the rerun changed read back as the cut left it (a page of the
//! freeze or pack the cut stopped, say), past the ECC, or erased
//! ([`AFTER_CUT_FAULTS`]); its first run found a freeze's retry reusing
//! the stopped freeze's generation on the same blocks, so one of the
//! stopped freeze's bucket pages read back stale passed for the retry's
//! (flushed entries absent, no error): a commit now reserves generations
//! ahead (`Ledger::next_generation`). `docs/DESIGN.md` guarantees 10-12:
//! one fault, never silent, never the store; two anchor pages, never a
//! rollback.
//!
//! Pairs of two journal pages are tallied apart (`journal_pairs`): a
//! flush has two witnesses, its last page and the commit copy, so losing
//! both (or a page of the flush and the copy that vouches for it) drops
//! the last flush as a torn tail would. No guarantee covers two journal
//! faults; the figure says what a third witness would buy.
//! Every loop is bounded by the plan's flushes and the device's pages.

use std::collections::BTreeMap;

use logstore::{Flash, PageAddr, Store, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::check::workload::{hash_of, info_of};
use crate::check::CheckConfig;
use crate::nand::{Device, SimFlash};
use crate::CrashMode;

use super::fault::place;
pub use super::fault::Fault;

/// Most quiescent points a campaign may ask for.
pub const FLUSHES_MAX: u32 = 1_000;
/// The faults placed on pairs: unreadable, another page's bytes (which
/// may look like a newer record, or the wrong page of the right chain),
/// and the ECC's limit on both pages (t flips each: both must read whole;
/// t + 1: each refused, or landing on another codeword its CRC refuses).
const PAIR_FAULTS: [Fault; 6] = [
    Fault::PastEcc,
    Fault::Misdirected,
    Fault::Garbled,
    Fault::AtEcc,
    Fault::PastEccByOne,
    // Two lost writes: two pages in a row of one lane (where the open's
    // read of a lane ends), or one in each of two lanes.
    Fault::Erased,
];
/// The faults placed after a cut in a segment, on each page the rerun
/// changed: its bytes as the cut left them (a stopped freeze's or pack's
/// page, or a torn one), the page lost past the ECC, or erased (the
/// rerun's program lost). The kinds that test a page's own checks
/// (another page's bytes, a garbled header, the ECC's limit) are placed at
/// every quiescent point already.
pub const AFTER_CUT_FAULTS: [Fault; 3] = [Fault::Stale, Fault::PastEcc, Fault::Erased];
/// Bucket pages of each incarnation among the pages paired, about.
const BUCKET_PAGES_PAIRED: usize = 3;
/// Silent cases kept for the summary (each with its replay).
const SILENT_SHOWN_MAX: usize = 10;

/// What a campaign runs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CorruptPlan {
    pub device: Option<Device>,
    pub seed: u64,
    /// Quiescent points: the workload flushes this many times.
    pub flushes: u32,
    /// Operations between two flushes, at most (at least one).
    pub ops_per_flush_max: u32,
    /// Every single fault on every programmed page, at every point.
    pub singles: bool,
    /// Pairs of the pages the store depends on most, at every point.
    pub pairs: bool,
    /// A power cut at every mutating operation of the recovery after each
    /// fault on a critical page at every point, and after a page past the
    /// ECC anywhere at the last point.
    pub recovery_cuts: bool,
    /// The faults placed after a torn power cut at every mutating
    /// operation of each segment, the recovery and the segment run again
    /// (on each page the rerun changed; stale: as the cut left it). Empty:
    /// no cuts in segments. [`AFTER_CUT_FAULTS`] by default.
    pub after_cut_faults: Vec<Fault>,
    /// The device first holds another store (the same configuration,
    /// another workload, as many flushes), then is formatted again: the
    /// new store's stale bytes are the earlier store's.
    pub reused_device: bool,
    /// The device and store to run on (a swarm's draw, say), instead of
    /// `device`'s default check; a drawn `evict_oldest` is kept, so faults
    /// land on stores that have evicted too.
    pub config: Option<CheckConfig>,
}

impl CorruptPlan {
    pub fn new(device: Option<Device>, seed: u64) -> Self {
        CorruptPlan {
            device,
            seed,
            flushes: 20,
            ops_per_flush_max: 48,
            singles: true,
            pairs: true,
            recovery_cuts: true,
            after_cut_faults: AFTER_CUT_FAULTS.to_vec(),
            reused_device: false,
            config: None,
        }
    }

    /// The plan on a swarm's draw for `seed` (its device, geometry, bad
    /// blocks, pairing and store; one draw in four a part another store
    /// used first), or why `create` refuses that draw.
    pub fn swarm(seed: u64) -> Result<Self, String> {
        let config = crate::campaign::swarm::swarm_case(seed, 1).config;
        if let Some(reason) = crate::campaign::swarm::refusal(&config) {
            return Err(reason);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x2E05_ED00);
        Ok(CorruptPlan {
            config: Some(config.clone()),
            reused_device: rng.random_ratio(1, 4),
            ..CorruptPlan::new(config.device, seed)
        })
    }
}

/// How placements ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub kept: u64,
    pub named: u64,
    pub silent: u64,
    pub store_lost: u64,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Kept => self.kept += 1,
            Outcome::Named => self.named += 1,
            Outcome::Silent(_) => self.silent += 1,
            Outcome::StoreLost(_) => self.store_lost += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.kept += other.kept;
        self.named += other.named;
        self.silent += other.silent;
        self.store_lost += other.store_lost;
    }
}

/// What one placement did to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Kept,
    Named,
    Silent(String),
    StoreLost(String),
}

/// What a campaign found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CorruptSummary {
    pub device: Option<Device>,
    pub seed: u64,
    /// The store was formatted over a part another store used first.
    pub reused_device: bool,
    pub points: u64,
    /// Of the points, those reached after the store evicted (a drawn
    /// `evict_oldest`): faults there are judged against what a clean
    /// reopen answers, evicted entries absent.
    pub points_evicted: u64,
    pub placements: u64,
    /// Over single faults and pairs (an unopenable store after a pair is
    /// named, not lost: guarantee 11 is about one fault).
    pub kept: u64,
    pub named: u64,
    pub silent: u64,
    pub store_lost: u64,
    pub singles: Tally,
    /// Pairs with at least one page outside the journal.
    pub pairs: Tally,
    /// Of the pairs, a filter page and a bucket page of an incarnation.
    pub filter_bucket_pairs: u64,
    /// Pairs of two journal pages (not in `silent`: see the module doc).
    pub journal_pairs: Tally,
    /// Of `pairs` (a page outside the journal), those at the ECC's limit
    /// or one past it on both pages.
    pub pairs_at_ecc_limit: Tally,
    pub recovery_cuts: Tally,
    /// After a cut in a segment and its rerun, a page read back as the cut
    /// left it.
    pub after_cuts: Tally,
    /// Of the recovery cuts, those after a fault on an erased page an open
    /// reads.
    pub recovery_cuts_erased: Tally,
    /// Of the recovery cuts, those inside `open_salvaging` (after an open
    /// that named a loss).
    pub salvage_cuts: u64,
    /// After a named loss, `open_salvaging`'s wrong answers: a key
    /// answering an older value, absent or a deleted hash without an error
    /// (`Unknown` is right). A failure, as `silent`.
    pub salvage_wrong: u64,
    /// The first silent or lost placements, described.
    pub failures: Vec<String>,
}

impl CorruptSummary {
    pub fn failed(&self) -> bool {
        self.silent > 0 || self.store_lost > 0 || self.salvage_wrong > 0
    }
}

/// The model at a quiescent point: every key touched, its value or `None`
/// for deleted.
type Model = BTreeMap<u64, Option<u64>>;

/// Runs the campaign. `progress` is told each point done.
pub fn corrupt(
    plan: &CorruptPlan,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<CorruptSummary, String> {
    if plan.flushes == 0 || plan.flushes > FLUSHES_MAX || plan.ops_per_flush_max == 0 {
        return Err(format!(
            "corrupt: flushes 1..={FLUSHES_MAX} and at least one operation a flush, not {} and {}",
            plan.flushes, plan.ops_per_flush_max
        ));
    }
    let config = match (&plan.config, plan.device) {
        (Some(config), _) => config.clone(),
        (None, Some(device)) => CheckConfig::on_device(device),
        (None, None) => CheckConfig::default(),
    };
    let mut flash = SimFlash::new(config.sim_config(), plan.seed).map_err(|e| e.to_string())?;
    if plan.reused_device {
        flash = earlier_store(flash, &config, plan)?;
    }
    let before_create = flash.clone();
    let mut store = Store::create(flash, config.store).map_err(|e| format!("create: {e}"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0xC022_0975);
    let mut summary = CorruptSummary {
        device: plan.device,
        seed: plan.seed,
        reused_device: plan.reused_device,
        ..CorruptSummary::default()
    };
    let mut previous = match plan.reused_device {
        true => before_create,
        false => store.flash().clone(),
    };
    // Each block's bytes from before its last erase, for stale pages.
    let mut stale = previous.clone();
    let mut model = Model::new();
    for point in 0..plan.flushes {
        let Some(ops) = run_until_flush(&mut store, &mut model, &mut rng, plan.ops_per_flush_max)?
        else {
            break;
        };
        let last = point + 1 == plan.flushes;
        let snapshot = store.flash().clone();
        let evicted = store.stats().evictions > 0;
        let expected = match baseline(&snapshot, &model, evicted) {
            Ok(expected) => expected,
            Err(why) => {
                // Wrong with no fault placed: counted among the singles.
                summary.singles.silent += 1;
                let outcome = Outcome::Silent(why);
                let failure = describe(plan, &outcome, "no fault placed");
                keep_failures(&mut summary, failure.into_iter().collect());
                break;
            }
        };
        summary.points_evicted += u64::from(evicted);
        note_erases(&mut stale, &previous, &snapshot);
        place_at_point(plan, &snapshot, &stale, &expected, last, &mut summary);
        if !plan.after_cut_faults.is_empty() {
            let evicting = config.store.evict_oldest;
            place_after_cuts(plan, &previous, &ops, &model, evicting, &mut summary);
        }
        summary.points += 1;
        progress(summary.points);
        previous = snapshot;
    }
    summary.kept = summary.singles.kept + summary.pairs.kept + summary.recovery_cuts.kept;
    summary.named = summary.singles.named + summary.pairs.named + summary.recovery_cuts.named;
    summary.named += summary.pairs.store_lost;
    let journal_pairs = summary.journal_pairs;
    summary.kept += journal_pairs.kept;
    summary.named += journal_pairs.named + journal_pairs.store_lost;
    summary.kept += summary.after_cuts.kept;
    summary.named += summary.after_cuts.named;
    summary.silent = summary.singles.silent + summary.pairs.silent + summary.recovery_cuts.silent;
    summary.silent += summary.after_cuts.silent;
    summary.store_lost = summary.singles.store_lost + summary.recovery_cuts.store_lost;
    summary.store_lost += summary.after_cuts.store_lost;
    Ok(summary)
}

/// Keeps in `stale` each block's bytes from before its last erase: a
/// block `now` shows erased since `before` takes `before`'s bytes (what
/// it held last before the erase, as of the points the campaign saw).
fn note_erases(stale: &mut SimFlash, before: &SimFlash, now: &SimFlash) {
    let g = now.geometry();
    let (counts_before, counts_now) = (before.erase_counts(), now.erase_counts());
    for block in (0..g.blocks).filter(|&b| counts_before[b as usize] != counts_now[b as usize]) {
        for page in 0..g.pages_per_block {
            let page = PageAddr::new(block, page);
            stale
                .place_page(page, &before.raw_page(page))
                .expect("a page of the device's own geometry");
        }
    }
}

/// The device after another store of the same configuration ran a
/// workload of its own (another seed) for as many flushes: what a user
/// formatting a used part leaves for the new store's stale bytes.
fn earlier_store(
    flash: SimFlash,
    config: &CheckConfig,
    plan: &CorruptPlan,
) -> Result<SimFlash, String> {
    let mut store =
        Store::create(flash, config.store).map_err(|e| format!("create the earlier store: {e}"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0xEA21_1E25);
    let mut model = Model::new();
    for _ in 0..plan.flushes {
        if run_until_flush(&mut store, &mut model, &mut rng, plan.ops_per_flush_max)?.is_none() {
            break;
        }
    }
    Ok(store.into_flash())
}

/// One operation of a segment, kept so a branch can run it again.
#[derive(Clone, Copy, Debug)]
enum Op {
    Insert(u64, u64),
    Delete(u64),
}

/// Applies `op` to `store` and `model`.
fn apply(store: &mut Store<SimFlash>, model: &mut Model, op: Op) -> Result<(), StoreError> {
    match op {
        Op::Insert(key, info) => {
            model.insert(key, Some(info));
            store.insert(hash_of(key), info_of(info))
        }
        Op::Delete(key) => {
            model.insert(key, None);
            store.delete(&hash_of(key)).map(|_| ())
        }
    }
}

/// Seeded operations (new keys, updates, deletes) then a flush: the
/// operations run, or `None` if the store filled up first (the campaign
/// ends there).
fn run_until_flush(
    store: &mut Store<SimFlash>,
    model: &mut Model,
    rng: &mut ChaCha8Rng,
    ops_max: u32,
) -> Result<Option<Vec<Op>>, String> {
    let count = rng.random_range(1..=ops_max);
    let mut ops = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let roll = rng.random_range(0..100u32);
        let known = (!model.is_empty()).then(|| rng.random_range(0..model.len()));
        let existing = known.and_then(|i| model.keys().nth(i).copied());
        let op = match (roll, existing) {
            (70..=84, Some(key)) => Op::Insert(key, rng.random::<u32>() as u64),
            (85.., Some(key)) => Op::Delete(key),
            _ => Op::Insert(rng.random::<u64>(), rng.random::<u32>() as u64),
        };
        ops.push(op);
        match apply(store, model, op) {
            Ok(()) => {}
            Err(StoreError::Full(_)) => return Ok(None),
            Err(other) => return Err(format!("workload: {other}")),
        }
    }
    store.flush().map_err(|e| format!("flush: {e}"))?;
    Ok(Some(ops))
}

/// A torn power cut at each mutating operation of segment `ops` run from
/// `start` (a quiescent point), a restart, the recovery, the segment run
/// again and flushed (ending in `model`); then each of the plan's
/// `after_cut_faults` on each page the rerun left differing from the
/// device as the cut left it. `evicting`: the store may evict (absent
/// answers judged as at a point). Bounded by the segment's mutating
/// operations and the device's pages.
fn place_after_cuts(
    plan: &CorruptPlan,
    start: &SimFlash,
    ops: &[Op],
    model: &Model,
    evicting: bool,
    summary: &mut CorruptSummary,
) {
    let base = start.ops_mutating();
    let Segment::Ran(whole) = run_segment(start.clone(), ops) else {
        return;
    };
    let count = whole.ops_mutating() - base;
    let results: Vec<(Tally, Vec<String>)> = (0..count)
        .into_par_iter()
        .map(|k| {
            let mut device = start.clone();
            device.cut_power_at(base + k, CrashMode::Torn);
            match run_segment(device, ops) {
                Segment::Ran(cut) => after_cut(plan, *cut, k, ops, model, evicting),
                _ => (Tally::default(), Vec::new()),
            }
        })
        .collect();
    for (tally, failures) in results {
        summary.placements += tally.kept + tally.named + tally.silent + tally.store_lost;
        summary.after_cuts.merge(tally);
        keep_failures(summary, failures);
    }
}

/// The rerun after the cut at segment operation `k` left `cut`, and each
/// of the plan's `after_cut_faults` on each page the rerun changed.
fn after_cut(
    plan: &CorruptPlan,
    mut cut: SimFlash,
    k: u64,
    ops: &[Op],
    model: &Model,
    evicting: bool,
) -> (Tally, Vec<String>) {
    let (mut tally, mut failures) = (Tally::default(), Vec::new());
    cut.cancel_power_cuts();
    cut.restart();
    let at = format!("power cut at segment operation {k}");
    let rerun = match run_segment(cut.clone(), ops) {
        Segment::Ran(rerun) => *rerun,
        Segment::Full => return (tally, failures),
        Segment::LossNamed { caused: true } => {
            tally.add(Outcome::Named);
            return (tally, failures);
        }
        Segment::LossNamed { caused: false } => {
            let why = "the recovery named a loss though no read went past the ECC".to_string();
            let outcome = Outcome::StoreLost(why);
            failures.extend(describe(plan, &outcome, &at));
            tally.add(outcome);
            return (tally, failures);
        }
        Segment::Failed(why) => {
            let outcome = Outcome::StoreLost(format!("the segment did not run again: {why}"));
            failures.extend(describe(plan, &outcome, &at));
            tally.add(outcome);
            return (tally, failures);
        }
    };
    let expected = match baseline(&rerun, model, evicting) {
        Ok(expected) => expected,
        Err(why) => {
            let outcome = Outcome::Silent(why);
            failures.extend(describe(plan, &outcome, &format!("{at}, no fault placed")));
            tally.add(outcome);
            return (tally, failures);
        }
    };
    let pages = programmed_pages(&rerun);
    let changed = pages
        .iter()
        .filter(|&&page| rerun.raw_page(page) != cut.raw_page(page));
    for &page in changed {
        for &fault in &plan.after_cut_faults {
            let mut device = rerun.clone();
            if place(&mut device, &cut, &pages, page, fault).is_none() {
                continue;
            }
            let (outcome, _) = classify(device, &expected);
            let magic = &rerun.raw_page(page)[..4];
            let what = format!("{at}, then {fault:?} at {page:?} (a page starting {magic:02x?})");
            failures.extend(describe(plan, &outcome, &what));
            tally.add(outcome);
        }
    }
    (tally, failures)
}

/// How a segment run from a device ended.
enum Segment {
    /// Run and flushed, or stopped by the power cut armed on the device.
    Ran(Box<SimFlash>),
    /// The store filled first (`Full` loses nothing; a rerun's table may
    /// fill sooner than the first run's).
    Full,
    /// The open named a loss (`DataLoss`); `caused`: some read went past
    /// the ECC (bit errors of an aged part, or a page a cut scrambled
    /// through a pairing the store is not bound to avoid). Without a
    /// cause, a cut lost durable pages: a failure.
    LossNamed {
        caused: bool,
    },
    Failed(String),
}

/// Opens `device`, runs `ops` and flushes.
fn run_segment(device: SimFlash, ops: &[Op]) -> Segment {
    let beyond_ecc = device.counters().reads_beyond_ecc;
    let mut store = match Store::open_returning(device) {
        Ok((store, _)) => store,
        Err((_, flash)) if !flash.is_powered() => return Segment::Ran(Box::new(flash)),
        Err((StoreError::DataLoss(_), flash)) => {
            let caused = flash.counters().reads_beyond_ecc > beyond_ecc;
            return Segment::LossNamed { caused };
        }
        Err((error, _)) => return Segment::Failed(format!("open: {error}")),
    };
    let mut model = Model::new();
    for (i, &op) in ops.iter().enumerate() {
        match apply(&mut store, &mut model, op) {
            Ok(()) => {}
            Err(_) if !store.flash().is_powered() => {
                return Segment::Ran(Box::new(store.into_flash()))
            }
            Err(StoreError::Full(_)) => return Segment::Full,
            Err(error) => return Segment::Failed(format!("operation {i} of the segment: {error}")),
        }
    }
    match store.flush() {
        Ok(()) => Segment::Ran(Box::new(store.into_flash())),
        Err(_) if !store.flash().is_powered() => Segment::Ran(Box::new(store.into_flash())),
        Err(error) => Segment::Failed(format!("flush: {error}")),
    }
}

/// What the store answers at a quiescent point with no fault placed,
/// reopened from `snapshot`: each answer must be the workload's (`model`),
/// or absent once the store has `evicted` (an evicted entry is forgotten by
/// design, and with it every older value). The faulted reopens are judged
/// against these answers, so a fault that brings an evicted entry back is
/// silent too. A wrong answer here, with no fault, fails the campaign.
fn baseline(snapshot: &SimFlash, model: &Model, evicted: bool) -> Result<Model, String> {
    let (mut store, _) =
        Store::open(snapshot.clone()).map_err(|e| format!("open with no fault: {e}"))?;
    let mut expected = Model::new();
    for (&key, &value) in model {
        let found = store
            .get(&hash_of(key))
            .map_err(|e| format!("key {key:#x} with no fault: {e}"))?;
        if found != value.map(info_of) && !(evicted && found.is_none()) {
            return Err(format!(
                "key {key:#x} with no fault: store {found:?}, flushed {:?}",
                value.map(info_of)
            ));
        }
        expected.insert(key, found.and(value));
    }
    Ok(expected)
}

/// Every single fault on every programmed page, the pairs, and the
/// recovery's power cuts (after every fault on the critical pages; at the
/// last point, after a page past the ECC anywhere too). `previous` holds
/// each block's bytes from before its last erase.
fn place_at_point(
    plan: &CorruptPlan,
    snapshot: &SimFlash,
    previous: &SimFlash,
    model: &Model,
    last: bool,
    summary: &mut CorruptSummary,
) {
    let pages = programmed_pages(snapshot);
    let mut singles: Vec<(PageAddr, Fault)> = pages
        .iter()
        .filter(|_| plan.singles)
        .flat_map(|&page| Fault::ALL.map(|fault| (page, fault)))
        .collect();
    if plan.singles {
        singles.extend(
            erased_pages_read(snapshot)
                .into_iter()
                .flat_map(|page| ERASED_FAULTS.map(|fault| (page, fault))),
        );
    }
    let results: Vec<(Tally, u64, Vec<String>)> = singles
        .par_iter()
        .filter_map(|&(page, fault)| {
            let mut device = snapshot.clone();
            place(&mut device, previous, &pages, page, fault)?;
            let (outcome, salvage_wrong) = classify(device, model);
            let mut tally = Tally::default();
            let magic = &snapshot.raw_page(page)[..4];
            let failure = describe(
                plan,
                &outcome,
                &format!("{fault:?} at {page:?} (a page starting {magic:02x?})"),
            );
            tally.add(outcome);
            Some((tally, salvage_wrong, failure.into_iter().collect()))
        })
        .collect();
    for (tally, wrong, failures) in results {
        summary.singles.merge(tally);
        summary.placements += 1;
        summary.salvage_wrong += wrong;
        keep_failures(summary, failures);
    }
    if plan.pairs {
        place_pairs(plan, snapshot, model, summary);
    }
    if plan.recovery_cuts {
        // Every point: each fault on the pages the store depends on most;
        // the last point: past the ECC on every programmed page too.
        let mut placements: Vec<(PageAddr, Fault)> = critical_pages(snapshot)
            .into_iter()
            .flat_map(|(page, _)| Fault::ALL.map(|fault| (page, fault)))
            .collect();
        if last {
            placements.extend(pages.iter().map(|&page| (page, Fault::PastEcc)));
            // And the erased pages an open reads, at the ECC's limit and
            // past it.
            placements.extend(
                erased_pages_read(snapshot)
                    .into_iter()
                    .flat_map(|page| ERASED_FAULTS.map(|fault| (page, fault))),
            );
            placements.sort_unstable_by_key(|&(p, f)| (p.block.0, p.page, f as u8));
            placements.dedup();
        }
        let devices = Devices {
            snapshot,
            previous,
            pages: &pages,
        };
        place_with_recovery_cuts(plan, devices, &placements, model, summary);
    }
}

fn keep_failures(summary: &mut CorruptSummary, failures: Vec<String>) {
    let room = SILENT_SHOWN_MAX.saturating_sub(summary.failures.len());
    summary.failures.extend(failures.into_iter().take(room));
}

/// A silent or lost outcome described, with the command that replays the
/// campaign.
fn describe(plan: &CorruptPlan, outcome: &Outcome, what: &str) -> Option<String> {
    let device = plan
        .device
        .map_or(String::new(), |d| format!(" --device {}", d.name()));
    let reused = if plan.reused_device {
        " --reused-device"
    } else {
        ""
    };
    let replay = match plan.config {
        Some(_) => format!(
            "logstore-sim corrupt --swarm --seeds {}..{} --flushes {}{reused}",
            plan.seed,
            plan.seed + 1,
            plan.flushes
        ),
        None => format!(
            "logstore-sim corrupt --seed {}{device} --flushes {}{reused}",
            plan.seed, plan.flushes
        ),
    };
    match outcome {
        Outcome::Silent(why) => Some(format!("silent: {what}: {why} (replay: {replay})")),
        Outcome::StoreLost(why) => Some(format!("store lost: {what}: {why} (replay: {replay})")),
        _ => None,
    }
}

/// Every page of the device holding programmed bytes.
/// The faults placed on erased pages: bits flipped, within the ECC, at
/// its limit and past it (the other kinds leave an erased page as it is,
/// or put a programmed page where the writer left none).
const ERASED_FAULTS: [Fault; 3] = [Fault::AtEcc, Fault::PastEccByOne, Fault::PastEcc];

/// The erased pages an open reads: page 0 of every block whose page 0 is
/// erased (the anchor's scan reads every block's), and the first erased
/// page after the last programmed one of each partly written block (a
/// journal's or a lane's next page, which recovery reads to find the end).
fn erased_pages_read(flash: &SimFlash) -> Vec<PageAddr> {
    let g = flash.geometry();
    let erased = |page: PageAddr| flash.raw_page(page).iter().all(|&b| b == 0xFF);
    let mut found = Vec::new();
    for block in 0..g.blocks {
        let first = PageAddr::new(block, 0);
        if erased(first) {
            found.push(first);
            continue;
        }
        let last = (0..g.pages_per_block)
            .rev()
            .find(|&page| !erased(PageAddr::new(block, page)))
            .unwrap_or(0);
        if last + 1 < g.pages_per_block {
            found.push(PageAddr::new(block, last + 1));
        }
    }
    found
}

fn programmed_pages(flash: &SimFlash) -> Vec<PageAddr> {
    let g = flash.geometry();
    (0..g.blocks)
        .flat_map(|block| (0..g.pages_per_block).map(move |page| PageAddr::new(block, page)))
        .filter(|&page| flash.raw_page(page).iter().any(|&b| b != 0xFF))
        .collect()
}

/// Reopens `device` and reads every key of `model` back; also how many
/// keys a salvage answered wrong after a named loss.
fn classify(device: SimFlash, model: &Model) -> (Outcome, u64) {
    match Store::open_returning(device) {
        Ok((mut store, _)) => (check_keys(&mut store, model), 0),
        Err((StoreError::DataLoss(_), device)) => (Outcome::Named, salvage_wrong(device, model)),
        Err((error, _)) => (Outcome::StoreLost(error.to_string()), 0),
    }
}

/// Kept if every key answers as the model says, named if some answer a
/// typed error and none is wrong, silent otherwise.
fn check_keys(store: &mut Store<SimFlash>, model: &Model) -> Outcome {
    let mut named = false;
    for (&key, &expected) in model {
        match store.get(&hash_of(key)) {
            Ok(found) if found == expected.map(info_of) => {}
            Ok(found) => {
                return Outcome::Silent(format!(
                    "key {key:#x}: store {found:?}, flushed {:?}",
                    expected.map(info_of)
                ))
            }
            Err(_) => named = true,
        }
    }
    if named {
        Outcome::Named
    } else {
        Outcome::Kept
    }
}

fn salvage_wrong(device: SimFlash, model: &Model) -> u64 {
    let Ok((mut store, _)) = Store::open_salvaging(device) else {
        return 0;
    };
    model
        .iter()
        .filter(|(&key, &expected)| {
            matches!(store.get(&hash_of(key)), Ok(found) if found != expected.map(info_of))
        })
        .count() as u64
}

/// The pages the store depends on most, each with its role: the anchor's
/// lanes, the journal's last programmed pages, the incarnations' filter
/// pages and a few of their bucket pages.
fn critical_pages(flash: &SimFlash) -> Vec<(PageAddr, &'static str)> {
    const JOURNAL_LAST: usize = 4;
    let Ok((store, _)) = Store::open(flash.clone()) else {
        return Vec::new();
    };
    let programmed = |block: logstore::BlockAddr| {
        let g = flash.geometry();
        (0..g.pages_per_block)
            .map(move |page| PageAddr { block, page })
            .filter(|&page| flash.raw_page(page).iter().any(|&b| b != 0xFF))
    };
    let mut pages: Vec<(PageAddr, &str)> = store
        .anchor_lanes()
        .into_iter()
        .flat_map(programmed)
        .map(|p| (p, "anchor"))
        .collect();
    let journal = store.journal_page_addrs();
    let journal_blocks: Vec<_> = journal.iter().map(|p| p.block).collect();
    let mut tail: Vec<PageAddr> = journal_blocks
        .iter()
        .copied()
        .flat_map(programmed)
        .collect();
    tail.dedup();
    pages.extend(
        tail.iter()
            .rev()
            .take(JOURNAL_LAST)
            .map(|&p| (p, "journal")),
    );
    for region in store.incarnation_regions() {
        let filter_magic = 0x4C53_4631u32.to_le_bytes();
        let (filters, buckets): (Vec<PageAddr>, Vec<PageAddr>) = region
            .blocks
            .iter()
            .copied()
            .flat_map(programmed)
            .partition(|&page| flash.raw_page(page)[..4] == filter_magic);
        pages.extend(filters.into_iter().map(|p| (p, "filter")));
        // A few bucket pages of each incarnation (its first, its last and
        // two between), so a filter page and a bucket page are lost
        // together too.
        let step = (buckets.len() / BUCKET_PAGES_PAIRED).max(1);
        pages.extend(
            buckets
                .iter()
                .step_by(step)
                .chain(buckets.last())
                .take(BUCKET_PAGES_PAIRED + 1)
                .map(|&p| (p, "bucket")),
        );
    }
    pages.sort_unstable_by_key(|(p, _)| (p.block.0, p.page));
    pages.dedup_by_key(|(p, _)| *p);
    pages
}

fn place_pairs(
    plan: &CorruptPlan,
    snapshot: &SimFlash,
    model: &Model,
    summary: &mut CorruptSummary,
) {
    let critical = critical_pages(snapshot);
    let pages: Vec<PageAddr> = critical.iter().map(|&(p, _)| p).collect();
    let pairs: Vec<_> = critical
        .iter()
        .enumerate()
        .flat_map(|(i, &a)| critical[i + 1..].iter().map(move |&b| (a, b)))
        .flat_map(|pair| PAIR_FAULTS.map(|fault| (pair, fault)))
        .collect();
    let results: Vec<(bool, bool, bool, Tally, Option<String>)> = pairs
        .par_iter()
        .filter_map(|&(((a, role_a), (b, role_b)), fault)| {
            let mut device = snapshot.clone();
            place(&mut device, snapshot, &pages, a, fault)?;
            place(&mut device, snapshot, &pages, b, fault)?;
            let (outcome, _) = classify(device, model);
            let what = format!("{fault:?} on the pair {role_a} {a:?} and {role_b} {b:?}");
            let failure = match &outcome {
                Outcome::Silent(_) => describe(plan, &outcome, &what),
                _ => None,
            };
            let journal_only = role_a == "journal" && role_b == "journal";
            let filter_bucket = [role_a, role_b] == ["filter", "bucket"]
                || [role_a, role_b] == ["bucket", "filter"];
            let mut tally = Tally::default();
            tally.add(outcome);
            let failure = failure.filter(|_| !journal_only);
            let at_limit = matches!(fault, Fault::AtEcc | Fault::PastEccByOne);
            Some((journal_only, filter_bucket, at_limit, tally, failure))
        })
        .collect();
    for (journal_only, filter_bucket, at_limit, tally, failure) in results {
        summary.filter_bucket_pairs += u64::from(filter_bucket);
        if at_limit && !journal_only {
            summary.pairs_at_ecc_limit.merge(tally);
        }
        match journal_only {
            true => summary.journal_pairs.merge(tally),
            false => summary.pairs.merge(tally),
        }
        summary.placements += 1;
        keep_failures(summary, failure.into_iter().collect());
    }
}

/// The device at a quiescent point, each block's bytes from before its
/// last erase (`previous`, for stale pages), and its programmed pages.
#[derive(Clone, Copy)]
struct Devices<'a> {
    snapshot: &'a SimFlash,
    previous: &'a SimFlash,
    pages: &'a [PageAddr],
}

/// Each placement, then a torn power cut at every mutating operation the
/// recovery makes (the open, and after a named loss the salvage the
/// README prescribes), a restart and an open.
fn place_with_recovery_cuts(
    plan: &CorruptPlan,
    devices: Devices,
    placements: &[(PageAddr, Fault)],
    model: &Model,
    summary: &mut CorruptSummary,
) {
    let results: Vec<(Tally, u64, u64, bool, Vec<String>)> = placements
        .par_iter()
        .filter_map(|&(page, fault)| {
            let mut device = devices.snapshot.clone();
            place(&mut device, devices.previous, devices.pages, page, fault)?;
            let before = device.ops_mutating();
            let ops = recover(device.clone()).ops_mutating() - before;
            let opened = match Store::open_returning(device.clone()) {
                Ok((store, _)) => store.into_flash(),
                Err((_, flash)) => flash,
            };
            let in_salvage = ops - (opened.ops_mutating() - before).min(ops);
            let (mut tally, mut wrong, mut failures) = (Tally::default(), 0, Vec::new());
            for op in 0..ops {
                let mut cut = device.clone();
                cut.cut_power_at(before + op, CrashMode::Torn);
                let mut restarted = recover(cut);
                restarted.restart();
                let (outcome, salvage_wrong) = classify(restarted, model);
                let what = format!("{fault:?} at {page:?}, power cut at recovery operation {op}");
                failures.extend(describe(plan, &outcome, &what));
                if salvage_wrong > 0 {
                    failures.push(format!("salvage wrong: {what}: {salvage_wrong} keys"));
                }
                tally.add(outcome);
                wrong += salvage_wrong;
            }
            let erased = devices.snapshot.raw_page(page).iter().all(|&b| b == 0xFF);
            Some((tally, wrong, in_salvage, erased, failures))
        })
        .collect();
    for (tally, wrong, in_salvage, erased, failures) in results {
        if erased {
            summary.recovery_cuts_erased.merge(tally);
        }
        summary.placements += tally.kept + tally.named + tally.silent + tally.store_lost;
        summary.recovery_cuts.merge(tally);
        summary.salvage_cuts += in_salvage;
        summary.salvage_wrong += wrong;
        keep_failures(summary, failures);
    }
}

/// The recovery a user runs after a fault: `open`, and after a named loss
/// `open_salvaging`. The device as the recovery left it (power lost
/// midway, say).
fn recover(device: SimFlash) -> SimFlash {
    match Store::open_returning(device) {
        Ok((store, _)) => store.into_flash(),
        Err((StoreError::DataLoss(_), flash)) => match Store::open_salvaging_returning(flash) {
            Ok((store, _)) => store.into_flash(),
            Err((_, flash)) => flash,
        },
        Err((_, flash)) => flash,
    }
}
