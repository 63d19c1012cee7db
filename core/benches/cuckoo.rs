//! Cuckoo table against `hashbrown::HashMap` holding the same keys, in the same run:
//! lookups (hit, miss) and inserts at 50% and 90% fill of the cuckoo table.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use logstore::cuckoo::{CuckooConfig, CuckooTable};
use logstore::{Hash, Info};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

type Brown = hashbrown::HashMap<Hash, Info>;

const ORDER: u32 = 16;
/// Inserts timed per batch; they are removed (untimed) after each batch, so the
/// fill stays where it was.
const INSERT_BATCH: usize = 256;

fn hashes(count: usize, seed: u64) -> Vec<Hash> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut hash = [0u8; 32];
            rng.fill(&mut hash[..]);
            hash
        })
        .collect()
}

fn info(n: usize) -> Info {
    Info {
        physical_sector: n as u64,
        first_logical_sector: n as u64,
    }
}

/// Both maps holding `stored`.
fn filled(stored: &[Hash]) -> (CuckooTable<Info>, Brown) {
    let mut table = CuckooTable::new(CuckooConfig::new(ORDER, 1)).unwrap();
    let mut brown = Brown::new();
    for (n, hash) in stored.iter().enumerate() {
        table
            .insert(*hash, info(n))
            .expect("below the default policy's fill");
        brown.insert(*hash, info(n));
    }
    (table, brown)
}

fn lookups(c: &mut Criterion, percent: usize, stored: &[Hash], absent: &[Hash]) {
    let (table, brown) = filled(stored);
    let mut group = c.benchmark_group(format!("lookup_{percent}%"));
    for (kind, keys) in [("hit", stored), ("miss", absent)] {
        group.bench_function(BenchmarkId::new("cuckoo", kind), |b| {
            let mut next = keys.iter().cycle();
            b.iter(|| black_box(table.get(next.next().unwrap())).is_some())
        });
        group.bench_function(BenchmarkId::new("hashbrown", kind), |b| {
            let mut next = keys.iter().cycle();
            b.iter(|| black_box(brown.get(next.next().unwrap())).is_some())
        });
    }
    group.finish();
}

/// What the insert benchmark needs of both maps.
trait BenchMap {
    fn put(&mut self, hash: &Hash);
    fn delete(&mut self, hash: &Hash);
}

impl BenchMap for CuckooTable<Info> {
    fn put(&mut self, hash: &Hash) {
        self.insert(*hash, info(0)).expect("room for one batch");
    }
    fn delete(&mut self, hash: &Hash) {
        self.remove(hash);
    }
}

impl BenchMap for Brown {
    fn put(&mut self, hash: &Hash) {
        self.insert(*hash, info(0));
    }
    fn delete(&mut self, hash: &Hash) {
        self.remove(hash);
    }
}

/// Time `iters` inserts of fresh keys, removing each batch untimed.
fn timed_inserts(map: &mut impl BenchMap, iters: u64, fresh: &[Hash]) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    let mut batches = fresh.chunks(INSERT_BATCH).cycle();
    while done < iters {
        let batch = batches.next().unwrap();
        let batch = &batch[..batch.len().min((iters - done) as usize)];
        let start = Instant::now();
        batch.iter().for_each(|hash| map.put(hash));
        total += start.elapsed();
        batch.iter().for_each(|hash| map.delete(hash));
        done += batch.len() as u64;
    }
    total
}

fn inserts(c: &mut Criterion, percent: usize, stored: &[Hash], fresh: &[Hash]) {
    let (mut table, mut brown) = filled(stored);
    let mut group = c.benchmark_group(format!("insert_{percent}%"));
    group.bench_function("cuckoo", |b| {
        b.iter_custom(|iters| timed_inserts(&mut table, iters, fresh))
    });
    group.bench_function("hashbrown", |b| {
        b.iter_custom(|iters| timed_inserts(&mut brown, iters, fresh))
    });
    group.finish();
}

/// Rebuild: every entry of a journal replayed into a fresh table, to 90%
/// fill (the RAM side of `Store::open`).
fn rebuild(c: &mut Criterion, entries: &[Hash]) {
    let mut group = c.benchmark_group("rebuild");
    group.throughput(criterion::Throughput::Elements(entries.len() as u64));
    group.bench_function("cuckoo_90%", |b| {
        b.iter(|| {
            let mut table = CuckooTable::new(CuckooConfig::new(ORDER, 1)).unwrap();
            for (n, hash) in entries.iter().enumerate() {
                table.insert(*hash, info(n)).unwrap();
            }
            table
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let capacity = (1usize << ORDER) * 4;
    let all = hashes(capacity, 7);
    rebuild(c, &all[..capacity * 90 / 100]);
    let absent = hashes(capacity / 4, 8);
    for percent in [50, 90] {
        let stored = &all[..capacity * percent / 100];
        let fresh = &all[capacity * 95 / 100..];
        lookups(c, percent, stored, &absent);
        inserts(c, percent, stored, fresh);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
