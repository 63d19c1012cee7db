//! Seeded operation streams: `uniform` (all new hashes), `dedup` (repeats
//! with a Zipf-like skew), `churn` (insert/delete cycles that force packs).
//!
//! Owns [`Step`], the unit every check, campaign and fuzz target runs.
//! Promises: the same kind, seed and length give the same steps.

use logstore::{Hash, Info};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::nand::CrashMode;

/// One operation of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Step {
    /// Store `info` under the hash of `key`.
    Insert {
        key: u64,
        info: u64,
    },
    Delete {
        key: u64,
    },
    /// Look up the hash of `key` and compare with the model.
    Get {
        key: u64,
    },
    Flush,
    /// Lose power while the `after_ops`-th next mutating flash operation is
    /// in flight (0: the very next one).
    CutPower {
        after_ops: u32,
        mode: CrashMode,
    },
    /// The `after_ops`-th next mutating flash operation (a program or an
    /// erase) fails with `BadBlock`, power on: its block goes bad there.
    FailOp {
        after_ops: u32,
    },
    /// The `after_ops`-th next mutating flash operation fails with a host
    /// I/O error before it reaches the cells (the device and its blocks
    /// stay as they were).
    IoError {
        after_ops: u32,
    },
    /// Drop the store and open the device again, without power loss.
    Reopen,
    /// The device sits idle this many days (retention errors grow).
    Bake {
        days: u32,
    },
    /// A background scrub step over at most this many incarnation pages.
    Scrub {
        pages: u32,
    },
}

impl Step {
    /// Whether the step is the workload's own, not a power cut, a failure,
    /// time passing or a reopen inserted around it.
    pub fn is_workload(&self) -> bool {
        !matches!(
            self,
            Step::CutPower { .. }
                | Step::FailOp { .. }
                | Step::IoError { .. }
                | Step::Bake { .. }
                | Step::Scrub { .. }
                | Step::Reopen
        )
    }
}

/// The kinds of generated workload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Every cluster new: inserts of fresh hashes, with lookups of old ones.
    Uniform,
    /// A dedup trace: half the clusters repeat earlier ones, skewed towards
    /// a few hot ones (Zipf-like); look up, insert on a miss.
    Dedup,
    /// A small working set inserted and deleted over and over (the seed's
    /// pathological case): the journal fills with dead entries.
    Churn,
    /// A disk's life: new clusters written, some rewritten, older ones
    /// freed (deleted) long after they were frozen, so tombstones shadow
    /// incarnations and evictions meet deleted hashes.
    Lifecycle,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 4] = [
        WorkloadKind::Uniform,
        WorkloadKind::Dedup,
        WorkloadKind::Churn,
        WorkloadKind::Lifecycle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Uniform => "uniform",
            WorkloadKind::Dedup => "dedup",
            WorkloadKind::Churn => "churn",
            WorkloadKind::Lifecycle => "lifecycle",
        }
    }
}

/// The content hash standing for key `key`: SHA-256 of its bytes.
pub fn hash_of(key: u64) -> Hash {
    Sha256::digest(key.to_le_bytes()).into()
}

/// The info stored by an insert step.
pub fn info_of(info: u64) -> Info {
    Info {
        physical_sector: info,
        first_logical_sector: info.rotate_left(17),
    }
}

/// Working-set size of `churn`.
pub(crate) const CHURN_KEYS: u64 = 64;

/// `ops` steps of `kind` from `seed`, with a flush after every 1 to 32.
pub fn generate(kind: WorkloadKind, seed: u64, ops: usize) -> Vec<Step> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005E_ED0F_10AD);
    let mut steps = Vec::with_capacity(ops + ops / 8);
    let mut fresh = 0u64;
    let mut until_flush = rng.random_range(1..=32);
    while steps.len() < ops {
        match kind {
            WorkloadKind::Uniform => uniform_step(&mut rng, &mut fresh, &mut steps),
            WorkloadKind::Dedup => dedup_step(&mut rng, &mut fresh, &mut steps),
            WorkloadKind::Churn => churn_step(&mut rng, &mut steps),
            WorkloadKind::Lifecycle => lifecycle_step(&mut rng, &mut fresh, &mut steps),
        }
        until_flush -= 1;
        if until_flush == 0 {
            steps.push(Step::Flush);
            until_flush = rng.random_range(1..=32);
        }
    }
    steps.truncate(ops);
    steps
}

fn uniform_step(rng: &mut ChaCha8Rng, fresh: &mut u64, steps: &mut Vec<Step>) {
    if *fresh > 0 && rng.random_ratio(1, 8) {
        steps.push(Step::Get {
            key: rng.random_range(0..*fresh),
        });
    } else {
        steps.push(Step::Insert {
            key: *fresh,
            info: rng.random(),
        });
        *fresh += 1;
    }
}

fn dedup_step(rng: &mut ChaCha8Rng, fresh: &mut u64, steps: &mut Vec<Step>) {
    if *fresh > 0 && rng.random_bool(0.5) {
        // u^3 skews towards the first keys: a few hot clusters.
        let u: f64 = rng.random();
        let key = ((*fresh as f64) * u * u * u) as u64;
        steps.push(Step::Get { key });
    } else {
        steps.push(Step::Get { key: *fresh });
        steps.push(Step::Insert {
            key: *fresh,
            info: rng.random(),
        });
        *fresh += 1;
    }
}

/// Six in ten steps write a new cluster, one in ten rewrites an earlier one
/// (new info), two in ten free one (delete), one in ten looks one up; the
/// cluster touched is any earlier one, old ones as likely as new.
fn lifecycle_step(rng: &mut ChaCha8Rng, fresh: &mut u64, steps: &mut Vec<Step>) {
    let roll = rng.random_range(0..10u8);
    if *fresh == 0 || roll < 6 {
        steps.push(Step::Insert {
            key: *fresh,
            info: rng.random(),
        });
        *fresh += 1;
        return;
    }
    let key = rng.random_range(0..*fresh);
    steps.push(match roll {
        6 => Step::Insert {
            key,
            info: rng.random(),
        },
        7 | 8 => Step::Delete { key },
        _ => Step::Get { key },
    });
}

fn churn_step(rng: &mut ChaCha8Rng, steps: &mut Vec<Step>) {
    let key = rng.random_range(0..CHURN_KEYS);
    if rng.random_bool(0.5) {
        steps.push(Step::Insert {
            key,
            info: rng.random(),
        });
    } else {
        steps.push(Step::Delete { key });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_steps_and_kinds_differ() {
        for kind in WorkloadKind::ALL {
            let a = generate(kind, 7, 500);
            assert_eq!(a, generate(kind, 7, 500));
            assert_ne!(a, generate(kind, 8, 500));
            assert_eq!(a.len(), 500);
            assert!(a.contains(&Step::Flush));
        }
        let churn = generate(WorkloadKind::Churn, 1, 2_000);
        assert!(churn.iter().all(|s| match s {
            Step::Insert { key, .. } | Step::Delete { key } => *key < CHURN_KEYS,
            _ => true,
        }));
        let dedup = generate(WorkloadKind::Dedup, 1, 2_000);
        let gets = dedup
            .iter()
            .filter(|s| matches!(s, Step::Get { .. }))
            .count();
        let inserts = dedup
            .iter()
            .filter(|s| matches!(s, Step::Insert { .. }))
            .count();
        assert!(gets > inserts, "a dedup trace looks up every cluster");
    }
}
