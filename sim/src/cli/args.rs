//! What several commands share: the flattened argument groups (the part,
//! its pairing, the output form), the value enums, the parsers that bound
//! every size and count before anything is allocated, and the output of
//! figures and failures.

use std::path::Path;

use clap::ValueEnum;
use logstore::{Pairing, SlotLayoutKind};
use logstore_sim::campaign::{self, Case};
use logstore_sim::nand::{pairing_by_name, WearOut};
use logstore_sim::{CrashMode, Device};

/// The form of a command's figures.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(crate) struct Output {
    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The size of the store `ingest` fills: small enough, a real tree
/// freezes and evicts.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(crate) struct IngestStoreArgs {
    /// The log store holds 2^order buckets of 4 slots (14: 65,536 slots);
    /// it freezes into an incarnation when full.
    #[arg(long, default_value_t = 14)]
    pub(crate) order: u32,
    /// Most incarnations kept; past it a freeze stops the ingest, or with
    /// --evict-oldest drops the oldest (its clusters are then missed).
    #[arg(long, default_value_t = 24)]
    pub(crate) incarnations_max: u32,
    /// Drop the oldest incarnation when a freeze would pass the limit.
    #[arg(long)]
    pub(crate) evict_oldest: bool,
}

/// The simulated part a command runs on.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct PartArgs {
    /// A simulated part: its geometry or its small geometry (512-byte pages
    /// of the same technology, for campaigns), ECC, endurance (spread
    /// between blocks), latencies, raw bit errors and factory-bad blocks.
    /// Campaigns age it as the seed says. Default: an ideal device that
    /// never flips a bit.
    #[arg(long, value_enum)]
    pub(crate) device: Option<Device>,
    /// Blocks marked bad at manufacture, e.g. `0,1`, besides those the
    /// part's own factory marks give.
    #[arg(long, value_delimiter = ',')]
    pub(crate) bad_blocks: Vec<u32>,
}

/// A part that declares one pairing scheme while its cells follow
/// another. Schemes: none, dist3 (Linux's, the mlc preset's), dist5 (a
/// wider distance), mlc-lead1 to mlc-lead8, tlc (the tlc preset's), tlc2 (a
/// second TLC order). Recorded in saved cases, so `replay` runs the same.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub(crate) struct PairingArgs {
    /// How the cells really pair their pages: torn programs damage pages
    /// as this scheme pairs them. Default: the part's own (or as declared).
    #[arg(long, value_parser = pairing_by_name)]
    pub(crate) pairing_physical: Option<Pairing>,
    /// The pairing the part declares to the store. Default: the part's own.
    #[arg(long, value_parser = pairing_by_name)]
    pub(crate) declared_pairing: Option<Pairing>,
}

impl PairingArgs {
    /// The campaign part: `part`'s device and bad blocks, these schemes;
    /// checked.
    pub(crate) fn part(self, part: &PartArgs) -> Result<campaign::Part, String> {
        let on = campaign::Part {
            device: part.device,
            bad_blocks: part.bad_blocks.clone(),
            pairing_physical: self.pairing_physical,
            declared_pairing: self.declared_pairing,
        };
        on.check()?;
        Ok(on)
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum WearOutArg {
    /// Erasing a worn block fails (the block is retired).
    EraseFails,
    /// Programming a worn block fails.
    ProgramFails,
    /// A worn block takes programs and erases and keeps nothing.
    Silent,
}

impl WearOutArg {
    pub(crate) fn wear_out(self) -> WearOut {
        match self {
            WearOutArg::EraseFails => WearOut::EraseFails,
            WearOutArg::ProgramFails => WearOut::ProgramFails,
            WearOutArg::Silent => WearOut::SilentNoop,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ModeArg {
    Drop,
    Reorder,
    Torn,
    All,
}

impl ModeArg {
    pub(crate) fn modes(self) -> Vec<CrashMode> {
        match self {
            ModeArg::Drop => vec![CrashMode::DropUnsynced],
            ModeArg::Reorder => vec![CrashMode::Reorder],
            ModeArg::Torn => vec![CrashMode::Torn],
            ModeArg::All => CrashMode::ALL.to_vec(),
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LayoutArg {
    /// Whole hashes and values in RAM.
    Full,
    /// Tags and journal positions in RAM (SILT-style), 5 bytes a slot.
    Compact,
}

impl LayoutArg {
    pub(crate) fn kind(self) -> SlotLayoutKind {
        match self {
            LayoutArg::Full => SlotLayoutKind::Full,
            LayoutArg::Compact => SlotLayoutKind::Compact,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum PolicyArg {
    RandomWalk,
    Bfs,
    Fixed,
}

pub(crate) fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {text:?}"))?;
    let a: u64 = a.trim().parse().map_err(|e| format!("start {a:?}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("end {b:?}: {e}"))?;
    if a >= b {
        return Err(format!("empty range {a}..{b}: the end is excluded"));
    }
    if b - a > SEEDS_MAX {
        return Err(format!(
            "{} seeds: at most {SEEDS_MAX} a command (split the range, or use --shard)",
            b - a
        ));
    }
    Ok(a..b)
}

/// Most seeds one command runs (a range, or `fill --seeds`): ten million
/// seeds is a day of sweeping on one core.
pub(crate) const SEEDS_MAX: u64 = 10_000_000;

/// `--jobs`: at least one worker, at most one a core of this machine.
pub(crate) fn parse_jobs(text: &str) -> Result<usize, String> {
    let jobs: usize = text.trim().parse().map_err(|e| format!("{text:?}: {e}"))?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if jobs == 0 || jobs > cores {
        return Err(format!(
            "{jobs} workers: between 1 and this machine's {cores} cores"
        ));
    }
    Ok(jobs)
}

pub(crate) fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("expected I/N, got {text:?}"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|e| format!("shard index {i:?}: {e}"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|e| format!("shard count {n:?}: {e}"))?;
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// Prints `figures` as one JSON object, or as an aligned table (see
/// [`print_lines`]).
pub(crate) fn emit(json: bool, figures: &serde_json::Value) -> Result<(), String> {
    let mut lines = Vec::new();
    if json {
        lines.push(figures.to_string());
    } else if let Some(map) = figures.as_object() {
        for (key, value) in map {
            let text = match value {
                serde_json::Value::Number(n) if n.is_f64() => {
                    format!("{:.4}", n.as_f64().unwrap_or(0.0))
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(format!("{key:<22} {text}"));
        }
    }
    print_lines(&lines)
}

/// Prints `lines` to stdout. A closed stdout (`| head`) ends the printing
/// quietly; any other write error (`> /dev/full`) is an error, so no
/// figure is lost unsaid.
pub(crate) fn print_lines(lines: &[String]) -> Result<(), String> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = lines
        .iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("writing to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Saves failing cases and prints, for each, what failed and the command
/// that replays it.
pub(crate) fn save_failures(cases: &[Case], folder: &Path, prefix: &str) -> Vec<String> {
    let saved = campaign::save_failures(cases, folder, prefix);
    cases
        .iter()
        .zip(saved)
        .map(|(case, saved)| {
            let replay = saved.unwrap_or_else(|why| why);
            let failure = case
                .failure
                .as_ref()
                .map_or(String::new(), |f| f.to_string());
            eprintln!("FAILED ({failure})\n  replay: {replay}");
            replay
        })
        .collect()
}

/// A swarm draws the part: options naming one are refused, not ignored.
pub(crate) fn no_part_with_swarm(part: &PartArgs, pairing: &PairingArgs) -> Result<(), String> {
    let named = part.device.is_some()
        || !part.bad_blocks.is_empty()
        || pairing.pairing_physical.is_some()
        || pairing.declared_pairing.is_some();
    if named {
        return Err(
            "--swarm draws the device, bad blocks and pairing per seed: \
                    --device, --bad-blocks and the pairing options are not taken with it"
                .into(),
        );
    }
    Ok(())
}
