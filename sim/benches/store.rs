//! The store on simulated flash: inserts (flush every 16) and `open`
//! (journal read and table rebuild) in entries per second.
//!
//! Run: `cargo bench -p logstore-sim --bench store`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logstore::{Geometry, Info};
use logstore::{Store, StoreConfig};
use logstore_sim::check::workload::hash_of;
use logstore_sim::{SimConfig, SimFlash};

const KEYS: u64 = 50_000;

fn device() -> SimFlash {
    let mut config = SimConfig::new(Geometry::new(2048, 64, 512).unwrap());
    config.endurance_cycles = u32::MAX;
    SimFlash::new(config, 0).unwrap()
}

fn config() -> StoreConfig {
    let mut config = StoreConfig::new(14, 32);
    config.incarnations_max = 64;
    config
}

fn filled(keys: u64) -> Store<SimFlash> {
    let mut store = Store::create(device(), config()).unwrap();
    for key in 0..keys {
        let info = Info {
            physical_sector: key,
            first_logical_sector: key,
        };
        store.insert(hash_of(key), info).unwrap();
        if key % 16 == 15 {
            store.flush().unwrap();
        }
    }
    store.flush().unwrap();
    store
}

fn inserts(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(KEYS));
    group.sample_size(10);
    group.bench_function("insert_flush_every_16", |b| b.iter(|| filled(KEYS)));
    let flash = filled(KEYS).into_flash();
    group.bench_function("open_rebuild", |b| {
        b.iter(|| Store::open(flash.clone()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, inserts);
criterion_main!(benches);
