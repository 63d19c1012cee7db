//! A freeze: the log store's table written bucket by bucket, then its
//! filter, into a fresh region; a block that fails is retired and
//! another taken, a bounded number of times.

use std::ops::Range;

use crate::alloc::{erase_or_retire, Allocator};
use crate::codec::Writer;
use crate::cuckoo::{self, CuckooTable};
use crate::filter::HashFilter;
use crate::flash::{BlockAddr, Flash, FlashError, Geometry, PageAddr, ERASED};
use crate::format::filter;
use crate::format::incarnation::{encode_slot, finish_page, Header};
use crate::format::meta::Shape;
use crate::planted::{self, Bug};
use crate::region::Region;
use crate::types::Value;

use super::*;

/// What a freeze writes: the table's buckets, then its filter's bytes.
struct Source<'a> {
    table: &'a CuckooTable<Value>,
    filter: &'a [u8],
}

impl Incarnation {
    /// The blocks a freeze of a table of 2^`order` buckets of
    /// `bucket_slots` slots takes, whatever it holds: every bucket page and
    /// the filter (a tag a slot).
    pub fn blocks_max(
        geometry: Geometry,
        order: u32,
        bucket_slots: usize,
    ) -> Result<u64, HashStoreError> {
        let shape = Shape::new(geometry, order, bucket_slots, 0)?
            .with_filter(HashFilter::bytes_for(order, bucket_slots), geometry);
        Ok(shape.blocks_needed(geometry))
    }

    /// Writes `table`'s buckets, in bucket order, into pages of freshly
    /// allocated and erased blocks (least-worn first). Tombstones are kept.
    /// A block whose erase or program fails is retired and replaced, its
    /// pages rewritten; on any other error the blocks taken are released.
    /// Does not sync: the caller's anchor commit does, then names the region.
    pub fn freeze<F: Flash>(
        flash: &mut F,
        alloc: &mut Allocator,
        generation: u64,
        table: &CuckooTable<Value>,
    ) -> Result<Incarnation, HashStoreError> {
        let geometry = flash.geometry();
        let config = table.config();
        let order = config.order;
        let first_only = planted::active(Bug::FilterFirstBucketOnly);
        let placed = (0..table.buckets()).flat_map(|bucket| {
            table
                .bucket(bucket)
                .enumerate()
                .filter_map(move |(slot, entry)| entry.map(|(hash, _)| (bucket, slot, hash)))
        });
        let filter = HashFilter::build(
            order,
            config.bucket_slots,
            placed.filter(|(bucket, _, hash)| !first_only || *bucket == cuckoo::h1(hash, order)),
        );
        let filter_bytes = filter.encode();
        let shape = Shape::new(geometry, config.order, config.bucket_slots, table.len())?
            .with_filter(filter_bytes.len() as u64, geometry);
        let blocks_needed = shape.blocks_needed(geometry);
        if blocks_needed > u64::from(geometry.blocks) {
            return Err(HashStoreError::TooLarge {
                blocks_needed,
                blocks: geometry.blocks,
            });
        }
        let mut incarnation = Incarnation {
            region: Region {
                generation,
                blocks: Vec::with_capacity(blocks_needed as usize),
                meta: shape.encode(),
            },
            geometry,
            shape,
            filter: Some(std::sync::Arc::new(filter)),
            blind: std::sync::Arc::from([]),
            lost: Vec::new(),
        };
        let source = Source {
            table,
            filter: &filter_bytes,
        };
        for index in 0..blocks_needed {
            match incarnation.write_block(flash, alloc, &source, index) {
                Ok(block) => incarnation.region.blocks.push(block),
                Err(e) => {
                    for &block in &incarnation.region.blocks {
                        alloc.release(block);
                    }
                    return Err(e);
                }
            }
        }
        Ok(incarnation)
    }

    /// Writes the pages of region block `index` into a fresh block, retrying
    /// on another block while erases or programs fail. Every failed attempt
    /// retires a block, so the allocator runs out (`OutOfBlocks`) before
    /// the device's count of attempts does.
    fn write_block<F: Flash>(
        &self,
        flash: &mut F,
        alloc: &mut Allocator,
        source: &Source<'_>,
        index: u64,
    ) -> Result<BlockAddr, HashStoreError> {
        let ppb = u64::from(self.geometry.pages_per_block);
        let pages = index * ppb..((index + 1) * ppb).min(self.shape.all_pages());
        let mut buf = vec![ERASED; self.geometry.page_bytes as usize];
        let mut written = None;
        for _ in 0..=self.geometry.blocks {
            let block = alloc.allocate_cold()?;
            match self.try_block(flash, alloc, source, block, pages.clone(), &mut buf) {
                Ok(true) => {
                    written = Some(block);
                    break;
                }
                Ok(false) => continue,
                Err(e) => {
                    alloc.release(block);
                    return Err(e.into());
                }
            }
        }
        Ok(written.expect("the allocator runs out before the attempts"))
    }

    /// Erases `block` and programs `pages` into it; `Ok(false)` if the block
    /// failed and was retired.
    fn try_block<F: Flash>(
        &self,
        flash: &mut F,
        alloc: &mut Allocator,
        source: &Source<'_>,
        block: BlockAddr,
        pages: Range<u64>,
        buf: &mut [u8],
    ) -> Result<bool, FlashError> {
        if !erase_or_retire(flash, alloc, block)? {
            return Ok(false);
        }
        let ppb = u64::from(self.geometry.pages_per_block);
        let erase_count = alloc.erase_counts()[block.0 as usize];
        for page in pages {
            match page.checked_sub(self.shape.pages) {
                None => self.encode_page(source.table, page, erase_count, buf),
                Some(index) => filter::encode_page(
                    filter::Header {
                        generation: self.region.generation,
                        index: index as u32,
                        total_bytes: source.filter.len() as u32,
                        erase_count,
                    },
                    source.filter,
                    buf,
                ),
            }
            let addr = PageAddr {
                block,
                page: (page % ppb) as u32,
            };
            match flash.program(addr, buf) {
                Ok(()) => {}
                Err(FlashError::BadBlock { .. }) => {
                    alloc.retire(block);
                    return Ok(false);
                }
                Err(other) => return Err(other),
            }
        }
        Ok(true)
    }

    /// Lays out page `page` of `table` in `buf`, CRC included, for a block
    /// erased `erase_count` times.
    pub(super) fn encode_page(
        &self,
        table: &CuckooTable<Value>,
        page: u64,
        erase_count: u32,
        buf: &mut [u8],
    ) {
        let (first, count) = self.shape.page_buckets(page);
        let mut w = Writer::default();
        Header {
            slots: self.shape.bucket_slots as u16,
            generation: self.region.generation,
            first,
            count,
            erase_count,
        }
        .encode(&mut w);
        for bucket in first..first + u64::from(count) {
            for slot in table.bucket(bucket) {
                encode_slot(&mut w, slot);
            }
        }
        finish_page(buf, &w.bytes);
    }
}
