//! The campaign over any [`Subject`] ([`explore`]): each operation of the
//! workload run once to count its flash operations, then a branch at each
//! (or a seeded sample): cut (and at depth 2 the recovery and the retry
//! cut in turn), or failed with power on (and at depth 2 its handling cut
//! in turn); each branch mounted, read back
//! and judged against the model's [`History`], the NAND rules enforced.
//!
//! Owns the verdicts and the branches; promises what `mod.rs` states for
//! the seam: a pure function of its configuration, every failure with the
//! one command that replays it, every loop bounded by the workload's
//! operations and each operation's flash operations.

use super::{History, Refusal, Refused, Subject, SubjectConfig, SubjectSummary, REPLAYS_MAX};
use crate::nand::{ScheduledFault, SimFlash};

/// What a cut left.
enum Verdict {
    Kept,
    Silent(String),
    Reported(String),
}

/// Mounts `branch` after its cut and compares what it serves with what
/// the model allows.
fn check_after_cut<S: Subject>(
    branch: &mut S,
    allowed: &[S::State],
    when: &str,
) -> (Verdict, Option<S::State>) {
    branch.flash_mut().restart();
    let found = branch.mount().and_then(|()| branch.read_back());
    let state = found.as_ref().ok().cloned();
    (judge::<S>(found, allowed, when), state)
}

/// What `found` says of a store that must serve one of `allowed` (the
/// first the last durable state) `when`.
fn judge<S: Subject>(found: Result<S::State, String>, allowed: &[S::State], when: &str) -> Verdict {
    match found {
        Err(error) => {
            Verdict::Reported(format!("{when} {} did not mount or read: {error}", S::NAME))
        }
        Ok(state) if allowed.contains(&state) => Verdict::Kept,
        Ok(state) => Verdict::Silent(format!(
            "{when} {} serves a state its model does not allow ({})",
            S::NAME,
            S::difference(&state, allowed)
        )),
    }
}

/// `verdict`, unless the branch's device refused `violations` operations
/// as breaches of its rules: then counted, and a failure whatever the
/// store served.
fn within_rules<S: Subject>(
    violations: u64,
    verdict: Verdict,
    summary: &mut SubjectSummary,
) -> Verdict {
    if violations == 0 {
        return verdict;
    }
    summary.rule_violations += 1;
    match verdict {
        Verdict::Kept => Verdict::Reported(format!(
            "{} broke the NAND rules: {violations} operation(s) refused by the device",
            S::NAME
        )),
        other => other,
    }
}

/// Whether crash point `point` of seed `seed` is one a `sample`-th run
/// checks (every one at 1).
fn sampled(seed: u64, point: u64, sample: u64) -> bool {
    if sample <= 1 {
        return true;
    }
    let mixed = (seed ^ point.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 32).is_multiple_of(sample)
}

/// The campaign: the workload's operations one after another, a power cut
/// at every mutating flash operation of each (or at a seeded `sample`-th
/// of them), from a copy of the device before it, each followed by a
/// mount and the check. `crash_at`: only that crash point (a replay).
pub fn explore<S: Subject>(
    config: &SubjectConfig,
    options: &S::Options,
    crash_at: Option<u64>,
    sample: u64,
) -> Result<SubjectSummary, String> {
    let start = std::time::Instant::now();
    let ops = S::workload(config.seed, config.ops);
    let mut summary = SubjectSummary {
        subject: S::NAME,
        steps: ops.len(),
        ..SubjectSummary::default()
    };
    let mut subject = match S::format(config, options) {
        Ok(subject) => subject,
        Err(Refused::Unformattable(why)) => {
            summary.unformattable = 1;
            summary.stopped = Some(why);
            return Ok(summary);
        }
        Err(Refused::Config(why)) => return Err(why),
    };
    let mut history = History::<S>::default();
    let mut written = 0u64;
    for (step, op) in ops.iter().enumerate() {
        let first = subject.flash().ops_mutating();
        let mut probe = subject.clone();
        if let Err(error) = probe.apply(op, history.latest()) {
            summary.stopped = Some(format!(
                "{} failed step {step} ({op:?}) with no power cut: {error}",
                S::NAME
            ));
            break;
        }
        let last = probe.flash().ops_mutating();
        let allowed = history.allowed(op);
        for point in first..last {
            let chosen =
                crash_at.map_or_else(|| sampled(config.seed, point, sample), |at| at == point);
            if chosen {
                cut_at(
                    &subject,
                    op,
                    &history,
                    &allowed,
                    point,
                    config,
                    options,
                    &mut summary,
                )?;
                let branch = Branch {
                    subject: &subject,
                    op,
                    history: &history,
                    point,
                };
                for fault in [ScheduledFault::Fails, ScheduledFault::Io] {
                    let asked = match fault {
                        ScheduledFault::Fails => config.fail_ops,
                        _ => config.io_errors,
                    };
                    if asked {
                        branch.fail_and_note(fault, config, options, &mut summary)?;
                    }
                    if asked && config.depth >= 2 {
                        branch.cut_the_handling(fault, config, options, &mut summary)?;
                    }
                }
            }
        }
        subject = probe;
        written += S::bytes_written(op);
        history.acknowledge(op);
    }
    wear(&mut summary, subject.flash(), written);
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// One crash point: `op` run on a copy of `subject` cut at `point`, then
/// mounted and checked.
#[allow(clippy::too_many_arguments)]
fn cut_at<S: Subject>(
    subject: &S,
    op: &S::Op,
    history: &History<S>,
    allowed: &[S::State],
    point: u64,
    config: &SubjectConfig,
    options: &S::Options,
    summary: &mut SubjectSummary,
) -> Result<(), String> {
    summary.crash_points += 1;
    let mut branch = subject.clone();
    branch.flash_mut().cut_power_at(point, config.mode);
    let outcome = branch.apply(op, history.latest());
    if outcome.is_ok() && branch.flash().is_powered() {
        return Err(format!("the cut at operation {point} did not happen"));
    }
    if config.depth >= 2 && config.then_fail_at.is_none() {
        cut_the_recovery(&branch, allowed, point, config, options, summary)?;
    }
    let (verdict, found) = check_after_cut(&mut branch, allowed, "after the cut");
    let verdict = within_rules::<S>(branch.flash().counters().violations, verdict, summary);
    summary.paired_pages_corrupted += branch.flash().counters().paired_pages_corrupted;
    let kept = matches!(verdict, Verdict::Kept);
    note::<S>(summary, verdict, config, options, point);
    match found {
        Some(found) if kept && config.depth >= 2 && config.then_fail_at.is_none() => {
            let first = FirstCut {
                branch: &branch,
                found: &found,
                op,
                point,
            };
            first.cut_the_retry(config, options, summary)
        }
        _ => Ok(()),
    }
}

/// Depth 2, in the recovery: `cut` (a branch whose power a cut took)
/// restarts and mounts, and the mount is cut at every flash operation it
/// makes (or at `then_crash_at` only); after each the store restarts,
/// mounts and must serve what the first cut allowed.
fn cut_the_recovery<S: Subject>(
    cut: &S,
    allowed: &[S::State],
    point: u64,
    config: &SubjectConfig,
    options: &S::Options,
    summary: &mut SubjectSummary,
) -> Result<(), String> {
    let mut restarted = cut.clone();
    restarted.flash_mut().restart();
    let mut probe = restarted.clone();
    let first = probe.flash().ops_mutating();
    // Its outcome is the first level's to judge.
    let _ = probe.mount();
    for second in first..probe.flash().ops_mutating() {
        if config.then_crash_at.is_some_and(|at| at != second) {
            continue;
        }
        summary.crash_points_depth2 += 1;
        let mut branch = restarted.clone();
        branch.flash_mut().cut_power_at(second, config.mode);
        if branch.mount().is_ok() && branch.flash().is_powered() {
            return Err(format!(
                "the cut in the recovery at operation {second} did not happen"
            ));
        }
        let when = "after a cut in the recovery from a cut";
        let (verdict, _) = check_after_cut(&mut branch, allowed, when);
        let violations = branch.flash().counters().violations;
        let verdict = within_rules::<S>(violations, verdict, summary);
        summary.paired_pages_corrupted += branch.flash().counters().paired_pages_corrupted;
        let replay = SubjectConfig {
            then_crash_at: Some(second),
            ..config.clone()
        };
        note::<S>(summary, verdict, &replay, options, point);
    }
    Ok(())
}

/// A cut the store recovered from, its state as found: the start of the
/// second level.
struct FirstCut<'a, S: Subject> {
    branch: &'a S,
    found: &'a S::State,
    op: &'a S::Op,
    point: u64,
}

impl<S: Subject> FirstCut<'_, S> {
    /// The client retries the operation the cut hit, from the state found
    /// (durable: it came off the flash); the retry is cut at every flash
    /// operation it makes (or at `then_crash_at` only), and after each the
    /// store must serve the state found or the operation done.
    fn cut_the_retry(
        &self,
        config: &SubjectConfig,
        options: &S::Options,
        summary: &mut SubjectSummary,
    ) -> Result<(), String> {
        let replay = SubjectConfig {
            then_crash_at: None,
            ..config.clone()
        };
        let mut probe = self.branch.clone();
        let first = probe.flash().ops_mutating();
        if let Err(error) = probe.apply(self.op, self.found) {
            let why =
                format!("after recovering from the cut, the retry failed with no cut: {error}");
            let verdict = within_rules::<S>(
                probe.flash().counters().violations,
                Verdict::Reported(why),
                summary,
            );
            note::<S>(summary, verdict, &replay, options, self.point);
            return Ok(());
        }
        let mut allowed = vec![self.found.clone(), S::after(self.found, self.op)];
        allowed.extend(S::also_allowed(self.found, self.op));
        for second in first..probe.flash().ops_mutating() {
            if config.then_crash_at.is_some_and(|at| at != second) {
                continue;
            }
            summary.crash_points_depth2 += 1;
            let mut branch = self.branch.clone();
            branch.flash_mut().cut_power_at(second, config.mode);
            let outcome = branch.apply(self.op, self.found);
            if outcome.is_ok() && branch.flash().is_powered() {
                return Err(format!(
                    "the second cut at operation {second} did not happen"
                ));
            }
            let when = "after a cut in the retry after a cut";
            let (verdict, _) = check_after_cut(&mut branch, &allowed, when);
            let verdict = within_rules::<S>(branch.flash().counters().violations, verdict, summary);
            summary.paired_pages_corrupted += branch.flash().counters().paired_pages_corrupted;
            let replay = SubjectConfig {
                then_crash_at: Some(second),
                ..config.clone()
            };
            note::<S>(summary, verdict, &replay, options, self.point);
        }
        Ok(())
    }
}

/// One crash point's operation on a copy of the subject, for the failed
/// program or erase.
struct Branch<'a, S: Subject> {
    subject: &'a S,
    op: &'a S::Op,
    history: &'a History<S>,
    point: u64,
}

impl<S: Subject> Branch<'_, S> {
    /// [`Branch::fail`], its verdict and any refusal counted in `summary`.
    fn fail_and_note(
        &self,
        fault: ScheduledFault,
        config: &SubjectConfig,
        options: &S::Options,
        summary: &mut SubjectSummary,
    ) -> Result<(), String> {
        let (verdict, refused, violations) = self.fail(&[(self.point, fault)])?;
        let verdict = within_rules::<S>(violations, verdict, summary);
        summary.ops_failed += 1;
        if let Some(refusal) = refused {
            let replay = S::replay_command(config, options, self.point);
            summary.refusal(&refusal, &replay);
        }
        note::<S>(summary, verdict, config, options, self.point);
        Ok(())
    }

    /// Depth 2, in a failure's handling: the program or erase at the
    /// point fails with `fault`, and the power is cut at every flash
    /// operation the subject makes after it in the same operation (its
    /// relocation, its retry; or at `then_crash_at` only); after each the
    /// store restarts, mounts and must serve what a cut in the operation
    /// allows.
    fn cut_the_handling(
        &self,
        fault: ScheduledFault,
        config: &SubjectConfig,
        options: &S::Options,
        summary: &mut SubjectSummary,
    ) -> Result<(), String> {
        let mut probe = self.subject.clone();
        probe.flash_mut().schedule_fault(self.point, fault);
        // Its outcome is `fail`'s to judge.
        let _ = probe.apply(self.op, self.history.latest());
        let allowed = self.history.allowed(self.op);
        for second in self.point + 1..probe.flash().ops_mutating() {
            self.fail_again_at(second, fault, config, options, summary)?;
            if config.then_fail_at.is_some() || config.then_crash_at.is_some_and(|at| at != second)
            {
                continue;
            }
            summary.crash_points_depth2 += 1;
            let mut branch = self.subject.clone();
            branch.flash_mut().schedule_fault(self.point, fault);
            branch.flash_mut().cut_power_at(second, config.mode);
            let outcome = branch.apply(self.op, self.history.latest());
            if outcome.is_ok() && branch.flash().is_powered() {
                return Err(format!(
                    "the cut in the handling of the failure at operation {} did not happen at {second}",
                    self.point
                ));
            }
            let when = "after a cut in the handling of a failed program or erase";
            let (verdict, _) = check_after_cut(&mut branch, &allowed, when);
            let verdict = within_rules::<S>(branch.flash().counters().violations, verdict, summary);
            summary.paired_pages_corrupted += branch.flash().counters().paired_pages_corrupted;
            let replay = SubjectConfig {
                then_crash_at: Some(second),
                ..config.clone()
            };
            note::<S>(summary, verdict, &replay, options, self.point);
        }
        Ok(())
    }

    /// Depth 2, a failure in a failure's handling: the program or erase
    /// at the point fails with `fault`, and the one at `second` (in the
    /// same operation's handling) goes bad too; judged as [`Branch::fail`]
    /// judges one (or skipped: a replay of another second failure, or of
    /// a cut).
    fn fail_again_at(
        &self,
        second: u64,
        fault: ScheduledFault,
        config: &SubjectConfig,
        options: &S::Options,
        summary: &mut SubjectSummary,
    ) -> Result<(), String> {
        if config.then_crash_at.is_some() || config.then_fail_at.is_some_and(|at| at != second) {
            return Ok(());
        }
        let replay = SubjectConfig {
            then_fail_at: Some(second),
            ..config.clone()
        };
        let faults = [(self.point, fault), (second, ScheduledFault::Fails)];
        let (verdict, refused, violations) = self.fail(&faults)?;
        let verdict = within_rules::<S>(violations, verdict, summary);
        summary.ops_failed_twice += 1;
        if let Some(refusal) = refused {
            summary.refusal(&refusal, &S::replay_command(&replay, options, self.point));
        }
        note::<S>(summary, verdict, &replay, options, self.point);
        Ok(())
    }

    /// Fails the program or erase at each of `faults` (the point's first)
    /// with its fault, power on
    /// (`Fails`: its block goes bad; `Io`: a host I/O error, nothing
    /// reaches the cells), runs the operation on: acknowledged, the subject must serve
    /// the state after it, and after a remount a state the model allows
    /// with it acknowledged; refused, the state before or after it. Also
    /// says why the subject refused, if it did, and the operations the
    /// device refused as breaches of its rules.
    fn fail(
        &self,
        faults: &[(u64, ScheduledFault)],
    ) -> Result<(Verdict, Option<Refusal>, u64), String> {
        let mut branch = self.subject.clone();
        for &(at, fault) in faults {
            branch.flash_mut().schedule_fault(at, fault);
        }
        let latest = self.history.latest();
        let after = S::after(latest, self.op);
        let outcome = branch.apply(self.op, latest);
        if branch.flash().scheduled_faults_ahead() > 0 {
            return Err(format!(
                "the failure at operation {} did not happen",
                self.point
            ));
        }
        if let Err(why) = outcome {
            let block = branch.flash().last_failed_block().map(|b| b.0);
            let found = branch.read_back();
            let when =
                format!("after refusing an operation whose program or erase failed ({why}),");
            let mut allowed = vec![latest.clone(), after];
            allowed.extend(S::also_allowed(latest, self.op));
            let refusal = Refusal { why, block };
            let violations = branch.flash().counters().violations;
            return Ok((
                judge::<S>(found, &allowed, &when),
                Some(refusal),
                violations,
            ));
        }
        let when = "after absorbing a failed program or erase,";
        let live = judge::<S>(branch.read_back(), &[after], when);
        if !matches!(live, Verdict::Kept) {
            return Ok((live, None, branch.flash().counters().violations));
        }
        let mut acknowledged = self.history.clone();
        acknowledged.acknowledge(self.op);
        let found = branch.mount().and_then(|()| branch.read_back());
        let when = "after absorbing a failed program or erase and a reopen,";
        let violations = branch.flash().counters().violations;
        Ok((
            judge::<S>(found, &acknowledged.settled(), when),
            None,
            violations,
        ))
    }
}

/// Counts a verdict; a failure keeps its replay.
fn note<S: Subject>(
    summary: &mut SubjectSummary,
    verdict: Verdict,
    config: &SubjectConfig,
    options: &S::Options,
    point: u64,
) {
    let why = match verdict {
        Verdict::Kept => return,
        Verdict::Silent(why) => {
            summary.silent += 1;
            why
        }
        Verdict::Reported(why) => {
            summary.reported += 1;
            why
        }
    };
    summary.failures += 1;
    if summary.replay.len() < REPLAYS_MAX {
        let replay = S::replay_command(config, options, point);
        summary.replay.push(format!("{why}; replay: {replay}"));
    }
}

/// The run's write amplification and erase spread, from its device.
fn wear(summary: &mut SubjectSummary, flash: &SimFlash, written: u64) {
    let erases = flash.erase_counts();
    summary.write_amplification = flash.counters().bytes_programmed as f64 / written.max(1) as f64;
    summary.erase_max = erases.iter().copied().max().unwrap_or(0);
    summary.erase_mean =
        erases.iter().map(|&e| f64::from(e)).sum::<f64>() / erases.len().max(1) as f64;
}
