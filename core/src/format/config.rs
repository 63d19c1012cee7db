//! The store configuration record: the store's shape and policies as the
//! anchor keeps them (written at format, read back at open). Version 2:
//! version u16, order u32, bucket slots u8, policy tag u8 and its two
//! u32 bounds, journal blocks u32, incarnations max u32, evict-oldest u8,
//! seed u64, slot layout u8; little-endian.
//!
//! Promises: the byte layout is defined here alone; [`ConfigRecord::decode`]
//! gives a typed error on any input. What the tags mean is the store's
//! (`store/config.rs`).

use crate::codec::{DecodeError, Reader, Writer};

const CONFIG_VERSION: u16 = 2;

/// The fields of a configuration record, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConfigRecord {
    pub(crate) order: u32,
    pub(crate) bucket_slots: u8,
    /// The policy's tag (0 random walk, 1 BFS, 2 fixed victim) and its
    /// two bounds (kicks and retries; depth; kicks), unused ones 0.
    pub(crate) policy: (u8, u32, u32),
    pub(crate) journal_blocks: u32,
    pub(crate) incarnations_max: u32,
    pub(crate) evict_oldest: bool,
    pub(crate) seed: u64,
    /// 0 full, 1 compact.
    pub(crate) layout: u8,
}

impl ConfigRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let (tag, a, b) = self.policy;
        w.u16(CONFIG_VERSION)
            .u32(self.order)
            .u8(self.bucket_slots)
            .u8(tag)
            .u32(a)
            .u32(b)
            .u32(self.journal_blocks)
            .u32(self.incarnations_max)
            .u8(u8::from(self.evict_oldest))
            .u64(self.seed)
            .u8(self.layout);
        w.bytes
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u16()?;
        if version != CONFIG_VERSION {
            return Err(DecodeError::Invalid {
                what: "store config version",
                value: u64::from(version),
            });
        }
        Ok(ConfigRecord {
            order: r.u32()?,
            bucket_slots: r.u8()?,
            policy: (r.u8()?, r.u32()?, r.u32()?),
            journal_blocks: r.u32()?,
            incarnations_max: r.u32()?,
            evict_oldest: r.u8()? != 0,
            seed: r.u64()?,
            layout: r.u8()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::truncated_at;

    fn record() -> ConfigRecord {
        ConfigRecord {
            order: 12,
            bucket_slots: 4,
            policy: (1, 6, 0),
            journal_blocks: 16,
            incarnations_max: 8,
            evict_oldest: true,
            seed: 77,
            layout: 1,
        }
    }

    /// A record round-trips; cut anywhere it is `Truncated` at the field
    /// cut; another version is `Invalid`, named.
    #[test]
    fn a_record_cut_anywhere_is_truncated_at_the_field_cut() {
        let bytes = record().encode();
        assert_eq!(ConfigRecord::decode(&bytes), Ok(record()));
        // Version, order, bucket slots, policy tag and bounds, journal
        // blocks, incarnations, evict-oldest, seed, layout.
        let fields = [2, 4, 1, 1, 4, 4, 4, 4, 1, 8, 1];
        assert_eq!(fields.iter().sum::<usize>(), bytes.len());
        for len in 0..bytes.len() {
            assert_eq!(
                ConfigRecord::decode(&bytes[..len]),
                Err(truncated_at(&fields, len)),
                "{len} bytes"
            );
        }
        let mut other = bytes.clone();
        other[0] = 3;
        assert_eq!(
            ConfigRecord::decode(&other),
            Err(DecodeError::Invalid {
                what: "store config version",
                value: 3
            })
        );
    }
}
