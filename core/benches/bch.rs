//! The BCH codec on the presets' ECC steps (1 KiB, t = 24 as on `mlc`;
//! t = 40 as on `tlc`): the byte-wise encoder it had before (the baseline,
//! one table a byte) against the sliced one (eight tables, eight bytes a
//! step), one step and two in lockstep; a clean codeword checked (a
//! decode that finds nothing, what most reads are); a decode with two
//! errors (the locator's roots in closed form) and with t/2 (a Chien
//! search). Throughput is in data bytes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logstore::testing::Bch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const STEP_BYTES: usize = 1024;

fn random_step(rng: &mut ChaCha8Rng) -> Vec<u8> {
    (0..STEP_BYTES).map(|_| rng.random()).collect()
}

fn encoders(c: &mut Criterion) {
    let mut group = c.benchmark_group("bch_encode");
    for strength in [24u32, 40] {
        let bch = Bch::new(STEP_BYTES, strength).expect("a code");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let data = [random_step(&mut rng), random_step(&mut rng)];
        let mut parity = [vec![0u8; bch.parity_bytes()], vec![0u8; bch.parity_bytes()]];
        group.throughput(Throughput::Bytes(STEP_BYTES as u64));
        group.bench_function(BenchmarkId::new("bytewise", strength), |b| {
            b.iter(|| bch.encode_bytewise(black_box(&data[0]), &mut parity[0]))
        });
        group.bench_function(BenchmarkId::new("sliced", strength), |b| {
            b.iter(|| bch.encode(black_box(&data[0]), &mut parity[0]))
        });
        group.throughput(Throughput::Bytes(2 * STEP_BYTES as u64));
        group.bench_function(BenchmarkId::new("sliced_two", strength), |b| {
            b.iter(|| {
                let [first, second] = &mut parity;
                bch.encode_two(black_box([&data[0], &data[1]]), [first, second])
            })
        });
    }
    group.finish();
}

fn decoders(c: &mut Criterion) {
    let mut group = c.benchmark_group("bch_decode");
    for strength in [24u32, 40] {
        let bch = Bch::new(STEP_BYTES, strength).expect("a code");
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let data = random_step(&mut rng);
        let mut parity = vec![0u8; bch.parity_bytes()];
        bch.encode(&data, &mut parity);
        let (mut clean_data, mut clean_parity) = (data.clone(), parity.clone());
        group.throughput(Throughput::Bytes(STEP_BYTES as u64));
        group.bench_function(BenchmarkId::new("clean", strength), |b| {
            b.iter(|| bch.decode(black_box(&mut clean_data), &mut clean_parity))
        });
        // The same check with the remainder through the sliced tables, as
        // before carry-less multiplication (and on a CPU without it).
        let tables = bch.with_tables_only();
        group.bench_function(BenchmarkId::new("clean_by_tables", strength), |b| {
            b.iter(|| tables.decode(black_box(&mut clean_data), &mut clean_parity))
        });
        let mut two = data.clone();
        two[100] ^= 0x10;
        two[900] ^= 0x01;
        group.bench_function(BenchmarkId::new("two_errors", strength), |b| {
            b.iter(|| {
                let (mut d, mut p) = (two.clone(), parity.clone());
                assert_eq!(bch.decode(&mut d, &mut p), Ok(2));
            })
        });
        let errors = strength as usize / 2;
        let mut noisy = data.clone();
        for index in rand::seq::index::sample(&mut rng, 8 * STEP_BYTES, errors) {
            noisy[index / 8] ^= 0x80 >> (index % 8);
        }
        group.bench_function(BenchmarkId::new("half_t_errors", strength), |b| {
            b.iter(|| {
                let (mut d, mut p) = (noisy.clone(), parity.clone());
                assert_eq!(bch.decode(&mut d, &mut p), Ok(errors as u32));
            })
        });
        // The same page through the Chien search the codec used before.
        group.bench_function(BenchmarkId::new("half_t_errors_by_search", strength), |b| {
            b.iter(|| {
                let (mut d, mut p) = (noisy.clone(), parity.clone());
                assert_eq!(bch.decode_by_search(&mut d, &mut p), Ok(errors as u32));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encoders, decoders);
criterion_main!(benches);
