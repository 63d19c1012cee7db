//! The data remainder by carry-less multiplication (x86-64's `PCLMULQDQ`),
//! eight bytes a step, where the CPU has it; [`super::Bch::remainders`]
//! falls back to the sliced tables where it has not.
//!
//! This module owns the folding constants and one promise: [`remainders`]
//! returns, bit for bit, what the tables return (the tests compare them).
//!
//! **How.** The register holds `R(x) x^pad` (left-aligned in `W` words, so
//! it is a remainder modulo `G(x) = g(x) x^pad`, of degree `E' = 64 W`).
//! Eight data bytes `D` enter as `R' = (R x^64 + D x^E') mod G`: the
//! register's top word `T` (XOR-ed with `D`) leaves it, the other words
//! move up one, and `T x^E' mod G` is added. That product is reduced by
//! Barrett's method: with `mu = floor(x^(E'+64) / G) = x^64 + mu_low`, the
//! quotient is `q = T + floor(T mu_low / x^64)` (exact for polynomials of
//! degree below 64), and `T x^E' mod G` is the low `E'` bits of
//! `q (G - x^E')`: `W + 1` carry-less products a step, where the tables
//! take `8 W` loads. Linux's CRC code and Intel's white paper on CRCs with
//! `PCLMULQDQ` do the same for degrees up to 64.
//!
//! Where the CPU also has AVX-512 and `VPCLMULQDQ`, a step's eight top
//! words are multiplied four to an instruction ([`fold_words_wide`]): two
//! 512-bit products and a sum of lanes a word of the code, where one
//! product at a time takes eight. `LOGSTORE_ECC_NO_WIDE` ([`super::WIDE_OFF_VAR`])
//! turns it off; the tests hold both against the tables. On this project's
//! machine (AMD EPYC, 2 cores): `lookups --incarnations 8 --order 10`
//! (4 KiB pages, 1 KiB steps, t = 24) 0.59x the wall time.

use std::arch::x86_64::{
    __m128i, __m512i, _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_xor_si256,
    _mm512_castsi512_si256, _mm512_clmulepi64_epi128, _mm512_extracti64x4_epi64,
    _mm512_loadu_si512, _mm512_set_epi64, _mm512_xor_si512, _mm_clmulepi64_si128,
    _mm_cvtsi128_si64, _mm_cvtsi64_si128, _mm_set_epi64x, _mm_setzero_si128, _mm_unpackhi_epi64,
    _mm_xor_si128,
};

/// The constants of one code, each word in the low half of an XMM
/// register's worth (the products then never leave the vector registers
/// until a step's words are summed).
#[derive(Clone, Debug)]
pub(super) struct Folding {
    /// `mu - x^64`, `mu = floor(x^(E+64) / g)` (= `floor(x^(E'+64) / G)`).
    mu_low: __m128i,
    /// `G - x^E'`, left-aligned in the code's words (word 0 the top).
    low: Vec<__m128i>,
    /// `K_j = x^(E' + 64 j) mod G` for `j < FOLD_WORDS`, each in the code's
    /// words, one after the other (`K_0` is `low`).
    powers: Vec<__m128i>,
    /// Where the CPU has 512-bit carry-less products (`VPCLMULQDQ` with
    /// AVX-512), the powers four to a vector: for word `k` of the code,
    /// `lanes[2 k]` holds `K_7, K_6, K_5, K_4` (word `k` of each, one a
    /// 128-bit lane, in its low half) for the step's top words 0 to 3,
    /// `lanes[2 k + 1]` `K_3, K_2, K_1, K_0` for words 4 to 7. `None`
    /// without them (or when [`super::WIDE_OFF_VAR`] asks for the 128-bit
    /// path).
    lanes: Option<Vec<[u64; 8]>>,
}

/// Whether this CPU multiplies carry-less four products to an instruction
/// and the environment lets the folding do so.
pub(super) fn wide_products() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
        && std::env::var_os(super::WIDE_OFF_VAR).is_none_or(|v| v == "0")
}

impl Folding {
    /// The constants for `generator` (binary, lowest degree first) in
    /// `words` u64s, or `None` when this CPU cannot multiply carry-less
    /// or [`super::TABLES_ONLY_VAR`] asks for the tables.
    pub(super) fn new(generator: &[u8], words: usize) -> Option<Folding> {
        if !super::carry_less() {
            return None;
        }
        let ecc_bits = generator.len() - 1;
        assert!(words == ecc_bits.div_ceil(64), "the register's words");
        let mut low = vec![0u64; words];
        // Bit k from the top is the coefficient of x^(E'-1-k) in G, that
        // of x^(E-1-k) in g.
        for k in 0..ecc_bits {
            if generator[ecc_bits - 1 - k] == 1 {
                low[k / 64] |= 1 << (63 - k % 64);
            }
        }
        let mut powers = low.clone();
        for j in 1..FOLD_WORDS {
            let mut power = powers[(j - 1) * words..].to_vec();
            for _ in 0..64 {
                times_x(&mut power, &low);
            }
            powers.extend_from_slice(&power);
        }
        let lanes = wide_products().then(|| wide_lanes(&powers, words));
        // SAFETY: the CPU has PCLMULQDQ (`carry_less` checked it above).
        let [mu_low, low, powers] = unsafe {
            [
                vectors(&[barrett_mu_low(generator)]),
                vectors(&low),
                vectors(&powers),
            ]
        };
        Some(Folding {
            mu_low: mu_low[0],
            low,
            powers,
            lanes,
        })
    }

    /// These constants folding one 128-bit product at a time, as on a CPU
    /// without 512-bit ones: the reference the tests hold the wide path
    /// against.
    #[cfg(test)]
    pub(super) fn narrow(&self) -> Folding {
        Folding {
            lanes: None,
            ..self.clone()
        }
    }

    /// Whether this folding takes four products to an instruction.
    #[cfg(test)]
    pub(super) fn is_wide(&self) -> bool {
        self.lanes.is_some()
    }
}

/// The powers in [`Folding::lanes`]' order, from `powers` (`K_j` word `k`
/// at `powers[j * words + k]`).
fn wide_lanes(powers: &[u64], words: usize) -> Vec<[u64; 8]> {
    const _: () = assert!(FOLD_WORDS == 8, "two vectors of four lanes");
    let mut lanes = Vec::with_capacity(2 * words);
    for k in 0..words {
        for half in 0..2 {
            // Lane l (l < 4) serves top word i = 4 half + l, whose power
            // is K_(7 - i); each lane a u64 pair, the high one zero.
            let mut vector = [0u64; 8];
            for l in 0..4 {
                let i = 4 * half + l;
                vector[2 * l] = powers[(FOLD_WORDS - 1 - i) * words + k];
            }
            lanes.push(vector);
        }
    }
    lanes
}

/// Each word in the low half of a vector.
#[target_feature(enable = "pclmulqdq")]
fn vectors(words: &[u64]) -> Vec<__m128i> {
    words.iter().map(|&w| _mm_set_epi64x(0, w as i64)).collect()
}

/// `register x mod G` in place, `low` = `G - x^E'`.
fn times_x(register: &mut [u64], low: &[u64]) {
    let out = register[0] >> 63;
    for k in 0..register.len() {
        let carry = register.get(k + 1).map_or(0, |next| next >> 63);
        register[k] = register[k] << 1 | carry;
    }
    if out == 1 {
        for (word, &g) in register.iter_mut().zip(low) {
            *word ^= g;
        }
    }
}

/// `floor(x^(E+64) / g) - x^64` by long division, bit by bit.
fn barrett_mu_low(generator: &[u8]) -> u64 {
    let ecc_bits = generator.len() - 1;
    assert_eq!(generator[ecc_bits], 1, "a monic generator");
    let mut rest = vec![0u8; ecc_bits + 65];
    rest[ecc_bits + 64] = 1;
    let mut mu_low = 0u64;
    for degree in (ecc_bits..=ecc_bits + 64).rev() {
        if rest[degree] == 1 {
            let shift = degree - ecc_bits;
            if shift < 64 {
                mu_low |= 1 << shift;
            }
            for (k, &c) in generator.iter().enumerate() {
                rest[shift + k] ^= c;
            }
        }
    }
    mu_low
}

/// The carry-less product of the low words of `a` and `b`: its high word
/// in the high half.
#[inline]
#[target_feature(enable = "pclmulqdq")]
fn product(a: __m128i, b: __m128i) -> __m128i {
    _mm_clmulepi64_si128(a, b, 0x00)
}

/// The low and the high word of `v`.
#[inline]
#[target_feature(enable = "pclmulqdq")]
fn words(v: __m128i) -> (u64, u64) {
    (
        _mm_cvtsi128_si64(v) as u64,
        _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)) as u64,
    )
}

/// Words a folding step takes from each buffer: its products are
/// independent, so eight words cost about the latency one word costs
/// alone (a chain of one step's products and its reduction a step). A
/// register of fewer words (a code of at most 448 bits) leaves whole at
/// each step, its missing words zeros. Against four: 13% off `exhaustive
/// --device mlc --mode torn`, 8% off tlc; sixteen gains nothing more.
const FOLD_WORDS: usize = 8;

/// The registers after the whole eight-byte chunks of each of `N` buffers
/// (advanced in lockstep: independent chains that pipeline), left-aligned
/// in `W` words; the caller adds the last `len % 8` bytes.
pub(super) fn remainders<const W: usize, const N: usize>(
    folding: &Folding,
    data: [&[u8]; N],
) -> [[u64; W]; N] {
    assert_eq!(folding.low.len(), W, "the code's words");
    let chunks = data[0].len() / 8;
    for buffer in data {
        assert_eq!(buffer.len() / 8, chunks, "buffers of one length");
    }
    if folding.lanes.is_some() {
        // SAFETY: `lanes` exist only where the CPU has AVX-512 and
        // VPCLMULQDQ (`wide_products`), and a `Folding` only where it has
        // PCLMULQDQ.
        unsafe { remainders_wide::<W, N>(folding, data, chunks) }
    } else {
        // SAFETY: a `Folding` exists only where the CPU has PCLMULQDQ.
        unsafe { remainders_in::<W, N>(folding, data, chunks) }
    }
}

#[target_feature(enable = "pclmulqdq")]
fn remainders_in<const W: usize, const N: usize>(
    folding: &Folding,
    data: [&[u8]; N],
    chunks: usize,
) -> [[u64; W]; N] {
    // SAFETY: this function's features are the body's.
    unsafe { remainders_body::<W, N, false>(folding, data, chunks) }
}

#[target_feature(enable = "pclmulqdq,avx512f,vpclmulqdq")]
fn remainders_wide<const W: usize, const N: usize>(
    folding: &Folding,
    data: [&[u8]; N],
    chunks: usize,
) -> [[u64; W]; N] {
    // SAFETY: this function's features are the body's, AVX-512's included.
    unsafe { remainders_body::<W, N, true>(folding, data, chunks) }
}

/// The registers after the whole chunks; `WIDE` folds by
/// [`fold_words_wide`]. Inlined into a caller with PCLMULQDQ (and, if
/// `WIDE`, AVX-512 and VPCLMULQDQ) enabled.
#[inline(always)]
unsafe fn remainders_body<const W: usize, const N: usize, const WIDE: bool>(
    folding: &Folding,
    data: [&[u8]; N],
    chunks: usize,
) -> [[u64; W]; N] {
    let word = |buffer: &[u8], index: usize| {
        u64::from_be_bytes(buffer[index * 8..][..8].try_into().expect("8 bytes"))
    };
    let mut registers = [[0u64; W]; N];
    let mut index = 0;
    while index + FOLD_WORDS <= chunks {
        for (register, buffer) in registers.iter_mut().zip(data) {
            // A register of fewer words than a step takes leaves whole:
            // its missing words are zeros.
            let top: [u64; FOLD_WORDS] = std::array::from_fn(|i| {
                register.get(i).copied().unwrap_or(0) ^ word(buffer, index + i)
            });
            // SAFETY: the caller has the features (see above).
            unsafe {
                if WIDE {
                    fold_words_wide::<W>(folding, register, top);
                } else {
                    fold_words::<W>(folding, register, top);
                }
            }
        }
        index += FOLD_WORDS;
    }
    for index in index..chunks {
        for (register, buffer) in registers.iter_mut().zip(data) {
            let top = register[0] ^ word(buffer, index);
            // SAFETY: the caller has PCLMULQDQ.
            unsafe {
                let mut sums = [_mm_setzero_si128(); W];
                reduce_into::<W>(folding, top, &mut sums);
                settle::<W>(register, &sums, 1);
            }
        }
    }
    registers
}

/// Adds `top x^E' mod G` to `sums` by Barrett's method: word `k` of it is
/// the low word of `sums[k]` and the high word of `sums[k + 1]` (the high
/// word of `sums[0]`, past E', cancels).
#[inline]
#[target_feature(enable = "pclmulqdq")]
fn reduce_into<const W: usize>(folding: &Folding, top: u64, sums: &mut [__m128i; W]) {
    let low: &[__m128i; W] = folding.low[..].try_into().expect("W words");
    let top_vector = _mm_cvtsi64_si128(top as i64);
    let quotient = top ^ words(product(top_vector, folding.mu_low)).1;
    let quotient = _mm_cvtsi64_si128(quotient as i64);
    for k in 0..W {
        sums[k] = _mm_xor_si128(sums[k], product(quotient, low[k]));
    }
}

/// The register after a step that took `taken` words from its top: word
/// `k` is the register's word `k + taken` and word `k` of the sums.
#[inline]
#[target_feature(enable = "pclmulqdq")]
fn settle<const W: usize>(register: &mut [u64; W], sums: &[__m128i; W], taken: usize) {
    // Upwards: word `k + taken` is read before it is overwritten.
    let mut low = words(sums[0]).0;
    for k in 0..W {
        let (low_next, high_next) = if k + 1 < W {
            words(sums[k + 1])
        } else {
            (0, 0)
        };
        let next = if k + taken < W {
            register[k + taken]
        } else {
            0
        };
        register[k] = next ^ low ^ high_next;
        low = low_next;
    }
}

/// [`FOLD_WORDS`] words at once: the register's top words (XOR-ed with
/// the data's) `top[i]` leave it and `top[i] x^(E' + 64 (F - 1 - i)) mod
/// G` is added, as `top[i] K_(F-1-i)` summed, its overflow word past E'
/// reduced once.
#[inline]
#[target_feature(enable = "pclmulqdq")]
fn fold_words<const W: usize>(folding: &Folding, register: &mut [u64; W], top: [u64; FOLD_WORDS]) {
    let mut sums = [_mm_setzero_si128(); W];
    for (i, &t) in top.iter().enumerate() {
        let t = _mm_cvtsi64_si128(t as i64);
        let constant = &folding.powers[(FOLD_WORDS - 1 - i) * W..][..W];
        for (sum, &c) in sums.iter_mut().zip(constant) {
            *sum = _mm_xor_si128(*sum, product(t, c));
        }
    }
    let overflow = words(sums[0]).1;
    reduce_into::<W>(folding, overflow, &mut sums);
    settle::<W>(register, &sums, FOLD_WORDS);
}

/// [`fold_words`] four products to an instruction: for each word `k` of
/// the code, the step's top words 0 to 3 times their powers in one 512-bit
/// product, 4 to 7 in another, their sum's four 128-bit lanes summed.
#[inline]
#[target_feature(enable = "pclmulqdq,avx512f,vpclmulqdq")]
fn fold_words_wide<const W: usize>(
    folding: &Folding,
    register: &mut [u64; W],
    top: [u64; FOLD_WORDS],
) {
    let lanes = folding.lanes.as_deref().expect("a wide folding");
    assert_eq!(lanes.len(), 2 * W, "two vectors a word of the code");
    let t = top.map(|w| w as i64);
    let first = _mm512_set_epi64(0, t[3], 0, t[2], 0, t[1], 0, t[0]);
    let second = _mm512_set_epi64(0, t[7], 0, t[6], 0, t[5], 0, t[4]);
    let mut sums = [_mm_setzero_si128(); W];
    for (k, sum) in sums.iter_mut().enumerate() {
        // SAFETY: each `[u64; 8]` is 64 readable bytes (an unaligned load).
        let (low, high): (__m512i, __m512i) = unsafe {
            (
                _mm512_loadu_si512(lanes[2 * k].as_ptr().cast()),
                _mm512_loadu_si512(lanes[2 * k + 1].as_ptr().cast()),
            )
        };
        let products = _mm512_xor_si512(
            _mm512_clmulepi64_epi128(first, low, 0x00),
            _mm512_clmulepi64_epi128(second, high, 0x00),
        );
        let half = _mm256_xor_si256(
            _mm512_castsi512_si256(products),
            _mm512_extracti64x4_epi64(products, 1),
        );
        *sum = _mm_xor_si128(
            _mm256_castsi256_si128(half),
            _mm256_extracti128_si256(half, 1),
        );
    }
    let overflow = words(sums[0]).1;
    reduce_into::<W>(folding, overflow, &mut sums);
    settle::<W>(register, &sums, FOLD_WORDS);
}

/// The constants that reduce a remainder modulo each minimal polynomial
/// `M_(2i+1)` (degree `d_i` at most 16) by carry-less products, where
/// [`super::syndromes`]' tables take a byte a step.
///
/// **How.** The register `R(x) x^pad` (left-aligned in `W` words) is the
/// sum of its words `r_k(x) x^(64 (W - 1 - k))`, so modulo `M` it is the
/// sum of `r_k(x) P_(W-1-k)` with `P_k = x^(64 k) mod M`: one product a
/// word, a value of under 64 + 16 bits. Its high word `h` becomes `h P_1`
/// (under 32 bits), leaving a 64-bit `v`, and Barrett's method with `mu =
/// floor(x^64 / M)` reduces that: `q = floor(floor(v / x^d) mu / x^(64-d))`
/// is the quotient exactly (polynomial division is linear, and `v / x^d`
/// has degree at most `64 - d`), `v + q M` the remainder.
#[derive(Clone, Debug)]
pub(super) struct SyndromeFolding {
    /// The register's words.
    words: usize,
    /// Per polynomial: `M`, its degree, `mu`, `x^64 mod M`.
    polynomials: Vec<Minimal>,
    /// `P_k = x^(64 k) mod M` for `k < words`, `words` a polynomial.
    powers: Vec<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Minimal {
    polynomial: u64,
    degree: u32,
    mu: u64,
    x64: u64,
}

impl SyndromeFolding {
    /// The constants for `minimals` (each polynomial, bit k the
    /// coefficient of `x^k`, and its degree in 1..=16) and a register of
    /// `words` u64s, or `None` when this CPU cannot multiply carry-less or
    /// [`super::TABLES_ONLY_VAR`] asks for the tables.
    pub(super) fn new(minimals: &[(u32, u32)], words: usize) -> Option<SyndromeFolding> {
        if !super::carry_less() {
            return None;
        }
        assert!(words >= 1, "a register of one word at least");
        let mut polynomials = Vec::with_capacity(minimals.len());
        let mut powers = Vec::with_capacity(minimals.len() * words);
        for &(polynomial, degree) in minimals {
            assert!((1..=16).contains(&degree), "a minimal polynomial's degree");
            assert_eq!(polynomial >> degree, 1, "monic, of its degree");
            let polynomial = u64::from(polynomial);
            // P_k by multiplying by x, 64 times a word, reducing as it goes.
            let mut power = 1u64;
            let mut x64 = 0;
            for k in 0..words.max(2) {
                if k < words {
                    powers.push(power);
                }
                if k == 1 {
                    x64 = power;
                }
                for _ in 0..64 {
                    power <<= 1;
                    if power >> degree & 1 == 1 {
                        power ^= polynomial;
                    }
                }
            }
            polynomials.push(Minimal {
                polynomial,
                degree,
                mu: quotient_of_x64(polynomial, degree),
                x64,
            });
        }
        Some(SyndromeFolding {
            words,
            polynomials,
            powers,
        })
    }

    /// `states[i] = R(x) x^pad mod M_(2i+1)`, `pad = 64 W - ecc_bits`, for
    /// each polynomial, from the left-aligned register `remainder`.
    pub(super) fn states(&self, remainder: &[u64], states: &mut [u32]) {
        assert_eq!(remainder.len(), self.words, "the register's words");
        assert_eq!(states.len(), self.polynomials.len(), "a state a polynomial");
        // SAFETY: a `SyndromeFolding` exists only where the CPU has
        // PCLMULQDQ.
        unsafe { self.states_in(remainder, states) }
    }

    #[target_feature(enable = "pclmulqdq")]
    fn states_in(&self, remainder: &[u64], states: &mut [u32]) {
        let words = self.words;
        let multiply = |a: u64, b: u64| {
            words_of(product(
                _mm_cvtsi64_si128(a as i64),
                _mm_cvtsi64_si128(b as i64),
            ))
        };
        for (i, (state, m)) in states.iter_mut().zip(&self.polynomials).enumerate() {
            let powers = &self.powers[i * words..][..words];
            let (mut low, mut high) = (0u64, 0u64);
            for (&word, &power) in remainder.iter().zip(powers.iter().rev()) {
                let (l, h) = multiply(word, power);
                low ^= l;
                high ^= h;
            }
            // high < 2^16 and x64 < 2^16: the product stays in one word.
            let v = low ^ multiply(high, m.x64).0;
            let d = m.degree;
            let (l, h) = multiply(v >> d, m.mu);
            let quotient = h << d | l >> (64 - d);
            let rest = v ^ multiply(quotient, m.polynomial).0;
            assert!(rest >> d == 0, "reduced below the degree");
            *state = rest as u32;
        }
    }
}

/// The low and the high word of `v` (as [`words`], callable outside a
/// `target_feature` function's caller).
#[inline]
#[target_feature(enable = "pclmulqdq")]
fn words_of(v: __m128i) -> (u64, u64) {
    words(v)
}

/// `floor(x^64 / M)` for `M` of degree `degree` in 1..=16, by long
/// division bit by bit (degree `64 - degree`: it fits a word).
fn quotient_of_x64(polynomial: u64, degree: u32) -> u64 {
    // The dividend x^64 as 128 bits.
    let mut rest: u128 = 1 << 64;
    let mut quotient = 0u64;
    for bit in (degree..=64).rev() {
        if rest >> bit & 1 == 1 {
            quotient |= 1 << (bit - degree);
            rest ^= u128::from(polynomial) << (bit - degree);
        }
    }
    assert!(rest >> degree == 0, "x^64 divided down to its remainder");
    quotient
}
