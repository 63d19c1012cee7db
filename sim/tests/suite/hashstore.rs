//! Hash store incarnations on simulated flash: lookups against the frozen
//! table, reopening from the region, bit flips, garbage meta and images,
//! stale and misplaced pages, program and erase failures during freeze.

use logstore::errors::{DecodeError, HashStoreError, IncarnationPageFault as PageFault};
use logstore::testing::format::Page;
use logstore::testing::{Allocator, BlockUse, CuckooConfig, CuckooTable, Incarnation, Region};
use logstore::{Flash, FlashError, Geometry, Hash, Info, PageAddr, Value};
use logstore_sim::{CrashMode, FaultRates, ScheduledFault, SimConfig, SimFlash};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const GENERATION: u64 = 5;

fn geometry(page_bytes: u32, pages_per_block: u32, blocks: u32) -> Geometry {
    Geometry::new(page_bytes, pages_per_block, blocks).unwrap()
}

fn device(geometry: Geometry, seed: u64) -> SimFlash {
    SimFlash::new(SimConfig::new(geometry), seed).unwrap()
}

/// An allocator with blocks 0 and 1 taken, as anchor lanes would be.
fn allocator(geometry: Geometry) -> Allocator {
    let mut alloc = Allocator::new(geometry.blocks, vec![0; geometry.blocks as usize]);
    alloc.mark_in_use(&[logstore::BlockAddr(0), logstore::BlockAddr(1)]);
    alloc
}

fn random_hash(rng: &mut ChaCha8Rng) -> Hash {
    let mut hash = [0u8; 32];
    rng.fill(&mut hash);
    hash
}

fn value(n: u64, tombstone: bool) -> Value {
    if tombstone {
        Value::Tombstone
    } else {
        Value::Live(Info {
            physical_sector: n,
            first_logical_sector: n.wrapping_mul(8) ^ 0x5a5a,
        })
    }
}

fn empty_table(order: u32, bucket_slots: usize, seed: u64) -> CuckooTable<Value> {
    CuckooTable::new(CuckooConfig {
        bucket_slots,
        ..CuckooConfig::new(order, seed)
    })
    .unwrap()
}

/// A table holding up to `fill` of its capacity in random hashes, one in
/// five a tombstone.
fn random_table(order: u32, bucket_slots: usize, fill: f64, seed: u64) -> CuckooTable<Value> {
    let mut table = empty_table(order, bucket_slots, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let target = (table.capacity() as f64 * fill) as u64;
    for n in 0..target {
        let _ = table.insert(random_hash(&mut rng), value(n, n % 5 == 2));
    }
    table
}

fn absent_hashes(count: usize, seed: u64) -> Vec<Hash> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xabcd_ef01);
    (0..count).map(|_| random_hash(&mut rng)).collect()
}

fn contents(table: &CuckooTable<Value>) -> Vec<(Hash, Value)> {
    table.iter().map(|(h, v)| (*h, *v)).collect()
}

/// Looks `hash` up, checking it reads at most two pages (by the device's
/// counter and by the lookup's own count); returns the answer.
fn get_counted(
    incarnation: &Incarnation,
    flash: &mut SimFlash,
    hash: &Hash,
) -> Result<Option<Value>, HashStoreError> {
    let before = flash.counters().reads;
    let lookup = incarnation.lookup(flash, hash, &mut Vec::new());
    let reads = flash.counters().reads - before;
    assert!(
        reads <= Incarnation::pages_per_lookup_max(),
        "{reads} reads"
    );
    if let Ok(lookup) = &lookup {
        assert_eq!(lookup.pages_read, reads);
    }
    lookup.map(|l| l.value)
}

/// Every stored hash gives its value, every absent one `None`; returns the
/// most pages one absent lookup read.
fn check_answers(
    incarnation: &Incarnation,
    flash: &mut SimFlash,
    table: &CuckooTable<Value>,
    absent: &[Hash],
) -> u64 {
    for (hash, value) in table.iter() {
        let got = get_counted(incarnation, flash, hash).unwrap();
        assert_eq!(got, Some(*value));
    }
    let mut most = 0;
    for hash in absent {
        let before = flash.counters().reads;
        assert_eq!(get_counted(incarnation, flash, hash).unwrap(), None);
        most = most.max(flash.counters().reads - before);
    }
    most
}

/// The page holding `bucket`, from the documented layout (independent of the
/// module's own address arithmetic).
fn page_of_bucket(incarnation: &Incarnation, geometry: Geometry, bucket: u64) -> PageAddr {
    let page = bucket / u64::from(incarnation.buckets_per_page());
    let ppb = u64::from(geometry.pages_per_block);
    PageAddr {
        block: incarnation.region().blocks[(page / ppb) as usize],
        page: (page % ppb) as u32,
    }
}

fn candidate_pages(incarnation: &Incarnation, geometry: Geometry, hash: &Hash) -> [PageAddr; 2] {
    let order = incarnation.order();
    [
        page_of_bucket(incarnation, geometry, logstore::testing::h1(hash, order)),
        page_of_bucket(incarnation, geometry, logstore::testing::h2(hash, order)),
    ]
}

/// Region blocks are distinct, in use, outside the anchor and not bad.
fn check_region_blocks(incarnation: &Incarnation, alloc: &Allocator) {
    let blocks = &incarnation.region().blocks;
    for (i, block) in blocks.iter().enumerate() {
        assert!(block.0 >= 2, "{block} is taken by the lanes");
        assert_eq!(alloc.block_use(*block), BlockUse::InUse);
        assert!(!blocks[..i].contains(block), "{block} twice");
    }
}

#[test]
fn freeze_then_every_hash_reads_back() {
    let g = geometry(512, 8, 64);
    for bucket_slots in [2, 4, 8] {
        let table = random_table(7, bucket_slots, 0.9, bucket_slots as u64);
        assert!(table.iter().any(|(_, v)| *v == Value::Tombstone));
        let mut flash = device(g, 1);
        let mut alloc = allocator(g);
        let inc = Incarnation::freeze(&mut flash, &mut alloc, GENERATION, &table).unwrap();
        assert_eq!(flash.counters().syncs, 0, "freeze must not sync");
        assert_eq!(flash.counters().programs, inc.pages());
        assert_eq!(
            (inc.order(), inc.bucket_slots(), inc.entries()),
            (7, bucket_slots, table.len())
        );
        assert_eq!(inc.region().generation, GENERATION);
        check_region_blocks(&inc, &alloc);
        // The filter names the bucket: a hit reads its one page, a miss
        // almost never reads.
        let absent = absent_hashes(2000, 1);
        let before = flash.counters().reads;
        let most = check_answers(&inc, &mut flash, &table, &absent);
        let reads = flash.counters().reads - before;
        assert!(most <= 1, "a miss read {most} pages");
        assert!(
            reads <= table.len() + 2,
            "{reads} reads for {} hits and {} misses",
            table.len(),
            absent.len()
        );
        // Without its filter, absent lookups sometimes read both pages.
        let bare = Incarnation::open(inc.region().clone(), g).unwrap();
        assert!(bare.filter().is_none());
        let most = check_answers(&bare, &mut flash, &table, &absent);
        assert_eq!(most, 2, "absent lookups should sometimes read both pages");
        assert_eq!(inc.read_all(&mut flash).unwrap(), contents(&table));
    }
}

#[test]
fn empty_table_freezes_and_finds_nothing() {
    let g = geometry(256, 4, 16);
    let table = empty_table(4, 2, 0);
    let mut flash = device(g, 0);
    let mut alloc = allocator(g);
    let inc = Incarnation::freeze(&mut flash, &mut alloc, GENERATION, &table).unwrap();
    assert_eq!((inc.entries(), inc.bucket_pages()), (0, 8));
    assert!(inc.pages() > 8, "the filter's pages follow the buckets");
    check_answers(&inc, &mut flash, &table, &absent_hashes(200, 0));
    assert_eq!(inc.read_all(&mut flash).unwrap(), vec![]);
}

#[test]
fn buckets_too_large_for_a_page_are_refused() {
    for (page_bytes, bucket_slots) in [(64, 2), (128, 2), (128, 4), (256, 8)] {
        let g = geometry(page_bytes, 4, 16);
        let mut flash = device(g, 0);
        let mut alloc = allocator(g);
        let table = empty_table(3, bucket_slots, 0);
        let err = Incarnation::freeze(&mut flash, &mut alloc, 1, &table).unwrap_err();
        assert!(
            matches!(err, HashStoreError::PageTooSmall { .. }),
            "{page_bytes} {bucket_slots}: {err}"
        );
        // `blocks_max` refuses the same shape, naming the page and the bucket.
        let max = Incarnation::blocks_max(g, 3, bucket_slots).unwrap_err();
        assert!(
            matches!(max, HashStoreError::PageTooSmall { page_bytes: p, bucket_slots: b, .. }
                if (p, b) == (page_bytes, bucket_slots)),
            "{page_bytes} {bucket_slots}: {max}"
        );
        assert_eq!(alloc.free_count(), 14);
        assert_eq!(flash.ops_mutating(), 0);
    }
}

#[test]
fn failed_freeze_gives_its_blocks_back() {
    // 32 pages of 7 a block: 5 blocks needed, 6 on the device, 4 allocatable.
    let g = geometry(256, 7, 6);
    let table = random_table(5, 4, 0.5, 3);
    let mut alloc = allocator(g);
    let err = Incarnation::freeze(&mut device(g, 0), &mut alloc, 1, &table).unwrap_err();
    assert!(matches!(err, HashStoreError::OutOfBlocks(_)), "{err}");
    assert_eq!(alloc.free_count(), 4);
    // More blocks than the device has.
    let small = geometry(256, 7, 4);
    let err = Incarnation::freeze(&mut device(small, 0), &mut allocator(small), 1, &table);
    assert!(matches!(err, Err(HashStoreError::TooLarge { .. })));
    // Power lost half way.
    let g = geometry(256, 8, 16);
    let mut flash = device(g, 0);
    flash.cut_power_at(20, CrashMode::Torn);
    let mut alloc = allocator(g);
    let err = Incarnation::freeze(&mut flash, &mut alloc, 1, &table).unwrap_err();
    assert!(matches!(err, HashStoreError::Flash(FlashError::PowerLost)));
    assert_eq!(alloc.free_count(), 14);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lookups_match_the_table_and_survive_reopen(
        order in 0u32..7,
        slots_index in 0usize..3,
        page_index in 0usize..3,
        pages_per_block in prop::sample::select(vec![1u32, 2, 3, 8]),
        keys in prop::collection::vec((any::<[u8; 32]>(), any::<bool>(), any::<u64>()), 0..300),
        absent in prop::collection::vec(any::<[u8; 32]>(), 0..40),
        seed in any::<u64>(),
    ) {
        let bucket_slots = [2, 4, 8][slots_index];
        let g = geometry([512, 1024, 2048][page_index], pages_per_block, 140);
        let mut table = empty_table(order, bucket_slots, seed);
        for (hash, tombstone, n) in &keys {
            let _ = table.insert(*hash, value(*n, *tombstone));
        }
        let mut flash = device(g, seed);
        let mut alloc = allocator(g);
        let inc = Incarnation::freeze(&mut flash, &mut alloc, seed, &table).unwrap();
        let reopened = Incarnation::open(inc.region().clone(), g).unwrap();
        prop_assert_eq!(
            (reopened.order(), reopened.bucket_slots(), reopened.entries(), reopened.pages()),
            (inc.order(), inc.bucket_slots(), inc.entries(), inc.pages())
        );
        let probes = keys.iter().map(|k| &k.0).chain(&absent);
        for hash in probes {
            let expected = table.get(hash).copied();
            prop_assert_eq!(get_counted(&inc, &mut flash, hash).unwrap(), expected);
            prop_assert_eq!(get_counted(&reopened, &mut flash, hash).unwrap(), expected);
        }
        prop_assert_eq!(reopened.read_all(&mut flash).unwrap(), contents(&table));
    }
}

/// A frozen table on a fresh device, for the corruption tests.
struct Frozen {
    geometry: Geometry,
    table: CuckooTable<Value>,
    flash: SimFlash,
    incarnation: Incarnation,
    absent: Vec<Hash>,
}

fn frozen(page_bytes: u32, order: u32, bucket_slots: usize, seed: u64) -> Frozen {
    let geometry = geometry(page_bytes, 8, 64);
    let table = random_table(order, bucket_slots, 0.9, seed);
    let mut flash = device(geometry, seed);
    let mut alloc = allocator(geometry);
    let incarnation = Incarnation::freeze(&mut flash, &mut alloc, GENERATION, &table).unwrap();
    Frozen {
        geometry,
        table,
        flash,
        incarnation,
        absent: absent_hashes(300, seed),
    }
}

impl Frozen {
    /// Every stored hash and the absent ones, with the expected answer.
    fn probes(&self) -> Vec<(Hash, Option<Value>)> {
        let stored = self.table.iter().map(|(h, v)| (*h, Some(*v)));
        stored
            .chain(self.absent.iter().map(|h| (*h, None)))
            .collect()
    }
}

#[test]
fn every_single_bit_flip_in_sampled_pages_is_caught() {
    // Order 5, B=4, 256-byte pages: one bucket a page, 32 pages.
    let f = frozen(256, 5, 4, 11);
    let probes = f.probes();
    // Without its filter, so that each lookup reads its first bucket's page.
    let bare = Incarnation::open(f.incarnation.region().clone(), f.geometry).unwrap();
    let pages = bare.bucket_pages();
    let mut caught = 0u64;
    for page in [0, pages / 2 - 1, pages - 1] {
        let target = f.incarnation.page_addr(page);
        let readers: Vec<_> = probes
            .iter()
            .filter(|(h, _)| candidate_pages(&f.incarnation, f.geometry, h).contains(&target))
            .collect();
        assert!(!readers.is_empty());
        for bit in 0..f.geometry.page_bytes * 8 {
            let mut flash = f.flash.clone();
            flash.flip_bit(target, bit).unwrap();
            for (hash, expected) in &readers {
                let [first, _] = candidate_pages(&f.incarnation, f.geometry, hash);
                match get_counted(&bare, &mut flash, hash) {
                    Err(HashStoreError::Corrupt { page, .. }) if page == target => caught += 1,
                    Ok(got) if first != target => assert_eq!(got, *expected, "bit {bit}"),
                    other => panic!("flip of bit {bit} of {target}: {other:?}"),
                }
            }
            assert!(matches!(
                bare.read_all(&mut flash),
                Err(HashStoreError::Corrupt { page, .. }) if page == target
            ));
        }
    }
    assert!(caught > 0);
}

#[test]
fn stale_foreign_erased_and_misplaced_pages_are_named() {
    let f = frozen(512, 6, 4, 12);
    let (g, inc) = (f.geometry, &f.incarnation);
    let probe = *f.table.iter().next().unwrap().0;
    let [page, _] = candidate_pages(inc, g, &probe);
    let why = |flash: &mut SimFlash, inc: &Incarnation| match inc.get(flash, &probe) {
        Err(HashStoreError::Corrupt { page: at, why }) if at == page => why,
        other => panic!("{other:?}"),
    };

    // Another generation's region over the same blocks: stale pages.
    let mut region = inc.region().clone();
    region.generation += 1;
    let stale = Incarnation::open(region, g).unwrap();
    let found = GENERATION;
    assert_eq!(
        why(&mut f.flash.clone(), &stale),
        PageFault::WrongGeneration { found }
    );

    // The page's block erased.
    let mut flash = f.flash.clone();
    flash.erase(page.block).unwrap();
    assert_eq!(why(&mut flash, inc), PageFault::Erased);

    // A journal page where the bucket page was.
    let journal = Page {
        epoch: 0,
        generation: GENERATION,
        sequence: 0,
        synced_through: None,
        erase_count: 0,
        entries: vec![],
    };
    let mut flash = f.flash.clone();
    flash.erase(page.block).unwrap();
    flash
        .program(page, &journal.encode(g.page_bytes as usize))
        .unwrap();
    assert_eq!(why(&mut flash, inc), PageFault::BadMagic);

    // The page's bytes replaced by another valid page of the same region.
    let mut image = f.flash.image();
    let index = logstore::testing::h1(&probe, inc.order()) / u64::from(inc.buckets_per_page());
    let other = inc.page_addr((index + 1) % inc.pages());
    let (to, from) = (g.page_offset(page) as usize, g.page_offset(other) as usize);
    let copy = image[from..from + g.page_bytes as usize].to_vec();
    image[to..to + g.page_bytes as usize].copy_from_slice(&copy);
    let mut flash = SimFlash::from_image(SimConfig::new(g), &image, 0).unwrap();
    assert!(matches!(
        why(&mut flash, inc),
        PageFault::WrongBuckets { .. }
    ));
}

/// Bytes of an incarnation page's header, and of one slot (state, hash,
/// info): the on-flash format (docs/DESIGN.md).
const INCARNATION_HEADER_BYTES: usize = 40;
const SLOT_BYTES: usize = 49;

/// A page that passes its checks (resealed) yet holds a slot of no known
/// state, an entry outside both its candidate buckets, or an entry its
/// other candidate bucket holds too: named corrupt, never misread.
#[test]
fn a_resealed_page_with_a_bad_slot_a_misplaced_or_a_duplicate_entry_is_named() {
    let f = frozen(512, 6, 4, 12);
    let (g, inc) = (f.geometry, &f.incarnation);
    let (order, per_page, slots) = (inc.order(), u64::from(inc.buckets_per_page()), 4);
    let slot_at = |bucket: u64, slot: usize| {
        let page = inc.page_addr(bucket / per_page);
        let in_page = (bucket % per_page) as usize * slots + slot;
        g.page_offset(page) as usize + INCARNATION_HEADER_BYTES + in_page * SLOT_BYTES
    };
    let image = f.flash.image();
    let holds = |at: usize, hash: &Hash| image[at] == 1 && image[at + 1..at + 33] == hash[..];
    let empty_in = |bucket: u64| {
        (0..slots)
            .map(|s| slot_at(bucket, s))
            .find(|&at| image[at] == 0)
    };
    // A stored hash, where it sits, and its other candidate bucket with a
    // free slot.
    let (probe, at, other_free) = f
        .table
        .iter()
        .find_map(|(hash, _)| {
            let [b1, b2] = [
                logstore::testing::h1(hash, order),
                logstore::testing::h2(hash, order),
            ];
            let at = (0..slots)
                .map(|s| slot_at(b1, s))
                .find(|&at| holds(at, hash))?;
            (b1 != b2)
                .then(|| empty_in(b2))
                .flatten()
                .map(|free| (*hash, at, free))
        })
        .expect("a stored hash whose other bucket has room");
    let misplaced_bucket = (0..1u64 << order)
        .find(|&b| empty_in(b).is_some() && slot_at(b, 0) / 512 != at / 512)
        .expect("a bucket with room elsewhere");
    let read_all_why = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut crafted = image.clone();
        edit(&mut crafted);
        logstore::testing::format::reseal(&mut crafted, g);
        let mut flash = SimFlash::from_image(SimConfig::new(g), &crafted, 0).unwrap();
        inc.read_all(&mut flash).err()
    };
    let slot = image[at..at + SLOT_BYTES].to_vec();
    let bad_state = read_all_why(&|image| image[at] = 7);
    assert!(
        matches!(
            bad_state,
            Some(HashStoreError::Corrupt {
                why: PageFault::BadSlotState(7),
                ..
            })
        ),
        "{bad_state:?}"
    );
    // A lookup meeting the slot names it too.
    let mut crafted = image.clone();
    crafted[at] = 7;
    logstore::testing::format::reseal(&mut crafted, g);
    let mut flash = SimFlash::from_image(SimConfig::new(g), &crafted, 0).unwrap();
    let lookup = inc.get(&mut flash, &probe);
    assert!(
        matches!(
            lookup,
            Err(HashStoreError::Corrupt {
                why: PageFault::BadSlotState(7),
                ..
            })
        ),
        "{lookup:?}"
    );
    let free = empty_in(misplaced_bucket).unwrap();
    let misplaced = read_all_why(&|image| image[free..free + SLOT_BYTES].copy_from_slice(&slot));
    assert!(
        matches!(
            misplaced,
            Some(HashStoreError::Corrupt { why: PageFault::Misplaced { bucket }, .. })
                if bucket == misplaced_bucket
        ),
        "{misplaced:?}"
    );
    // The copy lands in a slot the filter holds empty: the page read whole
    // disagrees with the filter there. Without a filter (an older format,
    // one not yet rebuilt), the two copies are named as a duplicate.
    let duplicate =
        read_all_why(&|image| image[other_free..other_free + SLOT_BYTES].copy_from_slice(&slot));
    assert!(
        matches!(
            duplicate,
            Some(HashStoreError::Corrupt {
                why: PageFault::FilterDisagrees { .. },
                ..
            })
        ),
        "{duplicate:?}"
    );
    let mut unfiltered = inc.clone();
    unfiltered.set_filter(None);
    let mut crafted = image.clone();
    crafted[other_free..other_free + SLOT_BYTES].copy_from_slice(&slot);
    logstore::testing::format::reseal(&mut crafted, g);
    let mut flash = SimFlash::from_image(SimConfig::new(g), &crafted, 0).unwrap();
    let duplicate = unfiltered.read_all(&mut flash).err();
    assert!(
        matches!(duplicate, Some(HashStoreError::DuplicateHash { .. })),
        "{duplicate:?}"
    );
}

#[test]
fn open_checks_the_shape_against_region_and_geometry() {
    let f = frozen(512, 6, 4, 13);
    let (g, region) = (f.geometry, f.incarnation.region().clone());
    let meta_error = |region: Region, g: Geometry| match Incarnation::open(region, g) {
        Err(HashStoreError::Meta(e)) => e,
        other => panic!("{other:?}"),
    };
    let mut short = region.clone();
    short.blocks.pop();
    assert!(matches!(
        meta_error(short, g),
        DecodeError::Invalid {
            what: "region block count",
            ..
        }
    ));
    let mut long = region.clone();
    long.blocks.push(long.blocks[0]);
    meta_error(long, g);
    meta_error(region.clone(), geometry(1024, 8, 64));
    meta_error(region.clone(), geometry(512, 4, 64));
    let mut trailing = region.clone();
    trailing.meta.push(0);
    meta_error(trailing, g);
    for (byte, value) in [(0, 0), (0, 3), (2, 41), (3, 3), (3, 0), (4, 9), (8, 1)] {
        let mut bad = region.clone();
        bad.meta[byte] = value;
        meta_error(bad, g);
    }
    let mut outside = region.clone();
    outside.blocks[0] = logstore::BlockAddr(64);
    assert!(matches!(
        Incarnation::open(outside, g),
        Err(HashStoreError::Flash(FlashError::OutOfRange { .. }))
    ));
    let bad_geometry = Geometry {
        pages_per_block: 0,
        ..g
    };
    assert!(matches!(
        Incarnation::open(region.clone(), bad_geometry),
        Err(HashStoreError::Flash(FlashError::BadGeometry { .. }))
    ));
    assert!(matches!(
        Incarnation::open(region, geometry(64, 8, 64)),
        Err(HashStoreError::PageTooSmall { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_meta_is_a_typed_error(
        meta in prop::collection::vec(any::<u8>(), 0..64),
        blocks in 0usize..20,
    ) {
        let g = geometry(512, 8, 64);
        let region = Region {
            generation: 1,
            blocks: (2..2 + blocks as u32).map(logstore::BlockAddr).collect(),
            meta,
        };
        if let Ok(inc) = Incarnation::open(region, g) {
            // Only a well-formed shape is accepted: lookups then fail on the
            // blank device, never panic.
            let mut flash = device(g, 0);
            prop_assert!(inc.get(&mut flash, &[0; 32]).is_err());
        }
    }

    #[test]
    fn one_changed_meta_byte_is_refused_or_harmless(
        byte in 0usize..24,
        xor in 1u8..=255,
    ) {
        let f = frozen(512, 5, 4, 14);
        let mut region = f.incarnation.region().clone();
        region.meta[byte] ^= xor;
        let mut flash = f.flash.clone();
        match Incarnation::open(region, f.geometry) {
            Err(HashStoreError::Meta(_) | HashStoreError::PageTooSmall { .. }) => {}
            Err(other) => prop_assert!(false, "{other}"),
            Ok(inc) => {
                // Only the entry count can change unnoticed by open; the
                // lookups still hold and read_all names the mismatch.
                prop_assert!(byte >= 16);
                for (hash, expected) in f.probes() {
                    prop_assert_eq!(inc.get(&mut flash, &hash).unwrap(), expected);
                }
                let all = inc.read_all(&mut flash);
                let count_named = matches!(all, Err(HashStoreError::EntryCount { .. }));
                prop_assert!(count_named, "read_all gave {:?}", all);
            }
        }
    }

    #[test]
    fn garbage_images_give_errors_or_right_answers(seed in any::<u64>(), mode in 0u8..4) {
        let f = frozen(256, 5, 4, seed % 4);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut image = f.flash.image();
        let g = f.geometry;
        match mode {
            // The whole device random.
            0 => rng.fill(&mut image[..]),
            // A few random bytes anywhere in the region.
            1 => {
                for _ in 0..rng.random_range(1..8) {
                    let page = rng.random_range(0..f.incarnation.pages());
                    let at = g.page_offset(f.incarnation.page_addr(page)) as usize;
                    image[at + rng.random_range(0..g.page_bytes as usize)] = rng.random();
                }
            }
            // One region page random.
            2 => {
                let page = rng.random_range(0..f.incarnation.pages());
                let at = g.page_offset(f.incarnation.page_addr(page)) as usize;
                rng.fill(&mut image[at..at + g.page_bytes as usize]);
            }
            // One region block erased.
            _ => {
                let blocks = &f.incarnation.region().blocks;
                let block = blocks[rng.random_range(0..blocks.len())];
                let at = u64::from(block.0) * g.block_bytes();
                image[at as usize..(at + g.block_bytes()) as usize].fill(0xFF);
            }
        }
        let mut flash = SimFlash::from_image(SimConfig::new(g), &image, seed).unwrap();
        let inc = Incarnation::open(f.incarnation.region().clone(), g).unwrap();
        for (hash, expected) in f.probes() {
            match get_counted(&inc, &mut flash, &hash) {
                Ok(got) => prop_assert_eq!(got, expected),
                Err(HashStoreError::Corrupt { .. }) => {}
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
        match inc.read_all(&mut flash) {
            Ok(all) => prop_assert_eq!(all, contents(&f.table)),
            Err(HashStoreError::Corrupt { .. }) => {}
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}

/// Freezes `table` on `flash` and checks the outcome: every failed block is
/// retired and outside the region, and every answer is right.
fn freeze_and_check(
    flash: &mut SimFlash,
    table: &CuckooTable<Value>,
    absent: &[Hash],
) -> Vec<logstore::BlockAddr> {
    let g = flash.geometry();
    let mut alloc = allocator(g);
    let inc = Incarnation::freeze(flash, &mut alloc, GENERATION, table).unwrap();
    let failures = flash.counters().program_failures + flash.counters().erase_failures;
    let bad = alloc.bad_blocks();
    assert_eq!(bad.len() as u64, failures);
    check_region_blocks(&inc, &alloc);
    for block in &bad {
        assert!(!inc.region().blocks.contains(block));
    }
    check_answers(&inc, flash, table, absent);
    assert_eq!(inc.read_all(flash).unwrap(), contents(table));
    let reopened = Incarnation::open(inc.region().clone(), g).unwrap();
    check_answers(&reopened, flash, table, absent);
    bad
}

#[test]
fn a_failed_program_or_erase_at_any_point_retires_that_block() {
    let g = geometry(256, 8, 32);
    let table = random_table(5, 4, 0.9, 21);
    let absent = absent_hashes(100, 21);
    let clean_ops = {
        let mut flash = device(g, 0);
        freeze_and_check(&mut flash, &table, &absent);
        flash.ops_mutating()
    };
    let (mut program_failures, mut erase_failures) = (0, 0);
    for op in 0..clean_ops {
        for fault in [ScheduledFault::ProgramFail, ScheduledFault::EraseFail] {
            let mut flash = device(g, op);
            flash.schedule_fault(op, fault);
            let bad = freeze_and_check(&mut flash, &table, &absent);
            program_failures += flash.counters().program_failures;
            erase_failures += flash.counters().erase_failures;
            assert!(bad.len() <= 1);
        }
    }
    // 4 blocks of 8 pages of buckets, one with the filter's 2 pages: one
    // erase a block and a program a page.
    assert_eq!((clean_ops, program_failures, erase_failures), (39, 34, 5));
}

#[test]
fn random_program_and_erase_failures() {
    let g = geometry(256, 8, 64);
    let table = random_table(6, 4, 0.9, 22);
    let absent = absent_hashes(100, 22);
    let mut retired = 0;
    for seed in 0..24 {
        let mut config = SimConfig::new(g);
        config.faults = FaultRates {
            read_flip: 0.0,
            program_fail: 0.02,
            erase_fail: 0.1,
        };
        let mut flash = SimFlash::new(config, seed).unwrap();
        retired += freeze_and_check(&mut flash, &table, &absent).len();
    }
    assert!(retired > 0);
}

#[test]
fn page_addresses_follow_the_documented_layout() {
    let f = frozen(512, 6, 2, 15);
    let inc = &f.incarnation;
    for page in 0..inc.pages() {
        let bucket = page * u64::from(inc.buckets_per_page());
        assert_eq!(inc.page_addr(page), page_of_bucket(inc, f.geometry, bucket));
    }
}

/// `page_index` inverts `page_addr` and names no page outside the region:
/// a block it does not hold, or a page of its last block past its pages.
#[test]
fn page_index_inverts_page_addr_within_the_region_only() {
    let f = frozen(512, 6, 2, 15);
    let inc = &f.incarnation;
    for page in 0..inc.pages() {
        assert_eq!(inc.page_index(inc.page_addr(page)), Some(page));
    }
    let blocks = &inc.region().blocks;
    let outside = (0..f.geometry.blocks)
        .map(logstore::BlockAddr)
        .find(|block| !blocks.contains(block))
        .unwrap();
    let page = PageAddr {
        block: outside,
        page: 0,
    };
    assert_eq!(inc.page_index(page), None);
    let ppb = u64::from(f.geometry.pages_per_block);
    let spare = blocks.len() as u64 * ppb - inc.pages();
    assert!(spare > 0, "the last block is full: pick another shape");
    let past = PageAddr {
        block: *blocks.last().unwrap(),
        page: (inc.pages() % ppb) as u32,
    };
    assert_eq!(inc.page_index(past), None);
}

/// `frozen`'s region as meta version 1 wrote it: no filter page count or
/// length after the entry count, no blocks for filter pages.
fn version_1_region(f: &Frozen) -> Region {
    let mut region = f.incarnation.region().clone();
    region.meta.truncate(region.meta.len() - 16);
    region.meta[..2].copy_from_slice(&1u16.to_le_bytes());
    let ppb = u64::from(f.geometry.pages_per_block);
    let blocks = f.incarnation.bucket_pages().div_ceil(ppb);
    region.blocks.truncate(blocks as usize);
    region
}

/// An incarnation of meta version 1 has no filter pages: its filter is
/// built from the buckets at load, and it answers as the table does.
#[test]
fn a_version_1_incarnation_rebuilds_its_filter_from_the_buckets() {
    use logstore::testing::FilterLoad;
    let f = frozen(512, 6, 4, 21);
    let mut old = Incarnation::open(version_1_region(&f), f.geometry).unwrap();
    assert_eq!(old.pages(), f.incarnation.bucket_pages());
    let mut flash = f.flash.clone();
    assert_eq!(old.load_filter(&mut flash).unwrap(), FilterLoad::Rebuilt);
    check_answers(&old, &mut flash, &f.table, &f.absent);
}

/// A filter rebuilt from buckets holding fewer entries than the meta
/// counts is refused with both counts, not built from what was found.
#[test]
fn a_filter_rebuild_refuses_buckets_short_of_the_meta_count() {
    let f = frozen(512, 6, 4, 22);
    let entries = f.incarnation.entries();
    let mut region = version_1_region(&f);
    // The entry count follows version, order, slots, buckets a page, pages.
    region.meta[16..24].copy_from_slice(&(entries + 1).to_le_bytes());
    let mut short = Incarnation::open(region, f.geometry).unwrap();
    let mut flash = f.flash.clone();
    let err = short.load_filter(&mut flash).unwrap_err();
    assert!(
        matches!(err, HashStoreError::EntryCount { expected, found }
            if (expected, found) == (entries + 1, entries)),
        "{err}"
    );
    assert!(short.filter().is_none());
}

/// A filter page that no longer checks out (bits past the ECC, another
/// incarnation's page, erased) is rebuilt from the buckets, and says so;
/// answers are the same and the rebuilt filter names the same buckets.
#[test]
fn a_damaged_filter_is_rebuilt_from_the_buckets() {
    use logstore::testing::FilterLoad;
    let f = frozen(512, 6, 4, 31);
    let first_filter_page = f.incarnation.page_addr(f.incarnation.bucket_pages());
    let mut loaded = Incarnation::open(f.incarnation.region().clone(), f.geometry).unwrap();
    let mut flash = f.flash.clone();
    assert_eq!(loaded.load_filter(&mut flash).unwrap(), FilterLoad::Loaded);
    for damage in 0..3 {
        let mut image = f.flash.image();
        let at = f.geometry.page_offset(first_filter_page) as usize;
        let page = &mut image[at..at + f.geometry.page_bytes as usize];
        match damage {
            0 => page[40] ^= 0x10,
            1 => page[4..12].copy_from_slice(&[0xff; 8]),
            _ => page.fill(0xff),
        }
        let mut flash = SimFlash::from_image(SimConfig::new(f.geometry), &image, 0).unwrap();
        let mut rebuilt = Incarnation::open(f.incarnation.region().clone(), f.geometry).unwrap();
        assert_eq!(
            rebuilt.load_filter(&mut flash).unwrap(),
            FilterLoad::Rebuilt,
            "damage {damage}"
        );
        let (a, b) = (loaded.filter().unwrap(), rebuilt.filter().unwrap());
        for (hash, _) in f.probes() {
            assert_eq!(a.candidates(&hash), b.candidates(&hash));
        }
        check_answers(&rebuilt, &mut flash, &f.table, &f.absent);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A filter that answers falsely (every absent hash, and every stored
    /// one in both its buckets) costs reads, never an answer.
    #[test]
    fn a_filter_false_positive_never_changes_an_answer(
        seed in any::<u64>(),
        order in 3u32..7,
        bucket_slots in prop::sample::select(vec![2usize, 4, 8]),
        fill in 0.0f64..0.95,
    ) {
        let g = geometry(512, 8, 64);
        let table = random_table(order, bucket_slots, fill, seed);
        let absent = absent_hashes(64, seed);
        let mut flash = device(g, seed);
        let mut inc = Incarnation::freeze(&mut flash, &mut allocator(g), GENERATION, &table).unwrap();
        // Every hash's tag in both its buckets: as many slots a bucket as
        // the fullest needs.
        let mut tagged: std::collections::BTreeMap<u64, Vec<&Hash>> = Default::default();
        for hash in table.iter().map(|(h, _)| h).chain(&absent) {
            let (first, second) = (logstore::testing::h1(hash, order), logstore::testing::h2(hash, order));
            tagged.entry(first).or_default().push(hash);
            if second != first {
                tagged.entry(second).or_default().push(hash);
            }
        }
        let slots = tagged.values().map(Vec::len).max().unwrap_or(1);
        let lying = logstore::testing::HashFilter::build(
            order,
            slots,
            tagged
                .iter()
                .flat_map(|(b, hashes)| hashes.iter().enumerate().map(|(s, h)| (*b, s, *h))),
        );
        inc.set_filter(Some(lying));
        let before = flash.counters().reads;
        check_answers(&inc, &mut flash, &table, &absent);
        // Each absent hash passed the filter, so it was looked for.
        prop_assert!(flash.counters().reads - before >= absent.len() as u64);
    }
}

/// The store's open loads every filter from flash and rebuilds a damaged
/// one, counted in the recovery report; no answer changes.
#[test]
fn open_rebuilds_a_damaged_filter_and_reports_it() {
    use logstore::{Store, StoreConfig};
    let info = |n: usize| Info {
        physical_sector: n as u64,
        first_logical_sector: 0,
    };
    let g = geometry(512, 16, 256);
    // 8 journal blocks: 64 pages on a part declaring no pairing.
    let mut store = Store::create(device(g, 3), StoreConfig::new(8, 8)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let hashes: Vec<Hash> = (0..3_000).map(|_| random_hash(&mut rng)).collect();
    for (n, hash) in hashes.iter().enumerate() {
        store.insert(*hash, info(n)).unwrap();
    }
    store.flush().unwrap();
    let regions = store.incarnation_regions();
    assert!(regions.len() >= 2);
    let flash = store.into_flash();
    let (_, report) = Store::open(flash.clone()).unwrap();
    assert_eq!(report.filters_rebuilt, 0);
    let mut image = flash.image();
    let inc = Incarnation::open(regions[1].clone(), g).unwrap();
    let at = g.page_offset(inc.page_addr(inc.bucket_pages())) as usize;
    image[at..at + 64].fill(0);
    let flash = SimFlash::from_image(SimConfig::new(g), &image, 0).unwrap();
    let (mut store, report) = Store::open(flash).unwrap();
    assert_eq!(report.filters_rebuilt, 1);
    for (n, hash) in hashes.iter().enumerate() {
        assert_eq!(store.get(hash).unwrap(), Some(info(n)));
    }
}

/// An incarnation read back as a table (what a rewrite freezes again) has
/// its shape and every entry where it was, whatever the bucket size.
#[test]
fn read_table_keeps_the_shape_and_the_placement() {
    let g = geometry(512, 8, 64);
    for bucket_slots in [2, 4, 8] {
        let table = random_table(5, bucket_slots, 0.9, 40 + bucket_slots as u64);
        let mut flash = device(g, 40);
        let inc = Incarnation::freeze(&mut flash, &mut allocator(g), GENERATION, &table).unwrap();
        let back = inc.read_table(&mut flash).unwrap();
        assert_eq!((inc.order(), inc.bucket_slots()), (5, bucket_slots));
        assert_eq!(back.config().bucket_slots, bucket_slots);
        assert_eq!(back.config().order, 5);
        for bucket in 0..table.buckets() {
            assert!(
                table.bucket(bucket).eq(back.bucket(bucket)),
                "B = {bucket_slots}, bucket {bucket}"
            );
        }
    }
}

/// A freeze takes exactly the blocks `blocks_max` names, whatever the table
/// holds (the worn-out rule counts on it): bucket pages and a tag a slot.
#[test]
fn a_freeze_takes_the_blocks_blocks_max_names() {
    for (page_bytes, order, bucket_slots) in [(512, 6, 4), (512, 9, 2), (2048, 10, 8)] {
        let g = geometry(page_bytes, 8, 256);
        let max = Incarnation::blocks_max(g, order, bucket_slots).unwrap();
        for fill in [0.0, 0.5, 0.95] {
            let table = random_table(order, bucket_slots, fill, u64::from(order));
            let mut flash = device(g, 1);
            let inc =
                Incarnation::freeze(&mut flash, &mut allocator(g), GENERATION, &table).unwrap();
            assert_eq!(
                inc.region().blocks.len() as u64,
                max,
                "order {order}, fill {fill}"
            );
        }
        // A device of exactly that many blocks, all free, holds it.
        let exact = geometry(page_bytes, 8, max as u32);
        let table = random_table(order, bucket_slots, 0.9, 3);
        let mut alloc = Allocator::new(exact.blocks, vec![0; exact.blocks as usize]);
        Incarnation::freeze(&mut device(exact, 1), &mut alloc, GENERATION, &table)
            .unwrap_or_else(|e| panic!("{max} blocks, order {order}: {e}"));
    }
}

/// Filter pages that check out but belong to another incarnation (another
/// generation, the same shape) are not taken: the filter is rebuilt.
#[test]
fn another_incarnations_filter_page_is_not_taken() {
    use logstore::testing::FilterLoad;
    use logstore::Flash as _;
    let g = geometry(512, 8, 64);
    let (a, b) = (random_table(6, 4, 0.9, 1), random_table(6, 4, 0.9, 2));
    let mut flash = device(g, 1);
    let mut alloc = allocator(g);
    let inc_a = Incarnation::freeze(&mut flash, &mut alloc, GENERATION, &a).unwrap();
    let inc_b = Incarnation::freeze(&mut flash, &mut alloc, GENERATION + 1, &b).unwrap();
    flash.sync().unwrap();
    let mut image = flash.image();
    let page_bytes = g.page_bytes as usize;
    let from = g.page_offset(inc_b.page_addr(inc_b.bucket_pages())) as usize;
    let to = g.page_offset(inc_a.page_addr(inc_a.bucket_pages())) as usize;
    let page = image[from..from + page_bytes].to_vec();
    image[to..to + page_bytes].copy_from_slice(&page);
    let mut flash = SimFlash::from_image(SimConfig::new(g), &image, 0).unwrap();
    let mut loaded = Incarnation::open(inc_a.region().clone(), g).unwrap();
    assert_eq!(loaded.load_filter(&mut flash).unwrap(), FilterLoad::Rebuilt);
    check_answers(&loaded, &mut flash, &a, &absent_hashes(64, 1));
    // A scrub names that page a damaged filter page, not a lost bucket page.
    let checked = loaded.check_pages(&mut flash, 0..loaded.pages()).unwrap();
    assert_eq!(checked.filter_pages_damaged, 1);
    assert!(checked.lost.is_empty() && checked.status.scrub);
}

/// A lookup whose page read needed three quarters of the ECC's strength
/// finds its entry and says the page wants a scrub; on a clean page not.
#[test]
fn a_lookup_near_the_ecc_limit_asks_for_a_scrub() {
    use logstore::testing::{h1, h2};
    let g = logstore_sim::nand::Device::Slc.small_geometry(64);
    let order = 4;
    let table = random_table(order, 4, 0.5, 7);
    let flash = SimFlash::new(SimConfig::new(g), 0).unwrap();
    let mut media = logstore::testing::Media::new(flash).unwrap();
    let inc = Incarnation::freeze(&mut media, &mut allocator(g), GENERATION, &table).unwrap();
    let (hash, value) = table.iter().map(|(h, v)| (*h, *v)).next().unwrap();
    let mut buf = Vec::new();
    let clean = inc.lookup(&mut media, &hash, &mut buf).unwrap();
    assert_eq!((clean.value, clean.scrub), (Some(value), false));
    let threshold = (g.ecc_bits * 3).div_ceil(4);
    let mut pages = vec![page_of_bucket(&inc, g, h1(&hash, order))];
    pages.push(page_of_bucket(&inc, g, h2(&hash, order)));
    pages.dedup();
    for page in pages {
        for bit in 0..threshold {
            media.inner_mut().flip_bit(page, bit * 8 + 1).unwrap();
        }
    }
    let worn = inc.lookup(&mut media, &hash, &mut buf).unwrap();
    assert_eq!((worn.value, worn.scrub), (Some(value), true));
}

/// A filter page and a bucket page both gone: the filter is rebuilt from
/// the other buckets and is blind on the lost page, so every hash with a
/// candidate bucket there is looked for in it and answers a typed error
/// naming it; every other hash is answered right.
#[test]
fn a_filter_rebuilt_without_a_lost_bucket_page_sends_its_lookups_there() {
    use logstore::testing::{h1, h2, FilterLoad};
    let f = frozen(512, 6, 4, 33);
    let (g, inc) = (f.geometry, &f.incarnation);
    let lost = inc.bucket_pages() / 2;
    let mut image = f.flash.image();
    for page in [inc.page_addr(lost), inc.page_addr(inc.bucket_pages())] {
        let at = g.page_offset(page) as usize;
        image[at..at + g.page_bytes as usize].fill(0xff);
    }
    let mut flash = SimFlash::from_image(SimConfig::new(g), &image, 0).unwrap();
    let mut blind = Incarnation::open(inc.region().clone(), g).unwrap();
    assert_eq!(
        blind.load_filter(&mut flash).unwrap(),
        FilterLoad::Blind { pages: 1 }
    );
    assert_eq!(blind.lost_pages(), [lost]);
    let per_page = u64::from(inc.buckets_per_page());
    let (mut named, mut served) = (0, 0);
    for (hash, expected) in f.probes() {
        let order = inc.order();
        let candidates = [h1(&hash, order), h2(&hash, order)];
        let home = candidates.into_iter().find(|&b| {
            f.table
                .bucket(b)
                .any(|e| e.is_some_and(|(h, _)| *h == hash))
        });
        // Stored: lost with its page. Absent: looked for in the lost page
        // when a candidate bucket lies there.
        let lost_here = match home {
            Some(bucket) => bucket / per_page == lost,
            None => candidates.iter().any(|b| b / per_page == lost),
        };
        match get_counted(&blind, &mut flash, &hash) {
            Err(HashStoreError::Corrupt { page, why }) if lost_here => {
                assert_eq!((page, why), (inc.page_addr(lost), PageFault::Erased));
                named += 1;
            }
            Ok(got) if !lost_here => {
                assert_eq!(got, expected);
                served += 1;
            }
            other => panic!("lost with the page: {lost_here}, got {other:?}"),
        }
    }
    assert!(named > 0 && served > 0, "{named} named, {served} served");
}
