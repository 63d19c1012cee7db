//! logstore: a flash-resident deduplication index.
//!
//! The log store (an in-RAM bucketed cuckoo hash table of content hashes) and
//! its journal (an append-only log on flash), frozen into on-flash hash store
//! incarnations when full. All I/O goes through the [`Flash`] trait, so the
//! index runs on a simulator or on a plain file ([`FileFlash`]) alike.
//!
//! The API is the [`Store`] and its configuration, figures and errors, and
//! the [`Flash`] seam with its geometry, addresses and errors. The detailed
//! causes inside [`StoreError`] live in [`errors`]. The `testing` feature
//! adds a `testing` module with the internals the simulator and the fuzz
//! targets drive directly; it is not part of the API.
//!
//! ```
//! use logstore::{FileFlash, Geometry, Info, Store, StoreConfig};
//! let dir = std::env::temp_dir().join(format!("logstore-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let geometry = Geometry::new(2048, 64, 64)?; // 8 MiB of 2 KiB pages
//! let flash = FileFlash::create(&dir.join("index.img"), geometry)?;
//! let mut store = Store::create(flash, StoreConfig::new(10, 8))?; // 4 Ki slots, 8-block journal
//! let info = Info { physical_sector: 1, first_logical_sector: 8 };
//! store.insert([7; 32], info)?;
//! store.flush()?;
//! assert_eq!(store.get(&[7; 32])?, Some(info));
//! drop(store);
//! let (mut reopened, _report) = Store::open(FileFlash::open(&dir.join("index.img"), geometry)?)?;
//! assert_eq!(reopened.get(&[7; 32])?, Some(info));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod alloc;
mod anchor;
mod codec;
mod cuckoo;
mod ecc;
mod file_flash;
mod filter;
mod flash;
mod format;
mod hashstore;
mod journal;
mod ledger;
mod logtable;
mod pairing;
mod planted;
mod region;
mod store;
mod types;

pub use cuckoo::config::Policy;
pub use ecc::bch::{
    remainder_path as ecc_remainder_path, TABLES_ONLY_VAR as ECC_TABLES_ONLY_VAR,
    WIDE_OFF_VAR as ECC_NO_WIDE_VAR,
};
pub use ecc::EccCounts;
pub use file_flash::FileFlash;
pub use flash::{
    BlockAddr, Flash, FlashError, FlashOp, Geometry, IoCounts, PageAddr, ReadStatus, Rule,
};
pub use journal::{journal_pages_at_risk, Loss, RecoveryReport, StopFault, StopReason};
pub use logtable::SlotLayoutKind;
pub use pairing::{pages_at_risk, PageRole, Pairing, MLC_LEAD_MAX};
pub use store::{
    BlockBudget, FullReason, ScrubReport, Store, StoreConfig, StoreError, StoreStats, TooFewBlocks,
    WornOut,
};
pub use types::{Hash, Info, Value};

/// The detailed causes a [`StoreError`] or a [`RecoveryReport`] can carry.
pub mod errors {
    pub use crate::alloc::OutOfBlocks;
    pub use crate::anchor::AnchorError;
    pub use crate::codec::DecodeError;
    pub use crate::cuckoo::config::{CuckooError, PlacementProblem};
    pub use crate::format::incarnation::IncarnationPageFault;
    pub use crate::format::journal::JournalPageFault;
    pub use crate::hashstore::HashStoreError;
    pub use crate::journal::JournalError;
    pub use crate::ledger::LedgerError;
}

/// Internals for the simulator, the fuzz targets and their tests, behind the
/// `testing` feature: not part of the API, and free to change.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::alloc::{Allocator, BlockUse};
    pub use crate::anchor::{Anchor, LANES};
    pub use crate::cuckoo::compact::{CompactError, CompactTable, Resolve};
    pub use crate::cuckoo::config::{h1, h2, CuckooConfig, COMPACT_SLOT_BITS};
    pub use crate::cuckoo::full::CuckooTable;
    pub use crate::ecc::bch::{Bch, BchError, Uncorrectable};
    pub use crate::ecc::Media;
    pub use crate::filter::HashFilter;
    pub use crate::flash::{BlockState, PageStates, ERASED};
    pub use crate::format::anchor::AnchorRecord;
    pub use crate::hashstore::{FilterLoad, Incarnation};
    pub use crate::journal::Journal;
    pub use crate::ledger::{Ledger, GENERATIONS_RESERVED};
    #[cfg(feature = "planted")]
    pub use crate::planted::plant;
    pub use crate::planted::{active, Bug};
    pub use crate::region::Region;

    /// The on-flash formats: sizes, records, and the fuzzers' checksum fixer.
    pub mod format {
        pub use crate::format::anchor::{seal_record, META_BYTES_MAX};
        pub use crate::format::journal::{
            entries_per_page, seal_page, Entry, Page, PAGE_HEADER_BYTES as JOURNAL_HEADER_BYTES,
        };
        pub use crate::format::{reseal, ENTRY_BYTES};
    }
}
