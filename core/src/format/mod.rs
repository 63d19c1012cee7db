//! The on-flash formats, defined once: journal pages ([`journal`]), anchor
//! records ([`anchor`]), incarnation pages ([`incarnation`]) and filter
//! pages ([`filter`]), the incarnation meta ([`meta`]) and the store
//! configuration record ([`config`]) — their
//! magics, header layouts, CRC ranges and entry sizes — and the one CRC
//! rule they share.
//!
//! Promises: every record carries a CRC32C computed over the whole record
//! with its own CRC field taken as zeros ([`seal`], [`crc_holds`]); a
//! decoder checks the CRC before it trusts any byte past the header, and
//! gives a typed fault, never a panic, on any input. The header of a
//! journal, filter or incarnation page carries a second CRC32C over its
//! own fields (the head CRC, sealed before the page's), so page 0 of a
//! block tells its erase count and generation from its first
//! [`HEAD_BYTES`] bytes alone ([`head_of`]): the open's scan reads one ECC
//! step of each block, as UBI reads its erase-counter headers.

use std::ops::Range;

pub(crate) mod anchor;
pub(crate) mod config;
pub(crate) mod filter;
pub(crate) mod incarnation;
pub(crate) mod journal;
pub(crate) mod meta;

/// Bytes of a content hash.
pub const HASH_BYTES: usize = 32;
/// Bytes of an [`crate::Info`] on flash: two little-endian u64.
pub const INFO_BYTES: usize = 16;
/// Bytes a journal entry of an insert takes: tag, hash, info.
pub const ENTRY_BYTES: usize = 1 + HASH_BYTES + INFO_BYTES;
/// Bytes a journal entry of a delete (tombstone) takes: tag, hash.
pub const TOMBSTONE_BYTES: usize = 1 + HASH_BYTES;
// An info is two little-endian u64; a hash is SHA-256's 32 bytes.
const _: () = assert!(INFO_BYTES == 2 * 8 && HASH_BYTES == 32);

/// The CRC32C of `bytes` with the field at `crc` taken as zeros.
pub(crate) fn crc_of(bytes: &[u8], crc: Range<usize>) -> u32 {
    let sum = crc32c::crc32c(&bytes[..crc.start]);
    let sum = crc32c::crc32c_append(sum, &[0; 4][..crc.len()]);
    crc32c::crc32c_append(sum, &bytes[crc.end..])
}

/// Writes the CRC of `bytes` (see [`crc_of`]) into its field at `crc`.
pub(crate) fn seal(bytes: &mut [u8], crc: Range<usize>) {
    assert_eq!(crc.len(), 4);
    let sum = crc_of(bytes, crc.clone());
    bytes[crc].copy_from_slice(&sum.to_le_bytes());
}

/// Whether the CRC stored at `crc` is the CRC of `bytes`.
pub(crate) fn crc_holds(bytes: &[u8], crc: Range<usize>) -> bool {
    let stored = u32::from_le_bytes(bytes[crc.clone()].try_into().expect("a 4-byte field"));
    crc_of(bytes, crc) == stored
}

/// Seals a header's own CRC at `crc`, over the header's bytes before it:
/// done before the page's CRC, which covers it.
pub(crate) fn seal_head(bytes: &mut [u8], crc: Range<usize>) {
    seal(&mut bytes[..crc.end], crc);
}

/// Whether `bytes` hold a whole header whose own CRC at `crc` holds.
pub(crate) fn head_holds(bytes: &[u8], crc: Range<usize>) -> bool {
    bytes.len() >= crc.end && crc_holds(&bytes[..crc.end], crc)
}

/// Bytes of a page's start that tell what [`head_of`] reads: the longest
/// header of a region's page (the journal's), and more than an anchor
/// record's first 16 bytes.
pub(crate) const HEAD_BYTES: usize = journal::PAGE_HEADER_BYTES;
const _: () = assert!(
    HEAD_BYTES >= filter::PAGE_HEADER_BYTES
        && HEAD_BYTES >= incarnation::PAGE_HEADER_BYTES
        && HEAD_BYTES >= 16
        && HEAD_BYTES <= crate::flash::PAGE_BYTES_MIN as usize
);

/// What the header of a journal, filter or incarnation page tells of its
/// block: its erase count when the page was programmed, and the region's
/// generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) erase_count: u32,
    pub(crate) generation: u64,
}

/// The head of a journal, filter or incarnation page, its magic, version
/// and head CRC checked, from the page's first [`HEAD_BYTES`] bytes (or
/// more); `None` for any other bytes. The body is not checked: a page torn
/// after its header still tells its block's erase count and generation,
/// which is all the open's scan takes from it.
pub(crate) fn head_of(bytes: &[u8]) -> Option<Head> {
    journal::head(bytes)
        .or_else(|| filter::head(bytes))
        .or_else(|| incarnation::head(bytes))
}

/// Recomputes every checksum of a device image (the fuzzers' helper: a
/// mutated image is useless if every CRC fails): each journal and
/// incarnation page, found by its magic, and each anchor record whose
/// header fits, in any block, last first (a record's CRC covers the pages
/// after its first).
#[cfg(feature = "testing")]
pub fn reseal(image: &mut [u8], geometry: crate::flash::Geometry) {
    let page_bytes = geometry.page_bytes as usize;
    let block_bytes = geometry.block_bytes() as usize;
    for page in image.chunks_mut(page_bytes) {
        journal::reseal_page(page);
        incarnation::reseal_page(page);
    }
    for block in image.chunks_mut(block_bytes) {
        for start in (0..block.len()).step_by(page_bytes).rev() {
            anchor::reseal_record(&mut block[start..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Page 0 of a block tells its erase count and generation whichever
    /// kind of page it is, from its header alone: a flip in the body
    /// leaves the head (the page's own CRC refuses it), a flip in the
    /// header or an erased page tells nothing.
    #[test]
    fn head_of_reads_every_kind_of_page() {
        let page_bytes = 512;
        let journal_page = journal::Page {
            epoch: 1,
            generation: 5,
            sequence: 3,
            synced_through: None,
            erase_count: 7,
            entries: Vec::new(),
        }
        .encode(page_bytes);
        let mut incarnation_page = vec![0u8; page_bytes];
        let mut w = crate::codec::Writer::default();
        incarnation::Header {
            slots: 4,
            generation: 1 << 40,
            first: 0,
            count: 1,
            erase_count: 9,
        }
        .encode(&mut w);
        incarnation::finish_page(&mut incarnation_page, &w.bytes);
        let mut filter_page = vec![0u8; page_bytes];
        let header = filter::Header {
            generation: 2,
            index: 0,
            total_bytes: 3,
            erase_count: 11,
        };
        filter::encode_page(header, &[1, 2, 3], &mut filter_page);
        let head = |erase_count, generation| {
            Some(Head {
                erase_count,
                generation,
            })
        };
        let pages = [
            (&journal_page, head(7, 5), journal::PAGE_HEADER_BYTES),
            (
                &incarnation_page,
                head(9, 1 << 40),
                incarnation::PAGE_HEADER_BYTES,
            ),
            (&filter_page, head(11, 2), filter::PAGE_HEADER_BYTES),
        ];
        for (page, want, header_bytes) in pages {
            assert_eq!(head_of(page), want);
            assert_eq!(head_of(&page[..HEAD_BYTES]), want);
            // The head ends where the page's CRC starts, 4 bytes before
            // the header ends.
            assert_eq!(head_of(&page[..header_bytes - 4]), want);
            assert_eq!(head_of(&page[..header_bytes - 5]), None);
            for len in 0..8 {
                assert_eq!(head_of(&page[..len]), None, "{len} bytes");
            }
            let mut body_flipped = page.clone();
            body_flipped[header_bytes + 3] ^= 1;
            assert_eq!(head_of(&body_flipped), want);
            // The page's CRC ends each header, the head's CRC before it.
            for bit in 0..(header_bytes - 4) * 8 {
                let mut flipped = page.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert_ne!(head_of(&flipped), want, "flip of header bit {bit}");
            }
        }
        assert_eq!(head_of(&vec![0xFF; page_bytes]), None);
        assert_eq!(head_of(&vec![0; page_bytes]), None);
    }

    #[test]
    fn seal_then_every_flip_breaks_the_crc() {
        let mut bytes: Vec<u8> = (0..64u8).collect();
        seal(&mut bytes, 8..12);
        assert!(crc_holds(&bytes, 8..12));
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !crc_holds(&flipped, 8..12),
                "flip of bit {bit} kept the CRC"
            );
        }
    }
}
