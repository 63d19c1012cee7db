//! The `corrupt` command: faults placed on purpose, on one device or on
//! each seed's swarm draw.

use logstore_sim::campaign::progress_bar;
use logstore_sim::Device;
use serde_json::json;

use super::args::{parse_seeds, print_lines, Output};
use super::campaigns::SubjectArg;

/// Faults placed on purpose (CORDS-style): after each of `--flushes`
/// flushes, every programmed page in turn read back past the ECC, erased,
/// holding its stale or another page's bytes; then every pair of the
/// anchor's, the journal's last and the filters' pages; then a power cut
/// at every operation of the recovery; then a power cut at every
/// operation of each stretch between two flushes, the stretch run again
/// after the recovery, and each page the rerun changed read back as the
/// cut left it, past the ECC or erased. Each placement is kept, named or
/// silent (or the store lost); silent or lost fails the run (exit 1).
///
/// Example: `logstore-sim corrupt --device mlc --json`
#[derive(clap::Args, Debug)]
pub(crate) struct CorruptArgs {
    /// The part (geometry, ECC, bit errors); none: the ideal device.
    #[arg(long, value_enum)]
    device: Option<Device>,
    /// Seed of the workload and the device.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Quiescent points: flushes of the workload, each followed by every
    /// placement (1 to 1,000).
    #[arg(long, default_value_t = 20)]
    flushes: u32,
    /// Operations between two flushes, at most (drawn from 1).
    #[arg(long, default_value_t = 48)]
    ops_per_flush: u32,
    /// Skip the pairs of critical pages.
    #[arg(long)]
    no_pairs: bool,
    /// Skip the power cuts in the recovery after a placed fault.
    #[arg(long)]
    no_recovery_cuts: bool,
    /// Skip the power cuts between two flushes (each followed by the
    /// recovery, the stretch run again and a fault on each page the rerun
    /// changed: as the cut left it, past the ECC, erased).
    #[arg(long)]
    no_segment_cuts: bool,
    /// Format a used part: the device first holds another store (the same
    /// configuration, another workload, as many flushes); the faults land
    /// on the store formatted over it, whose pages' stale bytes are then
    /// the earlier store's. With `--swarm`, one draw in four does so
    /// anyway; this makes every draw.
    #[arg(long)]
    reused_device: bool,
    /// Each seed of `--seeds` draws its own device, geometry, bad blocks,
    /// pairing and store, as `sweep --swarm` does (eviction as drawn), and the
    /// campaign runs on each (`--device` and `--seed` are then not taken).
    ///
    /// Example: `logstore-sim corrupt --swarm --seeds 0..20 --flushes 5 --json`
    #[arg(long, requires = "seeds")]
    swarm: bool,
    /// Seeds of a swarm, as A..B (B excluded).
    #[arg(long, value_parser = parse_seeds, requires = "swarm")]
    seeds: Option<std::ops::Range<u64>>,
    /// The store the faults are placed on: this index under its own
    /// campaign (the default), or a subject through the seam (littlefs in
    /// a build with `--features littlefs`, or this index as littlefs meets
    /// it): single faults only, at `--flushes` quiescent points of a
    /// workload of `--flushes` times `--ops-per-flush` operations, the
    /// whole state read back after a remount.
    ///
    /// Example: `logstore-sim corrupt --subject littlefs --device mlc --json`
    #[arg(long, value_enum, default_value_t = SubjectArg::Logstore)]
    subject: SubjectArg,
    /// With a subject through the seam on a part: raw pages, without our
    /// ECC (littlefs only).
    #[arg(long)]
    no_ecc: bool,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn corrupt(args: &CorruptArgs) -> Result<bool, String> {
    use logstore_sim::campaign::corrupt::{corrupt, CorruptPlan, AFTER_CUT_FAULTS, FLUSHES_MAX};
    if args.flushes == 0 || args.flushes > FLUSHES_MAX || args.ops_per_flush == 0 {
        return Err(format!(
            "--flushes {} and --ops-per-flush {}: 1 to {FLUSHES_MAX} flushes, at least one operation",
            args.flushes, args.ops_per_flush
        ));
    }
    if args.subject != SubjectArg::Logstore {
        return corrupt_seam(args);
    }
    if args.no_ecc {
        return Err("--no-ecc is taken with --subject littlefs only".into());
    }
    if let Some(seeds) = args.seeds.clone() {
        if args.device.is_some() {
            return Err("--swarm draws the device per seed: --device is not taken with it".into());
        }
        return corrupt_swarm(args, seeds);
    }
    let plan = CorruptPlan {
        flushes: args.flushes,
        ops_per_flush_max: args.ops_per_flush,
        singles: true,
        pairs: !args.no_pairs,
        recovery_cuts: !args.no_recovery_cuts,
        after_cut_faults: match args.no_segment_cuts {
            true => Vec::new(),
            false => AFTER_CUT_FAULTS.to_vec(),
        },
        reused_device: args.reused_device,
        ..CorruptPlan::new(args.device, args.seed)
    };
    let bar = progress_bar(u64::from(plan.flushes), "quiescent points");
    let summary = corrupt(&plan, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    if args.output.json {
        print_lines(&[serde_json::to_string(&summary).map_err(|e| e.to_string())?])?;
    } else {
        print_lines(&[
            format!(
                "corrupt: {} points ({} after an eviction), {} placements: {} kept, {} named, {} silent, {} store lost",
                summary.points,
                summary.points_evicted,
                summary.placements,
                summary.kept,
                summary.named,
                summary.silent,
                summary.store_lost
            ),
            format!("  singles {:?}", summary.singles),
            format!("  pairs {:?}", summary.pairs),
            format!(
                "  of them at the ECC's limit or one past it {:?}",
                summary.pairs_at_ecc_limit
            ),
            format!(
                "  journal pairs (two witnesses of a flush; no guarantee) {:?}",
                summary.journal_pairs
            ),
            format!(
                "  recovery cuts {:?} ({} inside the salvage)",
                summary.recovery_cuts, summary.salvage_cuts
            ),
            format!(
                "  of them after a fault on an erased page {:?}",
                summary.recovery_cuts_erased
            ),
            format!(
                "  after a power cut between flushes and the rerun {:?}",
                summary.after_cuts
            ),
            format!("  salvage wrong answers {}", summary.salvage_wrong),
        ])?;
    }
    for failure in &summary.failures {
        eprintln!("{failure}");
    }
    Ok(!summary.failed())
}

/// `corrupt` on each seed's swarm draw: refused draws counted, the rest
/// run in parallel; silent or lost placements fail the run.
fn corrupt_swarm(args: &CorruptArgs, seeds: std::ops::Range<u64>) -> Result<bool, String> {
    use logstore_sim::campaign::corrupt::{corrupt, CorruptPlan};
    use rayon::prelude::*;
    let chosen: Vec<u64> = seeds.collect();
    let bar = progress_bar(chosen.len() as u64, "corrupt swarm");
    let mut refused = std::collections::BTreeMap::<String, u64>::new();
    let mut plans = Vec::new();
    for &seed in &chosen {
        match CorruptPlan::swarm(seed) {
            Ok(plan) => plans.push(CorruptPlan {
                flushes: args.flushes,
                ops_per_flush_max: args.ops_per_flush,
                pairs: !args.no_pairs,
                recovery_cuts: !args.no_recovery_cuts,
                after_cut_faults: match args.no_segment_cuts {
                    true => Vec::new(),
                    false => plan.after_cut_faults,
                },
                reused_device: args.reused_device || plan.reused_device,
                ..plan
            }),
            Err(reason) => {
                *refused.entry(reason).or_default() += 1;
                bar.inc(1);
            }
        }
    }
    let runs: Vec<_> = plans
        .par_iter()
        .map(|plan| {
            let summary = corrupt(plan, &|_| {});
            bar.inc(1);
            (plan.seed, summary)
        })
        .collect();
    bar.finish_and_clear();
    let (mut placements, mut silent, mut store_lost, mut failures) = (0, 0, 0, Vec::new());
    let (mut rows, mut points_evicted) = (Vec::new(), 0);
    for (seed, summary) in runs {
        let summary = summary?;
        placements += summary.placements;
        points_evicted += summary.points_evicted;
        silent += summary.silent + summary.salvage_wrong;
        store_lost += summary.store_lost;
        for failure in &summary.failures {
            failures.push(format!("seed {seed}: {failure}"));
        }
        rows.push(json!({ "seed": seed, "summary": summary }));
    }
    let figures = json!({
        "drawn": chosen.len(), "refused": refused.values().sum::<u64>(),
        "refused_by_reason": refused, "runs": rows.len(), "placements": placements,
        "silent": silent, "store_lost": store_lost, "points_evicted": points_evicted,
        "runs_detail": rows,
    });
    if args.output.json {
        print_lines(&[figures.to_string()])?;
    } else {
        print_lines(&[format!(
            "corrupt swarm: {} drawn, {} refused, {} runs, {placements} placements ({points_evicted} points after an eviction): {silent} silent, {store_lost} store lost",
            chosen.len(),
            figures["refused"],
            figures["runs"]
        )])?;
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    Ok(silent == 0 && store_lost == 0)
}

/// `corrupt --subject littlefs|logstore-seam`: single faults through the
/// subject seam; a silent placement fails the run.
fn corrupt_seam(args: &CorruptArgs) -> Result<bool, String> {
    use logstore_sim::campaign::corrupt_subject::{corrupt_subject, SubjectCorruptSummary};
    use logstore_sim::subject::{index::IndexSubject, SubjectConfig};
    if args.swarm || args.no_pairs || args.no_recovery_cuts {
        return Err(format!(
            "--subject {} takes --device, --seed, --flushes, --ops-per-flush and --no-ecc only",
            args.subject.name()
        ));
    }
    let config = SubjectConfig {
        seed: args.seed,
        ops: (args.flushes as usize) * (args.ops_per_flush as usize),
        device: args.device,
        mode: logstore_sim::CrashMode::DropUnsynced,
        ecc: !args.no_ecc,
        fail_ops: false,
        bad_blocks: Vec::new(),
        depth: 1,
        then_crash_at: None,
        then_fail_at: None,
        io_errors: false,
    };
    let summary: SubjectCorruptSummary = match args.subject {
        SubjectArg::Littlefs => littlefs_corrupt(&config, args.flushes)?,
        _ => corrupt_subject::<IndexSubject>(&config, &(), args.flushes)?,
    };
    if args.output.json {
        print_lines(&[serde_json::to_string(&summary).map_err(|e| e.to_string())?])?;
    } else {
        let mut lines = vec![format!(
            "corrupt {}: {} points, {} placements: {} kept, {} named ({} not mounted), {} silent",
            summary.subject,
            summary.points,
            summary.placements,
            summary.kept,
            summary.named,
            summary.not_mounted,
            summary.silent
        )];
        for (fault, [kept, named, silent]) in &summary.by_fault {
            lines.push(format!(
                "  {fault}: {kept} kept, {named} named, {silent} silent"
            ));
        }
        print_lines(&lines)?;
    }
    for silent in &summary.silent_shown {
        eprintln!("SILENT ({silent})");
    }
    if let Some(why) = &summary.stopped {
        eprintln!("stopped: {why}");
    }
    Ok(summary.silent == 0)
}

#[cfg(feature = "littlefs")]
fn littlefs_corrupt(
    config: &logstore_sim::subject::SubjectConfig,
    points: u32,
) -> Result<logstore_sim::campaign::corrupt_subject::SubjectCorruptSummary, String> {
    logstore_sim::littlefs::corrupt(config, points)
}

#[cfg(not(feature = "littlefs"))]
fn littlefs_corrupt(
    _: &logstore_sim::subject::SubjectConfig,
    _: u32,
) -> Result<logstore_sim::campaign::corrupt_subject::SubjectCorruptSummary, String> {
    Err(super::campaigns::NO_LITTLEFS.into())
}
