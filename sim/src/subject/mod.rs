//! The seam between a crash campaign and the store it puts through the
//! simulated NAND (issue 25): a [`Subject`] is formatted on a part, runs a
//! workload's operations, syncs, mounts again after a power cut and reads
//! back what it serves; its model says what each operation does and what
//! must survive a cut. The campaign ([`explore`]) and its model
//! ([`History`]) drive any subject through the trait alone.
//!
//! Owns the trait, the campaign's configuration and summary, and these
//! promises:
//! - a run is a pure function of its [`SubjectConfig`] (and the
//!   subject's options): the same seed gives the same crash points, the
//!   same bytes on flash and the same figures;
//! - every mutating flash operation of every workload operation is a
//!   crash point (or a seeded sample of them: a sweep), cut on a copy of
//!   the device as it was before that operation;
//! - after each cut the subject mounts and serves one of the states its
//!   model allows ([`History::allowed`]); anything else is a failure,
//!   **silent** when it mounted and served other data without a word,
//!   and each failure carries the command that replays it.
//!
//! Two subjects implement it: this index ([`index::IndexSubject`]: its
//! guarantee is the model's prefix rule, every flushed entry kept) and,
//! with the `littlefs` feature, littlefs (`crate::littlefs`: every file as
//! at its last close). The index's own checker ([`crate::check::Runner`])
//! checks promises only this index makes (its incarnations, journal,
//! evictions, wear) on top of the same guarantee; the seam is what another
//! store needs, and what puts both stores through one campaign.

pub mod index;

use crate::nand::{CrashMode, Device, ScheduledFault, SimFlash};

/// A store put through the simulated part. A value holds the store and
/// its device; cloning it copies both (a branch of the campaign).
pub trait Subject: Clone + Sized {
    /// One operation of the subject's workload.
    type Op: Clone + std::fmt::Debug;
    /// What the subject serves, compared whole against the model.
    type State: Clone + PartialEq + std::fmt::Debug + Default;
    /// What only this subject takes (a planted adapter bug, say).
    type Options: Clone + std::fmt::Debug + Default;
    /// Its `--subject` name.
    const NAME: &'static str;
    /// Whether it runs on raw pages too (`ecc: false`): a store with its
    /// own ECC, as this index, does not.
    const ECC_OPTIONAL: bool;

    /// The seeded workload of `ops` operations.
    fn workload(seed: u64, ops: usize) -> Vec<Self::Op>;
    /// A fresh store on the part `config` names. `Err(Unformattable)`:
    /// the part cannot hold it (a factory-bad block where the store's
    /// fixed metadata goes), counted rather than failed.
    fn format(config: &SubjectConfig, options: &Self::Options) -> Result<Self, Refused>;
    /// Runs `op` to its acknowledgement; `state` is what the model holds
    /// before it.
    fn apply(&mut self, op: &Self::Op, state: &Self::State) -> Result<(), String>;
    /// Mounts the store again on its device once power is back (the
    /// campaign has restarted the device).
    fn mount(&mut self) -> Result<(), String>;
    /// What the mounted store serves.
    fn read_back(&mut self) -> Result<Self::State, String>;
    fn flash(&self) -> &SimFlash;
    fn flash_mut(&mut self) -> &mut SimFlash;

    /// The model: the state after `op` from `state`.
    fn after(state: &Self::State, op: &Self::Op) -> Self::State;
    /// Whether `op`, acknowledged, makes itself and every operation before
    /// it durable (a flush, a file's close).
    fn durable(op: &Self::Op) -> bool;
    /// States a cut inside `op` may leave besides the model's (a new
    /// file's empty entry littlefs commits at open).
    fn also_allowed(_before: &Self::State, _op: &Self::Op) -> Vec<Self::State> {
        Vec::new()
    }
    /// How `found` differs from every state in `allowed` (the first is
    /// the last durable one), for a failure's message.
    fn difference(found: &Self::State, allowed: &[Self::State]) -> String {
        format!(
            "serves {}; last durable: {}",
            describe(found),
            describe(&allowed[0])
        )
    }
    /// Bytes of user data `op` writes (write amplification's denominator).
    fn bytes_written(op: &Self::Op) -> u64;
    /// The command that runs crash point `point` of the campaign again.
    fn replay_command(config: &SubjectConfig, options: &Self::Options, point: u64) -> String;
}

/// Why a subject was not formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The part cannot hold the store (its superblocks on factory-bad
    /// blocks, say): counted, not failed.
    Unformattable(String),
    /// The campaign's configuration is wrong.
    Config(String),
}

/// One campaign's part and workload.
#[derive(Clone, Debug)]
pub struct SubjectConfig {
    pub seed: u64,
    pub ops: usize,
    /// The preset (its small geometry), or the ideal device.
    pub device: Option<Device>,
    pub mode: CrashMode,
    /// Through our BCH ECC on a part (a subject with its own ECC, as this
    /// index, takes only `true`); raw pages otherwise.
    pub ecc: bool,
    /// Also fail each crash point's program or erase, power on (its block
    /// goes bad), and check what the subject makes of it.
    pub fail_ops: bool,
    /// Blocks marked bad at manufacture, besides the part's own marks.
    pub bad_blocks: Vec<u32>,
    /// 2: after each cut, the recovery (the mount) is cut in turn at every
    /// flash operation it makes, and, the store recovered, its retry of
    /// the operation too (littlefs writes nothing at mount: its fix-ups
    /// are in the retry; this index writes in its open).
    pub depth: u32,
    /// At depth 2, only this second crash point (a replay).
    pub then_crash_at: Option<u64>,
    /// Also fail each crash point's program or erase with a host I/O
    /// error (nothing reaches the cells), power on.
    pub io_errors: bool,
}

impl SubjectConfig {
    /// What this configuration exposes a store to beyond its guarantee,
    /// for sorting failures: torn programs on paired pages, a part's bit
    /// errors on raw pages, or nothing ("other").
    pub fn cause(&self) -> &'static str {
        let paired = matches!(self.device, Some(Device::Mlc | Device::Tlc));
        if paired && self.mode == CrashMode::Torn {
            "torn paired pages"
        } else if self.device.is_some() && !self.ecc {
            "raw pages"
        } else {
            "other"
        }
    }

    /// The options a replay command needs beyond the seed, steps and mode:
    /// the device, `--no-ecc`, `--fail-ops`, `--bad-blocks`.
    pub fn replay_options(&self) -> String {
        let mut options = String::new();
        if let Some(device) = self.device {
            options.push_str(&format!(" --device {}", device.name()));
        }
        if !self.ecc {
            options.push_str(" --no-ecc");
        }
        if self.fail_ops {
            options.push_str(" --fail-ops");
        }
        if self.io_errors {
            options.push_str(" --io-errors");
        }
        if !self.bad_blocks.is_empty() {
            let blocks: Vec<String> = self.bad_blocks.iter().map(u32::to_string).collect();
            options.push_str(&format!(" --bad-blocks {}", blocks.join(",")));
        }
        if self.depth > 1 {
            options.push_str(&format!(" --depth {}", self.depth));
        }
        if let Some(point) = self.then_crash_at {
            options.push_str(&format!(" --then-crash-at {point}"));
        }
        options
    }
}

/// The failures a campaign lists, each with its replay.
const REPLAYS_MAX: usize = 10;

/// What a campaign found.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SubjectSummary {
    pub subject: &'static str,
    pub crash_points: u64,
    pub failures: u64,
    /// Failures where the store mounted and served a state its model does
    /// not allow, saying nothing.
    pub silent: u64,
    /// Failures where the store did not mount, or said a read failed.
    pub reported: u64,
    pub steps: usize,
    pub seconds: f64,
    /// Bytes programmed (spare areas counted) over the bytes the workload
    /// wrote, on the run without cuts.
    pub write_amplification: f64,
    pub erase_max: u32,
    pub erase_mean: f64,
    /// Pages torn programs damaged through their pairing, over every branch.
    pub paired_pages_corrupted: u64,
    /// At depth 2: cuts in the retry after a recovered cut (also in
    /// `crash_points`' failures, not in its count).
    pub crash_points_depth2: u64,
    /// Branches where the store broke the NAND rules (a page programmed
    /// twice without an erase, say): the device refused the operation.
    /// Each is a failure, even when the store went on.
    pub rule_violations: u64,
    /// The first failures, each with the command that replays it.
    pub replay: Vec<String>,
    /// Why the workload stopped early: the store failed an operation with
    /// no cut (a device error it did not handle, a full device), or could
    /// not be formatted.
    pub stopped: Option<String>,
    /// Runs whose part the store could not be formatted on.
    pub unformattable: u64,
    /// Programs and erases failed on purpose, power on (`fail_ops`, their
    /// block gone bad; `io_errors`, a host I/O error).
    pub ops_failed: u64,
    /// Of those, the ones whose operation the subject refused (an error
    /// returned: no state change promised, none allowed but the operation
    /// done or not).
    pub refused: u64,
    /// The refusals by the error's last words (`LFS_ERR_NOSPC (-28)`, say):
    /// at most [`REFUSAL_KINDS_MAX`] kinds, the rest under "other".
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Failures by what the run's configuration exposed the store to
    /// (`torn paired pages`: MLC or TLC under torn cuts; `raw pages`: a
    /// part's bit errors without an ECC; `other`), in sweeps.
    pub failures_by_cause: std::collections::BTreeMap<String, u64>,
    /// The refusals by the block of the failed program or erase.
    pub refusal_blocks: std::collections::BTreeMap<u32, u64>,
    /// The first refusal of each kind, with the command that replays it.
    pub refusal_replays: std::collections::BTreeMap<String, String>,
}

/// Kinds of refusal a summary names.
pub const REFUSAL_KINDS_MAX: usize = 8;

impl SubjectSummary {
    /// Counts a refusal by its kind (the store's own last words, without
    /// the device's) and its block; the first of a kind keeps `replay`.
    fn refusal(&mut self, refusal: &Refusal, replay: &str) {
        let Refusal { why, block } = refusal;
        self.refused += 1;
        if let Some(block) = block {
            *self.refusal_blocks.entry(*block).or_default() += 1;
        }
        let own = why.split(" (the device: ").next().unwrap_or(why);
        // Numbers alone (an operation's index) are not part of the kind.
        let last = own.rsplit(": ").next().unwrap_or(own);
        let kind: Vec<&str> = last
            .split(' ')
            .map(|word| match word.bytes().all(|b| b.is_ascii_digit()) {
                true => "N",
                false => word,
            })
            .collect();
        let kind = kind.join(" ");
        self.refusals_of(&kind, 1);
        if self.refusals.contains_key(&kind) {
            self.refusal_replays.entry(kind).or_insert_with(|| {
                let block = block.map_or("none".into(), |b| b.to_string());
                format!("{why} (the failed operation's block: {block}); replay: {replay}")
            });
        }
    }

    /// Counts `count` refusals of `kind` (an error's last words).
    fn refusals_of(&mut self, kind: &str, count: u64) {
        let known = self.refusals.contains_key(kind);
        let kind = if known || self.refusals.len() < REFUSAL_KINDS_MAX {
            kind
        } else {
            "other"
        };
        *self.refusals.entry(kind.to_string()).or_default() += count;
    }
}

impl SubjectSummary {
    /// Sums `other` into this one (the wear figures and steps: the latest
    /// run's).
    pub fn add(&mut self, other: &SubjectSummary) {
        self.subject = other.subject;
        self.crash_points += other.crash_points;
        self.failures += other.failures;
        self.silent += other.silent;
        self.reported += other.reported;
        self.steps = other.steps;
        self.seconds += other.seconds;
        self.write_amplification = other.write_amplification;
        self.erase_max = other.erase_max;
        self.erase_mean = other.erase_mean;
        self.paired_pages_corrupted += other.paired_pages_corrupted;
        self.crash_points_depth2 += other.crash_points_depth2;
        self.rule_violations += other.rule_violations;
        self.unformattable += other.unformattable;
        self.ops_failed += other.ops_failed;
        self.refused += other.refused;
        for (kind, &count) in &other.refusals {
            self.refusals_of(kind, count);
        }
        for (cause, count) in &other.failures_by_cause {
            *self.failures_by_cause.entry(cause.clone()).or_default() += count;
        }
        for (block, count) in &other.refusal_blocks {
            *self.refusal_blocks.entry(*block).or_default() += count;
        }
        for (kind, replay) in &other.refusal_replays {
            if self.refusals.contains_key(kind) && !self.refusal_replays.contains_key(kind) {
                self.refusal_replays.insert(kind.clone(), replay.clone());
            }
        }
        for replay in &other.replay {
            if self.replay.len() < REPLAYS_MAX {
                self.replay.push(replay.clone());
            }
        }
        if self.stopped.is_none() {
            self.stopped.clone_from(&other.stopped);
        }
    }
}

/// The model's memory of a run: the state as of the last durable
/// operation and every state acknowledged since, oldest first. A cut may
/// leave any of them (a prefix of the acknowledged operations that holds
/// every durable one), or the state after the operation it hit.
#[derive(Clone, Debug)]
pub struct History<S: Subject> {
    durable: S::State,
    since: Vec<S::State>,
}

impl<S: Subject> Default for History<S> {
    fn default() -> Self {
        History {
            durable: S::State::default(),
            since: Vec::new(),
        }
    }
}

impl<S: Subject> History<S> {
    /// The state the store holds now, as the model has it.
    pub fn latest(&self) -> &S::State {
        self.since.last().unwrap_or(&self.durable)
    }

    /// Records `op` acknowledged.
    pub fn acknowledge(&mut self, op: &S::Op) {
        let after = S::after(self.latest(), op);
        if S::durable(op) {
            self.durable = after;
            self.since.clear();
        } else {
            self.since.push(after);
        }
    }

    /// The states the store may hold after a reopen now: the last durable
    /// one and each acknowledged since.
    pub fn settled(&self) -> Vec<S::State> {
        let mut states = vec![self.durable.clone()];
        states.extend(self.since.iter().cloned());
        states
    }

    /// The states a cut inside `op` (not yet acknowledged) may leave.
    pub fn allowed(&self, op: &S::Op) -> Vec<S::State> {
        let latest = self.latest();
        let mut states = vec![self.durable.clone()];
        states.extend(self.since.iter().cloned());
        states.push(S::after(latest, op));
        states.extend(S::also_allowed(latest, op));
        states
    }
}

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

/// A state, shortened for a message.
pub fn describe<T: std::fmt::Debug>(state: &T) -> String {
    let text = format!("{state:?}");
    match text.char_indices().nth(160) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
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
    if config.depth >= 2 {
        cut_the_recovery(&branch, allowed, point, config, options, summary)?;
    }
    let (verdict, found) = check_after_cut(&mut branch, allowed, "after the cut");
    let verdict = within_rules::<S>(branch.flash().counters().violations, verdict, summary);
    summary.paired_pages_corrupted += branch.flash().counters().paired_pages_corrupted;
    let kept = matches!(verdict, Verdict::Kept);
    note::<S>(summary, verdict, config, options, point);
    match found {
        Some(found) if kept && config.depth >= 2 => {
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
        let (verdict, refused, violations) = self.fail(fault)?;
        let verdict = within_rules::<S>(violations, verdict, summary);
        summary.ops_failed += 1;
        if let Some(refusal) = refused {
            let replay = S::replay_command(config, options, self.point);
            summary.refusal(&refusal, &replay);
        }
        note::<S>(summary, verdict, config, options, self.point);
        Ok(())
    }

    /// Fails the program or erase at the point with `fault`, power on
    /// (`Fails`: its block goes bad; `Io`: a host I/O error, nothing
    /// reaches the cells), runs the operation on: acknowledged, the subject must serve
    /// the state after it, and after a remount a state the model allows
    /// with it acknowledged; refused, the state before or after it. Also
    /// says why the subject refused, if it did, and the operations the
    /// device refused as breaches of its rules.
    fn fail(&self, fault: ScheduledFault) -> Result<(Verdict, Option<Refusal>, u64), String> {
        let mut branch = self.subject.clone();
        branch.flash_mut().schedule_fault(self.point, fault);
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

/// An operation the subject refused after a program or erase failed:
/// its error, and the block of the failed program or erase.
struct Refusal {
    why: String,
    block: Option<u32>,
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

/// Every crash point of one seed's workload.
pub fn exhaustive<S: Subject>(
    config: &SubjectConfig,
    options: &S::Options,
    crash_at: Option<u64>,
) -> Result<SubjectSummary, String> {
    explore::<S>(config, options, crash_at, 1)
}

/// Crash points a sweep run checks: one in this many, drawn by the seed.
pub const SWEEP_SAMPLE: u64 = 8;

/// A sweep: a run a seed (its own workload, device seed and crash mode,
/// `seed % 3` of drop, reorder, torn), each cut at a seeded eighth of its
/// crash points; the summaries summed, in parallel. With `swarm`, each
/// seed draws its whole configuration ([`draw`]) instead.
pub fn sweep<S: Subject + Send>(
    seeds: &[u64],
    ops: usize,
    part: (Option<Device>, bool),
    swarm: bool,
) -> Result<SubjectSummary, String>
where
    S::Options: Sync,
{
    use rayon::prelude::*;
    let options = S::Options::default();
    let (device, ecc) = part;
    let runs: Vec<Result<SubjectSummary, String>> = seeds
        .par_iter()
        .map(|&seed| {
            let config = match swarm {
                true => draw::<S>(seed, ops),
                false => SubjectConfig {
                    seed,
                    ops,
                    device,
                    mode: CrashMode::ALL[(seed % 3) as usize],
                    ecc,
                    fail_ops: false,
                    bad_blocks: Vec::new(),
                    depth: 1,
                    then_crash_at: None,
                    io_errors: false,
                },
            };
            let mut run = explore::<S>(&config, &options, None, SWEEP_SAMPLE)?;
            if run.failures > 0 {
                run.failures_by_cause
                    .insert(config.cause().to_string(), run.failures);
            }
            Ok(run)
        })
        .collect();
    let mut total = SubjectSummary {
        subject: S::NAME,
        ..SubjectSummary::default()
    };
    for run in runs {
        total.add(&run?);
    }
    Ok(total)
}

/// Blocks a drawn configuration may mark bad: littlefs's device has 64.
const DRAWN_BAD_BLOCKS_BELOW: u32 = 64;

/// What a swarm draws for `seed` (configurations nobody picked): the part
/// (ideal, SLC, MLC or TLC, a quarter each), raw pages one time in four
/// where the subject takes them, the crash mode, failing programs and
/// erases one seed in two, and 0 to 3 factory-bad blocks anywhere in the
/// first 64 (littlefs's superblocks included: such a part is counted
/// unformattable).
pub fn draw<S: Subject>(seed: u64, ops: usize) -> SubjectConfig {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5A_B1_EC_70);
    let device = [
        None,
        Some(Device::Slc),
        Some(Device::Mlc),
        Some(Device::Tlc),
    ][rng.random_range(0..4)];
    // Drawn for every subject, so both draw the same part.
    let raw = rng.random_ratio(1, 4);
    let ecc = !(S::ECC_OPTIONAL && raw);
    let mode = CrashMode::ALL[rng.random_range(0..3)];
    let fail_ops = rng.random_bool(0.5);
    let mut bad_blocks: Vec<u32> = (0..rng.random_range(0..=3))
        .map(|_| rng.random_range(0..DRAWN_BAD_BLOCKS_BELOW))
        .collect();
    bad_blocks.sort_unstable();
    bad_blocks.dedup();
    SubjectConfig {
        seed,
        ops,
        device,
        mode,
        ecc,
        fail_ops,
        bad_blocks,
        depth: 1,
        then_crash_at: None,
        io_errors: false,
    }
}
