//! The `image` target: the bytes as a whole device image, opened as is
//! and with its checksums recomputed; the recovered journal read back at
//! every position.

use logstore::testing::format::{entries_per_page, reseal, Entry};
use logstore::testing::Ledger;
use logstore::{Geometry, Hash, Info, Store};

use crate::nand::{SimConfig, SimFlash};

/// The device of the `image` target: 256-byte pages, 8 a block, 16 blocks.
pub(crate) fn image_geometry() -> Geometry {
    Geometry::new(256, 8, 16).expect("valid geometry")
}

/// Bytes of an `image` input's device: shorter inputs are padded with 0xFF
/// (erased), longer ones truncated.
pub(crate) const IMAGE_BYTES: usize = 256 * 8 * 16;

/// The input as a whole device image.
pub fn image_bytes(data: &[u8]) -> Vec<u8> {
    let mut image = data[..data.len().min(IMAGE_BYTES)].to_vec();
    image.resize(IMAGE_BYTES, 0xFF);
    image
}

/// Target `image`: the input as a whole device image, as it is and with its
/// checksums fixed. Opening must give a typed error or a consistent store,
/// whose journal reads back at every position as its recovery kept it.
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

pub(super) fn device(image: &[u8], geometry: Geometry) -> SimFlash {
    SimFlash::from_image(SimConfig::new(geometry), image, 0).expect("an image of the device's size")
}

pub(super) fn check_image(image: &[u8], geometry: Geometry) {
    let flash = device(image, geometry);
    let Ok((mut log, entries, _report)) = Ledger::open(flash.clone()) else {
        return;
    };
    check_positions(&mut log, &entries, geometry);
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

/// Most journal positions one input reads back.
const POSITIONS_MAX: u64 = 4_096;

/// The positions of a recovered journal: every entry the recovery kept
/// reads back at its position, and every other position (past a page's
/// entries, on a page lost or never written, in a gap between runs of
/// the page map, two pages past the end) is an error: never an entry,
/// never a panic.
fn check_positions(log: &mut Ledger<SimFlash>, entries: &[Entry], geometry: Geometry) {
    let kept = log.journal().recovered_positions().to_vec();
    assert_eq!(kept.len(), entries.len(), "an entry a position");
    for (entry, &position) in entries.iter().zip(&kept) {
        match log.read_entry(position) {
            Ok(found) => assert_eq!(found, *entry, "position {position} reads back"),
            Err(error) => panic!("kept entry at position {position} reads {error}"),
        }
    }
    let per_page = entries_per_page(geometry.page_bytes);
    let end = (log.journal().sequences_on_flash().end + 2) * per_page;
    for position in (0..end.min(POSITIONS_MAX)).filter(|p| kept.binary_search(p).is_err()) {
        if let Ok(found) = log.read_entry(position) {
            panic!("position {position}, kept by no recovery, reads {found:?}");
        }
    }
}

/// Images of real stores on the `image` device, trailing erased bytes
/// trimmed: seeds for `corpus/image/` and the stores `craft` crafts.
/// Each is a store after `ops` steps (some with a freeze, some with
/// deletes and a pack) and a flush.
pub(crate) fn image_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (order, slots, journal_blocks, keys) in
        [(2, 4, 1, 3u64), (2, 4, 1, 40), (3, 2, 2, 30), (2, 2, 1, 60)]
    {
        let flash = SimFlash::new(SimConfig::new(image_geometry()), 1).expect("device");
        let mut config = logstore::StoreConfig::new(order, journal_blocks);
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
