//! The report's lookups section: page reads a miss and a hit across 0 to
//! 32 incarnations, with each incarnation's filter and without, the RAM
//! the filters take, against SILT's figures. It lays out what
//! [`crate::measure::lookups::incarnation_lookups`] measures on one store.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;

use super::{Section, Sizes};
use crate::measure::lookups::{incarnation_lookups, IncarnationLookups, LookupsConfig};
use crate::nand::Device;

pub(super) fn section(sizes: &Sizes, _: &Path, bar: &ProgressBar) -> Result<Section, String> {
    bar.set_message("lookups across incarnations");
    let mut config = LookupsConfig::new(Device::Mlc);
    config.order = sizes.frozen_order;
    let points = incarnation_lookups(&config, &sizes.frozen_counts, &|frozen| {
        bar.set_message(format!("lookups: {frozen} incarnations frozen"))
    })?;
    let most = sizes.frozen_counts.iter().max().copied().unwrap_or(0);
    let mut md = String::from("## Lookups across incarnations\n\n");
    let _ = writeln!(
        md,
        "One store on the `mlc` preset (4 KiB pages, 50 µs a read), its log store of order {} (2^{} buckets of 4 slots) frozen whole into each incarnation, \
         then a fifth full again; {} probes at each point, half hits drawn uniformly from the frozen keys (from the log store with none frozen), half misses. \
         Each incarnation has SILT's in-RAM filter: a 17-bit tag of the hash in each slot of its table (0 for an empty one), \
         so a lookup compares its tag with its two candidate buckets' tags: \
         a miss reads only where a tag matches falsely, a hit reads the one page of the bucket whose tag matched \
         (and, now and then, a page of a newer incarnation whose tags matched falsely). \
         \"Without\" is the same store with the filters ignored (`Store::set_filters(false)`), as lookups were before them. \
         `cargo run --release -- lookups --incarnations {most} --order {} --json`\n",
        config.order, config.order, config.probes, config.order
    );
    md.push_str(
        "| incarnations | frozen entries | reads a miss | without | reads a hit | worst incarnation | without | filter RAM a frozen entry (bytes) | device µs a lookup | without |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for [on, off] in &points {
        md.push_str(&row(on, off));
    }
    md.push_str(
        "| SILT (SOSP 2011) | | a few in 10,000 a store | | about 1 | | | about 2.2 | | |\n\n\
         The filters take 17 bits a slot, so 2.125 / fill bytes an entry at any order (an incarnation is frozen from a table filled to about 0.98). \
         A binary fuse filter (xorf's `BinaryFuse16`, keyed with the bucket) took 2.46 bytes an entry at order 12 and 2.25 at order 18, \
         and it was given up for the tags; 16-bit tags took 2.04 bytes but let a hit in the oldest of 32 incarnations meet 0.004 false matches on its way. \
         The log store's full-layout table takes about 58 bytes a slot besides (hash, value and a tag byte); the compact layout 5.\n",
    );
    md.push_str("<!-- timings:begin -->\nLookups a second in the simulator (ECC decoded, no latency waited; machine-dependent), with filters and without: ");
    let rates: Vec<String> = points
        .iter()
        .map(|[on, off]| {
            format!(
                "{} incarnations {:.0} / {:.0}",
                on.incarnations, on.lookups_per_s, off.lookups_per_s
            )
        })
        .collect();
    md.push_str(&rates.join("; "));
    md.push_str(".\n<!-- timings:end -->\n");
    let last = points.last().map(|[on, off]| (on.clone(), off.clone()));
    let headline = match &last {
        Some((on, off)) => format!(
            "{} incarnations: {:.4} page reads a miss ({:.1} without filters), {:.4} a hit, {:.2} filter bytes a frozen entry",
            on.incarnations, on.reads_per_miss, off.reads_per_miss, on.reads_per_hit, on.ram_bytes_per_frozen_entry
        ),
        None => "no point measured".into(),
    };
    Ok(Section {
        markdown: md,
        headline,
        figures: json!({ "order": config.order, "device": "mlc", "points": points }),
    })
}

fn row(on: &IncarnationLookups, off: &IncarnationLookups) -> String {
    let ram = if on.incarnations == 0 {
        "".to_string()
    } else {
        format!("{:.3}", on.ram_bytes_per_frozen_entry)
    };
    format!(
        "| {} | {} | {:.4} | {:.2} | {:.4} | {:.4} | {:.2} | {ram} | {:.1} | {:.1} |\n",
        on.incarnations,
        on.frozen_entries,
        on.reads_per_miss,
        off.reads_per_miss,
        on.reads_per_hit,
        on.reads_per_hit_worst,
        off.reads_per_hit,
        on.device_us_per_lookup,
        off.device_us_per_lookup,
    )
}
