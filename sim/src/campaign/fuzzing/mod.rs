//! The bodies of the fuzz targets: each takes the raw input bytes, so the same
//! body runs under libFuzzer (`fuzz/`, thin `fuzz_target!`s) and under
//! `cargo test` (`sim/tests/corpus.rs` replays every corpus file).
//!
//! Structured inputs are decoded with `arbitrary` exactly as `libfuzzer-sys`
//! does ([`decode`]). Promises: every body is bounded (ops, device size,
//! policy bounds are capped here) and panics only on a finding: a broken
//! guarantee of `docs/DESIGN.md`, or a panic inside the code under test.

mod cuckoo;
mod image;
mod journal;
mod ops;

pub use cuckoo::*;
pub use image::*;
pub use journal::*;
pub use ops::*;

use arbitrary::{Arbitrary, Unstructured};

/// A target's body: the input bytes in, a panic on a finding.
pub(crate) type Body = fn(&[u8]);

/// The targets, by name: the `fuzz/fuzz_targets/<name>.rs` files and the
/// `corpus/<name>/` folders.
pub const TARGETS: [(&str, Body); 5] = [
    ("ops", ops),
    ("image", image),
    ("cuckoo", cuckoo),
    ("journal", journal),
    ("qcow2", crate::measure::image::fuzz_qcow2),
];

/// The body of target `name`, if there is one.
pub fn target(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Decodes `bytes` as `libfuzzer-sys`'s `fuzz_target!(|input: T| ..)` does:
/// too short for `T`'s size hint, or not decodable, is `None` (rejected).
pub fn decode<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    if bytes.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

#[cfg(test)]
mod tests {
    use super::image::{check_image, device};
    use super::*;
    use logstore::testing::format::entries_per_page;
    use logstore::testing::format::{reseal, Page};
    use logstore::{Info, Pairing, Store};

    #[test]
    fn seed_images_open_and_fixing_them_changes_nothing() {
        for seed in image_seeds() {
            let mut image = image_bytes(&seed);
            let raw = image.clone();
            reseal(&mut image, image_geometry());
            assert_eq!(image, raw);
            let (mut store, _) = Store::open(device(&image, image_geometry())).unwrap();
            assert!(!store.contents().unwrap().is_empty());
            check_image(&image, image_geometry());
        }
    }

    /// Every header field of every programmed page of the seed stores at
    /// its extremes, checksums fixed: what the `image` target found by
    /// chance (a journal page whose sequence overflowed recovery's
    /// arithmetic), placed on purpose. A field is any 2-byte word at an
    /// even offset, and any 4- or 8-byte word at a multiple of 4, in the
    /// page's first 48 bytes (every header's fields lie there); its values
    /// 0, 1, the top bit alone, all ones but the lowest, all ones; each
    /// also with the page before made unreadable (the chain then looks
    /// past a loss, where the fuzzer's page was accepted). Opening
    /// gives a typed error or a consistent store, never a panic (overflow
    /// checks are on in the builds tests run).
    #[test]
    fn header_fields_at_their_extremes_never_panic() {
        use rayon::prelude::*;
        let page_bytes = image_geometry().page_bytes as usize;
        let mut placements = Vec::new();
        for (seed, image) in image_seeds().iter().enumerate() {
            let image = image_bytes(image);
            for (page, bytes) in image.chunks(page_bytes).enumerate() {
                if bytes.iter().all(|&b| b == 0xFF) {
                    continue;
                }
                for (width, step) in [(2, 2), (4, 4), (8, 4)] {
                    for offset in (0..=48 - width).step_by(step) {
                        placements.push((seed, page * page_bytes + offset, width));
                    }
                }
            }
        }
        assert!(placements.len() > 1_000, "the seeds hold programmed pages");
        let seeds: Vec<Vec<u8>> = image_seeds().iter().map(|s| image_bytes(s)).collect();
        let seeds = &seeds;
        let panicked: Vec<String> = placements
            .par_iter()
            .flat_map_iter(|&(seed, at, width)| {
                let top = 1u64 << (8 * width - 1);
                let ones = u64::MAX >> (64 - 8 * width);
                let values = [0, 1, top, ones - 1, ones];
                values.into_iter().flat_map(move |value| {
                    [false, true].map(|break_previous| {
                        let mut image = seeds[seed].clone();
                        image[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
                        // The page before unreadable (no magic, so no
                        // reseal fixes it): recovery then looks past it.
                        if break_previous && at >= page_bytes {
                            image[(at / page_bytes - 1) * page_bytes] ^= 0xA5;
                        }
                        let run = std::panic::catch_unwind(|| image::image(&image));
                        run.is_err().then(|| {
                            format!("seed {seed}, byte {at}, {width} bytes = {value:#x}, page before broken: {break_previous}")
                        })
                    })
                })
            })
            .flatten()
            .collect();
        assert!(panicked.is_empty(), "panicked: {panicked:#?}");
    }

    /// The chain stops at a page out of sequence (here: the first page's
    /// epoch rewritten, checksum fixed) while a commit copy further on
    /// vouches for two pages past it: those are named lost, not dropped
    /// as a torn tail, and positions past the chain read nothing (the
    /// dropped pages still hold their sequences).
    #[test]
    fn a_page_past_the_stop_vouching_for_more_names_the_rest_lost() {
        use logstore::testing::Ledger;
        use logstore::StopFault;
        let geometry = image_geometry();
        let mut image = image_bytes(&image_seeds()[2]);
        let first = 40 * geometry.page_bytes as usize;
        let page = |image: &[u8], n: usize| {
            let at = n * geometry.page_bytes as usize;
            Page::decode(&image[at..at + geometry.page_bytes as usize])
        };
        let (head, copy) = (page(&image, 40).unwrap(), page(&image, 46).unwrap());
        assert_eq!(
            (head.sequence, head.epoch, copy.synced_through),
            (0, 0, Some(2))
        );
        image[first + 4..first + 8].copy_from_slice(&1u32.to_le_bytes());
        reseal(&mut image, geometry);
        let (mut log, entries, report) = Ledger::open(device(&image, geometry)).unwrap();
        assert_eq!(entries.len(), head.entries.len());
        assert_eq!(report.lost.len(), 1, "{report:?}");
        assert_eq!(report.lost[0].sequences, 1..3);
        assert_eq!(report.lost[0].position, 1);
        assert!(matches!(
            report.lost[0].fault,
            StopFault::OutOfSequence { sequence: 1, .. }
        ));
        let per_page = entries_per_page(geometry.page_bytes);
        for position in head.entries.len() as u64..4 * per_page {
            assert!(
                log.read_entry(position).is_err(),
                "position {position} reads"
            );
        }
        check_image(&image, geometry);
        // Without the copy nothing vouches for them: the pages past the
        // stop are the torn tail, dropped, and still read as nothing.
        image[46 * geometry.page_bytes as usize] ^= 0xA5;
        let (mut log, _, report) = Ledger::open(device(&image, geometry)).unwrap();
        assert!(report.lost.is_empty(), "{report:?}");
        assert_eq!(report.pages_dropped, 3, "{report:?}");
        for position in head.entries.len() as u64..4 * per_page {
            assert!(
                log.read_entry(position).is_err(),
                "position {position} reads"
            );
        }
    }

    /// Writes the hand-made seeds into `corpus/` (run once, then fuzz and
    /// `cargo fuzz cmin`): `cargo test -p logstore-sim --lib write_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_seeds() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
        let write = |target: &str, name: String, bytes: &[u8]| {
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        for (i, image) in image_seeds().iter().enumerate() {
            write("image", format!("seed-store-{i}"), image);
        }
        let page = Page {
            epoch: 1,
            generation: 1,
            sequence: 3,
            synced_through: Some(2),
            erase_count: 4,
            entries: vec![
                logstore::testing::format::Entry::Hash {
                    hash: [7; 32],
                    info: Info::default(),
                },
                logstore::testing::format::Entry::Tombstone { hash: [9; 32] },
            ],
        };
        write(
            "journal",
            "seed-page".into(),
            &page.encode(JOURNAL_PAGE_BYTES),
        );
        let image = image_bytes(&image_seeds()[1]);
        write(
            "journal",
            "seed-anchor".into(),
            &image[..JOURNAL_PAGE_BYTES],
        );
    }

    /// The device seed's top bits reach a part declaring a pairing its
    /// cells do not follow; a scheme that does not fit leaves it honest.
    #[test]
    fn ops_inputs_reach_a_part_declaring_a_pairing_it_does_not_follow() {
        let input = |device_seed| OpsInput {
            config: OpsConfig {
                bucket_slots: 0,
                order: 0,
                journal_blocks: 0,
                policy: PolicyChoice::Bfs { max_depth: 2 },
                incarnations_max: 0,
                compact: false,
                seed: 0,
                device_seed,
            },
            faults: None,
            steps: Vec::new(),
        };
        let dist3 = Some(Pairing::Mlc { lead: 2 });
        for (device_seed, declared, physical) in [
            (2, Pairing::Mlc { lead: 2 }, None),
            (2 | 1 << 5, Pairing::None, dist3),
            (3 | 6 << 5, Pairing::Tlc, Some(Pairing::Tlc2)),
            (3 | 1 << 5, Pairing::None, Some(Pairing::Tlc)),
            (2 | 6 << 5, Pairing::Mlc { lead: 2 }, None),
            (7 << 5, Pairing::None, dist3),
        ] {
            let config = input(device_seed).check_config();
            assert_eq!(config.geometry.pairing, declared, "{device_seed:#x}");
            assert_eq!(config.pairing_physical, physical, "{device_seed:#x}");
            assert!(config.check().is_ok());
        }
    }

    #[test]
    fn bodies_accept_empty_and_short_inputs() {
        for (_, body) in TARGETS {
            body(&[]);
            body(&[0]);
            body(&[0xFF; 64]);
        }
    }
}
