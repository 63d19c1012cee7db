//! What shapes a simulated device: its configuration ([`SimConfig`]), how
//! power cuts resolve ([`CrashMode`]), what worn blocks do ([`WearOut`]),
//! timing ([`Latency`]) and random faults ([`FaultRates`]).

use logstore::{FlashError, Geometry, Pairing};

use super::errors::ErrorModel;

/// How the un-synced operations are resolved when power is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CrashMode {
    /// None of them persist.
    DropUnsynced,
    /// Each persists or not, chosen by the seeded RNG. Blocks persist in any
    /// order; inside a block the device keeps erase-before-program order (an
    /// operation whose block's earlier erase was lost is lost too), but a
    /// program may be lost while a later one in the same block persists.
    Reorder,
    /// As `Reorder`, and the operation in flight is torn: a program leaves a
    /// random mix of old and new bits, an erase leaves the block partly
    /// erased and unprogrammable until erased again.
    Torn,
}

impl CrashMode {
    pub const ALL: [CrashMode; 3] = [CrashMode::DropUnsynced, CrashMode::Reorder, CrashMode::Torn];

    pub fn name(self) -> &'static str {
        match self {
            CrashMode::DropUnsynced => "drop",
            CrashMode::Reorder => "reorder",
            CrashMode::Torn => "torn",
        }
    }
}

/// What a block past its endurance does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WearOut {
    /// Erase returns `BadBlock` (and leaves the block partly erased).
    EraseFails,
    /// Program returns `BadBlock` (and leaves the page partly programmed).
    ProgramFails,
    /// Program and erase return `Ok` but change nothing.
    SilentNoop,
}

/// Simulated latency of each operation, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    pub read_ns: u64,
    pub program_ns: u64,
    pub erase_ns: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            read_ns: 50_000,
            program_ns: 600_000,
            erase_ns: 3_000_000,
        }
    }
}

/// Probabilities of random faults, per operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaultRates {
    /// A page read flips one bit, sticky until the block is erased.
    pub read_flip: f64,
    /// A program fails (`BadBlock`), leaving the page partly programmed.
    pub program_fail: f64,
    /// An erase fails (`BadBlock`), leaving the block partly erased.
    pub erase_fail: f64,
}

/// A fault forced on one mutating operation, by its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScheduledFault {
    /// The program with this index fails.
    ProgramFail,
    /// The erase with this index fails.
    EraseFail,
    /// The operation with this index fails, a program or an erase.
    Fails,
    /// The operation with this index, a program or an erase, fails with
    /// a host I/O error (`FlashError::Io`) before it reaches the cells:
    /// the device keeps what it held and its blocks stay good, as when
    /// the bus, a driver or the file under a device fails.
    Io,
}

/// Everything that shapes a simulated device besides its seed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    pub geometry: Geometry,
    /// P/E cycles a block endures before it goes bad (on average, with
    /// `endurance_spread`).
    pub endurance_cycles: u32,
    pub wear_out: WearOut,
    pub latency: Latency,
    pub faults: FaultRates,
    /// Most un-synced operations the write cache holds; past it the oldest
    /// becomes durable, as a real device writes back when its cache fills.
    pub cache_ops_max: usize,
    /// Raw bit errors growing with wear, retention time and read disturb
    /// (none by default).
    #[serde(default)]
    pub errors: ErrorModel,
    /// Blocks differ in endurance, a few dying early, as real parts do
    /// (off by default: every block endures `endurance_cycles`).
    #[serde(default)]
    pub endurance_spread: bool,
    /// Blocks marked bad at manufacture: these, and a further
    /// `factory_bad_per_mille` of the others drawn from the device seed
    /// (block 0 spared, as datasheets guarantee it). A factory-bad block
    /// says so (`Flash::is_bad`) and fails every program and erase.
    #[serde(default)]
    pub factory_bad: Vec<u32>,
    #[serde(default)]
    pub factory_bad_per_mille: u32,
    /// How the cells really pair their pages, when not as the geometry
    /// declares (`geometry.pairing`, what the store is told): a torn
    /// program damages the pages of lower groups on its wordline under
    /// this scheme, and a program takes its group's time under it. `None`:
    /// as declared.
    #[serde(default)]
    pub pairing_physical: Option<Pairing>,
}

/// Most pages a simulated device may have: its page bookkeeping is a bit a
/// page (8 MiB at this limit), allocated up front.
pub const SIM_PAGES_MAX: u64 = 1 << 26;
/// Largest simulated erase block: an erased block is one shared buffer,
/// and every block written gets its own copy.
pub const SIM_BLOCK_BYTES_MAX: u64 = 64 << 20;

impl SimConfig {
    pub fn new(geometry: Geometry) -> Self {
        SimConfig {
            geometry,
            endurance_cycles: 3_000,
            wear_out: WearOut::EraseFails,
            latency: Latency::default(),
            faults: FaultRates::default(),
            cache_ops_max: 4_096,
            errors: ErrorModel::default(),
            endurance_spread: false,
            factory_bad: Vec::new(),
            factory_bad_per_mille: 0,
            pairing_physical: None,
        }
    }

    /// How the cells pair their pages: [`SimConfig::pairing_physical`], or
    /// as the geometry declares.
    pub fn cells_pairing(&self) -> Pairing {
        self.pairing_physical.unwrap_or(self.geometry.pairing)
    }

    /// Checks what [`crate::nand::SimFlash::new`] checks, without allocating: a valid
    /// geometry within the simulator's limits.
    pub fn check(&self) -> Result<(), FlashError> {
        let geometry = self.geometry;
        geometry.validate()?;
        let over = |what, index, limit| FlashError::OutOfRange { what, index, limit };
        if geometry.pages() > SIM_PAGES_MAX {
            return Err(over("simulated pages", geometry.pages(), SIM_PAGES_MAX));
        }
        if geometry.raw_block_bytes() > SIM_BLOCK_BYTES_MAX {
            let bytes = geometry.raw_block_bytes();
            return Err(over("simulated block bytes", bytes, SIM_BLOCK_BYTES_MAX));
        }
        if let Some(&block) = self.factory_bad.iter().find(|&&b| b >= geometry.blocks) {
            return Err(over(
                "factory-bad block",
                u64::from(block),
                u64::from(geometry.blocks),
            ));
        }
        if let Some(pairing) = self.pairing_physical {
            if !pairing.fits(geometry.pages_per_block) {
                return Err(FlashError::BadGeometry {
                    geometry: Geometry {
                        pairing,
                        ..geometry
                    },
                });
            }
        }
        if self.factory_bad_per_mille > 1_000 {
            let per_mille = u64::from(self.factory_bad_per_mille);
            return Err(over("factory-bad blocks per mille", per_mille, 1_000));
        }
        Ok(())
    }
}

impl FaultRates {
    /// Each rate a probability: finite, in 0..=1. (The device itself treats
    /// a rate outside as the nearest bound, never panics.)
    pub fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("read_flip", self.read_flip),
            ("program_fail", self.program_fail),
            ("erase_fail", self.erase_fail),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "fault rate {name} = {rate}: a rate is a probability, 0 to 1"
                ));
            }
        }
        Ok(())
    }
}

/// A rate as a probability the generator takes: NaN as 0, clamped to 0..=1.
pub(crate) fn probability(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// The name of a pairing scheme on the command line: `none`, `dist3`
/// (`Mlc { lead: 2 }`, Linux's), `dist5` (`Mlc { lead: 3 }`), `mlc-leadN`
/// (other leads), `tlc`, `tlc2` (the second TLC order).
pub fn pairing_name(pairing: Pairing) -> String {
    match pairing {
        Pairing::None => "none".into(),
        Pairing::Mlc { lead: 2 } => "dist3".into(),
        Pairing::Mlc { lead: 3 } => "dist5".into(),
        Pairing::Mlc { lead } => format!("mlc-lead{lead}"),
        Pairing::Tlc => "tlc".into(),
        Pairing::Tlc2 => "tlc2".into(),
    }
}

/// The scheme a [`pairing_name`] names (`mlc-lead2` and `mlc-lead3` too).
pub fn pairing_by_name(name: &str) -> Result<Pairing, String> {
    let lead = name
        .strip_prefix("mlc-lead")
        .map(|n| n.parse::<u32>().map_err(|e| format!("{name:?}: {e}")))
        .transpose()?;
    match (name, lead) {
        (_, Some(lead)) if (1..=logstore::MLC_LEAD_MAX).contains(&lead) => {
            Ok(Pairing::Mlc { lead })
        }
        (_, Some(lead)) => Err(format!(
            "{name:?}: an MLC lead is 1 to {}, not {lead}",
            logstore::MLC_LEAD_MAX
        )),
        ("none", _) => Ok(Pairing::None),
        ("dist3", _) => Ok(Pairing::Mlc { lead: 2 }),
        ("dist5", _) => Ok(Pairing::Mlc { lead: 3 }),
        ("tlc", _) => Ok(Pairing::Tlc),
        ("tlc2", _) => Ok(Pairing::Tlc2),
        _ => Err(format!(
            "unknown pairing scheme {name:?}: none, dist3, dist5, mlc-lead1 to mlc-lead{}, tlc, tlc2",
            logstore::MLC_LEAD_MAX
        )),
    }
}
