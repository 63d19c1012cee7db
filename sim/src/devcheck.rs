//! Device self-check: a seeded log writer on [`SimFlash`], power cut at a
//! random operation, then every synced page verified after restart.
//!
//! Owns nothing but the check itself; it promises that a failure names the
//! seed and mode that reproduce it. It exercises the simulator's crash
//! semantics end to end before the index stands on them.

use logstore::{BlockAddr, Flash, FlashError, Geometry, PageAddr};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::nand::{Counters, CrashMode, SimConfig, SimFlash};

/// The outcome of one seed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DevcheckRun {
    pub seed: u64,
    pub mode: CrashMode,
    pub crash_op: u64,
    pub pages_synced: u64,
    /// Synced pages that did not read back as written.
    pub pages_lost: u64,
    pub counters: Counters,
}

/// The device every run uses: 512-byte pages, 16 pages a block, 32 blocks.
pub fn devcheck_geometry() -> Geometry {
    Geometry::new(512, 16, 32).expect("valid geometry")
}

fn page_content(seed: u64, index: u64, page_bytes: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut data = vec![0u8; page_bytes];
    rng.fill(&mut data[..]);
    data
}

/// Writes a circular log of `ops` pages (erasing each block before reuse,
/// syncing every 1 to 8 pages), cuts power at a random operation, restarts
/// and reads back every page whose last sync covered it.
pub fn devcheck(seed: u64, mode: CrashMode, ops: u64) -> Result<DevcheckRun, FlashError> {
    let geometry = devcheck_geometry();
    let mut flash = SimFlash::new(SimConfig::new(geometry), seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let crash_op = rng.random_range(0..ops.max(1));
    flash.cut_power_at(crash_op, mode);
    let pages = geometry.pages();
    let page_bytes = geometry.page_bytes as usize;
    // Page index → the sequence number written there, once synced.
    let mut synced: Vec<Option<u64>> = vec![None; pages as usize];
    let mut written: Vec<(u64, u64)> = Vec::new();
    let mut sync_in = rng.random_range(1..=8);
    for sequence in 0..ops {
        let index = sequence % pages;
        let addr = geometry.page_at(index);
        if addr.page == 0 {
            // The erase below takes the whole block's old pages with it.
            let first = index as usize;
            synced[first..first + geometry.pages_per_block as usize].fill(None);
        }
        let step = write_one(&mut flash, addr, &page_content(seed, sequence, page_bytes));
        if step.is_err() {
            break;
        }
        written.push((index, sequence));
        sync_in -= 1;
        if sync_in == 0 {
            if flash.sync().is_err() {
                break;
            }
            written
                .drain(..)
                .for_each(|(i, s)| synced[i as usize] = Some(s));
            sync_in = rng.random_range(1..=8);
        }
    }
    flash.cut_power_now(mode);
    flash.restart();
    let mut lost = 0;
    let mut buf = vec![0u8; page_bytes];
    for (index, sequence) in synced.iter().enumerate() {
        let Some(sequence) = sequence else { continue };
        flash.read(geometry.page_at(index as u64), &mut buf)?;
        if buf != page_content(seed, *sequence, page_bytes) {
            lost += 1;
        }
    }
    Ok(DevcheckRun {
        seed,
        mode,
        crash_op,
        pages_synced: synced.iter().flatten().count() as u64,
        pages_lost: lost,
        counters: flash.counters(),
    })
}

fn write_one(flash: &mut SimFlash, addr: PageAddr, data: &[u8]) -> Result<(), FlashError> {
    if addr.page == 0 {
        flash.erase(BlockAddr(addr.block.0))?;
    }
    flash.program(addr, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_pages_survive_every_mode() {
        for seed in 0..50 {
            for mode in CrashMode::ALL {
                let run = devcheck(seed, mode, 1_200).unwrap();
                assert_eq!(run.pages_lost, 0, "seed {seed} mode {mode:?}");
                assert_eq!(run.counters.power_cuts, 1);
            }
        }
    }

    #[test]
    fn same_seed_same_run() {
        let a = devcheck(11, CrashMode::Torn, 900).unwrap();
        let b = devcheck(11, CrashMode::Torn, 900).unwrap();
        assert_eq!(a.counters, b.counters);
        assert_eq!(a.crash_op, b.crash_op);
    }
}
