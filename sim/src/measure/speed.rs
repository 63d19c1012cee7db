//! Timings for the report: store operations per second on [`SimFlash`],
//! rebuild speed, and cuckoo lookups and inserts against `hashbrown` on the
//! same keys in the same run. Machine-dependent by nature; criterion
//! benchmarks (`cargo bench`) are the steadier source.

use std::hint::black_box;
use std::time::Instant;

use logstore::testing::{CompactTable, CuckooConfig, CuckooTable};
use logstore::{Geometry, Hash, Info, SlotLayoutKind, Value};
use logstore::{Store, StoreConfig};
use serde_json::Value as Json;

use crate::check::workload::hash_of;
use crate::nand::{SimConfig, SimFlash};

/// The CPU's model name, from /proc/cpuinfo where there is one.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// RAM bytes per slot of the full layout with `bucket` slots a bucket.
pub fn full_slot_bytes(bucket: usize) -> f64 {
    let config = CuckooConfig {
        bucket_slots: bucket,
        ..CuckooConfig::new(10, 0)
    };
    let table: CuckooTable<Value> = CuckooTable::new(config).expect("valid config");
    let fixed = std::mem::size_of::<CuckooTable<Value>>() as f64;
    (table.ram_bytes() as f64 - fixed) / table.capacity() as f64
}

/// RAM bytes per slot of the compact layout (tag + journal position).
pub fn compact_slot_bytes(bucket: usize) -> f64 {
    let config = CuckooConfig {
        bucket_slots: bucket,
        ..CuckooConfig::new(10, 0)
    };
    CompactTable::new(config, 24)
        .expect("valid config")
        .slot_bytes()
}

/// Human form of a figure: rates with thousands separators, ratios plain.
pub fn format_rate(value: &Json) -> String {
    match value.as_f64() {
        Some(v) if v >= 1_000.0 => format!("{:.0}", v)
            .as_bytes()
            .rchunks(3)
            .rev()
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(","),
        Some(v) => format!("{v:.2}"),
        None => value.to_string(),
    }
}

fn per_second(count: u64, start: Instant) -> f64 {
    count as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

/// A device of 2 KiB pages, 64 a block, with the blocks `store` needs.
fn store_device(store: &StoreConfig) -> SimFlash {
    let geometry = Geometry::new(2048, 64, 512).expect("valid geometry");
    let geometry = crate::measure::ingest::fitted(geometry, store, 0).expect("a device that fits");
    let mut config = SimConfig::new(geometry);
    config.endurance_cycles = u32::MAX;
    SimFlash::new(config, 0).expect("valid device")
}

/// Store inserts and lookups per second, and rebuild entries per second.
fn store_figures(keys: u64, layout: SlotLayoutKind) -> Result<Vec<Figure>, String> {
    let mut config = StoreConfig::new(14, 32);
    config.incarnations_max = 64;
    config.layout = layout;
    let mut store = Store::create(store_device(&config), config).map_err(|e| e.to_string())?;
    let start = Instant::now();
    for key in 0..keys {
        store
            .insert(
                hash_of(key),
                Info {
                    physical_sector: key,
                    first_logical_sector: key,
                },
            )
            .map_err(|e| e.to_string())?;
        if key % 16 == 15 {
            store.flush().map_err(|e| e.to_string())?;
        }
    }
    let inserts = per_second(keys, start);
    let start = Instant::now();
    for key in 0..keys {
        black_box(store.get(&hash_of(key)).map_err(|e| e.to_string())?);
    }
    let lookups = per_second(keys, start);
    store.flush().map_err(|e| e.to_string())?;
    let entries = store.stats().log_entries;
    let start = Instant::now();
    let (reopened, _) = Store::open(store.into_flash()).map_err(|e| e.to_string())?;
    let rebuild = per_second(entries, start);
    black_box(reopened);
    let name = if layout == SlotLayoutKind::Full {
        "full"
    } else {
        "compact"
    };
    Ok(vec![
        Figure::new(
            format!("store_{name}_inserts_per_s"),
            format!("store inserts, {name} layout, a flush every 16"),
            inserts,
            "per s",
        ),
        Figure::new(
            format!("store_{name}_lookups_per_s"),
            format!("store lookups, {name} layout"),
            lookups,
            "per s",
        ),
        Figure::new(
            format!("store_{name}_rebuild_entries_per_s"),
            format!("open: journal read and table rebuilt, {name} layout"),
            rebuild,
            "entries per s",
        ),
    ])
}

/// Nanoseconds per operation of `op` over `keys`.
fn ns_per(keys: &[Hash], mut op: impl FnMut(&Hash)) -> f64 {
    let rounds = (200_000 / keys.len().max(1)).max(1);
    let start = Instant::now();
    for _ in 0..rounds {
        keys.iter().for_each(&mut op);
    }
    start.elapsed().as_nanos() as f64 / (rounds * keys.len()).max(1) as f64
}

/// Rounds `paired` alternates.
const PAIRED_ROUNDS: usize = 7;

/// Nanoseconds an `a` and a `b` of `keys` take: each the median of
/// [`PAIRED_ROUNDS`] rounds, taken in turn, so that a noisy moment of the
/// machine weighs on both alike.
fn paired(keys: &[Hash], mut a: impl FnMut(&Hash), mut b: impl FnMut(&Hash)) -> (f64, f64) {
    let (mut times_a, mut times_b) = (Vec::new(), Vec::new());
    for _ in 0..PAIRED_ROUNDS {
        times_a.push(ns_per(keys, &mut a));
        times_b.push(ns_per(keys, &mut b));
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    (median(&mut times_a), median(&mut times_b))
}

/// Cuckoo (default policy, B = 4) against hashbrown at a fill, same keys.
fn table_figures(order: u32, fill: f64) -> Result<Vec<Figure>, String> {
    let mut table: CuckooTable<Info> =
        CuckooTable::new(CuckooConfig::new(order, 0)).map_err(|e| e.to_string())?;
    let count = (table.capacity() as f64 * fill) as u64;
    let keys: Vec<Hash> = (0..count).map(hash_of).collect();
    let misses: Vec<Hash> = (0..count.min(10_000))
        .map(|k| hash_of(k + (1 << 40)))
        .collect();
    let mut map: hashbrown::HashMap<Hash, Info> = hashbrown::HashMap::new();
    let start = Instant::now();
    for (n, key) in keys.iter().enumerate() {
        table
            .insert(
                *key,
                Info {
                    physical_sector: n as u64,
                    first_logical_sector: 0,
                },
            )
            .map_err(|e| e.to_string())?;
    }
    let cuckoo_insert = start.elapsed().as_nanos() as f64 / count.max(1) as f64;
    let start = Instant::now();
    for (n, key) in keys.iter().enumerate() {
        map.insert(
            *key,
            Info {
                physical_sector: n as u64,
                first_logical_sector: 0,
            },
        );
    }
    let map_insert = start.elapsed().as_nanos() as f64 / count.max(1) as f64;
    let (hit, map_hit) = paired(
        &keys,
        |k| {
            black_box(table.get(k));
        },
        |k| {
            black_box(map.get(k));
        },
    );
    let (miss, map_miss) = paired(
        &misses,
        |k| {
            black_box(table.get(k));
        },
        |k| {
            black_box(map.get(k));
        },
    );
    let pct = (fill * 100.0).round();
    let row = |what: &str, who: &str, value: f64| {
        Figure::new(
            format!("{who}_{}_ns_at_{pct}pct", what.replace(' ', "_")),
            format!("{who} {what}, table {pct}% full"),
            value,
            "ns",
        )
    };
    Ok(vec![
        row("hit", "cuckoo", hit),
        row("hit", "hashbrown", map_hit),
        row("miss", "cuckoo", miss),
        row("miss", "hashbrown", map_miss),
        row("insert", "cuckoo", cuckoo_insert),
        row("insert", "hashbrown", map_insert),
    ])
}

/// One timing: a key for `--json`, a label in words, the value and its unit.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Figure {
    pub key: String,
    pub label: String,
    pub value: f64,
    pub unit: &'static str,
}

impl Figure {
    fn new(key: String, label: String, value: f64, unit: &'static str) -> Self {
        Figure {
            key,
            label,
            value,
            unit,
        }
    }
}

/// Every timing, in the order the report shows them.
pub fn measure(keys: u64) -> Result<Vec<Figure>, String> {
    let order = (keys.max(64) / 4).ilog2();
    let mut all = store_figures(keys, SlotLayoutKind::Full)?;
    all.extend(store_figures(keys, SlotLayoutKind::Compact)?);
    all.extend(table_figures(order, 0.5)?);
    all.extend(table_figures(order, 0.9)?);
    Ok(all)
}
