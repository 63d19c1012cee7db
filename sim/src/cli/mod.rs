//! The command line's schema: one `Args` struct a command, declared once
//! with its help and bounds, beside the function that runs it.
//!
//! | file | owns |
//! |---|---|
//! | `args.rs` | the groups several commands flatten (part, pairing, output), value enums, parsers and bounds, the output of figures |
//! | `campaigns.rs` | `run`, `sweep`, `exhaustive`, `replay` |
//! | `corrupt.rs` | `corrupt` |
//! | `craft.rs` | `craft` |
//! | `measures.rs` | `fill`, `wear`, `lookups`, `ingest` |
//! | `report.rs` | `report` |
//!
//! Adding a flag to a command is one field in its `Args` struct.

mod args;
mod campaigns;
mod corrupt;
mod craft;
mod measures;
mod report;

use clap::{Parser, Subcommand};

/// Deterministic simulation and fuzzing harness for a flash-resident
/// deduplication index (a cuckoo-hash log store, its journal, and hash
/// store incarnations) on a simulated NAND device.
///
/// Every run is fixed by its seeds: the same command prints the same
/// figures (timings aside) and, on failure, the one command that replays
/// it. Every command takes --json for one JSON object of its figures.
#[derive(Parser)]
#[command(name = "logstore-sim", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Report(report::ReportArgs),
    Run(campaigns::RunArgs),
    Sweep(campaigns::SweepArgs),
    Merge(campaigns::MergeArgs),
    Exhaustive(campaigns::ExhaustiveArgs),
    Replay(campaigns::ReplayArgs),
    Fill(measures::FillArgs),
    Wear(measures::WearArgs),
    Corrupt(corrupt::CorruptArgs),
    Craft(craft::CraftArgs),
    Lookups(measures::LookupsArgs),
    Ingest(measures::IngestArgs),
}

impl Cli {
    /// Runs the command: `Ok(true)` if it passed, `Ok(false)` if it found
    /// a failure, `Err` for bad input.
    pub(crate) fn run(self) -> Result<bool, String> {
        match self.command {
            Command::Report(args) => report::report(args),
            Command::Run(args) => campaigns::run(args),
            Command::Sweep(args) => campaigns::sweep(args),
            Command::Merge(args) => campaigns::merge(args),
            Command::Exhaustive(args) => campaigns::exhaustive(args),
            Command::Replay(args) => campaigns::replay(args),
            Command::Fill(args) => measures::fill(args),
            Command::Wear(args) => measures::wear(args),
            Command::Corrupt(args) => corrupt::corrupt(&args),
            Command::Craft(args) => craft::craft(&args),
            Command::Lookups(args) => measures::lookups(args),
            Command::Ingest(args) => measures::ingest(args),
        }
    }
}
