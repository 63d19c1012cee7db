//! Hash store incarnations: a frozen cuckoo table written bucket by bucket into
//! checksummed pages of a region of erase blocks, its shape kept in the
//! region's meta. Promises: a lookup reads at most the two pages holding the
//! hash's buckets h1/h2, and every page read is checked (magic, CRC32C over the
//! whole page, generation, first bucket, bucket count) before any byte of it is
//! trusted, so an erased, stale, misplaced or corrupt page is named, never misread.
//! A bucket page lost when the filter has to be rebuilt (at open) leaves the
//! filter blind there: lookups read that page whatever the tags say, so what
//! it held is a typed error, never "absent". A scrub's read names the pages it
//! cannot read instead of failing on them.

use std::ops::Range;

use crate::alloc::{erase_or_retire, Allocator, OutOfBlocks};
use crate::codec::{DecodeError, Reader, Writer};
use crate::cuckoo::{self, CuckooConfig, CuckooTable};
use crate::filter::HashFilter;
use crate::flash::{BlockAddr, Flash, FlashError, Geometry, PageAddr, ReadStatus, ERASED};
use crate::format::filter;
use crate::format::incarnation::{
    decode_slot, encode_slot, finish_page, Header, IncarnationPageFault, PAGE_HEADER_BYTES,
    SLOT_BYTES,
};
use crate::planted::{self, Bug};
use crate::region::Region;
use crate::types::{Hash, Value};

const META_VERSION: u16 = 2;
/// Bytes of the shape in [`Region::meta`].
pub const META_BYTES: usize = 40;
/// Most pages a lookup reads.
#[cfg(feature = "testing")]
pub const PAGES_PER_LOOKUP_MAX: u64 = 2;

/// Why a hash store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HashStoreError {
    /// A page read back failed its checks: named, never misread.
    #[error("hash store page at {page} is corrupt: {why}")]
    Corrupt {
        page: PageAddr,
        why: IncarnationPageFault,
    },
    /// `region.meta` does not decode or does not fit the region and geometry.
    #[error("hash store shape malformed: {0}")]
    Meta(#[from] DecodeError),
    /// A bucket does not fit in one page.
    #[error("a bucket of {bucket_slots} slots needs {needed} bytes with the header, pages are {page_bytes}")]
    PageTooSmall {
        page_bytes: u32,
        bucket_slots: usize,
        needed: usize,
    },
    /// The table needs more blocks than the device has.
    #[error("the table needs {blocks_needed} erase blocks, the device has {blocks}")]
    TooLarge { blocks_needed: u64, blocks: u32 },
    /// Every page checked but the number of entries differs from the shape's.
    #[error("shape says {expected} entries, the pages hold {found}")]
    EntryCount { expected: u64, found: u64 },
    /// A hash stored twice: checksums hold, so the image was crafted or the
    /// writer is broken; lookups and a full read could disagree.
    #[error("hash store page at {page} holds a hash already stored in the incarnation")]
    DuplicateHash { page: PageAddr },
    /// The pages read back could not be laid out as a table again.
    #[error("hash store entries do not form a table: {0}")]
    Table(crate::cuckoo::CuckooError),
    /// Every block tried for one region block failed (each one was retired).
    #[error("{attempts} blocks failed in a row while freezing")]
    RetriesExhausted { attempts: u32 },
    #[error(transparent)]
    OutOfBlocks(#[from] OutOfBlocks),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

/// Most entries [`Incarnation::read_placed`] reserves room for before it
/// reads them (a shape's count is checked against the pages only after).
const PREALLOCATED_ENTRIES_MAX: u64 = 1 << 20;

/// The decoded shape of an incarnation: what [`Region::meta`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    order: u32,
    bucket_slots: usize,
    buckets_per_page: u32,
    /// Pages of buckets, then pages of the filter (none in meta version 1).
    pages: u64,
    entries: u64,
    filter_pages: u64,
    filter_bytes: u64,
}

impl Shape {
    /// The layout of a table of 2^order buckets of `bucket_slots` slots.
    fn new(
        geometry: Geometry,
        order: u32,
        bucket_slots: usize,
        entries: u64,
    ) -> Result<Self, HashStoreError> {
        let bucket_bytes = bucket_slots * SLOT_BYTES;
        let room = (geometry.page_bytes as usize).saturating_sub(PAGE_HEADER_BYTES);
        let buckets_per_page = (room / bucket_bytes.max(1)) as u32;
        if buckets_per_page == 0 {
            return Err(HashStoreError::PageTooSmall {
                page_bytes: geometry.page_bytes,
                bucket_slots,
                needed: PAGE_HEADER_BYTES + bucket_bytes,
            });
        }
        Ok(Shape {
            order,
            bucket_slots,
            buckets_per_page,
            pages: (1u64 << order).div_ceil(u64::from(buckets_per_page)),
            entries,
            filter_pages: 0,
            filter_bytes: 0,
        })
    }

    /// This shape with a filter of `bytes` bytes after the buckets.
    fn with_filter(self, bytes: u64, geometry: Geometry) -> Self {
        let payload = filter::payload_bytes(geometry.page_bytes).max(1) as u64;
        Shape {
            filter_pages: bytes.div_ceil(payload),
            filter_bytes: bytes,
            ..self
        }
    }

    /// Every page of the region: buckets, then filter.
    fn all_pages(&self) -> u64 {
        self.pages + self.filter_pages
    }

    fn buckets(&self) -> u64 {
        1u64 << self.order
    }

    fn bucket_bytes(&self) -> usize {
        self.bucket_slots * SLOT_BYTES
    }

    fn page_of(&self, bucket: u64) -> u64 {
        bucket / u64::from(self.buckets_per_page)
    }

    /// First bucket and bucket count of page `page`.
    fn page_buckets(&self, page: u64) -> (u64, u32) {
        let first = page * u64::from(self.buckets_per_page);
        let count = (self.buckets() - first).min(u64::from(self.buckets_per_page));
        (first, count as u32)
    }

    fn blocks_needed(&self, geometry: Geometry) -> u64 {
        self.all_pages()
            .div_ceil(u64::from(geometry.pages_per_block))
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u16(META_VERSION)
            .u8(self.order as u8)
            .u8(self.bucket_slots as u8)
            .u32(self.buckets_per_page)
            .u64(self.pages)
            .u64(self.entries)
            .u64(self.filter_pages)
            .u64(self.filter_bytes);
        assert_eq!(w.bytes.len(), META_BYTES);
        w.bytes
    }

    /// Decodes `meta` and checks it against the geometry and the region's
    /// block count.
    fn decode(meta: &[u8], geometry: Geometry, blocks: usize) -> Result<Self, HashStoreError> {
        let invalid = |what, value: u64| DecodeError::Invalid { what, value };
        let mut r = Reader::new(meta);
        let version = r.u16()?;
        if version != META_VERSION && version != 1 {
            return Err(invalid("hash store meta version", u64::from(version)).into());
        }
        let order = u32::from(r.u8()?);
        let bucket_slots = usize::from(r.u8()?);
        let (buckets_per_page, pages, entries) = (r.u32()?, r.u64()?, r.u64()?);
        // Version 1: no filter (one is built at open).
        let (filter_pages, filter_bytes) = match version {
            1 => (0, 0),
            _ => (r.u64()?, r.u64()?),
        };
        if r.remaining() != 0 {
            return Err(invalid("trailing meta bytes", r.remaining() as u64).into());
        }
        if order > cuckoo::ORDER_MAX {
            return Err(invalid("order", u64::from(order)).into());
        }
        if !matches!(bucket_slots, 2 | 4 | 8) {
            return Err(invalid("bucket slots", bucket_slots as u64).into());
        }
        let shape = Shape::new(geometry, order, bucket_slots, entries)?;
        if buckets_per_page != shape.buckets_per_page {
            return Err(invalid("buckets per page", u64::from(buckets_per_page)).into());
        }
        if pages != shape.pages {
            return Err(invalid("page count", pages).into());
        }
        if entries > shape.buckets() * bucket_slots as u64 {
            return Err(invalid("entry count", entries).into());
        }
        // A filter is a tag a slot (17 bits, whatever the entries: a table
        // frozen part-full has more slots than entries): at most 4 bytes a
        // slot and a page of descriptor.
        let slots = shape.buckets().saturating_mul(bucket_slots as u64);
        if filter_bytes > slots.saturating_mul(4).saturating_add(4096) {
            return Err(invalid("filter bytes", filter_bytes).into());
        }
        let shape = shape.with_filter(filter_bytes, geometry);
        if filter_pages != shape.filter_pages {
            return Err(invalid("filter page count", filter_pages).into());
        }
        if blocks as u64 != shape.blocks_needed(geometry) {
            return Err(invalid("region block count", blocks as u64).into());
        }
        Ok(shape)
    }
}

/// What a freeze writes: the table's buckets, then its filter's bytes.
struct Source<'a> {
    table: &'a CuckooTable<Value>,
    filter: &'a [u8],
}

/// The result of one lookup and what it cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    pub value: Option<Value>,
    /// Pages read: 1 or 2, never more than [`PAGES_PER_LOOKUP_MAX`].
    pub pages_read: u64,
    /// A page read needs scrubbing (corrected bits at the threshold).
    pub scrub: bool,
    /// The filter ruled the hash out: nothing was read.
    pub filtered: bool,
}

/// An incarnation's entries with their places, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// (bucket, slot, hash, value), in bucket order.
    pub entries: Vec<(u64, usize, Hash, Value)>,
    /// A page read needs scrubbing.
    pub scrub: bool,
}

/// What a scrub's read of some region pages found ([`Incarnation::check_pages`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// The most bits corrected in a step, and whether the incarnation needs
    /// rewriting (a page near the ECC's limit, or a filter page that no
    /// longer checks out).
    pub status: ReadStatus,
    /// Bucket pages (region page indexes) that failed their checks: past
    /// the ECC, erased, or holding another page's bytes.
    pub lost: Vec<u64>,
    /// Filter pages that did: a rewrite builds the filter again.
    pub filter_pages_damaged: u64,
}

/// One frozen log store on flash.
#[derive(Clone, Debug)]
pub struct Incarnation {
    region: Region,
    geometry: Geometry,
    shape: Shape,
    /// The filter of its hashes, once built or loaded: a lookup it rules
    /// out reads nothing. Shared by every clone (it never changes).
    filter: Option<std::sync::Arc<HashFilter>>,
    /// Bucket pages the filter was built without (unreadable when it was
    /// rebuilt), sorted: a lookup reads them whatever the tags say, so a
    /// hash they held is a typed error, never "absent".
    blind: std::sync::Arc<[u64]>,
    /// Bucket pages found unreadable (at the filter's rebuild, by a scrub),
    /// sorted: named in the store's figures.
    lost: Vec<u64>,
}

/// Where an incarnation's filter came from at open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterLoad {
    /// Read from its pages.
    Loaded,
    /// Its pages were missing (an older incarnation, or one whose filter
    /// pages hold an older format) or did not check out: built again from
    /// the buckets, in RAM.
    Rebuilt,
    /// Built again from the buckets that could be read: `pages` bucket
    /// pages could not, and lookups read them whatever the tags say.
    Blind { pages: u64 },
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
    /// retires a block, so the device size bounds the attempts.
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
        for _ in 0..=self.geometry.blocks {
            let block = alloc.allocate_cold()?;
            match self.try_block(flash, alloc, source, block, pages.clone(), &mut buf) {
                Ok(true) => return Ok(block),
                Ok(false) => continue,
                Err(e) => {
                    alloc.release(block);
                    return Err(e.into());
                }
            }
        }
        Err(HashStoreError::RetriesExhausted {
            attempts: self.geometry.blocks + 1,
        })
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
    fn encode_page(&self, table: &CuckooTable<Value>, page: u64, erase_count: u32, buf: &mut [u8]) {
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

    /// Whether a table of 2^`order` buckets of `bucket_slots` slots can be
    /// frozen on pages of `geometry` (a bucket must fit a page).
    pub(crate) fn check_shape(
        geometry: Geometry,
        order: u32,
        bucket_slots: usize,
    ) -> Result<(), HashStoreError> {
        Shape::new(geometry, order, bucket_slots, 0).map(|_| ())
    }

    /// Rebuilds the handle from an anchor's region: decodes `region.meta` and
    /// checks it against the geometry and the region's blocks. No flash I/O.
    pub fn open(region: Region, geometry: Geometry) -> Result<Incarnation, HashStoreError> {
        geometry.validate()?;
        let shape = Shape::decode(&region.meta, geometry, region.blocks.len())?;
        for block in &region.blocks {
            geometry.check_block(*block)?;
        }
        Ok(Incarnation {
            region,
            geometry,
            shape,
            filter: None,
            blind: std::sync::Arc::from([]),
            lost: Vec::new(),
        })
    }

    /// Loads the filter from its pages, or builds it again from the
    /// buckets when it has none or a page of it does not check out (each
    /// read within the ECC, its header naming this incarnation and its
    /// length). A bucket page that cannot be read then leaves the filter
    /// blind there ([`FilterLoad::Blind`]): one filter page and one bucket
    /// page lost together cost what that bucket page held, named on
    /// lookup, not the incarnation. `Err` only on a device failure or
    /// buckets that contradict each other or the shape.
    pub fn load_filter<F: Flash>(&mut self, flash: &mut F) -> Result<FilterLoad, HashStoreError> {
        if let Some(filter) = self.read_filter(flash)? {
            self.filter = Some(std::sync::Arc::new(filter));
            return Ok(FilterLoad::Loaded);
        }
        let (placed, lost) = self.scan(flash, true)?;
        let filter = HashFilter::build(
            self.shape.order,
            self.shape.bucket_slots,
            placed
                .entries
                .iter()
                .map(|(bucket, slot, hash, _)| (*bucket, *slot, hash)),
        );
        self.filter = Some(std::sync::Arc::new(filter));
        if lost.is_empty() {
            return Ok(FilterLoad::Rebuilt);
        }
        self.note_lost(&lost);
        self.blind = lost.as_slice().into();
        Ok(FilterLoad::Blind {
            pages: lost.len() as u64,
        })
    }

    /// The filter its pages hold, if they all check out. Bounded by the
    /// shape's filter pages.
    fn read_filter<F: Flash>(&self, flash: &mut F) -> Result<Option<HashFilter>, HashStoreError> {
        if self.shape.filter_pages == 0 {
            return Ok(None);
        }
        let total = self.shape.filter_bytes as usize;
        let mut bytes = Vec::with_capacity(total);
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        for index in 0..self.shape.filter_pages {
            let addr = self.page_addr(self.shape.pages + index);
            match flash.read_checked(addr, &mut buf) {
                Ok(_) => {}
                Err(FlashError::Uncorrectable { .. }) => return Ok(None),
                Err(other) => return Err(other.into()),
            }
            let Some((header, payload)) = filter::decode_page(&buf) else {
                return Ok(None);
            };
            let expected = header.generation == self.region.generation
                && u64::from(header.index) == index
                && header.total_bytes as usize == total;
            if !expected {
                return Ok(None);
            }
            let take = (total - bytes.len()).min(payload.len());
            bytes.extend_from_slice(&payload[..take]);
        }
        Ok(HashFilter::decode(
            &bytes,
            self.shape.order,
            self.shape.bucket_slots,
        ))
    }

    /// The filter, if built or loaded.
    pub fn filter(&self) -> Option<&HashFilter> {
        self.filter.as_deref()
    }

    /// Puts `filter` in front of the incarnation (tests: a filter that
    /// answers falsely, or none).
    #[cfg(feature = "testing")]
    pub fn set_filter(&mut self, filter: Option<HashFilter>) {
        self.filter = filter.map(std::sync::Arc::new);
    }

    /// Looks `hash` up, reading at most the two pages holding its buckets.
    #[cfg(feature = "testing")]
    pub fn get<F: Flash>(
        &self,
        flash: &mut F,
        hash: &Hash,
    ) -> Result<Option<Value>, HashStoreError> {
        let mut buf = Vec::new();
        Ok(self.lookup(flash, hash, &mut buf)?.value)
    }

    /// [`Incarnation::get`], also telling how many pages it read and whether
    /// one needs scrubbing. The filter, if any, names the candidate buckets
    /// that may hold the hash: a miss mostly reads nothing, a hit the one
    /// page of its bucket. Without a filter bucket h1 is searched first, and
    /// the page of h2 read only if h1 lacks the hash and lies on another
    /// page. A false positive costs a read, never an answer. `buf` is the caller's
    /// page buffer, kept between lookups: no allocation once it is sized.
    pub fn lookup<F: Flash>(
        &self,
        flash: &mut F,
        hash: &Hash,
        buf: &mut Vec<u8>,
    ) -> Result<Lookup, HashStoreError> {
        self.lookup_with(flash, hash, buf, true)
    }

    /// [`Incarnation::lookup`], past the filter only if `use_filter` (off:
    /// to measure what the filter saves; the answer is the same). A
    /// candidate page that fails its checks is a typed error unless the
    /// other candidate holds the hash (a hash sits once in an incarnation).
    pub fn lookup_with<F: Flash>(
        &self,
        flash: &mut F,
        hash: &Hash,
        buf: &mut Vec<u8>,
        use_filter: bool,
    ) -> Result<Lookup, HashStoreError> {
        let mut found = Lookup::default();
        let order = self.shape.order;
        let buckets = [cuckoo::h1(hash, order), cuckoo::h2(hash, order)];
        let mut wanted = match &self.filter {
            Some(filter) if use_filter => filter.candidates(hash),
            _ => [true, true],
        };
        for (want, bucket) in wanted.iter_mut().zip(buckets) {
            *want |= self
                .blind
                .binary_search(&self.shape.page_of(bucket))
                .is_ok();
        }
        if wanted == [false, false] {
            found.filtered = true;
            return Ok(found);
        }
        buf.resize(self.geometry.page_bytes as usize, 0);
        let buf = &mut buf[..];
        let mut loaded = None;
        let mut failed: Option<(u64, HashStoreError)> = None;
        for (i, &bucket) in buckets.iter().enumerate() {
            let page = self.shape.page_of(bucket);
            let failed_here = failed.as_ref().is_some_and(|(p, _)| *p == page);
            if (i == 1 && bucket == buckets[0]) || !wanted[i] || failed_here {
                continue;
            }
            if loaded != Some(page) {
                found.pages_read += 1;
                match self.read_page(flash, page, buf) {
                    Ok(status) => found.scrub |= status.scrub,
                    Err(error @ HashStoreError::Corrupt { .. }) => {
                        // The first page that failed is the one named.
                        failed = failed.or(Some((page, error)));
                        continue;
                    }
                    Err(other) => return Err(other),
                }
                loaded = Some(page);
            }
            if let Some(value) = self.search_bucket(buf, page, bucket, hash)? {
                found.value = Some(value);
                return Ok(found);
            }
        }
        match failed {
            Some((_, error)) => Err(error),
            None => Ok(found),
        }
    }

    /// The value `bucket`'s slots in checked page `page` (in `buf`) hold
    /// for `hash`, if any.
    fn search_bucket(
        &self,
        buf: &[u8],
        page: u64,
        bucket: u64,
        hash: &Hash,
    ) -> Result<Option<Value>, HashStoreError> {
        let addr = self.page_addr(page);
        for slot in self.bucket_slots_in(buf, bucket) {
            match decode_slot(slot).map_err(|why| corrupt(addr, why))? {
                Some((stored, value)) if stored == *hash => return Ok(Some(value)),
                _ => {}
            }
        }
        Ok(None)
    }

    /// Every (hash, value) in bucket order, reading and checking every page,
    /// and checking that each hash sits in one of its candidate buckets.
    pub fn read_all<F: Flash>(&self, flash: &mut F) -> Result<Vec<(Hash, Value)>, HashStoreError> {
        let placed = self.read_placed(flash)?;
        Ok(placed
            .entries
            .into_iter()
            .map(|(_, _, h, v)| (h, v))
            .collect())
    }

    /// Every entry with its bucket and slot, read and checked as
    /// [`Incarnation::read_all`] does, and whether a page needs scrubbing.
    pub fn read_placed<F: Flash>(&self, flash: &mut F) -> Result<Placed, HashStoreError> {
        self.scan(flash, false).map(|(placed, _)| placed)
    }

    /// Reads every bucket page as [`Incarnation::read_placed`] does; with
    /// `skip_lost`, a page that fails its checks is passed over and listed
    /// (what the rest holds is still checked: no hash twice, no more
    /// entries than the shape's) instead of failing the read.
    fn scan<F: Flash>(
        &self,
        flash: &mut F,
        skip_lost: bool,
    ) -> Result<(Placed, Vec<u64>), HashStoreError> {
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        let capacity = self.shape.entries.min(PREALLOCATED_ENTRIES_MAX) as usize;
        let mut placed = Placed {
            entries: Vec::with_capacity(capacity),
            scrub: false,
        };
        let mut seen = std::collections::HashSet::with_capacity(capacity);
        let mut lost = Vec::new();
        for page in 0..self.shape.pages {
            let start = placed.entries.len();
            match self.read_bucket_page(flash, page, &mut buf, &mut placed.entries) {
                Ok(status) => placed.scrub |= status.scrub,
                Err(HashStoreError::Corrupt { .. }) if skip_lost => {
                    lost.push(page);
                    continue;
                }
                Err(error) => return Err(error),
            }
            for (_, _, hash, _) in &placed.entries[start..] {
                if !seen.insert(*hash) {
                    let page = self.page_addr(page);
                    return Err(HashStoreError::DuplicateHash { page });
                }
            }
        }
        let found = placed.entries.len() as u64;
        let expected = self.shape.entries;
        if found > expected || (lost.is_empty() && found != expected) {
            return Err(HashStoreError::EntryCount { expected, found });
        }
        Ok((placed, lost))
    }

    /// Reads bucket page `page` into `buf` and appends its entries to
    /// `out`, each checked to sit in one of its candidate buckets; on an
    /// error `out` is left as it was.
    fn read_bucket_page<F: Flash>(
        &self,
        flash: &mut F,
        page: u64,
        buf: &mut [u8],
        out: &mut Vec<(u64, usize, Hash, Value)>,
    ) -> Result<ReadStatus, HashStoreError> {
        let start = out.len();
        let status = self.read_page(flash, page, buf)?;
        let addr = self.page_addr(page);
        let order = self.shape.order;
        let (first, count) = self.shape.page_buckets(page);
        for bucket in first..first + u64::from(count) {
            for (slot, bytes) in self.bucket_slots_in(buf, bucket).enumerate() {
                let decoded = match decode_slot(bytes) {
                    Ok(decoded) => decoded,
                    Err(why) => {
                        out.truncate(start);
                        return Err(corrupt(addr, why));
                    }
                };
                let Some((hash, value)) = decoded else {
                    continue;
                };
                if cuckoo::h1(&hash, order) != bucket && cuckoo::h2(&hash, order) != bucket {
                    out.truncate(start);
                    return Err(corrupt(addr, IncarnationPageFault::Misplaced { bucket }));
                }
                out.push((bucket, slot, hash, value));
            }
        }
        Ok(status)
    }

    /// Reads and checks region pages `pages` (a background scrub), bucket
    /// pages and filter pages alike. A page that fails its checks is named
    /// in the answer, not an error, so the scrub goes on past it; only a
    /// device failure is an error.
    pub fn check_pages<F: Flash>(
        &self,
        flash: &mut F,
        pages: Range<u64>,
    ) -> Result<Checked, HashStoreError> {
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        let mut checked = Checked::default();
        for page in pages.start..pages.end.min(self.shape.all_pages()) {
            let status = if page < self.shape.pages {
                match self.read_page(flash, page, &mut buf) {
                    Ok(status) => status,
                    Err(error @ HashStoreError::Corrupt { .. }) => {
                        if planted::active(Bug::ScrubCursorStuck) {
                            return Err(error);
                        }
                        checked.lost.push(page);
                        continue;
                    }
                    Err(other) => return Err(other),
                }
            } else {
                match self.check_filter_page(flash, page, &mut buf)? {
                    Some(status) => status,
                    None => {
                        checked.filter_pages_damaged += 1;
                        checked.status.scrub = true;
                        continue;
                    }
                }
            };
            let most = &mut checked.status;
            most.bits_corrected = most.bits_corrected.max(status.bits_corrected);
            most.scrub |= status.scrub;
        }
        Ok(checked)
    }

    /// A filter page read back as a scrub does: `None` if it no longer
    /// checks out (the incarnation is to be rewritten, the filter built
    /// again then), which is not an error.
    fn check_filter_page<F: Flash>(
        &self,
        flash: &mut F,
        page: u64,
        buf: &mut [u8],
    ) -> Result<Option<ReadStatus>, HashStoreError> {
        let status = match flash.read_checked(self.page_addr(page), buf) {
            Ok(status) => status,
            Err(FlashError::Uncorrectable { .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        match filter::decode_page(buf) {
            Some((header, _)) if header.generation == self.region.generation => Ok(Some(status)),
            _ => Ok(None),
        }
    }

    /// Notes bucket pages `pages` as unreadable; returns how many were not
    /// noted before.
    pub fn note_lost(&mut self, pages: &[u64]) -> u64 {
        let mut new = 0;
        for &page in pages {
            if let Err(at) = self.lost.binary_search(&page) {
                self.lost.insert(at, page);
                new += 1;
            }
        }
        new
    }

    /// Bucket pages found unreadable so far (region page indexes, sorted).
    pub fn lost_pages(&self) -> &[u64] {
        &self.lost
    }

    /// The region page at `addr`, if the region holds it.
    pub fn page_index(&self, addr: PageAddr) -> Option<u64> {
        let ppb = u64::from(self.geometry.pages_per_block);
        let block = self.region.blocks.iter().position(|&b| b == addr.block)?;
        let page = block as u64 * ppb + u64::from(addr.page);
        (page < self.shape.all_pages()).then_some(page)
    }

    /// The incarnation as a table with the same placement: what a rewrite
    /// freezes again elsewhere.
    pub fn read_table<F: Flash>(
        &self,
        flash: &mut F,
    ) -> Result<CuckooTable<Value>, HashStoreError> {
        let placed = self.read_placed(flash)?;
        let config = CuckooConfig {
            bucket_slots: self.shape.bucket_slots,
            ..CuckooConfig::new(self.shape.order, 0)
        };
        CuckooTable::from_placements(config, placed.entries).map_err(HashStoreError::Table)
    }

    /// Where page `page` of the region lives: block `page / pages_per_block`
    /// of the region, page `page % pages_per_block`. Panics unless
    /// `page < self.pages()`.
    pub fn page_addr(&self, page: u64) -> PageAddr {
        let ppb = u64::from(self.geometry.pages_per_block);
        PageAddr {
            block: self.region.blocks[(page / ppb) as usize],
            page: (page % ppb) as u32,
        }
    }

    /// Reads region page `page` into `buf` and checks it; what the ECC saw.
    fn read_page<F: Flash>(
        &self,
        flash: &mut F,
        page: u64,
        buf: &mut [u8],
    ) -> Result<ReadStatus, HashStoreError> {
        let addr = self.page_addr(page);
        let status = match flash.read_checked(addr, buf) {
            Ok(status) => status,
            Err(FlashError::Uncorrectable { .. }) => {
                return Err(corrupt(addr, IncarnationPageFault::Uncorrectable))
            }
            Err(other) => return Err(other.into()),
        };
        self.check_page(page, buf)
            .map_err(|why| corrupt(addr, why))?;
        Ok(status)
    }

    /// Checks a page's header and CRC against what page `page` must hold.
    fn check_page(&self, page: u64, bytes: &[u8]) -> Result<(), IncarnationPageFault> {
        let header = Header::check(bytes)?;
        if header.generation != self.region.generation {
            return Err(IncarnationPageFault::WrongGeneration {
                found: header.generation,
            });
        }
        let (first, count) = self.shape.page_buckets(page);
        let found = (header.first, header.count, usize::from(header.slots));
        if found != (first, count, self.shape.bucket_slots) {
            return Err(IncarnationPageFault::WrongBuckets {
                found_first: header.first,
                found_count: header.count,
                found_slots: header.slots,
            });
        }
        Ok(())
    }

    /// The slot images of `bucket` in a checked page holding it.
    fn bucket_slots_in<'a>(
        &self,
        page: &'a [u8],
        bucket: u64,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let index = (bucket % u64::from(self.shape.buckets_per_page)) as usize;
        let start = PAGE_HEADER_BYTES + index * self.shape.bucket_bytes();
        page[start..start + self.shape.bucket_bytes()].chunks_exact(SLOT_BYTES)
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Live entries and tombstones stored.
    pub fn entries(&self) -> u64 {
        self.shape.entries
    }

    #[cfg(feature = "testing")]
    pub fn order(&self) -> u32 {
        self.shape.order
    }

    #[cfg(feature = "testing")]
    pub fn bucket_slots(&self) -> usize {
        self.shape.bucket_slots
    }

    #[cfg(feature = "testing")]
    pub fn buckets_per_page(&self) -> u32 {
        self.shape.buckets_per_page
    }

    /// Pages in the region: buckets, then filter.
    pub fn pages(&self) -> u64 {
        self.shape.all_pages()
    }

    /// Pages of buckets: the region's first pages.
    pub fn bucket_pages(&self) -> u64 {
        self.shape.pages
    }

    /// Most pages one lookup reads.
    #[cfg(feature = "testing")]
    pub const fn pages_per_lookup_max() -> u64 {
        PAGES_PER_LOOKUP_MAX
    }
}

fn corrupt(page: PageAddr, why: IncarnationPageFault) -> HashStoreError {
    HashStoreError::Corrupt { page, why }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry::new(512, 8, 16).unwrap()
    }

    #[test]
    fn shape_round_trips_and_every_prefix_is_rejected() {
        let g = geometry();
        let shape = Shape::new(g, 6, 4, 17).unwrap();
        assert_eq!((shape.buckets_per_page, shape.pages), (2, 32));
        let meta = shape.encode();
        assert_eq!(Shape::decode(&meta, g, 4).unwrap(), shape);
        assert!(Shape::decode(&meta, g, 5).is_err());
        for len in 0..meta.len() {
            assert!(matches!(
                Shape::decode(&meta[..len], g, 4),
                Err(HashStoreError::Meta(DecodeError::Truncated { .. }))
            ));
        }
    }

    /// A filter larger than 4 bytes a slot and a page is refused, even with
    /// its page and block counts consistent; one at the bound is taken.
    #[test]
    fn a_filter_past_its_bound_is_refused() {
        let g = geometry();
        let shape = Shape::new(g, 6, 4, 17).unwrap();
        let bound = shape.buckets() * 4 * 4 + 4096;
        for (bytes, ok) in [(bound, true), (bound + 1, false)] {
            let filtered = shape.with_filter(bytes, g);
            let blocks = filtered.blocks_needed(g) as usize;
            let decoded = Shape::decode(&filtered.encode(), g, blocks);
            assert_eq!(decoded.is_ok(), ok, "{bytes} filter bytes: {decoded:?}");
        }
    }

    #[test]
    fn buckets_fill_pages_without_spanning() {
        let g = geometry();
        for slots in [2, 4, 8] {
            for order in 0..8 {
                let shape = Shape::new(g, order, slots, 0).unwrap();
                let used = PAGE_HEADER_BYTES + shape.buckets_per_page as usize * slots * SLOT_BYTES;
                assert!(used <= 512 && used + slots * SLOT_BYTES > 512);
                let (first, count) = shape.page_buckets(shape.pages - 1);
                assert_eq!(first + u64::from(count), shape.buckets());
            }
        }
        assert!(matches!(
            Shape::new(Geometry::new(256, 8, 16).unwrap(), 3, 8, 0),
            Err(HashStoreError::PageTooSmall { needed, .. }) if needed == PAGE_HEADER_BYTES + 8 * SLOT_BYTES
        ));
    }
}
