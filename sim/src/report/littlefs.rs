//! The report's littlefs section (a build with `--features littlefs`):
//! littlefs and this index through the same exhaustive torn-crash
//! campaign on each preset, side by side (issue 25).

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;

use crate::campaign::{self, Hit, Part};
use crate::check::workload::WorkloadKind;
use crate::littlefs::{exhaustive as lfs_exhaustive, LfsConfig};
use crate::nand::{CrashMode, Device};

use super::{Section, Sizes};

pub(super) fn section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let ops = sizes.littlefs_ops;
    let mut md = format!(
        "## littlefs beside logstore\n\n\
         The same exhaustive campaign on two stores: {ops} steps, a torn power cut at every mutating flash operation, a mount or open \
         and the store's own guarantee checked after each, on the presets' small geometries through our BCH ECC. \
         littlefs (the C library, through the `littlefs2` crate, `sim/src/littlefs.rs`) runs a file workload (files written \
         and closed, appended, renamed, removed); its guarantee is the one it states: it mounts, and every file is as at its \
         last close. logstore runs its uniform workload under its guarantees. A failure is **silent** when the store \
         mounted and served other data without a word. Commands: \
         `cargo run --release --features littlefs -- exhaustive --subject littlefs --ops {ops} --mode torn --device D --json` and \
         `cargo run --release -- exhaustive --ops {ops} --mode torn --device D --jobs 1 --json`.\n\n\
         | device | littlefs crash points | littlefs failures (silent) | pages damaged through pairing | littlefs write amplification | littlefs erases max / mean | logstore crash points | logstore failures | logstore pages damaged through pairing |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let mut figures = serde_json::Map::new();
    let mut lost_on = Vec::new();
    for device in [
        None,
        Some(Device::Slc),
        Some(Device::Mlc),
        Some(Device::Tlc),
    ] {
        let name = device.map_or("ideal", Device::name);
        let lfs = lfs_exhaustive(
            &LfsConfig {
                seed: 0,
                ops,
                device,
                mode: CrashMode::Torn,
                ecc: true,
                bug: None,
            },
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
        let _ = writeln!(
            md,
            "| {name} | {} | {} ({}) | {} | {:.2} | {} / {:.1} | {} | {} | {} |",
            lfs.crash_points,
            lfs.failures,
            lfs.silent,
            lfs.paired_pages_corrupted,
            lfs.write_amplification,
            lfs.erase_max,
            lfs.erase_mean,
            ours.crash_points,
            ours.failures,
            ours.paired_pages_corrupted,
        );
        if lfs.failures > 0 {
            lost_on.push(name);
        }
        figures.insert(
            name.to_string(),
            json!({"littlefs": lfs, "logstore": {"crash_points": ours.crash_points, "failures": ours.failures,
                "paired_pages_corrupted": ours.paired_pages_corrupted}}),
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
    let headline = if lost_on.is_empty() {
        "littlefs kept every closed file on every preset".to_string()
    } else {
        format!(
            "littlefs lost closed files under torn cuts on {} (paired pages)",
            lost_on.join(", ")
        )
    };
    Ok(Section {
        markdown: md,
        figures: serde_json::Value::Object(figures),
        headline,
    })
}
