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
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Incarnation`], its errors and what a read reports |
//! | `freeze.rs` | a freeze: the table and its filter written to a fresh region |
//! | `lookup.rs` | lookups and whole reads, every page checked |
//! | `filtering.rs` | the filter loaded or rebuilt, and the scrub's check of every page |
//!
//! The shape kept in the region's meta, and its encoding, are
//! `format/meta.rs`; the page format is `format/incarnation.rs`.

mod filtering;
mod freeze;
mod lookup;

use crate::alloc::OutOfBlocks;
use crate::codec::DecodeError;
use crate::filter::HashFilter;
use crate::flash::{FlashError, Geometry, PageAddr, ReadStatus};
use crate::format::incarnation::IncarnationPageFault;
use crate::format::meta::{MetaError, PageTooSmall, Shape};
use crate::region::Region;
use crate::types::{Hash, Value};

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
    #[error(transparent)]
    OutOfBlocks(#[from] OutOfBlocks),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

impl From<MetaError> for HashStoreError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Decode(e) => HashStoreError::Meta(e),
            MetaError::PageTooSmall(e) => e.into(),
        }
    }
}

impl From<PageTooSmall> for HashStoreError {
    fn from(e: PageTooSmall) -> Self {
        HashStoreError::PageTooSmall {
            page_bytes: e.page_bytes,
            bucket_slots: e.bucket_slots,
            needed: e.needed,
        }
    }
}

/// Most entries [`Incarnation::read_placed`] reserves room for before it
/// reads them (a shape's count is checked against the pages only after).
const PREALLOCATED_ENTRIES_MAX: u64 = 1 << 20;

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
    /// Whether a table of 2^`order` buckets of `bucket_slots` slots can be
    /// frozen on pages of `geometry` (a bucket must fit a page).
    pub(crate) fn check_shape(
        geometry: Geometry,
        order: u32,
        bucket_slots: usize,
    ) -> Result<(), HashStoreError> {
        Shape::new(geometry, order, bucket_slots, 0)
            .map(|_| ())
            .map_err(HashStoreError::from)
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
    #[cfg(any(test, feature = "testing"))]
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
