//! Store workloads: churn that forces packs, bulk loads that force freezes,
//! lookups across incarnations with shadowing tombstones, `Full` without
//! loss, eviction, and the same store on a plain file.

use std::collections::BTreeMap;

use logstore::errors::LedgerError;
use logstore::{FileFlash, Geometry, Hash, Info, SlotLayoutKind};
use logstore::{FullReason, Store, StoreConfig, StoreError};
use logstore_sim::{SimConfig, SimFlash};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{hash_of, info_of};

/// Every test runs on both slot layouts.
const LAYOUTS: [SlotLayoutKind; 2] = [SlotLayoutKind::Full, SlotLayoutKind::Compact];

fn config(order: u32, journal_blocks: u32, layout: SlotLayoutKind) -> StoreConfig {
    StoreConfig {
        layout,
        ..StoreConfig::new(order, journal_blocks)
    }
}

fn device(blocks: u32) -> SimFlash {
    SimFlash::new(SimConfig::new(Geometry::new(512, 16, blocks).unwrap()), 3).unwrap()
}

fn assert_matches(
    store: &mut Store<SimFlash>,
    model: &BTreeMap<Hash, Info>,
    keys: impl Iterator<Item = u64>,
) {
    for key in keys {
        let hash = hash_of(key);
        assert_eq!(
            store.get(&hash).unwrap(),
            model.get(&hash).copied(),
            "key {key}"
        );
    }
    let contents: BTreeMap<_, _> = store.contents().unwrap().into_iter().collect();
    assert_eq!(&contents, model);
}

#[test]
fn churn_packs_instead_of_freezing() {
    for layout in LAYOUTS {
        churn_packs_instead_of_freezing_on(layout);
    }
}

fn churn_packs_instead_of_freezing_on(layout: SlotLayoutKind) {
    let mut store = Store::create(device(64), config(6, 2, layout)).unwrap();
    let mut model = BTreeMap::new();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // A working set of 100 keys in a 256-slot table, inserted and deleted
    // over and over: the journal fills with dead entries, packing frees it.
    for round in 0..4_000u64 {
        let key = rng.random_range(0..100u64);
        if rng.random_bool(0.5) {
            store.insert(hash_of(key), info_of(round)).unwrap();
            model.insert(hash_of(key), info_of(round));
        } else {
            let existed = store.delete(&hash_of(key)).unwrap();
            assert_eq!(existed, model.remove(&hash_of(key)).is_some());
        }
    }
    let stats = store.stats();
    println!("churn: {} packs, {} freezes", stats.packs, stats.freezes);
    assert!(stats.packs >= 5, "{} packs", stats.packs);
    assert_eq!(
        stats.freezes, 0,
        "churn of a small working set must not freeze"
    );
    assert_matches(&mut store, &model, 0..100);
    store.flush().unwrap();
    let (mut reopened, _) = Store::open(store.into_flash()).unwrap();
    assert_matches(&mut reopened, &model, 0..100);
}

#[test]
fn bulk_load_freezes_and_shadows_across_incarnations() {
    for layout in LAYOUTS {
        bulk_load_freezes_and_shadows_across_incarnations_on(layout);
    }
}

fn bulk_load_freezes_and_shadows_across_incarnations_on(layout: SlotLayoutKind) {
    let mut config = config(5, 4, layout);
    config.incarnations_max = 16;
    let mut store = Store::create(device(256), config).unwrap();
    let mut model = BTreeMap::new();
    let keys = 1_200u64;
    for key in 0..keys {
        store.insert(hash_of(key), info_of(key)).unwrap();
        model.insert(hash_of(key), info_of(key));
    }
    let freezes = store.stats().freezes;
    assert!(freezes >= 5, "{freezes} freezes");
    // Overwrite and delete keys that now live in old incarnations.
    for key in (0..keys).step_by(7) {
        store.insert(hash_of(key), info_of(key + 10_000)).unwrap();
        model.insert(hash_of(key), info_of(key + 10_000));
    }
    for key in (3..keys).step_by(11) {
        assert!(store.delete(&hash_of(key)).unwrap());
        model.remove(&hash_of(key));
    }
    assert!(!store.delete(&hash_of(keys + 5)).unwrap());
    // Push the shadowing entries themselves into incarnations.
    for key in keys..keys + 400 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        model.insert(hash_of(key), info_of(key));
    }
    println!(
        "freezes: {}, incarnations: {}",
        store.stats().freezes,
        store.stats().incarnations
    );
    assert_matches(&mut store, &model, 0..keys + 400);
    store.flush().unwrap();
    let (mut reopened, _) = Store::open(store.into_flash()).unwrap();
    assert_matches(&mut reopened, &model, 0..keys + 400);
}

#[test]
fn full_is_an_error_and_nothing_is_lost() {
    for layout in LAYOUTS {
        full_is_an_error_and_nothing_is_lost_on(layout);
    }
}

fn full_is_an_error_and_nothing_is_lost_on(layout: SlotLayoutKind) {
    let mut config = config(3, 1, layout);
    config.incarnations_max = 2;
    let mut store = Store::create(device(64), config).unwrap();
    let mut model = BTreeMap::new();
    let mut full = None;
    for key in 0..10_000u64 {
        match store.insert(hash_of(key), info_of(key)) {
            Ok(()) => {
                model.insert(hash_of(key), info_of(key));
            }
            Err(StoreError::Full(reason)) => {
                full = Some((key, reason));
                break;
            }
            Err(other) => panic!("{other}"),
        }
    }
    let (key, reason) = full.expect("a store of 2 incarnations of 32 slots fills up");
    assert_eq!(reason, FullReason::Incarnations { max: 2 });
    assert_eq!(store.stats().incarnations, 2);
    assert_eq!(store.get(&hash_of(key)).unwrap(), None);
    assert_matches(&mut store, &model, 0..key + 1);
    // Still full, still intact, and still able to overwrite in the table.
    assert!(matches!(
        store.insert(hash_of(key), info_of(key)),
        Err(StoreError::Full(_))
    ));
    assert_matches(&mut store, &model, 0..key + 1);
}

#[test]
fn eviction_drops_the_oldest_and_counts_it() {
    for layout in LAYOUTS {
        eviction_drops_the_oldest_and_counts_it_on(layout);
    }
}

fn eviction_drops_the_oldest_and_counts_it_on(layout: SlotLayoutKind) {
    let mut config = config(3, 1, layout);
    config.incarnations_max = 2;
    config.evict_oldest = true;
    let mut store = Store::create(device(64), config).unwrap();
    for key in 0..400u64 {
        store.insert(hash_of(key), info_of(key)).unwrap();
    }
    let stats = store.stats();
    assert!(stats.evictions > 0);
    assert_eq!(stats.incarnations, 2);
    assert_eq!(
        store.get(&hash_of(0)).unwrap(),
        None,
        "the oldest keys went with their incarnation"
    );
    assert_eq!(store.get(&hash_of(399)).unwrap(), Some(info_of(399)));
}

#[test]
fn the_store_runs_on_a_plain_file() {
    for layout in LAYOUTS {
        the_store_runs_on_a_plain_file_on(layout);
    }
}

fn the_store_runs_on_a_plain_file_on(layout: SlotLayoutKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.img");
    let geometry = Geometry::new(512, 16, 64).unwrap();
    let mut model = BTreeMap::new();
    {
        let flash = FileFlash::create(&path, geometry).unwrap();
        let mut store = Store::create(flash, config(4, 2, layout)).unwrap();
        for key in 0..300u64 {
            store.insert(hash_of(key), info_of(key)).unwrap();
            model.insert(hash_of(key), info_of(key));
        }
        store.flush().unwrap();
    }
    let flash = FileFlash::open(&path, geometry).unwrap();
    let (mut store, _) = Store::open(flash).unwrap();
    let contents: BTreeMap<_, _> = store.contents().unwrap().into_iter().collect();
    assert_eq!(contents, model);
}

/// A journal page damaged past the ECC under a running compact store makes
/// `log_contents` the error a lookup through that page gets, not a
/// shorter list.
#[test]
fn log_contents_over_a_damaged_journal_page_is_an_error() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.img");
    let geometry = Geometry::new(512, 16, 64).unwrap();
    let flash = FileFlash::create(&path, geometry).unwrap();
    let mut store = Store::create(flash, config(6, 2, SlotLayoutKind::Compact)).unwrap();
    for key in 0..40u64 {
        store.insert(hash_of(key), info_of(key)).unwrap();
    }
    store.flush().unwrap();
    let first = store.journal_page_addrs()[0];
    let mut image = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    image
        .seek(SeekFrom::Start(geometry.page_offset(first)))
        .unwrap();
    image.write_all(&[0; 512]).unwrap();
    let lookup = store.get(&hash_of(0)).unwrap_err().to_string();
    let contents = store.log_contents().unwrap_err().to_string();
    assert!(lookup.contains("is corrupt"), "{lookup}");
    assert_eq!(contents, lookup);
}

/// The journal's generation and the entries on flash, as the checker reads
/// them: flushed entries count, a freeze starts a new journal.
#[test]
fn journal_entries_count_what_is_on_flash() {
    let geometry = Geometry::new(512, 16, 128).unwrap();
    let flash = SimFlash::new(SimConfig::new(geometry), 1).unwrap();
    let mut store = Store::create(flash, StoreConfig::new(6, 4)).unwrap();
    let (generation, on_flash) = store.journal_entries();
    assert_eq!(on_flash, 0);
    for key in 0..20 {
        store.insert(hash_of(key), info_of(key)).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.journal_entries(), (generation, 20));
    let mut key = 20;
    // Bounded: a 256-slot table freezes within a few hundred inserts.
    while store.stats().freezes == 0 && key < 10_000 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        key += 1;
    }
    store.flush().unwrap();
    let (after, _) = store.journal_entries();
    assert!(after > generation, "a freeze starts a new journal");
}

/// `incarnation_contents` reads a frozen incarnation back from flash and
/// refuses an index past the last, naming it and the count.
#[test]
fn incarnation_contents_reads_each_incarnation_and_names_one_past_the_last() {
    let geometry = Geometry::new(512, 16, 128).unwrap();
    let flash = SimFlash::new(SimConfig::new(geometry), 1).unwrap();
    let mut store = Store::create(flash, StoreConfig::new(6, 4)).unwrap();
    let mut key = 0;
    // Bounded: a 256-slot table freezes within a few hundred inserts.
    while store.stats().freezes == 0 && key < 10_000 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        key += 1;
    }
    assert_eq!(store.incarnation_regions().len(), 1);
    let frozen = store.incarnation_contents(0).unwrap();
    let first = (hash_of(0), logstore::Value::Live(info_of(0)));
    assert!(frozen.contains(&first), "{} entries", frozen.len());
    match store.incarnation_contents(1) {
        Err(StoreError::TooLarge(why)) => assert_eq!(why, "no incarnation 1 of 1"),
        other => panic!("{other:?}"),
    }
}

/// The ECC's parity must fit the spare area, a slot a step.
#[test]
fn ecc_parity_must_fit_the_spare_area() {
    let geometry = Geometry::new(2048, 64, 8).unwrap();
    // 4 steps of 512 bytes, 4 bits each: 7 bytes of parity a step.
    assert!(geometry.with_ecc(28, 512, 4).is_ok());
    assert!(geometry.with_ecc(27, 512, 4).is_err());
    assert!(geometry.with_ecc(20, 512, 4).is_err());
}

/// A table frozen part-full (its journal used up first) has more slots
/// than entries, and its filter (a tag a slot) more bytes than four an
/// entry: the store opens it (the full report's ingest met this).
#[test]
fn an_incarnation_frozen_part_full_reopens() {
    // One incarnation of 133 blocks, and the spare to copy it: 273 blocks.
    let geometry = Geometry::new(512, 16, 280).unwrap();
    let flash = SimFlash::new(SimConfig::new(geometry), 3).unwrap();
    let mut config = StoreConfig::new(12, 1);
    config.incarnations_max = 1;
    let mut store = Store::create(flash, config).unwrap();
    let mut key = 0;
    // Bounded: a one-block journal fills within a few hundred entries.
    while store.stats().freezes == 0 && key < 10_000 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        store.flush().unwrap();
        key += 1;
    }
    let stats = store.stats();
    assert!(stats.freezes > 0, "{stats:?}");
    let (mut store, _) = Store::open(store.into_flash()).unwrap();
    for k in 0..key {
        assert_eq!(store.get(&hash_of(k)).unwrap(), Some(info_of(k)));
    }
}

/// A configuration whose incarnations, journal, lanes and spare cannot fit
/// the device's good blocks is refused at create, the numbers named.
#[test]
fn create_refuses_a_configuration_that_cannot_hold_its_incarnations() {
    // 64 buckets of 4 slots: 3 blocks an incarnation (buckets and filter).
    let mut config = config(6, 4, SlotLayoutKind::Full);
    config.incarnations_max = 32;
    let budget = config
        .block_budget(Geometry::new(512, 16, 64).unwrap())
        .unwrap();
    assert_eq!(budget.incarnation_blocks, 3);
    let lanes = logstore::testing::LANES as u32;
    // 32 incarnations, the journal, the lanes; the spare: a freeze (an
    // incarnation, a journal and a lane move).
    assert_eq!(budget.needed(), 32 * 3 + 4 + lanes + (3 + 4 + lanes));
    let Err(error) = Store::create(device(64), config) else {
        panic!("a store of 32 incarnations of 3 blocks accepted on 64 blocks");
    };
    let StoreError::TooFewBlocks(short) = &error else {
        panic!("{error}");
    };
    assert_eq!(
        (short.needed, short.good, short.bad),
        (budget.needed(), 64, 0)
    );
    let text = error.to_string();
    assert!(
        text.contains(&format!("need {} good blocks", budget.needed())),
        "{text}"
    );
    assert!(text.contains("the device has 64 (0 bad)"), "{text}");
    // Fits the device's blocks, not its good ones: five are bad.
    config.incarnations_max = (64 - 4 - 2 * lanes - 4 - 3) / 3;
    assert!(Store::create(device(64), config).is_ok());
    let mut sim = SimConfig::new(Geometry::new(512, 16, 64).unwrap());
    sim.factory_bad = vec![0, 9, 17, 40, 63];
    let flash = SimFlash::new(sim, 3).unwrap();
    match Store::create(flash, config) {
        Err(StoreError::TooFewBlocks(short)) => assert_eq!((short.good, short.bad), (59, 5)),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// A store that evicts, short of blocks for a freeze at its limit (the
/// spare holds a region, not an incarnation and a journal at once), drops
/// its oldest incarnation first: never `Full`, never read-only.
#[test]
fn an_evicting_store_short_of_blocks_evicts_instead_of_answering_full() {
    for layout in LAYOUTS {
        let mut config = config(6, 2, layout);
        config.incarnations_max = 4;
        config.evict_oldest = true;
        let budget = config
            .block_budget(Geometry::new(512, 16, 64).unwrap())
            .unwrap();
        let mut store = Store::create(device(budget.needed()), config).unwrap();
        let mut model = BTreeMap::new();
        for key in 0..6_000u64 {
            store.insert(hash_of(key), info_of(key)).unwrap();
            model.insert(hash_of(key), info_of(key));
            if key % 16 == 15 {
                store.flush().unwrap();
            }
        }
        let stats = store.stats();
        assert!(
            stats.evictions >= 10 && stats.incarnations <= 4,
            "{stats:?}"
        );
        assert!(store.read_only().is_none());
        store.flush().unwrap();
        let (mut reopened, _) = Store::open(store.into_flash()).unwrap();
        for key in 5_900..6_000 {
            assert_eq!(reopened.get(&hash_of(key)).unwrap(), Some(info_of(key)));
        }
        // Whatever is there is right.
        for (hash, info) in reopened.contents().unwrap() {
            assert_eq!(model.get(&hash), Some(&info));
        }
    }
}

/// An evicting store on every device size it can be created on, from its
/// budget up, and at every limit on its incarnations: whatever free blocks
/// a freeze finds, it evicts and never answers `Full`.
#[test]
fn an_evicting_store_on_every_device_size_never_answers_full() {
    for incarnations_max in 2..=4 {
        let mut config = config(6, 2, LAYOUTS[0]);
        config.incarnations_max = incarnations_max;
        config.evict_oldest = true;
        let budget = config
            .block_budget(Geometry::new(512, 16, 64).unwrap())
            .unwrap();
        let mut sizes_created = 0;
        for blocks in budget.needed()..budget.needed() + 12 {
            let Ok(mut store) = Store::create(device(blocks), config) else {
                continue;
            };
            sizes_created += 1;
            for key in 0..4_000u64 {
                let inserted = store.insert(hash_of(key), info_of(key));
                assert!(inserted.is_ok(), "{blocks} blocks, key {key}: {inserted:?}");
                if key % 16 == 15 {
                    store.flush().unwrap();
                }
            }
            assert!(store.stats().evictions > 0, "{blocks} blocks");
        }
        assert!(sizes_created >= 8, "{sizes_created} sizes created");
    }
}

/// The checker's model of an eviction (swarm seeds 5506 and 33621): a
/// write that evicts appends its own entry after the eviction, unflushed,
/// so that entry shadows nothing the eviction dropped; only what the log
/// store held before the write does. Key 0, in the oldest incarnation from
/// its first insert, is written again (inserted or deleted) by the very
/// step that evicts that incarnation, then a power cut loses the write:
/// the check must agree with the store on what it holds for key 0.
#[test]
fn a_write_that_evicts_is_checked_against_the_log_store_before_it() {
    use logstore_sim::check::CheckConfig;
    use logstore_sim::FaultRates;
    for layout in LAYOUTS {
        for delete in [false, true] {
            // A freeze at the limit evicts: key 0 was in the evicted
            // incarnation only, and the store rightly lost it. A journal of
            // one block fills before the table: any write freezes there.
            for incarnations_max in [1, 2] {
                let check = CheckConfig {
                    store: StoreConfig {
                        incarnations_max,
                        evict_oldest: true,
                        ..config(6, 1, layout)
                    },
                    ..CheckConfig::default()
                };
                let eviction = eviction_by_write(&check, delete, false)
                    .expect("a write of key 0 freezes and evicts");
                assert!(eviction.froze);
                eviction.check(&check);
            }
            // Erases failing on a device one block over the budget: blocks
            // go bad and a write evicts to make room, between freezes. Key
            // 0 was in the evicted incarnation only, or (`in_log`) also in
            // the log store, whose entry the eviction kept.
            for in_log in [false, true] {
                let checked = (0..64u64)
                    .filter_map(|seed| {
                        let store = StoreConfig {
                            incarnations_max: 2,
                            evict_oldest: true,
                            seed,
                            ..config(6, 2, layout)
                        };
                        let budget = store.block_budget(Geometry::new(512, 16, 64).unwrap());
                        let check = CheckConfig {
                            geometry: Geometry::new(512, 16, budget.unwrap().needed() + 1).unwrap(),
                            store,
                            faults: FaultRates {
                                erase_fail: 0.05,
                                ..FaultRates::default()
                            },
                            device_seed: seed,
                            ..CheckConfig::default()
                        };
                        let eviction = eviction_by_write(&check, delete, in_log)?;
                        (!eviction.froze).then(|| eviction.check(&check))
                    })
                    .count();
                assert!(checked > 0, "{layout:?}: no write evicted to make room");
            }
        }
    }
}

/// A step list whose write of key 0 (`delete`: a delete, else an insert)
/// evicts the oldest incarnation, which holds key 0 from its first insert:
/// `fillers` inserts of other keys come between; with `in_log`, an insert
/// of key 0 that freezes (the log store holds key 0 after it) comes just
/// before the write.
struct EvictionByWrite {
    fillers: u64,
    delete: bool,
    in_log: bool,
    /// Whether the write evicts by freezing.
    froze: bool,
}

impl EvictionByWrite {
    /// Runs the steps through the checker, a power cut losing the write.
    fn check(&self, check: &logstore_sim::check::CheckConfig) {
        use logstore_sim::check::workload::Step;
        let mut steps = vec![Step::Insert { key: 0, info: 0 }];
        steps.extend((1..=self.fillers).map(|key| Step::Insert { key, info: key }));
        if self.in_log {
            steps.push(Step::Insert { key: 0, info: 2 });
        }
        steps.push(if self.delete {
            Step::Delete { key: 0 }
        } else {
            Step::Insert { key: 0, info: 1 }
        });
        steps.push(Step::CutPower {
            after_ops: 0,
            mode: logstore_sim::CrashMode::DropUnsynced,
        });
        steps.push(Step::Flush);
        if let Err(failure) = logstore_sim::check::run(check, &steps) {
            panic!("{check:?}: {failure}");
        }
    }
}

/// Finds the [`EvictionByWrite`] on a plain store made as the checker
/// makes its own, trying the write (after the insert, `in_log`) on a copy
/// before each filler; `None` if the first eviction comes otherwise.
fn eviction_by_write(
    check: &logstore_sim::check::CheckConfig,
    delete: bool,
    in_log: bool,
) -> Option<EvictionByWrite> {
    use logstore_sim::check::workload::{hash_of, info_of};
    let write = |store: &mut Store<SimFlash>| {
        if delete {
            store.delete(&hash_of(0)).map(|_| ())
        } else {
            store.insert(hash_of(0), info_of(1))
        }
    };
    let mut flash = SimFlash::new(check.sim_config(), check.device_seed).unwrap();
    flash.precycle(check.aging.wear);
    let mut store = Store::create(flash, check.store).unwrap();
    store.flash_mut().set_fault_rates(check.faults);
    store.insert(hash_of(0), info_of(0)).ok()?;
    for fillers in 0..5_000u64 {
        let mut trial = store.clone();
        let before = trial.stats();
        if in_log {
            // The insert must freeze without evicting.
            trial.insert(hash_of(0), info_of(2)).ok()?;
        }
        let ready = trial.stats();
        let evicted = ready.evictions > before.evictions;
        if !in_log || (ready.freezes > before.freezes && !evicted && before.freezes > 0) {
            write(&mut trial).ok()?;
            let after = trial.stats();
            if after.evictions > ready.evictions {
                return Some(EvictionByWrite {
                    fillers,
                    delete,
                    in_log,
                    froze: after.freezes > ready.freezes,
                });
            }
        } else if evicted {
            return None;
        }
        let key = fillers + 1;
        store.insert(hash_of(key), info_of(key)).ok()?;
        if store.stats().evictions > 0 {
            return None;
        }
    }
    None
}

/// `fill` is the share of the table's slots in use, and the compact
/// layout's resolves (and false positives) are counted, the full layout's
/// zero.
#[test]
fn fill_and_resolves_are_what_the_table_did() {
    for layout in [SlotLayoutKind::Full, SlotLayoutKind::Compact] {
        let config = config(8, 16, layout);
        let slots = (1u64 << config.order) * config.bucket_slots as u64;
        let mut store = Store::create(device(160), config).unwrap();
        assert_eq!(store.stats().fill, 0.0);
        for key in 0..slots / 2 {
            store.insert(hash_of(key), info_of(key)).unwrap();
        }
        let stats = store.stats();
        assert_eq!((stats.freezes, stats.log_entries), (0, slots / 2));
        assert_eq!(stats.fill, 0.5, "{layout:?}");
        for key in 0..slots {
            let expected = (key < slots / 2).then(|| info_of(key));
            assert_eq!(store.get(&hash_of(key)).unwrap(), expected);
        }
        let stats = store.stats();
        match layout {
            SlotLayoutKind::Full => assert_eq!((stats.resolves, stats.false_positives), (0, 0)),
            SlotLayoutKind::Compact => {
                assert!(stats.resolves >= slots / 2, "{stats:?}");
                assert!(stats.false_positives < stats.resolves, "{stats:?}");
            }
        }
    }
}

/// A store that can freeze no more (its incarnations at the most, no
/// eviction) and whose journal fills with updates packs its live entries
/// instead, even when they fill more than half a region; the update that
/// found the journal full then lands, it is not refused `Full`.
/// Past `PACK_FILL_MAX` (three quarters of the journal's bytes live), a
/// store that cannot freeze refuses an update rather than rewrite its
/// whole journal for the few pages a pack would free, even where the pack
/// would leave pages free.
#[test]
fn a_store_that_cannot_freeze_never_packs_past_three_quarters_of_its_journal() {
    const JOURNAL_BLOCKS: u32 = 4;
    // Every page of the region's 16-page blocks counts (some are passed over).
    let region_pages = 16 * u64::from(JOURNAL_BLOCKS);
    let entry_bytes = logstore::testing::format::Entry::Hash {
        hash: hash_of(0),
        info: info_of(0),
    }
    .encoded_bytes() as u64;
    let three_quarters = region_pages * 512 * 3 / (4 * entry_bytes);
    let mut past = 0;
    for live in three_quarters + 1..three_quarters + 24 {
        let mut c = config(8, JOURNAL_BLOCKS, SlotLayoutKind::Full);
        c.incarnations_max = 1;
        c.evict_oldest = false;
        let mut store = Store::create(device(128), c).unwrap();
        // Bounded: a freeze comes within a table's worth of inserts.
        for key in 1_000_000..1_100_000u64 {
            if store.stats().incarnations == 1 {
                break;
            }
            store.insert(hash_of(key), info_of(key)).unwrap();
        }
        assert_eq!(store.stats().incarnations, 1);
        if (0..live).any(|key| store.insert(hash_of(key), info_of(key)).is_err()) {
            continue;
        }
        past += 1;
        let packs = store.stats().packs;
        let mut refused = false;
        for update in 0..region_pages * 64 {
            refused |= store
                .insert(hash_of(update % live), info_of(update))
                .is_err();
            assert_eq!(store.stats().packs, packs, "live {live}: packed past 3/4");
        }
        assert!(refused, "live {live}: the journal never filled");
    }
    assert!(past > 0, "no store took more than 3/4 of its journal live");
}

#[test]
fn a_store_that_cannot_freeze_packs_and_takes_the_update() {
    // What a pack rule counting only "half what a region holds" would let
    // a store that cannot freeze take: live entries up to this many. A
    // region holds what a fresh one-block journal says a pack of it leaves
    // room for (its pages, their copy, and the next entry's page and copy,
    // passing over what they must).
    let mut flash = device(8);
    let ledger = logstore::testing::Ledger::create(&mut flash, 1, vec![]).unwrap();
    let entries = |n: u64| -> Vec<logstore::testing::format::Entry> {
        (0..n)
            .map(|key| logstore::testing::format::Entry::Hash {
                hash: hash_of(key),
                info: info_of(key),
            })
            .collect()
    };
    let region_entries = (1..16 * 16)
        .take_while(|&n| ledger.journal().would_take_more_after(&entries(n)))
        .last()
        .expect("a region holds an entry");
    let half_region_entries = region_entries / 2;
    for layout in LAYOUTS {
        let (mut seen, mut taken_max) = (0, 0);
        for live in 8..96u64 {
            let mut c = config(6, 1, layout);
            c.incarnations_max = 1;
            c.evict_oldest = false;
            let mut store = Store::create(device(64), c).unwrap();
            // Bounded: a freeze comes within a table's worth of inserts.
            for key in 1_000_000..1_010_000u64 {
                if store.stats().incarnations == 1 {
                    break;
                }
                store.insert(hash_of(key), info_of(key)).unwrap();
            }
            assert_eq!(store.stats().incarnations, 1, "{layout:?}");
            if (0..live).any(|key| store.insert(hash_of(key), info_of(key)).is_err()) {
                continue;
            }
            let mut refused_at_end = false;
            for update in 0..2_000u64 {
                let packs = store.stats().packs;
                let result = store.insert(hash_of(update % live), info_of(update));
                let stats = store.stats();
                if stats.packs > packs && stats.journal_use > 0.5 {
                    seen += 1;
                    assert!(
                        result.is_ok(),
                        "{layout:?} live {live}: {result:?} {stats:?}"
                    );
                }
                if result.is_err() {
                    refused_at_end = true;
                    break;
                }
            }
            if !refused_at_end {
                taken_max = taken_max.max(live);
            }
            // Refused, the store stays refused without rewriting its
            // journal at each try (a pack that frees no room is not made).
            if refused_at_end {
                let before = store.stats();
                for key in 0..4u64 {
                    let refused = store.insert(hash_of(key % live), info_of(key));
                    let stats = store.stats();
                    assert!(refused.is_err(), "{layout:?} live {live}: {refused:?}");
                    assert_eq!(
                        (stats.packs, stats.io.erases),
                        (before.packs, before.io.erases),
                        "{layout:?} live {live}: refused writes packed"
                    );
                }
            }
        }
        assert!(seen > 0, "{layout:?}: no pack past half a region");
        assert!(
            taken_max > half_region_entries,
            "{layout:?}: updates taken with at most {taken_max} live entries, half a region holds {half_region_entries}"
        );
    }
}

/// A store created over an old one on the same device (its anchor records
/// still there, at their sequences) opens as the new store: the new
/// anchor's sequence starts above every record the old one left.
#[test]
fn a_store_created_over_an_old_one_opens_as_the_new_one() {
    let config = config(6, 2, LAYOUTS[0]);
    let mut old = Store::create(device(64), config).unwrap();
    // Many commits: the old anchor's sequence runs well past a fresh one's.
    for key in 0..600u64 {
        old.insert(hash_of(key), info_of(key)).unwrap();
        if key % 4 == 3 {
            old.flush().unwrap();
        }
    }
    assert!(!old.incarnation_regions().is_empty());
    let mut new = Store::create(old.into_flash(), config).unwrap();
    new.insert(hash_of(9_999), info_of(9_999)).unwrap();
    new.flush().unwrap();
    let (mut reopened, _) = Store::open(new.into_flash()).unwrap();
    let contents = reopened.contents().unwrap();
    assert_eq!(contents, vec![(hash_of(9_999), info_of(9_999))]);
}

/// A part whose every erase fails cannot take a store: create answers
/// that it ran out of blocks, every one retired and none left held.
#[test]
fn a_part_whose_every_erase_fails_refuses_create() {
    let mut sim = SimConfig::new(Geometry::new(512, 16, 64).unwrap());
    sim.faults.erase_fail = 1.0;
    let flash = SimFlash::new(sim, 3).unwrap();
    let error = Store::create(flash, config(6, 2, LAYOUTS[0])).err();
    let Some(StoreError::Ledger(LedgerError::OutOfBlocks(out))) = error else {
        panic!("{error:?}");
    };
    assert_eq!(
        (out.in_use, out.bad),
        (0, 64),
        "every block retired, none held"
    );
}

/// A device whose anchor holds no store configuration (a ledger written
/// by something else) is not opened as a store: the error says the
/// configuration does not decode, and the device comes back unchanged.
#[test]
fn a_ledger_without_a_store_configuration_does_not_open_as_a_store() {
    let mut flash = device(64);
    logstore::testing::Ledger::create(&mut flash, 2, b"not a store".to_vec()).unwrap();
    let image = flash.image();
    let Err((error, returned)) = Store::open_returning(flash) else {
        panic!("a foreign ledger opened as a store");
    };
    assert!(matches!(error, StoreError::ConfigDecode(_)), "{error}");
    assert!(
        returned.image() == image,
        "the device is given back as it was"
    );
}

/// A store that can neither freeze (at its incarnation limit, no
/// eviction) nor pack its live entries into one journal region answers
/// `Full`, naming its limit, on a device with no bad block: full, not
/// worn out, and it goes on answering lookups.
#[test]
fn live_entries_outgrowing_a_journal_region_at_the_limit_are_full_not_worn_out() {
    let config = StoreConfig {
        incarnations_max: 1,
        ..config(6, 1, LAYOUTS[0])
    };
    let mut store = Store::create(device(64), config).unwrap();
    let mut refused = None;
    for key in 0..2_000u64 {
        match store.insert(hash_of(key), info_of(key)) {
            Ok(()) => {}
            Err(error) => {
                refused = Some((key, error));
                break;
            }
        }
    }
    let Some((key, error)) = refused else {
        panic!("the store never filled");
    };
    assert!(
        matches!(error, StoreError::Full(FullReason::Incarnations { max: 1 })),
        "key {key}: {error}"
    );
    assert!(store.read_only().is_none(), "full is not the end of life");
    assert_eq!(store.blocks_free_and_bad().1, 0);
    assert_eq!(store.get(&hash_of(0)).unwrap(), Some(info_of(0)));
}
