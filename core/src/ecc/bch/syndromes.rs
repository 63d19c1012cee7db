//! The syndromes of a received codeword, from its remainder, a byte at a
//! time.
//!
//! This module owns the tables that make the syndromes cheap and one
//! promise: [`SyndromeTables::odd_syndromes`] writes `S_j = r(alpha^j)` for
//! the odd `j < 2t`, exactly (the even ones are squares of them).
//!
//! **How.** `alpha^j` is a root of its minimal polynomial `M_j` (degree at
//! most m), so `r(alpha^j) = (r mod M_j)(alpha^j)`. The remainder `r`
//! (at most `m t` bits) is reduced modulo each `M_j` as a CRC is computed:
//! a byte at a time through a table of 256 entries, the `t` reductions side
//! by side so that they pipeline. What is left, under `m` bits (16 at
//! most), is evaluated at `alpha^j` a byte at a time: two lookups in a
//! table of the bytes' values at `alpha^j`, then one multiplication to
//! undo the padding. For t = 24 over GF(2^14): 42 byte steps and four
//! lookups a syndrome, where evaluating `r` bit by bit took one lookup a
//! set bit (about 168) a syndrome, and the state bit by bit (a branch a
//! bit, half of them mispredicted) had cost more than the reduction.
//!
//! Where the CPU multiplies carry-less (x86-64's `PCLMULQDQ`), the same
//! reductions take a product a 64-bit word and three more
//! ([`super::clmul::SyndromeFolding`]): 9 products a syndrome for t = 24,
//! where the tables take 42 dependent lookups. The tests hold both paths
//! against evaluating `r` bit by bit.

use super::{Field, MAX_T};

/// The reduction tables of the minimal polynomials of `alpha^j`, odd `j <
/// 2t`.
#[derive(Clone)]
pub(super) struct SyndromeTables {
    /// `degrees[i]`: the degree of `M_(2i+1)`.
    degrees: Vec<u32>,
    /// `reduce[i * 256 + u] = u(x) x^d mod M_(2i+1)(x)`, `d = degrees[i]`.
    reduce: Vec<u16>,
    /// `evaluations[i * 512..][..512]`: the [`evaluation_row`] of
    /// `alpha^(2i+1)`.
    evaluations: Vec<u16>,
    /// The same reductions by carry-less products, where the CPU has them.
    #[cfg(target_arch = "x86_64")]
    folding: Option<super::clmul::SyndromeFolding>,
}

impl SyndromeTables {
    /// The tables for a code of `strength` over `field` whose remainders
    /// take `words` u64s.
    pub(super) fn new(field: &Field, strength: u32, words: usize) -> SyndromeTables {
        let t = strength as usize;
        assert!((1..=MAX_T).contains(&t), "strength");
        let mut degrees = Vec::with_capacity(t);
        let mut minimals = Vec::with_capacity(t);
        let mut reduce = vec![0u16; 256 * t];
        let mut evaluations = Vec::with_capacity(512 * t);
        for (i, row) in reduce.chunks_exact_mut(256).enumerate() {
            let (polynomial, degree) = minimal_polynomial(field, 2 * i as u32 + 1);
            assert!(degree <= 16, "a state fits two bytes");
            evaluations.extend(evaluation_row(field, 2 * i as u32 + 1));
            for (u, entry) in row.iter_mut().enumerate() {
                *entry = reduced(u as u32, polynomial, degree);
            }
            degrees.push(degree);
            minimals.push((polynomial, degree));
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (minimals, words);
        SyndromeTables {
            degrees,
            reduce,
            evaluations,
            #[cfg(target_arch = "x86_64")]
            folding: super::clmul::SyndromeFolding::new(&minimals, words),
        }
    }

    /// Whether these reduce by carry-less products (else by their tables).
    #[cfg(test)]
    pub(super) fn folds(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return self.folding.is_some();
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// These tables reducing by their tables only, as on a CPU without
    /// carry-less multiplication.
    #[cfg(any(test, feature = "testing"))]
    pub(super) fn with_tables_only(&self) -> SyndromeTables {
        SyndromeTables {
            #[cfg(target_arch = "x86_64")]
            folding: None,
            ..self.clone()
        }
    }

    /// `syndromes[2i] = S_(2i+1)` for `i < t`, from the remainder's
    /// `ecc_bits` left-aligned in `remainder` (bit 63 of word 0 the
    /// coefficient of `x^(ecc_bits-1)`, later bits 0).
    pub(super) fn odd_syndromes(
        &self,
        field: &Field,
        remainder: &[u64],
        ecc_bits: usize,
        syndromes: &mut [u16],
    ) {
        let t = self.degrees.len();
        assert!(syndromes.len() >= 2 * t, "room for 2t syndromes");
        assert!(remainder.len() * 64 >= ecc_bits, "the remainder's words");
        // states[i] = r(x) x^pad mod M_(2i+1), pad the zero bits below r.
        let mut states = [0u32; MAX_T];
        let states = &mut states[..t];
        #[cfg(target_arch = "x86_64")]
        if let Some(folding) = &self.folding {
            let words = ecc_bits.div_ceil(64);
            folding.states(&remainder[..words], states);
            let pad = (64 * words - ecc_bits) as u32;
            self.evaluate(field, states, pad, syndromes);
            return;
        }
        let bytes = ecc_bits.div_ceil(8);
        for index in 0..bytes {
            let byte = u32::from((remainder[index / 8] >> (56 - 8 * (index % 8))) as u8);
            for (i, state) in states.iter_mut().enumerate() {
                let degree = self.degrees[i];
                let wide = *state << 8 | byte;
                let reduce = self.reduce[i * 256 + (wide >> degree) as usize];
                *state = (wide & ((1 << degree) - 1)) ^ u32::from(reduce);
            }
        }
        let pad = (8 * bytes - ecc_bits) as u32;
        self.evaluate(field, states, pad, syndromes);
    }

    /// `syndromes[2i] = S_(2i+1)` from `states[i] = r(x) x^pad mod
    /// M_(2i+1)`: the state evaluated at `alpha^(2i+1)`, divided by
    /// `alpha^((2i+1) pad)`.
    fn evaluate(&self, field: &Field, states: &[u32], pad: u32, syndromes: &mut [u16]) {
        let n = field.n;
        for (i, &state) in states.iter().enumerate() {
            assert!(state >> 16 == 0, "a state of two bytes at most");
            let row = &self.evaluations[i * 512..][..512];
            let value = row[(state & 0xff) as usize] ^ row[256 + (state >> 8) as usize];
            let j = 2 * i as u32 + 1;
            // Divided by alpha^(j pad): times alpha^(n - j pad mod n).
            syndromes[2 * i] = if value == 0 {
                0
            } else {
                field.exp_of_sum(field.log(value), (n - j * pad % n) % n)
            };
        }
    }
}

/// `row[256 k + u] = (u(x) x^(8 k))(alpha^j)` for `k` in 0..2, `u < 256`:
/// a state of under 16 bits evaluated at `alpha^j` in two lookups.
fn evaluation_row(field: &Field, j: u32) -> Vec<u16> {
    let n = field.n;
    let mut row = vec![0u16; 512];
    for (index, entry) in row.iter_mut().enumerate() {
        let (k, u) = (index / 256, index % 256);
        for bit in 0..8 {
            if u >> bit & 1 == 1 {
                let degree = (8 * k + bit) as u64;
                *entry ^= field.exp((degree * u64::from(j) % u64::from(n)) as u32);
            }
        }
    }
    row
}

/// The minimal polynomial of `alpha^j` over GF(2) (bit k the coefficient
/// of `x^k`) and its degree: the product of `x + alpha^r` over the
/// cyclotomic coset of `j`.
fn minimal_polynomial(field: &Field, j: u32) -> (u32, u32) {
    let n = field.n;
    let mut coefficients: Vec<u16> = vec![1];
    let mut r = j % n;
    // A coset has at most m members.
    for _ in 0..field.m {
        let root = field.exp(r);
        coefficients.push(0);
        for k in (1..coefficients.len()).rev() {
            coefficients[k] = coefficients[k - 1] ^ field.mul(coefficients[k], root);
        }
        coefficients[0] = field.mul(coefficients[0], root);
        r = 2 * r % n;
        if r == j % n {
            break;
        }
    }
    assert_eq!(r, j % n, "a coset closes within m doublings");
    assert!(
        coefficients.iter().all(|&c| c <= 1),
        "minimal polynomials are binary"
    );
    let polynomial = coefficients
        .iter()
        .enumerate()
        .fold(0u32, |bits, (k, &c)| bits | u32::from(c) << k);
    (polynomial, coefficients.len() as u32 - 1)
}

/// `u(x) x^degree mod polynomial(x)` over GF(2), `u < 256`.
fn reduced(u: u32, polynomial: u32, degree: u32) -> u16 {
    let mut value = u << degree;
    for bit in (degree..degree + 8).rev() {
        if value >> bit & 1 == 1 {
            value ^= polynomial << (bit - degree);
        }
    }
    assert!(value < 1 << degree, "reduced below the degree");
    value as u16
}
