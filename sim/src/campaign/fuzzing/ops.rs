//! The `ops` target: a small store configuration, device faults and up
//! to 256 steps (store operations, flushes, reopens, power cuts, blocks
//! failing and host I/O errors), run against the model by the checker.

use arbitrary::Arbitrary;
use logstore::{Geometry, Pairing, Policy, SlotLayoutKind, StoreConfig};

use crate::check::workload::Step;
use crate::check::{Aging, CheckConfig, Runner};
use crate::nand::{CrashMode, Device, FaultRates};

use super::decode;

/// Most steps one `ops` input runs.
pub(crate) const OPS_STEPS_MAX: usize = 256;
/// Keys of the `ops` target: a small space, so overwrites and deletes hit.
pub(crate) const OPS_KEYS: u64 = 40;

/// An `ops` input: a small store configuration (the part, and the pairing
/// it declares and follows, by the device seed), device faults and a
/// sequence of steps, run against the model by [`crate::check::run`].
#[derive(Arbitrary, Clone, Debug)]
pub(crate) struct OpsInput {
    pub config: OpsConfig,
    pub faults: Option<OpsFaults>,
    pub steps: Vec<OpStep>,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) struct OpsConfig {
    /// 2, 4 or 8 slots a bucket.
    pub bucket_slots: u8,
    /// Order 2..=5.
    pub order: u8,
    /// 1..=3 journal blocks.
    pub journal_blocks: u8,
    pub policy: PolicyChoice,
    /// 1..=4 incarnations (low bits); the high bit evicts the oldest when
    /// full instead of answering `Full`.
    pub incarnations_max: u8,
    /// The compact (tag + journal position) slot layout instead of the
    /// full one. (This byte once chose eviction, which the model cannot
    /// follow; keeping its place keeps the corpus decoding the same.)
    pub compact: bool,
    pub seed: u8,
    pub device_seed: u8,
}

/// Program and erase failure rates, in 1/1024 per operation, at most 31/1024.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) struct OpsFaults {
    pub program_fail: u8,
    pub erase_fail: u8,
}

/// A cuckoo insert policy with small bounds.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum PolicyChoice {
    /// At most 63 kicks, 7 retries.
    RandomWalk { max_kicks: u8, retries: u8 },
    /// Depth at most 7.
    Bfs { max_depth: u8 },
    /// At most 63 kicks.
    FixedVictim { max_kicks: u8 },
}

impl PolicyChoice {
    pub fn policy(self) -> Policy {
        match self {
            PolicyChoice::RandomWalk { max_kicks, retries } => Policy::RandomWalk {
                max_kicks: u32::from(max_kicks % 64),
                retries: u32::from(retries % 8),
            },
            PolicyChoice::Bfs { max_depth } => Policy::Bfs {
                max_depth: u32::from(max_depth % 8),
            },
            PolicyChoice::FixedVictim { max_kicks } => Policy::FixedVictim {
                max_kicks: u32::from(max_kicks % 64),
            },
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum OpStep {
    Insert {
        key: u8,
        info: u16,
    },
    Delete {
        key: u8,
    },
    Get {
        key: u8,
    },
    Flush,
    /// Power lost at the `after_ops % 64`-th next mutating flash operation.
    CutPower {
        after_ops: u8,
        mode: ModeChoice,
    },
    Reopen,
    /// The `after_ops % 64`-th next mutating flash operation fails: its
    /// block goes bad there (`BadBlock`), or with `io` a host I/O error
    /// leaves the device untouched.
    FailOp {
        after_ops: u8,
        io: bool,
    },
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum ModeChoice {
    DropUnsynced,
    Reorder,
    Torn,
}

impl From<ModeChoice> for CrashMode {
    fn from(mode: ModeChoice) -> Self {
        match mode {
            ModeChoice::DropUnsynced => CrashMode::DropUnsynced,
            ModeChoice::Reorder => CrashMode::Reorder,
            ModeChoice::Torn => CrashMode::Torn,
        }
    }
}

/// The pairing a part declares and its cells follow, by the device
/// seed's top three bits: 0 honest (as the part declares); 1 to 4 the
/// part declares none, dist3, dist5 or tlc2 while its cells pair as
/// before; 5 to 7 it declares as before while its cells pair as dist5,
/// tlc2, or (by `wide`'s low three bits) dist3 or an MLC lead no known
/// scheme covers (1, 4, 6 or 8: damage the store cannot avoid, so its
/// losses must be named).
fn mismatched_pairing(choice: u8, wide: u8) -> (Option<Pairing>, Option<Pairing>) {
    let dist3 = Pairing::Mlc { lead: 2 };
    let dist5 = Pairing::Mlc { lead: 3 };
    match choice & 7 {
        1 => (None, Some(Pairing::None)),
        2 => (None, Some(dist3)),
        3 => (None, Some(dist5)),
        4 => (None, Some(Pairing::Tlc2)),
        5 => (Some(dist5), None),
        6 => (Some(Pairing::Tlc2), None),
        7 => match wide & 7 {
            4 => (Some(Pairing::Mlc { lead: 1 }), None),
            5 => (Some(Pairing::Mlc { lead: 4 }), None),
            6 => (Some(Pairing::Mlc { lead: 6 }), None),
            7 => (Some(Pairing::Mlc { lead: 8 }), None),
            _ => (Some(dist3), None),
        },
        _ => (None, None),
    }
}

/// The part every `ops` input runs on when `LOGSTORE_FUZZ_DEVICE` names
/// one (`ideal`, `slc`, `mlc` or `tlc`): a campaign on one preset, as
/// `LOGSTORE_FUZZ_DEVICE=mlc cargo fuzz run -s none ops`. Unset, the input
/// draws it. An unknown name stops the run with a message.
fn pinned_device() -> Option<Option<Device>> {
    static PINNED: std::sync::OnceLock<Option<Option<Device>>> = std::sync::OnceLock::new();
    *PINNED.get_or_init(|| {
        let name = std::env::var("LOGSTORE_FUZZ_DEVICE").ok()?;
        if name == "ideal" {
            return Some(None);
        }
        match Device::ALL.into_iter().find(|d| d.name() == name) {
            Some(device) => Some(Some(device)),
            None => {
                eprintln!("LOGSTORE_FUZZ_DEVICE={name}: not a device; one of ideal, slc, mlc, tlc");
                std::process::exit(2)
            }
        }
    })
}

pub(super) fn bucket_slots(choice: u8) -> usize {
    [2, 4, 8][usize::from(choice % 3)]
}

impl OpsInput {
    /// The check configuration: 40 blocks of 512-byte pages, on no part (8
    /// pages a block) or a preset part's small geometry, aged.
    #[cfg(test)]
    pub fn check_config(&self) -> CheckConfig {
        self.check_config_pinned(pinned_device())
    }

    /// [`OpsInput::check_config`] on the part `pin` names, if it names one.
    fn check_config_pinned(&self, pin: Option<Option<Device>>) -> CheckConfig {
        let c = self.config;
        let mut store = StoreConfig::new(
            2 + u32::from(c.order % 4),
            1 + u32::from(c.journal_blocks % 3),
        );
        store.bucket_slots = bucket_slots(c.bucket_slots);
        store.policy = c.policy.policy();
        store.incarnations_max = 1 + u32::from(c.incarnations_max % 4);
        store.evict_oldest = c.incarnations_max & 0x80 != 0;
        store.layout = if c.compact {
            SlotLayoutKind::Compact
        } else {
            SlotLayoutKind::Full
        };
        store.seed = u64::from(c.seed);
        let faults = self.faults.map_or(FaultRates::default(), |f| FaultRates {
            read_flip: 0.0,
            program_fail: f64::from(f.program_fail % 32) / 1024.0,
            erase_fail: f64::from(f.erase_fail % 32) / 1024.0,
        });
        // The device seed's low two bits pick the part (or none), the next
        // three its wear, the top three a pairing it declares wrongly; the table seed's high bits the days a power cut
        // lasts.
        let drawn = [
            None,
            Some(Device::Slc),
            Some(Device::Mlc),
            Some(Device::Tlc),
        ][usize::from(c.device_seed % 4)];
        let device = pin.unwrap_or(drawn);
        let geometry = device.map_or_else(
            || Geometry::new(512, 8, 40).expect("valid geometry"),
            |d| d.small_geometry(40),
        );
        let aging = Aging {
            wear: f64::from((c.device_seed >> 2) & 7) / 10.0,
            days_per_power_cut: 30.0 * f64::from(c.seed >> 5),
        };
        let config = CheckConfig {
            geometry,
            store,
            faults,
            device_seed: u64::from(c.device_seed),
            device,
            aging,
            endurance_cycles: None,
            wear_out: None,
            error_model: None,
            bad_blocks: Vec::new(),
            pairing_physical: None,
        };
        let (physical, declared) = mismatched_pairing(c.device_seed >> 5, c.seed >> 1);
        // A scheme that does not fit the part's blocks leaves it honest.
        config
            .clone()
            .with_pairing(physical, declared)
            .unwrap_or(config)
    }

    /// The workload steps, at most [`OPS_STEPS_MAX`].
    pub fn steps(&self) -> Vec<Step> {
        let key = |k: u8| u64::from(k) % OPS_KEYS;
        self.steps
            .iter()
            .take(OPS_STEPS_MAX)
            .map(|step| match *step {
                OpStep::Insert { key: k, info } => Step::Insert {
                    key: key(k),
                    info: u64::from(info),
                },
                OpStep::Delete { key: k } => Step::Delete { key: key(k) },
                OpStep::Get { key: k } => Step::Get { key: key(k) },
                OpStep::Flush => Step::Flush,
                OpStep::CutPower { after_ops, mode } => Step::CutPower {
                    after_ops: u32::from(after_ops % 64),
                    mode: mode.into(),
                },
                OpStep::Reopen => Step::Reopen,
                OpStep::FailOp { after_ops, io } => {
                    let after_ops = u32::from(after_ops % 64);
                    if io {
                        Step::IoError { after_ops }
                    } else {
                        Step::FailOp { after_ops }
                    }
                }
            })
            .collect()
    }
}

/// Target `ops`: store operations, flushes, power cuts and reopens against
/// the model. A [`crate::check::CheckFailure`] is a finding.
pub fn ops(data: &[u8]) {
    ops_pinned(data, pinned_device());
}

/// Target `ops` with every input on `device` (`None`: the ideal device), as
/// `LOGSTORE_FUZZ_DEVICE` pins it: what replays a finding of a per-preset
/// campaign (`corpus/regressions/ops-<device>/`).
pub fn ops_on(data: &[u8], device: Option<Device>) {
    ops_pinned(data, Some(device));
}

fn ops_pinned(data: &[u8], pin: Option<Option<Device>>) {
    let Some(input) = decode::<OpsInput>(data) else {
        return;
    };
    let config = input.check_config_pinned(pin);
    let steps = input.steps();
    let faulty = config.faults != FaultRates::default();
    // As `check::run`, but formatting a faulty device may fail (a bad
    // anchor block cannot be routed around): that is no finding.
    let mut runner = match Runner::new(&config) {
        Ok(runner) => runner,
        Err(_) if faulty => return,
        Err(error) => panic!("ops: {error}\nconfig: {config:?}"),
    };
    let result = steps
        .iter()
        .enumerate()
        .try_for_each(|(index, step)| runner.step(step).map_err(|e| format!("step {index}: {e}")))
        .and_then(|()| runner.finish(true).map(|_| ()));
    if let Err(failure) = result {
        panic!("ops: {failure}\nconfig: {config:?}\nsteps: {steps:?}");
    }
}
