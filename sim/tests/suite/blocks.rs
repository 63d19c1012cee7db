//! No fixed blocks: factory-bad blocks anywhere (blocks 0 and 1 included),
//! the anchor found by its scan, and a worn-out device read-only with every
//! flushed entry readable, after a restart too.

use std::collections::BTreeMap;

use logstore::{Flash, Geometry, Info, Store, StoreConfig, StoreError, WornOut};
use logstore_sim::campaign::{sweep, Case, Part};
use logstore_sim::{CrashMode, SimConfig, SimFlash, WearOut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{hash_of, info_of};

#[test]
fn blocks_zero_and_one_factory_bad_format_and_pass_a_sweep() {
    let part = Part {
        bad_blocks: vec![0, 1],
        ..Part::default()
    };
    let seeds: Vec<u64> = (0..60).collect();
    let summary = sweep(
        &seeds,
        800,
        &CrashMode::ALL,
        &part,
        &indicatif::ProgressBar::hidden(),
    );
    let first = summary.failed_cases.first().map(|c| &c.failure);
    assert_eq!(summary.failures, 0, "{first:?}");
    assert!(summary.crashes > 60, "{summary:?}");
}

#[test]
fn two_percent_of_blocks_bad_anywhere_format_run_and_recover() {
    for seed in 0..30u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let case = Case::from_seed(seed, 1_500, None, &CrashMode::ALL);
        let blocks = case.config.geometry.blocks;
        let bad: Vec<u32> = (0..blocks).filter(|_| rng.random_ratio(1, 50)).collect();
        let case = case.with_bad_blocks(&bad);
        let outcome = case.run();
        assert!(outcome.is_ok(), "seed {seed}, bad {bad:?}: {outcome:?}");
    }
}

/// Opening reads page 0 of every block, the three lanes of the anchor, the
/// journal's region and the incarnations' filter pages: nothing more.
#[test]
fn open_reads_a_page_a_block_then_the_anchor_lanes_and_the_journal() {
    let geometry = Geometry::new(512, 16, 256).unwrap();
    let flash = SimFlash::new(SimConfig::new(geometry), 1).unwrap();
    // 8 journal blocks: 64 pages on a part declaring no pairing.
    let config = StoreConfig::new(8, 8);
    let mut store = Store::create(flash, config).unwrap();
    for key in 0..3_000 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        if key % 64 == 63 {
            store.flush().unwrap();
        }
    }
    store.flush().unwrap();
    let stats = store.stats();
    assert!(stats.incarnations > 0 && stats.filter_ram_bytes > 0);
    let flash = store.into_flash();
    let reads_before = flash.counters().reads;
    let (store, report) = Store::open(flash).unwrap();
    assert_eq!(report.filters_rebuilt, 0);
    let reads = store.flash().counters().reads - reads_before;
    let ppb = u64::from(geometry.pages_per_block);
    // Each filter's pages: a 36-byte header, then its bytes.
    let filter_pages = stats
        .filter_ram_bytes
        .div_ceil(u64::from(geometry.page_bytes) - 36)
        + u64::from(stats.incarnations);
    // Every lane whole, and the read-back of the commit copy the open
    // writes of the journal's last page.
    let lanes = logstore::testing::LANES as u64;
    let bound = u64::from(geometry.blocks)
        + lanes * ppb
        + u64::from(config.journal_blocks) * ppb
        + filter_pages
        + 1;
    println!("open: {reads} page reads, bound {bound}");
    assert!(reads <= bound, "{reads} reads at open, bound {bound}");
    assert!(reads >= u64::from(geometry.blocks));
}

/// Worn out: writes are refused with `ReadOnly`, every flushed entry reads
/// back, and a restart opens read-only with the same entries.
#[test]
fn a_worn_out_store_is_read_only_and_keeps_every_flushed_entry() {
    for wear_out in [
        WearOut::EraseFails,
        WearOut::ProgramFails,
        WearOut::SilentNoop,
    ] {
        let mut sim = SimConfig::new(Geometry::new(512, 16, 64).unwrap());
        sim.endurance_cycles = 12;
        sim.wear_out = wear_out;
        let flash = SimFlash::new(sim, 4).unwrap();
        let mut config = StoreConfig::new(6, 2);
        config.incarnations_max = 4;
        config.evict_oldest = true;
        let mut store = Store::create(flash, config).unwrap();
        let mut flushed = BTreeMap::new();
        let mut pending = BTreeMap::new();
        // Bounded: 12 erases a block cannot take a million inserts.
        for key in 0..1_000_000u64 {
            match store.insert(hash_of(key), info_of(key)) {
                Ok(()) => pending.insert(key, info_of(key)),
                Err(StoreError::ReadOnly(_)) => break,
                Err(other) => panic!("{wear_out:?}: insert {key}: {other}"),
            };
            if key % 8 == 7 {
                match store.flush() {
                    Ok(()) => flushed.append(&mut pending),
                    Err(StoreError::ReadOnly(_)) => break,
                    Err(other) => panic!("{wear_out:?}: flush: {other}"),
                }
            }
        }
        let why = store.read_only().cloned();
        assert!(
            matches!(
                why,
                Some(
                    WornOut::NoSpareBlocks { .. }
                        | WornOut::RegionsFailing { .. }
                        | WornOut::AnchorCannotMove
                )
            ),
            "{wear_out:?}: {why:?}"
        );
        assert!(matches!(store.flush(), Err(StoreError::ReadOnly(_))));
        let before = check(&mut store, &flushed, "before the restart");
        let mut flash = store.into_flash();
        flash.cut_power_now(CrashMode::DropUnsynced);
        flash.restart();
        let (mut store, _) = Store::open(flash).unwrap();
        // Read-only at open when the last record could record the wear
        // (always when worn blocks fail their erases); else the first
        // write finds out again, and is refused.
        let reopened_read_only = store.read_only().is_some();
        assert!(
            reopened_read_only || wear_out != WearOut::EraseFails,
            "{wear_out:?}: reopened writable after {why:?}"
        );
        let after = check(&mut store, &flushed, "after the restart");
        assert_eq!(before, after, "{wear_out:?}");
        assert!(after > 0);
        // Writes land or are refused as read-only, nothing else; bounded:
        // a worn device takes few more.
        let mut refused = false;
        for key in 2_000_000..2_010_000u64 {
            let wrote = store
                .insert(hash_of(key), info_of(key))
                .and_then(|()| store.flush());
            match wrote {
                Ok(()) => {
                    flushed.insert(key, info_of(key));
                }
                Err(StoreError::ReadOnly(_)) => {
                    refused = true;
                    break;
                }
                Err(other) => panic!("{wear_out:?}: after the restart: {other}"),
            }
        }
        assert!(
            refused,
            "{wear_out:?}: a worn-out device took 10,000 more flushes"
        );
        assert!(check(&mut store, &flushed, "after the refused write") >= after);
        let mean = store
            .flash()
            .erase_counts()
            .iter()
            .map(|&c| f64::from(c))
            .sum::<f64>()
            / 64.0;
        println!("{wear_out:?}: read-only at mean erase count {mean:.1} of 12, {after} flushed entries readable");
        assert!(mean >= 0.9 * 12.0, "{wear_out:?}: read-only at mean {mean}");
        let _ = store.flash_mut().geometry();
    }
}

/// Out of blocks is the end of life only below the spare (a freeze's
/// blocks, which an open's rebuild may need): grown bad blocks that take
/// the room of the next incarnation make a store that does not evict
/// read-only exactly when fewer blocks than the spare are free; a freeze
/// that ran out with the spare free again (blocks failed under it, then
/// went back) is `Full(Blocks)`, writable, and opens writable. Either way
/// it opens, and a flush after the reopen succeeds or is refused read-only.
#[test]
fn running_out_of_blocks_is_the_end_of_life_only_below_the_spare() {
    let mut seen_read_only = 0;
    for seed in 0..30u64 {
        // Incarnations of 5 blocks, a 5-block journal: a freeze (the
        // spare) needs 13 free blocks.
        let mut config = StoreConfig::new(7, 5);
        config.incarnations_max = 4;
        let geometry = Geometry::new(512, 16, 64).unwrap();
        let blocks = config.block_budget(geometry).unwrap().needed();
        let sim = SimConfig::new(Geometry::new(512, 16, blocks).unwrap());
        let mut store = Store::create(SimFlash::new(sim, seed).unwrap(), config).unwrap();
        store.flash_mut().set_fault_rates(logstore_sim::FaultRates {
            erase_fail: 0.08,
            ..Default::default()
        });
        let spare = store.block_budget().spare();
        let mut error = None;
        // Bounded: 4 incarnations of 512 slots fill within 3,000 inserts.
        for key in 0..6_000u64 {
            if let Err(e) = store.insert(hash_of(key), info_of(key)) {
                error = Some(e);
                break;
            }
        }
        let (free, bad) = store.blocks_free_and_bad();
        match error {
            Some(StoreError::Full(logstore::FullReason::Blocks(_))) => {
                assert!(
                    bad > 0 && free >= spare,
                    "seed {seed}: {free} free, {bad} bad"
                );
                assert!(store.read_only().is_none(), "seed {seed}");
            }
            Some(StoreError::ReadOnly(why)) => {
                assert!(
                    free < spare,
                    "seed {seed}: read-only with {free} free: {why}"
                );
            }
            other => assert!(
                matches!(other, None | Some(StoreError::Full(_))),
                "seed {seed}: {other:?}"
            ),
        }
        let (mut reopened, _) = Store::open(store.into_flash()).unwrap();
        let (free, bad) = reopened.blocks_free_and_bad();
        let read_only = reopened.read_only().is_some();
        assert_eq!(
            read_only,
            bad > 0 && free < spare,
            "seed {seed}: {free} free"
        );
        seen_read_only += u32::from(read_only);
        match reopened.flush() {
            Ok(()) => assert!(!read_only, "seed {seed}"),
            Err(StoreError::ReadOnly(_)) => assert!(read_only, "seed {seed}"),
            Err(other) => panic!("seed {seed}: flush after reopen: {other}"),
        }
    }
    assert!(
        seen_read_only >= 3,
        "{seen_read_only} seeds ran out of blocks below the spare"
    );
}

/// How many of the `flushed` entries the store holds; evicted ones may be
/// gone, none may be wrong.
fn check(store: &mut Store<SimFlash>, flushed: &BTreeMap<u64, Info>, when: &str) -> usize {
    let mut found = 0;
    for (key, info) in flushed {
        if let Some(got) = store.get(&hash_of(*key)).unwrap() {
            assert_eq!(got, *info, "{when}: key {key}");
            found += 1;
        }
    }
    found
}

/// Blocks failing every program for a while (a run of failures, as a
/// failing die gives): the store retires them and carries on, or, when
/// its regions keep failing, goes read-only saying why. It never hands
/// the caller a raw "retries exhausted" or "journal full" for a failing
/// device, and what was flushed stays readable.
#[test]
fn a_run_of_failing_programs_ends_in_read_only_or_carries_on() {
    let mut reasons = BTreeMap::new();
    for start in (40..2_000u64).step_by(97) {
        let flash = SimFlash::new(SimConfig::new(Geometry::new(512, 16, 48).unwrap()), 7).unwrap();
        let mut config = StoreConfig::new(5, 1);
        config.incarnations_max = 3;
        let mut store = Store::create(flash, config).unwrap();
        for op in start..start + 400 {
            store
                .flash_mut()
                .schedule_fault(op, logstore_sim::ScheduledFault::ProgramFail);
        }
        let mut flushed = BTreeMap::new();
        let mut pending = BTreeMap::new();
        // Bounded: 600 inserts and 75 flushes.
        let outcome = (0..600u64).find_map(|key| {
            let wrote = store.insert(hash_of(key), info_of(key)).and_then(|()| {
                pending.insert(key, info_of(key));
                if key % 8 == 7 {
                    store.flush()?;
                    flushed.append(&mut pending);
                }
                Ok(())
            });
            wrote.err()
        });
        let reason = match &outcome {
            None => "carried on".to_string(),
            Some(StoreError::ReadOnly(why)) => format!("read-only: {why:?}")
                .split([' ', '{'])
                .take(2)
                .collect(),
            Some(StoreError::Full(_)) if store.blocks_free_and_bad().1 == 0 => "full".into(),
            Some(other) => panic!("failures from op {start}: {other}"),
        };
        for (key, info) in &flushed {
            assert_eq!(
                store.get(&hash_of(*key)).unwrap(),
                Some(*info),
                "from op {start}"
            );
        }
        *reasons.entry(reason).or_insert(0) += 1;
    }
    println!("{reasons:?}");
    assert!(
        reasons.keys().any(|r| r.contains("RegionsFailing")),
        "{reasons:?}"
    );
}

/// `create` asks the device which blocks are marked bad (MTD's
/// `block_isbad`) through a borrowed device too: they are retired before
/// anything is written, none of them programmed or erased.
#[test]
fn create_through_a_borrowed_device_retires_its_factory_bad_blocks() {
    let mut config = SimConfig::new(Geometry::new(512, 16, 64).unwrap());
    config.factory_bad = vec![5, 9, 40];
    let mut flash = SimFlash::new(config, 1).unwrap();
    let store = Store::create(&mut flash, StoreConfig::new(6, 4)).unwrap();
    let bad: Vec<u32> = store.bad_blocks().iter().map(|b| b.0).collect();
    assert_eq!(bad, [5, 9, 40]);
    drop(store);
    let counters = flash.counters();
    assert_eq!((counters.program_failures, counters.erase_failures), (0, 0));
}

/// A part written by the previous build (anchor records version 4,
/// journal pages `LSJ3`: here turned back to them on a store of this one)
/// is refused at open, naming the format. Before the anchor's version
/// moved with the pages' format, it opened with its journal read as
/// empty and answered its flushed hashes "absent".
#[test]
fn a_store_of_the_previous_format_is_refused_named() {
    let geometry = Geometry::new(512, 16, 256).unwrap();
    let flash = SimFlash::new(SimConfig::new(geometry), 1).unwrap();
    let mut store = Store::create(flash, StoreConfig::new(8, 4)).unwrap();
    for key in 0..40 {
        store.insert(hash_of(key), info_of(key)).unwrap();
    }
    store.flush().unwrap();
    let image = store.into_flash().image();
    let journal = (0x4C53_4A34u32.to_le_bytes(), 0x4C53_4A33u32.to_le_bytes());
    let anchor = (0x4C53_4131u32.to_le_bytes(), 5u16.to_le_bytes());
    let older = || {
        let mut image = image.clone();
        let mut turned = [0, 0];
        for page in image.chunks_mut(geometry.page_bytes as usize) {
            if page[..4] == journal.0 {
                page[..4].copy_from_slice(&journal.1);
                turned[0] += 1;
            }
            if page[..4] == anchor.0 && page[4..6] == anchor.1 {
                page[4..6].copy_from_slice(&4u16.to_le_bytes());
                turned[1] += 1;
            }
        }
        assert!(turned[0] > 0 && turned[1] >= 3, "{turned:?}");
        SimFlash::from_image(SimConfig::new(geometry), &image, 0).unwrap()
    };
    let Err(error) = Store::open(older()) else {
        panic!("a store of the previous format opened");
    };
    let message = error.to_string();
    assert!(
        message.contains(
            "older on-flash format (anchor record version 4, this build reads version 5)"
        ),
        "{message}"
    );
}
