//! A part that declares a pairing its cells do not follow (issue 20): the
//! journal's layout is safe under every known scheme, so a torn program
//! loses nothing flushed whatever the part declares. Each check is the
//! `exhaustive --mode torn` campaign the command line runs with
//! `--pairing-physical` and `--declared-pairing`, smaller; and each fails
//! with the declared-only layout planted back (`Bug::TrustDeclaredPairing`).

use indicatif::ProgressBar;
use logstore::testing::{plant, Bug};
use logstore::Pairing;
use logstore_sim::campaign::{exhaustive, exhaustive_case, Case, ExhaustiveSummary, Part};
use logstore_sim::check::workload::WorkloadKind;
use logstore_sim::nand::Device;
use logstore_sim::CrashMode;

const DIST3: Pairing = Pairing::Mlc { lead: 2 };
const DIST5: Pairing = Pairing::Mlc { lead: 3 };

/// Steps of each campaign: at most 1,500 crash points on either part.
const OPS: usize = 3_000;

/// (device, cells' pairing, declared pairing): dist3 cells declaring none
/// (the measurement), a wider distance declaring none, a second
/// TLC order declaring the first. (dist5 cells declaring dist3 lose
/// nothing on this workload even with the declared-only layout: each of
/// its flushes is one page, and the page a cut damages there has its
/// commit copy on a page no later program pairs with.)
const MISMATCHES: [(Device, Option<Pairing>, Option<Pairing>); 3] = [
    (Device::Mlc, Some(DIST3), Some(Pairing::None)),
    (Device::Mlc, Some(DIST5), Some(Pairing::None)),
    (Device::Tlc, Some(Pairing::Tlc2), None),
];

fn case_of((device, physical, declared): (Device, Option<Pairing>, Option<Pairing>)) -> Case {
    let part = Part {
        device: Some(device),
        pairing_physical: physical,
        declared_pairing: declared,
        ..Part::default()
    };
    part.check().expect("the schemes fit the part");
    let layout = logstore::SlotLayoutKind::Full;
    exhaustive_case(0, OPS, WorkloadKind::Uniform, layout, true, &part)
}

/// The torn campaign on one worker thread, `bug` planted on it.
fn torn_campaign(case: &Case, bug: Option<Bug>) -> ExhaustiveSummary {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        plant(bug);
        let summary = exhaustive(case, &[CrashMode::Torn], 1, &ProgressBar::hidden());
        plant(None);
        summary
    })
}

/// `exhaustive --ops 3000 --device mlc --mode torn --pairing-physical
/// dist3 --declared-pairing none`, and the same for dist5 cells and the
/// second TLC order: pairs are damaged, nothing is lost.
#[test]
fn a_part_declaring_a_pairing_it_does_not_follow_loses_nothing_flushed() {
    for mismatch in MISMATCHES {
        let case = case_of(mismatch);
        let physical = case.config.pairing_physical;
        assert!(physical.is_some() && physical != Some(case.config.geometry.pairing));
        let summary = torn_campaign(&case, None);
        let first = summary.failed_cases.first().map(|c| &c.failure);
        assert_eq!(summary.failures, 0, "{mismatch:?}: {first:?}");
        assert!(summary.crash_points <= 1_500, "{mismatch:?}: {summary:?}");
        assert!(
            summary.crash_points_pairs_damaged > 0,
            "{mismatch:?}: {summary:?}"
        );
    }
}

/// Cells pairing beyond what the store covers (an MLC lead of 8, not in
/// `Pairing::KNOWN`, declared dist3): a torn upper program scrambles a
/// flushed page, and the store names the loss. The damage is the
/// device's: the simulator counts reads of such pages as past the ECC, so
/// the checker takes the named loss for what it is and the campaign
/// passes; damage the store was bound to avoid is never excused (the
/// planted declared-only layout above still fails).
#[test]
fn damage_beyond_the_schemes_covered_is_named_and_counted_as_the_devices() {
    let lead8 = (Device::Mlc, Some(Pairing::Mlc { lead: 8 }), Some(DIST3));
    let case = case_of(lead8);
    let summary = torn_campaign(&case, None);
    let first = summary.failed_cases.first().map(|c| &c.failure);
    assert_eq!(summary.failures, 0, "{first:?}");
    assert!(summary.crash_points_pairs_damaged > 0, "{summary:?}");
    // On the device itself: a torn upper program under lead 8 counts a
    // read of its lower page as past the ECC; under dist3 (covered) the
    // same damage is not excused.
    assert_eq!(torn_upper_read_past_ecc(&case, Pairing::Mlc { lead: 8 }), 1);
    let covered = case_of((Device::Mlc, Some(DIST3), Some(Pairing::None)));
    assert_eq!(torn_upper_read_past_ecc(&covered, DIST3), 0);
}

/// Programs page 0 of block 1, cuts a program of a page `cells` pairs
/// with it (torn), reads page 0 back: the reads counted past the ECC.
fn torn_upper_read_past_ecc(case: &Case, cells: Pairing) -> u64 {
    use logstore::{BlockAddr, Flash, PageAddr};
    let geometry = case.config.geometry;
    let mut device = logstore_sim::nand::SimFlash::new(case.config.sim_config(), 0).unwrap();
    let page = |page| PageAddr {
        block: BlockAddr(1),
        page,
    };
    let bytes = geometry.raw_page_bytes() as usize;
    device.program(page(0), &vec![0x5A; bytes]).unwrap();
    device.sync().unwrap();
    let pages = geometry.pages_per_block;
    let upper = (1..pages)
        .find(|&p| cells.damaged_by(p, pages) == [0])
        .expect("page 0 has an upper page");
    let now = device.ops_mutating();
    assert!(device.cut_power_at(now, CrashMode::Torn));
    let cut = device.program(page(upper), &vec![0x33; bytes]);
    assert!(
        matches!(cut, Err(logstore::FlashError::PowerLost)),
        "{cut:?}"
    );
    device.restart();
    let before = device.counters().reads_beyond_ecc;
    device.read(page(0), &mut vec![0; bytes]).unwrap();
    assert!(device.counters().paired_pages_corrupted > 0);
    device.counters().reads_beyond_ecc - before
}

/// The same campaigns with the journal trusting the declaration (its
/// lower pages only, or every page where it declares none): synced pages
/// are lost.
#[test]
fn the_declared_only_layout_loses_synced_pages_on_each_mismatch() {
    for mismatch in MISMATCHES {
        let summary = torn_campaign(&case_of(mismatch), Some(Bug::TrustDeclaredPairing));
        assert!(summary.failures > 0, "{mismatch:?}: {summary:?}");
    }
}

/// A case on a mismatched part saves the cells' pairing and the declared
/// one, and replays the same.
#[test]
fn a_mismatched_case_replays_from_its_file() {
    let mut case = case_of(MISMATCHES[0]);
    case.crashes = Case::from_seed(4, 800, None, &[CrashMode::Torn]).crashes;
    case.ops = 800;
    let dir = tempfile::tempdir().unwrap();
    let loaded = Case::load(&case.save(dir.path(), "case").unwrap()).unwrap();
    assert_eq!(loaded, case);
    assert_eq!(loaded.config.geometry.pairing, Pairing::None);
    assert_eq!(loaded.config.pairing_physical, Some(DIST3));
    assert_eq!(loaded.config.sim_config().cells_pairing(), DIST3);
    assert_eq!(loaded.run(), case.run());
}

/// A scheme that does not fit the part's blocks is refused, not run.
#[test]
fn a_pairing_that_does_not_fit_the_part_is_refused() {
    let part = Part {
        device: Some(Device::Mlc),
        pairing_physical: Some(Pairing::Tlc),
        ..Part::default()
    };
    assert!(part.check().is_err());
    let declared = Part {
        device: Some(Device::Mlc),
        declared_pairing: Some(Pairing::Tlc2),
        ..Part::default()
    };
    assert!(declared.check().is_err());
}
