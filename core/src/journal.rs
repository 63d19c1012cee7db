//! The journal: entries appended into checksummed pages of a region of erase
//! blocks.
//!
//! Owns the RAM page buffer, appending (pages laid out by
//! [`crate::format::journal`]) and recovery. Promises: no entry spans two pages;
//! recovery accepts exactly a chain of pages of the region's generation with
//! consecutive sequence numbers, so what it returns is a prefix of what was
//! appended; nothing written beyond the point where recovery stopped can be
//! accepted later, because appending resumes in a block it erases itself,
//! under a new epoch that only a page at a block start may open.

use crate::alloc::{erase_or_retire, Allocator};
use crate::codec::Writer;
use crate::flash::{is_erased, Flash, FlashError, Geometry, PageAddr};
pub(crate) use crate::format::journal::{
    entries_per_page, Entry, JournalPageFault, Page, JOURNAL_PAGE_BYTES_MIN, PAGE_HEADER_BYTES,
};
use crate::planted::{self, Bug};
use crate::region::Region;

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// No page is left in the region for this entry; nothing was changed.
    #[error("journal full: {pages} pages in the region")]
    Full { pages: u64 },
    /// No entry at this position (never written, or lost).
    #[error("no journal entry at position {position}")]
    NoEntry { position: u64 },
    /// The page holding the position no longer reads back valid.
    #[error("journal page of position {position} is corrupt: {fault}")]
    Corrupt {
        position: u64,
        fault: JournalPageFault,
    },
    #[error(
        "journal pages of {page_bytes} bytes are too small (at least {JOURNAL_PAGE_BYTES_MIN})"
    )]
    PageTooSmall { page_bytes: u32 },
    #[error(transparent)]
    OutOfBlocks(#[from] crate::alloc::OutOfBlocks),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

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

/// What recovery kept and dropped.
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
}

/// Counters of one journal's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub entries_appended: u64,
    pub bytes_appended: u64,
    pub pages_programmed: u64,
    pub bytes_programmed: u64,
    /// Bytes of pages closed before they were full (by a flush) or skipped.
    pub bytes_wasted: u64,
    pub flushes: u64,
    pub blocks_retired: u64,
    /// Entries in the region's pages on flash: recovered, then programmed.
    pub entries_on_flash: u64,
}

/// An open journal. See the module documentation.
#[derive(Clone, Debug)]
pub struct Journal {
    region: Region,
    geometry: Geometry,
    /// Region position (page index from the region's start) of the next page.
    position: u64,
    sequence: u64,
    epoch: u32,
    /// Region position from which every block is erased right before its
    /// first page is programmed. After a recovery that is the resume block:
    /// the page in flight at the crash may be torn yet read erased, and may
    /// lie in any block past the last visible page (a failed program skips
    /// blocks, and its garbage may itself be lost). A fresh region's blocks
    /// were all erased at creation: `u64::MAX`.
    erase_from: u64,
    buffer: Writer,
    buffer_entries: Vec<Entry>,
    stats: JournalStats,
    /// Where each run of consecutive page sequences starts: (sequence,
    /// region position), one run per epoch. Bounded by the region's blocks.
    page_map: Vec<(u64, u64)>,
    /// Positions of the entries recovery returned, in order.
    recovered_positions: Vec<u64>,
    /// The last page read by [`Journal::read_entry`]: (sequence, entries).
    read_cache: Option<(u64, Vec<Entry>)>,
}

/// Bits a position needs in a journal of `blocks` blocks: every page
/// sequence the region can reach, times the entries a page can hold.
pub(crate) fn position_bits(geometry: Geometry, blocks: u32) -> u32 {
    let region_pages = u64::from(blocks) * u64::from(geometry.pages_per_block);
    let limit = (region_pages + 1).saturating_mul(entries_per_page(geometry.page_bytes));
    u64::BITS - limit.leading_zeros()
}

/// Records that page `sequence` sits at region `position`, opening a new
/// run when it does not follow the last one.
fn note_page(map: &mut Vec<(u64, u64)>, sequence: u64, position: u64) {
    let follows = map
        .last()
        .is_some_and(|&(s, p)| sequence >= s && position >= p && sequence - s == position - p);
    if !follows {
        map.push((sequence, position));
    }
}

impl Journal {
    /// Allocates `blocks` erase blocks and erases them all; the journal is
    /// empty. Durable only once an anchor names the region.
    pub fn create<F: Flash>(
        flash: &mut F,
        alloc: &mut Allocator,
        generation: u64,
        blocks: u32,
    ) -> Result<Self, JournalError> {
        let geometry = flash.geometry();
        if geometry.page_bytes < JOURNAL_PAGE_BYTES_MIN {
            return Err(JournalError::PageTooSmall {
                page_bytes: geometry.page_bytes,
            });
        }
        let mut region = Region {
            generation,
            blocks: Vec::with_capacity(blocks as usize),
            meta: Vec::new(),
        };
        while region.blocks.len() < blocks as usize {
            let block = alloc.allocate()?;
            if erase_or_retire(flash, alloc, block)? {
                region.blocks.push(block);
            }
        }
        Ok(Journal::at(region, geometry, 0, 0, 0, u64::MAX))
    }

    fn at(
        region: Region,
        geometry: Geometry,
        position: u64,
        sequence: u64,
        epoch: u32,
        erase_from: u64,
    ) -> Self {
        Journal {
            region,
            geometry,
            position,
            sequence,
            epoch,
            erase_from,
            buffer: Writer::default(),
            buffer_entries: Vec::new(),
            stats: JournalStats::default(),
            page_map: Vec::new(),
            recovered_positions: Vec::new(),
            read_cache: None,
        }
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn stats(&self) -> JournalStats {
        self.stats
    }

    fn region_pages(&self) -> u64 {
        self.region.blocks.len() as u64 * u64::from(self.geometry.pages_per_block)
    }

    /// Pages not yet programmed, the buffered one included.
    pub fn pages_left(&self) -> u64 {
        self.region_pages().saturating_sub(self.position)
    }

    /// Fraction of the region's pages used.
    pub fn use_fraction(&self) -> f64 {
        self.position as f64 / self.region_pages().max(1) as f64
    }

    /// Entries appended but not yet programmed.
    #[cfg(feature = "testing")]
    pub fn buffered(&self) -> &[Entry] {
        &self.buffer_entries
    }

    fn page_room(&self) -> usize {
        self.geometry.page_bytes as usize - PAGE_HEADER_BYTES
    }

    fn fits_in_buffer(&self, entry: &Entry) -> bool {
        self.buffer.bytes.len() + entry.encoded_bytes() <= self.page_room()
    }

    /// Whether [`Journal::append`] would take `entry` without `Full`.
    pub fn has_room_for(&self, entry: &Entry) -> bool {
        let page_needed = if self.fits_in_buffer(entry) { 0 } else { 1 };
        self.position + page_needed < self.region_pages()
    }

    /// Appends to the RAM page, programming the previous page first when the
    /// entry does not fit; returns the entry's position (see
    /// [`Journal::read_entry`]). `Full` changes nothing.
    pub fn append<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
        entry: &Entry,
    ) -> Result<u64, JournalError> {
        if !self.has_room_for(entry) {
            return Err(JournalError::Full {
                pages: self.region_pages(),
            });
        }
        if !self.fits_in_buffer(entry) {
            self.program_buffer(flash, alloc)?;
        }
        let per_page = entries_per_page(self.geometry.page_bytes);
        let position = self.sequence * per_page + self.buffer_entries.len() as u64;
        entry.encode(&mut self.buffer);
        self.buffer_entries.push(*entry);
        self.stats.entries_appended += 1;
        self.stats.bytes_appended += entry.encoded_bytes() as u64;
        assert!(self.buffer.bytes.len() <= self.page_room());
        assert!((self.buffer_entries.len() as u64) <= per_page);
        Ok(position)
    }

    /// Bits a position of this journal needs: every page sequence the
    /// region can reach, times the entries a page can hold.
    pub fn position_bits(&self) -> u32 {
        position_bits(self.geometry, self.region.blocks.len() as u32)
    }

    /// Positions of the entries [`Journal::recover`] returned, in order.
    pub fn recovered_positions(&self) -> &[u64] {
        &self.recovered_positions
    }

    /// The entry at `position`: from the RAM page if it is not programmed
    /// yet, else read from flash (CRC checked; the last page is cached).
    pub fn read_entry<F: Flash>(
        &mut self,
        flash: &mut F,
        position: u64,
    ) -> Result<Entry, JournalError> {
        let per_page = entries_per_page(self.geometry.page_bytes);
        let (sequence, index) = (position / per_page, (position % per_page) as usize);
        let missing = JournalError::NoEntry { position };
        if sequence == self.sequence {
            return self.buffer_entries.get(index).copied().ok_or(missing);
        }
        if let Some((cached, entries)) = &self.read_cache {
            if *cached == sequence {
                return entries.get(index).copied().ok_or(missing);
            }
        }
        let run = self
            .page_map
            .iter()
            .rev()
            .find(|&&(s, _)| s <= sequence)
            .ok_or(missing)?;
        let page_position = run.1 + (sequence - run.0);
        if page_position >= self.region_pages() {
            return Err(JournalError::NoEntry { position });
        }
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        flash.read(self.address(page_position), &mut buf)?;
        let page = Page::decode(&buf).map_err(|fault| JournalError::Corrupt { position, fault })?;
        if page.sequence != sequence || page.generation != self.region.generation {
            return Err(JournalError::NoEntry { position });
        }
        let entry = page
            .entries
            .get(index)
            .copied()
            .ok_or(JournalError::NoEntry { position });
        self.read_cache = Some((sequence, page.entries));
        entry
    }

    /// Programs the partial page (its free room is wasted) and syncs.
    pub fn flush<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
    ) -> Result<(), JournalError> {
        if !self.buffer_entries.is_empty() {
            self.stats.bytes_wasted += (self.page_room() - self.buffer.bytes.len()) as u64;
            self.program_buffer(flash, alloc)?;
        }
        if !planted::active(Bug::FlushWithoutSync) {
            flash.sync()?;
        }
        self.stats.flushes += 1;
        Ok(())
    }

    fn address(&self, position: u64) -> PageAddr {
        let ppb = u64::from(self.geometry.pages_per_block);
        PageAddr {
            block: self.region.blocks[(position / ppb) as usize],
            page: (position % ppb) as u32,
        }
    }

    /// Moves to the next block start under a new epoch, wasting the rest of
    /// the current block.
    fn skip_to_next_block(&mut self) {
        let ppb = u64::from(self.geometry.pages_per_block);
        let next = (self.position / ppb + 1) * ppb;
        self.stats.bytes_wasted += (next - self.position) * u64::from(self.geometry.page_bytes);
        self.position = next;
        self.epoch += 1;
    }

    /// Programs the buffered entries as the next page. A block that fails is
    /// retired and the page goes to the next block; bounded by the region.
    fn program_buffer<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
    ) -> Result<(), JournalError> {
        let attempts_max = self.region.blocks.len() + 1;
        for _ in 0..attempts_max {
            if self.position >= self.region_pages() {
                break;
            }
            let addr = self.address(self.position);
            if addr.page == 0
                && self.position >= self.erase_from
                && !erase_or_retire(flash, alloc, addr.block)?
            {
                self.stats.blocks_retired += 1;
                self.skip_to_next_block();
                continue;
            }
            let page = Page {
                epoch: self.epoch,
                generation: self.region.generation,
                sequence: self.sequence,
                entries: std::mem::take(&mut self.buffer_entries),
            };
            let bytes = page.encode(self.geometry.page_bytes as usize);
            self.buffer_entries = page.entries;
            match flash.program(addr, &bytes) {
                Ok(()) => {
                    self.page_programmed(bytes.len());
                    return Ok(());
                }
                Err(FlashError::BadBlock { block, .. }) => {
                    alloc.retire(block);
                    self.stats.blocks_retired += 1;
                    self.skip_to_next_block();
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(JournalError::Full {
            pages: self.region_pages(),
        })
    }

    fn page_programmed(&mut self, page_bytes: usize) {
        self.stats.entries_on_flash += self.buffer_entries.len() as u64;
        note_page(&mut self.page_map, self.sequence, self.position);
        self.position += 1;
        self.sequence += 1;
        self.stats.pages_programmed += 1;
        self.stats.bytes_programmed += page_bytes as u64;
        self.buffer.bytes.clear();
        self.buffer_entries.clear();
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
    /// Highest position holding anything but erased bytes.
    last_programmed: Option<u64>,
}

impl Journal {
    /// Reads the region, keeps the longest valid chain of pages, and returns
    /// the journal ready to append (in a fresh block, under a new epoch),
    /// the entries in order and a report of what was dropped.
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
        let image = read_region(flash, &region)?;
        let pages: Vec<&[u8]> = image.chunks_exact(geometry.page_bytes as usize).collect();
        let scan = scan_chain(&pages, region.generation, geometry.pages_per_block);
        let ppb = u64::from(geometry.pages_per_block);
        let touched = scan
            .last_programmed
            .map_or(0, |p| p + 1)
            .max(scan.next_position);
        let mut resume = touched.div_ceil(ppb) * ppb;
        let mut erase_from = resume;
        if planted::active(Bug::ResumeReprogram) {
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
        journal.page_map = scan.page_map;
        journal.recovered_positions = scan.positions;
        journal.stats.entries_on_flash = scan.entries.len() as u64;
        Ok((journal, scan.entries, scan.report))
    }
}

/// Every page of the region, in region order, in one buffer.
fn read_region<F: Flash>(flash: &mut F, region: &Region) -> Result<Vec<u8>, FlashError> {
    let geometry = flash.geometry();
    let page_bytes = geometry.page_bytes as usize;
    let pages = region.blocks.len() * geometry.pages_per_block as usize;
    let mut image = vec![0u8; pages * page_bytes];
    let mut chunks = image.chunks_exact_mut(page_bytes);
    for &block in &region.blocks {
        for page in 0..geometry.pages_per_block {
            let buf = chunks.next().expect("a chunk a page");
            flash.read(PageAddr { block, page }, buf)?;
        }
    }
    Ok(image)
}

/// Classifies a page for the chain that expects `sequence` under `epoch`
/// (or, at a block start after a break, any later epoch).
fn chain_accepts(
    page: &[u8],
    generation: u64,
    sequence: u64,
    epoch: u32,
    resuming: bool,
) -> Result<Page, StopFault> {
    let page = Page::decode(page).map_err(StopFault::Invalid)?;
    if page.generation != generation {
        return Err(StopFault::ForeignGeneration {
            generation: page.generation,
        });
    }
    let epoch_ok = if resuming {
        page.epoch > epoch
    } else {
        page.epoch == epoch
    };
    if page.sequence != sequence || !epoch_ok {
        return Err(StopFault::OutOfSequence {
            sequence: page.sequence,
            epoch: page.epoch,
        });
    }
    Ok(page)
}

fn scan_chain(pages: &[&[u8]], generation: u64, pages_per_block: u32) -> Scan {
    let ppb = u64::from(pages_per_block);
    let per_page = entries_per_page(pages.first().map_or(0, |p| p.len() as u32));
    let mut scan = Scan {
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
        },
        next_position: 0,
        sequence: 0,
        epoch: 0,
        last_programmed: pages.iter().rposition(|p| !is_erased(p)).map(|p| p as u64),
    };
    let mut position = 0u64;
    while position < pages.len() as u64 {
        let accepted = chain_accepts(
            pages[position as usize],
            generation,
            scan.sequence,
            scan.epoch,
            false,
        );
        let page = match accepted {
            Ok(page) => page,
            Err(_) => match find_resumption(pages, generation, &scan, position, ppb) {
                Some((start, page)) => {
                    scan.report.epochs_followed += 1;
                    position = start;
                    page
                }
                None => break,
            },
        };
        note_page(&mut scan.page_map, page.sequence, position);
        let first = page.sequence * per_page;
        scan.positions
            .extend((0..page.entries.len() as u64).map(|i| first + i));
        scan.epoch = page.epoch;
        scan.sequence = page.sequence + 1;
        scan.report.pages_kept += 1;
        scan.report.entries_kept += page.entries.len() as u64;
        scan.entries.extend(page.entries);
        position += 1;
        scan.next_position = position;
    }
    finish_report(&mut scan, pages, generation);
    scan
}

/// The first block start at or after `position` holding the expected
/// sequence under a later epoch: where appending resumed after a crash or a
/// failed program.
fn find_resumption(
    pages: &[&[u8]],
    generation: u64,
    scan: &Scan,
    position: u64,
    ppb: u64,
) -> Option<(u64, Page)> {
    let mut start = position.div_ceil(ppb) * ppb;
    while start < pages.len() as u64 {
        if let Ok(page) = chain_accepts(
            pages[start as usize],
            generation,
            scan.sequence,
            scan.epoch,
            true,
        ) {
            return Some((start, page));
        }
        start += ppb;
    }
    None
}

fn finish_report(scan: &mut Scan, pages: &[&[u8]], generation: u64) {
    let after = scan.next_position as usize;
    let dropped = pages[after.min(pages.len())..]
        .iter()
        .filter(|p| !is_erased(p))
        .count() as u64;
    let page_bytes = pages.first().map_or(0, |p| p.len() as u64);
    scan.report.pages_dropped = dropped;
    scan.report.bytes_dropped = dropped * page_bytes;
    scan.report.stop = match pages.get(after) {
        None => StopReason::EndOfRegion,
        Some(page) => StopReason::Page {
            position: after as u64,
            fault: classify(page, generation),
        },
    };
}

fn classify(page: &[u8], generation: u64) -> StopFault {
    match Page::decode(page) {
        Err(fault) => StopFault::Invalid(fault),
        Ok(page) if page.generation != generation => StopFault::ForeignGeneration {
            generation: page.generation,
        },
        Ok(page) => StopFault::OutOfSequence {
            sequence: page.sequence,
            epoch: page.epoch,
        },
    }
}
