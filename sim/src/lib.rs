//! logstore-sim: everything that tests and measures the logstore index.
//!
//! A simulated NAND device ([`nand::SimFlash`]) with power loss, torn writes,
//! faults and wear; the model, workloads, crash campaigns, fuzz bodies and
//! reports. Depends on `logstore`; `logstore` knows nothing of it.
//!
//! The wings, each a folder whose `mod.rs` maps its files, from the ground
//! up (a wing uses only the wings listed before it):
//!
//! | wing | owns |
//! |---|---|
//! | [`nand`] | the simulated device: geometry, presets, bit errors, wear, power cuts |
//! | [`check`] | the model, workloads, the store's layers and digests, and the [`check::Runner`] that checks every recovery |
//! | [`subject`] | the seam a crash campaign drives a store through: the index and littlefs as subjects, one campaign and model for both |
//! | [`campaign`] | what searches for failures: case files, sweep, exhaustive, swarm draws, placed faults (`corrupt`), scenarios, the fuzz bodies |
//! | [`measure`] | what measures: fill, wear, ingest, lookups, speed, reliability, the cost of pairing |
//! | `littlefs` | (feature `littlefs`) littlefs on the same simulated parts, crashed at every operation |
//! | [`report`] | the report: one file a section, and the plots |
//!
//! `main.rs` is the command line over them. The design they implement is
//! `docs/DESIGN.md`.
//!
//! ```
//! use logstore::{Flash, Geometry, PageAddr};
//! use logstore_sim::{CrashMode, SimConfig, SimFlash};
//! let mut flash = SimFlash::new(SimConfig::new(Geometry::new(512, 16, 8)?), 42)?;
//! flash.program(PageAddr::new(1, 0), &[0xA5; 512])?;
//! flash.sync()?;
//! flash.program(PageAddr::new(1, 1), &[0x5A; 512])?; // not synced
//! flash.cut_power_now(CrashMode::DropUnsynced);
//! flash.restart();
//! let mut page = [0u8; 512];
//! flash.read(PageAddr::new(1, 0), &mut page)?;
//! assert_eq!(page, [0xA5; 512]); // synced: kept
//! flash.read(PageAddr::new(1, 1), &mut page)?;
//! assert_eq!(page, [0xFF; 512]); // not synced: dropped
//! # Ok::<(), logstore::FlashError>(())
//! ```

pub mod campaign;
pub mod check;
#[cfg(feature = "littlefs")]
pub mod littlefs;
pub mod measure;
pub mod nand;
pub mod report;
pub mod subject;

pub use nand::{
    CrashMode, Device, ErrorModel, FaultRates, Latency, ScheduledFault, SimConfig, SimFlash,
    WearOut,
};

/// The size of a campaign in the test suite: `full`, scaled by the one
/// setting every long test reads, and never below `least`.
///
/// The setting is `LOGSTORE_TEST_SCALE`, a percentage from 1 to 100. Unset,
/// it is 100, except under nextest's `mutants` profile (the suite each
/// cargo-mutants mutant runs), where it is 25: a mutant is decided by
/// fewer seeds and steps of the same campaigns, under the same
/// assertions. CI and `cargo test` run the full sizes.
///
/// # Panics
/// On a setting that is not a whole number from 1 to 100: a test run with
/// it would not be the one asked for.
pub fn test_size(full: u64, least: u64) -> u64 {
    assert!(least <= full, "least {least} above full {full}");
    let percent = match std::env::var("LOGSTORE_TEST_SCALE") {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(percent @ 1..=100) => percent,
            _ => panic!("LOGSTORE_TEST_SCALE={text:?}: a percentage from 1 to 100"),
        },
        Err(_) if std::env::var("NEXTEST_PROFILE").as_deref() == Ok("mutants") => 25,
        Err(_) => 100,
    };
    (full * percent).div_ceil(100).clamp(least, full)
}

/// The allocator the command line runs with (see `main.rs`): the unit
/// tests time what users run.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
