//! Error correction over the [`Flash`] seam, as MTD's ECC engines sit under
//! UBI. [`Media`] wraps a raw device whose pages carry a spare area: a
//! program writes BCH parity for every ECC step of the data into the spare
//! ([`bch`]); a read corrects what it can and says how much
//! ([`ReadStatus`]), or refuses the page ([`FlashError::Uncorrectable`]).
//! The index sees data-only pages ([`Geometry::data_only`]).
//!
//! Promises: a page programmed through it reads back exactly with up to
//! `ecc_bits` flipped bits in each step (data and parity); an erased page
//! reads erased, its flips corrected too, because the parity is stored
//! XOR-ed with the parity of an erased step, which makes an erased page a
//! codeword; more flips give `Uncorrectable`, not data (a corrupted step
//! can decode to another codeword only by chance, and the formats' CRC32C
//! stands behind it). Every operation is counted.

pub(crate) mod bch;

use std::sync::Arc;

use crate::flash::{
    BlockAddr, Flash, FlashError, Geometry, IoCounts, PageAddr, ReadStatus, Rule, ERASED,
};
use bch::Bch;

/// What the error correction saw, since the media was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EccCounts {
    /// Bits corrected, over all reads.
    pub bits_corrected: u64,
    /// Page reads that needed a correction.
    pub pages_corrected: u64,
    /// Page reads refused as uncorrectable.
    pub pages_uncorrectable: u64,
    /// Page reads at or past the scrub threshold.
    pub pages_to_scrub: u64,
    /// The most bits corrected in one step of one read.
    pub bits_corrected_max: u32,
}

/// The code of a geometry, shared by every clone of a media.
#[derive(Debug)]
struct Codec {
    bch: Arc<Bch>,
    /// Steps a page.
    steps: usize,
    /// Parity of an erased step XOR all ones: stored parity is the data's
    /// parity XOR this, so an erased page (all ones) is a codeword.
    mask: Vec<u8>,
    /// Spare bytes a step's parity slot takes.
    slot_bytes: usize,
    /// Bits corrected in one step at which a read asks for a scrub: three
    /// quarters of the strength, rounded up, as MTD's default.
    scrub_bits: u32,
}

/// The zero bits of a step read, data and the parity's codeword bits (the
/// first `parity_bits`, most significant first), if at most `most`: the
/// bits by which it differs from the erased codeword. Stops at the first
/// 64 bytes past `most`, so a programmed step costs about one such chunk.
fn erased_flips(data: &[u8], parity: &[u8], parity_bits: usize, most: u32) -> Option<u32> {
    if crate::flash::is_erased(data) && crate::flash::is_erased(parity) {
        // Most erased steps: all ones, at vector speed.
        return Some(0);
    }
    // Steps are whole multiples of 16 bytes (`Geometry::validate`).
    let (words, rest) = data.as_chunks::<8>();
    assert!(rest.is_empty(), "a step of whole words");
    let mut zeros = 0u32;
    for chunk in words.chunks(8) {
        zeros += chunk
            .iter()
            .map(|word| u64::from_ne_bytes(*word).count_zeros())
            .sum::<u32>();
        if zeros > most {
            return None;
        }
    }
    let (last, whole) = parity.split_last()?;
    assert_eq!(parity_bits.div_ceil(8), parity.len(), "the parity's bytes");
    zeros += whole.iter().map(|byte| byte.count_zeros()).sum::<u32>();
    let last_bits = parity_bits - 8 * whole.len();
    zeros += (!last & (0xFFu8 << (8 - last_bits))).count_ones();
    (zeros <= most).then_some(zeros)
}

/// Sets the parity's codeword bits to ones, its padding bits left as read
/// (the decode never touches them either).
fn set_codeword_bits(parity: &mut [u8], parity_bits: usize) {
    let Some((last, whole)) = parity.split_last_mut() else {
        return;
    };
    whole.fill(ERASED);
    *last |= 0xFFu8 << (8 - (parity_bits - 8 * whole.len()));
}

impl Codec {
    /// The code of a geometry [`Geometry::validate`] took; `None` without
    /// an ECC. `validate` took a step of 16 B to 4 KiB that divides the
    /// page and at most 128 bits (so a BCH code exists), and the parity of
    /// the smallest field holding a step's codeword, the code's own field,
    /// for every step within the spare area.
    fn new(geometry: Geometry) -> Option<Codec> {
        if geometry.ecc_bits == 0 {
            return None;
        }
        let step = geometry.ecc_step_bytes as usize;
        let bch = Bch::shared(step, geometry.ecc_bits).expect("a validated ECC has a code");
        let steps = geometry.page_bytes as usize / step;
        let slot_bytes = geometry
            .ecc_parity_bytes()
            .expect("a validated ECC has a parity slot") as usize;
        assert!(
            bch.parity_bytes() <= slot_bytes && steps * slot_bytes <= geometry.spare_bytes as usize,
            "a validated ECC's parity fits the spare area"
        );
        let mut mask = vec![0u8; bch.parity_bytes()];
        bch.encode(&vec![ERASED; step], &mut mask);
        mask.iter_mut().for_each(|b| *b ^= ERASED);
        Some(Codec {
            scrub_bits: (geometry.ecc_bits * 3).div_ceil(4),
            slot_bytes,
            bch,
            steps,
            mask,
        })
    }

    /// Corrects `raw` (data, then spare) step by step in place: the most
    /// bits corrected in one step and the total, or `None` if a step is
    /// past correcting (that step left as it was). A step read within `t`
    /// bits of all ones, data and parity's codeword bits, is the erased
    /// codeword with those bits flipped, as the decode would find (a code
    /// of distance above `2t` has one codeword that near): it is set to
    /// ones and its zeros counted as corrected, without the decode. That
    /// is what most reads of a scan and of a block's unused tail are, and
    /// on an aged part each held a few flips and took a whole decode
    /// (syndromes, locator, roots). Linux's `nand_check_erased_ecc_chunk`
    /// counts an erased chunk's flips the same way.
    fn correct(
        &self,
        raw: &mut [u8],
        page_bytes: usize,
        wanted_bytes: usize,
    ) -> Option<(u32, u64)> {
        let (data, spare) = raw.split_at_mut(page_bytes);
        let wanted_steps = wanted_bytes.div_ceil(self.bch.data_bytes());
        assert!(wanted_steps <= self.steps, "bytes beyond the page");
        let (mut most, mut total) = (0, 0u64);
        let mut tally = |bits: [u32; 2]| {
            most = most.max(bits[0]).max(bits[1]);
            total += u64::from(bits[0]) + u64::from(bits[1]);
        };
        // Two steps at a time (see `Bch::decode_two`); an odd last one alone.
        let mut pending: Option<(&mut [u8], &mut [u8])> = None;
        for (step_data, parity) in self.steps(data, spare).take(wanted_steps) {
            let flips = erased_flips(
                step_data,
                parity,
                self.bch.parity_bits(),
                self.bch.strength(),
            );
            if let Some(flips) = flips.filter(|&f| f > 0) {
                step_data.fill(ERASED);
                set_codeword_bits(parity, self.bch.parity_bits());
                tally([flips, 0]);
            }
            parity.iter_mut().zip(&self.mask).for_each(|(b, m)| *b ^= m);
            if flips.is_some() {
                continue;
            }
            match pending.take() {
                None => pending = Some((step_data, parity)),
                Some((first_data, first_parity)) => tally(
                    self.bch
                        .decode_two([first_data, step_data], [first_parity, parity])
                        .ok()?,
                ),
            }
        }
        if let Some((last_data, last_parity)) = pending {
            tally([self.bch.decode(last_data, last_parity).ok()?, 0]);
        }
        Some((most, total))
    }

    /// Encodes `data` into the parity slots of `spare`, two steps at a time.
    fn encode(&self, data: &[u8], spare: &mut [u8]) {
        let step_bytes = self.bch.data_bytes();
        let parity_bytes = self.bch.parity_bytes();
        let mut steps = data
            .chunks_exact(step_bytes)
            .zip(spare.chunks_exact_mut(self.slot_bytes))
            .map(|(data, slot)| (data, &mut slot[..parity_bytes]))
            .take(self.steps);
        for _ in 0..self.steps.div_ceil(2) {
            let (first_data, first_parity) = steps.next().expect("a step");
            match steps.next() {
                Some((second_data, second_parity)) => {
                    self.bch.encode_two(
                        [first_data, second_data],
                        [&mut *first_parity, &mut *second_parity],
                    );
                    second_parity
                        .iter_mut()
                        .zip(&self.mask)
                        .for_each(|(b, m)| *b ^= m);
                }
                None => self.bch.encode(first_data, first_parity),
            }
            first_parity
                .iter_mut()
                .zip(&self.mask)
                .for_each(|(b, m)| *b ^= m);
        }
    }

    /// Each step's data and its parity: at the start of its slot of the
    /// spare area ([`Geometry::ecc_parity_bytes`] a step), in order.
    fn steps<'a>(
        &self,
        data: &'a mut [u8],
        spare: &'a mut [u8],
    ) -> impl Iterator<Item = (&'a mut [u8], &'a mut [u8])> {
        let parity_bytes = self.bch.parity_bytes();
        data.chunks_exact_mut(self.bch.data_bytes())
            .zip(spare.chunks_exact_mut(self.slot_bytes))
            .map(move |(data, slot)| (data, &mut slot[..parity_bytes]))
            .take(self.steps)
    }
}

/// A raw device seen through its ECC. See the module documentation.
#[derive(Clone, Debug)]
pub struct Media<F> {
    inner: F,
    raw: Geometry,
    codec: Option<Arc<Codec>>,
    /// A raw page: data, then spare.
    buf: Vec<u8>,
    /// A raw page read back to verify a program.
    check: Vec<u8>,
    io: IoCounts,
    ecc: EccCounts,
}

impl<F: Flash> Media<F> {
    /// `inner` with the ECC its geometry asks for; a geometry whose ECC
    /// cannot be built gives the device back with the error.
    pub fn new(inner: F) -> Result<Self, (FlashError, F)> {
        let raw = inner.geometry();
        if let Err(error) = raw.validate() {
            return Err((error, inner));
        }
        let codec = Codec::new(raw).map(Arc::new);
        Ok(Media {
            buf: vec![ERASED; raw.raw_page_bytes() as usize],
            check: vec![ERASED; raw.raw_page_bytes() as usize],
            inner,
            raw,
            codec,
            io: IoCounts::default(),
            ecc: EccCounts::default(),
        })
    }

    pub fn counts(&self) -> IoCounts {
        self.io
    }

    pub fn ecc_counts(&self) -> EccCounts {
        self.ecc
    }

    /// Bytes of ECC parity a page carries in its spare area.
    pub fn parity_bytes_per_page(&self) -> usize {
        self.codec.as_ref().map_or(0, |c| c.steps * c.slot_bytes)
    }

    pub fn inner(&self) -> &F {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    pub fn into_inner(self) -> F {
        self.inner
    }

    /// Corrects the raw page in `self.buf` step by step; the most bits
    /// corrected in one step, or `Uncorrectable`. Counted.
    /// Reads `page` from the device and corrects the ECC steps that hold
    /// `buf` (the first `buf.len()` data bytes), then copies them out.
    fn read_steps(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        self.io.reads += 1;
        self.inner.read(page, &mut self.buf)?;
        let bits = match self.correct(page, buf.len()) {
            Ok(bits) => bits,
            Err(error) => {
                self.ecc.pages_uncorrectable += 1;
                return Err(error);
            }
        };
        buf.copy_from_slice(&self.buf[..buf.len()]);
        let scrub = self.codec.as_ref().is_some_and(|c| bits >= c.scrub_bits);
        self.ecc.pages_to_scrub += u64::from(scrub);
        Ok(ReadStatus {
            bits_corrected: bits,
            scrub,
        })
    }

    fn correct(&mut self, page: PageAddr, data_bytes: usize) -> Result<u32, FlashError> {
        let Some(codec) = self.codec.as_deref() else {
            return Ok(0);
        };
        if crate::planted::active(crate::planted::Bug::SkipCorrection) {
            return Ok(0);
        }
        let (most, total) = codec
            .correct(&mut self.buf, self.raw.page_bytes as usize, data_bytes)
            .ok_or(FlashError::Uncorrectable { page })?;
        self.ecc.bits_corrected += total;
        self.ecc.pages_corrected += u64::from(total > 0);
        self.ecc.bits_corrected_max = self.ecc.bits_corrected_max.max(most);
        Ok(most)
    }

    /// Reads `page` back right after its program and checks it holds
    /// `data` (through the ECC): a worn block may take a program, say so,
    /// and keep nothing. A page that does not read back is a failed
    /// program ([`FlashError::BadBlock`]).
    fn verify(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        if crate::planted::active(crate::planted::Bug::UnverifiedProgram) {
            return Ok(());
        }
        self.io.verify_reads += 1;
        self.inner.read(page, &mut self.check)?;
        // Read back exactly as programmed, parity included: the codeword
        // the decode would find clean, without computing it.
        if self.check == self.buf {
            return Ok(());
        }
        let corrected = match self.codec.as_deref() {
            Some(codec) => codec
                .correct(&mut self.check, data.len(), data.len())
                .is_some(),
            None => true,
        };
        if corrected && self.check[..data.len()] == *data {
            return Ok(());
        }
        Err(FlashError::BadBlock {
            block: page.block,
            op: crate::flash::FlashOp::Program,
        })
    }

    /// Lays `data` and its parity out in `self.buf`.
    fn encode(&mut self, data: &[u8]) {
        let data_bytes = self.raw.page_bytes as usize;
        self.buf.fill(ERASED);
        self.buf[..data_bytes].copy_from_slice(data);
        let Some(codec) = self.codec.as_deref() else {
            return;
        };
        let (data, spare) = self.buf.split_at_mut(data_bytes);
        codec.encode(data, spare);
    }
}

impl<F: Flash> Flash for Media<F> {
    fn geometry(&self) -> Geometry {
        self.raw.data_only()
    }

    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        self.read_checked(page, buf).map(|_| ())
    }

    fn read_checked(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        self.raw.data_only().check_io(page, buf.len())?;
        self.read_steps(page, buf)
    }

    fn read_head(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<ReadStatus, FlashError> {
        let data = self.raw.data_only();
        data.check_page(page)?;
        if buf.len() > data.page_bytes as usize {
            return Err(FlashError::Violation {
                rule: Rule::BufferLength {
                    expected: data.page_bytes,
                    actual: buf.len(),
                },
                page,
            });
        }
        self.read_steps(page, buf)
    }

    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        self.raw.data_only().check_io(page, data.len())?;
        self.encode(data);
        self.inner.program(page, &self.buf)?;
        self.io.programs += 1;
        self.io.bytes_programmed += self.buf.len() as u64;
        self.verify(page, data)
    }

    fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
        self.io.erases += 1;
        self.inner.erase(block)
    }

    fn sync(&mut self) -> Result<(), FlashError> {
        self.io.syncs += 1;
        self.inner.sync()
    }

    fn is_bad(&mut self, block: BlockAddr) -> Result<bool, FlashError> {
        self.inner.is_bad(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::PAGE_BYTES_MIN;
    use rand::{Rng, SeedableRng};

    /// `Codec::correct` as it was before erased steps were counted: the
    /// exact erased codeword skipped, every other step decoded.
    fn correct_by_decoding(codec: &Codec, raw: &mut [u8], page_bytes: usize) -> Option<(u32, u64)> {
        let (data, spare) = raw.split_at_mut(page_bytes);
        let (mut most, mut total) = (0, 0u64);
        for (step_data, parity) in codec.steps(data, spare) {
            let erased = crate::flash::is_erased(step_data) && crate::flash::is_erased(parity);
            parity
                .iter_mut()
                .zip(&codec.mask)
                .for_each(|(b, m)| *b ^= m);
            if !erased {
                let bits = codec.bch.decode(step_data, parity).ok()?;
                most = most.max(bits);
                total += u64::from(bits);
            }
        }
        Some((most, total))
    }

    /// `erased_flips` counts the flips of a step within `most` of erased,
    /// wherever they lie (the first 64 bytes, the last, the parity's
    /// codeword bits), ignores the parity's padding bits, and refuses one
    /// flip more: so a near-erased step is never sent to the decode (the
    /// decode would find the same, so only this test sees it skipped).
    #[test]
    fn erased_flips_counts_up_to_most_and_refuses_one_more() {
        let (step, parity_bits) = (512usize, 100usize);
        let parity_bytes = parity_bits.div_ceil(8);
        let most = 6u32;
        let flip = |bits: &[usize]| {
            let (mut data, mut parity) = (vec![ERASED; step], vec![ERASED; parity_bytes]);
            for &bit in bits {
                match bit.checked_sub(step * 8) {
                    None => data[bit / 8] ^= 1 << (bit % 8),
                    Some(p) => parity[p / 8] ^= 1 << (p % 8),
                }
            }
            erased_flips(&data, &parity, parity_bits, most)
        };
        assert_eq!(flip(&[]), Some(0));
        // All in the first chunk, all in the last, spread, in the parity.
        let first: Vec<usize> = (0..6).collect();
        let last: Vec<usize> = (0..6).map(|i| step * 8 - 1 - i).collect();
        let spread: Vec<usize> = (0..6).map(|i| i * 677).collect();
        let parity: Vec<usize> = (0..6).map(|i| step * 8 + i * 16).collect();
        for bits in [&first, &last, &spread, &parity] {
            assert_eq!(flip(bits), Some(6), "{bits:?}");
            assert_eq!(flip(&bits[..3]), Some(3), "{bits:?}");
            let mut more = bits.clone();
            more.push(if bits == &parity { 7 } else { step * 8 + 7 });
            assert_eq!(flip(&more), None, "{more:?}");
        }
        // The last parity byte's low 4 bits are padding: not counted.
        let padding: Vec<usize> = (0..4)
            .map(|i| step * 8 + 8 * (parity_bytes - 1) + i)
            .collect();
        assert_eq!(flip(&padding), Some(0));
        assert_eq!(
            flip(&[padding.clone(), first[..2].to_vec()].concat()),
            Some(2)
        );
    }

    /// A step within t flips of the erased codeword reads as the decode
    /// reads it: set to ones, its flips counted, the parity's padding bits
    /// (outside the code) neither counted nor touched. Flips anywhere in
    /// the data and the parity slot, every count from none to t + 2, on
    /// codes whose parity ends mid-byte and on a whole byte; programmed
    /// steps beside erased ones.
    #[test]
    fn a_step_near_erased_reads_as_the_decode_reads_it() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut counted = 0;
        for (page, spare, step, t) in [
            (1024, 64, 512, 4),
            (2048, 128, 512, 12),
            (2048, 128, 1024, 24),
            (512, 16, 512, 8),
        ] {
            let geometry = Geometry::new(page, 8, 4)
                .unwrap()
                .with_ecc(spare, step, t)
                .unwrap();
            let codec = Codec::new(geometry).unwrap();
            let (page, step) = (page as usize, step as usize);
            for trial in 0..400 {
                let mut raw = vec![ERASED; geometry.raw_page_bytes() as usize];
                if trial % 5 == 0 {
                    // A programmed first step, encoded.
                    rng.fill(&mut raw[..step]);
                    let mut parity = vec![0u8; codec.bch.parity_bytes()];
                    codec.bch.encode(&raw[..step], &mut parity);
                    parity
                        .iter_mut()
                        .zip(&codec.mask)
                        .for_each(|(b, m)| *b ^= m);
                    raw[page..][..parity.len()].copy_from_slice(&parity);
                }
                let flips = trial % (t as usize + 3);
                for _ in 0..flips {
                    let bit = rng.random_range(0..raw.len() * 8);
                    raw[bit / 8] ^= 1 << (bit % 8);
                }
                let mut slow = raw.clone();
                let fast = codec.correct(&mut raw, page, page);
                assert_eq!(
                    fast,
                    correct_by_decoding(&codec, &mut slow, page),
                    "trial {trial}"
                );
                if let Some((_, total)) = fast {
                    assert_eq!(raw, slow, "trial {trial}: the bytes corrected");
                    counted += usize::from(total > 0);
                }
            }
        }
        assert!(counted > 500, "{counted} reads corrected flips");
    }

    /// A device in RAM: a flat image of raw pages; the NAND rules are the
    /// media's callers' concern here.
    #[derive(Debug)]
    struct RamFlash {
        geometry: Geometry,
        image: Vec<u8>,
    }

    impl RamFlash {
        fn new(geometry: Geometry) -> Self {
            RamFlash {
                geometry,
                image: vec![ERASED; geometry.image_bytes() as usize],
            }
        }

        fn page(&mut self, page: PageAddr) -> &mut [u8] {
            let at = self.geometry.page_offset(page) as usize;
            &mut self.image[at..][..self.geometry.raw_page_bytes() as usize]
        }
    }

    impl Flash for RamFlash {
        fn geometry(&self) -> Geometry {
            self.geometry
        }
        fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
            buf.copy_from_slice(self.page(page));
            Ok(())
        }
        fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
            self.page(page).copy_from_slice(data);
            Ok(())
        }
        fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
            let at = self.geometry.page_offset(PageAddr { block, page: 0 }) as usize;
            self.image[at..][..self.geometry.raw_block_bytes() as usize].fill(ERASED);
            Ok(())
        }
        fn sync(&mut self) -> Result<(), FlashError> {
            Ok(())
        }
    }

    /// 512-byte pages, 8 a block, 4 blocks, a 4-bit BCH over each page
    /// (7 bytes of parity) in a 16-byte spare area.
    fn geometry() -> Geometry {
        Geometry::new(512, 8, 4)
            .unwrap()
            .with_ecc(16, 512, 4)
            .unwrap()
    }

    /// A device whose geometry is out of limits, or whose ECC parity does
    /// not fit its spare area, is given back with the error naming the
    /// geometry: nothing is built over it.
    #[test]
    fn a_device_of_a_geometry_out_of_limits_is_given_back() {
        let small_spare = Geometry {
            spare_bytes: 6,
            ..geometry()
        };
        let odd_page = Geometry {
            page_bytes: PAGE_BYTES_MIN + 1,
            ..Geometry::new(PAGE_BYTES_MIN, 8, 4).unwrap()
        };
        for geometry in [small_spare, odd_page] {
            let (error, inner) = Media::new(RamFlash::new(geometry)).unwrap_err();
            assert_eq!(
                error.to_string(),
                FlashError::BadGeometry { geometry }.to_string()
            );
            assert_eq!(inner.geometry(), geometry);
        }
        let media = Media::new(RamFlash::new(geometry())).unwrap();
        assert_eq!(media.parity_bytes_per_page(), 7);
    }

    /// A read or a program whose buffer is not a data page long is a
    /// `BufferLength` violation, and reaches neither the device nor the
    /// counts.
    #[test]
    fn a_buffer_not_a_page_long_is_refused_before_the_device() {
        let mut media = Media::new(RamFlash::new(geometry())).unwrap();
        let page = PageAddr::new(1, 0);
        let rule = Rule::BufferLength {
            expected: 512,
            actual: 100,
        };
        let refused = FlashError::Violation { rule, page }.to_string();
        let mut buf = vec![0u8; 100];
        assert_eq!(media.read(page, &mut buf).unwrap_err().to_string(), refused);
        assert_eq!(media.program(page, &buf).unwrap_err().to_string(), refused);
        assert_eq!(media.counts(), IoCounts::default());
        assert!(media.inner().image.iter().all(|&b| b == ERASED));
    }

    /// A page programmed through the media reads back; its block erased,
    /// it reads erased; every operation is counted, the program's verify
    /// read apart.
    #[test]
    fn programs_erases_and_syncs_reach_the_device_and_are_counted() {
        let mut media = Media::new(RamFlash::new(geometry())).unwrap();
        let page = PageAddr::new(2, 0);
        let data: Vec<u8> = (0..512u32).map(|i| (i * 7) as u8).collect();
        media.program(page, &data).unwrap();
        let mut buf = vec![0u8; 512];
        media.read(page, &mut buf).unwrap();
        assert_eq!(buf, data);
        media.erase(page.block).unwrap();
        media.sync().unwrap();
        media.read(page, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == ERASED));
        let counts = IoCounts {
            reads: 2,
            verify_reads: 1,
            programs: 1,
            bytes_programmed: 512 + 16,
            erases: 1,
            syncs: 1,
        };
        assert_eq!(media.counts(), counts);
    }

    /// A step is taken for the erased codeword only when every byte of it,
    /// data and parity, reads all ones: an erased page whose parity bytes
    /// were all cleared (more flips than the code corrects) is refused,
    /// not read as erased.
    #[test]
    fn an_erased_page_with_its_parity_cleared_is_uncorrectable() {
        let mut media = Media::new(RamFlash::new(geometry())).unwrap();
        let page = PageAddr::new(1, 3);
        let parity_bytes = media.codec.as_ref().unwrap().bch.parity_bytes();
        media.inner_mut().page(page)[512..512 + parity_bytes].fill(0);
        let mut buf = vec![0u8; 512];
        assert!(matches!(
            media.read_checked(page, &mut buf),
            Err(FlashError::Uncorrectable { .. })
        ));
        // Erased but for the parity's first byte: one bit within it flipped
        // back is still one flip, and corrected.
        media.erase(page.block).unwrap();
        media.inner_mut().page(page)[512] = 0xFE;
        assert_eq!(
            media.read_checked(page, &mut buf).unwrap().bits_corrected,
            1
        );
        assert!(buf.iter().all(|&b| b == ERASED));
    }
    /// A head read corrects the steps holding the bytes asked for and no
    /// more: a page whose second step is past the ECC gives its first
    /// step's bytes, corrected and counted, where a whole read refuses
    /// it; a step past the ECC among those asked is refused; a head
    /// longer than a page is refused before the device.
    #[test]
    fn a_head_read_corrects_only_the_steps_it_returns() {
        let geometry = Geometry::new(512, 8, 4)
            .unwrap()
            .with_ecc(32, 256, 2)
            .unwrap();
        let mut media = Media::new(RamFlash::new(geometry)).unwrap();
        let page = PageAddr::new(2, 0);
        let data: Vec<u8> = (0..512u32).map(|i| (i * 7 + 3) as u8).collect();
        media.program(page, &data).unwrap();
        media.inner_mut().page(page)[0] ^= 1;
        for at in [300, 301, 302] {
            media.inner_mut().page(page)[at] ^= 0x10;
        }
        let mut whole = vec![0u8; 512];
        assert!(matches!(
            media.read_checked(page, &mut whole),
            Err(FlashError::Uncorrectable { .. })
        ));
        let mut head = vec![0u8; 44];
        let status = media.read_head(page, &mut head).unwrap();
        assert_eq!((head.as_slice(), status.bits_corrected), (&data[..44], 1));
        let mut first_step = vec![0u8; 256];
        assert!(media.read_head(page, &mut first_step).is_ok());
        let other = PageAddr::new(2, 1);
        media.program(other, &data).unwrap();
        let mut exactly_a_page = vec![0u8; 512];
        assert!(media.read_head(other, &mut exactly_a_page).is_ok());
        assert_eq!(exactly_a_page, data);
        let mut past_it = vec![0u8; 257];
        assert!(matches!(
            media.read_head(page, &mut past_it),
            Err(FlashError::Uncorrectable { .. })
        ));
        let mut too_long = vec![0u8; 513];
        assert!(matches!(
            media.read_head(page, &mut too_long),
            Err(FlashError::Violation { .. })
        ));
        // A device without ECC reads the whole page and returns its head.
        let mut plain = RamFlash::new(Geometry::new(512, 8, 4).unwrap());
        plain.program(page, &data).unwrap();
        assert!(plain.read_head(page, &mut head).is_ok());
        assert_eq!(head, data[..44]);
        assert!(plain.read_head(page, &mut exactly_a_page).is_ok());
        assert_eq!(exactly_a_page, data);
        assert!(matches!(
            plain.read_head(page, &mut too_long),
            Err(FlashError::Violation { .. })
        ));
    }
}
