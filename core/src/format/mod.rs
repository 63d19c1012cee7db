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
//! gives a typed fault, never a panic, on any input.

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

/// The erase count a journal or incarnation page carries for its block, if
/// `page` is a valid one: what page 0 of a block tells at open.
pub(crate) fn erase_count_of(page: &[u8]) -> Option<u32> {
    if let Some(count) = journal::erase_count(page) {
        return Some(count);
    }
    if let Some((header, _)) = filter::decode_page(page) {
        return Some(header.erase_count);
    }
    incarnation::Header::check(page)
        .ok()
        .map(|header| header.erase_count)
}

/// The generation a valid journal, filter or incarnation page names,
/// whichever kind it is: what formatting a used device must start above.
pub(crate) fn generation_of(page: &[u8]) -> Option<u64> {
    if let Some(generation) = journal::generation(page) {
        return Some(generation);
    }
    if let Some((header, _)) = filter::decode_page(page) {
        return Some(header.generation);
    }
    incarnation::Header::check(page)
        .ok()
        .map(|header| header.generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Page 0 of a block tells its erase count and generation whichever
    /// kind of page it is; an erased or broken page tells neither.
    #[test]
    fn erase_count_of_reads_every_kind_of_page() {
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
        assert_eq!(erase_count_of(&journal_page), Some(7));
        assert_eq!(erase_count_of(&incarnation_page), Some(9));
        assert_eq!(erase_count_of(&filter_page), Some(11));
        assert_eq!(erase_count_of(&vec![0xFF; page_bytes]), None);
        let mut broken = filter_page.clone();
        broken[40] ^= 1;
        assert_eq!(erase_count_of(&broken), None);
        assert_eq!(generation_of(&journal_page), Some(5));
        assert_eq!(generation_of(&incarnation_page), Some(1 << 40));
        assert_eq!(generation_of(&filter_page), Some(2));
        assert_eq!(generation_of(&broken), None);
        assert_eq!(generation_of(&vec![0xFF; page_bytes]), None);
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
