//! Seeded scenarios of what real parts do that a random workload rarely
//! meets: years of retention on a worn part, kept readable by the
//! background scrub ([`retention`]); a journal page damaged past the ECC
//! in the middle of the log ([`middle_page_lost`]); an incarnation page
//! past the ECC under the background scrub ([`scrub_past_a_lost_page`]).
//!
//! Promises: each is a pure function of its seed and plan; a broken
//! guarantee is an `Err` naming it, never a panic.

use std::collections::BTreeMap;

use logstore::{Hash, Info, Store, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::check::workload::{hash_of, info_of};
use crate::check::CheckConfig;
use crate::nand::{Device, SimFlash};

const DAY_NS: u64 = 86_400_000_000_000;

/// Most days a retention scenario simulates: a century.
pub(crate) const DAYS_MAX: u64 = 36_500;

/// A retention scenario: a store filled once on a worn part, then left to
/// age, a background scrub step run every `step_days`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RetentionPlan {
    pub device: Device,
    /// Fraction of each block's endurance used before the store is made.
    pub wear: f64,
    /// Days simulated, and how often the scrub step runs.
    pub days: u64,
    pub step_days: u64,
    /// Pages a scrub step may read (0: no scrubbing at all).
    pub scrub_pages: u64,
    /// Entries inserted (flushed every 16) before the aging starts.
    pub inserts: u64,
    /// On the part's own geometry with this many blocks (its page and
    /// block sizes, where the anchor's lanes hold 64 to 192 records and
    /// move rarely), instead of its small one.
    pub own_blocks: Option<u32>,
}

impl RetentionPlan {
    /// Five years on `device` at 95% of its endurance, a scrub every 30
    /// days that may read the whole store.
    pub fn worn(device: Device) -> Self {
        RetentionPlan {
            device,
            wear: 0.95,
            days: 5 * 365,
            step_days: 30,
            scrub_pages: 4_096,
            inserts: 1_500,
            own_blocks: None,
        }
    }

    /// As [`RetentionPlan::worn`], on the part's own geometry (48 blocks,
    /// a store of 2,048 slots, four incarnations, a two-block journal).
    pub fn worn_own_geometry(device: Device) -> Self {
        RetentionPlan {
            own_blocks: Some(48),
            ..RetentionPlan::worn(device)
        }
    }
}

/// What a retention scenario saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionOutcome {
    /// Rewrites the scrub did (journal packs, incarnations copied).
    pub scrubs: u64,
    /// The most bits a read corrected in one ECC step.
    pub bits_corrected_max: u32,
    /// The first day a read asked for a scrub (bits at the threshold).
    pub first_scrub_day: Option<u64>,
    pub bits_corrected: u64,
    pub reads_beyond_ecc: u64,
}

/// Runs `plan` from `seed`: every entry must read back as inserted at the
/// end, and again after a reopen; an uncorrectable page on the way is a
/// failure naming the day.
pub fn retention(seed: u64, plan: RetentionPlan) -> Result<RetentionOutcome, String> {
    if plan.step_days == 0 || plan.days > DAYS_MAX {
        return Err(format!(
            "retention plan {plan:?}: a step of at least one day, at most {DAYS_MAX} days"
        ));
    }
    let mut config = CheckConfig::on_device(plan.device);
    if let Some(blocks) = plan.own_blocks {
        config.geometry = plan.device.geometry(blocks);
        config.store.order = 9;
        config.store.incarnations_max = 4;
        config.store.journal_blocks = 2;
    }
    let mut flash = SimFlash::new(config.sim_config(), seed).map_err(|e| e.to_string())?;
    flash.precycle(plan.wear);
    let mut store = Store::create(flash, config.store).map_err(|e| format!("create: {e}"))?;
    let model = fill(&mut store, seed, plan.inserts)?;
    let mut outcome = RetentionOutcome::default();
    let steps = plan.days / plan.step_days;
    for step in 1..=steps {
        let day = step * plan.step_days;
        store.flash_mut().bake(plan.step_days * DAY_NS);
        if plan.scrub_pages == 0 {
            continue;
        }
        let report = store
            .scrub(plan.scrub_pages)
            .map_err(|e| format!("day {day}: scrub: {e}"))?;
        if report.bits_corrected_max >= scrub_threshold(&config) {
            outcome.first_scrub_day.get_or_insert(day);
        }
    }
    check_all(&mut store, &model).map_err(|e| format!("after {} days: {e}", plan.days))?;
    let before = store.stats();
    let flash = store.into_flash();
    let (mut store, _) = Store::open(flash).map_err(|e| format!("reopen: {e}"))?;
    check_all(&mut store, &model).map_err(|e| format!("after the reopen: {e}"))?;
    let after = store.stats();
    outcome.scrubs = before.scrubs + after.scrubs;
    outcome.bits_corrected = before.ecc.bits_corrected + after.ecc.bits_corrected;
    outcome.bits_corrected_max = before
        .ecc
        .bits_corrected_max
        .max(after.ecc.bits_corrected_max);
    outcome.reads_beyond_ecc = store.flash().counters().reads_beyond_ecc;
    Ok(outcome)
}

/// Bits corrected in one step at which the ECC layer asks for a scrub.
fn scrub_threshold(config: &CheckConfig) -> u32 {
    (config.geometry.ecc_bits * 3).div_ceil(4)
}

/// Inserts `count` entries (one in eight deleted again), flushing every
/// 16 and at the end; returns what the store must hold.
fn fill(
    store: &mut Store<SimFlash>,
    seed: u64,
    count: u64,
) -> Result<BTreeMap<Hash, Option<Info>>, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5C2B_0B5E);
    let mut model = BTreeMap::new();
    for i in 0..count {
        let hash = hash_of(rng.random());
        let info = info_of(i);
        store
            .insert(hash, info)
            .map_err(|e| format!("insert {i}: {e}"))?;
        model.insert(hash, Some(info));
        if rng.random_ratio(1, 8) {
            store
                .delete(&hash)
                .map_err(|e| format!("delete {i}: {e}"))?;
            model.insert(hash, None);
        }
        if i % 16 == 15 {
            store.flush().map_err(|e| format!("flush {i}: {e}"))?;
        }
    }
    store.flush().map_err(|e| format!("final flush: {e}"))?;
    Ok(model)
}

fn check_all(
    store: &mut Store<SimFlash>,
    model: &BTreeMap<Hash, Option<Info>>,
) -> Result<(), String> {
    for (hash, expected) in model {
        let found = store.get(hash).map_err(|e| format!("get: {e}"))?;
        if found != *expected {
            return Err(format!("get: store {found:?}, inserted {expected:?}"));
        }
    }
    Ok(())
}

/// How a store met a journal page damaged past the ECC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MiddleOutcome {
    /// Journal pages on flash, and which one was damaged.
    pub pages: usize,
    pub victim: usize,
    /// Whether the victim was the last page of a flush: its commit copy
    /// must answer for it, so nothing is lost and the open succeeds.
    pub victim_copied: bool,
    /// Pages the open's `DataLoss` named.
    pub pages_lost: u64,
    /// Entries the store (salvaged, where a loss was named) still holds.
    pub entries_kept: u64,
}

/// Fills a journal on `device` (flushing every few entries), damages one
/// of its pages past what the ECC corrects, and reopens. The last page of
/// a flush has its commit copy: the open must keep every entry. Any other
/// page: the open must name the loss, and the salvaged store must hold
/// every entry the other pages held.
pub fn middle_page_lost(seed: u64, device: Device) -> Result<MiddleOutcome, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3DD1_E0F0);
    let config = CheckConfig::on_device(device);
    let flash = SimFlash::new(config.sim_config(), seed).map_err(|e| e.to_string())?;
    let mut store = Store::create(flash, config.store).map_err(|e| format!("create: {e}"))?;
    let geometry = config.geometry;
    // The journal programs at least a third of a block's pages (TLC at a
    // flush a page, passing over the rest: `logstore::journal_pages_at_risk`).
    let pages_max =
        u64::from(config.store.journal_blocks) * u64::from(geometry.pages_per_block) / 3;
    let (by_page, flush_last) = fill_journal(&mut store, &mut rng, pages_max)?;
    let pages = store.journal_page_addrs();
    let stats = store.stats();
    if pages.len() < 2 || stats.freezes + stats.packs > 0 {
        return Err(format!(
            "{} journal pages, {} freezes and {} packs: the scenario needs two pages or more, the first journal",
            pages.len(),
            stats.freezes,
            stats.packs
        ));
    }
    let victim = rng.random_range(0..pages.len());
    let victim_copied = flush_last.contains(&victim);
    let mut flash = store.into_flash();
    damage_past_ecc(&mut flash, pages[victim], &mut rng)?;
    let (pages, pages_lost, flash) = match Store::open_returning(flash) {
        Ok((mut store, _)) if victim_copied => {
            let entries_kept = entries_held(&mut store, &by_page, None)?;
            return Ok(MiddleOutcome {
                pages: pages.len(),
                victim,
                victim_copied,
                pages_lost: 0,
                entries_kept,
            });
        }
        Ok(_) => {
            return Err(format!(
                "journal page {victim} of {} damaged past the ECC: open returned Ok, its entries silently gone",
                pages.len()
            ))
        }
        Err((StoreError::DataLoss(report), _)) if victim_copied => {
            return Err(format!(
                "journal page {victim}, the last of a flush, damaged: its copy did not answer: {report:?}"
            ))
        }
        Err((StoreError::DataLoss(report), flash)) => {
            let lost = report.lost.iter().map(|l| l.sequences.end - l.sequences.start);
            (pages.len(), lost.sum(), flash)
        }
        Err((other, _)) => return Err(format!("open: {other}")),
    };
    let (mut store, _) = Store::open_salvaging(flash).map_err(|e| format!("salvage: {e}"))?;
    let entries_kept = entries_held(&mut store, &by_page, Some(victim))?;
    lost_answer_unknown(&mut store, &by_page[victim], &mut rng)?;
    store
        .accept_loss()
        .map_err(|e| format!("accept_loss: {e}"))?;
    if entries_held(&mut store, &by_page, Some(victim))? != entries_kept {
        return Err("after accept_loss the entries kept changed".into());
    }
    Ok(MiddleOutcome {
        pages,
        victim,
        victim_copied,
        pages_lost,
        entries_kept,
    })
}

/// More flipped bits in `page`'s first ECC step than the ECC corrects:
/// distinct bits, 97 apart give or take 88.
fn damage_past_ecc(
    flash: &mut SimFlash,
    page: logstore::PageAddr,
    rng: &mut ChaCha8Rng,
) -> Result<(), String> {
    let geometry = logstore::Flash::geometry(flash);
    for k in 0..geometry.ecc_bits * 2 + 2 {
        let bit = (k * 97 + rng.random_range(0..89)) % (geometry.ecc_step_bytes * 8);
        flash.flip_bit(page, bit).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Checks that `store` holds every entry of `by_page` but those of page
/// `but` (after a salvage, as the best answer of an `Unknown`); returns
/// how many it holds.
fn entries_held(
    store: &mut Store<SimFlash>,
    by_page: &[Vec<(Hash, Info)>],
    but: Option<usize>,
) -> Result<u64, String> {
    let mut entries_kept = 0;
    for (page, entries) in by_page.iter().enumerate().filter(|(p, _)| Some(*p) != but) {
        for (hash, info) in entries {
            let found = match store.get(hash) {
                Ok(found) | Err(StoreError::Unknown { best: found }) => found,
                Err(e) => return Err(format!("get: {e}")),
            };
            match found {
                Some(found) if found == *info => entries_kept += 1,
                found => return Err(format!("store: page {page} entry {found:?}")),
            }
        }
    }
    Ok(entries_kept)
}

/// After a salvage, every hash of the lost page, and a hash never stored,
/// must answer `Unknown`: "absent" would be a wrong answer, silent.
fn lost_answer_unknown(
    store: &mut Store<SimFlash>,
    lost: &[(Hash, Info)],
    rng: &mut ChaCha8Rng,
) -> Result<(), String> {
    let never: Hash = hash_of(rng.random());
    for hash in lost.iter().map(|(h, _)| h).chain([&never]) {
        match store.get(hash) {
            Err(StoreError::Unknown { .. }) => {}
            other => {
                return Err(format!(
                    "after a salvage, a hash the lost page may have held answered {other:?}, not Unknown"
                ))
            }
        }
    }
    Ok(())
}

/// Entries by the journal page that holds them.
type EntriesByPage = Vec<Vec<(Hash, Info)>>;

/// Inserts 40 to 160 entries (fewer than the `pages_max` pages of the
/// journal hold), flushing every 1 to 24 and at the end; returns them by
/// the journal page that holds them, and which pages ended a flush.
fn fill_journal(
    store: &mut Store<SimFlash>,
    rng: &mut ChaCha8Rng,
    pages_max: u64,
) -> Result<(EntriesByPage, Vec<usize>), String> {
    let flush_every = rng.random_range(1..25u64);
    // A flush takes its pages and a copy, a page holds at least one
    // entry: the journal never fills (no pack).
    let count = rng
        .random_range(40..160u64)
        .min(pages_max.saturating_sub(2) / 2 * flush_every.min(2));
    let mut flush_last = Vec::new();
    let mut by_page: Vec<Vec<(Hash, Info)>> = Vec::new();
    for i in 0..count {
        let (hash, info) = (hash_of(rng.random()), info_of(i));
        store
            .insert(hash, info)
            .map_err(|e| format!("insert: {e}"))?;
        // The entry waits in the page after those programmed.
        let page = store.journal_page_addrs().len();
        by_page.resize(by_page.len().max(page + 1), Vec::new());
        by_page[page].push((hash, info));
        if i % flush_every == flush_every - 1 || i == count - 1 {
            store.flush().map_err(|e| format!("flush: {e}"))?;
            flush_last.push(store.journal_page_addrs().len() - 1);
        }
    }
    Ok((by_page, flush_last))
}

/// What [`scrub_past_a_lost_page`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LostPageOutcome {
    /// Scrub steps run, each of them successful.
    pub steps: u64,
    /// Pages the scrub named lost, summed over its steps.
    pub pages_lost: u64,
    pub rewrites: u64,
    /// Lookups answered with a typed error (what the lost page held).
    pub typed_errors: u64,
}

/// A store of two incarnations or more on `device`, a bucket page of the
/// newest damaged past the ECC and a page of the oldest near its limit:
/// the background scrub, in steps of a seeded budget over every page
/// twice, must never fail, must name the lost page once, and must still
/// rewrite the oldest incarnation; every entry then reads back as stored
/// or as a typed error, never another answer.
pub fn scrub_past_a_lost_page(seed: u64, device: Device) -> Result<LostPageOutcome, String> {
    use logstore::testing::Incarnation;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5C2B_1057);
    let config = CheckConfig::on_device(device);
    let flash = SimFlash::new(config.sim_config(), seed).map_err(|e| e.to_string())?;
    let mut store = Store::create(flash, config.store).map_err(|e| format!("create: {e}"))?;
    let slots = (1u64 << config.store.order) * config.store.bucket_slots as u64;
    let model = fill(&mut store, seed, slots * 3)?;
    let regions = store.incarnation_regions();
    if regions.len() < 2 {
        return Err(format!(
            "{} incarnations: the scenario needs two",
            regions.len()
        ));
    }
    let open = |index: usize| Incarnation::open(regions[index].clone(), config.geometry);
    let newest = open(0).map_err(|e| e.to_string())?;
    let oldest = open(regions.len() - 1).map_err(|e| e.to_string())?;
    let victim = newest.page_addr(rng.random_range(0..newest.bucket_pages()));
    let worn = oldest.page_addr(rng.random_range(0..oldest.pages()));
    let flash = store.flash_mut();
    for k in 0..config.geometry.ecc_bits * 2 + 2 {
        flash.flip_bit(victim, k * 61).map_err(|e| e.to_string())?;
    }
    for bit in 0..scrub_threshold(&config) {
        flash
            .flip_bit(worn, bit * 8 + 5)
            .map_err(|e| e.to_string())?;
    }
    let pages: u64 =
        newest.pages() * regions.len() as u64 + store.journal_page_addrs().len() as u64;
    let budget = rng.random_range(1..=8);
    let mut outcome = LostPageOutcome::default();
    for step in 0..(pages * 2).div_ceil(budget) + 1 {
        let report = store
            .scrub(budget)
            .map_err(|e| format!("scrub step {step}: {e}"))?;
        outcome.steps += 1;
        outcome.pages_lost += report.pages_lost;
        outcome.rewrites += report.rewrites;
    }
    if outcome.pages_lost != 1 || store.lost_pages() != [victim] {
        return Err(format!(
            "lost page {victim:?} named {} times, lost pages {:?}",
            outcome.pages_lost,
            store.lost_pages()
        ));
    }
    if store.incarnation_regions().last() == regions.last() {
        return Err(format!(
            "page {worn:?} near the ECC's limit, its incarnation not rewritten"
        ));
    }
    for (hash, expected) in &model {
        match store.get(hash) {
            Ok(found) if found == *expected => {}
            Err(StoreError::HashStore(logstore::errors::HashStoreError::Corrupt { .. })) => {
                outcome.typed_errors += 1
            }
            other => return Err(format!("get: {other:?}, stored {expected:?}")),
        }
    }
    Ok(outcome)
}

/// What a torn-tail scenario saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TornTailOutcome {
    /// Crash points tried (every mutating operation of one flush).
    pub cuts: u64,
    /// Of them, those after which the last page was then lost and every
    /// answer stayed the same.
    pub kept: u64,
}

/// A flush cut by a torn power cut at each of its operations in turn; the
/// store reopened (what it then serves is its state); then the last page
/// of its journal lost past the ECC and the store reopened again: every
/// answer must stay what the first reopen served, or be a typed error.
/// A recovery that keeps the last page it accepted without a copy (it may
/// be the page the cut tore, its cells weak) fails here.
pub fn torn_tail(seed: u64, device: Device) -> Result<TornTailOutcome, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7042_7A11);
    let config = CheckConfig::on_device(device);
    let flash = SimFlash::new(config.sim_config(), seed).map_err(|e| e.to_string())?;
    let mut store = Store::create(flash, config.store).map_err(|e| format!("create: {e}"))?;
    let keys: Vec<u64> = (0..rng.random_range(8..40u64))
        .map(|_| rng.random())
        .collect();
    for (i, &key) in keys.iter().enumerate() {
        store
            .insert(hash_of(key), info_of(key))
            .map_err(|e| e.to_string())?;
        if i % 7 == 6 {
            store.flush().map_err(|e| e.to_string())?;
        }
    }
    let more: Vec<u64> = (0..rng.random_range(1..12u64))
        .map(|_| rng.random())
        .collect();
    let write_more = |store: &mut Store<SimFlash>| -> Result<(), StoreError> {
        for &key in &more {
            store.insert(hash_of(key), info_of(key))?;
        }
        store.flush()
    };
    let base = store.into_flash();
    let (mut probe, _) = Store::open(base.clone()).map_err(|e| format!("open: {e}"))?;
    let opened = probe.flash().ops_mutating();
    write_more(&mut probe).map_err(|e| e.to_string())?;
    let ops = probe.flash().ops_mutating() - opened;
    let keys: Vec<u64> = keys.into_iter().chain(more.iter().copied()).collect();
    let mut outcome = TornTailOutcome::default();
    for op in 0..ops {
        let (mut store, _) = Store::open(base.clone()).map_err(|e| format!("open: {e}"))?;
        store
            .flash_mut()
            .cut_power_at(opened + op, crate::CrashMode::Torn);
        let _ = write_more(&mut store);
        let flash = store.into_flash();
        outcome.cuts += 1;
        outcome.kept += u64::from(lose_the_last_page(flash, &keys)?);
    }
    Ok(outcome)
}

/// Restarts `flash`, reads every key, loses the journal's last page past
/// the ECC, reopens and reads again: `Ok(true)` if every answer held.
fn lose_the_last_page(mut flash: SimFlash, keys: &[u64]) -> Result<bool, String> {
    flash.restart();
    let (mut store, _) = Store::open(flash).map_err(|e| format!("reopen: {e}"))?;
    let served: Vec<_> = keys.iter().map(|&k| store.get(&hash_of(k)).ok()).collect();
    let Some(&last) = store.journal_page_addrs().last() else {
        return Ok(true);
    };
    let mut flash = store.into_flash();
    let g = flash.config().geometry;
    for k in 0..g.ecc_bits * 2 + 2 {
        let bit = (k * 97 + 13) % (g.ecc_step_bytes.max(1) * 8).min(g.page_bytes * 8);
        flash.flip_bit(last, bit).map_err(|e| e.to_string())?;
    }
    let mut store = match Store::open(flash) {
        Ok((store, _)) => store,
        Err(StoreError::DataLoss(_)) => return Ok(false),
        Err(other) => return Err(format!("the last page lost: open: {other}")),
    };
    for (&key, served) in keys.iter().zip(served) {
        match (store.get(&hash_of(key)), served) {
            (Err(_), _) => {}
            (Ok(now), Some(then)) if now == then => {}
            (Ok(now), then) => {
                return Err(format!(
                    "the last journal page {last:?} lost: key {key:#x} served {then:?}, now {now:?}"
                ))
            }
        }
    }
    Ok(true)
}
