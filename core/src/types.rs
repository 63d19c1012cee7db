//! The values the index stores: a content hash and its [`Info`].

/// The 32-byte SHA-256 of a cluster.
pub type Hash = [u8; 32];

/// What the index stores for a hash: where the cluster lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Info {
    /// Physical sector of the cluster.
    pub physical_sector: u64,
    /// First logical sector that maps to it.
    pub first_logical_sector: u64,
}
