//! The runner's recovery checks: a reopen (after a power cut or not), the
//! blocks it knows, and the store it rebuilt against the model's prefixes.

use super::*;

impl Runner {
    /// After a device failure: power-cycle if power was lost (what is found
    /// is then durable), else reopen; check the prefix rule either way.
    pub(super) fn recover(&mut self) -> Checked<()> {
        let powered = self.flash().is_powered();
        if powered {
            self.report.device_failures += 1;
        } else {
            self.report.crashes += 1;
        }
        self.reopen(!powered)
    }

    /// Drops the store (losing its RAM) and opens the device again.
    /// Power lost during an open (its recovery may write) is followed by
    /// a power cycle and another open; a failing block by another open.
    pub fn reopen(&mut self, power_cycle: bool) -> Checked<()> {
        let Some(store) = self.store.as_ref() else {
            return Err("the store is not open: an earlier open failed".into());
        };
        let journal = (store.journal_entries(), self.journal_durable);
        let erases = store.flash().counters().erases;
        self.reopen_erases_from.get_or_insert(erases);
        self.absorb_stats();
        let mut flash = self.store.take().expect("store open").into_flash();
        self.last_refusal = None;
        let mut durable = power_cycle;
        if power_cycle {
            flash.bake(self.bake_ns);
            flash.restart();
        } else {
            self.report.reopens += 1;
        }
        // Each armed cut or fault scheduled ahead may fire in one open's
        // recovery; past them, a failing block costs an open.
        let ahead = flash.armed_cuts() + flash.scheduled_faults_ahead();
        let attempts_max = ahead as u32 + OPEN_ATTEMPTS_MAX;
        for _ in 0..attempts_max {
            match Store::open_returning(flash) {
                Ok((store, recovery)) => {
                    self.store = Some(store);
                    if let Err((message, dropped)) = check_journal_kept(journal, durable, &recovery)
                    {
                        // Durable entries dropped with no loss named: silent.
                        self.losses.lost_flushed = dropped;
                        return Err(message);
                    }
                    self.check_blocks()?;
                    return self.check_recovered(durable);
                }
                Err((error, returned)) if is_device_failure(&error) => {
                    flash = returned;
                    if flash.is_powered() {
                        self.report.device_failures += 1;
                    } else {
                        flash.restart();
                        durable = true;
                        self.report.crashes += 1;
                    }
                }
                Err((error @ StoreError::DataLoss(_), mut returned)) => {
                    let accepted = self.accept_loss(returned.counters().reads_beyond_ecc, &error);
                    self.report.crashes_not_reached += returned.cancel_power_cuts() as u64;
                    let kept = returned.clone();
                    if let Err(message) = accepted {
                        self.orphan = Some(kept);
                        return Err(message);
                    }
                    match Store::open_salvaging(returned) {
                        Ok((store, _)) => self.store = Some(store),
                        Err(e) => {
                            self.orphan = Some(kept);
                            return Err(format!("salvaging after {error}: {e}"));
                        }
                    }
                    return Ok(());
                }
                Err((error, returned)) => {
                    self.orphan = Some(returned);
                    return Err(format!("open failed: {error}"));
                }
            }
        }
        self.orphan = Some(flash);
        Err(format!("a device failure on each of {attempts_max} opens"))
    }

    /// Checks the blocks of a store just opened: every block retired as of
    /// the last durable point is still retired, and no usable block's erase
    /// count fell more than one a store dropped with its RAM (plus one)
    /// behind the device's.
    pub(super) fn check_blocks(&mut self) -> Checked<()> {
        let store = self.store();
        let bad = store.bad_blocks();
        if let Some(lost) = self.bad_durable.iter().find(|b| !bad.contains(b)) {
            return Err(format!(
                "block {lost} was retired as bad before the last flush; the reopen forgot it"
            ));
        }
        // A block past its endurance is of no use whatever its count (the
        // store retires it at its first failed program).
        let flash = store.flash();
        let known = store.erase_counts();
        let drift = (0..known.len())
            .filter(|&b| !flash.is_worn_out(logstore::BlockAddr(b as u32)))
            .map(|b| {
                let erased = flash.erase_counts()[b].saturating_sub(self.erases_before[b]);
                u64::from(erased.saturating_sub(known[b]))
            })
            .max()
            .unwrap_or(0);
        self.report.erase_count_drift_max = self.report.erase_count_drift_max.max(drift);
        // Each store dropped with its RAM (a power cut, a reopen, an open
        // or operation failed on the device) may take one erase it had not
        // yet written down (the block's header is what an erase destroys).
        let dropped = self.report.crashes + self.report.reopens + self.report.device_failures;
        let slack = 1 + dropped;
        if drift > slack {
            return Err(format!(
                "a block's erase count fell {drift} behind the device's after {dropped} stores dropped with their RAM (power cuts, reopens, device failures; at most {slack})"
            ));
        }
        Ok(())
    }

    /// Checks a store just opened: its incarnations
    /// against the ones last seen, and its contents (by digest) against the
    /// model's prefixes; then moves the model to the prefix found.
    pub(super) fn check_recovered(&mut self, durable: bool) -> Checked<()> {
        let keys = Layers::keys(self.store());
        let (added, dropped) = self.diff_layers(&keys)?;
        if dropped > 0 {
            // An eviction persisted, so the freeze it was part of did: it
            // wrote the whole table, everything acknowledged is durable.
            self.durable_point();
            self.evict(&keys, dropped, None)?;
            self.learn(keys, added)?;
            let digest = self.layers.store_digest(self.store.as_mut().expect("open"));
            if self.read(digest)? != self.model.digest() {
                return Err(self.mismatch("an eviction that persisted"));
            }
            return Ok(());
        }
        let digest = self.layers.store_digest(self.store.as_mut().expect("open"));
        let digest = self.read(digest)?;
        let Some(k) = self.model.match_digest(digest) else {
            let when = if durable { "a power cut" } else { "a reopen" };
            return Err(self.mismatch(when));
        };
        if durable {
            self.model.crash_to(k);
        } else {
            self.model.reopen_to(k);
        }
        if durable || added > 0 {
            // What survived a power cut is on the media for good; a freeze
            // during recovery wrote what was recovered.
            self.durable_point();
        }
        self.learn(keys, added)
    }
}
