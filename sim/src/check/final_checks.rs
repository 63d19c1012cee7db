//! The runner's final checks: a last flush with any armed cut, a reopen,
//! and the store against the model, by digest and entry by entry.

use super::*;

impl Runner {
    /// Flushes with any armed cut still armed, reopens, and checks the
    /// store against the model: by digest, and with `full` also entry by
    /// entry (reading every incarnation). Cuts no operation reached by then
    /// are counted and withdrawn.
    pub fn finish(&mut self, full: bool) -> Checked<CheckReport> {
        if self.reported_loss.is_none() {
            match self.final_checks(full) {
                Err(message) if self.reported_loss.is_none() => return Err(message),
                Err(_) => {}
                Ok(()) => return Ok(self.report),
            }
        }
        // A loss the store named, beyond the ECC: nothing more to check.
        self.absorb_stats();
        self.report.crashes_not_reached += self.flash_mut().cancel_power_cuts() as u64;
        self.check_rules()?;
        Ok(self.report)
    }

    pub(super) fn final_checks(&mut self, full: bool) -> Checked<()> {
        if self.report.read_only_at.is_some() {
            // No flush can be made: lose power, recover, compare.
            self.audit()?;
            self.report.crashes_not_reached = self.flash_mut().cancel_power_cuts() as u64;
            self.report.mutating_ops = self.flash().ops_mutating();
            return self.check_rules();
        }
        if let Err(why) = self.final_flush()? {
            // The final flush found the device worn out: the flush was
            // refused, so the audit decides, as for a store read-only before.
            self.end_of_life_promise(&why)?;
            self.report.read_only_at.get_or_insert(self.report.steps);
            self.read_only_why.get_or_insert(why.to_string());
            return self.final_checks(full);
        }
        self.observe_layers()?;
        self.durable_point();
        self.bad_durable = self.store().bad_blocks();
        self.report.ops_at_final_flush = self.flash().ops_mutating();
        let stats = self.store().stats();
        self.report.freezes += stats.freezes;
        self.report.packs += stats.packs;
        self.reopen(false)?;
        self.absorb_stats();
        if full {
            self.compare_whole()?;
        }
        self.report.crashes_not_reached = self.flash_mut().cancel_power_cuts() as u64;
        self.report.mutating_ops = self.flash().ops_mutating();
        self.check_rules()
    }

    /// Flushes at the end of the workload. A power cut still armed may fire
    /// inside it (a cut during the final flush), and so may the next one
    /// after the recovery: each failed attempt fired an armed cut, a fault
    /// scheduled ahead (a host I/O error, a failing program or erase), or
    /// met a failing block, so those and [`OPEN_ATTEMPTS_MAX`] bound them.
    /// `Ok(Err(why))`: the store turned read-only (worn out) instead.
    pub(super) fn final_flush(&mut self) -> Checked<Result<(), logstore::WornOut>> {
        let flash = self.flash();
        let ahead = flash.armed_cuts() + flash.scheduled_faults_ahead();
        let attempts_max = ahead as u32 + OPEN_ATTEMPTS_MAX;
        for _ in 0..attempts_max {
            match self.store_mut().flush() {
                Ok(()) => return Ok(Ok(())),
                Err(StoreError::ReadOnly(why)) => return Ok(Err(why)),
                Err(error) if is_device_failure(&error) => self.recover()?,
                Err(error) => return Err(self.store_failed(error, "final flush")),
            }
        }
        Err(format!(
            "final flush: a device failure on each of {attempts_max} attempts"
        ))
    }

    /// A store operation the check made that failed: see [`Runner::read`].
    pub(super) fn store_failed(&mut self, error: StoreError, what: &str) -> String {
        self.read::<()>(Err(ReadError {
            what: what.to_string(),
            error,
        }))
        .expect_err("an error stays one")
    }

    /// Every entry of the store against the model's current state.
    pub(super) fn compare_whole(&mut self) -> Checked<()> {
        let contents = match self.store_mut().contents() {
            Ok(contents) => contents,
            Err(error) => return Err(self.store_failed(error, "the store")),
        };
        let contents: std::collections::BTreeMap<_, _> = contents.into_iter().collect();
        let model = self.model.current();
        if contents != model {
            self.losses = classify(&contents, &model, &model);
            return Err(format!(
                "after a reopen the store holds {} entries, the model {} ({:?})",
                contents.len(),
                model.len(),
                self.losses
            ));
        }
        Ok(())
    }
}
