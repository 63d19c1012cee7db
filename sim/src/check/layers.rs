//! The store's layers as the checker sees them: each incarnation's contents,
//! read from flash once and cached under a key naming exactly those bytes
//! (its generation and its blocks' stamps, unique in the process), and the
//! merged view of a list of incarnations with its digest.
//!
//! Promises: the digest of a store (`Layers::store_digest`) costs a read
//! of its log store plus, for a list of incarnations never seen before, one
//! merge; so checking a crash point does not grow with the store's size.
//! The cache is shared by every snapshot of a run (and every branch of a
//! campaign) and bounded; a key can only ever name one content, so sharing
//! is safe.

use std::sync::{Arc, Mutex};

use logstore::{Hash, Store, StoreError, Value};

use crate::check::digest::{Digest, HashMap};
use crate::nand::SimFlash;

/// An incarnation's identity: its generation and each block with its stamp.
pub(crate) type LayerKey = (u64, Vec<(u32, u64)>);

/// One incarnation's contents, tombstones included.
pub(crate) type Layer = HashMap<Hash, Value>;

/// The merged view of a list of incarnations: each hash's value in the
/// newest one holding it (and that one's generation), and the digest of
/// the live ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Merged {
    pub map: HashMap<Hash, (Value, u64)>,
    pub digest: Digest,
}

/// A read of the store that failed: what was read, and the store's error.
#[derive(Debug)]
pub(crate) struct ReadError {
    pub what: String,
    pub error: StoreError,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reading {} back: {}", self.what, self.error)
    }
}

/// Most incarnation contents kept; past it the cache starts afresh.
const LAYERS_MAX: usize = 2_048;
/// Most merged views kept.
const MERGED_MAX: usize = 16;

#[derive(Debug, Default)]
struct Cache {
    layers: HashMap<LayerKey, Arc<Layer>>,
    merged: HashMap<Vec<LayerKey>, Arc<Merged>>,
}

/// The shared cache. `Clone` shares it.
#[derive(Clone, Debug, Default)]
pub struct Layers(Arc<Mutex<Cache>>);

fn live(value: Option<&Value>) -> Option<logstore::Info> {
    match value {
        Some(Value::Live(info)) => Some(*info),
        _ => None,
    }
}

impl Layers {
    /// The store's incarnations as keys, newest first.
    pub fn keys(store: &Store<SimFlash>) -> Vec<LayerKey> {
        let flash = store.flash();
        store
            .incarnation_regions()
            .into_iter()
            .map(|region| {
                let blocks = region
                    .blocks
                    .iter()
                    .map(|&b| (b.0, flash.block_stamp(b)))
                    .collect();
                (region.generation, blocks)
            })
            .collect()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The contents of the store's `index`-th incarnation, whose key is
    /// `key`: from the cache, or read from flash once.
    pub(crate) fn layer(
        &self,
        store: &mut Store<SimFlash>,
        index: usize,
        key: &LayerKey,
    ) -> Result<Arc<Layer>, ReadError> {
        if let Some(layer) = self.cache().layers.get(key) {
            return Ok(Arc::clone(layer));
        }
        let contents = store
            .incarnation_contents(index)
            .map_err(|error| ReadError {
                what: format!("incarnation {}", key.0),
                error,
            })?;
        let layer: Arc<Layer> = Arc::new(contents.into_iter().collect());
        let mut cache = self.cache();
        if cache.layers.len() >= LAYERS_MAX {
            cache.layers.clear();
        }
        cache.layers.insert(key.clone(), Arc::clone(&layer));
        Ok(layer)
    }

    /// The merged view of the store's incarnations, whose keys are `keys`.
    pub(crate) fn merged(
        &self,
        store: &mut Store<SimFlash>,
        keys: &[LayerKey],
    ) -> Result<Arc<Merged>, ReadError> {
        self.merged_after(store, keys, &[])
    }

    /// As [`Layers::merged`], knowing the incarnations the store had before
    /// (with their contents): when the new list is the old one with some
    /// newer in front and some of the oldest gone, the view is derived from
    /// the old one's instead of merging every incarnation again.
    pub(crate) fn merged_after(
        &self,
        store: &mut Store<SimFlash>,
        keys: &[LayerKey],
        previous: &[(LayerKey, Arc<Layer>)],
    ) -> Result<Arc<Merged>, ReadError> {
        if let Some(merged) = self.cache().merged.get(keys) {
            return Ok(Arc::clone(merged));
        }
        let added = keys
            .iter()
            .take_while(|k| !previous.iter().any(|(p, _)| p == *k))
            .count();
        let kept = &keys[added..];
        let follows =
            previous.len() >= kept.len() && previous.iter().zip(kept).all(|((p, _), k)| p == k);
        let previous_keys: Vec<LayerKey> = previous.iter().map(|(k, _)| k.clone()).collect();
        let parent = follows
            .then(|| self.cache().merged.get(&previous_keys).cloned())
            .flatten();
        let (mut merged, fresh) = match parent {
            Some(parent) => {
                let mut merged = Merged::clone(&parent);
                for (key, layer) in &previous[kept.len()..] {
                    remove_layer(&mut merged, layer, key.0);
                }
                (merged, added)
            }
            None => (Merged::default(), keys.len()),
        };
        for (index, key) in keys.iter().enumerate().take(fresh).rev() {
            let layer = self.layer(store, index, key)?;
            overlay(&mut merged, &layer, key.0);
        }
        let merged = Arc::new(merged);
        let mut cache = self.cache();
        if cache.merged.len() >= MERGED_MAX {
            cache.merged.clear();
        }
        cache.merged.insert(keys.to_vec(), Arc::clone(&merged));
        Ok(merged)
    }

    /// The digest of everything the store holds: its incarnations merged,
    /// then its log store over them.
    pub(crate) fn store_digest(&self, store: &mut Store<SimFlash>) -> Result<Digest, ReadError> {
        let keys = Layers::keys(store);
        let merged = self.merged(store, &keys)?;
        let log = store.log_contents().map_err(|error| ReadError {
            what: "the log store".into(),
            error,
        })?;
        let mut digest = merged.digest;
        for (hash, value) in &log {
            let under = merged.map.get(hash).map(|(v, _)| v);
            digest.replace(hash, live(under), live(Some(value)));
        }
        Ok(digest)
    }
}

/// Lays `layer` (of generation `generation`) over `merged`: it is newer
/// than everything merged so far.
fn overlay(merged: &mut Merged, layer: &Layer, generation: u64) {
    for (hash, value) in layer {
        let before = merged.map.insert(*hash, (*value, generation));
        merged.digest.replace(
            hash,
            live(before.as_ref().map(|(v, _)| v)),
            live(Some(value)),
        );
    }
}

/// Takes the oldest `layer` (of generation `generation`) out of `merged`:
/// a hash whose value came from it goes (nothing older is merged).
fn remove_layer(merged: &mut Merged, layer: &Layer, generation: u64) {
    for hash in layer.keys() {
        if let Some(&(value, source)) = merged.map.get(hash) {
            if source == generation {
                merged.map.remove(hash);
                merged.digest.replace(hash, live(Some(&value)), None);
            }
        }
    }
}
