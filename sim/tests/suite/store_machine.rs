//! State-machine property test of the store against the model: inserts,
//! overwrites, deletes, gets, flushes, crashes in every mode, reopens and
//! bulk inserts that force freezes. After every reopen the store must equal
//! the model after a prefix of the acknowledged operations that holds every
//! flushed one.

use logstore::{FlashError, Geometry, Hash, Info, SlotLayoutKind};
use logstore::{Store, StoreConfig, StoreError};
use logstore_sim::check::digest::Digest;
use logstore_sim::check::model::{Model, Op};
use logstore_sim::{CrashMode, SimConfig, SimFlash};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn hash_of(key: u32) -> Hash {
    let mut hash = [0u8; 32];
    ChaCha8Rng::seed_from_u64(u64::from(key)).fill(&mut hash);
    hash
}

fn info_of(n: u64) -> Info {
    Info {
        physical_sector: n,
        first_logical_sector: n.wrapping_mul(8),
    }
}

#[derive(Clone, Debug)]
enum Transition {
    Insert {
        info: u64,
    },
    Overwrite {
        key: u32,
        info: u64,
    },
    Delete {
        key: u32,
    },
    Get {
        key: u32,
    },
    Flush,
    /// Power lost after `after_ops` more flash operations, while `burst`
    /// fresh keys are being inserted.
    Crash {
        mode: CrashMode,
        after_ops: u64,
        burst: u32,
    },
    Reopen,
    Bulk {
        count: u32,
    },
}

/// Keys `0..keys` have been handed out; bulk keys come from far above.
#[derive(Clone, Debug)]
struct Reference {
    keys: u32,
    bulk_next: u32,
}

const BULK_BASE: u32 = 1 << 20;

impl ReferenceStateMachine for Reference {
    type State = Reference;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Self::State> {
        Just(Reference {
            keys: 0,
            bulk_next: BULK_BASE,
        })
        .boxed()
    }

    fn transitions(state: &Self::State) -> BoxedStrategy<Self::Transition> {
        let known = state.keys.max(1);
        let mode = prop_oneof![
            Just(CrashMode::DropUnsynced),
            Just(CrashMode::Reorder),
            Just(CrashMode::Torn)
        ];
        prop_oneof![
            8 => any::<u64>().prop_map(|info| Transition::Insert { info }),
            4 => (0..known, any::<u64>()).prop_map(|(key, info)| Transition::Overwrite { key, info }),
            3 => (0..known).prop_map(|key| Transition::Delete { key }),
            3 => (0..known).prop_map(|key| Transition::Get { key }),
            2 => Just(Transition::Flush),
            2 => (mode, 0..40u64, 1..40u32).prop_map(|(mode, after_ops, burst)| Transition::Crash { mode, after_ops, burst }),
            1 => Just(Transition::Reopen),
            1 => (20..120u32).prop_map(|count| Transition::Bulk { count }),
        ]
        .boxed()
    }

    fn apply(mut state: Self::State, transition: &Self::Transition) -> Self::State {
        match transition {
            Transition::Insert { .. } => state.keys += 1,
            Transition::Bulk { count } => state.bulk_next += count,
            Transition::Crash { burst, .. } => state.bulk_next += burst,
            _ => {}
        }
        state
    }
}

struct Sut {
    store: Option<Store<SimFlash>>,
    model: Model,
    keys: u32,
    bulk_next: u32,
    reopens: u32,
}

fn config(compact: bool) -> StoreConfig {
    // 4 journal blocks: 16 pages on a part declaring no pairing.
    let mut config = StoreConfig::new(3, 4);
    config.incarnations_max = 12;
    if compact {
        config.layout = SlotLayoutKind::Compact;
    }
    config
}

fn device() -> SimFlash {
    SimFlash::new(SimConfig::new(Geometry::new(256, 8, 128).unwrap()), 17).unwrap()
}

impl Sut {
    fn store(&mut self) -> &mut Store<SimFlash> {
        self.store.as_mut().expect("store open")
    }

    /// Inserts; `false` if the store said `Full` (nothing changed).
    fn insert(&mut self, hash: Hash, info: Info) -> Result<bool, StoreError> {
        match self.store().insert(hash, info) {
            Ok(()) => {
                self.model.apply(Op::Insert(hash, info));
                Ok(true)
            }
            Err(StoreError::Full(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Loses power if still on, restarts, reopens and checks the prefix rule.
    fn recover(&mut self, mode: CrashMode) {
        let mut flash = self.store.take().unwrap().into_flash();
        // A cut the burst did not reach is withdrawn: this crash replaces it.
        flash.cancel_power_cuts();
        flash.cut_power_now(mode);
        flash.restart();
        self.reopen_checked(flash, true);
    }

    /// Reopens and checks the prefix rule; after a power cycle what is
    /// found is durable, after a plain reopen only the flushed part is.
    fn reopen_checked(&mut self, flash: SimFlash, power_cycled: bool) {
        let (mut store, _report) = Store::open(flash).expect("open after a crash");
        let contents = store.contents().unwrap();
        let digest = Digest::of(contents.iter().map(|(h, i)| (h, i)));
        let k = self.model.match_digest(digest).unwrap_or_else(|| {
            panic!(
                "store of {} entries is no prefix of the {} operations since the last durable point",
                contents.len(),
                self.model.unflushed_len()
            )
        });
        if power_cycled {
            self.model.crash_to(k);
        } else {
            self.model.reopen_to(k);
        }
        self.store = Some(store);
        self.reopens += 1;
    }
}

/// The machine, on the full (`false`) or compact (`true`) slot layout.
struct StoreMachine<const COMPACT: bool>;

impl<const COMPACT: bool> StateMachineTest for StoreMachine<COMPACT> {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(_: &Reference) -> Sut {
        Sut {
            store: Some(Store::create(device(), config(COMPACT)).unwrap()),
            model: Model::new(),
            keys: 0,
            bulk_next: BULK_BASE,
            reopens: 0,
        }
    }

    fn apply(mut sut: Sut, _: &Reference, transition: Transition) -> Sut {
        match transition {
            Transition::Insert { info, .. } => {
                let key = sut.keys;
                sut.keys += 1;
                sut.insert(hash_of(key), info_of(info)).unwrap();
            }
            Transition::Overwrite { key, info } => {
                sut.insert(hash_of(key), info_of(info)).unwrap();
            }
            Transition::Delete { key } => {
                let hash = hash_of(key);
                let expected = sut.model.get(&hash).is_some();
                match sut.store().delete(&hash) {
                    Ok(existed) => {
                        assert_eq!(existed, expected, "delete of key {key}");
                        if existed {
                            sut.model.apply(Op::Delete(hash));
                        }
                    }
                    Err(StoreError::Full(_)) => {}
                    Err(other) => panic!("delete: {other}"),
                }
            }
            Transition::Get { key } => {
                let hash = hash_of(key);
                let expected = sut.model.get(&hash);
                assert_eq!(
                    sut.store().get(&hash).unwrap(),
                    expected,
                    "get of key {key}"
                );
            }
            Transition::Flush => {
                sut.store().flush().unwrap();
                sut.model.flush();
            }
            Transition::Crash {
                mode,
                after_ops,
                burst,
            } => {
                let flash = sut.store().flash_mut();
                let cut = flash.ops_mutating() + after_ops;
                flash.cut_power_at(cut, mode);
                for _ in 0..burst {
                    let key = sut.bulk_next;
                    sut.bulk_next += 1;
                    match sut.insert(hash_of(key), info_of(u64::from(key))) {
                        Ok(_) => {}
                        Err(StoreError::Flash(FlashError::PowerLost)) => break,
                        Err(other) => panic!("insert during crash burst: {other}"),
                    }
                }
                sut.recover(mode);
            }
            Transition::Reopen => {
                let flash = sut.store.take().unwrap().into_flash();
                sut.reopen_checked(flash, false);
            }
            Transition::Bulk { count } => {
                for _ in 0..count {
                    let key = sut.bulk_next;
                    sut.bulk_next += 1;
                    if !sut.insert(hash_of(key), info_of(u64::from(key))).unwrap() {
                        break;
                    }
                }
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, _: &Reference) {
        let stats = sut.store.as_ref().unwrap().stats();
        assert!(stats.fill <= 1.0);
        assert!(stats.incarnations <= config(COMPACT).incarnations_max);
    }

    fn teardown(mut sut: Sut, _: Reference) {
        let contents: std::collections::BTreeMap<_, _> =
            sut.store().contents().unwrap().into_iter().collect();
        assert_eq!(
            contents,
            sut.model.current(),
            "final contents differ from the model"
        );
        let stats = sut.store().stats();
        eprintln!(
            "case: {} reopens, {} incarnations, {} entries",
            sut.reopens,
            stats.incarnations,
            contents.len()
        );
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_shrink_iters: 2_000,
        .. ProptestConfig::default()
    })]

    #[test]
    fn full_layout_matches_the_model_through_crashes(sequential 1..120 => StoreMachine<false>);

    #[test]
    fn compact_layout_matches_the_model_through_crashes(sequential 1..120 => StoreMachine<true>);
}
