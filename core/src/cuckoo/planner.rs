//! The insert policies, planned before anything moves: a random walk, a
//! fixed victim or a breadth-first search finds a kick path over what
//! [`SlotLayout`] shows of the slots; [`apply_path`] then moves the entries.
//! Every loop has a bound named by the policy or by [`BFS_NODES_MAX`].

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::{Policy, Roots, SlotPos, BFS_NODES_MAX};

/// What the insert policies see of the slot layout. A layout that keeps the full hash
/// derives the alternate bucket from it; a compact (SILT-style) layout can store the
/// alternate bucket as the slot's tag instead, and the policies do not change.
pub trait SlotLayout {
    fn bucket_slots(&self) -> usize;
    /// Number of buckets: 2^order.
    fn buckets(&self) -> u64;
    /// Bytes of RAM the slots hold.
    fn ram_bytes(&self) -> usize;
    /// Frees every slot.
    fn clear(&mut self);
    /// A free slot of `bucket`, if any.
    fn free_slot(&self, bucket: u64) -> Option<usize>;
    /// Whether the slot holds no entry.
    fn is_free(&self, pos: SlotPos) -> bool;
    /// The other bucket of the entry in the occupied slot (`bucket`, `slot`);
    /// `None` if it has a single bucket (h1 == h2), so it cannot be kicked.
    /// The policies ask only of full buckets: a free slot panics.
    fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64>;
    /// Move the entry in `from` (occupied) to `to` (free), leaving `from` free.
    fn move_entry(&mut self, from: SlotPos, to: SlotPos);
}

/// Reusable buffers of the insert policies, so an insert does not allocate.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    /// The kick path: entry in `path[i]` moves to `path[i + 1]`; the last slot is free.
    pub(crate) path: Vec<SlotPos>,
    pub(crate) nodes: Vec<BfsNode>,
    /// The breadth-first search's visited buckets, a bit each; all clear
    /// between searches (each search clears the bits it set).
    pub(crate) visited: Vec<u64>,
}

impl Scratch {
    /// Marks `bucket` visited; `false` if it already was.
    fn visit(&mut self, bucket: u64) -> bool {
        let (word, bit) = ((bucket / 64) as usize, 1u64 << (bucket % 64));
        if word >= self.visited.len() {
            self.visited.resize(word + 1, 0);
        }
        let fresh = self.visited[word] & bit == 0;
        self.visited[word] |= bit;
        fresh
    }

    /// Clears the bits of every node's bucket: the bitmap is all clear again.
    fn unvisit_nodes(&mut self) {
        for node in &self.nodes {
            let word = (node.bucket / 64) as usize;
            self.visited[word] &= !(1u64 << (node.bucket % 64));
        }
        // O(buckets): in the builds with debug assertions only (the
        // mutants profile's among them), as a statement release leaves out.
        #[cfg(debug_assertions)]
        assert!(self.visited.iter().all(|&w| w == 0));
    }
}

/// One bucket reached by the breadth-first search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BfsNode {
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
pub(crate) fn plan_path<L: SlotLayout>(
    layout: &L,
    roots: Roots,
    policy: Policy,
    rng: &mut ChaCha8Rng,
    scratch: &mut Scratch,
) -> bool {
    assert!(roots
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
    assert!(!found || scratch.path.len() >= 2);
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
    assert!(path.is_empty());
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
/// Each bucket is expanded once (a bucket seen again leads nowhere the first
/// visit did not, and it had no free slot then), so on a small table the
/// search is bounded by the buckets, not by B^depth. Being shortest, the
/// path never visits a bucket twice.
fn plan_bfs<L: SlotLayout>(
    layout: &L,
    roots: Roots,
    depth_max: u32,
    scratch: &mut Scratch,
) -> bool {
    scratch.nodes.clear();
    for &bucket in roots.as_slice() {
        scratch.visit(bucket);
        scratch.nodes.push(BfsNode {
            bucket,
            parent: BFS_ROOT,
            slot_in_parent: 0,
            depth: 0,
        });
    }
    let found = bfs_expand(layout, depth_max, scratch);
    scratch.unvisit_nodes();
    if let Some(free) = found {
        trace_bfs_path(&scratch.nodes, free, &mut scratch.path);
    }
    found.is_some()
}

/// Expands the queue in `scratch.nodes` breadth-first; the free slot of the
/// last node pushed, if the search found one.
fn bfs_expand<L: SlotLayout>(layout: &L, depth_max: u32, scratch: &mut Scratch) -> Option<usize> {
    let mut head = 0;
    while head < scratch.nodes.len() {
        // Bounded: nodes.len() <= BFS_NODES_MAX, and head grows every iteration.
        let node = scratch.nodes[head];
        if u32::from(node.depth) < depth_max {
            for slot in 0..layout.bucket_slots() {
                let Some(alternate) = layout.alternate_bucket(node.bucket, slot) else {
                    continue;
                };
                if scratch.nodes.len() == BFS_NODES_MAX {
                    return None;
                }
                if !scratch.visit(alternate) {
                    continue;
                }
                scratch.nodes.push(BfsNode {
                    bucket: alternate,
                    parent: head as u32,
                    slot_in_parent: slot as u8,
                    depth: node.depth + 1,
                });
                if let Some(free) = layout.free_slot(alternate) {
                    return Some(free);
                }
            }
        }
        head += 1;
    }
    None
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
    assert_eq!(path.len(), usize::from(leaf.depth) + 1);
}

/// Move every entry of `path` one step forwards, last first; frees `path[0]`.
pub(crate) fn apply_path<L: SlotLayout>(layout: &mut L, path: &[SlotPos]) {
    assert!(path.len() >= 2);
    // Quadratic in the path (a random walk's may be thousands of kicks long),
    // so checked in builds with debug assertions only (the mutants
    // profile's among them); every move below is checked in all.
    #[cfg(debug_assertions)]
    assert!(path
        .iter()
        .enumerate()
        .all(|(i, pos)| !path[i + 1..].contains(pos)));
    for i in (1..path.len()).rev() {
        layout.move_entry(path[i - 1], path[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets of two slots: 0 to 3 full, their entries kicking only among
    /// themselves (bucket `b`'s slot `s` to `b + 1 + s`, mod 4), unless
    /// `exit` sends bucket 3's second slot to bucket 4, the only free one.
    struct Ring {
        exit: bool,
    }

    impl SlotLayout for Ring {
        fn bucket_slots(&self) -> usize {
            2
        }
        fn buckets(&self) -> u64 {
            8
        }
        fn ram_bytes(&self) -> usize {
            0
        }
        fn clear(&mut self) {}
        fn free_slot(&self, bucket: u64) -> Option<usize> {
            (bucket == 4).then_some(0)
        }
        fn is_free(&self, pos: SlotPos) -> bool {
            pos.bucket == 4
        }
        fn alternate_bucket(&self, bucket: u64, slot: usize) -> Option<u64> {
            assert!(bucket < 4, "bucket {bucket} is not full");
            if self.exit && (bucket, slot) == (3, 1) {
                return Some(4);
            }
            Some((bucket + 1 + slot as u64) % 4)
        }
        fn move_entry(&mut self, from: SlotPos, to: SlotPos) {
            panic!("the planner moved {from:?} to {to:?}");
        }
    }

    const ROOTS: Roots = Roots {
        buckets: [0, 1],
        count: 2,
    };

    /// Each bucket is expanded once: with no free slot reachable, the
    /// search ends after the four buckets of the ring, not at its node
    /// bound, however deep it may go, and leaves the bitmap clear.
    #[test]
    fn the_breadth_first_search_expands_each_bucket_once() {
        let mut scratch = Scratch::default();
        let found = plan_path(
            &Ring { exit: false },
            ROOTS,
            Policy::Bfs { max_depth: 32 },
            &mut rand::SeedableRng::seed_from_u64(0),
            &mut scratch,
        );
        assert!(!found);
        let mut buckets: Vec<u64> = scratch.nodes.iter().map(|n| n.bucket).collect();
        buckets.sort_unstable();
        assert_eq!(buckets, [0, 1, 2, 3]);
        assert!(scratch.visited.iter().all(|&word| word == 0));
    }

    /// With the exit, the path found is the shortest: root 1 kicks to 3,
    /// 3 kicks to the free bucket 4.
    #[test]
    fn the_breadth_first_search_finds_the_shortest_path() {
        let mut scratch = Scratch::default();
        let found = plan_path(
            &Ring { exit: true },
            ROOTS,
            Policy::Bfs { max_depth: 32 },
            &mut rand::SeedableRng::seed_from_u64(0),
            &mut scratch,
        );
        assert!(found);
        let path: Vec<(u64, usize)> = scratch.path.iter().map(|p| (p.bucket, p.slot)).collect();
        assert_eq!(path, [(1, 1), (3, 1), (4, 0)]);
        assert!(scratch.visited.iter().all(|&word| word == 0));
    }
}
