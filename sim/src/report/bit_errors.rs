//! The report's bit error section: losses against the raw bit error rate
//! and against wear for each preset, with and without the ECC; retention;
//! the ECC's cost; lifetime bounded by the ECC as well as by erases. It
//! lays out what [`crate::measure::reliability`] measures.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;

use super::{Section, Sizes};
use crate::measure::reliability::{self, EccCost, LossPoint};
use crate::nand::Device;
use crate::report::plot::{line_chart, LineChart, Series};
use logstore::testing::format::ENTRY_BYTES;

/// Raw bit error rates of the RBER curves: half decades, 1e-7 to 1e-2.
const RBERS: [f64; 11] = [
    1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2,
];

/// Fractions of rated endurance of the P/E curves (a block at 1.0 is
/// worn out).
const WEARS: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 0.95];

/// Days unpowered at every power cut in the P/E curves.
const DAYS_PER_CUT: f64 = 90.0;

/// New clusters a second for the lifetime figures (4 MB/s of 4 KiB).
const INSERTS_PER_S: f64 = 1_000.0;

pub(super) fn section(sizes: &Sizes, out: &Path, bar: &ProgressBar) -> Result<Section, String> {
    let (seeds, ops) = (sizes.ecc_seeds, sizes.ecc_ops);
    let mut md = String::from("## Bit errors and ECC\n\n");
    let _ = writeln!(
        md,
        "Each point is {seeds} crash runs of {ops} steps (the sweep's workloads, power cuts and modes) on the preset's small geometry \
         (512-byte pages with its ECC density), once with its BCH ECC and once on the same pages with no spare and no ECC (CRC32C only). \
         A run is **silent** when the store matched no state the model allows: flushed entries lost, stale values, deleted hashes back (entries summed in the tables), or when its recovery kept fewer journal entries than were durable without naming the loss (the entries dropped counted as lost). \
         A run **reported** its loss when the store named it (`DataLoss` at open, a typed read error) after the device went past the ECC; the check stops there. \
         **Unformattable**: the store refused to format the device (every block it tried failed the read-back of its first programs). \
         **Failed otherwise**: any other failure. Guarantee 7: no silent run while the errors stay within the ECC.\n"
    );
    let mut figures = serde_json::Map::new();
    let (mut silent_within_ecc, mut losing_without_ecc) = (0, 0u64);
    for device in Device::ALL {
        bar.set_message(format!("bit errors {}", device.name()));
        let rber = rber_curves(device, seeds, ops);
        let pe = pe_curves(device, seeds, ops);
        silent_within_ecc +=
            silent_within(device, &rber.0) + pe.0.iter().map(|p| p.runs_silent).sum::<u64>();
        let losing = |p: &LossPoint| p.runs_silent + p.runs_reported;
        losing_without_ecc += rber.1.iter().chain(&pe.1).map(losing).sum::<u64>();
        md.push_str(&curve_markdown(device, &rber, &pe, out, sizes.flag)?);
        figures.insert(
            device.name().to_string(),
            json!({ "rber_ecc": rber.0, "rber_no_ecc": rber.1, "pe_ecc": pe.0, "pe_no_ecc": pe.1 }),
        );
    }
    md.push_str(&retention_markdown());
    let costs: Vec<EccCost> = Device::ALL
        .iter()
        .map(|&d| reliability::ecc_cost(d, sizes.wa_ops))
        .collect::<Result<_, _>>()?;
    md.push_str(&cost_markdown(&costs, sizes.wa_ops));
    md.push_str(&lifetime_markdown(&costs));
    figures.insert("ecc_cost".into(), json!(costs));
    figures.insert("silent_within_ecc".into(), json!(silent_within_ecc));
    figures.insert("runs_losing_without_ecc".into(), json!(losing_without_ecc));
    let headline = format!(
        "{silent_within_ecc} runs lost silently within the ECC (3 presets); without it, {losing_without_ecc} runs lost entries"
    );
    Ok(Section {
        markdown: md,
        figures: serde_json::Value::Object(figures),
        headline,
    })
}

/// (with ECC, without) at each of [`RBERS`].
type Curves = (Vec<LossPoint>, Vec<LossPoint>);

fn rber_curves(device: Device, seeds: u64, ops: usize) -> Curves {
    let run = |ecc| {
        RBERS
            .iter()
            .map(|&rber| {
                reliability::losses(
                    &reliability::rber_config(device, rber, ecc),
                    rber,
                    seeds,
                    ops,
                )
            })
            .collect()
    };
    (run(true), run(false))
}

fn pe_curves(device: Device, seeds: u64, ops: usize) -> Curves {
    let endurance = f64::from(device.part().endurance_cycles);
    let run = |ecc| {
        WEARS
            .iter()
            .map(|&wear| {
                let config = reliability::wear_config(device, wear, DAYS_PER_CUT, ecc);
                reliability::losses(&config, wear * endurance, seeds, ops)
            })
            .collect()
    };
    (run(true), run(false))
}

/// Silent runs with the ECC at RBERs the ECC carries (below its limit on
/// the small geometry).
fn silent_within(device: Device, points: &[LossPoint]) -> u64 {
    let geometry = device.small_geometry(128);
    let slot = geometry.ecc_parity_bytes().unwrap_or(0);
    let bits = geometry.ecc_step_bytes * 8 + slot * 8;
    let limit = crate::nand::errors::rber_limit(bits, geometry.ecc_bits, 1e-9);
    points
        .iter()
        .filter(|p| p.x <= limit)
        .map(|p| p.runs_silent)
        .sum()
}

fn curve_markdown(
    device: Device,
    rber: &Curves,
    pe: &Curves,
    out: &Path,
    flag: &str,
) -> Result<String, String> {
    let name = device.name();
    let geometry = device.small_geometry(128);
    let mut md = format!(
        "### {} ({} correctable bits per {} bytes)\n\n",
        name.to_uppercase(),
        geometry.ecc_bits,
        geometry.ecc_step_bytes
    );
    let rber_file = format!("bit_errors_rber_{name}.svg");
    chart(
        out,
        &rber_file,
        &format!("{}: runs losing against RBER", name.to_uppercase()),
        "raw bit error rate",
        true,
        rber,
    )?;
    let pe_file = format!("bit_errors_pe_{name}.svg");
    let title = format!(
        "{}: runs losing against P/E cycles, {DAYS_PER_CUT} days unpowered a cut",
        name.to_uppercase()
    );
    chart(out, &pe_file, &title, "P/E cycles used", false, pe)?;
    let _ = writeln!(
        md,
        "![{name} RBER]({rber_file})\n\n![{name} P/E]({pe_file})\n"
    );
    md.push_str(&points_table("RBER", rber, |x| format!("{x:.0e}")));
    md.push_str(&points_table("P/E cycles", pe, |x| format!("{x:.0}")));
    let _ = writeln!(
        md,
        "Commands: the RBER curve is `reliability::losses` over `rber_config({name}, rber, ecc)`, the P/E curve over `wear_config({name}, wear, {DAYS_PER_CUT}, ecc)` (this report{flag}); \
         one point alone: `cargo run --release -- sweep --seeds 0..300 --ops 2000 --device {name}` runs the part as the sweep ages it.\n"
    );
    Ok(md)
}

fn chart(
    out: &Path,
    file: &str,
    title: &str,
    x_label: &str,
    x_log: bool,
    curves: &Curves,
) -> Result<(), String> {
    let fraction = |points: &[LossPoint], pick: fn(&LossPoint) -> u64| -> Vec<(f64, f64)> {
        points
            .iter()
            .map(|p| {
                (
                    p.x.max(if x_log { 1e-9 } else { 0.0 }),
                    pick(p) as f64 / p.runs.max(1) as f64,
                )
            })
            .collect()
    };
    let series = |label: &str, points: &[LossPoint], pick: fn(&LossPoint) -> u64| Series {
        label: label.to_string(),
        points: fraction(points, pick),
        reference: false,
    };
    let other = |p: &LossPoint| p.runs_failed_otherwise + p.runs_unformattable;
    line_chart(
        &out.join(file),
        &LineChart {
            title,
            x_label,
            y_label: "fraction of runs",
            x_log,
            y_range: (0.0, 1.0),
            series: vec![
                series("ECC: silent", &curves.0, |p| p.runs_silent),
                series("ECC: reported", &curves.0, |p| p.runs_reported),
                series("ECC: unformattable or failed", &curves.0, other),
                series("no ECC: silent", &curves.1, |p| p.runs_silent),
                series("no ECC: reported", &curves.1, |p| p.runs_reported),
                series("no ECC: unformattable or failed", &curves.1, other),
            ],
        },
    )
}

fn points_table(x_name: &str, curves: &Curves, x: impl Fn(f64) -> String) -> String {
    let mut md = format!(
        "| {x_name} | ECC: silent runs (lost / stale / resurrected) | reported | unformattable | failed otherwise | bits corrected | no ECC: silent runs (lost / stale / resurrected) | reported | unformattable | failed otherwise |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for (with, without) in curves.0.iter().zip(&curves.1) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            x(with.x),
            outcome_cells(with),
            with.bits_corrected,
            outcome_cells(without)
        );
    }
    md.push('\n');
    md
}

fn retention_markdown() -> String {
    let wears = [0.0, 0.5, 0.9, 1.0];
    let mut md = String::from(
        "### Retention: when scrubbing becomes necessary\n\n\
         Days a page keeps its data unpowered before its RBER reaches the one at which the ECC fails a codeword in 10^12, on each preset's own geometry, \
         by the fraction of endurance its block has used. The background scrub (`Store::scrub`) must read every page again well within it; \
         a read at three quarters of the ECC's strength moves the data. The model is calibrated so that at rated endurance this is the rated retention \
         (JESD218: 1 year for MLC and TLC, 10 for SLC). Scenario: `scenarios::retention` keeps every entry for five years at 95% of endurance with a scrub every 30 days, \
         and loses pages without it (`cargo test --release -p logstore-sim --test suite ecc::`).\n\n",
    );
    md.push_str(
        "| preset | fresh | 50% worn | 90% worn | rated endurance |\n|---|---:|---:|---:|---:|\n",
    );
    for device in Device::ALL {
        let cells: Vec<String> = reliability::retention_days(device, &wears)
            .iter()
            .map(|r| r.days.map_or("never".into(), |d| format!("{d:.0} days")))
            .collect();
        let _ = writeln!(md, "| {} | {} |", device.name(), cells.join(" | "));
    }
    md.push('\n');
    md
}

fn cost_markdown(costs: &[EccCost], ops: u64) -> String {
    let mut md = format!(
        "### What the ECC costs\n\n\
         Parity a page on each preset's own geometry (BCH over GF(2^m), m·t bits a step), and the write amplification of the same ingest \
         ({ops} inserts, a flush every 16, small geometry) with the spare area programmed and without: `cargo run --release -- wear --ops {ops} --device <preset>`.\n\n\
         | preset | page | spare | step | t | parity a page | of the data | RBER carried | write amplification | without ECC |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for c in costs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.1}% | {:.1e} | {:.3} | {:.3} |",
            c.device.name(),
            c.page_bytes,
            c.spare_bytes,
            c.ecc_step_bytes,
            c.ecc_bits,
            c.parity_bytes_per_page,
            100.0 * c.parity_fraction,
            c.rber_limit,
            c.write_amplification,
            c.write_amplification_without_ecc
        );
    }
    md.push('\n');
    md
}

fn lifetime_markdown(costs: &[EccCost]) -> String {
    let mut md = format!(
        "### Lifetime bounded by erases and by the ECC\n\n\
         A block is usable while it endures erases and while the ECC still carries its pages for the time they must keep: \
         the P/E cycles at which a page no longer keeps its data for the rated retention, or for 30 days between scrubs. \
         Days of a 1 GiB partition at {INSERTS_PER_S} new clusters a second = usable cycles × 1 GiB / (write amplification × {ENTRY_BYTES} bytes an insert), \
         wear assumed even (the wear section measures the spread).\n\n\
         | preset | rated P/E | P/E keeping rated retention | P/E keeping 30 days | days, erase-bound | days, ECC-bound at rated retention |\n|---|---:|---:|---:|---:|---:|\n"
    );
    for c in costs {
        let days = |cycles: f64| {
            cycles * (1u64 << 30) as f64
                / (c.write_amplification * ENTRY_BYTES as f64)
                / INSERTS_PER_S
                / 86_400.0
        };
        let rated = f64::from(c.endurance_cycles);
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            c.device.name(),
            c.endurance_cycles,
            c.cycles_for_rated_retention,
            c.cycles_for_30_days,
            days(rated),
            days(rated.min(c.cycles_for_rated_retention))
        );
    }
    md.push('\n');
    md
}

/// A point's run outcomes as table cells: silent runs (lost / stale /
/// resurrected), reported, unformattable, failed otherwise.
fn outcome_cells(point: &crate::measure::reliability::LossPoint) -> String {
    format!(
        "{} ({} / {} / {}) | {} | {} | {}",
        point.runs_silent,
        point.lost_flushed,
        point.stale,
        point.resurrected,
        point.runs_reported,
        point.runs_unformattable,
        point.runs_failed_otherwise
    )
}
