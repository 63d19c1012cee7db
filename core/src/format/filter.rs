//! The filter page: a 36-byte header (magic `LSF1`, version, generation,
//! the page's index among the filter's pages, the filter's whole length in
//! bytes, its block's erase count, CRC32C over those fields (the head
//! CRC), CRC32C over the whole page), then that page's share of the
//! filter's bytes, then 0xFF.

use super::{crc_holds, head_holds, seal, seal_head, Head};
use crate::codec::{Reader, Writer};
use crate::flash::ERASED;

/// "LSF1", little-endian.
pub(crate) const MAGIC: u32 = 0x4C53_4631;
/// Version 3: the tags of every slot ([`crate::filter::HashFilter`]), a
/// head CRC. Version 2 had no head CRC; version 1 held a binary fuse
/// filter. Their pages do not decode, so an incarnation written with one
/// gets its tags rebuilt at open.
pub(crate) const VERSION: u16 = 3;
/// Bytes of the page header.
pub const PAGE_HEADER_BYTES: usize = 36;
/// Where the header's own CRC sits: over the fields before it.
const HEAD_CRC_RANGE: std::ops::Range<usize> = 28..32;
const CRC_RANGE: std::ops::Range<usize> = 32..36;
// The page's CRC ends the header, the head's CRC before it, and the
// header leaves room in the smallest page.
const _: () = assert!(CRC_RANGE.end == PAGE_HEADER_BYTES && CRC_RANGE.end - CRC_RANGE.start == 4);
const _: () = assert!(HEAD_CRC_RANGE.end == CRC_RANGE.start);
const _: () = assert!(PAGE_HEADER_BYTES < crate::flash::PAGE_BYTES_MIN as usize);

/// A filter page's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) generation: u64,
    pub(crate) index: u32,
    pub(crate) total_bytes: u32,
    pub(crate) erase_count: u32,
}

/// Bytes of a filter a page of `page_bytes` carries.
pub(crate) fn payload_bytes(page_bytes: u32) -> usize {
    (page_bytes as usize).saturating_sub(PAGE_HEADER_BYTES)
}

/// Lays out page `header.index` of `filter` in `buf`, CRC included.
pub(crate) fn encode_page(header: Header, filter: &[u8], buf: &mut [u8]) {
    let payload = payload_bytes(buf.len() as u32);
    let start = (header.index as usize * payload).min(filter.len());
    let chunk = &filter[start..(start + payload).min(filter.len())];
    let mut w = Writer::default();
    w.u32(MAGIC)
        .u16(VERSION)
        .u16(0)
        .u64(header.generation)
        .u32(header.index)
        .u32(header.total_bytes)
        .u32(header.erase_count)
        .u32(0)
        .u32(0)
        .raw(chunk);
    buf.fill(ERASED);
    buf[..w.bytes.len()].copy_from_slice(&w.bytes);
    seal_head(buf, HEAD_CRC_RANGE);
    seal(buf, CRC_RANGE);
}

/// The header of a valid filter page (magic, version and CRC checked), and
/// its payload.
pub(crate) fn decode_page(page: &[u8]) -> Option<(Header, &[u8])> {
    if page.len() < PAGE_HEADER_BYTES || !crc_holds(page, CRC_RANGE) {
        return None;
    }
    let header = head_header(page)?;
    Some((header, &page[PAGE_HEADER_BYTES..]))
}

/// The header of a filter page whose magic, version and head CRC hold,
/// from its first [`HEAD_CRC_RANGE`]`.end` bytes (the body not checked).
fn head_header(page: &[u8]) -> Option<Header> {
    if page.len() < HEAD_CRC_RANGE.end
        || page[..4] != MAGIC.to_le_bytes()
        || !head_holds(page, HEAD_CRC_RANGE)
    {
        return None;
    }
    // The page holds a whole head (checked above): no field is cut.
    const WHOLE: &str = "a field of a whole head";
    let mut r = Reader::new(&page[4..HEAD_CRC_RANGE.start]);
    if r.u16().expect(WHOLE) != VERSION {
        return None;
    }
    let _reserved = r.u16().expect(WHOLE);
    Some(Header {
        generation: r.u64().expect(WHOLE),
        index: r.u32().expect(WHOLE),
        total_bytes: r.u32().expect(WHOLE),
        erase_count: r.u32().expect(WHOLE),
    })
}

/// The head of a filter page: see [`crate::format::head_of`].
pub(crate) fn head(page: &[u8]) -> Option<Head> {
    head_header(page).map(|header| Head {
        erase_count: header.erase_count,
        generation: header.generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes shorter than a header are no filter page, whatever they
    /// start with: the magic alone reads no further. A page exactly a
    /// header long decodes, with no payload.
    #[test]
    fn bytes_shorter_than_a_header_are_no_page() {
        let mut short = [0u8; PAGE_HEADER_BYTES - 1];
        short[..4].copy_from_slice(&MAGIC.to_le_bytes());
        for len in 0..short.len() {
            assert_eq!(decode_page(&short[..len]), None, "{len} bytes");
        }
        let header = Header {
            generation: 1,
            index: 0,
            total_bytes: 0,
            erase_count: 2,
        };
        let mut exact = vec![0u8; PAGE_HEADER_BYTES];
        encode_page(header, &[], &mut exact);
        assert_eq!(decode_page(&exact), Some((header, &[][..])));
    }

    #[test]
    fn pages_round_trip_and_every_flip_is_refused() {
        let filter: Vec<u8> = (0..700u32).map(|i| (i * 7) as u8).collect();
        let header = Header {
            generation: 9,
            index: 2,
            total_bytes: 700,
            erase_count: 3,
        };
        let mut page = vec![0u8; 256];
        encode_page(header, &filter, &mut page);
        let (decoded, payload) = decode_page(&page).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(&payload[..220], &filter[440..660]);
        for bit in 0..page.len() * 8 {
            let mut bad = page.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_page(&bad).is_none(), "flip {bit} accepted");
        }
    }

    /// A page of an older format (version 1: a binary fuse filter; 2: no
    /// head CRC), sealed and whole, does not decode: its incarnation's tags
    /// are rebuilt. Nor does a sealed page of another magic.
    #[test]
    fn an_older_version_is_refused() {
        let header = Header {
            generation: 1,
            index: 0,
            total_bytes: 8,
            erase_count: 0,
        };
        let mut page = vec![0u8; 256];
        encode_page(header, &[1; 8], &mut page);
        assert!(decode_page(&page).is_some());
        // Another magic, both CRCs sealed over it: no filter page.
        let mut other_magic = page.clone();
        other_magic[0] ^= 1;
        seal_head(&mut other_magic, HEAD_CRC_RANGE);
        seal(&mut other_magic, CRC_RANGE);
        assert!(decode_page(&other_magic).is_none());
        assert_eq!(head(&other_magic), None);
        for version in [1u16, 2] {
            let mut older = page.clone();
            older[4..6].copy_from_slice(&version.to_le_bytes());
            seal_head(&mut older, HEAD_CRC_RANGE);
            seal(&mut older, CRC_RANGE);
            assert!(decode_page(&older).is_none(), "version {version}");
            assert_eq!(head(&older), None, "version {version}");
        }
    }
}
