//! The log store's in-RAM bucketed cuckoo tables; no I/O. [`CuckooTable`]
//! keeps each whole hash and its value; [`CompactTable`] (SILT-style) keeps
//! per slot only a tag (the entry's other bucket) and a position on flash,
//! 5 bytes, and confirms a hash through a caller-given resolver.
//!
//! A file per concept: [`config`] (shape, policy, errors, h1/h2), `planner`
//! (the insert policies, planned before anything moves), `table` (what both
//! layouts share: counts, generator, plan and commit of room), `full` and
//! `compact` (the two slot layouts).
//!
//! Promises: every stored hash sits in one of its two buckets h1/h2 (one if
//! they are equal), never twice; a failed insert returns `Full` and leaves
//! the table exactly as it was; an insert can be planned, then committed
//! after fallible work, with no undo. All randomness comes from a ChaCha8
//! generator seeded by the caller.

pub(crate) mod compact;
pub(crate) mod config;
pub(crate) mod full;
mod planner;
pub(crate) mod table;

pub(crate) use compact::{CompactError, CompactTable};
pub(crate) use config::{h1, h2, CuckooConfig, CuckooError, Policy, SlotPos, ORDER_MAX};
pub(crate) use full::CuckooTable;
pub(crate) use table::InsertPlan;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuckoo::config::{BFS_NODES_MAX, KICKS_MAX, RETRIES_MAX};
    use crate::types::{Hash, Info};
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
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
            assert_eq!(
                table.insert(third, info(2)),
                Err(CuckooError::Full {
                    len: 2,
                    capacity: 16
                })
            );
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
        assert_eq!(
            unbounded.buckets(),
            Err(CuckooError::PolicyOutOfBounds {
                policy: unbounded.policy
            })
        );
        // A random walk is bounded in kicks and in retries, each alone.
        for (max_kicks, retries) in [(KICKS_MAX + 1, 1), (1, RETRIES_MAX + 1)] {
            let walk = CuckooConfig {
                policy: Policy::RandomWalk { max_kicks, retries },
                ..config
            };
            assert_eq!(
                walk.buckets(),
                Err(CuckooError::PolicyOutOfBounds {
                    policy: walk.policy
                }),
                "{max_kicks} kicks, {retries} retries"
            );
        }
        let walk = CuckooConfig {
            policy: Policy::RandomWalk {
                max_kicks: KICKS_MAX,
                retries: RETRIES_MAX,
            },
            ..config
        };
        assert!(walk.buckets().is_ok());
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
                    let inserted = table.insert(random_hash(&mut rng), info(n));
                    if inserted.is_ok() {
                        continue;
                    }
                    let capacity = table.capacity();
                    assert_eq!(inserted, Err(CuckooError::Full { len, capacity }));
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
                    let (len, capacity) = (full.len(), full.capacity());
                    let want = full.insert(hash, pos);
                    let context = format!("{policy:?} B={bucket_slots}: {want:?} {got:?}");
                    if want.is_ok() {
                        assert_eq!((want, got), (Ok(None), Ok(None)), "{context}");
                        continue;
                    }
                    assert_eq!(want, Err(CuckooError::Full { len, capacity }), "{context}");
                    assert_eq!(got, Err(CompactError::Full { len, capacity }), "{context}");
                    break;
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

    /// A table of B=2 whose buckets 0 to `BFS_NODES_MAX - 1` are full, each
    /// kicking into buckets 2b+1 and 2b+2 (a heap: the breadth-first search
    /// meets them in index order), every bucket above them free.
    fn heap_of_full_buckets() -> CuckooTable<Info> {
        let order = 17;
        let full_buckets = BFS_NODES_MAX as u64;
        let placements = (0..full_buckets).flat_map(|bucket| {
            (0..2).map(move |slot| {
                let child = (2 * bucket + 1 + slot as u64) & ((1 << order) - 1);
                (bucket, slot, hash_with(bucket, child, 0), info(bucket))
            })
        });
        let config = CuckooConfig {
            order,
            bucket_slots: 2,
            policy: Policy::Bfs { max_depth: 32 },
            seed: 1,
        };
        CuckooTable::from_placements(config, placements).unwrap()
    }

    /// An insert that moves one entry counts one kick: bucket 0 full, its
    /// two entries' other buckets (1 and 2) free, a hash whose buckets
    /// are both 0.
    #[test]
    fn an_insert_moving_one_entry_counts_one_kick() {
        let placements = (0..2usize).map(|slot| {
            let hash = hash_with(0, 1 + slot as u64, 0);
            (0, slot, hash, info(slot as u64))
        });
        for policy in POLICIES {
            let config = CuckooConfig {
                order: 4,
                bucket_slots: 2,
                policy,
                seed: 1,
            };
            let mut table = CuckooTable::from_placements(config, placements.clone()).unwrap();
            assert_eq!(table.stats().kicks, 0);
            assert_eq!(table.insert(hash_with(0, 0, 0xee), info(9)), Ok(None));
            assert_eq!(table.stats().kicks, 1, "{policy:?}");
            check_invariants(&table);
        }
    }

    /// The breadth-first search gives up at `BFS_NODES_MAX` buckets: a free
    /// slot in the bucket it would reach next is not found (`Full`, nothing
    /// moved), one in the last bucket it may reach is.
    #[test]
    fn bfs_gives_up_at_its_node_bound() {
        let mut table = heap_of_full_buckets();
        let root_only = hash_with(0, 0, 0xee);
        let (len, capacity) = (table.len(), table.capacity());
        assert_eq!(len, 2 * BFS_NODES_MAX as u64);
        let before = snapshot(&table);
        // Bucket BFS_NODES_MAX, free, would be the search's next node.
        assert_eq!(
            table.insert(root_only, info(1)),
            Err(CuckooError::Full { len, capacity })
        );
        assert_eq!(snapshot(&table), before);
        // Its last node, bucket BFS_NODES_MAX - 1, with a free slot: found.
        let last = BFS_NODES_MAX as u64 - 1;
        let (last_hash, _) = table
            .bucket(last)
            .flatten()
            .next()
            .map(|(h, v)| (*h, *v))
            .unwrap();
        assert_eq!(table.remove(&last_hash), Some(info(last)));
        assert_eq!(table.insert(root_only, info(1)), Ok(None));
        assert_eq!(table.get(&root_only), Some(&info(1)));
        assert_eq!(table.len(), len);
        check_invariants(&table);
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
                    let (len, capacity) = (table.len(), table.capacity());
                    match table.insert(hash, info(value)) {
                        Ok(previous) => assert_eq!(previous, model.insert(hash, info(value))),
                        Err(error) => {
                            assert_eq!(error, CuckooError::Full { len, capacity });
                            assert!(!model.contains_key(&hash), "overwrite failed");
                            assert_eq!(snapshot(&table), before);
                        }
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
