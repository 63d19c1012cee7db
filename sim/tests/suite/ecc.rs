//! Bit errors past and within the ECC: within it nothing is lost, also over
//! years of retention on worn parts thanks to the background scrub; past
//! it, a loss is named (a typed error, `DataLoss`), never silent. Pages
//! lost outright (erased, another page's bytes) likewise: a lost filter and
//! bucket page cost what the bucket page held, and the scrub goes past a
//! page it cannot read.

use logstore::errors::{HashStoreError, IncarnationPageFault};
use logstore::{ScrubReport, Store, StoreConfig, StoreError};
use logstore_sim::campaign::scenarios::{
    middle_page_lost, retention, scrub_past_a_lost_page, RetentionPlan,
};
use logstore_sim::check::workload::{hash_of, info_of};
use logstore_sim::check::CheckConfig;
use logstore_sim::nand::{Device, SimFlash};

#[test]
fn a_journal_page_lost_in_the_middle_is_named_and_the_rest_salvaged() {
    for device in Device::ALL {
        let mut named = 0;
        for seed in 0..16 {
            let outcome = middle_page_lost(seed, device)
                .unwrap_or_else(|e| panic!("{device:?} seed {seed}: {e}"));
            assert_eq!(
                outcome.pages_lost >= 1,
                !outcome.victim_copied,
                "{outcome:?}"
            );
            assert!(outcome.entries_kept > 0, "{outcome:?}");
            named += u32::from(!outcome.victim_copied);
        }
        assert!(
            named > 0,
            "{device:?}: no seed damaged a page without a copy"
        );
    }
}

/// On every part, whatever the scrub's budget: a bucket page past the ECC
/// is named once, the scrub goes past it and still rewrites the older
/// incarnation near the limit, every entry reads back or is a typed error.
#[test]
fn the_scrub_goes_past_a_lost_page_on_every_part() {
    for device in Device::ALL {
        for seed in 0..6 {
            let outcome = scrub_past_a_lost_page(seed, device)
                .unwrap_or_else(|e| panic!("{device:?} seed {seed}: {e}"));
            assert_eq!(outcome.pages_lost, 1, "{outcome:?}");
            assert!(outcome.rewrites >= 1, "{outcome:?}");
        }
    }
}

#[test]
fn worn_parts_keep_every_entry_for_five_years_with_the_background_scrub() {
    for device in [Device::Mlc, Device::Tlc] {
        let outcome =
            retention(3, RetentionPlan::worn(device)).unwrap_or_else(|e| panic!("{device:?}: {e}"));
        assert!(outcome.scrubs > 0, "{device:?}: {outcome:?}");
        assert!(outcome.first_scrub_day.is_some(), "{outcome:?}");
    }
}

/// The same on each part's own geometry (2 to 16 KiB pages, 64 to 192 a
/// block), where the anchor's lanes move rarely: the scrub reads them too.
/// (Reads past the ECC may still happen: open reads page 0 of every block,
/// released ones too, whose old data nobody refreshes.)
#[test]
fn every_part_keeps_every_entry_for_five_years_on_its_own_geometry() {
    for device in Device::ALL {
        let plan = RetentionPlan::worn_own_geometry(device);
        let outcome = retention(3, plan).unwrap_or_else(|e| panic!("{device:?}: {e}"));
        if device != Device::Slc {
            assert!(outcome.scrubs > 0, "{device:?}: {outcome:?}");
        }
    }
}

/// The model's retention errors do outgrow the ECC: without the scrub the
/// same part, left ten years, ends in an uncorrectable page, named.
#[test]
fn without_the_scrub_retention_outgrows_the_ecc_and_the_read_says_so() {
    let plan = RetentionPlan {
        scrub_pages: 0,
        days: 10 * 365,
        ..RetentionPlan::worn(Device::Mlc)
    };
    let error = retention(3, plan).expect_err("ten unscrubbed years past the ECC");
    assert!(error.contains("than the ECC corrects"), "{error}");
}

/// An incarnation page past the ECC: every lookup that needs it is a typed
/// error, never a miss or another value.
#[test]
fn an_incarnation_page_past_the_ecc_is_a_typed_error_on_lookup() {
    let config = CheckConfig::on_device(Device::Mlc);
    let flash = SimFlash::new(config.sim_config(), 1).unwrap();
    let mut store = Store::create(flash, config.store).unwrap();
    let mut frozen = Vec::new();
    for key in 0..2_000u64 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        frozen.push(key);
        if !store.incarnation_regions().is_empty() {
            break;
        }
    }
    let region = store.incarnation_regions()[0].clone();
    let geometry = config.geometry;
    let flash = store.flash_mut();
    for &block in &region.blocks {
        for page in 0..geometry.pages_per_block {
            for k in 0..geometry.ecc_bits * 2 + 2 {
                let page_addr = logstore::PageAddr { block, page };
                flash.flip_bit(page_addr, k * 61).unwrap();
            }
        }
    }
    let mut typed = 0;
    for key in frozen {
        match store.get(&hash_of(key)) {
            Err(StoreError::HashStore(HashStoreError::Corrupt {
                why: IncarnationPageFault::Uncorrectable,
                ..
            })) => typed += 1,
            Ok(Some(info)) if info == info_of(key) => {}
            other => panic!("key {key}: {other:?}"),
        }
    }
    assert!(typed > 0);
}

/// A store on the MLC preset with incarnations, everything flushed.
fn frozen_mlc_store() -> (Store<SimFlash>, CheckConfig) {
    let config = CheckConfig::on_device(Device::Mlc);
    let flash = SimFlash::new(config.sim_config(), 1).unwrap();
    let mut store = Store::create(flash, config.store).unwrap();
    for key in 0..2_000u64 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        if store.incarnation_regions().len() >= 2 {
            break;
        }
    }
    store.flush().unwrap();
    (store, config)
}

/// Flips more bits than the ECC corrects in one step of `page`.
fn past_the_ecc(store: &mut Store<SimFlash>, page: logstore::PageAddr) {
    let bits = logstore::Flash::geometry(store.flash()).ecc_bits * 2 + 2;
    for k in 0..bits {
        store.flash_mut().flip_bit(page, k).unwrap();
    }
}

/// An anchor lane page past the ECC: the scrub's read of the lanes finds
/// it, the next commit moves the record to fresh lanes, and the store
/// opens from them with everything it held.
#[test]
fn an_anchor_page_past_the_ecc_moves_the_anchor_at_the_scrub() {
    let (mut store, _) = frozen_mlc_store();
    let before = store.contents().unwrap();
    let lanes = store.anchor_lanes();
    past_the_ecc(
        &mut store,
        logstore::PageAddr {
            block: lanes[0],
            page: 0,
        },
    );
    let pages_read = store.block_budget().needed() as u64 * 1_000;
    let report = store.scrub(pages_read).unwrap();
    assert!(report.rewrites >= 1, "{report:?}");
    assert!(!store.anchor_lanes().contains(&lanes[0]), "the lanes moved");
    let (mut reopened, _) = Store::open(store.into_flash()).unwrap();
    assert_eq!(reopened.contents().unwrap(), before);
}

/// The anchor's record in force on a later page of its lanes (not page
/// 0) past the ECC: the scrub reads the record's pages too, so the next
/// commit moves the record to fresh lanes, and the store opens from them
/// with everything it held.
#[test]
fn an_anchor_record_page_past_the_ecc_moves_the_anchor_at_the_scrub() {
    let (mut store, _) = frozen_mlc_store();
    let before = store.contents().unwrap();
    let lanes = store.anchor_lanes();
    let pages_per_block = logstore::Flash::geometry(store.flash()).pages_per_block;
    let last = (0..pages_per_block)
        .map(|page| logstore::PageAddr {
            block: lanes[0],
            page,
        })
        .rfind(|&addr| store.flash().raw_page(addr).iter().any(|&b| b != 0xFF))
        .expect("a programmed lane page");
    assert!(last.page > 0, "records appended past page 0: {last:?}");
    past_the_ecc(&mut store, last);
    let pages_read = store.block_budget().needed() as u64 * 1_000;
    let report = store.scrub(pages_read).unwrap();
    assert!(report.rewrites >= 1, "{report:?}");
    assert!(!store.anchor_lanes().contains(&lanes[0]), "the lanes moved");
    let (mut reopened, _) = Store::open(store.into_flash()).unwrap();
    assert_eq!(reopened.contents().unwrap(), before);
}

/// An incarnation page past the ECC, met by the scrub: the scrub goes on,
/// counts the page lost and the store names it; nothing else changes.
#[test]
fn an_incarnation_page_past_the_ecc_is_counted_lost_by_the_scrub() {
    let (mut store, _) = frozen_mlc_store();
    let region = store.incarnation_regions().pop().expect("an incarnation");
    let page = logstore::PageAddr {
        block: region.blocks[0],
        page: 1,
    };
    past_the_ecc(&mut store, page);
    let pages_read = store.block_budget().needed() as u64 * 1_000;
    let report = store.scrub(pages_read).unwrap();
    assert_eq!(report.pages_lost, 1, "{report:?}");
    assert_eq!(store.lost_pages(), vec![page]);
}

/// An incarnation the scrub must move (a page at the scrub threshold)
/// that holds a page past the ECC the scrub has not reached yet: the
/// copy's read meets that page, names it lost and leaves the incarnation
/// in place (a copy could not keep the loss visible).
#[test]
fn an_incarnation_to_move_with_a_page_past_the_ecc_stays_and_names_it() {
    let (mut store, _) = frozen_mlc_store();
    let region = store.incarnation_regions()[0].clone();
    let geometry = logstore::Flash::geometry(store.flash());
    let near = logstore::PageAddr {
        block: region.blocks[0],
        page: 0,
    };
    let lost = logstore::PageAddr {
        block: region.blocks[0],
        page: 1,
    };
    for bit in 0..(geometry.ecc_bits * 3).div_ceil(4) {
        store.flash_mut().flip_bit(near, bit * 8).unwrap();
    }
    past_the_ecc(&mut store, lost);
    let report = store.scrub(1).unwrap();
    assert_eq!(report.rewrites, 0, "{report:?}");
    assert_eq!(store.lost_pages(), vec![lost]);
    assert_eq!(store.incarnation_regions()[0], region, "left in place");
}

/// A scrub of an empty store reads what there is (the anchor's lanes:
/// each lane's programmed pages, the first record's, once each) and
/// stops: no target holds a page, nothing is rewritten.
#[test]
fn a_scrub_of_an_empty_store_reads_the_anchor_and_stops() {
    let config = CheckConfig::on_device(Device::Mlc);
    let flash = SimFlash::new(config.sim_config(), 1).unwrap();
    let mut store = Store::create(flash, config.store).unwrap();
    let lanes = store.anchor_lanes();
    let pages_per_block = logstore::Flash::geometry(store.flash()).pages_per_block;
    let programmed = (0..pages_per_block)
        .map(|page| logstore::PageAddr {
            block: lanes[0],
            page,
        })
        .filter(|&addr| store.flash().raw_page(addr).iter().any(|&b| b != 0xFF))
        .count() as u64;
    assert!(programmed >= 1);
    let report = store.scrub(1_000).unwrap();
    assert_eq!(report.rewrites, 0, "{report:?}");
    let lanes_count = logstore::testing::LANES as u64;
    assert_eq!(report.pages_read(), lanes_count * programmed, "{report:?}");
}

/// A store on the MLC preset with `layout`, keys `0..keys` inserted and a
/// flush every four: no incarnation yet, the journal's first page holds
/// keys 0 to 3.
fn journal_only_mlc_store(layout: logstore::SlotLayoutKind, keys: u64) -> Store<SimFlash> {
    let config = CheckConfig::on_device(Device::Mlc);
    let flash = SimFlash::new(config.sim_config(), 1).unwrap();
    let store_config = StoreConfig {
        layout,
        ..config.store
    };
    let mut store = Store::create(flash, store_config).unwrap();
    for key in 0..keys {
        store.insert(hash_of(key), info_of(key)).unwrap();
        if key % 4 == 3 {
            store.flush().unwrap();
        }
    }
    assert!(store.incarnation_regions().is_empty());
    store
}

/// The scrub goes through the journal a page a step: step k reads page
/// k alone, so a page past the ECC at offset 2 is named by the third step
/// and by no other.
#[test]
fn a_scrub_one_page_a_step_reads_the_journal_page_by_page() {
    let mut store = journal_only_mlc_store(logstore::SlotLayoutKind::Full, 40);
    let pages = store.journal_page_addrs();
    assert!(pages.len() >= 5, "{pages:?}");
    past_the_ecc(&mut store, pages[2]);
    let reports: Vec<ScrubReport> = (0..3).map(|_| store.scrub(1).unwrap()).collect();
    let lost: Vec<u64> = reports.iter().map(|r| r.pages_lost).collect();
    assert_eq!(lost, [0, 0, 1], "{reports:?}");
    assert!(reports.iter().all(|r| r.pages_read() == 1), "{reports:?}");
}

/// A journal page past the ECC under full slots, which hold whole
/// entries: the scrub names it once and moves the live entries from the
/// table, so the store loses nothing, now or reopened.
#[test]
fn a_journal_page_past_the_ecc_loses_nothing_under_full_slots() {
    let mut store = journal_only_mlc_store(logstore::SlotLayoutKind::Full, 40);
    let before = store.contents().unwrap();
    let first = store.journal_page_addrs()[0];
    past_the_ecc(&mut store, first);
    let pages_read = store.block_budget().needed() as u64 * 1_000;
    let report = store.scrub(pages_read).unwrap();
    assert_eq!(report.pages_lost, 1, "{report:?}");
    assert!(report.rewrites >= 1, "{report:?}");
    assert!(
        !store.journal_page_addrs().contains(&first),
        "the journal moved"
    );
    assert_eq!(store.scrub(pages_read).unwrap().pages_lost, 0, "named once");
    let (mut reopened, _) = Store::open(store.into_flash()).unwrap();
    assert_eq!(reopened.contents().unwrap(), before);
}

/// A journal page past the ECC under compact slots, which keep only a
/// tag and the entry's journal position: a lookup that must read the
/// page is a typed error, never a miss; other keys read as they were.
#[test]
fn a_journal_page_past_the_ecc_is_a_typed_error_on_a_compact_lookup() {
    let mut store = journal_only_mlc_store(logstore::SlotLayoutKind::Compact, 40);
    let first = store.journal_page_addrs()[0];
    past_the_ecc(&mut store, first);
    let lookup = store.get(&hash_of(0));
    assert!(
        matches!(
            lookup,
            Err(StoreError::Ledger(logstore::errors::LedgerError::Journal(
                logstore::errors::JournalError::Corrupt { .. }
            )))
        ),
        "{lookup:?}"
    );
    assert_eq!(store.get(&hash_of(39)).unwrap(), Some(info_of(39)));
}

/// The ECC layer over a fresh simulated device of `sim`.
fn media_on(sim: logstore_sim::SimConfig) -> logstore::testing::Media<SimFlash> {
    let geometry = sim.geometry;
    let flash = SimFlash::new(sim, 0).unwrap();
    logstore::testing::Media::new(flash).unwrap_or_else(|_| panic!("{geometry:?}: no media"))
}

/// Each ECC step's parity fills its own slot of the spare area: a page
/// carries a slot's bytes a step.
#[test]
fn a_page_carries_one_parity_slot_a_step() {
    for device in Device::ALL {
        let geometry = device.geometry(8);
        let media = media_on(logstore_sim::SimConfig::new(geometry));
        let steps = (geometry.page_bytes / geometry.ecc_step_bytes) as usize;
        let slot = geometry.ecc_parity_bytes().unwrap() as usize;
        assert!(steps > 1 && slot > 1, "{device:?}");
        assert_eq!(media.parity_bytes_per_page(), steps * slot, "{device:?}");
        assert!(media.parity_bytes_per_page() <= geometry.spare_bytes as usize);
    }
}

/// A worn block that takes a program and keeps nothing is caught by the
/// read-back, with the ECC or without: the program is a failure.
#[test]
fn a_silently_dropped_program_fails_its_read_back() {
    use logstore::{BlockAddr, Flash, FlashError, PageAddr};
    for device in [None, Some(Device::Mlc)] {
        let geometry = device.map_or_else(
            || logstore::Geometry::new(512, 8, 8).unwrap(),
            |d| d.small_geometry(8),
        );
        let mut sim = logstore_sim::SimConfig::new(geometry);
        sim.endurance_cycles = 1;
        sim.wear_out = logstore_sim::nand::WearOut::SilentNoop;
        let mut media = media_on(sim);
        let block = BlockAddr(3);
        for _ in 0..3 {
            media.erase(block).unwrap();
        }
        let page = PageAddr { block, page: 0 };
        let data = vec![0x5A; geometry.page_bytes as usize];
        assert!(
            matches!(media.program(page, &data), Err(FlashError::BadBlock { .. })),
            "{device:?}: a dropped program passed its read-back"
        );
    }
}

/// A read past the ECC is an `Uncorrectable` error, counted in
/// `pages_uncorrectable` at every read that meets it; a clean read
/// counts nothing there.
#[test]
fn a_read_past_the_ecc_is_counted_uncorrectable_each_time() {
    use logstore::{Flash, FlashError, PageAddr};
    let geometry = Device::Slc.small_geometry(8);
    let page = PageAddr {
        block: logstore::BlockAddr(2),
        page: 0,
    };
    let data = vec![0x3C; geometry.page_bytes as usize];
    let mut media = media_on(logstore_sim::SimConfig::new(geometry));
    media.erase(page.block).unwrap();
    media.program(page, &data).unwrap();
    let mut buf = vec![0u8; data.len()];
    media.read_checked(page, &mut buf).unwrap();
    assert_eq!(media.ecc_counts().pages_uncorrectable, 0);
    for bit in 0..geometry.ecc_bits * 2 + 2 {
        media.inner_mut().flip_bit(page, bit * 8 + 1).unwrap();
    }
    for reads in 1..=2 {
        let read = media.read_checked(page, &mut buf);
        assert!(
            matches!(read, Err(FlashError::Uncorrectable { .. })),
            "{read:?}"
        );
        assert_eq!(media.ecc_counts().pages_uncorrectable, reads);
    }
}

/// A read whose worst step needs three quarters of the ECC's strength is
/// corrected, asks for a scrub, and is counted; one below is not.
#[test]
fn reads_near_the_ecc_limit_ask_for_a_scrub_and_are_counted() {
    use logstore::{Flash, PageAddr};
    let geometry = Device::Slc.small_geometry(8);
    let threshold = (geometry.ecc_bits * 3).div_ceil(4);
    let page = PageAddr {
        block: logstore::BlockAddr(2),
        page: 0,
    };
    let data = vec![0x3C; geometry.page_bytes as usize];
    for flips in [threshold - 1, threshold] {
        let mut media = media_on(logstore_sim::SimConfig::new(geometry));
        media.erase(page.block).unwrap();
        media.program(page, &data).unwrap();
        for bit in 0..flips {
            media.inner_mut().flip_bit(page, bit * 8 + 1).unwrap();
        }
        let before = media.ecc_counts();
        let mut buf = vec![0u8; data.len()];
        let status = media.read_checked(page, &mut buf).unwrap();
        assert_eq!(buf, data);
        assert_eq!(status.bits_corrected, flips);
        let after = media.ecc_counts();
        let asked = flips >= threshold;
        assert_eq!(status.scrub, asked, "{flips} flips");
        assert_eq!(
            after.pages_to_scrub - before.pages_to_scrub,
            u64::from(asked)
        );
        assert_eq!(
            after.bits_corrected - before.bits_corrected,
            u64::from(flips)
        );
    }
}

/// A scrub in small steps goes on where the last one stopped: within as
/// many steps as the pages take, it reaches an incarnation's last page
/// and moves the incarnation whose page has drifted near the ECC's limit.
#[test]
fn a_scrub_in_small_steps_reaches_every_page() {
    use logstore::{Store, StoreConfig};
    let geometry = Device::Slc.small_geometry(256);
    let flash = SimFlash::new(logstore_sim::SimConfig::new(geometry), 0).unwrap();
    let mut store = Store::create(flash, StoreConfig::new(6, 4)).unwrap();
    let mut key = 0;
    // Bounded: a 256-slot table freezes within a few hundred inserts.
    while store.stats().incarnations == 0 && key < 10_000 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        key += 1;
    }
    store.flush().unwrap();
    let region = store.incarnation_regions()[0].clone();
    let incarnation = logstore::testing::Incarnation::open(region, geometry).unwrap();
    let last = incarnation.page_addr(incarnation.bucket_pages() - 1);
    let threshold = (geometry.ecc_bits * 3).div_ceil(4);
    for bit in 0..threshold {
        store.flash_mut().flip_bit(last, bit * 8 + 3).unwrap();
    }
    let ppb = u64::from(geometry.pages_per_block);
    let pages = incarnation.pages() + 4 * ppb;
    let budget = 4;
    let mut moved = false;
    for _ in 0..pages.div_ceil(budget) + 2 {
        let report = store.scrub(budget).unwrap();
        if report.bits_corrected_max >= threshold {
            assert!(report.rewrites > 0, "{report:?}");
            moved = true;
            break;
        }
    }
    assert!(moved, "the scrub never reached page {last:?}");
    assert_ne!(
        store.incarnation_regions()[0].blocks,
        incarnation.region().blocks
    );
}

/// A store on `mlc` with two incarnations, the newer shadowing the older:
/// the first holds keys `0..` as first inserted, the second new values for
/// most of them and tombstones for every fifth, so a lookup that slipped
/// past the newer would answer an older value or a deleted hash.
struct Layered {
    config: CheckConfig,
    flash: SimFlash,
    /// The newest info of every key inserted (`None`: deleted).
    model: std::collections::BTreeMap<u64, Option<logstore::Info>>,
}

/// Keys of [`layered`]'s second values: `key + SECOND`.
const SECOND: u64 = 1 << 32;

fn layered(seed: u64) -> Layered {
    let config = CheckConfig::on_device(Device::Mlc);
    let flash = SimFlash::new(config.sim_config(), seed).unwrap();
    let mut store = Store::create(flash, config.store).unwrap();
    let mut model = std::collections::BTreeMap::new();
    // Each phase freezes within a table's worth of new entries.
    let slots = (1u64 << config.store.order) * config.store.bucket_slots as u64;
    let mut first_keys = 0;
    while store.stats().incarnations == 0 && first_keys < slots * 4 {
        let key = first_keys;
        store.insert(hash_of(key), info_of(key)).unwrap();
        model.insert(key, Some(info_of(key)));
        first_keys += 1;
    }
    // The first keys again (a new value, or a tombstone), then new keys.
    for key in 0..slots * 4 {
        if store.stats().incarnations == 2 {
            break;
        }
        if key % 5 == 4 && key < first_keys {
            store.delete(&hash_of(key)).unwrap();
            model.insert(key, None);
        } else {
            let info = info_of(key + SECOND);
            store.insert(hash_of(key), info).unwrap();
            model.insert(key, Some(info));
        }
    }
    assert_eq!(store.stats().incarnations, 2, "two freezes");
    store.flush().unwrap();
    Layered {
        config,
        flash: store.into_flash(),
        model,
    }
}

/// How a test destroys a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    /// Bit errors past the ECC.
    PastEcc,
    Erased,
    /// The raw bytes (spare included) of another page.
    Other,
}

impl Loss {
    const ALL: [Loss; 3] = [Loss::PastEcc, Loss::Erased, Loss::Other];
}

/// `flash` with each (page, loss, the page whose bytes `Other` copies)
/// applied.
fn damaged(
    config: &CheckConfig,
    flash: &SimFlash,
    losses: &[(logstore::PageAddr, Loss, logstore::PageAddr)],
) -> SimFlash {
    let g = config.geometry;
    let raw = g.raw_page_bytes() as usize;
    let mut image = flash.image();
    for &(page, loss, other) in losses {
        let at = g.page_offset(page) as usize;
        match loss {
            Loss::Erased => image[at..at + raw].fill(0xff),
            Loss::Other => {
                let from = g.page_offset(other) as usize;
                image.copy_within(from..from + raw, at);
            }
            Loss::PastEcc => {}
        }
    }
    let mut flash = SimFlash::from_image(config.sim_config(), &image, 0).unwrap();
    for &(page, loss, _) in losses {
        if loss == Loss::PastEcc {
            for k in 0..g.ecc_bits * 2 + 2 {
                flash.flip_bit(page, k * 61).unwrap();
            }
        }
    }
    flash
}

/// An incarnation of `layered`'s store and its entries' places.
struct Placed {
    incarnation: logstore::testing::Incarnation,
    /// hash → bucket.
    buckets: std::collections::HashMap<logstore::Hash, u64>,
}

fn placed(l: &Layered, index: usize) -> Placed {
    use logstore::testing::{Incarnation, Media};
    let (store, _) = Store::open(l.flash.clone()).unwrap();
    let region = store.incarnation_regions()[index].clone();
    let incarnation = Incarnation::open(region, l.config.geometry).unwrap();
    let mut media = Media::new(l.flash.clone()).unwrap_or_else(|_| panic!("media"));
    let entries = incarnation.read_placed(&mut media).unwrap().entries;
    let buckets = entries.iter().map(|(b, _, h, _)| (*h, *b)).collect();
    Placed {
        incarnation,
        buckets,
    }
}

/// What a lookup must answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Served(Option<logstore::Info>),
    Lost,
    /// Served, or a typed error (a filter tag matching falsely sends the
    /// lookup to the lost page).
    Either(Option<logstore::Info>),
}

/// What `hash` must answer once bucket page `lost` (a region page index)
/// of the newest incarnation `newest` is gone, `answer` being its newest
/// info. `blind`: the filter was rebuilt without the page, so every hash
/// with a candidate bucket there is looked for in it.
fn expected(
    newest: &Placed,
    lost: Option<u64>,
    hash: &logstore::Hash,
    answer: Option<logstore::Info>,
    blind: bool,
) -> Expect {
    use logstore::testing::{h1, h2};
    let inc = &newest.incarnation;
    let page_of = |bucket: u64| Some(bucket / u64::from(inc.buckets_per_page()));
    if let Some(&bucket) = newest.buckets.get(hash) {
        return match page_of(bucket) == lost {
            true => Expect::Lost,
            false => Expect::Served(answer),
        };
    }
    let order = inc.order();
    let touches = page_of(h1(hash, order)) == lost || page_of(h2(hash, order)) == lost;
    match (touches, blind) {
        (false, _) => Expect::Served(answer),
        (true, true) => Expect::Lost,
        (true, false) => Expect::Either(answer),
    }
}

/// Checks one answer against what it must be; returns whether it was a
/// typed error.
fn check_answer(key: u64, expect: Expect, got: Result<Option<logstore::Info>, StoreError>) -> bool {
    let typed = matches!(
        got,
        Err(StoreError::HashStore(HashStoreError::Corrupt { .. }))
    );
    let served = |answer| matches!(&got, Ok(info) if *info == answer);
    let ok = match expect {
        Expect::Served(answer) => served(answer),
        Expect::Lost => typed,
        Expect::Either(answer) => typed || served(answer),
    };
    assert!(ok, "key {key}: expected {expect:?}, got {got:?}");
    typed
}

/// One filter page and one bucket page of an incarnation lost together,
/// each kind of loss (past the ECC, erased, another page's bytes), and
/// each alone: the store opens, plainly and salvaging; every key the lost
/// bucket page held is a typed error, never "absent" nor the value an
/// older incarnation holds; every other key is served.
#[test]
fn a_lost_filter_page_and_bucket_page_cost_that_bucket_page_only() {
    let l = layered(7);
    let (newest, older) = (placed(&l, 0), placed(&l, 1));
    let inc = &newest.incarnation;
    let per_page = u64::from(inc.buckets_per_page());
    // The bucket page holding the most hashes the older incarnation holds
    // too (with an older value, or one the newer deleted).
    let mut shadowing = std::collections::BTreeMap::<u64, u64>::new();
    for (hash, bucket) in &newest.buckets {
        if older.buckets.contains_key(hash) {
            *shadowing.entry(bucket / per_page).or_default() += 1;
        }
    }
    let (&lost, &shadowed) = shadowing.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(shadowed > 0);
    let held = newest
        .buckets
        .values()
        .filter(|&&b| b / per_page == lost)
        .count();
    let bucket_page = (
        inc.page_addr(lost),
        inc.page_addr((lost + 1) % inc.bucket_pages()),
    );
    let older_inc = &older.incarnation;
    let filter_page = (
        inc.page_addr(inc.bucket_pages()),
        older_inc.page_addr(older_inc.bucket_pages()),
    );
    let absent = (0..200).map(|n| (SECOND * 2 + n, None));
    let keys: Vec<_> = l
        .model
        .iter()
        .map(|(&k, &v)| (k, v))
        .chain(absent)
        .collect();
    let options: Vec<_> = std::iter::once(None).chain(Loss::ALL.map(Some)).collect();
    for &filter_loss in &options {
        for &bucket_loss in &options {
            let case = format!("filter {filter_loss:?}, bucket {bucket_loss:?}");
            let mut losses = Vec::new();
            if let Some(loss) = filter_loss {
                losses.push((filter_page.0, loss, filter_page.1));
            }
            if let Some(loss) = bucket_loss {
                losses.push((bucket_page.0, loss, bucket_page.1));
            }
            let flash = damaged(&l.config, &l.flash, &losses);
            let lost = bucket_loss.map(|_| (lost, bucket_page.0, held));
            check_reopened(&flash, &newest, &keys, filter_loss.is_some(), lost, &case);
        }
    }
}

/// Opens `flash` plainly and salvaging and checks every key of `keys`
/// (with its newest info): the filter rebuilt if `filter_lost`; with a
/// bucket page `lost` (its region index, address, and how many hashes it
/// held) every key of it a typed error, the page named.
fn check_reopened(
    flash: &SimFlash,
    newest: &Placed,
    keys: &[(u64, Option<logstore::Info>)],
    filter_lost: bool,
    lost: Option<(u64, logstore::PageAddr, usize)>,
    case: &str,
) {
    let blind = filter_lost && lost.is_some();
    for salvaging in [false, true] {
        let opened = match salvaging {
            true => Store::open_salvaging(flash.clone()),
            false => Store::open(flash.clone()),
        };
        let (mut store, report) = opened.unwrap_or_else(|e| panic!("{case}: {e}"));
        let case = format!("{case}, salvaging {salvaging}");
        assert_eq!(report.filters_rebuilt, u32::from(filter_lost), "{case}");
        assert_eq!(
            store.stats().incarnation_pages_lost,
            u64::from(blind),
            "{case}"
        );
        let in_log: std::collections::HashSet<_> = store
            .log_contents()
            .unwrap()
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        let mut typed = 0;
        for &(key, answer) in keys {
            let hash = hash_of(key);
            let expect = match in_log.contains(&hash) {
                true => Expect::Served(answer),
                false => expected(newest, lost.map(|l| l.0), &hash, answer, blind),
            };
            typed += usize::from(check_answer(key, expect, store.get(&hash)));
        }
        assert_eq!(
            store.lost_pages(),
            Vec::from_iter(lost.map(|l| l.1)),
            "{case}"
        );
        let held = lost.map_or(0, |l| l.2);
        assert!(typed >= held, "{case}: {typed} typed errors, {held} lost");
    }
}

/// Flips `flips` bits of `page`'s first ECC step, sticky.
fn flip_bits(flash: &mut SimFlash, page: logstore::PageAddr, flips: u32) {
    for bit in 0..flips {
        flash.flip_bit(page, bit * 8 + 3).unwrap();
    }
}

/// Bits a step that ask for a scrub: three quarters of the ECC's strength.
fn scrub_threshold(config: &CheckConfig) -> u32 {
    (config.geometry.ecc_bits * 3).div_ceil(4)
}

/// Runs `store.scrub(budget)` until it has read every page of the store
/// `passes` times over; every step must succeed. Returns the reports.
fn scrub_passes(store: &mut Store<SimFlash>, budget: u64, passes: u64) -> Vec<ScrubReport> {
    let geometry = store.flash().config().geometry;
    let pages: u64 = store
        .incarnation_regions()
        .into_iter()
        .map(|r| {
            logstore::testing::Incarnation::open(r, geometry)
                .unwrap()
                .pages()
        })
        .sum::<u64>()
        + store.journal_page_addrs().len() as u64;
    let steps = (pages * passes).div_ceil(budget) + 1;
    (0..steps)
        .map(|step| {
            store
                .scrub(budget)
                .unwrap_or_else(|e| panic!("scrub step {step} of {steps}: {e}"))
        })
        .collect()
}

/// A bucket page past the ECC does not hold the scrub: it is named once
/// (over two passes), the cursor goes past it, and an older incarnation
/// whose page nears the ECC's limit is still rewritten; the incarnation
/// with the lost page is not (its copy could not keep the loss visible),
/// and what the page held stays a typed error, also after a reopen.
#[test]
fn the_scrub_names_a_page_it_cannot_read_and_goes_on() {
    let l = layered(11);
    let (newest, older) = (placed(&l, 0), placed(&l, 1));
    let (inc, older_inc) = (&newest.incarnation, &older.incarnation);
    let lost = 0;
    let bad = inc.page_addr(lost);
    let worn = [
        inc.page_addr(1),
        older_inc.page_addr(older_inc.bucket_pages() - 1),
    ];
    let mut flash = damaged(&l.config, &l.flash, &[(bad, Loss::PastEcc, bad)]);
    for page in worn {
        flip_bits(&mut flash, page, scrub_threshold(&l.config));
    }
    let (mut store, _) = Store::open(flash).unwrap();
    let before = store.incarnation_regions();
    let reports = scrub_passes(&mut store, 4, 2);
    let named: u64 = reports.iter().map(|r| r.pages_lost).sum();
    assert_eq!(named, 1, "named once over two passes");
    assert!(reports.iter().all(|r| r.pages_read() > 0));
    let rewrites: u64 = reports.iter().map(|r| r.rewrites).sum();
    assert!(rewrites >= 1, "{reports:?}");
    let after = store.incarnation_regions();
    assert_eq!(after[0].blocks, before[0].blocks, "not rewritten");
    assert_ne!(after[1].blocks, before[1].blocks, "rewritten");
    assert_eq!(store.lost_pages(), vec![bad]);
    assert_eq!(store.stats().incarnation_pages_lost, 1);
    let flash = store.into_flash();
    let (mut reopened, _) = Store::open(flash).unwrap();
    let in_log: std::collections::HashSet<_> = reopened
        .log_contents()
        .unwrap()
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    for (&key, &answer) in &l.model {
        let hash = hash_of(key);
        let expect = match in_log.contains(&hash) {
            true => Expect::Served(answer),
            false => expected(&newest, Some(lost), &hash, answer, false),
        };
        check_answer(key, expect, reopened.get(&hash));
    }
}

/// The scrub reads filter pages too: one near the ECC's limit and one
/// past it each get their incarnation rewritten, its filter written
/// again, so the next open loads every filter and rebuilds none.
#[test]
fn the_scrub_rewrites_filters_near_or_past_the_ecc() {
    let l = layered(13);
    let (newest, older) = (placed(&l, 0), placed(&l, 1));
    let filter_page = |p: &Placed| p.incarnation.page_addr(p.incarnation.bucket_pages());
    let mut flash = damaged(&l.config, &l.flash, &[]);
    flip_bits(&mut flash, filter_page(&older), scrub_threshold(&l.config));
    flip_bits(
        &mut flash,
        filter_page(&newest),
        l.config.geometry.ecc_bits * 2 + 2,
    );
    let (mut store, report) = Store::open(flash).unwrap();
    assert_eq!(report.filters_rebuilt, 1);
    let before = store.incarnation_regions();
    let reports = scrub_passes(&mut store, 4, 1);
    let damaged_pages: u64 = reports.iter().map(|r| r.filter_pages_damaged).sum();
    assert_eq!(damaged_pages, 1);
    let most = reports.iter().map(|r| r.bits_corrected_max).max();
    assert!(most >= Some(scrub_threshold(&l.config)), "{reports:?}");
    let after = store.incarnation_regions();
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(a.blocks, b.blocks, "rewritten");
    }
    assert!(store.lost_pages().is_empty());
    let (mut reopened, report) = Store::open(store.into_flash()).unwrap();
    assert_eq!(report.filters_rebuilt, 0);
    for (&key, &answer) in &l.model {
        assert_eq!(reopened.get(&hash_of(key)).unwrap(), answer, "key {key}");
    }
}

/// The ECC layer counts every operation it sends, as the device counts
/// what it receives: programs (each raw page, parity included), bytes,
/// erases, syncs, and reads with the verify reads apart.
#[test]
fn the_ecc_layer_counts_what_the_device_receives() {
    let config = CheckConfig::on_device(Device::Tlc);
    let flash = SimFlash::new(config.sim_config(), 11).unwrap();
    let mut store = Store::create(flash, config.store).unwrap();
    let before = (store.stats().io, store.flash().counters());
    for key in 0..3_000u64 {
        store.insert(hash_of(key), info_of(key)).unwrap();
        if key % 50 == 49 {
            store.flush().unwrap();
        }
    }
    for key in 0..100u64 {
        assert_eq!(store.get(&hash_of(key)).unwrap(), Some(info_of(key)));
    }
    let (io, device) = (store.stats().io, store.flash().counters());
    let (io0, device0) = before;
    assert!(store.stats().freezes > 0 && io.syncs > io0.syncs + 50);
    assert_eq!(
        io.programs - io0.programs,
        device.programs - device0.programs
    );
    assert_eq!(
        io.bytes_programmed - io0.bytes_programmed,
        device.bytes_programmed - device0.bytes_programmed
    );
    assert_eq!(io.erases - io0.erases, device.erases - device0.erases);
    assert_eq!(io.syncs - io0.syncs, device.syncs - device0.syncs);
    assert_eq!(
        io.reads + io.verify_reads - io0.reads - io0.verify_reads,
        device.reads - device0.reads
    );
}

/// A lookup that reads an incarnation page near the ECC's limit asks for
/// the incarnation's rewrite: the next write moves it, with no background
/// scrub step run.
#[test]
fn a_lookup_near_the_ecc_limit_has_the_next_write_rewrite_its_incarnation() {
    let l = layered(17);
    let newest = placed(&l, 0);
    let inc = &newest.incarnation;
    let mut flash = damaged(&l.config, &l.flash, &[]);
    for page in 0..inc.bucket_pages() {
        flip_bits(&mut flash, inc.page_addr(page), scrub_threshold(&l.config));
    }
    let (mut store, _) = Store::open(flash).unwrap();
    let before = store.incarnation_regions();
    for (hash, _) in newest.buckets.iter() {
        assert!(store.get(hash).is_ok());
    }
    assert_eq!(
        store.incarnation_regions(),
        before,
        "a lookup writes nothing"
    );
    store.insert(hash_of(1 << 50), info_of(1)).unwrap();
    store.flush().unwrap();
    let after = store.incarnation_regions();
    assert_ne!(
        after[0].blocks, before[0].blocks,
        "the newest was not moved"
    );
    for (&key, &answer) in &l.model {
        assert_eq!(store.get(&hash_of(key)).unwrap(), answer, "key {key}");
    }
}

/// A scrub's `pages_read` is every page it read from the device: over a
/// whole round (the journal, then the anchor's lanes) it equals the
/// device's read count, and the anchor's pages are among them.
#[test]
fn a_scrub_counts_every_page_it_reads_the_anchor_included() {
    let config = CheckConfig::on_device(Device::Mlc);
    let flash = SimFlash::new(config.sim_config(), 3).unwrap();
    let mut store = Store::create(flash, StoreConfig::new(6, 4)).unwrap();
    for key in 0..40 {
        store.insert(hash_of(key), info_of(key)).unwrap();
    }
    store.flush().unwrap();
    let journal_pages = store.journal_page_addrs().len() as u64;
    let reads_before = store.flash().counters().reads;
    let report = store.scrub(1_000).unwrap();
    let reads = store.flash().counters().reads - reads_before;
    assert_eq!(report.rewrites, 0, "{report:?}");
    assert_eq!(report.pages_read(), reads, "{report:?}");
    // Two lanes, each read at page 0 and at the record's page at least.
    assert!(
        reads >= journal_pages + 4,
        "{reads} reads, {journal_pages} journal pages"
    );
}

/// The journal's recovery asks for a scrub when a page it reads needs
/// three quarters of the ECC's strength: the recovery report and the
/// journal say so; one bit fewer, neither does.
#[test]
fn a_journal_page_near_the_ecc_limit_at_open_asks_for_a_scrub() {
    use logstore::testing::format::Entry;
    use logstore::testing::Ledger;
    let geometry = Device::Slc.small_geometry(64);
    let threshold = (geometry.ecc_bits * 3).div_ceil(4);
    for flips in [threshold - 1, threshold] {
        let mut media = media_on(logstore_sim::SimConfig::new(geometry));
        let mut log = Ledger::create(&mut media, 4, vec![]).unwrap();
        for key in 0..3 {
            let entry = Entry::Hash {
                hash: hash_of(key),
                info: info_of(key),
            };
            log.append(&entry).unwrap();
            log.flush().unwrap();
        }
        let page = log.journal().page_addrs()[1];
        drop(log);
        for bit in 0..flips {
            media.inner_mut().flip_bit(page, bit * 8 + 1).unwrap();
        }
        let (log, entries, report) = Ledger::open(&mut media).unwrap();
        assert_eq!(entries.len(), 3);
        let asked = flips >= threshold;
        let scrub = (report.scrub, log.journal().needs_scrub());
        assert_eq!(scrub, (asked, asked), "{flips} flips");
    }
}
