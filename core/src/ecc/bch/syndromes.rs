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
//! by side so that they pipeline. What is left, under `m` bits, is
//! evaluated at `alpha^j`. For t = 24 over GF(2^14): 42 byte steps and at
//! most 14 field lookups a syndrome, where evaluating `r` bit by bit took
//! one lookup a set bit (about 168) a syndrome.

use super::{Field, MAX_T};

/// The reduction tables of the minimal polynomials of `alpha^j`, odd `j <
/// 2t`.
#[derive(Clone)]
pub(super) struct SyndromeTables {
    /// `degrees[i]`: the degree of `M_(2i+1)`.
    degrees: Vec<u32>,
    /// `reduce[i * 256 + u] = u(x) x^d mod M_(2i+1)(x)`, `d = degrees[i]`.
    reduce: Vec<u16>,
}

impl SyndromeTables {
    pub(super) fn new(field: &Field, strength: u32) -> SyndromeTables {
        let t = strength as usize;
        assert!((1..=MAX_T).contains(&t), "strength");
        let mut degrees = Vec::with_capacity(t);
        let mut reduce = vec![0u16; 256 * t];
        for (i, row) in reduce.chunks_exact_mut(256).enumerate() {
            let (polynomial, degree) = minimal_polynomial(field, 2 * i as u32 + 1);
            for (u, entry) in row.iter_mut().enumerate() {
                *entry = reduced(u as u32, polynomial, degree);
            }
            degrees.push(degree);
        }
        SyndromeTables { degrees, reduce }
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
        let bytes = ecc_bits.div_ceil(8);
        assert!(remainder.len() * 8 >= bytes, "the remainder's words");
        // states[i] = r(x) x^pad mod M_(2i+1), pad the zero bits below r.
        let mut states = [0u32; MAX_T];
        let states = &mut states[..t];
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
        let n = field.n;
        for (i, (&state, &degree)) in states.iter().zip(&self.degrees).enumerate() {
            let j = 2 * i as u32 + 1;
            // (r x^pad)(alpha^j) alpha^(-j pad): start at alpha^(-j pad).
            let mut exponent = (n - j * pad % n) % n;
            let mut value = 0u16;
            for bit in 0..degree {
                if state >> bit & 1 == 1 {
                    value ^= field.exp(exponent);
                }
                // j < 2t < n: one subtraction reduces it.
                exponent += j;
                if exponent >= n {
                    exponent -= n;
                }
            }
            syndromes[2 * i] = value;
        }
    }
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
