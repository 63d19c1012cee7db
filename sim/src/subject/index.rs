//! This index as a [`Subject`]: the store on a preset's small geometry
//! (its own BCH ECC inside), the lifecycle workload (inserts, deletes,
//! lookups, a flush every 1 to 32 steps), and the guarantee the model's
//! prefix rule states: after a cut the store holds the model's state
//! after a prefix of the acknowledged operations that holds every flushed
//! one.
//!
//! Owns the adapter only; what the index promises beyond that (its
//! incarnations, journal, evictions, wear) is [`crate::check::Runner`]'s.

use std::collections::BTreeMap;

use logstore::{Hash, Info, Store, StoreError};

use super::{Refused, Subject, SubjectConfig};
use crate::check::workload::{generate, hash_of, info_of, Step, WorkloadKind};
use crate::check::CheckConfig;
use crate::nand::{Device, SimFlash};

/// The store, open, or its device when it is not.
#[derive(Clone, Debug)]
enum Holds {
    Open(Box<Store<SimFlash>>),
    Closed(Box<SimFlash>),
}

/// The index and its device.
#[derive(Clone, Debug)]
pub struct IndexSubject {
    holds: Holds,
}

/// The store's entries, as the model holds them.
pub type Entries = BTreeMap<Hash, Info>;

/// Bytes an entry carries (its hash and its information).
const ENTRY_BYTES: u64 = 32 + 16;

impl IndexSubject {
    fn store(&mut self) -> Result<&mut Store<SimFlash>, String> {
        match &mut self.holds {
            Holds::Open(store) => Ok(store),
            Holds::Closed(_) => Err("the store is not open".into()),
        }
    }
}

fn failed(error: StoreError) -> String {
    error.to_string()
}

impl Subject for IndexSubject {
    type Op = Step;
    type State = Entries;
    type Options = ();
    const NAME: &'static str = "logstore";
    const ECC_OPTIONAL: bool = false;

    fn blocks(device: Option<Device>) -> u32 {
        device
            .map_or_else(CheckConfig::default, CheckConfig::on_device)
            .geometry
            .blocks
    }

    fn workload(seed: u64, ops: usize) -> Vec<Step> {
        generate(WorkloadKind::Lifecycle, seed, ops)
    }

    fn format(config: &SubjectConfig, _: &()) -> Result<Self, Refused> {
        if !config.ecc {
            return Err(Refused::Config(
                "logstore's ECC is its own: --no-ecc is taken with --subject littlefs only".into(),
            ));
        }
        let check = CheckConfig {
            device_seed: config.seed,
            bad_blocks: config.bad_blocks.clone(),
            ..config
                .device
                .map_or_else(CheckConfig::default, CheckConfig::on_device)
        };
        check.check().map_err(Refused::Config)?;
        let flash = SimFlash::new(check.sim_config(), config.seed)
            .map_err(|e| Refused::Config(format!("device: {e}")))?;
        let store = Store::create(flash, check.store)
            .map_err(|e| Refused::Unformattable(format!("logstore did not format: {e}")))?;
        Ok(IndexSubject {
            holds: Holds::Open(Box::new(store)),
        })
    }

    fn apply(&mut self, op: &Step, state: &Entries) -> Result<(), String> {
        let store = self.store()?;
        match *op {
            Step::Insert { key, info } => store.insert(hash_of(key), info_of(info)).map_err(failed),
            Step::Delete { key } => store.delete(&hash_of(key)).map(|_| ()).map_err(failed),
            Step::Flush => store.flush().map_err(failed),
            Step::Get { key } => {
                let hash = hash_of(key);
                let found = store.get(&hash).map_err(failed)?;
                if found.as_ref() != state.get(&hash) {
                    return Err(format!(
                        "key {key}: the store served {found:?}, the model holds {:?}",
                        state.get(&hash)
                    ));
                }
                Ok(())
            }
            _ => Err(format!("{op:?} is not a workload operation")),
        }
    }

    fn mount(&mut self) -> Result<(), String> {
        let placeholder = Holds::Closed(Box::new(self.flash().clone()));
        let flash = match std::mem::replace(&mut self.holds, placeholder) {
            Holds::Open(store) => store.into_flash(),
            Holds::Closed(flash) => *flash,
        };
        match Store::open_returning(flash) {
            Ok((store, _)) => {
                self.holds = Holds::Open(Box::new(store));
                Ok(())
            }
            Err((error, flash)) => {
                self.holds = Holds::Closed(Box::new(flash));
                Err(error.to_string())
            }
        }
    }

    fn read_back(&mut self) -> Result<Entries, String> {
        let contents = self.store()?.contents().map_err(failed)?;
        Ok(contents.into_iter().collect())
    }

    fn flash(&self) -> &SimFlash {
        match &self.holds {
            Holds::Open(store) => store.flash(),
            Holds::Closed(flash) => flash,
        }
    }

    fn flash_mut(&mut self) -> &mut SimFlash {
        match &mut self.holds {
            Holds::Open(store) => store.flash_mut(),
            Holds::Closed(flash) => flash,
        }
    }

    fn after(state: &Entries, op: &Step) -> Entries {
        let mut next = state.clone();
        match *op {
            Step::Insert { key, info } => {
                next.insert(hash_of(key), info_of(info));
            }
            Step::Delete { key } => {
                next.remove(&hash_of(key));
            }
            _ => {}
        }
        next
    }

    fn durable(op: &Step) -> bool {
        matches!(op, Step::Flush)
    }

    fn difference(found: &Entries, allowed: &[Entries]) -> String {
        let durable = &allowed[0];
        let lost = durable.keys().filter(|h| !found.contains_key(*h)).count();
        let unknown = found
            .iter()
            .filter(|(h, info)| allowed.iter().all(|s| s.get(*h) != Some(*info)))
            .count();
        format!(
            "{} entries served, {lost} flushed entries missing, {unknown} entries no allowed state holds",
            found.len()
        )
    }

    fn bytes_written(op: &Step) -> u64 {
        match op {
            Step::Insert { .. } | Step::Delete { .. } => ENTRY_BYTES,
            _ => 0,
        }
    }

    fn replay_command(config: &SubjectConfig, _: &(), point: u64) -> String {
        format!(
            "cargo run --release -- exhaustive --subject logstore-seam --seed {} --ops {} --mode {} --crash-at {point}{}",
            config.seed,
            config.ops,
            config.mode.name(),
            config.replay_options()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nand::{CrashMode, Device};
    use crate::subject::{exhaustive, History};
    use logstore::testing::{plant, Bug};

    fn config(device: Option<Device>, mode: CrashMode) -> SubjectConfig {
        SubjectConfig {
            seed: 4,
            ops: 300,
            device,
            mode,
            ecc: true,
            fail_ops: false,
            bad_blocks: Vec::new(),
            depth: 1,
            then_crash_at: None,
            then_fail_at: None,
            io_errors: false,
        }
    }

    /// A cut may leave the state after any acknowledged prefix since the
    /// last flush, or the operation it hit done; nothing older, nothing
    /// else.
    #[test]
    fn the_model_allows_every_prefix_since_the_last_flush() {
        let insert = |key| Step::Insert {
            key,
            info: key * 10,
        };
        let mut history = History::<IndexSubject>::default();
        for op in [insert(1), Step::Flush, insert(2), insert(3)] {
            history.acknowledge(&op);
        }
        let allowed = history.allowed(&Step::Delete { key: 1 });
        let keys: Vec<Vec<Hash>> = allowed
            .iter()
            .map(|s| s.keys().copied().collect())
            .collect();
        let sorted = |keys: &[u64]| {
            let mut hashes: Vec<Hash> = keys.iter().map(|&k| hash_of(k)).collect();
            hashes.sort();
            hashes
        };
        assert_eq!(
            keys,
            vec![
                sorted(&[1]),
                sorted(&[1, 2]),
                sorted(&[1, 2, 3]),
                sorted(&[2, 3])
            ]
        );
        assert_eq!(allowed[3][&hash_of(2)], info_of(20));
    }

    /// Through the seam, on the ideal device and the paired parts, every
    /// cut leaves a state the model allows.
    #[test]
    fn the_index_through_the_seam_keeps_every_flushed_entry() {
        for (device, mode) in [
            (None, CrashMode::DropUnsynced),
            (None, CrashMode::Reorder),
            (Some(Device::Mlc), CrashMode::Torn),
            (Some(Device::Tlc), CrashMode::Torn),
        ] {
            let summary = exhaustive::<IndexSubject>(&config(device, mode), &(), None).unwrap();
            assert!(
                summary.crash_points > 50,
                "{device:?} {mode:?}: {summary:?}"
            );
            assert_eq!(
                summary.failures, 0,
                "{device:?} {mode:?}: {:?}",
                summary.replay
            );
            assert_eq!(summary.stopped, None);
        }
    }

    /// With each program and erase failed in turn (power on, its block
    /// gone bad), the index routes around the block: it refuses no
    /// operation and serves what it acknowledged, across a reopen too.
    #[test]
    fn the_index_absorbs_every_failed_program_and_erase() {
        for device in [None, Some(Device::Mlc)] {
            let failing = SubjectConfig {
                fail_ops: true,
                ..config(device, CrashMode::DropUnsynced)
            };
            let summary = exhaustive::<IndexSubject>(&failing, &(), None).unwrap();
            assert_eq!(summary.ops_failed, summary.crash_points, "{summary:?}");
            assert!(summary.ops_failed > 50, "{summary:?}");
            assert_eq!((summary.failures, summary.refused), (0, 0), "{summary:?}");
            // A host I/O error instead: the store returns it, and loses
            // nothing.
            let io = SubjectConfig {
                fail_ops: false,
                io_errors: true,
                ..failing
            };
            let summary = exhaustive::<IndexSubject>(&io, &(), None).unwrap();
            assert_eq!(summary.failures, 0, "{:?}", summary.replay);
            assert_eq!(summary.refused, summary.ops_failed, "{summary:?}");
            assert_eq!(summary.refusals.len(), 1, "{:?}", summary.refusals);
        }
    }

    /// On drawn configurations (part, mode, failing programs and erases,
    /// factory-bad blocks anywhere on its 128, block 0 too, host I/O
    /// errors, depth 2), through the seam: no failure, nothing refused but
    /// host I/O errors (which it returns, keeping everything).
    #[test]
    fn the_index_through_the_seam_on_drawn_parts_loses_nothing() {
        let seeds: Vec<u64> = (0..60).collect();
        let summary =
            crate::subject::sweep::<IndexSubject>(&seeds, 300, (None, true), true).unwrap();
        assert!(
            summary.crash_points > 200 && summary.ops_failed > 50,
            "{summary:?}"
        );
        assert!(summary.crash_points_depth2 > 0, "{summary:?}");
        assert_eq!(summary.failures, 0, "{:?}", summary.replay);
        let io = "host I/O failure scheduled at operation N";
        assert!(summary.refused > 0, "{summary:?}");
        assert_eq!(summary.refusals.keys().collect::<Vec<_>>(), [io]);
        assert_eq!(summary.unformattable, 0);
        let past_64 = seeds.iter().any(|&s| {
            crate::subject::draw::<IndexSubject>(s, 300)
                .bad_blocks
                .iter()
                .any(|&b| b >= 64)
        });
        assert!(past_64, "bad blocks drawn over the whole part");
    }

    /// At depth 2, every flash operation of the retry after each recovered
    /// cut is cut in turn: the index keeps every flushed entry and never
    /// programs a page twice, torn pages and the ECC's erased reads
    /// included.
    #[test]
    fn the_index_through_the_seam_at_depth_two_keeps_the_rules() {
        for (device, mode) in [
            (None, CrashMode::Torn),
            (Some(Device::Slc), CrashMode::Torn),
            (Some(Device::Mlc), CrashMode::Torn),
        ] {
            let deep = SubjectConfig {
                depth: 2,
                ..config(device, mode)
            };
            let summary = exhaustive::<IndexSubject>(&deep, &(), None).unwrap();
            assert!(
                summary.crash_points_depth2 > summary.crash_points,
                "{summary:?}"
            );
            assert_eq!(summary.failures, 0, "{:?}", summary.replay);
            assert_eq!(summary.rule_violations, 0);
        }
    }

    /// At depth 2 with failing programs and erases, the handling of each
    /// failure (the index retires the block and writes elsewhere) is cut
    /// at every flash operation too: more second-level cuts than the
    /// retries alone make, and the index keeps every flushed entry.
    #[test]
    fn the_index_keeps_everything_when_a_failures_handling_is_cut() {
        let deep = SubjectConfig {
            depth: 2,
            ..config(Some(Device::Mlc), CrashMode::Torn)
        };
        let retries = exhaustive::<IndexSubject>(&deep, &(), None).unwrap();
        let failing = SubjectConfig {
            fail_ops: true,
            ..deep
        };
        let handled = exhaustive::<IndexSubject>(&failing, &(), None).unwrap();
        assert!(handled.ops_failed > 0, "{handled:?}");
        assert!(
            handled.crash_points_depth2 > retries.crash_points_depth2 + handled.ops_failed,
            "{handled:?}"
        );
        assert_eq!(handled.failures, 0, "{:?}", handled.replay);
        assert_eq!(handled.rule_violations, 0);
        // A second block going bad in the first one's handling: absorbed
        // too, nothing refused; and a replay of one such branch runs it
        // alone, without the second-level cuts.
        assert!(handled.ops_failed_twice > 0, "{handled:?}");
        assert_eq!(handled.refused, 0, "{handled:?}");
        let point = (0..handled.crash_points * 64)
            .find(|&p| {
                let alone = exhaustive::<IndexSubject>(&failing, &(), Some(p)).unwrap();
                alone.ops_failed_twice > 0
            })
            .expect("a point with a handling");
        let replay = SubjectConfig {
            then_fail_at: Some(point + 1),
            ..failing
        };
        let alone = exhaustive::<IndexSubject>(&replay, &(), Some(point)).unwrap();
        assert_eq!(
            (alone.ops_failed_twice, alone.crash_points_depth2),
            (1, 0),
            "{alone:?}"
        );
    }

    /// Planted in the index, a flush that does not sync and a journal that
    /// writes upper pages are found through the seam, each failure with
    /// the command that replays it, and that crash point fails alone.
    #[test]
    fn planted_index_bugs_are_caught_through_the_seam() {
        for (bug, device, mode) in [
            (Bug::FlushWithoutSync, None, CrashMode::DropUnsynced),
            (Bug::PairingUnaware, Some(Device::Mlc), CrashMode::Torn),
        ] {
            let config = config(device, mode);
            plant(Some(bug));
            let summary = exhaustive::<IndexSubject>(&config, &(), None);
            plant(None);
            let summary = summary.unwrap();
            assert!(summary.failures > 0, "{bug:?}: {summary:?}");
            let replay = &summary.replay[0];
            assert!(replay.contains("--subject logstore-seam"), "{replay}");
            let point: u64 = replay
                .rsplit("--crash-at ")
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            plant(Some(bug));
            let again = exhaustive::<IndexSubject>(&config, &(), Some(point));
            plant(None);
            let again = again.unwrap();
            assert_eq!((again.crash_points, again.failures), (1, 1), "{bug:?}");
        }
    }
}
