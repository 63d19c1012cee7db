//! Fuzz target `cuckoo`: the body is `logstore_sim::campaign::fuzzing::cuckoo`, which
//! `sim/tests/corpus.rs` also runs on every file of `corpus/cuckoo/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The allocator the command line runs with (`sim/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| logstore_sim::campaign::fuzzing::cuckoo(data));
