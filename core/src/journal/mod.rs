//! The journal: entries appended into checksummed pages of a region of erase
//! blocks.
//!
//! Owns the RAM page buffer and appending (pages laid out by
//! [`crate::format::journal`]); [`recovery`] reads a region back. Promises:
//! no entry spans two pages; every page carries the sequence the last
//! completed flush made durable, so recovery can tell a torn tail from a
//! page lost in the middle; nothing written beyond the point where recovery
//! stopped can be accepted later, because appending resumes in a block it
//! erases itself, under a new epoch that only a page at a block start may
//! open.
//!
//! **Commit copies.** A flush that programmed pages syncs, then programs a
//! copy of its last page (same sequence, `synced_through` its own
//! sequence) and syncs again, so the last page of the journal is never
//! alone: lost, its copy answers; either one vouches for every page of the
//! flush before it. After a recovery the last page accepted, if found
//! without a copy (it may be the page a power cut tore, its cells weak),
//! is copied at the resume point before the store serves it
//! ([`Journal::commit_tail`]). Recovery takes the first readable copy of
//! each sequence. Cost: one page a flush, one a recovery.

mod layout;
mod recovery;

pub use layout::journal_pages_at_risk;
use layout::note_page;
pub(crate) use layout::position_bits;

pub use recovery::{Loss, RecoveryReport, StopFault, StopReason};

use crate::alloc::{erase_or_retire, Allocator};
use crate::codec::Writer;
use crate::flash::{Flash, FlashError, Geometry, PageAddr};
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

/// Counters of one journal's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub entries_appended: u64,
    pub bytes_appended: u64,
    pub pages_programmed: u64,
    pub bytes_programmed: u64,
    /// Bytes of pages closed before they were full (by a flush) or skipped.
    pub bytes_wasted: u64,
    /// Pages left erased because a program there could damage a page an
    /// acknowledged flush wrote (see [`journal_pages_at_risk`]).
    pub pages_passed_over: u64,
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
    /// The highest page sequence the last completed flush made durable
    /// (recovery makes everything it found durable).
    synced_through: Option<u64>,
    /// A page read back with corrected bits at or past the scrub threshold:
    /// the region should be rewritten (packed) before errors outgrow the ECC.
    needs_scrub: bool,
    /// For each page of a block, the earlier pages its program may damage
    /// ([`journal_pages_at_risk`]). Region position `p` is page
    /// `p % pages_per_block` of block `p / pages_per_block`.
    at_risk: std::sync::Arc<[Vec<u32>]>,
    /// The block (region index) the journal programs in, and the sequence
    /// of each page programmed in it (`None`: erased or passed over).
    block_in_use: u64,
    block_sequences: Vec<Option<u64>>,
    /// The entries of the last page programmed, sequence `sequence - 1`,
    /// while no commit copy of it is on flash: the next flush (or
    /// [`Journal::commit_tail`] after a recovery) copies it.
    uncopied: Option<Vec<Entry>>,
    /// Sequences a check found past the ECC, each named once (bounded by
    /// the region's pages).
    unreadable: Vec<u64>,
    /// Sequences the recovery named lost (its report's losses): no page
    /// stands for them, even one that still holds such a sequence.
    sequences_lost: Vec<std::ops::Range<u64>>,
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
            // Out of blocks part way: the blocks taken go back to the pool,
            // so what is free is counted right.
            let block = alloc.allocate().inspect_err(|_| {
                region.blocks.iter().for_each(|&b| alloc.release(b));
            })?;
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
        let at_risk = layout::shared_pages_at_risk(geometry);
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
            synced_through: None,
            needs_scrub: false,
            at_risk,
            // No page of any block noted yet: which block does not matter.
            block_in_use: 0,
            block_sequences: vec![None; geometry.pages_per_block as usize],
            uncopied: None,
            unreadable: Vec::new(),
            sequences_lost: Vec::new(),
        }
    }

    /// Whether a read found bits corrected at or past the scrub threshold.
    pub fn needs_scrub(&self) -> bool {
        self.needs_scrub
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn stats(&self) -> JournalStats {
        self.stats
    }

    fn region_pages(&self) -> u64 {
        self.region.blocks.len() as u64 * self.pages_per_block()
    }

    fn pages_per_block(&self) -> u64 {
        u64::from(self.geometry.pages_per_block)
    }

    /// Bytes of the pages of the region's blocks (some are passed over:
    /// see [`journal_pages_at_risk`]).
    pub fn region_bytes(&self) -> u64 {
        self.region_pages() * u64::from(self.geometry.page_bytes)
    }

    /// Pages not yet programmed, the buffered one included.
    pub fn pages_left(&self) -> u64 {
        self.region_pages().saturating_sub(self.position)
    }

    /// Fraction of the region's pages used.
    pub fn use_fraction(&self) -> f64 {
        self.position as f64 / self.region_pages().max(1) as f64
    }

    fn page_room(&self) -> usize {
        self.geometry.page_bytes as usize - PAGE_HEADER_BYTES
    }

    fn fits_in_buffer(&self, entry: &Entry) -> bool {
        self.buffer.bytes.len() + entry.encoded_bytes() <= self.page_room()
    }

    /// Whether a region like this one, holding just `entries` (a pack of
    /// them, flushed), would take more: the pages they fill, the flush's
    /// commit copy, then a page for the next entry and one for its copy,
    /// each passing over the pages it may not program. Bounded by the
    /// region's pages.
    pub fn would_take_more_after(&self, entries: &[Entry]) -> bool {
        let room = self.page_room();
        let (mut pages, mut bytes) = (0u64, 0usize);
        for entry in entries {
            if bytes + entry.encoded_bytes() > room {
                pages += 1;
                bytes = 0;
            }
            bytes += entry.encoded_bytes();
        }
        // The page being filled counts once it holds an entry.
        pages += u64::from(!entries.is_empty());
        if pages >= self.region_pages() {
            return false;
        }
        // A fresh journal vouches for nothing before its first flush.
        let packed = (0..pages).map(|sequence| (sequence, None));
        let copy = pages.checked_sub(1).map(|last| (last, Some(last)));
        let next = [(pages, pages.checked_sub(1)), (pages, Some(pages))];
        let planned: Vec<(u64, Option<u64>)> = packed.chain(copy).chain(next).collect();
        let empty = (0, vec![None; self.pages_per_block() as usize]);
        self.fits_from(0, empty, &planned).is_some()
    }

    /// Whether [`Journal::append`] would take `entry` without `Full`,
    /// leaving a page for the flush's commit copy: the pages appending and
    /// the next flush would program fit the region, passing over those
    /// they may not program ([`Journal::writable`]).
    pub fn has_room_for(&self, entry: &Entry) -> bool {
        let synced = self.synced_through;
        // This runs at every append: the planned pages on the stack.
        if self.fits_in_buffer(entry) {
            let last = self.sequence;
            self.fits_after(&[(last, synced), (last, Some(last))])
                .is_some()
        } else {
            let last = self.sequence + 1;
            let pages = [(self.sequence, synced), (last, synced), (last, Some(last))];
            self.fits_after(&pages).is_some()
        }
    }

    /// Whether `pages` (sequence, `synced_through`, at most three: a
    /// page, the next and a copy), programmed in turn from the current
    /// position, fit the region, each passing over the pages it may not
    /// program as appending would: the position after the last, if they
    /// do. What [`Journal::fits_from`] answers from the block in use,
    /// without copying it (this runs at every append): the planned pages
    /// are looked up first. Bounded by the region's pages.
    fn fits_after(&self, pages: &[(u64, Option<u64>)]) -> Option<u64> {
        const PLANNED_MAX: usize = 3;
        assert!(pages.len() <= PLANNED_MAX, "a page, the next and a copy");
        let mut planned = [(u64::MAX, 0u64); PLANNED_MAX];
        let (mut position, mut in_use) = (self.position, self.block_in_use);
        for (index, &(sequence, synced_through)) in pages.iter().enumerate() {
            let protected = protected_through(sequence, synced_through);
            let held = |page: u64| -> Option<u64> {
                let at = in_use * self.pages_per_block() + page;
                match planned[..index].iter().rev().find(|&&(p, _)| p == at) {
                    Some(&(_, sequence)) => Some(sequence),
                    None if in_use == self.block_in_use => self.block_sequences[page as usize],
                    None => None,
                }
            };
            let at = (position..self.region_pages())
                .find(|&p| self.writable_by(in_use, &held, p, protected))?;
            planned[index] = (at, sequence);
            in_use = at / self.pages_per_block();
            position = at + 1;
        }
        Some(position)
    }

    /// [`Journal::writable_in`] with the block in use `in_use` whose page
    /// `p` holds `held(p)`.
    fn writable_by(
        &self,
        in_use: u64,
        held: &dyn Fn(u64) -> Option<u64>,
        position: u64,
        protected: Option<u64>,
    ) -> bool {
        let (block, page) = (
            position / self.pages_per_block(),
            position % self.pages_per_block(),
        );
        if block != in_use {
            return true;
        }
        let vouched = |sequence: u64| protected.is_some_and(|p| sequence <= p);
        self.at_risk[page as usize]
            .iter()
            .all(|&r| !held(u64::from(r)).is_some_and(vouched))
    }

    /// [`Journal::fits_after`] from `position`, with `block` the block in
    /// use and what its pages hold.
    fn fits_from(
        &self,
        mut position: u64,
        mut block: (u64, Vec<Option<u64>>),
        pages: &[(u64, Option<u64>)],
    ) -> Option<u64> {
        for &(sequence, synced_through) in pages {
            let protected = protected_through(sequence, synced_through);
            let at = (position..self.region_pages())
                .find(|&p| self.writable_in((block.0, &block.1), p, protected))?;
            note_in(&mut block, at, self.pages_per_block(), sequence);
            position = at + 1;
        }
        Some(position)
    }

    /// Whether the page at `position` may be programmed by a page that
    /// vouches for every sequence up to `protected`: none of the pages its
    /// program may damage holds one of those. A block the journal has not
    /// programmed in yet holds none.
    fn writable(&self, position: u64, protected: Option<u64>) -> bool {
        self.writable_in(
            (self.block_in_use, &self.block_sequences),
            position,
            protected,
        )
    }

    fn writable_in(
        &self,
        (in_use, sequences): (u64, &[Option<u64>]),
        position: u64,
        protected: Option<u64>,
    ) -> bool {
        let (block, page) = (
            position / self.pages_per_block(),
            position % self.pages_per_block(),
        );
        if block != in_use {
            return true;
        }
        let vouched = |sequence: u64| protected.is_some_and(|p| sequence <= p);
        self.at_risk[page as usize]
            .iter()
            .all(|&r| !sequences[r as usize].is_some_and(vouched))
    }

    /// Notes that the page at `position` now holds `sequence`.
    fn note_programmed(&mut self, position: u64, sequence: u64) {
        let mut block = (self.block_in_use, std::mem::take(&mut self.block_sequences));
        note_in(&mut block, position, self.pages_per_block(), sequence);
        (self.block_in_use, self.block_sequences) = block;
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
        let page_position = self.locate(sequence).ok_or(missing)?;
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        let corrupt = |fault| JournalError::Corrupt { position, fault };
        let status = match flash.read_checked(self.address(page_position), &mut buf) {
            Ok(status) => status,
            Err(FlashError::Uncorrectable { .. }) => {
                return Err(corrupt(JournalPageFault::Uncorrectable))
            }
            Err(other) => return Err(other.into()),
        };
        self.needs_scrub |= status.scrub;
        let page = Page::decode(&buf).map_err(corrupt)?;
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

    /// The region position of the programmed page `sequence`, if the
    /// page map places it inside the region (a run a flush: searched).
    /// Only sequences on flash the recovery did not name lost have one: a
    /// page it dropped may still hold the sequence (`image` fuzz body).
    fn locate(&self, sequence: u64) -> Option<u64> {
        let lost = self.sequences_lost.iter().any(|l| l.contains(&sequence));
        if lost || !self.sequences_on_flash().contains(&sequence) {
            return None;
        }
        let runs = self.page_map.partition_point(|&(s, _)| s <= sequence);
        let &(start, position) = self.page_map.get(runs.checked_sub(1)?)?;
        let page_position = position + (sequence - start);
        (page_position < self.region_pages()).then_some(page_position)
    }

    /// Sequences of the pages on flash: the first the page map knows to
    /// the last programmed.
    pub fn sequences_on_flash(&self) -> std::ops::Range<u64> {
        let first = self.page_map.first().map_or(self.sequence, |&(s, _)| s);
        first..self.sequence
    }

    /// Where the pages on flash sit, in sequence order.
    #[cfg(feature = "testing")]
    pub fn page_addrs(&self) -> Vec<PageAddr> {
        self.sequences_on_flash()
            .filter_map(|sequence| self.locate(sequence))
            .map(|position| self.address(position))
            .collect()
    }

    /// How many pages the journal has on flash: a scrub's check counts
    /// them from 0 ([`Journal::check_pages`]), whatever sequence the first
    /// one holds (above 0 after a recovery past a lost first page).
    pub fn pages_on_flash(&self) -> u64 {
        let on_flash = self.sequences_on_flash();
        on_flash.end - on_flash.start
    }

    /// Reads pages `pages` back as a scrub does, counted from the first
    /// page on flash (0) and clamped to [`Journal::pages_on_flash`],
    /// noting whether the region needs moving; returns the most bits
    /// corrected in one step, and how many pages the ECC could not correct
    /// that no earlier check had named. Such a page does not stop the
    /// check: it is named once, and the region is marked for moving (a
    /// pack writes the live entries from the table, not from the page).
    pub fn check_pages<F: Flash>(
        &mut self,
        flash: &mut F,
        pages: std::ops::Range<u64>,
    ) -> Result<(u32, u64), JournalError> {
        let (first, count) = (self.sequences_on_flash().start, self.pages_on_flash());
        let sequences = first + pages.start.min(count)..first + pages.end.min(count);
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        let (mut most, mut named) = (0, 0);
        for sequence in sequences {
            let Some(page_position) = self.locate(sequence) else {
                continue;
            };
            match flash.read_checked(self.address(page_position), &mut buf) {
                Ok(status) => {
                    self.needs_scrub |= status.scrub;
                    most = most.max(status.bits_corrected);
                }
                Err(FlashError::Uncorrectable { .. }) => {
                    self.needs_scrub = true;
                    if !self.unreadable.contains(&sequence) {
                        self.unreadable.push(sequence);
                        named += 1;
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        Ok((most, named))
    }

    /// Programs the partial page (its free room is wasted) and syncs; then,
    /// if a page was programmed since the last copy, commits: programs a
    /// copy of the last page and syncs again.
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
        self.synced_through = self.sequence.checked_sub(1).or(self.synced_through);
        self.commit_tail(flash, alloc)?;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Programs a commit copy of the last page programmed, if it has none,
    /// and syncs: the page is durable and vouched for twice. Called by
    /// every flush, and by the store after a recovery before it serves
    /// anything (the last page accepted may be the one a cut tore).
    pub fn commit_tail<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
    ) -> Result<(), JournalError> {
        let Some(entries) = self.uncopied.take() else {
            return Ok(());
        };
        let sequence = self.sequence - 1;
        assert!(
            self.synced_through == Some(sequence),
            "a copy follows a sync"
        );
        let (entries, programmed) =
            self.program_at_next(flash, alloc, (sequence, Some(sequence)), entries);
        if let Err(error) = programmed {
            self.uncopied = Some(entries);
            return Err(error);
        }
        self.uncopied = None;
        self.position += 1;
        self.stats.pages_programmed += 1;
        self.stats.bytes_programmed += u64::from(self.geometry.page_bytes);
        if !planted::active(Bug::FlushWithoutSync) {
            flash.sync()?;
        }
        Ok(())
    }

    fn address(&self, position: u64) -> PageAddr {
        let per_block = self.pages_per_block();
        PageAddr {
            block: self.region.blocks[(position / per_block) as usize],
            page: (position % per_block) as u32,
        }
    }

    /// Moves to the next block start under a new epoch, wasting the rest of
    /// the current block.
    fn skip_to_next_block(&mut self) {
        let per_block = self.pages_per_block();
        let next = (self.position / per_block + 1) * per_block;
        self.stats.bytes_wasted += (next - self.position) * u64::from(self.geometry.page_bytes);
        self.position = next;
        self.epoch += 1;
    }

    /// Programs the buffered entries as the next page.
    fn program_buffer<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
    ) -> Result<(), JournalError> {
        let entries = std::mem::take(&mut self.buffer_entries);
        let label = (self.sequence, self.synced_through);
        let (entries, programmed) = self.program_at_next(flash, alloc, label, entries);
        self.buffer_entries = entries;
        programmed?;
        self.page_programmed();
        Ok(())
    }

    /// Programs `entries` as the page `(sequence, synced_through)` at the
    /// current position (erasing the block first where it must), and hands
    /// the entries back. A block that fails is retired and the page goes
    /// to the next block under a new epoch; bounded by the region. The
    /// position is left on the page.
    fn program_at_next<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
        (sequence, synced_through): (u64, Option<u64>),
        entries: Vec<Entry>,
    ) -> (Vec<Entry>, Result<(), JournalError>) {
        let mut page = Page {
            epoch: self.epoch,
            generation: self.region.generation,
            sequence,
            synced_through,
            erase_count: 0,
            entries,
        };
        let programmed = self.program_page(flash, alloc, &mut page);
        (page.entries, programmed)
    }

    fn program_page<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
        page: &mut Page,
    ) -> Result<(), JournalError> {
        let attempts_max = self.region.blocks.len() + 1;
        let protected = protected_through(page.sequence, page.synced_through);
        for _ in 0..attempts_max {
            self.pass_over_unwritable(protected);
            if self.position >= self.region_pages() {
                break;
            }
            let addr = self.address(self.position);
            if self.position.is_multiple_of(self.pages_per_block())
                && self.position >= self.erase_from
                && !erase_or_retire(flash, alloc, addr.block)?
            {
                self.stats.blocks_retired += 1;
                self.skip_to_next_block();
                continue;
            }
            page.epoch = self.epoch;
            // What recovery accepts at this position (`within_region`).
            assert!(page.sequence <= self.position);
            assert!(u64::from(page.epoch) <= self.position / self.pages_per_block() + 1);
            page.erase_count = alloc.erase_counts()[addr.block.0 as usize];
            let bytes = page.encode(self.geometry.page_bytes as usize);
            match flash.program(addr, &bytes) {
                Ok(()) => {
                    self.note_programmed(self.position, page.sequence);
                    return Ok(());
                }
                Err(FlashError::BadBlock { block, .. }) => {
                    alloc.retire(block);
                    self.stats.blocks_retired += 1;
                    self.skip_to_next_block();
                }
                Err(FlashError::Io(_)) if planted::active(Bug::IoErrorIgnored) => return Ok(()),
                Err(other) => return Err(other.into()),
            }
        }
        Err(JournalError::Full {
            pages: self.region_pages(),
        })
    }

    /// Moves the position past the pages a page vouching for every
    /// sequence up to `protected` may not program ([`Journal::writable`]),
    /// leaving them erased (wasted); bounded by
    /// the region. Passing over the last pages of a block opens a new
    /// epoch at the next block start, as a retired block does: recovery
    /// reads erased pages at a block's end as the end of an epoch, and a
    /// page is passed over within an epoch only before a page programmed
    /// in the same block.
    fn pass_over_unwritable(&mut self, protected: Option<u64>) {
        while self.position < self.region_pages() && !self.writable(self.position, protected) {
            self.position += 1;
            self.stats.pages_passed_over += 1;
            self.stats.bytes_wasted += u64::from(self.geometry.page_bytes);
            if self.position.is_multiple_of(self.pages_per_block()) {
                self.epoch += 1;
            }
        }
    }

    /// The buffered page is on flash at the current position: it is the
    /// last page, not yet copied.
    fn page_programmed(&mut self) {
        self.stats.entries_on_flash += self.buffer_entries.len() as u64;
        note_page(&mut self.page_map, self.sequence, self.position);
        self.position += 1;
        self.sequence += 1;
        self.stats.pages_programmed += 1;
        self.stats.bytes_programmed += u64::from(self.geometry.page_bytes);
        self.buffer.bytes.clear();
        let mut last = self.uncopied.take().unwrap_or_default();
        std::mem::swap(&mut last, &mut self.buffer_entries);
        self.buffer_entries.clear();
        self.uncopied = Some(last);
    }
}

/// The sequences a page must not put at risk: those it vouches for. A
/// page vouches for every sequence up to its `synced_through`; a commit
/// copy (`synced_through` its own sequence) for every page of its flush
/// but its original, whose loss it answers for itself. A cut program that
/// still reads back would otherwise vouch for a page it damaged.
fn protected_through(sequence: u64, synced_through: Option<u64>) -> Option<u64> {
    if synced_through == Some(sequence) {
        sequence.checked_sub(1)
    } else {
        synced_through
    }
}

/// Notes in `(block, sequences)` that the page at `position` holds
/// `sequence`, starting over when `position` is in another block.
fn note_in(block: &mut (u64, Vec<Option<u64>>), position: u64, per_block: u64, sequence: u64) {
    if position / per_block != block.0 {
        block.0 = position / per_block;
        block.1.fill(None);
    }
    block.1[(position % per_block) as usize] = Some(sequence);
}

#[cfg(test)]
mod tests;
