//! The report's wear and write-amplification sections: erase counts
//! over a long ingest, its timeline and histogram, and the write
//! amplification by workload.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::{json, Value};

use super::plot::{bar_chart, line_chart, LineChart, Series};
use crate::measure::wear::{lifetime, wear, WearConfig};
use logstore::testing::format::ENTRY_BYTES;

use super::{Section, Sizes};

pub(super) fn wear_section(sizes: &Sizes, out: &Path, _: &ProgressBar) -> Result<Section, String> {
    let config = WearConfig::new(sizes.wear_ops, 3_000, 16);
    let report = wear(&config, &|_| {})?;
    let blocks = config.geometry.blocks;
    let rate = 1_000.0;
    let life = lifetime(&config, &report, rate);
    let mut md = String::from("## Wear\n\n");
    let _ = writeln!(
        md,
        "{} inserts of new hashes (a flush every 16) into a store on a {}-block device of {}-byte pages, {} a block, \
         with the oldest of 6 incarnations dropped when full so the ingest never stops. Command: `cargo run --release -- wear --ops {} --endurance 3000 --flush-every 16`.\n",
        report.ops_done, blocks, config.geometry.page_bytes, config.geometry.pages_per_block, sizes.wear_ops
    );
    md.push_str("| erase max | erase mean | erase min | max/mean | erases per insert | write amplification | worn blocks |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        md,
        "| {} | {:.2} | {} | {:.3} | {:.5} | {:.2} | {} |\n",
        report.erase_max,
        report.erase_mean,
        report.erase_min,
        life.spread,
        life.erases_per_insert,
        report.write_amplification,
        report.bad_blocks
    );
    let _ = writeln!(
        md,
        "**Lifetime estimate**: endurance × blocks / erases per insert = {} × {} / {:.5} = {:.3e} inserts for this {} KiB device; \
         at {rate} new clusters a second (4 MB/s of unique 4 KiB clusters) that is {:.2} days. \
         The same index given a 1 GiB partition lasts endurance × bytes / (write amplification × {ENTRY_BYTES} bytes an insert × max/mean wear) = {:.3e} inserts, {:.0} days at that rate. \
         Assumptions: MLC endurance of 3,000 P/E cycles, wear spread as measured (max/mean above), every block usable to the end, \
         the partition given to the index alone, and write amplification independent of the partition's size.\n",
        config.endurance_cycles,
        blocks,
        life.erases_per_insert,
        life.device_inserts,
        config.geometry.device_bytes() / 1024,
        life.device_days,
        life.gib_inserts,
        life.gib_days
    );
    let histogram = erase_histogram(&report.erase_counts);
    bar_chart(
        &out.join("wear_histogram.svg"),
        "Erase count per block at the end",
        "erase count",
        "blocks",
        &histogram,
    )?;
    wear_timeline_chart(out, &report)?;
    md.push_str(
        "![erase histogram](wear_histogram.svg)\n\n![erase counts over time](wear_timeline.svg)\n",
    );
    let headline = format!(
        "erase counts max {} / mean {:.1}, write amplification {:.2}, {:.0} days on a 1 GiB partition at 1,000 inserts/s",
        report.erase_max, report.erase_mean, report.write_amplification, life.gib_days
    );
    Ok(Section {
        markdown: md,
        headline,
        figures: json!({
            "erase_max": report.erase_max, "erase_mean": report.erase_mean, "erase_min": report.erase_min,
            "write_amplification": report.write_amplification, "bad_blocks": report.bad_blocks,
            "erases_per_insert": life.erases_per_insert, "lifetime_inserts": life.device_inserts,
            "device_seconds": report.device_seconds,
        }),
    })
}

/// Max, mean and min erase count over the run, as `wear_timeline.svg`.
pub(super) fn wear_timeline_chart(
    out: &Path,
    report: &crate::measure::wear::WearReport,
) -> Result<(), String> {
    let series: Vec<Series> = [("max", 0usize), ("mean", 1), ("min", 2)]
        .iter()
        .map(|&(label, which)| Series {
            label: label.to_string(),
            points: report
                .timeline
                .iter()
                .map(|s| {
                    (
                        s.ops as f64,
                        [f64::from(s.erase_max), s.erase_mean, f64::from(s.erase_min)][which],
                    )
                })
                .collect(),
            reference: false,
        })
        .collect();
    line_chart(
        &out.join("wear_timeline.svg"),
        &LineChart {
            title: "Erase count over the run",
            x_label: "inserts",
            y_label: "erases per block",
            x_log: false,
            y_range: (0.0, f64::from(report.erase_max) * 1.1 + 1.0),
            series,
        },
    )
}

pub(super) fn erase_histogram(counts: &[u32]) -> Vec<(u32, u32)> {
    let mut histogram = std::collections::BTreeMap::new();
    for &count in counts {
        *histogram.entry(count).or_insert(0u32) += 1;
    }
    histogram.into_iter().collect()
}

pub(super) fn wa_section(sizes: &Sizes, out: &Path, _: &ProgressBar) -> Result<Section, String> {
    let intervals = [1u32, 2, 4, 8, 16, 32, 64, 128, 256];
    let mut md = String::from("## Write amplification against flush interval\n\n");
    let _ = writeln!(
        md,
        "Bytes programmed on the device (journal pages, incarnations, anchor) / bytes of journal entries appended ({ENTRY_BYTES} per insert), \
         over {} inserts. A flush programs the partial page, so flushing often wastes most of each page. \
         Command: `cargo run --release -- wear --ops {} --endurance 100000 --flush-every F`.\n",
        sizes.wa_ops, sizes.wa_ops
    );
    md.push_str("| flush every | write amplification |\n|---:|---:|\n");
    let mut points = Vec::new();
    for every in intervals {
        let report = wear(&WearConfig::new(sizes.wa_ops, 100_000, every), &|_| {})?;
        let _ = writeln!(md, "| {every} | {:.2} |", report.write_amplification);
        points.push((f64::from(every), report.write_amplification));
    }
    let y_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    line_chart(
        &out.join("write_amplification.svg"),
        &LineChart {
            title: "Write amplification against flush interval",
            x_label: "inserts per flush",
            y_label: "bytes programmed / bytes appended",
            x_log: true,
            y_range: (0.0, y_max),
            series: vec![Series {
                label: "write amplification".into(),
                points: points.clone(),
                reference: false,
            }],
        },
    )?;
    md.push_str("\n![write amplification](write_amplification.svg)\n");
    let figures: serde_json::Map<String, Value> = points
        .iter()
        .map(|(x, y)| (format!("flush_every_{x}"), json!(y)))
        .collect();
    let at = |every: f64| points.iter().find(|p| p.0 == every).map_or(0.0, |p| p.1);
    let headline = format!(
        "{:.2} flushing after every insert, {:.2} every 16, {:.2} every 256",
        at(1.0),
        at(16.0),
        at(256.0)
    );
    Ok(Section {
        markdown: md,
        figures: Value::Object(figures),
        headline,
    })
}
