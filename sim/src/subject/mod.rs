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
//!
//! The wing's files:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the [`Subject`] trait, [`SubjectConfig`], [`SubjectSummary`], the model's [`History`], sweeps and swarm draws |
//! | `explore.rs` | the campaign ([`explore`]): its branches (cut, recovery and retry cut, failed operation) and verdicts |
//! | [`index`] | this index as a subject |

mod explore;
pub mod index;

pub use explore::explore;

use crate::nand::{CrashMode, Device, SimFlash};

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

    /// Erase blocks of the part it formats on `device`: where a drawn
    /// factory-bad block may fall.
    fn blocks(device: Option<Device>) -> u32;

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
    /// At depth 2, only this second failing operation in a failure's
    /// handling (a replay): the cuts of the second level are skipped.
    pub then_fail_at: Option<u64>,
    /// Also fail each crash point's program or erase with a host I/O
    /// error (nothing reaches the cells), power on.
    pub io_errors: bool,
}

impl SubjectConfig {
    /// What this configuration exposes a store to beyond its guarantee,
    /// for sorting failures: torn programs on paired pages, a part's bit
    /// errors on raw pages, cuts at depth 2 (in the mount, in the retry),
    /// or nothing more ("other").
    pub fn cause(&self) -> &'static str {
        let paired = matches!(self.device, Some(Device::Mlc | Device::Tlc));
        if paired && self.mode == CrashMode::Torn {
            "torn paired pages"
        } else if self.device.is_some() && !self.ecc {
            "raw pages"
        } else if self.depth > 1 {
            "a cut in the mount or the retry"
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
        if let Some(point) = self.then_fail_at {
            options.push_str(&format!(" --then-fail-at {point}"));
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
    /// Branches (at depth 2) where a second program or erase went bad in
    /// the handling of a failed one, in the same operation.
    pub ops_failed_twice: u64,
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
        self.ops_failed_twice += other.ops_failed_twice;
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

/// A state, shortened for a message.
pub fn describe<T: std::fmt::Debug>(state: &T) -> String {
    let text = format!("{state:?}");
    match text.char_indices().nth(160) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

/// An operation the subject refused after a program or erase failed:
/// its error, and the block of the failed program or erase.
struct Refusal {
    why: String,
    block: Option<u32>,
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
                    then_fail_at: None,
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

/// What a swarm draws for `seed` (configurations nobody picked): the part
/// (ideal, SLC, MLC or TLC, a quarter each), raw pages one time in four
/// where the subject takes them, the crash mode, failing programs and
/// erases one seed in two, 0 to 3 factory-bad blocks anywhere on the
/// subject's part (littlefs's superblocks included: such a part is
/// counted unformattable), a host I/O error branch at every crash point
/// one seed in four, and depth 2 (cuts in the mount after each cut and in
/// the retry) one seed in eight. The subjects draw the same but for the
/// bad blocks' numbers, each over its own part.
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
    let blocks = S::blocks(device);
    let mut bad_blocks: Vec<u32> = (0..rng.random_range(0..=3))
        .map(|_| rng.random_range(0..blocks))
        .collect();
    bad_blocks.sort_unstable();
    bad_blocks.dedup();
    let io_errors = rng.random_ratio(1, 4);
    let depth = if rng.random_ratio(1, 8) { 2 } else { 1 };
    SubjectConfig {
        seed,
        ops,
        device,
        mode,
        ecc,
        fail_ops,
        bad_blocks,
        depth,
        then_crash_at: None,
        then_fail_at: None,
        io_errors,
    }
}
