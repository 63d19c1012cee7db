//! The `craft` command: crafted header fields placed on purpose.

use logstore_sim::campaign::crafted::{craft as run_craft, run_one, CraftPlan, Placement};
use logstore_sim::campaign::progress_bar;

use super::args::{print_lines, Output};

/// Crafted headers (a bad image, placed on purpose): every 2-, 4- and
/// 8-byte field in the first --field-bytes bytes of every programmed page
/// of the `image` fuzz target's four seed stores set to 0, 1, its top
/// bit, all ones but one and all ones, checksums fixed; each also with
/// the page before made unreadable (recovery then looks past it), and,
/// where the page has identical copies (the anchor's record in its other
/// lanes), with every copy crafted alike. Each image is opened as the
/// `image` target opens it: a typed error or a consistent store, its
/// journal read back at every position. A panic fails the run (exit 1)
/// and prints the command that replays the placement alone.
///
/// Example: `logstore-sim craft --field-bytes 72 --json`
#[derive(clap::Args, Debug)]
pub(crate) struct CraftArgs {
    /// Craft the fields lying in the first this many bytes of each page
    /// (8 to 256, the image device's page; headers end by byte 48 but
    /// the anchor record's later fields; the default reaches the first
    /// bucket slot's filter tag).
    #[arg(long, default_value_t = logstore_sim::campaign::crafted::FIELD_BYTES_DEFAULT)]
    field_bytes: usize,
    /// Replay one placement: this seed store (0 to 3) ...
    #[arg(long, requires_all = ["at", "width", "value"])]
    store: Option<usize>,
    /// ... this byte of its image ...
    #[arg(long, requires = "store")]
    at: Option<usize>,
    /// ... a field of this many bytes (2, 4 or 8) ...
    #[arg(long, requires = "store")]
    width: Option<usize>,
    /// ... set to this value (decimal or 0x hex) ...
    #[arg(long, requires = "store", value_parser = parse_value)]
    value: Option<u64>,
    /// ... with the page before broken ...
    #[arg(long, requires = "store")]
    previous_broken: bool,
    /// ... and every identical copy of the page crafted alike.
    #[arg(long, requires = "store")]
    alike: bool,
    #[command(flatten)]
    output: Output,
}

fn parse_value(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("{text}: a number (decimal, or hex after 0x): {e}"))
}

pub(crate) fn craft(args: &CraftArgs) -> Result<bool, String> {
    if let (Some(store), Some(at), Some(width), Some(value)) =
        (args.store, args.at, args.width, args.value)
    {
        let placement = Placement {
            store,
            at,
            width,
            value,
            previous_broken: args.previous_broken,
            alike: args.alike,
        };
        return replay(&placement, args.output.json);
    }
    let plan = CraftPlan {
        field_bytes: args.field_bytes,
    };
    let total = logstore_sim::campaign::crafted::placements(&plan)?
        .1
        .placements;
    let bar = progress_bar(total, "crafted images");
    let summary = run_craft(&plan, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    if args.output.json {
        print_lines(&[serde_json::to_string(&summary).map_err(|e| e.to_string())?])?;
    } else {
        print_lines(&[format!(
            "craft: {} seed stores, {} programmed pages, {} placements ({} with the page before broken, {} crafted alike in every copy): {} failures, {:.1} s",
            summary.stores,
            summary.pages_programmed,
            summary.placements,
            summary.previous_broken,
            summary.alike,
            summary.failures.len(),
            summary.seconds
        )])?;
    }
    for failure in &summary.failures {
        eprintln!("FAILED: {failure}");
    }
    Ok(summary.failures.is_empty())
}

fn replay(placement: &Placement, json: bool) -> Result<bool, String> {
    let seeds = logstore_sim::campaign::crafted::seed_stores();
    placement.image(&seeds)?;
    let outcome = run_one(placement, &seeds);
    let line = match (&outcome, json) {
        (_, true) => serde_json::json!({
            "placement": placement, "failure": outcome.as_ref().err(),
        })
        .to_string(),
        (Ok(()), false) => format!("craft: {placement:?}: opened or refused cleanly"),
        (Err(failure), false) => format!("craft: FAILED: {failure}"),
    };
    print_lines(&[line])?;
    Ok(outcome.is_ok())
}
