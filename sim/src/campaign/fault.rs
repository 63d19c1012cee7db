//! The faults a campaign places on a page on purpose ([`Fault`]) and how
//! each is placed on a simulated device ([`place`]): read back past the
//! ECC, at its limit or one past it, erased, stale, another page's bytes,
//! garbled.

use logstore::{Flash, PageAddr};

use crate::nand::SimFlash;

/// A fault placed on a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Fault {
    /// More flipped bits in its first ECC step than the ECC corrects.
    PastEcc,
    /// Exactly as many flipped bits in its first ECC step as the ECC
    /// corrects (t): the decoder's limit, which must read back whole.
    AtEcc,
    /// One more flipped bit than the ECC corrects (t + 1): the count at
    /// which a BCH decoder may land on another codeword; refused, or
    /// caught by the page's own CRC. Only on a part with an ECC.
    PastEccByOne,
    /// The page reads back erased.
    Erased,
    /// The bytes the page held before its block's last erase.
    Stale,
    /// The bytes of another programmed page.
    Misdirected,
    /// One bit of the header changed (byte 12, inside a record's or a
    /// page's sequence): the CRC fails, yet on a device without an ECC the
    /// header still reads (as a newer record, say). An ECC corrects it.
    Garbled,
    /// The lowest bit of byte 8 changed (an anchor record's sequence, one
    /// up or down): on a part without an ECC a lane's page 0 then reads
    /// as a near group. Placed on the anchor's pairs.
    GarbledLow,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::PastEcc,
        Fault::AtEcc,
        Fault::PastEccByOne,
        Fault::Erased,
        Fault::Stale,
        Fault::Misdirected,
        Fault::Garbled,
    ];
}

/// Places `fault` on `page`; `None` where the kind does not apply (no
/// stale bytes differ from today's).
pub fn place(
    device: &mut SimFlash,
    previous: &SimFlash,
    pages: &[PageAddr],
    page: PageAddr,
    fault: Fault,
) -> Option<()> {
    let g = device.geometry();
    let raw = match fault {
        Fault::PastEcc | Fault::AtEcc | Fault::PastEccByOne => {
            // Distinct bits of the first step (97 is odd, the step's bits
            // a power of two): more than the ECC corrects, exactly as
            // many, or one more. The boundary kinds need an ECC.
            let flips = match fault {
                Fault::PastEcc => g.ecc_bits * 2 + 2,
                _ if g.ecc_bits == 0 => return None,
                Fault::AtEcc => g.ecc_bits,
                _ => g.ecc_bits + 1,
            };
            let step_bits = (g.ecc_step_bytes.max(1) * 8).min(g.page_bytes * 8);
            for k in 0..flips {
                device.flip_bit(page, (k * 97 + 13) % step_bits).ok()?;
            }
            return Some(());
        }
        Fault::Erased => vec![0xFF; g.raw_page_bytes() as usize],
        Fault::Stale => {
            let stale = previous.raw_page(page);
            (stale != device.raw_page(page) && stale.iter().any(|&b| b != 0xFF)).then_some(stale)?
        }
        Fault::Misdirected => {
            let at = pages.iter().position(|&p| p == page)?;
            device.raw_page(pages[(at + 1) % pages.len()])
        }
        Fault::Garbled => {
            let mut raw = device.raw_page(page);
            raw[12] ^= 0x40;
            raw
        }
        Fault::GarbledLow => {
            let mut raw = device.raw_page(page);
            raw[8] ^= 0x01;
            raw
        }
    };
    device.place_page(page, &raw).ok()
}
