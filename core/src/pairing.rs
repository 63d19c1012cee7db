//! Paired pages. On MLC NAND the two bits of a cell belong to two pages of
//! one wordline, a lower and an upper page, programmed at different times;
//! TLC has three (lower, middle, upper). A program cut while it runs
//! disturbs the cells it shares: the pages of lower groups on its wordline,
//! written (and synced) long before, come back damaged. A [`Pairing`] is the
//! device's scheme, as Linux's raw NAND core describes one
//! (`mtd_pairing_scheme`): each page of a block is a (wordline, group), in
//! the order the block must be programmed.
//!
//! Promises: pure arithmetic, no I/O; every page of a block has exactly one
//! role and every role one page; group 0 pages (lower) damage nothing when
//! cut, so data kept on them alone is safe from pairing.

/// A device's page pairing scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Pairing {
    /// Every page is its own wordline (SLC).
    #[default]
    None,
    /// Two pages a wordline. The first `lead` lower pages come first, then
    /// upper and lower pages alternate, so the upper page of a wordline is
    /// programmed `2·lead - 1` pages after its lower one: `lead` 2 is
    /// Linux's `dist3_pairing_scheme` (Toshiba and Hynix MLC), 3 a wider
    /// distance of 5.
    Mlc { lead: u32 },
    /// Three pages a wordline, interleaved L0 L1 M0 L2 M1 U0 L3 M2 U1 ...:
    /// the middle page of a wordline two pages after its lower, the upper
    /// two after its middle.
    Tlc,
    /// A second TLC order, L0 M0 L1 U0 M1 L2 U1 M2 L3 U2 M3 ...: each step
    /// programs a lower page, the upper page of the wordline before, then
    /// the new wordline's middle page.
    Tlc2,
}

/// What a page is on its wordline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRole {
    pub wordline: u32,
    /// 0 lower, 1 upper (MLC) or middle (TLC), 2 upper (TLC).
    pub group: u32,
}

/// Most lower pages an MLC scheme may lead with.
pub const MLC_LEAD_MAX: u32 = 8;

/// For each page of a block, the earlier pages a program of it, cut short,
/// may damage under any of `schemes` that fits the block: those of lower
/// groups on its wordline. A writer that programs a page only while none
/// of these holds data it has acknowledged loses nothing to a cut,
/// whichever of the schemes the cells follow. Page 0 damages nothing.
/// Work: one pass over the block's pages a scheme.
pub fn pages_at_risk(schemes: &[Pairing], pages_per_block: u32) -> Vec<Vec<u32>> {
    let mut at_risk: Vec<Vec<u32>> = vec![Vec::new(); pages_per_block as usize];
    for scheme in schemes.iter().filter(|s| s.fits(pages_per_block)) {
        let roles = scheme.roles(pages_per_block);
        // The pages programmed so far on each wordline, with their group.
        let mut on_wordline: Vec<Vec<(u32, u32)>> = vec![Vec::new(); roles.len()];
        for (page, role) in roles.iter().enumerate() {
            let earlier = &mut on_wordline[role.wordline as usize];
            for &(lower, group) in earlier.iter() {
                if group < role.group && !at_risk[page].contains(&lower) {
                    at_risk[page].push(lower);
                }
            }
            earlier.push((page as u32, role.group));
        }
    }
    at_risk.iter_mut().for_each(|pages| pages.sort_unstable());
    assert!(
        at_risk.first().is_none_or(Vec::is_empty),
        "page 0 damages nothing"
    );
    at_risk
}

impl Pairing {
    /// The schemes parts are known to pair their pages by, under all of
    /// which the journal's layout is safe whatever a part declares: none
    /// (SLC), Linux's dist3 (`Mlc { lead: 2 }`), a wider distance of 5
    /// (`Mlc { lead: 3 }`), and the two TLC orders. Other MLC leads are
    /// covered only when the part declares them: covering every lead up to
    /// [`MLC_LEAD_MAX`] too would leave the journal 4 pages of a 16-page
    /// block (see [`pages_at_risk`]), where these leave it 8.
    pub const KNOWN: [Pairing; 5] = [
        Pairing::None,
        Pairing::Mlc { lead: 2 },
        Pairing::Mlc { lead: 3 },
        Pairing::Tlc,
        Pairing::Tlc2,
    ];

    /// Pages a wordline.
    pub fn groups(self) -> u32 {
        match self {
            Pairing::None => 1,
            Pairing::Mlc { .. } => 2,
            Pairing::Tlc | Pairing::Tlc2 => 3,
        }
    }

    /// Whether the scheme fits blocks of `pages_per_block` pages: whole
    /// wordlines, and an MLC lead of 1 to [`MLC_LEAD_MAX`] within them.
    pub fn fits(self, pages_per_block: u32) -> bool {
        let wordlines = pages_per_block / self.groups();
        let lead_ok = match self {
            Pairing::Mlc { lead } => (1..=MLC_LEAD_MAX.min(wordlines)).contains(&lead),
            _ => true,
        };
        pages_per_block.is_multiple_of(self.groups()) && lead_ok
    }

    /// Every page's role, in page (program) order. Work: one pass over the
    /// block's pages.
    pub fn roles(self, pages_per_block: u32) -> Vec<PageRole> {
        let wordlines = pages_per_block / self.groups();
        let role = |wordline, group| PageRole { wordline, group };
        let mut roles = Vec::with_capacity(pages_per_block as usize);
        match self {
            Pairing::None => roles.extend((0..pages_per_block).map(|w| role(w, 0))),
            Pairing::Mlc { lead } => {
                let lead = lead.min(wordlines);
                roles.extend((0..lead).map(|w| role(w, 0)));
                for w in 0..wordlines {
                    roles.push(role(w, 1));
                    if lead + w < wordlines {
                        roles.push(role(lead + w, 0));
                    }
                }
            }
            Pairing::Tlc => {
                for step in 0..wordlines + 2 {
                    if step < wordlines {
                        roles.push(role(step, 0));
                    }
                    if (1..=wordlines).contains(&step) {
                        roles.push(role(step - 1, 1));
                    }
                    if (2..wordlines + 2).contains(&step) {
                        roles.push(role(step - 2, 2));
                    }
                }
            }
            Pairing::Tlc2 => {
                for step in 0..=wordlines {
                    if step < wordlines {
                        roles.push(role(step, 0));
                    }
                    if (1..=wordlines).contains(&step) {
                        roles.push(role(step - 1, 2));
                    }
                    if step < wordlines {
                        roles.push(role(step, 1));
                    }
                }
            }
        }
        assert_eq!(roles.len(), (wordlines * self.groups()) as usize);
        roles
    }

    /// The lower (group 0) pages of a block, in order: the pages a cut
    /// program never reaches through its pairs.
    pub fn lower_pages(self, pages_per_block: u32) -> Vec<u32> {
        self.roles(pages_per_block)
            .iter()
            .enumerate()
            .filter(|(_, r)| r.group == 0)
            .map(|(page, _)| page as u32)
            .collect()
    }

    /// The pages a cut program of `page` damages: those of lower groups on
    /// its wordline.
    pub fn damaged_by(self, page: u32, pages_per_block: u32) -> Vec<u32> {
        let roles = self.roles(pages_per_block);
        let Some(&cut) = roles.get(page as usize) else {
            return Vec::new();
        };
        roles
            .iter()
            .enumerate()
            .filter(|(_, r)| r.wordline == cut.wordline && r.group < cut.group)
            .map(|(p, _)| p as u32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's `nand_pairing_dist3_get_info`, for pages inside a block.
    fn linux_dist3(page: u32) -> PageRole {
        if page == 0 || page % 2 == 1 {
            PageRole {
                wordline: page.div_ceil(2),
                group: 0,
            }
        } else {
            PageRole {
                wordline: (page + 1 - 3) / 2,
                group: 1,
            }
        }
    }

    #[test]
    fn mlc_lead_two_is_linux_dist3_inside_the_block() {
        let roles = Pairing::Mlc { lead: 2 }.roles(64);
        // The block's last pages are the last wordlines' uppers.
        for (page, role) in roles.iter().enumerate().take(63) {
            assert_eq!(*role, linux_dist3(page as u32), "page {page}");
        }
    }

    #[test]
    fn every_role_once_and_uppers_after_their_lowers() {
        for (pairing, ppb) in [
            (Pairing::None, 16),
            (Pairing::Mlc { lead: 2 }, 16),
            (Pairing::Mlc { lead: 3 }, 128),
            (Pairing::Tlc, 48),
            (Pairing::Tlc, 192),
            (Pairing::Tlc2, 48),
            (Pairing::Tlc2, 12),
        ] {
            assert!(pairing.fits(ppb));
            let roles = pairing.roles(ppb);
            assert_eq!(roles.len(), ppb as usize);
            for (page, role) in roles.iter().enumerate() {
                assert_eq!(roles.iter().filter(|r| *r == role).count(), 1);
                for lower in pairing.damaged_by(page as u32, ppb) {
                    assert!((lower as usize) < page, "{pairing:?} page {page}");
                }
            }
            let lower = pairing.lower_pages(ppb);
            assert_eq!(lower.len() as u32, ppb / pairing.groups());
            assert!(lower.iter().all(|&p| pairing.damaged_by(p, ppb).is_empty()));
        }
        assert_eq!(Pairing::Mlc { lead: 2 }.damaged_by(6, 16), vec![3]);
        assert_eq!(Pairing::Tlc.damaged_by(5, 48), vec![0, 2]);
        assert!(!Pairing::Tlc.fits(16) && !Pairing::Mlc { lead: 0 }.fits(16));
        // Tlc2: L0 M0 L1 U0 M1 L2 U1 M2 L3 U2 M3 U3.
        assert_eq!(Pairing::Tlc2.damaged_by(3, 12), vec![0, 1]);
        assert_eq!(Pairing::Tlc2.damaged_by(4, 12), vec![2]);
        assert_ne!(Pairing::Tlc2.roles(48), Pairing::Tlc.roles(48));
    }

    /// A page past the block has no role, so a cut there damages nothing.
    #[test]
    fn a_page_past_the_block_damages_nothing() {
        for pairing in Pairing::KNOWN {
            assert_eq!(pairing.damaged_by(48, 48), Vec::<u32>::new());
        }
        // The last page is the last wordline's upper: its lower and middle.
        assert_eq!(Pairing::Tlc.damaged_by(47, 48), vec![42, 45]);
    }

    /// A page's pages at risk are exactly the union of what each fitting
    /// scheme says its cut damages (`damaged_by`), and a scheme that does
    /// not fit the block adds nothing.
    #[test]
    fn pages_at_risk_are_what_any_fitting_scheme_damages() {
        let wider = Pairing::Mlc { lead: 5 };
        for ppb in [2, 8, 12, 16, 48, 64, 128, 192] {
            let mut schemes = Pairing::KNOWN.to_vec();
            schemes.push(wider);
            let at_risk = pages_at_risk(&schemes, ppb);
            assert_eq!(at_risk.len(), ppb as usize);
            for page in 0..ppb {
                let mut union: Vec<u32> = schemes
                    .iter()
                    .filter(|s| s.fits(ppb))
                    .flat_map(|s| s.damaged_by(page, ppb))
                    .collect();
                union.sort_unstable();
                union.dedup();
                assert_eq!(at_risk[page as usize], union, "{ppb}: page {page}");
            }
        }
        // TLC schemes do not fit 16 pages: only the MLC ones count there.
        let mlc_only = pages_at_risk(&[Pairing::Mlc { lead: 2 }], 16);
        assert_eq!(
            pages_at_risk(&[Pairing::Mlc { lead: 2 }, Pairing::Tlc], 16),
            mlc_only
        );
        assert_eq!(mlc_only[2], vec![0]);
        assert_eq!(
            pages_at_risk(&[Pairing::None], 16),
            vec![Vec::<u32>::new(); 16]
        );
    }
}
