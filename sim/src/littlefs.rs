//! littlefs as a second subject (issue 25): the same simulated NAND, the
//! same power cuts, another store. Built with the `littlefs` feature
//! (the `littlefs2` crate compiles littlefs's C and binds it with
//! bindgen, which needs libclang).
//!
//! Owns the block device littlefs sees and its exhaustive crash campaign,
//! and these promises:
//! - the block device is the simulated part, a littlefs block an erase
//!   block, a littlefs program a page, through our ECC ([`Media`]) or raw;
//!   littlefs2's block device has no sync, so the adapter makes every
//!   program and erase durable before it returns (the `AdapterBug`
//!   `NoSync` plants the bug of not doing so, and the campaign catches
//!   it);
//! - the guarantee checked is the one littlefs states: after a power cut
//!   the filesystem mounts and every file is as it was at its last close
//!   (each operation of the workload opens, writes and closes a file, or
//!   renames or removes one: after a cut inside operation k, the files
//!   are all as before k or all as after it);
//! - whatever the campaign finds is reported as found, with the one
//!   command that replays it. littlefs does not claim safety on MLC's
//!   paired pages: a loss there is the device's scheme meeting a store
//!   that does not know it, not a littlefs bug.

use std::collections::BTreeMap;

use littlefs2::consts::{U1, U512};
use littlefs2::driver::Storage;
use littlefs2::fs::Filesystem;
use littlefs2::io::{Error as LfsError, Result as LfsResult};
use littlefs2::path::PathBuf as LfsPath;
use logstore::testing::Media;
use logstore::{BlockAddr, Flash, FlashError, Geometry, PageAddr};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::nand::{CrashMode, Device, SimConfig, SimFlash};

/// Bytes a page (littlefs's read and program size) on every geometry.
const PAGE_BYTES: usize = 512;
/// Erase blocks of the devices littlefs runs on.
pub const BLOCKS: usize = 64;
/// Files the workload names (f0..f7).
const FILES: u8 = 8;
/// Largest file the workload writes.
const FILE_BYTES_MAX: usize = 6_000;

/// A defect planted in the adapter, to show the campaign catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterBug {
    /// Programs and erases are never made durable (no device sync): a
    /// cut drops what littlefs took as written.
    NoSync,
}

/// One campaign's configuration.
#[derive(Clone, Debug)]
pub struct LfsConfig {
    pub seed: u64,
    pub ops: usize,
    pub device: Option<Device>,
    pub mode: CrashMode,
    /// Through our BCH ECC (on a part); raw pages otherwise.
    pub ecc: bool,
    pub bug: Option<AdapterBug>,
}

/// What the campaign found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LfsSummary {
    pub subject: &'static str,
    pub crash_points: u64,
    pub failures: u64,
    /// Failures where littlefs mounted and served files as neither before
    /// nor after the operation the cut hit, saying nothing.
    pub silent: u64,
    /// Failures where littlefs did not mount, or said a read failed.
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
    /// The first failures, each with the command that replays it.
    pub replay: Vec<String>,
    /// Why the workload stopped early: littlefs failed an operation with
    /// no cut (a device error it did not handle, or a full device), or
    /// could not format the device.
    pub stopped: Option<String>,
    /// Runs whose device littlefs could not format (a factory-bad block
    /// where its superblocks go).
    pub unformattable: u64,
}

/// An operation's kind and file, for messages.
#[derive(Debug)]
#[allow(dead_code)]
enum OpKind {
    Write(u8),
    Rename(u8, u8),
    Remove(u8),
}

impl OpKind {
    fn of(op: &Op) -> OpKind {
        match op {
            Op::Write { file, .. } => OpKind::Write(*file),
            Op::Rename { from, to } => OpKind::Rename(*from, *to),
            Op::Remove { file } => OpKind::Remove(*file),
        }
    }
}

/// The files: index to contents.
type State = BTreeMap<u8, Vec<u8>>;

#[derive(Clone, Debug)]
enum Op {
    Write {
        file: u8,
        append: bool,
        bytes: Vec<u8>,
    },
    Rename {
        from: u8,
        to: u8,
    },
    Remove {
        file: u8,
    },
}

fn workload(seed: u64, ops: usize) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x11_77_1e_f5);
    (0..ops)
        .map(|_| {
            let file = rng.random_range(0..FILES);
            match rng.random_range(0..10) {
                0 => Op::Rename {
                    from: file,
                    to: rng.random_range(0..FILES),
                },
                1 => Op::Remove { file },
                roll => {
                    let len = rng.random_range(1..=if roll < 5 { 300 } else { 2_000 });
                    let mut bytes = vec![0u8; len];
                    rng.fill(&mut bytes[..]);
                    Op::Write {
                        file,
                        append: roll % 2 == 0,
                        bytes,
                    }
                }
            }
        })
        .collect()
}

/// The state after `op`, from `state`.
fn apply(state: &State, op: &Op) -> State {
    let mut next = state.clone();
    match op {
        Op::Write {
            file,
            append,
            bytes,
        } => {
            let contents = next.entry(*file).or_default();
            if !*append || contents.len() + bytes.len() > FILE_BYTES_MAX {
                contents.clear();
            }
            contents.extend_from_slice(bytes);
        }
        Op::Rename { from, to } => {
            if from != to {
                if let Some(contents) = next.remove(from) {
                    next.insert(*to, contents);
                }
            }
        }
        Op::Remove { file } => {
            next.remove(file);
        }
    }
    next
}

fn name(file: u8) -> LfsPath {
    LfsPath::try_from(format!("f{file}").as_str()).expect("a short ASCII name")
}

/// The part's pages, through the ECC or raw.
#[derive(Clone)]
enum Pages {
    Ecc(Media<SimFlash>),
    Raw(SimFlash),
}

impl Pages {
    fn sim(&self) -> &SimFlash {
        match self {
            Pages::Ecc(media) => media.inner(),
            Pages::Raw(flash) => flash,
        }
    }

    fn sim_mut(&mut self) -> &mut SimFlash {
        match self {
            Pages::Ecc(media) => media.inner_mut(),
            Pages::Raw(flash) => flash,
        }
    }
}

/// littlefs's block device over the simulated part: `PAGES` pages a block.
#[derive(Clone)]
pub struct BlockDevice<const PAGES: usize> {
    pages: Pages,
    raw: Vec<u8>,
    bug: Option<AdapterBug>,
}

/// The device littlefs sees: 16 pages a block (SLC, MLC, ideal) or 48
/// (TLC: whole wordlines).
pub type Lfs16 = BlockDevice<16>;
pub type Lfs48 = BlockDevice<48>;

impl<const PAGES: usize> BlockDevice<PAGES> {
    fn new(config: &LfsConfig) -> Result<Self, String> {
        let geometry = match config.device {
            Some(device) => device.small_geometry(BLOCKS as u32),
            None => Geometry::new(PAGE_BYTES as u32, PAGES as u32, BLOCKS as u32)
                .map_err(|e| e.to_string())?,
        };
        assert_eq!(
            geometry.pages_per_block as usize, PAGES,
            "the device's pages a block"
        );
        let sim = match config.device {
            Some(device) => device.sim_config(geometry),
            None => SimConfig::new(geometry),
        };
        let flash = SimFlash::new(sim, config.seed).map_err(|e| e.to_string())?;
        let ecc = config.ecc && geometry.ecc_parity_bytes().is_some();
        let pages = if ecc {
            Pages::Ecc(Media::new(flash).map_err(|(e, _)| e.to_string())?)
        } else {
            Pages::Raw(flash)
        };
        Ok(BlockDevice {
            raw: vec![0u8; geometry.raw_page_bytes() as usize],
            pages,
            bug: config.bug,
        })
    }

    fn address(offset: usize) -> PageAddr {
        let page = offset / PAGE_BYTES;
        PageAddr::new((page / PAGES) as u32, (page % PAGES) as u32)
    }

    fn read_page(&mut self, at: PageAddr, out: &mut [u8]) -> Result<(), FlashError> {
        match &mut self.pages {
            Pages::Ecc(media) => media.read(at, out),
            Pages::Raw(flash) => {
                flash.read(at, &mut self.raw)?;
                out.copy_from_slice(&self.raw[..PAGE_BYTES]);
                Ok(())
            }
        }
    }

    fn program_page(&mut self, at: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        match &mut self.pages {
            Pages::Ecc(media) => media.program(at, data),
            Pages::Raw(flash) => {
                self.raw.fill(0xff);
                self.raw[..PAGE_BYTES].copy_from_slice(data);
                flash.program(at, &self.raw)
            }
        }
    }

    /// Makes what came before durable, unless the planted bug skips it.
    fn durable(&mut self) -> Result<(), FlashError> {
        if self.bug == Some(AdapterBug::NoSync) {
            return Ok(());
        }
        match &mut self.pages {
            Pages::Ecc(media) => media.sync(),
            Pages::Raw(flash) => flash.sync(),
        }
    }
}

/// A flash error as littlefs's: an unreadable page, a failed program or
/// erase is corruption; the rest (power lost) I/O.
fn lfs_error(error: FlashError) -> LfsError {
    match error {
        // littlefs relocates a block whose program or erase answers
        // corruption (its bad block handling), and reports a read so.
        FlashError::Uncorrectable { .. } | FlashError::BadBlock { .. } => LfsError::CORRUPTION,
        _ => LfsError::IO,
    }
}

macro_rules! storage {
    ($pages:literal) => {
        impl Storage for BlockDevice<$pages> {
            const READ_SIZE: usize = PAGE_BYTES;
            const WRITE_SIZE: usize = PAGE_BYTES;
            const BLOCK_SIZE: usize = PAGE_BYTES * $pages;
            const BLOCK_COUNT: usize = BLOCKS;
            const BLOCK_CYCLES: isize = 500;
            type CACHE_SIZE = U512;
            type LOOKAHEAD_SIZE = U1;

            fn read(&mut self, off: usize, buf: &mut [u8]) -> LfsResult<usize> {
                for (i, chunk) in buf.chunks_mut(PAGE_BYTES).enumerate() {
                    let at = Self::address(off + i * PAGE_BYTES);
                    self.read_page(at, chunk).map_err(lfs_error)?;
                }
                Ok(buf.len())
            }

            fn write(&mut self, off: usize, data: &[u8]) -> LfsResult<usize> {
                for (i, chunk) in data.chunks(PAGE_BYTES).enumerate() {
                    let at = Self::address(off + i * PAGE_BYTES);
                    self.program_page(at, chunk).map_err(lfs_error)?;
                }
                self.durable().map_err(lfs_error)?;
                Ok(data.len())
            }

            fn erase(&mut self, off: usize, len: usize) -> LfsResult<usize> {
                let block_bytes = PAGE_BYTES * $pages;
                for block in off / block_bytes..(off + len) / block_bytes {
                    let block = BlockAddr(block as u32);
                    match &mut self.pages {
                        Pages::Ecc(media) => media.erase(block),
                        Pages::Raw(flash) => flash.erase(block),
                    }
                    .map_err(lfs_error)?;
                }
                self.durable().map_err(lfs_error)?;
                Ok(len)
            }
        }
    };
}

storage!(16);
storage!(48);

/// One operation on a mounted filesystem (open, write, close; or rename,
/// or remove).
fn run_op<S: Storage>(fs: &Filesystem<'_, S>, state: &State, op: &Op) -> LfsResult<()> {
    match op {
        Op::Write {
            file,
            append,
            bytes,
        } => {
            let existing = state.get(file).map_or(0, Vec::len);
            let truncate = !*append || existing + bytes.len() > FILE_BYTES_MAX;
            fs.open_file_with_options_and_then(
                |o| {
                    o.write(true)
                        .create(true)
                        .truncate(truncate)
                        .append(!truncate)
                },
                &name(*file),
                |f| f.write(bytes).map(|_| ()),
            )
        }
        Op::Rename { from, to } => {
            if from == to || !state.contains_key(from) {
                return Ok(());
            }
            fs.rename(&name(*from), &name(*to))
        }
        Op::Remove { file } => {
            if !state.contains_key(file) {
                return Ok(());
            }
            fs.remove(&name(*file))
        }
    }
}

/// The files as mounted littlefs serves them.
fn read_state<S: Storage>(fs: &Filesystem<'_, S>) -> LfsResult<State> {
    let mut state = State::new();
    for file in 0..FILES {
        let path = name(file);
        if !fs.exists(&path) {
            continue;
        }
        let contents = fs.open_file_and_then(&path, |f| {
            let len = f.len()?;
            let mut bytes = vec![0u8; len];
            let mut done = 0;
            // A read returns at least one byte until the end: bounded by len.
            while done < len {
                match f.read(&mut bytes[done..])? {
                    0 => break,
                    n => done += n,
                }
            }
            bytes.truncate(done);
            Ok(bytes)
        })?;
        state.insert(file, contents);
    }
    Ok(state)
}

/// The states a cut inside `op` may leave: as before it, as after it,
/// and for a write that creates its file, before it with the file there
/// and empty (littlefs commits a new file's entry at open, its data at
/// close).
fn allowed(before: &State, op: &Op, after: &State) -> Vec<State> {
    let mut states = vec![before.clone(), after.clone()];
    if let Op::Write { file, .. } = op {
        if !before.contains_key(file) {
            let mut created = before.clone();
            created.insert(*file, Vec::new());
            states.push(created);
        }
    }
    states
}

/// What a cut left: `Ok` if the files are as before or after the
/// operation it hit, else why not.
enum Verdict {
    Kept,
    Silent(String),
    Reported(String),
}

fn check_after_cut<const PAGES: usize>(
    device: &mut BlockDevice<PAGES>,
    allowed: &[State],
) -> Verdict
where
    BlockDevice<PAGES>: Storage,
{
    device.pages.sim_mut().restart();
    let found = Filesystem::mount_and_then(device, read_state);
    match found {
        Err(error) => Verdict::Reported(format!(
            "after the cut littlefs did not mount or read: {error:?}"
        )),
        Ok(state) if allowed.contains(&state) => Verdict::Kept,
        Ok(state) => {
            let differs: Vec<String> = (0..FILES)
                .filter(|f| allowed.iter().all(|s| state.get(f) != s.get(f)))
                .map(|f| format!("f{f}"))
                .collect();
            Verdict::Silent(format!(
                "after the cut the files are neither as before the operation nor as after it ({} differ)",
                differs.join(", ")
            ))
        }
    }
}

/// The exhaustive campaign: the workload's operations one after another,
/// a power cut at every mutating flash operation of each (from a copy of
/// the device before it), each followed by a mount and the check.
/// `crash_at`: only that crash point (a replay).
pub fn exhaustive(config: &LfsConfig, crash_at: Option<u64>) -> Result<LfsSummary, String> {
    campaign(config, crash_at, 1)
}

/// Crash points a sweep run checks: one in this many, drawn by the seed.
pub const SWEEP_SAMPLE: u64 = 8;

/// `sweep --subject littlefs`: a run a seed (its own workload, device
/// seed and crash mode, `seed % 3` of drop, reorder, torn), each cut at a
/// seeded eighth of its crash points; the summaries summed, in parallel.
pub fn sweep(
    seeds: &[u64],
    ops: usize,
    device: Option<Device>,
    ecc: bool,
) -> Result<LfsSummary, String> {
    use rayon::prelude::*;
    let runs: Vec<Result<LfsSummary, String>> = seeds
        .par_iter()
        .map(|&seed| {
            let config = LfsConfig {
                seed,
                ops,
                device,
                mode: CrashMode::ALL[(seed % 3) as usize],
                ecc,
                bug: None,
            };
            campaign(&config, None, SWEEP_SAMPLE)
        })
        .collect();
    let mut total = LfsSummary {
        subject: "littlefs",
        ..LfsSummary::default()
    };
    for run in runs {
        total.add(&run?);
    }
    Ok(total)
}

impl LfsSummary {
    /// Sums `other` into this one (the wear figures: the latest run's).
    pub fn add(&mut self, other: &LfsSummary) {
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
        self.unformattable += other.unformattable;
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

/// Whether crash point `point` of seed `seed` is one a `sample`-th run
/// checks (every one at 1).
fn sampled(seed: u64, point: u64, sample: u64) -> bool {
    if sample <= 1 {
        return true;
    }
    let mixed = (seed ^ point.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 32).is_multiple_of(sample)
}

fn campaign(config: &LfsConfig, crash_at: Option<u64>, sample: u64) -> Result<LfsSummary, String> {
    match config.device {
        Some(Device::Tlc) => exhaustive_on::<48>(config, crash_at, sample),
        _ => exhaustive_on::<16>(config, crash_at, sample),
    }
}

/// Replays kept a campaign: at most this many failures are listed.
const REPLAYS_MAX: usize = 10;

fn exhaustive_on<const PAGES: usize>(
    config: &LfsConfig,
    crash_at: Option<u64>,
    sample: u64,
) -> Result<LfsSummary, String>
where
    BlockDevice<PAGES>: Storage,
{
    let start = std::time::Instant::now();
    let ops = workload(config.seed, config.ops);
    let mut device = BlockDevice::<PAGES>::new(config)?;
    let mut summary = LfsSummary {
        subject: "littlefs",
        steps: ops.len(),
        ..LfsSummary::default()
    };
    if let Err(error) = Filesystem::format(&mut device) {
        let bad: Vec<u32> = (0..BLOCKS as u32)
            .filter(|&b| device.pages.sim().is_factory_bad(BlockAddr(b)))
            .collect();
        summary.unformattable = 1;
        summary.stopped = Some(format!(
            "littlefs did not format: {error:?} (factory-bad blocks {bad:?}; littlefs keeps its superblocks in blocks 0 and 1)"
        ));
        return Ok(summary);
    }
    let mut state = State::new();
    let mut written = 0u64;
    for (step, op) in ops.iter().enumerate() {
        let after = apply(&state, op);
        let first = device.pages.sim().ops_mutating();
        let mut probe = device.clone();
        let done = Filesystem::mount_and_then(&mut probe, |fs| run_op(fs, &state, op));
        if let Err(error) = done {
            summary.stopped = Some(format!(
                "littlefs failed step {step} ({op:?}) with no power cut: {error:?}",
                op = OpKind::of(op)
            ));
            break;
        }
        let last = probe.pages.sim().ops_mutating();
        for point in first..last {
            let chosen =
                crash_at.map_or_else(|| sampled(config.seed, point, sample), |at| at == point);
            if !chosen {
                continue;
            }
            summary.crash_points += 1;
            let mut branch = device.clone();
            branch.pages.sim_mut().cut_power_at(point, config.mode);
            let outcome = Filesystem::mount_and_then(&mut branch, |fs| run_op(fs, &state, op));
            if outcome.is_ok() && branch.pages.sim().is_powered() {
                return Err(format!("the cut at operation {point} did not happen"));
            }
            let verdict = check_after_cut(&mut branch, &allowed(&state, op, &after));
            summary.paired_pages_corrupted += branch.pages.sim().counters().paired_pages_corrupted;
            note(&mut summary, config, point, verdict);
        }
        device = probe;
        if let Op::Write { bytes, .. } = op {
            written += bytes.len() as u64;
        }
        state = after;
    }
    let counters = device.pages.sim().counters();
    let erases = device.pages.sim().erase_counts();
    summary.write_amplification = counters.bytes_programmed as f64 / written.max(1) as f64;
    summary.erase_max = erases.iter().copied().max().unwrap_or(0);
    summary.erase_mean =
        erases.iter().map(|&e| f64::from(e)).sum::<f64>() / erases.len().max(1) as f64;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

fn note(summary: &mut LfsSummary, config: &LfsConfig, point: u64, verdict: Verdict) {
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
        summary
            .replay
            .push(format!("{why}; replay: {}", replay_command(config, point)));
    }
}

/// The command that runs one crash point of the campaign again.
pub fn replay_command(config: &LfsConfig, point: u64) -> String {
    let mut command = format!(
        "cargo run --release --features littlefs -- exhaustive --subject littlefs --seed {} --ops {} --mode {} --crash-at {point}",
        config.seed,
        config.ops,
        config.mode.name()
    );
    if let Some(device) = config.device {
        command.push_str(&format!(" --device {}", device.name()));
    }
    if !config.ecc {
        command.push_str(" --no-ecc");
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(device: Option<Device>, mode: CrashMode) -> LfsConfig {
        LfsConfig {
            seed: 3,
            ops: 60,
            device,
            mode,
            ecc: true,
            bug: None,
        }
    }

    /// On the ideal device and on SLC, a cut at any operation leaves
    /// every file as at its last close: littlefs's own promise, kept.
    #[test]
    fn littlefs_keeps_every_closed_file_across_every_cut() {
        for (device, mode) in [
            (None, CrashMode::DropUnsynced),
            (None, CrashMode::Torn),
            (Some(Device::Slc), CrashMode::Torn),
        ] {
            let summary = exhaustive(&config(device, mode), None).unwrap();
            assert!(summary.crash_points > 100, "{summary:?}");
            assert_eq!(
                summary.failures, 0,
                "{device:?} {mode:?}: {:?}",
                summary.replay
            );
            assert_eq!(summary.stopped, None, "{device:?} {mode:?}");
            assert!(summary.write_amplification > 1.0);
        }
    }

    /// On MLC and TLC, a torn program of an upper page damages the lower
    /// page it pairs with, which littlefs had committed: closed files come
    /// back neither as before nor as after the operation cut, silently.
    /// The harness finds it (littlefs does not claim paired-page safety);
    /// the same workload cut without tearing keeps everything.
    #[test]
    fn on_paired_parts_torn_programs_cost_littlefs_closed_files() {
        for device in [Device::Mlc, Device::Tlc] {
            let torn = exhaustive(&config(Some(device), CrashMode::Torn), None).unwrap();
            assert!(torn.failures > 0 && torn.silent > 0, "{device:?}: {torn:?}");
            assert!(torn.paired_pages_corrupted > 0, "{device:?}: {torn:?}");
            let dropped = exhaustive(&config(Some(device), CrashMode::DropUnsynced), None).unwrap();
            assert_eq!(dropped.failures, 0, "{device:?}: {:?}", dropped.replay);
            assert_eq!(dropped.crash_points, torn.crash_points);
        }
    }

    /// A sweep runs a workload a seed, its modes drawn, each at a sampled
    /// eighth of its crash points: on SLC nothing is lost, on MLC the
    /// paired pages cost files again, and every failure names its replay.
    #[test]
    fn a_sweep_samples_crash_points_across_seeds() {
        let clean = sweep(&[0, 1, 2, 3], 60, Some(Device::Slc), true).unwrap();
        assert!(clean.crash_points > 50, "{clean:?}");
        assert_eq!(clean.failures, 0, "{:?}", clean.replay);
        let every: u64 = (0..4u64)
            .map(|seed| {
                let mode = CrashMode::ALL[(seed % 3) as usize];
                let one = LfsConfig {
                    seed,
                    ..config(Some(Device::Slc), mode)
                };
                exhaustive(&one, None).unwrap().crash_points
            })
            .sum();
        assert!(
            clean.crash_points * 4 < every,
            "a sample: {} of {every}",
            clean.crash_points
        );
        let paired = sweep(&[2, 5, 8, 11], 60, Some(Device::Mlc), true).unwrap();
        assert!(paired.failures > 0, "torn seeds on mlc: {paired:?}");
        assert!(
            paired.replay[0].contains("--mode torn"),
            "{}",
            paired.replay[0]
        );
    }

    /// The adapter that never makes programs durable loses closed files
    /// at a cut: the campaign says so, with the command that replays it.
    #[test]
    fn an_adapter_without_sync_is_caught() {
        let mut planted = config(None, CrashMode::DropUnsynced);
        planted.bug = Some(AdapterBug::NoSync);
        let summary = exhaustive(&planted, None).unwrap();
        assert!(summary.failures > 0, "{summary:?}");
        assert!(summary.replay[0].contains("--subject littlefs"));
        // A replay of one failing point fails alone.
        let point: u64 = summary.replay[0]
            .rsplit("--crash-at ")
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let again = exhaustive(&planted, Some(point)).unwrap();
        assert_eq!((again.crash_points, again.failures), (1, 1));
    }
}
