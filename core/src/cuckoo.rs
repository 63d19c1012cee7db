//! The log store's in-RAM bucketed cuckoo tables; no I/O. [`CuckooTable`] keeps each
//! whole hash and its value; [`CompactTable`] (SILT-style) keeps per slot only a tag (the
//! entry's other bucket) and a position on flash, 5 bytes, and confirms a hash through a
//! caller-given resolver. Every stored hash sits in one of its two buckets h1/h2 (one if
//! they are equal), never twice; a failed insert returns `Full` and leaves the table
//! exactly as it was. All randomness comes from a ChaCha8 generator seeded by the caller.

use crate::types::Hash;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

/// The largest supported `order` (2^order buckets).
pub const ORDER_MAX: u32 = 40;
/// Upper bound on [`Policy::RandomWalk`] and [`Policy::FixedVictim`] `max_kicks`.
pub const KICKS_LIMIT: u32 = 1 << 16;
/// Upper bound on [`Policy::RandomWalk`] `retries`.
pub const RETRIES_LIMIT: u32 = 1 << 10;
/// Upper bound on [`Policy::Bfs`] `max_depth`.
pub const DEPTH_LIMIT: u32 = 32;
/// The breadth-first search gives up once its queue holds this many buckets.
pub const BFS_NODES_MAX: usize = 1 << 16;
/// Bits of a [`CompactTable`] slot: tag (order bits) + position (the rest). 5 bytes a slot.
pub const COMPACT_SLOT_BITS: u32 = 40;
const COMPACT_SLOT_BYTES: usize = (COMPACT_SLOT_BITS / 8) as usize;

/// How an insert makes room when both candidate buckets are full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Policy {
    /// Random walk (the seed's and SILT's): kick a random not-yet-moved slot of the
    /// current bucket to its alternate bucket, at most `max_kicks` slots per path;
    /// a path that gets stuck (no movable slot) is retried at most `retries` times.
    RandomWalk { max_kicks: u32, retries: u32 },
    /// Shortest displacement path of at most `max_depth` kicks, found breadth-first
    /// (libcuckoo / MemC3), with the queue bounded by [`BFS_NODES_MAX`].
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
    /// 2^order buckets, order <= [`ORDER_MAX`].
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
        let capacity = self.buckets()?.checked_mul(self.bucket_slots as u64);
        let too_large = CuckooError::TooLarge {
            order: self.order,
            bucket_slots: self.bucket_slots,
        };
        let capacity = capacity.ok_or(too_large.clone())?;
        usize::try_from(capacity).map_err(|_| too_large)?;
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
                max_kicks <= KICKS_LIMIT && retries <= RETRIES_LIMIT
            }
            Policy::Bfs { max_depth } => max_depth <= DEPTH_LIMIT,
            Policy::FixedVictim { max_kicks } => max_kicks <= KICKS_LIMIT,
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
    /// A [`CompactTable`] slot cannot hold an `order`-bit tag and a `pos_bits`-bit position.
    #[error(
        "a {COMPACT_SLOT_BITS}-bit compact slot cannot hold a {order}-bit tag and a \
         {pos_bits}-bit position (1 to {COMPACT_SLOT_BITS} - order position bits)"
    )]
    CompactTooWide { order: u32, pos_bits: u32 },
    /// [`CompactTable::remap_positions`]: a new position is not below `limit`; the
    /// table is unchanged.
    #[error("position {pos} does not fit a compact slot: positions must be below {limit}")]
    CompactPosition { pos: u64, limit: u64 },
    /// [`CuckooTable::from_placements`]: this placement cannot be made.
    #[error("placement in bucket {bucket}, slot {slot}: {problem}")]
    Placement {
        bucket: u64,
        slot: usize,
        problem: PlacementProblem,
    },
}

/// Why [`CuckooTable::from_placements`] rejected a placement.
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

/// Counters for reports. They survive [`CuckooTable::clear`] only if read before it.
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

fn order_mask(order: u32) -> u64 {
    1u64.checked_shl(order)
        .map_or(u64::MAX, |buckets| buckets - 1)
}

/// A slot's address: bucket index and slot index within the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotPos {
    bucket: u64,
    slot: usize,
}

/// The candidate buckets of one hash: two, or one if h1 == h2.
#[derive(Clone, Copy, Debug)]
struct Roots {
    buckets: [u64; 2],
    count: usize,
}

impl Roots {
    fn of(hash: &Hash, order: u32) -> Roots {
        let (first, second) = (h1(hash, order), h2(hash, order));
        Roots {
            buckets: [first, second],
            count: if first == second { 1 } else { 2 },
        }
    }

    fn as_slice(&self) -> &[u64] {
        &self.buckets[..self.count]
    }
}

/// What the insert policies see of the slot layout. A layout that keeps the full hash
/// derives the alternate bucket from it; a compact (SILT-style) layout can store the
/// alternate bucket as the slot's tag instead, and the policies do not change.
trait SlotLayout {
    fn bucket_slots(&self) -> usize;
    /// A free slot of `bucket`, if any.
    fn free_slot(&self, bucket: u64) -> Option<usize>;
    /// Whether the slot holds no entry.
    fn is_free(&self, pos: SlotPos) -> bool;
    /// The other bucket of the entry in (`bucket`, `slot`); `None` if the slot is
    /// empty or its entry has a single bucket (h1 == h2), so it cannot be kicked.
    fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64>;
    /// Move the entry in `from` (occupied) to `to` (free), leaving `from` free.
    fn move_entry(&mut self, from: SlotPos, to: SlotPos);
}

/// The full layout: each slot keeps the whole hash and the value; one occupancy bit
/// a slot, a byte a bucket. Empty slots hold stale or default data, never exposed.
#[derive(Clone, Debug)]
struct FullSlots<V> {
    order: u32,
    bucket_slots: usize,
    hashes: Vec<Hash>,
    values: Vec<V>,
    occupied: Vec<u8>,
}

impl<V: Copy + Default> FullSlots<V> {
    fn new(config: &CuckooConfig) -> Result<Self, CuckooError> {
        let capacity = config.capacity()? as usize;
        let buckets = config.buckets()? as usize;
        let too_large = || CuckooError::TooLarge {
            order: config.order,
            bucket_slots: config.bucket_slots,
        };
        let mut hashes = Vec::new();
        let mut values = Vec::new();
        let mut occupied = Vec::new();
        hashes
            .try_reserve_exact(capacity)
            .map_err(|_| too_large())?;
        values
            .try_reserve_exact(capacity)
            .map_err(|_| too_large())?;
        occupied
            .try_reserve_exact(buckets)
            .map_err(|_| too_large())?;
        hashes.resize(capacity, [0u8; 32]);
        values.resize(capacity, V::default());
        occupied.resize(buckets, 0u8);
        Ok(FullSlots {
            order: config.order,
            bucket_slots: config.bucket_slots,
            hashes,
            values,
            occupied,
        })
    }

    fn index(&self, pos: SlotPos) -> usize {
        debug_assert!(pos.slot < self.bucket_slots);
        debug_assert!((pos.bucket as usize) < self.occupied.len());
        pos.bucket as usize * self.bucket_slots + pos.slot
    }

    fn is_occupied(&self, pos: SlotPos) -> bool {
        self.occupied[pos.bucket as usize] & (1 << pos.slot) != 0
    }

    /// The slot of `hash` in `bucket`, if there.
    fn find_in(&self, bucket: u64, hash: &Hash) -> Option<SlotPos> {
        let base = bucket as usize * self.bucket_slots;
        let mut mask = self.occupied[bucket as usize];
        while mask != 0 {
            // Bounded: one iteration per set bit, at most bucket_slots.
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if self.hashes[base + slot] == *hash {
                return Some(SlotPos { bucket, slot });
            }
        }
        None
    }

    fn put(&mut self, pos: SlotPos, hash: Hash, value: V) {
        debug_assert!(!self.is_occupied(pos));
        let index = self.index(pos);
        self.hashes[index] = hash;
        self.values[index] = value;
        self.occupied[pos.bucket as usize] |= 1 << pos.slot;
    }

    fn take(&mut self, pos: SlotPos) -> V {
        debug_assert!(self.is_occupied(pos));
        self.occupied[pos.bucket as usize] &= !(1u8 << pos.slot);
        self.values[self.index(pos)]
    }

    fn entry(&self, pos: SlotPos) -> Option<(&Hash, &V)> {
        let index = self.index(pos);
        self.is_occupied(pos)
            .then(|| (&self.hashes[index], &self.values[index]))
    }
}

impl<V: Copy + Default> SlotLayout for FullSlots<V> {
    fn is_free(&self, pos: SlotPos) -> bool {
        !self.is_occupied(pos)
    }

    fn bucket_slots(&self) -> usize {
        self.bucket_slots
    }

    fn free_slot(&self, bucket: u64) -> Option<usize> {
        let free = self.occupied[bucket as usize].trailing_ones() as usize;
        (free < self.bucket_slots).then_some(free)
    }

    fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64> {
        let pos = SlotPos { bucket, slot };
        if !self.is_occupied(pos) {
            return None;
        }
        let roots = Roots::of(&self.hashes[self.index(pos)], self.order);
        debug_assert!(
            roots.as_slice().contains(&bucket),
            "entry outside its buckets"
        );
        let alternate = if roots.buckets[0] == bucket {
            roots.buckets[1]
        } else {
            roots.buckets[0]
        };
        if crate::planted::active(crate::planted::Bug::KickWrongBucket) && alternate != bucket {
            return Some((alternate + 1) & ((1u64 << self.order) - 1));
        }
        (alternate != bucket).then_some(alternate)
    }

    fn move_entry(&mut self, from: SlotPos, to: SlotPos) {
        debug_assert_eq!(
            self.alternate_bucket(from.bucket, from.slot),
            Some(to.bucket)
        );
        let hash = self.hashes[self.index(from)];
        let value = self.take(from);
        self.put(to, hash, value);
    }
}

/// Reusable buffers of the insert policies, so an insert does not allocate.
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// The kick path: entry in `path[i]` moves to `path[i + 1]`; the last slot is free.
    path: Vec<SlotPos>,
    nodes: Vec<BfsNode>,
}

/// One bucket reached by the breadth-first search.
#[derive(Clone, Copy, Debug)]
struct BfsNode {
    bucket: u64,
    /// Index of the node whose slot `slot_in_parent` was kicked to reach this bucket.
    parent: u32,
    slot_in_parent: u8,
    /// Kicks from a root bucket.
    depth: u8,
}

const BFS_ROOT: u32 = u32::MAX;

/// How a random walk picks the slot to kick in a full bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    Random,
    First,
}

#[derive(Clone, Copy, Debug)]
struct Walk {
    victim: Victim,
    kicks_max: u32,
    retries: u32,
}

enum WalkEnd {
    Found,
    Stuck,
    KicksExhausted,
}

/// Plan a kick path for an entry whose buckets `roots` are full, without moving
/// anything: on `true`, `scratch.path` holds it (at least two slots).
fn plan_path<L: SlotLayout>(
    layout: &L,
    roots: Roots,
    policy: Policy,
    rng: &mut ChaCha8Rng,
    scratch: &mut Scratch,
) -> bool {
    debug_assert!(roots
        .as_slice()
        .iter()
        .all(|&root| layout.free_slot(root).is_none()));
    let found = match policy {
        Policy::RandomWalk { max_kicks, retries } => {
            let walk = Walk {
                victim: Victim::Random,
                kicks_max: max_kicks,
                retries,
            };
            plan_walk(layout, roots, walk, rng, &mut scratch.path)
        }
        Policy::FixedVictim { max_kicks } => {
            let walk = Walk {
                victim: Victim::First,
                kicks_max: max_kicks,
                retries: 0,
            };
            plan_walk(layout, roots, walk, rng, &mut scratch.path)
        }
        Policy::Bfs { max_depth } => plan_bfs(layout, roots, max_depth, scratch),
    };
    debug_assert!(!found || scratch.path.len() >= 2);
    found
}

/// Random or fixed-victim walk, planned: a slot is never picked twice in one path
/// (the seed's kick map), so moving the path backwards afterwards is consistent.
fn plan_walk<L: SlotLayout>(
    layout: &L,
    roots: Roots,
    walk: Walk,
    rng: &mut ChaCha8Rng,
    path: &mut Vec<SlotPos>,
) -> bool {
    let attempts_max = walk.retries.saturating_add(1);
    for _attempt in 0..attempts_max {
        path.clear();
        let start = match walk.victim {
            Victim::Random => roots.buckets[rng.random_range(0..roots.count)],
            Victim::First => roots.buckets[0],
        };
        match walk_once(layout, start, walk, rng, path) {
            WalkEnd::Found => return true,
            WalkEnd::KicksExhausted => return false,
            WalkEnd::Stuck => continue,
        }
    }
    false
}

fn walk_once<L: SlotLayout>(
    layout: &L,
    start: u64,
    walk: Walk,
    rng: &mut ChaCha8Rng,
    path: &mut Vec<SlotPos>,
) -> WalkEnd {
    debug_assert!(path.is_empty());
    let mut bucket = start;
    for _kick in 0..walk.kicks_max {
        let Some((slot, alternate)) = pick_victim(layout, bucket, walk.victim, rng, path) else {
            return WalkEnd::Stuck;
        };
        path.push(SlotPos { bucket, slot });
        if let Some(free) = layout.free_slot(alternate) {
            path.push(SlotPos {
                bucket: alternate,
                slot: free,
            });
            return WalkEnd::Found;
        }
        bucket = alternate;
    }
    WalkEnd::KicksExhausted
}

/// A slot of `bucket` that is not on `path` and has an alternate bucket, with it.
fn pick_victim<L: SlotLayout>(
    layout: &L,
    bucket: u64,
    victim: Victim,
    rng: &mut ChaCha8Rng,
    path: &[SlotPos],
) -> Option<(usize, u64)> {
    let bucket_slots = layout.bucket_slots();
    let mut order = [0usize, 1, 2, 3, 4, 5, 6, 7];
    let candidates = match victim {
        Victim::First => 1,
        Victim::Random => {
            // Fisher-Yates over the bucket's slots.
            for i in (1..bucket_slots).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            bucket_slots
        }
    };
    order[..candidates].iter().find_map(|&slot| {
        let on_path = path.contains(&SlotPos { bucket, slot });
        let alternate = layout.alternate_bucket(bucket, slot)?;
        (!on_path).then_some((slot, alternate))
    })
}

/// Breadth-first search for the shortest kick path of at most `depth_max` kicks.
/// Being shortest, the path never visits a bucket twice.
fn plan_bfs<L: SlotLayout>(
    layout: &L,
    roots: Roots,
    depth_max: u32,
    scratch: &mut Scratch,
) -> bool {
    let nodes = &mut scratch.nodes;
    nodes.clear();
    for &bucket in roots.as_slice() {
        nodes.push(BfsNode {
            bucket,
            parent: BFS_ROOT,
            slot_in_parent: 0,
            depth: 0,
        });
    }
    let mut head = 0;
    while head < nodes.len() {
        // Bounded: nodes.len() <= BFS_NODES_MAX, and head grows every iteration.
        let node = nodes[head];
        if u32::from(node.depth) < depth_max {
            for slot in 0..layout.bucket_slots() {
                let Some(alternate) = layout.alternate_bucket(node.bucket, slot) else {
                    continue;
                };
                if nodes.len() == BFS_NODES_MAX {
                    return false;
                }
                let child = BfsNode {
                    bucket: alternate,
                    parent: head as u32,
                    slot_in_parent: slot as u8,
                    depth: node.depth + 1,
                };
                nodes.push(child);
                if let Some(free) = layout.free_slot(alternate) {
                    trace_bfs_path(nodes, free, &mut scratch.path);
                    return true;
                }
            }
        }
        head += 1;
    }
    false
}

/// The path from a root to the last node of `nodes`, ending in its free slot.
fn trace_bfs_path(nodes: &[BfsNode], free: usize, path: &mut Vec<SlotPos>) {
    let leaf = nodes[nodes.len() - 1];
    path.clear();
    path.push(SlotPos {
        bucket: leaf.bucket,
        slot: free,
    });
    let mut node = leaf;
    for _step in 0..=leaf.depth {
        // Bounded by the leaf's depth: each step goes one level up.
        if node.parent == BFS_ROOT {
            break;
        }
        let parent = nodes[node.parent as usize];
        path.push(SlotPos {
            bucket: parent.bucket,
            slot: usize::from(node.slot_in_parent),
        });
        node = parent;
    }
    path.reverse();
    debug_assert_eq!(path.len(), usize::from(leaf.depth) + 1);
}

/// Move every entry of `path` one step forwards, last first; frees `path[0]`.
fn apply_path<L: SlotLayout>(layout: &mut L, path: &[SlotPos]) {
    debug_assert!(path.len() >= 2);
    debug_assert!(path
        .iter()
        .enumerate()
        .all(|(i, pos)| !path[i + 1..].contains(pos)));
    for i in (1..path.len()).rev() {
        layout.move_entry(path[i - 1], path[i]);
    }
}

/// What both tables share: the configuration, the slots, the counts, the
/// policy's generator and scratch space, and the kicks that make room.
#[derive(Clone, Debug)]
struct Engine<L> {
    config: CuckooConfig,
    slots: L,
    len: u64,
    capacity: u64,
    rng: ChaCha8Rng,
    stats: CuckooStats,
    scratch: Scratch,
}

impl<L: SlotLayout> Engine<L> {
    fn new(config: CuckooConfig, slots: L) -> Result<Self, CuckooError> {
        Ok(Engine {
            capacity: config.capacity()?,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            stats: CuckooStats::default(),
            scratch: Scratch::default(),
            len: 0,
            config,
            slots,
        })
    }

    /// len / capacity, in [0, 1].
    fn fill(&self) -> f64 {
        self.len as f64 / self.capacity as f64
    }

    /// Bytes of the policy's scratch buffers.
    fn scratch_bytes(&self) -> usize {
        self.scratch.path.capacity() * size_of::<SlotPos>()
            + self.scratch.nodes.capacity() * size_of::<BfsNode>()
    }

    /// Empty again, the generator and counters as new; the caller frees the slots.
    fn reset(&mut self) {
        self.len = 0;
        self.rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        self.stats = CuckooStats::default();
    }

    /// Frees a slot in one of `roots` by kicking entries along a planned path;
    /// `None` (nothing moved) if the policy finds no path within its bounds.
    fn make_room(&mut self, roots: Roots) -> Option<SlotPos> {
        let policy = self.config.policy;
        if !plan_path(&self.slots, roots, policy, &mut self.rng, &mut self.scratch) {
            self.stats.inserts_failed += 1;
            return None;
        }
        let path = &self.scratch.path;
        apply_path(&mut self.slots, path);
        self.stats.kicks += path.len() as u64 - 1;
        debug_assert!(roots.as_slice().contains(&path[0].bucket));
        debug_assert!(self.slots.is_free(path[0]));
        Some(path[0])
    }
}

/// A bucketed cuckoo hash table from [`Hash`](type@Hash) to `V`. Empty slots hold `V::default()`
/// internally; it is never returned.
#[derive(Clone, Debug)]
pub struct CuckooTable<V> {
    e: Engine<FullSlots<V>>,
}

impl<V: Copy + Default> CuckooTable<V> {
    /// An empty table; allocates all its slots now.
    pub fn new(config: CuckooConfig) -> Result<Self, CuckooError> {
        config.capacity()?;
        let slots = FullSlots::new(&config)?;
        Ok(CuckooTable {
            e: Engine::new(config, slots)?,
        })
    }

    /// A table with exactly the given placement (bucket, slot, hash, value), used to
    /// freeze a [`CompactTable`] with the same layout. `Err(Placement)` if a bucket or
    /// slot is out of range, a hash is not in one of its buckets, or a slot or a hash
    /// comes twice. Its generator and counters start as in [`CuckooTable::new`].
    pub fn from_placements(
        config: CuckooConfig,
        placements: impl IntoIterator<Item = (u64, usize, Hash, V)>,
    ) -> Result<Self, CuckooError> {
        let mut table = Self::new(config)?;
        for (bucket, slot, hash, value) in placements {
            // Bounded: every placement fills a free slot or returns, so at most
            // capacity + 1 iterations.
            table.place(SlotPos { bucket, slot }, hash, value)?;
        }
        Ok(table)
    }

    fn place(&mut self, pos: SlotPos, hash: Hash, value: V) -> Result<(), CuckooError> {
        let problem = if pos.bucket >= self.buckets() {
            Some(PlacementProblem::BucketOutOfRange)
        } else if pos.slot >= self.e.slots.bucket_slots {
            Some(PlacementProblem::SlotOutOfRange)
        } else if !Roots::of(&hash, self.e.config.order)
            .as_slice()
            .contains(&pos.bucket)
        {
            Some(PlacementProblem::NotItsBucket)
        } else if self.e.slots.is_occupied(pos) {
            Some(PlacementProblem::SlotTaken)
        } else if self.find(&hash).is_some() {
            Some(PlacementProblem::HashTwice)
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(CuckooError::Placement {
                bucket: pos.bucket,
                slot: pos.slot,
                problem,
            });
        }
        self.e.slots.put(pos, hash, value);
        self.e.len += 1;
        Ok(())
    }

    pub fn config(&self) -> &CuckooConfig {
        &self.e.config
    }

    /// Number of stored hashes.
    pub fn len(&self) -> u64 {
        self.e.len
    }

    pub fn is_empty(&self) -> bool {
        self.e.len == 0
    }

    /// Number of slots: buckets * bucket_slots.
    pub fn capacity(&self) -> u64 {
        self.e.capacity
    }

    /// Number of buckets: 2^order.
    pub fn buckets(&self) -> u64 {
        self.e.slots.occupied.len() as u64
    }

    /// len / capacity, in [0, 1].
    pub fn fill(&self) -> f64 {
        self.e.fill()
    }

    /// Bytes of RAM held by the table, scratch buffers included.
    pub fn ram_bytes(&self) -> u64 {
        let slots = self.e.slots.hashes.capacity() * size_of::<Hash>()
            + self.e.slots.values.capacity() * size_of::<V>()
            + self.e.slots.occupied.capacity();
        (size_of::<Self>() + slots + self.e.scratch_bytes()) as u64
    }

    pub fn stats(&self) -> CuckooStats {
        self.e.stats
    }

    pub fn get(&self, hash: &Hash) -> Option<&V> {
        let pos = self.find(hash)?;
        Some(&self.e.slots.values[self.e.slots.index(pos)])
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.find(hash).is_some()
    }

    /// Store `value` for `hash`: overwrites and returns the previous value if present.
    /// On `Err(Full)` the table's contents are unchanged.
    pub fn insert(&mut self, hash: Hash, value: V) -> Result<Option<V>, CuckooError> {
        debug_assert!(self.e.len <= self.e.capacity);
        if let Some(pos) = self.find(&hash) {
            let index = self.e.slots.index(pos);
            let previous = std::mem::replace(&mut self.e.slots.values[index], value);
            return Ok(Some(previous));
        }
        let roots = Roots::of(&hash, self.e.config.order);
        let free = roots.as_slice().iter().find_map(|&bucket| {
            let slot = self.e.slots.free_slot(bucket)?;
            Some(SlotPos { bucket, slot })
        });
        let pos = match free {
            Some(pos) => pos,
            None => self.make_room(roots)?,
        };
        self.e.slots.put(pos, hash, value);
        self.e.len += 1;
        debug_assert!(self.e.len <= self.e.capacity);
        debug_assert_eq!(self.find(&hash), Some(pos));
        Ok(None)
    }

    /// Free a slot in one of `roots` by kicking entries along a planned path.
    fn make_room(&mut self, roots: Roots) -> Result<SlotPos, CuckooError> {
        self.e.make_room(roots).ok_or(CuckooError::Full {
            len: self.e.len,
            capacity: self.e.capacity,
        })
    }

    /// Remove `hash`; returns its value if it was present.
    pub fn remove(&mut self, hash: &Hash) -> Option<V> {
        let pos = self.find(hash)?;
        debug_assert!(self.e.len > 0);
        self.e.len -= 1;
        Some(self.e.slots.take(pos))
    }

    /// Empty the table and reset its generator and counters: it then behaves exactly
    /// like `CuckooTable::new(config)`, without reallocating.
    pub fn clear(&mut self) {
        self.e.slots.occupied.fill(0);
        self.e.reset();
    }

    /// The slots of bucket `index` in order, `None` for a free slot: the bucket image
    /// a hash store writes. Panics if `index >= self.buckets()`.
    pub fn bucket(&self, index: u64) -> impl Iterator<Item = Option<(&Hash, &V)>> + '_ {
        assert!(
            index < self.buckets(),
            "bucket {index} out of {}",
            self.buckets()
        );
        (0..self.e.slots.bucket_slots).map(move |slot| {
            self.e.slots.entry(SlotPos {
                bucket: index,
                slot,
            })
        })
    }

    /// Every stored entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (&Hash, &V)> + '_ {
        (0..self.buckets()).flat_map(move |bucket| self.bucket(bucket).flatten())
    }

    fn find(&self, hash: &Hash) -> Option<SlotPos> {
        let roots = Roots::of(hash, self.e.config.order);
        roots
            .as_slice()
            .iter()
            .find_map(|&bucket| self.e.slots.find_in(bucket, hash))
    }
}

/// The compact layout: a slot is [`COMPACT_SLOT_BITS`] bits, little-endian in 5 bytes,
/// the tag (the entry's other bucket, `order` bits) low and the position above it. An
/// all-ones position marks a free slot, so a slot needs no other occupancy bit.
#[derive(Clone, Debug)]
struct CompactSlots {
    order: u32,
    bucket_slots: usize,
    /// The all-ones position: the free-slot marker and the bound of stored positions.
    pos_empty: u64,
    bytes: Vec<u8>,
}

impl CompactSlots {
    fn new(config: &CuckooConfig, pos_bits: u32) -> Result<Self, CuckooError> {
        let capacity = config.capacity()?;
        // `capacity()` checked order <= ORDER_MAX == COMPACT_SLOT_BITS.
        if pos_bits == 0 || pos_bits > COMPACT_SLOT_BITS.saturating_sub(config.order) {
            return Err(CuckooError::CompactTooWide {
                order: config.order,
                pos_bits,
            });
        }
        let too_large = || CuckooError::TooLarge {
            order: config.order,
            bucket_slots: config.bucket_slots,
        };
        let size = usize::try_from(capacity)
            .ok()
            .and_then(|slots| slots.checked_mul(COMPACT_SLOT_BYTES))
            .ok_or_else(too_large)?;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(size).map_err(|_| too_large())?;
        bytes.resize(size, 0xff);
        Ok(CompactSlots {
            order: config.order,
            bucket_slots: config.bucket_slots,
            pos_empty: (1u64 << pos_bits) - 1,
            bytes,
        })
    }

    fn offset(&self, pos: SlotPos) -> usize {
        debug_assert!(pos.slot < self.bucket_slots);
        (pos.bucket as usize * self.bucket_slots + pos.slot) * COMPACT_SLOT_BYTES
    }

    fn word(&self, pos: SlotPos) -> u64 {
        let offset = self.offset(pos);
        let mut word = [0u8; 8];
        word[..COMPACT_SLOT_BYTES]
            .copy_from_slice(&self.bytes[offset..offset + COMPACT_SLOT_BYTES]);
        u64::from_le_bytes(word)
    }

    fn set_word(&mut self, pos: SlotPos, word: u64) {
        let offset = self.offset(pos);
        self.bytes[offset..offset + COMPACT_SLOT_BYTES]
            .copy_from_slice(&word.to_le_bytes()[..COMPACT_SLOT_BYTES]);
    }

    /// (tag, position) of the slot, `None` if it is free.
    fn entry(&self, pos: SlotPos) -> Option<(u64, u64)> {
        self.decode(self.word(pos))
    }

    fn decode(&self, word: u64) -> Option<(u64, u64)> {
        let position = (word >> self.order) & self.pos_empty;
        (position != self.pos_empty).then_some((word & order_mask(self.order), position))
    }

    /// The slot words of `bucket`, in slot order; one bounds check a bucket.
    fn bucket_words(&self, bucket: u64) -> impl Iterator<Item = u64> + '_ {
        let size = self.bucket_slots * COMPACT_SLOT_BYTES;
        let base = bucket as usize * size;
        self.bytes[base..base + size]
            .chunks_exact(COMPACT_SLOT_BYTES)
            .map(|bytes| {
                let mut word = [0u8; 8];
                word[..COMPACT_SLOT_BYTES].copy_from_slice(bytes);
                u64::from_le_bytes(word)
            })
    }

    /// Fill the free slot `pos`; `position < pos_empty`, `tag` within `order` bits.
    fn put(&mut self, pos: SlotPos, tag: u64, position: u64) {
        debug_assert!(self.entry(pos).is_none());
        debug_assert!(position < self.pos_empty && tag <= order_mask(self.order));
        self.set_word(pos, tag | position << self.order);
    }

    /// Give the occupied slot `pos` a new position, keeping its tag.
    fn set_position(&mut self, pos: SlotPos, position: u64) {
        debug_assert!(position < self.pos_empty);
        let tag = self.word(pos) & order_mask(self.order);
        self.set_word(pos, tag | position << self.order);
    }

    fn free(&mut self, pos: SlotPos) {
        self.set_word(pos, u64::MAX);
    }
}

impl SlotLayout for CompactSlots {
    fn is_free(&self, pos: SlotPos) -> bool {
        self.entry(pos).is_none()
    }

    fn bucket_slots(&self) -> usize {
        self.bucket_slots
    }

    fn free_slot(&self, bucket: u64) -> Option<usize> {
        self.bucket_words(bucket)
            .position(|word| self.decode(word).is_none())
    }

    fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64> {
        let (tag, _position) = self.entry(SlotPos { bucket, slot })?;
        if crate::planted::active(crate::planted::Bug::KickWrongBucket) && tag != bucket {
            return Some((tag + 1) & order_mask(self.order));
        }
        (tag != bucket).then_some(tag)
    }

    fn move_entry(&mut self, from: SlotPos, to: SlotPos) {
        debug_assert_eq!(
            self.alternate_bucket(from.bucket, from.slot),
            Some(to.bucket)
        );
        let entry = self.entry(from);
        debug_assert!(entry.is_some(), "kicking a free slot");
        if let Some((_tag, position)) = entry {
            self.free(from);
            // The entry's other bucket is the one it leaves: no hash needed.
            self.put(to, from.bucket, position);
        }
    }
}

/// What can go wrong with a [`CompactTable`] insert.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CompactError<E> {
    /// No free slot within the policy's bounds; the table is unchanged.
    #[error(
        "compact cuckoo table full: {len} of {capacity} slots used, no room within the \
         policy's bounds"
    )]
    Full { len: u64, capacity: u64 },
    /// The resolver failed; the table is unchanged.
    #[error("resolving a position to its hash: {0}")]
    Resolve(E),
    /// The position is not below `limit` (2^pos_bits - 1); the table is unchanged.
    #[error("position {pos} does not fit a compact slot: positions must be below {limit}")]
    Position { pos: u64, limit: u64 },
}

/// A bucketed cuckoo table of (tag, position) slots, RAM ~5 bytes a slot (SILT's
/// LogStore). The tag is the entry's other bucket, so kicks never need the hash; a
/// lookup confirms tag matches by resolving positions to hashes through the caller.
/// With the same configuration and the same operations it places entries exactly
/// where a [`CuckooTable`] would.
#[derive(Clone, Debug)]
pub struct CompactTable {
    e: Engine<CompactSlots>,
    resolves: u64,
    false_positives: u64,
}

impl CompactTable {
    /// An empty table; allocates all its slots now. `pos_bits`: bits a position needs,
    /// 1 to `COMPACT_SLOT_BITS - order`; positions must be below 2^pos_bits - 1.
    pub fn new(config: CuckooConfig, pos_bits: u32) -> Result<Self, CuckooError> {
        config.capacity()?;
        let slots = CompactSlots::new(&config, pos_bits)?;
        Ok(CompactTable {
            e: Engine::new(config, slots)?,
            resolves: 0,
            false_positives: 0,
        })
    }

    pub fn config(&self) -> &CuckooConfig {
        &self.e.config
    }

    /// Number of stored hashes.
    pub fn len(&self) -> u64 {
        self.e.len
    }

    pub fn is_empty(&self) -> bool {
        self.e.len == 0
    }

    /// Number of slots: buckets * bucket_slots.
    pub fn capacity(&self) -> u64 {
        self.e.capacity
    }

    /// Number of buckets: 2^order.
    pub fn buckets(&self) -> u64 {
        self.e.capacity / self.e.slots.bucket_slots as u64
    }

    /// Positions must be below this: 2^pos_bits - 1 (all ones marks a free slot).
    pub fn position_limit(&self) -> u64 {
        self.e.slots.pos_empty
    }

    /// len / capacity, in [0, 1].
    pub fn fill(&self) -> f64 {
        self.e.fill()
    }

    /// Bytes of RAM held by the table, scratch buffers included.
    pub fn ram_bytes(&self) -> u64 {
        (size_of::<Self>() + self.e.slots.bytes.capacity() + self.e.scratch_bytes()) as u64
    }

    /// RAM bytes of the slots alone divided by capacity (5.0 for 40-bit slots).
    pub fn slot_bytes(&self) -> f64 {
        self.e.slots.bytes.len() as f64 / self.e.capacity as f64
    }

    pub fn stats(&self) -> CuckooStats {
        self.e.stats
    }

    /// Resolves performed by get, insert and remove.
    pub fn resolves(&self) -> u64 {
        self.resolves
    }

    /// Resolves whose hash was not the one looked for (tag false positives).
    pub fn false_positives(&self) -> u64 {
        self.false_positives
    }

    /// Empty the table and reset its generator and counters: it then behaves exactly
    /// like `CompactTable::new(config, pos_bits)`, without reallocating.
    pub fn clear(&mut self) {
        self.e.slots.bytes.fill(0xff);
        self.e.reset();
        self.resolves = 0;
        self.false_positives = 0;
    }

    /// The position holding `hash`, if any. Resolves the position of every slot of h1
    /// tagged h2 and of h2 tagged h1 (at most 2 * bucket_slots); resolver errors
    /// propagate.
    pub fn get<E>(
        &mut self,
        hash: &Hash,
        resolve: &mut dyn FnMut(u64) -> Result<Hash, E>,
    ) -> Result<Option<u64>, E> {
        Ok(self.find(hash, resolve)?.map(|(_slot, position)| position))
    }

    /// Store `hash` at position `pos`: if present (confirmed through `resolve`) its
    /// position becomes `pos` and the old one is returned; else it is inserted, kicking
    /// entries by their tags only. On `Err` the table's contents are unchanged.
    pub fn insert<E>(
        &mut self,
        hash: &Hash,
        pos: u64,
        resolve: &mut dyn FnMut(u64) -> Result<Hash, E>,
    ) -> Result<Option<u64>, CompactError<E>> {
        debug_assert!(self.e.len <= self.e.capacity);
        if pos >= self.e.slots.pos_empty {
            let limit = self.e.slots.pos_empty;
            return Err(CompactError::Position { pos, limit });
        }
        let found = self.find(hash, resolve).map_err(CompactError::Resolve)?;
        if let Some((slot, previous)) = found {
            self.e.slots.set_position(slot, pos);
            return Ok(Some(previous));
        }
        let roots = Roots::of(hash, self.e.config.order);
        let free = roots.as_slice().iter().find_map(|&bucket| {
            let slot = self.e.slots.free_slot(bucket)?;
            Some(SlotPos { bucket, slot })
        });
        let slot = match free {
            Some(slot) => slot,
            None => self.e.make_room(roots).ok_or(CompactError::Full {
                len: self.e.len,
                capacity: self.e.capacity,
            })?,
        };
        let tag = if roots.buckets[0] == slot.bucket {
            roots.buckets[1]
        } else {
            roots.buckets[0]
        };
        self.e.slots.put(slot, tag, pos);
        self.e.len += 1;
        debug_assert!(self.e.len <= self.e.capacity);
        Ok(None)
    }

    /// Remove `hash` (confirmed through `resolve`); returns its position if present.
    pub fn remove<E>(
        &mut self,
        hash: &Hash,
        resolve: &mut dyn FnMut(u64) -> Result<Hash, E>,
    ) -> Result<Option<u64>, E> {
        let Some((slot, position)) = self.find(hash, resolve)? else {
            return Ok(None);
        };
        debug_assert!(self.e.len > 0);
        self.e.slots.free(slot);
        self.e.len -= 1;
        Ok(Some(position))
    }

    /// Every occupied slot: (bucket, slot index, position), in bucket order.
    pub fn placements(&self) -> impl Iterator<Item = (u64, usize, u64)> + '_ {
        let bucket_slots = self.e.slots.bucket_slots as u64;
        (0..self.e.capacity).filter_map(move |index| {
            let bucket = index / bucket_slots;
            let slot = (index % bucket_slots) as usize;
            let (_tag, position) = self.e.slots.entry(SlotPos { bucket, slot })?;
            Some((bucket, slot, position))
        })
    }

    /// Rewrite every occupied slot's position through `map`, called once a slot in
    /// bucket order (after the journal is packed elsewhere). `Err(CompactPosition)` if
    /// a new position does not fit; the table is unchanged then.
    pub fn remap_positions(&mut self, map: &mut dyn FnMut(u64) -> u64) -> Result<(), CuckooError> {
        let limit = self.e.slots.pos_empty;
        let mut remapped = Vec::new();
        remapped
            .try_reserve_exact(self.e.len as usize)
            .map_err(|_| CuckooError::TooLarge {
                order: self.e.config.order,
                bucket_slots: self.e.config.bucket_slots,
            })?;
        for (_bucket, _slot, position) in self.placements() {
            let pos = map(position);
            if pos >= limit {
                return Err(CuckooError::CompactPosition { pos, limit });
            }
            remapped.push(pos);
        }
        let mut remapped = remapped.into_iter();
        let bucket_slots = self.e.slots.bucket_slots as u64;
        for index in 0..self.e.capacity {
            let slot = SlotPos {
                bucket: index / bucket_slots,
                slot: (index % bucket_slots) as usize,
            };
            if self.e.slots.entry(slot).is_some() {
                let pos = remapped.next();
                debug_assert!(pos.is_some(), "fewer remapped positions than entries");
                self.e.slots.set_position(slot, pos.unwrap_or(limit - 1));
            }
        }
        Ok(())
    }

    /// The slot and position of `hash`: resolves the slots of h1 tagged h2, then of
    /// h2 tagged h1 (h1 tagged h1 if they are equal).
    fn find<E>(
        &mut self,
        hash: &Hash,
        resolve: &mut dyn FnMut(u64) -> Result<Hash, E>,
    ) -> Result<Option<(SlotPos, u64)>, E> {
        let roots = Roots::of(hash, self.e.config.order);
        let tag_mask = order_mask(self.e.config.order);
        for (index, &bucket) in roots.as_slice().iter().enumerate() {
            // With one root, buckets[1] == buckets[0]: the tag is the bucket itself.
            let tag = roots.buckets[1 - index];
            // Bounded: bucket_slots words a bucket. The tag test comes first: it almost
            // always fails, a branch easier to predict than the slot being free.
            for (slot, word) in self.e.slots.bucket_words(bucket).enumerate() {
                if word & tag_mask != tag {
                    continue;
                }
                let Some((_tag, position)) = self.e.slots.decode(word) else {
                    continue;
                };
                self.resolves += 1;
                if resolve(position)? == *hash {
                    return Ok(Some((SlotPos { bucket, slot }, position)));
                }
                self.false_positives += 1;
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Info;
    use proptest::prelude::*;
    use rand::Rng;
    use std::collections::HashMap;

    /// A hash whose buckets at `order` are exactly `first` and `second`.
    fn hash_with(first: u64, second: u64, tail: u8) -> Hash {
        let mut hash = [tail; 32];
        hash[..8].copy_from_slice(&first.to_le_bytes());
        hash[8..16].copy_from_slice(&second.to_le_bytes());
        hash
    }

    fn random_hash(rng: &mut ChaCha8Rng) -> Hash {
        let mut hash = [0u8; 32];
        rng.fill(&mut hash[..]);
        hash
    }

    fn info(n: u64) -> Info {
        Info {
            physical_sector: n,
            first_logical_sector: n.wrapping_mul(7),
        }
    }

    fn table(order: u32, bucket_slots: usize, policy: Policy) -> CuckooTable<Info> {
        CuckooTable::new(CuckooConfig {
            order,
            bucket_slots,
            policy,
            seed: 7,
        })
        .unwrap()
    }

    const POLICIES: [Policy; 5] = [
        Policy::RandomWalk {
            max_kicks: 8,
            retries: 2,
        },
        Policy::RandomWalk {
            max_kicks: 128,
            retries: 10,
        },
        Policy::Bfs { max_depth: 2 },
        Policy::Bfs { max_depth: 6 },
        Policy::FixedVictim { max_kicks: 8 },
    ];

    /// Every slot's contents, in order: the table's full observable layout.
    fn snapshot(table: &CuckooTable<Info>) -> Vec<Option<(Hash, Info)>> {
        (0..table.buckets())
            .flat_map(|bucket| table.bucket(bucket).map(|slot| slot.map(|(h, v)| (*h, *v))))
            .collect()
    }

    /// Every entry is in one of its buckets, no hash twice, `len` counts the entries.
    fn check_invariants(table: &CuckooTable<Info>) {
        let order = table.config().order;
        let mut seen = HashMap::new();
        for bucket in 0..table.buckets() {
            for (hash, value) in table.bucket(bucket).flatten() {
                assert!(bucket == h1(hash, order) || bucket == h2(hash, order));
                assert!(seen.insert(*hash, *value).is_none(), "hash stored twice");
            }
        }
        assert_eq!(seen.len() as u64, table.len());
        assert_eq!(table.iter().count() as u64, table.len());
    }

    #[test]
    fn insert_get_overwrite_remove() {
        let mut table = table(4, 4, Policy::default());
        let (a, b) = (hash_with(1, 2, 0xaa), hash_with(1, 2, 0xbb));
        assert_eq!(table.insert(a, info(1)), Ok(None));
        assert_eq!(table.insert(b, info(2)), Ok(None));
        assert_eq!(table.get(&a), Some(&info(1)));
        assert_eq!(table.insert(a, info(3)), Ok(Some(info(1))));
        assert_eq!((table.len(), table.get(&a)), (2, Some(&info(3))));
        assert_eq!(table.remove(&a), Some(info(3)));
        assert_eq!(table.remove(&a), None);
        assert_eq!((table.get(&a), table.get(&b)), (None, Some(&info(2))));
        assert_eq!(table.len(), 1);
        table.clear();
        assert!(table.is_empty() && table.get(&b).is_none());
        check_invariants(&table);
    }

    #[test]
    fn single_bucket_hashes_stay_in_their_bucket() {
        for policy in POLICIES {
            let mut table = table(3, 2, policy);
            // Bucket 5 holds two single-bucket entries: nothing can be kicked out of it.
            for tail in 0..2 {
                assert_eq!(
                    table.insert(hash_with(5, 5 + 8 * u64::from(tail), tail), info(1)),
                    Ok(None)
                );
            }
            let third = hash_with(5, 13, 9);
            assert!(matches!(
                table.insert(third, info(2)),
                Err(CuckooError::Full { .. })
            ));
            // A two-bucket entry goes to its other bucket instead.
            assert_eq!(table.insert(hash_with(5, 6, 3), info(3)), Ok(None));
            assert_eq!(table.bucket(6).flatten().count(), 1);
            check_invariants(&table);
        }
    }

    #[test]
    fn bucket_index_math() {
        let hash = hash_with(0xffff_ffff_ffff_fff5, 0x0123_4567_89ab_cdef, 0);
        assert_eq!(h1(&hash, 0), 0);
        assert_eq!(h1(&hash, 4), 5);
        assert_eq!(h2(&hash, 40), 0x0123_4567_89ab_cdef & ((1 << 40) - 1));
        assert_eq!(h1(&hash, 64), 0xffff_ffff_ffff_fff5);
        assert_eq!(h2(&hash, 99), 0x0123_4567_89ab_cdef);
    }

    #[test]
    fn order_40_sizes_without_overflow() {
        let config = CuckooConfig {
            order: 40,
            bucket_slots: 8,
            ..CuckooConfig::default()
        };
        assert_eq!(config.buckets(), Ok(1 << 40));
        assert_eq!(config.capacity(), Ok(1 << 43));
        let too_deep = CuckooConfig {
            order: 41,
            ..config
        };
        assert_eq!(
            too_deep.capacity(),
            Err(CuckooError::OrderTooLarge { order: 41 })
        );
        let odd = CuckooConfig {
            bucket_slots: 3,
            ..config
        };
        assert_eq!(
            odd.capacity(),
            Err(CuckooError::BucketSlots { bucket_slots: 3 })
        );
        let unbounded = CuckooConfig {
            policy: Policy::Bfs { max_depth: 1000 },
            ..config
        };
        assert!(matches!(
            unbounded.buckets(),
            Err(CuckooError::PolicyOutOfBounds { .. })
        ));
    }

    #[test]
    fn order_20_allocates() {
        let mut table = table(20, 2, Policy::default());
        assert_eq!(table.capacity(), 2 << 20);
        assert!(table.ram_bytes() >= (2 << 20) * 48);
        let hash = hash_with(u64::MAX, 1 << 19, 1);
        assert_eq!(table.insert(hash, info(9)), Ok(None));
        assert_eq!(table.get(&hash), Some(&info(9)));
        assert_eq!(table.bucket((1 << 20) - 1).flatten().count(), 1);
    }

    #[test]
    fn failed_insert_leaves_table_identical() {
        for bucket_slots in [2, 4, 8] {
            for policy in POLICIES {
                let mut table = table(5, bucket_slots, policy);
                let mut rng = ChaCha8Rng::seed_from_u64(u64::from(policy_tag(policy)));
                let mut failures = 0;
                for n in 0..table.capacity() * 2 {
                    let before = snapshot(&table);
                    let (len, kicks) = (table.len(), table.stats().kicks);
                    match table.insert(random_hash(&mut rng), info(n)) {
                        Ok(_) => continue,
                        Err(CuckooError::Full {
                            len: full_len,
                            capacity,
                        }) => {
                            assert_eq!((full_len, capacity), (len, table.capacity()));
                        }
                        Err(other) => panic!("{other}"),
                    }
                    failures += 1;
                    assert_eq!(snapshot(&table), before, "{policy:?} B={bucket_slots}");
                    assert_eq!((table.len(), table.stats().kicks), (len, kicks));
                    check_invariants(&table);
                }
                assert!(failures > 0);
                assert_eq!(table.stats().inserts_failed, failures);
            }
        }
    }

    fn policy_tag(policy: Policy) -> u8 {
        match policy {
            Policy::RandomWalk { .. } => 1,
            Policy::Bfs { .. } => 2,
            Policy::FixedVictim { .. } => 3,
        }
    }

    #[test]
    fn same_seed_same_layout_and_clear_resets() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let hashes: Vec<Hash> = (0..60).map(|_| random_hash(&mut rng)).collect();
        let policy = Policy::RandomWalk {
            max_kicks: 128,
            retries: 10,
        };
        let fill = |table: &mut CuckooTable<Info>| {
            for (n, hash) in hashes.iter().enumerate() {
                let _ = table.insert(*hash, info(n as u64));
            }
        };
        let (mut first, mut second) = (table(4, 4, policy), table(4, 4, policy));
        fill(&mut first);
        fill(&mut second);
        assert_eq!(snapshot(&first), snapshot(&second));
        let layout = snapshot(&first);
        first.clear();
        fill(&mut first);
        assert_eq!(snapshot(&first), layout);
        assert_eq!(first.stats(), second.stats());
    }

    /// A compact table places every hash where a full table with the same config puts
    /// it, up to and including the first failed insert, and finds them all back.
    #[test]
    fn compact_layout_follows_the_full_layout() {
        for bucket_slots in [2, 4, 8] {
            for policy in POLICIES {
                let config = CuckooConfig {
                    order: 5,
                    bucket_slots,
                    policy,
                    seed: 3,
                };
                let mut full: CuckooTable<u64> = CuckooTable::new(config).unwrap();
                let mut compact = CompactTable::new(config, 20).unwrap();
                let mut rng = ChaCha8Rng::seed_from_u64(u64::from(policy_tag(policy)));
                let mut journal: Vec<Hash> = Vec::new();
                let resolve = |journal: &[Hash], pos: u64| -> Result<Hash, ()> {
                    journal.get(pos as usize).copied().ok_or(())
                };
                for pos in 0..=compact.capacity() {
                    let hash = random_hash(&mut rng);
                    journal.push(hash);
                    let got = compact.insert(&hash, pos, &mut |p| resolve(&journal, p));
                    match (full.insert(hash, pos), got) {
                        (Ok(None), Ok(None)) => {}
                        (Err(CuckooError::Full { .. }), Err(CompactError::Full { .. })) => break,
                        other => panic!("{policy:?} B={bucket_slots}: {other:?}"),
                    }
                }
                let layout: Vec<(u64, usize, u64)> = (0..full.buckets())
                    .flat_map(|b| full.bucket(b).enumerate().map(move |(s, e)| (b, s, e)))
                    .filter_map(|(b, s, e)| e.map(|(_, pos)| (b, s, *pos)))
                    .collect();
                assert_eq!(compact.placements().collect::<Vec<_>>(), layout);
                assert_eq!(compact.stats(), full.stats());
                for (pos, hash) in journal.iter().enumerate().take(full.len() as usize) {
                    let got = compact.get(hash, &mut |p| resolve(&journal, p));
                    assert_eq!(got, Ok(Some(pos as u64)));
                }
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, u64),
        Remove(usize),
        Get(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<usize>(), any::<u64>()).prop_map(|(key, value)| Op::Insert(key, value)),
            1 => any::<usize>().prop_map(Op::Remove),
            1 => any::<usize>().prop_map(Op::Get),
        ]
    }

    fn run_against_model(config: CuckooConfig, keys: &[Hash], ops: &[Op]) {
        let mut table = CuckooTable::new(config).unwrap();
        let mut model: HashMap<Hash, Info> = HashMap::new();
        for op in ops {
            match *op {
                Op::Insert(key, value) => {
                    let hash = keys[key % keys.len()];
                    let before = snapshot(&table);
                    match table.insert(hash, info(value)) {
                        Ok(previous) => assert_eq!(previous, model.insert(hash, info(value))),
                        Err(CuckooError::Full { .. }) => {
                            assert!(!model.contains_key(&hash), "overwrite failed");
                            assert_eq!(snapshot(&table), before);
                        }
                        Err(other) => panic!("{other}"),
                    }
                }
                Op::Remove(key) => {
                    let hash = keys[key % keys.len()];
                    assert_eq!(table.remove(&hash), model.remove(&hash));
                }
                Op::Get(key) => {
                    let hash = keys[key % keys.len()];
                    assert_eq!(table.get(&hash), model.get(&hash));
                }
            }
            check_invariants(&table);
            let contents: HashMap<Hash, Info> = table.iter().map(|(h, v)| (*h, *v)).collect();
            assert_eq!(contents, model);
        }
    }

    proptest! {
        #[test]
        fn matches_hashmap_model(
            order in 0u32..4,
            seed in any::<u64>(),
            keys in prop::collection::vec(any::<[u8; 32]>(), 1..80),
            ops in prop::collection::vec(op(), 1..160),
        ) {
            for bucket_slots in [2, 4, 8] {
                for policy in POLICIES {
                    run_against_model(CuckooConfig { order, bucket_slots, policy, seed }, &keys, &ops);
                }
            }
        }
    }
}
