//! The runner's stepping: one step of a workload on the store and the
//! model, retried once after a device failure, and the promises checked
//! as each step ends (end of life, `Full`, the device's rules).

use super::*;

impl Runner {
    /// Runs one step; a device failure is recovered from and checked, then
    /// the step is tried once more, as a client retries what failed.
    pub fn step(&mut self, step: &Step) -> Checked<()> {
        self.report.steps += 1;
        if self.reported_loss.is_some() {
            if matches!(step, Step::CutPower { .. }) {
                self.report.crashes_scheduled += 1;
                self.report.crashes_not_reached += 1;
            }
            return Ok(());
        }
        let tried = self.attempt(step).and_then(|failed| {
            if failed {
                self.attempt(step)
            } else {
                Ok(false)
            }
        });
        if !matches!(
            step,
            Step::CutPower { .. } | Step::FailOp { .. } | Step::IoError { .. }
        ) {
            if let Some(from) = self.reopen_erases_from.take() {
                let erases = self.flash().counters().erases.saturating_sub(from);
                self.report.erases_per_reopen_max = self.report.erases_per_reopen_max.max(erases);
            }
        }
        match tried {
            // A loss the store named, beyond the ECC: the run ends here.
            Err(_) if self.reported_loss.is_some() => Ok(()),
            Err(message) => Err(message),
            Ok(_) => self.check_rules(),
        }
    }

    /// One try of a step; `Ok(true)` if a device failure interrupted it
    /// (recovered from and checked).
    pub(super) fn attempt(&mut self, step: &Step) -> Checked<bool> {
        if let Some(store) = &self.store {
            self.bad_before_step = store.blocks_free_and_bad().1;
        }
        let result = match *step {
            Step::Insert { key, info } => self.insert(key, info),
            Step::Delete { key } => self.delete(key),
            Step::Get { key } => self.get(key),
            Step::Flush => self.flush(),
            Step::CutPower { after_ops, mode } => {
                self.arm(u64::from(after_ops), mode);
                Ok(())
            }
            Step::FailOp { after_ops } => {
                self.schedule_failure(u64::from(after_ops), ScheduledFault::Fails);
                Ok(())
            }
            Step::IoError { after_ops } => {
                self.schedule_failure(u64::from(after_ops), ScheduledFault::Io);
                Ok(())
            }
            Step::Reopen => self.reopen(false).map_err(Failure::Check),
            Step::Bake { days } => {
                self.flash_mut().bake(u64::from(days) * 86_400_000_000_000);
                Ok(())
            }
            Step::Scrub { pages } => self
                .store_mut()
                .scrub(u64::from(pages))
                .map(|_| ())
                .map_err(Failure::Store),
        };
        if let Some(store) = &self.store {
            self.report.mutating_ops = store.flash().ops_mutating();
        }
        match result {
            Ok(()) => Ok(false),
            Err(Failure::Check(message)) => Err(message),
            Err(Failure::Store(error)) if is_device_failure(&error) => {
                self.recover()?;
                Ok(true)
            }
            Err(Failure::Store(StoreError::ReadOnly(why))) => {
                // Worn out: the write was refused, not acknowledged.
                if self.report.read_only_at.is_none() {
                    self.end_of_life_promise(&why)?;
                }
                self.report.read_only_at.get_or_insert(self.report.steps);
                self.read_only_why.get_or_insert(why.to_string());
                Ok(false)
            }
            Err(Failure::Store(error)) if is_reported_loss(&error) => {
                let beyond = self.flash().counters().reads_beyond_ecc;
                self.accept_loss(beyond, &error).map(|()| false)
            }
            Err(Failure::Store(error)) => {
                self.refused = true;
                Err(format!("{step:?} failed: {error}"))
            }
        }
    }

    /// A store goes read-only for want of spare blocks only when bad blocks
    /// leave fewer free than its spare ([`logstore::BlockBudget::spare`]):
    /// read-only with the spare free is a false end of life.
    pub(super) fn end_of_life_promise(&self, why: &logstore::WornOut) -> Checked<()> {
        let logstore::WornOut::NoSpareBlocks { .. } = why else {
            return Ok(());
        };
        let store = self.store();
        let (free, bad) = store.blocks_free_and_bad();
        let spare = store.block_budget().spare();
        if free < spare {
            return Ok(());
        }
        Err(format!(
            "promise broken: a false end of life: read-only ({why}) with {free} blocks free, a spare of {spare}, {bad} bad"
        ))
    }

    /// `Full` for want of blocks breaks a promise unless blocks failed under
    /// the step's writes: an evicting store evicts to make room, and one
    /// that does not holds its `incarnations_max` incarnations within the
    /// budget `create` accepted (bad blocks that eat into its spare make it
    /// read-only instead).
    pub(super) fn full_promise(&self, why: &logstore::FullReason) -> Checked<()> {
        let logstore::FullReason::Blocks(_) = why else {
            return Ok(());
        };
        let store = self.store();
        let (free, bad) = store.blocks_free_and_bad();
        if bad > self.bad_before_step {
            return Ok(());
        }
        let (config, held) = (store.config(), store.stats().incarnations);
        if config.evict_oldest && held > 0 {
            return Err(format!(
                "promise broken: no eviction: an evicting store answered Full ({why:?}) holding {held} incarnations it could evict ({free} blocks free, {bad} bad)"
            ));
        }
        if !config.evict_oldest && held < config.incarnations_max {
            let needed = store.block_budget().needed();
            return Err(format!(
                "promise broken: out of blocks within the budget: {held} of {} incarnations, {free} blocks free, {bad} bad, the budget counts {needed}",
                config.incarnations_max
            ));
        }
        Ok(())
    }

    /// Fails the run if the device refused any operation as a breach of the
    /// NAND rules: the index must never attempt one.
    pub(super) fn check_rules(&self) -> Checked<()> {
        let violations = self
            .store
            .as_ref()
            .map_or(0, |s| s.flash().counters().violations);
        if violations > 0 {
            return Err(format!(
                "the store broke the NAND rules: {violations} operation(s) refused by the device"
            ));
        }
        Ok(())
    }

    /// A refused write right after another refusal that wrote (a pack, a
    /// freeze), nothing taken in between, must program and erase nothing:
    /// the first did not make room, and doing it again only wears the part.
    /// A refusal under which a block went bad may be retried (the work was
    /// cut short by the device, not found useless); a reopen in between
    /// starts afresh (a recovered journal resumes on a fresh block, so the
    /// room a pack made may be gone).
    fn refusal_wears_nothing(&mut self, before: (u64, usize)) -> Checked<()> {
        let after = (
            self.store().flash().ops_mutating(),
            self.store().bad_blocks().len(),
        );
        let wrote = after.0 > before.0;
        let again = self.last_refusal == Some((before.0, true));
        self.last_refusal = Some((after.0, wrote && after.1 == before.1));
        if again && wrote {
            return Err(format!(
                "wear for nothing: a write refused (Full) right after a refusal that wrote made {} program(s) or erase(s) again",
                after.0 - before.0
            ));
        }
        Ok(())
    }

    pub(super) fn insert(&mut self, key: u64, info: u64) -> Result<(), Failure> {
        let (hash, info) = (hash_of(key), info_of(info));
        let appended = self.appending(hash, false);
        let before = (
            self.store().flash().ops_mutating(),
            self.store().bad_blocks().len(),
        );
        let result = self.store_mut().insert(hash, info);
        match result {
            Ok(()) => {
                self.last_refusal = None;
                self.observe_layers_after(Some(appended))
                    .map_err(Failure::Check)?;
                self.model.apply(Op::Insert(hash, info));
                self.report.acknowledged += 1;
                Ok(())
            }
            Err(StoreError::Full(why)) => {
                self.report.full += 1;
                self.full_promise(&why).map_err(Failure::Check)?;
                self.refusal_wears_nothing(before).map_err(Failure::Check)?;
                self.observe_layers().map_err(Failure::Check)
            }
            Err(error) => Err(Failure::Store(error)),
        }
    }

    pub(super) fn delete(&mut self, key: u64) -> Result<(), Failure> {
        let hash = hash_of(key);
        let expected = self.model.get(&hash).is_some();
        let appended = self.appending(hash, true);
        let before = (
            self.store().flash().ops_mutating(),
            self.store().bad_blocks().len(),
        );
        match self.store_mut().delete(&hash) {
            Ok(existed) if existed != expected => Err(Failure::Check(format!(
                "delete of key {key}: store says it existed: {existed}, model: {expected}"
            ))),
            Ok(existed) => {
                self.last_refusal = None;
                self.observe_layers_after(existed.then_some(appended))
                    .map_err(Failure::Check)?;
                if existed {
                    self.model.apply(Op::Delete(hash));
                    self.report.acknowledged += 1;
                }
                Ok(())
            }
            Err(StoreError::Full(why)) => {
                self.report.full += 1;
                self.full_promise(&why).map_err(Failure::Check)?;
                self.refusal_wears_nothing(before).map_err(Failure::Check)?;
                self.observe_layers().map_err(Failure::Check)
            }
            Err(error) => Err(Failure::Store(error)),
        }
    }

    pub(super) fn flush(&mut self) -> Result<(), Failure> {
        self.store_mut().flush().map_err(Failure::Store)?;
        self.observe_layers().map_err(Failure::Check)?;
        self.durable_point();
        // A flush records the blocks retired before it.
        self.bad_durable = self.store().bad_blocks();
        Ok(())
    }

    /// Everything acknowledged so far is durable: the model's changes and
    /// the journal's entries on flash.
    pub(super) fn durable_point(&mut self) {
        self.model.flush();
        self.journal_durable = self.store().journal_entries();
    }

    pub(super) fn get(&mut self, key: u64) -> Result<(), Failure> {
        let hash = hash_of(key);
        let found = self.store_mut().get(&hash).map_err(Failure::Store)?;
        let expected = self.model.get(&hash);
        if found != expected {
            return Err(Failure::Check(format!(
                "get of key {key}: store {found:?}, model {expected:?}"
            )));
        }
        Ok(())
    }
}
