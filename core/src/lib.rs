//! logstore: a flash-resident deduplication index.
//!
//! The log store (an in-RAM bucketed cuckoo hash table of content hashes) and
//! its journal (an append-only log on flash), frozen into on-flash hash store
//! incarnations when full. All I/O goes through the [`flash::Flash`] trait, so
//! the index runs on a simulator or on a plain file ([`FileFlash`]) alike.

pub mod alloc;
pub mod anchor;
mod codec;
pub mod cuckoo;
pub mod file_flash;
pub mod flash;
pub mod hashstore;
pub mod journal;
pub mod log;
pub mod logtable;
pub mod planted;
pub mod store;
pub mod types;

pub use codec::DecodeError;
pub use cuckoo::{
    CompactError, CompactTable, CuckooConfig, CuckooError, CuckooStats, CuckooTable, Policy,
};
pub use file_flash::FileFlash;
pub use flash::{BlockAddr, Flash, FlashError, FlashOp, Geometry, PageAddr, PageStates, Rule};
pub use hashstore::{HashStoreError, Incarnation};
pub use journal::{Entry, RecoveryReport};
pub use log::{Log, LogError};
pub use logtable::SlotLayoutKind;
pub use store::{Store, StoreConfig, StoreError, StoreStats};
pub use types::{Hash, Info, Value};
