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
