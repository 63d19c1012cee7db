//! What protecting paired pages costs, measured: the journal keeps to the
//! pages of a block no two of which share a wordline under any known
//! pairing scheme (see `logstore::journal_block_pages`), whatever the part
//! declares. Write amplification, erases, journal capacity and the device
//! time of a flush, on the same ingest; the tests measure the same ingest
//! on the declared-only layout (planted back) for the cost against it.
//!
//! Owns the measurement; the report lays it out. Promises: deterministic
//! figures (a seeded ingest on the simulator's clock).

use logstore::Geometry;

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
    /// Fraction of a journal block's bytes the journal writes.
    pub journal_capacity: f64,
    /// The same, were the journal to trust the declared pairing (its lower
    /// pages; every page on a part declaring none).
    pub declared_capacity: f64,
}

/// The ingest of `ops` inserts flushed every `flush_every` on `device`'s
/// small geometry.
pub fn flush_cost(device: Device, flush_every: u32, ops: u64) -> Result<FlushCost, String> {
    let mut config = WearConfig::new(ops, device.part().endurance_cycles, flush_every);
    config = config.on_device(device);
    let report = wear(&config, &|_| {})?;
    let flushes = (report.ops_done / u64::from(flush_every.max(1))).max(1);
    let geometry = config.geometry;
    let declared = geometry.pairing.lower_pages(geometry.pages_per_block).len();
    Ok(FlushCost {
        device,
        flush_every,
        write_amplification: report.write_amplification,
        erases_per_insert: report.erases as f64 / report.ops_done.max(1) as f64,
        device_us_per_flush: report.device_seconds * 1e6 / flushes as f64,
        journal_capacity: journal_capacity(geometry),
        declared_capacity: declared as f64 / f64::from(geometry.pages_per_block),
    })
}

/// Fraction of a block's pages the journal writes on `geometry`.
pub fn journal_capacity(geometry: Geometry) -> f64 {
    logstore::journal_block_pages(geometry).len() as f64 / f64::from(geometry.pages_per_block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstore::testing::{plant, Bug};

    /// The layout against the declared-only one (planted back), on the
    /// same ingest: on MLC and TLC the same pages a block, so the same
    /// write amplification and erases, and flushes that now and then
    /// program a slower (upper) page of the declared scheme; on SLC, which
    /// declares none, half the block, so more packs and erases. Prints
    /// the figures the README quotes:
    /// `cargo test --release -p logstore-sim --lib paired -- --nocapture`.
    #[test]
    fn the_safe_layout_against_the_declared_one() {
        for device in Device::ALL {
            let safe = flush_cost(device, 16, 20_000).unwrap();
            plant(Some(Bug::TrustDeclaredPairing));
            let declared = flush_cost(device, 16, 20_000);
            plant(None);
            let declared = declared.unwrap();
            println!("{device:?} safe     {safe:?}\n{device:?} declared {declared:?}");
            assert_eq!(declared.journal_capacity, safe.declared_capacity);
            if device == Device::Slc {
                assert_eq!(safe.journal_capacity, 0.5);
                assert!(safe.erases_per_insert > declared.erases_per_insert);
                assert!(safe.write_amplification > declared.write_amplification);
            } else {
                assert_eq!(safe.journal_capacity, safe.declared_capacity);
                assert_eq!(safe.erases_per_insert, declared.erases_per_insert);
                assert!(safe.device_us_per_flush >= declared.device_us_per_flush);
            }
        }
    }
}
