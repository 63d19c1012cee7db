//! The compact (SILT-style) cuckoo layout: (tag, position) slots confirmed through a
//! resolver. Checked against a HashMap model and, in lockstep, against the full
//! layout (same config and operations give the same placement); fill at the first
//! failure, RAM per entry and resolves per lookup measured against the bounds.

use std::collections::HashMap;

use logstore::errors::{CuckooError, PlacementProblem};
use logstore::testing::{
    h1, h2, CompactError, CompactTable, CuckooConfig, CuckooTable, COMPACT_SLOT_BITS,
};
use logstore::{Hash, Policy};
use logstore_sim::measure::fill::{fill_at_first_failure, fill_limit};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

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

/// A hash whose buckets are `first` and `second` (masked by the order).
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

/// The journal stand-in: the hash at each position.
fn resolve(journal: &[Hash], pos: u64) -> Result<Hash, String> {
    journal
        .get(pos as usize)
        .copied()
        .ok_or_else(|| format!("no entry at position {pos}"))
}

/// A compact table and everything to check it: the journal its positions point
/// into, the model, and a full table driven in lockstep.
struct Harness {
    table: CompactTable,
    full: CuckooTable<u64>,
    journal: Vec<Hash>,
    model: HashMap<Hash, u64>,
    /// Inserts that returned `Full`.
    fulls: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Insert(usize),
    Remove(usize),
    Get(usize),
    /// Insert at a position that does not fit: a typed error, nothing changes.
    InsertTooFar(usize),
    /// Pack the journal to the live entries and remap the positions.
    Pack,
    /// A remap whose last position does not fit: a typed error, nothing changes.
    PackTooFar,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => any::<usize>().prop_map(Op::Insert),
        2 => any::<usize>().prop_map(Op::Remove),
        2 => any::<usize>().prop_map(Op::Get),
        1 => any::<usize>().prop_map(Op::InsertTooFar),
        1 => Just(Op::Pack),
        1 => Just(Op::PackTooFar),
    ]
}

impl Harness {
    fn new(config: CuckooConfig, pos_bits: u32) -> Harness {
        Harness {
            table: CompactTable::new(config, pos_bits).unwrap(),
            full: CuckooTable::new(config).unwrap(),
            journal: Vec::new(),
            model: HashMap::new(),
            fulls: 0,
        }
    }

    /// (bucket, slot, hash, position) of every occupied slot.
    fn layout(&self) -> Vec<(u64, usize, Hash, u64)> {
        self.table
            .placements()
            .map(|(bucket, slot, pos)| (bucket, slot, self.journal[pos as usize], pos))
            .collect()
    }

    fn full_layout(&self) -> Vec<(u64, usize, Hash, u64)> {
        (0..self.full.buckets())
            .flat_map(|bucket| {
                self.full
                    .bucket(bucket)
                    .enumerate()
                    .filter_map(move |(slot, entry)| {
                        entry.map(|(hash, pos)| (bucket, slot, *hash, *pos))
                    })
            })
            .collect()
    }

    fn insert(&mut self, hash: Hash) {
        let pos = self.journal.len() as u64;
        self.journal.push(hash);
        let before = self.layout();
        let journal = &self.journal;
        let got = self.table.insert(&hash, pos, &mut |p| resolve(journal, p));
        let full = self.full.insert(hash, pos);
        match got {
            Ok(previous) => {
                assert_eq!(previous, self.model.insert(hash, pos));
                assert_eq!(full, Ok(previous));
            }
            Err(CompactError::Full { len, capacity }) => {
                assert!(!self.model.contains_key(&hash), "overwrite returned Full");
                assert_eq!(
                    (len, capacity),
                    (self.model.len() as u64, self.table.capacity())
                );
                assert_eq!(self.layout(), before, "Full changed the table");
                assert!(matches!(full, Err(CuckooError::Full { .. })));
                self.fulls += 1;
            }
            Err(other) => panic!("insert: {other}"),
        }
    }

    fn insert_too_far(&mut self, hash: Hash) {
        let before = self.layout();
        let limit = self.table.position_limit();
        let journal = &self.journal;
        let got = self
            .table
            .insert(&hash, limit, &mut |p| resolve(journal, p));
        assert_eq!(got, Err(CompactError::Position { pos: limit, limit }));
        assert_eq!(self.layout(), before);
    }

    fn remove(&mut self, hash: Hash) {
        let journal = &self.journal;
        let got = self.table.remove(&hash, &mut |p| resolve(journal, p));
        let expected = self.model.remove(&hash);
        assert_eq!(got, Ok(expected));
        assert_eq!(self.full.remove(&hash), expected);
    }

    /// Copy the live entries to a new journal, in placement order, and remap.
    fn pack(&mut self) {
        let mut packed = Vec::new();
        let old = &self.journal;
        let remapped = self.table.remap_positions(&mut |pos| {
            packed.push(old[pos as usize]);
            packed.len() as u64 - 1
        });
        assert_eq!(remapped, Ok(()));
        let new_positions: HashMap<Hash, u64> = packed
            .iter()
            .enumerate()
            .map(|(pos, hash)| (*hash, pos as u64))
            .collect();
        assert_eq!(new_positions.len(), self.model.len());
        for (hash, pos) in self.model.iter_mut() {
            *pos = new_positions[hash];
            assert!(matches!(self.full.insert(*hash, *pos), Ok(Some(_))));
        }
        self.journal = packed;
    }

    fn pack_too_far(&mut self) {
        let before = self.layout();
        let limit = self.table.position_limit();
        let mut left = self.table.len();
        let remapped = self.table.remap_positions(&mut |pos| {
            left -= 1;
            if left == 0 {
                limit
            } else {
                pos
            }
        });
        if self.table.is_empty() {
            assert_eq!(remapped, Ok(()));
        } else {
            assert_eq!(
                remapped,
                Err(CuckooError::CompactPosition { pos: limit, limit })
            );
        }
        assert_eq!(self.layout(), before);
    }

    fn apply(&mut self, op: &Op, keys: &[Hash]) {
        let key = |index: usize| keys[index % keys.len()];
        match *op {
            Op::Insert(index) => self.insert(key(index)),
            Op::Remove(index) => self.remove(key(index)),
            Op::Get(index) => {
                let hash = key(index);
                let journal = &self.journal;
                let got = self.table.get(&hash, &mut |p| resolve(journal, p));
                assert_eq!(got, Ok(self.model.get(&hash).copied()));
            }
            Op::InsertTooFar(index) => self.insert_too_far(key(index)),
            Op::Pack => self.pack(),
            Op::PackTooFar => self.pack_too_far(),
        }
        self.check();
    }

    /// The table holds exactly the model, each entry in one of its buckets, and the
    /// same placement as the full table.
    fn check(&mut self) {
        let order = self.table.config().order;
        let layout = self.layout();
        let contents: HashMap<Hash, u64> = layout.iter().map(|e| (e.2, e.3)).collect();
        assert_eq!(contents.len(), layout.len(), "a hash stored twice");
        assert_eq!(contents, self.model);
        assert_eq!(self.table.len(), self.model.len() as u64);
        for (bucket, _, hash, _) in &layout {
            assert!(*bucket == h1(hash, order) || *bucket == h2(hash, order));
        }
        assert_eq!(
            layout,
            self.full_layout(),
            "compact and full layouts differ"
        );
        let journal = &self.journal;
        for (hash, pos) in &self.model {
            let got = self.table.get(hash, &mut |p| resolve(journal, p));
            assert_eq!(got, Ok(Some(*pos)));
        }
    }
}

/// Runs `ops` on a fresh harness, then again after `clear`; returns the inserts
/// that found the table full and the false positives of the first run.
fn run(config: CuckooConfig, keys: &[Hash], ops: &[Op]) -> (u64, u64) {
    let mut harness = Harness::new(config, 16);
    for op in ops {
        harness.apply(op, keys);
    }
    // A cleared table behaves like a new one: the same operations, the same layout.
    let (layout, stats) = (harness.layout(), harness.table.stats());
    let seen = (harness.fulls, harness.table.false_positives());
    let mut table = harness.table;
    table.clear();
    assert!(table.is_empty() && table.placements().next().is_none());
    assert_eq!((table.resolves(), table.false_positives()), (0, 0));
    assert_eq!(table.stats(), Default::default());
    let mut again = Harness {
        table,
        ..Harness::new(config, 16)
    };
    for op in ops {
        again.apply(op, keys);
    }
    assert_eq!((again.layout(), again.table.stats()), (layout, stats));
    seen
}

/// The properties below reach what they are meant to: full tables and tag matches
/// that the resolver refutes.
#[test]
fn the_model_runs_see_full_tables_and_false_positives() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let keys: Vec<Hash> = (0..60).map(|_| random_hash(&mut rng)).collect();
    let ops: Vec<Op> = (0..150)
        .map(|n| match n % 5 {
            4 => Op::Remove(rng.random_range(0..1000)),
            _ => Op::Insert(rng.random_range(0..1000)),
        })
        .collect();
    for bucket_slots in [2, 4, 8] {
        for policy in POLICIES {
            let (fulls, false_positives) = run(config(2, bucket_slots, policy, 5), &keys, &ops);
            assert!(
                fulls > 0 && false_positives > 0,
                "B={bucket_slots} {policy:?}"
            );
        }
    }
}

/// Keys whose buckets come from a tiny set: shared buckets and tags, h1 == h2.
fn adversarial_key() -> impl Strategy<Value = Hash> {
    (0u64..3, 0u64..3, 0u8..4).prop_map(|(first, second, tail)| hash_with(first, second, tail))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn matches_the_model_and_the_full_layout(
        order in 0u32..4,
        seed in any::<u64>(),
        keys in prop::collection::vec(any::<[u8; 32]>(), 1..80),
        ops in prop::collection::vec(op(), 1..160),
    ) {
        for bucket_slots in [2, 4, 8] {
            for policy in POLICIES {
                run(CuckooConfig { order, bucket_slots, policy, seed }, &keys, &ops);
            }
        }
    }

    /// Keys sharing buckets and tags, some with h1 == h2.
    #[test]
    fn adversarial_buckets_and_tags(
        order in 1u32..4,
        seed in any::<u64>(),
        keys in prop::collection::vec(adversarial_key(), 1..40),
        ops in prop::collection::vec(op(), 1..160),
    ) {
        for bucket_slots in [2, 4, 8] {
            for policy in POLICIES {
                run(CuckooConfig { order, bucket_slots, policy, seed }, &keys, &ops);
            }
        }
    }
}

fn config(order: u32, bucket_slots: usize, policy: Policy, seed: u64) -> CuckooConfig {
    CuckooConfig {
        order,
        bucket_slots,
        policy,
        seed,
    }
}

/// A compact table filled with `count` fresh random hashes (fewer if it fills up
/// first), positions 0.. into the returned journal.
fn filled(config: CuckooConfig, pos_bits: u32, count: u64) -> (CompactTable, Vec<Hash>) {
    let mut table = CompactTable::new(config, pos_bits).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_f111);
    let mut journal = Vec::new();
    for pos in 0..count {
        let hash = random_hash(&mut rng);
        journal.push(hash);
        let journal = &journal;
        match table.insert(&hash, pos, &mut |p| resolve(journal, p)) {
            Ok(None) => {}
            Ok(Some(_)) => panic!("a random 32-byte hash repeated"),
            // The failed hash stays in the journal, as in a store that appends
            // first; no slot points at it.
            Err(CompactError::Full { .. }) => break,
            Err(other) => panic!("{other}"),
        }
    }
    (table, journal)
}

#[test]
fn constructor_bounds_are_typed_errors() {
    // The tag and the position share 40 bits: order 16 leaves 24.
    let good = config(16, 4, Policy::default(), 0);
    assert!(CompactTable::new(good, 24).is_ok());
    for (order, pos_bits) in [(16, 25), (30, 11), (0, 41), (4, 0), (12, u32::MAX)] {
        assert_eq!(
            CompactTable::new(config(order, 4, Policy::default(), 0), pos_bits).err(),
            Some(CuckooError::CompactTooWide { order, pos_bits })
        );
    }
    assert_eq!(
        CompactTable::new(config(41, 4, Policy::default(), 0), 1).err(),
        Some(CuckooError::OrderTooLarge { order: 41 })
    );
    let table = CompactTable::new(config(4, 4, Policy::default(), 0), 36).unwrap();
    assert_eq!(table.position_limit(), (1 << 36) - 1);
    assert_eq!(table.slot_bytes(), f64::from(COMPACT_SLOT_BITS) / 8.0);
}

#[test]
fn resolver_errors_propagate_and_change_nothing() {
    let (mut table, journal) = filled(config(4, 4, Policy::default(), 3), 20, 40);
    let before: Vec<_> = table.placements().collect();
    let stored = journal[0];
    let mut broken = |_pos: u64| -> Result<Hash, String> { Err("flash read failed".into()) };
    assert_eq!(
        table.get(&stored, &mut broken),
        Err("flash read failed".into())
    );
    assert_eq!(
        table.insert(&stored, 99, &mut broken),
        Err(CompactError::Resolve("flash read failed".into()))
    );
    assert_eq!(
        table.remove(&stored, &mut broken),
        Err("flash read failed".into())
    );
    assert_eq!(table.placements().collect::<Vec<_>>(), before);
    assert_eq!(
        table.get(&stored, &mut |p| resolve(&journal, p)),
        Ok(Some(0))
    );
}

#[test]
fn single_bucket_hashes_cannot_be_kicked() {
    for policy in POLICIES {
        let mut table = CompactTable::new(config(3, 2, policy, 1), 8).unwrap();
        let journal = [
            hash_with(5, 5, 0),
            hash_with(5, 13, 1),
            hash_with(5, 13, 2),
            hash_with(5, 6, 3),
        ];
        let mut lookup = |p: u64| resolve(&journal, p);
        assert_eq!(table.insert(&journal[0], 0, &mut lookup), Ok(None));
        assert_eq!(table.insert(&journal[1], 1, &mut lookup), Ok(None));
        // Bucket 5 holds two single-bucket entries: nothing can leave it.
        assert!(matches!(
            table.insert(&journal[2], 2, &mut lookup),
            Err(CompactError::Full {
                len: 2,
                capacity: 16
            })
        ));
        assert_eq!(table.stats().inserts_failed, 1);
        assert_eq!(table.insert(&journal[3], 3, &mut lookup), Ok(None));
        let placements: Vec<_> = table.placements().collect();
        assert_eq!(placements, [(5, 0, 0), (5, 1, 1), (6, 0, 3)], "{policy:?}");
        // Same bucket and tag for both: the second resolve confirms.
        assert_eq!(table.get(&journal[1], &mut lookup), Ok(Some(1)));
        assert_eq!(table.get(&journal[2], &mut lookup), Ok(None));
    }
}

#[test]
fn from_placements_reproduces_the_compact_layout() {
    for bucket_slots in [2, 4, 8] {
        for policy in POLICIES {
            let config = config(6, bucket_slots, policy, 11);
            let (compact, journal) = filled(config, 24, 1 << 12);
            assert!(compact.fill() > 0.4, "{policy:?} B={bucket_slots}");
            let placements: Vec<(u64, usize, Hash, u64)> = compact
                .placements()
                .map(|(bucket, slot, pos)| (bucket, slot, journal[pos as usize], pos))
                .collect();
            let full = CuckooTable::from_placements(config, placements.iter().copied()).unwrap();
            assert_eq!(full.len(), compact.len());
            for (bucket, slot, hash, pos) in &placements {
                let entry = full.bucket(*bucket).nth(*slot).flatten();
                assert_eq!(entry, Some((hash, pos)));
                assert_eq!(full.get(hash), Some(pos));
            }
            assert_eq!(full.iter().count() as u64, compact.len());
        }
    }
}

#[test]
fn bad_placements_are_typed_errors() {
    let small = config(3, 2, Policy::default(), 0);
    let a = hash_with(1, 2, 0);
    let b = hash_with(1, 4, 1);
    let problem = |placements: Vec<(u64, usize, Hash, u64)>| match CuckooTable::from_placements(
        small, placements,
    ) {
        Err(CuckooError::Placement { problem, .. }) => Some(problem),
        Err(other) => panic!("{other}"),
        Ok(_) => None,
    };
    assert_eq!(
        problem(vec![(1, 0, a, 0), (2, 1, b, 1)]),
        Some(PlacementProblem::NotItsBucket)
    );
    assert_eq!(
        problem(vec![(8, 0, a, 0)]),
        Some(PlacementProblem::BucketOutOfRange)
    );
    assert_eq!(
        problem(vec![(1, 2, a, 0)]),
        Some(PlacementProblem::SlotOutOfRange)
    );
    assert_eq!(
        problem(vec![(1, 0, a, 0), (1, 0, b, 1)]),
        Some(PlacementProblem::SlotTaken)
    );
    assert_eq!(
        problem(vec![(1, 0, a, 0), (2, 0, a, 1)]),
        Some(PlacementProblem::HashTwice)
    );
    assert_eq!(
        problem(vec![(1, 1, a, 0), (4, 0, b, 1), (1, 0, b, 2)]),
        Some(PlacementProblem::HashTwice)
    );
    assert_eq!(problem(vec![(2, 1, a, 0), (1, 0, b, 1)]), None);
    assert!(matches!(
        CuckooTable::<u64>::from_placements(config(41, 2, Policy::default(), 0), []),
        Err(CuckooError::OrderTooLarge { .. })
    ));
}

/// Fill at the first failure, with the same hashes as `fill_at_first_failure` uses
/// for the full layout; also checks nothing inserted went missing.
fn compact_fill(config: CuckooConfig) -> f64 {
    let (mut table, journal) = filled(config, 24, u64::MAX);
    for (pos, hash) in journal.iter().enumerate().take(table.len() as usize) {
        let got = table.get(hash, &mut |p| resolve(&journal, p));
        assert_eq!(got, Ok(Some(pos as u64)), "{:?} lost a hash", config.policy);
    }
    table.fill()
}

fn walk(max_kicks: u32) -> Policy {
    Policy::RandomWalk {
        max_kicks,
        retries: 10,
    }
}

#[test]
fn fill_matches_the_full_layout() {
    const ORDER: u32 = 12;
    const SEEDS: u64 = 10;
    let cases = [
        (2, walk(500), 0.86),
        (4, walk(128), 0.92),
        (4, Policy::Bfs { max_depth: 6 }, 0.965),
        (8, walk(500), 0.985),
    ];
    for (bucket_slots, policy, floor) in cases {
        let fills: Vec<(f64, f64)> = (0..SEEDS)
            .into_par_iter()
            .map(|seed| {
                let config = config(ORDER, bucket_slots, policy, seed);
                (compact_fill(config), fill_at_first_failure(config).unwrap())
            })
            .collect();
        let compact = fills.iter().map(|f| f.0).sum::<f64>() / SEEDS as f64;
        let full = fills.iter().map(|f| f.1).sum::<f64>() / SEEDS as f64;
        let same = fills.iter().filter(|f| f.0 == f.1).count();
        println!(
            "B={bucket_slots} {policy:?}: compact {compact:.4}, full {full:.4} \
             ({same}/{SEEDS} seeds identical), {:.2} B/entry",
            5.0 / compact
        );
        assert!(
            (compact - full).abs() <= 0.005,
            "compact {compact} vs full {full}"
        );
        assert!(compact >= floor, "compact {compact} < {floor}");
        assert!(compact <= fill_limit(bucket_slots).unwrap(), "beats theory");
    }
}

#[test]
fn ram_per_entry_at_the_fill_reached() {
    let (table, _journal) = filled(config(16, 4, Policy::default(), 5), 24, u64::MAX);
    let per_entry = table.slot_bytes() / table.fill();
    let with_scratch = table.ram_bytes() as f64 / table.len() as f64;
    println!(
        "B=4 default policy, order 16: fill {:.4}, slots {:.3} B/entry, all RAM {:.3} B/entry",
        table.fill(),
        per_entry,
        with_scratch
    );
    assert!(table.fill() >= 0.95, "fill {}", table.fill());
    assert!(per_entry <= 6.0, "{per_entry} bytes per entry");
    // `ram_bytes` adds the policy's scratch buffers: a fixed cost (the BFS queue, ~1 B
    // an entry at order 16 after a failed insert expands the whole tree), not per entry.
}

#[test]
fn resolves_per_lookup_at_95_percent() {
    let config = config(16, 4, Policy::default(), 9);
    let stored = config.capacity().unwrap() * 95 / 100;
    let (mut table, journal) = filled(config, 24, stored);
    assert_eq!(table.len(), stored);
    let before = table.resolves();
    for (pos, hash) in journal.iter().enumerate() {
        let got = table.get(hash, &mut |p| resolve(&journal, p));
        assert_eq!(got, Ok(Some(pos as u64)));
    }
    let positive = (table.resolves() - before) as f64 / stored as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let (before, absent) = (table.resolves(), 200_000u64);
    for _ in 0..absent {
        let got = table.get(&random_hash(&mut rng), &mut |p| resolve(&journal, p));
        assert_eq!(got, Ok(None));
    }
    let negative = (table.resolves() - before) as f64 / absent as f64;
    println!(
        "order 16, B=4, 95% fill: {positive:.5} resolves per positive lookup, \
         {negative:.5} per negative; {} false positives in all",
        table.false_positives()
    );
    assert!(positive <= 1.01 && negative <= 0.01);
}

/// A kick to the wrong bucket is caught in either layout: filling the
/// table panics with the bug planted and not without it.
#[test]
fn planted_kick_wrong_bucket_is_caught() {
    use logstore::testing::{plant, Bug};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    plant(Some(Bug::KickWrongBucket));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        compact_fill(config(8, 4, walk(128), 1));
    }));
    let caught_full = catch_unwind(|| fill_at_first_failure(config(8, 4, walk(128), 1)));
    plant(None);
    std::panic::set_hook(hook);
    assert!(caught.is_err(), "a wrong-bucket kick went unnoticed");
    assert!(
        caught_full.is_err(),
        "a full-layout wrong-bucket kick went unnoticed"
    );
    compact_fill(config(8, 4, walk(128), 1));
    assert!(fill_at_first_failure(config(8, 4, walk(128), 1)).is_ok());
}

/// A compact table reports its shape (2^order buckets of B slots) and
/// fill as the full layout does, and `find_slot` (the remove path)
/// counts the journal reads it makes, as `get` does.
#[test]
fn shape_fill_and_find_slot_resolves_are_reported() {
    for order in [0, 3, 6] {
        for bucket_slots in [2, 4, 8] {
            let config = config(order, bucket_slots, Policy::default(), 4);
            let (mut table, journal) = filled(config, 16, 8);
            assert_eq!(
                table.buckets(),
                1 << order,
                "order {order} B {bucket_slots}"
            );
            let capacity = (bucket_slots as u64) << order;
            let stored = table.len();
            assert!((table.fill() - stored as f64 / capacity as f64).abs() < 1e-12);
            let before = table.resolves();
            let found = table.find_slot(&journal[0], &mut |p| resolve(&journal, p));
            assert!(matches!(found, Ok(Some((_, 0)))), "{found:?}");
            assert!(table.resolves() > before, "find_slot read no journal entry");
        }
    }
}
