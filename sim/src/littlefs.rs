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

use crate::campaign::corrupt_subject::{corrupt_subject, SubjectCorruptSummary};
use crate::nand::{Device, SimConfig, SimFlash};
use crate::subject::{self, Refused, Subject, SubjectConfig, SubjectSummary};

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
    /// A program the block refuses (it went bad) is answered as done.
    /// littlefs reads back each program and compares, so it relocates
    /// anyway: the campaign shows it absorbed.
    FailureSwallowed,
    /// A program or erase the block refuses is answered as an I/O error,
    /// not as corruption: littlefs does not relocate.
    FailureAsIo,
}

/// The files: index to contents.
pub type State = BTreeMap<u8, Vec<u8>>;

#[derive(Clone)]
pub enum Op {
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

/// An operation's kind, files and size, for messages.
impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Write {
                file,
                append,
                bytes,
            } => {
                let how = if *append { "append" } else { "write" };
                write!(f, "{how} {} bytes to f{file}", bytes.len())
            }
            Op::Rename { from, to } => write!(f, "rename f{from} to f{to}"),
            Op::Remove { file } => write!(f, "remove f{file}"),
        }
    }
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
    /// The device's last error, as the device said it (littlefs sees
    /// only its own code): named in a failed operation's message.
    last_error: Option<String>,
}

/// The device littlefs sees: 16 pages a block (SLC, MLC, ideal) or 48
/// (TLC: whole wordlines).
pub type Lfs16 = BlockDevice<16>;
pub type Lfs48 = BlockDevice<48>;

impl<const PAGES: usize> BlockDevice<PAGES> {
    fn new(config: &SubjectConfig, bug: Option<AdapterBug>) -> Result<Self, String> {
        let geometry = match config.device {
            Some(device) => device.small_geometry(BLOCKS as u32),
            None => Geometry::new(PAGE_BYTES as u32, PAGES as u32, BLOCKS as u32)
                .map_err(|e| e.to_string())?,
        };
        assert_eq!(
            geometry.pages_per_block as usize, PAGES,
            "the device's pages a block"
        );
        let mut sim = match config.device {
            Some(device) => device.sim_config(geometry),
            None => SimConfig::new(geometry),
        };
        if let Some(block) = config.bad_blocks.iter().find(|&&b| b >= BLOCKS as u32) {
            return Err(format!(
                "--bad-blocks {block}: littlefs's device has blocks 0 to {}",
                BLOCKS - 1
            ));
        }
        sim.factory_bad.extend(config.bad_blocks.iter().copied());
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
            bug,
            last_error: None,
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
        let done = match &mut self.pages {
            Pages::Ecc(media) => media.program(at, data),
            Pages::Raw(flash) => {
                self.raw.fill(0xff);
                self.raw[..PAGE_BYTES].copy_from_slice(data);
                flash.program(at, &self.raw)
            }
        };
        match done {
            Err(FlashError::BadBlock { .. }) if self.bug == Some(AdapterBug::FailureSwallowed) => {
                Ok(())
            }
            other => other,
        }
    }

    /// A failed program's or erase's error as littlefs's (the planted
    /// `FailureAsIo` answers a block gone bad as an I/O error).
    fn error_of(&mut self, error: FlashError) -> LfsError {
        self.last_error = Some(error.to_string());
        match error {
            FlashError::BadBlock { .. } if self.bug == Some(AdapterBug::FailureAsIo) => {
                LfsError::IO
            }
            other => lfs_error(other),
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

/// littlefs's name for an error (`LFS_ERR_...`) and its code.
fn named(error: LfsError) -> String {
    let name = match error.code() {
        -5 => "IO",
        -84 => "CORRUPT",
        -2 => "NOENT",
        -17 => "EXIST",
        -20 => "NOTDIR",
        -21 => "ISDIR",
        -39 => "NOTEMPTY",
        -9 => "BADF",
        -27 => "FBIG",
        -22 => "INVAL",
        -28 => "NOSPC",
        -12 => "NOMEM",
        -61 => "NOATTR",
        -36 => "NAMETOOLONG",
        _ => "unknown",
    };
    format!("LFS_ERR_{name} ({})", error.code())
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
                    self.read_page(at, chunk).map_err(|e| self.error_of(e))?;
                }
                Ok(buf.len())
            }

            fn write(&mut self, off: usize, data: &[u8]) -> LfsResult<usize> {
                for (i, chunk) in data.chunks(PAGE_BYTES).enumerate() {
                    let at = Self::address(off + i * PAGE_BYTES);
                    self.program_page(at, chunk).map_err(|e| self.error_of(e))?;
                }
                self.durable().map_err(|e| self.error_of(e))?;
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
                    .map_err(|e| self.error_of(e))?;
                }
                self.durable().map_err(|e| self.error_of(e))?;
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
        // Opened, not stat-ed first: littlefs2's `exists` panics on an
        // entry whose type littlefs reads as neither file nor directory
        // (a drawn configuration met one); the open answers an error.
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
        });
        match contents {
            Ok(contents) => state.insert(file, contents),
            Err(LfsError::NO_SUCH_ENTRY) => continue,
            Err(other) => return Err(other),
        };
    }
    Ok(state)
}

impl<const PAGES: usize> Subject for BlockDevice<PAGES>
where
    BlockDevice<PAGES>: Storage,
{
    type Op = Op;
    type State = State;
    type Options = Option<AdapterBug>;
    const NAME: &'static str = "littlefs";
    const ECC_OPTIONAL: bool = true;

    fn blocks(_: Option<Device>) -> u32 {
        BLOCKS as u32
    }

    fn workload(seed: u64, ops: usize) -> Vec<Op> {
        workload(seed, ops)
    }

    fn format(config: &SubjectConfig, bug: &Option<AdapterBug>) -> Result<Self, Refused> {
        let mut device = BlockDevice::<PAGES>::new(config, *bug).map_err(Refused::Config)?;
        if let Err(error) = Filesystem::format(&mut device) {
            let bad: Vec<u32> = (0..BLOCKS as u32)
                .filter(|&b| device.pages.sim().is_factory_bad(BlockAddr(b)))
                .collect();
            return Err(Refused::Unformattable(format!(
                "littlefs did not format: {} (factory-bad blocks {bad:?}; littlefs keeps its superblocks in blocks 0 and 1)",
                named(error)
            )));
        }
        Ok(device)
    }

    /// Mounts, runs `op` (open, write, close; or rename, or remove) and
    /// unmounts: littlefs2's filesystem borrows its device.
    fn apply(&mut self, op: &Op, state: &State) -> Result<(), String> {
        self.last_error = None;
        let done = Filesystem::mount_and_then(self, |fs| run_op(fs, state, op));
        done.map_err(|error| match self.last_error.take() {
            Some(device) => format!("{op:?}: {} (the device: {device})", named(error)),
            None => format!("{op:?}: {}", named(error)),
        })
    }

    fn mount(&mut self) -> Result<(), String> {
        Filesystem::mount_and_then(self, |_| Ok(())).map_err(named)
    }

    fn read_back(&mut self) -> Result<State, String> {
        Filesystem::mount_and_then(self, read_state).map_err(named)
    }

    fn flash(&self) -> &SimFlash {
        self.pages.sim()
    }

    fn flash_mut(&mut self) -> &mut SimFlash {
        self.pages.sim_mut()
    }

    fn after(state: &State, op: &Op) -> State {
        apply(state, op)
    }

    /// Every operation closes what it opened: a closed file is durable.
    fn durable(_: &Op) -> bool {
        true
    }

    /// A write that creates its file may leave it there and empty
    /// (littlefs commits a new file's entry at open, its data at close).
    fn also_allowed(before: &State, op: &Op) -> Vec<State> {
        match op {
            Op::Write { file, .. } if !before.contains_key(file) => {
                let mut created = before.clone();
                created.insert(*file, Vec::new());
                vec![created]
            }
            _ => Vec::new(),
        }
    }

    fn difference(found: &State, allowed: &[State]) -> String {
        let differs: Vec<String> = (0..FILES)
            .filter(|f| allowed.iter().all(|s| found.get(f) != s.get(f)))
            .map(|f| format!("f{f}"))
            .collect();
        format!(
            "the files are neither as before the operation nor as after it: {} differ",
            differs.join(", ")
        )
    }

    fn bytes_written(op: &Op) -> u64 {
        match op {
            Op::Write { bytes, .. } => bytes.len() as u64,
            _ => 0,
        }
    }

    fn replay_command(config: &SubjectConfig, bug: &Option<AdapterBug>, point: u64) -> String {
        let planted = match bug {
            None => "",
            Some(AdapterBug::NoSync) => " --adapter-bug no-sync",
            Some(AdapterBug::FailureSwallowed) => " --adapter-bug failure-swallowed",
            Some(AdapterBug::FailureAsIo) => " --adapter-bug failure-as-io",
        };
        format!(
            "cargo run --release --features littlefs -- exhaustive --subject littlefs --seed {} --ops {} --mode {} --crash-at {point}{}{planted}",
            config.seed,
            config.ops,
            config.mode.name(),
            config.replay_options()
        )
    }
}

/// The exhaustive campaign ([`subject::exhaustive`]) on littlefs, its
/// block device sized to the part's blocks. `crash_at`: only that crash
/// point (a replay).
pub fn exhaustive(
    config: &SubjectConfig,
    bug: Option<AdapterBug>,
    crash_at: Option<u64>,
) -> Result<SubjectSummary, String> {
    match config.device {
        Some(Device::Tlc) => subject::exhaustive::<Lfs48>(config, &bug, crash_at),
        _ => subject::exhaustive::<Lfs16>(config, &bug, crash_at),
    }
}

/// `corrupt --subject littlefs` ([`corrupt_subject`]).
pub fn corrupt(config: &SubjectConfig, points: u32) -> Result<SubjectCorruptSummary, String> {
    match config.device {
        Some(Device::Tlc) => corrupt_subject::<Lfs48>(config, &None, points),
        _ => corrupt_subject::<Lfs16>(config, &None, points),
    }
}

/// `sweep --subject littlefs` ([`subject::sweep`]); with `swarm`, each
/// seed's drawn part decides the block device's pages a block.
pub fn sweep(
    seeds: &[u64],
    ops: usize,
    part: (Option<Device>, bool),
    swarm: bool,
) -> Result<SubjectSummary, String> {
    if !swarm {
        return match part.0 {
            Some(Device::Tlc) => subject::sweep::<Lfs48>(seeds, ops, part, false),
            _ => subject::sweep::<Lfs16>(seeds, ops, part, false),
        };
    }
    let (tlc, other): (Vec<u64>, Vec<u64>) = seeds
        .iter()
        .partition(|&&seed| subject::draw::<Lfs16>(seed, ops).device == Some(Device::Tlc));
    let mut total = subject::sweep::<Lfs16>(&other, ops, part, true)?;
    total.add(&subject::sweep::<Lfs48>(&tlc, ops, part, true)?);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nand::CrashMode;

    fn config(device: Option<Device>, mode: CrashMode) -> SubjectConfig {
        SubjectConfig {
            seed: 3,
            ops: 60,
            device,
            mode,
            ecc: true,
            fail_ops: false,
            bad_blocks: Vec::new(),
            depth: 1,
            then_crash_at: None,
            then_fail_at: None,
            io_errors: false,
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
            let summary = exhaustive(&config(device, mode), None, None).unwrap();
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
            let torn = exhaustive(&config(Some(device), CrashMode::Torn), None, None).unwrap();
            assert!(torn.failures > 0 && torn.silent > 0, "{device:?}: {torn:?}");
            assert!(torn.paired_pages_corrupted > 0, "{device:?}: {torn:?}");
            let dropped =
                exhaustive(&config(Some(device), CrashMode::DropUnsynced), None, None).unwrap();
            assert_eq!(dropped.failures, 0, "{device:?}: {:?}", dropped.replay);
            assert_eq!(dropped.crash_points, torn.crash_points);
        }
    }

    /// A sweep runs a workload a seed, its modes drawn, each at a sampled
    /// eighth of its crash points: on SLC nothing is lost, on MLC the
    /// paired pages cost files again, and every failure names its replay.
    #[test]
    fn a_sweep_samples_crash_points_across_seeds() {
        let clean = sweep(&[0, 1, 2, 3], 60, (Some(Device::Slc), true), false).unwrap();
        assert!(clean.crash_points > 50, "{clean:?}");
        assert_eq!(clean.failures, 0, "{:?}", clean.replay);
        let every: u64 = (0..4u64)
            .map(|seed| {
                let mode = CrashMode::ALL[(seed % 3) as usize];
                let one = SubjectConfig {
                    seed,
                    ..config(Some(Device::Slc), mode)
                };
                exhaustive(&one, None, None).unwrap().crash_points
            })
            .sum();
        assert!(
            clean.crash_points * 4 < every,
            "a sample: {} of {every}",
            clean.crash_points
        );
        let paired = sweep(&[2, 5, 8, 11], 60, (Some(Device::Mlc), true), false).unwrap();
        assert!(paired.failures > 0, "torn seeds on mlc: {paired:?}");
        assert!(
            paired.replay[0].contains("--mode torn"),
            "{}",
            paired.replay[0]
        );
    }

    /// With every program and erase failed in turn (power on), littlefs
    /// relocates (most) or refuses the operation, and serves what it
    /// acknowledged, across a remount too. An adapter that answers a
    /// failed program as done is absorbed by littlefs's own read-back of
    /// every program; one that answers a block gone bad as an I/O error
    /// turns every failure into a refused operation (littlefs relocates on
    /// corruption only), and the campaign's refusals say so.
    #[test]
    fn failed_programs_are_relocated_and_adapter_bugs_show() {
        let failing = SubjectConfig {
            fail_ops: true,
            ..config(None, CrashMode::DropUnsynced)
        };
        let summary = exhaustive(&failing, None, None).unwrap();
        assert_eq!(summary.ops_failed, summary.crash_points, "{summary:?}");
        assert!(summary.ops_failed > 100, "{summary:?}");
        assert_eq!(summary.failures, 0, "{:?}", summary.replay);
        assert!(summary.refused * 4 < summary.ops_failed, "{summary:?}");
        // A host I/O error: littlefs returns it, and keeps every file.
        let io = SubjectConfig {
            fail_ops: false,
            io_errors: true,
            ..failing.clone()
        };
        let summary = exhaustive(&io, None, None).unwrap();
        assert_eq!(summary.failures, 0, "{:?}", summary.replay);
        assert_eq!(summary.refused, summary.ops_failed, "{summary:?}");
        let swallowed = exhaustive(&failing, Some(AdapterBug::FailureSwallowed), None).unwrap();
        assert_eq!(swallowed.failures, 0, "{:?}", swallowed.replay);
        let as_io = exhaustive(&failing, Some(AdapterBug::FailureAsIo), None).unwrap();
        assert_eq!(as_io.refused, as_io.ops_failed, "{as_io:?}");
        assert_eq!(
            as_io.refusals.keys().collect::<Vec<_>>(),
            ["LFS_ERR_IO (-5)"]
        );
    }

    /// One fault on one page: littlefs keeps no checksum of file data and
    /// falls back to the other block of a metadata pair when a commit
    /// fails its CRC, so a single damaged page can serve other contents
    /// without a word; at the ECC's limit most pages still read whole.
    #[test]
    fn one_damaged_page_can_cost_littlefs_silently() {
        let summary = corrupt(&config(Some(Device::Mlc), CrashMode::DropUnsynced), 3).unwrap();
        assert!(summary.placements > 500, "{summary:?}");
        assert!(summary.silent > 0, "{summary:?}");
        // The part's own raw errors come on top of the t placed.
        let [kept, named, silent] = summary.by_fault["AtEcc"];
        assert!(kept > 50 * (named + silent).max(1), "{summary:?}");
    }

    /// On drawn configurations (part, raw pages, mode, failing programs,
    /// factory-bad blocks, I/O errors, depth 2), littlefs loses closed
    /// files only where its guarantee does not reach: torn programs (on
    /// paired pages; at depth 2 its retry programs a torn page again), or
    /// pages without an ECC under the part's bit errors; a part whose bad
    /// blocks take its superblocks is counted unformattable.
    #[test]
    fn on_drawn_parts_littlefs_fails_only_on_torn_pairs_or_raw_pages() {
        let seeds: Vec<u64> = (0..60).collect();
        let summary = sweep(&seeds, 60, (None, true), true).unwrap();
        assert!(
            summary.crash_points > 500 && summary.ops_failed > 100,
            "{summary:?}"
        );
        assert!(summary.failures > 0, "{summary:?}");
        for replay in &summary.replay {
            assert!(
                replay.contains("--mode torn") || replay.contains("--no-ecc"),
                "{replay}"
            );
        }
    }

    /// At depth 2 (the retry after each recovered cut cut in turn): cuts
    /// that drop what was not synced, littlefs recovers from twice over;
    /// after a torn program, littlefs's retry programs the page the cut
    /// had begun to program, again without an erase, which NAND forbids:
    /// the device refuses it, and the campaign says so.
    #[test]
    fn after_a_torn_program_littlefs_programs_the_page_again() {
        let ideal = SubjectConfig {
            depth: 2,
            ..config(None, CrashMode::DropUnsynced)
        };
        let summary = exhaustive(&ideal, None, None).unwrap();
        assert!(
            summary.crash_points_depth2 > summary.crash_points,
            "{summary:?}"
        );
        assert_eq!(summary.failures, 0, "{:?}", summary.replay);
        let slc = SubjectConfig {
            depth: 2,
            ..config(Some(Device::Slc), CrashMode::Torn)
        };
        let summary = exhaustive(&slc, None, None).unwrap();
        assert!(summary.rule_violations > 0, "{summary:?}");
        let replay = summary
            .replay
            .iter()
            .find(|r| r.contains("programmed twice"))
            .expect("a violation named");
        assert!(replay.contains("--depth 2"), "{replay}");
        // A failure at the second level replays alone.
        let mlc = SubjectConfig {
            depth: 2,
            ..config(Some(Device::Mlc), CrashMode::Torn)
        };
        let summary = exhaustive(&mlc, None, None).unwrap();
        let replay = summary
            .replay
            .iter()
            .find(|r| r.contains("--then-crash-at"))
            .expect("a second-level failure");
        let number = |flag: &str| -> u64 {
            let rest = replay.rsplit(flag).next().unwrap();
            rest.split_whitespace().next().unwrap().parse().unwrap()
        };
        let one = SubjectConfig {
            then_crash_at: Some(number("--then-crash-at ")),
            then_fail_at: None,
            ..mlc
        };
        let again = exhaustive(&one, None, Some(number("--crash-at "))).unwrap();
        assert_eq!((again.crash_points, again.crash_points_depth2), (1, 1));
        assert_eq!(again.failures, 1, "{again:?}");
    }

    /// The adapter that never makes programs durable loses closed files
    /// at a cut: the campaign says so, with the command that replays it.
    #[test]
    fn an_adapter_without_sync_is_caught() {
        let planted = config(None, CrashMode::DropUnsynced);
        let bug = Some(AdapterBug::NoSync);
        let summary = exhaustive(&planted, bug, None).unwrap();
        assert!(summary.failures > 0, "{summary:?}");
        assert!(summary.replay[0].contains("--subject littlefs"));
        assert!(summary.replay[0].contains("--adapter-bug no-sync"));
        // A replay of one failing point fails alone.
        let point: u64 = summary.replay[0]
            .rsplit("--crash-at ")
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let again = exhaustive(&planted, bug, Some(point)).unwrap();
        assert_eq!((again.crash_points, again.failures), (1, 1));
    }
}
