//! The report's littlefs section (a build with `--features littlefs`):
//! littlefs and this index through the same exhaustive torn-crash
//! campaign on each preset, side by side (issue 25): the subject seam's
//! ([`crate::subject`]) for both, and the index's own checker beside.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;

use crate::campaign::{self, Hit, Part};
use crate::check::workload::WorkloadKind;
use crate::littlefs::exhaustive as lfs_exhaustive;
use crate::nand::{CrashMode, Device};
use crate::subject::{self, index::IndexSubject, SubjectConfig};

use super::{Section, Sizes};

pub(super) fn section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let ops = sizes.littlefs_ops;
    let mut md = format!(
        "## littlefs beside logstore\n\n\
         The same exhaustive campaign on two stores: {ops} steps, a torn power cut at every mutating flash operation, a mount or open \
         and the store's own guarantee checked after each, on the presets' small geometries through our BCH ECC. \
         littlefs (the C library, through the `littlefs2` crate, `sim/src/littlefs.rs`) runs a file workload (files written \
         and closed, appended, renamed, removed); its guarantee is the one it states: it mounts, and every file is as at its \
         last close. Both go through the same campaign and model, the subject seam (`sim/src/subject/`): logstore runs its \
         lifecycle workload (inserts, deletes, lookups, a flush every 1 to 32), and its guarantee is the model's prefix \
         rule (every flushed entry kept). The third row a preset is logstore under its own checker instead (`check::Runner`: its \
         uniform workload, and every promise it makes beyond the guarantee, at every recovery). A failure is **silent** when \
         the store mounted and served other data without a word. Write amplification: bytes programmed (spare areas \
         counted) over the bytes the workload wrote (file data; 48 bytes an entry). Commands: \
         `cargo run --release --features littlefs -- exhaustive --subject littlefs --ops {ops} --mode torn --device D --json`, \
         the same with `--subject logstore-seam`, and \
         `cargo run --release -- exhaustive --ops {ops} --mode torn --device D --jobs 1 --json`.\n\n\
         | device | store | crash points | failures (silent) | pages damaged through pairing | write amplification | erases max / mean |\n\
         |---|---|---:|---:|---:|---:|---:|\n"
    );
    let mut figures = serde_json::Map::new();
    let mut lost_on = Vec::new();
    let mut logstore_lost_on = Vec::new();
    for device in [
        None,
        Some(Device::Slc),
        Some(Device::Mlc),
        Some(Device::Tlc),
    ] {
        let name = device.map_or("ideal", Device::name);
        let lfs = lfs_exhaustive(
            &SubjectConfig {
                seed: 0,
                ops,
                device,
                mode: CrashMode::Torn,
                ecc: true,
                fail_ops: false,
                bad_blocks: Vec::new(),
                depth: 1,
                then_crash_at: None,
                then_fail_at: None,
                io_errors: false,
            },
            None,
            None,
        )?;
        let seam = subject::exhaustive::<IndexSubject>(
            &SubjectConfig {
                seed: 0,
                ops,
                device,
                mode: CrashMode::Torn,
                ecc: true,
                fail_ops: false,
                bad_blocks: Vec::new(),
                depth: 1,
                then_crash_at: None,
                then_fail_at: None,
                io_errors: false,
            },
            &(),
            None,
        )?;
        let case = campaign::exhaustive_case(
            0,
            ops,
            WorkloadKind::Uniform,
            logstore::SlotLayoutKind::Full,
            true,
            &Part::on(device),
        );
        let hits = Hit::all(&[CrashMode::Torn], false, false);
        let ours = campaign::exhaustive_hits(&case, &hits, 1, &ProgressBar::hidden());
        for (store, run) in [("littlefs", &lfs), ("logstore (seam)", &seam)] {
            let _ = writeln!(
                md,
                "| {name} | {store} | {} | {} ({}) | {} | {:.2} | {} / {:.1} |",
                run.crash_points,
                run.failures,
                run.silent,
                run.paired_pages_corrupted,
                run.write_amplification,
                run.erase_max,
                run.erase_mean,
            );
        }
        let _ = writeln!(
            md,
            "| {name} | logstore (own checker) | {} | {} | {} | | |",
            ours.crash_points, ours.failures, ours.paired_pages_corrupted,
        );
        if lfs.failures > 0 {
            lost_on.push(name);
        }
        if seam.failures > 0 || ours.failures > 0 {
            logstore_lost_on.push(name);
        }
        figures.insert(
            name.to_string(),
            json!({"littlefs": lfs, "logstore_seam": seam, "logstore": {"crash_points": ours.crash_points,
                "failures": ours.failures, "paired_pages_corrupted": ours.paired_pages_corrupted}}),
        );
    }
    md.push_str(
        "\nWhere littlefs loses closed files it is the same mechanism each time: a cut tears the program of an upper page, \
         which scrambles the lower page it shares a wordline with, a page littlefs had already written and committed (a \
         closed file's data or its metadata); littlefs's recovery cannot tell, and serves what the page now holds or drops \
         back further than its last commit. littlefs does not claim to be safe on MLC or TLC paired pages, and this is not \
         a littlefs bug: it is what a store that does not know the part's pairing meets on such a part, and why this index \
         leaves the pages a flush boundary cuts unwritten (\"Paired pages\" in the README). Each failure's replay command \
         runs one crash point again (`--crash-at`).\n\n",
    );
    if failed_ops_table(ops, &mut md, &mut figures)? {
        logstore_lost_on.push("a failed program or erase");
    }
    let (lfs_silent, ours_silent) = one_fault_table(ops, &mut md, &mut figures)?;
    let (lfs_other, ours_failed) = swarm_table(sizes.littlefs_swarm_seeds, &mut md, &mut figures)?;
    let (lfs_violations, ours_deep_failed) = depth_two_table(&mut md, &mut figures)?;
    if ours_deep_failed {
        logstore_lost_on.push("a cut in the retry after a cut");
    }
    if ours_failed {
        logstore_lost_on.push("drawn parts");
    }
    if ours_silent {
        logstore_lost_on.push("one damaged page");
    }
    let mut headline = if lost_on.is_empty() {
        "littlefs kept every closed file on every preset".to_string()
    } else {
        format!(
            "littlefs lost closed files under torn cuts on {} (paired pages)",
            lost_on.join(", ")
        )
    };
    if lfs_silent {
        headline.push_str("; one damaged page can cost littlefs silently");
    }
    if lfs_violations > 0 {
        headline.push_str("; after a torn program littlefs programmed a page twice");
    }
    if lfs_other > 0 {
        headline.push_str(&format!(
            "; littlefs failed {lfs_other} times on drawn parts outside torn pairs, raw pages and depth 2"
        ));
    }
    headline.push_str(&if logstore_lost_on.is_empty() {
        "; logstore, through the same campaign, lost nothing".to_string()
    } else {
        format!("; logstore FAILED on {}", logstore_lost_on.join(", "))
    });
    figures.insert("logstore_failures".into(), json!(logstore_lost_on.len()));
    Ok(Section {
        markdown: md,
        figures: serde_json::Value::Object(figures),
        headline,
    })
}

/// The second table: each program and erase failed in turn, power on
/// (its block gone bad), on the ideal device and MLC, for both subjects
/// through the seam. Says whether logstore failed.
fn failed_ops_table(
    ops: usize,
    md: &mut String,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<bool, String> {
    let _ = write!(
        md,
        "**A program or erase failed, power on.** The same {ops} steps; at every mutating flash operation, besides the cut, \
         a branch where that program or erase fails and its block goes bad, the store running on: what it acknowledges it \
         must serve, then and after a remount; what it refuses must leave the state before or after the operation. \
         littlefs relocates a block whose program or erase answers `LFS_ERR_CORRUPT` (it keeps no bad block table, so a \
         block gone bad for good can come round again); logstore retires it. Command: the ones above with `--fail-ops` \
         (`--mode drop`).\n\n\
         | device | store | programs and erases failed | failures (silent) | operations refused | refusals by error |\n\
         |---|---|---:|---:|---:|---|\n"
    );
    let mut logstore_failed = false;
    let mut examples = Vec::new();
    let mut blocks = std::collections::BTreeSet::new();
    let (mut refusal_kinds, mut lfs_failures) = (std::collections::BTreeSet::new(), 0);
    for device in [None, Some(Device::Mlc)] {
        let name = device.map_or("ideal", Device::name);
        let config = SubjectConfig {
            seed: 0,
            ops,
            device,
            mode: CrashMode::DropUnsynced,
            ecc: true,
            fail_ops: true,
            bad_blocks: Vec::new(),
            depth: 1,
            then_crash_at: None,
            then_fail_at: None,
            io_errors: false,
        };
        let lfs = lfs_exhaustive(&config, None, None)?;
        let seam = subject::exhaustive::<IndexSubject>(&config, &(), None)?;
        for (store, run) in [("littlefs", &lfs), ("logstore (seam)", &seam)] {
            let refusals: Vec<String> = run
                .refusals
                .iter()
                .map(|(kind, count)| format!("{kind}: {count}"))
                .collect();
            let _ = writeln!(
                md,
                "| {name} | {store} | {} | {} ({}) | {} | {} |",
                run.ops_failed,
                run.failures,
                run.silent,
                run.refused,
                refusals.join(", ")
            );
        }
        logstore_failed |= seam.failures > 0;
        blocks.extend(lfs.refusal_blocks.keys().copied());
        refusal_kinds.extend(lfs.refusals.keys().cloned());
        lfs_failures += lfs.failures;
        examples.extend((lfs.refusal_replays.values()).map(|r| format!("littlefs on {name}: {r}")));
        figures.insert(
            format!("{name}_failed_ops"),
            json!({"littlefs": lfs, "logstore_seam": seam}),
        );
    }
    if !examples.is_empty() {
        let names: Vec<String> = blocks.iter().map(u32::to_string).collect();
        let _ = write!(
            md,
            "\nEvery operation littlefs refused had its failed program or erase in block {}",
            names.join(" or ")
        );
        if blocks.iter().all(|&b| b < 2) {
            md.push_str(
                ": littlefs keeps its superblock pair in blocks 0 and 1 and cannot move it (`lfs.c`: \"can't relocate \
                 superblock, filesystem is now frozen\", `LFS_ERR_NOSPC`)",
            );
        }
        if lfs_failures == 0 {
            md.push_str("; every failure elsewhere it relocated, and it lost nothing");
        }
        if refusal_kinds
            .iter()
            .any(|k| k.starts_with("LFS_ERR_NAMETOOLONG"))
        {
            md.push_str(
                ". Creating a file (a two-byte name) then answers `LFS_ERR_NAMETOOLONG`: `lfs_file_open` takes any \
                 `LFS_ERR_NOSPC` from the create's commit for a name too long for a metadata block",
            );
        }
        md.push_str(". The first refusal of each kind:\n\n");
        for example in &examples {
            let _ = writeln!(md, "- {example}");
        }
    }
    md.push('\n');
    Ok(logstore_failed)
}

/// The third table: one fault placed on one page at a time, at four
/// quiescent points, for both subjects through the seam, on the ideal
/// device and MLC. Says whether littlefs and whether logstore were silent.
fn one_fault_table(
    ops: usize,
    md: &mut String,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(bool, bool), String> {
    use crate::campaign::corrupt_subject::corrupt_subject;
    const POINTS: u32 = 4;
    let _ = write!(
        md,
        "**One page damaged.** The `corrupt` campaign through the seam: the same {ops} steps, at {POINTS} quiescent points \
         (after a close; for logstore, a flush) each fault of the `corrupt` campaign in turn on each programmed page (past \
         the ECC, at its limit and one past it, erased, stale, another page's bytes, one header bit changed), each on a copy, \
         then a remount and every file or entry read back: **kept** (as last made durable), **named** (the mount or a read \
         failed with an error) or **silent**. Command: `cargo run --release --features littlefs -- corrupt --subject \
         littlefs --flushes {POINTS} --ops-per-flush {} --device D`, and `--subject logstore-seam`.\n\n\
         | device | store | placements | kept | named (not mounted) | silent | silent by fault |\n\
         |---|---|---:|---:|---:|---:|---|\n",
        ops / POINTS as usize
    );
    let (mut lfs_silent, mut ours_silent) = (false, false);
    let mut at_limit_whole = true;
    let mut shown = Vec::new();
    for device in [None, Some(Device::Mlc)] {
        let name = device.map_or("ideal", Device::name);
        let config = SubjectConfig {
            seed: 0,
            ops,
            device,
            mode: CrashMode::DropUnsynced,
            ecc: true,
            fail_ops: false,
            bad_blocks: Vec::new(),
            depth: 1,
            then_crash_at: None,
            then_fail_at: None,
            io_errors: false,
        };
        let lfs = crate::littlefs::corrupt(&config, POINTS)?;
        let ours = corrupt_subject::<IndexSubject>(&config, &(), POINTS)?;
        for (store, run) in [("littlefs", &lfs), ("logstore (seam)", &ours)] {
            let by_fault: Vec<String> = run
                .by_fault
                .iter()
                .filter(|(_, counts)| counts[2] > 0)
                .map(|(fault, counts)| format!("{fault} {}", counts[2]))
                .collect();
            let _ = writeln!(
                md,
                "| {name} | {store} | {} | {} | {} ({}) | {} | {} |",
                run.placements,
                run.kept,
                run.named,
                run.not_mounted,
                run.silent,
                by_fault.join(", ")
            );
        }
        lfs_silent |= lfs.silent > 0;
        ours_silent |= ours.silent > 0;
        for run in [&lfs, &ours] {
            if let Some([_, named, silent]) = run.by_fault.get("AtEcc") {
                at_limit_whole &= *named == 0 && *silent == 0;
            }
        }
        shown.extend(
            lfs.silent_shown
                .first()
                .map(|s| format!("littlefs on {name}: {s}")),
        );
        figures.insert(
            format!("{name}_one_fault"),
            json!({"littlefs": lfs, "logstore_seam": ours}),
        );
    }
    if lfs_silent {
        md.push_str(
            "\nlittlefs keeps a CRC on its metadata commits but none on file data, and when a metadata block's newest \
             commit fails its CRC it falls back to the other block of the pair, an older revision: one damaged page past \
             the ECC, erased, stale or another page's bytes can serve older or other contents without a word. littlefs \
             leaves error correction to the block device; this is what one fault the device's ECC does not catch costs \
             it. ",
        );
        if at_limit_whole {
            md.push_str(
                "Under the ECC, a page at the ECC's limit read back whole on both stores. ",
            );
        }
        for example in &shown {
            let _ = write!(md, "First silent placement, {example}. ");
        }
        md.push('\n');
    }
    md.push('\n');
    Ok((lfs_silent, ours_silent))
}

/// Steps of each drawn run in the swarm table.
const SWARM_OPS: usize = 300;

/// The fourth table: both subjects on `seeds` drawn configurations
/// ([`subject::draw`]), their failures sorted by what the draw exposed
/// the store to. Says how many of littlefs's fall outside torn pairs, depth 2 and
/// raw pages, and whether logstore failed.
fn swarm_table(
    seeds: u64,
    md: &mut String,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(u64, bool), String> {
    let seeds: Vec<u64> = (0..seeds).collect();
    let lfs = crate::littlefs::sweep(&seeds, SWARM_OPS, (None, true), true)?;
    let ours = subject::sweep::<IndexSubject>(&seeds, SWARM_OPS, (None, true), true)?;
    let _ = write!(
        md,
        "**Drawn parts.** {} seeds, each drawing its part (ideal, SLC, MLC, TLC), raw pages one time in four (littlefs \
         only), the crash mode, failing programs and erases one seed in two, 0 to 3 factory-bad blocks anywhere on the \
         store's own part, a host I/O error branch at every crash point one seed in four and depth 2 one seed in eight, \
         {SWARM_OPS} steps each, a seeded eighth of the crash points cut. Failures are sorted by what the draw exposed \
         the store to: torn programs on MLC or TLC paired pages, a part's bit errors on raw pages, cuts at depth 2 (in \
         the mount or the retry), or none of those. Refused: operations the store answered with an error, keeping \
         everything (a host I/O error, a superblock it cannot move). Command: `cargo run --release --features littlefs \
         -- sweep --subject littlefs --swarm --seeds 0..{} --ops {SWARM_OPS} --json`, and `--subject logstore-seam`.\n\n\
         | store | crash points | at depth 2 | failed operations | refused | unformattable | failures | on torn paired pages | on raw pages | at depth 2 | other |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        seeds.len(),
        seeds.len()
    );
    let cause = |run: &crate::subject::SubjectSummary, c: &str| {
        run.failures_by_cause.get(c).copied().unwrap_or(0)
    };
    for (store, run) in [("littlefs", &lfs), ("logstore (seam)", &ours)] {
        let _ = writeln!(
            md,
            "| {store} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.crash_points,
            run.crash_points_depth2,
            run.ops_failed,
            run.refused,
            run.unformattable,
            run.failures,
            cause(run, "torn paired pages"),
            cause(run, "raw pages"),
            cause(run, "a cut in the mount or the retry"),
            cause(run, "other")
        );
    }
    md.push('\n');
    figures.insert(
        "swarm".into(),
        json!({"littlefs": lfs, "logstore_seam": ours}),
    );
    Ok((cause(&lfs, "other"), ours.failures > 0))
}

/// The fifth table: depth 2, torn cuts, on every preset: after each cut
/// the store recovered from, its retry cut at every flash operation. Says
/// how many branches littlefs broke the NAND rules in, and whether
/// logstore failed.
fn depth_two_table(
    md: &mut String,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(u64, bool), String> {
    let _ = write!(
        md,
        "**A cut in the recovery, and in the retry after a cut.** Depth 2, {SWARM_OPS} steps, torn cuts: after each cut \
         the mount is cut at every flash operation it makes (littlefs writes none there; logstore's open does), and, the \
         store recovered, the client retries the operation from the state found, the retry cut at every flash operation \
         it makes; after each the store must serve what the first cut allowed, or the state found or the operation done. \
         A branch where the device refused an \
         operation as a breach of the NAND rules (a page programmed twice without an erase) is a failure whatever the \
         store served. Command: `cargo run --release --features littlefs -- exhaustive --subject littlefs --ops \
         {SWARM_OPS} --mode torn --depth 2 --device D --json`, and `--subject logstore-seam`.\n\n\
         | device | store | first cuts | second cuts (recovery and retry) | failures (silent) | rule violations |\n\
         |---|---|---:|---:|---:|---:|\n"
    );
    let (mut violations, mut ours_failed) = (0, false);
    let mut example = None;
    for device in [
        None,
        Some(Device::Slc),
        Some(Device::Mlc),
        Some(Device::Tlc),
    ] {
        let name = device.map_or("ideal", Device::name);
        let config = SubjectConfig {
            seed: 0,
            ops: SWARM_OPS,
            device,
            mode: CrashMode::Torn,
            ecc: true,
            fail_ops: false,
            bad_blocks: Vec::new(),
            depth: 2,
            then_crash_at: None,
            then_fail_at: None,
            io_errors: false,
        };
        let lfs = lfs_exhaustive(&config, None, None)?;
        let ours = subject::exhaustive::<IndexSubject>(&config, &(), None)?;
        for (store, run) in [("littlefs", &lfs), ("logstore (seam)", &ours)] {
            let _ = writeln!(
                md,
                "| {name} | {store} | {} | {} | {} ({}) | {} |",
                run.crash_points,
                run.crash_points_depth2,
                run.failures,
                run.silent,
                run.rule_violations
            );
        }
        violations += lfs.rule_violations;
        ours_failed |= ours.failures > 0;
        if example.is_none() {
            example = lfs
                .replay
                .iter()
                .find(|r| r.contains("programmed twice"))
                .cloned();
        }
        figures.insert(
            format!("{name}_depth2"),
            json!({"littlefs": lfs, "logstore_seam": ours}),
        );
    }
    if let Some(example) = example {
        let _ = write!(
            md,
            "\nAfter a torn program, littlefs's retry programs the page the cut had begun to program, again, without an \
             erase: NAND allows one program a page an erase (MLC and TLC parts strictly; SLC parts a few partial ones, \
             never over the same bytes), and a real part would take it and leave the page's cells undefined. littlefs \
             finds where to append by reading whether the next page looks erased; a program cut early can leave one that \
             does. One: {example}.\n"
        );
    }
    md.push('\n');
    Ok((violations, ours_failed))
}
