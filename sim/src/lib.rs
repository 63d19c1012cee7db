//! logstore-sim: everything that tests and measures the logstore index.
//!
//! A simulated NAND device ([`nand::SimFlash`]) with power loss, torn writes,
//! faults and wear; the model, workloads, crash campaigns, fuzz bodies and
//! reports. Depends on `logstore`; `logstore` knows nothing of it.
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
pub mod corrupt;
pub mod digest;
pub mod fill;
pub mod fuzzing;
pub mod ingest;
pub mod layers;
pub mod lookups;
pub mod model;
pub mod nand;
pub mod paired;
pub mod plot;
pub mod reliability;
pub mod report;
pub mod scenarios;
pub mod speed;
pub mod swarm;
pub mod wear;
pub mod workload;

pub use nand::{
    CrashMode, Device, ErrorModel, FaultRates, Latency, ScheduledFault, SimConfig, SimFlash,
    WearOut,
};
