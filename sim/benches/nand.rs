//! Simulated NAND throughput: page programs and reads per second through
//! `SimFlash`, so campaigns know the simulator is not their bottleneck.
//!
//! Run: `cargo bench -p logstore-sim --bench nand`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logstore::{BlockAddr, Flash, Geometry, PageAddr};
use logstore_sim::{SimConfig, SimFlash};

const BLOCKS: u32 = 64;

fn device(page_bytes: u32) -> SimFlash {
    let geometry = Geometry::new(page_bytes, 64, BLOCKS).unwrap();
    let mut config = SimConfig::new(geometry);
    config.endurance_cycles = u32::MAX;
    SimFlash::new(config, 1).unwrap()
}

/// Programs every page of one block, then syncs and erases it.
fn program_block(flash: &mut SimFlash, block: u32, data: &[u8]) {
    let pages = flash.geometry().pages_per_block;
    for page in 0..pages {
        flash.program(PageAddr::new(block, page), data).unwrap();
    }
    flash.sync().unwrap();
    flash.erase(BlockAddr(block)).unwrap();
}

fn programs(c: &mut Criterion) {
    let mut group = c.benchmark_group("program");
    for page_bytes in [2048u32, 4096, 16384] {
        let mut flash = device(page_bytes);
        let data = vec![0x5Au8; page_bytes as usize];
        group.throughput(Throughput::Bytes(u64::from(page_bytes) * 64));
        let mut block = 0;
        group.bench_function(BenchmarkId::from_parameter(page_bytes), |b| {
            b.iter(|| {
                program_block(&mut flash, block, &data);
                block = (block + 1) % BLOCKS;
            })
        });
    }
    group.finish();
}

fn reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    for page_bytes in [2048u32, 4096, 16384] {
        let mut flash = device(page_bytes);
        let data = vec![0x5Au8; page_bytes as usize];
        for page in 0..64 {
            flash.program(PageAddr::new(0, page), &data).unwrap();
        }
        let mut buf = vec![0u8; page_bytes as usize];
        group.throughput(Throughput::Bytes(u64::from(page_bytes) * 64));
        group.bench_function(BenchmarkId::from_parameter(page_bytes), |b| {
            b.iter(|| {
                for page in 0..64 {
                    flash.read(PageAddr::new(0, page), &mut buf).unwrap();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, programs, reads);
criterion_main!(benches);
