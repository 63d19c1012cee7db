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

impl Pairing {
    /// Pages a wordline.
    pub fn groups(self) -> u32 {
        match self {
            Pairing::None => 1,
            Pairing::Mlc { .. } => 2,
            Pairing::Tlc => 3,
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
        }
        debug_assert_eq!(roles.len(), (wordlines * self.groups()) as usize);
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
    }
}
