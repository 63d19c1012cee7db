//! logstore: a flash-resident deduplication index.
//!
//! The log store (an in-RAM bucketed cuckoo hash table of content hashes) and
//! its journal (an append-only log on flash), frozen into on-flash hash store
//! incarnations when full. All I/O goes through the [`flash::Flash`] trait, so
//! the index runs on a simulator or on a plain file ([`FileFlash`]) alike.
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
