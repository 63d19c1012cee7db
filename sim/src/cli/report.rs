//! The `report` command: every campaign, written to `reports/README.md`
//! with its plots.

use std::path::PathBuf;

use logstore_sim::report::{self, ReportSize};

use super::args::{emit, print_lines};

/// Run the campaigns and write reports/README.md with SVG plots.
///
/// Default size takes about five minutes and 3 GB on 2 cores; --quick takes
/// seconds, --full much longer. Figures other than timings are
/// deterministic.
#[derive(clap::Args, Debug)]
pub(crate) struct ReportArgs {
    /// Smaller campaigns, for a quick look or CI.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Larger campaigns.
    #[arg(long)]
    full: bool,
    /// Folder the report is written to.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn report(args: ReportArgs) -> Result<bool, String> {
    let size = match (args.quick, args.full) {
        (true, _) => ReportSize::Quick,
        (_, true) => ReportSize::Full,
        _ => ReportSize::Default,
    };
    let summary = report::write(size, &args.out)?;
    if args.json {
        emit(true, &summary)?;
    } else {
        print_lines(&report::summary_lines(&summary))?;
    }
    Ok(summary["failures"].as_u64() == Some(0))
}
