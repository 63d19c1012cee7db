//! Tests of the BCH codec.

use super::*;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::sync::PoisonError;

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
    let mut strides = BTreeSet::new();
    for (data_bytes, strength) in [
        (1, 1),
        (7, 3),
        (16, 2),
        (64, 3),
        (64, 8),
        (13, 40),
        (256, 16),
        (512, 4),
        (512, 32),
        (1023, 24),
        (1024, 24),
        (1021, 40),
        (200, 70),
        (4096, 128),
    ] {
        let bch = Bch::new(data_bytes, strength).unwrap();
        strides.insert(bch.stride);
        let generator = generator_poly(&bch.field, strength);
        for _ in 0..4 {
            let data = random_data(&mut rng, data_bytes);
            let parity = encoded(&bch, &data);
            assert_eq!(parity, reference_parity(&generator, &data));
            let mut bytewise = vec![0u8; bch.parity_bytes()];
            bch.encode_bytewise(&data, &mut bytewise);
            assert_eq!(parity, bytewise, "sliced and byte-wise tables agree");
        }
    }
    // Every specialized table stride, and the general one, is checked.
    assert_eq!(
        strides.into_iter().collect::<Vec<_>>(),
        [1, 2, 4, 6, 8, 10, 16, MAX_WORDS]
    );
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
fn two_steps_at_once_are_two_steps_one_after_the_other() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for (data_bytes, strength) in [(13, 3), (512, 4), (1024, 24), (1021, 40)] {
        let bch = Bch::new(data_bytes, strength).unwrap();
        let data = [
            random_data(&mut rng, data_bytes),
            random_data(&mut rng, data_bytes),
        ];
        let mut parity = [vec![0u8; bch.parity_bytes()], vec![0u8; bch.parity_bytes()]];
        let [first, second] = &mut parity;
        bch.encode_two([&data[0], &data[1]], [first, second]);
        assert_eq!(parity[0], encoded(&bch, &data[0]));
        assert_eq!(parity[1], encoded(&bch, &data[1]));
        // Errors in both: both corrected, each count told.
        let (mut d, mut p) = (data.clone(), parity.clone());
        let counts = [strength as usize / 2, strength as usize];
        for (k, &count) in counts.iter().enumerate() {
            for index in rand::seq::index::sample(&mut rng, bch.codeword_bits(), count) {
                flip_bit(&mut d[k], &mut p[k], index);
            }
        }
        let ([d0, d1], [p0, p1]) = (&mut d, &mut p);
        let counts = counts.map(|count| count as u32);
        assert_eq!(bch.decode_two([d0, d1], [p0, p1]), Ok(counts));
        assert_eq!((&d, &p), (&data, &parity));
        // The first past correcting: the second is left as received.
        for index in rand::seq::index::sample(&mut rng, bch.codeword_bits(), 1) {
            flip_bit(&mut d[1], &mut p[1], index);
        }
        let received = (d[1].clone(), p[1].clone());
        for index in rand::seq::index::sample(&mut rng, 8 * data_bytes, 2 * strength as usize + 2) {
            flip_bit(&mut d[0], &mut p[0], index);
        }
        let ([d0, d1], [p0, p1]) = (&mut d, &mut p);
        assert_eq!(bch.decode_two([d0, d1], [p0, p1]), Err(Uncorrectable));
        assert_eq!((&d[1], &p[1]), (&received.0, &received.1));
    }
}

#[test]
fn shared_codes_are_built_once_and_equal_new_ones() {
    let first = Bch::shared(1024, 24).unwrap();
    let again = Bch::shared(1024, 24).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "one code per (step, strength)");
    let other = Bch::shared(512, 4).unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let data = random_data(&mut rng, 1024);
    assert_eq!(
        encoded(&first, &data),
        encoded(&Bch::new(1024, 24).unwrap(), &data)
    );
    assert_eq!(
        Bch::shared(0, 24).unwrap_err(),
        BchError::Unsupported {
            data_bytes: 0,
            strength: 24
        }
    );
    // More codes than are kept: the oldest is built again, never wrong.
    for strength in 1..=(SHARED_MAX as u32 + 1) {
        assert_eq!(Bch::shared(64, strength).unwrap().strength(), strength);
    }
    let shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(shared.len(), SHARED_MAX);
}

/// A locator `prod (1 + alpha^p x)` over `positions`.
fn locator_of(bch: &Bch, positions: &[u32]) -> Vec<u16> {
    let mut locator = vec![1u16];
    for &p in positions {
        locator.push(0);
        for k in (1..locator.len()).rev() {
            locator[k] ^= bch.field.mul(locator[k - 1], bch.field.exp(p));
        }
    }
    locator
}

/// The roots split out by traces are the Chien search's, locator by
/// locator: locators built from chosen positions (inside the shortened
/// codeword, past it, some repeated) and random ones (mostly without
/// their degree's roots in the field). Shortened codes, odd and even field
/// degrees, every degree up to t.
#[test]
fn split_roots_are_the_searchs_roots() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for (data_bytes, strength) in [(16, 2), (512, 4), (1024, 24), (100, 3), (64, 12)] {
        let bch = Bch::new(data_bytes, strength).unwrap();
        let (n, bits) = (bch.field.n, bch.codeword_bits() as u32);
        let (mut split, mut refused) = (0, 0);
        for round in 0..600 {
            let degree = rng.random_range(1..=strength as usize);
            let locator = match round % 4 {
                0 => {
                    let mut locator: Vec<u16> = (0..=degree)
                        .map(|_| rng.random_range(0..=n) as u16)
                        .collect();
                    locator[0] = 1;
                    locator[degree] = locator[degree].max(1);
                    locator
                }
                1 => {
                    // Anywhere in the field: past the codeword, or twice.
                    let mut positions: Vec<u32> =
                        (0..degree).map(|_| rng.random_range(0..n)).collect();
                    if degree > 1 && rng.random_bool(0.5) {
                        positions[1] = positions[0];
                    }
                    locator_of(&bch, &positions)
                }
                _ => {
                    let positions: Vec<u32> =
                        rand::seq::index::sample(&mut rng, bits as usize, degree)
                            .into_iter()
                            .map(|p| p as u32)
                            .collect();
                    locator_of(&bch, &positions)
                }
            };
            let (mut by_split, mut searched) = (vec![0u32; degree], vec![0u32; degree]);
            let splits = bch.error_positions(&locator, &mut by_split);
            let found = bch.chien_search(&locator, &mut searched);
            assert_eq!(splits, found == degree, "{locator:?}");
            if splits {
                by_split.sort_unstable();
                assert_eq!(by_split, searched, "{locator:?}");
                split += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            split >= 250 && refused >= 100,
            "{split} split, {refused} refused"
        );
    }
}

/// The reference decoder (a Chien search) and the decoder agree on every
/// count of errors up to t and past it.
#[test]
fn decoding_by_search_and_by_split_agree() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (data_bytes, strength) in [(1024, 24), (512, 20), (512, 12), (512, 4), (1024, 40)] {
        let bch = Bch::new(data_bytes, strength).unwrap();
        for round in 0..(4 * strength as usize) {
            agree(&bch, &mut rng, round % (strength as usize + 7));
        }
    }
}

/// `errors` random flips on a random codeword of `bch`, decoded both
/// ways: the same result and the same buffers; within t, corrected.
fn agree(bch: &Bch, rng: &mut ChaCha8Rng, errors: usize) {
    let (data_bytes, strength) = (bch.data_bytes(), bch.strength() as usize);
    let data = random_data(rng, data_bytes);
    let mut parity = vec![0u8; bch.parity_bytes()];
    bch.encode(&data, &mut parity);
    let (mut noisy, mut noisy_parity) = (data.clone(), parity.clone());
    for index in rand::seq::index::sample(rng, bch.codeword_bits(), errors) {
        flip_bit(&mut noisy, &mut noisy_parity, index);
    }
    let (mut split, mut split_parity) = (noisy.clone(), noisy_parity.clone());
    let by_split = bch.decode(&mut split, &mut split_parity);
    let by_search = bch.decode_by_search(&mut noisy, &mut noisy_parity);
    assert_eq!(by_split, by_search, "t {strength}, {errors} errors");
    assert_eq!(
        (split, split_parity),
        (noisy, noisy_parity),
        "t {strength}, {errors} errors"
    );
    if errors <= strength {
        assert_eq!(by_split, Ok(errors as u32));
    }
}

/// The strongest code a `Bch` takes corrects its full strength:
/// Berlekamp–Massey runs all t of its steps on the 2t syndromes there are,
/// and reads none past them.
#[test]
fn the_strongest_code_corrects_its_full_strength() {
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(MAX_STRENGTH));
    let bch = Bch::new(512, MAX_STRENGTH).unwrap();
    for errors in [1, 2, 63, MAX_T] {
        let data = random_data(&mut rng, 512);
        let flips: BTreeSet<usize> =
            rand::seq::index::sample(&mut rng, bch.codeword_bits(), errors)
                .into_iter()
                .collect();
        corrects(512, MAX_STRENGTH, &data, &flips).unwrap();
    }
}

/// The debug form names the code's parameters and field, not its tables.
#[test]
fn debug_names_the_parameters_not_the_tables() {
    let bch = Bch::new(512, 8).unwrap();
    assert_eq!(
        format!("{bch:?}"),
        format!(
            "Bch {{ data_bytes: 512, strength: 8, m: 13, ecc_bits: {}, .. }}",
            bch.ecc_bits
        )
    );
    assert_eq!(bch.ecc_bits.div_ceil(8), 13);
}

/// A panic in a thread holding the shared codes leaves them usable:
/// later callers get a code equal to a new one.
#[test]
fn shared_codes_survive_a_panic_while_held() {
    let panicked = std::thread::spawn(|| {
        let _held = SHARED.lock();
        panic!("a panic while the shared codes are held (expected)");
    })
    .join();
    assert!(panicked.is_err() && SHARED.is_poisoned());
    let shared = Bch::shared(32, 2).unwrap();
    let data: Vec<u8> = (0..32).collect();
    assert_eq!(
        encoded(&shared, &data),
        encoded(&Bch::new(32, 2).unwrap(), &data)
    );
    SHARED.clear_poison();
}

/// Three errors whose powers of alpha cancel (S1 = 0, S3 != 0) make
/// Berlekamp–Massey's locator jump to degree 3, past t = 2: the word is
/// uncorrectable and left as received.
#[test]
fn a_locator_past_the_strength_is_uncorrectable() {
    let bch = Bch::new(16, 2).unwrap();
    let field = &bch.field;
    let bits = bch.codeword_bits() as u32;
    let (p, q, r) = (0..bits)
        .flat_map(|p| (p + 1..bits).map(move |q| (p, q)))
        .map(|(p, q)| (p, q, field.log(field.exp(p) ^ field.exp(q))))
        .find(|&(_, q, r)| q < r && r < bits)
        .expect("three positions whose powers cancel");
    let data: Vec<u8> = (0..16).map(|i| i * 13).collect();
    let (mut d, mut parity) = (data.clone(), encoded(&bch, &data));
    for position in [p, q, r] {
        bch.flip(&mut d, &mut parity, position as usize);
    }
    let received = (d.clone(), parity.clone());
    assert_eq!(bch.decode(&mut d, &mut parity), Err(Uncorrectable));
    assert_eq!((d, parity), received);
}

/// Zero divided by any nonzero element is zero; otherwise division
/// undoes multiplication.
#[test]
fn field_division_undoes_multiplication() {
    let field = &Bch::new(16, 2).unwrap().field;
    for b in 1..=field.n as u16 {
        assert_eq!(field.div(0, b), 0);
        assert_eq!(field.div(field.mul(b, 7), b), 7);
    }
}

/// `S_j = r(alpha^j)` bit by bit: one field lookup a set bit of the
/// remainder a syndrome (how the codec computed them before the tables).
fn syndromes_bit_by_bit(bch: &Bch, remainder: &[u64]) -> Vec<u16> {
    let n = bch.field.n;
    let mut syndromes = vec![0u16; 2 * bch.strength as usize];
    for degree in 0..bch.ecc_bits {
        let index = bch.ecc_bits - 1 - degree;
        if remainder[index / 64] >> (63 - index % 64) & 1 == 1 {
            for (j, syndrome) in syndromes.iter_mut().enumerate() {
                let exponent = (degree as u64 * (j as u64 + 1) % u64::from(n)) as u32;
                *syndrome ^= bch.field.exp(exponent);
            }
        }
    }
    syndromes
}

/// The syndromes through the minimal polynomials' tables are the
/// remainder evaluated at `alpha^j`, for every j up to 2t, on codes whose
/// parity is a whole number of bytes (or words) and codes whose is not,
/// fields of 2^5 and 2^6 and minimal polynomials of degree 16, and on
/// remainders sparse and dense;
/// by the carry-less reductions and by the tables.
#[test]
fn table_syndromes_are_the_remainder_evaluated() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    for (data_bytes, strength) in [
        // Small fields (m = 5 and 6), whose exponents wrap many times.
        (1, 4),
        (2, 6),
        (16, 2),
        (64, 3),
        (512, 4),
        (1024, 24),
        (2048, 40),
        (512, MAX_STRENGTH),
        (4096, 4),
        (4096, 8),
        (4096, MAX_STRENGTH),
    ] {
        let code = Bch::new(data_bytes, strength).unwrap();
        for round in 0..80 {
            // Rounds 0 and 1 of each four by the carry-less reductions
            // (where the CPU has them), 2 and 3 by the tables: each path
            // a sparse and a dense remainder.
            let bch = if round % 4 < 2 {
                code.clone()
            } else {
                code.with_tables_only()
            };
            if round % 4 >= 2 {
                assert!(!bch.syndrome_tables.folds(), "the tables' path");
            } else if super::carry_less() {
                assert!(bch.syndrome_tables.folds(), "the carry-less path");
            }
            let mut remainder = [0u64; MAX_WORDS];
            let bits = if round % 2 == 0 {
                1 + round / 4
            } else {
                bch.ecc_bits
            };
            for _ in 0..bits {
                let index = rng.random_range(0..bch.ecc_bits);
                remainder[index / 64] |= 1 << (63 - index % 64);
            }
            let mut syndromes = [0u16; 2 * MAX_T];
            bch.syndromes(&remainder[..bch.words], &mut syndromes);
            let expected = syndromes_bit_by_bit(&bch, &remainder);
            assert_eq!(
                &syndromes[..expected.len()],
                &expected[..],
                "t {strength} round {round}"
            );
        }
    }
}

/// The remainders by carry-less multiplication are the tables', bit for
/// bit, for registers of one word to sixteen (and larger ones, left to the
/// tables), data a whole number of
/// eight-byte chunks or not, one buffer or two in lockstep. (On a CPU
/// without PCLMULQDQ both are the tables and the test says nothing new.)
#[test]
fn folded_remainders_are_the_tables() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut folded_codes = 0;
    let mut wide_codes = 0;
    for (data_bytes, strength) in [
        (8, 1),
        (16, 2),
        (100, 3),
        (512, 4),
        (512, 8),
        (512, 12),
        (512, 16),
        (512, 20),
        (1024, 30),
        (1024, 36),
        (1024, 24),
        (1021, 40),
        (2048, 70),
        (4096, 72),
        (4096, 100),
    ] {
        let bch = Bch::new(data_bytes, strength).unwrap();
        let tables = bch.with_tables_only();
        // The folding one 128-bit product at a time beside the 512-bit
        // one, where the CPU has it (else both are the same path).
        #[cfg(target_arch = "x86_64")]
        let narrow = Bch {
            folding: bch.folding.as_ref().map(|f| f.narrow()),
            ..bch.clone()
        };
        #[cfg(not(target_arch = "x86_64"))]
        let narrow = bch.clone();
        #[cfg(target_arch = "x86_64")]
        {
            folded_codes += usize::from(bch.folding.is_some() && bch.words <= 16);
            wide_codes += usize::from(bch.folding.as_ref().is_some_and(|f| f.is_wide()));
            assert!(tables.folding.is_none());
        }
        for _ in 0..20 {
            let (first, second) = (
                random_data(&mut rng, data_bytes),
                random_data(&mut rng, data_bytes),
            );
            let one = tables.remainders([&first[..]]);
            let two = tables.remainders([&first[..], &second[..]]);
            for (path, code) in [("folding", &bch), ("narrow folding", &narrow)] {
                let label = format!("{path}: {data_bytes} t {strength}");
                assert_eq!(code.remainders([&first[..]]), one, "{label}");
                assert_eq!(code.remainders([&first[..], &second[..]]), two, "{label}");
            }
        }
    }
    if super::carry_less() {
        assert_eq!(folded_codes, 12, "codes of up to 16 words fold");
    }
    println!("{wide_codes} codes folded four products to an instruction");
    let _ = (folded_codes, wide_codes);
}
