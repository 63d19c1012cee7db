//! The report: fill, wear, write amplification, crash campaigns, RAM and
//! speed, as `reports/README.md` with SVG plots.
//!
//! Owns the campaign sizes and the layout of the report. Promises: every
//! figure names the command that reproduces it; all figures but the
//! timings (kept between the `timings` markers) are deterministic, so the
//! same size writes the same bytes.

mod bit_errors;
mod corrupt;
mod crashes;
mod end_of_life;
mod fill;
mod frozen_lookups;
mod images;
#[cfg(feature = "littlefs")]
mod littlefs;
mod merged;
mod pairing_cost;
pub(crate) mod plot;
mod ram;
mod sizes;
mod swarm;
mod timings;
mod wear;

use std::path::Path;

use indicatif::ProgressBar;
use serde_json::{json, Value};

use crate::campaign::progress_bar;

pub use merged::write_from;
pub use sizes::ReportSize;
use sizes::Sizes;

/// A section: its markdown, its figures for `--json`, and its headline
/// figure in one line for the terminal.
struct Section {
    markdown: String,
    figures: Value,
    headline: String,
}

/// Runs every campaign, writes `out/README.md` and the SVGs, and returns a
/// summary (with `failures`, which must be 0).
pub fn write(size: ReportSize, out: &Path) -> Result<Value, String> {
    let sizes = Sizes::of(size);
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let features = if cfg!(feature = "littlefs") {
        " --features littlefs"
    } else {
        ""
    };
    let command = format!("cargo run --release{features} -- report{}", sizes.flag);
    let bar = progress_bar(section_list().len() as u64, "report");
    let mut sections = Vec::new();
    let mut section_seconds = serde_json::Map::new();
    for (name, run) in section_list() {
        bar.set_message(name);
        let start = std::time::Instant::now();
        sections.push(run(&sizes, out, &bar)?);
        section_seconds.insert(name.to_string(), json!(start.elapsed().as_secs_f64()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut text = format!(
        "# logstore report\n\n\
         Written by `{command}` (about four minutes on 2 cores; `--quick` takes seconds, `--full` much longer). \
         Every figure below but the timings is deterministic: the same command writes the same bytes. \
         Each figure names the command that reproduces it alone.\n\n"
    );
    let mut figures = serde_json::Map::new();
    let mut headlines = serde_json::Map::new();
    for ((name, _), section) in section_list().iter().zip(sections) {
        text.push_str(&section.markdown);
        text.push('\n');
        figures.insert(name.to_string(), section.figures);
        headlines.insert(name.to_string(), json!(section.headline));
    }
    let path = out.join("README.md");
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let failures = [
        &figures["crash"]["failures"],
        &figures["bit_errors"]["silent_within_ecc"],
        &figures["end_of_life"]["lost"],
        &figures["paired_pages"]["failures"],
        &figures["swarm"]["failures"],
        &figures["corrupt"]["failures"],
    ]
    .iter()
    .map(|f| f.as_u64().unwrap_or(u64::MAX))
    .fold(0u64, u64::saturating_add)
    // The index through the seam beside littlefs (a build with it).
    .saturating_add(
        figures
            .get("littlefs")
            .map_or(0, |l| l["logstore_failures"].as_u64().unwrap_or(u64::MAX)),
    );
    Ok(json!({
        "report": path.display().to_string(), "failures": failures,
        "headlines": headlines, "sections": figures,
        "section_seconds": section_seconds,
    }))
}

/// The summary a terminal gets: where the report is, each section's
/// headline, the failures. Every line is short.
pub fn summary_lines(summary: &Value) -> Vec<String> {
    let mut lines = vec![format!(
        "report written to {}",
        summary["report"].as_str().unwrap_or("?")
    )];
    for (name, _) in section_list() {
        let line = summary["headlines"][name].as_str().unwrap_or("");
        lines.push(format!("  {:<20} {line}", name.replace('_', " ")));
    }
    lines.push(format!(
        "failures: {}",
        summary["failures"]
            .as_u64()
            .map_or("?".into(), |f| f.to_string())
    ));
    lines
}

type SectionFn = fn(&Sizes, &Path, &ProgressBar) -> Result<Section, String>;

/// The sections in order: littlefs beside logstore only in a build with
/// the `littlefs` feature.
fn section_list() -> Vec<(&'static str, SectionFn)> {
    #[cfg_attr(not(feature = "littlefs"), allow(unused_mut))]
    let mut list = SECTIONS.to_vec();
    #[cfg(feature = "littlefs")]
    list.insert(SECTIONS.len() - 1, ("littlefs", littlefs::section));
    list
}

const SECTIONS: [(&str, SectionFn); 13] = [
    ("fill", fill::fill_section),
    ("crash", crashes::crash_section),
    ("bit_errors", bit_errors::section),
    ("paired_pages", pairing_cost::section),
    ("wear", wear::wear_section),
    ("end_of_life", end_of_life::section),
    ("swarm", swarm::section),
    ("corrupt", corrupt::section),
    ("write_amplification", wear::wa_section),
    ("ram", ram::ram_section),
    ("lookups", frozen_lookups::section),
    ("images", images::section),
    ("speed", timings::speed_section),
];
