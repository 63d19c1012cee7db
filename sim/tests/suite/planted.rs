//! The harness has teeth: each planted bug (see `logstore::planted`) makes
//! the seeded crash checks fail within a bounded number of seeds.

use std::panic::{catch_unwind, AssertUnwindSafe};

use logstore::testing::{plant, Bug};
use logstore_sim::campaign::scenarios::{
    middle_page_lost, retention, scrub_past_a_lost_page, RetentionPlan,
};
use logstore_sim::campaign::Case;
use logstore_sim::measure::wear::{wear, WearConfig};
use logstore_sim::nand::Device;
use logstore_sim::nand::WearOut;
use logstore_sim::CrashMode;

/// Seeds tried before a planted bug counts as missed.
const SEEDS_MAX: u64 = 1_000;

/// The seeded check that must catch `bug`: a random workload with power
/// cuts (on a part with bit errors for the ECC's bugs), years of retention
/// for the scrub's, a journal page damaged past the ECC for recovery's.
fn scenario(bug: Bug) -> fn(u64) -> Result<(), String> {
    match bug {
        Bug::TornTailKept => |seed| {
            use logstore_sim::campaign::scenarios::torn_tail;
            torn_tail(seed, Device::ALL[(seed % 3) as usize]).map(|_| ())
        },
        Bug::SkipCorrection => |seed| {
            let device = Device::ALL[(seed % 3) as usize];
            let case = Case::from_seed(seed, 2_000, None, &CrashMode::ALL);
            case.with_device(Some(device))
                .run()
                .map(|_| ())
                .map_err(|f| f.to_string())
        },
        Bug::ScrubNever => |seed| {
            retention(seed, RetentionPlan::worn(Device::ALL[(seed % 3) as usize])).map(|_| ())
        },
        // On the parts' own geometries the anchor's lanes hold 64 to 192
        // records and move rarely: unread, their pages age past the ECC.
        // The open needs only each lane's newest record and the head of its
        // page 0 (one ECC step): ten years at 95% wear take those too.
        Bug::ScrubSkipsAnchor => |seed| {
            let device = Device::ALL[(seed % 3) as usize];
            let plan = RetentionPlan {
                days: 10 * 365,
                ..RetentionPlan::worn_own_geometry(device)
            };
            retention(seed, plan).map(|_| ())
        },
        // A journal page lost mid-log, salvaged: its hashes must answer
        // `Unknown`, not "absent".
        Bug::MiddlePageIsEnd | Bug::SalvageAnswersOlder => {
            |seed| middle_page_lost(seed, Device::ALL[(seed % 3) as usize]).map(|_| ())
        }
        // An incarnation page past the ECC before one near it: the scrub
        // must go past the first to reach the second.
        Bug::ScrubCursorStuck => {
            |seed| scrub_past_a_lost_page(seed, Device::ALL[(seed % 3) as usize]).map(|_| ())
        }
        // A cut at every operation of a workload on MLC, torn: upper-page
        // programs cut over the journal's flushed pages.
        Bug::PairingUnaware => |seed| torn_mlc_campaign(seed, Bug::PairingUnaware, None),
        // The same on an MLC part that declares no pairing (its cells pair
        // as dist3): a journal keeping to the declared scheme's pages
        // writes every page, and cut upper programs damage flushed ones.
        Bug::TrustDeclaredPairing => |seed| {
            let declared = Some(logstore::Pairing::None);
            torn_mlc_campaign(seed, Bug::TrustDeclaredPairing, declared)
        },
        // Wear the device out: silently failing blocks (the audit finds
        // what a program never kept) and erase counts (checked at every
        // reopen against the device's).
        Bug::UnverifiedProgram | Bug::AnchorEraseUncounted => |seed| {
            let mut config = WearConfig::new(0, 40 + (seed % 20) as u32, 1 + (seed % 16) as u32);
            config.seed = seed;
            config.wear_out = WearOut::SilentNoop;
            config.until_end_of_life = true;
            let report = wear(&config, &|_| {})?;
            match (report.audit_failed, report.broken) {
                (None, None) if report.lost_flushed == 0 => Ok(()),
                (audit, broken) => Err(format!("audit {audit:?}, broken {broken:?}")),
            }
        },
        // Every pair of anchor pages damaged: never an older record.
        // Every pair of anchor pages lost: never an older record (a page 0
        // misread as a near group, with that lane's newest lost, needs the
        // lanes its older records name).
        Bug::LanesByFirstPageOnly => {
            |seed| logstore_sim::campaign::anchor_pairs::anchor_pairs(seed).map(|_| ())
        }
        // Two openers of one image: the second must be refused.
        Bug::NoFileLock => |seed| {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let path = dir.path().join(format!("image-{seed}.img"));
            let geometry = logstore::Geometry::new(512, 16, 8).map_err(|e| e.to_string())?;
            let _first = logstore::FileFlash::create(&path, geometry).map_err(|e| e.to_string())?;
            match logstore::FileFlash::open(&path, geometry) {
                Err(logstore::FlashError::Locked) => Ok(()),
                other => Err(format!("a second opener got {other:?}")),
            }
        },
        // A host I/O error at every operation of a workload, in turn:
        // one ignored under a journal page loses what its flush
        // acknowledged.
        Bug::IoErrorIgnored => io_error_campaign,
        // Crafted header fields (`craft`): each seed crafts one of the
        // `image` target's seed stores, every placement in turn.
        Bug::RecoveryUnbounded | Bug::FilterTagsUnchecked => crafted,
        // A power cut in a segment of `corrupt`'s workload, the segment
        // run again, each page it changed read back as the cut left it.
        Bug::GenerationsUnreserved => cuts_in_segments,
        // A store formatted over a used part, every single fault placed.
        Bug::FormatFromGenerationOne => reused_device,
        // Configurations nobody picked: each seed draws its device (bad
        // blocks anywhere, blocks growing bad), store and workload.
        Bug::FullIsEndOfLife
        | Bug::EvictOnlyAtLimit
        | Bug::AcceptsMisfit
        | Bug::PackAtEveryRefusal => swarm,
        _ => fixed,
    }
}

/// The crafted-header campaign on seed store `seed % 4`, on this thread.
fn crafted(seed: u64) -> Result<(), String> {
    use logstore_sim::campaign::crafted::{craft_store_here, CraftPlan};
    let plan = CraftPlan {
        field_bytes: logstore_sim::campaign::crafted::FIELD_BYTES_DEFAULT,
    };
    let failures = craft_store_here(&plan, (seed % 4) as usize)?;
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(first.clone()),
    }
}

/// `corrupt`'s power cuts in its segments alone (no other placement), on
/// the ideal device or a preset by seed, one worker (the bug is planted
/// per thread).
fn cuts_in_segments(seed: u64) -> Result<(), String> {
    use logstore_sim::campaign::corrupt::{corrupt, CorruptPlan};
    let bug = logstore::testing::active(Bug::GenerationsUnreserved);
    let device = [Some(Device::Slc), Some(Device::Mlc), None][(seed % 3) as usize];
    let plan = CorruptPlan {
        flushes: 25,
        singles: false,
        pairs: false,
        recovery_cuts: false,
        after_cut_faults: vec![logstore_sim::campaign::corrupt::Fault::Stale],
        ..CorruptPlan::new(device, seed)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let summary = pool.install(|| {
        plant(bug.then_some(Bug::GenerationsUnreserved));
        let summary = corrupt(&plan, &|_| {});
        plant(None);
        summary
    })?;
    assert!(
        summary.after_cuts.kept + summary.after_cuts.named > 0,
        "{summary:?}"
    );
    match summary.failures.first() {
        None => Ok(()),
        Some(failure) => Err(failure.clone()),
    }
}

/// `corrupt`'s single faults on a store formatted over another on the
/// same part (the ideal device or a preset by seed), one worker.
fn reused_device(seed: u64) -> Result<(), String> {
    use logstore_sim::campaign::corrupt::{corrupt, CorruptPlan};
    let bug = logstore::testing::active(Bug::FormatFromGenerationOne);
    let device = [None, Some(Device::Slc), Some(Device::Mlc)][(seed % 3) as usize];
    let plan = CorruptPlan {
        flushes: 10,
        pairs: false,
        recovery_cuts: false,
        after_cut_faults: Vec::new(),
        reused_device: true,
        ..CorruptPlan::new(device, seed)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let summary = pool.install(|| {
        plant(bug.then_some(Bug::FormatFromGenerationOne));
        let summary = corrupt(&plan, &|_| {});
        plant(None);
        summary
    })?;
    match summary.failures.first() {
        None => Ok(()),
        Some(failure) => Err(failure.clone()),
    }
}

/// The fixed-configuration campaign: a sweep's seeded case.
fn fixed(seed: u64) -> Result<(), String> {
    let case = Case::from_seed(seed, 2_000, None, &CrashMode::ALL);
    case.run().map(|_| ()).map_err(|f| f.to_string())
}

/// The swarm campaign: the seed's drawn case, unless `create` refuses its
/// configuration (counted as refused, not run).
fn swarm(seed: u64) -> Result<(), String> {
    let case = logstore_sim::campaign::swarm::swarm_case(seed, 2_000);
    if logstore_sim::campaign::swarm::refusal(&case.config).is_some() {
        return Ok(());
    }
    case.run().map(|_| ()).map_err(|f| f.to_string())
}

/// A cut at every operation of 2,000 steps on the MLC part (declaring
/// `declared`, if given), torn; at most 1,000 crash points a seed. `bug`,
/// if planted on this thread, is planted on the campaign's one thread too.
fn torn_mlc_campaign(
    seed: u64,
    bug: Bug,
    declared: Option<logstore::Pairing>,
) -> Result<(), String> {
    use logstore_sim::campaign::{exhaustive, exhaustive_case, Part};
    let bug = logstore::testing::active(bug).then_some(bug);
    let part = Part {
        device: Some(Device::Mlc),
        declared_pairing: declared,
        ..Part::default()
    };
    let layout = logstore::SlotLayoutKind::Full;
    let workload = logstore_sim::check::workload::WorkloadKind::Uniform;
    let case = exhaustive_case(seed, 2_000, workload, layout, true, &part);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let summary = pool.install(|| {
        plant(bug);
        let bar = indicatif::ProgressBar::hidden();
        let summary = exhaustive(&case, &[CrashMode::Torn], 1, &bar);
        plant(None);
        summary
    });
    assert!(summary.crash_points <= 1_000, "{}", summary.crash_points);
    match summary.failed_cases.first() {
        None => Ok(()),
        Some(failed) => Err(format!("{:?}", failed.failure)),
    }
}

/// `exhaustive --io-errors` on a seeded workload of the ideal device, one
/// worker (the bug is planted per thread).
fn io_error_campaign(seed: u64) -> Result<(), String> {
    use logstore_sim::campaign::{exhaustive_hits, Hit};
    let bug = logstore::testing::active(Bug::IoErrorIgnored).then_some(Bug::IoErrorIgnored);
    let mut case = Case::from_seed(seed, 300, None, &CrashMode::ALL);
    case.crashes.clear();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let summary = pool.install(|| {
        plant(bug);
        let bar = indicatif::ProgressBar::hidden();
        let summary = exhaustive_hits(&case, &[Hit::Io], 1, &bar);
        plant(None);
        summary
    });
    assert_eq!(summary.io_points, summary.ops_mutating);
    match summary.failed_cases.first() {
        None => Ok(()),
        Some(failed) => Err(format!("{:?}", failed.failure)),
    }
}

/// The first seed whose scenario fails (or panics) with `bug` planted.
fn first_failing_seed(bug: Bug) -> Option<(u64, String)> {
    first_failing_seed_of(bug, scenario(bug))
}

/// The first seed `check` fails (or panics) with `bug` planted.
fn first_failing_seed_of(bug: Bug, check: fn(u64) -> Result<(), String>) -> Option<(u64, String)> {
    plant(Some(bug));
    let found =
        (0..SEEDS_MAX).find_map(
            |seed| match catch_unwind(AssertUnwindSafe(|| check(seed))) {
                Ok(Ok(())) => None,
                Ok(Err(failure)) => Some((seed, failure)),
                Err(_) => Some((seed, "panicked".to_string())),
            },
        );
    plant(None);
    found
}

#[test]
fn every_planted_bug_is_caught() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut missed = Vec::new();
    for bug in Bug::ALL {
        match first_failing_seed(bug) {
            Some((seed, failure)) => println!("{bug:?}: caught at seed {seed}: {failure}"),
            None => missed.push(bug),
        }
    }
    std::panic::set_hook(hook);
    assert!(
        missed.is_empty(),
        "missed within {SEEDS_MAX} seeds: {missed:?}"
    );
}

/// Any bad block making "full" the end of life is a bug only a
/// configuration nobody picked reaches: the fixed campaign's seeds miss it
/// within the seeds the swarm needs (a thousand at most), and pass the
/// swarm's seeds without it.
#[test]
fn the_swarm_catches_a_false_end_of_life_the_fixed_campaign_misses() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught = first_failing_seed_of(Bug::FullIsEndOfLife, swarm);
    let (seed, failure) = caught.expect("the swarm misses a false end of life");
    assert!(
        failure.contains("false end of life"),
        "seed {seed}: {failure}"
    );
    let fixed_seeds = (seed + 1).max(200);
    plant(Some(Bug::FullIsEndOfLife));
    let missed = (0..fixed_seeds).all(|s| catch_unwind(|| fixed(s)).is_ok_and(|r| r.is_ok()));
    plant(None);
    std::panic::set_hook(hook);
    assert!(
        missed,
        "the fixed campaign caught it within {fixed_seeds} seeds"
    );
    for s in 0..=seed {
        assert_eq!(swarm(s), Ok(()), "swarm seed {s} fails with no bug planted");
    }
}

#[test]
fn the_same_seeds_pass_without_a_planted_bug() {
    for seed in 0..logstore_sim::test_size(40, 10) {
        let case = Case::from_seed(seed, 600, None, &CrashMode::ALL);
        assert!(case.run().is_ok(), "seed {seed} fails with no bug planted");
    }
    for bug in [
        Bug::SkipCorrection,
        Bug::ScrubNever,
        Bug::MiddlePageIsEnd,
        Bug::UnverifiedProgram,
        Bug::PairingUnaware,
        Bug::ScrubCursorStuck,
        Bug::TrustDeclaredPairing,
        Bug::TornTailKept,
        Bug::IoErrorIgnored,
    ] {
        for seed in 0..logstore_sim::test_size(3, 1) {
            let outcome = scenario(bug)(seed);
            assert!(
                outcome.is_ok(),
                "{bug:?} seed {seed}, no bug planted: {outcome:?}"
            );
        }
    }
}

/// A scrub that stops at a page it cannot read is caught at once: the
/// scenario's first seed fails, on the page, and passes without the bug.
#[test]
fn a_stuck_scrub_cursor_is_caught() {
    let check = scenario(Bug::ScrubCursorStuck);
    assert!(check(0).is_ok());
    plant(Some(Bug::ScrubCursorStuck));
    let outcome = check(0);
    plant(None);
    let failure = outcome.expect_err("the stuck cursor is caught");
    assert!(failure.contains("scrub step"), "{failure}");
}

/// A failure found by the exhaustive campaign is saved with its crash point
/// and step, and replays failing at that same step (the inserted cut does
/// not shift the numbering). The bug is planted on the one worker thread
/// the campaign runs on.
#[test]
fn an_exhaustive_failure_replays_at_its_saved_step() {
    use logstore_sim::campaign::exhaustive;
    use logstore_sim::check::workload::WorkloadKind;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut case = Case::from_seed(5, 400, Some(WorkloadKind::Uniform), &CrashMode::ALL);
    case.crashes.clear();
    let (failed, replayed) = pool.install(|| {
        plant(Some(Bug::FlushWithoutSync));
        let bar = indicatif::ProgressBar::hidden();
        let summary = exhaustive(&case, &[CrashMode::DropUnsynced], 1, &bar);
        let failed = summary.failed_cases.first().cloned();
        let replayed = failed.as_ref().map(|f| f.run());
        plant(None);
        (failed, replayed)
    });
    let failed = failed.expect("the planted bug is caught");
    let saved = failed.failure.clone().expect("a failed case says how");
    let replayed = replayed.expect("replayed").expect_err("fails again");
    assert_eq!(replayed.step, saved.step, "{saved} / {replayed}");
    assert_eq!(failed.crashes[0].step, saved.step);
}

/// Exhaustive `--fail-ops` makes every operation fail in turn (a block
/// going bad at that very point) and checks the store's handling: a
/// retirement the next anchor commit forgets (a reopen hands the bad
/// block out again) is caught, the failing branch replays from its case
/// file, and without the bug every branch passes.
#[test]
fn an_operation_failing_at_every_point_catches_a_forgotten_retirement() {
    use logstore_sim::campaign::{exhaustive_hits, Hit};
    use logstore_sim::check::workload::WorkloadKind;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut case = Case::from_seed(5, 600, Some(WorkloadKind::Uniform), &CrashMode::ALL);
    case.crashes.clear();
    let bar = indicatif::ProgressBar::hidden();
    let (summary, replayed) = pool.install(|| {
        plant(Some(Bug::RetiredForgotten));
        let summary = exhaustive_hits(&case, &[Hit::Fail], 1, &bar);
        let replayed = summary.failed_cases.first().map(|f| f.run());
        plant(None);
        (summary, replayed)
    });
    let failed = summary
        .failed_cases
        .first()
        .expect("the planted bug is caught");
    assert!(
        failed.crashes.is_empty() && failed.op_failures.len() == 1,
        "{failed:?}"
    );
    let saved = failed.failure.clone().expect("a failed case says how");
    let replayed = replayed
        .expect("replayed")
        .expect_err(&format!("fails again: {saved} {:?}", failed.op_failures));
    assert_eq!(replayed.message, saved.message, "{saved} / {replayed}");
    let report = failed.run().expect("passes without the bug");
    assert_eq!(report.failures_scheduled, 1);
    let clean = pool.install(|| exhaustive_hits(&case, &[Hit::Fail], 1, &bar));
    assert_eq!(clean.failures, 0, "{:?}", clean.failed_cases.first());
    assert_eq!(clean.fail_points, clean.ops_mutating);
    assert_eq!(clean.crash_points, 0);
}

/// The wear run's audit has teeth: a flush that does not sync loses what
/// it acknowledged at the audit's power cut.
#[test]
fn the_wear_audit_catches_an_unsynced_flush() {
    let config = WearConfig::new(5_000, 3_000, 16);
    assert_eq!(wear(&config, &|_| {}).unwrap().audit_failed, None);
    plant(Some(Bug::FlushWithoutSync));
    let report = wear(&config, &|_| {});
    plant(None);
    let report = report.unwrap();
    assert!(
        report.audit_failed.is_some() || report.broken.is_some(),
        "{report:?}"
    );
}

/// A scrub that skips the anchor is caught on the parts' own geometries
/// within a few seeds (on the small ones the lanes move often enough that
/// it took 260).
#[test]
fn a_scrub_skipping_the_anchor_is_caught_on_own_geometries() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let found = first_failing_seed(Bug::ScrubSkipsAnchor);
    std::panic::set_hook(hook);
    let (seed, failure) = found.expect("caught");
    assert!(seed < 6, "caught only at seed {seed}: {failure}");
    println!("ScrubSkipsAnchor: caught at seed {seed}: {failure}");
}
/// A loss reported with no read past the ECC (a torn page named lost, say)
/// fails the checker under its own rule and the swarm's own kind, never
/// passing as a loss the device caused.
#[test]
fn a_loss_without_a_cause_fails_under_its_own_kind() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught = first_failing_seed(Bug::LossUnproven);
    std::panic::set_hook(hook);
    let (seed, failure) = caught.expect("a loss without a cause passed every seed");
    assert_eq!(
        logstore_sim::campaign::swarm::failure_kind(&failure),
        "loss reported without a cause",
        "seed {seed}: {failure}"
    );
    assert!(catch_unwind(|| fixed(seed)).is_ok_and(|r| r.is_ok()));
}
