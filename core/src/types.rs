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

/// What the log store and an incarnation hold for a hash: its info, or a
/// tombstone that shadows older incarnations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Value {
    Live(Info),
    /// Deleted. (The default only fills empty table slots.)
    #[default]
    Tombstone,
}
