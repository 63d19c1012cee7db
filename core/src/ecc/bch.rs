//! A systematic, shortened binary BCH code over GF(2^m), as NAND ECC engines use.
//!
//! This module owns the code's tables (the field GF(2^m), the generator
//! polynomial's remainder tables) and the two operations on a page:
//! [`Bch::encode`] computes the parity of the data, [`Bch::decode`] corrects up
//! to `strength` (t) flipped bits anywhere in data and parity, or reports
//! [`Uncorrectable`] and leaves both buffers exactly as they were.
//!
//! # Bit order
//!
//! The codeword is the polynomial `c(x) = d(x) * x^E + p(x)`, where `E` is the
//! degree of the generator `g(x)` and `p(x) = d(x) * x^E mod g(x)`. Its bits
//! are read most significant bit first: bit 7 of data byte 0 is the
//! highest-degree coefficient, bit 0 of the last data byte is the coefficient
//! of `x^E`, then bit 7 of parity byte 0 is the coefficient of `x^(E-1)`, and
//! so on down to `x^0`. The last parity byte has `8 * parity_bytes - E` unused
//! low bits (padding): encode writes them as 1 (like erased flash), decode
//! neither checks nor rewrites them, so flips there are not errors.
//!
//! # Promises
//!
//! - Encoding is table-driven, eight bytes at a time (eight tables of 256
//!   remainders, "slicing by 8", as CRCs are computed); so is the first
//!   step of decoding, and a clean codeword costs nothing more.
//! - Decoding corrects any `k <= t` bit errors and returns `Ok(k)`. With more
//!   errors it returns [`Uncorrectable`] (buffers untouched) or, rarely, a
//!   miscorrection to another codeword at distance `<= t`.
//! - Neither operation allocates; every loop is bounded by t, n or m.
//!
//! The design follows the Linux kernel's `lib/bch.c` (same primitive
//! polynomials, generator construction and binary Berlekamp–Massey, and
//! its way of finding the locator's roots: split by traces, in [`roots`],
//! not searched position by position).

use std::fmt;
use std::sync::{Arc, Mutex};

/// Largest supported data size.
const MAX_DATA_BYTES: usize = 4096;
/// Largest supported strength (correctable bits).
const MAX_STRENGTH: u32 = 128;
/// The field degrees tried, smallest first.
const MIN_M: u32 = 5;
const MAX_M: u32 = 16;
/// Primitive polynomials of GF(2^m) for m = 5..=16 (Linux `lib/bch.c`).
const PRIMITIVE_POLYS: [u32; 12] = [
    0x25, 0x43, 0x83, 0x11d, 0x211, 0x409, 0x805, 0x1053, 0x201b, 0x402b, 0x8003, 0x1002d,
];
const MAX_T: usize = MAX_STRENGTH as usize;
/// deg(g) <= m * t.
const MAX_ECC_BITS: usize = (MAX_M * MAX_STRENGTH) as usize;
/// u64 words of the largest remainder register.
const MAX_WORDS: usize = MAX_ECC_BITS.div_ceil(64);
const _: () = assert!(
    MAX_WORDS.is_power_of_two(),
    "table strides are powers of two"
);
/// Berlekamp–Massey writes locator coefficients up to index 3t - 1.
const LOCATOR_LEN: usize = 3 * MAX_T + 1;
/// Bytes the encoder consumes a step: one u64 word of the register.
const SLICES: usize = 8;
/// Codes [`Bch::shared`] keeps for the process; the oldest goes first.
const SHARED_MAX: usize = 16;

/// Set (to anything but `0`) in the environment, remainders are computed
/// through the tables only, as on a CPU without carry-less multiplication:
/// how a campaign runs the portable path on this machine (CI does).
pub const TABLES_ONLY_VAR: &str = "LOGSTORE_ECC_TABLES";

/// Set (to anything but `0`) in the environment, the carry-less folding
/// takes one 128-bit product at a time even where the CPU has 512-bit ones
/// (AVX-512 with `VPCLMULQDQ`): how the tests and a campaign compare both
/// paths on one machine.
pub const WIDE_OFF_VAR: &str = "LOGSTORE_ECC_NO_WIDE";

/// Whether remainders are computed by carry-less multiplication: x86-64
/// with PCLMULQDQ, and [`TABLES_ONLY_VAR`] not set.
fn carry_less() -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq") {
        return std::env::var_os(TABLES_ONLY_VAR).is_none_or(|v| v == "0");
    }
    false
}

/// How this process computes ECC remainders: `"carry-less multiplication,
/// 512-bit"` (AVX-512 with `VPCLMULQDQ`: four products to an
/// instruction), `"carry-less multiplication"` (one at a time: a CPU
/// without them, or [`WIDE_OFF_VAR`] set) or `"tables"` (a CPU
/// without PCLMULQDQ, or [`TABLES_ONLY_VAR`] set). Campaigns print it with
/// their figures.
pub fn remainder_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if carry_less() && clmul::wide_products() {
        return "carry-less multiplication, 512-bit";
    }
    if carry_less() {
        "carry-less multiplication"
    } else {
        "tables"
    }
}

/// The codes built so far, shared by every [`Bch::shared`] caller: a code's
/// tables take longer to build than thousands of pages take to check, and
/// simulations open a device many times.
static SHARED: Mutex<Vec<Arc<Bch>>> = Mutex::new(Vec::new());

/// A BCH code protecting `data_bytes` of data with `strength` (t) correctable bit errors.
#[derive(Clone)]
pub struct Bch {
    data_bytes: usize,
    strength: u32,
    field: Field,
    /// Degree of the generator polynomial: the number of parity bits.
    ecc_bits: usize,
    /// u64 words of the remainder register (`ceil(ecc_bits / 64)`).
    words: usize,
    /// Table row length: `words` rounded up to a power of two (the extra
    /// words are zero), so that the encoder loop is specialized per size
    /// and its rows are whole vector registers.
    stride: usize,
    /// `SLICES` tables of 256 rows: row `b` of table `k` is
    /// `b(x) * x^(8 * (SLICES - 1 - k)) * x^ecc_bits mod g(x)`, left-aligned,
    /// at `table[(k * 256 + b) * stride..][..stride]`. Table `SLICES - 1`
    /// is the byte-wise table.
    table: Vec<u64>,
    /// The minimal polynomials' remainder tables the syndromes use.
    syndrome_tables: syndromes::SyndromeTables,
    /// The constants for remainders by carry-less multiplication, where
    /// the CPU has it.
    #[cfg(target_arch = "x86_64")]
    folding: Option<clmul::Folding>,
}

/// The parameters admit no BCH code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BchError {
    /// The parameters admit no code: data_bytes 0 or > 4096, or strength 0 or > 128 (within those, GF(2^16) always holds the codeword).
    #[error("no BCH code for {data_bytes} data bytes and {strength} correctable bits")]
    Unsupported { data_bytes: usize, strength: u32 },
}

/// A codeword with more errors than the code corrects (or one it cannot place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uncorrectable;

impl fmt::Debug for Bch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bch")
            .field("data_bytes", &self.data_bytes)
            .field("strength", &self.strength)
            .field("m", &self.field.m)
            .field("ecc_bits", &self.ecc_bits)
            .finish_non_exhaustive()
    }
}

impl Bch {
    /// Chooses the smallest m in 5..=16 with 2^m - 1 >= data_bits + m*strength.
    pub fn new(data_bytes: usize, strength: u32) -> Result<Bch, BchError> {
        let unsupported = BchError::Unsupported {
            data_bytes,
            strength,
        };
        if data_bytes == 0
            || data_bytes > MAX_DATA_BYTES
            || strength == 0
            || strength > MAX_STRENGTH
        {
            return Err(unsupported);
        }
        let data_bits = 8 * data_bytes as u64;
        // 4096 bytes and 128 bits (checked above): 32768 + 16 * 128 < 2^16.
        let m = (MIN_M..=MAX_M)
            .find(|&m| (1u64 << m) > data_bits + u64::from(m * strength))
            .expect("GF(2^16) holds every codeword within the bounds");
        let field = Field::new(m);
        let generator = generator_poly(&field, strength);
        let ecc_bits = generator.len() - 1;
        assert!(ecc_bits >= m as usize && ecc_bits <= (m * strength) as usize);
        let words = ecc_bits.div_ceil(64);
        let stride = if (2..=10).contains(&words) {
            words.next_multiple_of(2)
        } else {
            words.next_power_of_two()
        };
        let table = remainder_table(&generator, stride);
        let syndrome_tables = syndromes::SyndromeTables::new(&field, strength, words);
        #[cfg(target_arch = "x86_64")]
        let folding = clmul::Folding::new(&generator, words);
        Ok(Bch {
            data_bytes,
            strength,
            field,
            ecc_bits,
            words,
            stride,
            table,
            syndrome_tables,
            #[cfg(target_arch = "x86_64")]
            folding,
        })
    }

    /// [`Bch::new`], built once per process for each (data_bytes,
    /// strength) among the last [`SHARED_MAX`] asked for.
    pub(crate) fn shared(data_bytes: usize, strength: u32) -> Result<Arc<Bch>, BchError> {
        let same = |bch: &&Arc<Bch>| bch.data_bytes == data_bytes && bch.strength == strength;
        // A panic elsewhere cannot leave the list half-changed: take it as is.
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(bch) = shared.iter().find(same) {
            return Ok(Arc::clone(bch));
        }
        let bch = Arc::new(Bch::new(data_bytes, strength)?);
        if shared.len() == SHARED_MAX {
            shared.remove(0);
        }
        shared.push(Arc::clone(&bch));
        assert!(shared.len() <= SHARED_MAX);
        Ok(bch)
    }

    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// Errors a codeword of this code corrects: `t`.
    pub(crate) fn strength(&self) -> u32 {
        self.strength
    }

    /// Bits of parity, deg(g): the parity bytes' first bits (most
    /// significant first), the last byte's low bits padding.
    pub(crate) fn parity_bits(&self) -> usize {
        self.ecc_bits
    }

    #[cfg(test)]
    pub(crate) fn m(&self) -> u32 {
        self.field.m
    }

    /// Bytes of parity: ceil(deg(g) / 8), deg(g) <= m * strength.
    pub fn parity_bytes(&self) -> usize {
        self.ecc_bits.div_ceil(8)
    }

    /// Writes the parity of `data` (exactly data_bytes) into `parity` (exactly parity_bytes).
    ///
    /// The padding bits of the last parity byte are written as 1.
    pub fn encode(&self, data: &[u8], parity: &mut [u8]) {
        assert_eq!(parity.len(), self.parity_bytes(), "parity length");
        let [register] = self.remainders([data]);
        self.write_parity(&register, parity);
    }

    /// [`Bch::encode`] of two steps at once: the two remainders are
    /// computed in lockstep, which hides each table lookup's latency behind
    /// the other's (about twice the bytes a second of one at a time).
    pub fn encode_two(&self, data: [&[u8]; 2], parity: [&mut [u8]; 2]) {
        let registers = self.remainders(data);
        for (register, parity) in registers.iter().zip(parity) {
            assert_eq!(parity.len(), self.parity_bytes(), "parity length");
            self.write_parity(register, parity);
        }
    }

    /// [`Bch::encode`] a byte at a time through the byte-wise table alone,
    /// as the encoder was before slicing: the tests' reference for the
    /// sliced tables and the benchmark's baseline.
    #[cfg(any(test, feature = "testing"))]
    pub fn encode_bytewise(&self, data: &[u8], parity: &mut [u8]) {
        assert_eq!(data.len(), self.data_bytes, "data length");
        assert_eq!(parity.len(), self.parity_bytes(), "parity length");
        let register = match self.stride {
            1 => self.bytewise_in::<1>(data),
            2 => self.bytewise_in::<2>(data),
            4 => self.bytewise_in::<4>(data),
            6 => self.bytewise_in::<6>(data),
            8 => self.bytewise_in::<8>(data),
            10 => self.bytewise_in::<10>(data),
            16 => self.bytewise_in::<16>(data),
            _ => self.bytewise_in::<MAX_WORDS>(data),
        };
        self.write_parity(&register, parity);
    }

    /// The byte-wise remainder with a table stride of `W` words.
    #[cfg(any(test, feature = "testing"))]
    fn bytewise_in<const W: usize>(&self, data: &[u8]) -> [u64; MAX_WORDS] {
        assert_eq!(self.stride, W, "table stride");
        let byte_table = &self.table[(SLICES - 1) * 256 * W..];
        let mut register = [0u64; W];
        for &byte in data {
            let index = usize::from((register[0] >> 56) as u8 ^ byte);
            let row = &byte_table[index * W..][..W];
            for i in 0..W - 1 {
                register[i] = (register[i] << 8 | register[i + 1] >> 56) ^ row[i];
            }
            register[W - 1] = register[W - 1] << 8 ^ row[W - 1];
        }
        let mut remainder = [0u64; MAX_WORDS];
        remainder[..W].copy_from_slice(&register);
        remainder
    }

    /// The remainder's bytes into `parity`, the padding bits as 1.
    fn write_parity(&self, register: &[u64; MAX_WORDS], parity: &mut [u8]) {
        for (i, byte) in parity.iter_mut().enumerate() {
            *byte = (register[i / 8] >> (56 - 8 * (i % 8))) as u8;
        }
        let padding_bits = 8 * parity.len() - self.ecc_bits;
        // Parity is at least m >= 5 bits: never empty.
        let last = parity.last_mut().expect("a parity byte");
        *last |= ((1u16 << padding_bits) - 1) as u8;
    }

    /// Corrects `data` and `parity` in place; returns the number of bits corrected
    /// (0 when the codeword is clean), or Uncorrectable (then data and parity are unchanged).
    pub fn decode(&self, data: &mut [u8], parity: &mut [u8]) -> Result<u32, Uncorrectable> {
        let [register] = self.remainders([data]);
        self.correct(register, data, parity)
    }

    /// [`Bch::decode`] of two steps, their remainders computed in lockstep
    /// (see [`Bch::encode_two`]). The first is corrected first; when it is
    /// uncorrectable the second is left as it was.
    pub fn decode_two(
        &self,
        data: [&mut [u8]; 2],
        parity: [&mut [u8]; 2],
    ) -> Result<[u32; 2], Uncorrectable> {
        let [first, second] = self.remainders([&*data[0], &*data[1]]);
        let ([data_first, data_second], [parity_first, parity_second]) = (data, parity);
        Ok([
            self.correct(first, data_first, parity_first)?,
            self.correct(second, data_second, parity_second)?,
        ])
    }

    /// [`Bch::decode`] finding the locator's roots by a Chien search over
    /// every position of the codeword, as this codec did before it split
    /// them with traces: the reference the tests and the `bch` benchmark
    /// hold the split against. Same results; slower past two errors.
    #[cfg(any(test, feature = "testing"))]
    pub fn decode_by_search(
        &self,
        data: &mut [u8],
        parity: &mut [u8],
    ) -> Result<u32, Uncorrectable> {
        let [register] = self.remainders([data]);
        self.correct_by(register, data, parity, RootFinder::Search)
    }

    /// Decodes one codeword whose data remainder is `register`.
    fn correct(
        &self,
        register: [u64; MAX_WORDS],
        data: &mut [u8],
        parity: &mut [u8],
    ) -> Result<u32, Uncorrectable> {
        self.correct_by(register, data, parity, RootFinder::Split)
    }

    /// [`Bch::correct`] with the given way of finding the locator's roots.
    fn correct_by(
        &self,
        mut register: [u64; MAX_WORDS],
        data: &mut [u8],
        parity: &mut [u8],
        finder: RootFinder,
    ) -> Result<u32, Uncorrectable> {
        assert_eq!(data.len(), self.data_bytes, "data length");
        assert_eq!(parity.len(), self.parity_bytes(), "parity length");
        let received = self.parity_register(parity);
        for (word, received) in register.iter_mut().zip(&received).take(self.words) {
            *word ^= received;
        }
        if register[..self.words].iter().all(|&word| word == 0) {
            return Ok(0);
        }
        let mut syndromes = [0u16; 2 * MAX_T];
        self.syndromes(&register[..self.words], &mut syndromes);
        let mut locator = [0u16; LOCATOR_LEN];
        let degree = self
            .error_locator(&syndromes, &mut locator)
            .ok_or(Uncorrectable)?;
        // A nonzero remainder has a nonzero syndrome, so the locator has roots.
        assert!(degree > 0, "nonzero remainder with an empty locator");
        let mut positions = [0u32; MAX_T];
        let locator = &locator[..=degree];
        let found = match finder {
            RootFinder::Split => self.error_positions(locator, &mut positions[..degree]),
            #[cfg(any(test, feature = "testing"))]
            RootFinder::Search => self.chien_search(locator, &mut positions[..degree]) == degree,
        };
        if !found {
            return Err(Uncorrectable);
        }
        for &position in &positions[..degree] {
            self.flip(data, parity, position as usize);
        }
        Ok(degree as u32)
    }

    /// Bits in the shortened codeword: data bits then parity bits (no padding).
    fn codeword_bits(&self) -> usize {
        8 * self.data_bytes + self.ecc_bits
    }

    /// `data(x) * x^ecc_bits mod g(x)` of each of `N` data buffers (each
    /// exactly data_bytes), left-aligned in `words` u64s (the bit 63 of word
    /// 0 is the coefficient of `x^(ecc_bits-1)`); later bits are 0.
    fn remainders<const N: usize>(&self, data: [&[u8]; N]) -> [[u64; MAX_WORDS]; N] {
        for buffer in data {
            assert_eq!(buffer.len(), self.data_bytes, "data length");
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(folding) = &self.folding {
            macro_rules! folded {
                ($($w:literal)*) => {
                    match self.words {
                        $($w => return self.folded::<$w, N>(folding, data),)*
                        _ => {}
                    }
                };
            }
            folded!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
        }
        match self.stride {
            1 => self.remainders_in::<1, N>(data),
            2 => self.remainders_in::<2, N>(data),
            4 => self.remainders_in::<4, N>(data),
            6 => self.remainders_in::<6, N>(data),
            8 => self.remainders_in::<8, N>(data),
            10 => self.remainders_in::<10, N>(data),
            16 => self.remainders_in::<16, N>(data),
            _ => self.remainders_in::<MAX_WORDS, N>(data),
        }
    }

    /// [`Bch::remainders`] with a table stride of `W` words. Eight bytes a
    /// step: the register's top word, XOR-ed with the next eight data bytes,
    /// leaves the register (a one-word shift), and each of its bytes adds
    /// its row of the table for its place. The buffers advance in lockstep.
    /// The last `len % 8` bytes go one at a time through the byte-wise table.
    fn remainders_in<const W: usize, const N: usize>(
        &self,
        data: [&[u8]; N],
    ) -> [[u64; MAX_WORDS]; N] {
        assert_eq!(self.stride, W, "table stride");
        let (rows, rest) = self.table.as_chunks::<W>();
        assert!(rest.is_empty(), "table rows of {W} words");
        let rows: &[[u64; W]; SLICES * 256] = rows.try_into().expect("table size");
        let mut registers = [[0u64; W]; N];
        for index in 0..self.data_bytes / SLICES {
            for (register, buffer) in registers.iter_mut().zip(data) {
                let chunk = buffer[index * SLICES..][..SLICES]
                    .try_into()
                    .expect("8 bytes");
                slice_step(rows, register, chunk);
            }
        }
        let mut remainders = [[0u64; MAX_WORDS]; N];
        for ((remainder, register), buffer) in remainders.iter_mut().zip(&mut registers).zip(data) {
            for &byte in buffer.as_chunks::<SLICES>().1 {
                let index = usize::from((register[0] >> 56) as u8 ^ byte);
                let row = &rows[(SLICES - 1) * 256 + index];
                for i in 0..W - 1 {
                    register[i] = (register[i] << 8 | register[i + 1] >> 56) ^ row[i];
                }
                register[W - 1] = register[W - 1] << 8 ^ row[W - 1];
            }
            remainder[..W].copy_from_slice(register);
        }
        remainders
    }

    /// [`Bch::remainders`] by carry-less multiplication ([`clmul`]) in `W`
    /// (= `words`) words, the last `len % 8` bytes through the byte-wise
    /// table.
    #[cfg(target_arch = "x86_64")]
    fn folded<const W: usize, const N: usize>(
        &self,
        folding: &clmul::Folding,
        data: [&[u8]; N],
    ) -> [[u64; MAX_WORDS]; N] {
        assert_eq!(W, self.words, "the register's words");
        let registers = clmul::remainders::<W, N>(folding, data);
        let mut remainders = [[0u64; MAX_WORDS]; N];
        for ((remainder, register), buffer) in remainders.iter_mut().zip(registers).zip(data) {
            remainder[..W].copy_from_slice(&register);
            for &byte in buffer.as_chunks::<SLICES>().1 {
                let index = usize::from((remainder[0] >> 56) as u8 ^ byte);
                let row = &self.table[((SLICES - 1) * 256 + index) * self.stride..][..W];
                for i in 0..W {
                    let carry = if i + 1 < W { remainder[i + 1] >> 56 } else { 0 };
                    remainder[i] = (remainder[i] << 8 | carry) ^ row[i];
                }
            }
        }
        remainders
    }

    /// This code computing remainders through its tables only, as it does
    /// on a CPU without carry-less multiplication: the reference the tests
    /// and the `bch` benchmark hold the folding against.
    #[cfg(any(test, feature = "testing"))]
    pub fn with_tables_only(&self) -> Bch {
        Bch {
            #[cfg(target_arch = "x86_64")]
            folding: None,
            syndrome_tables: self.syndrome_tables.with_tables_only(),
            ..self.clone()
        }
    }

    /// The received parity as a left-aligned register, padding bits cleared.
    fn parity_register(&self, parity: &[u8]) -> [u64; MAX_WORDS] {
        let mut register = [0u64; MAX_WORDS];
        for (i, &byte) in parity.iter().enumerate() {
            register[i / 8] |= u64::from(byte) << (56 - 8 * (i % 8));
        }
        let last_word_bits = self.ecc_bits - 64 * (self.words - 1);
        register[self.words - 1] &= u64::MAX << (64 - last_word_bits);
        register
    }

    /// `syndromes[i] = S_(i+1) = r(alpha^(i+1))` for i in 0..2t, evaluated on
    /// the remainder (g vanishes at every alpha^j, j = 1..=2t): the odd ones
    /// through [`syndromes`]' tables, the even ones as squares.
    fn syndromes(&self, remainder: &[u64], syndromes: &mut [u16; 2 * MAX_T]) {
        self.syndrome_tables
            .odd_syndromes(&self.field, remainder, self.ecc_bits, syndromes);
        for i in 0..self.strength as usize {
            syndromes[2 * i + 1] = self.field.square(syndromes[i]);
        }
    }

    /// Binary Berlekamp–Massey: writes the error locator `1 + l1 x + ...`
    /// into `locator` and returns its degree, or None when it exceeds t.
    fn error_locator(
        &self,
        syndromes: &[u16; 2 * MAX_T],
        locator: &mut [u16; LOCATOR_LEN],
    ) -> Option<usize> {
        let t = self.strength as usize;
        let n = self.field.n;
        let mut degree = 0;
        locator[0] = 1;
        let mut previous = [0u16; LOCATOR_LEN];
        previous[0] = 1;
        let mut previous_degree = 0;
        // Twice the step at which `previous` was saved (-1 before any).
        let mut previous_step: isize = -1;
        let mut previous_discrepancy = 1u16;
        let mut discrepancy = syndromes[0];
        for i in 0..t {
            if discrepancy != 0 {
                let shift = (2 * i as isize - previous_step) as usize;
                let saved = *locator;
                let scale = self.field.log(discrepancy) + n - self.field.log(previous_discrepancy);
                for (j, &c) in previous[..=previous_degree].iter().enumerate() {
                    if c != 0 {
                        let exponent = (scale + self.field.log(c)) % n;
                        locator[j + shift] ^= self.field.exp(exponent);
                    }
                }
                let new_degree = previous_degree + shift;
                if new_degree > degree {
                    previous = saved;
                    previous_degree = degree;
                    degree = new_degree;
                    previous_discrepancy = discrepancy;
                    previous_step = 2 * i as isize;
                }
            }
            if degree > t {
                return None;
            }
            if i + 1 < t {
                // The length never exceeds the syndromes processed (2i + 1).
                assert!(degree <= 2 * i + 1);
                discrepancy = syndromes[2 * i + 2];
                for j in 1..=degree.min(2 * i + 2) {
                    discrepancy ^= self.field.mul(locator[j], syndromes[2 * i + 2 - j]);
                }
            }
        }
        (locator[degree] != 0).then_some(degree)
    }

    /// Finds the roots `alpha^(-p)` of `locator` for the positions (degrees)
    /// p of the shortened codeword; writes up to `positions.len()` of them and
    /// returns how many it found.
    #[cfg(any(test, feature = "testing"))]
    fn chien_search(&self, locator: &[u16], positions: &mut [u32]) -> usize {
        let n = self.field.n;
        // Per nonzero term c_j x^j: log(c_j) - j*p (mod n) and j.
        let mut exponents = [0u32; MAX_T];
        let mut steps = [0u32; MAX_T];
        let mut terms = 0;
        for (j, &c) in locator.iter().enumerate().skip(1) {
            if c != 0 {
                exponents[terms] = self.field.log(c);
                steps[terms] = j as u32;
                terms += 1;
            }
        }
        let mut found = 0;
        for p in 0..self.codeword_bits() {
            if found == positions.len() {
                break;
            }
            let mut sum = locator[0];
            for (exponent, &step) in exponents[..terms].iter_mut().zip(&steps[..terms]) {
                sum ^= self.field.exp(*exponent);
                *exponent = if *exponent >= step {
                    *exponent - step
                } else {
                    *exponent + n - step
                };
            }
            if sum == 0 {
                positions[found] = p as u32;
                found += 1;
            }
        }
        found
    }

    /// The positions (degrees) p of the shortened codeword whose
    /// `alpha^(-p)` are the roots of `locator` (degree `positions.len()`),
    /// into `positions`; false unless there are that many, distinct, all
    /// inside the codeword (the roots split out by [`roots`]).
    fn error_positions(&self, locator: &[u16], positions: &mut [u32]) -> bool {
        let mut roots = [0u16; MAX_T];
        let degree = positions.len();
        if !roots::locator_roots(&self.field, locator, &mut roots[..degree]) {
            return false;
        }
        let bits = self.codeword_bits() as u32;
        for (position, &root) in positions.iter_mut().zip(&roots[..degree]) {
            // y = 1/x = alpha^p: the root's log is the position.
            *position = self.field.log(root);
            if *position >= bits {
                return false;
            }
        }
        true
    }

    /// Flips the codeword bit that is the coefficient of `x^degree`.
    fn flip(&self, data: &mut [u8], parity: &mut [u8], degree: usize) {
        let index = self.codeword_bits() - 1 - degree;
        let data_bits = 8 * self.data_bytes;
        if index < data_bits {
            data[index / 8] ^= 0x80 >> (index % 8);
        } else {
            let index = index - data_bits;
            parity[index / 8] ^= 0x80 >> (index % 8);
        }
    }
}

/// How [`Bch::correct_by`] finds the error locator's roots.
#[derive(Clone, Copy)]
enum RootFinder {
    /// Split by traces ([`roots`]): what decoding uses.
    Split,
    /// A Chien search over every position: the reference.
    #[cfg(any(test, feature = "testing"))]
    Search,
}

/// GF(2^m) by log and antilog tables.
#[derive(Clone)]
struct Field {
    m: u32,
    /// Multiplicative order of alpha: 2^m - 1.
    n: u32,
    /// `exp[i] = alpha^i` for i in 0..2n (twice round, so that a sum of two
    /// logs needs no reduction).
    exp: Vec<u16>,
    /// `log[alpha^i] = i`; `log[0]` is unused.
    log: Vec<u16>,
    /// `half[c]` = a `z` with `z^2 + z = c`, plus one (0: no solution,
    /// when the trace of `c` is 1). `z` and `z + 1` are the two solutions.
    half: Vec<u32>,
}

impl Field {
    fn new(m: u32) -> Field {
        assert!((MIN_M..=MAX_M).contains(&m), "field degree");
        let polynomial = PRIMITIVE_POLYS[(m - MIN_M) as usize];
        let n = (1u32 << m) - 1;
        let mut exp = vec![0u16; 2 * n as usize];
        let mut log = vec![0u16; n as usize + 1];
        let mut x = 1u32;
        for i in 0..n {
            exp[i as usize] = x as u16;
            exp[(i + n) as usize] = x as u16;
            log[x as usize] = i as u16;
            x <<= 1;
            if x & (1 << m) != 0 {
                x ^= polynomial;
            }
        }
        assert_eq!(x, 1, "primitive polynomial has order 2^m - 1");
        let mut field = Field {
            m,
            n,
            exp,
            log,
            half: Vec::new(),
        };
        let mut half = vec![0u32; n as usize + 1];
        for z in 0..=n {
            let c = field.square(z as u16) ^ z as u16;
            half[usize::from(c)] = z + 1;
        }
        field.half = half;
        field
    }

    /// A `z` with `z^2 + z = c`, if there is one.
    fn half_solution(&self, c: u16) -> Option<u16> {
        let entry = self.half[usize::from(c)];
        (entry > 0).then(|| (entry - 1) as u16)
    }

    /// `a / b`, b nonzero.
    fn div(&self, a: u16, b: u16) -> u16 {
        if a == 0 {
            return 0;
        }
        let exponent = self.log(a) + self.n - self.log(b);
        self.exp(exponent % self.n)
    }

    /// alpha^exponent, exponent < n.
    fn exp(&self, exponent: u32) -> u16 {
        self.exp[exponent as usize]
    }

    /// The log of a nonzero element.
    fn log(&self, x: u16) -> u32 {
        assert!(x != 0, "the log of zero");
        u32::from(self.log[usize::from(x)])
    }

    fn mul(&self, a: u16, b: u16) -> u16 {
        if a == 0 || b == 0 {
            return 0;
        }
        self.exp_of_sum(self.log(a), self.log(b))
    }

    /// `alpha^(a + b)` for two logs `a, b < n`.
    fn exp_of_sum(&self, a: u32, b: u32) -> u16 {
        self.exp[(a + b) as usize]
    }

    fn square(&self, a: u16) -> u16 {
        self.mul(a, a)
    }
}

/// The binary coefficients (lowest degree first) of the generator: the lcm of
/// the minimal polynomials of alpha^1, alpha^3, ..., alpha^(2t-1), built as
/// the product of `x + alpha^r` over the union of their cyclotomic cosets.
fn generator_poly(field: &Field, strength: u32) -> Vec<u8> {
    let n = field.n as usize;
    let mut is_root = vec![false; n];
    for i in 0..strength as usize {
        let mut r = (2 * i + 1) % n;
        for _ in 0..field.m {
            is_root[r] = true;
            r = 2 * r % n;
        }
    }
    let mut generator: Vec<u16> = vec![1];
    for (r, _) in is_root.iter().enumerate().filter(|(_, &root)| root) {
        let root = field.exp(r as u32);
        generator.push(0);
        for k in (1..generator.len()).rev() {
            generator[k] = generator[k - 1] ^ field.mul(generator[k], root);
        }
        generator[0] = field.mul(generator[0], root);
    }
    assert!(generator.iter().all(|&c| c <= 1), "generator is binary");
    generator.into_iter().map(|c| c as u8).collect()
}

/// One step of the sliced remainder: eight data bytes into `register`.
#[inline(always)]
fn slice_step<const W: usize>(
    rows: &[[u64; W]; SLICES * 256],
    register: &mut [u64; W],
    chunk: [u8; SLICES],
) {
    let top = register[0] ^ u64::from_be_bytes(chunk);
    let b = top.to_be_bytes().map(usize::from);
    let pair = |k: usize| -> [u64; W] {
        let (one, two) = (&rows[k * 256 + b[k]], &rows[(k + 1) * 256 + b[k + 1]]);
        std::array::from_fn(|i| one[i] ^ two[i])
    };
    let (p0, p1, p2, p3) = (pair(0), pair(2), pair(4), pair(6));
    for i in 0..W {
        let shifted = if i + 1 < W { register[i + 1] } else { 0 };
        register[i] = shifted ^ ((p0[i] ^ p1[i]) ^ (p2[i] ^ p3[i]));
    }
}

/// The tables of [`Bch::table`]: `SLICES` tables of 256 remainders, each
/// left-aligned in `stride` u64s. The byte-wise table (`b(x) * x^E mod g`)
/// comes bit by bit from `g`; each table before it is the one after,
/// multiplied by `x^8` through the byte-wise table.
fn remainder_table(generator: &[u8], stride: usize) -> Vec<u64> {
    let mut table = vec![0u64; SLICES * 256 * stride];
    let (earlier, byte_table) = table.split_at_mut((SLICES - 1) * 256 * stride);
    byte_remainders(generator, stride, byte_table);
    let mut next = byte_table.to_vec();
    for k in (0..SLICES - 1).rev() {
        let rows = &mut earlier[k * 256 * stride..][..256 * stride];
        for (row, from) in rows.chunks_exact_mut(stride).zip(next.chunks_exact(stride)) {
            // row = from * x^8 mod g: shift out the top byte, add its remainder.
            let top = usize::from((from[0] >> 56) as u8);
            let reduce = &byte_table[top * stride..][..stride];
            for i in 0..stride {
                let carry = from.get(i + 1).map_or(0, |word| word >> 56);
                row[i] = (from[i] << 8 | carry) ^ reduce[i];
            }
        }
        next.copy_from_slice(rows);
    }
    table
}

/// The 256 remainders `b(x) * x^E mod g(x)`, each left-aligned in `stride`
/// u64s, into `table`, bit by bit from the generator.
fn byte_remainders(generator: &[u8], stride: usize, table: &mut [u64]) {
    let ecc_bits = generator.len() - 1;
    let words = ecc_bits.div_ceil(64);
    assert!(words <= stride && table.len() == 256 * stride);
    // g(x) - x^E, left-aligned: bit k from the top is the coefficient of x^(E-1-k).
    let mut feedback_poly = [0u64; MAX_WORDS];
    for k in 0..ecc_bits {
        if generator[ecc_bits - 1 - k] == 1 {
            feedback_poly[k / 64] |= 1 << (63 - k % 64);
        }
    }
    for (byte, row) in table.chunks_exact_mut(stride).enumerate() {
        let mut register = [0u64; MAX_WORDS];
        for bit in (0..8).rev() {
            let feedback = (register[0] >> 63) ^ ((byte as u64 >> bit) & 1);
            for i in 0..words {
                let carry = if i + 1 < words {
                    register[i + 1] >> 63
                } else {
                    0
                };
                register[i] = register[i] << 1 | carry;
            }
            if feedback == 1 {
                for (word, poly) in register[..words].iter_mut().zip(&feedback_poly) {
                    *word ^= poly;
                }
            }
        }
        row.copy_from_slice(&register[..stride]);
    }
}

#[cfg(target_arch = "x86_64")]
mod clmul;
mod roots;
mod syndromes;
#[cfg(test)]
mod tests;
