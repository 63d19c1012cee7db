//! `exhaustive`: a power cut at every mutating flash operation of one
//! workload, in each mode, branching from snapshots as littlefs's
//! power-loss runner does; at depth 2 also a second cut in each recovery.

use std::time::Instant;

use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::check::workload::{Step, WorkloadKind};
use crate::check::{Aging, CheckConfig, CheckFailure, Runner};
use crate::nand::{CrashMode, ScheduledFault};

use super::*;

/// Figures of an exhaustive campaign.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ExhaustiveSummary {
    /// Depth 1: (mutating operation, mode) pairs crashed at.
    pub crash_points: u64,
    /// Depth 2: after each first cut, a second cut at each mutating
    /// operation of the recovery and the first flush that follow, in each
    /// mode.
    pub crash_points_depth2: u64,
    /// With `--fail-ops`: branches where an operation failed instead of
    /// being cut (`BadBlock`, power on: the block goes bad there), at
    /// depth 1 and, at depth 2, in the recovery after each first cut or
    /// failure. Cuts in a failure's handling count as depth-2 crash points.
    pub fail_points: u64,
    /// With `--io-errors`: branches where an operation failed with a host
    /// I/O error instead (nothing reached the cells), at both depths as
    /// `fail_points` are.
    pub io_points: u64,
    /// Branches where a run of host I/O errors began ([`Hit::IoBurst`]).
    #[serde(default)]
    pub io_burst_points: u64,
    pub failures: u64,
    pub seconds: f64,
    /// All crash points (both depths) and fail points a second, over the
    /// whole campaign.
    pub crash_points_per_s: f64,
    /// Mutating flash operations of the workload without crashes.
    pub ops_mutating: u64,
    pub steps: u64,
    /// Incarnations the workload evicted (without crashes).
    pub evictions: u64,
    /// Pages that torn programs damaged through their pairing (paired
    /// parts, torn mode), over every branch at both depths: how often a
    /// cut struck an upper-page program over data written before.
    pub paired_pages_corrupted: u64,
    /// Crash points (both depths) at which that happened.
    pub crash_points_pairs_damaged: u64,
    #[serde(skip)]
    pub failed_cases: Vec<Case>,
}

/// The case an exhaustive campaign runs: `ops` steps of `workload` from
/// `seed`, no scheduled cuts or faults, the evicting configuration (or,
/// with `evict` off, the default one that answers `Full` past its
/// incarnations), on `layout`, on `part` (which [`Part::check`] must
/// accept: a part it refuses panics).
pub fn exhaustive_case(
    seed: u64,
    ops: usize,
    workload: WorkloadKind,
    layout: logstore::SlotLayoutKind,
    evict: bool,
    part: &Part,
) -> Case {
    let device = part.device;
    let mut case = Case::from_seed(seed, ops, Some(workload), &CrashMode::ALL);
    case.crashes.clear();
    let base = device.map_or_else(CheckConfig::default, CheckConfig::on_device);
    let store = if evict {
        CheckConfig::evicting().store
    } else {
        base.store
    };
    case.config = CheckConfig {
        store: logstore::StoreConfig { layout, ..store },
        device_seed: seed,
        // On a part: half worn, three months unpowered at every cut.
        aging: Aging {
            wear: if device.is_some() { 0.5 } else { 0.0 },
            days_per_power_cut: if device.is_some() { 90.0 } else { 0.0 },
        },
        bad_blocks: part.bad_blocks.clone(),
        ..base
    };
    case.config = part
        .pairing_of(case.config)
        .expect("a part that Part::check accepts");
    case
}

/// What a branch does to its first chosen operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    /// Power is cut while it is in flight.
    Cut(CrashMode),
    /// It fails (`BadBlock`, power on): its block goes bad there.
    Fail,
    /// It fails with a host I/O error before reaching the cells: the
    /// device is unchanged, the store must say so and lose nothing.
    Io,
    /// It and the operations after it fail with host I/O errors, this
    /// many in a row: more than a store's retries (and the checker's
    /// attempts) when it is large, every retry failing in turn.
    IoBurst(u32),
}

/// Longest run of I/O errors a branch schedules.
pub const IO_BURST_MAX: u32 = 64;

impl Hit {
    /// A cut in each of `modes`, with `fail_ops` a failure too, and with
    /// `io_errors` a host I/O error.
    pub fn all(modes: &[CrashMode], fail_ops: bool, io_errors: bool) -> Vec<Hit> {
        let cuts = modes.iter().map(|&mode| Hit::Cut(mode));
        let fails = fail_ops.then_some(Hit::Fail);
        cuts.chain(fails)
            .chain(io_errors.then_some(Hit::Io))
            .collect()
    }

    /// The host I/O errors this hit schedules, one after another.
    fn io_errors(self) -> u32 {
        match self {
            Hit::Io => 1,
            Hit::IoBurst(count) => count,
            Hit::Cut(_) | Hit::Fail => 0,
        }
    }
}

/// One branch of the exhaustive tree: what it does to its first chosen
/// operation and, at depth 2, to a second one, relative to the start of
/// its step.
#[derive(Clone, Copy, Debug)]
struct Branch {
    first: (u64, Hit),
    second: Option<(u64, Hit)>,
}

/// Arms `hit` at the `after`-th next operation of `runner`.
fn arm(runner: &mut Runner, (after, hit): (u64, Hit)) {
    match hit {
        Hit::Cut(mode) => runner.arm(after, mode),
        Hit::Fail => runner.schedule_failure(after, ScheduledFault::Fails),
        Hit::Io => runner.schedule_failure(after, ScheduledFault::Io),
        Hit::IoBurst(count) => {
            assert!((1..=IO_BURST_MAX).contains(&count), "a burst of {count}");
            for next in 0..u64::from(count) {
                runner.schedule_failure(after + next, ScheduledFault::Io);
            }
        }
    }
}

impl Branch {
    /// Runs the branch from `snapshot`: the step with its cuts armed, then
    /// the final flush, reopen and digest check. Returns the device's
    /// mutating operations when the final flush had returned.
    ///
    /// Also returns the pages its cuts damaged through pairing.
    fn run(&self, snapshot: &Runner, step: &Step) -> (Result<u64, String>, u64) {
        let mut branch = snapshot.clone();
        arm(&mut branch, self.first);
        if let Some(second) = self.second {
            arm(&mut branch, second);
        }
        let before = snapshot.flash().counters().paired_pages_corrupted;
        let outcome = branch
            .step(step)
            .and_then(|()| branch.finish(false))
            .map(|report| report.ops_at_final_flush);
        let damaged = branch.flash().counters().paired_pages_corrupted - before;
        (outcome, damaged)
    }

    /// The case that replays the branch: its hits armed before workload
    /// step `at.workload`, and the workload cut after that step, as the
    /// branch ran it (the step, then the final flush, reopen and check; a
    /// failure found only there, as a retirement a reopen forgets, shows
    /// only if no later step covers it up).
    fn failed_case(&self, case: &Case, at: At, message: String) -> Case {
        let mut failed = case.clone();
        failed.ops = failed.ops.min(at.workload + 1);
        failed.crashes.clear();
        failed.op_failures.clear();
        for (after, hit) in std::iter::once(self.first).chain(self.second) {
            let (step, after_ops) = (at.workload, (at.ops_before + after) as u32);
            match hit {
                Hit::Cut(mode) => failed.crashes.push(CrashPoint {
                    step,
                    after_ops,
                    mode,
                }),
                Hit::Fail => failed.op_failures.push(FailPoint {
                    step,
                    after_ops,
                    io: false,
                }),
                Hit::Io | Hit::IoBurst(_) => {
                    failed
                        .op_failures
                        .extend((0..hit.io_errors()).map(|next| FailPoint {
                            step,
                            after_ops: after_ops + next,
                            io: true,
                        }))
                }
            }
        }
        failed.failure = Some(CheckFailure {
            step: at.workload,
            message,
            losses: Default::default(),
        });
        failed
    }
}

/// Where a branching step sits for replay: the workload step a cut armed
/// before it precedes, and the mutating operations the device-time steps
/// in between perform first.
#[derive(Clone, Copy, Debug)]
struct At {
    workload: usize,
    ops_before: u64,
}

/// Crashes the workload at every mutating flash operation, in each mode:
/// runs it once, snapshots the runner before each step, and for each
/// operation the step performs, branches from the snapshot with power cut
/// there, recovers, checks, then flushes, reopens and checks again. With
/// `depth` 2, each such branch branches again: a second cut at every
/// mutating operation of the recovery and final flush that follow the
/// first, in each mode.
pub fn exhaustive(
    case: &Case,
    modes: &[CrashMode],
    depth: u32,
    bar: &ProgressBar,
) -> ExhaustiveSummary {
    exhaustive_hits(case, &Hit::all(modes, false, false), depth, bar)
}

/// As [`exhaustive`], with each of `hits` at every operation: a cut in a
/// mode, or the operation failing ([`Hit::Fail`]: its block goes bad,
/// and the store's handling of it is checked; at depth 2 it is cut in
/// turn at every operation of that handling).
pub fn exhaustive_hits(
    case: &Case,
    hits: &[Hit],
    depth: u32,
    bar: &ProgressBar,
) -> ExhaustiveSummary {
    assert!(!hits.is_empty());
    let start = Instant::now();
    let steps = case.steps();
    let mut summary = ExhaustiveSummary::default();
    let mut runner = match Runner::new(&case.config) {
        Ok(runner) => runner,
        Err(message) => return failed_at_start(case, message, start),
    };
    bar.set_length(steps.len() as u64);
    let ops_at_start = runner.flash().ops_mutating();
    // A failure is replayed by a cut armed before workload step `workload`:
    // device-time steps between there and the branching step shift its
    // operation count by `ops_in_group`.
    let (mut workload, mut ops_in_group) = (0usize, 0u64);
    // The runner as it was after the last step that reached flash, and the
    // quiet steps since (buffered in RAM, no flash operation): the state
    // before a step is the snapshot with those replayed. Cloning only at
    // steps that reach flash keeps a clone of the device off most steps.
    let mut snapshot = runner.clone();
    let mut quiet: Vec<&Step> = Vec::new();
    for step in &steps {
        bar.inc(1);
        if matches!(step, Step::CutPower { .. }) {
            continue;
        }
        let before = runner.flash().ops_mutating();
        let at = At {
            workload,
            ops_before: ops_in_group,
        };
        if let Err(message) = runner.step(step) {
            summary.fail_without_cut(case, at, message);
            break;
        }
        let after = runner.flash().ops_mutating();
        if after == before {
            quiet.push(step);
        } else {
            replay_quiet(&mut snapshot, &mut quiet);
            explore_step(
                case,
                &snapshot,
                (at, step),
                after - before,
                hits,
                depth,
                &mut summary,
            );
            snapshot = runner.clone();
        }
        if step.is_workload() {
            (workload, ops_in_group) = (workload + 1, 0);
        } else {
            ops_in_group += after - before;
        }
    }
    bar.finish_and_clear();
    summary.ops_mutating = runner.flash().ops_mutating() - ops_at_start;
    summary.evictions = runner.report().evictions;
    summary.steps = steps.len() as u64;
    summary.timed(start)
}

/// Brings `snapshot` up to the runner's state: the quiet steps since it
/// was taken (bounded: at most the steps between two flash operations).
fn replay_quiet(snapshot: &mut Runner, quiet: &mut Vec<&Step>) {
    for replayed in quiet.drain(..) {
        snapshot
            .step(replayed)
            .expect("a step that passed replays the same from the same state");
    }
}

/// The branches of one step: every first cut among its `ops` operations,
/// and with `depth` 2 every second cut after each.
fn explore_step(
    case: &Case,
    snapshot: &Runner,
    (at, step): (At, &Step),
    ops: u64,
    hits: &[Hit],
    depth: u32,
    summary: &mut ExhaustiveSummary,
) {
    let firsts: Vec<Branch> = (0..ops)
        .flat_map(|op| hits.iter().map(move |&hit| (op, hit)))
        .map(|first| Branch {
            first,
            second: None,
        })
        .collect();
    let outcomes: Vec<(Branch, Result<u64, String>, u64)> = firsts
        .par_iter()
        .map(|branch| {
            let (outcome, damaged) = branch.run(snapshot, step);
            (*branch, outcome, damaged)
        })
        .collect();
    summary.count_points(outcomes.iter().map(|o| o.0.first.1), false);
    summary.note_pairs(outcomes.iter().map(|o| o.2));
    let start_ops = snapshot.flash().ops_mutating();
    let mut seconds = Vec::new();
    for (branch, outcome, _) in outcomes {
        match outcome {
            Err(message) => {
                summary.failures += 1;
                summary
                    .failed_cases
                    .push(branch.failed_case(case, at, message));
            }
            Ok(final_flush) if depth >= 2 => {
                // Operations after the first cut's (which took an index).
                let first_at = start_ops + branch.first.0;
                let recovery_ops = final_flush.saturating_sub(first_at + 1);
                seconds.extend((0..recovery_ops).flat_map(|j| {
                    hits.iter().map(move |&hit| Branch {
                        first: branch.first,
                        second: Some((branch.first.0 + 1 + j, hit)),
                    })
                }));
            }
            Ok(_) => {}
        }
    }
    let runs: Vec<(Option<Case>, u64)> = seconds
        .par_iter()
        .map(|branch| {
            let (outcome, damaged) = branch.run(snapshot, step);
            let failed = outcome
                .err()
                .map(|message| branch.failed_case(case, at, message));
            (failed, damaged)
        })
        .collect();
    summary.count_points(seconds.iter().filter_map(|b| b.second.map(|s| s.1)), true);
    summary.note_pairs(runs.iter().map(|r| r.1));
    let failed: Vec<Case> = runs.into_iter().filter_map(|r| r.0).collect();
    summary.failures += failed.len() as u64;
    summary.failed_cases.extend(failed);
}

impl ExhaustiveSummary {
    /// Adds `other`'s counts (not its seconds or rate) to this summary's.
    pub fn absorb(&mut self, other: ExhaustiveSummary) {
        self.crash_points += other.crash_points;
        self.crash_points_depth2 += other.crash_points_depth2;
        self.fail_points += other.fail_points;
        self.io_points += other.io_points;
        self.io_burst_points += other.io_burst_points;
        self.failures += other.failures;
        self.ops_mutating += other.ops_mutating;
        self.steps += other.steps;
        self.evictions += other.evictions;
        self.paired_pages_corrupted += other.paired_pages_corrupted;
        self.crash_points_pairs_damaged += other.crash_points_pairs_damaged;
        self.failed_cases.extend(other.failed_cases);
    }

    /// A step failed with no cut armed (the workload alone broke a
    /// guarantee): its case replays without power cuts.
    fn fail_without_cut(&mut self, case: &Case, at: At, message: String) {
        let branch = Branch {
            first: (0, Hit::Fail),
            second: None,
        };
        self.failures += 1;
        let mut failed = branch.failed_case(case, at, message);
        failed.op_failures.clear();
        self.failed_cases.push(failed);
    }

    /// The campaign's time since `start`, and its rate of crash points.
    pub(crate) fn timed(mut self, start: Instant) -> Self {
        self.seconds = start.elapsed().as_secs_f64();
        let points = self.crash_points
            + self.crash_points_depth2
            + self.fail_points
            + self.io_points
            + self.io_burst_points;
        self.crash_points_per_s = points as f64 / self.seconds.max(f64::MIN_POSITIVE);
        self
    }

    /// Counts the branches of `hits`: cuts at depth 1 or 2, failures and
    /// I/O errors at either.
    fn count_points(&mut self, hits: impl Iterator<Item = Hit>, depth2: bool) {
        for hit in hits {
            let counter = match hit {
                Hit::Cut(_) if depth2 => &mut self.crash_points_depth2,
                Hit::Cut(_) => &mut self.crash_points,
                Hit::Fail => &mut self.fail_points,
                Hit::Io => &mut self.io_points,
                Hit::IoBurst(_) => &mut self.io_burst_points,
            };
            *counter += 1;
        }
    }

    /// Counts the pages each branch's cuts damaged through pairing.
    fn note_pairs(&mut self, damaged: impl Iterator<Item = u64>) {
        for pages in damaged {
            self.paired_pages_corrupted += pages;
            self.crash_points_pairs_damaged += u64::from(pages > 0);
        }
    }
}

fn failed_at_start(case: &Case, message: String, start: Instant) -> ExhaustiveSummary {
    let mut failed = case.clone();
    failed.failure = Some(CheckFailure {
        step: 0,
        message,
        losses: Default::default(),
    });
    ExhaustiveSummary {
        failures: 1,
        failed_cases: vec![failed],
        seconds: start.elapsed().as_secs_f64(),
        ..ExhaustiveSummary::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nand::Device;

    #[test]
    fn a_case_replays_to_the_same_report() {
        let case = Case::from_seed(12, 800, None, &CrashMode::ALL);
        assert_eq!(case.run(), case.run());
        let dir = tempfile::tempdir().unwrap();
        let path = case.save(dir.path(), "case").unwrap();
        assert_eq!(Case::load(&path).unwrap(), case);
        assert!(Case::load(&dir.path().join("missing.json")).is_err());
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        assert!(matches!(
            Case::load(&dir.path().join("bad.json")),
            Err(CaseError::Json { .. })
        ));
    }

    #[test]
    fn shards_partition_the_seeds() {
        let all: Vec<u64> = (0..3).flat_map(|i| shard_seeds(10..40, i, 3)).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (10..40).collect::<Vec<_>>());
    }

    #[test]
    fn exhaustive_covers_every_operation_in_every_mode() {
        let case = Case {
            crashes: vec![],
            ..Case::from_seed(3, 150, Some(WorkloadKind::Uniform), &CrashMode::ALL)
        };
        let summary = exhaustive(&case, &CrashMode::ALL, 1, &ProgressBar::hidden());
        assert_eq!(
            summary.failures,
            0,
            "{:?}",
            summary.failed_cases.first().map(|c| &c.failure)
        );
        assert_eq!(summary.crash_points, summary.ops_mutating * 3);
        assert!(summary.ops_mutating > 10);
    }

    /// On paired parts a torn program damages pages written before; the
    /// index never loses a flushed entry to it.
    #[test]
    fn exhaustive_on_paired_parts_damages_pairs_and_loses_nothing() {
        for device in [Device::Mlc, Device::Tlc] {
            let part = Part::on(Some(device));
            let layout = logstore::SlotLayoutKind::Full;
            let case = exhaustive_case(1, 2_500, WorkloadKind::Uniform, layout, true, &part);
            let summary = exhaustive(&case, &[CrashMode::Torn], 1, &ProgressBar::hidden());
            let first = summary.failed_cases.first().map(|c| &c.failure);
            assert_eq!(summary.failures, 0, "{device:?}: {first:?}");
            assert!(
                summary.crash_points_pairs_damaged > 0,
                "{device:?}: {summary:?}"
            );
        }
    }

    #[test]
    fn exhaustive_crashes_inside_evictions_and_their_recoveries() {
        let ops = crate::test_size(2_500, 2_000) as usize;
        let mut case = Case::from_seed(9, ops, Some(WorkloadKind::Lifecycle), &CrashMode::ALL);
        case.crashes.clear();
        case.config = CheckConfig::evicting();
        case.config.store.incarnations_max = 2;
        let summary = exhaustive(&case, &[CrashMode::Torn], 2, &ProgressBar::hidden());
        let first = summary.failed_cases.first().map(|c| &c.failure);
        assert_eq!(summary.failures, 0, "{first:?}");
        assert!(summary.evictions >= 3, "{summary:?}");
        assert_eq!(summary.crash_points, summary.ops_mutating);
        assert!(
            summary.crash_points_depth2 > summary.crash_points,
            "{summary:?}"
        );
    }

    /// A clean reopen writes (its recovery moves the anchor and resumes
    /// the journal): with reopens in the workload, exhaustive cuts power
    /// at each of their operations too, and loses nothing.
    #[test]
    fn exhaustive_crashes_inside_clean_reopens() {
        let ops = crate::test_size(1_200, 400) as usize;
        let plain = Case::from_seed(4, ops, Some(WorkloadKind::Uniform), &CrashMode::ALL);
        let plain = Case {
            crashes: vec![],
            ..plain
        };
        let reopening = Case {
            reopen_every: Some(60),
            ..plain.clone()
        };
        let reopens = reopening
            .steps()
            .iter()
            .filter(|s| **s == Step::Reopen)
            .count();
        assert_eq!(reopens, (ops - 1) / 60);
        let modes = [CrashMode::Torn];
        let without = exhaustive(&plain, &modes, 1, &ProgressBar::hidden());
        let with = exhaustive(&reopening, &modes, 2, &ProgressBar::hidden());
        let first = with.failed_cases.first().map(|c| &c.failure);
        assert_eq!(with.failures + without.failures, 0, "{first:?}");
        assert!(
            with.crash_points >= without.crash_points + reopens as u64,
            "{} crash points with {reopens} reopens, {} without",
            with.crash_points,
            without.crash_points
        );
    }

    /// `--fail-ops --io-errors`: every operation also fails, and fails
    /// with a host I/O error, in turn (a branch each), and at depth 2 each
    /// first hit's handling is cut, failed and failed with an I/O error at
    /// every operation; nothing is lost.
    #[test]
    fn exhaustive_fails_each_operation_and_hits_its_handling() {
        let case = Case {
            crashes: vec![],
            ..Case::from_seed(6, 400, Some(WorkloadKind::Lifecycle), &CrashMode::ALL)
        };
        let hits = Hit::all(&[CrashMode::Torn], true, true);
        let one = exhaustive_hits(&case, &hits, 1, &ProgressBar::hidden());
        let two = exhaustive_hits(&case, &hits, 2, &ProgressBar::hidden());
        for summary in [&one, &two] {
            let first = summary.failed_cases.first().map(|c| &c.failure);
            assert_eq!(summary.failures, 0, "{first:?}");
        }
        assert!(one.ops_mutating > 10);
        assert_eq!(
            (one.fail_points, one.io_points, one.crash_points),
            (one.ops_mutating, one.ops_mutating, one.ops_mutating)
        );
        // Each operation of each handling gets a cut, a failure and an
        // I/O error.
        assert!(two.crash_points_depth2 > 0);
        assert_eq!(two.fail_points - two.ops_mutating, two.crash_points_depth2);
        assert_eq!(two.io_points - two.ops_mutating, two.crash_points_depth2);
    }

    /// `--io-burst 12`: from every operation, twelve host I/O errors in a
    /// row, more than the checker's attempts at an open or a final flush
    /// (it counts faults scheduled ahead: without that it called 414 of
    /// 877 such branches failures, `corpus/regressions/exhaustive-io-
    /// burst-12-past-the-checkers-attempts.json`); every retry fails in
    /// turn, the store says so, and loses nothing. A failing branch's case
    /// holds the twelve.
    #[test]
    fn bursts_of_io_errors_past_every_retry_lose_nothing() {
        let case = exhaustive_case(
            0,
            600,
            WorkloadKind::Uniform,
            logstore::SlotLayoutKind::Full,
            true,
            &Part::on(Some(Device::Mlc)),
        );
        let summary = exhaustive_hits(&case, &[Hit::IoBurst(12)], 1, &ProgressBar::hidden());
        let first = summary.failed_cases.first().map(|c| &c.failure);
        assert_eq!(summary.failures, 0, "{first:?}");
        assert!(summary.ops_mutating > 10);
        assert_eq!(summary.io_burst_points, summary.ops_mutating);
        let branch = Branch {
            first: (3, Hit::IoBurst(12)),
            second: None,
        };
        let at = At {
            workload: 5,
            ops_before: 1,
        };
        let failed = branch.failed_case(&case, at, "planted".into());
        let afters: Vec<u32> = failed.op_failures.iter().map(|f| f.after_ops).collect();
        assert_eq!(afters, (4..16).collect::<Vec<u32>>());
        assert!(failed.op_failures.iter().all(|f| f.io && f.step == 5));
    }
}
