//! The anchor: a double-buffered superblock naming the live regions.
//!
//! Two reserved erase blocks (0 and 1) hold a log of [`AnchorRecord`]s, each
//! laid over one or more consecutive pages with a CRC32C over the whole
//! record. The newest valid record (highest sequence) wins. An update first
//! syncs (so everything the record names is durable), appends the record to
//! the current block — or erases the other block and starts it there when
//! the current one is full or was found after a crash — then syncs. A crash
//! at any flash operation of an update leaves the old record or the new one
//! in force, never neither.

use crate::codec::{DecodeError, Reader, Writer};
use crate::flash::{BlockAddr, Flash, FlashError, PageAddr, ERASED};
use crate::planted::{self, Bug};

/// The two blocks the anchor lives in.
pub const ANCHOR_BLOCKS: [BlockAddr; 2] = [BlockAddr(0), BlockAddr(1)];

const MAGIC: u32 = 0x4C53_4131; // "LSA1"
const VERSION: u16 = 1;
const HEADER_BYTES: usize = 24;
/// Largest opaque configuration or region metadata, in bytes.
pub const META_BYTES_MAX: usize = 4096;
/// Most regions one record may list.
pub const REGIONS_MAX: usize = 4096;

/// A run of erase blocks holding one journal or one incarnation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Unique among all regions ever created on the device.
    pub generation: u64,
    pub blocks: Vec<BlockAddr>,
    /// Owned by whoever wrote the region (a hash store incarnation's shape).
    pub meta: Vec<u8>,
}

/// One anchor record: the whole durable state of the index but the regions'
/// contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorRecord {
    /// Strictly increasing; assigned by [`Anchor::commit`].
    pub sequence: u64,
    /// The generation the next new region gets.
    pub next_generation: u64,
    /// The store's configuration, encoded by the store.
    pub config: Vec<u8>,
    pub journal: Region,
    /// Hash store incarnations, newest first.
    pub incarnations: Vec<Region>,
    pub bad_blocks: Vec<BlockAddr>,
    /// Erase count of every block, as last known.
    pub erase_counts: Vec<u32>,
}

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
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

impl Region {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.generation).u32(self.blocks.len() as u32);
        for block in &self.blocks {
            w.u32(block.0);
        }
        w.u32(self.meta.len() as u32).raw(&self.meta);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let generation = r.u64()?;
        let blocks = decode_u32s(r, "region block count")?
            .into_iter()
            .map(BlockAddr)
            .collect();
        let meta = decode_bytes(r, "region meta length")?;
        Ok(Region {
            generation,
            blocks,
            meta,
        })
    }
}

fn decode_u32s(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u32>, DecodeError> {
    let count = r.u32()? as usize;
    if count > r.remaining() / 4 {
        return Err(DecodeError::Invalid {
            what,
            value: count as u64,
        });
    }
    (0..count).map(|_| r.u32()).collect()
}

fn decode_bytes(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    let len = r.u32()? as usize;
    if len > META_BYTES_MAX {
        return Err(DecodeError::Invalid {
            what,
            value: len as u64,
        });
    }
    Ok(r.raw(len)?.to_vec())
}

impl AnchorRecord {
    /// Header and payload, ready to lay over pages.
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Writer::default();
        payload
            .u64(self.next_generation)
            .u32(self.config.len() as u32)
            .raw(&self.config);
        self.journal.encode(&mut payload);
        payload.u32(self.incarnations.len() as u32);
        for region in &self.incarnations {
            region.encode(&mut payload);
        }
        payload.u32(self.bad_blocks.len() as u32);
        for block in &self.bad_blocks {
            payload.u32(block.0);
        }
        payload.u32(self.erase_counts.len() as u32);
        for &count in &self.erase_counts {
            payload.u32(count);
        }
        let mut record = Writer::default();
        record
            .u32(MAGIC)
            .u16(VERSION)
            .u16(0)
            .u64(self.sequence)
            .u32(payload.bytes.len() as u32)
            .u32(0)
            .raw(&payload.bytes);
        let crc = crc32c::crc32c(&record.bytes);
        record.bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        record.bytes
    }

    /// Decodes a record at the start of `bytes`; returns it and its length.
    /// `None` if no record starts here (bad magic, version or CRC).
    pub fn decode(bytes: &[u8]) -> Result<Option<(Self, usize)>, DecodeError> {
        let mut r = Reader::new(bytes);
        if bytes.len() < HEADER_BYTES || r.u32()? != MAGIC || r.u16()? != VERSION {
            return Ok(None);
        }
        let _flags = r.u16()?;
        let sequence = r.u64()?;
        let payload_len = r.u32()? as usize;
        let crc = r.u32()?;
        if payload_len > bytes.len() - HEADER_BYTES {
            return Ok(None);
        }
        let total = HEADER_BYTES + payload_len;
        let mut check = bytes[..total].to_vec();
        check[20..24].fill(0);
        if crc32c::crc32c(&check) != crc {
            return Ok(None);
        }
        let record = Self::decode_payload(sequence, &bytes[HEADER_BYTES..total])?;
        Ok(Some((record, total)))
    }

    fn decode_payload(sequence: u64, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let next_generation = r.u64()?;
        let config = decode_bytes(&mut r, "config length")?;
        let journal = Region::decode(&mut r)?;
        let regions = r.u32()? as usize;
        if regions > REGIONS_MAX {
            return Err(DecodeError::Invalid {
                what: "incarnation count",
                value: regions as u64,
            });
        }
        let incarnations = (0..regions)
            .map(|_| Region::decode(&mut r))
            .collect::<Result<_, _>>()?;
        let bad_blocks = decode_u32s(&mut r, "bad block count")?
            .into_iter()
            .map(BlockAddr)
            .collect();
        let erase_counts = decode_u32s(&mut r, "erase count length")?;
        Ok(AnchorRecord {
            sequence,
            next_generation,
            config,
            journal,
            incarnations,
            bad_blocks,
            erase_counts,
        })
    }

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
            current: 1,
            append_page: None,
            sequence: 0,
        };
        let record = anchor.commit(flash, record)?;
        Ok((anchor, record))
    }

    /// Finds the newest valid record in the two anchor blocks.
    pub fn open<F: Flash>(flash: &mut F) -> Result<(Self, AnchorRecord), AnchorError> {
        let mut best: Option<(usize, AnchorRecord)> = None;
        for (index, block) in ANCHOR_BLOCKS.iter().enumerate() {
            for record in scan_block(flash, *block)? {
                if best
                    .as_ref()
                    .is_none_or(|(_, b)| record.sequence > b.sequence)
                {
                    best = Some((index, record));
                }
            }
        }
        let (current, record) = best.ok_or(AnchorError::NotFound)?;
        record.validate(flash.geometry().blocks)?;
        let anchor = Anchor {
            current,
            append_page: None,
            sequence: record.sequence,
        };
        Ok((anchor, record))
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
        Ok(record)
    }

    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// Every valid record in one anchor block, in page order.
fn scan_block<F: Flash>(flash: &mut F, block: BlockAddr) -> Result<Vec<AnchorRecord>, AnchorError> {
    let geometry = flash.geometry();
    let page_bytes = geometry.page_bytes as usize;
    let mut bytes = vec![0u8; geometry.block_bytes() as usize];
    for (page, buf) in bytes.chunks_mut(page_bytes).enumerate() {
        flash.read(
            PageAddr {
                block,
                page: page as u32,
            },
            buf,
        )?;
    }
    let mut records = Vec::new();
    let mut page = 0;
    while page < geometry.pages_per_block as usize {
        // A record whose CRC holds but whose payload does not decode is
        // skipped like a torn one: the other copies decide.
        match AnchorRecord::decode(&bytes[page * page_bytes..]) {
            Ok(Some((record, len))) => {
                records.push(record);
                page += len.div_ceil(page_bytes);
            }
            Ok(None) | Err(_) => page += 1,
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(blocks: u32) -> AnchorRecord {
        AnchorRecord {
            sequence: 0,
            next_generation: 7,
            config: vec![1, 2, 3],
            journal: Region {
                generation: 6,
                blocks: vec![BlockAddr(2), BlockAddr(5)],
                meta: vec![],
            },
            incarnations: vec![Region {
                generation: 4,
                blocks: vec![BlockAddr(3)],
                meta: vec![9; 10],
            }],
            bad_blocks: vec![BlockAddr(4)],
            erase_counts: vec![1; blocks as usize],
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut r = record(8);
        r.sequence = 42;
        let bytes = r.encode();
        let (decoded, len) = AnchorRecord::decode(&bytes).unwrap().unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(decoded, r);
    }

    #[test]
    fn every_bit_flip_is_rejected() {
        let bytes = record(8).encode();
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            let decoded = AnchorRecord::decode(&corrupt);
            assert!(
                !matches!(decoded, Ok(Some(_))),
                "flip of bit {bit} accepted"
            );
        }
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
        let mut anchor_block = record(8);
        anchor_block.bad_blocks.push(BlockAddr(1));
        assert!(anchor_block.validate(8).is_err());
    }
}
