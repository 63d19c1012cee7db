//! What protecting paired pages costs, measured: the journal keeps to the
//! lower pages of an MLC or TLC block (see `logstore`'s journal), against a
//! naive layout that writes every page, as on SLC. Write amplification,
//! journal capacity and the device time of a flush, on the same ingest.
//!
//! Owns the measurement; the report lays it out. Promises: deterministic
//! figures (a seeded ingest on the simulator's clock).

use logstore::{Geometry, Pairing};

use crate::nand::Device;
use crate::wear::{wear, WearConfig};

/// One ingest's cost on a layout.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FlushCost {
    pub device: Device,
    /// Naive: the part's pages without their pairing (every page written,
    /// nothing protected).
    pub naive: bool,
    pub flush_every: u32,
    /// Bytes programmed (spare included) over bytes of entries appended.
    pub write_amplification: f64,
    /// Erases an insert: a journal of fewer pages fills and packs sooner.
    pub erases_per_insert: f64,
    /// Simulated device time a flush costs (the ingest's device time over
    /// its flushes, at one insert a flush), microseconds.
    pub device_us_per_flush: f64,
    /// Fraction of a journal block's bytes the journal writes.
    pub journal_capacity: f64,
}

/// The ingest of `ops` inserts flushed every `flush_every` on `device`'s
/// small geometry, protected or (`naive`) not.
pub fn flush_cost(
    device: Device,
    naive: bool,
    flush_every: u32,
    ops: u64,
) -> Result<FlushCost, String> {
    let mut config = WearConfig::new(ops, device.part().endurance_cycles, flush_every);
    config = config.on_device(device);
    if naive {
        config.geometry = strip_pairing(config.geometry);
    }
    let report = wear(&config, &|_| {})?;
    let flushes = (report.ops_done / u64::from(flush_every.max(1))).max(1);
    let geometry = config.geometry;
    let lower = geometry.pairing.lower_pages(geometry.pages_per_block).len();
    Ok(FlushCost {
        device,
        naive,
        flush_every,
        write_amplification: report.write_amplification,
        erases_per_insert: report.erases as f64 / report.ops_done.max(1) as f64,
        device_us_per_flush: report.device_seconds * 1e6 / flushes as f64,
        journal_capacity: lower as f64 / f64::from(geometry.pages_per_block),
    })
}

/// `geometry` without its pairing: what a layout unaware of it sees (and
/// a device that never damages a pair, so the naive figures are its best).
pub fn strip_pairing(geometry: Geometry) -> Geometry {
    Geometry {
        pairing: Pairing::None,
        ..geometry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeping_to_lower_pages_halves_the_journal_and_costs_erases_not_latency() {
        let protected = flush_cost(Device::Mlc, false, 1, 4_000).unwrap();
        let naive = flush_cost(Device::Mlc, true, 1, 4_000).unwrap();
        assert_eq!(protected.journal_capacity, 0.5);
        assert_eq!(naive.journal_capacity, 1.0);
        assert!(
            protected.erases_per_insert > naive.erases_per_insert,
            "{protected:?} {naive:?}"
        );
        // A flush programs a lower page: faster than the naive mean.
        assert!(protected.device_us_per_flush < naive.device_us_per_flush);
        let tlc = flush_cost(Device::Tlc, false, 1, 4_000).unwrap();
        assert!((tlc.journal_capacity - 1.0 / 3.0).abs() < 1e-9);
    }
}
