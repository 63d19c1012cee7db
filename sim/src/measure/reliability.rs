//! Reliability under bit errors, measured: what crash campaigns lose as the
//! raw bit error rate grows (with the ECC and without it), the same as a
//! part wears toward its rated endurance, how long a page keeps its data
//! unpowered, what the ECC costs, and how far it lets a part live.
//!
//! Owns the measurements; the report lays them out. Promises: every figure
//! is a pure function of its arguments (campaigns are seeded), and every
//! loop is bounded by its arguments.

use rayon::prelude::*;

use crate::campaign::Case;
use crate::check::{Aging, CheckConfig};
use crate::measure::wear::{wear, WearConfig};
use crate::nand::errors::{rber_limit, CODEWORD_FAILURE_TARGET};
use crate::nand::{CrashMode, Device, ErrorModel};

/// What a set of crash runs came to at one point of a curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct LossPoint {
    /// The curve's abscissa: an RBER, or the fraction of endurance used.
    pub x: f64,
    pub runs: u64,
    /// Runs that ended at a loss the store named (`DataLoss`, a typed read
    /// error) after the device went past the ECC.
    pub runs_reported: u64,
    /// Runs whose store silently differed from every state the model
    /// allows, and the entries it differed by.
    pub runs_silent: u64,
    pub lost_flushed: u64,
    pub stale: u64,
    pub resurrected: u64,
    /// Runs whose device the store could not format: every block tried
    /// failed the read-back of its first programs.
    pub runs_unformattable: u64,
    /// Runs that failed otherwise (the store would not open, say).
    pub runs_failed_otherwise: u64,
    pub bits_corrected: u64,
    pub reads_beyond_ecc: u64,
}

impl LossPoint {
    /// Entries lost, stale or back from the dead, silently.
    pub fn silent_entries(&self) -> u64 {
        self.lost_flushed + self.stale + self.resurrected
    }
}

/// Runs `seeds` crash cases of `ops` steps on `config` (each seed's own
/// workload, crash points and device seed) and sums what they lost.
pub fn losses(config: &CheckConfig, x: f64, seeds: u64, ops: usize) -> LossPoint {
    let outcomes: Vec<_> = (0..seeds)
        .into_par_iter()
        .map(|seed| {
            let mut case = Case::from_seed(seed, ops, None, &CrashMode::ALL);
            case.config = CheckConfig {
                device_seed: seed,
                store: case.config.store,
                ..config.clone()
            };
            case.run()
        })
        .collect();
    let mut point = LossPoint {
        x,
        ..LossPoint::default()
    };
    for outcome in outcomes {
        point.runs += 1;
        match outcome {
            Ok(report) => {
                point.runs_reported += report.losses_reported;
                point.bits_corrected += report.bits_corrected;
                point.reads_beyond_ecc += report.reads_beyond_ecc;
            }
            Err(failure) if failure.message.starts_with("create:") => {
                point.runs_unformattable += 1;
            }
            Err(failure) if failure.losses != Default::default() => {
                point.runs_silent += 1;
                point.lost_flushed += failure.losses.lost_flushed;
                point.stale += failure.losses.stale;
                point.resurrected += failure.losses.resurrected;
            }
            Err(_) => point.runs_failed_otherwise += 1,
        }
    }
    point
}

/// A constant raw bit error rate: every read of every page, whatever its
/// wear or age.
pub(crate) fn constant_rber(rber: f64) -> ErrorModel {
    ErrorModel {
        rber_fresh: rber,
        rber_worn: rber,
        ..ErrorModel::default()
    }
}

/// The crash check on `device`'s small geometry at a constant `rber`: with
/// the part's ECC, or (`ecc` false) the same pages with no spare and no ECC.
pub fn rber_config(device: Device, rber: f64, ecc: bool) -> CheckConfig {
    let mut config = CheckConfig::on_device(device);
    config.error_model = Some(constant_rber(rber));
    if !ecc {
        config.geometry = config.geometry.data_only();
    }
    config
}

/// The crash check on `device` aged to `wear` of its endurance, baked
/// `days_per_power_cut` at every power cut, with or without its ECC.
pub fn wear_config(device: Device, wear: f64, days_per_power_cut: f64, ecc: bool) -> CheckConfig {
    let mut config = CheckConfig::on_device(device);
    config.aging = Aging {
        wear,
        days_per_power_cut,
    };
    if !ecc {
        config.geometry = config.geometry.data_only();
    }
    config
}

/// How long a page keeps its data unpowered on a part.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Retention {
    pub device: Device,
    /// Fraction of endurance used.
    pub wear: f64,
    /// Days until the RBER reaches the ECC's limit (a codeword in 10^12
    /// uncorrectable); a scrub must read the page again before.
    pub days: Option<f64>,
}

/// [`Retention`] of `device`'s own geometry at each of `wears`.
pub fn retention_days(device: Device, wears: &[f64]) -> Vec<Retention> {
    wears
        .iter()
        .map(|&wear| Retention {
            device,
            wear,
            days: device.retention_days(device.geometry(64), wear),
        })
        .collect()
}

/// What the ECC costs and allows on a part.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EccCost {
    pub device: Device,
    pub page_bytes: u32,
    pub spare_bytes: u32,
    pub ecc_step_bytes: u32,
    pub ecc_bits: u32,
    /// Parity the spare area holds a page, and as a fraction of the data.
    pub parity_bytes_per_page: u32,
    pub parity_fraction: f64,
    /// The RBER the ECC carries (a codeword in 10^12 past it).
    pub rber_limit: f64,
    /// Write amplification of the same ingest with and without the ECC
    /// (spare areas counted as programmed bytes), on the small geometry.
    pub write_amplification: f64,
    pub write_amplification_without_ecc: f64,
    pub endurance_cycles: u32,
    /// P/E cycles at which a page no longer keeps its data for the rated
    /// retention, and for 30 days (the scrub interval of the retention
    /// scenario): what the ECC lets the part endure.
    pub cycles_for_rated_retention: f64,
    pub cycles_for_30_days: f64,
}

/// [`EccCost`] of `device`, measuring write amplification over `ops`
/// inserts flushed every 16.
pub fn ecc_cost(device: Device, ops: u64) -> Result<EccCost, String> {
    let geometry = device.geometry(64);
    let part = device.part();
    let slot = geometry.ecc_parity_bytes().unwrap_or(0);
    let parity = slot * (geometry.page_bytes / geometry.ecc_step_bytes.max(1));
    let bits = geometry.ecc_step_bytes * 8 + slot * 8;
    let limit = rber_limit(bits, geometry.ecc_bits, CODEWORD_FAILURE_TARGET);
    let with = WearConfig::new(ops, part.endurance_cycles, 16).on_device(device);
    let mut without = with.clone();
    without.geometry = with.geometry.data_only();
    without.device = None;
    let cycles = |days: f64| cycles_keeping(device, limit, days) * f64::from(part.endurance_cycles);
    Ok(EccCost {
        device,
        page_bytes: geometry.page_bytes,
        spare_bytes: geometry.spare_bytes,
        ecc_step_bytes: geometry.ecc_step_bytes,
        ecc_bits: geometry.ecc_bits,
        parity_bytes_per_page: parity,
        parity_fraction: f64::from(parity) / f64::from(geometry.page_bytes),
        rber_limit: limit,
        write_amplification: wear(&with, &|_| {})?.write_amplification,
        write_amplification_without_ecc: wear(&without, &|_| {})?.write_amplification,
        endurance_cycles: part.endurance_cycles,
        cycles_for_rated_retention: cycles(device.rated_retention_days()),
        cycles_for_30_days: cycles(30.0),
    })
}

/// The fraction of endurance (up to 4) at which a page of `device` reaches
/// RBER `limit` after `days` unpowered: bisection, 100 steps.
fn cycles_keeping(device: Device, limit: f64, days: f64) -> f64 {
    let errors = device.part().errors;
    let age_ns = (days * 86_400e9) as u64;
    let (mut low, mut high) = (0.0f64, 4.0f64);
    if errors.rber(high, age_ns, 0) < limit {
        return high;
    }
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if errors.rber(mid, age_ns, 0) < limit {
            low = mid;
        } else {
            high = mid;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_the_ecc_nothing_is_lost_and_without_it_the_same_errors_lose() {
        let rber = 6e-5;
        let with = losses(&rber_config(Device::Mlc, rber, true), rber, 24, 600);
        assert_eq!(with.silent_entries() + with.runs_reported, 0, "{with:?}");
        assert_eq!(with.runs_failed_otherwise + with.runs_unformattable, 0);
        assert!(with.bits_corrected > 0, "{with:?}");
        // A half-worn part, three months unpowered a cut: the ECC carries
        // it; without, runs lose entries (named, as the store must).
        let aged = |ecc| losses(&wear_config(Device::Mlc, 0.5, 90.0, ecc), 0.5, 24, 600);
        let with = aged(true);
        assert_eq!(with.silent_entries() + with.runs_reported, 0, "{with:?}");
        let without = aged(false);
        assert!(
            without.runs_reported + without.runs_silent > 0,
            "{without:?}"
        );
    }

    /// On raw pages of a worn part, many pages fail at once, and recovery
    /// can drop durable journal pages no valid page vouches for: the
    /// checker's "recovery kept fewer journal entries than were durable"
    /// is a silent loss, counted so (with the entries dropped), never
    /// "failed otherwise".
    #[test]
    fn durable_journal_entries_dropped_unnamed_count_as_silent() {
        let endurance = f64::from(Device::Mlc.part().endurance_cycles);
        let config = wear_config(Device::Mlc, 2850.0 / endurance, 90.0, false);
        let point = losses(&config, 2850.0, 60, 600);
        assert_eq!(point.runs_failed_otherwise, 0, "{point:?}");
        assert!(point.runs_silent > 0 && point.lost_flushed > 0, "{point:?}");
    }

    #[test]
    fn the_ecc_carries_its_part_to_rated_retention_at_rated_endurance() {
        for device in Device::ALL {
            let cost = ecc_cost(device, 2_000).unwrap();
            let ratio = cost.cycles_for_rated_retention / f64::from(cost.endurance_cycles);
            assert!((0.9..1.1).contains(&ratio), "{cost:?}");
            assert!(cost.cycles_for_30_days > cost.cycles_for_rated_retention);
            assert!(cost.write_amplification > cost.write_amplification_without_ecc);
            assert!(cost.parity_bytes_per_page <= cost.spare_bytes);
        }
    }
}
