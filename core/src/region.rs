//! [`Region`]: a run of erase blocks holding one journal or one hash store
//! incarnation, named by the anchor. Pure data: its on-flash form lives in
//! [`crate::format::anchor`].

use crate::flash::BlockAddr;

/// A run of erase blocks holding one journal or one incarnation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Unique among all regions ever created on the device.
    pub generation: u64,
    pub blocks: Vec<BlockAddr>,
    /// Owned by whoever wrote the region (a hash store incarnation's shape).
    pub meta: Vec<u8>,
}
