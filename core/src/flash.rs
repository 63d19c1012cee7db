//! The only I/O seam: a NAND-shaped device of erase blocks made of pages.
//!
//! Owns [`Geometry`], the address types, [`FlashError`] and the program-order
//! rules ([`PageStates`]) that every backend enforces. Promises: a page reads
//! 0xFF after its block is erased, is programmed at most once between erases,
//! and the pages of a block are programmed in increasing order; a breach is a
//! [`FlashError::Violation`] and changes nothing. Data is durable only after a
//! successful [`Flash::sync`].

use std::fmt;

/// Byte value of an erased NAND cell.
pub const ERASED: u8 = 0xFF;

/// Whether every byte of `bytes` reads erased (0xFF).
pub fn is_erased(bytes: &[u8]) -> bool {
    // 64 bytes a step, AND-ed without a branch (the compiler makes it
    // vector code), a branch a step: a data page leaves at its first
    // step, an erased one costs a vector compare a step. Word by word
    // with a branch a word, the scans' reads of erased pages cost 8% of
    // `corrupt`'s swarm test.
    let (steps, rest) = bytes.as_chunks::<64>();
    let whole = steps.iter().all(|step| {
        let (words, _) = step.as_chunks::<8>();
        words
            .iter()
            .fold(u64::MAX, |all, word| all & u64::from_ne_bytes(*word))
            == u64::MAX
    });
    // The rest (an ECC step's parity, say: under 64 bytes) a word at a
    // time, then its last bytes.
    let (words, bytes) = rest.as_chunks::<8>();
    let all = words
        .iter()
        .fold(u64::MAX, |all, word| all & u64::from_ne_bytes(*word));
    whole && all == u64::MAX && bytes.iter().all(|&b| b == ERASED)
}

/// Largest page the index supports (64 KiB).
pub const PAGE_BYTES_MAX: u32 = 64 * 1024;
/// Smallest page the index supports.
pub const PAGE_BYTES_MIN: u32 = 64;
/// Most pages in one erase block.
pub const PAGES_PER_BLOCK_MAX: u32 = 4096;
/// Most erase blocks in one device.
pub const BLOCKS_MAX: u32 = 1 << 24;

/// Most correctable bits an ECC step may ask for.
pub const ECC_BITS_MAX: u32 = 128;

/// The shape of a device: `blocks` erase blocks of `pages_per_block` pages,
/// each `page_bytes` of data and `spare_bytes` of spare (out-of-band)
/// area, and the error correction the part needs: `ecc_bits` correctable
/// bit errors in every `ecc_step_bytes` of data (0 bits: none), its parity
/// kept in the spare area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Geometry {
    pub page_bytes: u32,
    pub pages_per_block: u32,
    pub blocks: u32,
    #[cfg_attr(feature = "serde", serde(default))]
    pub spare_bytes: u32,
    #[cfg_attr(feature = "serde", serde(default))]
    pub ecc_step_bytes: u32,
    #[cfg_attr(feature = "serde", serde(default))]
    pub ecc_bits: u32,
    /// How the pages of a block share wordlines (MLC and TLC parts).
    #[cfg_attr(feature = "serde", serde(default))]
    pub pairing: crate::pairing::Pairing,
}

impl Geometry {
    /// A checked geometry without spare area or ECC: page size a power of two
    /// in 64 B..=64 KiB, 1..=4096 pages a block, 1..=2^24 blocks.
    pub fn new(page_bytes: u32, pages_per_block: u32, blocks: u32) -> Result<Self, FlashError> {
        let geometry = Geometry {
            page_bytes,
            pages_per_block,
            blocks,
            spare_bytes: 0,
            ecc_step_bytes: 0,
            ecc_bits: 0,
            pairing: crate::pairing::Pairing::None,
        };
        geometry.validate()?;
        Ok(geometry)
    }

    /// This geometry with its pages paired by `pairing`, checked: whole
    /// wordlines a block.
    pub fn with_pairing(self, pairing: crate::pairing::Pairing) -> Result<Self, FlashError> {
        let geometry = Geometry { pairing, ..self };
        geometry.validate()?;
        Ok(geometry)
    }

    /// This geometry with `spare_bytes` of spare area a page and an ECC of
    /// `ecc_bits` bits every `ecc_step_bytes` of data, checked: the step
    /// divides the page, and BCH parity for every step fits the spare area.
    pub fn with_ecc(
        self,
        spare_bytes: u32,
        ecc_step_bytes: u32,
        ecc_bits: u32,
    ) -> Result<Self, FlashError> {
        let geometry = Geometry {
            spare_bytes,
            ecc_step_bytes,
            ecc_bits,
            ..self
        };
        geometry.validate()?;
        Ok(geometry)
    }

    /// Checks the limits stated in [`Geometry::new`] and [`Geometry::with_ecc`].
    pub fn validate(&self) -> Result<(), FlashError> {
        let page_ok = self.page_bytes.is_power_of_two()
            && (PAGE_BYTES_MIN..=PAGE_BYTES_MAX).contains(&self.page_bytes);
        let ppb_ok = (1..=PAGES_PER_BLOCK_MAX).contains(&self.pages_per_block);
        let blocks_ok = (1..=BLOCKS_MAX).contains(&self.blocks);
        let spare_ok = self.spare_bytes <= self.page_bytes;
        let pairing_ok = self.pairing.fits(self.pages_per_block);
        if page_ok && ppb_ok && blocks_ok && spare_ok && pairing_ok && self.ecc_fits() {
            Ok(())
        } else {
            Err(FlashError::BadGeometry { geometry: *self })
        }
    }

    /// Whether the ECC asked for is well formed and its parity, at most
    /// `m * bits` bits a step for the smallest GF(2^m) that holds a
    /// codeword, fits the spare area.
    fn ecc_fits(&self) -> bool {
        if self.ecc_bits == 0 {
            return self.ecc_step_bytes == 0;
        }
        let step = self.ecc_step_bytes;
        let step_ok = step.is_power_of_two() && (16..=self.page_bytes.min(4096)).contains(&step);
        if !step_ok || self.ecc_bits > ECC_BITS_MAX {
            return false;
        }
        // A step of at most 4 KiB and at most 128 bits (checked above) fit
        // GF(2^16): 32768 + 16 * 128 bits < 2^16.
        let parity_bytes = self
            .ecc_parity_bytes()
            .expect("GF(2^16) holds a checked step and strength");
        u64::from(self.page_bytes / step) * u64::from(parity_bytes) <= u64::from(self.spare_bytes)
    }

    /// Bytes of spare area each ECC step's parity takes: `m * ecc_bits`
    /// bits, rounded up to bytes, for the smallest GF(2^m) that holds a
    /// codeword (m in 5..=16). The spare area holds step i's parity at
    /// `i * ecc_parity_bytes()`; a codeword is step i's data and that slot.
    /// `None` without an ECC or when no field holds the codeword.
    pub fn ecc_parity_bytes(&self) -> Option<u32> {
        if self.ecc_bits == 0 || self.ecc_step_bytes == 0 {
            return None;
        }
        let data_bits = u64::from(self.ecc_step_bytes) * 8;
        let m = (5..=16u32).find(|m| (1u64 << m) > data_bits + u64::from(m * self.ecc_bits))?;
        Some((m * self.ecc_bits).div_ceil(8))
    }

    /// Bytes of a page as the device stores it: data and spare.
    pub fn raw_page_bytes(&self) -> u32 {
        self.page_bytes + self.spare_bytes
    }

    /// Data bytes of a block.
    pub fn block_bytes(&self) -> u64 {
        u64::from(self.page_bytes) * u64::from(self.pages_per_block)
    }

    /// Data bytes of the device.
    pub fn device_bytes(&self) -> u64 {
        self.block_bytes() * u64::from(self.blocks)
    }

    /// Bytes of a block as the device stores it, spare areas included.
    pub fn raw_block_bytes(&self) -> u64 {
        u64::from(self.raw_page_bytes()) * u64::from(self.pages_per_block)
    }

    /// Bytes of a flat image of the device, spare areas included.
    pub fn image_bytes(&self) -> u64 {
        self.raw_block_bytes() * u64::from(self.blocks)
    }

    /// The geometry the index sees through an ECC layer: the same pages,
    /// data only.
    pub fn data_only(&self) -> Geometry {
        Geometry {
            spare_bytes: 0,
            ecc_step_bytes: 0,
            ecc_bits: 0,
            ..*self
        }
    }

    pub fn pages(&self) -> u64 {
        u64::from(self.pages_per_block) * u64::from(self.blocks)
    }

    /// Linear index of a page: `block * pages_per_block + page`.
    pub fn page_index(&self, addr: PageAddr) -> u64 {
        u64::from(addr.block.0) * u64::from(self.pages_per_block) + u64::from(addr.page)
    }

    /// Inverse of [`Geometry::page_index`].
    pub fn page_at(&self, index: u64) -> PageAddr {
        let ppb = u64::from(self.pages_per_block);
        PageAddr::new((index / ppb) as u32, (index % ppb) as u32)
    }

    /// Byte offset of a page in a flat image of the device (raw pages).
    pub fn page_offset(&self, addr: PageAddr) -> u64 {
        self.page_index(addr) * u64::from(self.raw_page_bytes())
    }

    pub fn check_block(&self, block: BlockAddr) -> Result<(), FlashError> {
        if block.0 < self.blocks {
            Ok(())
        } else {
            Err(FlashError::OutOfRange {
                what: "block",
                index: u64::from(block.0),
                limit: u64::from(self.blocks),
            })
        }
    }

    pub fn check_page(&self, addr: PageAddr) -> Result<(), FlashError> {
        self.check_block(addr.block)?;
        if addr.page < self.pages_per_block {
            Ok(())
        } else {
            Err(FlashError::OutOfRange {
                what: "page in block",
                index: u64::from(addr.page),
                limit: u64::from(self.pages_per_block),
            })
        }
    }

    /// Checks an address and a buffer length (a raw page: data and spare)
    /// for a read or a program.
    pub fn check_io(&self, addr: PageAddr, len: usize) -> Result<(), FlashError> {
        self.check_page(addr)?;
        if len == self.raw_page_bytes() as usize {
            Ok(())
        } else {
            Err(FlashError::Violation {
                rule: Rule::BufferLength {
                    expected: self.raw_page_bytes(),
                    actual: len,
                },
                page: addr,
            })
        }
    }
}

/// An erase block, by index from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockAddr(pub u32);

impl fmt::Display for BlockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block {}", self.0)
    }
}

/// A page: its block and its index inside the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageAddr {
    pub block: BlockAddr,
    pub page: u32,
}

impl PageAddr {
    pub fn new(block: u32, page: u32) -> Self {
        PageAddr {
            block: BlockAddr(block),
            page,
        }
    }
}

impl fmt::Display for PageAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block {} page {}", self.block.0, self.page)
    }
}

/// The NAND rule a caller broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The page was already programmed since its block was last erased.
    ProgramTwice,
    /// A higher page of the block was already programmed.
    ProgramOutOfOrder { next_page: u32 },
    /// The buffer is not exactly one page.
    BufferLength { expected: u32, actual: usize },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::ProgramTwice => write!(f, "page programmed twice without an erase"),
            Rule::ProgramOutOfOrder { next_page } => write!(
                f,
                "pages of a block must be programmed in increasing order (lowest programmable page is {next_page})"
            ),
            Rule::BufferLength { expected, actual } => {
                write!(f, "buffer of {actual} bytes, a page is {expected}")
            }
        }
    }
}

/// The operation that found a bad block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashOp {
    Read,
    Program,
    Erase,
}

impl fmt::Display for FlashOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FlashOp::Read => "read",
            FlashOp::Program => "program",
            FlashOp::Erase => "erase",
        };
        f.write_str(name)
    }
}

/// Everything a flash operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// The caller broke a NAND rule: a bug above the device. Nothing changed.
    #[error("flash rule violated at {page}: {rule}")]
    Violation { rule: Rule, page: PageAddr },
    /// A program or erase failed: the block must be retired.
    #[error("{block} is bad: {op} failed")]
    BadBlock { block: BlockAddr, op: FlashOp },
    /// An address past the device.
    #[error("{what} {index} out of range (limit {limit})")]
    OutOfRange {
        what: &'static str,
        index: u64,
        limit: u64,
    },
    /// The geometry is outside the supported limits.
    #[error("unsupported geometry {geometry:?}: page 64 B..=64 KiB (power of two), 1..=4096 pages a block, 1..=2^24 blocks, spare at most a page, an ECC step a power of two from 16 B to the page (4 KiB at most) whose parity fits the spare, at most 128 bits")]
    BadGeometry { geometry: Geometry },
    /// A page read back with more bit errors than the ECC corrects: its
    /// data is lost (MTD's -EBADMSG). Nothing was changed.
    #[error("{page} holds more bit errors than the ECC corrects")]
    Uncorrectable { page: PageAddr },
    /// A device image whose size does not match its geometry.
    #[error("image is {actual} bytes, the geometry needs {expected}")]
    ImageSize { expected: u64, actual: u64 },
    /// A file-backed image another opener holds (see
    /// [`crate::FileFlash`]): one writer an image. Nothing was changed.
    #[error("the image is in use: another opener holds its lock")]
    Locked,
    /// Power was cut; every operation fails until the device restarts.
    #[error("power lost")]
    PowerLost,
    /// The host I/O under a file-backed device failed.
    #[error("I/O failure: {0}")]
    Io(#[from] std::io::Error),
}

/// What a read found beside the data: the bit errors corrected, as MTD
/// reports them to UBI (-EUCLEAN past its threshold).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStatus {
    /// The most bits corrected in one ECC step of the page.
    pub bits_corrected: u32,
    /// Whether that is at or past the threshold where the data should be
    /// moved before it grows beyond what the ECC corrects.
    pub scrub: bool,
}

/// A NAND device. The index does all its I/O through this trait.
pub trait Flash {
    fn geometry(&self) -> Geometry;
    /// Reads one page into `buf` (exactly `raw_page_bytes` long: data, then
    /// spare).
    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError>;
    /// As [`Flash::read`], telling what error correction found. A device
    /// without ECC corrects nothing.
    fn read_checked(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        self.read(page, buf).map(|()| ReadStatus::default())
    }
    /// Reads the first `buf.len()` bytes of `page` (at most a page): a
    /// subpage read, as UBI reads its erase-counter headers. A device with
    /// ECC corrects only the steps holding them, so a step past them that
    /// is beyond correcting goes unseen. This reads the whole page.
    fn read_head(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        let mut whole = vec![ERASED; self.geometry().page_bytes as usize];
        if buf.len() > whole.len() {
            return Err(FlashError::Violation {
                rule: Rule::BufferLength {
                    expected: self.geometry().page_bytes,
                    actual: buf.len(),
                },
                page,
            });
        }
        let status = self.read_checked(page, &mut whole)?;
        buf.copy_from_slice(&whole[..buf.len()]);
        Ok(status)
    }
    /// Programs one erased page with `data` (exactly `raw_page_bytes` long).
    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError>;
    /// Erases a whole block: every page reads 0xFF and may be programmed again.
    fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError>;
    /// The durability barrier: every earlier program and erase is durable
    /// once this returns `Ok`.
    fn sync(&mut self) -> Result<(), FlashError>;
    /// Whether `block` was marked bad at manufacture (MTD's `block_isbad`):
    /// checked once, when a store is formatted. A device without such
    /// marks has none.
    fn is_bad(&mut self, block: BlockAddr) -> Result<bool, FlashError> {
        let _ = block;
        Ok(false)
    }
}

impl<F: Flash + ?Sized> Flash for &mut F {
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        (**self).read(page, buf)
    }
    fn read_checked(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        (**self).read_checked(page, buf)
    }
    fn read_head(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        (**self).read_head(page, buf)
    }
    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        (**self).program(page, data)
    }
    fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
        (**self).erase(block)
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        (**self).sync()
    }
    fn is_bad(&mut self, block: BlockAddr) -> Result<bool, FlashError> {
        (**self).is_bad(block)
    }
}

/// Operations a device saw through the index's ECC layer (raw bytes: data
/// and spare).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounts {
    pub reads: u64,
    /// Reads of a page right after its program, to check it took.
    pub verify_reads: u64,
    pub programs: u64,
    pub bytes_programmed: u64,
    pub erases: u64,
    pub syncs: u64,
}

/// Which pages are programmed, and each block's lowest programmable page.
///
/// The program-order bookkeeping every backend shares, so the rules are the
/// same on a simulator and on a file. Invariant: a programmed page lies below
/// its block's write pointer.
#[derive(Clone, Debug)]
pub struct PageStates {
    geometry: Geometry,
    programmed: Vec<u64>,
    write_pointer: Vec<u32>,
}

/// The program state of one block, saved and restored as a unit (the
/// simulator's undo of a cached erase).
#[cfg(feature = "testing")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockState {
    pub programmed: Vec<bool>,
    pub write_pointer: u32,
}

impl PageStates {
    /// Every page erased.
    pub fn erased(geometry: Geometry) -> Self {
        let words = geometry.pages().div_ceil(64) as usize;
        PageStates {
            geometry,
            programmed: vec![0; words],
            write_pointer: vec![0; geometry.blocks as usize],
        }
    }

    /// States read off an image: a page that is all 0xFF counts as erased.
    /// A page with any 0 bit is programmed, and moves its block's write
    /// pointer past it.
    pub fn from_pages<'a>(geometry: Geometry, pages: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut states = PageStates::erased(geometry);
        for (index, page) in pages.enumerate() {
            if !is_erased(page) {
                states.mark_programmed(geometry.page_at(index as u64));
            }
        }
        states
    }

    fn bit(&self, addr: PageAddr) -> (usize, u64) {
        let index = self.geometry.page_index(addr);
        ((index / 64) as usize, 1u64 << (index % 64))
    }

    pub fn is_programmed(&self, addr: PageAddr) -> bool {
        let (word, mask) = self.bit(addr);
        self.programmed[word] & mask != 0
    }

    pub fn write_pointer(&self, block: BlockAddr) -> u32 {
        self.write_pointer[block.0 as usize]
    }

    /// The rule a program of `addr` would break, if any.
    pub fn check_program(&self, addr: PageAddr) -> Result<(), Rule> {
        if self.is_programmed(addr) {
            return Err(Rule::ProgramTwice);
        }
        let next_page = self.write_pointer(addr.block);
        if addr.page < next_page {
            return Err(Rule::ProgramOutOfOrder { next_page });
        }
        Ok(())
    }

    pub fn mark_programmed(&mut self, addr: PageAddr) {
        let (word, mask) = self.bit(addr);
        self.programmed[word] |= mask;
        let pointer = &mut self.write_pointer[addr.block.0 as usize];
        *pointer = (*pointer).max(addr.page + 1);
        assert!(self.is_programmed(addr));
    }

    pub fn mark_erased(&mut self, block: BlockAddr) {
        for page in 0..self.geometry.pages_per_block {
            let (word, mask) = self.bit(PageAddr { block, page });
            self.programmed[word] &= !mask;
        }
        self.write_pointer[block.0 as usize] = 0;
    }

    #[cfg(feature = "testing")]
    /// Marks every page of `block` unprogrammable until the next erase, as
    /// after an interrupted erase whose outcome is unknown.
    pub fn mark_unknown(&mut self, block: BlockAddr) {
        for page in 0..self.geometry.pages_per_block {
            self.mark_programmed(PageAddr { block, page });
        }
    }

    #[cfg(feature = "testing")]
    pub fn block_state(&self, block: BlockAddr) -> BlockState {
        let programmed = (0..self.geometry.pages_per_block)
            .map(|page| self.is_programmed(PageAddr { block, page }))
            .collect();
        BlockState {
            programmed,
            write_pointer: self.write_pointer(block),
        }
    }

    #[cfg(feature = "testing")]
    pub fn restore_block(&mut self, block: BlockAddr, state: &BlockState) {
        assert_eq!(
            state.programmed.len(),
            self.geometry.pages_per_block as usize
        );
        for (page, &programmed) in state.programmed.iter().enumerate() {
            let (word, mask) = self.bit(PageAddr {
                block,
                page: page as u32,
            });
            if programmed {
                self.programmed[word] |= mask;
            } else {
                self.programmed[word] &= !mask;
            }
        }
        self.write_pointer[block.0 as usize] = state.write_pointer;
    }

    #[cfg(feature = "testing")]
    /// Undoes the program of `addr`, putting the write pointer back.
    pub fn unprogram(&mut self, addr: PageAddr, write_pointer_before: u32) {
        let (word, mask) = self.bit(addr);
        self.programmed[word] &= !mask;
        self.write_pointer[addr.block.0 as usize] = write_pointer_before;
    }
}

#[cfg(test)]
mod tests;
