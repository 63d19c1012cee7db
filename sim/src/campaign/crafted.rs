//! Crafted headers, placed on purpose: every header field of every
//! programmed page of the `image` target's seed stores written to an
//! extreme value with the page's checksums fixed, then the device opened
//! through the `image` target's body (typed error or consistent store,
//! the journal read back at every position, never a panic). What that
//! fuzz target reaches by chance (it found a journal sequence that
//! overflowed recovery's arithmetic) becomes a campaign a user runs:
//! `logstore-sim craft`.
//!
//! Owns the placements and their tally. Promises: deterministic (the
//! seed stores are fixed, the placements enumerated in order); bounded
//! (seed stores × programmed pages × `field_bytes` fields × five values ×
//! at most three variants); a placement's failure names the command that
//! replays it alone.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rayon::prelude::*;

use super::fuzzing::{image, image_bytes, image_geometry, image_seeds};

/// Most bytes of a page whose fields are crafted (a page of the `image`
/// device).
pub const FIELD_BYTES_MAX: usize = 256;
/// Bytes crafted by default: every header (they end by byte 48) and the
/// first bucket slot's filter tag (its hash's bytes 24 to 26, at bytes 65
/// to 67 of a bucket page: a 40-byte header, then the slot's state byte).
pub const FIELD_BYTES_DEFAULT: usize = 72;

/// Field widths and the offsets they sit at: 2-byte words at even
/// offsets, 4- and 8-byte words at multiples of 4.
const WIDTHS: [(usize, usize); 3] = [(2, 2), (4, 4), (8, 4)];

/// One crafted image: in seed store `store`, `width` bytes at byte `at`
/// set to `value` (little-endian), checksums fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    pub store: usize,
    pub at: usize,
    pub width: usize,
    pub value: u64,
    /// The page before made unreadable too (its magic broken, which no
    /// reseal fixes): recovery then looks past it for the chain.
    pub previous_broken: bool,
    /// The same field written alike in every page holding the same bytes
    /// as this one (the anchor's copies of a record in its other lanes,
    /// its pages after the first included):
    /// the copy an open would fall back on is crafted too.
    pub alike: bool,
}

impl Placement {
    /// The command that runs this placement alone.
    pub fn replay(&self) -> String {
        format!(
            "cargo run --release -- craft --store {} --at {} --width {} --value {:#x}{}{}",
            self.store,
            self.at,
            self.width,
            self.value,
            if self.previous_broken {
                " --previous-broken"
            } else {
                ""
            },
            if self.alike { " --alike" } else { "" }
        )
    }

    /// The crafted image, before the `image` body reseals it.
    pub fn image(&self, seeds: &[Vec<u8>]) -> Result<Vec<u8>, String> {
        let page_bytes = image_geometry().page_bytes as usize;
        let seed = seeds
            .get(self.store)
            .ok_or_else(|| format!("--store {}: {} seed stores", self.store, seeds.len()))?;
        let mut image = image_bytes(seed);
        let fits = WIDTHS.iter().any(|&(w, _)| w == self.width)
            && self.at % page_bytes + self.width <= page_bytes
            && self.at + self.width <= image.len();
        if !fits {
            return Err(format!(
                "--at {} --width {}: a field of 2, 4 or 8 bytes inside one of the image's {}-byte pages",
                self.at, self.width, page_bytes
            ));
        }
        let bytes = &self.value.to_le_bytes()[..self.width];
        let (page, offset) = (self.at / page_bytes, self.at % page_bytes);
        let original = image[page * page_bytes..][..page_bytes].to_vec();
        let pages = image.len() / page_bytes;
        for other in 0..pages {
            let start = other * page_bytes;
            let same = image[start..start + page_bytes] == original[..];
            if other == page || (self.alike && same) {
                image[start + offset..start + offset + self.width].copy_from_slice(bytes);
            }
        }
        if self.previous_broken && page > 0 {
            image[(page - 1) * page_bytes] ^= 0xA5;
        }
        Ok(image)
    }
}

/// What a crafted-header campaign covers.
#[derive(Clone, Copy, Debug)]
pub struct CraftPlan {
    /// Fields in the first this many bytes of each page (at least 8, at
    /// most [`FIELD_BYTES_MAX`]).
    pub field_bytes: usize,
}

/// What a crafted-header campaign found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CraftSummary {
    pub stores: usize,
    pub pages_programmed: usize,
    pub placements: u64,
    /// Of them, with the page before broken too.
    pub previous_broken: u64,
    /// Of them, crafted alike in every identical copy of the page.
    pub alike: u64,
    /// Placements whose open panicked or broke a guarantee the `image`
    /// body checks, each with the command that replays it.
    pub failures: Vec<String>,
    pub seconds: f64,
}

/// Every placement of `plan`, in order.
pub fn placements(plan: &CraftPlan) -> Result<(Vec<Placement>, CraftSummary), String> {
    let page_bytes = image_geometry().page_bytes as usize;
    if !(8..=FIELD_BYTES_MAX.min(page_bytes)).contains(&plan.field_bytes) {
        return Err(format!(
            "--field-bytes {}: 8 to {} (the image device's page)",
            plan.field_bytes,
            FIELD_BYTES_MAX.min(page_bytes)
        ));
    }
    let seeds = image_seeds();
    let mut summary = CraftSummary {
        stores: seeds.len(),
        ..CraftSummary::default()
    };
    let mut all = Vec::new();
    for (store, seed) in seeds.iter().enumerate() {
        let image = image_bytes(seed);
        let pages: Vec<&[u8]> = image.chunks(page_bytes).collect();
        for (page, bytes) in pages.iter().enumerate() {
            if bytes.iter().all(|&b| b == 0xFF) {
                continue;
            }
            summary.pages_programmed += 1;
            let copies = pages.iter().filter(|other| *other == bytes).count();
            for (width, step) in WIDTHS {
                for offset in (0..=plan.field_bytes - width).step_by(step) {
                    for value in extremes(width) {
                        for (previous_broken, alike) in
                            [(false, false), (true, false), (false, true)]
                        {
                            if (previous_broken && page == 0) || (alike && copies < 2) {
                                continue;
                            }
                            all.push(Placement {
                                store,
                                at: page * page_bytes + offset,
                                width,
                                value,
                                previous_broken,
                                alike,
                            });
                        }
                    }
                }
            }
        }
    }
    summary.placements = all.len() as u64;
    summary.previous_broken = all.iter().filter(|p| p.previous_broken).count() as u64;
    summary.alike = all.iter().filter(|p| p.alike).count() as u64;
    Ok((all, summary))
}

/// The seed stores' images (the `image` target's seeds), by index.
pub fn seed_stores() -> Vec<Vec<u8>> {
    image_seeds()
}

/// A field's extremes: 0, 1, the top bit, all ones but one, all ones.
fn extremes(width: usize) -> [u64; 5] {
    let top = 1u64 << (8 * width - 1);
    let ones = u64::MAX >> (64 - 8 * width);
    [0, 1, top, ones - 1, ones]
}

/// Runs one placement through the `image` body: `Err` with what broke.
pub fn run_one(placement: &Placement, seeds: &[Vec<u8>]) -> Result<(), String> {
    let image_bytes = placement.image(seeds)?;
    catch_unwind(AssertUnwindSafe(|| image(&image_bytes))).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        format!("{message} ({})", placement.replay())
    })
}

/// Every placement of `plan`, in parallel; `progress` gets the count done.
pub fn craft(plan: &CraftPlan, progress: &(dyn Fn(u64) + Sync)) -> Result<CraftSummary, String> {
    let start = std::time::Instant::now();
    let (all, mut summary) = placements(plan)?;
    let seeds = image_seeds();
    let done = std::sync::atomic::AtomicU64::new(0);
    let failures: Vec<String> = all
        .par_iter()
        .filter_map(|placement| {
            let outcome = run_one(placement, &seeds).err();
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
            outcome
        })
        .collect();
    summary.failures = failures;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// The placements of `plan` on seed store `store` alone, run in turn on
/// this thread (a planted bug is planted per thread): the failures.
pub fn craft_store_here(plan: &CraftPlan, store: usize) -> Result<Vec<String>, String> {
    let (all, _) = placements(plan)?;
    let seeds = image_seeds();
    Ok(all
        .iter()
        .filter(|p| p.store == store)
        .filter_map(|p| run_one(p, &seeds).err())
        .collect())
}
