//! Measurements: what the index costs and how long the flash lasts, as
//! the report shows them. Each file measures one thing, deterministically
//! from its seeds (timings aside), and leaves the layout to [`crate::report`].
//! Uses [`crate::check`] to run stores beside their model and
//! [`crate::campaign`] for case files; nothing below uses it.
//!
//! The wing's files:
//!
//! | file | owns |
//! |---|---|
//! | [`fill`] | fill of a cuckoo table at its first failed insert, against theory |
//! | [`wear`] | a long ingest on a device of limited endurance |
//! | [`wear_swarm`] | drawn wear runs to the end of life, and what they promised |
//! | [`ingest`] | real files cut into clusters, hashed, looked up and inserted |
//! | [`image`] | raw and QCOW2 disk images read as the guest sees them, a cluster at a time |
//! | [`lookups`] | what a lookup costs across frozen incarnations, with filters and without |
//! | [`speed`] | timings of store and table operations |
//! | [`reliability`] | losses and lifetime under bit errors, with the ECC and without |
//! | [`pairing_cost`] | what keeping the journal off paired pages costs |

pub mod campaign_speed;
pub mod fill;
pub mod image;
pub mod ingest;
pub mod lookups;
pub mod pairing_cost;
pub mod reliability;
pub mod speed;
pub mod wear;
pub mod wear_swarm;
