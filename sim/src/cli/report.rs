//! The `report` command: every campaign, written to `reports/README.md`
//! with its plots.

use std::path::PathBuf;

use logstore_sim::report::{self, ReportSize};

use super::args::{emit, print_lines};

/// Run the campaigns and write reports/README.md with SVG plots.
///
/// Default size takes about three and a half minutes and under 700 MB on 2 cores; --quick takes
/// seconds, --full much longer. Figures other than timings are
/// deterministic.
///
/// With --from DIR it runs nothing: it lays out the campaign results in
/// DIR (the JSON files `merge` writes from shards run on many machines,
/// or `sweep --json`'s) as DIR/README.md.
#[derive(clap::Args, Debug)]
pub(crate) struct ReportArgs {
    /// Smaller campaigns, for a quick look or CI.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Larger campaigns.
    #[arg(long)]
    full: bool,
    /// Lay out the results in this folder instead of running campaigns.
    #[arg(long, conflicts_with_all = ["quick", "full"])]
    from: Option<PathBuf>,
    /// Folder the report is written to (default: reports, or the --from
    /// folder).
    #[arg(long)]
    out: Option<PathBuf>,
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
    if let Some(from) = &args.from {
        let out = args.out.as_ref().unwrap_or(from);
        let summary = report::write_from(from, out)?;
        if args.json {
            emit(true, &summary)?;
        } else {
            print_lines(&merged_lines(&summary))?;
        }
        return Ok(summary["failures"].as_u64() == Some(0));
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports"));
    let summary = report::write(size, &out)?;
    if args.json {
        emit(true, &summary)?;
    } else {
        print_lines(&report::summary_lines(&summary))?;
    }
    Ok(summary["failures"].as_u64() == Some(0))
}

/// The terminal's lines for `report --from`: where, each campaign, what
/// was skipped.
fn merged_lines(summary: &serde_json::Value) -> Vec<String> {
    let mut lines = vec![format!(
        "report written to {}",
        summary["report"].as_str().unwrap_or("?")
    )];
    for campaign in summary["campaigns"].as_array().into_iter().flatten() {
        let shards = campaign["shards"].as_u64().unwrap_or(1);
        lines.push(format!(
            "  {} ({shards} shard{}): {} runs, {} failures",
            campaign["command"].as_str().unwrap_or("?"),
            if shards == 1 { "" } else { "s" },
            campaign["runs"],
            campaign["failures"]
        ));
    }
    for skipped in summary["skipped"].as_array().into_iter().flatten() {
        lines.push(format!("  skipped {}", skipped.as_str().unwrap_or("?")));
    }
    lines
}
