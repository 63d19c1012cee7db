//! Two faults on the anchor's lanes, never a rollback: every page and
//! every pair of pages of the lanes (page 0 included) damaged on a device
//! without an ECC, after a few commits and a move. The open finds the
//! newest record or refuses; an older one is a failure.

use logstore::PageAddr;

use super::fault::{place, Fault};
use crate::check::workload::hash_of;
use crate::nand::SimFlash;

/// What [`anchor_pairs`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AnchorPairsOutcome {
    /// Lane pages holding records, and placements tried.
    pub pages: u64,
    pub placements: u64,
    /// Opens that found the newest record; opens refused (named).
    pub newest: u64,
    pub refused: u64,
}

/// Every page and every pair of pages of the anchor's lanes (page 0
/// included) damaged three ways (garbled, erased, another page's bytes)
/// on a device without an ECC, after a few commits and a move: the open
/// must find the newest record or refuse, never an older one (`docs/DESIGN.md`:
/// two faults, never a rollback). `Err` names the first rollback.
pub fn anchor_pairs(seed: u64) -> Result<AnchorPairsOutcome, String> {
    use logstore::testing::Anchor;
    let geometry = logstore::Geometry::new(256, 8, 48).map_err(|e| e.to_string())?;
    let flash = anchor_history(seed, geometry)?;
    let newest = Anchor::open(&mut flash.clone())
        .map_err(|e| e.to_string())?
        .record;
    let pages: Vec<PageAddr> = newest
        .lanes
        .iter()
        .flat_map(|&block| (0..geometry.pages_per_block).map(move |page| PageAddr { block, page }))
        .filter(|&page| flash.raw_page(page).iter().any(|&b| b != 0xFF))
        .collect();
    let mut outcome = AnchorPairsOutcome {
        pages: pages.len() as u64,
        ..AnchorPairsOutcome::default()
    };
    for (i, &a) in pages.iter().enumerate() {
        for &b in &pages[i..] {
            for fault in [
                Fault::Garbled,
                Fault::GarbledLow,
                Fault::Erased,
                Fault::Misdirected,
            ] {
                let mut device = flash.clone();
                place(&mut device, &flash, &pages, a, fault);
                place(&mut device, &flash, &pages, b, fault);
                outcome.placements += 1;
                match Anchor::open(&mut device) {
                    Ok(found) if found.record.sequence == newest.sequence => outcome.newest += 1,
                    Ok(found) => {
                        return Err(format!(
                            "{fault:?} at {a:?} and {b:?}: record {} opened, {} is the newest",
                            found.record.sequence, newest.sequence
                        ))
                    }
                    Err(_) => outcome.refused += 1,
                }
            }
        }
    }
    Ok(outcome)
}

/// A device whose anchor took a few commits (3 to 6, as `seed` says)
/// after the open that moved it: lanes holding several records.
fn anchor_history(seed: u64, geometry: logstore::Geometry) -> Result<SimFlash, String> {
    use logstore::testing::format::Entry;
    use logstore::testing::Ledger;
    let config = crate::SimConfig::new(geometry);
    let mut flash = SimFlash::new(config, seed).map_err(|e| e.to_string())?;
    Ledger::create(&mut flash, 16, vec![]).map_err(|e| e.to_string())?;
    let (mut log, _, _) = Ledger::open(&mut flash).map_err(|e| e.to_string())?;
    for i in 0..3 + seed % 4 {
        let entry = Entry::Tombstone { hash: hash_of(i) };
        log.append(&entry).map_err(|e| e.to_string())?;
        log.flush().map_err(|e| e.to_string())?;
        log.recycle().map_err(|e| e.to_string())?;
    }
    drop(log);
    Ok(flash)
}
