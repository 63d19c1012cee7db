//! What protecting paired pages costs, measured: the journal passes over
//! (leaves erased) the pages whose program could, cut short, damage a page
//! an acknowledged flush wrote under any known pairing scheme (see
//! `logstore::journal_pages_at_risk`), whatever the part declares. Write
//! amplification, erases, the share of the journal's pages it programs
//! and the device time of a flush, on the same ingest; the tests measure
//! the same ingest with a journal of every page (planted back) for the
//! cost against it.
//!
//! Owns the measurement; the report lays it out. Promises: deterministic
//! figures (a seeded ingest on the simulator's clock).

use crate::measure::wear::{wear, WearConfig};
use crate::nand::Device;

/// One ingest's cost on a layout.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FlushCost {
    pub device: Device,
    pub flush_every: u32,
    /// Bytes programmed (spare included) over bytes of entries appended.
    pub write_amplification: f64,
    /// Erases an insert: a journal of fewer pages fills and packs sooner.
    pub erases_per_insert: f64,
    /// Simulated device time a flush costs (the ingest's device time over
    /// its flushes), microseconds.
    pub device_us_per_flush: f64,
    /// Journal pages programmed over those used (programmed or passed
    /// over), over the whole ingest.
    pub journal_capacity: f64,
    /// Journal pages programmed a flush (its commit copy included).
    pub pages_per_flush: f64,
}

/// The ingest of `ops` inserts flushed every `flush_every` on `device`'s
/// small geometry.
pub fn flush_cost(device: Device, flush_every: u32, ops: u64) -> Result<FlushCost, String> {
    let mut config = WearConfig::new(ops, device.part().endurance_cycles, flush_every);
    config = config.on_device(device);
    let report = wear(&config, &|_| {})?;
    let flushes = (report.ops_done / u64::from(flush_every.max(1))).max(1);
    let used = report.journal_pages_programmed + report.journal_pages_passed_over;
    Ok(FlushCost {
        device,
        flush_every,
        write_amplification: report.write_amplification,
        erases_per_insert: report.erases as f64 / report.ops_done.max(1) as f64,
        device_us_per_flush: report.device_seconds * 1e6 / flushes as f64,
        journal_capacity: report.journal_pages_programmed as f64 / used.max(1) as f64,
        pages_per_flush: report.journal_pages_programmed as f64 / flushes as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstore::testing::{plant, Bug};

    /// The safe layout against a journal of every page (`PairingUnaware`
    /// planted back) and one trusting the declared pairing, on the same
    /// ingest: it passes over pages (on every preset, SLC too, whose part
    /// may pair its cells unannounced), so it programs no more than they
    /// do and costs a little more in erases and write amplification;
    /// trusting the declared scheme passes over fewer or as many pages.
    /// Prints the figures the README quotes:
    /// `cargo test --release -p logstore-sim --lib paired -- --nocapture`.
    #[test]
    fn the_safe_layout_against_every_page_and_the_declared_one() {
        for device in Device::ALL {
            for every in [16, 256] {
                let safe = flush_cost(device, every, 20_000).unwrap();
                plant(Some(Bug::PairingUnaware));
                let naive = flush_cost(device, every, 20_000);
                plant(Some(Bug::TrustDeclaredPairing));
                let declared = flush_cost(device, every, 20_000);
                plant(None);
                let (naive, declared) = (naive.unwrap(), declared.unwrap());
                println!(
                    "{device:?} every {every}: wa {:.3} naive {:.3} ratio {:.3}; capacity {:.3} declared {:.3}; pages a flush {:.2}",
                    safe.write_amplification,
                    naive.write_amplification,
                    safe.write_amplification / naive.write_amplification,
                    safe.journal_capacity,
                    declared.journal_capacity,
                    safe.pages_per_flush
                );
                assert_eq!(naive.journal_capacity, 1.0);
                assert!(safe.journal_capacity < 1.0);
                assert!(declared.journal_capacity >= safe.journal_capacity);
                assert!(safe.write_amplification >= naive.write_amplification);
                assert!(safe.erases_per_insert >= naive.erases_per_insert);
            }
        }
    }
}
