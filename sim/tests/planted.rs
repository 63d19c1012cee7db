//! The harness has teeth: each planted bug (see `logstore::planted`) makes
//! the seeded crash checks fail within a bounded number of seeds.

use std::panic::{catch_unwind, AssertUnwindSafe};

use logstore::testing::{plant, Bug};
use logstore_sim::campaign::Case;
use logstore_sim::CrashMode;

/// Seeds tried before a planted bug counts as missed.
const SEEDS_MAX: u64 = 300;

/// The first seed whose run fails (or panics) with `bug` planted.
fn first_failing_seed(bug: Bug) -> Option<(u64, String)> {
    plant(Some(bug));
    let found = (0..SEEDS_MAX).find_map(|seed| {
        let case = Case::from_seed(seed, 600, None, &CrashMode::ALL);
        match catch_unwind(AssertUnwindSafe(|| case.run())) {
            Ok(Ok(_)) => None,
            Ok(Err(failure)) => Some((seed, failure.to_string())),
            Err(_) => Some((seed, "panicked".to_string())),
        }
    });
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

#[test]
fn the_same_seeds_pass_without_a_planted_bug() {
    for seed in 0..40 {
        let case = Case::from_seed(seed, 600, None, &CrashMode::ALL);
        assert!(case.run().is_ok(), "seed {seed} fails with no bug planted");
    }
}
