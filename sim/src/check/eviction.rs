//! The runner's eviction tracking: the store's incarnations as last seen,
//! what each change to them must mean (a freeze, an eviction that drops
//! only what the oldest alone held), and a mismatch described.

use super::*;

impl Runner {
    /// Takes `keys` as the incarnations known, reading the contents of the
    /// `added` newest (the rest are known already).
    pub(super) fn learn(&mut self, keys: Vec<LayerKey>, added: usize) -> Checked<()> {
        let kept = self.known.len().min(keys.len() - added);
        let mut known = Vec::with_capacity(keys.len());
        for (index, key) in keys.into_iter().enumerate() {
            let layer = if index < added {
                let read = self
                    .layers
                    .layer(self.store.as_mut().expect("open"), index, &key);
                self.read(read)?
            } else {
                Arc::clone(&self.known[index - added].1)
            };
            known.push((key, layer));
        }
        assert!(known.len() == added + kept);
        // The merged view of the new list, derived from the old one's, so
        // every check of this list (and every branch of it) finds it ready.
        let keys: Vec<LayerKey> = known.iter().map(|(k, _)| k.clone()).collect();
        let store = self.store.as_mut().expect("open");
        let merged = self.layers.merged_after(store, &keys, &self.known);
        self.read(merged)?;
        self.known = known;
        Ok(())
    }

    /// After a step the store acknowledged: a freeze (new incarnations)
    /// made everything before the step durable; an eviction (the oldest
    /// gone) dropped what only they held.
    pub(super) fn observe_layers(&mut self) -> Checked<()> {
        self.observe_layers_after(None)
    }

    /// [`Runner::observe_layers`] after a step that appended `appended`
    /// to the log store (after any eviction it made).
    pub(super) fn observe_layers_after(&mut self, appended: Option<Appended>) -> Checked<()> {
        let keys = Layers::keys(self.store());
        if keys.len() == self.known.len() && keys.iter().zip(&self.known).all(|(a, b)| *a == b.0) {
            return Ok(());
        }
        let (added, dropped) = self.diff_layers(&keys)?;
        if added > 0 {
            self.durable_point();
        }
        if dropped > 0 {
            self.evict(&keys, dropped, appended)?;
        }
        self.learn(keys, added)
    }

    /// What the log store held before an insert or delete of `hash`
    /// (a tombstone if `tombstone`): its size and the freezes so far, read
    /// from RAM, to tell afterwards whether the hash was in it then.
    pub(super) fn appending(&self, hash: Hash, tombstone: bool) -> Appended {
        let stats = self.store().stats();
        Appended {
            hash,
            tombstone,
            log_entries: stats.log_entries,
            freezes: stats.freezes,
        }
    }

    /// How the store's incarnations `now` follow from those known: some
    /// new ones in front (a freeze), some of the oldest gone (an eviction),
    /// the rest in order, each unchanged or rewritten by a scrub (a new key,
    /// the same contents, the same place: its known key is updated).
    /// Anything else is a failure. Returns (added, dropped).
    ///
    /// A kept incarnation keeps its place, so one matched by key fixes how
    /// many are new; with none matched by key, the fewest new that fit are
    /// tried first. Contents are compared only at the place a rewrite would
    /// have: a new incarnation holding what an evicted one held (the same
    /// inserts again) is new, not a rewrite.
    pub(super) fn diff_layers(&mut self, now: &[LayerKey]) -> Checked<(usize, usize)> {
        let position = |key: &LayerKey| self.known.iter().position(|(k, _)| k == key);
        let by_key: Vec<Option<usize>> = now.iter().map(position).collect();
        let fewest = now.len().saturating_sub(self.known.len());
        let tries: Vec<usize> = match by_key
            .iter()
            .enumerate()
            .find_map(|(i, m)| m.map(|j| (i, j)))
        {
            Some((i, j)) => i
                .checked_sub(j)
                .filter(|&a| a >= fewest)
                .into_iter()
                .collect(),
            None => (fewest..=now.len()).collect(),
        };
        for added in tries {
            if let Some(rewritten) = self.aligned(now, &by_key, added)? {
                for i in rewritten {
                    self.known[i - added].0 = now[i].clone();
                }
                return Ok((added, self.known.len() - (now.len() - added)));
            }
        }
        Err(format!(
            "the store's incarnations changed other than by freezing, rewriting and evicting \
             the oldest: generations {:?}, then {:?}",
            self.known.iter().map(|k| k.0 .0).collect::<Vec<_>>(),
            now.iter().map(|k| k.0).collect::<Vec<_>>()
        ))
    }

    /// With the `added` newest of `now` new and the rest the oldest known
    /// in order (`now[added + j]` is known `j`): the places of `now` that
    /// are rewrites, or `None` when some kept place is neither its known
    /// key nor a rewrite of its known contents.
    pub(super) fn aligned(
        &mut self,
        now: &[LayerKey],
        by_key: &[Option<usize>],
        added: usize,
    ) -> Checked<Option<Vec<usize>>> {
        assert!(added <= now.len() && now.len() - added <= self.known.len());
        if by_key[..added].iter().any(Option::is_some) {
            return Ok(None);
        }
        let mut rewritten = Vec::new();
        for (i, key) in now.iter().enumerate().skip(added) {
            let j = i - added;
            match by_key[i] {
                Some(k) if k == j => continue,
                Some(_) => return Ok(None),
                None if by_key.contains(&Some(j)) => return Ok(None),
                None => {}
            }
            let store = self.store.as_mut().expect("open");
            let layer = self.layers.layer(store, i, key);
            if *self.read(layer)? != *self.known[j].1 {
                return Ok(None);
            }
            rewritten.push(i);
        }
        Ok(Some(rewritten))
    }

    /// Applies the eviction of the `dropped` oldest known incarnations to
    /// the model: an entry they held goes unless a newer incarnation (the
    /// store's `keys` now) or the log store as it was at the eviction holds
    /// its hash. That is the log store now but for `appended`, the entry
    /// the step made after evicting. The model must have held exactly what
    /// the store showed for it.
    pub(super) fn evict(
        &mut self,
        keys: &[LayerKey],
        dropped: usize,
        appended: Option<Appended>,
    ) -> Checked<()> {
        let evicted = &self.known[self.known.len() - dropped..];
        let mut gone: crate::check::digest::HashMap<Hash, Value> = Default::default();
        // Oldest first, so a newer evicted incarnation's value wins.
        for (_, layer) in evicted.iter().rev() {
            gone.extend(layer.iter().map(|(h, v)| (*h, *v)));
        }
        let table = self.log_store_at_eviction(keys, appended)?;
        let store = self.store.as_mut().expect("open");
        let merged = self.layers.merged_after(store, keys, &self.known);
        let merged = self.read(merged)?;
        let mut hashes: Vec<Hash> = gone
            .into_iter()
            .filter(|(hash, _)| !merged.map.contains_key(hash) && !table.contains(hash))
            .map(|(hash, value)| {
                let shown = match value {
                    Value::Live(info) => Some(info),
                    Value::Tombstone => None,
                };
                (hash, shown)
            })
            .filter(|(hash, shown)| shown.is_some() || self.model.get(hash).is_some())
            .map(|(hash, shown)| {
                let held = self.model.get(&hash);
                if held == shown {
                    Ok(hash)
                } else {
                    Err(format!(
                        "before the eviction the store showed {shown:?} for a hash the model holds as {held:?}"
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        hashes.sort_unstable();
        self.report.evictions += dropped as u64;
        self.report.entries_evicted += hashes.len() as u64;
        self.model.flush();
        self.model.evict(&hashes);
        Ok(())
    }

    /// The hashes the log store held at the eviction: today's, but for the
    /// step's own entry `appended`, made after it.
    fn log_store_at_eviction(
        &mut self,
        keys: &[LayerKey],
        appended: Option<Appended>,
    ) -> Checked<std::collections::HashSet<Hash>> {
        let store = self.store.as_mut().expect("open");
        // An eviction to make room comes between freezes: the log store's
        // entries shadow the evicted ones as a newer incarnation would.
        let mut table: std::collections::HashSet<Hash> = store
            .log_contents()
            .map_err(|e| format!("reading the log store: {e}"))?
            .into_iter()
            .map(|(hash, _)| hash)
            .collect();
        // The step's own entry came after the eviction (every eviction
        // precedes the append) and is not in the model yet: its hash
        // shadowed the evicted one only if the log store held it before the
        // step, unfrozen (a freeze moved what it held to a newer
        // incarnation). The table's size tells: an entry replaced keeps
        // it, one added grows it; a tombstone with no incarnation left
        // removes the hash instead, shrinking it if it was there.
        if let Some(own) = appended {
            let stats = store.stats();
            let removing = own.tombstone && keys.is_empty();
            let held_before = stats.freezes == own.freezes
                && if removing {
                    stats.log_entries < own.log_entries
                } else {
                    stats.log_entries == own.log_entries
                };
            table.remove(&own.hash);
            if held_before {
                table.insert(own.hash);
            }
        }
        Ok(table)
    }

    /// A failure message for a store that matches no state of the model:
    /// sizes, and the first hash it differs on from the latest state.
    pub(super) fn mismatch(&mut self, when: &str) -> String {
        let contents = match self.store_mut().contents() {
            Ok(contents) => contents,
            Err(e) => return format!("after {when}: reading the store back: {e}"),
        };
        let states = self.model.prefix_states();
        let latest = states.last().cloned().unwrap_or_default();
        let stored: std::collections::BTreeMap<Hash, logstore::Info> =
            contents.into_iter().collect();
        let durable = states.first().cloned().unwrap_or_default();
        self.losses = classify(&stored, &durable, &latest);
        let first = stored
            .iter()
            .find(|(h, i)| latest.get(*h) != Some(i))
            .map(|(h, i)| format!("holds {i:?} for {} (model {:?})", hex(h), latest.get(h)))
            .or_else(|| {
                latest
                    .iter()
                    .find(|(h, _)| !stored.contains_key(*h))
                    .map(|(h, i)| format!("lacks {} (model {i:?})", hex(h)))
            })
            .unwrap_or_else(|| "holds the latest state, yet the digests differ".into());
        format!(
            "after {when}: the store's {} entries are no state of the model's last {} changes \
             ({} at the latest, {} at the durable point; {:?}); the store {first}",
            stored.len(),
            states.len() - 1,
            latest.len(),
            durable.len(),
            self.losses
        )
    }
}
