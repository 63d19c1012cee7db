//! logstore-sim: everything that tests and measures the logstore index.
//!
//! A simulated NAND device ([`nand::SimFlash`]) with power loss, torn writes,
//! faults and wear; later the model, workloads, crash campaigns, fuzz bodies
//! and reports. Depends on `logstore`; `logstore` knows nothing of it.

pub mod campaign;
pub mod check;
pub mod fill;
pub mod fuzzing;
pub mod ingest;
pub mod model;
pub mod nand;
pub mod plot;
pub mod report;
pub mod speed;
pub mod wear;
pub mod workload;

pub use nand::{CrashMode, FaultRates, Latency, ScheduledFault, SimConfig, SimFlash, WearOut};
