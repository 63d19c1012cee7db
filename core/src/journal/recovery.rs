//! Journal recovery: read a region back, follow the chain of pages of its
//! generation (consecutive sequences; a new epoch only at a block start,
//! where appending resumed after a crash or a failed program), and tell
//! the two ways a chain can stop.
//!
//! A **torn tail**: the pages after the stop were never made durable (a
//! crash cut them, or the write cache dropped or reordered them). They are
//! dropped, and counted. A **loss**: a page is unreadable (uncorrectable,
//! or its CRC fails) yet a valid page of the same chain after it says a
//! completed flush had made it durable (`synced_through`). Recovery then
//! goes on past the hole, and names what is lost ([`Loss`]): the caller
//! must decide (the store refuses to open silently). Every loop is bounded
//! by the region's pages.
//!
//! **Copies.** A sequence may stand twice: a flush's commit copy follows
//! its last page, and a recovery copies the last page it accepted at the
//! resume point (see [`super`]). The first readable one is accepted; a
//! later copy of the page just accepted is passed over; a bad page followed
//! at once by the sequence expected (in the same epoch) was one of a pair,
//! and nothing is lost with it.

use crate::flash::{is_erased, Flash, FlashError, Geometry, PageAddr};
use crate::format::journal::{entries_per_page, Entry, JournalPageFault, Page};
use crate::region::Region;

use super::{note_page, Journal, JournalError, JOURNAL_PAGE_BYTES_MIN};

/// Where and why recovery stopped accepting pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Every page of the region was read.
    EndOfRegion,
    /// The page after the last accepted one, at this region position, and
    /// what was wrong with it.
    Page { position: u64, fault: StopFault },
}

/// What the first page recovery could not accept held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopFault {
    Invalid(JournalPageFault),
    /// A valid page of another journal generation (left from an older use).
    ForeignGeneration {
        generation: u64,
    },
    /// A valid page of this generation out of sequence or epoch.
    OutOfSequence {
        sequence: u64,
        epoch: u32,
    },
}

/// Pages lost in the middle of the journal: durable, yet unreadable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    /// Region position of the first unreadable page.
    pub position: u64,
    /// Page sequences missing from the chain (their entries are gone).
    pub sequences: std::ops::Range<u64>,
    /// What was wrong with the page at `position`.
    pub fault: StopFault,
}

/// What recovery kept, dropped and lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The generation of the journal region recovered.
    pub journal_generation: u64,
    pub entries_kept: u64,
    pub pages_kept: u64,
    /// Pages past the stop point that were not erased: torn, out of order
    /// or stale. They are never accepted later.
    pub pages_dropped: u64,
    pub bytes_dropped: u64,
    pub stop: StopReason,
    /// Epoch changes followed (one per earlier resume or failed program).
    pub epochs_followed: u32,
    /// Durable pages found unreadable in the middle of the chain. Empty
    /// unless errors outgrew the ECC (or something wrote over the journal).
    pub lost: Vec<Loss>,
    /// The most bits the ECC corrected in one step of one page read.
    pub bits_corrected_max: u32,
    /// Some page was read with corrected bits at or past the scrub
    /// threshold: the journal should be rewritten.
    pub scrub: bool,
    /// Incarnations whose filter was missing (an older format) or did not
    /// check out, and was built again from their buckets at open.
    pub filters_rebuilt: u32,
}

impl RecoveryReport {
    /// Whether durable journal pages were lost.
    pub fn lost_data(&self) -> bool {
        !self.lost.is_empty()
    }
}

/// One page of the region as read back.
#[derive(Clone, Debug)]
enum Found {
    Erased,
    Invalid(JournalPageFault),
    Valid(Page),
}

impl Found {
    fn fault(&self, generation: u64) -> StopFault {
        match self {
            Found::Erased => StopFault::Invalid(JournalPageFault::Erased),
            Found::Invalid(fault) => StopFault::Invalid(fault.clone()),
            Found::Valid(page) if page.generation != generation => StopFault::ForeignGeneration {
                generation: page.generation,
            },
            Found::Valid(page) => StopFault::OutOfSequence {
                sequence: page.sequence,
                epoch: page.epoch,
            },
        }
    }

    /// The page, if valid and of `generation`.
    fn page_of(&self, generation: u64) -> Option<&Page> {
        match self {
            Found::Valid(page) if page.generation == generation => Some(page),
            _ => None,
        }
    }
}

/// The region read back, a page at a time, with what the ECC saw.
struct RegionPages {
    found: Vec<Found>,
    bits_corrected_max: u32,
    scrub: bool,
}

fn read_region<F: Flash>(flash: &mut F, region: &Region) -> Result<RegionPages, FlashError> {
    let geometry = flash.geometry();
    let mut pages = RegionPages {
        found: Vec::with_capacity(region.blocks.len() * geometry.pages_per_block as usize),
        bits_corrected_max: 0,
        scrub: false,
    };
    let mut buf = vec![0u8; geometry.page_bytes as usize];
    for &block in &region.blocks {
        for page in 0..geometry.pages_per_block {
            let found = match flash.read_checked(PageAddr { block, page }, &mut buf) {
                Ok(status) => {
                    pages.bits_corrected_max = pages.bits_corrected_max.max(status.bits_corrected);
                    pages.scrub |= status.scrub;
                    within_region(decode(&buf), region, geometry)
                }
                Err(FlashError::Uncorrectable { .. }) => {
                    Found::Invalid(JournalPageFault::Uncorrectable)
                }
                Err(other) => return Err(other),
            };
            pages.found.push(found);
        }
    }
    Ok(pages)
}

/// A page of this region's generation whose sequence or epoch no writer
/// reaches in this region reads as malformed. The writer puts sequence `s`
/// at a position at least `s` (a new sequence takes a new position, a copy
/// repeats one) and opens epoch `e` at a block start of index at least
/// `e - 1` (asserted where it programs), so what recovery then computes
/// from either (positions, the next epoch) stays far from overflowing.
/// Plausible but wrong values stay valid: the chain tells them apart.
fn within_region(found: Found, region: &Region, geometry: Geometry) -> Found {
    let Found::Valid(page) = &found else {
        return found;
    };
    if crate::planted::active(crate::planted::Bug::RecoveryUnbounded) {
        return found;
    }
    let blocks = region.blocks.len() as u64;
    let bad = if page.generation != region.generation {
        None
    } else if page.sequence >= blocks * u64::from(geometry.pages_per_block) {
        Some(("journal sequence past the region's pages", page.sequence))
    } else if u64::from(page.epoch) > blocks + 1 {
        Some((
            "journal epoch past the region's blocks",
            u64::from(page.epoch),
        ))
    } else {
        None
    };
    match bad {
        Some((what, value)) => Found::Invalid(JournalPageFault::Malformed(
            crate::codec::DecodeError::Invalid { what, value },
        )),
        None => found,
    }
}

fn decode(bytes: &[u8]) -> Found {
    if is_erased(bytes) {
        return Found::Erased;
    }
    match Page::decode(bytes) {
        Ok(page) => Found::Valid(page),
        Err(fault) => Found::Invalid(fault),
    }
}

/// The chain recovery accepted, and where it stands.
struct Scan {
    entries: Vec<Entry>,
    positions: Vec<u64>,
    page_map: Vec<(u64, u64)>,
    report: RecoveryReport,
    /// Position after the last accepted page, sequence and epoch to go on.
    next_position: u64,
    sequence: u64,
    epoch: u32,
    synced_through: Option<u64>,
    /// Entries of the last page accepted, and whether a copy of it was seen.
    last_page_entries: usize,
    last_copied: bool,
}

impl Scan {
    /// Nothing read yet, of region generation `generation`.
    fn new(generation: u64) -> Scan {
        Scan {
            entries: Vec::new(),
            positions: Vec::new(),
            page_map: Vec::new(),
            report: RecoveryReport {
                journal_generation: generation,
                entries_kept: 0,
                pages_kept: 0,
                pages_dropped: 0,
                bytes_dropped: 0,
                stop: StopReason::EndOfRegion,
                epochs_followed: 0,
                lost: Vec::new(),
                bits_corrected_max: 0,
                scrub: false,
                filters_rebuilt: 0,
            },
            next_position: 0,
            sequence: 0,
            epoch: 0,
            synced_through: None,
            last_page_entries: 0,
            last_copied: false,
        }
    }

    /// What a scan returns holds together: an entry a position, positions
    /// and page sequences rising, the counts adding up, losses in order and
    /// short of the chain's next sequence.
    fn assert_chain(&self) {
        assert_eq!(self.entries.len(), self.positions.len());
        assert_eq!(self.report.entries_kept, self.entries.len() as u64);
        assert!(
            self.positions.windows(2).all(|w| w[0] < w[1]),
            "positions rise"
        );
        assert!(
            self.page_map
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
            "page sequences and positions rise"
        );
        assert!(self.page_map.len() as u64 <= self.report.pages_kept);
        assert!(self
            .report
            .lost
            .windows(2)
            .all(|w| w[0].sequences.end <= w[1].sequences.start));
        // Losses lie inside the chain, but a last one past its end: pages
        // a page past the stop vouched for (`note_vouched_past_the_stop`).
        let inside = self.report.lost.len().saturating_sub(1);
        assert!(self.report.lost[..inside]
            .iter()
            .all(|l| l.sequences.end <= self.sequence));
        assert!(self
            .report
            .lost
            .last()
            .is_none_or(|l| l.sequences.start <= self.sequence));
    }
}

impl Journal {
    /// Reads the region, keeps the chain of pages, and returns the journal
    /// ready to append (in a fresh block, under a new epoch), the entries in
    /// order and a report of what was dropped or lost. Unreadable pages do
    /// not stop the reading: they are classified.
    pub fn recover<F: Flash>(
        flash: &mut F,
        region: Region,
    ) -> Result<(Journal, Vec<Entry>, RecoveryReport), JournalError> {
        let geometry = flash.geometry();
        if geometry.page_bytes < JOURNAL_PAGE_BYTES_MIN {
            return Err(JournalError::PageTooSmall {
                page_bytes: geometry.page_bytes,
            });
        }
        let pages = read_region(flash, &region)?;
        let mut scan = scan_chain(&pages.found, region.generation, geometry);
        scan.report.bits_corrected_max = pages.bits_corrected_max;
        scan.report.scrub = pages.scrub;
        let journal = Journal::resumed(region, geometry, &pages.found, &mut scan);
        Ok((journal, scan.entries, scan.report))
    }

    /// The journal after `scan`: appending resumes at the first block start
    /// past everything programmed, under a new epoch.
    fn resumed(region: Region, geometry: Geometry, found: &[Found], scan: &mut Scan) -> Journal {
        let ppb = u64::from(geometry.pages_per_block);
        let last_programmed = found
            .iter()
            .rposition(|f| !matches!(f, Found::Erased))
            .map(|p| p as u64);
        let touched = last_programmed.map_or(0, |p| p + 1).max(scan.next_position);
        let mut resume = touched.div_ceil(ppb) * ppb;
        let mut erase_from = resume;
        if crate::planted::active(crate::planted::Bug::ResumeReprogram) {
            (resume, erase_from) = (scan.next_position, u64::MAX);
        }
        let mut journal = Journal::at(
            region,
            geometry,
            resume,
            scan.sequence,
            scan.epoch + 1,
            erase_from,
        );
        journal.stats.bytes_wasted = (resume - scan.next_position) * u64::from(geometry.page_bytes);
        journal.page_map = std::mem::take(&mut scan.page_map);
        journal.sequences_lost = scan
            .report
            .lost
            .iter()
            .map(|l| l.sequences.clone())
            .collect();
        journal.recovered_positions = std::mem::take(&mut scan.positions);
        journal.stats.entries_on_flash = scan.entries.len() as u64;
        // The open synced the device: everything found is durable.
        journal.synced_through = scan.sequence.checked_sub(1).or(scan.synced_through);
        journal.needs_scrub = scan.report.scrub;
        let kept_as_is = crate::planted::active(crate::planted::Bug::TornTailKept);
        if scan.report.pages_kept > 0 && !scan.last_copied && !kept_as_is {
            let first = scan.entries.len() - scan.last_page_entries;
            journal.uncopied = Some(scan.entries[first..].to_vec());
        }
        journal
    }
}

/// Whether `page` continues the chain that expects `sequence` under
/// `epoch` (or, `resuming` at a block start, any later epoch).
fn continues(page: &Page, sequence: u64, epoch: u32, resuming: bool) -> bool {
    let epoch_ok = if resuming {
        page.epoch > epoch
    } else {
        page.epoch == epoch
    };
    page.sequence == sequence && epoch_ok
}

/// Which pages of the region the journal may have passed over: erased,
/// with a page programmed after them in their block (a block is programmed
/// in page order, so nothing was written there since its erase), and a
/// page appending may pass over (one whose program puts earlier pages at
/// risk: see [`super::journal_pages_at_risk`]). They are not part of the
/// chain, neither a stop nor a loss. Page 0 of a block never is one: found
/// erased before programmed pages, it was lost.
fn passed_over(found: &[Found], geometry: Geometry) -> Vec<bool> {
    let ppb = u64::from(geometry.pages_per_block);
    let at_risk = super::layout::shared_pages_at_risk(geometry);
    let mut passed = vec![false; found.len()];
    for (block, pages) in found.chunks(ppb as usize).enumerate() {
        let Some(last) = pages.iter().rposition(|f| !matches!(f, Found::Erased)) else {
            continue;
        };
        for (page, f) in pages[..last].iter().enumerate() {
            let may_pass = !at_risk[page].is_empty();
            passed[block * ppb as usize + page] = may_pass && matches!(f, Found::Erased);
        }
    }
    passed
}

fn scan_chain(found: &[Found], generation: u64, geometry: Geometry) -> Scan {
    let mut scan = Scan::new(generation);
    let ppb = u64::from(geometry.pages_per_block);
    let per_page = entries_per_page(geometry.page_bytes);
    let passed = passed_over(found, geometry);
    let mut position = 0u64;
    // Bounded: every iteration accepts a page at or past `position` and
    // moves past it, passes over a page, or stops.
    while position < found.len() as u64 {
        if passed[position as usize] {
            position += 1;
            continue;
        }
        let here = found[position as usize].page_of(generation);
        if here.is_some_and(|page| copy_of_last(page, &scan, position, ppb)) {
            pass_copy(&mut scan, here.expect("checked"));
            position += 1;
            scan.next_position = position;
            continue;
        }
        // The pair's second page: the next page programmed, past erased
        // ones (passed over, or cut off the block's end by a lost page).
        let next_at = (position + 1..found.len() as u64)
            .find(|&p| !matches!(found[p as usize], Found::Erased));
        let next = next_at.map(|p| &found[p as usize]);
        // At a block start the pair may open a later epoch (a resume).
        let resuming = position.is_multiple_of(ppb);
        let pair = next.and_then(|f| f.page_of(generation)).filter(|page| {
            continues(page, scan.sequence, scan.epoch, false)
                || resuming && continues(page, scan.sequence, scan.epoch, true)
        });
        let (at, page) = match here {
            Some(page) if continues(page, scan.sequence, scan.epoch, false) => (position, page),
            _ if pair.is_some() => {
                let page = pair.expect("checked");
                scan.report.epochs_followed += u32::from(page.epoch != scan.epoch);
                (next_at.expect("a pair has a position"), page)
            }
            _ => match find_resumption(found, &passed, generation, &scan, (position, ppb)) {
                Some((start, page)) if copy_of_last(page, &scan, start, ppb) => {
                    pass_copy(&mut scan, page);
                    position = start + 1;
                    scan.next_position = position;
                    continue;
                }
                Some(resumed) => {
                    scan.report.epochs_followed += 1;
                    resumed
                }
                None => match find_past_loss(found, generation, &scan, position) {
                    Some((at, page)) => {
                        scan.report.lost.push(Loss {
                            position,
                            sequences: scan.sequence..page.sequence,
                            fault: found[position as usize].fault(generation),
                        });
                        (at, page)
                    }
                    None => break,
                },
            },
        };
        accept(&mut scan, at, page, per_page);
        position = at + 1;
        scan.next_position = position;
    }
    finish_report(&mut scan, found, generation, geometry.page_bytes);
    scan.assert_chain();
    scan
}

/// Whether `page`, at `position`, is a copy of the page accepted last:
/// its sequence, in its epoch, or a later one opened at a block start.
fn copy_of_last(page: &Page, scan: &Scan, position: u64, ppb: u64) -> bool {
    let epoch_ok =
        page.epoch == scan.epoch || (page.epoch > scan.epoch && position.is_multiple_of(ppb));
    scan.report.pages_kept > 0 && page.sequence + 1 == scan.sequence && epoch_ok
}

/// Passes over a copy of the page accepted last: it adds no entry, and it
/// vouches for its original.
fn pass_copy(scan: &mut Scan, page: &Page) {
    if page.epoch != scan.epoch {
        scan.report.epochs_followed += 1;
        scan.epoch = page.epoch;
    }
    scan.synced_through = page.synced_through.max(scan.synced_through);
    scan.last_copied = true;
}

fn accept(scan: &mut Scan, position: u64, page: &Page, per_page: u64) {
    note_page(&mut scan.page_map, page.sequence, position);
    let first = page.sequence * per_page;
    scan.positions
        .extend((0..page.entries.len() as u64).map(|i| first + i));
    scan.epoch = page.epoch;
    scan.sequence = page.sequence + 1;
    scan.synced_through = page.synced_through.max(scan.synced_through);
    scan.report.pages_kept += 1;
    scan.report.entries_kept += page.entries.len() as u64;
    scan.entries.extend(page.entries.iter().copied());
    scan.last_page_entries = page.entries.len();
    scan.last_copied = false;
}

/// The first block start at or after `position` holding the expected
/// sequence under a later epoch, or a copy of the page accepted last: where
/// appending resumed after a crash or a failed program, or after passing
/// over a block's last pages. A block start found unreadable (or erased
/// before programmed pages) stands aside for the next page of its block
/// that was not passed over, which may hold the expected sequence under
/// the block's epoch (the start held a copy of the page accepted last, or
/// the page the next one copies).
fn find_resumption<'a>(
    found: &'a [Found],
    passed: &[bool],
    generation: u64,
    scan: &Scan,
    (position, per_block): (u64, u64),
) -> Option<(u64, &'a Page)> {
    (position.div_ceil(per_block) * per_block..found.len() as u64)
        .step_by(per_block as usize)
        .find_map(|start| {
            if let Some(page) = found[start as usize].page_of(generation) {
                let resumes = continues(page, scan.sequence, scan.epoch, true)
                    || copy_of_last(page, scan, start, per_block) && page.epoch > scan.epoch;
                return resumes.then_some((start, page));
            }
            let block_end = (start + per_block).min(found.len() as u64);
            let next = (start + 1..block_end).find(|&p| !passed[p as usize])?;
            let page = found[next as usize].page_of(generation)?;
            continues(page, scan.sequence, scan.epoch, true).then_some((next, page))
        })
}

/// Where the chain goes on past an unreadable page at `position`, if a
/// later page of it proves that page durable: the page of this generation,
/// no older epoch, with the lowest sequence past the expected one, provided
/// some later page of the chain says a completed flush covered the
/// expected sequence.
fn find_past_loss<'a>(
    found: &'a [Found],
    generation: u64,
    scan: &Scan,
    position: u64,
) -> Option<(u64, &'a Page)> {
    let later = || {
        (position + 1..found.len() as u64).filter_map(|at| {
            let page = found[at as usize].page_of(generation)?;
            (page.epoch >= scan.epoch && page.sequence > scan.sequence).then_some((at, page))
        })
    };
    let proven = later().any(|(_, page)| page.synced_through >= Some(scan.sequence))
        || crate::planted::active(crate::planted::Bug::LossUnproven) && later().next().is_some();
    if !proven || crate::planted::active(crate::planted::Bug::MiddlePageIsEnd) {
        return None;
    }
    later().min_by_key(|(at, page)| (page.sequence, *at))
}

fn finish_report(scan: &mut Scan, found: &[Found], generation: u64, page_bytes: u32) {
    let after = scan.next_position as usize;
    let dropped = found[after.min(found.len())..]
        .iter()
        .filter(|f| !matches!(f, Found::Erased))
        .count() as u64;
    scan.report.pages_dropped = dropped;
    scan.report.bytes_dropped = dropped * u64::from(page_bytes);
    scan.report.stop = match found.get(after) {
        None => StopReason::EndOfRegion,
        Some(page) => StopReason::Page {
            position: after as u64,
            fault: page.fault(generation),
        },
    };
    note_vouched_past_the_stop(scan, found, generation);
}

/// A valid page of this generation past the stop that vouches for a
/// sequence the chain did not reach (a completed flush had made it durable)
/// proves those pages lost, whatever stopped the chain: they are named,
/// never dropped as a torn tail. The journal goes on from the chain's end
/// (its next pages reuse those sequences under a later epoch, which the
/// next recovery follows past this page). Pages of a generation are
/// written once, in position order, so such a page was written after the
/// pages it vouches for.
fn note_vouched_past_the_stop(scan: &mut Scan, found: &[Found], generation: u64) {
    let after = scan.next_position as usize;
    let vouched = found[after.min(found.len())..]
        .iter()
        .filter_map(|f| f.page_of(generation)?.synced_through)
        .max();
    let Some(vouched) = vouched.filter(|&v| v >= scan.sequence) else {
        return;
    };
    if crate::planted::active(crate::planted::Bug::MiddlePageIsEnd) {
        return;
    }
    scan.report.lost.push(Loss {
        position: after as u64,
        sequences: scan.sequence..vouched + 1,
        fault: found[after].fault(generation),
    });
}
