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
    /// its extremes, checksums fixed (`craft`'s campaign, on the first 72
    /// bytes of each page): what the `image` target found by chance (a
    /// journal page whose sequence overflowed recovery's arithmetic),
    /// placed on purpose, each also behind an unreadable page and, where
    /// a page has identical copies, crafted alike in all. Opening gives a
    /// typed error or a consistent store, never a panic (overflow checks
    /// are on in the builds tests run).
    #[test]
    fn header_fields_at_their_extremes_never_panic() {
        use crate::campaign::crafted::{craft, CraftPlan};
        let summary = craft(
            &CraftPlan {
                field_bytes: crate::campaign::crafted::FIELD_BYTES_DEFAULT,
            },
            &|_| {},
        )
        .unwrap();
        assert!(summary.placements > 50_000, "{summary:?}");
        assert!(
            summary.previous_broken > 10_000 && summary.alike > 10_000,
            "{summary:?}"
        );
        assert!(summary.failures.is_empty(), "{:#?}", summary.failures);
    }

    /// A hash crafted in a bucket page (its tag bytes rewritten, checksum
    /// fixed) that the incarnation's filter holds another tag for: the
    /// page is named corrupt when read whole, so `contents` does not list
    /// a hash `get` rules out (what `craft` found past byte 48 of the
    /// pages). Without the check (planted), `contents` lists it and `get`
    /// misses it.
    #[test]
    fn a_bucket_page_the_filter_disagrees_with_is_named_corrupt() {
        use crate::campaign::crafted::{run_one, seed_stores, Placement};
        use logstore::errors::{HashStoreError, IncarnationPageFault};
        use logstore::testing::{plant, Bug};
        use logstore::StoreError;
        let placement = Placement {
            store: 2,
            at: 121 * 256 + 64,
            width: 4,
            value: 0,
            previous_broken: false,
            alike: false,
        };
        let seeds = seed_stores();
        let mut image = placement.image(&seeds).unwrap();
        reseal(&mut image, image_geometry());
        let (mut store, _) = Store::open(device(&image, image_geometry())).unwrap();
        let error = store.contents().unwrap_err();
        let named = matches!(
            &error,
            StoreError::HashStore(HashStoreError::Corrupt {
                why: IncarnationPageFault::FilterDisagrees { .. },
                ..
            })
        );
        assert!(named, "{error:?}");
        assert_eq!(run_one(&placement, &seeds), Ok(()));
        plant(Some(Bug::FilterTagsUnchecked));
        let unchecked = run_one(&placement, &seeds);
        plant(None);
        let failure = unchecked.unwrap_err();
        assert!(failure.contains("get disagrees with contents"), "{failure}");
        assert!(
            failure.contains("craft --store 2 --at 31040 --width 4 --value 0x0"),
            "{failure}"
        );
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
