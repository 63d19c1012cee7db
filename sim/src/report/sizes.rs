//! How big the report's campaigns are, for each [`ReportSize`].

/// How big the campaigns are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportSize {
    /// Seconds: for CI and the determinism test.
    Quick,
    /// About two minutes on 2 cores.
    Default,
    /// Much longer.
    Full,
}

/// The campaign sizes of one report size.
#[derive(Clone, Debug)]
pub(super) struct Sizes {
    pub(super) flag: &'static str,
    pub(super) fill_order: u32,
    pub(super) fill_seeds: u64,
    pub(super) kicks: Vec<u32>,
    pub(super) depths: Vec<u32>,
    pub(super) orders: Vec<u32>,
    pub(super) sweep_seeds: u64,
    pub(super) sweep_ops: usize,
    pub(super) exhaustive_ops: usize,
    pub(super) depth2_ops: usize,
    pub(super) speed_steps: Vec<usize>,
    pub(super) wear_ops: u64,
    pub(super) wa_ops: u64,
    pub(super) speed_keys: u64,
    /// Whether the speed section times the campaigns issue 24 names
    /// (about ten seconds; not in the quick report).
    pub(super) campaign_rates: bool,
    pub(super) lookup_order: u32,
    /// Runs a point of the bit error curves, and their steps.
    pub(super) ecc_seeds: u64,
    pub(super) ecc_ops: usize,
    /// P/E cycles blocks endure in the end-of-life runs.
    pub(super) eol_endurance: u32,
    /// Steps of the paired-page exhaustive campaigns, at depth 1 and 2.
    pub(super) paired_ops: usize,
    pub(super) paired_depth2_ops: usize,
    /// Order of the log store frozen in the lookups section, and the
    /// incarnation counts measured.
    pub(super) frozen_order: u32,
    pub(super) frozen_counts: Vec<u32>,
    /// Seeds and steps of the swarm sweep, and seeds of the swarm wear
    /// runs to the end of life.
    pub(super) swarm_seeds: u64,
    pub(super) swarm_ops: usize,
    pub(super) swarm_wear_seeds: u64,
    /// Quiescent points of the fault-placement campaigns.
    pub(super) corrupt_flushes: u32,
    /// `craft`'s field bytes: header fields crafted in each page's first
    /// this many bytes.
    pub(super) craft_field_bytes: usize,
    /// Steps of the littlefs-beside-logstore campaigns (a build with
    /// `--features littlefs`).
    #[cfg_attr(not(feature = "littlefs"), allow(dead_code))]
    pub(super) littlefs_ops: usize,
    /// Drawn configurations of the littlefs section's swarm table.
    #[cfg_attr(not(feature = "littlefs"), allow(dead_code))]
    pub(super) littlefs_swarm_seeds: u64,
}

impl Sizes {
    pub(super) fn of(size: ReportSize) -> Sizes {
        match size {
            ReportSize::Quick => Sizes::quick(),
            ReportSize::Default => Sizes::default_size(),
            ReportSize::Full => Sizes::full(),
        }
    }

    /// Seconds on 2 cores: for a quick look, and CI.
    fn quick() -> Sizes {
        Sizes {
            flag: " --quick",
            fill_order: 9,
            fill_seeds: 3,
            kicks: vec![1, 4, 16, 128, 500],
            depths: vec![1, 2, 4, 6],
            orders: (6..=10).collect(),
            sweep_seeds: 40,
            sweep_ops: 400,
            exhaustive_ops: 120,
            depth2_ops: 200,
            speed_steps: vec![200, 1_000],
            wear_ops: 8_000,
            wa_ops: 2_000,
            speed_keys: 1 << 12,
            campaign_rates: false,
            lookup_order: 8,
            ecc_seeds: 6,
            ecc_ops: 300,
            eol_endurance: 20,
            paired_ops: 300,
            paired_depth2_ops: 100,
            frozen_order: 10,
            frozen_counts: vec![0, 1, 8],
            swarm_seeds: 100,
            swarm_ops: 300,
            swarm_wear_seeds: 2,
            corrupt_flushes: 2,
            craft_field_bytes: 16,
            littlefs_ops: 100,
            littlefs_swarm_seeds: 20,
        }
    }

    /// About five minutes on 2 cores: the committed report.
    fn default_size() -> Sizes {
        let kicks = vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 1000, 2000];
        Sizes {
            flag: "",
            fill_order: 14,
            fill_seeds: 10,
            kicks,
            depths: (1..=7).collect(),
            orders: (6..=16).collect(),
            sweep_seeds: 100_000,
            sweep_ops: 1_000,
            exhaustive_ops: 10_000,
            depth2_ops: 2_000,
            speed_steps: vec![1_000, 10_000, 100_000],
            wear_ops: 2_000_000,
            wa_ops: 50_000,
            speed_keys: 1 << 17,
            campaign_rates: true,
            lookup_order: 14,
            ecc_seeds: 60,
            ecc_ops: 600,
            eol_endurance: 150,
            paired_ops: 3_000,
            paired_depth2_ops: 600,
            frozen_order: 12,
            frozen_counts: vec![0, 1, 8, 32],
            swarm_seeds: 2_000,
            swarm_ops: 1_000,
            swarm_wear_seeds: 12,
            corrupt_flushes: 20,
            craft_field_bytes: crate::campaign::crafted::FIELD_BYTES_DEFAULT,
            littlefs_ops: 1_000,
            littlefs_swarm_seeds: 200,
        }
    }

    /// Much longer: larger campaigns.
    fn full() -> Sizes {
        let kicks = vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 1000, 2000];
        Sizes {
            flag: " --full",
            fill_order: 16,
            fill_seeds: 20,
            kicks,
            depths: (1..=7).collect(),
            orders: (6..=18).collect(),
            sweep_seeds: 1_000_000,
            sweep_ops: 2_000,
            exhaustive_ops: 40_000,
            depth2_ops: 10_000,
            speed_steps: vec![1_000, 10_000, 100_000, 1_000_000],
            wear_ops: 20_000_000,
            wa_ops: 200_000,
            speed_keys: 1 << 19,
            campaign_rates: true,
            lookup_order: 15,
            ecc_seeds: 400,
            ecc_ops: 2_000,
            eol_endurance: 1_000,
            paired_ops: 20_000,
            paired_depth2_ops: 3_000,
            frozen_order: 18,
            frozen_counts: vec![0, 1, 8, 32],
            swarm_seeds: 20_000,
            swarm_ops: 2_000,
            swarm_wear_seeds: 50,
            corrupt_flushes: 60,
            craft_field_bytes: 256,
            littlefs_ops: 4_000,
            littlefs_swarm_seeds: 1_000,
        }
    }
}
