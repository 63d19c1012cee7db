//! Fill at the first failed insert: how full a cuckoo table gets before
//! uniform random hashes first fail to go in, per policy and bucket size.
//!
//! Owns the measurement and the theoretical limits it is judged against.
//! Promises: the same configuration and seed give the same fill; a run
//! also checks that every hash inserted before the failure is still there.

use logstore::errors::CuckooError;
use logstore::testing::{CuckooConfig, CuckooTable};
use logstore::Policy;
use logstore::{Hash, Info};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// 2-choice load thresholds by bucket size (B = 2, 4, 8): no measured fill
/// may exceed them on large tables.
pub fn fill_limit(bucket_slots: usize) -> Option<f64> {
    match bucket_slots {
        2 => Some(0.897),
        4 => Some(0.980),
        8 => Some(0.998),
        _ => None,
    }
}

/// Inserts fresh random hashes (from `seed`) until the first `Full`;
/// returns the fill then. `Err` if a hash inserted earlier went missing or
/// the configuration is invalid.
pub fn fill_at_first_failure(config: CuckooConfig) -> Result<f64, String> {
    let mut table: CuckooTable<Info> = CuckooTable::new(config).map_err(|e| e.to_string())?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_f111);
    let mut inserted: Vec<(Hash, Info)> = Vec::new();
    for n in 0..=table.capacity() {
        let mut hash = [0u8; 32];
        rng.fill(&mut hash[..]);
        let info = Info {
            physical_sector: n,
            first_logical_sector: n,
        };
        match table.insert(hash, info) {
            Ok(None) => inserted.push((hash, info)),
            Ok(Some(_)) => return Err("a random 32-byte hash repeated".into()),
            Err(CuckooError::Full { .. }) => break,
            Err(other) => return Err(other.to_string()),
        }
    }
    if let Some((hash, _)) = inserted
        .iter()
        .find(|(hash, info)| table.get(hash) != Some(info))
    {
        return Err(format!("{:?} lost hash {:02x?}", config.policy, &hash[..4]));
    }
    Ok(table.fill())
}

/// Mean, min and max fill over seeds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FillStats {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub seeds: u64,
}

/// Fill at the first failure for seeds `0..seeds`, in parallel.
pub fn fill_stats(
    order: u32,
    bucket_slots: usize,
    policy: Policy,
    seeds: u64,
) -> Result<FillStats, String> {
    let fills = (0..seeds)
        .into_par_iter()
        .map(|seed| {
            fill_at_first_failure(CuckooConfig {
                order,
                bucket_slots,
                policy,
                seed,
            })
        })
        .collect::<Result<Vec<f64>, String>>()?;
    if fills.is_empty() {
        return Err("no seeds".into());
    }
    Ok(FillStats {
        mean: fills.iter().sum::<f64>() / fills.len() as f64,
        min: fills.iter().copied().fold(f64::INFINITY, f64::min),
        max: fills.iter().copied().fold(0.0, f64::max),
        seeds,
    })
}
