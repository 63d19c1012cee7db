//! The journal page: a 44-byte header (magic `LSJ4`, epoch, generation,
//! sequence, how far back the last page a completed flush made durable is,
//! body length, entry count, its block's erase count, CRC32C over those
//! fields (the head CRC), CRC32C over the whole page), then whole entries,
//! then 0xFF to the end of the page.
//!
//! An entry is a tag byte, the hash, and for an insert its info: 49 bytes
//! ([`ENTRY_BYTES`]) or 33 for a tombstone ([`TOMBSTONE_BYTES`]).

use super::{crc_holds, head_holds, seal, seal_head, Head, ENTRY_BYTES, TOMBSTONE_BYTES};
use crate::codec::{DecodeError, Reader, Writer};
use crate::flash::{is_erased, ERASED};
use crate::planted::{self, Bug};
use crate::types::{Hash, Info};

/// "LSJ4", little-endian. `LSJ3` pages had no head CRC.
pub(crate) const MAGIC: u32 = 0x4C53_4A34;
/// Bytes of the page header.
pub const PAGE_HEADER_BYTES: usize = 44;
/// Where the header's own CRC sits: over the fields before it.
const HEAD_CRC_RANGE: std::ops::Range<usize> = 36..40;
/// Where the page's CRC sits in the header.
const CRC_RANGE: std::ops::Range<usize> = 40..44;
// The page's CRC ends the header, the head's CRC before it; the smallest
// journal page holds the header and at least one entry of either kind.
const _: () = assert!(CRC_RANGE.end == PAGE_HEADER_BYTES && CRC_RANGE.end - CRC_RANGE.start == 4);
const _: () = assert!(HEAD_CRC_RANGE.end == CRC_RANGE.start);
const _: () = assert!(PAGE_HEADER_BYTES + super::ENTRY_BYTES <= JOURNAL_PAGE_BYTES_MIN as usize);
const _: () = assert!(super::TOMBSTONE_BYTES < super::ENTRY_BYTES);
/// On flash `synced_through` is the distance back from the page's own
/// sequence (at least 1, below [`SYNCED_SELF`]); this means none.
const SYNCED_NONE: u32 = 0;
/// `synced_through` is the page's own sequence: a commit copy, written
/// after the flush that made its original durable had synced.
const SYNCED_SELF: u32 = 1 << 31;
/// Smallest page the journal accepts: room for a header and a few entries.
pub const JOURNAL_PAGE_BYTES_MIN: u32 = 256;

const TAG_HASH: u8 = 1;
const TAG_TOMBSTONE: u8 = 2;

/// One journal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `hash` is stored with `info`.
    Hash { hash: Hash, info: Info },
    /// `hash` is deleted; it shadows older incarnations.
    Tombstone { hash: Hash },
}

impl Entry {
    pub fn hash(&self) -> &Hash {
        match self {
            Entry::Hash { hash, .. } | Entry::Tombstone { hash } => hash,
        }
    }

    /// Bytes the entry takes in a page.
    pub fn encoded_bytes(&self) -> usize {
        match self {
            Entry::Hash { .. } => ENTRY_BYTES,
            Entry::Tombstone { .. } => TOMBSTONE_BYTES,
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Entry::Hash { hash, info } => {
                w.u8(TAG_HASH)
                    .raw(hash)
                    .u64(info.physical_sector)
                    .u64(info.first_logical_sector);
            }
            Entry::Tombstone { hash } => {
                w.u8(TAG_TOMBSTONE).raw(hash);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8()?;
        let hash = r.array::<32>()?;
        match tag {
            TAG_HASH => Ok(Entry::Hash {
                hash,
                info: Info {
                    physical_sector: r.u64()?,
                    first_logical_sector: r.u64()?,
                },
            }),
            TAG_TOMBSTONE => Ok(Entry::Tombstone { hash }),
            other => Err(DecodeError::Invalid {
                what: "entry tag",
                value: u64::from(other),
            }),
        }
    }
}

/// Most entries a page of `page_bytes` can hold (all tombstones): a
/// position is `page sequence * this + index in the page`.
pub fn entries_per_page(page_bytes: u32) -> u64 {
    (page_bytes as usize).saturating_sub(PAGE_HEADER_BYTES) as u64 / TOMBSTONE_BYTES as u64
}

/// A decoded journal page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub epoch: u32,
    pub generation: u64,
    pub sequence: u64,
    /// The highest page sequence a completed flush had made durable when
    /// this page was written (`None`: none yet). A valid page whose
    /// `synced_through` reaches a missing page's sequence proves that page
    /// was durable: its loss is corruption, not a torn tail.
    pub synced_through: Option<u64>,
    /// Erases of the page's block when it was programmed: counts survive a
    /// crash before the next anchor commit.
    pub erase_count: u32,
    pub entries: Vec<Entry>,
}

/// Why a page is not a valid journal page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalPageFault {
    #[error("page is erased")]
    Erased,
    #[error("page has no journal magic")]
    BadMagic,
    #[error("page checksum mismatch (torn or corrupt)")]
    BadCrc,
    #[error("page checksum holds but its contents are malformed: {0}")]
    Malformed(DecodeError),
    /// The page held more bit errors than the ECC corrects.
    #[error("page holds more bit errors than the ECC corrects")]
    Uncorrectable,
}

impl Page {
    /// `synced_through` as written: how far back from this page's sequence
    /// (a durable page older than 2^32 pages back reads as none, which only
    /// weakens what recovery can prove).
    fn synced_back(&self) -> u32 {
        match self.synced_through {
            Some(synced) if synced == self.sequence => SYNCED_SELF,
            Some(synced) if synced < self.sequence => u32::try_from(self.sequence - synced)
                .ok()
                .filter(|&back| back < SYNCED_SELF)
                .unwrap_or(SYNCED_NONE),
            _ => SYNCED_NONE,
        }
    }

    /// Lays the page out in `page_bytes` bytes, CRC included.
    pub fn encode(&self, page_bytes: usize) -> Vec<u8> {
        let mut body = Writer::with_capacity(page_bytes);
        for entry in &self.entries {
            entry.encode(&mut body);
        }
        assert!(PAGE_HEADER_BYTES + body.bytes.len() <= page_bytes);
        let mut page = Writer::with_capacity(page_bytes);
        page.u32(MAGIC)
            .u32(self.epoch)
            .u64(self.generation)
            .u64(self.sequence)
            .u32(self.synced_back())
            .u16(body.bytes.len() as u16)
            .u16(self.entries.len() as u16)
            .u32(self.erase_count)
            .u32(0)
            .u32(0)
            .raw(&body.bytes);
        let mut bytes = page.bytes;
        bytes.resize(page_bytes, ERASED);
        seal_head(&mut bytes, HEAD_CRC_RANGE);
        seal(&mut bytes, CRC_RANGE);
        bytes
    }

    /// Decodes and checks a whole page.
    pub fn decode(bytes: &[u8]) -> Result<Page, JournalPageFault> {
        if is_erased(bytes) {
            return Err(JournalPageFault::Erased);
        }
        let malformed = JournalPageFault::Malformed;
        let mut r = Reader::new(bytes);
        if r.u32().map_err(malformed)? != MAGIC {
            return Err(JournalPageFault::BadMagic);
        }
        let epoch = r.u32().map_err(malformed)?;
        let generation = r.u64().map_err(malformed)?;
        let sequence = r.u64().map_err(malformed)?;
        let synced_back = r.u32().map_err(malformed)?;
        let length = r.u16().map_err(malformed)? as usize;
        let count = r.u16().map_err(malformed)?;
        let erase_count = r.u32().map_err(malformed)?;
        let _head_crc = r.u32().map_err(malformed)?;
        let _crc = r.u32().map_err(malformed)?;
        let crcs_hold = head_holds(bytes, HEAD_CRC_RANGE) && crc_holds(bytes, CRC_RANGE);
        if !crcs_hold && !planted::active(Bug::SkipCrc) {
            return Err(JournalPageFault::BadCrc);
        }
        if synced_back > SYNCED_SELF {
            return Err(malformed(DecodeError::Invalid {
                what: "synced-through distance",
                value: u64::from(synced_back),
            }));
        }
        let body = Reader::new(bytes)
            .raw(PAGE_HEADER_BYTES + length)
            .map_err(malformed)?;
        let mut r = Reader::new(&body[PAGE_HEADER_BYTES..]);
        let mut entries = Vec::with_capacity(usize::from(count).min(length));
        for _ in 0..count {
            entries.push(Entry::decode(&mut r).map_err(malformed)?);
        }
        if r.remaining() != 0 {
            return Err(malformed(DecodeError::Invalid {
                what: "trailing entry bytes",
                value: r.remaining() as u64,
            }));
        }
        Ok(Page {
            epoch,
            generation,
            sequence,
            synced_through: match synced_back {
                SYNCED_NONE => None,
                SYNCED_SELF => Some(sequence),
                back => sequence.checked_sub(u64::from(back)),
            },
            erase_count,
            entries,
        })
    }
}

/// The head of a journal page (magic and head CRC checked, the body not
/// read): what open reads of every block's page 0.
pub(crate) fn head(bytes: &[u8]) -> Option<Head> {
    let valid = bytes.len() >= HEAD_CRC_RANGE.end
        && bytes[..4] == MAGIC.to_le_bytes()
        && head_holds(bytes, HEAD_CRC_RANGE);
    valid.then(|| Head {
        erase_count: u32::from_le_bytes(bytes[32..36].try_into().expect("4 bytes")),
        generation: u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
    })
}

/// Recomputes the CRC of `page` if it starts with the journal magic.
#[cfg(feature = "testing")]
pub(crate) fn reseal_page(page: &mut [u8]) {
    if page.len() >= PAGE_HEADER_BYTES && page[..4] == MAGIC.to_le_bytes() {
        seal_head(page, HEAD_CRC_RANGE);
        seal(page, CRC_RANGE);
    }
}

/// Writes the CRC a journal page's header wants, whatever the rest holds
/// (a fuzzer's mutated page then reaches the decoder past the CRC).
/// Pages shorter than a header are left alone.
#[cfg(feature = "testing")]
pub fn seal_page(page: &mut [u8]) {
    if page.len() >= PAGE_HEADER_BYTES {
        seal_head(page, HEAD_CRC_RANGE);
        seal(page, CRC_RANGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::truncated_at;

    /// The fuzzers' sealer makes a changed page pass the CRC again, so
    /// the decoder's own checks are reached.
    #[test]
    fn seal_page_makes_a_changed_page_pass_the_crc() {
        let page = Page {
            epoch: 1,
            generation: 2,
            sequence: 3,
            synced_through: None,
            erase_count: 4,
            entries: vec![entry(1), entry(2)],
        };
        let mut bytes = page.encode(512);
        bytes[PAGE_HEADER_BYTES + 5] ^= 0x20;
        assert_eq!(Page::decode(&bytes), Err(JournalPageFault::BadCrc));
        seal_page(&mut bytes);
        let decoded = Page::decode(&bytes).expect("sealed, and the change is in a hash");
        assert_ne!(decoded, page);
        assert_eq!(decoded.sequence, 3);
        let mut short = vec![1u8; PAGE_HEADER_BYTES - 1];
        seal_page(&mut short);
        assert_eq!(short, vec![1u8; PAGE_HEADER_BYTES - 1]);
    }

    /// A page synced exactly [`SYNCED_SELF`] pages back reads as synced
    /// through none (never as synced through itself); one page less still
    /// reads as written.
    #[test]
    fn a_synced_distance_at_the_self_marker_reads_as_none() {
        let sequence = u64::from(SYNCED_SELF) + 10;
        for (back, expected) in [
            (SYNCED_SELF, None),
            (SYNCED_SELF - 1, Some(sequence - u64::from(SYNCED_SELF - 1))),
        ] {
            let page = Page {
                epoch: 1,
                generation: 2,
                sequence,
                synced_through: Some(sequence - u64::from(back)),
                erase_count: 0,
                entries: vec![],
            };
            let decoded = Page::decode(&page.encode(256)).expect("a page as written");
            assert_eq!(decoded.synced_through, expected, "{back} back");
        }
    }

    /// `reseal_page` reseals a journal page whatever it holds, and leaves
    /// a page of another kind, or one shorter than a header, as it was.
    #[test]
    fn reseal_page_reseals_journal_pages_only() {
        let page = Page {
            epoch: 1,
            generation: 2,
            sequence: 3,
            synced_through: None,
            erase_count: 4,
            entries: vec![entry(1)],
        };
        let mut bytes = page.encode(512);
        bytes[PAGE_HEADER_BYTES + 5] ^= 0x20;
        assert_eq!(Page::decode(&bytes), Err(JournalPageFault::BadCrc));
        reseal_page(&mut bytes);
        assert!(Page::decode(&bytes).is_ok());
        for mut other in [vec![0x5Au8; 512], bytes[..PAGE_HEADER_BYTES - 1].to_vec()] {
            let before = other.clone();
            reseal_page(&mut other);
            assert_eq!(other, before);
        }
    }

    fn entry(i: u8) -> Entry {
        Entry::Hash {
            hash: [i; 32],
            info: Info {
                physical_sector: u64::from(i),
                first_logical_sector: 7,
            },
        }
    }

    #[test]
    fn page_round_trip_and_every_bit_flip_rejected() {
        let page = Page {
            epoch: 3,
            generation: 9,
            sequence: 11,
            synced_through: Some(7),
            erase_count: 12,
            entries: vec![entry(1), Entry::Tombstone { hash: [2; 32] }, entry(3)],
        };
        let bytes = page.encode(256);
        assert_eq!(Page::decode(&bytes), Ok(page));
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Page::decode(&corrupt).is_err(),
                "flip of bit {bit} accepted"
            );
        }
    }

    /// A distance past the commit copy's marker is no distance a writer
    /// makes: decoding it as an older sequence would not round-trip (found
    /// by the `journal` fuzz target, `corpus/regressions/journal/`).
    #[test]
    fn a_synced_distance_past_the_copy_marker_is_malformed() {
        let page = Page {
            epoch: 1,
            generation: 2,
            sequence: u64::from(u32::MAX) * 4,
            synced_through: Some(u64::from(u32::MAX) * 4),
            erase_count: 0,
            entries: vec![],
        };
        let mut bytes = page.encode(256);
        assert_eq!(Page::decode(&bytes), Ok(page));
        bytes[24..28].copy_from_slice(&(SYNCED_SELF + 1).to_le_bytes());
        seal_page(&mut bytes);
        assert_eq!(
            Page::decode(&bytes),
            Err(JournalPageFault::Malformed(DecodeError::Invalid {
                what: "synced-through distance",
                value: u64::from(SYNCED_SELF + 1)
            }))
        );
    }

    /// Widths of the header's fields, in order: magic, epoch, generation,
    /// sequence, synced distance, body length, entry count, erase count,
    /// head CRC, CRC.
    const HEADER_FIELDS: [usize; 10] = [4, 4, 8, 8, 4, 2, 2, 4, 4, 4];

    /// A page cut anywhere in its header is `Malformed`, naming the field
    /// cut, never a panic; one of 4 bytes without the magic is `BadMagic`.
    #[test]
    fn a_page_cut_in_its_header_is_malformed_at_the_field_cut() {
        assert_eq!(HEADER_FIELDS.iter().sum::<usize>(), PAGE_HEADER_BYTES);
        let bytes = Page {
            epoch: 1,
            generation: 2,
            sequence: 3,
            synced_through: None,
            erase_count: 4,
            entries: vec![entry(1)],
        }
        .encode(256);
        for len in 1..PAGE_HEADER_BYTES {
            assert_eq!(
                Page::decode(&bytes[..len]),
                Err(JournalPageFault::Malformed(truncated_at(
                    &HEADER_FIELDS,
                    len
                ))),
                "{len} bytes"
            );
        }
        assert_eq!(Page::decode(&[0; 4]), Err(JournalPageFault::BadMagic));
    }

    /// A body length that cuts the page's last entry (its tag, hash or
    /// either half of its info) is `Malformed` at that field; one longer
    /// than its entries is `Malformed` for the trailing bytes.
    #[test]
    fn a_body_length_that_cuts_or_outruns_the_entries_is_malformed() {
        let bytes = Page {
            epoch: 1,
            generation: 2,
            sequence: 3,
            synced_through: None,
            erase_count: 4,
            entries: vec![entry(1)],
        }
        .encode(256);
        let with_length = |length: usize| {
            let mut page = bytes.clone();
            page[28..30].copy_from_slice(&(length as u16).to_le_bytes());
            seal_page(&mut page);
            Page::decode(&page)
        };
        assert!(with_length(ENTRY_BYTES).is_ok());
        for length in 0..ENTRY_BYTES {
            assert_eq!(
                with_length(length),
                Err(JournalPageFault::Malformed(truncated_at(
                    &[1, 32, 8, 8],
                    length
                ))),
                "body of {length} bytes"
            );
        }
        assert_eq!(
            with_length(ENTRY_BYTES + 1),
            Err(JournalPageFault::Malformed(DecodeError::Invalid {
                what: "trailing entry bytes",
                value: 1
            }))
        );
    }

    /// The head tells the decoded erase count and generation; a flip in
    /// the body leaves it (the page no longer decodes), one in the head's
    /// fields does not.
    #[test]
    fn the_head_is_the_decoded_header() {
        let page = Page {
            epoch: 1,
            generation: 2,
            sequence: 3,
            synced_through: None,
            erase_count: 77,
            entries: vec![entry(4)],
        };
        let mut bytes = page.encode(256);
        let want = Some(Head {
            erase_count: 77,
            generation: 2,
        });
        assert_eq!(head(&bytes), want);
        bytes[100] ^= 1;
        assert_eq!(head(&bytes), want);
        assert!(Page::decode(&bytes).is_err());
        bytes[33] ^= 1;
        assert_eq!(head(&bytes), None);
    }

    #[test]
    fn erased_and_garbage_pages_are_faults() {
        assert_eq!(Page::decode(&[ERASED; 256]), Err(JournalPageFault::Erased));
        assert_eq!(Page::decode(&[0; 256]), Err(JournalPageFault::BadMagic));
        assert!(Page::decode(&[0x31, 0x4A, 0x53, 0x4C]).is_err());
    }

    #[test]
    fn entry_sizes_are_the_format_constants() {
        let mut w = Writer::default();
        entry(1).encode(&mut w);
        assert_eq!(w.bytes.len(), ENTRY_BYTES);
        let mut w = Writer::default();
        Entry::Tombstone { hash: [0; 32] }.encode(&mut w);
        assert_eq!(w.bytes.len(), TOMBSTONE_BYTES);
        assert_eq!(entries_per_page(256), (256 - 44) / 33);
    }
}
