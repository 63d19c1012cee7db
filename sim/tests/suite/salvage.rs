//! After a salvage, no wrong answer (guarantee 12 for journal pages): a
//! journal page lost mid-log may have held a newer entry for any hash, so
//! every answer it may have changed is `StoreError::Unknown`, never a bare
//! older value, a deleted hash or "absent". The marks survive power cuts
//! during the salvage, reopens and scrubs; an eviction takes them along;
//! `accept_loss` forgets them.

use std::collections::BTreeMap;

use logstore::{Info, Store, StoreError};
use logstore_sim::check::workload::{hash_of, info_of};
use logstore_sim::check::CheckConfig;
use logstore_sim::nand::{Device, SimFlash};
use logstore_sim::CrashMode;

/// The newest info of every key written (`None`: deleted).
type Model = BTreeMap<u64, Option<Info>>;

/// A key no case ever writes.
const NEVER: u64 = u64::MAX - 7;
/// Most power cuts tried in one salvage.
const CUTS_MAX: u64 = 5_000;

fn config(evicting: bool) -> CheckConfig {
    let mut config = CheckConfig::on_device(Device::Mlc);
    if evicting {
        config.store.evict_oldest = true;
        config.store.incarnations_max = 3;
    }
    config
}

/// A store with two incarnations, then a journal of new values, deletes
/// and new keys over theirs (flushed every 3 operations); its model.
fn layered(config: &CheckConfig, seed: u64) -> (SimFlash, Model) {
    let flash = SimFlash::new(config.sim_config(), seed).unwrap();
    let mut store = Store::create(flash, config.store).unwrap();
    let mut model = Model::new();
    let slots = (1u64 << config.store.order) * config.store.bucket_slots as u64;
    let mut key = 0;
    while store.stats().incarnations < 2 && key < slots * 8 {
        let info = info_of(key % slots + key);
        store.insert(hash_of(key % slots), info).unwrap();
        model.insert(key % slots, Some(info));
        key += 1;
    }
    assert_eq!(store.stats().incarnations, 2);
    for op in 0..60u64 {
        let key = op * 7 % slots;
        match op % 3 {
            0 => {
                store.delete(&hash_of(key)).unwrap();
                model.insert(key, None);
            }
            _ => {
                let (key, info) = (key + (op % 3 - 1) * slots, info_of(op + 1_000_000));
                store.insert(hash_of(key), info).unwrap();
                model.insert(key, Some(info));
            }
        }
        if op % 3 == 2 {
            store.flush().unwrap();
        }
    }
    assert_eq!(store.stats().incarnations, 2, "the journal did not fill");
    (store.into_flash(), model)
}

/// `flash` with a journal page past the ECC that `open` names lost
/// (a page in the middle of the log, not the last of a flush).
fn lose_a_journal_page(config: &CheckConfig, flash: &SimFlash) -> SimFlash {
    let (store, _) = Store::open(flash.clone()).unwrap();
    let pages = store.journal_page_addrs();
    for &page in pages.iter().skip(1).rev().skip(2) {
        let mut damaged = flash.clone();
        for k in 0..config.geometry.ecc_bits * 2 + 2 {
            damaged.flip_bit(page, k * 61).unwrap();
        }
        if let Err(error @ StoreError::DataLoss(_)) = Store::open(damaged.clone()) {
            // The error names what was lost.
            let message = error.to_string();
            assert!(
                message.contains("page(s) of journal generation"),
                "{message}"
            );
            return damaged;
        }
    }
    panic!("no page of {} named lost", pages.len());
}

/// Every key of `model` answers its value or `Unknown`, and the key never
/// written answers `Unknown` while a region is uncertain; returns how many
/// answered `Unknown`.
fn no_wrong_answer(store: &mut Store<SimFlash>, model: &Model, when: &str) -> u64 {
    let mut unknown = 0;
    for (&key, &expected) in model {
        match store.get(&hash_of(key)) {
            Ok(found) => assert_eq!(found, expected, "{when}: key {key} answered wrong"),
            Err(StoreError::Unknown { .. }) => unknown += 1,
            Err(other) => panic!("{when}: key {key}: {other}"),
        }
    }
    let never = store.get(&hash_of(NEVER));
    match store.stats().incarnations_uncertain {
        0 => assert!(matches!(never, Ok(None)), "{when}: {never:?}"),
        _ => assert!(
            matches!(never, Err(StoreError::Unknown { best: None })),
            "{when}: a hash never stored answered {never:?} after a salvage"
        ),
    }
    unknown
}

/// A salvage cut at each of its mutating operations in turn: reopened
/// (salvaging again if the hole is still there), the store never answers
/// wrong, and the hashes the loss may have changed answer `Unknown`.
#[test]
fn a_salvage_cut_anywhere_answers_unknown_never_stale() {
    let config = config(false);
    let (flash, model) = layered(&config, 3);
    let damaged = lose_a_journal_page(&config, &flash);
    for at in 0..CUTS_MAX {
        let mut device = damaged.clone();
        let now = device.ops_mutating();
        assert!(device.cut_power_at(now + at, CrashMode::Torn));
        let mut device = match Store::open_salvaging_returning(device) {
            Ok((mut store, _)) => {
                let armed = store.flash_mut().cancel_power_cuts();
                assert_eq!(armed, 1, "a cut reached, yet the salvage succeeded");
                let unknown = no_wrong_answer(&mut store, &model, "salvaged");
                assert!(unknown > 0, "no answer marked unknown");
                return after_the_salvage(store, &model, at);
            }
            Err((error, device)) => {
                assert!(!device.is_powered(), "cut at {at}: {error}");
                device
            }
        };
        device.restart();
        let mut store = match Store::open_returning(device) {
            Ok((store, _)) => store,
            Err((StoreError::DataLoss(_), device)) => Store::open_salvaging(device).unwrap().0,
            Err((other, _)) => panic!("reopen after a cut at {at}: {other}"),
        };
        no_wrong_answer(&mut store, &model, &format!("cut at {at}"));
    }
    panic!("the salvage did not finish within {CUTS_MAX} operations");
}

/// Writes after the salvage answer as written; the marks survive a clean
/// reopen; `accept_loss` forgets them, for good.
fn after_the_salvage(mut store: Store<SimFlash>, model: &Model, cuts: u64) {
    println!("salvage finished after {cuts} cuts");
    let (&old, _) = model.iter().next().unwrap();
    store.insert(hash_of(old), info_of(77)).unwrap();
    store.insert(hash_of(NEVER - 1), info_of(78)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.get(&hash_of(old)).unwrap(), Some(info_of(77)));
    let uncertain = store.stats().incarnations_uncertain;
    assert!(uncertain > 0);
    let (mut store, _) = Store::open(store.into_flash()).unwrap();
    assert_eq!(store.stats().incarnations_uncertain, uncertain);
    assert_eq!(store.get(&hash_of(NEVER - 1)).unwrap(), Some(info_of(78)));
    assert!(matches!(
        store.get(&hash_of(NEVER)),
        Err(StoreError::Unknown { .. })
    ));
    store.accept_loss().unwrap();
    let (mut store, _) = Store::open(store.into_flash()).unwrap();
    assert_eq!(store.stats().incarnations_uncertain, 0);
    assert_eq!(store.get(&hash_of(NEVER)).unwrap(), None);
    // Nothing left to forget: accepting again writes nothing.
    let ops = store.flash().ops_mutating();
    store.accept_loss().unwrap();
    assert_eq!(store.flash().ops_mutating(), ops);
    for &key in model.keys() {
        assert!(store.get(&hash_of(key)).is_ok(), "key {key}");
    }
}

/// On a store that evicts, new writes push the uncertain incarnations out
/// one by one: once the last is gone, whatever the lost page held would
/// have gone with it, and "absent" is an answer again.
#[test]
fn an_eviction_takes_the_uncertain_marks_with_it() {
    let config = config(true);
    let (flash, model) = layered(&config, 5);
    let damaged = lose_a_journal_page(&config, &flash);
    let (mut store, _) = Store::open_salvaging(damaged).unwrap();
    no_wrong_answer(&mut store, &model, "salvaged");
    let uncertain = store.stats().incarnations_uncertain;
    assert!(uncertain >= 2, "{uncertain}");
    let slots = (1u64 << config.store.order) * config.store.bucket_slots as u64;
    let mut written = Model::new();
    for key in (1u64 << 40)..(1u64 << 40) + slots * 16 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        written.insert(key, Some(info_of(key)));
        let left = store.stats().incarnations_uncertain;
        assert!(left <= uncertain);
        if left == 0 {
            break;
        }
    }
    assert_eq!(store.stats().incarnations_uncertain, 0);
    assert!(store.stats().evictions >= uncertain);
    assert_eq!(store.get(&hash_of(NEVER)).unwrap(), None);
    store.flush().unwrap();
    let (mut store, _) = Store::open(store.into_flash()).unwrap();
    assert_eq!(store.get(&hash_of(NEVER)).unwrap(), None);
    // What the evictions kept answers as written.
    let last = *written.keys().last().unwrap();
    assert_eq!(store.get(&hash_of(last)).unwrap(), Some(info_of(last)));
}

/// A scrub copies an uncertain incarnation whose pages near the ECC's
/// limit under a new generation: the copy stays uncertain, before and
/// after a reopen.
#[test]
fn a_scrubbed_copy_of_an_uncertain_incarnation_stays_uncertain() {
    let config = config(false);
    let (flash, model) = layered(&config, 9);
    let damaged = lose_a_journal_page(&config, &flash);
    let (store, _) = Store::open_salvaging(damaged).unwrap();
    let before = store.incarnation_regions();
    let uncertain = store.stats().incarnations_uncertain;
    assert_eq!(
        uncertain,
        before.len() as u64,
        "every incarnation is older than the loss"
    );
    let mut flash = store.into_flash();
    let threshold = (config.geometry.ecc_bits * 3).div_ceil(4);
    for region in &before {
        let page = logstore::PageAddr {
            block: region.blocks[0],
            page: 0,
        };
        for bit in 0..threshold {
            flash.flip_bit(page, bit * 8 + 3).unwrap();
        }
    }
    let (mut store, _) = Store::open(flash).unwrap();
    for _ in 0..64 {
        store.scrub(64).unwrap();
    }
    let after = store.incarnation_regions();
    let copied = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.generation != a.generation)
        .count();
    assert!(copied > 0, "the scrub copied no incarnation");
    assert_eq!(store.stats().incarnations_uncertain, uncertain);
    no_wrong_answer(&mut store, &model, "scrubbed");
    let (mut store, _) = Store::open(store.into_flash()).unwrap();
    assert_eq!(store.stats().incarnations_uncertain, uncertain);
    no_wrong_answer(&mut store, &model, "scrubbed, reopened");
}
