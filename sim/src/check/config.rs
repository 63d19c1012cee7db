//! [`CheckConfig`]: the device and store a check runs on, how they are
//! aged, and the checks that refuse a configuration as bad input.

use logstore::{Geometry, Pairing, Policy, StoreConfig};

use crate::nand::{Device, ErrorModel, FaultRates, SimConfig, WearOut};

/// The device and store a check runs on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckConfig {
    pub geometry: Geometry,
    pub store: StoreConfig,
    /// Program and erase failures (a sticky read flip, beyond any ECC on a
    /// device without one, is left to the bit error model of a preset).
    pub faults: FaultRates,
    pub device_seed: u64,
    /// The part simulated: its endurance, latencies and raw bit errors
    /// (none: an ideal device that never flips a bit).
    #[serde(default)]
    pub device: Option<Device>,
    /// How worn and how old the device is.
    #[serde(default)]
    pub aging: Aging,
    /// P/E cycles a block endures, if not the part's (or the default's).
    #[serde(default)]
    pub endurance_cycles: Option<u32>,
    /// What a block past its endurance does, if not the default's (erase
    /// fails).
    #[serde(default)]
    pub wear_out: Option<WearOut>,
    /// Raw bit errors, if not the part's (none: the part's, or no errors
    /// on an ideal device).
    #[serde(default)]
    pub error_model: Option<ErrorModel>,
    /// Blocks marked bad at manufacture, besides any the part's own
    /// factory marks give.
    #[serde(default)]
    pub bad_blocks: Vec<u32>,
    /// How the cells really pair their pages, when not as
    /// `geometry.pairing` (what the part declares) says.
    #[serde(default)]
    pub pairing_physical: Option<Pairing>,
}

/// How worn a device starts and how long it sits between power cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Aging {
    /// Each block starts with this fraction of its endurance used.
    pub wear: f64,
    /// Days the device sits unpowered at each power cut (retention).
    pub days_per_power_cut: f64,
}

impl Default for CheckConfig {
    /// 1 MiB of 512-byte pages, 16 pages a block; a 256-slot log store with
    /// a 4-block journal and up to 32 incarnations, no eviction.
    fn default() -> Self {
        let mut store = StoreConfig::new(6, 4);
        store.incarnations_max = 32;
        store.policy = Policy::default();
        CheckConfig {
            geometry: Geometry::new(512, 16, 128).expect("valid geometry"),
            store,
            faults: FaultRates::default(),
            device_seed: 0,
            device: None,
            aging: Aging::default(),
            endurance_cycles: None,
            wear_out: None,
            error_model: None,
            bad_blocks: Vec::new(),
            pairing_physical: None,
        }
    }
}

impl CheckConfig {
    /// As the default, but keeping at most 8 incarnations and dropping the
    /// oldest when full: a workload of any length keeps freezing and
    /// evicting instead of answering `Full`.
    pub fn evicting() -> Self {
        let mut config = CheckConfig::default();
        config.store.incarnations_max = 8;
        config.store.evict_oldest = true;
        config
    }

    /// The default check on `device`: its small geometry (512-byte pages
    /// with the part's ECC density), its endurance, latencies and bit errors.
    pub fn on_device(device: Device) -> Self {
        CheckConfig {
            geometry: device.small_geometry(128),
            device: Some(device),
            ..CheckConfig::default()
        }
    }

    /// The simulator configuration the check runs on.
    pub fn sim_config(&self) -> SimConfig {
        let mut sim = match self.device {
            Some(device) => device.sim_config(self.geometry),
            None => SimConfig::new(self.geometry),
        };
        sim.faults = FaultRates::default();
        if let Some(cycles) = self.endurance_cycles {
            sim.endurance_cycles = cycles;
        }
        if let Some(wear_out) = self.wear_out {
            sim.wear_out = wear_out;
        }
        if let Some(errors) = self.error_model {
            sim.errors = errors;
        }
        sim.factory_bad.extend(self.bad_blocks.iter().copied());
        sim.pairing_physical = self.pairing_physical;
        sim
    }

    /// The same check with the part declaring `declared` (if given) while
    /// its cells pair as `physical` (if given; else as they did before):
    /// a part that declares a scheme it does not follow. Checked: each
    /// scheme must fit the geometry's blocks.
    pub fn with_pairing(
        mut self,
        physical: Option<Pairing>,
        declared: Option<Pairing>,
    ) -> Result<Self, String> {
        let cells = physical
            .or(self.pairing_physical)
            .unwrap_or(self.geometry.pairing);
        if let Some(declared) = declared {
            self.geometry = self.geometry.with_pairing(declared).map_err(|_| {
                format!(
                    "declared pairing {}: does not fit blocks of {} pages",
                    crate::nand::pairing_name(declared),
                    self.geometry.pages_per_block
                )
            })?;
        }
        if !cells.fits(self.geometry.pages_per_block) {
            return Err(format!(
                "physical pairing {}: does not fit blocks of {} pages",
                crate::nand::pairing_name(cells),
                self.geometry.pages_per_block
            ));
        }
        self.pairing_physical = (cells != self.geometry.pairing).then_some(cells);
        Ok(self)
    }

    /// Checks the device and store configuration and the fault rates, as
    /// [`crate::check::Runner::new`] would take them, without allocating anything.
    pub fn check(&self) -> Result<(), String> {
        self.geometry
            .validate()
            .map_err(|e| format!("geometry: {e}"))?;
        self.sim_config()
            .check()
            .map_err(|e| format!("device: {e}"))?;
        self.store
            .check(self.geometry)
            .map_err(|e| format!("store configuration: {e}"))?;
        if self.endurance_cycles == Some(0) {
            return Err("endurance_cycles 0: a block endures at least one P/E cycle".into());
        }
        self.check_good_blocks()?;
        if let Some(errors) = &self.error_model {
            errors.check()?;
        }
        let aging_ok = (0.0..=10.0).contains(&self.aging.wear)
            && (0.0..=36_500.0).contains(&self.aging.days_per_power_cut);
        if !aging_ok {
            return Err(format!(
                "aging {:?}: wear 0 to 10 (fractions of endurance), 0 to 36,500 days a power cut",
                self.aging
            ));
        }
        self.faults.check()
    }
}

impl CheckConfig {
    /// The blocks marked bad at manufacture (the list and the part's marks
    /// for this device seed) must leave the store the good blocks it
    /// needs: else the configuration is bad input, refused as `create`
    /// would refuse it.
    fn check_good_blocks(&self) -> Result<(), String> {
        let sim = self.sim_config();
        let bad = crate::nand::factory_bad(&sim, self.device_seed)
            .iter()
            .filter(|&&b| b)
            .count() as u32;
        let budget = self
            .store
            .block_budget(self.geometry)
            .map_err(|e| format!("store configuration: {e}"))?;
        budget
            .check(self.geometry.blocks, bad)
            .map_err(|e| format!("bad blocks: {e}"))
    }
}
