//! The reference: a `BTreeMap` of what the store should hold, the history of
//! acknowledged operations since the last crash, and how much of it a flush
//! made durable.
//!
//! Promises the prefix rule of DESIGN.md: after a crash the store must equal
//! the state after some prefix of the history at least as long as the
//! flushed one; [`Model::match_prefix`] finds it, [`Model::crash_to`] moves
//! the model there.

use std::collections::BTreeMap;

use logstore::{Hash, Info};

/// An acknowledged mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    Insert(Hash, Info),
    Delete(Hash),
}

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// The state before `history`.
    base: BTreeMap<Hash, Info>,
    history: Vec<Op>,
    /// Length of the history prefix the last successful flush covered.
    flushed: usize,
    /// The state after all of `history`.
    current: BTreeMap<Hash, Info>,
}

fn apply_to(map: &mut BTreeMap<Hash, Info>, op: &Op) {
    match op {
        Op::Insert(hash, info) => {
            map.insert(*hash, *info);
        }
        Op::Delete(hash) => {
            map.remove(hash);
        }
    }
}

impl Model {
    pub fn new() -> Self {
        Model::default()
    }

    /// Records an operation the store acknowledged.
    pub fn apply(&mut self, op: Op) {
        apply_to(&mut self.current, &op);
        self.history.push(op);
    }

    /// Records a successful flush.
    pub fn flush(&mut self) {
        self.flushed = self.history.len();
    }

    pub fn get(&self, hash: &Hash) -> Option<Info> {
        self.current.get(hash).copied()
    }

    pub fn current(&self) -> &BTreeMap<Hash, Info> {
        &self.current
    }

    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    pub fn flushed_len(&self) -> usize {
        self.flushed
    }

    /// The longest prefix length `k`, flushed ≤ k ≤ history length, whose
    /// state equals `contents`; `None` if there is none (a bug).
    pub fn match_prefix(&self, contents: &BTreeMap<Hash, Info>) -> Option<usize> {
        let mut state = self.base.clone();
        for op in &self.history[..self.flushed] {
            apply_to(&mut state, op);
        }
        let mut found = (state == *contents).then_some(self.flushed);
        for (k, op) in self.history.iter().enumerate().skip(self.flushed) {
            apply_to(&mut state, op);
            if state == *contents {
                found = Some(k + 1);
            }
        }
        found
    }

    /// After a power cycle that kept the first `k` operations: whatever
    /// survived a power loss is on the media, so they become the durable
    /// base and the history starts again.
    pub fn crash_to(&mut self, k: usize) {
        assert!(k >= self.flushed && k <= self.history.len());
        self.history.truncate(k);
        self.flushed = k;
        self.fold_flushed();
    }

    /// After a reopen without power loss that showed the first `k`
    /// operations: the rest are gone, but only the flushed ones are durable
    /// (the device's write cache may still drop the others).
    pub fn reopen_to(&mut self, k: usize) {
        assert!(k >= self.flushed && k <= self.history.len());
        self.history.truncate(k);
        self.fold_flushed();
    }

    /// Moves the flushed prefix into the base, bounding the history.
    fn fold_flushed(&mut self) {
        for op in self.history.drain(..self.flushed) {
            apply_to(&mut self.base, &op);
        }
        self.flushed = 0;
        self.current = self.base.clone();
        for op in &self.history {
            apply_to(&mut self.current, op);
        }
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

    #[test]
    fn prefix_rule() {
        let mut model = Model::new();
        model.apply(Op::Insert([1; 32], info(1)));
        model.flush();
        model.apply(Op::Insert([2; 32], info(2)));
        model.apply(Op::Delete([1; 32]));
        let only_first: BTreeMap<_, _> = [([1; 32], info(1))].into();
        assert_eq!(model.match_prefix(&only_first), Some(1));
        assert_eq!(
            model.match_prefix(&BTreeMap::new()),
            None,
            "the flushed insert is lost"
        );
        let last: BTreeMap<_, _> = [([2; 32], info(2))].into();
        assert_eq!(model.match_prefix(&last), Some(3));
        let both: BTreeMap<_, _> = [([1; 32], info(1)), ([2; 32], info(2))].into();
        assert_eq!(model.match_prefix(&both), Some(2));
        let mut reopened = model.clone();
        reopened.reopen_to(2);
        assert_eq!(reopened.current(), &both);
        reopened.apply(Op::Insert([3; 32], info(3)));
        assert_eq!(
            reopened.match_prefix(&only_first),
            Some(0),
            "a reopen made the unflushed insert durable"
        );
        assert_eq!(reopened.match_prefix(&BTreeMap::new()), None);
        model.crash_to(3);
        assert_eq!(model.current(), &last);
        assert_eq!(model.match_prefix(&last), Some(0));
        assert_eq!(
            model.match_prefix(&only_first),
            None,
            "a crash makes what survived durable"
        );
    }
}
