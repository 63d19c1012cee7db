//! Fuzz target `image`: the body is `logstore_sim::campaign::fuzzing::image`, which
//! `sim/tests/corpus.rs` also runs on every file of `corpus/image/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The allocator the command line runs with (`sim/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| logstore_sim::campaign::fuzzing::image(data));
