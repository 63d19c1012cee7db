//! The `logstore-sim` command line: simulations, campaigns and reports.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use logstore_sim::devcheck::{devcheck, devcheck_geometry, DevcheckRun};
use logstore_sim::CrashMode;

/// Deterministic simulation harness for a flash-resident deduplication index.
///
/// Every run is fixed by its seeds: the same command prints the same figures
/// and, on failure, the one command that replays it.
#[derive(Parser)]
#[command(name = "logstore-sim", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the campaigns and write the report (markdown) under --out.
    ///
    /// Today the report holds the device self-check: a log written to the
    /// simulated NAND, power cut at a random operation in each crash mode,
    /// every synced page read back.
    Report {
        /// Smaller campaigns (seconds), for a quick look or CI.
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Larger campaigns (minutes).
        #[arg(long)]
        full: bool,
        /// Folder the report is written to.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Device self-check over a range of seeds: write, cut power, verify.
    ///
    /// Example: `logstore-sim devcheck --seeds 0..1000 --ops 2000 --mode torn`
    Devcheck {
        /// Seeds to run, as A..B (B excluded).
        #[arg(long, default_value = "0..100", value_parser = parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Page programs a run attempts before the power cut.
        #[arg(long, default_value_t = 2_000)]
        ops: u64,
        /// Crash mode, or all of them.
        #[arg(long, value_enum, default_value_t = ModeArg::All)]
        mode: ModeArg,
        /// Print the figures as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Drop,
    Reorder,
    Torn,
    All,
}

impl ModeArg {
    fn modes(self) -> Vec<CrashMode> {
        match self {
            ModeArg::Drop => vec![CrashMode::DropUnsynced],
            ModeArg::Reorder => vec![CrashMode::Reorder],
            ModeArg::Torn => vec![CrashMode::Torn],
            ModeArg::All => CrashMode::ALL.to_vec(),
        }
    }
}

fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {text:?}"))?;
    let a: u64 = a.trim().parse().map_err(|e| format!("start {a:?}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("end {b:?}: {e}"))?;
    if a >= b {
        return Err(format!("empty range {a}..{b}: the end is excluded"));
    }
    Ok(a..b)
}

/// Figures of a device self-check campaign.
#[derive(serde::Serialize)]
struct DevcheckSummary {
    runs: u64,
    crash_points: u64,
    pages_synced: u64,
    pages_lost: u64,
    failures: Vec<String>,
    device_time_ns: u64,
}

fn run_devcheck(
    seeds: std::ops::Range<u64>,
    ops: u64,
    modes: &[CrashMode],
) -> Result<DevcheckSummary, String> {
    let mut summary = DevcheckSummary {
        runs: 0,
        crash_points: 0,
        pages_synced: 0,
        pages_lost: 0,
        failures: Vec::new(),
        device_time_ns: 0,
    };
    for seed in seeds {
        for &mode in modes {
            let run: DevcheckRun =
                devcheck(seed, mode, ops).map_err(|e| format!("seed {seed}: {e}"))?;
            summary.runs += 1;
            summary.crash_points += run.counters.power_cuts;
            summary.pages_synced += run.pages_synced;
            summary.pages_lost += run.pages_lost;
            summary.device_time_ns += run.counters.device_time_ns;
            if run.pages_lost > 0 {
                summary.failures.push(format!(
                    "cargo run --release -- devcheck --seeds {seed}..{} --ops {ops} --mode {}",
                    seed + 1,
                    mode.name()
                ));
            }
        }
    }
    Ok(summary)
}

fn print_summary(summary: &DevcheckSummary, json: bool) {
    if json {
        println!("{}", serde_json::to_string(summary).expect("serializable"));
        return;
    }
    println!("runs            {}", summary.runs);
    println!("crash points    {}", summary.crash_points);
    println!("pages synced    {}", summary.pages_synced);
    println!("pages lost      {}", summary.pages_lost);
    println!(
        "device time     {:.1} s",
        summary.device_time_ns as f64 / 1e9
    );
    for failure in &summary.failures {
        println!("FAILED, replay: {failure}");
    }
}

fn write_report(
    out: &std::path::Path,
    summary: &DevcheckSummary,
    command: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let g = devcheck_geometry();
    let text = format!(
        "# logstore report\n\n\
         Made by `{command}`. Deterministic: the same command writes the same figures.\n\n\
         ## Device self-check\n\n\
         A circular log on a simulated NAND device ({} blocks of {} pages of {} bytes), \
         synced every 1 to 8 pages, power cut at a random operation, restarted, every synced page read back; \
         once per seed in each crash mode (drop, reorder, torn).\n\n\
         | runs | crash points | pages synced | pages lost | simulated device time |\n\
         |---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {:.1} s |\n",
        g.blocks,
        g.pages_per_block,
        g.page_bytes,
        summary.runs,
        summary.crash_points,
        summary.pages_synced,
        summary.pages_lost,
        summary.device_time_ns as f64 / 1e9,
    );
    std::fs::write(out.join("README.md"), text)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Report {
            quick,
            full,
            out,
            json,
        } => {
            let (seeds, flag) = match (quick, full) {
                (true, _) => (200, " --quick"),
                (_, true) => (20_000, " --full"),
                _ => (2_000, ""),
            };
            run_devcheck(0..seeds, 2_000, &CrashMode::ALL).and_then(|summary| {
                print_summary(&summary, json);
                let command = format!("cargo run --release -- report{flag}");
                write_report(&out, &summary, &command)
                    .map_err(|e| format!("writing {}: {e}", out.display()))?;
                Ok(summary.failures.is_empty())
            })
        }
        Command::Devcheck {
            seeds,
            ops,
            mode,
            json,
        } => run_devcheck(seeds, ops, &mode.modes()).map(|summary| {
            print_summary(&summary, json);
            summary.failures.is_empty()
        }),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
