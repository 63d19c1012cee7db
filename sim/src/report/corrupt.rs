//! The report's fault-placement section: `corrupt` on the ideal device and
//! each preset (CORDS-style: every page of the device, at every quiescent
//! point, read back past the ECC (and at its limit t, and at t + 1),
//! erased, stale, another page's bytes,
//! garbled; pairs of critical pages; power cuts in the recovery), and
//! `craft`'s crafted header fields.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use rayon::prelude::*;
use serde_json::json;

use super::{Section, Sizes};
use crate::campaign::corrupt::{corrupt, CorruptPlan, CorruptSummary};
use crate::campaign::crafted::{craft, CraftPlan, CraftSummary};
use crate::nand::Device;

pub(super) fn section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let devices = [
        None,
        Some(Device::Slc),
        Some(Device::Mlc),
        Some(Device::Tlc),
    ];
    let runs: Vec<CorruptSummary> = devices
        .par_iter()
        .map(|&device| {
            let plan = CorruptPlan {
                flushes: sizes.corrupt_flushes,
                ..CorruptPlan::new(device, 0)
            };
            corrupt(&plan, &|_| {})
        })
        .collect::<Result<_, _>>()?;
    let mut md = String::from("## Faults placed on purpose\n\n");
    let _ = writeln!(
        md,
        "`corrupt` (CORDS-style, Ganesan et al., FAST 2017): after each of {} flushes of a workload, every programmed page in turn is read back past \
         the ECC, with exactly t or t + 1 bits flipped in a step (the decoder's limit), erased, holds its stale bytes, another page's bytes, or garbled bytes, and the store reopens; the erased pages an open reads (every erased page 0, each partly written block's next page) get bits flipped at the ECC's limit, one past it and far past it; then every pair of the anchor's \
         pages, the journal's last pages and the filter pages, the same fault on both (past the ECC, another page's bytes, a header bit, the ECC's limit, one past it); then a power cut at every operation of the recovery after a placed fault (the open, and after a named loss the salvage), after each fault on those pages and, at the last point, after a page past the ECC anywhere and after each fault on the erased pages an open reads; \
         then a torn power cut at every operation of each stretch between two flushes, the recovery, the stretch run again, and each page the rerun changed read back as the cut left it (stale: a page of a freeze or pack the cut stopped), past the ECC or erased \
         (its first run found a freeze's retry reusing the stopped freeze's generation on the same blocks: one stale bucket page then passed for the retry's, flushed entries absent without an error; a commit now reserves generations ahead). \
         Each placement is **kept** (every flushed entry answers right), **named** (`DataLoss` at open, or a typed error on the key), \
         **silent** (a wrong answer with no error) or the **store lost** (no open). Goal: 0 silent, 0 lost. Pairs of two journal pages are \
         counted apart: a flush's pages and its one commit copy cannot witness two losses (a known limit). \
         Command: `cargo run --release -- corrupt --device mlc --flushes {} --json`.\n",
        sizes.corrupt_flushes, sizes.corrupt_flushes
    );
    md.push_str("| device | placements | kept | named | silent | store lost | journal pairs silent | pairs at the ECC's limit or one past (silent) | cuts after an erased page's fault (silent) | cuts in a salvage | salvage wrong answers | after a cut between flushes (silent) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let (mut failures, mut placements) = (0u64, 0u64);
    let mut rows = Vec::new();
    for (device, run) in devices.iter().zip(&runs) {
        let name = device.map_or("ideal", Device::name);
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} ({}) | {} ({}) | {} | {} | {} ({}) |",
            run.placements,
            run.kept,
            run.named,
            run.silent,
            run.store_lost,
            run.journal_pairs.silent,
            run.pairs_at_ecc_limit.kept
                + run.pairs_at_ecc_limit.named
                + run.pairs_at_ecc_limit.silent,
            run.pairs_at_ecc_limit.silent,
            run.recovery_cuts_erased.kept
                + run.recovery_cuts_erased.named
                + run.recovery_cuts_erased.silent,
            run.recovery_cuts_erased.silent,
            run.salvage_cuts,
            run.salvage_wrong,
            run.after_cuts.kept
                + run.after_cuts.named
                + run.after_cuts.silent
                + run.after_cuts.store_lost,
            run.after_cuts.silent
        );
        failures += run.silent + run.store_lost + run.salvage_wrong;
        placements += run.placements;
        rows.push(json!({ "device": name, "summary": run }));
    }
    md.push_str(
        "\nSalvage wrong answers: after a named loss of a journal page, `open_salvaging` serves the rest; every flushed key must answer \
         its value or `Unknown` (with the best answer known), never an older value, a deleted hash or \"absent\" without an error. \
         Counted as failures.\n",
    );
    let reused = reused_device(sizes.corrupt_flushes, &mut md)?;
    failures += reused.silent + reused.store_lost;
    placements += reused.placements;
    let crafted = crafted_headers(sizes.craft_field_bytes, &mut md)?;
    failures += crafted.failures.len() as u64;
    Ok(Section {
        markdown: md,
        figures: json!({
            "runs": rows, "failures": failures, "placements": placements, "crafted": crafted,
            "reused_device": reused,
        }),
        headline: format!(
            "{placements} faults placed on 4 devices: {failures} silent or store lost; {} crafted headers: {} failures",
            crafted.placements,
            crafted.failures.len()
        ),
    })
}

/// The single faults on a store formatted over another on the same part
/// (the ideal device): stale bytes are the earlier store's.
fn reused_device(flushes: u32, md: &mut String) -> Result<CorruptSummary, String> {
    let plan = CorruptPlan {
        flushes,
        pairs: false,
        recovery_cuts: false,
        after_cut_faults: Vec::new(),
        reused_device: true,
        ..CorruptPlan::new(None, 0)
    };
    let run = corrupt(&plan, &|_| {})?;
    let _ = writeln!(
        md,
        "\n**Formatted over a used part** (`corrupt --reused-device`): the ideal device first holds another store of the same configuration (another workload, {flushes} flushes), \
         then a new store is formatted over it and every single fault placed at each of its {} points, stale bytes being the earlier store's: {} placements, {} kept, {} named, **{} silent**, {} store lost. \
         Its first run found a format starting generations at 1 whatever the part held (the new journal's pages then shared generation and sequence with the earlier store's). \
         Command: `cargo run --release -- corrupt --reused-device --no-pairs --no-recovery-cuts --no-segment-cuts --flushes {flushes}`.",
        run.points, run.placements, run.kept, run.named, run.silent, run.store_lost
    );
    for failure in &run.failures {
        let _ = writeln!(md, "- `{failure}`");
    }
    Ok(run)
}

/// `craft` on the first `field_bytes` of each page: header fields at
/// their extremes, each image opened as the `image` fuzz target opens it.
fn crafted_headers(field_bytes: usize, md: &mut String) -> Result<CraftSummary, String> {
    let plan = CraftPlan { field_bytes };
    let summary = craft(&plan, &|_| {})?;
    let _ = writeln!(
        md,
        "\n**Crafted headers** (a bad image, placed on purpose): every 2-, 4- and 8-byte field in the first {} bytes of every programmed page of the `image` fuzz target's {} seed stores ({} pages) \
         at 0, 1, its top bit, all ones but one and all ones, checksums fixed; each also behind an unreadable page ({}) and, for the anchor's pages, in every lane alike ({}): \
         {} images, each opened to a typed error or a consistent store, its journal read back at every position. Failures (a panic, or `get` and `contents` disagreeing): **{}**. \
         It found a bucket page listing a hash its filter's tag ruled out, now named corrupt. Command: `cargo run --release -- craft --field-bytes {}`.",
        plan.field_bytes,
        summary.stores,
        summary.pages_programmed,
        summary.previous_broken,
        summary.alike,
        summary.placements,
        summary.failures.len(),
        plan.field_bytes
    );
    for failure in &summary.failures {
        let _ = writeln!(md, "- `{failure}`");
    }
    Ok(summary)
}
