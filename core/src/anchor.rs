//! The anchor: a double-buffered superblock naming the live regions.
//!
//! Two reserved erase blocks (0 and 1) hold a log of [`AnchorRecord`]s, each
//! laid over one or more consecutive pages with a CRC32C over the whole
//! record. The newest valid record (highest sequence) wins. An update first
//! syncs (so everything the record names is durable), appends the record to
//! the current block
//! — or erases the other block and starts it there when the current one is
//! full or was found after a crash — then syncs. A crash at any flash
//! operation of an update leaves the old record or the new one in force,
//! never neither. A page read back unreadable is passed over like a torn
//! one; one read with corrected bits at the scrub threshold is noted, so
//! the record is committed again.

use crate::flash::{BlockAddr, Flash, FlashError, PageAddr, ERASED};
pub(crate) use crate::format::anchor::AnchorRecord;
use crate::planted::{self, Bug};

/// The two blocks the anchor lives in.
pub const ANCHOR_BLOCKS: [BlockAddr; 2] = [BlockAddr(0), BlockAddr(1)];

/// Why the anchor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("no valid anchor record in blocks 0 and 1: the device is not formatted, or both copies are corrupt")]
    NotFound,
    #[error(
        "anchor record of {bytes} bytes does not fit in one erase block ({block_bytes} bytes)"
    )]
    TooLarge { bytes: usize, block_bytes: u64 },
    #[error("anchor record names {what} {value}, outside the device of {blocks} blocks")]
    OutOfDevice {
        what: &'static str,
        value: u64,
        blocks: u32,
    },
    /// The newest record's sequence is `u64::MAX`: no later record could win.
    #[error("anchor sequence exhausted (the newest record has sequence u64::MAX): the image was crafted or corrupt")]
    SequenceExhausted,
    #[error("anchor record malformed: {0}")]
    Decode(#[from] crate::codec::DecodeError),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

impl AnchorRecord {
    /// Checks that every block named lies on a device of `blocks` blocks,
    /// outside the anchor; that no block belongs to two regions; and that no
    /// bad block is listed twice. A bad block may still sit in the region
    /// that was using it when it failed.
    pub fn validate(&self, blocks: u32) -> Result<(), AnchorError> {
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
        let regions = std::iter::once(&self.journal).chain(&self.incarnations);
        let lists = [
            regions.flat_map(|r| r.blocks.iter()).collect::<Vec<_>>(),
            self.bad_blocks.iter().collect(),
        ];
        for list in lists {
            let mut seen = vec![false; blocks as usize];
            for block in list {
                if block.0 >= blocks || ANCHOR_BLOCKS.contains(block) {
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
    /// A page of the record in force was read with corrected bits at the
    /// scrub threshold.
    needs_scrub: bool,
    /// Index into [`ANCHOR_BLOCKS`] of the block holding the newest record.
    current: usize,
    /// First page of `current` this session may append to, if it wrote
    /// there itself; `None` after open (pages past the newest record may be
    /// torn), so the next commit starts the other block.
    append_page: Option<u32>,
    sequence: u64,
}

impl Anchor {
    /// Writes the first record on a blank or reused device.
    pub fn format<F: Flash>(
        flash: &mut F,
        record: AnchorRecord,
    ) -> Result<(Self, AnchorRecord), AnchorError> {
        // Block 1 may hold records of an earlier use of the device: erase it,
        // then the commit erases block 0 and writes there.
        flash.erase(ANCHOR_BLOCKS[1])?;
        let mut anchor = Anchor {
            needs_scrub: false,
            current: 1,
            append_page: None,
            sequence: 0,
        };
        let record = anchor.commit(flash, record)?;
        Ok((anchor, record))
    }

    /// Finds the newest valid record in the two anchor blocks.
    pub fn open<F: Flash>(flash: &mut F) -> Result<(Self, AnchorRecord), AnchorError> {
        let images = [
            read_block(flash, ANCHOR_BLOCKS[0])?,
            read_block(flash, ANCHOR_BLOCKS[1])?,
        ];
        let page_bytes = flash.geometry().page_bytes as usize;
        let mut found: Vec<(u64, usize, usize)> = Vec::new();
        for (index, image) in images.iter().enumerate() {
            found.extend(
                scan_block(&image.bytes, page_bytes)
                    .into_iter()
                    .map(|(sequence, offset)| (sequence, index, offset)),
            );
        }
        // Newest first; a record whose CRC holds but whose payload does not
        // decode is passed over like a torn one: the older copies decide.
        found.sort_unstable_by(|a, b| b.cmp(a));
        let best = found.iter().find_map(|&(_, index, offset)| {
            let decoded = AnchorRecord::decode(&images[index].bytes[offset..]);
            decoded
                .ok()
                .flatten()
                .map(|(record, len)| (index, offset, len, record))
        });
        let (current, offset, len, record) = best.ok_or(AnchorError::NotFound)?;
        record.validate(flash.geometry().blocks)?;
        let pages = offset / page_bytes..(offset + len).div_ceil(page_bytes);
        let anchor = Anchor {
            needs_scrub: images[current].scrub[pages].iter().any(|&s| s),
            current,
            append_page: None,
            sequence: record.sequence,
        };
        Ok((anchor, record))
    }

    /// Whether a page of the record in force needs scrubbing: commit it again.
    pub fn needs_scrub(&self) -> bool {
        self.needs_scrub
    }

    /// Makes `record` the one in force (its sequence is assigned here) and
    /// returns it as written. Durable when this returns `Ok`.
    pub fn commit<F: Flash>(
        &mut self,
        flash: &mut F,
        mut record: AnchorRecord,
    ) -> Result<AnchorRecord, AnchorError> {
        let geometry = flash.geometry();
        record.validate(geometry.blocks)?;
        record.sequence = self
            .sequence
            .checked_add(1)
            .ok_or(AnchorError::SequenceExhausted)?;
        let bytes = record.encode();
        let page_bytes = geometry.page_bytes as usize;
        let pages = bytes.len().div_ceil(page_bytes) as u32;
        if pages > geometry.pages_per_block {
            return Err(AnchorError::TooLarge {
                bytes: bytes.len(),
                block_bytes: geometry.block_bytes(),
            });
        }
        flash.sync()?;
        let (block_index, first_page) = match self.append_page {
            Some(page) if page + pages <= geometry.pages_per_block => (self.current, page),
            _ => {
                let mut other = 1 - self.current;
                if planted::active(Bug::AnchorInPlace) {
                    other = self.current;
                }
                flash.erase(ANCHOR_BLOCKS[other])?;
                (other, 0)
            }
        };
        // From here on the target block holds a partial record until the
        // sync: a failure leaves it unusable for appending.
        self.append_page = None;
        let mut page_buf = vec![ERASED; page_bytes];
        for (i, chunk) in bytes.chunks(page_bytes).enumerate() {
            page_buf.fill(ERASED);
            page_buf[..chunk.len()].copy_from_slice(chunk);
            let addr = PageAddr {
                block: ANCHOR_BLOCKS[block_index],
                page: first_page + i as u32,
            };
            flash.program(addr, &page_buf)?;
        }
        flash.sync()?;
        self.current = block_index;
        self.append_page = Some(first_page + pages);
        self.sequence = record.sequence;
        self.needs_scrub = false;
        Ok(record)
    }

    #[cfg(feature = "testing")]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// A block read back: its pages in one buffer (an unreadable page as
/// erased bytes, which no record decodes from), and which pages need
/// scrubbing.
struct BlockImage {
    bytes: Vec<u8>,
    scrub: Vec<bool>,
}

fn read_block<F: Flash>(flash: &mut F, block: BlockAddr) -> Result<BlockImage, AnchorError> {
    let geometry = flash.geometry();
    let page_bytes = geometry.page_bytes as usize;
    let mut image = BlockImage {
        bytes: vec![0u8; geometry.block_bytes() as usize],
        scrub: vec![false; geometry.pages_per_block as usize],
    };
    for (page, buf) in image.bytes.chunks_mut(page_bytes).enumerate() {
        let addr = PageAddr {
            block,
            page: page as u32,
        };
        match flash.read_checked(addr, buf) {
            Ok(status) => image.scrub[page] = status.scrub,
            Err(FlashError::Uncorrectable { .. }) => buf.fill(ERASED),
            Err(other) => return Err(other.into()),
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
        let mut anchor_block = record(8);
        anchor_block.bad_blocks.push(BlockAddr(1));
        assert!(anchor_block.validate(8).is_err());
    }
}
