//! Properties of the NAND simulator: crash semantics per mode, determinism,
//! rule enforcement, wear-out and faults.

use logstore::testing::ERASED;
use logstore::{BlockAddr, Flash, FlashError, Geometry, PageAddr, Rule};
use logstore_sim::{CrashMode, FaultRates, ScheduledFault, SimConfig, SimFlash, WearOut};
use proptest::prelude::*;

fn geometry() -> Geometry {
    Geometry::new(64, 4, 4).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Program { block: u32, salt: u8 },
    Erase { block: u32 },
    Sync,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4u32, any::<u8>()).prop_map(|(block, salt)| Op::Program { block, salt }),
        2 => (0..4u32).prop_map(|block| Op::Erase { block }),
        1 => Just(Op::Sync),
    ]
}

fn mode_strategy() -> impl Strategy<Value = CrashMode> {
    prop_oneof![
        Just(CrashMode::DropUnsynced),
        Just(CrashMode::Reorder),
        Just(CrashMode::Torn)
    ]
}

fn pattern(page: PageAddr, salt: u8) -> Vec<u8> {
    (0..geometry().page_bytes)
        .map(|i| {
            (i as u8).wrapping_mul(31) ^ salt ^ (page.page as u8 * 17) ^ (page.block.0 as u8 * 59)
        })
        .collect()
}

fn read_all(flash: &mut SimFlash) -> Vec<Vec<u8>> {
    let g = geometry();
    (0..g.pages())
        .map(|i| {
            let mut buf = vec![0; g.page_bytes as usize];
            flash.read(g.page_at(i), &mut buf).unwrap();
            buf
        })
        .collect()
}

/// What each page may hold after a crash, tracked beside the device.
struct CrashModel {
    durable: Vec<Vec<u8>>,
    since_sync: Vec<Vec<Vec<u8>>>,
    current: Vec<Vec<u8>>,
    write_pointer: Vec<u32>,
    /// Pages touched by the operation in flight, and that operation.
    in_flight: Option<(Vec<u64>, Op, Vec<u8>)>,
}

impl CrashModel {
    fn new() -> Self {
        let g = geometry();
        let erased = vec![ERASED; g.page_bytes as usize];
        CrashModel {
            durable: vec![erased.clone(); g.pages() as usize],
            since_sync: vec![Vec::new(); g.pages() as usize],
            current: vec![erased; g.pages() as usize],
            write_pointer: vec![0; g.blocks as usize],
            in_flight: None,
        }
    }

    fn record(&mut self, index: u64, content: Vec<u8>) {
        self.since_sync[index as usize].push(content.clone());
        self.current[index as usize] = content;
    }

    fn sync(&mut self) {
        self.durable.clone_from(&self.current);
        self.since_sync.iter_mut().for_each(Vec::clear);
    }

    fn allowed(&self, index: usize) -> impl Iterator<Item = &Vec<u8>> {
        std::iter::once(&self.durable[index]).chain(&self.since_sync[index])
    }
}

/// Runs `ops`, cutting power at mutating operation `cut`; returns the model.
fn run_until_cut(flash: &mut SimFlash, ops: &[Op], cut: u64, mode: CrashMode) -> CrashModel {
    let g = geometry();
    let mut model = CrashModel::new();
    flash.cut_power_at(cut, mode);
    for op in ops {
        let about_to_cut = flash.ops_mutating() == cut && !matches!(op, Op::Sync);
        let result = match op {
            Op::Program { block, salt } => {
                let wp = model.write_pointer[*block as usize];
                if wp == g.pages_per_block {
                    continue;
                }
                let page = PageAddr::new(*block, wp);
                let data = pattern(page, *salt);
                if about_to_cut {
                    model.in_flight = Some((vec![g.page_index(page)], op.clone(), data.clone()));
                }
                let result = flash.program(page, &data);
                if result.is_ok() {
                    model.record(g.page_index(page), data);
                    model.write_pointer[*block as usize] = wp + 1;
                }
                result
            }
            Op::Erase { block } => {
                let pages: Vec<u64> = (0..g.pages_per_block)
                    .map(|p| g.page_index(PageAddr::new(*block, p)))
                    .collect();
                if about_to_cut {
                    model.in_flight = Some((pages.clone(), op.clone(), Vec::new()));
                }
                let result = flash.erase(BlockAddr(*block));
                if result.is_ok() {
                    for index in pages {
                        model.record(index, vec![ERASED; g.page_bytes as usize]);
                    }
                    model.write_pointer[*block as usize] = 0;
                }
                result
            }
            Op::Sync => {
                let result = flash.sync();
                if result.is_ok() {
                    model.sync();
                }
                result
            }
        };
        match result {
            Ok(()) => {}
            Err(FlashError::PowerLost) => {
                // The operation in flight may have completed whole.
                if let Some((touched, op, data)) = model.in_flight.clone() {
                    let result = match op {
                        Op::Program { .. } => data,
                        _ => vec![ERASED; g.page_bytes as usize],
                    };
                    for index in touched {
                        model.since_sync[index as usize].push(result.clone());
                    }
                }
                return model;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    flash.cut_power_now(mode);
    model
}

fn torn_program_of(content: &[u8], base: &[u8], data: &[u8]) -> bool {
    content
        .iter()
        .zip(base)
        .zip(data)
        .all(|((&c, &b), &d)| c & !b == 0 && (b & d) & !c == 0)
}

fn torn_erase_of(content: &[u8], base: &[u8]) -> bool {
    content.iter().zip(base).all(|(&c, &b)| c & b == b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Synced data survives every crash mode; an un-synced page holds a
    /// state it really had since the last sync (`DropUnsynced`: exactly the
    /// synced one); only the operation in flight in `Torn` may leave a mix.
    #[test]
    fn crash_leaves_only_states_the_page_had(
        ops in prop::collection::vec(op_strategy(), 1..60),
        cut in 0u64..50,
        mode in mode_strategy(),
        seed in any::<u64>(),
    ) {
        let mut flash = SimFlash::new(SimConfig::new(geometry()), seed).unwrap();
        let model = run_until_cut(&mut flash, &ops, cut, mode);
        prop_assert!(!flash.is_powered());
        flash.restart();
        prop_assert_eq!(flash.pending_ops(), 0);
        let pages = read_all(&mut flash);
        for (index, content) in pages.iter().enumerate() {
            if mode == CrashMode::DropUnsynced {
                prop_assert_eq!(content, &model.durable[index], "page {} not at its synced state", index);
                continue;
            }
            if model.allowed(index).any(|state| state == content) {
                continue;
            }
            let torn = match &model.in_flight {
                Some((touched, op, data)) if mode == CrashMode::Torn && touched.contains(&(index as u64)) => {
                    match op {
                        Op::Program { .. } => model.allowed(index).any(|b| torn_program_of(content, b, data)),
                        _ => model.allowed(index).any(|b| torn_erase_of(content, b)),
                    }
                }
                _ => false,
            };
            prop_assert!(torn, "page {} holds a state it never had ({:?})", index, mode);
        }
    }

    /// The same seed and calls give the same image, wear and counters, with
    /// every kind of fault switched on.
    #[test]
    fn same_seed_same_bytes(
        ops in prop::collection::vec(op_strategy(), 1..80),
        cut in 0u64..70,
        mode in mode_strategy(),
        seed in any::<u64>(),
    ) {
        let mut config = SimConfig::new(geometry());
        config.faults = FaultRates { read_flip: 0.05, program_fail: 0.05, erase_fail: 0.05 };
        let outcome = |seed: u64| {
            let mut flash = SimFlash::new(config.clone(), seed).unwrap();
            flash.cut_power_at(cut, mode);
            let mut reads = Vec::new();
            for op in &ops {
                let _ = match op {
                    Op::Program { block, salt } => {
                        let page = PageAddr::new(*block, u32::from(*salt) % 4);
                        flash.program(page, &pattern(page, *salt))
                    }
                    Op::Erase { block } => flash.erase(BlockAddr(*block)),
                    Op::Sync => flash.sync(),
                };
                let mut buf = vec![0; 64];
                if flash.read(PageAddr::new(0, 0), &mut buf).is_ok() {
                    reads.push(buf);
                }
            }
            flash.restart();
            (flash.image(), flash.erase_counts().to_vec(), flash.counters(), reads)
        };
        prop_assert_eq!(outcome(seed), outcome(seed));
    }

    /// Every breach of the program rules is refused and counted; legal
    /// programs succeed. The expectation comes from an independent model.
    #[test]
    fn every_rule_breach_is_reported(
        attempts in prop::collection::vec((0..4u32, 0..5u32, any::<bool>(), any::<bool>()), 1..80),
    ) {
        let g = geometry();
        let mut flash = SimFlash::new(SimConfig::new(g), 1).unwrap();
        let mut programmed = vec![vec![false; 4]; 4];
        let mut highest: Vec<Option<u32>> = vec![None; 4];
        let mut violations = 0;
        let mut erases = 0;
        for (block, page, erase, short) in attempts {
            if erase {
                flash.erase(BlockAddr(block)).unwrap();
                erases += 1;
                programmed[block as usize] = vec![false; 4];
                highest[block as usize] = None;
                continue;
            }
            let addr = PageAddr::new(block, page);
            let len = if short { 63 } else { 64 };
            let result = flash.program(addr, &vec![0xA5; len]);
            if page >= 4 {
                prop_assert!(matches!(result, Err(FlashError::OutOfRange { .. })), "{:?}", result);
            } else if short {
                prop_assert!(matches!(result, Err(FlashError::Violation { rule: Rule::BufferLength { .. }, .. })), "{:?}", result);
            } else if programmed[block as usize][page as usize] {
                violations += 1;
                prop_assert!(matches!(result, Err(FlashError::Violation { rule: Rule::ProgramTwice, .. })), "{:?}", result);
            } else if highest[block as usize].is_some_and(|h| page < h) {
                violations += 1;
                prop_assert!(matches!(result, Err(FlashError::Violation { rule: Rule::ProgramOutOfOrder { .. }, .. })), "{:?}", result);
            } else {
                prop_assert!(result.is_ok());
                programmed[block as usize][page as usize] = true;
                highest[block as usize] = Some(page);
            }
        }
        prop_assert_eq!(flash.counters().violations, violations);
        prop_assert_eq!(flash.counters().erases, erases);
        prop_assert_eq!(flash.erase_counts().iter().map(|&c| u64::from(c)).sum::<u64>(), erases);
    }
}

fn worn_device(wear_out: WearOut) -> SimFlash {
    let mut config = SimConfig::new(geometry());
    config.endurance_cycles = 3;
    config.wear_out = wear_out;
    let mut flash = SimFlash::new(config, 3).unwrap();
    for _ in 0..3 {
        flash.erase(BlockAddr(1)).unwrap();
    }
    assert!(flash.is_worn_out(BlockAddr(1)));
    assert!(!flash.is_worn_out(BlockAddr(0)));
    flash
}

#[test]
fn worn_block_fails_erase_when_so_configured() {
    let mut flash = worn_device(WearOut::EraseFails);
    let result = flash.erase(BlockAddr(1));
    assert!(matches!(
        result,
        Err(FlashError::BadBlock {
            block: BlockAddr(1),
            ..
        })
    ));
    flash.erase(BlockAddr(0)).unwrap();
    assert_eq!(flash.erase_counts()[1], 4);
}

#[test]
fn worn_block_fails_program_when_so_configured() {
    let mut flash = worn_device(WearOut::ProgramFails);
    flash.erase(BlockAddr(1)).unwrap();
    let result = flash.program(PageAddr::new(1, 0), &[0; 64]);
    assert!(matches!(
        result,
        Err(FlashError::BadBlock {
            block: BlockAddr(1),
            ..
        })
    ));
    flash.program(PageAddr::new(0, 0), &[0; 64]).unwrap();
}

#[test]
fn worn_block_silently_ignores_when_so_configured() {
    let mut flash = worn_device(WearOut::SilentNoop);
    flash.program(PageAddr::new(1, 0), &[0; 64]).unwrap();
    let mut buf = [0u8; 64];
    flash.read(PageAddr::new(1, 0), &mut buf).unwrap();
    assert!(
        buf.iter().all(|&b| b == ERASED),
        "a silent no-op program changed the page"
    );
    let mut fresh = worn_device(WearOut::SilentNoop);
    fresh.erase(BlockAddr(0)).unwrap();
    fresh.program(PageAddr::new(0, 0), &[7; 64]).unwrap();
    fresh.read(PageAddr::new(0, 0), &mut buf).unwrap();
    assert_eq!(buf, [7; 64]);
}

#[test]
fn scheduled_faults_fire_on_their_operation() {
    let mut flash = SimFlash::new(SimConfig::new(geometry()), 9).unwrap();
    flash.schedule_fault(1, ScheduledFault::ProgramFail);
    flash.schedule_fault(2, ScheduledFault::EraseFail);
    flash.program(PageAddr::new(0, 0), &[0; 64]).unwrap();
    let failed = flash.program(PageAddr::new(0, 1), &[0; 64]);
    assert!(matches!(failed, Err(FlashError::BadBlock { .. })));
    let mut buf = [0u8; 64];
    flash.read(PageAddr::new(0, 1), &mut buf).unwrap();
    assert_ne!(buf, [0; 64], "a failed program left the intended data");
    assert!(matches!(
        flash.erase(BlockAddr(2)),
        Err(FlashError::BadBlock { .. })
    ));
    let counters = flash.counters();
    assert_eq!((counters.program_failures, counters.erase_failures), (1, 1));
}

#[test]
fn read_flips_are_sticky_until_erase() {
    let mut flash = SimFlash::new(SimConfig::new(geometry()), 5).unwrap();
    let page = PageAddr::new(2, 0);
    flash.program(page, &[0; 64]).unwrap();
    flash.flip_bit(page, 9).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..2 {
        flash.read(page, &mut buf).unwrap();
        assert_eq!(buf[1], 0b10);
    }
    flash.erase(BlockAddr(2)).unwrap();
    flash.read(page, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == ERASED));
}

#[test]
fn random_read_flips_accumulate() {
    let mut config = SimConfig::new(geometry());
    config.faults.read_flip = 1.0;
    let mut flash = SimFlash::new(config, 5).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..10 {
        flash.read(PageAddr::new(0, 0), &mut buf).unwrap();
    }
    assert_eq!(flash.counters().bit_flips, 10);
    let zeros: u32 = buf.iter().map(|b| b.count_zeros()).sum();
    assert!(
        (1..=10).contains(&zeros),
        "{zeros} bits differ after 10 flips"
    );
}

#[test]
fn full_write_cache_writes_back_the_oldest() {
    let mut config = SimConfig::new(geometry());
    config.cache_ops_max = 3;
    let mut flash = SimFlash::new(config, 5).unwrap();
    for page in 0..4 {
        flash
            .program(PageAddr::new(0, page), &[page as u8; 64])
            .unwrap();
    }
    flash.program(PageAddr::new(1, 0), &[9; 64]).unwrap();
    assert_eq!(flash.pending_ops(), 3);
    flash.cut_power_now(CrashMode::DropUnsynced);
    flash.restart();
    let mut buf = [0u8; 64];
    for (page, expected) in [
        (PageAddr::new(0, 0), [0; 64]),
        (PageAddr::new(0, 1), [1; 64]),
    ] {
        flash.read(page, &mut buf).unwrap();
        assert_eq!(buf, expected);
    }
    for page in [
        PageAddr::new(0, 2),
        PageAddr::new(0, 3),
        PageAddr::new(1, 0),
    ] {
        flash.read(page, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == ERASED));
    }
}

#[test]
fn no_operation_succeeds_without_power() {
    let mut flash = SimFlash::new(SimConfig::new(geometry()), 5).unwrap();
    flash.program(PageAddr::new(0, 0), &[1; 64]).unwrap();
    flash.sync().unwrap();
    flash.cut_power_now(CrashMode::Torn);
    let mut buf = [0u8; 64];
    assert!(matches!(
        flash.read(PageAddr::new(0, 0), &mut buf),
        Err(FlashError::PowerLost)
    ));
    assert!(matches!(
        flash.program(PageAddr::new(0, 1), &buf),
        Err(FlashError::PowerLost)
    ));
    assert!(matches!(
        flash.erase(BlockAddr(0)),
        Err(FlashError::PowerLost)
    ));
    assert!(matches!(flash.sync(), Err(FlashError::PowerLost)));
    flash.restart();
    flash.read(PageAddr::new(0, 0), &mut buf).unwrap();
    assert_eq!(buf, [1; 64]);
    assert_eq!(flash.counters().power_cuts, 1);
}

#[test]
fn snapshot_is_independent_of_the_original() {
    let mut flash = SimFlash::new(SimConfig::new(geometry()), 5).unwrap();
    flash.program(PageAddr::new(0, 0), &[1; 64]).unwrap();
    let snapshot = flash.clone();
    flash.erase(BlockAddr(0)).unwrap();
    flash.program(PageAddr::new(0, 0), &[2; 64]).unwrap();
    let mut copy = snapshot;
    let mut buf = [0u8; 64];
    copy.read(PageAddr::new(0, 0), &mut buf).unwrap();
    assert_eq!(buf, [1; 64]);
    assert_eq!(copy.erase_counts()[0], 0);
}

#[test]
fn image_round_trips() {
    let mut flash = SimFlash::new(SimConfig::new(geometry()), 5).unwrap();
    flash.program(PageAddr::new(3, 1), &[0x11; 64]).unwrap();
    let image = flash.image();
    let mut copy = SimFlash::from_image(SimConfig::new(geometry()), &image, 1).unwrap();
    assert_eq!(copy.image(), image);
    assert!(matches!(
        copy.program(PageAddr::new(3, 0), &[0; 64]),
        Err(FlashError::Violation { .. })
    ));
    assert!(matches!(
        SimFlash::from_image(SimConfig::new(geometry()), &image[1..], 1),
        Err(FlashError::ImageSize { .. })
    ));
}

/// A torn program of an upper page damages its wordline's lower page,
/// synced long before; a lower page's own cut damages nothing else; the
/// other crash modes lose the program in flight whole.
#[test]
fn a_torn_upper_program_damages_its_synced_lower_page() {
    use logstore::Pairing;
    let geometry = Geometry::new(64, 8, 2)
        .unwrap()
        .with_pairing(Pairing::Mlc { lead: 2 })
        .unwrap();
    // dist3: pages 0 L0, 1 L1, 2 U0, 3 L2, 4 U1, 5 L3, 6 U2, 7 U3.
    let program = |flash: &mut SimFlash, page: u32| {
        let addr = PageAddr::new(0, page);
        flash.program(addr, &pattern(addr, 1)).unwrap();
    };
    for (mode, cut_page, damaged) in [
        (CrashMode::Torn, 4u32, Some(1u32)),
        (CrashMode::Torn, 3, None),
        (CrashMode::DropUnsynced, 4, None),
        (CrashMode::Reorder, 4, None),
    ] {
        for seed in 0..8 {
            let mut flash = SimFlash::new(SimConfig::new(geometry), seed).unwrap();
            for page in 0..cut_page {
                program(&mut flash, page);
            }
            flash.sync().unwrap();
            let read_block = |flash: &mut SimFlash| -> Vec<Vec<u8>> {
                (0..8)
                    .map(|page| {
                        let mut buf = vec![0; 64];
                        flash.read(PageAddr::new(0, page), &mut buf).unwrap();
                        buf
                    })
                    .collect()
            };
            let before = read_block(&mut flash);
            let at = flash.ops_mutating();
            flash.cut_power_at(at, mode);
            let addr = PageAddr::new(0, cut_page);
            assert!(flash.program(addr, &pattern(addr, 1)).is_err());
            flash.restart();
            let after = read_block(&mut flash);
            for page in 0..cut_page {
                let changed = after[page as usize] != before[page as usize];
                assert_eq!(
                    changed,
                    damaged == Some(page),
                    "{mode:?} cut {cut_page} page {page}"
                );
            }
            let expected = u64::from(damaged.is_some());
            assert_eq!(flash.counters().paired_pages_corrupted, expected);
        }
    }
}

/// The cells pair as `SimConfig::pairing_physical` says, whatever the
/// geometry declares: a part declaring none with dist3 cells damages its
/// lower page under a torn upper program; one declaring dist3 with
/// unpaired cells damages nothing, and programs every page at the nominal
/// time.
#[test]
fn torn_programs_damage_pages_as_the_cells_pair_not_as_declared() {
    use logstore::Pairing;
    let dist3 = Pairing::Mlc { lead: 2 };
    let declared = |pairing| {
        Geometry::new(64, 8, 2)
            .unwrap()
            .with_pairing(pairing)
            .unwrap()
    };
    for (geometry, physical, damaged) in [
        (declared(Pairing::None), Some(dist3), 1),
        (declared(dist3), Some(Pairing::None), 0),
        (declared(dist3), None, 1),
    ] {
        let mut config = SimConfig::new(geometry);
        config.pairing_physical = physical;
        let mut flash = SimFlash::new(config, 3).unwrap();
        for page in 0..4 {
            let addr = PageAddr::new(0, page);
            flash.program(addr, &pattern(addr, 1)).unwrap();
        }
        flash.sync().unwrap();
        let mut lower = vec![0; 64];
        flash.read(PageAddr::new(0, 1), &mut lower).unwrap();
        flash.cut_power_at(flash.ops_mutating(), CrashMode::Torn);
        let addr = PageAddr::new(0, 4);
        assert!(flash.program(addr, &pattern(addr, 1)).is_err());
        flash.restart();
        let mut after = vec![0; 64];
        flash.read(PageAddr::new(0, 1), &mut after).unwrap();
        let at = format!("declared {:?}, cells {physical:?}", geometry.pairing);
        assert_eq!(flash.counters().paired_pages_corrupted, damaged, "{at}");
        assert_eq!(after != lower, damaged == 1, "{at}");
    }
    let mut unpaired = SimConfig::new(declared(dist3));
    unpaired.pairing_physical = Some(Pairing::None);
    assert_eq!(unpaired.cells_pairing(), Pairing::None);
    let mut wrong = SimConfig::new(declared(Pairing::None));
    wrong.pairing_physical = Some(Pairing::Tlc);
    assert!(wrong.check().is_err() && SimFlash::new(wrong, 0).is_err());
}

/// A failed (torn) erase leaves every page of its block unprogrammable,
/// the last page too, until the block is erased again: its cells hold an
/// unknown mix, as an interrupted erase leaves them.
#[test]
fn a_failed_erase_leaves_the_block_unprogrammable_until_erased_again() {
    let g = geometry();
    for page in [0, g.pages_per_block - 1] {
        let mut flash = SimFlash::new(SimConfig::new(g), 5).unwrap();
        let block = BlockAddr(2);
        let at = flash.ops_mutating();
        flash.schedule_fault(at, ScheduledFault::EraseFail);
        assert!(matches!(
            flash.erase(block),
            Err(FlashError::BadBlock { .. })
        ));
        let addr = PageAddr { block, page };
        let data = pattern(addr, 1);
        assert!(
            matches!(
                flash.program(addr, &data),
                Err(FlashError::Violation { .. })
            ),
            "page {page} programmable after a failed erase"
        );
        flash.erase(block).unwrap();
        flash.program(addr, &data).unwrap();
    }
}
