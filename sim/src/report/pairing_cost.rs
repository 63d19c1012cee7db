//! The report's paired-page section: crash campaigns on each preset with
//! torn programs damaging their pairs, and what keeping the journal to
//! lower pages costs against a naive layout. It lays out what
//! [`crate::measure::pairing_cost`] and [`crate::campaign`] measure.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;

use super::{Section, Sizes};
use crate::campaign::{self, ExhaustiveSummary, Part};
use crate::check::workload::WorkloadKind;
use crate::measure::pairing_cost::{flush_cost, FlushCost};
use crate::nand::{CrashMode, Device};
use crate::report::plot::{line_chart, LineChart, Series};

const FLUSH_EVERY: [u32; 5] = [1, 4, 16, 64, 256];

pub(super) fn section(sizes: &Sizes, out: &Path, bar: &ProgressBar) -> Result<Section, String> {
    bar.set_message("paired pages");
    let mut md = String::from("## Paired pages (MLC and TLC)\n\n");
    md.push_str(
        "The `mlc` preset pairs its pages as Linux's `dist3_pairing_scheme` (the upper page of a wordline programmed three pages after its lower), \
         `tlc` interleaves lower, middle and upper pages (L0 L1 M0 L2 M1 U0 ...). A program cut in torn mode damages the pages of lower groups on its wordline, \
         synced long before (most of their bits scrambled); in the other modes the program in flight is lost whole. \
         The index writes its journal on every page of a block but those a flush boundary cuts: it passes over (leaves erased) a page whose program, cut short, \
         could damage a page it vouches for (every page an acknowledged flush wrote; for a commit copy, the pages of its own flush too) under any known scheme \
         (none, dist3, dist5, both TLC orders) or the declared one, whatever the part declares: a cut program of the journal never reaches a page it vouched for, \
         even on a part that declares a pairing its cells do not follow. A flush writes the upper pages of the wordlines it opened itself. \
         Incarnations use every page (they are written whole and named only after); the anchor writes each record to its two lanes one after the other, \
         so a cut in one leaves the other whole.\n\n",
    );
    let (crash_md, failures, crash_json) = crash_table(sizes, bar);
    md.push_str(&crash_md);
    let costs = cost_rows(sizes.wa_ops)?;
    md.push_str(&cost_markdown(&costs, sizes.wa_ops));
    chart(out, &costs)?;
    md.push_str("![write amplification, paired layouts](paired_write_amplification.svg)\n");
    Ok(Section {
        markdown: md,
        headline: format!(
            "torn programs damaged pairs at {} crash points on mlc and tlc: {failures} failures",
            crash_json
                .iter()
                .map(|c| c["crash_points_pairs_damaged"].as_u64().unwrap_or(0))
                .sum::<u64>()
        ),
        figures: json!({ "failures": failures, "crash": crash_json, "costs": costs }),
    })
}

/// Exhaustive torn campaigns on each preset, depth 1 and 2.
fn crash_table(sizes: &Sizes, bar: &ProgressBar) -> (String, u64, Vec<serde_json::Value>) {
    let mut md = format!(
        "Exhaustive campaigns, torn mode, every mutating operation of {} steps (uniform workload, eviction on; the part half worn, 90 days unpowered a cut), \
         and at depth 2 on {} steps: `cargo run --release -- exhaustive --ops {} --device <preset> --mode torn [--depth 2]`.\n\n\
         | preset | depth | crash points | crash points where pairs were damaged | pages damaged | failures |\n|---|---:|---:|---:|---:|---:|\n",
        sizes.paired_ops, sizes.paired_depth2_ops, sizes.paired_ops
    );
    let (mut failures, mut rows) = (0, Vec::new());
    for device in Device::ALL {
        for (depth, ops) in [(1, sizes.paired_ops), (2, sizes.paired_depth2_ops)] {
            bar.set_message(format!("paired {} depth {depth}", device.name()));
            let part = Part::on(Some(device));
            let layout = logstore::SlotLayoutKind::Full;
            let case =
                campaign::exhaustive_case(0, ops, WorkloadKind::Uniform, layout, true, &part);
            let summary: ExhaustiveSummary =
                campaign::exhaustive(&case, &[CrashMode::Torn], depth, &ProgressBar::hidden());
            let points = summary.crash_points + summary.crash_points_depth2;
            let _ = writeln!(
                md,
                "| {} | {depth} | {points} | {} | {} | {} |",
                device.name(),
                summary.crash_points_pairs_damaged,
                summary.paired_pages_corrupted,
                summary.failures
            );
            failures += summary.failures;
            rows.push(json!({
                "device": device.name(), "depth": depth, "crash_points": points,
                "crash_points_pairs_damaged": summary.crash_points_pairs_damaged,
                "paired_pages_corrupted": summary.paired_pages_corrupted,
                "failures": summary.failures,
            }));
        }
    }
    md.push('\n');
    (md, failures, rows)
}

/// Each preset at each flush interval.
fn cost_rows(ops: u64) -> Result<Vec<FlushCost>, String> {
    let mut rows = Vec::new();
    for device in Device::ALL {
        for every in FLUSH_EVERY {
            rows.push(flush_cost(device, every, ops)?);
        }
    }
    Ok(rows)
}

fn label(cost: &FlushCost) -> String {
    cost.device.name().into()
}

fn cost_markdown(costs: &[FlushCost], ops: u64) -> String {
    let mut md = format!(
        "What the protection costs, on the same ingest ({ops} inserts; small geometry, 16 pages a block for SLC and MLC, 48 for TLC): \
         write amplification (bytes programmed, spare included, over bytes of entries), erases an insert (a journal of fewer pages packs sooner), \
         device time a flush (a lower page programs in half the nominal time, an upper in one and a half), \
         the journal pages a flush programs (its commit copy included), the share of the journal's pages it programs (the rest it passes over, left erased), \
         and the most any layout safe under the part's own scheme could program at that many pages a flush: blocks are programmed in page order, \
         so each wordline a flush boundary cuts keeps a page never programmed, or the writer pads past the boundary, a page a page; \
         on average over where in a block a boundary falls that is at least {} pages on `mlc`'s 16-page blocks and {} on `tlc`'s 48 (`measure::pairing_cost::boundary_cost`; \
         the commit copy's own cost, and the other schemes the journal guards against, not counted). \
         The journal guards against every known scheme and the declared one (a part may declare a pairing its cells do not follow), so its own bound is the last column: \
         across a boundary each pair of an acknowledged page and a later page whose program may damage it under one of those schemes needs one of the two never programmed, \
         at least a minimum vertex cover of those pairs: {} pages on average on `mlc`, {} on `tlc` (`measure::pairing_cost::boundary_cost_guarded`; the commit copy's cost not counted). \
         No layout that keeps a mis-declared part's cut from damaging an acknowledged page can program a larger share at that many pages a flush. \
         It is a bound only where a flush spans at least twice the widest such pair (5 pages on 16-page blocks, 8 on `tlc`'s 48), so that no page left unprogrammed answers for two boundaries: — elsewhere. The write amplification of a journal on every page, unprotected \
         (the planted `PairingUnaware`), is in `cargo test --release -p logstore-sim --lib pairing_cost -- --nocapture`. \
         `cargo run --release -- wear --ops {ops} --device <preset> --flush-every <n>`.\n\n\
         | preset | flush every | write amplification | erases an insert | device µs a flush (all work over flushes) | journal pages a flush | journal capacity | bound, declared scheme | bound, every scheme guarded |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        bound_of(costs, Device::Mlc, |c| c.boundary_pages_min),
        bound_of(costs, Device::Tlc, |c| c.boundary_pages_min),
        bound_of(costs, Device::Mlc, |c| c.boundary_pages_min_guarded),
        bound_of(costs, Device::Tlc, |c| c.boundary_pages_min_guarded),
    );
    for cost in costs {
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.5} | {:.0} | {:.1} | {:.1}% | {:.1}% | {} |",
            label(cost),
            cost.flush_every,
            cost.write_amplification,
            cost.erases_per_insert,
            cost.device_us_per_flush,
            cost.pages_per_flush,
            100.0 * cost.journal_capacity,
            100.0 * cost.capacity_bound,
            cost.capacity_bound_guarded
                .map_or_else(|| "—".into(), |b| format!("{:.1}%", 100.0 * b))
        );
    }
    md.push('\n');
    md
}

/// A preset's least boundary cost (`pages` of a row), as the rows
/// measured it.
fn bound_of(costs: &[FlushCost], device: Device, pages: fn(&FlushCost) -> f64) -> String {
    costs
        .iter()
        .find(|c| c.device == device)
        .map_or_else(|| "-".into(), |c| format!("{:.2}", pages(c)))
}

fn chart(out: &Path, costs: &[FlushCost]) -> Result<(), String> {
    let mut labels: Vec<String> = costs.iter().map(label).collect();
    labels.dedup();
    let series = labels
        .iter()
        .map(|name| Series {
            label: name.clone(),
            points: costs
                .iter()
                .filter(|c| label(c) == *name)
                .map(|c| (f64::from(c.flush_every), c.write_amplification))
                .collect(),
            reference: false,
        })
        .collect();
    let top = costs
        .iter()
        .map(|c| c.write_amplification)
        .fold(1.0, f64::max);
    line_chart(
        &out.join("paired_write_amplification.svg"),
        &LineChart {
            title: "Write amplification against flush interval",
            x_label: "inserts a flush",
            y_label: "bytes programmed / bytes appended",
            x_log: true,
            y_range: (0.0, top * 1.1),
            series,
        },
    )
}
