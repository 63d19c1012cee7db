//! Host I/O errors at every operation (SQLite's `ioerr` tests for a flash
//! index): the device under a [`logstore::FileFlash`] can fail any read,
//! program, erase, sync or bad-block query with `EIO`. Whichever operation
//! fails, the store answers a typed error (never a panic), and after a
//! power cut right then, a clean reopen gives back every entry flushed
//! before it, and nothing that was never written or was deleted and
//! flushed.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use logstore::{
    BlockAddr, Flash, FlashError, Geometry, Hash, Info, PageAddr, ReadStatus, SlotLayoutKind,
    Store, StoreConfig, StoreError,
};
use logstore_sim::{CrashMode, Device, SimConfig, SimFlash};

use common::{hash_of, info_of};

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
#[derive(Default)]
struct Model {
    durable: BTreeMap<Hash, Info>,
    since_flush: BTreeMap<Hash, BTreeSet<Option<Info>>>,
    current: BTreeMap<Hash, Info>,
}

impl Model {
    fn write(&mut self, hash: Hash, info: Option<Info>) {
        self.since_flush.entry(hash).or_default().insert(info);
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
        self.durable.get(hash).copied() == found
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
}

const CASES: [Case; 3] = [
    Case {
        device: None,
        layout: SlotLayoutKind::Compact,
        filters: false,
    },
    Case {
        device: None,
        layout: SlotLayoutKind::Full,
        filters: true,
    },
    Case {
        device: Some(Device::Mlc),
        layout: SlotLayoutKind::Full,
        filters: true,
    },
];

impl Case {
    fn config(self) -> StoreConfig {
        StoreConfig {
            incarnations_max: 6,
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
            assert_eq!(found, model.current.get(&probe).copied(), "key {key}");
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
    if key % 97 == 50 {
        store.scrub(24)?;
    }
    Ok(())
}

/// Runs the workload on a device failing at `fail_at`: the first error
/// ends it. Returns the model and whether an error was seen.
fn run(case: Case, flash: &mut FailingAt) -> (Model, bool) {
    let mut model = Model::default();
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
        if step(&mut store, &mut model, key).is_err() {
            return (model, true);
        }
    }
    let failed = store.flush().is_err();
    if !failed {
        model.flushed();
    }
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
    let stats = Store::open(healthy.inner).unwrap().0.stats();
    assert!(stats.incarnations >= 3, "{stats:?}");
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
