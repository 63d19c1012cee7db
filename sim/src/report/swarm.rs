//! The report's swarm section: a swarm sweep (each seed its own device,
//! store and workload) and swarm wear runs to the end of life, with what
//! was drawn, refused and failed.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;

use super::crashes::save_cases;
use super::{Section, Sizes};
use crate::campaign::swarm::{swarm_sweep, SwarmSummary};
use crate::measure::wear_swarm::{
    swarm_wear_campaign, SwarmWearSummary, END_OF_LIFE_ENDURANCE_MIN,
};

pub(super) fn section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let seeds: Vec<u64> = (0..sizes.swarm_seeds).collect();
    let sweep = swarm_sweep(&seeds, sizes.swarm_ops, &ProgressBar::hidden());
    let replays = save_cases(&sweep.sweep.failed_cases, "swarm");
    let wear_seeds: Vec<u64> = (0..sizes.swarm_wear_seeds).collect();
    let wear = swarm_wear_campaign(&wear_seeds, 0, true, &|| {});
    let mut md = String::from("## Swarm: configurations nobody picked\n\n");
    let _ = writeln!(
        md,
        "Each seed draws its own configuration (Groce et al., \"Swarm Testing\", ISSTA 2012): the device (ideal, slc, mlc, tlc) and a geometry \
         within the part's range (512 B to 2 KiB pages, 16 to 192 pages a block, 24 to 512 blocks), factory-bad blocks (0 to 5%, block 0 included), \
         blocks growing bad, the pairing the part declares and the one its cells follow, aging; the table's shape, layout and policy, the journal, \
         `incarnations_max`, eviction; the workload, a flush cadence, clean reopens, the crash modes; for the wear runs, how worn blocks fail. A configuration `create` refuses is counted, not run. \
         Every run also checks the store's promises: no end of life with the spare free, an evicting store evicts rather than answer `Full`, \
         `Full` for blocks only when blocks failed, `create` accepts only what fits. Commands: \
         `cargo run --release -- sweep --swarm --seeds 0..{} --ops {} --json`, \
         `cargo run --release -- wear --swarm --until-end-of-life --seeds 0..{} --json`.\n",
        sizes.swarm_seeds, sizes.swarm_ops, sizes.swarm_wear_seeds
    );
    let s = &sweep.sweep;
    let _ = writeln!(
        md,
        "| campaign | drawn | refused | run | power cuts | failures |\n|---|---:|---:|---:|---:|---:|\n\
         | sweep | {} | {} | {} | {} | {} |\n| wear to the end of life | {} | {} | {} | | {} |\n",
        sweep.drawn, sweep.refused, s.runs, s.crashes, s.failures,
        wear.drawn, wear.refused, wear.runs, wear.failures
    );
    md.push_str(&spread_paragraph(&sweep, &wear));
    let used = wear.endurance_used_min.unwrap_or(f64::NAN);
    let failures = s.failures + wear.failures;
    Ok(Section {
        markdown: md,
        figures: json!({
            "sweep": serde_json::to_value(&sweep).map_err(|e| e.to_string())?,
            "wear": {
                "drawn": wear.drawn, "refused": wear.refused, "runs": wear.runs,
                "failures": wear.failures, "lost_flushed": wear.lost_flushed,
                "endurance_used_min": wear.endurance_used_min, "excused": wear.excused,
            },
            "failures": failures, "replay": replays,
        }),
        headline: format!(
            "{} configurations drawn ({} refused), {} wear runs to the end of life (endurance used ≥ {used:.3}): {failures} failures",
            sweep.drawn, sweep.refused, wear.runs
        ),
    })
}

/// What the swarm drew and what it found, in a paragraph: failures by
/// kind, geometries, bad blocks, refusals, and the wear runs' endurance.
fn spread_paragraph(sweep: &SwarmSummary, wear: &SwarmWearSummary) -> String {
    let kinds: Vec<String> = sweep
        .failures_by_kind
        .iter()
        .map(|(kind, n)| format!("{kind}: {n}"))
        .collect();
    let geometries: Vec<String> = sweep
        .spread
        .geometries
        .iter()
        .map(|(device, n)| format!("{device} {n}"))
        .collect();
    let bad = sweep
        .spread
        .ranges
        .get("bad_block_fraction")
        .copied()
        .unwrap_or((0.0, 0.0));
    let used = wear.endurance_used_min.unwrap_or(f64::NAN);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Failures by kind: {}. Distinct geometries drawn: {}. Factory-bad blocks drawn: {:.1}% to {:.1}%. \
         Refused by: {:?}. Wear runs to the end of life: lowest endurance used (mean erase count of the usable blocks over rated endurance) \
         {used:.3} (at least {END_OF_LIFE_ENDURANCE_MIN} unless too few blocks are usable: {} runs excused), {} flushed entries lost.\n",
        if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") },
        geometries.join(", "),
        100.0 * bad.0,
        100.0 * bad.1,
        sweep.refused_by_reason,
        wear.excused,
        wear.lost_flushed,
    );
    md
}
