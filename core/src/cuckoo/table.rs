//! [`Table`]: what both slot layouts share — the configuration, the slots,
//! the count, the policy's generator and scratch space — and the plan and
//! commit of room for a new entry.
//!
//! An insert is planned first ([`Table::plan_room`]: nothing moves), then
//! committed ([`Table::take_room`]: the planned kicks happen). A caller
//! that must do something fallible between the two (append the entry to the
//! journal) needs no undo. A plan is valid until the next plan: its ticket
//! is checked at commit.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::{CuckooConfig, CuckooStats, Roots, SlotPos};
use super::planner::{apply_path, plan_path, BfsNode, Scratch, SlotLayout};

/// A bucketed cuckoo table over the slot layout `L`: see
/// [`super::CuckooTable`] (whole hashes) and [`super::CompactTable`] (tags
/// and positions).
#[derive(Clone, Debug)]
pub struct Table<L> {
    pub(super) config: CuckooConfig,
    pub(super) slots: L,
    pub(super) len: u64,
    pub(super) capacity: u64,
    rng: ChaCha8Rng,
    stats: CuckooStats,
    scratch: Scratch,
    /// Counts plans; a [`Placement::Kick`] carries the count it was made at.
    plans: u64,
}

/// Where a new entry goes, planned without moving anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A free slot of one of its buckets.
    Free(SlotPos),
    /// The kick path planned by plan number `ticket` frees `slot`.
    Kick { slot: SlotPos, ticket: u64 },
}

/// What an insert will do, planned: overwrite the hash's slot, or place a
/// new entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertPlan {
    Present(SlotPos),
    New(Placement),
}

impl<L: SlotLayout> Table<L> {
    /// A table over `slots`, built from `config` (so its `capacity()` checked).
    pub(super) fn with_slots(config: CuckooConfig, slots: L) -> Self {
        Table {
            capacity: config
                .capacity()
                .expect("the slots' constructor checked the config"),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            stats: CuckooStats::default(),
            scratch: Scratch::default(),
            len: 0,
            plans: 0,
            config,
            slots,
        }
    }

    pub fn config(&self) -> &CuckooConfig {
        &self.config
    }

    /// Sets how hard an insert searches for room; placed entries stay.
    pub fn set_policy(&mut self, policy: super::config::Policy) {
        self.config.policy = policy;
    }

    /// Number of stored hashes.
    pub fn len(&self) -> u64 {
        self.len
    }

    #[cfg(feature = "testing")]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots: buckets * bucket_slots.
    #[cfg(feature = "testing")]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Number of buckets: 2^order.
    pub fn buckets(&self) -> u64 {
        self.slots.buckets()
    }

    /// len / capacity, in [0, 1].
    pub fn fill(&self) -> f64 {
        self.len as f64 / self.capacity as f64
    }

    /// Bytes of RAM held by the table, scratch buffers included.
    pub fn ram_bytes(&self) -> u64 {
        let scratch = self.scratch.path.capacity() * size_of::<SlotPos>()
            + self.scratch.nodes.capacity() * size_of::<BfsNode>()
            + self.scratch.visited.capacity() * size_of::<u64>();
        (size_of::<Self>() + self.slots.ram_bytes() + scratch) as u64
    }

    #[cfg(feature = "testing")]
    pub fn stats(&self) -> CuckooStats {
        self.stats
    }

    /// Empty the table and reset its generator and counters: it then behaves
    /// exactly like a new table of the same configuration, without
    /// reallocating.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.len = 0;
        self.rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        self.stats = CuckooStats::default();
    }

    /// Plans room for a new entry whose buckets are `roots`: a free slot, or
    /// a kick path. `None` if the policy finds none within its bounds
    /// (counted as a failed insert); nothing moves either way.
    pub(super) fn plan_room(&mut self, roots: Roots) -> Option<Placement> {
        assert!(self.len <= self.capacity);
        self.plans += 1;
        let free = roots.as_slice().iter().find_map(|&bucket| {
            let slot = self.slots.free_slot(bucket)?;
            Some(SlotPos { bucket, slot })
        });
        if let Some(slot) = free {
            return Some(Placement::Free(slot));
        }
        let policy = self.config.policy;
        if !plan_path(&self.slots, roots, policy, &mut self.rng, &mut self.scratch) {
            self.stats.inserts_failed += 1;
            return None;
        }
        assert!(roots.as_slice().contains(&self.scratch.path[0].bucket));
        Some(Placement::Kick {
            slot: self.scratch.path[0],
            ticket: self.plans,
        })
    }

    /// Makes the planned room: moves the kick path, if any, and returns the
    /// slot now free. The caller fills it and counts the entry.
    pub(super) fn take_room(&mut self, placement: Placement) -> SlotPos {
        let slot = match placement {
            Placement::Free(slot) => slot,
            Placement::Kick { slot, ticket } => {
                assert_eq!(ticket, self.plans, "a kick plan outlived the next plan");
                let path = &self.scratch.path;
                assert_eq!(path[0], slot);
                apply_path(&mut self.slots, path);
                self.stats.kicks += path.len() as u64 - 1;
                slot
            }
        };
        assert!(self.slots.is_free(slot), "planned room is taken");
        assert!(self.len < self.capacity);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuckoo::{CuckooTable, Policy};
    use crate::types::Info;
    use rand::Rng;

    /// `ram_bytes` is the table itself, its slots and every byte of its
    /// scratch buffers, which a breadth-first insert near full grows.
    #[test]
    fn ram_bytes_counts_the_slots_and_every_scratch_buffer() {
        let config = CuckooConfig {
            order: 8,
            bucket_slots: 4,
            policy: Policy::Bfs { max_depth: 6 },
            seed: 7,
        };
        let mut table: CuckooTable<Info> = CuckooTable::new(config).unwrap();
        let empty = table.ram_bytes();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Bounded: 1,024 slots fill well before 4,096 inserts.
        for n in 0..4_096u64 {
            let mut hash = [0u8; 32];
            rng.fill(&mut hash[..]);
            let info = Info {
                physical_sector: n,
                first_logical_sector: n,
            };
            if table.insert(hash, info).is_err() {
                break;
            }
        }
        let s = &table.scratch;
        assert!(s.path.capacity() > 1 && s.nodes.capacity() > 1 && !s.visited.is_empty());
        let scratch = s.path.capacity() * size_of::<SlotPos>()
            + s.nodes.capacity() * size_of::<BfsNode>()
            + s.visited.capacity() * size_of::<u64>();
        let expected = size_of::<CuckooTable<Info>>() + table.slots.ram_bytes() + scratch;
        assert_eq!(table.ram_bytes(), expected as u64);
        assert!(table.ram_bytes() > empty);
    }

    /// Each entry an insert moves counts one kick: none for an insert
    /// into a free slot, some once the table fills near full.
    #[test]
    fn kicks_count_the_entries_inserts_move() {
        let config = CuckooConfig {
            order: 6,
            bucket_slots: 2,
            policy: Policy::Bfs { max_depth: 6 },
            seed: 7,
        };
        let mut table: CuckooTable<Info> = CuckooTable::new(config).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut kicks_seen = Vec::new();
        // Bounded: 128 slots fill well before 1,024 inserts.
        for n in 0..1_024u64 {
            let mut hash = [0u8; 32];
            rng.fill(&mut hash[..]);
            let info = Info {
                physical_sector: n,
                first_logical_sector: n,
            };
            if table.insert(hash, info).is_err() {
                break;
            }
            kicks_seen.push(table.stats.kicks);
        }
        assert_eq!(kicks_seen[0], 0, "the first insert finds a free slot");
        assert!(table.stats.kicks > 0, "a table filled near full kicks");
        assert!(kicks_seen.windows(2).all(|w| w[0] <= w[1]));
    }
}
