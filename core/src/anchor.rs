//! The anchor: the superblock naming the live regions, kept in [`LANES`]
//! (three) *lanes*, erase blocks allocated from the pool like any other.
//!
//! **Layout.** A lane holds a log of [`AnchorRecord`]s from its page 0, each
//! over one or more consecutive pages with a CRC32C over the whole record.
//! Every record is written to every lane, at the same page (lane 0, then 1,
//! then 2), so two unreadable pages never roll the store back; the record
//! names its own lanes. An update first syncs (so everything the
//! record names is durable), appends the record to both lanes, then syncs.
//! When the lanes are full, after an open (pages past the newest record may
//! be torn), or when a lane block fails, the anchor **moves**: two fresh
//! blocks (least worn first) are erased and the record written there; the
//! old lanes go back to the pool once it is durable. Lane erases are counted
//! by the allocator and levelled like any other block's; a failing lane
//! block is retired. A crash at any flash operation of an update leaves the
//! old record or the new one in force, never neither.
//!
//! **Finding it.** Open reads page 0 of every block. A block whose page 0
//! starts with an anchor record header is a lane; lanes are grouped by the
//! sequence of that first record (the lanes of a set share it). The group
//! with the highest sequence is read whole, then every lane its newest
//! record names that the group lacked (a lane whose page 0 was lost), and
//! the newest valid record of them all wins; a group holding none (a move
//! cut before its first record was complete) gives way to the next. With
//! two pages lost anywhere in the lanes, one lane's page 0 still reads and
//! one whole copy of the newest record is left. Cost: the head of one page
//! a block (its first [`crate::format::HEAD_BYTES`] bytes: one ECC step),
//! plus two blocks' pages a group tried (one group unless a move was cut),
//! each up to two erased pages in a row ([`read_block`]).
//! The same page-0 reads give the erase counts and generations journal,
//! filter and incarnation pages carry in their headers
//! ([`crate::format::head_of`]), so counts survive a crash between an
//! erase and the next commit.
//!
//! A page read back unreadable is passed over like a torn one; a record
//! found in one lane only, or read with corrected bits at the scrub
//! threshold, is noted so it is committed again.

use crate::alloc::{erase_or_retire_counted, Allocator, OutOfBlocks};
use crate::flash::{BlockAddr, Flash, FlashError, PageAddr, ERASED};
pub(crate) use crate::format::anchor::AnchorRecord;
pub use crate::format::anchor::LANES;
use crate::planted::{self, Bug};

/// Most moves one commit tries while lane blocks fail.
pub const MOVES_MAX: u32 = 8;

/// Why the anchor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("no valid anchor record on the device: it is not formatted, or every copy is corrupt")]
    NotFound,
    /// No record of this build's format, and one of an older format: the
    /// store was written by an earlier build, whose pages this one does
    /// not read.
    #[error("the device holds a store of an older on-flash format (anchor record version {version}, this build reads version {current}): open it with the build that wrote it, or format the part")]
    OlderFormat { version: u16, current: u16 },
    #[error(
        "anchor record of {bytes} bytes does not fit in one erase block ({block_bytes} bytes)"
    )]
    TooLarge { bytes: usize, block_bytes: u64 },
    /// The record marks uncertain a generation it names nowhere.
    #[error("anchor record marks generation {generation} uncertain but names no region of it")]
    UncertainUnnamed { generation: u64 },
    #[error("anchor record names {what} {value}, outside the device of {blocks} blocks")]
    OutOfDevice {
        what: &'static str,
        value: u64,
        blocks: u32,
    },
    /// The record names a region whose generation is not below the next
    /// one it would hand out: a fresh region could repeat it.
    #[error("anchor record names generation {generation}, not below its next generation {next_generation}: the image was crafted or corrupt")]
    GenerationNotFresh {
        generation: u64,
        next_generation: u64,
    },
    /// The record's next generation is `u64::MAX`: no fresh region could
    /// have a generation of its own.
    #[error(
        "anchor generations exhausted (the next is u64::MAX): the image was crafted or corrupt"
    )]
    GenerationsExhausted,
    /// The newest record's sequence is `u64::MAX`: no later record could win.
    #[error("anchor sequence exhausted (the newest record has sequence u64::MAX): the image was crafted or corrupt")]
    SequenceExhausted,
    /// Every lane block tried failed: the device is wearing out.
    #[error("the anchor could not be written: {moves} moves to fresh lanes failed")]
    MovesExhausted { moves: u32 },
    #[error(transparent)]
    OutOfBlocks(#[from] OutOfBlocks),
    #[error("anchor record malformed: {0}")]
    Decode(#[from] crate::codec::DecodeError),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

impl AnchorRecord {
    /// Checks that every block named lies on the device of `blocks`
    /// blocks; that the lanes differ and hold no region; that no block
    /// belongs to two regions; and that no bad block is listed twice. A bad
    /// block may still sit in the region that was using it when it failed.
    /// Every generation marked uncertain names the journal or an
    /// incarnation; every generation named is below the next one, which is
    /// not the last there is.
    pub fn validate(&self, blocks: u32) -> Result<(), AnchorError> {
        let named = |g: u64| {
            std::iter::once(&self.journal)
                .chain(&self.incarnations)
                .any(|r| r.generation == g)
        };
        if let Some(&generation) = self.uncertain.iter().find(|&&g| !named(g)) {
            return Err(AnchorError::UncertainUnnamed { generation });
        }
        if self.next_generation == u64::MAX {
            return Err(AnchorError::GenerationsExhausted);
        }
        let next_generation = self.next_generation;
        let regions = std::iter::once(&self.journal).chain(&self.incarnations);
        if let Some(region) = regions.clone().find(|r| r.generation >= next_generation) {
            return Err(AnchorError::GenerationNotFresh {
                generation: region.generation,
                next_generation,
            });
        }
        let out = |what, value: u64| AnchorError::OutOfDevice {
            what,
            value,
            blocks,
        };
        if self.erase_counts.len() != blocks as usize {
            return Err(out(
                "erase count list of length",
                self.erase_counts.len() as u64,
            ));
        }
        let lists = [
            regions
                .flat_map(|r| r.blocks.iter())
                .chain(&self.lanes)
                .collect::<Vec<_>>(),
            self.bad_blocks.iter().collect(),
        ];
        for list in lists {
            let mut seen = vec![false; blocks as usize];
            for block in list {
                if block.0 >= blocks {
                    return Err(out("block", u64::from(block.0)));
                }
                if std::mem::replace(&mut seen[block.0 as usize], true) {
                    return Err(out("twice the block", u64::from(block.0)));
                }
            }
        }
        Ok(())
    }
}

/// Where the anchor writes next. See the module documentation.
#[derive(Clone, Debug)]
pub struct Anchor {
    /// The record in force needs committing again: a page of it was read
    /// with corrected bits at the scrub threshold, or one lane lacked it.
    needs_scrub: bool,
    /// The lanes holding the record in force (none before the first).
    lanes: Option<[BlockAddr; LANES]>,
    /// First page of the lanes this session may append to, if it wrote
    /// there itself; `None` after open, so the next commit moves.
    append_page: Option<u32>,
    /// The pages of each lane holding the record in force.
    record_pages: std::ops::Range<u32>,
    /// The highest record sequence known to be on the device.
    sequence: u64,
}

/// The anchor found at open, the record in force, and the erase count each
/// block's page 0 carries (0 where none).
pub struct Found {
    pub anchor: Anchor,
    pub record: AnchorRecord,
    pub erase_counts_seen: Vec<u32>,
}

impl Anchor {
    /// Writes the first record on a blank or reused device, in lanes from
    /// `alloc`; its sequence starts above any record an earlier use left.
    pub fn format<F: Flash>(
        flash: &mut F,
        alloc: &mut Allocator,
        record: AnchorRecord,
    ) -> Result<(Self, AnchorRecord), AnchorError> {
        let scan = scan_first_pages(flash)?;
        let ppb = u64::from(flash.geometry().pages_per_block);
        let above = scan
            .lanes
            .first()
            .map_or(0, |&(s, _)| s.saturating_add(ppb));
        let mut anchor = Anchor {
            needs_scrub: false,
            lanes: None,
            append_page: None,
            record_pages: 0..0,
            sequence: above,
        };
        let record = anchor.commit(flash, alloc, record)?;
        Ok((anchor, record))
    }

    /// The lowest generation above every one an earlier use of the device
    /// left on it: above each region page 0 names, and not below the next
    /// generation of the newest record found (which covers the pages of a
    /// block whose page 0 is unreadable). A store formatted over a used
    /// part starts there, so a page of the earlier store read back stale
    /// (its bytes from before its block's last erase) never passes for
    /// one of the new store's. 1 on a blank device.
    pub fn generation_above<F: Flash>(flash: &mut F) -> Result<u64, AnchorError> {
        let scan = scan_first_pages(flash)?;
        let recorded = match Anchor::open(flash) {
            Ok(found) => found.record.next_generation,
            Err(AnchorError::Flash(error)) => return Err(error.into()),
            Err(_) => 0,
        };
        let above = scan.generation_max.map_or(0, |g| g.saturating_add(1));
        Ok(above.max(recorded).max(1))
    }

    /// Finds the record in force. See the module documentation.
    pub fn open<F: Flash>(flash: &mut F) -> Result<Found, AnchorError> {
        let scan = scan_first_pages(flash)?;
        let highest = scan.lanes.first().map_or(0, |&(s, _)| s);
        let mut groups = scan.lanes.chunk_by(|a, b| a.0 == b.0);
        // Bounded: each group is a distinct sequence of blocks on the device.
        let found = groups.find_map(|group| newest_in(flash, group).transpose());
        let newest = match found {
            Some(newest) => newest?,
            None => return Err(scan.not_found()),
        };
        let record = newest.record;
        record.validate(flash.geometry().blocks)?;
        let anchor = Anchor {
            needs_scrub: newest.scrub || newest.copies < LANES,
            lanes: Some(record.lanes),
            append_page: None,
            record_pages: newest.pages,
            sequence: record.sequence.max(highest),
        };
        Ok(Found {
            anchor,
            record,
            erase_counts_seen: scan.erase_counts,
        })
    }

    /// Whether the record in force should be committed again.
    pub fn needs_scrub(&self) -> bool {
        self.needs_scrub
    }

    /// Reads back, as a scrub does, what open needs of every lane: its
    /// page 0 (how a lane is found) and the pages of the record in force.
    /// A page near the ECC's limit or past it makes the next commit move
    /// to fresh lanes, so page 0 is written anew too. Returns the most bits
    /// corrected in one step and the pages read. Bounded: [`LANES`] times
    /// the record's pages plus one.
    pub fn check_pages<F: Flash>(&mut self, flash: &mut F) -> Result<(u32, u64), AnchorError> {
        // Lanes are known from the first commit, which `format` makes.
        let lanes = self.lanes.expect("an anchor in use has committed");
        let mut buf = vec![0u8; flash.geometry().page_bytes as usize];
        let pages = std::iter::once(0).chain(self.record_pages.clone().filter(|&p| p > 0));
        let (mut most, mut read) = (0, 0);
        for page in pages {
            for block in lanes {
                read += 1;
                match flash.read_checked(PageAddr { block, page }, &mut buf) {
                    Ok(status) => {
                        most = most.max(status.bits_corrected);
                        self.needs_scrub |= status.scrub;
                    }
                    Err(FlashError::Uncorrectable { .. }) => self.needs_scrub = true,
                    Err(other) => return Err(other.into()),
                }
            }
        }
        if self.needs_scrub {
            self.append_page = None;
        }
        Ok((most, read))
    }

    /// The lanes holding the record in force.
    #[cfg(any(test, feature = "testing"))]
    pub fn lanes(&self) -> Option<[BlockAddr; LANES]> {
        self.lanes
    }

    /// Makes `record` the one in force: its sequence, lanes, bad blocks and
    /// erase counts are set here, and it is returned as written. Durable
    /// when this returns `Ok`. Moves to fresh lanes when the current ones
    /// are full or fail, at most `MOVES_MAX` times.
    pub fn commit<F: Flash>(
        &mut self,
        flash: &mut F,
        alloc: &mut Allocator,
        mut record: AnchorRecord,
    ) -> Result<AnchorRecord, AnchorError> {
        let geometry = flash.geometry();
        flash.sync()?;
        for _ in 0..=MOVES_MAX {
            // Every attempt its own sequence: a failed one may have left a
            // whole copy on flash, which must not tie with the next.
            record.sequence = self
                .sequence
                .checked_add(1)
                .ok_or(AnchorError::SequenceExhausted)?;
            self.sequence = record.sequence;
            let (lanes, first_page, moved) = match self.room(&record, geometry) {
                Some((lanes, page)) => (lanes, page, false),
                None => (fresh_lanes(flash, alloc)?, 0, true),
            };
            record.lanes = lanes;
            record.bad_blocks = alloc.bad_blocks();
            record.erase_counts = alloc.erase_counts().to_vec();
            // What goes to flash holds together: a broken record here is a
            // bug of the code that built it, not input to refuse.
            let built = record.validate(geometry.blocks);
            built.expect("an anchor record built to commit holds together");
            let bytes = record.encode();
            let pages = bytes.len().div_ceil(geometry.page_bytes as usize) as u32;
            if pages > geometry.pages_per_block {
                return Err(AnchorError::TooLarge {
                    bytes: bytes.len(),
                    block_bytes: geometry.block_bytes(),
                });
            }
            if !moved {
                // The lanes in force may hold a partial record until the
                // sync: they are not appended to again unless it lands.
                self.append_page = None;
                if first_page + pages > geometry.pages_per_block {
                    continue;
                }
            }
            match write_lanes(flash, lanes, first_page, &bytes) {
                Ok(()) => {}
                Err(FlashError::BadBlock { block, .. }) => {
                    alloc.retire(block);
                    if moved {
                        lanes.iter().for_each(|&lane| alloc.release(lane));
                    }
                    continue;
                }
                Err(other) => return Err(other.into()),
            }
            flash.sync()?;
            if let (true, Some(old)) = (moved, self.lanes) {
                old.iter().for_each(|&lane| alloc.release(lane));
            }
            self.lanes = Some(lanes);
            self.append_page = Some(first_page + pages);
            self.record_pages = first_page..first_page + pages;
            self.needs_scrub = false;
            return Ok(record);
        }
        Err(AnchorError::MovesExhausted { moves: MOVES_MAX })
    }

    /// The lanes in force and the page `record` would start at, if this
    /// session may append there and it fits.
    fn room(
        &self,
        record: &AnchorRecord,
        geometry: crate::flash::Geometry,
    ) -> Option<([BlockAddr; LANES], u32)> {
        let (lanes, page) = (self.lanes?, self.append_page?);
        let pages = record.encode().len().div_ceil(geometry.page_bytes as usize) as u32;
        (page + pages <= geometry.pages_per_block).then_some((lanes, page))
    }
}

/// Two fresh lane blocks from `alloc`, erased; on an error, the blocks
/// taken go back.
fn fresh_lanes<F: Flash>(
    flash: &mut F,
    alloc: &mut Allocator,
) -> Result<[BlockAddr; LANES], AnchorError> {
    let mut lanes = [BlockAddr(0); LANES];
    for lane in 0..LANES {
        match erased_block(flash, alloc) {
            Ok(block) => lanes[lane] = block,
            Err(error) => {
                lanes[..lane].iter().for_each(|&b| alloc.release(b));
                return Err(error);
            }
        }
    }
    Ok(lanes)
}

/// A free block from `alloc`, erased: a block whose erase fails is retired
/// and the next one taken. Bounded by the device: every try takes a free
/// block for good or returns it erased, and fewer blocks than the device
/// has are ever free (the journal holds some from the start), so the
/// allocator runs out (`OutOfBlocks`) before the tries do.
fn erased_block<F: Flash>(flash: &mut F, alloc: &mut Allocator) -> Result<BlockAddr, AnchorError> {
    let counted = !planted::active(Bug::AnchorEraseUncounted);
    let mut erased = None;
    for _ in 0..flash.geometry().blocks {
        let block = alloc.allocate()?;
        if erase_or_retire_counted(flash, alloc, block, counted)? {
            erased = Some(block);
            break;
        }
    }
    Ok(erased.expect("the allocator runs out before a try for each block"))
}

/// Programs `bytes` from `first_page` of lane 0, then of lane 1.
fn write_lanes<F: Flash>(
    flash: &mut F,
    lanes: [BlockAddr; LANES],
    first_page: u32,
    bytes: &[u8],
) -> Result<(), FlashError> {
    let page_bytes = flash.geometry().page_bytes as usize;
    let mut page_buf = vec![ERASED; page_bytes];
    for lane in lanes {
        for (i, chunk) in bytes.chunks(page_bytes).enumerate() {
            page_buf.fill(ERASED);
            page_buf[..chunk.len()].copy_from_slice(chunk);
            let addr = PageAddr {
                block: lane,
                page: first_page + i as u32,
            };
            flash.program(addr, &page_buf)?;
        }
    }
    Ok(())
}

/// What page 0 of every block showed: the lane blocks with the sequence of
/// their first record, highest first; and the erase count each block's
/// page 0 carries.
struct FirstPages {
    lanes: Vec<(u64, BlockAddr)>,
    erase_counts: Vec<u32>,
    /// The highest generation a region's page 0 names, if any does.
    generation_max: Option<u64>,
    /// The newest older format version an anchor page 0 names, if any.
    older_version: Option<u16>,
}

impl FirstPages {
    /// Why no record was found: an older format's records, or none.
    fn not_found(&self) -> AnchorError {
        match self.older_version {
            Some(version) => AnchorError::OlderFormat {
                version,
                current: crate::format::anchor::VERSION,
            },
            None => AnchorError::NotFound,
        }
    }
}

fn scan_first_pages<F: Flash>(flash: &mut F) -> Result<FirstPages, AnchorError> {
    let geometry = flash.geometry();
    let mut head = [0u8; crate::format::HEAD_BYTES];
    let mut scan = FirstPages {
        lanes: Vec::new(),
        erase_counts: vec![0; geometry.blocks as usize],
        generation_max: None,
        older_version: None,
    };
    for b in 0..geometry.blocks {
        let block = BlockAddr(b);
        match flash.read_head(PageAddr { block, page: 0 }, &mut head) {
            Ok(_) => {}
            Err(FlashError::Uncorrectable { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        if let Some(sequence) = AnchorRecord::header_sequence(&head) {
            scan.lanes.push((sequence, block));
        } else if let Some(version) = crate::format::anchor::older_version(&head) {
            scan.older_version = scan.older_version.max(Some(version));
        } else if let Some(found) = crate::format::head_of(&head) {
            scan.erase_counts[b as usize] = found.erase_count;
            scan.generation_max = scan.generation_max.max(Some(found.generation));
        }
    }
    scan.lanes.sort_unstable_by(|a, b| b.cmp(a));
    Ok(scan)
}

/// The newest valid record found in a group of lanes, and what the open
/// needs of it.
struct Newest {
    record: AnchorRecord,
    /// Lanes holding a valid copy of it.
    copies: usize,
    /// Some page of it read with corrected bits at the scrub threshold.
    scrub: bool,
    /// The pages of its lane it spans.
    pages: std::ops::Range<u32>,
}

/// The newest valid record in the lanes of `group` (blocks sharing a first
/// sequence) and in every lane that record names which the group lacked
/// (a lane whose page 0 was lost reads as no lane); `None` if no record
/// decodes. Bounded: at most the group's blocks and [`LANES`] more.
fn newest_in<F: Flash>(
    flash: &mut F,
    group: &[(u64, BlockAddr)],
) -> Result<Option<Newest>, AnchorError> {
    let blocks = flash.geometry().blocks;
    let mut lanes: Vec<(BlockAddr, BlockImage)> = Vec::with_capacity(group.len() + LANES);
    for &(_, block) in group {
        lanes.push((block, read_block(flash, block)?));
    }
    let Some(mut best) = best_record(&lanes, flash.geometry().page_bytes as usize) else {
        return Ok(None);
    };
    let missing: Vec<BlockAddr> = best
        .record
        .lanes
        .iter()
        .copied()
        .filter(|lane| lane.0 < blocks && lanes.iter().all(|(b, _)| b != lane))
        .collect();
    if !missing.is_empty() && !planted::active(Bug::LanesByFirstPageOnly) {
        for block in missing {
            lanes.push((block, read_block(flash, block)?));
        }
        best = best_record(&lanes, flash.geometry().page_bytes as usize).expect("one found before");
    }
    // A group is keyed by its lanes' first record, so its newest record is
    // at least that new. One older means the key was misread (a page 0
    // whose header reads, its CRC failing, on a part without an ECC): a
    // stale lane posing as the newest group, whose records would roll the
    // store back. The next group decides.
    let key = group.first().map_or(0, |&(sequence, _)| sequence);
    if best.record.sequence < key {
        return Ok(None);
    }
    Ok(Some(best))
}

/// The newest record of `lanes` whose CRC holds and whose payload decodes
/// (a record that does not decode is passed over like a torn one: the
/// older copies decide).
fn best_record(lanes: &[(BlockAddr, BlockImage)], page_bytes: usize) -> Option<Newest> {
    let mut found: Vec<(u64, usize, usize)> = Vec::new();
    for (index, (_, image)) in lanes.iter().enumerate() {
        found.extend(
            scan_block(&image.bytes, page_bytes)
                .into_iter()
                .map(|(sequence, offset)| (sequence, index, offset)),
        );
    }
    found.sort_unstable_by(|a, b| b.cmp(a));
    let (sequence, index, offset, len, record) =
        found.iter().find_map(|&(sequence, index, offset)| {
            let decoded = AnchorRecord::decode(&lanes[index].1.bytes[offset..]);
            decoded
                .ok()
                .flatten()
                .map(|(record, len)| (sequence, index, offset, len, record))
        })?;
    assert_eq!(
        record.sequence, sequence,
        "a record's header names its sequence"
    );
    let copies = found.iter().filter(|f| f.0 == sequence).count();
    let pages = offset / page_bytes..(offset + len).div_ceil(page_bytes);
    let scrub = lanes[index].1.scrub[pages.clone()].iter().any(|&s| s);
    Some(Newest {
        record,
        copies,
        scrub,
        pages: pages.start as u32..pages.end as u32,
    })
}

/// A block read back: its pages in one buffer (an unreadable page as
/// erased bytes, which no record decodes from), and which pages need
/// scrubbing.
struct BlockImage {
    bytes: Vec<u8>,
    scrub: Vec<bool>,
}

/// Reads a lane's pages in order up to two in a row that read erased
/// where a record could start: the rest of the image is erased bytes. A
/// lane's records run from page 0 with no page skipped (a commit writes
/// at the page after the last record; after a failed write or an open
/// the anchor moves instead of appending), and each record is synced
/// before the next is written, so no record starts past the erased
/// tail. One page that reads erased is not the tail: a lost write (a
/// page that reads erased though it was programmed) would otherwise hide
/// every newer record of its lane, and the lane's redundancy with it.
/// Pages a header claims are read whatever they hold (a record's page may
/// be all ones); an unreadable page, or one no record starts on, is
/// passed over as [`scan_block`] passes it. Where most of a lane is erased
/// (the anchor moves at every open), this is a few pages a lane instead
/// of every page, each with its ECC decode.
fn read_block<F: Flash>(flash: &mut F, block: BlockAddr) -> Result<BlockImage, AnchorError> {
    let geometry = flash.geometry();
    let page_bytes = geometry.page_bytes as usize;
    let mut image = BlockImage {
        bytes: vec![ERASED; geometry.block_bytes() as usize],
        scrub: vec![false; geometry.pages_per_block as usize],
    };
    // Pages below this belong to a record whose header came before.
    let mut claimed_end = 0;
    // Whether the page before read erased where a record could start.
    let mut erased_before = false;
    for page in 0..geometry.pages_per_block as usize {
        let addr = PageAddr {
            block,
            page: page as u32,
        };
        let buf = &mut image.bytes[page * page_bytes..][..page_bytes];
        let at_start = page >= claimed_end;
        match flash.read_checked(addr, buf) {
            Ok(_) if at_start && crate::flash::is_erased(buf) => {
                if erased_before {
                    break;
                }
                // The next page is where a record could start too.
                erased_before = true;
                continue;
            }
            Ok(status) => image.scrub[page] = status.scrub,
            Err(FlashError::Uncorrectable { .. }) => buf.fill(ERASED),
            Err(other) => return Err(other.into()),
        }
        erased_before = false;
        if at_start {
            let claimed = AnchorRecord::claimed_bytes(&image.bytes[page * page_bytes..]);
            claimed_end = page + claimed.map_or(1, |bytes| bytes.div_ceil(page_bytes).max(1));
        }
    }
    Ok(image)
}

/// The sequence and byte offset of every record in a block's image whose
/// CRC holds, in page order.
fn scan_block(bytes: &[u8], page_bytes: usize) -> Vec<(u64, usize)> {
    let pages = bytes.len() / page_bytes;
    let mut records = Vec::new();
    let mut page = 0;
    while page < pages {
        // Bounded: every iteration moves on by at least one page.
        match AnchorRecord::peek(&bytes[page * page_bytes..]) {
            Some((sequence, len)) => {
                records.push((sequence, page * page_bytes));
                page += len.div_ceil(page_bytes).max(1);
            }
            None => page += 1,
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::anchor::tests::record;

    /// A record ending exactly at its lanes' last page is appended there;
    /// the lanes move only for the next one, which does not fit.
    #[test]
    fn a_record_ending_at_the_last_page_is_appended_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let geometry = crate::flash::Geometry::new(512, 8, 16).unwrap();
        let path = dir.path().join("image");
        let mut flash = crate::file_flash::FileFlash::create(&path, geometry).unwrap();
        let mut alloc = Allocator::new(16, vec![0; 16]);
        alloc.mark_in_use(&[BlockAddr(2), BlockAddr(3), BlockAddr(5)]);
        let (mut anchor, mut last) = Anchor::format(&mut flash, &mut alloc, record(16)).unwrap();
        let first_lanes = anchor.lanes().unwrap();
        // One page a record: pages 0 to 7 of the same lanes.
        assert_eq!(anchor.record_pages, 0..1);
        for page in 1..geometry.pages_per_block {
            last = anchor.commit(&mut flash, &mut alloc, last).unwrap();
            assert_eq!(anchor.record_pages, page..page + 1);
            assert_eq!(anchor.lanes(), Some(first_lanes), "page {page}");
        }
        anchor.commit(&mut flash, &mut alloc, last).unwrap();
        assert_eq!(anchor.record_pages, 0..1);
        assert_ne!(anchor.lanes(), Some(first_lanes));
    }

    /// A record may hold pages of all ones (here its config bytes), which
    /// read as erased: the open reads on through the pages its header
    /// claims (its own header's) and finds it and the record after it,
    /// whether it comes first in its lane or after a shorter one; stopping
    /// at its erased-looking pages would roll back or find nothing.
    #[test]
    fn a_record_page_of_all_ones_does_not_end_its_lane() {
        // Bytes 48 to 1748 of a big record are all ones: its second and
        // third pages. The layouts: big first, then after a small one.
        for big_first in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let geometry = crate::flash::Geometry::new(512, 16, 16).unwrap();
            let path = dir.path().join("image");
            let mut flash = crate::file_flash::FileFlash::create(&path, geometry).unwrap();
            let mut alloc = Allocator::new(16, vec![0; 16]);
            alloc.mark_in_use(&[BlockAddr(2), BlockAddr(3), BlockAddr(5)]);
            let mut big = record(16);
            big.config = vec![ERASED; 1700];
            let first = if big_first { big.clone() } else { record(16) };
            let (mut anchor, mut last) = Anchor::format(&mut flash, &mut alloc, first).unwrap();
            if !big_first {
                big.sequence = last.sequence;
                last = anchor.commit(&mut flash, &mut alloc, big).unwrap();
            }
            let big_start = u32::from(!big_first);
            assert_eq!(anchor.record_pages, big_start..big_start + 4);
            let lanes = anchor.lanes().unwrap();
            for page in [big_start + 1, big_start + 2] {
                let mut bytes = vec![0u8; 512];
                let addr = PageAddr {
                    block: lanes[0],
                    page,
                };
                flash.read(addr, &mut bytes).unwrap();
                assert!(crate::flash::is_erased(&bytes), "page {page} reads erased");
            }
            last.config = vec![1, 2, 3];
            let newest = anchor.commit(&mut flash, &mut alloc, last).unwrap();
            let found = Anchor::open(&mut flash).unwrap();
            assert_eq!(
                found.record.sequence, newest.sequence,
                "big first: {big_first}"
            );
        }
    }

    /// A lost write (a record page that reads erased) hides none of its
    /// lane's newer records: with the newest record's copies in the other
    /// two lanes damaged too, the open still finds it in the first, where
    /// ending a lane at its first erased page would roll back to the
    /// record before (intact in the other lanes).
    #[test]
    fn a_lost_write_in_a_lane_hides_none_of_its_newer_records() {
        let dir = tempfile::tempdir().unwrap();
        let geometry = crate::flash::Geometry::new(512, 8, 16).unwrap();
        let path = dir.path().join("image");
        let mut flash = crate::file_flash::FileFlash::create(&path, geometry).unwrap();
        let mut alloc = Allocator::new(16, vec![0; 16]);
        alloc.mark_in_use(&[BlockAddr(2), BlockAddr(3), BlockAddr(5)]);
        let (mut anchor, mut last) = Anchor::format(&mut flash, &mut alloc, record(16)).unwrap();
        for _ in 0..3 {
            last = anchor.commit(&mut flash, &mut alloc, last).unwrap();
        }
        assert_eq!(anchor.record_pages, 3..4);
        let lanes = anchor.lanes().unwrap();
        // Lane 0 lost page 1 (it reads erased); lanes 1 and 2 lost the
        // newest record (page 3) to garbage: written into the image file,
        // as the faults, not as programs.
        drop(flash);
        let mut image = std::fs::read(&path).unwrap();
        let mut put = |block: BlockAddr, page: u32, byte: u8| {
            let at = geometry.page_offset(PageAddr { block, page }) as usize;
            image[at..at + 512].fill(byte);
        };
        put(lanes[0], 1, ERASED);
        for &lane in &lanes[1..] {
            put(lane, 3, 0x5A);
        }
        std::fs::write(&path, &image).unwrap();
        let mut flash = crate::file_flash::FileFlash::open(&path, geometry).unwrap();
        let found = Anchor::open(&mut flash).unwrap();
        assert_eq!(found.record.sequence, last.sequence);
    }

    /// A device counting the pages read.
    struct Counting<F> {
        flash: F,
        reads: u64,
    }

    impl<F: Flash> Flash for Counting<F> {
        fn geometry(&self) -> crate::flash::Geometry {
            self.flash.geometry()
        }
        fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
            self.reads += 1;
            self.flash.read(page, buf)
        }
        fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
            self.flash.program(page, data)
        }
        fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
            self.flash.erase(block)
        }
        fn sync(&mut self) -> Result<(), FlashError> {
            self.flash.sync()
        }
        fn is_bad(&mut self, block: BlockAddr) -> Result<bool, FlashError> {
            self.flash.is_bad(block)
        }
    }

    /// The open reads a page a block, then each lane up to the second page
    /// after its last record: not the lanes' erased tails.
    #[test]
    fn open_reads_each_lane_to_two_pages_past_its_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let geometry = crate::flash::Geometry::new(512, 8, 16).unwrap();
        let path = dir.path().join("image");
        let flash = crate::file_flash::FileFlash::create(&path, geometry).unwrap();
        let mut flash = Counting { flash, reads: 0 };
        let mut alloc = Allocator::new(16, vec![0; 16]);
        alloc.mark_in_use(&[BlockAddr(2), BlockAddr(3), BlockAddr(5)]);
        let (mut anchor, mut last) = Anchor::format(&mut flash, &mut alloc, record(16)).unwrap();
        for records in 1..=3u64 {
            flash.reads = 0;
            let found = Anchor::open(&mut flash).unwrap();
            assert_eq!(found.record.sequence, last.sequence);
            // Page 0 of every block, then each lane's records and two more.
            assert_eq!(flash.reads, 16 + LANES as u64 * (records + 2));
            last = anchor.commit(&mut flash, &mut alloc, last).unwrap();
        }
    }

    /// The newest record naming a lane outside the device is refused by
    /// its validation, as any record naming a block outside the device
    /// is: the open never reads past the device for that lane's copy.
    #[test]
    fn a_record_naming_a_lane_outside_the_device_is_refused_as_out_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let geometry = crate::flash::Geometry::new(512, 8, 16).unwrap();
        let path = dir.path().join("image");
        let mut flash = crate::file_flash::FileFlash::create(&path, geometry).unwrap();
        let mut alloc = Allocator::new(16, vec![0; 16]);
        alloc.mark_in_use(&[BlockAddr(2), BlockAddr(3), BlockAddr(5)]);
        let (anchor, last) = Anchor::format(&mut flash, &mut alloc, record(16)).unwrap();
        let lanes = anchor.lanes().unwrap();
        let mut outside = last.clone();
        outside.sequence += 1;
        outside.lanes[1] = BlockAddr(16);
        let mut page = outside.encode();
        assert!(page.len() <= 512);
        page.resize(512, ERASED);
        let addr = PageAddr {
            block: lanes[0],
            page: 1,
        };
        flash.program(addr, &page).unwrap();
        let opened = Anchor::open(&mut flash).err().map(|e| e.to_string());
        let expected = AnchorError::OutOfDevice {
            what: "block",
            value: 16,
            blocks: 16,
        };
        assert_eq!(opened, Some(expected.to_string()));
    }

    #[test]
    fn validate_rejects_an_uncertain_generation_it_does_not_name() {
        let mut r = record(8);
        r.uncertain = vec![r.journal.generation, r.incarnations[0].generation];
        assert!(r.validate(8).is_ok());
        r.uncertain.push(99);
        assert!(matches!(
            r.validate(8),
            Err(AnchorError::UncertainUnnamed { generation: 99 })
        ));
    }

    /// Generations are handed out from the record's next one: a region
    /// at or past it could be repeated by a fresh one, and a next
    /// generation of `u64::MAX` could hand out none.
    #[test]
    fn validate_rejects_a_generation_not_below_the_next() {
        let mut r = record(8);
        r.next_generation = r.journal.generation + 1;
        assert!(r.validate(8).is_ok());
        r.next_generation = r.journal.generation;
        assert!(matches!(
            r.validate(8),
            Err(AnchorError::GenerationNotFresh {
                generation: 6,
                next_generation: 6
            })
        ));
        let mut r = record(8);
        r.incarnations[0].generation = 7;
        assert!(matches!(
            r.validate(8),
            Err(AnchorError::GenerationNotFresh {
                generation: 7,
                next_generation: 7
            })
        ));
        r.incarnations[0].generation = 4;
        r.next_generation = u64::MAX;
        assert!(matches!(
            r.validate(8),
            Err(AnchorError::GenerationsExhausted)
        ));
    }

    /// A record carries one erase count a block of the device: a list of
    /// another length is out of the device, named by its length.
    #[test]
    fn validate_rejects_an_erase_count_list_not_a_block_each() {
        let mut short = record(8);
        short.erase_counts.pop();
        let refused = short.validate(8).err().map(|e| e.to_string());
        let expected = AnchorError::OutOfDevice {
            what: "erase count list of length",
            value: 7,
            blocks: 8,
        };
        assert_eq!(refused, Some(expected.to_string()));
    }

    #[test]
    fn validate_rejects_blocks_outside_or_twice() {
        assert!(record(8).validate(8).is_ok());
        assert!(record(5).validate(5).is_err());
        let mut twice = record(8);
        twice.incarnations[0].blocks.push(BlockAddr(2));
        assert!(twice.validate(8).is_err());
        let mut bad_in_region = record(8);
        bad_in_region.bad_blocks.push(BlockAddr(2));
        assert!(bad_in_region.validate(8).is_ok());
        bad_in_region.bad_blocks.push(BlockAddr(2));
        assert!(bad_in_region.validate(8).is_err());
        let mut lane_in_region = record(8);
        lane_in_region.lanes[0] = BlockAddr(3);
        assert!(lane_in_region.validate(8).is_err());
        let mut same_lanes = record(8);
        same_lanes.lanes = [BlockAddr(0), BlockAddr(6), BlockAddr(6)];
        assert!(same_lanes.validate(8).is_err());
    }
}
