//! The incarnation page: a 40-byte header (magic `LSH1`, version 3, bucket
//! slots, generation, first bucket, bucket count, its block's erase count,
//! CRC32C over those fields (the head CRC), CRC32C over the whole page),
//! then whole buckets of fixed-size slots, then 0xFF.
//!
//! A slot is a state byte (empty, live, tombstone), the hash and the info
//! (0xFF where unused): [`SLOT_BYTES`].

use super::{crc_holds, head_holds, seal, seal_head, Head, HASH_BYTES, INFO_BYTES};
use crate::codec::{Reader, Writer};
use crate::flash::{is_erased, ERASED};
use crate::types::{Hash, Info, Value};

/// "LSH1", little-endian.
pub(crate) const MAGIC: u32 = 0x4C53_4831;
/// Version 3 added the head CRC.
pub(crate) const PAGE_VERSION: u16 = 3;
/// Bytes of the page header: magic u32, version u16, bucket slots u16,
/// generation u64, first bucket u64, bucket count u32, erase count u32,
/// the head's CRC32C u32, the page's CRC32C u32.
pub const PAGE_HEADER_BYTES: usize = 40;
/// Where the header's own CRC sits: over the fields before it.
const HEAD_CRC_RANGE: std::ops::Range<usize> = 32..36;
const CRC_RANGE: std::ops::Range<usize> = 36..40;
/// Bytes of one slot: state u8, hash, physical and first logical sector.
pub const SLOT_BYTES: usize = 1 + HASH_BYTES + INFO_BYTES;
// The page's CRC ends the header, the head's CRC before it; a slot is its
// state byte, a hash and an info.
const _: () = assert!(CRC_RANGE.end == PAGE_HEADER_BYTES && CRC_RANGE.end - CRC_RANGE.start == 4);
const _: () = assert!(HEAD_CRC_RANGE.end == CRC_RANGE.start);
const _: () = assert!(SLOT_BYTES == 49);

const SLOT_EMPTY: u8 = 0;
const SLOT_LIVE: u8 = 1;
const SLOT_TOMBSTONE: u8 = 2;

/// What was wrong with an incarnation page read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IncarnationPageFault {
    #[error("page is erased")]
    Erased,
    #[error("no hash store magic")]
    BadMagic,
    #[error("unknown page version {0}")]
    BadVersion(u16),
    #[error("checksum mismatch")]
    BadCrc,
    #[error("page of generation {found}")]
    WrongGeneration { found: u64 },
    #[error("page holds {found_slots}-slot buckets {found_first}..+{found_count}")]
    WrongBuckets {
        found_first: u64,
        found_count: u32,
        found_slots: u16,
    },
    #[error("slot state byte {0}")]
    BadSlotState(u8),
    #[error("hash stored in bucket {bucket}, neither of its candidate buckets")]
    Misplaced { bucket: u64 },
    /// The incarnation's filter holds another tag for the slot: the page
    /// or the filter is not what the freeze wrote (a lookup the filter
    /// rules out would miss a hash the page lists).
    #[error("slot {slot} of bucket {bucket} holds a hash the filter's tag there does not")]
    FilterDisagrees { bucket: u64, slot: u32 },
    /// The page held more bit errors than the ECC corrects.
    #[error("more bit errors than the ECC corrects")]
    Uncorrectable,
}

/// A page header as laid out on flash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) slots: u16,
    pub(crate) generation: u64,
    pub(crate) first: u64,
    pub(crate) count: u32,
    /// Erases of the page's block when it was programmed.
    pub(crate) erase_count: u32,
}

impl Header {
    /// Starts a page: the header with a zero CRC field.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(MAGIC)
            .u16(PAGE_VERSION)
            .u16(self.slots)
            .u64(self.generation)
            .u64(self.first)
            .u32(self.count)
            .u32(self.erase_count)
            .u32(0)
            .u32(0);
    }

    /// Checks the page's magic, CRC and version, and returns its header.
    pub(crate) fn check(page: &[u8]) -> Result<Header, IncarnationPageFault> {
        if is_erased(page) {
            return Err(IncarnationPageFault::Erased);
        }
        if page.len() < PAGE_HEADER_BYTES {
            return Err(IncarnationPageFault::BadMagic);
        }
        // The page holds a whole header (checked above): no field is cut.
        const WHOLE: &str = "a field of a whole header";
        let mut r = Reader::new(page);
        let (magic, version, slots) = (
            r.u32().expect(WHOLE),
            r.u16().expect(WHOLE),
            r.u16().expect(WHOLE),
        );
        let header = Header {
            slots,
            generation: r.u64().expect(WHOLE),
            first: r.u64().expect(WHOLE),
            count: r.u32().expect(WHOLE),
            erase_count: r.u32().expect(WHOLE),
        };
        if magic != MAGIC {
            return Err(IncarnationPageFault::BadMagic);
        }
        if !head_holds(page, HEAD_CRC_RANGE) || !crc_holds(page, CRC_RANGE) {
            return Err(IncarnationPageFault::BadCrc);
        }
        if version != PAGE_VERSION {
            return Err(IncarnationPageFault::BadVersion(version));
        }
        Ok(header)
    }
}

/// Fills the rest of a page laid out in `buf` with 0xFF and seals its CRC.
pub(crate) fn finish_page(buf: &mut [u8], laid_out: &[u8]) {
    assert!(laid_out.len() <= buf.len());
    buf.fill(ERASED);
    buf[..laid_out.len()].copy_from_slice(laid_out);
    seal_head(buf, HEAD_CRC_RANGE);
    seal(buf, CRC_RANGE);
}

/// The head of an incarnation page (magic, version and head CRC checked,
/// the body not read): see [`crate::format::head_of`].
pub(crate) fn head(page: &[u8]) -> Option<Head> {
    let valid = page.len() >= HEAD_CRC_RANGE.end
        && page[..4] == MAGIC.to_le_bytes()
        && page[4..6] == PAGE_VERSION.to_le_bytes()
        && head_holds(page, HEAD_CRC_RANGE);
    valid.then(|| Head {
        generation: u64::from_le_bytes(page[8..16].try_into().expect("8 bytes")),
        erase_count: u32::from_le_bytes(page[28..32].try_into().expect("4 bytes")),
    })
}

/// Appends one fixed-size slot: state, hash, info (0xFF where unused).
pub(crate) fn encode_slot(w: &mut Writer, slot: Option<(&Hash, &Value)>) {
    match slot {
        None => {
            w.u8(SLOT_EMPTY).raw(&[ERASED; SLOT_BYTES - 1]);
        }
        Some((hash, Value::Tombstone)) => {
            w.u8(SLOT_TOMBSTONE).raw(hash).raw(&[ERASED; INFO_BYTES]);
        }
        Some((hash, Value::Live(info))) => {
            w.u8(SLOT_LIVE)
                .raw(hash)
                .u64(info.physical_sector)
                .u64(info.first_logical_sector);
        }
    }
}

/// Decodes one slot image of [`SLOT_BYTES`] bytes.
pub(crate) fn decode_slot(slot: &[u8]) -> Result<Option<(Hash, Value)>, IncarnationPageFault> {
    let state = slot.first().copied().unwrap_or(SLOT_EMPTY);
    let mut r = Reader::new(slot.get(1..).unwrap_or_default());
    let short = |_| IncarnationPageFault::BadSlotState(state);
    match state {
        SLOT_EMPTY => Ok(None),
        SLOT_TOMBSTONE => Ok(Some((r.array::<32>().map_err(short)?, Value::Tombstone))),
        SLOT_LIVE => {
            let hash = r.array::<32>().map_err(short)?;
            let info = Info {
                physical_sector: r.u64().map_err(short)?,
                first_logical_sector: r.u64().map_err(short)?,
            };
            Ok(Some((hash, Value::Live(info))))
        }
        other => Err(IncarnationPageFault::BadSlotState(other)),
    }
}

/// Recomputes the CRC of `page` if it starts with the incarnation magic.
#[cfg(feature = "testing")]
pub(crate) fn reseal_page(page: &mut [u8]) {
    if page.len() >= PAGE_HEADER_BYTES && page[..4] == MAGIC.to_le_bytes() {
        seal_head(page, HEAD_CRC_RANGE);
        seal(page, CRC_RANGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_round_trip() {
        let hash = [7u8; 32];
        let info = Info {
            physical_sector: 3,
            first_logical_sector: 9,
        };
        for value in [None, Some(Value::Tombstone), Some(Value::Live(info))] {
            let mut w = Writer::default();
            encode_slot(&mut w, value.as_ref().map(|v| (&hash, v)));
            assert_eq!(w.bytes.len(), SLOT_BYTES);
            assert_eq!(decode_slot(&w.bytes), Ok(value.map(|v| (hash, v))));
        }
        assert_eq!(
            decode_slot(&[9; SLOT_BYTES]),
            Err(IncarnationPageFault::BadSlotState(9))
        );
    }

    /// A slot cut short (in its hash or in either half of its info) is a
    /// fault naming its state byte, never a panic or a partial entry.
    #[test]
    fn a_slot_cut_short_is_a_bad_slot_state() {
        let hash = [7u8; 32];
        let info = Info {
            physical_sector: 3,
            first_logical_sector: 9,
        };
        for (value, state) in [
            (Value::Tombstone, SLOT_TOMBSTONE),
            (Value::Live(info), SLOT_LIVE),
        ] {
            let mut w = Writer::default();
            encode_slot(&mut w, Some((&hash, &value)));
            let whole = if state == SLOT_LIVE {
                SLOT_BYTES
            } else {
                1 + HASH_BYTES
            };
            assert_eq!(decode_slot(&w.bytes[..whole]), Ok(Some((hash, value))));
            for len in [1, 20, 1 + HASH_BYTES + 4, 1 + HASH_BYTES + 12] {
                if len < whole {
                    assert_eq!(
                        decode_slot(&w.bytes[..len]),
                        Err(IncarnationPageFault::BadSlotState(state)),
                        "{state} cut at {len}"
                    );
                }
            }
        }
    }

    /// A sealed page of another version is `BadVersion`, naming it; its
    /// message says so.
    #[test]
    fn a_page_of_another_version_is_refused_by_name() {
        let header = Header {
            slots: 4,
            generation: 9,
            first: 0,
            count: 1,
            erase_count: 5,
        };
        let mut w = Writer::default();
        header.encode(&mut w);
        w.bytes[4..6].copy_from_slice(&(PAGE_VERSION + 1).to_le_bytes());
        let mut page = vec![0u8; 256];
        finish_page(&mut page, &w.bytes);
        let fault = Header::check(&page).unwrap_err();
        assert_eq!(fault, IncarnationPageFault::BadVersion(PAGE_VERSION + 1));
        assert_eq!(
            fault.to_string(),
            format!("unknown page version {}", PAGE_VERSION + 1)
        );
    }

    #[test]
    fn header_round_trip_and_checks() {
        let header = Header {
            slots: 4,
            generation: 9,
            first: 12,
            count: 2,
            erase_count: 5,
        };
        let mut w = Writer::default();
        header.encode(&mut w);
        let mut page = vec![0u8; 256];
        finish_page(&mut page, &w.bytes);
        assert_eq!(Header::check(&page), Ok(header));
        page[40] ^= 1;
        assert_eq!(Header::check(&page), Err(IncarnationPageFault::BadCrc));
        assert_eq!(
            Header::check(&[ERASED; 64]),
            Err(IncarnationPageFault::Erased)
        );
        assert_eq!(Header::check(&[0; 64]), Err(IncarnationPageFault::BadMagic));
        // A page just long enough for its header checks; one byte shorter
        // has no header.
        let mut exact = vec![0u8; PAGE_HEADER_BYTES];
        finish_page(&mut exact, &w.bytes);
        assert_eq!(Header::check(&exact), Ok(header));
        assert_eq!(
            Header::check(&exact[..PAGE_HEADER_BYTES - 1]),
            Err(IncarnationPageFault::BadMagic)
        );
    }
}
