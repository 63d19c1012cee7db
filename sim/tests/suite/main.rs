//! The simulator's integration tests, one binary: each module is one
//! concern (its doc comment says which). One binary links once and runs
//! its tests in parallel across the cores, where a binary per file linked
//! two dozen times and ran them file after file. The fuzz corpus replay
//! (`../corpus.rs`) stays a binary of its own: CI runs it alone.

mod common;

/// The allocator the command line runs with (see `main.rs`): tests time
/// what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod blocks;
mod cli;
mod compact;
mod corrupt;
mod ecc;
mod file_lock;
mod fill;
mod flash_contract;
mod hashstore;
mod image;
mod io_errors;
mod journal;
mod merge;
mod nand;
mod pairing;
mod planted;
mod regressions;
mod report;
mod salvage;
mod store;
mod store_machine;
mod swarm;
