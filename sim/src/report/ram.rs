//! The report's RAM section: bytes an entry by layout and order,
//! against SILT's figures.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use logstore::{Policy, SlotLayoutKind};
use serde_json::{json, Value};

use crate::measure::fill::fill_stats;
use crate::measure::lookups;
use crate::measure::speed;

use super::{Section, Sizes};

pub(super) fn ram_section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
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
    slot_rows(sizes, &mut md, &mut figures)?;
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

/// A row a layout and bucket size: bytes a slot, the fill the default
/// policy reaches, bytes an entry.
fn slot_rows(
    sizes: &Sizes,
    md: &mut String,
    figures: &mut serde_json::Map<String, Value>,
) -> Result<(), String> {
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
                *md,
                "| {name} | {bucket} | {slot:.2} | {fill:.4} | {per_entry:.2} |"
            );
            figures.insert(format!("{name}_b{bucket}"), json!(per_entry));
        }
    }
    Ok(())
}
