//! The report's disk image section: the dedup ratio and what the index
//! costs (reads a lookup, RAM an entry, write amplification) on two ext4
//! images, one of them QCOW2, at 4 KiB and 64 KiB clusters (issue 25; the
//! seed's own use: deduplicating a guest's disk).

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;

use crate::measure::image::sample_images;
use crate::measure::ingest::{ingest_images, IngestConfig};

use super::{Section, Sizes};

pub(super) fn section(_: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let mut md = String::from("## Disk images\n\n");
    let dir = std::env::temp_dir().join(format!("logstore-report-images-{}", std::process::id()));
    let built = sample_images(&dir);
    let images = match built {
        Ok(Some(images)) => images,
        Ok(None) => {
            let _ = std::fs::remove_dir_all(&dir);
            md.push_str("Skipped: `mkfs.ext4` or `qemu-img` is not installed (`apt-get install e2fsprogs qemu-utils`).\n\n");
            return Ok(Section {
                markdown: md,
                figures: json!({"skipped": "mkfs.ext4 or qemu-img not installed"}),
                headline: "skipped (mkfs.ext4 or qemu-img not installed)".into(),
            });
        }
        Err(why) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(why);
        }
    };
    md.push_str(
        "Two 8 MiB ext4 images made by `mkfs.ext4 -d` from seeded directories that share three 200 KB files \
         (40 and 12 files of their own), the second converted to QCOW2 by `qemu-img convert -O qcow2`, ingested together \
         as their guests see them (`measure/image.rs`: a raw image is every cluster; QCOW2 clusters its tables map nothing \
         to are skipped and counted), on the ideal device with `ingest`'s store (order 14, 24 incarnations). \
         The counts are held against an independent pass through `qemu-img` in `sim/tests/suite/image.rs`. \
         Command: `cargo run --release -- ingest --image a.img --image b.qcow2 --cluster-bytes N --json`.\n\n",
    );
    md.push_str("| cluster bytes | clusters read | unallocated (skipped) | unique | dedup ratio | page reads a lookup | RAM bytes an entry | write amplification |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut figures = serde_json::Map::new();
    let mut headline = Vec::new();
    for cluster_bytes in [4096usize, 65536] {
        let report = ingest_images(&images, &IngestConfig::new(cluster_bytes), &|_, _| {});
        let report = report.inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })?;
        let _ = writeln!(
            md,
            "| {cluster_bytes} | {} | {} | {} | {:.2} | {:.4} | {:.1} | {:.2} |",
            report.clusters,
            report.clusters_unallocated,
            report.unique,
            report.dedup_ratio,
            report.reads_per_lookup,
            report.ram_bytes_per_entry,
            report.write_amplification
        );
        headline.push(format!(
            "{:.2} at {} KiB",
            report.dedup_ratio,
            cluster_bytes / 1024
        ));
        figures.insert(
            cluster_bytes.to_string(),
            serde_json::to_value(&report).map_err(|e| e.to_string())?,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    md.push_str(
        "\nMost of a fresh filesystem's clusters are zeros the raw image still holds (every one the same hash: the dedup ratio's bulk); \
         the QCOW2 image leaves them unallocated. RAM an entry is the log store's table over the few entries held: a small store's fixed cost.\n\n",
    );
    Ok(Section {
        markdown: md,
        figures: serde_json::Value::Object(figures),
        headline: format!("dedup ratio {}", headline.join(", ")),
    })
}
