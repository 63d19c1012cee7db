//! The roots of an error locator, found by splitting it with traces
//! (Berlekamp's trace algorithm, as Linux's `lib/bch.c` finds roots past
//! degree 4) instead of a Chien search over every position of the
//! codeword.
//!
//! This module owns one promise: [`locator_roots`] writes the roots of a
//! locator of degree `d` when it has `d` distinct roots in the field, and
//! otherwise says it has not. Nothing allocates; every loop is bounded by
//! `d` or the field degree `m`.
//!
//! **How.** The locator `1 + l1 x + ... + ld x^d` has the roots
//! `x = alpha^(-p)` for the error positions `p`; its reverse
//! `R(y) = y^d + l1 y^(d-1) + ... + ld` (monic) has `y = alpha^p`. With the
//! powers `y^(2^i) mod R` for `i = 0..=m`, `R` has `d` distinct roots in
//! GF(2^m) exactly when `y^(2^m) = y (mod R)` (R divides `y^(2^m) - y`,
//! the product of every `y - a`). Then `gcd(R, Tr(beta y) mod R)`, with
//! `Tr(z) = z + z^2 + ... + z^(2^(m-1))`, is the product of the `y - r`
//! whose `Tr(beta r)` is 0. Two distinct roots differ in `Tr(beta r)` for
//! some `beta` of the basis `alpha^0..alpha^(m-1)` (the trace form is
//! nondegenerate), so `m` tries split any `R` of degree 2 or more; the
//! factors split again, down to degrees 1 and 2, solved in closed form.
//!
//! **Cost.** About `m * d^2` field products a split (the `m` squarings mod
//! `R`), against `d` a position for the search: a 1 KiB step has 8,192
//! data bits, so a locator of degree 12 costs the search about 100,000
//! products and the split a few thousand.

use super::{Field, MAX_M, MAX_T};

/// A polynomial over GF(2^m), lowest degree first. `degree` indexes the
/// leading nonzero coefficient; the zero polynomial has degree 0 and
/// `c[0] == 0`. Coefficients past `degree` are 0.
#[derive(Clone, Copy)]
struct Poly {
    c: [u16; MAX_T + 1],
    degree: usize,
}

impl Poly {
    const ZERO: Poly = Poly {
        c: [0; MAX_T + 1],
        degree: 0,
    };

    fn is_zero(&self) -> bool {
        self.degree == 0 && self.c[0] == 0
    }

    fn coefficients(&self) -> &[u16] {
        &self.c[..=self.degree]
    }

    /// Lowers `degree` to the leading nonzero coefficient.
    fn trim(&mut self) {
        while self.degree > 0 && self.c[self.degree] == 0 {
            self.degree -= 1;
        }
    }
}

/// Writes the roots `y = alpha^p` of the reverse of `locator` (`1, l1, ...,
/// ld`, `ld` nonzero) into `roots[..d]`, in no particular order, and returns
/// true when it has `d` distinct roots in the field; false otherwise
/// (`roots` then holds nothing meaningful).
pub(super) fn locator_roots(field: &Field, locator: &[u16], roots: &mut [u16]) -> bool {
    let degree = locator.len() - 1;
    assert!((1..=MAX_T).contains(&degree), "a locator of degree 1..=t");
    assert!(
        locator[0] == 1 && locator[degree] != 0,
        "a locator 1 + ... + ld x^d"
    );
    assert!(roots.len() >= degree, "room for every root");
    let mut reversed = Poly::ZERO;
    for (k, &coefficient) in locator.iter().enumerate() {
        reversed.c[degree - k] = coefficient;
    }
    reversed.degree = degree;
    let mut found = 0;
    let mut scratch = Scratch {
        powers: [Poly::ZERO; MAX_M as usize + 1],
        wide: [0; 2 * MAX_T + 1],
    };
    let split = split(field, &reversed, roots, &mut found, &mut scratch);
    assert!(!split || found == degree, "a split finds every root");
    split
}

/// The roots of monic `r` into `roots[*found..]`, recursing on factors;
/// false as soon as a factor has no distinct roots in the field. Depth at
/// most `r.degree` (every factor is smaller); the frame is small, the
/// powers live in [`factor`]'s.
fn split(
    field: &Field,
    r: &Poly,
    roots: &mut [u16],
    found: &mut usize,
    scratch: &mut Scratch,
) -> bool {
    match r.degree {
        1 => {
            // y + c: the root is c (characteristic 2).
            roots[*found] = r.c[0];
            *found += 1;
            true
        }
        2 => quadratic(field, r, roots, found),
        _ => match factor(field, r, scratch) {
            Some((g, h)) => {
                split(field, &g, roots, found, scratch) && split(field, &h, roots, found, scratch)
            }
            None => false,
        },
    }
}

/// `y^2 + a y + b`: with `y = a z`, `z^2 + z = b / a^2`, solved by the
/// field's table. `a = 0` is a double root (never two errors).
fn quadratic(field: &Field, r: &Poly, roots: &mut [u16], found: &mut usize) -> bool {
    let (a, b) = (r.c[1], r.c[0]);
    if a == 0 {
        return false;
    }
    let Some(z) = field.half_solution(field.div(b, field.square(a))) else {
        return false;
    };
    roots[*found] = field.mul(a, z);
    roots[*found + 1] = field.mul(a, z ^ 1);
    *found += 2;
    true
}

/// The working space of one search, reused by every [`factor`] (one at a
/// time): zeroing it for each would cost more than the arithmetic.
struct Scratch {
    /// `powers[i] = y^(2^i) mod r` of the polynomial being factored.
    powers: [Poly; MAX_M as usize + 1],
    /// A square before its reduction.
    wide: [u16; 2 * MAX_T + 1],
}

/// Two monic factors of `r` (degree >= 3), both of positive degree, when
/// `r` has distinct roots in the field; `None` when it has not.
fn factor(field: &Field, r: &Poly, scratch: &mut Scratch) -> Option<(Poly, Poly)> {
    let m = field.m as usize;
    let logs = Logs::of(field, r);
    // Degree >= 3, so y is its own remainder.
    let powers = &mut scratch.powers;
    assign(&mut powers[0], &[0, 1]);
    for i in 1..=m {
        let (done, next) = powers.split_at_mut(i);
        square_mod(
            field,
            &done[i - 1],
            r,
            &logs,
            &mut scratch.wide,
            &mut next[0],
        );
    }
    if powers[m].coefficients() != powers[0].coefficients() {
        return None;
    }
    for k in 0..m {
        let trace = trace_mod(field, &powers[..m], k as u32, r.degree);
        let g = gcd(field, r, &trace);
        if (1..r.degree).contains(&g.degree) {
            return Some((g, quotient(field, r, &g)));
        }
    }
    // Distinct roots in the field always split (see the module's comment).
    unreachable!("a polynomial with distinct roots in the field did not split")
}

/// `out = coefficients` (lowest first, at least one), its old terms cleared.
fn assign(out: &mut Poly, coefficients: &[u16]) {
    assert!(
        (1..=MAX_T + 1).contains(&coefficients.len()),
        "a polynomial"
    );
    if out.degree >= coefficients.len() {
        out.c[coefficients.len()..=out.degree].fill(0);
    }
    out.c[..coefficients.len()].copy_from_slice(coefficients);
    out.degree = coefficients.len() - 1;
    out.trim();
}

/// The logs of a polynomial's coefficients, `u32::MAX` for a zero one: the
/// reductions multiply by them again and again.
struct Logs([u32; MAX_T + 1]);

impl Logs {
    fn of(field: &Field, r: &Poly) -> Logs {
        let mut logs = [u32::MAX; MAX_T + 1];
        for (log, &c) in logs.iter_mut().zip(r.coefficients()) {
            if c != 0 {
                *log = field.log(c);
            }
        }
        Logs(logs)
    }
}

/// `a * alpha^log_b`, `log_b < n`.
fn mul_log(field: &Field, a: u16, log_b: u32) -> u16 {
    if a == 0 {
        return 0;
    }
    field.exp_of_sum(field.log(a), log_b)
}

/// `out = u^2 mod r` for `u` of degree below `r`'s (monic), whose
/// coefficients' logs are `logs`; `wide` is working space.
fn square_mod(
    field: &Field,
    u: &Poly,
    r: &Poly,
    logs: &Logs,
    wide: &mut [u16; 2 * MAX_T + 1],
    out: &mut Poly,
) {
    let d = r.degree;
    assert!(u.degree < d, "u reduced mod r");
    let top = 2 * u.degree;
    let wide = &mut wide[..=top.max(d - 1)];
    wide.fill(0);
    for (j, &c) in u.coefficients().iter().enumerate() {
        wide[2 * j] = field.square(c);
    }
    // Each term at or past y^d becomes the same multiple of r - y^d lower down.
    for e in (d..=top).rev() {
        let c = wide[e];
        if c == 0 {
            continue;
        }
        let log_c = field.log(c);
        for (j, &log) in logs.0[..d].iter().enumerate() {
            if log != u32::MAX {
                wide[e - d + j] ^= field.exp_of_sum(log, log_c);
            }
        }
        wide[e] = 0;
    }
    assign(out, &wide[..d]);
}

/// `Tr(alpha^k y) mod r = sum of alpha^(k 2^i) y^(2^i)`, from the powers
/// `y^(2^i) mod r` (`i < m`), each of degree below `degree`.
fn trace_mod(field: &Field, powers: &[Poly], k: u32, degree: usize) -> Poly {
    let mut out = Poly::ZERO;
    let mut log_beta = k % field.n;
    for power in powers {
        let terms = out.c.iter_mut().zip(power.coefficients());
        if log_beta == 0 {
            // beta = 1 (k = 0, tried first): no products.
            terms.for_each(|(sum, &c)| *sum ^= c);
        } else {
            terms.for_each(|(sum, &c)| *sum ^= mul_log(field, c, log_beta));
        }
        log_beta = 2 * log_beta % field.n;
    }
    out.degree = degree - 1;
    out.trim();
    out
}

/// `a mod b`, `b` nonzero, in place.
fn reduce(field: &Field, a: &mut Poly, b: &Poly) {
    assert!(!b.is_zero(), "division by zero");
    let inverse_log = (field.n - field.log(b.c[b.degree])) % field.n;
    // Each round clears a's leading term: at most a.degree + 1 rounds.
    for _ in 0..=a.degree {
        if a.is_zero() || a.degree < b.degree {
            return;
        }
        let shift = a.degree - b.degree;
        let log_q = (field.log(a.c[a.degree]) + inverse_log) % field.n;
        for (j, &c) in b.coefficients().iter().enumerate() {
            a.c[shift + j] ^= mul_log(field, c, log_q);
        }
        assert_eq!(a.c[a.degree], 0, "the leading term cancels");
        a.trim();
    }
    assert!(a.is_zero() || a.degree < b.degree, "reduced");
}

/// The monic greatest common divisor of `a` (nonzero) and `b`.
fn gcd(field: &Field, a: &Poly, b: &Poly) -> Poly {
    let (mut a, mut b) = (*a, *b);
    // Euclid: b's degree falls every round until b is zero.
    for _ in 0..=a.degree + 1 {
        if b.is_zero() {
            let inverse_log = (field.n - field.log(a.c[a.degree])) % field.n;
            for c in &mut a.c[..=a.degree] {
                *c = mul_log(field, *c, inverse_log);
            }
            return a;
        }
        reduce(field, &mut a, &b);
        std::mem::swap(&mut a, &mut b);
    }
    unreachable!("Euclid ends within the degree's rounds")
}

/// `r / g` for a monic `g` dividing monic `r`.
fn quotient(field: &Field, r: &Poly, g: &Poly) -> Poly {
    assert!(
        g.degree <= r.degree && g.c[g.degree] == 1,
        "a monic divisor"
    );
    let mut rest = *r;
    let mut q = Poly::ZERO;
    q.degree = r.degree - g.degree;
    for shift in (0..=q.degree).rev() {
        let c = rest.c[shift + g.degree];
        q.c[shift] = c;
        if c != 0 {
            let log_c = field.log(c);
            for (j, &gc) in g.coefficients().iter().enumerate() {
                rest.c[shift + j] ^= mul_log(field, gc, log_c);
            }
        }
    }
    assert!(rest.c[..=r.degree].iter().all(|&c| c == 0), "g divides r");
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `r(y)` by Horner's rule.
    fn evaluate(field: &Field, r: &Poly, y: u16) -> u16 {
        r.coefficients()
            .iter()
            .rev()
            .fold(0, |sum, &c| field.mul(sum, y) ^ c)
    }

    /// The monic product of `y + root` over `roots`.
    fn product(field: &Field, roots: &[u16]) -> Poly {
        let mut r = Poly::ZERO;
        r.c[0] = 1;
        for &root in roots {
            r.degree += 1;
            for k in (0..=r.degree).rev() {
                let lower = if k > 0 { r.c[k - 1] } else { 0 };
                r.c[k] = lower ^ field.mul(r.c[k], root);
            }
        }
        r
    }

    /// The gcd of two products of distinct `y + r` is the product over
    /// the roots they share (1 when none), monic, whatever the length of
    /// Euclid's remainder sequence (coprime polynomials of degrees d and
    /// d - 1 take it to its longest).
    #[test]
    fn gcds_are_the_shared_roots_product() {
        let field = Field::new(13);
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for round in 0..200 {
            let mut roots: Vec<u16> = Vec::new();
            while roots.len() < 24 {
                let root = rng.random_range(1..=field.n) as u16;
                if !roots.contains(&root) {
                    roots.push(root);
                }
            }
            let d = rng.random_range(3..=12);
            let shared = (round % 4).min(d - 1);
            let a_roots = &roots[..d];
            let mut b_roots: Vec<u16> = roots[12..12 + d - 1 - shared].to_vec();
            b_roots.extend_from_slice(&a_roots[..shared]);
            let (a, b) = (product(&field, a_roots), product(&field, &b_roots));
            assert_eq!(b.degree, d - 1);
            let g = gcd(&field, &a, &b);
            let expected = product(&field, &a_roots[..shared]);
            assert_eq!(g.coefficients(), expected.coefficients(), "round {round}");
        }
    }

    /// Every trace polynomial the split builds, `Tr(alpha^k y) mod r`,
    /// takes at each root of `r` the field trace of `alpha^k` times it
    /// (0 or 1): the property the split stands on, for each `k` of the
    /// basis, over odd and even field degrees.
    #[test]
    fn trace_polynomials_take_the_trace_at_every_root() {
        for m in [5, 8, 13] {
            let field = Field::new(m);
            let mut rng = ChaCha8Rng::seed_from_u64(u64::from(m));
            let (mut zeros, mut ones) = (0, 0);
            for _ in 0..20 {
                let degree = rng.random_range(3..=8);
                let mut roots: Vec<u16> = Vec::new();
                while roots.len() < degree {
                    let root = rng.random_range(1..=field.n) as u16;
                    if !roots.contains(&root) {
                        roots.push(root);
                    }
                }
                let r = product(&field, &roots);
                assert_eq!(r.degree, degree);
                let logs = Logs::of(&field, &r);
                let mut powers = [Poly::ZERO; MAX_M as usize + 1];
                let mut wide = [0u16; 2 * MAX_T + 1];
                assign(&mut powers[0], &[0, 1]);
                for i in 1..m as usize {
                    let (done, next) = powers.split_at_mut(i);
                    square_mod(&field, &done[i - 1], &r, &logs, &mut wide, &mut next[0]);
                }
                for k in 0..m {
                    let trace = trace_mod(&field, &powers[..m as usize], k, degree);
                    for &root in &roots {
                        let mut x = field.mul(field.exp(k), root);
                        let mut expected = 0;
                        for _ in 0..m {
                            expected ^= x;
                            x = field.square(x);
                        }
                        assert!(expected <= 1, "a trace is 0 or 1");
                        assert_eq!(evaluate(&field, &trace, root), expected, "m {m} k {k}");
                        zeros += usize::from(expected == 0);
                        ones += usize::from(expected == 1);
                    }
                }
            }
            assert!(zeros > 100 && ones > 100, "{zeros} zeros, {ones} ones");
        }
    }
}
