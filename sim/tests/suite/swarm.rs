//! Swarm campaigns: each seed draws its own configuration, the draws span
//! what the issue asks (geometries of every preset, 0-5% bad blocks), a
//! drawn case replays the same from its case file, and the configurations
//! the swarm once failed on pass.

use logstore_sim::campaign::swarm::{refusal, swarm_case, Spread, BAD_FRACTION_MAX};
use logstore_sim::campaign::Case;
use logstore_sim::check::workload::Step;
use logstore_sim::measure::wear_swarm::swarm_wear;

#[test]
fn draws_span_three_geometries_a_preset_and_up_to_five_percent_bad() {
    let mut spread = Spread::default();
    let mut refused = 0;
    for seed in 0..400 {
        let case = swarm_case(seed, 100);
        spread.note(&case.config);
        refused += u32::from(refusal(&case.config).is_some());
        let blocks = case.config.geometry.blocks as f64;
        assert!(case.config.bad_blocks.len() as f64 <= BAD_FRACTION_MAX * blocks);
        assert!(case
            .config
            .bad_blocks
            .iter()
            .all(|&b| b < case.config.geometry.blocks));
    }
    for device in ["ideal", "slc", "mlc", "tlc"] {
        let shapes = spread.geometries.get(device).copied().unwrap_or(0);
        assert!(shapes >= 3, "{device}: {shapes} geometries");
    }
    let (low, high) = spread.ranges["bad_block_fraction"];
    assert!(
        low == 0.0 && high > 0.04 && high <= BAD_FRACTION_MAX,
        "{low}..{high}"
    );
    assert!(spread.kinds["evict_oldest"].len() == 2);
    assert!(
        spread.kinds["pairing_physical"].len() >= 4,
        "{:?}",
        spread.kinds
    );
    // Most draws run; some are refused at create, none panics.
    assert!((1..200).contains(&refused), "{refused} of 400 refused");
}

#[test]
fn a_drawn_case_replays_the_same_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    for seed in [3, 17, 41] {
        let case = swarm_case(seed, 400);
        assert_eq!(case, swarm_case(seed, 400), "seed {seed}: draws differ");
        let path = case.save(dir.path(), &format!("swarm-{seed}")).unwrap();
        let loaded = Case::load(&path).unwrap();
        assert_eq!(loaded, case);
        if refusal(&case.config).is_none() {
            assert_eq!(case.run(), loaded.run(), "seed {seed}");
        }
    }
}

/// Seeds whose drawn configurations failed before their fixes: the
/// checker taking the log store's entries for durable after a freeze that
/// evicted (5506), a freeze that could not run packing the journal for
/// each entry until the device burned (19751), an open whose rebuild
/// missed a placement and had no blocks to freeze (20132), a checker
/// that took a final flush refused read-only (the device worn out by
/// failing erases) for a failure (55853).
#[test]
fn configurations_the_swarm_failed_on_pass() {
    for (seed, ops) in [
        (5_506, 2_000),
        (19_751, 2_000),
        (20_132, 2_000),
        (55_853, 2_000),
    ] {
        let case = swarm_case(seed, ops);
        assert_eq!(refusal(&case.config), None, "seed {seed}");
        let outcome = case.run();
        assert!(outcome.is_ok(), "seed {seed}: {outcome:?}");
    }
    // Configurations that cannot hold their incarnations with the spare a
    // freeze needs are refused, not run (they once failed an open, 828,
    // and evicted between freezes, 1741).
    for seed in [828, 1741] {
        assert!(
            refusal(&swarm_case(seed, 1_000).config).is_some(),
            "seed {seed}"
        );
    }
}

/// A third of the draws reopen the store cleanly every 16 to 400 steps:
/// each reopen a run's steps hold is made (and checked), unless the run
/// stopped at a loss it reported.
#[test]
fn drawn_reopens_are_made_and_checked() {
    let (mut runs, mut reopens_planned) = (0, 0);
    for seed in 0..90 {
        let case = swarm_case(seed, 800);
        if case.reopen_every.is_none() || refusal(&case.config).is_some() {
            continue;
        }
        let planned = case.steps().iter().filter(|s| **s == Step::Reopen).count() as u64;
        let report = case.run().unwrap_or_else(|f| panic!("seed {seed}: {f}"));
        if report.losses_reported == 0 {
            assert!(report.reopens >= planned, "seed {seed}: {report:?}");
        }
        runs += 1;
        reopens_planned += planned;
    }
    assert!(
        runs >= 15 && reopens_planned >= 2 * runs,
        "{runs} runs, {reopens_planned} reopens"
    );
}

/// `exhaustive --swarm --fail-ops --io-errors`: every operation of each
/// drawn configuration's workload is cut in each mode, failed, and failed
/// with a host I/O error in turn, and nothing is lost.
#[test]
fn exhaustive_on_drawn_configurations_hits_every_operation() {
    use logstore_sim::campaign::swarm::swarm_exhaustive;
    use logstore_sim::campaign::Hit;
    use logstore_sim::CrashMode;
    let hits = Hit::all(&CrashMode::ALL, true, true);
    let bar = indicatif::ProgressBar::hidden();
    let summary = swarm_exhaustive(&(0..8).collect::<Vec<_>>(), 150, &hits, 1, &bar);
    let e = &summary.exhaustive;
    let first = e.failed_cases.first().map(|c| &c.failure);
    assert_eq!(e.failures, 0, "{first:?}");
    assert!(summary.drawn == 8 && summary.refused < 4, "{summary:?}");
    assert!(e.ops_mutating > 100, "{e:?}");
    assert_eq!(
        (e.crash_points, e.fail_points, e.io_points),
        (3 * e.ops_mutating, e.ops_mutating, e.ops_mutating)
    );
    assert!(
        summary.spread.kinds["device"].len() >= 2,
        "{:?}",
        summary.spread.kinds
    );
}

#[test]
fn a_drawn_wear_run_evicts_and_fits_its_device() {
    let mut wear_outs = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let config = swarm_wear(seed, 1_000, true);
        assert!(config.store.evict_oldest && config.until_end_of_life);
        assert!((20..=200).contains(&config.endurance_cycles));
        assert_eq!(config.geometry, swarm_case(seed, 1).config.geometry);
        wear_outs.insert(format!("{:?}", config.wear_out));
    }
    // Every way a worn block fails is drawn.
    assert_eq!(wear_outs.len(), 3, "{wear_outs:?}");
}
