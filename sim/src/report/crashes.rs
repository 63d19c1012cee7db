//! The report's crash section: a sweep over seeds, the exhaustive
//! campaigns at depths 1 and 2, and their speed.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use logstore::SlotLayoutKind;
use serde_json::{json, Value};

use crate::campaign::{self, Case};
use crate::check::workload::WorkloadKind;
use crate::nand::CrashMode;

use super::{Section, Sizes};

pub(super) fn crash_section(
    sizes: &Sizes,
    _out: &Path,
    bar: &ProgressBar,
) -> Result<Section, String> {
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
         one seed in four with program and erase failures at random rates, one in four with one or two operations made to fail at seeded points (a program or erase, its block going bad, or a host I/O error), one in four reopening the store cleanly (power on) every 25 to 400 steps, half on the compact slot layout, half keeping 2 incarnations and evicting the oldest. \
         After every cut the device restarts, the store reopens and must equal the model after a prefix of the acknowledged operations holding every durable one; \
         the client then retries the step that failed. A cut still armed when a run ends is counted as not reached. \
         Command: `cargo run --release -- sweep --seeds 0..{} --ops {}`.\n",
        sizes.sweep_seeds, sizes.sweep_ops, sizes.sweep_seeds, sizes.sweep_ops
    );
    md.push_str("| runs | cuts scheduled | cuts hit and recovered | not reached | clean reopens | operations failed on purpose | device failures recovered | runs that evicted | entries evicted | operations acknowledged | failures |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        sweep.runs,
        sweep.crashes_scheduled,
        sweep.crashes,
        sweep.crashes_not_reached,
        sweep.reopens,
        sweep.failures_scheduled,
        sweep.device_failures,
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
            "sweep_reopens": sweep.reopens,
            "sweep_failures_scheduled": sweep.failures_scheduled,
            "sweep_device_failures": sweep.device_failures,
            "sweep_entries_evicted": sweep.entries_evicted, "failures": failures,
            "exhaustive_crash_points": exhaustive.0, "exhaustive_crash_points_depth2": exhaustive.1,
            "crash_points_per_s": speed, "replay": replays,
        }),
    })
}

/// One exhaustive campaign per workload kind, slot layout and mode, and one
/// at depth 2; returns the crash points at depth 1 and 2.
pub(super) fn exhaustive_table(
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
pub(super) fn exhaustive_speed(
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

pub(super) fn save_cases(cases: &[Case], prefix: &str) -> Vec<String> {
    campaign::save_failures(cases, Path::new("corpus/regressions"), prefix)
        .into_iter()
        .map(|saved| saved.unwrap_or_else(|why| format!("({why})")))
        .collect()
}
