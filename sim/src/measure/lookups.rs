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
            .insert(crate::check::workload::hash_of(key), info)
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
                    .get(&crate::check::workload::hash_of(key))
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

/// What `logstore-sim lookups` builds and probes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LookupsConfig {
    /// The part: its geometry, ECC, bit errors and read latency.
    pub device: crate::nand::Device,
    /// The log store's order: 2^order buckets of 4 slots, frozen whole
    /// into each incarnation.
    pub order: u32,
    /// Hits and misses probed at each point (each half of them).
    pub probes: u64,
    pub seed: u64,
}

impl LookupsConfig {
    /// Order 12 (16,384 slots, an incarnation every ~16,000 inserts), as
    /// the lookups issue measured; the filters' RAM an entry does not
    /// depend on it (17 bits a slot). 40,000 probes: about 600 hits an
    /// incarnation at 32, so that the worst incarnation's reads a hit
    /// (a false match of a newer incarnation's tags now and then) is
    /// measured, not drawn.
    pub fn new(device: crate::nand::Device) -> Self {
        LookupsConfig {
            device,
            order: 12,
            probes: 40_000,
            seed: 0,
        }
    }
}

/// Lookups on a store of `incarnations` frozen incarnations and a log
/// store a fifth full, with the filters on (or off: what lookups cost
/// before them). Hits are drawn uniformly from the frozen keys (so from
/// every incarnation alike; from the log store with none), misses from
/// keys never inserted.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IncarnationLookups {
    pub incarnations: u32,
    pub filters: bool,
    pub frozen_entries: u64,
    pub log_entries: u64,
    pub probes: u64,
    pub reads_per_miss: f64,
    pub reads_per_hit: f64,
    /// The most reads a hit took on average in any one incarnation.
    pub reads_per_hit_worst: f64,
    /// The log store's table RAM per slot: per entry when full, as it is
    /// at a freeze.
    pub ram_bytes_per_entry: f64,
    /// The filters' RAM per entry the incarnations hold.
    pub ram_bytes_per_frozen_entry: f64,
    /// Lookups a second, hits and misses alike (the simulator's own speed:
    /// no latency waited, ECC decoded).
    pub lookups_per_s: f64,
    /// Page reads a lookup times the part's read latency.
    pub device_us_per_lookup: f64,
}

/// Builds one store and measures it, filters on and off, each time it
/// holds one of `counts` incarnations (ascending; 0 measures before the
/// first freeze). `tick` gets the incarnations frozen so far.
pub fn incarnation_lookups(
    config: &LookupsConfig,
    counts: &[u32],
    tick: &dyn Fn(u32),
) -> Result<Vec<[IncarnationLookups; 2]>, String> {
    let most = counts.iter().copied().max().unwrap_or(0);
    let mut store = lookups_store(config, most)?;
    let read_ns = config
        .device
        .sim_config(config.device.geometry(2))
        .latency
        .read_ns;
    let mut points = Vec::with_capacity(counts.len());
    let mut inserted = 0u64;
    // Bounded: each count needs at most (its incarnations + 1) tables full.
    let slots = 4u64 << config.order;
    // Keys below boundaries[i] were frozen into incarnations 0..=i (oldest
    // first).
    let mut boundaries: Vec<u64> = Vec::new();
    for &count in counts {
        let keys_max = inserted + (u64::from(count) + 1) * slots;
        while (boundaries.len() as u32) < count && inserted < keys_max {
            store
                .insert(crate::check::workload::hash_of(inserted), info(inserted))
                .map_err(|e| format!("insert {inserted}: {e}"))?;
            inserted += 1;
            if store.stats().freezes > boundaries.len() as u64 {
                boundaries.push(inserted - 1);
                tick(boundaries.len() as u32);
            }
        }
        if store.stats().incarnations != count {
            return Err(format!(
                "{count} incarnations not reached in {inserted} inserts"
            ));
        }
        // A log store a fifth full besides, as between freezes.
        for _ in 0..slots / 5 {
            store
                .insert(crate::check::workload::hash_of(inserted), info(inserted))
                .map_err(|e| format!("insert {inserted}: {e}"))?;
            inserted += 1;
        }
        store.flush().map_err(|e| e.to_string())?;
        let keys = Keys {
            inserted,
            boundaries: &boundaries,
        };
        let on = probe(&mut store, config, &keys, read_ns, true)?;
        let off = probe(&mut store, config, &keys, read_ns, false)?;
        points.push([on, off]);
    }
    Ok(points)
}

fn info(key: u64) -> logstore::Info {
    logstore::Info {
        physical_sector: key,
        first_logical_sector: key ^ 0x5a5a,
    }
}

/// A store on `config.device` with room for `incarnations` and one more.
fn lookups_store(
    config: &LookupsConfig,
    incarnations: u32,
) -> Result<Store<crate::nand::SimFlash>, String> {
    if !(4..=20).contains(&config.order) {
        return Err(format!("order {}: 4 to 20", config.order));
    }
    let probe = config.device.geometry(64);
    // A journal that holds a full table (entries of at most 64 bytes, on
    // a third of its pages on TLC), so that freezes come of a full table.
    let slots = 4u64 << config.order;
    let journal_blocks = (slots * 64 * 3).div_ceil(probe.block_bytes()) as u32 + 2;
    let mut store_config = StoreConfig::new(config.order, journal_blocks);
    store_config.incarnations_max = incarnations + 1;
    let per_incarnation = logstore::testing::Incarnation::blocks_max(probe, config.order, 4)
        .map_err(|e| e.to_string())?;
    let blocks =
        (u64::from(incarnations) + 2) * per_incarnation + 2 * u64::from(journal_blocks) + 16;
    // Room for the factory-bad blocks the part's marks give.
    let blocks = u32::try_from(blocks + blocks / 20).map_err(|_| "device too large".to_string())?;
    let geometry = config.device.geometry(blocks);
    let flash = crate::nand::SimFlash::new(config.device.sim_config(geometry), config.seed)
        .map_err(|e| e.to_string())?;
    Store::create(flash, store_config).map_err(|e| e.to_string())
}

/// The keys a store holds: `0..inserted`, frozen below the last boundary.
struct Keys<'a> {
    inserted: u64,
    boundaries: &'a [u64],
}

/// `config.probes` lookups, half hits (seeded, uniform over the frozen
/// keys, or over the log store's with nothing frozen) and half misses;
/// answers checked.
fn probe(
    store: &mut Store<crate::nand::SimFlash>,
    config: &LookupsConfig,
    keys: &Keys<'_>,
    read_ns: u64,
    filters: bool,
) -> Result<IncarnationLookups, String> {
    use rand::Rng;
    store.set_filters(filters);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ 0x10c4);
    let half = (config.probes / 2).max(1);
    let hit_range = match keys.boundaries.last() {
        Some(&frozen) => 0..frozen,
        None => 0..keys.inserted,
    };
    let hits: Vec<u64> = (0..half)
        .map(|_| rng.random_range(hit_range.clone()))
        .collect();
    let inserted = keys.inserted;
    let misses: Vec<u64> = (0..half).map(|i| (1 << 48) + inserted + i).collect();
    let hashes = |keys: &[u64]| -> Vec<logstore::Hash> {
        keys.iter()
            .map(|&k| crate::check::workload::hash_of(k))
            .collect()
    };
    let (hit_hashes, miss_hashes) = (hashes(&hits), hashes(&misses));
    let started = std::time::Instant::now();
    let reads = store.flash().counters().reads;
    let reads_per_hit_worst = probe_hits(store, keys, &hits, &hit_hashes)?;
    let hit_reads = store.flash().counters().reads - reads;
    for hash in &miss_hashes {
        if store.get(hash).map_err(|e| e.to_string())?.is_some() {
            return Err("a key never inserted was found".into());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let miss_reads = store.flash().counters().reads - reads - hit_reads;
    store.set_filters(true);
    let stats = store.stats();
    let lookups = 2 * half;
    Ok(IncarnationLookups {
        incarnations: stats.incarnations,
        filters,
        frozen_entries: stats.incarnation_entries,
        log_entries: stats.log_entries,
        probes: lookups,
        reads_per_miss: miss_reads as f64 / half as f64,
        reads_per_hit: hit_reads as f64 / half as f64,
        reads_per_hit_worst,
        ram_bytes_per_entry: stats.ram_bytes as f64 / (4u64 << config.order) as f64,
        ram_bytes_per_frozen_entry: stats.filter_ram_bytes as f64
            / stats.incarnation_entries.max(1) as f64,
        lookups_per_s: lookups as f64 / seconds.max(1e-9),
        device_us_per_lookup: (hit_reads + miss_reads) as f64 * read_ns as f64
            / 1e3
            / lookups as f64,
    })
}

/// Looks up every hit and checks its answer; the most page reads a hit
/// of one incarnation took on average (the worst incarnation's).
fn probe_hits(
    store: &mut Store<crate::nand::SimFlash>,
    keys: &Keys<'_>,
    hits: &[u64],
    hit_hashes: &[logstore::Hash],
) -> Result<f64, String> {
    // Reads and hits by the incarnation holding the key (newest first).
    let holders = keys.boundaries.len().max(1);
    let mut by_holder = vec![(0u64, 0u64); holders];
    for (key, hash) in hits.iter().zip(hit_hashes) {
        let before = store.flash().counters().reads;
        let got = store.get(hash).map_err(|e| e.to_string())?;
        if got != Some(info(*key)) {
            return Err(format!("key {key}: {got:?}"));
        }
        let oldest_first = keys.boundaries.partition_point(|&b| b <= *key);
        let holder = &mut by_holder[holders - 1 - oldest_first.min(holders - 1)];
        holder.0 += store.flash().counters().reads - before;
        holder.1 += 1;
    }
    Ok(by_holder
        .iter()
        .filter(|(_, hits)| *hits > 0)
        .map(|(reads, hits)| *reads as f64 / *hits as f64)
        .fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filters on: a miss almost never reads, a hit reads its one page in
    /// whichever incarnation holds it; off: every incarnation's two
    /// candidate pages. Answers are checked by the measurement itself.
    #[test]
    fn filters_spare_a_miss_every_read_and_a_hit_all_but_one() {
        let mut config = LookupsConfig::new(crate::nand::Device::Slc);
        config.order = 9;
        config.probes = 4_000;
        let points = incarnation_lookups(&config, &[0, 1, 6], &|_| {}).unwrap();
        for [on, off] in &points {
            let n = f64::from(on.incarnations);
            assert!(on.filters && !off.filters);
            assert!(on.reads_per_miss <= 0.01, "{on:?}");
            assert!(off.reads_per_miss >= 1.8 * n, "{off:?}");
            if on.incarnations > 0 {
                assert!(on.reads_per_hit_worst <= 1.02, "{on:?}");
                assert!(off.reads_per_hit > 1.1, "{off:?}");
                assert!(on.ram_bytes_per_frozen_entry < 3.5, "{on:?}");
            } else {
                assert_eq!(on.reads_per_hit, 0.0);
            }
        }
        assert_eq!(points[2][0].incarnations, 6);
    }
}
