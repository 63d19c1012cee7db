//! Opening a store: the log recovered, each incarnation opened and its
//! filter loaded or rebuilt, the journal replayed into the table; a named
//! loss, or with salvage the rest served and the loss marked.

use crate::ecc::Media;
use crate::flash::Flash;
use crate::format::journal::Entry;
use crate::hashstore::Incarnation;
use crate::journal::RecoveryReport;
use crate::ledger::Ledger;
use crate::logtable::{ApplyError, LogTable};

use super::*;

impl<F: Flash> Store<F> {
    /// Opens a store after a clean stop or a crash: the anchor's
    /// configuration and incarnations, then the table rebuilt from the
    /// journal. Returns the journal's recovery report too. Durable journal
    /// pages found unreadable are never dropped silently: that is
    /// [`StoreError::DataLoss`] (see [`Store::open_salvaging`]).
    pub fn open(flash: F) -> Result<(Self, RecoveryReport), StoreError> {
        Store::open_returning(flash).map_err(|(error, _)| error)
    }

    /// As [`Store::open`], but a failure gives the device back with the
    /// error: power lost while a recovery writes (a rebuild that freezes),
    /// say, can be power-cycled and opened again.
    pub fn open_returning(flash: F) -> Result<(Self, RecoveryReport), (StoreError, F)> {
        Store::open_with(flash, false)
    }

    /// Opens a store whose journal lost durable pages: keeps every entry
    /// still readable, rewrites the journal without the hole, and returns
    /// the report naming what was lost. On a store that lost nothing it is
    /// [`Store::open`].
    ///
    /// Every answer a lost page may have changed is
    /// [`StoreError::Unknown`] from then on (see `salvage.rs`).
    pub fn open_salvaging(flash: F) -> Result<(Self, RecoveryReport), StoreError> {
        Store::open_salvaging_returning(flash).map_err(|(error, _)| error)
    }

    /// As [`Store::open_salvaging`], but a failure gives the device back
    /// with the error (a power cut mid-salvage, say, to power-cycle and
    /// open again: the salvage finishes then).
    pub fn open_salvaging_returning(flash: F) -> Result<(Self, RecoveryReport), (StoreError, F)> {
        Store::open_with(flash, true)
    }

    pub(super) fn open_with(
        flash: F,
        salvage: bool,
    ) -> Result<(Self, RecoveryReport), (StoreError, F)> {
        let media = match Media::new(flash) {
            Ok(media) => media,
            Err((error, flash)) => return Err((StoreError::Flash(error), flash)),
        };
        let (log, entries, report) = match Ledger::open_returning(media) {
            Ok(opened) => opened,
            Err((error, flash)) => return Err((error.into(), flash.into_inner())),
        };
        if report.lost_data() && !salvage {
            let error = StoreError::DataLoss(Box::new(report));
            return Err((error, log.into_flash().into_inner()));
        }
        let (config, table, incarnations) = match Store::assemble_opened(&log) {
            Ok(parts) => parts,
            Err(error) => return Err((error, log.into_flash().into_inner())),
        };
        let positions = log.journal().recovered_positions().to_vec();
        let salvaging = Store::salvage_pending(&log, report.lost_data());
        let mut store = Store::assemble(log, config, table, incarnations);
        if salvaging {
            store.begin_salvage();
        }
        let mut report = report;
        let loaded = store
            .load_filters()
            .and_then(|rebuilt| {
                report.filters_rebuilt = rebuilt;
                store.rebuild(entries, positions)
            })
            .and_then(|()| match salvaging {
                true => store.finish_salvage(),
                false => Ok(()),
            });
        let committed = loaded.and_then(|()| {
            store.read_only = store.worn_out();
            match store.read_only {
                Some(_) => Ok(()),
                None => {
                    // What the open read near the ECC's limit is moved now,
                    // before the store serves it: a store reopened again
                    // and again without a write must not age unrefreshed.
                    // A device found worn out on the way opens read-only.
                    let wrote = store
                        .ledger
                        .commit_tail()
                        .map_err(StoreError::from)
                        .and_then(|()| store.maintain().map(|_| ()));
                    // Short of blocks to move it, the store opens all the
                    // same: the next write tries again.
                    match store.worn_out_on(wrote) {
                        Err(StoreError::ReadOnly(_) | StoreError::Full(_)) => Ok(()),
                        other => other,
                    }
                }
            }
        });
        match committed {
            Ok(()) => Ok((store, report)),
            Err(error) => Err((error, store.into_flash())),
        }
    }

    /// The configuration, an empty table and the incarnations the anchor
    /// names; no flash I/O.
    pub(super) fn assemble_opened(
        log: &Ledger<Media<F>>,
    ) -> Result<(StoreConfig, LogTable, Vec<Incarnation>), StoreError> {
        let config = StoreConfig::decode(&log.record().config).map_err(StoreError::ConfigDecode)?;
        let geometry = log.flash().geometry();
        // All that create checked (a record that says otherwise was not
        // written by a store on this device).
        config.check(geometry)?;
        let incarnations = log
            .record()
            .incarnations
            .iter()
            .map(|region| Incarnation::open(region.clone(), geometry))
            .collect::<Result<Vec<_>, _>>()?;
        let table = LogTable::new(
            config.layout,
            config.cuckoo(),
            log.journal().position_bits(),
        )
        .expect("checked with the config");
        Ok((config, table, incarnations))
    }

    /// Loads every incarnation's filter, building again those that are
    /// missing or damaged; returns how many were.
    pub(super) fn load_filters(&mut self) -> Result<u32, StoreError> {
        let mut rebuilt = 0;
        for incarnation in &mut self.incarnations {
            let load = incarnation.load_filter(self.ledger.flash_mut())?;
            rebuilt += u32::from(load != crate::hashstore::FilterLoad::Loaded);
        }
        Ok(rebuilt)
    }

    /// Replays the journal into the table. Should an order of inserts the
    /// table cannot hold come up, the part replayed is frozen and the rest
    /// carried into a new journal (at new positions), then replayed.
    pub(super) fn rebuild(
        &mut self,
        mut entries: Vec<Entry>,
        mut positions: Vec<u64>,
    ) -> Result<(), StoreError> {
        // The entries fitted the table before: a placement exists. When the
        // configured policy misses it, a thorough search replays them all
        // again before anything is frozen (a freeze at open needs blocks a
        // device short of them may not have, and may pass the limit).
        let mut thorough = false;
        for _ in 0..=entries.len() + 1 {
            match self.replay(&entries, &positions)? {
                None => break,
                Some(_) if !thorough => {
                    thorough = true;
                    self.table.clear();
                    self.table.set_policy(REBUILD_POLICY);
                }
                Some(done) => {
                    self.table.set_policy(self.config.policy);
                    entries.drain(..done);
                    positions = self.freeze(&entries, true)?;
                }
            }
        }
        self.table.set_policy(self.config.policy);
        Ok(())
    }

    /// Applies entries to the table; `Some(n)` if entry `n` did not fit.
    pub(super) fn replay(
        &mut self,
        entries: &[Entry],
        positions: &[u64],
    ) -> Result<Option<usize>, StoreError> {
        assert_eq!(entries.len(), positions.len());
        let remove = self.incarnations.is_empty();
        for (index, (entry, &position)) in entries.iter().zip(positions).enumerate() {
            match self.table.apply(&mut self.ledger, entry, position, remove) {
                Ok(()) => {}
                Err(ApplyError::Full) => return Ok(Some(index)),
                Err(ApplyError::Cuckoo(e)) => return Err(e.into()),
                Err(ApplyError::Ledger(e)) => return Err(e.into()),
            }
        }
        Ok(None)
    }
}
