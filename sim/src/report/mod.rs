//! The report: fill, wear, write amplification, crash campaigns, RAM and
//! speed, as `reports/README.md` with SVG plots.
//!
//! Owns the campaign sizes and the layout of the report. Promises: every
//! figure names the command that reproduces it; all figures but the
//! timings (kept between the `timings` markers) are deterministic, so the
//! same size writes the same bytes.

mod bit_errors;
mod corrupt;
mod end_of_life;
mod frozen_lookups;
mod pairing_cost;
pub(crate) mod plot;
mod swarm;

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use logstore::{Policy, SlotLayoutKind};
use serde_json::{json, Value};

use crate::campaign::{self, progress_bar, Case};
use crate::check::workload::WorkloadKind;
use crate::measure::fill::{fill_limit, fill_stats};
use crate::measure::lookups;
use crate::measure::speed;
use crate::measure::wear::{lifetime, wear, WearConfig};
use crate::nand::CrashMode;
use crate::report::plot::{bar_chart, line_chart, LineChart, Series};
use logstore::testing::format::ENTRY_BYTES;

/// How big the campaigns are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportSize {
    /// Seconds: for CI and the determinism test.
    Quick,
    /// About two minutes on 2 cores.
    Default,
    /// Much longer.
    Full,
}

/// The campaign sizes of one report size.
#[derive(Clone, Debug)]
struct Sizes {
    flag: &'static str,
    fill_order: u32,
    fill_seeds: u64,
    kicks: Vec<u32>,
    depths: Vec<u32>,
    orders: Vec<u32>,
    sweep_seeds: u64,
    sweep_ops: usize,
    exhaustive_ops: usize,
    depth2_ops: usize,
    speed_steps: Vec<usize>,
    wear_ops: u64,
    wa_ops: u64,
    speed_keys: u64,
    lookup_order: u32,
    /// Runs a point of the bit error curves, and their steps.
    ecc_seeds: u64,
    ecc_ops: usize,
    /// P/E cycles blocks endure in the end-of-life runs.
    eol_endurance: u32,
    /// Steps of the paired-page exhaustive campaigns, at depth 1 and 2.
    paired_ops: usize,
    paired_depth2_ops: usize,
    /// Order of the log store frozen in the lookups section, and the
    /// incarnation counts measured.
    frozen_order: u32,
    frozen_counts: Vec<u32>,
    /// Seeds and steps of the swarm sweep, and seeds of the swarm wear
    /// runs to the end of life.
    swarm_seeds: u64,
    swarm_ops: usize,
    swarm_wear_seeds: u64,
    /// Quiescent points of the fault-placement campaigns.
    corrupt_flushes: u32,
}

impl Sizes {
    fn of(size: ReportSize) -> Sizes {
        let kicks = vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 1000, 2000];
        match size {
            ReportSize::Quick => Sizes {
                flag: " --quick",
                fill_order: 9,
                fill_seeds: 3,
                kicks: vec![1, 4, 16, 128, 500],
                depths: vec![1, 2, 4, 6],
                orders: (6..=10).collect(),
                sweep_seeds: 40,
                sweep_ops: 400,
                exhaustive_ops: 120,
                depth2_ops: 200,
                speed_steps: vec![200, 1_000],
                wear_ops: 8_000,
                wa_ops: 2_000,
                speed_keys: 1 << 12,
                lookup_order: 8,
                ecc_seeds: 6,
                ecc_ops: 300,
                eol_endurance: 20,
                paired_ops: 300,
                paired_depth2_ops: 100,
                frozen_order: 10,
                frozen_counts: vec![0, 1, 8],
                swarm_seeds: 100,
                swarm_ops: 300,
                swarm_wear_seeds: 2,
                corrupt_flushes: 2,
            },
            ReportSize::Default => Sizes {
                flag: "",
                fill_order: 14,
                fill_seeds: 10,
                kicks,
                depths: (1..=7).collect(),
                orders: (6..=16).collect(),
                sweep_seeds: 100_000,
                sweep_ops: 1_000,
                exhaustive_ops: 10_000,
                depth2_ops: 2_000,
                speed_steps: vec![1_000, 10_000, 100_000],
                wear_ops: 2_000_000,
                wa_ops: 50_000,
                speed_keys: 1 << 17,
                lookup_order: 14,
                ecc_seeds: 60,
                ecc_ops: 600,
                eol_endurance: 150,
                paired_ops: 3_000,
                paired_depth2_ops: 600,
                frozen_order: 12,
                frozen_counts: vec![0, 1, 8, 32],
                swarm_seeds: 2_000,
                swarm_ops: 1_000,
                swarm_wear_seeds: 12,
                corrupt_flushes: 20,
            },
            ReportSize::Full => Sizes {
                flag: " --full",
                fill_order: 16,
                fill_seeds: 20,
                kicks,
                depths: (1..=7).collect(),
                orders: (6..=18).collect(),
                sweep_seeds: 1_000_000,
                sweep_ops: 2_000,
                exhaustive_ops: 40_000,
                depth2_ops: 10_000,
                speed_steps: vec![1_000, 10_000, 100_000, 1_000_000],
                wear_ops: 20_000_000,
                wa_ops: 200_000,
                speed_keys: 1 << 19,
                lookup_order: 15,
                ecc_seeds: 400,
                ecc_ops: 2_000,
                eol_endurance: 1_000,
                paired_ops: 20_000,
                paired_depth2_ops: 3_000,
                frozen_order: 18,
                frozen_counts: vec![0, 1, 8, 32],
                swarm_seeds: 20_000,
                swarm_ops: 2_000,
                swarm_wear_seeds: 50,
                corrupt_flushes: 60,
            },
        }
    }
}

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
    let command = format!("cargo run --release -- report{}", sizes.flag);
    let bar = progress_bar(SECTIONS.len() as u64, "report");
    let mut sections = Vec::new();
    for (name, run) in SECTIONS {
        bar.set_message(name);
        sections.push(run(&sizes, out, &bar)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut text = format!(
        "# logstore report\n\n\
         Written by `{command}` (about two minutes on 2 cores; `--quick` takes seconds, `--full` much longer). \
         Every figure below but the timings is deterministic: the same command writes the same bytes. \
         Each figure names the command that reproduces it alone.\n\n"
    );
    let mut figures = serde_json::Map::new();
    let mut headlines = serde_json::Map::new();
    for ((name, _), section) in SECTIONS.iter().zip(sections) {
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
    .fold(0u64, u64::saturating_add);
    Ok(json!({
        "report": path.display().to_string(), "failures": failures,
        "headlines": headlines, "sections": figures,
    }))
}

/// The summary a terminal gets: where the report is, each section's
/// headline, the failures. Every line is short.
pub fn summary_lines(summary: &Value) -> Vec<String> {
    let mut lines = vec![format!(
        "report written to {}",
        summary["report"].as_str().unwrap_or("?")
    )];
    for (name, _) in SECTIONS {
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

const SECTIONS: [(&str, SectionFn); 12] = [
    ("fill", fill_section),
    ("crash", crash_section),
    ("bit_errors", bit_errors::section),
    ("paired_pages", pairing_cost::section),
    ("wear", wear_section),
    ("end_of_life", end_of_life::section),
    ("swarm", swarm::section),
    ("corrupt", corrupt::section),
    ("write_amplification", wa_section),
    ("ram", ram_section),
    ("lookups", frozen_lookups::section),
    ("speed", speed_section),
];

fn walk(max_kicks: u32) -> Policy {
    Policy::RandomWalk {
        max_kicks,
        retries: 10,
    }
}

fn fill_series(
    sizes: &Sizes,
    bucket: usize,
    label: &str,
    bounds: &[u32],
    policy: fn(u32) -> Policy,
) -> Result<Series, String> {
    let points = bounds
        .iter()
        .map(|&bound| {
            let stats = fill_stats(sizes.fill_order, bucket, policy(bound), sizes.fill_seeds)?;
            Ok((f64::from(bound), stats.mean))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Series {
        label: label.to_string(),
        points,
        reference: false,
    })
}

fn flat(label: &str, y: f64, x0: f64, x1: f64) -> Series {
    Series {
        label: label.to_string(),
        points: vec![(x0, y), (x1, y)],
        reference: true,
    }
}

fn fill_section(sizes: &Sizes, out: &Path, _: &ProgressBar) -> Result<Section, String> {
    let mut md = String::from("## Fill at the first failed insert\n\n");
    let _ = writeln!(
        md,
        "Uniform random hashes inserted into an empty table of 2^{} buckets until the first insert fails; mean over {} seeds. \
         The bound is the most kicks of a random walk or a fixed victim, and the most displacements (path depth) of BFS. \
         Dashed: the theoretical 2-choice load threshold for the bucket size (no figure may exceed it), and the seed's claimed 93%.\n",
        sizes.fill_order, sizes.fill_seeds
    );
    md.push_str("| B | policy | bound | mean fill |\n|---:|---|---:|---:|\n");
    let mut figures = serde_json::Map::new();
    let x_max = f64::from(*sizes.kicks.last().unwrap_or(&1));
    for bucket in [2usize, 4, 8] {
        let limit = fill_limit(bucket).expect("2, 4 or 8");
        let series = vec![
            fill_series(sizes, bucket, "random walk", &sizes.kicks, walk)?,
            fill_series(sizes, bucket, "BFS (depth)", &sizes.depths, |d| {
                Policy::Bfs { max_depth: d }
            })?,
            fill_series(sizes, bucket, "fixed victim", &sizes.kicks, |k| {
                Policy::FixedVictim { max_kicks: k }
            })?,
            flat(&format!("limit {limit}"), limit, 1.0, x_max),
            flat("seed's 93%", 0.93, 1.0, x_max),
        ];
        for line in series.iter().filter(|s| !s.reference) {
            for &(bound, fill) in &line.points {
                let _ = writeln!(md, "| {bucket} | {} | {bound} | {fill:.4} |", line.label);
                figures.insert(
                    format!("b{bucket}_{}_{bound}", line.label.replace(' ', "_")),
                    json!(fill),
                );
            }
        }
        let file = format!("fill_b{bucket}.svg");
        line_chart(
            &out.join(&file),
            &LineChart {
                title: &format!(
                    "Fill at first failure, B = {bucket}, order {}",
                    sizes.fill_order
                ),
                x_label: "bound (kicks; BFS: depth)",
                y_label: "fill",
                x_log: true,
                y_range: (0.3, 1.0),
                series,
            },
        )?;
        let _ = writeln!(md, "\n![fill B={bucket}]({file})\n");
    }
    md.push_str(&fill_by_order(sizes, out, &mut figures)?);
    let _ = writeln!(
        md,
        "\nOne point alone: `cargo run --release -- fill --bucket 4 --order {} --policy random-walk --max-kicks 128 --seeds {}`.\n",
        sizes.fill_order, sizes.fill_seeds
    );
    let default_fill = figures
        .get(&format!("b4_order{}_BFS", sizes.fill_order))
        .or_else(|| figures.get("b4_BFS_(depth)_6"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let headline = format!(
        "B = 4, default policy (BFS depth 6): {default_fill:.4} full at the first failed insert (limit 0.980)"
    );
    Ok(Section {
        markdown: md,
        figures: Value::Object(figures),
        headline,
    })
}

fn fill_by_order(
    sizes: &Sizes,
    out: &Path,
    figures: &mut serde_json::Map<String, Value>,
) -> Result<String, String> {
    let mut series = Vec::new();
    for (label, policy) in [
        ("BFS depth 6 (default)", Policy::default()),
        ("random walk 128", walk(128)),
    ] {
        let points = sizes
            .orders
            .iter()
            .map(|&order| {
                Ok((
                    f64::from(order),
                    fill_stats(order, 4, policy, sizes.fill_seeds)?.mean,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        for &(order, fill) in &points {
            figures.insert(
                format!("b4_order{order}_{}", label.split(' ').next().unwrap_or("")),
                json!(fill),
            );
        }
        series.push(Series {
            label: label.to_string(),
            points,
            reference: false,
        });
    }
    let (lo, hi) = (
        f64::from(sizes.orders[0]),
        f64::from(*sizes.orders.last().unwrap_or(&1)),
    );
    series.push(flat("limit 0.980", 0.98, lo, hi));
    line_chart(
        &out.join("fill_order.svg"),
        &LineChart {
            title: "Fill at first failure against table order, B = 4",
            x_label: "order (2^order buckets)",
            y_label: "fill",
            x_log: false,
            y_range: (0.85, 1.0),
            series,
        },
    )?;
    Ok("Fill against table size, B = 4: small tables fill further by chance; large ones settle below the limit.\n\n![fill by order](fill_order.svg)\n".to_string())
}

fn crash_section(sizes: &Sizes, _out: &Path, bar: &ProgressBar) -> Result<Section, String> {
    let seeds: Vec<u64> = (0..sizes.sweep_seeds).collect();
    bar.set_message("crash sweep");
    let sweep = campaign::sweep(
        &seeds,
        sizes.sweep_ops,
        &CrashMode::ALL,
        &campaign::Part::default(),
        &ProgressBar::hidden(),
    );
    let mut md = String::from("## Crash campaigns\n\n");
    let _ = writeln!(
        md,
        "**Sweep**: {} seeds × {} steps of a seeded workload (uniform, dedup, churn or lifecycle), each with 1 to 4 power cuts at seeded points and modes; \
         one seed in four with program and erase failures, half on the compact slot layout, half keeping 2 incarnations and evicting the oldest. \
         After every cut the device restarts, the store reopens and must equal the model after a prefix of the acknowledged operations holding every durable one; \
         the client then retries the step that failed. A cut still armed when a run ends is counted as not reached. \
         Command: `cargo run --release -- sweep --seeds 0..{} --ops {}`.\n",
        sizes.sweep_seeds, sizes.sweep_ops, sizes.sweep_seeds, sizes.sweep_ops
    );
    md.push_str("| runs | cuts scheduled | cuts hit and recovered | not reached | runs that evicted | entries evicted | operations acknowledged | failures |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        sweep.runs,
        sweep.crashes_scheduled,
        sweep.crashes,
        sweep.crashes_not_reached,
        sweep.runs_evicting,
        sweep.entries_evicted,
        sweep.acknowledged,
        sweep.failures
    );
    let mut failures = sweep.failures;
    let mut replays = save_cases(&sweep.failed_cases, "sweep");
    let exhaustive = exhaustive_table(sizes, bar, &mut md, &mut failures, &mut replays);
    let speed = exhaustive_speed(sizes, bar, &mut md, &mut failures, &mut replays)?;
    if replays.is_empty() {
        md.push_str("No failures.\n");
    } else {
        md.push_str("Failures, each with the command that replays it:\n\n");
        replays
            .iter()
            .for_each(|r| md.push_str(&format!("- `{r}`\n")));
    }
    let headline = format!(
        "{} sweep runs ({} cuts recovered), {} exhaustive crash points ({} at depth 2): {failures} failures",
        sweep.runs, sweep.crashes, exhaustive.0, exhaustive.1
    );
    Ok(Section {
        markdown: md,
        headline,
        figures: json!({
            "sweep_runs": sweep.runs, "sweep_crashes_scheduled": sweep.crashes_scheduled,
            "sweep_crashes": sweep.crashes, "sweep_crashes_not_reached": sweep.crashes_not_reached,
            "sweep_entries_evicted": sweep.entries_evicted, "failures": failures,
            "exhaustive_crash_points": exhaustive.0, "exhaustive_crash_points_depth2": exhaustive.1,
            "crash_points_per_s": speed, "replay": replays,
        }),
    })
}

/// One exhaustive campaign per workload kind, slot layout and mode, and one
/// at depth 2; returns the crash points at depth 1 and 2.
fn exhaustive_table(
    sizes: &Sizes,
    bar: &ProgressBar,
    md: &mut String,
    failures: &mut u64,
    replays: &mut Vec<String>,
) -> (u64, u64) {
    let _ = writeln!(
        md,
        "**Exhaustive**: one {}-step workload per kind and slot layout (8 incarnations, the oldest evicted when full, so the store keeps freezing and evicting), \
         power cut at every mutating flash operation in turn, in each mode, branching from snapshots; each branch recovers, is checked, retries the step, \
         then flushes, reopens and is checked again. Command: `cargo run --release -- exhaustive --ops {} --workload KIND --mode MODE --layout LAYOUT`.\n",
        sizes.exhaustive_ops, sizes.exhaustive_ops
    );
    md.push_str("| workload | layout | mode | depth | flash operations | evictions | crash points | failures |\n|---|---|---|---:|---:|---:|---:|---:|\n");
    let (mut depth1, mut depth2) = (0, 0);
    let layouts = [SlotLayoutKind::Full, SlotLayoutKind::Compact];
    let mut runs: Vec<(WorkloadKind, SlotLayoutKind, Vec<CrashMode>, u32, usize)> = Vec::new();
    for kind in WorkloadKind::ALL {
        for layout in layouts {
            for mode in CrashMode::ALL {
                runs.push((kind, layout, vec![mode], 1, sizes.exhaustive_ops));
            }
        }
    }
    for layout in layouts {
        runs.push((
            WorkloadKind::Lifecycle,
            layout,
            CrashMode::ALL.to_vec(),
            2,
            sizes.depth2_ops,
        ));
    }
    for (kind, layout, modes, depth, ops) in runs {
        let layout_name = if layout == SlotLayoutKind::Full {
            "full"
        } else {
            "compact"
        };
        let mode_name = if modes.len() == 1 {
            modes[0].name()
        } else {
            "all"
        };
        bar.set_message(format!(
            "exhaustive {} {layout_name} {mode_name}",
            kind.name()
        ));
        let case =
            campaign::exhaustive_case(0, ops, kind, layout, true, &campaign::Part::default());
        let summary = campaign::exhaustive(&case, &modes, depth, &ProgressBar::hidden());
        let points = summary.crash_points + summary.crash_points_depth2;
        let _ = writeln!(
            md,
            "| {} ({ops} steps) | {layout_name} | {mode_name} | {depth} | {} | {} | {points} | {} |",
            kind.name(),
            summary.ops_mutating,
            summary.evictions,
            summary.failures
        );
        depth1 += summary.crash_points;
        depth2 += summary.crash_points_depth2;
        *failures += summary.failures;
        replays.extend(save_cases(&summary.failed_cases, "exhaustive"));
    }
    md.push('\n');
    (depth1, depth2)
}

/// Crash points a second on one core at three workload lengths: the cost of
/// a crash point must not grow with the store. Machine-dependent.
fn exhaustive_speed(
    sizes: &Sizes,
    bar: &ProgressBar,
    md: &mut String,
    failures: &mut u64,
    replays: &mut Vec<String>,
) -> Result<Value, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    md.push_str("<!-- timings:begin -->\n");
    let _ = writeln!(
        md,
        "**Speed of the exhaustive campaign** on one core (`--jobs 1 --mode drop --workload uniform`), machine-dependent: \
         each crash point is checked against the model by digest, so its cost stays flat as the store grows. \
         littlefs's runner does 300 to 650 power-cycle points a second on this kind of machine.\n"
    );
    md.push_str(
        "| steps | crash points | seconds | crash points a second |\n|---:|---:|---:|---:|\n",
    );
    let mut figures = serde_json::Map::new();
    for &ops in &sizes.speed_steps {
        bar.set_message(format!("exhaustive speed {ops}"));
        let case = campaign::exhaustive_case(
            0,
            ops,
            WorkloadKind::Uniform,
            SlotLayoutKind::Full,
            true,
            &campaign::Part::default(),
        );
        let summary = pool.install(|| {
            campaign::exhaustive(&case, &[CrashMode::DropUnsynced], 1, &ProgressBar::hidden())
        });
        let _ = writeln!(
            md,
            "| {ops} | {} | {:.2} | {:.0} |",
            summary.crash_points, summary.seconds, summary.crash_points_per_s
        );
        figures.insert(format!("steps_{ops}"), json!(summary.crash_points_per_s));
        *failures += summary.failures;
        replays.extend(save_cases(&summary.failed_cases, "exhaustive"));
    }
    md.push_str("<!-- timings:end -->\n\n");
    Ok(Value::Object(figures))
}

fn save_cases(cases: &[Case], prefix: &str) -> Vec<String> {
    campaign::save_failures(cases, Path::new("corpus/regressions"), prefix)
        .into_iter()
        .map(|saved| saved.unwrap_or_else(|why| format!("({why})")))
        .collect()
}

fn wear_section(sizes: &Sizes, out: &Path, _: &ProgressBar) -> Result<Section, String> {
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
fn wear_timeline_chart(
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

fn erase_histogram(counts: &[u32]) -> Vec<(u32, u32)> {
    let mut histogram = std::collections::BTreeMap::new();
    for &count in counts {
        *histogram.entry(count).or_insert(0u32) += 1;
    }
    histogram.into_iter().collect()
}

fn wa_section(sizes: &Sizes, out: &Path, _: &ProgressBar) -> Result<Section, String> {
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

fn ram_section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let mut md = String::from(
        "## RAM per entry and flash reads per lookup

",
    );
    md.push_str(
        "Bytes of RAM the log store's slots take, divided by the entries held at the fill the default policy reaches (mean fill at the first failure above). \
         The full layout keeps the 32-byte hash and the value in every slot, plus an occupancy byte a bucket; \
         the compact layout (SILT-style) keeps a 40-bit slot: the entry's other bucket as a tag (so a kick never reads flash) and its journal position.\n\n",
    );
    md.push_str("| layout | B | bytes per slot | fill reached | bytes per entry |\n|---|---:|---:|---:|---:|\n");
    let mut figures = serde_json::Map::new();
    for bucket in [2usize, 4, 8] {
        let fill = fill_stats(
            sizes.fill_order,
            bucket,
            Policy::default(),
            sizes.fill_seeds,
        )?
        .mean;
        for (name, slot) in [
            ("full", speed::full_slot_bytes(bucket)),
            ("compact", speed::compact_slot_bytes(bucket)),
        ] {
            let per_entry = slot / fill;
            let _ = writeln!(
                md,
                "| {name} | {bucket} | {slot:.2} | {fill:.4} | {per_entry:.2} |"
            );
            figures.insert(format!("{name}_b{bucket}"), json!(per_entry));
        }
    }
    let order = sizes.lookup_order;
    let _ = writeln!(
        md,
        "\nLookups on a store of 2^{order} buckets of 4 slots at 95% fill (B = 4, default policy, nothing frozen), in shuffled order. \
         A resolve is a journal entry read to confirm a tag match; a page read is a flash page actually read (the journal keeps its last page cached, and the RAM page needs none). \
         This section alone: `cargo run --release -- report --quick` (order 8) or the default report (order 14).\n"
    );
    md.push_str("| layout | RAM bytes per entry (whole table) | resolves per hit | resolves per miss | page reads per hit | page reads per miss |\n|---|---:|---:|---:|---:|---:|\n");
    for layout in [SlotLayoutKind::Full, SlotLayoutKind::Compact] {
        let r = lookups::log_store_reads(layout, order, 0.95)?;
        let name = if layout == SlotLayoutKind::Full {
            "full"
        } else {
            "compact"
        };
        let _ = writeln!(
            md,
            "| {name} | {:.2} | {:.4} | {:.4} | {:.4} | {:.4} |",
            r.ram_bytes_per_entry,
            r.resolves_per_hit,
            r.resolves_per_miss,
            r.reads_per_hit,
            r.reads_per_miss
        );
        figures.insert(
            format!("{name}_lookups"),
            serde_json::to_value(r).map_err(|e| e.to_string())?,
        );
    }
    let per_entry = |name: &str| figures.get(name).and_then(Value::as_f64).unwrap_or(0.0);
    let headline = format!(
        "B = 4: {:.2} bytes an entry (compact layout), {:.2} (full)",
        per_entry("compact_b4"),
        per_entry("full_b4")
    );
    Ok(Section {
        markdown: md,
        figures: Value::Object(figures),
        headline,
    })
}

fn speed_section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let timings = speed::measure(sizes.speed_keys)?;
    let mut md = String::from("## Speed\n\n<!-- timings:begin -->\n");
    let _ = writeln!(
        md,
        "Machine-dependent: measured on {} ({} cores) in this run; the rest of the report does not depend on the machine. \
         Criterion benchmarks give steadier figures: `cargo bench -p logstore --bench cuckoo` (tables against hashbrown), \
         `cargo bench -p logstore-sim --bench store` (store inserts and open), `cargo bench -p logstore-sim --bench nand` (the simulator).\n",
        speed::cpu_name(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    md.push_str("| what | figure | unit |\n|---|---:|---|\n");
    let mut figures = serde_json::Map::new();
    for figure in &timings {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            figure.label,
            speed::format_rate(&json!(figure.value)),
            figure.unit
        );
        figures.insert(figure.key.clone(), json!(figure.value));
    }
    md.push_str("<!-- timings:end -->\n");
    let headline = headline_of(&timings);
    Ok(Section {
        markdown: md,
        figures: Value::Object(figures),
        headline,
    })
}

/// The speed section's one line: store inserts and lookups a second.
fn headline_of(timings: &[speed::Figure]) -> String {
    let find = |key: &str| {
        timings
            .iter()
            .find(|f| f.key == key)
            .map_or(0.0, |f| f.value)
    };
    let ns = |who: &str, what: &str, pct: u32| find(&format!("{who}_{what}_ns_at_{pct}pct"));
    format!(
        "store (full layout): {} inserts/s, {} lookups/s; table miss {:.1}/{:.1} ns, hit {:.1}/{:.1} ns at 50%/90% (hashbrown {:.1}/{:.1}, {:.1}/{:.1}) (machine-dependent)",
        speed::format_rate(&json!(find("store_full_inserts_per_s"))),
        speed::format_rate(&json!(find("store_full_lookups_per_s"))),
        ns("cuckoo", "miss", 50),
        ns("cuckoo", "miss", 90),
        ns("cuckoo", "hit", 50),
        ns("cuckoo", "hit", 90),
        ns("hashbrown", "miss", 50),
        ns("hashbrown", "miss", 90),
        ns("hashbrown", "hit", 50),
        ns("hashbrown", "hit", 90),
    )
}
