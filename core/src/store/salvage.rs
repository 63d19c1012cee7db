//! Salvage: opening a store whose journal lost durable pages, and what its
//! lookups may answer from then on.
//!
//! A lost journal page may have held a newer entry for any hash: a later
//! value, a tombstone, a hash stored for the first time. So a salvage
//! freezes all it still has into an incarnation and, in the same anchor
//! commit that drops the hole, marks every region holding entries older
//! than the loss *uncertain* ([`crate::AnchorRecord::uncertain`]).
//!
//! Promises, from then on:
//! - an answer from the log store, or from an incarnation frozen after the
//!   salvage, is as without a loss: those entries are newer than any lost;
//! - an answer from an uncertain incarnation, or an absence while any is
//!   left, is [`StoreError::Unknown`] carrying the best answer known:
//!   never an older value or a deleted hash without an error;
//! - a mark goes with its region: an incarnation evicted takes it along
//!   (whatever the lost page held would have gone with it), a scrubbed copy
//!   inherits it; [`Store::accept_loss`] forgets them all, by the caller's
//!   choice;
//! - a crash mid-salvage leaves the hole (the salvage runs again) or a
//!   journal marked uncertain, which the next open takes for a salvage to
//!   finish.

use super::{live, Store, StoreError};
use crate::ecc::Media;
use crate::flash::Flash;
use crate::ledger::Ledger;
use crate::planted::{self, Bug};
use crate::types::{Info, Value};

impl<F: Flash> Store<F> {
    /// Whether an open must salvage: journal pages were found lost, or a
    /// salvage was cut short (the journal in force is marked uncertain).
    pub(super) fn salvage_pending(log: &Ledger<Media<F>>, lost: bool) -> bool {
        lost || log.uncertain().contains(&log.journal().region().generation)
    }

    /// Marks the journal and every incarnation uncertain from the next
    /// commit on, and every region written until [`Store::finish_salvage`].
    pub(super) fn begin_salvage(&mut self) {
        let journal = self.ledger.journal().region().generation;
        self.ledger.mark_uncertain(journal);
        for incarnation in &self.incarnations {
            self.ledger.mark_uncertain(incarnation.region().generation);
        }
        self.ledger.set_salvaging(true);
    }

    /// Freezes the log store (marked uncertain) with an empty journal
    /// after it: one anchor commit drops the hole and records the marks.
    pub(super) fn finish_salvage(&mut self) -> Result<(), StoreError> {
        let frozen = self.freeze(&[], true);
        self.ledger.set_salvaging(false);
        let positions = frozen?;
        assert!(positions.is_empty(), "a salvage carries nothing");
        let journal = self.ledger.journal().region().generation;
        assert!(!self.ledger.uncertain().contains(&journal));
        assert!(self.uncertain_incarnations() > 0);
        Ok(())
    }

    /// How many incarnations hold entries older than lost journal pages.
    pub fn uncertain_incarnations(&self) -> usize {
        self.incarnations
            .iter()
            .filter(|i| self.ledger.uncertain().contains(&i.region().generation))
            .count()
    }

    /// What a lookup answers for `found` in the incarnation of
    /// `generation` (`None`: found nowhere): the answer itself, or
    /// [`StoreError::Unknown`] where a lost page may have held a newer
    /// entry.
    pub(super) fn answer(&self, found: Option<(Value, u64)>) -> Result<Option<Info>, StoreError> {
        let uncertain = self.ledger.uncertain();
        let sure = match found {
            Some((_, generation)) => !uncertain.contains(&generation),
            None => uncertain.is_empty(),
        };
        let best = found.and_then(|(value, _)| live(value));
        if sure || planted::active(Bug::SalvageAnswersOlder) {
            Ok(best)
        } else {
            Err(StoreError::Unknown { best })
        }
    }

    /// Forgets every uncertain mark (one anchor commit): from then on the
    /// store answers what it holds, as if the lost pages had held nothing
    /// newer. For a caller that has checked or rewritten what it needs.
    /// With nothing uncertain it writes nothing; a read-only store refuses.
    pub fn accept_loss(&mut self) -> Result<(), StoreError> {
        if self.ledger.uncertain().is_empty() {
            return Ok(());
        }
        self.writing(|store| {
            store.ledger.forget_uncertain();
            Ok(store.ledger.recommit()?)
        })
    }
}
