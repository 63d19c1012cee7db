//! The anchor record: a 24-byte header (magic `LSA1`, version 4, flags,
//! sequence, payload length, CRC32C over header and payload), then the
//! payload laid over as many pages as it needs: the [`LANES`] lanes it is
//! written in, next generation, the store's configuration, the journal region, the
//! incarnations newest first, the bad blocks and every block's erase count;
//! then, with flag [`FLAG_UNCERTAIN`], the generations whose contents a
//! salvage left uncertain.

use super::{crc_holds, seal};
use crate::codec::{DecodeError, Reader, Writer};
use crate::flash::BlockAddr;
use crate::region::Region;

/// "LSA1", little-endian.
pub(crate) const MAGIC: u32 = 0x4C53_4131;
/// Version 4: three lanes ([`LANES`]), and the journal region's pages all
/// used but those appending passes over to keep acknowledged pages out of
/// a cut program's reach (`journal::journal_pages_at_risk`). Version 3
/// kept the journal to the pages no two of which share a wordline under
/// any known scheme, version 2 to the declared scheme's lower pages and
/// had two lanes. Version 5: the journal, bucket and filter pages it names
/// carry a head CRC (journal `LSJ4`, pages version 3); read as version 5,
/// a store of 4 would answer its journal's hashes "absent" (its `LSJ3`
/// pages no longer decode). A store of an older version is refused, named
/// ([`older_version`]).
pub(crate) const VERSION: u16 = 5;
/// Lanes every record is written to: three, so that any two pages lost
/// among them (the newest record in two lanes, or two lanes' first pages)
/// still leave one whole copy of the newest record, found from a lane
/// whose first page reads.
pub const LANES: usize = 3;
/// Bytes of the record header.
pub(crate) const HEADER_BYTES: usize = 24;
/// Where the CRC sits in the header.
const CRC_RANGE: std::ops::Range<usize> = 20..24;
/// Where the payload length sits in the header.
const LENGTH_RANGE: std::ops::Range<usize> = 16..20;
// The header's fields end where the CRC begins, and the CRC ends the
// header; a record's header fits the smallest page.
const _: () = assert!(LENGTH_RANGE.end == CRC_RANGE.start && CRC_RANGE.end == HEADER_BYTES);
const _: () = assert!(HEADER_BYTES <= crate::flash::PAGE_BYTES_MIN as usize);
/// Header flag: the payload ends with the uncertain generations (a count,
/// then each as a u64). A record without it has none; a record with any
/// other flag set is not one this version reads.
pub(crate) const FLAG_UNCERTAIN: u16 = 1;
/// Largest opaque configuration or region metadata, in bytes.
pub const META_BYTES_MAX: usize = 4096;
/// Most regions one record may list.
pub const REGIONS_MAX: usize = 4096;

/// One anchor record: the whole durable state of the index but the regions'
/// contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorRecord {
    /// Strictly increasing; assigned by the anchor's commit.
    pub sequence: u64,
    /// The blocks this record is written in (each holds a copy).
    pub lanes: [BlockAddr; LANES],
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
    /// Generations (of the journal or incarnations named here) holding
    /// entries older than journal pages a salvage lost: an answer from
    /// them, or an absence while any is listed, may be stale. Empty on a
    /// store that never lost a page.
    pub uncertain: Vec<u64>,
}

fn encode_region(region: &Region, w: &mut Writer) {
    w.u64(region.generation).u32(region.blocks.len() as u32);
    for block in &region.blocks {
        w.u32(block.0);
    }
    w.u32(region.meta.len() as u32).raw(&region.meta);
}

fn decode_region(r: &mut Reader<'_>) -> Result<Region, DecodeError> {
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

fn decode_u64s(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u64>, DecodeError> {
    let count = r.u32()? as usize;
    if count == 0 || count > r.remaining() / 8 {
        return Err(DecodeError::Invalid {
            what,
            value: count as u64,
        });
    }
    (0..count).map(|_| r.u64()).collect()
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
        for lane in self.lanes {
            payload.u32(lane.0);
        }
        payload
            .u64(self.next_generation)
            .u32(self.config.len() as u32)
            .raw(&self.config);
        encode_region(&self.journal, &mut payload);
        payload.u32(self.incarnations.len() as u32);
        for region in &self.incarnations {
            encode_region(region, &mut payload);
        }
        payload.u32(self.bad_blocks.len() as u32);
        for block in &self.bad_blocks {
            payload.u32(block.0);
        }
        payload.u32(self.erase_counts.len() as u32);
        for &count in &self.erase_counts {
            payload.u32(count);
        }
        let mut flags = 0;
        if !self.uncertain.is_empty() {
            flags |= FLAG_UNCERTAIN;
            payload.u32(self.uncertain.len() as u32);
            for &generation in &self.uncertain {
                payload.u64(generation);
            }
        }
        let mut record = Writer::default();
        record
            .u32(MAGIC)
            .u16(VERSION)
            .u16(flags)
            .u64(self.sequence)
            .u32(payload.bytes.len() as u32)
            .u32(0)
            .raw(&payload.bytes);
        seal(&mut record.bytes, CRC_RANGE);
        record.bytes
    }

    /// Decodes a record at the start of `bytes`; returns it and its length.
    /// `None` if no record starts here (bad magic, version or CRC).
    pub fn decode(bytes: &[u8]) -> Result<Option<(Self, usize)>, DecodeError> {
        let Some((sequence, total)) = Self::peek(bytes) else {
            return Ok(None);
        };
        let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
        let record = Self::decode_payload(sequence, flags, &bytes[HEADER_BYTES..total])?;
        Ok(Some((record, total)))
    }

    /// The sequence in the header at the start of `bytes`, if one starts
    /// there (magic and version right, the sequence within `bytes`), its
    /// CRC not checked: how open tells a lane from its page 0 alone.
    pub fn header_sequence(bytes: &[u8]) -> Option<u64> {
        let sequence = bytes.get(8..16)?;
        starts_record(bytes).then(|| u64::from_le_bytes(sequence.try_into().expect("8 bytes")))
    }

    /// The length the header at the start of `bytes` claims for its
    /// record, unchecked (no CRC: its pages may not all be read yet), if a
    /// header starts there and the record fits in `bytes`.
    pub(crate) fn claimed_bytes(bytes: &[u8]) -> Option<usize> {
        record_bytes(bytes)
    }

    /// The sequence and length of the record at the start of `bytes`, its
    /// CRC checked, its payload not decoded; `None` if no record starts here.
    pub fn peek(bytes: &[u8]) -> Option<(u64, usize)> {
        let total = record_bytes(bytes)?;
        if !crc_holds(&bytes[..total], CRC_RANGE) {
            return None;
        }
        // `record_bytes` found a whole header: the sequence is there.
        let sequence = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        Some((sequence, total))
    }

    fn decode_payload(sequence: u64, flags: u16, payload: &[u8]) -> Result<Self, DecodeError> {
        if flags & !FLAG_UNCERTAIN != 0 {
            return Err(DecodeError::Invalid {
                what: "anchor record flags",
                value: u64::from(flags),
            });
        }
        let mut r = Reader::new(payload);
        let mut lanes = [BlockAddr(0); LANES];
        for lane in &mut lanes {
            *lane = BlockAddr(r.u32()?);
        }
        let next_generation = r.u64()?;
        let config = decode_bytes(&mut r, "config length")?;
        let journal = decode_region(&mut r)?;
        let regions = r.u32()? as usize;
        if regions > REGIONS_MAX {
            return Err(DecodeError::Invalid {
                what: "incarnation count",
                value: regions as u64,
            });
        }
        let incarnations = (0..regions)
            .map(|_| decode_region(&mut r))
            .collect::<Result<_, _>>()?;
        let bad_blocks = decode_u32s(&mut r, "bad block count")?
            .into_iter()
            .map(BlockAddr)
            .collect();
        let erase_counts = decode_u32s(&mut r, "erase count length")?;
        let uncertain = match flags & FLAG_UNCERTAIN {
            0 => Vec::new(),
            _ => decode_u64s(&mut r, "uncertain generation count")?,
        };
        Ok(AnchorRecord {
            sequence,
            lanes,
            next_generation,
            config,
            journal,
            incarnations,
            bad_blocks,
            erase_counts,
            uncertain,
        })
    }
}

/// The length of the record whose header starts `bytes` (magic and version
/// right, payload within `bytes`), unchecked otherwise.
fn record_bytes(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..HEADER_BYTES)?;
    if !starts_record(header) {
        return None;
    }
    let payload = u32::from_le_bytes(header[LENGTH_RANGE].try_into().expect("4 bytes")) as usize;
    // Compared with the bytes after the header, not added to it: no
    // overflow where usize is 32 bits.
    (payload <= bytes.len() - HEADER_BYTES).then_some(HEADER_BYTES + payload)
}

/// Whether `bytes` start with a record's magic and version.
/// The version of an anchor record of an older format starting `bytes`:
/// the magic, and a version below this build's.
pub(crate) fn older_version(bytes: &[u8]) -> Option<u16> {
    if bytes.get(..4) != Some(&MAGIC.to_le_bytes()[..]) {
        return None;
    }
    let version = u16::from_le_bytes(bytes.get(4..6)?.try_into().expect("2 bytes"));
    (version < VERSION).then_some(version)
}

fn starts_record(bytes: &[u8]) -> bool {
    bytes.get(..4) == Some(&MAGIC.to_le_bytes()[..])
        && bytes.get(4..6) == Some(&VERSION.to_le_bytes()[..])
}

/// Recomputes the CRC of the record whose header starts `bytes`, if any.
#[cfg(feature = "testing")]
pub(crate) fn reseal_record(bytes: &mut [u8]) {
    if let Some(total) = record_bytes(bytes) {
        seal(&mut bytes[..total], CRC_RANGE);
    }
}

/// Makes `bytes` start with a record header (magic and version written)
/// and seals the record its length field names; `false`, with `bytes`
/// unchanged, if they are shorter than a header or than that record.
#[cfg(feature = "testing")]
pub fn seal_record(bytes: &mut [u8]) -> bool {
    if bytes.len() < HEADER_BYTES {
        return false;
    }
    let payload = u32::from_le_bytes(bytes[LENGTH_RANGE].try_into().expect("4 bytes")) as usize;
    if HEADER_BYTES.saturating_add(payload) > bytes.len() {
        return false;
    }
    bytes[..4].copy_from_slice(&MAGIC.to_le_bytes());
    bytes[4..6].copy_from_slice(&VERSION.to_le_bytes());
    reseal_record(bytes);
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record naming a journal, an incarnation and a bad block on a
    /// device of `blocks` blocks.
    pub(crate) fn record(blocks: u32) -> AnchorRecord {
        AnchorRecord {
            sequence: 0,
            lanes: [BlockAddr(0), BlockAddr(6), BlockAddr(7)],
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
            uncertain: Vec::new(),
        }
    }

    /// `seal_record` seals a record lying in a longer buffer (a page), its
    /// magic restored, and refuses a buffer shorter than the record.
    #[test]
    fn seal_record_seals_a_record_in_a_page_and_refuses_a_short_one() {
        let r = record(8);
        let mut page = r.encode();
        let len = page.len();
        page.extend_from_slice(&[0xFF; 16]);
        page[0] ^= 1;
        assert!(seal_record(&mut page));
        assert_eq!(AnchorRecord::decode(&page).unwrap(), Some((r, len)));
        let mut short = page[..len - 1].to_vec();
        let before = short.clone();
        assert!(!seal_record(&mut short));
        assert_eq!(short, before);
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
    fn uncertain_generations_round_trip_behind_their_flag() {
        let plain = record(8).encode();
        assert_eq!(u16::from_le_bytes([plain[6], plain[7]]), 0);
        let mut r = record(8);
        r.uncertain = vec![4, 6];
        let bytes = r.encode();
        assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]), FLAG_UNCERTAIN);
        assert_eq!(bytes.len(), plain.len() + 4 + 16);
        let (decoded, _) = AnchorRecord::decode(&bytes).unwrap().unwrap();
        assert_eq!(decoded, r);
        // A flag this version does not know is refused, CRC or not.
        let mut unknown = plain.clone();
        unknown[6] = 2;
        seal(&mut unknown, CRC_RANGE);
        assert!(AnchorRecord::decode(&unknown).is_err());
    }

    /// The uncertain list's count: 0 under the flag, or more than the
    /// bytes left hold, is `Invalid`, never an empty list or a huge
    /// allocation.
    #[test]
    fn an_uncertain_count_of_zero_or_past_the_payload_is_invalid() {
        let mut r = record(8);
        r.uncertain = vec![4];
        let bytes = r.encode();
        let count_at = bytes.len() - 12;
        for count in [0u32, 2, u32::MAX] {
            let mut crafted = bytes.clone();
            crafted[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
            seal(&mut crafted, CRC_RANGE);
            assert!(
                matches!(
                    AnchorRecord::decode(&crafted),
                    Err(DecodeError::Invalid {
                        what: "uncertain generation count",
                        ..
                    })
                ),
                "count {count}"
            );
        }
    }

    /// A header with `flags` and a sequence of 1 before `payload`, sealed.
    fn sealed(flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(MAGIC)
            .u16(VERSION)
            .u16(flags)
            .u64(1)
            .u32(payload.len() as u32)
            .u32(0)
            .raw(payload);
        seal(&mut w.bytes, CRC_RANGE);
        w.bytes
    }

    /// A record cut anywhere in its payload, its length and CRC made to
    /// match, decodes to an error (truncated, or a count past the bytes
    /// left), never to a record and never a panic: every field is checked.
    #[test]
    fn a_payload_cut_anywhere_is_a_decode_error() {
        let mut r = record(8);
        r.incarnations.push(r.incarnations[0].clone());
        r.uncertain = vec![4, 6];
        let payload = r.encode()[HEADER_BYTES..].to_vec();
        assert_eq!(
            AnchorRecord::decode(&sealed(FLAG_UNCERTAIN, &payload))
                .unwrap()
                .map(|(decoded, _)| decoded.incarnations.len()),
            Some(2)
        );
        for len in 0..payload.len() {
            let cut = sealed(FLAG_UNCERTAIN, &payload[..len]);
            let decoded = AnchorRecord::decode(&cut);
            assert!(decoded.is_err(), "cut at {len}: {decoded:?}");
        }
        // A list's count past the bytes left is `Invalid`, named.
        let blocks_at = 12 + 8 + 4 + 3 + 8;
        let mut crafted = payload.clone();
        crafted[blocks_at..blocks_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            AnchorRecord::decode(&sealed(FLAG_UNCERTAIN, &crafted)),
            Err(DecodeError::Invalid {
                what: "region block count",
                value: u64::from(u32::MAX)
            })
        );
    }

    /// The lanes, the next generation and `config_len` as a config length.
    fn payload_to_config(config_len: u32) -> Writer {
        let mut w = Writer::default();
        w.u32(0).u32(6).u32(7).u64(7).u32(config_len);
        w
    }

    /// A configuration of [`META_BYTES_MAX`] bytes decodes; one byte more
    /// is `Invalid` before anything is read or allocated.
    #[test]
    fn a_config_past_its_bound_is_invalid() {
        let mut r = record(8);
        r.config = vec![5; META_BYTES_MAX];
        let (decoded, _) = AnchorRecord::decode(&r.encode()).unwrap().unwrap();
        assert_eq!(decoded, r);
        let past = payload_to_config(META_BYTES_MAX as u32 + 1);
        assert_eq!(
            AnchorRecord::decode(&sealed(0, &past.bytes)),
            Err(DecodeError::Invalid {
                what: "config length",
                value: META_BYTES_MAX as u64 + 1
            })
        );
    }

    /// [`REGIONS_MAX`] incarnations decode; a count one past it is
    /// `Invalid` before any is read.
    #[test]
    fn an_incarnation_count_past_its_bound_is_invalid() {
        let mut r = record(8);
        r.incarnations = (0..REGIONS_MAX as u64)
            .map(|generation| Region {
                generation,
                blocks: vec![BlockAddr(3)],
                meta: vec![],
            })
            .collect();
        let (decoded, _) = AnchorRecord::decode(&r.encode()).unwrap().unwrap();
        assert_eq!(decoded.incarnations.len(), REGIONS_MAX);
        let mut past = payload_to_config(0);
        encode_region(&r.journal, &mut past);
        past.u32(REGIONS_MAX as u32 + 1);
        assert_eq!(
            AnchorRecord::decode(&sealed(0, &past.bytes)),
            Err(DecodeError::Invalid {
                what: "incarnation count",
                value: REGIONS_MAX as u64 + 1
            })
        );
    }

    /// A record of an older version is named by its version; this
    /// build's, a newer one's, another magic's or a cut header is not.
    #[test]
    fn an_older_version_is_named() {
        let bytes = record(8).encode();
        assert_eq!(older_version(&bytes), None);
        for (version, want) in [(4u16, Some(4)), (1, Some(1)), (VERSION + 1, None)] {
            let mut other = bytes.clone();
            other[4..6].copy_from_slice(&version.to_le_bytes());
            assert_eq!(older_version(&other), want, "{version}");
            assert_eq!(older_version(&other[..5]), None);
        }
        let mut foreign = bytes.clone();
        foreign[4..6].copy_from_slice(&4u16.to_le_bytes());
        foreign[0] ^= 1;
        assert_eq!(older_version(&foreign), None);
    }

    /// `header_sequence` reads the sequence of a header from its first 16
    /// bytes alone, CRC unchecked, and gives none for anything shorter
    /// (never a panic) or for another magic or version.
    #[test]
    fn header_sequence_needs_the_magic_the_version_and_sixteen_bytes() {
        let mut r = record(8);
        r.sequence = 42;
        let mut bytes = r.encode();
        bytes[HEADER_BYTES] ^= 1;
        assert_eq!(AnchorRecord::header_sequence(&bytes[..16]), Some(42));
        for len in 0..16 {
            assert_eq!(AnchorRecord::header_sequence(&bytes[..len]), None, "{len}");
        }
        for at in [0, 4] {
            let mut other = bytes.clone();
            other[at] ^= 1;
            assert_eq!(AnchorRecord::header_sequence(&other), None, "{at}");
        }
    }

    /// `peek` finds no record in bytes shorter than a header, or shorter
    /// than the payload its header names, and the record's sequence and
    /// length in bytes that hold it and more.
    #[test]
    fn peek_needs_the_whole_record() {
        let mut r = record(8);
        r.sequence = 9;
        let mut bytes = r.encode();
        let len = bytes.len();
        assert_eq!(AnchorRecord::peek(&bytes[..HEADER_BYTES - 1]), None);
        assert_eq!(AnchorRecord::peek(&bytes[..len - 1]), None);
        bytes.push(0);
        assert_eq!(AnchorRecord::peek(&bytes), Some((9, len)));
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
}
