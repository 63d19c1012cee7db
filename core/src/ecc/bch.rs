//! A systematic, shortened binary BCH code over GF(2^m), as NAND ECC engines use.
//!
//! This module owns the code's tables (the field GF(2^m), the generator
//! polynomial's byte-wise remainder table) and the two operations on a page:
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
//! - Encoding is table-driven, a byte at a time; so is the first step of
//!   decoding, and a clean codeword costs nothing more.
//! - Decoding corrects any `k <= t` bit errors and returns `Ok(k)`. With more
//!   errors it returns [`Uncorrectable`] (buffers untouched) or, rarely, a
//!   miscorrection to another codeword at distance `<= t`.
//! - Neither operation allocates; every loop is bounded by t, n or m.
//!
//! The design follows the Linux kernel's `lib/bch.c` (same primitive
//! polynomials, generator construction and binary Berlekamp–Massey), but
//! searches the locator's roots by a Chien search over the shortened codeword.

use std::fmt;

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

/// A BCH code protecting `data_bytes` of data with `strength` (t) correctable bit errors.
#[derive(Clone)]
pub(crate) struct Bch {
    data_bytes: usize,
    strength: u32,
    field: Field,
    /// Degree of the generator polynomial: the number of parity bits.
    ecc_bits: usize,
    /// u64 words of the remainder register (`ceil(ecc_bits / 64)`).
    words: usize,
    /// Table row length: `words` rounded up to a power of two (the extra
    /// words are zero), so that the encoder loop is specialized per size.
    stride: usize,
    /// `table[b * stride..][..words]` = `b(x) * x^ecc_bits mod g(x)`, left-aligned.
    table: Vec<u64>,
}

/// The parameters admit no BCH code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BchError {
    /// The parameters admit no code: data_bytes 0 or > 4096, strength 0 or > 128, or the codeword does not fit GF(2^m) for any m in 5..=16.
    #[error("no BCH code for {data_bytes} data bytes and {strength} correctable bits")]
    Unsupported { data_bytes: usize, strength: u32 },
}

/// A codeword with more errors than the code corrects (or one it cannot place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Uncorrectable;

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
    pub(crate) fn new(data_bytes: usize, strength: u32) -> Result<Bch, BchError> {
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
        let m = (MIN_M..=MAX_M)
            .find(|&m| (1u64 << m) > data_bits + u64::from(m * strength))
            .ok_or(unsupported)?;
        let field = Field::new(m);
        let generator = generator_poly(&field, strength);
        let ecc_bits = generator.len() - 1;
        assert!(ecc_bits >= m as usize && ecc_bits <= (m * strength) as usize);
        let words = ecc_bits.div_ceil(64);
        let stride = words.next_power_of_two();
        let table = remainder_table(&generator, stride);
        Ok(Bch {
            data_bytes,
            strength,
            field,
            ecc_bits,
            words,
            stride,
            table,
        })
    }

    pub(crate) fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    #[cfg(test)]
    pub(crate) fn strength(&self) -> u32 {
        self.strength
    }

    #[cfg(test)]
    pub(crate) fn m(&self) -> u32 {
        self.field.m
    }

    /// Bytes of parity: ceil(deg(g) / 8), deg(g) <= m * strength.
    pub(crate) fn parity_bytes(&self) -> usize {
        self.ecc_bits.div_ceil(8)
    }

    /// Writes the parity of `data` (exactly data_bytes) into `parity` (exactly parity_bytes).
    ///
    /// The padding bits of the last parity byte are written as 1.
    pub(crate) fn encode(&self, data: &[u8], parity: &mut [u8]) {
        assert_eq!(data.len(), self.data_bytes, "data length");
        assert_eq!(parity.len(), self.parity_bytes(), "parity length");
        let register = self.remainder(data);
        for (i, byte) in parity.iter_mut().enumerate() {
            *byte = (register[i / 8] >> (56 - 8 * (i % 8))) as u8;
        }
        let padding_bits = 8 * parity.len() - self.ecc_bits;
        if let Some(last) = parity.last_mut() {
            *last |= ((1u16 << padding_bits) - 1) as u8;
        }
    }

    /// Corrects `data` and `parity` in place; returns the number of bits corrected
    /// (0 when the codeword is clean), or Uncorrectable (then data and parity are unchanged).
    pub(crate) fn decode(&self, data: &mut [u8], parity: &mut [u8]) -> Result<u32, Uncorrectable> {
        assert_eq!(data.len(), self.data_bytes, "data length");
        assert_eq!(parity.len(), self.parity_bytes(), "parity length");
        let mut register = self.remainder(data);
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
        debug_assert!(degree > 0, "nonzero remainder with an empty locator");
        let mut positions = [0u32; MAX_T];
        let found = self.chien_search(&locator[..=degree], &mut positions[..degree]);
        if found != degree {
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

    /// `data(x) * x^ecc_bits mod g(x)`, left-aligned in `words` u64s (the bit
    /// 63 of word 0 is the coefficient of `x^(ecc_bits-1)`); later bits are 0.
    fn remainder(&self, data: &[u8]) -> [u64; MAX_WORDS] {
        match self.stride {
            1 => self.remainder_in::<1>(data),
            2 => self.remainder_in::<2>(data),
            4 => self.remainder_in::<4>(data),
            8 => self.remainder_in::<8>(data),
            16 => self.remainder_in::<16>(data),
            _ => self.remainder_in::<MAX_WORDS>(data),
        }
    }

    /// [`Bch::remainder`] with a table stride of `W` words: the byte-wise LFSR.
    fn remainder_in<const W: usize>(&self, data: &[u8]) -> [u64; MAX_WORDS] {
        assert_eq!(self.stride, W, "table stride");
        let mut register = [0u64; W];
        for &byte in data {
            let index = usize::from((register[0] >> 56) as u8 ^ byte);
            let row = &self.table[index * W..][..W];
            for i in 0..W - 1 {
                register[i] = (register[i] << 8 | register[i + 1] >> 56) ^ row[i];
            }
            register[W - 1] = register[W - 1] << 8 ^ row[W - 1];
        }
        let mut remainder = [0u64; MAX_WORDS];
        remainder[..W].copy_from_slice(&register);
        remainder
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
    /// the remainder (g vanishes at every alpha^j, j = 1..=2t).
    fn syndromes(&self, remainder: &[u64], syndromes: &mut [u16; 2 * MAX_T]) {
        let t = self.strength as usize;
        let n = self.field.n;
        for (w, &word) in remainder.iter().enumerate() {
            let mut bits = word;
            for _ in 0..word.count_ones() {
                let leading = bits.leading_zeros() as usize;
                bits ^= 1 << (63 - leading);
                let degree = (self.ecc_bits - 1 - (64 * w + leading)) as u32;
                // alpha^(degree * j) for odd j; degree < ecc_bits < n.
                let step = 2 * degree % n;
                let mut exponent = degree;
                for syndrome in syndromes[..2 * t].iter_mut().step_by(2) {
                    *syndrome ^= self.field.exp(exponent);
                    exponent += step;
                    if exponent >= n {
                        exponent -= n;
                    }
                }
            }
        }
        for i in 0..t {
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
                debug_assert!(degree <= 2 * i + 1);
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

/// GF(2^m) by log and antilog tables.
#[derive(Clone)]
struct Field {
    m: u32,
    /// Multiplicative order of alpha: 2^m - 1.
    n: u32,
    /// `exp[i] = alpha^i` for i in 0..n.
    exp: Vec<u16>,
    /// `log[alpha^i] = i`; `log[0]` is unused.
    log: Vec<u16>,
}

impl Field {
    fn new(m: u32) -> Field {
        assert!((MIN_M..=MAX_M).contains(&m), "field degree");
        let polynomial = PRIMITIVE_POLYS[(m - MIN_M) as usize];
        let n = (1u32 << m) - 1;
        let mut exp = vec![0u16; n as usize];
        let mut log = vec![0u16; n as usize + 1];
        let mut x = 1u32;
        for i in 0..n {
            exp[i as usize] = x as u16;
            log[x as usize] = i as u16;
            x <<= 1;
            if x & (1 << m) != 0 {
                x ^= polynomial;
            }
        }
        assert_eq!(x, 1, "primitive polynomial has order 2^m - 1");
        Field { m, n, exp, log }
    }

    /// alpha^exponent, exponent < n.
    fn exp(&self, exponent: u32) -> u16 {
        self.exp[exponent as usize]
    }

    /// The log of a nonzero element.
    fn log(&self, x: u16) -> u32 {
        debug_assert!(x != 0);
        u32::from(self.log[usize::from(x)])
    }

    fn mul(&self, a: u16, b: u16) -> u16 {
        if a == 0 || b == 0 {
            return 0;
        }
        let exponent = self.log(a) + self.log(b);
        self.exp(if exponent >= self.n {
            exponent - self.n
        } else {
            exponent
        })
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

/// The 256 remainders `b(x) * x^E mod g(x)`, each left-aligned in `words` u64s.
fn remainder_table(generator: &[u8], words: usize) -> Vec<u64> {
    let ecc_bits = generator.len() - 1;
    // g(x) - x^E, left-aligned: bit k from the top is the coefficient of x^(E-1-k).
    let mut feedback_poly = [0u64; MAX_WORDS];
    for k in 0..ecc_bits {
        if generator[ecc_bits - 1 - k] == 1 {
            feedback_poly[k / 64] |= 1 << (63 - k % 64);
        }
    }
    let mut table = vec![0u64; 256 * words];
    for (byte, row) in table.chunks_exact_mut(words).enumerate() {
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
        row.copy_from_slice(&register[..words]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::{btree_set, vec};
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    fn encoded(bch: &Bch, data: &[u8]) -> Vec<u8> {
        let mut parity = vec![0; bch.parity_bytes()];
        bch.encode(data, &mut parity);
        parity
    }

    /// Flips bit `index` of the codeword, most significant bit first over data then parity.
    fn flip_bit(data: &mut [u8], parity: &mut [u8], index: usize) {
        if index < 8 * data.len() {
            data[index / 8] ^= 0x80 >> (index % 8);
        } else {
            let index = index - 8 * data.len();
            parity[index / 8] ^= 0x80 >> (index % 8);
        }
    }

    fn random_data(rng: &mut ChaCha8Rng, data_bytes: usize) -> Vec<u8> {
        (0..data_bytes).map(|_| rng.random()).collect()
    }

    /// Bit-serial long division `d(x) * x^E mod g(x)`, MSB-first bytes, padding 1.
    fn reference_parity(generator: &[u8], data: &[u8]) -> Vec<u8> {
        let ecc_bits = generator.len() - 1;
        let mut remainder = vec![0u8; ecc_bits]; // remainder[k] = coefficient of x^(E-1-k)
        for i in 0..8 * data.len() {
            let bit = (data[i / 8] >> (7 - i % 8)) & 1;
            let feedback = remainder[0] ^ bit;
            remainder.remove(0);
            remainder.push(0);
            if feedback == 1 {
                for k in 0..ecc_bits {
                    remainder[k] ^= generator[ecc_bits - 1 - k];
                }
            }
        }
        let mut parity = vec![0xffu8; ecc_bits.div_ceil(8)];
        for (k, &bit) in remainder.iter().enumerate() {
            if bit == 0 {
                parity[k / 8] &= !(0x80 >> (k % 8));
            }
        }
        parity
    }

    #[test]
    fn known_sizes() {
        for (data_bytes, strength, m, parity_bytes) in [
            (512, 4, 13, 7),
            (512, 8, 13, 13),
            (1024, 24, 14, 42),
            (1024, 40, 14, 70),
            (2048, 40, 15, 75),
            (1, 1, 5, 1),
            (4096, 128, 16, 256),
        ] {
            let bch = Bch::new(data_bytes, strength).unwrap();
            assert_eq!((bch.data_bytes(), bch.strength()), (data_bytes, strength));
            assert_eq!(bch.m(), m, "m for {data_bytes} bytes, t={strength}");
            assert_eq!(
                bch.parity_bytes(),
                parity_bytes,
                "parity for {data_bytes} bytes, t={strength}"
            );
        }
    }

    #[test]
    fn unsupported_parameters() {
        for (data_bytes, strength) in [(0, 4), (4097, 4), (512, 0), (512, 129)] {
            assert_eq!(
                Bch::new(data_bytes, strength).unwrap_err(),
                BchError::Unsupported {
                    data_bytes,
                    strength
                }
            );
        }
    }

    #[test]
    fn generator_vanishes_at_the_designed_roots() {
        for (data_bytes, strength) in [(1, 1), (16, 2), (512, 8), (1024, 24)] {
            let bch = Bch::new(data_bytes, strength).unwrap();
            let generator = generator_poly(&bch.field, strength);
            for j in 1..=2 * strength {
                let mut value = 0u16;
                for (i, &c) in generator.iter().enumerate() {
                    if c == 1 {
                        value ^= bch.field.exp((i as u32 * j) % bch.field.n);
                    }
                }
                assert_eq!(value, 0, "g(alpha^{j}) for t={strength}");
            }
        }
    }

    #[test]
    fn table_encoder_matches_bit_serial_division() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (data_bytes, strength) in [(1, 1), (16, 2), (64, 3), (512, 4), (1024, 24), (200, 70)] {
            let bch = Bch::new(data_bytes, strength).unwrap();
            let generator = generator_poly(&bch.field, strength);
            for _ in 0..4 {
                let data = random_data(&mut rng, data_bytes);
                assert_eq!(encoded(&bch, &data), reference_parity(&generator, &data));
            }
        }
    }

    #[test]
    fn clean_codewords_decode_unchanged() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for (data_bytes, strength) in [(1, 1), (16, 2), (512, 4), (1024, 24), (2048, 40)] {
            let bch = Bch::new(data_bytes, strength).unwrap();
            for data in [
                random_data(&mut rng, data_bytes),
                vec![0xff; data_bytes],
                vec![0; data_bytes],
            ] {
                let parity = encoded(&bch, &data);
                let (mut d, mut p) = (data.clone(), parity.clone());
                assert_eq!(bch.decode(&mut d, &mut p), Ok(0));
                assert_eq!((d, p), (data, parity));
            }
        }
    }

    #[test]
    fn padding_bits_are_written_as_one_and_ignored() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let bch = Bch::new(512, 4).unwrap(); // 52 parity bits: 4 padding bits
        let padding_mask = 0x0f;
        let data = random_data(&mut rng, 512);
        let parity = encoded(&bch, &data);
        assert_eq!(parity[6] & padding_mask, padding_mask);
        let (mut d, mut p) = (data.clone(), parity.clone());
        p[6] ^= padding_mask;
        assert_eq!(bch.decode(&mut d, &mut p), Ok(0));
        assert_eq!(d, data);
        flip_bit(&mut d, &mut p, 100);
        flip_bit(&mut d, &mut p, 4096 + 51); // the last parity bit
        assert_eq!(bch.decode(&mut d, &mut p), Ok(2));
        assert_eq!(d, data);
        assert_eq!(p[6] ^ padding_mask, parity[6], "padding left as received");
    }

    /// Random data and a set of at most t distinct codeword bits (no padding).
    fn corruption(
        data_bytes: usize,
        strength: u32,
    ) -> impl Strategy<Value = (Vec<u8>, BTreeSet<usize>)> {
        let bch = Bch::new(data_bytes, strength).unwrap();
        let codeword_bits = bch.codeword_bits();
        (
            vec(any::<u8>(), data_bytes),
            btree_set(0..codeword_bits, 0..=strength as usize),
        )
    }

    fn corrects(
        data_bytes: usize,
        strength: u32,
        data: &[u8],
        flips: &BTreeSet<usize>,
    ) -> Result<(), TestCaseError> {
        let bch = Bch::new(data_bytes, strength).unwrap();
        let parity = encoded(&bch, data);
        let (mut d, mut p) = (data.to_vec(), parity.clone());
        for &index in flips {
            flip_bit(&mut d, &mut p, index);
        }
        prop_assert_eq!(bch.decode(&mut d, &mut p), Ok(flips.len() as u32));
        prop_assert_eq!(d, data);
        prop_assert_eq!(p, parity);
        Ok(())
    }

    proptest! {
        #[test]
        fn corrects_up_to_t_errors_small((data, flips) in corruption(16, 2)) {
            corrects(16, 2, &data, &flips)?;
        }

        #[test]
        fn corrects_up_to_t_errors_64_t3((data, flips) in corruption(64, 3)) {
            corrects(64, 3, &data, &flips)?;
        }

        #[test]
        fn corrects_up_to_t_errors_512_t4((data, flips) in corruption(512, 4)) {
            corrects(512, 4, &data, &flips)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn corrects_up_to_t_errors_1024_t24((data, flips) in corruption(1024, 24)) {
            corrects(1024, 24, &data, &flips)?;
        }
    }

    /// Decodes `errors` random flips of a random codeword; returns whether it was Uncorrectable.
    fn decode_beyond_capacity(bch: &Bch, rng: &mut ChaCha8Rng, errors: usize) -> bool {
        let data = random_data(rng, bch.data_bytes());
        let parity = encoded(bch, &data);
        let (mut d, mut p) = (data.clone(), parity.clone());
        for index in rand::seq::index::sample(rng, bch.codeword_bits(), errors) {
            flip_bit(&mut d, &mut p, index);
        }
        let (received_data, received_parity) = (d.clone(), p.clone());
        match bch.decode(&mut d, &mut p) {
            Err(Uncorrectable) => {
                assert_eq!(
                    (d, p),
                    (received_data, received_parity),
                    "buffers unchanged"
                );
                true
            }
            Ok(corrected) => {
                assert!(corrected <= bch.strength(), "corrected {corrected} bits");
                assert_ne!(d, data, "decoded back to the original with {errors} errors");
                let mut reencoded = encoded(bch, &d);
                let padding_bits = 8 * p.len() - bch.ecc_bits;
                let padding_mask = ((1u16 << padding_bits) - 1) as u8;
                *reencoded.last_mut().unwrap() &= !padding_mask;
                *p.last_mut().unwrap() &= !padding_mask;
                assert_eq!(reencoded, p, "a miscorrection lands on a codeword");
                false
            }
        }
    }

    #[test]
    fn beyond_capacity_is_detected_or_lands_on_a_codeword() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for (data_bytes, strength, assert_majority) in [
            (16, 2, false),
            (64, 3, true),
            (512, 4, true),
            (1024, 24, true),
        ] {
            let bch = Bch::new(data_bytes, strength).unwrap();
            let t = strength as usize;
            for errors in t + 1..=2 * t {
                for _ in 0..8 {
                    decode_beyond_capacity(&bch, &mut rng, errors);
                }
            }
            let trials = 200;
            let detected = (0..trials)
                .filter(|_| decode_beyond_capacity(&bch, &mut rng, t + 1))
                .count();
            if assert_majority {
                assert!(
                    detected * 10 > trials * 9,
                    "{data_bytes} bytes, t={t}: {detected}/{trials} detected"
                );
            }
        }
    }

    #[test]
    #[ignore = "timing print, run in release"]
    fn timing() {
        use std::hint::black_box;
        use std::time::Instant;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let bch = Bch::new(1024, 24).unwrap();
        let data = random_data(&mut rng, 1024);
        let mut parity = encoded(&bch, &data);
        let rounds = 20_000;
        let start = Instant::now();
        for _ in 0..rounds {
            bch.encode(black_box(&data), black_box(&mut parity));
        }
        let encode = start.elapsed() / rounds;
        let (mut d, mut p) = (data.clone(), parity.clone());
        let start = Instant::now();
        for _ in 0..rounds {
            assert_eq!(bch.decode(black_box(&mut d), black_box(&mut p)), Ok(0));
        }
        let clean = start.elapsed() / rounds;
        let mut corrupted = (data.clone(), parity.clone());
        for index in rand::seq::index::sample(&mut rng, bch.codeword_bits(), 24) {
            flip_bit(&mut corrupted.0, &mut corrupted.1, index);
        }
        let rounds = 500;
        let start = Instant::now();
        for _ in 0..rounds {
            let (mut d, mut p) = corrupted.clone();
            assert_eq!(bch.decode(black_box(&mut d), black_box(&mut p)), Ok(24));
        }
        let corrupt = start.elapsed() / rounds;
        println!("1024 bytes, t=24: encode {encode:?}, clean decode {clean:?}, decode with 24 errors {corrupt:?}");
    }
}
