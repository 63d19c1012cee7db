//! Cuckoo table against `hashbrown::HashMap` holding the same keys, in the same run:
//! lookups (hit, miss) and inserts at 50% and 90% fill of the cuckoo table, for the
//! full layout and the compact one (tags and positions, resolved from an in-memory
//! journal: the hashes' index in the bench's key list).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use logstore::testing::{CompactTable, CuckooConfig, CuckooTable};
use logstore::{Hash, Info};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

type Brown = hashbrown::HashMap<Hash, Info>;

const ORDER: u32 = 16;
/// Position bits of the compact table: positions index every key of the bench.
const POS_BITS: u32 = 24;
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

/// The compact table holding `stored`, the first keys of `journal`, at their index.
fn filled_compact(stored: &[Hash], journal: &[Hash]) -> CompactTable {
    let mut table = CompactTable::new(CuckooConfig::new(ORDER, 1), POS_BITS).unwrap();
    for (n, hash) in stored.iter().enumerate() {
        table
            .insert(hash, n as u64, &mut resolver(journal))
            .expect("below the default policy's fill");
    }
    table
}

/// The journal read back: the hash at a position.
fn resolver(journal: &[Hash]) -> impl FnMut(u64) -> Result<Hash, Infallible> + '_ {
    move |pos| Ok(journal[pos as usize])
}

fn lookups(c: &mut Criterion, percent: usize, journal: &[Hash], stored: &[Hash], absent: &[Hash]) {
    let (table, brown) = filled(stored);
    let mut compact = filled_compact(stored, journal);
    let mut group = c.benchmark_group(format!("lookup_{percent}%"));
    for (kind, keys) in [("hit", stored), ("miss", absent)] {
        group.bench_function(BenchmarkId::new("cuckoo", kind), |b| {
            let mut next = keys.iter().cycle();
            b.iter(|| black_box(table.get(next.next().unwrap())).is_some())
        });
        group.bench_function(BenchmarkId::new("compact", kind), |b| {
            let mut next = keys.iter().cycle();
            let mut resolve = resolver(journal);
            b.iter(|| {
                let found = compact.get(next.next().unwrap(), &mut resolve);
                black_box(found).is_ok_and(|pos| pos.is_some())
            })
        });
        group.bench_function(BenchmarkId::new("hashbrown", kind), |b| {
            let mut next = keys.iter().cycle();
            b.iter(|| black_box(brown.get(next.next().unwrap())).is_some())
        });
    }
    group.finish();
}

/// What the insert benchmark needs of the maps; `pos` is the hash's journal position.
trait BenchMap {
    fn put(&mut self, pos: u64, hash: &Hash);
    fn delete(&mut self, hash: &Hash);
}

impl BenchMap for CuckooTable<Info> {
    fn put(&mut self, _pos: u64, hash: &Hash) {
        self.insert(*hash, info(0)).expect("room for one batch");
    }
    fn delete(&mut self, hash: &Hash) {
        self.remove(hash);
    }
}

/// A compact table and the journal its positions point into.
struct Compact<'a> {
    table: CompactTable,
    journal: &'a [Hash],
}

impl BenchMap for Compact<'_> {
    fn put(&mut self, pos: u64, hash: &Hash) {
        self.table
            .insert(hash, pos, &mut resolver(self.journal))
            .expect("room for one batch");
    }
    fn delete(&mut self, hash: &Hash) {
        let _ = self.table.remove(hash, &mut resolver(self.journal));
    }
}

impl BenchMap for Brown {
    fn put(&mut self, _pos: u64, hash: &Hash) {
        self.insert(*hash, info(0));
    }
    fn delete(&mut self, hash: &Hash) {
        self.remove(hash);
    }
}

/// Time `iters` inserts of fresh keys, removing each batch untimed. `fresh` starts
/// at journal position `first`.
fn timed_inserts(map: &mut impl BenchMap, iters: u64, fresh: &[Hash], first: usize) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    let mut batches = fresh.chunks(INSERT_BATCH).enumerate().cycle();
    while done < iters {
        let (index, batch) = batches.next().unwrap();
        let batch = &batch[..batch.len().min((iters - done) as usize)];
        let base = first + index * INSERT_BATCH;
        let start = Instant::now();
        for (n, hash) in batch.iter().enumerate() {
            map.put((base + n) as u64, hash);
        }
        total += start.elapsed();
        batch.iter().for_each(|hash| map.delete(hash));
        done += batch.len() as u64;
    }
    total
}

/// Inserts of `journal[first..]` into maps holding `stored`.
fn inserts(c: &mut Criterion, percent: usize, journal: &[Hash], stored: &[Hash], first: usize) {
    let (mut table, mut brown) = filled(stored);
    let mut compact = Compact {
        table: filled_compact(stored, journal),
        journal,
    };
    let fresh = &journal[first..];
    let mut group = c.benchmark_group(format!("insert_{percent}%"));
    group.bench_function("cuckoo", |b| {
        b.iter_custom(|iters| timed_inserts(&mut table, iters, fresh, first))
    });
    group.bench_function("compact", |b| {
        b.iter_custom(|iters| timed_inserts(&mut compact, iters, fresh, first))
    });
    group.bench_function("hashbrown", |b| {
        b.iter_custom(|iters| timed_inserts(&mut brown, iters, fresh, first))
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
        lookups(c, percent, &all, stored, &absent);
        inserts(c, percent, &all, stored, capacity * 95 / 100);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
