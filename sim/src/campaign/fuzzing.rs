//! The bodies of the fuzz targets: each takes the raw input bytes, so the same
//! body runs under libFuzzer (`fuzz/`, thin `fuzz_target!`s) and under
//! `cargo test` (`sim/tests/corpus.rs` replays every corpus file).
//!
//! Structured inputs are decoded with `arbitrary` exactly as `libfuzzer-sys`
//! does ([`decode`]). Promises: every body is bounded (ops, device size,
//! policy bounds are capped here) and panics only on a finding: a broken
//! guarantee of DESIGN.md, or a panic inside the code under test.

use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use logstore::errors::CuckooError;
use logstore::testing::format::{reseal, seal_page, seal_record, Page};
use logstore::testing::{h1, h2, AnchorRecord, CuckooConfig, CuckooTable, Log};
use logstore::{Geometry, Hash, Info, Pairing, Policy, SlotLayoutKind, Store, StoreConfig};

use crate::check::workload::Step;
use crate::check::{Aging, CheckConfig, Runner};
use crate::nand::{CrashMode, Device, FaultRates, SimConfig, SimFlash};

/// A target's body: the input bytes in, a panic on a finding.
pub type Body = fn(&[u8]);

/// The targets, by name: the `fuzz/fuzz_targets/<name>.rs` files and the
/// `corpus/<name>/` folders.
pub const TARGETS: [(&str, Body); 4] = [
    ("ops", ops),
    ("image", image),
    ("cuckoo", cuckoo),
    ("journal", journal),
];

/// The body of target `name`, if there is one.
pub fn target(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Decodes `bytes` as `libfuzzer-sys`'s `fuzz_target!(|input: T| ..)` does:
/// too short for `T`'s size hint, or not decodable, is `None` (rejected).
pub fn decode<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    if bytes.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

// ---------------------------------------------------------------- ops

/// Most steps one `ops` input runs.
pub const OPS_STEPS_MAX: usize = 256;
/// Keys of the `ops` target: a small space, so overwrites and deletes hit.
pub const OPS_KEYS: u64 = 40;

/// An `ops` input: a small store configuration (the part, and the pairing
/// it declares and follows, by the device seed), device faults and a
/// sequence of steps, run against the model by [`crate::check::run`].
#[derive(Arbitrary, Clone, Debug)]
pub struct OpsInput {
    pub config: OpsConfig,
    pub faults: Option<OpsFaults>,
    pub steps: Vec<OpStep>,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct OpsConfig {
    /// 2, 4 or 8 slots a bucket.
    pub bucket_slots: u8,
    /// Order 2..=5.
    pub order: u8,
    /// 1..=3 journal blocks.
    pub journal_blocks: u8,
    pub policy: PolicyChoice,
    /// 1..=4 incarnations (low bits); the high bit evicts the oldest when
    /// full instead of answering `Full`.
    pub incarnations_max: u8,
    /// The compact (tag + journal position) slot layout instead of the
    /// full one. (This byte once chose eviction, which the model cannot
    /// follow; keeping its place keeps the corpus decoding the same.)
    pub compact: bool,
    pub seed: u8,
    pub device_seed: u8,
}

/// Program and erase failure rates, in 1/1024 per operation, at most 31/1024.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct OpsFaults {
    pub program_fail: u8,
    pub erase_fail: u8,
}

/// A cuckoo insert policy with small bounds.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum PolicyChoice {
    /// At most 63 kicks, 7 retries.
    RandomWalk { max_kicks: u8, retries: u8 },
    /// Depth at most 7.
    Bfs { max_depth: u8 },
    /// At most 63 kicks.
    FixedVictim { max_kicks: u8 },
}

impl PolicyChoice {
    pub fn policy(self) -> Policy {
        match self {
            PolicyChoice::RandomWalk { max_kicks, retries } => Policy::RandomWalk {
                max_kicks: u32::from(max_kicks % 64),
                retries: u32::from(retries % 8),
            },
            PolicyChoice::Bfs { max_depth } => Policy::Bfs {
                max_depth: u32::from(max_depth % 8),
            },
            PolicyChoice::FixedVictim { max_kicks } => Policy::FixedVictim {
                max_kicks: u32::from(max_kicks % 64),
            },
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum OpStep {
    Insert {
        key: u8,
        info: u16,
    },
    Delete {
        key: u8,
    },
    Get {
        key: u8,
    },
    Flush,
    /// Power lost at the `after_ops % 64`-th next mutating flash operation.
    CutPower {
        after_ops: u8,
        mode: ModeChoice,
    },
    Reopen,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ModeChoice {
    DropUnsynced,
    Reorder,
    Torn,
}

impl From<ModeChoice> for CrashMode {
    fn from(mode: ModeChoice) -> Self {
        match mode {
            ModeChoice::DropUnsynced => CrashMode::DropUnsynced,
            ModeChoice::Reorder => CrashMode::Reorder,
            ModeChoice::Torn => CrashMode::Torn,
        }
    }
}

/// The pairing a part declares and its cells follow, by the device
/// seed's top three bits: 0 honest (as the part declares); 1 to 4 the
/// part declares none, dist3, dist5 or tlc2 while its cells pair as
/// before; 5 to 7 it declares as before while its cells pair as dist5,
/// tlc2, or (by `wide`'s low three bits) dist3 or an MLC lead no known
/// scheme covers (1, 4, 6 or 8: damage the store cannot avoid, so its
/// losses must be named).
fn mismatched_pairing(choice: u8, wide: u8) -> (Option<Pairing>, Option<Pairing>) {
    let dist3 = Pairing::Mlc { lead: 2 };
    let dist5 = Pairing::Mlc { lead: 3 };
    match choice & 7 {
        1 => (None, Some(Pairing::None)),
        2 => (None, Some(dist3)),
        3 => (None, Some(dist5)),
        4 => (None, Some(Pairing::Tlc2)),
        5 => (Some(dist5), None),
        6 => (Some(Pairing::Tlc2), None),
        7 => match wide & 7 {
            4 => (Some(Pairing::Mlc { lead: 1 }), None),
            5 => (Some(Pairing::Mlc { lead: 4 }), None),
            6 => (Some(Pairing::Mlc { lead: 6 }), None),
            7 => (Some(Pairing::Mlc { lead: 8 }), None),
            _ => (Some(dist3), None),
        },
        _ => (None, None),
    }
}

/// The part every `ops` input runs on when `LOGSTORE_FUZZ_DEVICE` names
/// one (`ideal`, `slc`, `mlc` or `tlc`): a campaign on one preset, as
/// `LOGSTORE_FUZZ_DEVICE=mlc cargo fuzz run -s none ops`. Unset, the input
/// draws it. An unknown name stops the run with a message.
fn pinned_device() -> Option<Option<Device>> {
    static PINNED: std::sync::OnceLock<Option<Option<Device>>> = std::sync::OnceLock::new();
    *PINNED.get_or_init(|| {
        let name = std::env::var("LOGSTORE_FUZZ_DEVICE").ok()?;
        if name == "ideal" {
            return Some(None);
        }
        match Device::ALL.into_iter().find(|d| d.name() == name) {
            Some(device) => Some(Some(device)),
            None => {
                eprintln!("LOGSTORE_FUZZ_DEVICE={name}: not a device; one of ideal, slc, mlc, tlc");
                std::process::exit(2)
            }
        }
    })
}

fn bucket_slots(choice: u8) -> usize {
    [2, 4, 8][usize::from(choice % 3)]
}

impl OpsInput {
    /// The check configuration: 40 blocks of 512-byte pages, on no part (8
    /// pages a block) or a preset part's small geometry, aged.
    pub fn check_config(&self) -> CheckConfig {
        let c = self.config;
        let mut store = StoreConfig::new(
            2 + u32::from(c.order % 4),
            1 + u32::from(c.journal_blocks % 3),
        );
        store.bucket_slots = bucket_slots(c.bucket_slots);
        store.policy = c.policy.policy();
        store.incarnations_max = 1 + u32::from(c.incarnations_max % 4);
        store.evict_oldest = c.incarnations_max & 0x80 != 0;
        store.layout = if c.compact {
            SlotLayoutKind::Compact
        } else {
            SlotLayoutKind::Full
        };
        store.seed = u64::from(c.seed);
        let faults = self.faults.map_or(FaultRates::default(), |f| FaultRates {
            read_flip: 0.0,
            program_fail: f64::from(f.program_fail % 32) / 1024.0,
            erase_fail: f64::from(f.erase_fail % 32) / 1024.0,
        });
        // The device seed's low two bits pick the part (or none), the next
        // three its wear, the top three a pairing it declares wrongly; the table seed's high bits the days a power cut
        // lasts.
        let drawn = [
            None,
            Some(Device::Slc),
            Some(Device::Mlc),
            Some(Device::Tlc),
        ][usize::from(c.device_seed % 4)];
        let device = pinned_device().unwrap_or(drawn);
        let geometry = device.map_or_else(
            || Geometry::new(512, 8, 40).expect("valid geometry"),
            |d| d.small_geometry(40),
        );
        let aging = Aging {
            wear: f64::from((c.device_seed >> 2) & 7) / 10.0,
            days_per_power_cut: 30.0 * f64::from(c.seed >> 5),
        };
        let config = CheckConfig {
            geometry,
            store,
            faults,
            device_seed: u64::from(c.device_seed),
            device,
            aging,
            endurance_cycles: None,
            wear_out: None,
            error_model: None,
            bad_blocks: Vec::new(),
            pairing_physical: None,
        };
        let (physical, declared) = mismatched_pairing(c.device_seed >> 5, c.seed >> 1);
        // A scheme that does not fit the part's blocks leaves it honest.
        config
            .clone()
            .with_pairing(physical, declared)
            .unwrap_or(config)
    }

    /// The workload steps, at most [`OPS_STEPS_MAX`].
    pub fn steps(&self) -> Vec<Step> {
        let key = |k: u8| u64::from(k) % OPS_KEYS;
        self.steps
            .iter()
            .take(OPS_STEPS_MAX)
            .map(|step| match *step {
                OpStep::Insert { key: k, info } => Step::Insert {
                    key: key(k),
                    info: u64::from(info),
                },
                OpStep::Delete { key: k } => Step::Delete { key: key(k) },
                OpStep::Get { key: k } => Step::Get { key: key(k) },
                OpStep::Flush => Step::Flush,
                OpStep::CutPower { after_ops, mode } => Step::CutPower {
                    after_ops: u32::from(after_ops % 64),
                    mode: mode.into(),
                },
                OpStep::Reopen => Step::Reopen,
            })
            .collect()
    }
}

/// Target `ops`: store operations, flushes, power cuts and reopens against
/// the model. A [`crate::check::CheckFailure`] is a finding.
pub fn ops(data: &[u8]) {
    let Some(input) = decode::<OpsInput>(data) else {
        return;
    };
    let config = input.check_config();
    let steps = input.steps();
    let faulty = config.faults != FaultRates::default();
    // As `check::run`, but formatting a faulty device may fail (a bad
    // anchor block cannot be routed around): that is no finding.
    let mut runner = match Runner::new(&config) {
        Ok(runner) => runner,
        Err(_) if faulty => return,
        Err(error) => panic!("ops: {error}\nconfig: {config:?}"),
    };
    let result = steps
        .iter()
        .enumerate()
        .try_for_each(|(index, step)| runner.step(step).map_err(|e| format!("step {index}: {e}")))
        .and_then(|()| runner.finish(true).map(|_| ()));
    if let Err(failure) = result {
        panic!("ops: {failure}\nconfig: {config:?}\nsteps: {steps:?}");
    }
}

// ---------------------------------------------------------------- image

/// The device of the `image` target: 256-byte pages, 8 a block, 16 blocks.
pub fn image_geometry() -> Geometry {
    Geometry::new(256, 8, 16).expect("valid geometry")
}

/// Bytes of an `image` input's device: shorter inputs are padded with 0xFF
/// (erased), longer ones truncated.
pub const IMAGE_BYTES: usize = 256 * 8 * 16;

/// The input as a whole device image.
pub fn image_bytes(data: &[u8]) -> Vec<u8> {
    let mut image = data[..data.len().min(IMAGE_BYTES)].to_vec();
    image.resize(IMAGE_BYTES, 0xFF);
    image
}

/// Target `image`: the input as a whole device image, as it is and with its
/// checksums fixed. Opening must give a typed error or a consistent store.
pub fn image(data: &[u8]) {
    let geometry = image_geometry();
    let mut image = image_bytes(data);
    check_image(&image, geometry);
    let raw = image.clone();
    reseal(&mut image, geometry);
    if image != raw {
        check_image(&image, geometry);
    }
}

fn device(image: &[u8], geometry: Geometry) -> SimFlash {
    SimFlash::from_image(SimConfig::new(geometry), image, 0).expect("an image of the device's size")
}

fn check_image(image: &[u8], geometry: Geometry) {
    let flash = device(image, geometry);
    let Ok((log, _entries, _report)) = Log::open(flash.clone()) else {
        return;
    };
    drop(log);
    let Ok((mut store, _report)) = Store::open(flash) else {
        return;
    };
    let before = store.contents().ok();
    let probes: Vec<Hash> = before
        .iter()
        .flatten()
        .take(4)
        .map(|(hash, _)| *hash)
        .chain([[0u8; 32], [0xFF; 32]])
        .collect();
    for hash in &probes {
        let found = store.get(hash);
        if let (Ok(found), Some(before)) = (&found, &before) {
            let expected = before.iter().find(|(h, _)| h == hash).map(|(_, i)| *i);
            assert_eq!(*found, expected, "get disagrees with contents");
        }
    }
    // A plain reopen finds the same store.
    let flash = store.into_flash();
    let (mut store, _report) = match Store::open(flash) {
        Ok(opened) => opened,
        Err(error) => panic!("a store that opened does not reopen: {error}"),
    };
    if let (Some(before), Ok(after)) = (&before, store.contents()) {
        assert_eq!(before, &after, "contents changed across a plain reopen");
    }
    // What is flushed survives a reopen.
    let hash = [0x5A; 32];
    let info = Info {
        physical_sector: 7,
        first_logical_sector: 9,
    };
    if store.insert(hash, info).is_err() || store.flush().is_err() {
        return;
    }
    let (mut store, _report) = match Store::open(store.into_flash()) {
        Ok(opened) => opened,
        Err(error) => panic!("reopen after a flushed insert: {error}"),
    };
    match store.get(&hash) {
        Ok(found) => assert_eq!(found, Some(info), "a flushed insert is lost"),
        Err(error) => panic!("get of a flushed insert: {error}"),
    }
}

/// Images of real stores on the `image` device, trailing erased bytes
/// trimmed: seeds for `corpus/image/`. Each is a store after `ops` steps
/// (some with a freeze, some with deletes and a pack) and a flush.
pub fn image_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (order, slots, journal_blocks, keys) in
        [(2, 4, 1, 3u64), (2, 4, 1, 40), (3, 2, 2, 30), (2, 2, 1, 60)]
    {
        let flash = SimFlash::new(SimConfig::new(image_geometry()), 1).expect("device");
        let mut config = StoreConfig::new(order, journal_blocks);
        config.bucket_slots = slots;
        config.incarnations_max = 2;
        config.evict_oldest = true;
        let mut store = Store::create(flash, config).expect("create");
        for key in 0..keys {
            let hash = crate::check::workload::hash_of(key % 24);
            if key % 5 == 4 {
                store.delete(&hash).expect("delete");
            } else {
                store
                    .insert(hash, crate::check::workload::info_of(key))
                    .expect("insert");
            }
        }
        store.flush().expect("flush");
        let mut image = store.into_flash().image();
        let used = image.iter().rposition(|&b| b != 0xFF).map_or(0, |p| p + 1);
        image.truncate(used);
        seeds.push(image);
    }
    seeds
}

// ---------------------------------------------------------------- cuckoo

/// Most operations one `cuckoo` input runs.
pub const CUCKOO_OPS_MAX: usize = 512;

/// A `cuckoo` input: a small table and operations on adversarial keys.
#[derive(Arbitrary, Clone, Debug)]
pub struct CuckooInput {
    /// 2, 4 or 8 slots a bucket.
    pub bucket_slots: u8,
    /// Order 0..=4.
    pub order: u8,
    pub policy: PolicyChoice,
    pub seed: u8,
    pub ops: Vec<CuckooOp>,
}

/// A key whose first two words (h1, h2 before masking) come from a tiny
/// set, so many keys share buckets; `same` forces h2 == h1.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct KeyChoice {
    pub w1: u8,
    pub w2: u8,
    pub same: bool,
    pub tail: u8,
}

impl KeyChoice {
    pub fn hash(self) -> Hash {
        let w1 = u64::from(self.w1 % 16) | (u64::from(self.tail) << 40);
        let w2 = if self.same {
            w1
        } else {
            u64::from(self.w2 % 16) | (u64::from(self.tail) << 48)
        };
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&w1.to_le_bytes());
        hash[8..16].copy_from_slice(&w2.to_le_bytes());
        hash[16] = self.tail % 8;
        hash
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum CuckooOp {
    Insert { key: KeyChoice, value: u16 },
    Remove { key: KeyChoice },
    Get { key: KeyChoice },
    Clear,
}

/// Every stored (bucket, slot, hash, value), in bucket order.
fn layout(table: &CuckooTable<u16>) -> Vec<(u64, usize, Hash, u16)> {
    (0..table.buckets())
        .flat_map(|bucket| {
            table
                .bucket(bucket)
                .enumerate()
                .filter_map(move |(slot, e)| e.map(|(h, v)| (bucket, slot, *h, *v)))
        })
        .collect()
}

/// Target `cuckoo`: adversarial keys against a `HashMap`; a `Full` insert
/// must leave the table exactly as it was.
pub fn cuckoo(data: &[u8]) {
    let Some(input) = decode::<CuckooInput>(data) else {
        return;
    };
    let order = u32::from(input.order % 5);
    let config = CuckooConfig {
        order,
        bucket_slots: bucket_slots(input.bucket_slots),
        policy: input.policy.policy(),
        seed: u64::from(input.seed),
    };
    let mut table = CuckooTable::<u16>::new(config).expect("a valid configuration");
    let mut model: HashMap<Hash, u16> = HashMap::new();
    for (index, op) in input.ops.iter().take(CUCKOO_OPS_MAX).enumerate() {
        match *op {
            CuckooOp::Insert { key, value } => {
                let hash = key.hash();
                let before = layout(&table);
                match table.insert(hash, value) {
                    Ok(previous) => {
                        assert_eq!(previous, model.insert(hash, value), "op {index}: insert");
                    }
                    Err(CuckooError::Full { len, capacity }) => {
                        assert!(
                            !model.contains_key(&hash),
                            "op {index}: overwriting a present hash returned Full"
                        );
                        assert_eq!(len, model.len() as u64, "op {index}: Full len");
                        assert_eq!(capacity, table.capacity());
                        assert_eq!(before, layout(&table), "op {index}: Full changed the table");
                    }
                    Err(other) => panic!("op {index}: insert failed: {other}"),
                }
            }
            CuckooOp::Remove { key } => {
                let hash = key.hash();
                assert_eq!(
                    table.remove(&hash),
                    model.remove(&hash),
                    "op {index}: remove"
                );
            }
            CuckooOp::Get { key } => {
                let hash = key.hash();
                assert_eq!(table.get(&hash), model.get(&hash), "op {index}: get");
                assert_eq!(table.contains(&hash), model.contains_key(&hash));
            }
            CuckooOp::Clear => {
                table.clear();
                model.clear();
            }
        }
        check_table(&table, &model, order, index);
    }
}

fn check_table(table: &CuckooTable<u16>, model: &HashMap<Hash, u16>, order: u32, index: usize) {
    assert_eq!(table.len(), model.len() as u64, "op {index}: len");
    let entries = layout(table);
    assert_eq!(entries.len(), model.len(), "op {index}: entries");
    for (bucket, _slot, hash, value) in &entries {
        assert!(
            *bucket == h1(hash, order) || *bucket == h2(hash, order),
            "op {index}: hash in bucket {bucket}, neither h1 nor h2"
        );
        assert_eq!(
            model.get(hash),
            Some(value),
            "op {index}: entry not in the model"
        );
    }
}

// ---------------------------------------------------------------- journal

/// Bytes of the page the `journal` target decodes.
pub const JOURNAL_PAGE_BYTES: usize = 256;

/// Target `journal`: the input as a journal page (padded with 0xFF or
/// truncated), as it is and with its CRC fixed, through `Page::decode`; a
/// decoded page must round-trip. Also the whole input, as it is and with
/// its CRC fixed, through `AnchorRecord::decode`.
pub fn journal(data: &[u8]) {
    let mut page = data[..data.len().min(JOURNAL_PAGE_BYTES)].to_vec();
    page.resize(JOURNAL_PAGE_BYTES, 0xFF);
    check_page(&page);
    seal_page(&mut page);
    check_page(&page);

    check_anchor(data);
    let mut fixed = data.to_vec();
    if seal_record(&mut fixed) {
        check_anchor(&fixed);
    }
}

fn check_page(bytes: &[u8]) {
    if let Ok(page) = Page::decode(bytes) {
        let encoded = page.encode(bytes.len());
        assert_eq!(encoded.len(), bytes.len());
        assert_eq!(Page::decode(&encoded), Ok(page), "page round trip");
    }
}

fn check_anchor(bytes: &[u8]) {
    if let Ok(Some((record, len))) = AnchorRecord::decode(bytes) {
        assert!(len <= bytes.len(), "anchor record longer than its bytes");
        let _ = record.validate(16);
        let encoded = record.encode();
        match AnchorRecord::decode(&encoded) {
            Ok(Some((again, again_len))) => {
                assert_eq!(again, record, "anchor record round trip");
                assert_eq!(again_len, encoded.len());
            }
            other => panic!("a decoded anchor record does not decode re-encoded: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_images_open_and_fixing_them_changes_nothing() {
        for seed in image_seeds() {
            let mut image = image_bytes(&seed);
            let raw = image.clone();
            reseal(&mut image, image_geometry());
            assert_eq!(image, raw);
            let (mut store, _) = Store::open(device(&image, image_geometry())).unwrap();
            assert!(!store.contents().unwrap().is_empty());
            check_image(&image, image_geometry());
        }
    }

    /// Writes the hand-made seeds into `corpus/` (run once, then fuzz and
    /// `cargo fuzz cmin`): `cargo test -p logstore-sim --lib write_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_seeds() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
        let write = |target: &str, name: String, bytes: &[u8]| {
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        for (i, image) in image_seeds().iter().enumerate() {
            write("image", format!("seed-store-{i}"), image);
        }
        let page = Page {
            epoch: 1,
            generation: 1,
            sequence: 3,
            synced_through: Some(2),
            erase_count: 4,
            entries: vec![
                logstore::testing::format::Entry::Hash {
                    hash: [7; 32],
                    info: Info::default(),
                },
                logstore::testing::format::Entry::Tombstone { hash: [9; 32] },
            ],
        };
        write(
            "journal",
            "seed-page".into(),
            &page.encode(JOURNAL_PAGE_BYTES),
        );
        let image = image_bytes(&image_seeds()[1]);
        write(
            "journal",
            "seed-anchor".into(),
            &image[..JOURNAL_PAGE_BYTES],
        );
    }

    /// The device seed's top bits reach a part declaring a pairing its
    /// cells do not follow; a scheme that does not fit leaves it honest.
    #[test]
    fn ops_inputs_reach_a_part_declaring_a_pairing_it_does_not_follow() {
        let input = |device_seed| OpsInput {
            config: OpsConfig {
                bucket_slots: 0,
                order: 0,
                journal_blocks: 0,
                policy: PolicyChoice::Bfs { max_depth: 2 },
                incarnations_max: 0,
                compact: false,
                seed: 0,
                device_seed,
            },
            faults: None,
            steps: Vec::new(),
        };
        let dist3 = Some(Pairing::Mlc { lead: 2 });
        for (device_seed, declared, physical) in [
            (2, Pairing::Mlc { lead: 2 }, None),
            (2 | 1 << 5, Pairing::None, dist3),
            (3 | 6 << 5, Pairing::Tlc, Some(Pairing::Tlc2)),
            (3 | 1 << 5, Pairing::None, Some(Pairing::Tlc)),
            (2 | 6 << 5, Pairing::Mlc { lead: 2 }, None),
            (7 << 5, Pairing::None, dist3),
        ] {
            let config = input(device_seed).check_config();
            assert_eq!(config.geometry.pairing, declared, "{device_seed:#x}");
            assert_eq!(config.pairing_physical, physical, "{device_seed:#x}");
            assert!(config.check().is_ok());
        }
    }

    #[test]
    fn bodies_accept_empty_and_short_inputs() {
        for (_, body) in TARGETS {
            body(&[]);
            body(&[0]);
            body(&[0xFF; 64]);
        }
    }
}
