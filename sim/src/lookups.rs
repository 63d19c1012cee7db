//! Lookups: what a `get` costs in flash page reads, resolves and RAM, on a
//! store built for the measurement.
//!
//! Promises: deterministic (seeded keys and orders); measures only, the
//! report arranges.

use logstore::{SlotLayoutKind, Store, StoreConfig};
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Flash reads and resolves per lookup on a store whose log store holds
/// `fill` of its slots, nothing frozen; lookups in a shuffled order, so
/// the journal's one-page cache helps no more than chance.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LookupReads {
    pub fill: f64,
    pub reads_per_hit: f64,
    pub reads_per_miss: f64,
    pub resolves_per_hit: f64,
    pub resolves_per_miss: f64,
    pub ram_bytes_per_entry: f64,
}

pub fn log_store_reads(
    layout: SlotLayoutKind,
    order: u32,
    fill: f64,
) -> Result<LookupReads, String> {
    let geometry = logstore::Geometry::new(2048, 64, 512).map_err(|e| e.to_string())?;
    let flash = crate::nand::SimFlash::new(crate::nand::SimConfig::new(geometry), 0)
        .map_err(|e| e.to_string())?;
    let config = StoreConfig {
        layout,
        ..StoreConfig::new(order, 64)
    };
    let mut store = Store::create(flash, config).map_err(|e| e.to_string())?;
    let keys = ((4u64 << order) as f64 * fill) as u64;
    for key in 0..keys {
        let info = logstore::Info {
            physical_sector: key,
            first_logical_sector: key,
        };
        store
            .insert(crate::workload::hash_of(key), info)
            .map_err(|e| e.to_string())?;
    }
    store.flush().map_err(|e| e.to_string())?;
    let stats = store.stats();
    if stats.freezes > 0 || stats.packs > 0 {
        return Err(format!("lookup measurement froze or packed: {stats:?}"));
    }
    let mut order_of: Vec<u64> = (0..keys).collect();
    order_of.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let mut measure =
        |keys: &mut dyn Iterator<Item = u64>, count: u64| -> Result<(f64, f64), String> {
            let (reads, resolves) = (store.flash().counters().reads, store.stats().resolves);
            for key in keys {
                store
                    .get(&crate::workload::hash_of(key))
                    .map_err(|e| e.to_string())?;
            }
            let reads = (store.flash().counters().reads - reads) as f64 / count as f64;
            Ok((
                reads,
                (store.stats().resolves - resolves) as f64 / count as f64,
            ))
        };
    let (reads_per_hit, resolves_per_hit) = measure(&mut order_of.iter().copied(), keys)?;
    let (reads_per_miss, resolves_per_miss) = measure(&mut (0..keys).map(|k| k + (1 << 40)), keys)?;
    Ok(LookupReads {
        fill: stats.fill,
        reads_per_hit,
        reads_per_miss,
        resolves_per_hit,
        resolves_per_miss,
        ram_bytes_per_entry: stats.ram_bytes as f64 / stats.log_entries.max(1) as f64,
    })
}
