//! The `corrupt` campaign through the subject seam ([`crate::subject`]):
//! one fault ([`Fault`]) placed on one programmed page at a time, on any
//! subject, at quiescent points of its workload (right after an
//! operation that made everything durable), then a remount and the whole
//! state read back.
//!
//! Owns [`SubjectCorruptSummary`] and these promises: every placement
//! ends **kept** (the durable state served whole), **named** (the mount
//! or a read refused with an error: the loss said) or **silent** (the
//! store mounted and served another state without a word); a campaign's
//! figures depend only on its arguments; every loop is bounded by the
//! points asked, the device's pages and [`Fault::ALL`].

use std::collections::BTreeMap;

use logstore::{Flash, PageAddr};
use rayon::prelude::*;

use super::fault::{place, Fault};
use crate::nand::SimFlash;
use crate::subject::{History, Refused, Subject, SubjectConfig};

/// Most quiescent points a campaign may ask for.
pub const POINTS_MAX: u32 = 64;
/// Silent placements described in a summary.
const SILENT_SHOWN_MAX: usize = 10;

/// How placements ended, in all and by fault.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SubjectCorruptSummary {
    pub subject: &'static str,
    /// Quiescent points the faults were placed at.
    pub points: u32,
    pub placements: u64,
    pub kept: u64,
    pub named: u64,
    /// Of the named, those where the store did not mount at all.
    pub not_mounted: u64,
    pub silent: u64,
    /// Placements by fault kind: kept, named, silent.
    pub by_fault: BTreeMap<String, [u64; 3]>,
    /// The first silent placements, each with what was served.
    pub silent_shown: Vec<String>,
    /// Why the workload stopped early, if it did.
    pub stopped: Option<String>,
    pub seconds: f64,
}

/// What one placement did.
enum Outcome {
    Kept,
    Named { mounted: bool },
    Silent(String),
}

/// Runs the workload of `config` on `S`, and at `points` quiescent points
/// spread over it places each fault on each programmed page in turn (each
/// on a copy), remounts and reads back.
pub fn corrupt_subject<S>(
    config: &SubjectConfig,
    options: &S::Options,
    points: u32,
) -> Result<SubjectCorruptSummary, String>
where
    S: Subject + Sync,
    S::State: Sync,
{
    if points == 0 || points > POINTS_MAX {
        return Err(format!("--points (--flushes) {points}: 1 to {POINTS_MAX}"));
    }
    let start = std::time::Instant::now();
    let ops = S::workload(config.seed, config.ops);
    let mut summary = SubjectCorruptSummary {
        subject: S::NAME,
        ..SubjectCorruptSummary::default()
    };
    let mut subject = match S::format(config, options) {
        Ok(subject) => subject,
        Err(Refused::Unformattable(why)) => {
            summary.stopped = Some(why);
            return Ok(summary);
        }
        Err(Refused::Config(why)) => return Err(why),
    };
    let mut history = History::<S>::default();
    let mut previous = subject.flash().clone();
    let mut next_point = 1;
    for (step, op) in ops.iter().enumerate() {
        if let Err(error) = subject.apply(op, history.latest()) {
            summary.stopped = Some(format!("{} failed step {step}: {error}", S::NAME));
            break;
        }
        history.acknowledge(op);
        let due = (step + 1) * points as usize >= next_point * ops.len();
        if due && S::durable(op) && next_point <= points as usize {
            summary.points += 1;
            let at = format!("point {} (after step {step})", summary.points);
            place_all(&subject, &previous, history.latest(), &at, &mut summary);
            previous = subject.flash().clone();
            next_point += 1;
        }
    }
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Every fault on every programmed page of `subject`'s device, each on a
/// copy, judged against `durable`.
fn place_all<S>(
    subject: &S,
    previous: &SimFlash,
    durable: &S::State,
    at: &str,
    summary: &mut SubjectCorruptSummary,
) where
    S: Subject + Sync,
    S::State: Sync,
{
    let pages = programmed_pages(subject.flash());
    let placements: Vec<(PageAddr, Fault)> = pages
        .iter()
        .flat_map(|&page| Fault::ALL.map(|fault| (page, fault)))
        .collect();
    let outcomes: Vec<(Fault, PageAddr, Outcome)> = placements
        .par_iter()
        .filter_map(|&(page, fault)| {
            let mut copy = subject.clone();
            place(copy.flash_mut(), previous, &pages, page, fault)?;
            Some((fault, page, judge(&mut copy, durable)))
        })
        .collect();
    for (fault, page, outcome) in outcomes {
        summary.placements += 1;
        let counts = summary.by_fault.entry(format!("{fault:?}")).or_default();
        match outcome {
            Outcome::Kept => {
                summary.kept += 1;
                counts[0] += 1;
            }
            Outcome::Named { mounted } => {
                summary.named += 1;
                summary.not_mounted += u64::from(!mounted);
                counts[1] += 1;
            }
            Outcome::Silent(what) => {
                summary.silent += 1;
                counts[2] += 1;
                if summary.silent_shown.len() < SILENT_SHOWN_MAX {
                    summary
                        .silent_shown
                        .push(format!("{fault:?} at {page:?}, {at}: {what}"));
                }
            }
        }
    }
}

/// Remounts `copy` and reads it back against `durable`.
fn judge<S: Subject>(copy: &mut S, durable: &S::State) -> Outcome {
    if copy.mount().is_err() {
        return Outcome::Named { mounted: false };
    }
    match copy.read_back() {
        Err(_) => Outcome::Named { mounted: true },
        Ok(state) if state == *durable => Outcome::Kept,
        Ok(state) => Outcome::Silent(S::difference(&state, std::slice::from_ref(durable))),
    }
}

/// The device's pages that hold anything but the erased value.
fn programmed_pages(flash: &SimFlash) -> Vec<PageAddr> {
    let g = flash.geometry();
    (0..g.blocks)
        .flat_map(|block| (0..g.pages_per_block).map(move |page| PageAddr::new(block, page)))
        .filter(|&page| flash.raw_page(page).iter().any(|&b| b != 0xFF))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nand::{CrashMode, Device};
    use crate::subject::index::IndexSubject;

    fn config(device: Option<Device>) -> SubjectConfig {
        SubjectConfig {
            seed: 1,
            ops: 200,
            device,
            mode: CrashMode::DropUnsynced,
            ecc: true,
            fail_ops: false,
            bad_blocks: Vec::new(),
            depth: 1,
            then_crash_at: None,
            then_fail_at: None,
            io_errors: false,
        }
    }

    /// Through the seam, one fault on any page of the index is kept or
    /// named, never silent; the faults bite (some are named).
    #[test]
    fn the_index_through_the_seam_is_never_silent_under_one_fault() {
        for device in [None, Some(Device::Mlc)] {
            let summary = corrupt_subject::<IndexSubject>(&config(device), &(), 3).unwrap();
            assert!(
                summary.points >= 2 && summary.placements > 100,
                "{summary:?}"
            );
            assert_eq!(summary.silent, 0, "{:?}", summary.silent_shown);
            assert!(summary.named > 0, "{summary:?}");
        }
    }

    /// Planted, a journal recovery that takes a damaged page in the middle
    /// of the log for its end drops the flushed entries after it without a
    /// word: the seam's campaign says silent.
    #[test]
    fn a_planted_middle_page_end_is_silent_through_the_seam() {
        use logstore::testing::{plant, Bug};
        // A bug is planted per thread: one worker, planted on it.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let summary = pool.install(|| {
            plant(Some(Bug::MiddlePageIsEnd));
            let summary = corrupt_subject::<IndexSubject>(&config(None), &(), 3);
            plant(None);
            summary
        });
        let summary = summary.unwrap();
        assert!(summary.silent > 0, "{summary:?}");
        assert!(
            summary.silent_shown[0].contains("point"),
            "{:?}",
            summary.silent_shown
        );
    }

    /// Points out of range are refused by name.
    #[test]
    fn points_out_of_range_are_refused() {
        for points in [0, POINTS_MAX + 1] {
            let refused = corrupt_subject::<IndexSubject>(&config(None), &(), points);
            assert!(refused.unwrap_err().contains("--points"));
        }
    }
}
