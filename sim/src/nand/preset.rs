//! Device presets: an SLC, an MLC and a TLC part, each with its shape,
//! spare area and the ECC its datasheet asks for, endurance (spread between
//! blocks), latencies and raw bit error model.
//!
//! The figures follow published characterizations (Cai et al., DATE 2012;
//! Mielke et al., IRPS 2008; Grupp et al., MICRO 2009) and 2x-3x nm
//! datasheets: SLC wants 4 correctable bits per 512 B, MLC 24 per KiB, TLC
//! 40 per KiB; the RBER grows by about three orders of magnitude from a
//! fresh part to rated endurance, and retention errors dominate on worn
//! blocks. The retention rate is calibrated, as JEDEC JESD218 rates parts:
//! a block at rated endurance, left unpowered for the rated retention
//! (1 year for MLC and TLC, 10 for SLC), reaches the RBER at which the
//! datasheet ECC fails one codeword in 10^12 ([`rber_limit`]). They are a
//! model to exercise the index, not any one part.

use logstore::{Geometry, Pairing};

use super::config::{Latency, SimConfig};
use super::errors::{rber_limit, ErrorModel, CODEWORD_FAILURE_TARGET};

/// A simulated part.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// Single-level cells: 2 KiB + 64 B pages, 100,000 P/E cycles.
    Slc,
    /// Multi-level cells (2 bits): 4 KiB + 224 B pages, 3,000 P/E cycles.
    Mlc,
    /// Triple-level cells: 16 KiB + 1,216 B pages, 1,000 P/E cycles.
    Tlc,
}

/// What a preset is made of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Part {
    pub bits_per_cell: u32,
    pub page_bytes: u32,
    pub spare_bytes: u32,
    pub pages_per_block: u32,
    pub ecc_step_bytes: u32,
    pub ecc_bits: u32,
    pub endurance_cycles: u32,
    pub latency: Latency,
    pub errors: ErrorModel,
    /// Blocks a thousand marked bad at manufacture (block 0 spared).
    pub factory_bad_per_mille: u32,
    /// How the pages of a block share wordlines.
    pub pairing: Pairing,
}

const SLC: Part = Part {
    bits_per_cell: 1,
    page_bytes: 2048,
    spare_bytes: 64,
    pages_per_block: 64,
    ecc_step_bytes: 512,
    ecc_bits: 4,
    endurance_cycles: 100_000,
    factory_bad_per_mille: 5,
    pairing: Pairing::None,
    latency: Latency {
        read_ns: 25_000,
        program_ns: 250_000,
        erase_ns: 2_000_000,
    },
    errors: ErrorModel {
        rber_fresh: 1e-9,
        rber_worn: 1e-7,
        retention_per_year: 1.2e-8,
        retention_wear_factor: 20.0,
        disturb_per_read: 1e-12,
        read_noise: 1e-10,
    },
};

const MLC: Part = Part {
    bits_per_cell: 2,
    page_bytes: 4096,
    spare_bytes: 224,
    pages_per_block: 128,
    ecc_step_bytes: 1024,
    ecc_bits: 24,
    endurance_cycles: 3_000,
    factory_bad_per_mille: 10,
    // Linux's dist3: Toshiba and Hynix MLC.
    pairing: Pairing::Mlc { lead: 2 },
    latency: Latency {
        read_ns: 50_000,
        program_ns: 900_000,
        erase_ns: 3_000_000,
    },
    errors: ErrorModel {
        rber_fresh: 1e-7,
        rber_worn: 5e-5,
        retention_per_year: 4.1e-6,
        retention_wear_factor: 100.0,
        disturb_per_read: 1e-10,
        read_noise: 1e-8,
    },
};

const TLC: Part = Part {
    bits_per_cell: 3,
    page_bytes: 16_384,
    spare_bytes: 1_216,
    pages_per_block: 192,
    ecc_step_bytes: 1024,
    ecc_bits: 40,
    endurance_cycles: 1_000,
    factory_bad_per_mille: 20,
    pairing: Pairing::Tlc,
    latency: Latency {
        read_ns: 75_000,
        program_ns: 2_000_000,
        erase_ns: 5_000_000,
    },
    errors: ErrorModel {
        rber_fresh: 1e-6,
        rber_worn: 3e-4,
        retention_per_year: 9e-6,
        retention_wear_factor: 100.0,
        disturb_per_read: 1e-9,
        read_noise: 1e-7,
    },
};

impl Device {
    pub const ALL: [Device; 3] = [Device::Slc, Device::Mlc, Device::Tlc];

    pub fn name(self) -> &'static str {
        match self {
            Device::Slc => "slc",
            Device::Mlc => "mlc",
            Device::Tlc => "tlc",
        }
    }

    /// Days a block at rated endurance keeps its data unpowered, as the
    /// part is rated (JESD218: 1 year for client MLC and TLC; 10 for SLC).
    pub fn rated_retention_days(self) -> f64 {
        match self {
            Device::Slc => 3_652.5,
            Device::Mlc | Device::Tlc => 365.25,
        }
    }

    /// Days a page programmed on a block with `wear` of its endurance used
    /// stays readable unpowered on `geometry`: until its RBER reaches the
    /// one at which the ECC fails one codeword in 10^12. Scrubbing must
    /// read it again well before. `None`: never (no retention loss).
    pub fn retention_days(self, geometry: Geometry, wear: f64) -> Option<f64> {
        let parity_bits = geometry.ecc_parity_bytes().unwrap_or(0) * 8;
        let bits = geometry.ecc_step_bytes.max(1) * 8 + parity_bits;
        let limit = rber_limit(bits, geometry.ecc_bits, CODEWORD_FAILURE_TARGET);
        self.part().errors.days_to(limit, wear)
    }

    pub fn part(self) -> Part {
        match self {
            Device::Slc => SLC,
            Device::Mlc => MLC,
            Device::Tlc => TLC,
        }
    }

    /// The part's own geometry with `blocks` erase blocks.
    pub fn geometry(self, blocks: u32) -> Geometry {
        let p = self.part();
        Geometry::new(p.page_bytes, p.pages_per_block, blocks)
            .and_then(|g| g.with_ecc(p.spare_bytes, p.ecc_step_bytes, p.ecc_bits))
            .and_then(|g| g.with_pairing(p.pairing))
            .expect("a preset's geometry is valid")
    }

    /// A small geometry of the same technology, for crash campaigns: pages
    /// of 512 B with the part's ECC density (its correctable bits scaled to
    /// a 512 B step) and a spare area that holds the parity, 16 pages a
    /// block (48 for TLC, whole wordlines), `blocks` blocks.
    pub fn small_geometry(self, blocks: u32) -> Geometry {
        let p = self.part();
        let bits = (p.ecc_bits * 512 / p.ecc_step_bytes).max(1);
        let (spare_bytes, pages_per_block) = match self {
            Device::Slc => (16, 16),
            Device::Mlc => (32, 16),
            Device::Tlc => (48, 48),
        };
        Geometry::new(512, pages_per_block, blocks)
            .and_then(|g| g.with_ecc(spare_bytes, 512, bits))
            .and_then(|g| g.with_pairing(p.pairing))
            .expect("a small preset geometry is valid")
    }

    /// A simulator configuration for `geometry` on this part: its
    /// endurance, spread between blocks, its latencies and its error model.
    pub fn sim_config(self, geometry: Geometry) -> SimConfig {
        let p = self.part();
        let mut config = SimConfig::new(geometry);
        config.endurance_cycles = p.endurance_cycles;
        config.endurance_spread = true;
        config.latency = p.latency;
        config.errors = p.errors;
        config.factory_bad_per_mille = p.factory_bad_per_mille;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_their_parity_fits() {
        for device in Device::ALL {
            let full = device.geometry(64);
            let small = device.small_geometry(128);
            assert!(full.validate().is_ok() && small.validate().is_ok());
            assert!(device.part().errors.check().is_ok());
            assert_eq!(small.page_bytes, 512);
            assert!(small.ecc_bits >= 4, "{device:?}");
        }
    }

    /// The calibration the module promises: at rated endurance the rated
    /// retention is what the datasheet ECC carries, within 10%.
    #[test]
    fn retention_at_rated_endurance_is_calibrated_to_the_rating() {
        for device in Device::ALL {
            let days = device
                .retention_days(device.geometry(64), 1.0)
                .expect("retention is finite");
            let rated = device.rated_retention_days();
            assert!(
                (days - rated).abs() < 0.1 * rated,
                "{device:?}: {days} days, rated {rated}"
            );
            let fresh = device.retention_days(device.geometry(64), 0.0).unwrap();
            assert!(
                fresh > 20.0 * days,
                "{device:?}: fresh {fresh}, worn {days}"
            );
        }
    }
}
