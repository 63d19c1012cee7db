//! The incarnation meta: the shape of a frozen table on flash (order,
//! bucket slots, buckets a page, pages, entries, filter), kept in the
//! region's meta of the anchor record, and the arithmetic of its layout.
//!
//! Promises: [`Shape::decode`] checks every field against the geometry and
//! the region's block count before anything is read by it, and gives a
//! typed error, never a panic, on any input.

use super::filter;
use super::incarnation::{PAGE_HEADER_BYTES, SLOT_BYTES};
use crate::codec::{DecodeError, Reader, Writer};
use crate::flash::Geometry;

const META_VERSION: u16 = 2;
/// Bytes of the shape in [`crate::region::Region::meta`].
pub const META_BYTES: usize = 40;
/// Why a meta does not decode: malformed, or a bucket of its shape does
/// not fit the device's pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MetaError {
    Decode(DecodeError),
    PageTooSmall(PageTooSmall),
}

impl From<DecodeError> for MetaError {
    fn from(e: DecodeError) -> Self {
        MetaError::Decode(e)
    }
}

/// A bucket does not fit in one page (with the page's header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageTooSmall {
    pub(crate) page_bytes: u32,
    pub(crate) bucket_slots: usize,
    pub(crate) needed: usize,
}

/// The decoded shape of an incarnation: what [`crate::region::Region::meta`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) order: u32,
    pub(crate) bucket_slots: usize,
    pub(crate) buckets_per_page: u32,
    /// Pages of buckets, then pages of the filter (none in meta version 1).
    pub(crate) pages: u64,
    pub(crate) entries: u64,
    pub(crate) filter_pages: u64,
    pub(crate) filter_bytes: u64,
}

impl Shape {
    /// The layout of a table of 2^order buckets of `bucket_slots` slots.
    pub(crate) fn new(
        geometry: Geometry,
        order: u32,
        bucket_slots: usize,
        entries: u64,
    ) -> Result<Self, PageTooSmall> {
        let bucket_bytes = bucket_slots * SLOT_BYTES;
        let room = (geometry.page_bytes as usize).saturating_sub(PAGE_HEADER_BYTES);
        let buckets_per_page = (room / bucket_bytes.max(1)) as u32;
        if buckets_per_page == 0 {
            return Err(PageTooSmall {
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
    pub(crate) fn with_filter(self, bytes: u64, geometry: Geometry) -> Self {
        let payload = filter::payload_bytes(geometry.page_bytes).max(1) as u64;
        Shape {
            filter_pages: bytes.div_ceil(payload),
            filter_bytes: bytes,
            ..self
        }
    }

    /// Every page of the region: buckets, then filter.
    pub(crate) fn all_pages(&self) -> u64 {
        self.pages + self.filter_pages
    }

    pub(crate) fn buckets(&self) -> u64 {
        1u64 << self.order
    }

    pub(crate) fn bucket_bytes(&self) -> usize {
        self.bucket_slots * SLOT_BYTES
    }

    pub(crate) fn page_of(&self, bucket: u64) -> u64 {
        bucket / u64::from(self.buckets_per_page)
    }

    /// First bucket and bucket count of page `page`.
    pub(crate) fn page_buckets(&self, page: u64) -> (u64, u32) {
        let first = page * u64::from(self.buckets_per_page);
        let count = (self.buckets() - first).min(u64::from(self.buckets_per_page));
        (first, count as u32)
    }

    pub(crate) fn blocks_needed(&self, geometry: Geometry) -> u64 {
        self.all_pages()
            .div_ceil(u64::from(geometry.pages_per_block))
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
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
    pub(crate) fn decode(
        meta: &[u8],
        geometry: Geometry,
        blocks: usize,
    ) -> Result<Self, MetaError> {
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
        if order > crate::cuckoo::ORDER_MAX {
            return Err(invalid("order", u64::from(order)).into());
        }
        if !matches!(bucket_slots, 2 | 4 | 8) {
            return Err(invalid("bucket slots", bucket_slots as u64).into());
        }
        let shape =
            Shape::new(geometry, order, bucket_slots, entries).map_err(MetaError::PageTooSmall)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::truncated_at;

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
        // Version, order, bucket slots, buckets a page, pages, entries,
        // filter pages, filter bytes.
        let fields = [2, 1, 1, 4, 8, 8, 8, 8];
        for len in 0..meta.len() {
            assert_eq!(
                Shape::decode(&meta[..len], g, 4),
                Err(MetaError::Decode(truncated_at(&fields, len))),
                "{len} bytes"
            );
        }
    }

    /// A filter page count that is not the one its filter bytes take is
    /// `Invalid`, however the block count is set.
    #[test]
    fn a_filter_page_count_off_its_bytes_is_invalid() {
        let g = geometry();
        let shape = Shape::new(g, 6, 4, 17).unwrap().with_filter(1000, g);
        let blocks = shape.blocks_needed(g) as usize;
        assert_eq!(Shape::decode(&shape.encode(), g, blocks), Ok(shape));
        let wrong = shape.filter_pages + 1;
        let off = Shape {
            filter_pages: wrong,
            ..shape
        };
        assert_eq!(
            Shape::decode(&off.encode(), g, off.blocks_needed(g) as usize),
            Err(MetaError::Decode(DecodeError::Invalid {
                what: "filter page count",
                value: wrong
            }))
        );
    }

    /// A version-1 meta (written before filters: no filter fields) decodes
    /// to the same shape with no filter.
    #[test]
    fn a_version_one_meta_decodes_without_a_filter() {
        let g = geometry();
        let shape = Shape::new(g, 6, 4, 17).unwrap();
        let mut v1 = shape.encode();
        v1.truncate(v1.len() - 16);
        v1[..2].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(Shape::decode(&v1, g, 4).unwrap(), shape);
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

    /// The largest order a table may have decodes; one above is invalid.
    #[test]
    fn an_order_up_to_the_bound_decodes() {
        let g = geometry();
        let at = Shape::new(g, crate::cuckoo::ORDER_MAX, 2, 0).unwrap();
        let blocks = at.blocks_needed(g) as usize;
        assert_eq!(Shape::decode(&at.encode(), g, blocks), Ok(at));
        let order = crate::cuckoo::ORDER_MAX + 1;
        let past = Shape { order, ..at };
        assert_eq!(
            Shape::decode(&past.encode(), g, blocks),
            Err(MetaError::Decode(DecodeError::Invalid {
                what: "order",
                value: u64::from(order)
            }))
        );
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
            Err(PageTooSmall { needed, .. }) if needed == PAGE_HEADER_BYTES + 8 * SLOT_BYTES
        ));
    }
}
