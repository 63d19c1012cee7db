//! The report's end-of-life section: each preset worn until the store goes
//! read-only, in each wear-out mode; endurance used, entries lost, retired
//! blocks, erases a reopen, and the erase counts at the end with the
//! anchor's lanes marked. It lays out what [`crate::measure::wear`] measures.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use rayon::prelude::*;
use serde_json::json;

use super::{Section, Sizes};
use crate::measure::wear::{wear, WearConfig, WearReport};
use crate::nand::{Device, WearOut};
use crate::report::plot::bar_chart;

const MODES: [(WearOut, &str); 3] = [
    (WearOut::EraseFails, "erase-fails"),
    (WearOut::ProgramFails, "program-fails"),
    (WearOut::SilentNoop, "silent"),
];

pub(super) fn section(sizes: &Sizes, out: &Path, bar: &ProgressBar) -> Result<Section, String> {
    bar.set_message("end of life");
    let endurance = sizes.eol_endurance;
    let runs: Vec<(Device, usize)> = Device::ALL
        .iter()
        .flat_map(|&d| (0..MODES.len()).map(move |m| (d, m)))
        .collect();
    let reports: Vec<WearReport> = runs
        .par_iter()
        .map(|&(device, mode)| wear(&config(device, MODES[mode].0, endurance), &|_| {}))
        .collect::<Result<_, _>>()?;
    let mut md = String::from("## Wear to the end of life\n\n");
    let _ = writeln!(
        md,
        "Each preset (small geometry: 128 blocks of 512-byte pages, its factory-bad blocks, bit errors and endurance spread) takes new hashes, \
         a flush every 16, until the store goes read-only; blocks endure {} P/E cycles on average here (to keep the report short; \
         `cargo run --release -- wear --device mlc --until-end-of-life --wear-out silent` runs the part's own 3,000). \
         Then power is cut, the store reopens and every flushed entry is compared with the model. \
         **Endurance used**: the mean erase count at read-only over rated endurance. Goal: 0 lost, at least 0.95 used, in every mode.\n",
        endurance
    );
    md.push_str("| preset | wear-out | inserts | endurance used | lost / stale / resurrected | audit | blocks retired | erases a reopen (max) | erase count drift (max) |\n|---|---|---:|---:|---:|---|---:|---:|---:|\n");
    let mut rows = Vec::new();
    let (mut lost, mut used_min) = (0u64, f64::INFINITY);
    for (&(device, mode), report) in runs.iter().zip(&reports) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.3} | {} / {} / {} | {} | {} | {} | {} |",
            device.name(),
            MODES[mode].1,
            report.ops_done,
            report.endurance_used,
            report.lost_flushed,
            report.stale,
            report.resurrected,
            report
                .audit_failed
                .as_deref()
                .map_or("passed", |_| "FAILED"),
            report.bad_blocks_retired,
            report.erases_per_reopen_max,
            report.erase_count_drift_max
        );
        lost += report.lost_flushed + report.stale + report.resurrected;
        lost += u64::from(report.audit_failed.is_some() || report.broken.is_some());
        used_min = used_min.min(report.endurance_used);
        rows.push(json!({
            "device": device.name(), "wear_out": MODES[mode].1, "inserts": report.ops_done,
            "endurance_used": report.endurance_used, "lost_flushed": report.lost_flushed,
            "stale": report.stale, "resurrected": report.resurrected,
            "audit_failed": report.audit_failed, "bad_blocks_retired": report.bad_blocks_retired,
            "erases_per_reopen_max": report.erases_per_reopen_max,
        }));
    }
    md.push('\n');
    md.push_str(&histogram(out, &reports[3], endurance)?);
    Ok(Section {
        markdown: md,
        figures: json!({ "runs": rows, "lost": lost, "endurance_used_min": used_min }),
        headline: format!(
            "9 runs to read-only (3 presets × 3 wear-out modes): {lost} lost, endurance used ≥ {used_min:.3}"
        ),
    })
}

/// A wear run of `device` to the end of life, blocks enduring `endurance`.
fn config(device: Device, wear_out: WearOut, endurance: u32) -> WearConfig {
    let mut config = WearConfig::new(0, endurance, 16).on_device(device);
    // Each preset its own device seed: its own factory-bad blocks and
    // endurance spread.
    config.seed = Device::ALL.iter().position(|&d| d == device).unwrap_or(0) as u64;
    config.wear_out = wear_out;
    config.until_end_of_life = true;
    config
}

/// The erase counts of the MLC erase-fails run at its end, the anchor's
/// lanes named.
fn histogram(out: &Path, report: &WearReport, endurance: u32) -> Result<String, String> {
    let counts = &report.erase_counts;
    let mut bins = std::collections::BTreeMap::new();
    let width = (endurance / 20).max(1);
    for &count in counts {
        *bins.entry(count / width * width).or_insert(0u32) += 1;
    }
    let bars: Vec<(u32, u32)> = bins.into_iter().collect();
    bar_chart(
        &out.join("end_of_life_histogram.svg"),
        "Erase count per block at read-only (mlc, erase-fails)",
        "erase count",
        "blocks",
        &bars,
    )?;
    let lanes: Vec<String> = report
        .anchor_lanes
        .iter()
        .map(|&b| {
            format!(
                "block {b} at {}",
                counts.get(b as usize).copied().unwrap_or(0)
            )
        })
        .collect();
    Ok(format!(
        "![erase counts at end of life](end_of_life_histogram.svg)\n\n\
         Erase counts of the MLC erase-fails run when it went read-only, in bins of {width}. \
         The anchor's lanes then: {} (mean {:.1}): the anchor wears like any block, no block is fixed.\n",
        if lanes.is_empty() { "none".to_string() } else { lanes.join(", ") },
        report.erase_mean
    ))
}
