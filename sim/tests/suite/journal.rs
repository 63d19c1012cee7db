//! The journal on simulated flash: crash at every operation, bit flips, random
//! images, pack and anchor atomicity, wear levelling and bad blocks.

use logstore::errors::AnchorError;
use logstore::errors::LedgerError;
use logstore::testing::format::{Entry, Page, ENTRY_BYTES, JOURNAL_HEADER_BYTES};
use logstore::testing::{Ledger, Media};
use logstore::{Flash, FlashError, Geometry, Info};
use logstore_sim::{CrashMode, FaultRates, ScheduledFault, SimConfig, SimFlash};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Blocks of the journal: 4 pages each on this part declaring no pairing
/// (the journal keeps to pages safe under every known scheme).
const JOURNAL_BLOCKS: u32 = 32;

fn geometry() -> Geometry {
    Geometry::new(256, 8, 96).unwrap()
}

fn device(seed: u64) -> SimFlash {
    SimFlash::new(SimConfig::new(geometry()), seed).unwrap()
}

fn entry(i: u64) -> Entry {
    let mut hash = [0u8; 32];
    let mut rng = ChaCha8Rng::seed_from_u64(i);
    rng.fill(&mut hash);
    if i % 7 == 3 {
        Entry::Tombstone { hash }
    } else {
        Entry::Hash {
            hash,
            info: Info {
                physical_sector: i,
                first_logical_sector: i * 8,
            },
        }
    }
}

/// Entries with a flush after every 1 to 20 of them, from a seed.
struct Workload {
    entries: Vec<Entry>,
    flush_after: Vec<bool>,
}

impl Workload {
    fn new(seed: u64, len: u64, first: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut until_flush = rng.random_range(1..=20);
        let mut flush_after = Vec::new();
        for _ in 0..len {
            until_flush -= 1;
            flush_after.push(until_flush == 0);
            if until_flush == 0 {
                until_flush = rng.random_range(1..=20);
            }
        }
        Workload {
            entries: (first..first + len).map(entry).collect(),
            flush_after,
        }
    }
}

/// How far a run got: entries appended, and how many of them a successful
/// flush covered.
#[derive(Debug, Default)]
struct Progress {
    appended: usize,
    flushed: usize,
}

type SimLog<'a> = Ledger<&'a mut SimFlash>;

fn run(log: &mut SimLog<'_>, workload: &Workload) -> (Progress, Result<(), LedgerError>) {
    let mut progress = Progress::default();
    for (entry, &flush) in workload.entries.iter().zip(&workload.flush_after) {
        if let Err(e) = log.append(entry) {
            return (progress, Err(e));
        }
        progress.appended += 1;
        if flush {
            if let Err(e) = log.flush() {
                return (progress, Err(e));
            }
            progress.flushed = progress.appended;
        }
    }
    (progress, Ok(()))
}

fn open(flash: &mut SimFlash) -> (SimLog<'_>, Vec<Entry>) {
    let (log, entries, _report) = Ledger::open(flash).expect("open after a crash");
    (log, entries)
}

fn fresh_log(seed: u64) -> SimFlash {
    let mut flash = device(seed);
    Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).unwrap();
    flash
}

/// Loses power (if it is still on) and powers back up.
fn power_cycle(flash: &mut SimFlash, mode: CrashMode) {
    flash.cut_power_now(mode);
    flash.restart();
}

/// The recovered entries are a prefix of `expected` at least `flushed` long
/// and at most `appended` long.
fn assert_prefix(recovered: &[Entry], expected: &[Entry], progress: &Progress, context: &str) {
    assert!(
        recovered.len() >= progress.flushed && recovered.len() <= progress.appended,
        "{context}: recovered {} entries, flushed {}, appended {}",
        recovered.len(),
        progress.flushed,
        progress.appended
    );
    assert_eq!(
        recovered,
        &expected[..recovered.len()],
        "{context}: not a prefix"
    );
}

/// Power loss is the only failure a fault-free device may cause.
fn assert_power_lost_or_ok(result: &Result<(), LedgerError>, context: &str) {
    assert!(
        matches!(
            result,
            Err(LedgerError::Flash(FlashError::PowerLost)) | Ok(())
        ),
        "{context}: {result:?}"
    );
}

/// One crash point: run the workload with power cut at `cut`, recover and
/// check; then append more, crash again `second_cut` operations later,
/// recover, and check the whole history once more.
fn crash_at(base: &SimFlash, workload: &Workload, cut: u64, mode: CrashMode, second_cut: u64) {
    let context = format!("cut {cut} {mode:?}");
    let mut flash = base.clone();
    flash.cut_power_at(cut, mode);
    let (progress, result) = run(&mut open(&mut flash).0, workload);
    assert_power_lost_or_ok(&result, &context);
    power_cycle(&mut flash, mode);
    let (recovered, progress_more, more) = {
        let (mut log, recovered) = open(&mut flash);
        assert_prefix(&recovered, &workload.entries, &progress, &context);
        let more = Workload::new(cut, 40, 10_000);
        let cut_again = log.flash().ops_mutating() + second_cut;
        log.flash_mut().cut_power_at(cut_again, mode);
        let (progress_more, result) = run(&mut log, &more);
        assert_power_lost_or_ok(&result, &format!("{context}, after recovery"));
        (recovered, progress_more, more)
    };
    power_cycle(&mut flash, mode);
    let (_, again) = open(&mut flash);
    let mut history = recovered.clone();
    history.extend_from_slice(&more.entries);
    let both = Progress {
        appended: recovered.len() + progress_more.appended,
        flushed: recovered.len() + progress_more.flushed,
    };
    assert_prefix(&again, &history, &both, &format!("{context}, second crash"));
}

#[test]
fn exhaustive_crash_keeps_a_prefix_with_every_flushed_entry() {
    let workload = Workload::new(42, 200, 0);
    let runs = [
        (CrashMode::DropUnsynced, 0),
        (CrashMode::Reorder, 1),
        (CrashMode::Reorder, 2),
        (CrashMode::Reorder, 3),
        (CrashMode::Torn, 4),
        (CrashMode::Torn, 5),
        (CrashMode::Torn, 6),
    ];
    let mut crash_points = 0;
    for (mode, seed) in runs {
        let base = fresh_log(seed);
        let start = base.ops_mutating();
        let mut dry = base.clone();
        run(&mut open(&mut dry).0, &workload).1.unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for cut in start..=dry.ops_mutating() {
            crash_at(&base, &workload, cut, mode, rng.random_range(0..60));
            crash_points += 1;
        }
    }
    println!(
        "journal exhaustive crash: {crash_points} crash points, each followed by a second crash"
    );
    // 300 entries of at most 49 bytes, 4 to a 256-byte page: at least 75
    // page programs a run, plus the flushes' partial pages.
    assert!(crash_points > 7 * 75, "only {crash_points} crash points");
}

#[test]
fn crash_while_formatting_leaves_no_device_or_an_empty_one() {
    let total = fresh_log(0).ops_mutating();
    for cut in 0..total {
        for mode in CrashMode::ALL {
            let mut flash = device(cut);
            flash.cut_power_at(cut, mode);
            assert!(Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).is_err());
            flash.restart();
            match Ledger::open(&mut flash) {
                Ok((_, entries, _)) => assert!(entries.is_empty()),
                Err(LedgerError::Anchor(AnchorError::NotFound)) => {}
                Err(other) => panic!("cut {cut} {mode:?}: {other}"),
            }
        }
    }
}

/// Each page of the journal chain, in region order: its address, entries,
/// sequence and the sequence it says a flush had made durable.
struct ChainPage {
    addr: logstore::PageAddr,
    entries: usize,
    sequence: u64,
    synced_through: Option<u64>,
}

fn journal_pages<F: Flash>(flash: &mut F) -> Vec<ChainPage> {
    let region = Ledger::open(&mut *flash)
        .unwrap()
        .0
        .record()
        .journal
        .clone();
    let g = flash.geometry();
    let mut pages = Vec::new();
    for &block in &region.blocks {
        for page in 0..g.pages_per_block {
            let addr = logstore::PageAddr { block, page };
            let mut buf = vec![0; g.page_bytes as usize];
            flash.read(addr, &mut buf).unwrap();
            if let Ok(decoded) = Page::decode(&buf) {
                pages.push(ChainPage {
                    addr,
                    entries: decoded.entries.len(),
                    sequence: decoded.sequence,
                    synced_through: decoded.synced_through,
                });
            }
        }
    }
    pages
}

/// Without ECC, a flipped bit makes its page unreadable. If a later page
/// says a completed flush covered it, recovery goes on past it and names
/// the loss; otherwise it is the torn tail, dropped. Never a silent hole.
#[test]
fn a_corrupt_page_is_a_named_loss_or_the_torn_tail() {
    let mut flash = fresh_log(3);
    let workload = Workload::new(3, 120, 0);
    {
        let (mut log, _) = open(&mut flash);
        run(&mut log, &workload).1.unwrap();
        log.flush().unwrap();
    }
    let pages = journal_pages(&mut flash);
    assert!(pages.len() >= 10);
    let bits = geometry().page_bytes * 8;
    let (mut losses, mut tails, mut kept, mut before) = (0, 0, 0, 0);
    for (index, page) in pages.iter().enumerate() {
        let proven = pages[index + 1..]
            .iter()
            .any(|later| later.synced_through >= Some(page.sequence));
        let copied = pages.iter().filter(|p| p.sequence == page.sequence).count() > 1;
        let first_copy = pages[..index].iter().all(|p| p.sequence != page.sequence);
        for bit in (0..bits).step_by(3) {
            let mut copy = flash.clone();
            copy.flip_bit(page.addr, bit).unwrap();
            let (_, recovered, report) = Ledger::open(&mut copy).unwrap();
            let context = format!("flip of bit {bit} of page {index}");
            if copied {
                assert!(report.lost.is_empty(), "{context}: {report:?}");
                assert_eq!(recovered, workload.entries, "{context}: a copy answers");
                kept += 1;
            } else if proven {
                assert_eq!(report.lost.len(), 1, "{context}: {report:?}");
                assert_eq!(report.lost[0].sequences, page.sequence..page.sequence + 1);
                let mut expected = workload.entries[..before].to_vec();
                expected.extend_from_slice(&workload.entries[before + page.entries..]);
                assert_eq!(recovered, expected, "{context}");
                losses += 1;
            } else {
                assert!(report.lost.is_empty(), "{context}: {report:?}");
                assert_eq!(recovered, workload.entries[..before], "{context}");
                tails += 1;
            }
        }
        if first_copy {
            before += page.entries;
        }
    }
    println!("bit flips: {kept} kept by a copy, {losses} named losses, {tails} torn tails");
    assert!(
        losses > 0 && kept > 0,
        "flushes of several pages and of one"
    );
    assert_eq!(
        tails, 0,
        "every page of a completed flush is copied or vouched for"
    );
}

/// With ECC under the journal, every single-bit flip of a page, data or
/// spare, is corrected: nothing is lost, and the report says what the ECC
/// saw.
#[test]
fn every_single_bit_flip_is_corrected_under_ecc() {
    let geometry = geometry().with_ecc(16, 256, 4).unwrap();
    let mut flash = SimFlash::new(SimConfig::new(geometry), 4).unwrap();
    Ledger::create(Media::new(&mut flash).unwrap(), JOURNAL_BLOCKS, vec![]).unwrap();
    let workload = Workload::new(4, 120, 0);
    {
        let (mut log, _, _) = Ledger::open(Media::new(&mut flash).unwrap()).unwrap();
        let entries = &workload.entries;
        for (entry, &flush) in entries.iter().zip(&workload.flush_after) {
            log.append(entry).unwrap();
            if flush {
                log.flush().unwrap();
            }
        }
        log.flush().unwrap();
    }
    let pages = journal_pages(&mut Media::new(&mut flash).unwrap());
    let raw_bits = geometry.raw_page_bytes() * 8;
    let chosen = [0, pages.len() / 2, pages.len() - 1];
    let mut flips = 0;
    for &index in &chosen {
        for bit in 0..raw_bits {
            let mut copy = flash.clone();
            copy.flip_bit(pages[index].addr, bit).unwrap();
            let (_, recovered, report) = Ledger::open(Media::new(&mut copy).unwrap()).unwrap();
            assert_eq!(
                recovered, workload.entries,
                "flip of bit {bit} of page {index}"
            );
            assert!(report.lost.is_empty(), "flip of bit {bit} of page {index}");
            // Flips past the parity, in the unused spare, need no correcting.
            flips += u64::from(report.bits_corrected_max);
        }
    }
    let parity_bits = (geometry.page_bytes + 6) * 8;
    println!("bit flips corrected: {flips}");
    assert!(flips >= u64::from(parity_bits) * chosen.len() as u64 - 12);
}

#[test]
fn pack_crashed_at_every_operation_is_old_or_new() {
    let workload = Workload::new(9, 150, 0);
    for mode in CrashMode::ALL {
        let mut base = fresh_log(9);
        {
            let (mut log, _) = open(&mut base);
            run(&mut log, &workload).1.unwrap();
            log.flush().unwrap();
        }
        let old = open(&mut base.clone()).1;
        let live: Vec<Entry> = old.iter().copied().step_by(3).collect();
        let start = base.ops_mutating();
        let mut dry = base.clone();
        open(&mut dry).0.pack(&live).unwrap();
        for cut in start..dry.ops_mutating() + 1 {
            let mut flash = base.clone();
            flash.cut_power_at(cut, mode);
            let result = open(&mut flash).0.pack(&live);
            power_cycle(&mut flash, mode);
            let recovered = open(&mut flash).1;
            assert!(
                recovered == old || recovered == live,
                "cut {cut} {mode:?}: {} entries, neither old ({}) nor new ({}); pack said {result:?}",
                recovered.len(),
                old.len(),
                live.len()
            );
            if result.is_ok() {
                assert_eq!(recovered, live, "acknowledged pack lost");
            }
        }
    }
}

#[test]
fn anchor_updates_crashed_at_every_operation_are_old_or_new() {
    // Many recycles fill the anchor's lanes and move it to fresh blocks:
    // every operation of every move is a crash point too.
    let rounds = 40u64;
    let mut dry = fresh_log(5);
    let start = dry.ops_mutating();
    let mut lanes = std::collections::BTreeSet::new();
    {
        let (mut log, _) = open(&mut dry);
        for i in 0..rounds {
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
            log.recycle().unwrap();
            lanes.insert(log.record().lanes);
        }
    }
    assert!(lanes.len() >= 4, "the anchor moved only to {lanes:?}");
    for mode in CrashMode::ALL {
        for cut in start..dry.ops_mutating() {
            let mut flash = fresh_log(5);
            flash.cut_power_at(cut, mode);
            let mut round = 0;
            let sequence = {
                let (mut log, _) = open(&mut flash);
                let mut sequence = log.record().sequence;
                while round < rounds {
                    let step = log
                        .append(&entry(round))
                        .and_then(|_| log.flush())
                        .and_then(|()| log.recycle());
                    if step.is_err() {
                        break;
                    }
                    sequence = log.record().sequence;
                    round += 1;
                }
                sequence
            };
            power_cycle(&mut flash, mode);
            let (log, recovered) = open(&mut flash);
            let found = log.record().sequence;
            assert!(
                found == sequence || found == sequence + 1,
                "cut {cut} {mode:?}: anchor sequence {found}, last committed {sequence}"
            );
            assert!(
                recovered.is_empty() || recovered == [entry(round)],
                "cut {cut} {mode:?}: journal holds {recovered:?}"
            );
        }
    }
}

/// A block failing at any operation of the anchor's moves (and of the
/// journal's writes around them): each commit lands in good lanes or fails
/// with a typed error; the device always opens, old or new.
#[test]
fn anchor_moves_survive_a_block_failing_at_any_operation() {
    let rounds = logstore_sim::test_size(30, 10);
    let mut dry = fresh_log(6);
    let start = dry.ops_mutating();
    {
        let (mut log, _) = open(&mut dry);
        for i in 0..rounds {
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
            log.recycle().unwrap();
        }
    }
    let (mut failed, mut blocks_failed) = (0, 0);
    for fault in [ScheduledFault::ProgramFail, ScheduledFault::EraseFail] {
        for op in start..dry.ops_mutating() {
            let mut flash = fresh_log(6);
            flash.schedule_fault(op, fault);
            let mut round = 0;
            // Bounded: each round is retried at most once, after a reopen.
            for _attempt in 0..rounds * 2 {
                if round == rounds {
                    break;
                }
                let (mut log, recovered) = open(&mut flash);
                let step = log
                    .append(&entry(round))
                    .and_then(|_| log.flush())
                    .and_then(|()| log.recycle());
                match step {
                    Ok(()) => round += 1,
                    Err(error) => {
                        failed += 1;
                        assert!(
                            recovered.is_empty() || recovered == [entry(round - 1)],
                            "{fault:?} at {op}: {recovered:?} after {error}"
                        );
                    }
                }
            }
            let (log, recovered) = open(&mut flash);
            assert!(recovered.is_empty(), "{fault:?} at {op}: {recovered:?}");
            assert!(log.record().sequence > 0);
            drop(log);
            let counters = flash.counters();
            blocks_failed += counters.program_failures + counters.erase_failures;
        }
    }
    println!(
        "anchor moves with a failing block: {blocks_failed} blocks failed, {failed} steps retried"
    );
    // Every scheduled fault lands on an operation of its kind or on none.
    assert!(
        blocks_failed > (dry.ops_mutating() - start) / 2,
        "{blocks_failed}"
    );
}

#[test]
fn wear_is_level_over_a_long_append_recycle_workload() {
    let mut flash = fresh_log(11);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    {
        let (mut log, _) = open(&mut flash);
        for round in 0..3_000u64 {
            for i in 0..rng.random_range(1..200u64) {
                log.append(&entry(round * 1_000 + i)).unwrap();
            }
            log.flush().unwrap();
            log.recycle().unwrap();
        }
    }
    // The anchor's lanes move through the pool: every block is levelled.
    let counts = flash.erase_counts();
    let max = *counts.iter().max().unwrap() as f64;
    let min = *counts.iter().min().unwrap() as f64;
    let mean = counts.iter().map(|&c| c as f64).sum::<f64>() / counts.len() as f64;
    println!(
        "erase counts over {} blocks: max {max} mean {mean:.1} min {min}",
        counts.len()
    );
    assert!(max / mean <= 1.1, "max/mean erase count {:.3}", max / mean);
}

#[test]
fn flushed_entries_survive_two_percent_bad_blocks() {
    let mut failed_total = 0;
    for seed in 0..20u64 {
        let mut config = SimConfig::new(geometry());
        config.faults = FaultRates {
            read_flip: 0.0,
            program_fail: 0.01,
            erase_fail: 0.02,
        };
        let mut flash = SimFlash::new(config, seed).unwrap();
        if Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).is_err() {
            continue;
        }
        let workload = Workload::new(seed, 250, 0);
        let mut kept: Vec<Entry> = Vec::new();
        let mut next = 0;
        // Every failure that poisons the log is followed by a reopen.
        for _attempt in 0..50 {
            let rest = Workload {
                entries: workload.entries[next..].to_vec(),
                flush_after: workload.flush_after[next..].to_vec(),
            };
            let (mut log, recovered) = open(&mut flash);
            assert_eq!(recovered, kept, "seed {seed}: flushed entries lost");
            let (progress, result) = run(&mut log, &rest);
            log.flush().ok();
            drop(log);
            let (_, now) = open(&mut flash);
            assert!(
                now.len() >= kept.len() + progress.flushed,
                "seed {seed}: flushed entries lost"
            );
            assert_eq!(now[..kept.len()], kept[..]);
            next += now.len() - kept.len();
            kept = now;
            if result.is_ok() && next == workload.entries.len() {
                break;
            }
        }
        let counters = flash.counters();
        failed_total += counters.program_failures + counters.erase_failures;
    }
    // 20 devices of 48 blocks: about 2% of blocks failing is 20.
    println!("blocks failed across seeds: {failed_total}");
    assert!(
        failed_total >= 10,
        "only {failed_total} blocks failed: the test tested too little"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random bytes as a whole device: a typed error or a valid journal.
    #[test]
    fn random_image_never_panics(image in prop::collection::vec(any::<u8>(), 256 * 8 * 6)) {
        let config = SimConfig::new(Geometry::new(256, 8, 6).unwrap());
        let mut flash = SimFlash::from_image(config, &image, 0).unwrap();
        let _ = Ledger::open(&mut flash);
    }

    /// A valid device with random bytes overwritten opens as an error or as
    /// a prefix of what was written: corruption is never misread.
    #[test]
    fn corrupted_image_gives_error_or_prefix(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40),
    ) {
        let mut flash = fresh_log(21);
        let workload = Workload::new(21, 200, 0);
        {
            let (mut log, _) = open(&mut flash);
            run(&mut log, &workload).1.unwrap();
            log.flush().unwrap();
        }
        let mut image = flash.image();
        for (index, byte) in edits {
            let at = index.index(image.len());
            image[at] = byte;
        }
        let mut corrupt = SimFlash::from_image(SimConfig::new(geometry()), &image, 0).unwrap();
        if let Ok((_, entries, report)) = Ledger::open(&mut corrupt) {
            if report.lost.is_empty() {
                prop_assert_eq!(&entries[..], &workload.entries[..entries.len()]);
            } else {
                // Past a named loss: what was written, in order, with holes.
                let mut written = workload.entries.iter();
                for entry in &entries {
                    prop_assert!(written.any(|w| w == entry), "an entry not written, or out of order");
                }
            }
        }
    }
}

/// Write amplification of the journal alone (bytes programmed / bytes of
/// entries appended) follows from the page format: a flush programs its
/// partial page and a commit copy of it, so it costs two whole pages
/// whatever it holds.
#[test]
fn write_amplification_follows_the_flush_interval() {
    let page_bytes = 2048u64;
    let geometry = Geometry::new(page_bytes as u32, 64, 80).unwrap();
    let entries = 900u64;
    let measure = |flush_every: u64| {
        let mut flash = SimFlash::new(SimConfig::new(geometry), 1).unwrap();
        let mut log = Ledger::create(&mut flash, 60, vec![]).unwrap();
        let info = Info {
            physical_sector: 1,
            first_logical_sector: 2,
        };
        for i in 0..entries {
            log.append(&Entry::Hash {
                hash: [i as u8; 32],
                info,
            })
            .unwrap();
            if (i + 1) % flush_every == 0 {
                log.flush().unwrap();
            }
        }
        log.flush().unwrap();
        let stats = log.journal_stats();
        stats.bytes_programmed as f64 / stats.bytes_appended as f64
    };
    let per_page = (page_bytes - JOURNAL_HEADER_BYTES as u64) / ENTRY_BYTES as u64;
    let expected = |flush_every: u64| {
        let pages_per_flush = flush_every.div_ceil(per_page) + 1;
        let rest = entries % flush_every;
        let pages = (entries / flush_every) * pages_per_flush
            + if rest > 0 {
                rest.div_ceil(per_page) + 1
            } else {
                0
            };
        (pages * page_bytes) as f64 / (entries * ENTRY_BYTES as u64) as f64
    };
    for flush_every in [1, 16, per_page, entries] {
        let measured = measure(flush_every);
        println!("journal write amplification, flush every {flush_every} entries: {measured:.3}");
        assert!(
            (measured - expected(flush_every)).abs() < 1e-9,
            "flush every {flush_every}: {measured} vs {}",
            expected(flush_every)
        );
    }
    // Full pages cost only their header and tail, and one copy a flush;
    // one entry a flush, two pages.
    let full_pages = page_bytes as f64 / (per_page * ENTRY_BYTES as u64) as f64;
    let one_flush = (entries.div_ceil(per_page) + 1) as f64 / entries.div_ceil(per_page) as f64;
    assert!(measure(1) > 80.0 && measure(entries) < full_pages * one_flush * 1.05);
}

/// A block that fails a program wastes the rest of its pages: the
/// journal's count of wasted bytes grows by exactly them.
#[test]
fn a_failed_program_wastes_the_rest_of_its_block() {
    let flushed_pages = 3u64;
    let wasted = |fail: bool| {
        let mut flash = device(3);
        let mut log = Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).unwrap();
        for i in 0..flushed_pages {
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
        }
        if fail {
            let at = log.flash().ops_mutating();
            log.flash_mut()
                .schedule_fault(at, ScheduledFault::ProgramFail);
        }
        log.append(&entry(9)).unwrap();
        log.flush().unwrap();
        assert_eq!(log.journal_stats().blocks_retired, u64::from(fail));
        log.journal_stats().bytes_wasted
    };
    let g = geometry();
    // Each flush took its page and its commit copy.
    let rest = (u64::from(g.pages_per_block) - 2 * flushed_pages) * u64::from(g.page_bytes);
    assert_eq!(wasted(true) - wasted(false), rest);
}

/// A reopened journal resumes at the next block start: the rest of the
/// block it was writing is wasted, and its stats say so, page by page.
#[test]
fn a_reopened_journal_wastes_the_rest_of_its_block() {
    let flushes = 3u64;
    let mut flash = device(3);
    let passed_over = {
        let mut log = Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).unwrap();
        for i in 0..flushes {
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
        }
        log.journal_stats().pages_passed_over
    };
    let (log, recovered, _) = Ledger::open(&mut flash).unwrap();
    assert_eq!(recovered.len() as u64, flushes);
    let g = geometry();
    // Each flush took its page and its commit copy, and passed over some
    // (perhaps into the next block).
    let (used, per_block) = (2 * flushes + passed_over, u64::from(g.pages_per_block));
    let rest = (per_block - used % per_block) % per_block * u64::from(g.page_bytes);
    assert_eq!(log.journal_stats().bytes_wasted, rest);
}

/// Recovery names what stopped it: a valid page of another generation
/// (left from an older use of the block) is a foreign generation, one of
/// this generation out of its sequence is out of sequence.
/// A journal of three flushed entries, the region's page addresses in
/// position order (positions run over every page of each block, block
/// after block, the pages passed over among them, left erased), and the
/// last page written with its position.
fn three_flushes() -> (SimFlash, Vec<logstore::PageAddr>, usize, Page) {
    let mut base = device(3);
    {
        let mut log = Ledger::create(&mut base, JOURNAL_BLOCKS, vec![]).unwrap();
        for i in 0..3 {
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
        }
    }
    let region = Ledger::open(&mut base.clone())
        .unwrap()
        .0
        .record()
        .journal
        .clone();
    let g = base.geometry();
    let addresses: Vec<logstore::PageAddr> = region
        .blocks
        .iter()
        .flat_map(|&block| {
            (0..g.pages_per_block).map(move |page| logstore::PageAddr { block, page })
        })
        .collect();
    let mut last = None;
    for (position, &addr) in addresses.iter().enumerate() {
        let mut buf = vec![0; g.page_bytes as usize];
        base.read(addr, &mut buf).unwrap();
        if let Ok(decoded) = Page::decode(&buf) {
            last = Some((position, decoded));
        }
    }
    let (at, page) = last.expect("the journal wrote a page");
    (base, addresses, at, page)
}

/// The next page in sequence at the next block start under a later epoch
/// is a resumption: taken up to the epoch the region's blocks allow (one
/// more than their count, what a writer opening an epoch a block start
/// never passes), refused as malformed one past it.
#[test]
fn recovery_takes_a_resumption_up_to_the_regions_epoch_bound() {
    let (base, addresses, at, page) = three_flushes();
    let g = base.geometry();
    let start = (at / g.pages_per_block as usize + 1) * g.pages_per_block as usize;
    let bound = JOURNAL_BLOCKS + 1;
    for epoch in [bound, bound + 1] {
        let mut flash = base.clone();
        let resumed = Page {
            epoch,
            sequence: page.sequence + 1,
            entries: vec![entry(9)],
            ..page.clone()
        };
        flash
            .program(addresses[start], &resumed.encode(g.page_bytes as usize))
            .unwrap();
        let (_, recovered, report) = Ledger::open(&mut flash).unwrap();
        if epoch == bound {
            assert_eq!(recovered.len(), 4, "{report:?}");
            assert_eq!(recovered[3], entry(9));
        } else {
            assert_eq!(recovered.len(), 3, "{report:?}");
            assert!(!report.lost_data(), "{report:?}");
        }
    }
}

#[test]
fn recovery_tells_a_foreign_page_from_one_out_of_sequence() {
    use logstore::errors::{DecodeError, JournalPageFault};
    use logstore::{StopFault, StopReason};
    let (base, addresses, at, page) = three_flushes();
    let g = base.geometry();
    let address = |position: usize| addresses[position];
    let next = address(at + 1);
    let foreign = Page {
        generation: page.generation + 1,
        sequence: page.sequence + 1,
        entries: vec![],
        ..page.clone()
    };
    let skipped = Page {
        sequence: page.sequence + 5,
        entries: vec![],
        ..page.clone()
    };
    // Sequences and epochs no writer reaches in this region: what the
    // fuzzer's `image` target crafted to overflow recovery's arithmetic.
    let past_sequence = Page {
        sequence: u64::MAX / 3,
        entries: vec![],
        ..page.clone()
    };
    let past_epoch = Page {
        epoch: u32::MAX,
        entries: vec![],
        ..page.clone()
    };
    let malformed = |what, value| {
        StopFault::Invalid(JournalPageFault::Malformed(DecodeError::Invalid {
            what,
            value,
        }))
    };
    let expected = [
        StopFault::ForeignGeneration {
            generation: page.generation + 1,
        },
        StopFault::OutOfSequence {
            sequence: page.sequence + 5,
            epoch: page.epoch,
        },
        malformed("journal sequence past the region's pages", u64::MAX / 3),
        malformed(
            "journal epoch past the region's blocks",
            u64::from(u32::MAX),
        ),
    ];
    let placed = [foreign, skipped, past_sequence, past_epoch];
    for (placed, fault) in placed.into_iter().zip(expected) {
        let mut flash = base.clone();
        flash
            .program(next, &placed.encode(g.page_bytes as usize))
            .unwrap();
        let (_, recovered, report) = Ledger::open(&mut flash).unwrap();
        assert_eq!(recovered.len(), 3);
        let position = at as u64 + 1;
        assert_eq!(report.stop, StopReason::Page { position, fault });
        // The page it stopped at is dropped, counted in pages and bytes.
        assert_eq!(report.pages_dropped, 1);
        assert_eq!(report.bytes_dropped, u64::from(g.page_bytes));
    }
}

/// Past erased pages at a block's end, the next page in sequence at the
/// next block start continues the chain under a later epoch (a
/// resumption, or pages passed over to the block's end) and under the
/// same one (the writer opens a new epoch when it passes over a block's
/// last pages, so a same-epoch page there means the block's last page was
/// programmed and lost). A copy of the last page at the block start with
/// the next page after it is a resumption only under a later epoch: the
/// writer copies a page twice only at a resume.
#[test]
fn a_page_in_sequence_past_a_blocks_erased_end_continues_the_chain() {
    let mut base = device(3);
    {
        let mut log = Ledger::create(&mut base, JOURNAL_BLOCKS, vec![]).unwrap();
        for i in 0..3 {
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
        }
    }
    let region = Ledger::open(&mut base.clone())
        .unwrap()
        .0
        .record()
        .journal
        .clone();
    let g = base.geometry();
    let pages: Vec<u32> = (0..g.pages_per_block).collect();
    let address = |position: usize| logstore::PageAddr {
        block: region.blocks[position / pages.len()],
        page: pages[position % pages.len()],
    };
    let mut last = None;
    for position in 0..region.blocks.len() * pages.len() {
        let mut buf = vec![0; g.page_bytes as usize];
        base.read(address(position), &mut buf).unwrap();
        if let Ok(decoded) = Page::decode(&buf) {
            last = Some((position, decoded));
        }
    }
    let (at, page) = last.expect("the journal wrote a page");
    let block_start = (at / pages.len() + 1) * pages.len();
    assert!(
        block_start > at + 1,
        "a gap of erased pages before the block start"
    );
    let recovered_with = |epoch: u32| {
        let placed = Page {
            sequence: page.sequence + 1,
            epoch,
            entries: vec![entry(99)],
            ..page.clone()
        };
        let mut flash = base.clone();
        flash
            .program(address(block_start), &placed.encode(g.page_bytes as usize))
            .unwrap();
        Ledger::open(&mut flash).unwrap().1
    };
    assert_eq!(recovered_with(page.epoch + 1).len(), 4);
    assert_eq!(recovered_with(page.epoch).len(), 4);
    // The same with a copy of the last page at the block start and the
    // next page after it: a copy past a gap opens a resumption only under
    // a later epoch too.
    let recovered_after_copy = |epoch: u32| {
        let copy = Page {
            epoch,
            ..page.clone()
        };
        let next = Page {
            sequence: page.sequence + 1,
            epoch,
            entries: vec![entry(99)],
            ..page.clone()
        };
        let mut flash = base.clone();
        for (offset, placed) in [copy, next].iter().enumerate() {
            let bytes = placed.encode(g.page_bytes as usize);
            flash
                .program(address(block_start + offset), &bytes)
                .unwrap();
        }
        Ledger::open(&mut flash).unwrap().1
    };
    assert_eq!(recovered_after_copy(page.epoch + 1).len(), 4);
    assert_eq!(recovered_after_copy(page.epoch).len(), 3);
}

/// Formatting needs the anchor's lanes and the journal's blocks among the
/// good ones: exactly enough formats, one short is `DeviceTooSmall`
/// (naming the good blocks, factory-bad ones not among them).
#[test]
fn format_needs_the_lanes_and_the_journal_and_no_more() {
    let blocks = geometry().blocks;
    let lanes = logstore::testing::LANES as u32;
    let mut flash = device(4);
    assert!(matches!(
        Ledger::create(&mut flash, blocks - lanes + 1, vec![]),
        Err(LedgerError::DeviceTooSmall { .. })
    ));
    let mut flash = device(4);
    assert!(Ledger::create(&mut flash, blocks - lanes, vec![]).is_ok());
    let mut flash = device(4);
    assert!(matches!(
        Ledger::create(&mut flash, 0, vec![]),
        Err(LedgerError::DeviceTooSmall { .. })
    ));
    // Blocks marked bad at manufacture are not among the good ones.
    let with_bad = || {
        let mut config = SimConfig::new(geometry());
        config.factory_bad = vec![5, 40];
        SimFlash::new(config, 4).unwrap()
    };
    let mut flash = with_bad();
    let short = Ledger::create(&mut flash, blocks - lanes - 1, vec![]);
    assert!(
        matches!(short, Err(LedgerError::DeviceTooSmall { blocks: good, .. }) if good == blocks - 2),
        "{short:?}"
    );
    let mut flash = with_bad();
    assert!(Ledger::create(&mut flash, blocks - lanes - 2, vec![]).is_ok());
}

/// A record in force found in one lane only (the other's pages damaged)
/// asks for the anchor to be committed again; found in both, it does not.
#[test]
fn a_record_found_in_one_lane_only_asks_for_a_scrub() {
    use logstore::testing::Anchor;
    let mut flash = fresh_log(8);
    {
        let (mut log, _) = open(&mut flash);
        for i in 0..3 {
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
            log.recycle().unwrap();
        }
    }
    let whole = Anchor::open(&mut flash.clone()).unwrap();
    assert!(!whole.anchor.needs_scrub());
    let g = geometry();
    let mut image = flash.image();
    for page in 0..g.pages_per_block {
        let addr = logstore::PageAddr {
            block: whole.record.lanes[0],
            page,
        };
        let at = g.page_offset(addr) as usize;
        image[at + 12] ^= 0x40;
    }
    let mut damaged = SimFlash::from_image(SimConfig::new(g), &image, 0).unwrap();
    let one = Anchor::open(&mut damaged).unwrap();
    assert_eq!(one.record.sequence, whole.record.sequence);
    assert!(one.anchor.needs_scrub());
}

/// The journal's use is the share of its region's pages programmed; it
/// counts the entries and bytes appended.
#[test]
fn use_fraction_is_the_share_of_pages_programmed() {
    let mut flash = device(9);
    let mut log = Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).unwrap();
    assert_eq!(log.journal().use_fraction(), 0.0);
    let pages = 5u64;
    for i in 0..pages {
        log.append(&entry(i)).unwrap();
        log.flush().unwrap();
    }
    let region_pages = u64::from(JOURNAL_BLOCKS) * u64::from(geometry().pages_per_block);
    // Each flush: its page and its commit copy, and the pages passed over.
    let stats = log.journal_stats();
    let expected = (2 * pages + stats.pages_passed_over) as f64 / region_pages as f64;
    assert!((log.journal().use_fraction() - expected).abs() < 1e-12);
    let stats = log.journal_stats();
    assert_eq!(stats.entries_appended, pages);
    let bytes: u64 = (0..pages).map(|i| entry(i).encoded_bytes() as u64).sum();
    assert_eq!(stats.bytes_appended, bytes);
}

/// A device that answers reads of one page with another page's bytes: a
/// misdirected read, as a controller or a bit flip in an address can make.
struct Misdirected {
    inner: SimFlash,
    /// Reads of the first page get the second's bytes.
    redirect: Option<(logstore::PageAddr, logstore::PageAddr)>,
}

impl Flash for Misdirected {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }
    fn read(&mut self, page: logstore::PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        let from = match self.redirect {
            Some((asked, given)) if asked == page => given,
            _ => page,
        };
        self.inner.read(from, buf)
    }
    fn program(&mut self, page: logstore::PageAddr, data: &[u8]) -> Result<(), FlashError> {
        self.inner.program(page, data)
    }
    fn erase(&mut self, block: logstore::BlockAddr) -> Result<(), FlashError> {
        self.inner.erase(block)
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        self.inner.sync()
    }
}

/// A journal page read from the wrong address (valid, of the same
/// journal, but another sequence) is never taken for the entry asked.
#[test]
fn a_misdirected_read_is_never_taken_for_the_entry() {
    let mut flash = Misdirected {
        inner: device(10),
        redirect: None,
    };
    let mut log = Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).unwrap();
    let mut positions = Vec::new();
    for i in 0..3 {
        positions.push(log.append(&entry(i)).unwrap());
        log.flush().unwrap();
    }
    // A fourth page in RAM, so the first three are read from flash.
    log.append(&entry(3)).unwrap();
    let pages = log.journal().page_addrs();
    assert!(pages.len() >= 3);
    for (i, &position) in positions.iter().enumerate() {
        assert_eq!(log.read_entry(position).unwrap(), entry(i as u64));
    }
    log.flash_mut().redirect = Some((pages[1], pages[0]));
    // Past the one-page cache: read page 2, then ask for page 1's entry.
    log.read_entry(positions[2]).unwrap();
    assert!(matches!(
        log.read_entry(positions[1]),
        Err(LedgerError::Journal(
            logstore::errors::JournalError::NoEntry { .. }
        ))
    ));
}

/// Any one page, and any two pages, lost among the anchor's lanes (page 0
/// included; garbled, erased, or holding another page's bytes) never open
/// an older record: with three lanes the newest is always found.
#[test]
fn two_anchor_pages_lost_never_roll_back() {
    for seed in 0..4 {
        let outcome = logstore_sim::campaign::anchor_pairs::anchor_pairs(seed).unwrap();
        println!("anchor pages lost in pairs, seed {seed}: {outcome:?}");
        assert!(
            outcome.pages >= 2 * logstore::testing::LANES as u64,
            "{outcome:?}"
        );
        assert_eq!(outcome.newest, outcome.placements, "{outcome:?}");
    }
}

/// An anchor record may fill its lane's block to the last byte: the
/// largest configuration `Ledger::create` takes makes a record of exactly a
/// block, and one byte more is `TooLarge`.
#[test]
fn an_anchor_record_may_fill_its_block_exactly() {
    let geometry = Geometry::new(512, 4, 16).unwrap();
    let create = |config_bytes: usize| {
        let mut flash = SimFlash::new(SimConfig::new(geometry), 1).unwrap();
        Ledger::create(&mut flash, 2, vec![7; config_bytes]).map(|log| log.record().encode().len())
    };
    // The largest configuration that formats, by bisection.
    let (mut fits, mut too_large) = (0, logstore::testing::format::META_BYTES_MAX + 1);
    assert!(create(fits).is_ok());
    while too_large - fits > 1 {
        let mid = (fits + too_large) / 2;
        match create(mid) {
            Ok(_) => fits = mid,
            Err(_) => too_large = mid,
        }
    }
    let block_bytes = geometry.block_bytes() as usize;
    assert_eq!(create(fits).unwrap(), block_bytes);
    assert!(matches!(
        create(fits + 1),
        Err(LedgerError::Anchor(AnchorError::TooLarge { .. }))
    ));
}

/// `has_room_for` leaves exactly the flush's commit copy: a journal filled
/// until it says no flushes (the copy fits) with every entry kept, and has
/// one page left for that copy, no more.
#[test]
fn a_journal_filled_to_its_room_still_flushes_with_its_copy() {
    let mut flash = fresh_log(21);
    let appended = {
        let (mut log, _) = open(&mut flash);
        let mut appended = Vec::new();
        for i in 0..10_000u64 {
            if !log.has_room_for(&entry(i)) {
                break;
            }
            log.append(&entry(i)).unwrap();
            appended.push(entry(i));
        }
        log.flush().unwrap();
        assert_eq!(log.journal().use_fraction(), 1.0);
        appended
    };
    let (_, entries) = open(&mut flash);
    assert_eq!(entries, appended);
}

/// A journal rewrite (`pack`) whose region loses a block to a failed erase
/// or program no longer holds what it was asked to: it moves to another
/// region and succeeds, and the entries reopen. A rewrite that cannot fit
/// in any region fails `Full` at its first attempt, without trying more
/// regions (which would only wear them).
#[test]
fn a_rewrite_that_loses_a_block_moves_to_another_region_and_one_too_big_stops_at_once() {
    let journal_blocks = 2;
    let fresh = || {
        let mut flash = device(11);
        Ledger::create(&mut flash, journal_blocks, vec![]).unwrap();
        flash
    };
    let pack = |flash: &mut SimFlash, n: u64| {
        let (mut log, _) = open(flash);
        let live: Vec<Entry> = (0..n).map(entry).collect();
        log.pack(&live).map(|_| ())
    };
    // The most entries a region holds, found by trying.
    let per_block = 8 * u64::from(geometry().pages_per_block);
    let fits = |n: u64| pack(&mut fresh(), n).is_ok();
    let most = (1..=per_block * u64::from(journal_blocks))
        .take_while(|&n| fits(n))
        .last()
        .expect("a region holds one entry");
    let (mut dry, start) = {
        let flash = fresh();
        let start = flash.ops_mutating();
        (flash, start)
    };
    pack(&mut dry, most).unwrap();
    let ops = dry.ops_mutating() - start;
    let mut failed = 0;
    for fault in [ScheduledFault::EraseFail, ScheduledFault::ProgramFail] {
        for op in start..start + ops {
            let mut flash = fresh();
            flash.schedule_fault(op, fault);
            let result = pack(&mut flash, most);
            let counters = flash.counters();
            if counters.erase_failures + counters.program_failures == 0 {
                continue;
            }
            failed += 1;
            assert!(result.is_ok(), "{fault:?} at {op}: {result:?}");
            let (_, entries) = open(&mut flash);
            let live: Vec<Entry> = (0..most).map(entry).collect();
            assert_eq!(entries, live, "{fault:?} at {op}");
        }
    }
    assert!(failed >= 2, "{failed} failed operations landed");
    let mut flash = fresh();
    let too_big = pack(&mut flash, most + 1);
    assert!(
        matches!(too_big, Err(LedgerError::Full { .. })),
        "{too_big:?}"
    );
    let spent = flash.ops_mutating() - start;
    assert!(
        spent <= ops + 2,
        "a rewrite too big for any region spent {spent} operations, one that fits {ops}"
    );
}

/// A journal resumed after an open erases each block it moves into; one
/// whose erase fails is retired and counted, and the page lands in the
/// next block.
#[test]
fn a_resumed_journal_retires_a_block_whose_erase_fails() {
    let mut landed = 0;
    for flushes in 0..16u64 {
        let mut flash = fresh_log(5);
        for i in 0..flushes {
            let (mut log, _) = open(&mut flash);
            log.append(&entry(i)).unwrap();
            log.flush().unwrap();
        }
        let (mut log, _) = open(&mut flash);
        let at = log.flash().ops_mutating();
        log.flash_mut()
            .schedule_fault(at, ScheduledFault::EraseFail);
        log.append(&entry(99)).unwrap();
        log.flush().unwrap();
        let failed = log.flash().counters().erase_failures;
        assert_eq!(
            log.journal_stats().blocks_retired,
            failed,
            "after {flushes} flushes"
        );
        drop(log);
        let (_, entries) = open(&mut flash);
        assert_eq!(entries.last(), Some(&entry(99)), "after {flushes} flushes");
        landed += failed;
    }
    assert!(landed > 0, "no resumed journal moved into a new block");
}

/// A log whose write failed (power lost mid-flush) no longer knows what is
/// on flash: every later operation is `Poisoned`, even once the device is
/// back, until the device is opened again (which recovers all flushed).
#[test]
fn a_log_whose_flush_failed_refuses_everything_until_reopened() {
    let mut flash = fresh_log(8);
    let (mut log, _) = open(&mut flash);
    log.append(&entry(0)).unwrap();
    log.flush().unwrap();
    log.append(&entry(1)).unwrap();
    log.flash_mut().cut_power_now(CrashMode::Torn);
    assert!(log.flush().is_err());
    log.flash_mut().restart();
    assert!(matches!(log.append(&entry(2)), Err(LedgerError::Poisoned)));
    assert!(matches!(log.flush(), Err(LedgerError::Poisoned)));
    assert!(matches!(log.pack(&[entry(3)]), Err(LedgerError::Poisoned)));
    drop(log);
    let (_, entries) = open(&mut flash);
    assert_eq!(entries.first(), Some(&entry(0)));
    assert!(!entries.contains(&entry(2)) && !entries.contains(&entry(3)));
}

/// The pages a pack of given entries would fill are counted as the journal
/// fills them: an entry that exactly fills what is left of a page stays on
/// that page. On 1 KiB pages, 20 inserts fill a page to the byte (the
/// header takes 44 bytes; with tombstones no mix does); the most such pages a one-block region takes (then the
/// flush's copy and a page for the next entry and its copy, passing over
/// what they must) take one entry more only as a page more, and on a
/// paired block more than the 8 pages the journal kept to before it passed
/// over only what a flush boundary cuts.
#[test]
fn a_pack_estimate_counts_pages_filled_to_the_byte() {
    let geometry = Geometry::new(1024, 16, 64).unwrap();
    let mut flash = SimFlash::new(SimConfig::new(geometry), 1).unwrap();
    let ledger = Ledger::create(&mut flash, 1, vec![]).unwrap();
    let journal = ledger.journal();
    let page: Vec<Entry> = (0..20u64).map(entry_insert).collect();
    assert_eq!(
        page.iter().map(Entry::encoded_bytes).sum::<usize>(),
        1024 - JOURNAL_HEADER_BYTES
    );
    let pages = |n: usize| {
        page.iter()
            .cycle()
            .take(n * page.len())
            .copied()
            .collect::<Vec<_>>()
    };
    let most = (0..16)
        .take_while(|&n| journal.would_take_more_after(&pages(n)))
        .last()
        .expect("an empty pack fits");
    // The layout of pages unpaired under every scheme held 5 such pages.
    assert!(most > 5, "{most} pages");
    let mut over = pages(most);
    over.push(entry_insert(999));
    assert!(!journal.would_take_more_after(&over));
    assert!(!journal.would_take_more_after(&pages(most + 1)));
}

fn entry_insert(i: u64) -> Entry {
    let mut hash = [0u8; 32];
    ChaCha8Rng::seed_from_u64(i).fill(&mut hash);
    Entry::Hash {
        hash,
        info: Info {
            physical_sector: i,
            first_logical_sector: i,
        },
    }
}

/// A journal needs pages that hold its header and an entry: on a part
/// with smaller pages, create refuses, naming the page size.
#[test]
fn a_journal_refuses_pages_too_small_for_an_entry() {
    use logstore::errors::JournalError;
    let small = Geometry::new(64, 8, 32).unwrap();
    let mut flash = SimFlash::new(SimConfig::new(small), 0).unwrap();
    let created = Ledger::create(&mut flash, 2, vec![]);
    assert!(
        matches!(
            created,
            Err(LedgerError::Journal(JournalError::PageTooSmall {
                page_bytes: 64
            }))
        ),
        "{:?}",
        created.err()
    );
}

/// A flush of a page the entries do not fill wastes the rest of it: its
/// room past the header, less the entries, counted byte for byte (the
/// commit copy that follows wastes nothing more).
#[test]
fn a_flush_of_a_partial_page_wastes_the_rest_of_it() {
    let mut flash = device(3);
    let mut log = Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).unwrap();
    let before = log.journal_stats().bytes_wasted;
    let entries = [entry(1), entry(3)];
    for e in &entries {
        log.append(e).unwrap();
    }
    log.flush().unwrap();
    let room = geometry().page_bytes as usize - JOURNAL_HEADER_BYTES;
    let used: usize = entries.iter().map(Entry::encoded_bytes).sum();
    let wasted = log.journal_stats().bytes_wasted - before;
    assert_eq!(wasted, (room - used) as u64);
}

/// `pages_left` counts down a page a page programmed (each counted whole),
/// and a position on no page of the journal (before its first page on
/// flash, past the buffered one, up to two regions on) is an error:
/// `NoEntry`, or `Corrupt` where the region's page there is erased; never
/// an entry, never a read outside the region.
#[test]
fn positions_on_no_page_are_errors_and_pages_left_counts_down() {
    let mut flash = fresh_log(11);
    let page_bytes = u64::from(flash.geometry().page_bytes);
    let (mut log, _) = open(&mut flash);
    let region_pages = log.journal().region_bytes() / page_bytes;
    let (left, before) = (log.journal().pages_left(), log.journal().stats());
    assert!(left > 3 && left <= region_pages, "{left} of {region_pages}");
    let mut positions = Vec::new();
    for i in 0..4 {
        positions.push(log.append(&entry(i)).unwrap());
        log.flush().unwrap();
    }
    // Each flush's page, and the copy of the last page a flush writes
    // before the next page (a torn program must not take it), and the
    // pages passed over rather than put a flushed page at risk.
    let used = left - log.journal().pages_left();
    let after = log.journal().stats();
    let programmed = after.pages_programmed - before.pages_programmed;
    let passed_over = after.pages_passed_over - before.pages_passed_over;
    assert!(used >= 4, "{used} pages for 4 flushes");
    assert_eq!(programmed + passed_over, used);
    assert_eq!(
        after.bytes_programmed - before.bytes_programmed,
        programmed * page_bytes
    );
    assert_eq!(after.entries_on_flash - before.entries_on_flash, 4);
    let per_page = logstore::testing::format::entries_per_page(page_bytes as u32);
    assert!(positions.iter().all(|p| p % per_page == 0));
    let on_flash = log.journal().sequences_on_flash();
    for sequence in 0..on_flash.end + 2 * region_pages {
        let found = log.read_entry(sequence * per_page);
        if let Some(i) = positions.iter().position(|&p| p == sequence * per_page) {
            assert_eq!(found.unwrap(), entry(i as u64), "sequence {sequence}");
        } else if !on_flash.contains(&sequence) {
            use logstore::errors::JournalError::{Corrupt, NoEntry};
            assert!(
                matches!(
                    found,
                    Err(LedgerError::Journal(NoEntry { .. } | Corrupt { .. }))
                ),
                "sequence {sequence}: {found:?}"
            );
        }
    }
}

/// A journal recovered past a lost first page starts on flash at sequence
/// 1, not 0: a scrub's check counts its pages from the first one there.
/// Offset 2 is sequence 3, and a page past the ECC there is named by the
/// check of that offset, by no other, and once.
#[test]
fn a_check_of_journal_pages_counts_from_the_first_page_on_flash() {
    let geometry = geometry().with_ecc(16, 256, 4).unwrap();
    let mut flash = SimFlash::new(SimConfig::new(geometry), 5).unwrap();
    Ledger::create(Media::new(&mut flash).unwrap(), JOURNAL_BLOCKS, vec![]).unwrap();
    let per_page = logstore::testing::format::entries_per_page(geometry.page_bytes);
    {
        let (mut log, _, _) = Ledger::open(Media::new(&mut flash).unwrap()).unwrap();
        for i in 0..6 * per_page {
            log.append(&entry(i)).unwrap();
        }
        log.flush().unwrap();
    }
    let chain = journal_pages(&mut Media::new(&mut flash).unwrap());
    let past_the_ecc = |flash: &mut SimFlash, addr| {
        for bit in 0..geometry.ecc_bits * 2 + 2 {
            flash.flip_bit(addr, bit).unwrap();
        }
    };
    for page in chain.iter().filter(|p| p.sequence == 0) {
        past_the_ecc(&mut flash, page.addr);
    }
    let third = chain.iter().find(|p| p.sequence == 3).unwrap().addr;
    let pages = chain.iter().map(|p| p.sequence).max().unwrap() + 1;
    assert!(pages >= 6, "{pages} pages");
    let (mut log, _, report) = Ledger::open(Media::new(&mut flash).unwrap()).unwrap();
    assert_eq!(report.lost.len(), 1, "{report:?}");
    assert_eq!(log.journal().sequences_on_flash(), 1..pages);
    assert_eq!(log.journal().pages_on_flash(), pages - 1);
    past_the_ecc(log.flash_mut().inner_mut(), third);
    assert_eq!(log.check_journal_pages(0..2).unwrap().1, 0);
    assert_eq!(log.check_journal_pages(3..pages + 3).unwrap().1, 0);
    assert_eq!(log.check_journal_pages(2..3).unwrap().1, 1, "sequence 3");
    assert_eq!(
        log.check_journal_pages(0..pages).unwrap().1,
        0,
        "named once"
    );
    assert!(log.journal().needs_scrub());
}

/// A generation is never handed out twice on a device, across power cuts:
/// one handed out and used (a freeze or a pack whose commit a cut
/// stopped) stays below the next generation of the durable record, so
/// the retry's pages can never be mistaken for the stopped attempt's. Each
/// round hands out a few (a pack among them, so a commit lands between
/// some), then cuts the power before any further commit.
#[test]
fn no_generation_is_handed_out_twice_across_power_cuts() {
    let mut flash = fresh_log(7);
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..12u64 {
        let (mut log, _) = open(&mut flash);
        for i in 0..(round % 4) + 1 {
            if i == 1 && round % 3 == 0 {
                log.pack(&[entry(round)]).unwrap();
                let packed = log.record().journal.generation;
                assert!(
                    seen.insert(packed),
                    "round {round}: pack took {packed} again"
                );
            }
            let generation = log.next_generation().unwrap();
            assert!(
                seen.insert(generation),
                "round {round}: generation {generation} handed out again"
            );
        }
        drop(log);
        power_cycle(&mut flash, CrashMode::Torn);
    }
    assert!(seen.len() >= 24, "{seen:?}");
}

/// Formatting a used device starts generations above every one the
/// earlier store left (page 0 of its regions, its record's next), so none
/// of its pages can pass for the new store's.
#[test]
fn a_format_over_a_used_device_starts_above_its_generations() {
    let mut flash = fresh_log(11);
    let mut earlier = Vec::new();
    {
        let (mut log, _) = open(&mut flash);
        for i in 0..5 {
            log.pack(&[entry(i)]).unwrap();
            earlier.push(log.record().journal.generation);
        }
    }
    Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]).unwrap();
    let (log, entries) = open(&mut flash);
    assert!(entries.is_empty(), "{entries:?}");
    let first = log.record().journal.generation;
    assert!(
        earlier.iter().all(|&g| g < first),
        "the new store's first generation {first} is not above {earlier:?}"
    );
}

/// A part whose pages name generations up to the last a store could
/// still hand out (its journal's, then the reserve) is formatted; one
/// past that bound (crafted, say) is refused, typed, never overflowing.
#[test]
fn a_format_takes_a_used_part_up_to_the_generations_left_and_refuses_past() {
    let reserved = logstore::testing::GENERATIONS_RESERVED;
    let g = geometry();
    let last_taken = u64::MAX - 2 - reserved;
    for (highest_on_part, taken) in [(last_taken - 1, true), (last_taken, false)] {
        let mut flash = device(13);
        let foreign = Page {
            epoch: 1,
            generation: highest_on_part,
            sequence: 0,
            synced_through: None,
            erase_count: 0,
            entries: vec![entry(1)],
        };
        let block = logstore::BlockAddr(g.blocks - 1);
        let page = logstore::PageAddr { block, page: 0 };
        flash
            .program(page, &foreign.encode(g.page_bytes as usize))
            .unwrap();
        let before = flash.image();
        match Ledger::create(&mut flash, JOURNAL_BLOCKS, vec![]) {
            Ok(mut log) if taken => {
                assert_eq!(log.record().journal.generation, highest_on_part + 1);
                assert_eq!(log.record().next_generation, u64::MAX - 1);
                // A pack takes the next one and commits the reserve,
                // capped below `u64::MAX`; the rest are handed out, then
                // none, typed.
                log.pack(&[entry(2)]).unwrap();
                assert_eq!(log.record().journal.generation, last_taken + 1);
                assert_eq!(log.record().next_generation, u64::MAX - 1);
                let handed = (0..=reserved)
                    .map_while(|_| log.next_generation().ok())
                    .collect::<Vec<_>>();
                assert_eq!(handed.len() as u64, reserved - 1, "{handed:?}");
                assert_eq!(handed.last(), Some(&(u64::MAX - 2)));
                assert!(matches!(
                    log.next_generation(),
                    Err(LedgerError::Anchor(AnchorError::GenerationsExhausted))
                ));
            }
            Err(LedgerError::Anchor(AnchorError::GenerationsExhausted)) if !taken => {
                assert!(flash.image() == before, "a refused format changed the part");
            }
            other => panic!(
                "generation {highest_on_part} on the part: {:?}",
                other.map(|_| ())
            ),
        }
    }
}
