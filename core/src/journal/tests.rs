//! Tests of the journal's layout and page map.

use super::*;

/// A position needs the bits of the region's pages plus one, times the
/// entries a page holds: checked against a plain count over many
/// region sizes (some put that product just past a power of two).
#[test]
fn position_bits_cover_every_position_and_no_more() {
    for pages_per_block in [1, 2, 4, 8] {
        let geometry = Geometry::new(512, pages_per_block, 1024).unwrap();
        let per_page = entries_per_page(geometry.page_bytes);
        for blocks in 1..=1024u32 {
            let pages = u64::from(blocks) * u64::from(pages_per_block);
            let limit = (pages + 1) * per_page;
            let bits = position_bits(geometry, blocks);
            let at = format!("{pages_per_block} pages a block, {blocks} blocks: {bits} bits");
            assert!(limit < 1u64 << bits, "{at}");
            assert!(limit >= 1u64 << (bits - 1), "{at}");
        }
    }
}

/// The page map opens a run only where a page does not follow the last
/// one (a resume, a skipped block): pages in sequence at the next
/// positions extend it, after a run starting past position 0 too.
#[test]
fn the_page_map_opens_a_run_only_where_pages_stop_following() {
    let mut map = Vec::new();
    note_page(&mut map, 10, 0);
    note_page(&mut map, 11, 1);
    assert_eq!(map, [(10, 0)]);
    // A skipped block: the next page further on.
    note_page(&mut map, 12, 8);
    note_page(&mut map, 13, 9);
    note_page(&mut map, 14, 10);
    assert_eq!(map, [(10, 0), (12, 8)]);
    // A resume: the chain goes on at a block start, a sequence skipped.
    note_page(&mut map, 16, 16);
    note_page(&mut map, 17, 17);
    assert_eq!(map, [(10, 0), (12, 8), (16, 16)]);
}
