//! The `cuckoo` target: adversarial keys against a `HashMap`, every
//! policy and bucket size.

use std::collections::HashMap;

use arbitrary::Arbitrary;
use logstore::errors::CuckooError;
use logstore::testing::{h1, h2, CuckooConfig, CuckooTable};
use logstore::Hash;

use super::decode;
use super::ops::{bucket_slots, PolicyChoice};

/// Most operations one `cuckoo` input runs.
pub(crate) const CUCKOO_OPS_MAX: usize = 512;

/// A `cuckoo` input: a small table and operations on adversarial keys.
#[derive(Arbitrary, Clone, Debug)]
pub(crate) struct CuckooInput {
    /// 2, 4 or 8 slots a bucket.
    pub bucket_slots: u8,
    /// Order 0..=4.
    pub order: u8,
    pub policy: PolicyChoice,
    pub seed: u8,
    pub ops: Vec<CuckooOp>,
}

/// A key whose first two words (h1, h2 before masking) come from a tiny
/// set, so many keys share buckets; `same` forces h2 == h1.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) struct KeyChoice {
    pub w1: u8,
    pub w2: u8,
    pub same: bool,
    pub tail: u8,
}

impl KeyChoice {
    pub fn hash(self) -> Hash {
        let w1 = u64::from(self.w1 % 16) | (u64::from(self.tail) << 40);
        let w2 = if self.same {
            w1
        } else {
            u64::from(self.w2 % 16) | (u64::from(self.tail) << 48)
        };
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&w1.to_le_bytes());
        hash[8..16].copy_from_slice(&w2.to_le_bytes());
        hash[16] = self.tail % 8;
        hash
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum CuckooOp {
    Insert { key: KeyChoice, value: u16 },
    Remove { key: KeyChoice },
    Get { key: KeyChoice },
    Clear,
}

/// Every stored (bucket, slot, hash, value), in bucket order.
fn layout(table: &CuckooTable<u16>) -> Vec<(u64, usize, Hash, u16)> {
    (0..table.buckets())
        .flat_map(|bucket| {
            table
                .bucket(bucket)
                .enumerate()
                .filter_map(move |(slot, e)| e.map(|(h, v)| (bucket, slot, *h, *v)))
        })
        .collect()
}

/// Target `cuckoo`: adversarial keys against a `HashMap`; a `Full` insert
/// must leave the table exactly as it was.
pub fn cuckoo(data: &[u8]) {
    let Some(input) = decode::<CuckooInput>(data) else {
        return;
    };
    let order = u32::from(input.order % 5);
    let config = CuckooConfig {
        order,
        bucket_slots: bucket_slots(input.bucket_slots),
        policy: input.policy.policy(),
        seed: u64::from(input.seed),
    };
    let mut table = CuckooTable::<u16>::new(config).expect("a valid configuration");
    let mut model: HashMap<Hash, u16> = HashMap::new();
    for (index, op) in input.ops.iter().take(CUCKOO_OPS_MAX).enumerate() {
        match *op {
            CuckooOp::Insert { key, value } => {
                let hash = key.hash();
                let before = layout(&table);
                match table.insert(hash, value) {
                    Ok(previous) => {
                        assert_eq!(previous, model.insert(hash, value), "op {index}: insert");
                    }
                    Err(CuckooError::Full { len, capacity }) => {
                        assert!(
                            !model.contains_key(&hash),
                            "op {index}: overwriting a present hash returned Full"
                        );
                        assert_eq!(len, model.len() as u64, "op {index}: Full len");
                        assert_eq!(capacity, table.capacity());
                        assert_eq!(before, layout(&table), "op {index}: Full changed the table");
                    }
                    Err(other) => panic!("op {index}: insert failed: {other}"),
                }
            }
            CuckooOp::Remove { key } => {
                let hash = key.hash();
                assert_eq!(
                    table.remove(&hash),
                    model.remove(&hash),
                    "op {index}: remove"
                );
            }
            CuckooOp::Get { key } => {
                let hash = key.hash();
                assert_eq!(table.get(&hash), model.get(&hash), "op {index}: get");
                assert_eq!(table.contains(&hash), model.contains_key(&hash));
            }
            CuckooOp::Clear => {
                table.clear();
                model.clear();
            }
        }
        check_table(&table, &model, order, index);
    }
}

fn check_table(table: &CuckooTable<u16>, model: &HashMap<Hash, u16>, order: u32, index: usize) {
    assert_eq!(table.len(), model.len() as u64, "op {index}: len");
    let entries = layout(table);
    assert_eq!(entries.len(), model.len(), "op {index}: entries");
    for (bucket, _slot, hash, value) in &entries {
        assert!(
            *bucket == h1(hash, order) || *bucket == h2(hash, order),
            "op {index}: hash in bucket {bucket}, neither h1 nor h2"
        );
        assert_eq!(
            model.get(hash),
            Some(value),
            "op {index}: entry not in the model"
        );
    }
}
