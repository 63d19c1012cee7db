//! The reference: what the store should hold, the changes acknowledged since
//! the last durability point (a flush, a freeze, a crash), and a digest of
//! every prefix of them.
//!
//! Promises the prefix rule of `docs/DESIGN.md`: after a crash the store must equal
//! the state after some prefix of the changes since the last durability
//! point; [`Model::match_digest`] finds it from the store's digest alone, in
//! time proportional to those changes, not to the store's size. Cloning is
//! cheap: the bulk of the state is shared ([`Arc`]) and only a bounded
//! overlay of recent changes is copied.

use std::collections::BTreeMap;
use std::sync::Arc;

use logstore::{Hash, Info};

use crate::check::digest::{Digest, HashMap};

/// An acknowledged mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    Insert(Hash, Info),
    Delete(Hash),
}

impl Op {
    fn hash(&self) -> &Hash {
        match self {
            Op::Insert(hash, _) | Op::Delete(hash) => hash,
        }
    }

    fn after(&self) -> Option<Info> {
        match self {
            Op::Insert(_, info) => Some(*info),
            Op::Delete(_) => None,
        }
    }
}

/// One acknowledged change, undoable.
#[derive(Clone, Copy, Debug)]
struct Change {
    hash: Hash,
    before: Option<Info>,
    /// The digest of the state after this change.
    digest_after: Digest,
}

/// Most overlay entries before they are folded into a new shared base:
/// bounds what a clone copies.
const OVERLAY_MAX: usize = 512;

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// The state as of the last fold, shared between clones.
    base: Arc<HashMap<Hash, Info>>,
    /// Changes since the fold: `None` is a deletion.
    overlay: HashMap<Hash, Option<Info>>,
    /// Digest of the current state.
    digest: Digest,
    /// Changes acknowledged since the last durability point, oldest first.
    unflushed: Vec<Change>,
    /// Digest of the state at the last durability point.
    flushed_digest: Digest,
}

impl Model {
    pub fn new() -> Self {
        Model::default()
    }

    pub fn get(&self, hash: &Hash) -> Option<Info> {
        match self.overlay.get(hash) {
            Some(value) => *value,
            None => self.base.get(hash).copied(),
        }
    }

    fn set(&mut self, hash: Hash, value: Option<Info>) {
        let before = self.get(&hash);
        self.digest.replace(&hash, before, value);
        self.overlay.insert(hash, value);
    }

    /// Records an operation the store acknowledged.
    pub fn apply(&mut self, op: Op) {
        let hash = *op.hash();
        let before = self.get(&hash);
        self.set(hash, op.after());
        self.unflushed.push(Change {
            hash,
            before,
            digest_after: self.digest,
        });
    }

    /// Records a durability point: a successful flush, or a freeze (which
    /// writes the whole table).
    pub fn flush(&mut self) {
        self.unflushed.clear();
        self.flushed_digest = self.digest;
        if self.overlay.len() > OVERLAY_MAX {
            self.fold();
        }
    }

    /// Digest of the current state.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Changes acknowledged since the last durability point.
    pub fn unflushed_len(&self) -> usize {
        self.unflushed.len()
    }

    /// The longest prefix length `k` of the unflushed changes whose state
    /// has digest `digest`; `None` if there is none (a bug).
    pub fn match_digest(&self, digest: Digest) -> Option<usize> {
        let found = (1..=self.unflushed.len())
            .rev()
            .find(|&k| self.unflushed[k - 1].digest_after == digest);
        found.or((self.flushed_digest == digest).then_some(0))
    }

    /// Undoes the unflushed changes past the first `k`.
    fn undo_to(&mut self, k: usize) {
        assert!(k <= self.unflushed.len());
        for change in self.unflushed.drain(k..).rev().collect::<Vec<_>>() {
            self.set(change.hash, change.before);
        }
        assert_eq!(
            self.digest,
            self.unflushed
                .last()
                .map_or(self.flushed_digest, |c| c.digest_after)
        );
    }

    /// After a power cycle that kept the first `k` unflushed changes:
    /// whatever survived a power loss is on the media, so it is durable.
    pub fn crash_to(&mut self, k: usize) {
        self.undo_to(k);
        self.flush();
    }

    /// After a reopen without power loss that showed the first `k` unflushed
    /// changes: the rest are gone, but the kept ones are not durable yet
    /// (the device's write cache may still drop them).
    pub fn reopen_to(&mut self, k: usize) {
        self.undo_to(k);
    }

    /// Forgets `hashes`: the entries an eviction dropped. Only at a
    /// durability point (an eviction is part of a freeze).
    pub fn evict(&mut self, hashes: &[Hash]) {
        assert!(
            self.unflushed.is_empty(),
            "eviction between durability points"
        );
        for hash in hashes {
            self.set(*hash, None);
        }
        self.flushed_digest = self.digest;
    }

    /// Moves the overlay into a new shared base: O(state), done only when
    /// the overlay outgrows [`OVERLAY_MAX`].
    fn fold(&mut self) {
        let mut base = HashMap::clone(&self.base);
        for (hash, value) in self.overlay.drain() {
            match value {
                Some(info) => base.insert(hash, info),
                None => base.remove(&hash),
            };
        }
        self.base = Arc::new(base);
    }

    /// The whole current state, in hash order: O(state), for full checks
    /// and for messages.
    pub fn current(&self) -> BTreeMap<Hash, Info> {
        let mut state: BTreeMap<Hash, Info> = self.base.iter().map(|(h, i)| (*h, *i)).collect();
        for (hash, value) in &self.overlay {
            match value {
                Some(info) => state.insert(*hash, *info),
                None => state.remove(hash),
            };
        }
        state
    }

    /// Every state a crash may leave, as full maps (k = 0 is the durable
    /// one): O(state × changes), for messages after a mismatch only.
    pub fn prefix_states(&self) -> Vec<BTreeMap<Hash, Info>> {
        let mut state = self.current();
        let mut states = vec![state.clone()];
        for change in self.unflushed.iter().rev() {
            match change.before {
                Some(info) => state.insert(change.hash, info),
                None => state.remove(&change.hash),
            };
            states.push(state.clone());
        }
        states.reverse();
        states
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(n: u64) -> Info {
        Info {
            physical_sector: n,
            first_logical_sector: n,
        }
    }

    fn digest_of(entries: &[(Hash, Info)]) -> Digest {
        let mut d = Digest::default();
        for (h, i) in entries {
            d.replace(h, None, Some(*i));
        }
        d
    }

    #[test]
    fn prefix_rule() {
        let mut model = Model::new();
        model.apply(Op::Insert([1; 32], info(1)));
        model.flush();
        model.apply(Op::Insert([2; 32], info(2)));
        model.apply(Op::Delete([1; 32]));
        let only_first = digest_of(&[([1; 32], info(1))]);
        assert_eq!(model.match_digest(only_first), Some(0));
        assert_eq!(
            model.match_digest(Digest::default()),
            None,
            "the flushed insert is lost"
        );
        let last = digest_of(&[([2; 32], info(2))]);
        assert_eq!(model.match_digest(last), Some(2));
        let both = digest_of(&[([1; 32], info(1)), ([2; 32], info(2))]);
        assert_eq!(model.match_digest(both), Some(1));
        let mut reopened = model.clone();
        reopened.reopen_to(1);
        assert_eq!(reopened.digest(), both);
        reopened.apply(Op::Insert([3; 32], info(3)));
        assert_eq!(
            reopened.match_digest(only_first),
            Some(0),
            "a reopen made nothing durable"
        );
        model.crash_to(2);
        assert_eq!(model.digest(), last);
        assert_eq!(model.current().len(), 1);
        assert_eq!(model.match_digest(last), Some(0));
        assert_eq!(
            model.match_digest(only_first),
            None,
            "a crash makes what survived durable"
        );
    }

    #[test]
    fn folding_and_eviction_keep_the_digest() {
        let mut model = Model::new();
        for n in 0..2_000u64 {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&n.to_le_bytes());
            model.apply(Op::Insert(hash, info(n)));
            if n % 7 == 0 {
                model.apply(Op::Delete(hash));
            }
            model.flush();
        }
        let state = model.current();
        let entries: Vec<(Hash, Info)> = state.iter().map(|(h, i)| (*h, *i)).collect();
        assert_eq!(model.digest(), digest_of(&entries));
        let (gone, kept) = entries.split_at(10);
        let gone: Vec<Hash> = gone.iter().map(|(h, _)| *h).collect();
        model.evict(&gone);
        assert_eq!(model.digest(), digest_of(kept));
        assert_eq!(model.get(&gone[0]), None);
        assert_eq!(model.prefix_states().len(), 1);
    }
}
