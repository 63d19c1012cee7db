//! Fuzz target `qcow2`: the body is `logstore_sim::measure::image::fuzz_qcow2`
//! (any bytes as a disk image, read to the end: clusters or a typed error,
//! never a panic), which `sim/tests/corpus.rs` also runs on every file of
//! `corpus/qcow2/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The allocator the command line runs with (`sim/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| logstore_sim::measure::image::fuzz_qcow2(data));
