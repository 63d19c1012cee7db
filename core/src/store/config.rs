//! [`StoreConfig`]: the shape and policies of a store, encoded into the
//! anchor at format and read back at open, and the check that a
//! configuration fits a device before anything is allocated.

use crate::codec::DecodeError;
use crate::cuckoo::config::COMPACT_SLOT_BITS;
use crate::cuckoo::{CuckooConfig, CuckooError, Policy};
use crate::flash::Geometry;
use crate::format::config::ConfigRecord;
use crate::format::journal::JOURNAL_PAGE_BYTES_MIN;
use crate::hashstore::Incarnation;
use crate::journal::{position_bits, JournalError};
use crate::ledger::LedgerError;
use crate::logtable::SlotLayoutKind;

use super::StoreError;

/// The shape and policies of a store, kept in the anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoreConfig {
    /// The log store has 2^order buckets.
    pub order: u32,
    /// Slots per bucket: 2, 4 or 8.
    pub bucket_slots: usize,
    pub policy: Policy,
    /// Erase blocks of each journal region.
    pub journal_blocks: u32,
    /// Most incarnations kept.
    pub incarnations_max: u32,
    /// Past `incarnations_max`, drop the oldest incarnation (and what only it
    /// held) instead of returning `Full`. Off by default.
    pub evict_oldest: bool,
    /// Seeds the cuckoo table's random choices.
    pub seed: u64,
    /// The log store's slot layout: full hashes, or tags and journal
    /// positions (SILT-style).
    #[cfg_attr(feature = "serde", serde(default))]
    pub layout: SlotLayoutKind,
}

impl StoreConfig {
    /// 2^order buckets of 4 slots, the default policy, `journal_blocks`
    /// blocks of journal, at most 8 incarnations, no eviction.
    pub fn new(order: u32, journal_blocks: u32) -> Self {
        StoreConfig {
            order,
            bucket_slots: 4,
            policy: Policy::default(),
            journal_blocks,
            incarnations_max: 8,
            evict_oldest: false,
            seed: 0,
            layout: SlotLayoutKind::Full,
        }
    }

    /// Checks the configuration against a device of `geometry` without
    /// touching the device: what [`crate::Store::create`] would refuse for its
    /// shape, this refuses, before anything is allocated or written.
    pub fn check(&self, geometry: Geometry) -> Result<(), StoreError> {
        geometry.validate().map_err(StoreError::Flash)?;
        self.cuckoo().capacity()?;
        check_fits(self, geometry)?;
        if geometry.page_bytes < JOURNAL_PAGE_BYTES_MIN {
            let page_bytes = geometry.page_bytes;
            return Err(LedgerError::Journal(JournalError::PageTooSmall { page_bytes }).into());
        }
        Incarnation::check_shape(geometry, self.order, self.bucket_slots)?;
        // The budget fails only on a shape `check_shape` refused above.
        let budget = self
            .block_budget(geometry)
            .expect("a checked shape has a budget");
        budget.check(geometry.blocks, 0)?;
        if self.layout == SlotLayoutKind::Compact {
            let pos_bits = position_bits(geometry, self.journal_blocks);
            if pos_bits > COMPACT_SLOT_BITS.saturating_sub(self.order) {
                let order = self.order;
                return Err(CuckooError::CompactTooWide { order, pos_bits }.into());
            }
        }
        Ok(())
    }

    /// The erase blocks this configuration needs on a device of
    /// `geometry`: see [`BlockBudget`].
    pub fn block_budget(&self, geometry: Geometry) -> Result<BlockBudget, StoreError> {
        let incarnation = Incarnation::blocks_max(geometry, self.order, self.bucket_slots)?;
        Ok(self.budget_with(incarnation))
    }

    /// As [`StoreConfig::block_budget`], an incarnation of a shape the
    /// device cannot hold counted as the whole device.
    pub(crate) fn block_budget_or_device(&self, geometry: Geometry) -> BlockBudget {
        let incarnation = Incarnation::blocks_max(geometry, self.order, self.bucket_slots)
            .unwrap_or(u64::from(geometry.blocks));
        self.budget_with(incarnation)
    }

    fn budget_with(&self, incarnation_blocks: u64) -> BlockBudget {
        BlockBudget {
            incarnations_max: self.incarnations_max,
            incarnation_blocks: u32::try_from(incarnation_blocks).unwrap_or(u32::MAX),
            journal_blocks: self.journal_blocks,
            lanes: crate::anchor::LANES as u32,
            evict_oldest: self.evict_oldest,
        }
    }

    pub(crate) fn cuckoo(&self) -> CuckooConfig {
        CuckooConfig {
            order: self.order,
            bucket_slots: self.bucket_slots,
            policy: self.policy,
            seed: self.seed,
        }
    }

    /// The record the anchor keeps (`format/config.rs`).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let policy = match self.policy {
            Policy::RandomWalk { max_kicks, retries } => (0, max_kicks, retries),
            Policy::Bfs { max_depth } => (1, max_depth, 0),
            Policy::FixedVictim { max_kicks } => (2, max_kicks, 0),
        };
        ConfigRecord {
            order: self.order,
            bucket_slots: self.bucket_slots as u8,
            policy,
            journal_blocks: self.journal_blocks,
            incarnations_max: self.incarnations_max,
            evict_oldest: self.evict_oldest,
            seed: self.seed,
            layout: match self.layout {
                SlotLayoutKind::Full => 0,
                SlotLayoutKind::Compact => 1,
            },
        }
        .encode()
    }

    /// The configuration a record holds; its tags checked.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let record = ConfigRecord::decode(bytes)?;
        let invalid = |what, value: u8| DecodeError::Invalid {
            what,
            value: u64::from(value),
        };
        let policy = match record.policy {
            (0, max_kicks, retries) => Policy::RandomWalk { max_kicks, retries },
            (1, max_depth, _) => Policy::Bfs { max_depth },
            (2, max_kicks, _) => Policy::FixedVictim { max_kicks },
            (other, _, _) => return Err(invalid("policy tag", other)),
        };
        let layout = match record.layout {
            0 => SlotLayoutKind::Full,
            1 => SlotLayoutKind::Compact,
            other => return Err(invalid("slot layout", other)),
        };
        Ok(StoreConfig {
            order: record.order,
            bucket_slots: usize::from(record.bucket_slots),
            policy,
            journal_blocks: record.journal_blocks,
            incarnations_max: record.incarnations_max,
            evict_oldest: record.evict_oldest,
            seed: record.seed,
            layout,
        })
    }
}

/// The erase blocks a store needs: room for `incarnations_max`
/// incarnations, its journal and its anchor lanes, and a spare for a
/// freeze (a new incarnation, a new journal region and a lane move). The
/// spare covers every write that replaces a region while the old one is
/// still named (a pack, an incarnation's copy when scrubbing), and the
/// freeze an open's rebuild may have to make past `incarnations_max` (a
/// journal replayed into a table it no longer fits): bad blocks that eat
/// into it are the end of life, as an open must always be possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockBudget {
    pub incarnations_max: u32,
    /// Blocks of one incarnation (buckets and filter), at most.
    pub incarnation_blocks: u32,
    pub journal_blocks: u32,
    /// Blocks of the anchor's lanes.
    pub lanes: u32,
    pub evict_oldest: bool,
}

impl BlockBudget {
    /// Blocks the writes a store must always be able to make take at once:
    /// a freeze (see [`BlockBudget`]). Fewer free blocks than this, for bad
    /// blocks, is the end of its life.
    pub fn spare(&self) -> u32 {
        self.freeze_blocks()
    }

    /// Blocks a freeze takes at once: a new incarnation, a new journal
    /// region and new anchor lanes.
    pub fn freeze_blocks(&self) -> u32 {
        self.incarnation_blocks
            .saturating_add(self.journal_blocks)
            .saturating_add(self.lanes)
    }

    /// Good blocks the store needs: what it holds at its limit
    /// (`incarnations_max` incarnations, a journal, the lanes) and the
    /// spare.
    pub fn needed(&self) -> u32 {
        self.incarnations_max
            .saturating_mul(self.incarnation_blocks)
            .saturating_add(self.journal_blocks)
            .saturating_add(self.lanes)
            .saturating_add(self.spare())
    }

    /// Refuses a device of `blocks` blocks, `bad` of them bad, that cannot
    /// hold what [`BlockBudget::needed`] counts.
    pub fn check(&self, blocks: u32, bad: u32) -> Result<(), StoreError> {
        let good = blocks.saturating_sub(bad);
        if good >= self.needed() || crate::planted::active(crate::planted::Bug::AcceptsMisfit) {
            return Ok(());
        }
        Err(StoreError::TooFewBlocks(TooFewBlocks {
            budget: *self,
            needed: self.needed(),
            good,
            bad,
        }))
    }
}

/// A device with fewer good blocks than a configuration needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} incarnations of {} blocks, a journal of {} blocks, {} anchor lanes and a spare of {} \
     (a freeze: an incarnation, a journal and a lane move) need {needed} good blocks; the device has {good} ({bad} bad)",
    .budget.incarnations_max,
    .budget.incarnation_blocks,
    .budget.journal_blocks,
    .budget.lanes,
    .budget.spare()
)]
pub struct TooFewBlocks {
    pub budget: BlockBudget,
    pub needed: u32,
    pub good: u32,
    pub bad: u32,
}

/// Refuses a configuration whose table, frozen, would not fit on the
/// device next to its journal: checked before the table's RAM is allocated,
/// so a crafted anchor cannot make `open` allocate gigabytes.
pub(crate) fn check_fits(config: &StoreConfig, geometry: Geometry) -> Result<(), StoreError> {
    let capacity = config.cuckoo().capacity()?;
    let table_bytes = capacity.saturating_mul(crate::format::incarnation::SLOT_BYTES as u64);
    let journal_bytes = u64::from(config.journal_blocks).saturating_mul(geometry.block_bytes());
    let anchor_bytes = 2 * geometry.block_bytes();
    let needed = table_bytes
        .saturating_add(journal_bytes)
        .saturating_add(anchor_bytes);
    if config.journal_blocks == 0 {
        return Err(StoreError::NoJournal);
    }
    if needed > geometry.device_bytes() {
        return Err(StoreError::TooLarge(format!(
            "{capacity} slots ({table_bytes} bytes frozen) and {} journal blocks ({journal_bytes} bytes) need {needed} bytes; the device has {}",
            config.journal_blocks,
            geometry.device_bytes()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::FlashError;

    #[test]
    fn config_round_trips() {
        for policy in [
            Policy::RandomWalk {
                max_kicks: 500,
                retries: 10,
            },
            Policy::Bfs { max_depth: 6 },
            Policy::FixedVictim { max_kicks: 9 },
        ] {
            let mut config = StoreConfig::new(12, 16);
            config.policy = policy;
            config.evict_oldest = true;
            config.seed = 77;
            assert_eq!(StoreConfig::decode(&config.encode()), Ok(config));
        }
        assert!(StoreConfig::decode(&[1, 0, 3]).is_err());
        assert!(StoreConfig::decode(&[9, 0]).is_err());
    }

    /// A table that, frozen, fills the device exactly next to its journal
    /// and the anchor's lanes fits; one block fewer does not.
    #[test]
    fn a_table_that_fills_the_device_exactly_fits() {
        let mut found = false;
        // Bounded: 3 block sizes, 8 journals, 6 orders.
        for pages_per_block in [1, 2, 4] {
            for journal_blocks in 1..=8u32 {
                for order in 3..=8 {
                    let config = StoreConfig::new(order, journal_blocks);
                    let block_bytes = 512 * u64::from(pages_per_block);
                    let capacity = config.cuckoo().capacity().unwrap();
                    let table_bytes = capacity * crate::format::incarnation::SLOT_BYTES as u64;
                    let needed = table_bytes + (u64::from(journal_blocks) + 2) * block_bytes;
                    if !needed.is_multiple_of(block_bytes) {
                        continue;
                    }
                    let blocks = (needed / block_bytes) as u32;
                    let exact = Geometry::new(512, pages_per_block, blocks).unwrap();
                    assert!(check_fits(&config, exact).is_ok(), "{exact:?}");
                    let short = Geometry::new(512, pages_per_block, blocks - 1).unwrap();
                    let message = check_fits(&config, short).unwrap_err().to_string();
                    let tail = format!(
                        "need {needed} bytes; the device has {}",
                        short.device_bytes()
                    );
                    assert!(message.ends_with(&tail), "{message}");
                    found = true;
                }
            }
        }
        assert!(found, "no configuration fills a device exactly");
    }

    /// The compact layout takes a journal whose positions fill the slot's
    /// bits exactly, and refuses one a bit wider.
    #[test]
    fn a_compact_journal_may_fill_the_slot_bits_exactly() {
        let geometry = Geometry::new(4096, 256, 1 << 16).unwrap();
        let (mut exact, mut wider) = (false, false);
        // Bounded: 4,096 journal sizes at one order.
        let order = 14;
        for journal_blocks in 1..=4_096u32 {
            let mut config = StoreConfig::new(order, journal_blocks);
            config.layout = SlotLayoutKind::Compact;
            let pos_bits = position_bits(geometry, journal_blocks);
            let room = COMPACT_SLOT_BITS - order;
            if pos_bits == room {
                exact = true;
                assert!(config.check(geometry).is_ok(), "{journal_blocks} blocks");
            } else if pos_bits == room + 1 {
                wider = true;
                assert_eq!(
                    config.check(geometry).unwrap_err().to_string(),
                    StoreError::Config(CuckooError::CompactTooWide { order, pos_bits }).to_string()
                );
            }
        }
        assert!(exact && wider);
    }

    /// A geometry outside the device limits is refused first, as the
    /// flash error naming it.
    #[test]
    fn a_geometry_out_of_limits_is_refused_as_a_flash_error() {
        let geometry = Geometry {
            page_bytes: 500,
            ..Geometry::new(512, 8, 64).unwrap()
        };
        assert_eq!(
            StoreConfig::new(4, 1)
                .check(geometry)
                .unwrap_err()
                .to_string(),
            FlashError::BadGeometry { geometry }.to_string()
        );
    }

    /// Journal pages of 128 bytes, below [`JOURNAL_PAGE_BYTES_MIN`], are
    /// refused although the table fits; 256-byte pages are taken.
    #[test]
    fn pages_below_the_journal_minimum_are_refused() {
        let config = StoreConfig::new(4, 2);
        let small = Geometry::new(128, 64, 256).unwrap();
        let page_bytes = small.page_bytes;
        let too_small = LedgerError::Journal(JournalError::PageTooSmall { page_bytes });
        assert!(check_fits(&config, small).is_ok());
        assert_eq!(
            config.check(small).unwrap_err().to_string(),
            StoreError::from(too_small).to_string()
        );
        assert!(config.check(Geometry::new(256, 64, 256).unwrap()).is_ok());
    }

    /// A bucket of 8 slots does not fit a 256-byte page with its header:
    /// the check and the block budget both refuse it, naming the sizes;
    /// 4 slots fit.
    #[test]
    fn a_bucket_larger_than_a_page_is_refused() {
        let geometry = Geometry::new(256, 64, 256).unwrap();
        let mut config = StoreConfig::new(4, 2);
        config.bucket_slots = 8;
        let message = "a bucket of 8 slots needs 432 bytes with the header, pages are 256";
        assert_eq!(config.check(geometry).unwrap_err().to_string(), message);
        assert_eq!(
            config.block_budget(geometry).unwrap_err().to_string(),
            message
        );
        config.bucket_slots = 4;
        assert!(config.check(geometry).is_ok());
    }

    /// A device with exactly the blocks the budget needs passes the check;
    /// one block fewer is `TooFewBlocks`, naming the count.
    #[test]
    fn a_device_one_block_short_of_the_budget_is_refused() {
        let config = StoreConfig::new(4, 1);
        let budget = config
            .block_budget(Geometry::new(512, 8, 1).unwrap())
            .unwrap();
        let needed = budget.needed();
        assert!(config.check(Geometry::new(512, 8, needed).unwrap()).is_ok());
        let short = Geometry::new(512, 8, needed - 1).unwrap();
        let expected = StoreError::TooFewBlocks(TooFewBlocks {
            budget,
            needed,
            good: needed - 1,
            bad: 0,
        });
        assert_eq!(
            config.check(short).unwrap_err().to_string(),
            expected.to_string()
        );
    }

    /// A record with a policy tag or a slot layout this version does not
    /// know is `Invalid`, naming the field and the tag.
    #[test]
    fn an_unknown_policy_tag_or_layout_is_invalid() {
        let record = ConfigRecord::decode(&StoreConfig::new(12, 16).encode()).unwrap();
        let policy = ConfigRecord {
            policy: (3, 0, 0),
            ..record
        };
        assert_eq!(
            StoreConfig::decode(&policy.encode()),
            Err(DecodeError::Invalid {
                what: "policy tag",
                value: 3
            })
        );
        let layout = ConfigRecord {
            layout: 2,
            ..record
        };
        assert_eq!(
            StoreConfig::decode(&layout.encode()),
            Err(DecodeError::Invalid {
                what: "slot layout",
                value: 2
            })
        );
    }

    /// A configuration of a table the cuckoo module refuses (a crafted
    /// anchor's, at open) is refused by the fit check as that error,
    /// before any size is computed from it.
    #[test]
    fn the_fit_check_refuses_an_impossible_table() {
        let geometry = Geometry::new(512, 8, 64).unwrap();
        let order = crate::cuckoo::ORDER_MAX + 1;
        assert_eq!(
            check_fits(&StoreConfig::new(order, 1), geometry)
                .unwrap_err()
                .to_string(),
            StoreError::Config(CuckooError::OrderTooLarge { order }).to_string()
        );
    }
}
