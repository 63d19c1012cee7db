//! Keys and infos the store tests share: a seeded hash a key, an info a
//! number.

use logstore::{Hash, Info};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn hash_of(key: u64) -> Hash {
    let mut hash = [0u8; 32];
    ChaCha8Rng::seed_from_u64(key).fill(&mut hash);
    hash
}

pub fn info_of(n: u64) -> Info {
    Info {
        physical_sector: n,
        first_logical_sector: n + 1,
    }
}
