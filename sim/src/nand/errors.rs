//! Raw bit errors as NAND makes them: a raw bit error rate (RBER) that grows
//! with the block's wear, with the time since the page was programmed
//! (retention), and with the reads of the block since its erase (read
//! disturb), after the shapes Cai et al. (DATE 2012) and Mielke et al.
//! (IRPS 2008) measured: orders of magnitude from a fresh block to rated
//! endurance, retention dominant, worn cells leaking faster.
//!
//! Promises: errors are per bit and deterministic from the seed. Most are
//! persistent: each page has a fixed order of weak bits (drawn from the
//! device seed, the page and its block's erase count), and at a given RBER
//! exactly the weakest fail, so a page's errors only grow as it ages and a
//! re-read sees them again; a small transient part (read noise) is drawn
//! afresh at every read from the device's generator. Work per read is
//! proportional to the errors injected, bounded by `FLIPS_MAX`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Nanoseconds in a year, for retention rates.
pub(crate) const YEAR_NS: f64 = 365.25 * 86_400.0 * 1e9;

/// Most bits one read flips: past it a page is garbage anyway.
pub(crate) const FLIPS_MAX: usize = 4_096;

/// How the raw bit error rate grows. All rates are per bit; all zero (the
/// default) means no bit errors at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorModel {
    /// RBER of a block never cycled, read right after its program.
    pub rber_fresh: f64,
    /// RBER at rated endurance, read right after its program: the rate
    /// grows geometrically from `rber_fresh` with the fraction of endurance
    /// used (and on past it).
    pub rber_worn: f64,
    /// RBER a fresh block gains per year since its page was programmed.
    pub retention_per_year: f64,
    /// How much faster a block at rated endurance leaks: retention scales
    /// geometrically from 1 to this with the fraction of endurance used.
    pub retention_wear_factor: f64,
    /// RBER the other pages of a block gain per read of the block since its
    /// erase.
    pub disturb_per_read: f64,
    /// Transient read noise: RBER drawn afresh at every read.
    pub read_noise: f64,
}

impl ErrorModel {
    pub fn is_off(&self) -> bool {
        *self == ErrorModel::default()
    }

    /// Each rate finite and in 0..=1, the wear factor at least 1.
    pub fn check(&self) -> Result<(), String> {
        let rates = [
            ("rber_fresh", self.rber_fresh),
            ("rber_worn", self.rber_worn),
            ("retention_per_year", self.retention_per_year),
            ("disturb_per_read", self.disturb_per_read),
            ("read_noise", self.read_noise),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("error model {name} = {rate}: a rate is 0 to 1"));
            }
        }
        let factor = self.retention_wear_factor;
        if !(factor == 0.0 || (1.0..=1e6).contains(&factor)) {
            return Err(format!(
                "error model retention_wear_factor = {factor}: 1 to 10^6 (or 0: none)"
            ));
        }
        Ok(())
    }

    /// Days after its program at which a page of a block with `wear` of
    /// its endurance used reaches RBER `target` by retention (reads
    /// aside); 0 if it starts there, `None` if it never does.
    pub fn days_to(&self, target: f64, wear: f64) -> Option<f64> {
        let start = self.rber(wear, 0, 0);
        if start >= target {
            return Some(0.0);
        }
        let per_year = self.rber(wear, YEAR_NS as u64, 0) - start;
        (per_year > 0.0).then(|| (target - start) / per_year * 365.25)
    }

    /// The persistent RBER of a page: `wear` is the fraction of the block's
    /// endurance used, `age_ns` the time since the page was programmed (or
    /// its block erased), `reads` the block's reads since its erase.
    pub fn rber(&self, wear: f64, age_ns: u64, reads: u32) -> f64 {
        self.rber_with(self.wear_terms(wear), age_ns, reads)
    }

    /// What [`ErrorModel::rber`] takes from the wear alone (two powers):
    /// the RBER wear adds, and the factor it speeds retention loss by. A
    /// block's change only with its erase count, so the simulator keeps
    /// them per block between erases.
    pub(crate) fn wear_terms(&self, wear: f64) -> WearTerms {
        let wear = wear.max(0.0);
        let from_wear = if self.rber_fresh > 0.0 {
            self.rber_fresh * (self.rber_worn / self.rber_fresh).max(1.0).powf(wear)
        } else {
            0.0
        };
        let leak = self.retention_wear_factor.max(1.0).powf(wear);
        WearTerms { from_wear, leak }
    }

    /// [`ErrorModel::rber`] from the wear's terms: the same figure, bit for
    /// bit.
    pub(crate) fn rber_with(&self, terms: WearTerms, age_ns: u64, reads: u32) -> f64 {
        let from_age = self.retention_per_year * terms.leak * (age_ns as f64 / YEAR_NS);
        let from_reads = self.disturb_per_read * f64::from(reads);
        (terms.from_wear + from_age + from_reads).min(0.5)
    }
}

/// What the wear contributes to a page's RBER ([`ErrorModel::wear_terms`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WearTerms {
    /// The RBER from wear alone.
    from_wear: f64,
    /// The factor wear multiplies retention loss by.
    leak: f64,
}

/// Codeword failures per read a part's ECC is rated for: the RBER at which
/// one codeword in 10^12 has more errors than the ECC corrects is the
/// most it carries ([`rber_limit`]).
pub const CODEWORD_FAILURE_TARGET: f64 = 1e-12;

/// The chance that a codeword of `bits` bits at RBER `rber` has more than
/// `t` errors (Poisson tail; bounded work: `t` + 1 terms).
pub(crate) fn codeword_failure(rber: f64, bits: u32, t: u32) -> f64 {
    let mean = rber * f64::from(bits);
    let mut term = (-mean).exp();
    let mut within = 0.0;
    for k in 0..=t {
        within += term;
        term *= mean / f64::from(k + 1);
    }
    (1.0 - within).max(0.0)
}

/// The RBER at which a codeword of `bits` bits with `t` correctable fails
/// with chance `failure` (bisection in log space, 200 steps).
pub fn rber_limit(bits: u32, t: u32, failure: f64) -> f64 {
    let (mut low, mut high) = (1e-15f64, 0.5f64);
    for _ in 0..200 {
        let mid = (low * high).sqrt();
        if codeword_failure(mid, bits, t) > failure {
            high = mid;
        } else {
            low = mid;
        }
    }
    low
}

/// A small, fast generator for a page's weak bits: SplitMix64, seeded by
/// the page's identity. Not for anything but placing bit errors.
struct WeakBits(u64);

impl WeakBits {
    fn new(seed: u64) -> Self {
        WeakBits(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// The identity of a page's weak bits: the device seed, the page and how
/// many times its block was erased (a new program, new cells' charges).
pub(crate) fn page_seed(device_seed: u64, page_index: u64, erase_count: u32) -> u64 {
    let mut mix = WeakBits::new(device_seed ^ page_index.rotate_left(17));
    let first = mix.next();
    first ^ u64::from(erase_count).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// Flips, in `page` (every bit a cell), the bits weak enough to fail at
/// RBER `rber`: the k weakest, where the weakness thresholds are the order
/// statistics of the page's bits (exponential spacings), so the count is
/// binomial in expectation and grows monotonically with `rber`. Returns the
/// bits flipped.
pub(crate) fn flip_weak_bits(page: &mut [u8], seed: u64, rber: f64) -> u32 {
    let bits = page.len() as f64 * 8.0;
    let mut weak = WeakBits::new(seed);
    let mut unit = weak.unit();
    if first_spacing_passes(unit, rber * bits) {
        return 0;
    }
    let mut threshold = 0.0;
    let mut flipped: Vec<u32> = Vec::new();
    while flipped.len() < FLIPS_MAX {
        threshold += -unit.ln() / bits;
        if threshold >= rber {
            break;
        }
        let bit = (weak.next() % (page.len() as u64 * 8)) as u32;
        if !flipped.contains(&bit) {
            flipped.push(bit);
            page[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        unit = weak.unit();
    }
    flipped.len() as u32
}

/// Whether the first weakness threshold, `-ln(unit) / bits`, is surely at
/// least the rate (`rate_bits` = rate × bits), without the logarithm:
/// `-ln(u) >= 1 - u` for u in (0, 1], and `1 - u` is exact for the draws
/// `unit` makes, so where `1 - u` passes `rate_bits` with a margin far
/// above the logarithm's and the division's rounding, the threshold
/// passes too and the page has no weak bit at this rate. Most reads are
/// of such pages; the answer is the one the logarithm gives (a test
/// compares them).
fn first_spacing_passes(unit: f64, rate_bits: f64) -> bool {
    const MARGIN: f64 = 1.0 + 1e-6;
    1.0 - unit >= rate_bits * MARGIN
}

/// Flips a binomial number of random bits of `page` at rate `rber`, drawn
/// from `rng`: transient read noise. Returns the bits flipped.
pub(crate) fn flip_noise(page: &mut [u8], rng: &mut ChaCha8Rng, rber: f64) -> u32 {
    if rber <= 0.0 {
        return 0;
    }
    let seed = rng.random::<u64>();
    flip_weak_bits(page, seed, rber)
}

/// Each block's endurance, spread as real parts spread: most within ±15%
/// of `cycles` (log-normal), one in a hundred weak, dying at 30 to 60%.
pub(crate) fn spread_endurance(cycles: u32, blocks: u32, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x00E0_DA2C_E5EE_D000);
    (0..blocks)
        .map(|_| {
            let factor = if rng.random_ratio(1, 100) {
                rng.random_range(0.3..0.6)
            } else {
                // Sum of uniforms: a bell around 1 within ±15%.
                let u: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() / 4.0;
                0.85 + 0.3 * u
            };
            ((f64::from(cycles) * factor).round() as u32).max(1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flips without the shortcut, as they were drawn before it.
    fn flip_weak_bits_by_logarithms(page: &mut [u8], seed: u64, rber: f64) -> u32 {
        let bits = page.len() as f64 * 8.0;
        let mut weak = WeakBits::new(seed);
        let mut threshold = 0.0;
        let mut flipped: Vec<u32> = Vec::new();
        while flipped.len() < FLIPS_MAX {
            threshold += -weak.unit().ln() / bits;
            if threshold >= rber {
                break;
            }
            let bit = (weak.next() % (page.len() as u64 * 8)) as u32;
            if !flipped.contains(&bit) {
                flipped.push(bit);
                page[(bit / 8) as usize] ^= 1 << (bit % 8);
            }
        }
        flipped.len() as u32
    }

    /// The shortcut past the first logarithm flips the same bits as the
    /// logarithms, page for page: rates from none to one bit in ten, and
    /// rates set just under and over each page's first threshold, where a
    /// shortcut with too thin a margin would answer differently.
    #[test]
    fn skipping_the_first_logarithm_flips_the_same_bits() {
        let mut shortcuts = 0;
        for seed in 0..20_000u64 {
            let page_bytes = [16usize, 512, 4096][seed as usize % 3];
            let bits = page_bytes as f64 * 8.0;
            let first = -WeakBits::new(seed).unit().ln() / bits;
            let rates = [
                0.0,
                1e-7 * (seed % 1000) as f64,
                0.1 * (seed % 7) as f64 / 7.0,
                first,
                first * (1.0 - 1e-12),
                first * (1.0 + 1e-12),
                first * (1.0 - 2e-6),
            ];
            for rber in rates {
                let (mut fast, mut slow) = (vec![0xA5u8; page_bytes], vec![0xA5u8; page_bytes]);
                let flips = flip_weak_bits(&mut fast, seed, rber);
                assert_eq!(flips, flip_weak_bits_by_logarithms(&mut slow, seed, rber));
                assert_eq!(fast, slow, "seed {seed} rate {rber}");
                shortcuts += u32::from(first_spacing_passes(
                    WeakBits::new(seed).unit(),
                    rber * bits,
                ));
            }
        }
        assert!(
            shortcuts > 20_000,
            "the shortcut was taken {shortcuts} times"
        );
    }

    #[test]
    fn weak_bits_are_persistent_and_grow_with_the_rate() {
        let seed = page_seed(7, 1234, 3);
        let mut counts = Vec::new();
        let mut previous = vec![0xFFu8; 4096];
        for rber in [1e-6, 1e-4, 1e-3, 1e-2] {
            let mut page = vec![0xFFu8; 4096];
            counts.push(flip_weak_bits(&mut page, seed, rber));
            // Every bit flipped at a lower rate is flipped at this one too.
            for (a, b) in previous.iter().zip(&page) {
                assert_eq!((!a) & b, 0, "a weak bit healed as the rate grew");
            }
            previous = page;
        }
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        let mut again = vec![0xFFu8; 4096];
        flip_weak_bits(&mut again, seed, 1e-2);
        assert_eq!(again, previous, "the same page, the same errors");
    }

    #[test]
    fn counts_follow_the_rate_on_average() {
        let (pages, bytes, rber) = (2_000u64, 1024usize, 1e-3);
        let total: u64 = (0..pages)
            .map(|p| {
                let mut page = vec![0u8; bytes];
                u64::from(flip_weak_bits(&mut page, page_seed(1, p, 0), rber))
            })
            .sum();
        let expected = pages as f64 * bytes as f64 * 8.0 * rber;
        let mean = total as f64;
        assert!(
            (mean - expected).abs() < 0.1 * expected,
            "{mean} vs {expected}"
        );
    }

    #[test]
    fn rber_grows_with_wear_age_and_reads() {
        let model = ErrorModel {
            rber_fresh: 1e-7,
            rber_worn: 1e-4,
            retention_per_year: 1e-6,
            retention_wear_factor: 100.0,
            disturb_per_read: 1e-10,
            read_noise: 0.0,
        };
        assert!((model.rber(0.0, 0, 0) - 1e-7).abs() < 1e-12);
        assert!((model.rber(1.0, 0, 0) - 1e-4).abs() < 1e-9);
        let year = YEAR_NS as u64;
        assert!(model.rber(1.0, year, 0) > model.rber(0.0, year, 0) * 10.0);
        assert!(model.rber(0.0, 0, 1_000_000) > model.rber(0.0, 0, 0));
        assert_eq!(ErrorModel::default().rber(1.0, year, 1_000), 0.0);
        assert!(model.check().is_ok());
        let bad = ErrorModel {
            read_noise: -1.0,
            ..model
        };
        assert!(bad.check().is_err());
    }

    #[test]
    fn endurance_spreads_with_a_few_weak_blocks() {
        let cycles = spread_endurance(3_000, 10_000, 5);
        assert_eq!(cycles, spread_endurance(3_000, 10_000, 5));
        let weak = cycles.iter().filter(|&&c| c < 1_900).count();
        assert!((50..200).contains(&weak), "{weak} weak blocks");
        let mean = cycles.iter().map(|&c| f64::from(c)).sum::<f64>() / 10_000.0;
        assert!((2_850.0..3_050.0).contains(&mean), "{mean}");
    }
}
