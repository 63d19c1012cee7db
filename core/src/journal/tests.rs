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

/// A device in RAM that keeps what it is given (no rules: the journal's
/// layout is what is under test).
struct Ram {
    geometry: Geometry,
    image: Vec<u8>,
}

impl Flash for Ram {
    fn geometry(&self) -> Geometry {
        self.geometry
    }
    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        let at = self.geometry.page_offset(page) as usize;
        buf.copy_from_slice(&self.image[at..at + buf.len()]);
        Ok(())
    }
    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        let at = self.geometry.page_offset(page) as usize;
        self.image[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn erase(&mut self, block: crate::flash::BlockAddr) -> Result<(), FlashError> {
        let at = self.geometry.page_offset(PageAddr { block, page: 0 }) as usize;
        let bytes = self.geometry.block_bytes() as usize;
        self.image[at..at + bytes].fill(crate::flash::ERASED);
        Ok(())
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        Ok(())
    }
}

/// `has_room_for` looks the pages it plans up without copying the block
/// in use (it runs at every append): at every append of long ingests on
/// paired blocks, flushed at varied intervals, it answers as planning on
/// a copy of the block does ([`Journal::fits_from`]), to the position
/// after the last page planned, for the pages it plans and for one to
/// three pages of every kind, until the journal is full.
#[test]
fn room_planned_in_place_matches_room_planned_on_a_copy() {
    use crate::pairing::Pairing;
    use crate::types::Info;
    for (pairing, pages_per_block) in [(Pairing::Tlc, 48), (Pairing::Mlc { lead: 2 }, 16)] {
        for flush_every in [1u64, 3, 16, 40] {
            let geometry = Geometry::new(512, pages_per_block, 8)
                .unwrap()
                .with_pairing(pairing)
                .unwrap();
            let mut flash = Ram {
                geometry,
                image: vec![crate::flash::ERASED; geometry.device_bytes() as usize],
            };
            let mut alloc = Allocator::new(8, vec![0; 8]);
            let mut journal = Journal::create(&mut flash, &mut alloc, 1, 4).unwrap();
            let by_copy = |j: &Journal, pages: &[(u64, Option<u64>)]| {
                j.fits_from(
                    j.position,
                    (j.block_in_use, j.block_sequences.clone()),
                    pages,
                )
            };
            let mut appended = 0u64;
            for step in 0..20_000u64 {
                let hash = [(step % 251) as u8; 32];
                let entry = if step % 7 == 3 {
                    Entry::Tombstone { hash }
                } else {
                    Entry::Hash {
                        hash,
                        info: Info::default(),
                    }
                };
                let (s, synced) = (journal.sequence, journal.synced_through);
                let kinds: [&[(u64, Option<u64>)]; 5] = [
                    &[(s, synced)],
                    &[(s, Some(s))],
                    &[(s, synced), (s + 1, synced)],
                    &[(s, synced), (s + 1, synced), (s + 1, Some(s + 1))],
                    &[(s, synced), (s, Some(s)), (s + 1, Some(s))],
                ];
                for pages in kinds {
                    let at = format!("{pairing:?}, every {flush_every}, step {step}, {pages:?}");
                    assert_eq!(journal.fits_after(pages), by_copy(&journal, pages), "{at}");
                }
                let room = journal.has_room_for(&entry);
                if !room {
                    assert!(appended >= 16, "{pairing:?}: full after {appended}");
                    break;
                }
                journal.append(&mut flash, &mut alloc, &entry).unwrap();
                appended += 1;
                if appended.is_multiple_of(flush_every) {
                    journal.flush(&mut flash, &mut alloc).unwrap();
                }
            }
        }
    }
}
