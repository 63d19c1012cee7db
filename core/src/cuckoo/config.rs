//! The shape of a cuckoo table ([`CuckooConfig`], [`Policy`]), its errors, its
//! counters, and where a hash may live: its two candidate buckets h1/h2.

use crate::types::Hash;
use thiserror::Error;

/// The largest supported `order` (2^order buckets).
pub const ORDER_MAX: u32 = 40;
/// Upper bound on [`Policy::RandomWalk`] and [`Policy::FixedVictim`] `max_kicks`.
pub const KICKS_MAX: u32 = 1 << 16;
/// Upper bound on [`Policy::RandomWalk`] `retries`.
pub const RETRIES_MAX: u32 = 1 << 10;
/// Upper bound on [`Policy::Bfs`] `max_depth`.
pub const DEPTH_MAX: u32 = 32;
/// The breadth-first search gives up once its queue holds this many buckets.
pub const BFS_NODES_MAX: usize = 1 << 16;
// Capacities stay below 2^64 (see `CuckooConfig::capacity`).
const _: () = assert!(ORDER_MAX + 3 < 64);
/// Bits of a [`super::CompactTable`] slot: tag (order bits) + position (the rest). 5 bytes a slot.
pub const COMPACT_SLOT_BITS: u32 = 40;

/// How an insert makes room when both candidate buckets are full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Policy {
    /// Random walk (the seed's and SILT's): kick a random not-yet-moved slot of the
    /// current bucket to its alternate bucket, at most `max_kicks` slots per path;
    /// a path that gets stuck (no movable slot) is retried at most `retries` times.
    RandomWalk { max_kicks: u32, retries: u32 },
    /// Shortest displacement path of at most `max_depth` kicks, found breadth-first
    /// (libcuckoo / MemC3), with the queue bounded by `BFS_NODES_MAX`.
    Bfs { max_depth: u32 },
    /// Always kick slot 0, at most `max_kicks` times: a baseline to measure against.
    FixedVictim { max_kicks: u32 },
}

impl Default for Policy {
    /// Breadth-first, depth 6: the highest fill at the first failure of the bounded
    /// policies measured by `tests/fill.rs` (B=4, order 18: 0.978, against 0.961 for a
    /// 500-kick random walk), deterministic, at most 2 * (4^6 - 1) / 3 = 2730 buckets
    /// expanded per insert at B=4. At B=2 a 500-kick random walk fills more (0.87).
    fn default() -> Self {
        Policy::Bfs { max_depth: 6 }
    }
}

/// The shape of a table. `seed` fixes every random choice of the insert policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CuckooConfig {
    /// 2^order buckets, order <= `ORDER_MAX`.
    pub order: u32,
    /// Slots per bucket: 2, 4 or 8.
    pub bucket_slots: usize,
    pub policy: Policy,
    pub seed: u64,
}

impl CuckooConfig {
    /// 2^order buckets of 4 slots, the default policy.
    pub fn new(order: u32, seed: u64) -> Self {
        CuckooConfig {
            order,
            bucket_slots: 4,
            policy: Policy::default(),
            seed,
        }
    }

    /// Number of buckets, checked: `Err` if the configuration is invalid.
    pub fn buckets(&self) -> Result<u64, CuckooError> {
        self.validate()?;
        Ok(1u64 << self.order)
    }

    /// Number of slots, checked: `Err` if invalid or too large to address in RAM.
    pub fn capacity(&self) -> Result<u64, CuckooError> {
        // `validate` (in `buckets`) bounds the order to ORDER_MAX and the
        // slots to 8: at most 2^43 slots, no overflow.
        let capacity = self.buckets()? * self.bucket_slots as u64;
        // Every such capacity is addressable where usize is 64 bits.
        #[cfg(not(target_pointer_width = "64"))]
        if usize::try_from(capacity).is_err() {
            return Err(CuckooError::TooLarge {
                order: self.order,
                bucket_slots: self.bucket_slots,
            });
        }
        Ok(capacity)
    }

    fn validate(&self) -> Result<(), CuckooError> {
        if self.order > ORDER_MAX {
            return Err(CuckooError::OrderTooLarge { order: self.order });
        }
        if !matches!(self.bucket_slots, 2 | 4 | 8) {
            return Err(CuckooError::BucketSlots {
                bucket_slots: self.bucket_slots,
            });
        }
        let in_bounds = match self.policy {
            Policy::RandomWalk { max_kicks, retries } => {
                max_kicks <= KICKS_MAX && retries <= RETRIES_MAX
            }
            Policy::Bfs { max_depth } => max_depth <= DEPTH_MAX,
            Policy::FixedVictim { max_kicks } => max_kicks <= KICKS_MAX,
        };
        if !in_bounds {
            return Err(CuckooError::PolicyOutOfBounds {
                policy: self.policy,
            });
        }
        Ok(())
    }
}

impl Default for CuckooConfig {
    /// Order 16 (65536 buckets of 4 slots), seed 0.
    fn default() -> Self {
        CuckooConfig::new(16, 0)
    }
}

/// What can go wrong with a cuckoo table.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CuckooError {
    /// No free slot within the policy's bounds; the table is unchanged.
    #[error(
        "cuckoo table full: {len} of {capacity} slots used, no room within the policy's bounds"
    )]
    Full { len: u64, capacity: u64 },
    #[error("order {order} is above the maximum {ORDER_MAX}")]
    OrderTooLarge { order: u32 },
    #[error("{bucket_slots} slots per bucket: must be 2, 4 or 8")]
    BucketSlots { bucket_slots: usize },
    #[error("policy {policy:?} is beyond the loop bounds of this module")]
    PolicyOutOfBounds { policy: Policy },
    /// The table's size overflows the address space or the allocation failed.
    #[error("a table of 2^{order} buckets of {bucket_slots} slots does not fit in memory")]
    TooLarge { order: u32, bucket_slots: usize },
    /// A [`super::CompactTable`] slot cannot hold an `order`-bit tag and a `pos_bits`-bit position.
    #[error(
        "a {COMPACT_SLOT_BITS}-bit compact slot cannot hold a {order}-bit tag and a \
         {pos_bits}-bit position (1 to {COMPACT_SLOT_BITS} - order position bits)"
    )]
    CompactTooWide { order: u32, pos_bits: u32 },
    /// `CompactTable::remap_positions`: a new position is not below `limit`; the
    /// table is unchanged.
    #[error("position {pos} does not fit a compact slot: positions must be below {limit}")]
    CompactPosition { pos: u64, limit: u64 },
    /// `CuckooTable::from_placements`: this placement cannot be made.
    #[error("placement in bucket {bucket}, slot {slot}: {problem}")]
    Placement {
        bucket: u64,
        slot: usize,
        problem: PlacementProblem,
    },
}

/// Why `CuckooTable::from_placements` rejected a placement.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum PlacementProblem {
    #[error("bucket out of range")]
    BucketOutOfRange,
    #[error("slot out of range")]
    SlotOutOfRange,
    #[error("not one of the hash's two buckets")]
    NotItsBucket,
    #[error("slot already used")]
    SlotTaken,
    #[error("hash already placed")]
    HashTwice,
}

/// Counters for reports. They survive [`super::Table::clear`] only if read before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CuckooStats {
    /// Entries moved to their alternate bucket by successful inserts.
    pub kicks: u64,
    /// Inserts that returned [`CuckooError::Full`].
    pub inserts_failed: u64,
}

/// The first candidate bucket: the hash's first little-endian u64 masked to `order` bits.
pub fn h1(hash: &Hash, order: u32) -> u64 {
    hash_word(hash, 0) & order_mask(order)
}

/// The second candidate bucket: the hash's second little-endian u64 masked to `order` bits.
pub fn h2(hash: &Hash, order: u32) -> u64 {
    hash_word(hash, 1) & order_mask(order)
}

fn hash_word(hash: &Hash, index: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&hash[index * 8..index * 8 + 8]);
    u64::from_le_bytes(word)
}

pub(crate) fn order_mask(order: u32) -> u64 {
    1u64.checked_shl(order)
        .map_or(u64::MAX, |buckets| buckets - 1)
}

/// A slot's address: bucket index and slot index within the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotPos {
    pub bucket: u64,
    pub slot: usize,
}

/// The candidate buckets of one hash: two, or one if h1 == h2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Roots {
    pub(crate) buckets: [u64; 2],
    pub(crate) count: usize,
}

impl Roots {
    pub(crate) fn of(hash: &Hash, order: u32) -> Roots {
        let (first, second) = (h1(hash, order), h2(hash, order));
        Roots {
            buckets: [first, second],
            count: if first == second { 1 } else { 2 },
        }
    }

    pub(crate) fn as_slice(&self) -> &[u64] {
        &self.buckets[..self.count]
    }
}
