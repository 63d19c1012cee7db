//! Where the journal writes: which earlier pages of a block a program may
//! damage through its pairing (under every scheme a part is known to pair
//! by), the bits a position takes, and the map of page sequences to region
//! positions.

use crate::flash::Geometry;
use crate::pairing::{pages_at_risk, Pairing};
use crate::planted::{self, Bug};
use std::sync::Arc;

use super::entries_per_page;

/// For each page of a block, the earlier pages a program of it, cut short,
/// may damage: those of lower groups on its wordline under any scheme a
/// part is known to pair by ([`Pairing::KNOWN`]) or the one this part
/// declares ([`pages_at_risk`]). The journal programs a page only while
/// none of these holds a page an acknowledged flush wrote, and passes over
/// (leaves erased) a page it may not program, so no program it makes can,
/// cut short, damage what it acknowledged, whatever pairing the part
/// declares and whichever of these its cells follow: a part may declare
/// none (as many MLC drivers do) or the wrong scheme, and nothing the
/// store can read tells it so before a cut has done its damage. A flush
/// writes the upper pages of the wordlines it opened itself; only the
/// pages whose wordline a flush boundary cuts are passed over.
pub fn journal_pages_at_risk(geometry: Geometry) -> Vec<Vec<u32>> {
    shared_pages_at_risk(geometry).to_vec()
}

/// Which schemes the journal guards against: normally every known one and
/// the declared one; a planted bug trusts fewer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guarded {
    KnownAndDeclared,
    Declared,
    None,
}

/// Layouts [`shared_pages_at_risk`] keeps for the process; the oldest goes
/// first.
const SHARED_MAX: usize = 16;

/// The layouts computed so far: the journal asks at every open and every
/// recovery, and one takes a pass over the block's pages a scheme, with a
/// vector a page.
#[allow(clippy::type_complexity)]
static SHARED: std::sync::Mutex<Vec<(Pairing, u32, Guarded, Arc<[Vec<u32>]>)>> =
    std::sync::Mutex::new(Vec::new());

/// [`journal_pages_at_risk`], computed once per process for each
/// (pairing, pages a block) among the last [`SHARED_MAX`] asked for.
pub(super) fn shared_pages_at_risk(geometry: Geometry) -> Arc<[Vec<u32>]> {
    let guarded = if planted::active(Bug::PairingUnaware) {
        Guarded::None
    } else if planted::active(Bug::TrustDeclaredPairing) {
        Guarded::Declared
    } else {
        Guarded::KnownAndDeclared
    };
    let key = (geometry.pairing, geometry.pages_per_block, guarded);
    // A panic elsewhere cannot leave the list half-changed: take it as is.
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((.., layout)) = shared.iter().find(|e| (e.0, e.1, e.2) == key) {
        return Arc::clone(layout);
    }
    let schemes = match guarded {
        Guarded::None => Vec::new(),
        Guarded::Declared => vec![geometry.pairing],
        Guarded::KnownAndDeclared => {
            let mut schemes = Pairing::KNOWN.to_vec();
            schemes.push(geometry.pairing);
            schemes
        }
    };
    let layout: Arc<[Vec<u32>]> = pages_at_risk(&schemes, geometry.pages_per_block).into();
    if shared.len() == SHARED_MAX {
        shared.remove(0);
    }
    shared.push((key.0, key.1, key.2, Arc::clone(&layout)));
    layout
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
