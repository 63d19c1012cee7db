//! Fill at the first failed insert of uniform random hashes, per insert
//! policy and bucket size: the figures the design's reference table
//! promises, measured (mean over 10 seeds at order 12).

use logstore::Policy;
use logstore_sim::measure::fill::{fill_limit, fill_stats};

const ORDER: u32 = 12;
const SEEDS: u64 = 10;

fn mean_fill(bucket_slots: usize, policy: Policy) -> f64 {
    let stats = fill_stats(ORDER, bucket_slots, policy, SEEDS).unwrap();
    println!(
        "B={bucket_slots} {policy:?}: mean fill {:.4} over {SEEDS} seeds at order {ORDER}",
        stats.mean
    );
    let limit = fill_limit(bucket_slots).unwrap();
    assert!(
        stats.mean <= limit,
        "B={bucket_slots} {policy:?}: {} beats theory ({limit})",
        stats.mean
    );
    stats.mean
}

fn walk(max_kicks: u32) -> Policy {
    Policy::RandomWalk {
        max_kicks,
        retries: 10,
    }
}

#[test]
fn fill_at_first_failure_per_policy() {
    let cases = [
        (4, walk(128), 0.92),
        (4, walk(500), 0.955),
        (4, Policy::Bfs { max_depth: 6 }, 0.965),
        (8, walk(500), 0.985),
        (2, walk(500), 0.86),
    ];
    for (bucket_slots, policy, floor) in cases {
        let mean = mean_fill(bucket_slots, policy);
        assert!(
            mean >= floor,
            "B={bucket_slots} {policy:?}: {mean} < {floor}"
        );
    }
}

#[test]
fn fixed_victim_is_far_below_random_walk() {
    for (bucket_slots, max_kicks) in [(4, 128), (2, 500)] {
        let fixed = mean_fill(bucket_slots, Policy::FixedVictim { max_kicks });
        let random = mean_fill(bucket_slots, walk(max_kicks));
        assert!(
            fixed + 0.10 <= random,
            "B={bucket_slots}: fixed {fixed} vs random {random}"
        );
    }
}

#[test]
fn default_policy_reaches_the_best_bounded_fill() {
    let default = mean_fill(4, Policy::default());
    let best_walk = mean_fill(4, walk(500));
    assert!(
        default >= best_walk,
        "default {default} below a 500-kick walk {best_walk}"
    );
}
