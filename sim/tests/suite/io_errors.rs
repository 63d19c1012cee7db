//! Host I/O errors at every operation (SQLite's `ioerr` tests for a flash
//! index): the device under a [`logstore::FileFlash`] can fail any read,
//! program, erase, sync or bad-block query with `EIO`. Whichever operation
//! fails, the store answers a typed error (never a panic), and after a
//! power cut right then, a clean reopen gives back every entry flushed
//! before it, and nothing that was never written or was deleted and
//! flushed.

use std::collections::{BTreeMap, BTreeSet};

use logstore::{
    BlockAddr, Flash, FlashError, Geometry, Hash, Info, PageAddr, ReadStatus, SlotLayoutKind,
    Store, StoreConfig, StoreError, StoreStats,
};
use logstore_sim::{CrashMode, Device, SimConfig, SimFlash};

use crate::common::{hash_of, info_of};

/// A device whose operation number `fail_at` (reads, programs, erases,
/// syncs and bad-block queries counted together, from 0) fails with a host
/// I/O error and does nothing; every other operation reaches the device.
struct FailingAt {
    inner: SimFlash,
    ops: u64,
    fail_at: u64,
}

impl FailingAt {
    fn tick(&mut self) -> Result<(), FlashError> {
        let op = self.ops;
        self.ops += 1;
        if op == self.fail_at {
            return Err(FlashError::Io(std::io::Error::other("injected EIO")));
        }
        Ok(())
    }
}

impl Flash for FailingAt {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }
    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        self.tick()?;
        self.inner.read(page, buf)
    }
    fn read_checked(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        self.tick()?;
        self.inner.read_checked(page, buf)
    }
    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        self.tick()?;
        self.inner.program(page, data)
    }
    fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
        self.tick()?;
        self.inner.erase(block)
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        self.tick()?;
        self.inner.sync()
    }
    fn is_bad(&mut self, block: BlockAddr) -> Result<bool, FlashError> {
        self.tick()?;
        self.inner.is_bad(block)
    }
}

/// What a reopen may hold for each key: its value as of the last flush
/// that succeeded, or any value written to it since (`None`: absent).
/// On a store that evicts, a key may also read as any value it ever had
/// (or absent): an eviction drops what only the oldest incarnation held.
#[derive(Default)]
struct Model {
    durable: BTreeMap<Hash, Info>,
    since_flush: BTreeMap<Hash, BTreeSet<Option<Info>>>,
    current: BTreeMap<Hash, Info>,
    evicting: bool,
    ever: BTreeMap<Hash, BTreeSet<Option<Info>>>,
    /// The store's figures at the end of a run that got there.
    stats: Option<StoreStats>,
}

impl Model {
    fn write(&mut self, hash: Hash, info: Option<Info>) {
        self.since_flush.entry(hash).or_default().insert(info);
        self.ever
            .entry(hash)
            .or_insert_with(|| [None].into())
            .insert(info);
        match info {
            Some(info) => self.current.insert(hash, info),
            None => self.current.remove(&hash),
        };
    }

    fn flushed(&mut self) {
        self.durable = self.current.clone();
        self.since_flush.clear();
    }

    fn allows(&self, hash: &Hash, found: Option<Info>) -> bool {
        let evicted = self.evicting && self.ever.get(hash).is_some_and(|v| v.contains(&found));
        evicted
            || self.durable.get(hash).copied() == found
            || self
                .since_flush
                .get(hash)
                .is_some_and(|values| values.contains(&found))
    }
}

/// A configuration to run the workload on: its device, its store, and
/// whether lookups use the incarnations' filters.
#[derive(Clone, Copy)]
struct Case {
    device: Option<Device>,
    layout: SlotLayoutKind,
    filters: bool,
    /// Drops the oldest incarnation past two: what only it held may go.
    evict: bool,
    /// Midway, pages of an incarnation, of the journal and of the anchor
    /// read at the scrub threshold: the scrub rewrites them.
    decay: bool,
}

const CASES: [Case; 4] = [
    Case {
        device: None,
        layout: SlotLayoutKind::Compact,
        filters: false,
        evict: false,
        decay: false,
    },
    Case {
        device: None,
        layout: SlotLayoutKind::Full,
        filters: true,
        evict: true,
        decay: false,
    },
    Case {
        device: Some(Device::Mlc),
        layout: SlotLayoutKind::Full,
        filters: true,
        evict: false,
        decay: true,
    },
    Case {
        device: Some(Device::Slc),
        layout: SlotLayoutKind::Compact,
        filters: false,
        evict: true,
        decay: true,
    },
];

impl Case {
    fn config(self) -> StoreConfig {
        StoreConfig {
            incarnations_max: if self.evict { 2 } else { 6 },
            evict_oldest: self.evict,
            layout: self.layout,
            ..StoreConfig::new(4, 2)
        }
    }

    /// The device, fresh: an ideal part, or a preset's small geometry
    /// (ECC, bit errors, pairing, factory-bad blocks).
    fn device(self) -> SimFlash {
        let config = match self.device {
            None => SimConfig::new(Geometry::new(512, 8, 40).unwrap()),
            Some(device) => device.sim_config(device.small_geometry(24)),
        };
        SimFlash::new(config, 7).unwrap()
    }
}

const KEYS: u64 = 260;

/// One step of the workload on key `key`: inserts, overwrites, deletes,
/// lookups checked against the model, flushes, scrubs and a clean reopen.
fn step(
    store: &mut Store<&mut FailingAt>,
    model: &mut Model,
    key: u64,
    decay: bool,
) -> Result<(), StoreError> {
    let hash = hash_of(key % 200);
    match key % 11 {
        3 => {
            let info = info_of(key);
            model.write(hash, Some(info));
            store.insert(hash, info)?;
        }
        7 => {
            model.write(hash, None);
            store.delete(&hash)?;
        }
        9 => {
            let probe = hash_of(key / 3);
            let found = store.get(&probe)?;
            let expected = model.current.get(&probe).copied();
            let evicted = model.evicting && found.is_none();
            assert!(
                found == expected || evicted,
                "key {key}: {found:?}, not {expected:?}"
            );
        }
        _ => {
            let info = info_of(key);
            model.write(hash, Some(info));
            store.insert(hash, info)?;
        }
    }
    if key % 16 == 15 {
        store.flush()?;
        model.flushed();
    }
    if key == 140 && decay {
        decay_to_the_scrub_threshold(store);
    }
    if key % 97 == 50 {
        store.scrub(24)?;
    }
    Ok(())
}

/// Flips, in the first ECC step of a page of the oldest incarnation, of
/// the journal and of each anchor lane, as many bits as make a read ask
/// for a scrub (three quarters of what the code corrects), not more.
fn decay_to_the_scrub_threshold(store: &mut Store<&mut FailingAt>) {
    let bits = (store.flash().geometry().ecc_bits * 3).div_ceil(4);
    let oldest = store.incarnation_regions().pop().expect("an incarnation");
    let mut pages = vec![PageAddr {
        block: oldest.blocks[0],
        page: 1,
    }];
    pages.extend(store.journal_page_addrs().first().copied());
    pages.extend(
        store
            .anchor_lanes()
            .iter()
            .map(|&block| PageAddr { block, page: 0 }),
    );
    let device = &mut store.flash_mut().inner;
    for page in pages {
        for bit in 0..bits {
            device.flip_bit(page, bit * 8).unwrap();
        }
    }
}

/// Runs the workload on a device failing at `fail_at`: the first error
/// ends it. Returns the model and whether an error was seen.
fn run(case: Case, flash: &mut FailingAt) -> (Model, bool) {
    let mut model = Model {
        evicting: case.evict,
        ..Model::default()
    };
    let Ok(mut store) = Store::create(&mut *flash, case.config()) else {
        return (model, true);
    };
    store.set_filters(case.filters);
    for key in 0..KEYS {
        if key == KEYS / 2 {
            if store.flush().is_err() {
                return (model, true);
            }
            model.flushed();
            drop(store);
            store = match Store::open(&mut *flash) {
                Ok((store, _)) => store,
                Err(_) => return (model, true),
            };
            store.set_filters(case.filters);
        }
        if step(&mut store, &mut model, key, case.decay).is_err() {
            return (model, true);
        }
    }
    let failed = store.flush().is_err();
    if !failed {
        model.flushed();
    }
    model.stats = Some(store.stats());
    (model, failed)
}

/// Cuts the power (what was not synced is lost), reopens the device
/// without faults and checks every key against the model, and that the
/// store holds nothing else.
fn check(mut inner: SimFlash, model: &Model, fail_at: u64) {
    inner.cut_power_now(CrashMode::DropUnsynced);
    inner.restart();
    let mut store = match Store::open(inner) {
        Ok((store, _)) => store,
        // A create that failed leaves no store, or an empty one.
        Err(_) if model.durable.is_empty() && model.since_flush.is_empty() => return,
        Err(error) => panic!("failing op {fail_at}: reopen failed: {error}"),
    };
    let keys: BTreeSet<Hash> = model
        .durable
        .keys()
        .chain(model.since_flush.keys())
        .copied()
        .collect();
    for hash in &keys {
        let found = store.get(hash).unwrap();
        assert!(
            model.allows(hash, found),
            "failing op {fail_at}: {hash:02x?} reads {found:?}, durable {:?}",
            model.durable.get(hash)
        );
    }
    for (hash, info) in store.contents().unwrap() {
        assert!(
            keys.contains(&hash) && model.allows(&hash, Some(info)),
            "failing op {fail_at}: {hash:02x?} holds {info:?}, never written so"
        );
    }
}

/// A host I/O error at every operation of a workload that fills, freezes,
/// scrubs and reopens: each is a typed error, and after a power cut a
/// clean reopen loses nothing flushed and brings back nothing deleted.
#[test]
fn an_io_error_at_any_operation_is_an_error_and_loses_nothing_flushed() {
    for case in CASES {
        every_operation_failing(case);
    }
}

fn every_operation_failing(case: Case) {
    let mut healthy = FailingAt {
        inner: case.device(),
        ops: 0,
        fail_at: u64::MAX,
    };
    let (model, failed) = run(case, &mut healthy);
    assert!(!failed, "the workload runs clean without a fault");
    check(healthy.inner.clone(), &model, u64::MAX);
    let ops_total = healthy.ops;
    let stats = model.stats.expect("the run got to its end");
    assert!(stats.freezes >= 2, "{stats:?}");
    assert!(!case.evict || stats.evictions >= 1, "{stats:?}");
    assert!(!case.decay || stats.scrubs >= 2, "{stats:?}");
    for fail_at in 0..ops_total {
        let mut flash = FailingAt {
            inner: case.device(),
            ops: 0,
            fail_at,
        };
        let (model, failed) = run(case, &mut flash);
        assert!(failed, "failing op {fail_at} of {ops_total} went unseen");
        check(flash.inner, &model, fail_at);
    }
}

/// A device reporting a geometry no NAND part has (pages of 100 bytes):
/// open refuses it before any I/O and gives the device back.
#[test]
fn a_device_of_a_bad_geometry_is_refused_and_given_back() {
    let bad = BadGeometry(FailingAt {
        inner: Case::device(CASES[0]),
        ops: 0,
        fail_at: u64::MAX,
    });
    let Err((error, returned)) = Store::open_returning(bad) else {
        panic!("a bad geometry opened");
    };
    assert!(
        matches!(error, StoreError::Flash(FlashError::BadGeometry { .. })),
        "{error}"
    );
    assert_eq!(returned.0.ops, 0, "no I/O before the geometry is checked");
}

/// A device whose geometry is out of every supported bound.
struct BadGeometry(FailingAt);

impl Flash for BadGeometry {
    fn geometry(&self) -> Geometry {
        Geometry {
            page_bytes: 100,
            ..self.0.geometry()
        }
    }
    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        self.0.read(page, buf)
    }
    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        self.0.program(page, data)
    }
    fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
        self.0.erase(block)
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        self.0.sync()
    }
}
