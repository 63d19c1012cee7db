//! Where the journal writes: the pages of a block it uses (those no
//! known pairing scheme can damage), the bits a position takes, and the
//! map of page sequences to region positions.

use crate::flash::Geometry;
use crate::pairing::{unpaired_pages, Pairing};
use crate::planted::{self, Bug};

use super::entries_per_page;

/// The pages of each block the journal writes, in order: those no two of
/// which share a wordline under any scheme a part is known to pair by
/// ([`Pairing::KNOWN`]) nor under the one this part declares
/// ([`unpaired_pages`]). No program the journal makes can, cut short,
/// damage a page it flushed before, whatever pairing the part declares
/// and whichever of these its cells follow: a part may declare none (as
/// many MLC drivers do) or the wrong scheme, and nothing the store can
/// read tells it so before a cut has done its damage. On the presets'
/// blocks the layout holds as many pages as the part's lower pages (the
/// declared-only layout's "SLC mode"); on a part that declares none, half
/// its pages.
pub fn block_pages(geometry: Geometry) -> Vec<u32> {
    if planted::active(Bug::PairingUnaware) {
        return (0..geometry.pages_per_block).collect();
    }
    if planted::active(Bug::TrustDeclaredPairing) {
        return geometry.pairing.lower_pages(geometry.pages_per_block);
    }
    let mut schemes = Pairing::KNOWN.to_vec();
    schemes.push(geometry.pairing);
    unpaired_pages(&schemes, geometry.pages_per_block)
}

/// Bits a position needs in a journal of `blocks` blocks: every page
/// sequence the region can reach, times the entries a page can hold.
pub(crate) fn position_bits(geometry: Geometry, blocks: u32) -> u32 {
    let region_pages = u64::from(blocks) * u64::from(geometry.pages_per_block);
    let limit = (region_pages + 1).saturating_mul(entries_per_page(geometry.page_bytes));
    u64::BITS - limit.leading_zeros()
}

/// Records that page `sequence` sits at region `position`, opening a new
/// run when it does not follow the last one.
pub(super) fn note_page(map: &mut Vec<(u64, u64)>, sequence: u64, position: u64) {
    let follows = map
        .last()
        .is_some_and(|&(s, p)| sequence >= s && position >= p && sequence - s == position - p);
    if !follows {
        map.push((sequence, position));
    }
}
