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
         rule (every flushed entry kept). The last column is logstore under its own checker instead (`check::Runner`: its \
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
    let mut headline = if lost_on.is_empty() {
        "littlefs kept every closed file on every preset".to_string()
    } else {
        format!(
            "littlefs lost closed files under torn cuts on {} (paired pages)",
            lost_on.join(", ")
        )
    };
    headline.push_str(&if logstore_lost_on.is_empty() {
        "; logstore, through the same campaign, lost nothing".to_string()
    } else {
        format!("; logstore FAILED on {}", logstore_lost_on.join(", "))
    });
    Ok(Section {
        markdown: md,
        figures: serde_json::Value::Object(figures),
        headline,
    })
}
