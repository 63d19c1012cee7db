//! Crash campaigns: `sweep` (many seeds, random crash points, modes and
//! faults, in parallel), `exhaustive` (every mutating flash operation of a
//! workload as a crash point, in each mode, branching from snapshots as
//! littlefs's power-loss runner does) and [`Case`] files that replay one
//! run bit for bit.
//!
//! Promises: a campaign's figures depend only on its arguments (timings
//! aside); every failure comes back as a [`Case`] that `replay` runs again.
//!
//! The wing's files:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Case`] files, `run`, `sweep`, `exhaustive` |
//! | [`swarm`] | what each seed draws (device, store, workload) and the swarm sweep |
//! | [`corrupt`] | faults placed on purpose, CORDS-style |
//! | [`corrupt_subject`] | single faults placed on any subject through the seam (littlefs beside the index) |
//! | [`fault`] | the faults placed on a page, and how each is placed |
//! | [`anchor_pairs`] | every pair of anchor lane pages damaged: never a rollback |
//! | [`scenarios`] | seeded scenarios of what real parts do (retention, a page lost mid-log) |
//! | [`fuzzing`] | the bodies of the fuzz targets, shared with `cargo test` |
//! | [`merge`] | the results of a sharded sweep folded into one |

pub mod anchor_pairs;
mod case;
pub mod corrupt;
pub mod corrupt_subject;
pub mod crafted;
mod exhaustive;
pub mod fault;
pub mod fuzzing;
pub mod merge;
pub mod scenarios;
pub mod swarm;
mod sweep;

pub use case::{
    check_ops, replay_command, save_failures, Case, CaseError, CrashPoint, DeviceTime, FailPoint,
    Part, CASE_BYTES_MAX, OPS_MAX, SCRUB_PAGES,
};
pub use exhaustive::{
    exhaustive, exhaustive_case, exhaustive_hits, ExhaustiveSummary, Hit, IO_BURST_MAX,
};
pub use sweep::{shard_seeds, summarize, sweep, SweepSummary};

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta} left)")
        .expect("valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
