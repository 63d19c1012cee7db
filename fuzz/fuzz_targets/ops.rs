//! Fuzz target `ops`: the body is `logstore_sim::campaign::fuzzing::ops`, which
//! `sim/tests/corpus.rs` also runs on every file of `corpus/ops/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The allocator the command line runs with (`sim/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| logstore_sim::campaign::fuzzing::ops(data));
