//! Bit errors past and within the ECC: within it nothing is lost, also over
//! years of retention on worn parts thanks to the background scrub; past
//! it, a loss is named (a typed error, `DataLoss`), never silent.

use logstore::errors::{HashStoreError, IncarnationPageFault};
use logstore::{Store, StoreError};
use logstore_sim::check::CheckConfig;
use logstore_sim::nand::{Device, SimFlash};
use logstore_sim::scenarios::{middle_page_lost, retention, RetentionPlan};
use logstore_sim::workload::{hash_of, info_of};

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

#[test]
fn worn_parts_keep_every_entry_for_five_years_with_the_background_scrub() {
    for device in [Device::Mlc, Device::Tlc] {
        let outcome =
            retention(3, RetentionPlan::worn(device)).unwrap_or_else(|e| panic!("{device:?}: {e}"));
        assert!(outcome.scrubs > 0, "{device:?}: {outcome:?}");
        assert!(outcome.first_scrub_day.is_some(), "{outcome:?}");
    }
}

/// The model's retention errors do outgrow the ECC: without the scrub the
/// same five years end in an uncorrectable page, named.
#[test]
fn without_the_scrub_retention_outgrows_the_ecc_and_the_read_says_so() {
    let plan = RetentionPlan {
        scrub_pages: 0,
        ..RetentionPlan::worn(Device::Mlc)
    };
    let error = retention(3, plan).expect_err("five unscrubbed years past the ECC");
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
