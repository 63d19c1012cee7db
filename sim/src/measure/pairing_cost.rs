//! What protecting paired pages costs, measured: the journal passes over
//! (leaves erased) the pages whose program could, cut short, damage a page
//! an acknowledged flush wrote under any known pairing scheme (see
//! `logstore::journal_pages_at_risk`), whatever the part declares. Write
//! amplification, erases, the share of the journal's pages it programs
//! and the device time of a flush, on the same ingest; the tests measure
//! the same ingest with a journal of every page (planted back) for the
//! cost against it.
//!
//! Owns the measurement; the report lays it out. Promises: deterministic
//! figures (a seeded ingest on the simulator's clock).

use logstore::Pairing;

use crate::measure::wear::{wear, WearConfig};
use crate::nand::Device;

/// One ingest's cost on a layout.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FlushCost {
    pub device: Device,
    pub flush_every: u32,
    /// Bytes programmed (spare included) over bytes of entries appended.
    pub write_amplification: f64,
    /// Erases an insert: a journal of fewer pages fills and packs sooner.
    pub erases_per_insert: f64,
    /// Simulated device time a flush costs (the ingest's device time over
    /// its flushes), microseconds.
    pub device_us_per_flush: f64,
    /// Journal pages programmed over those used (programmed or passed
    /// over), over the whole ingest.
    pub journal_capacity: f64,
    /// Journal pages programmed a flush (its commit copy included).
    pub pages_per_flush: f64,
    /// The fewest pages any layout safe under the part's own scheme gives
    /// up at a flush boundary, on average over where in a block it falls
    /// ([`boundary_cost`]), and the capacity that leaves at
    /// `pages_per_flush` (its commit copy's own cost not counted: a bound).
    pub boundary_pages_min: f64,
    pub capacity_bound: f64,
    /// The same bound for a layout safe under every scheme the journal
    /// guards against (the known ones and the declared one, since a part
    /// may declare a pairing its cells do not follow): the fewest pages a
    /// boundary gives up ([`boundary_cost_guarded`]) and the capacity that
    /// leaves at `pages_per_flush`. A bound only where a flush spans at
    /// least twice the widest pair (`pair_span_max`): then no page left
    /// unprogrammed can answer for two boundaries; `None` elsewhere.
    pub boundary_pages_min_guarded: f64,
    pub capacity_bound_guarded: Option<f64>,
    /// The most pages between a page and an earlier one its program may
    /// damage, under the schemes the journal guards against.
    pub pair_span_max: u32,
}

/// The fewest pages a flush boundary costs a layout that never programs
/// a page whose program could damage an acknowledged one under `scheme`,
/// on average over the boundary's place in a block of `pages_per_block`
/// pages. Blocks are programmed in page order, so a wordline the boundary
/// cuts (a page of it programmed before, one of a higher group after)
/// keeps a page that is never programmed: the later one, or, had the
/// writer known where the boundary falls, the earlier one. A writer may
/// also pad to a later place with fewer cuts: each padded page costs one.
/// So a boundary at page `p` costs at least the least, over `q >= p` (the
/// block's end included), of `q - p` plus the wordlines cut at `q`.
pub fn boundary_cost(scheme: Pairing, pages_per_block: u32) -> f64 {
    let roles = scheme.roles(pages_per_block);
    let ppb = pages_per_block as usize;
    // Wordlines with a page before `q` and a page at or after it.
    let cut = |q: usize| -> usize {
        let before: std::collections::BTreeSet<u32> =
            roles[..q].iter().map(|r| r.wordline).collect();
        roles[q..]
            .iter()
            .map(|r| r.wordline)
            .filter(|w| before.contains(w))
            .collect::<std::collections::BTreeSet<u32>>()
            .len()
    };
    let cuts: Vec<usize> = (0..=ppb)
        .map(|q| if q == ppb { 0 } else { cut(q) })
        .collect();
    let least = |p: usize| (p..=ppb).map(|q| q - p + cuts[q]).min().unwrap_or(0);
    (0..ppb).map(least).sum::<usize>() as f64 / ppb as f64
}

/// The fewest pages a flush boundary costs a layout that never programs a
/// page whose program could damage an acknowledged one under any of the
/// schemes `at_risk` joins (for each page of a block, the earlier pages
/// its program may damage: [`logstore::pages_at_risk`]), on average over
/// the boundary's place in the block. With the boundary before page `p`,
/// pages below `p` hold acknowledged data and pages from `p` on are the
/// next flush's; each pair (acknowledged page, later page that may damage
/// it) needs one of the two left unprogrammed (or padded: a page either
/// way), the later one, or, had the writer known where the boundary
/// falls, the earlier one. The fewest pages that do so is a minimum vertex
/// cover of that bipartite graph, the size of its largest matching
/// (König). Work: at most `pages_per_block` augmenting searches of the
/// graph's edges a boundary.
pub fn boundary_cost_guarded(at_risk: &[Vec<u32>]) -> f64 {
    let pages = at_risk.len();
    if pages == 0 {
        return 0.0;
    }
    let covers: usize = (0..pages).map(|p| crossing_matching(at_risk, p)).sum();
    covers as f64 / pages as f64
}

/// The most pages between a page and an earlier one `at_risk` says its
/// program may damage.
pub fn pair_span_max(at_risk: &[Vec<u32>]) -> u32 {
    let spans = at_risk
        .iter()
        .enumerate()
        .flat_map(|(page, risked)| risked.iter().map(move |&earlier| page as u32 - earlier));
    spans.max().unwrap_or(0)
}

/// The largest matching between the pages below `boundary` and the later
/// pages that may damage them (Kuhn's augmenting paths).
fn crossing_matching(at_risk: &[Vec<u32>], boundary: usize) -> usize {
    let later: Vec<Vec<usize>> = (boundary..at_risk.len())
        .map(|page| {
            at_risk[page]
                .iter()
                .map(|&r| r as usize)
                .filter(|&r| r < boundary)
                .collect()
        })
        .collect();
    let mut matched_to: Vec<Option<usize>> = vec![None; boundary];
    let mut size = 0;
    for start in 0..later.len() {
        let mut seen = vec![false; boundary];
        size += usize::from(augment(&later, start, &mut seen, &mut matched_to));
    }
    assert!(size <= boundary.min(later.len()));
    size
}

/// Finds an augmenting path from later page `page`; depth at most the
/// earlier pages (each is visited once a search).
fn augment(
    later: &[Vec<usize>],
    page: usize,
    seen: &mut [bool],
    matched_to: &mut [Option<usize>],
) -> bool {
    for &earlier in &later[page] {
        if seen[earlier] {
            continue;
        }
        seen[earlier] = true;
        let free = match matched_to[earlier] {
            None => true,
            Some(other) => augment(later, other, seen, matched_to),
        };
        if free {
            matched_to[earlier] = Some(page);
            return true;
        }
    }
    false
}

/// The ingest of `ops` inserts flushed every `flush_every` on `device`'s
/// small geometry.
pub fn flush_cost(device: Device, flush_every: u32, ops: u64) -> Result<FlushCost, String> {
    let mut config = WearConfig::new(ops, device.part().endurance_cycles, flush_every);
    config = config.on_device(device);
    let report = wear(&config, &|_| {})?;
    let flushes = (report.ops_done / u64::from(flush_every.max(1))).max(1);
    let used = report.journal_pages_programmed + report.journal_pages_passed_over;
    let pages_per_flush = report.journal_pages_programmed as f64 / flushes as f64;
    let boundary_pages_min =
        boundary_cost(config.geometry.pairing, config.geometry.pages_per_block);
    let at_risk = logstore::journal_pages_at_risk(config.geometry);
    let boundary_pages_min_guarded = boundary_cost_guarded(&at_risk);
    let pair_span_max = pair_span_max(&at_risk);
    Ok(FlushCost {
        device,
        flush_every,
        write_amplification: report.write_amplification,
        erases_per_insert: report.erases as f64 / report.ops_done.max(1) as f64,
        device_us_per_flush: report.device_seconds * 1e6 / flushes as f64,
        journal_capacity: report.journal_pages_programmed as f64 / used.max(1) as f64,
        pages_per_flush,
        boundary_pages_min,
        capacity_bound: pages_per_flush / (pages_per_flush + boundary_pages_min),
        boundary_pages_min_guarded,
        capacity_bound_guarded: (pages_per_flush >= 2.0 * f64::from(pair_span_max))
            .then(|| pages_per_flush / (pages_per_flush + boundary_pages_min_guarded)),
        pair_span_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstore::testing::{plant, Bug};

    /// The safe layout against a journal of every page (`PairingUnaware`
    /// planted back) and one trusting the declared pairing, on the same
    /// ingest: it passes over pages (on every preset, SLC too, whose part
    /// may pair its cells unannounced), so it programs no more than they
    /// do and costs a little more in erases and write amplification;
    /// trusting the declared scheme passes over fewer or as many pages.
    /// Prints the figures the README quotes:
    /// `cargo test --release -p logstore-sim --lib paired -- --nocapture`.
    #[test]
    fn the_safe_layout_against_every_page_and_the_declared_one() {
        for device in Device::ALL {
            for every in [16, 256] {
                let safe = flush_cost(device, every, 20_000).unwrap();
                plant(Some(Bug::PairingUnaware));
                let naive = flush_cost(device, every, 20_000);
                plant(Some(Bug::TrustDeclaredPairing));
                let declared = flush_cost(device, every, 20_000);
                plant(None);
                let (naive, declared) = (naive.unwrap(), declared.unwrap());
                println!(
                    "{device:?} every {every}: wa {:.3} naive {:.3} ratio {:.3}; capacity {:.3} declared {:.3}; pages a flush {:.2}",
                    safe.write_amplification,
                    naive.write_amplification,
                    safe.write_amplification / naive.write_amplification,
                    safe.journal_capacity,
                    declared.journal_capacity,
                    safe.pages_per_flush
                );
                assert_eq!(naive.journal_capacity, 1.0);
                assert!(safe.journal_capacity < 1.0);
                assert!(declared.journal_capacity >= safe.journal_capacity);
                assert!(safe.write_amplification >= naive.write_amplification);
                assert!(safe.erases_per_insert >= naive.erases_per_insert);
                assert!(safe.journal_capacity <= safe.capacity_bound, "{safe:?}");
                // The journal guards against every scheme: no layout safe
                // under all of them passes over fewer pages a boundary.
                if let Some(bound) = safe.capacity_bound_guarded {
                    assert!(safe.journal_capacity <= bound, "{safe:?}");
                    assert!(bound <= safe.capacity_bound, "{safe:?}");
                }
                // A flush of 16 inserts spans 4 to 5 pages, under twice
                // the widest pair: no bound there; 256 spans about 30.
                assert_eq!(
                    safe.capacity_bound_guarded.is_some(),
                    every == 256,
                    "{safe:?}"
                );
            }
        }
    }

    /// A boundary's least cost, by hand: SLC cuts nothing; dist3 on 16
    /// pages (L0 L1 U0 L2 U1 L3 U2 ... L7 U6 U7) cuts one wordline at an
    /// odd page (the lower page before it waits for its upper), two at an
    /// even one from 2 to 14, none at 0; padding a page to an odd one
    /// costs as much as an even one's second cut.
    #[test]
    fn a_boundary_costs_the_wordlines_it_cuts() {
        assert_eq!(boundary_cost(Pairing::None, 16), 0.0);
        // least(p): 0 at p = 0, 1 at each odd p (8 of them), 2 at each
        // even p from 2 to 14 (7 of them).
        let expected = (8 + 7 * 2) as f64 / 16.0;
        assert_eq!(boundary_cost(Pairing::Mlc { lead: 2 }, 16), expected);
        assert!(boundary_cost(Pairing::Tlc, 48) > boundary_cost(Pairing::None, 48));
    }

    /// The guarded bound, by hand and against the one-scheme bound: no
    /// pairing costs nothing; one scheme's cover at each boundary is one
    /// page a wordline it cuts (dist3 on 16 pages: 1 at each odd page, 2
    /// at each even one from 2 to 14, never less than `boundary_cost`,
    /// which may also pad); guarding more schemes never costs less than
    /// guarding any one of them.
    #[test]
    fn a_guarded_boundary_costs_a_cover_of_the_pairs_it_splits() {
        let risk = |schemes: &[Pairing], ppb| logstore::pages_at_risk(schemes, ppb);
        assert_eq!(boundary_cost_guarded(&risk(&[Pairing::None], 16)), 0.0);
        let dist3 = boundary_cost_guarded(&risk(&[Pairing::Mlc { lead: 2 }], 16));
        assert_eq!(dist3, (8 + 7 * 2) as f64 / 16.0);
        for (ppb, schemes) in [(16, &Pairing::KNOWN[..3]), (48, &Pairing::KNOWN[..])] {
            let all = boundary_cost_guarded(&risk(schemes, ppb));
            for &one in schemes.iter().filter(|s| s.fits(ppb)) {
                let alone = boundary_cost_guarded(&risk(&[one], ppb));
                assert!(all >= alone, "{ppb}: {one:?} {alone} > {all}");
                assert!(alone >= boundary_cost(one, ppb), "{one:?}");
            }
            println!("{ppb} pages, every known scheme: {all:.3} pages a boundary");
        }
    }
}
