//! A bit-exact port of the parts of CPython's `random` module that the Python
//! pipeline used: `random.seed(int)`, `random.seed(str)`, `getrandbits`,
//! `random()`, `_randbelow` and `sample`.
//!
//! `random.seed(42); random.sample(range(3778), 5)` picked the WebQuestions
//! few-shot examples and `random.seed(uuid)` seeded the per-item paraphrase
//! draws, so reproducing the pipeline needs the exact same stream of numbers,
//! not merely "a Mersenne Twister".

use rand_mt::Mt;
use sha2::{Digest, Sha512};

use crate::error::{DataError, Result};

/// CPython's `random.Random` seeded with an integer or a string.
pub struct PyRandom {
    mt: Mt,
}

impl PyRandom {
    /// `random.seed(seed)` for an integer seed. CPython takes the absolute value,
    /// splits it into 32-bit words, least significant first (one zero word for 0),
    /// and feeds them to MT19937's `init_by_array`.
    pub fn new(seed: i128) -> Self {
        Self::from_be_bytes(&seed.unsigned_abs().to_be_bytes())
    }

    /// `random.seed(seed)` for a `str` seed (CPython 3.2+, `version=2`): the seed
    /// becomes the non-negative integer whose big-endian bytes are
    /// `seed.encode('utf-8') + sha512(seed.encode('utf-8')).digest()`, which is
    /// then used like an integer seed.
    pub fn from_str_seed(seed: &str) -> Self {
        let text = seed.as_bytes();
        let mut bytes = Vec::with_capacity(text.len() + 64);
        bytes.extend_from_slice(text);
        bytes.extend_from_slice(&Sha512::digest(text));
        Self::from_be_bytes(&bytes)
    }

    /// `random.seed(n)` for the non-negative integer `n` with big-endian bytes `be`.
    fn from_be_bytes(be: &[u8]) -> Self {
        Self {
            mt: Mt::new_with_key(seed_key(be)),
        }
    }

    /// `random.random()`: a float in `[0, 1)` built from two 32-bit outputs,
    /// 27 and 26 of their top bits, exactly as CPython's `random_random`.
    pub fn random(&mut self) -> f64 {
        let high = f64::from(self.mt.next_u32() >> 5);
        let low = f64::from(self.mt.next_u32() >> 6);
        (high * 67_108_864.0 + low) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.getrandbits(k)` for `k <= 64`: 32-bit outputs are consumed least
    /// significant word first, and the last word keeps only its top bits.
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        assert!(
            k <= 64,
            "getrandbits supports at most 64 bits here, asked {k}"
        );
        let mut value = 0u64;
        let mut remaining = k;
        let mut shift = 0;
        while remaining > 0 {
            let mut word = self.mt.next_u32();
            if remaining < 32 {
                word >>= 32 - remaining;
            }
            value |= u64::from(word) << shift;
            shift += 32;
            remaining = remaining.saturating_sub(32);
        }
        value
    }

    /// `random._randbelow(n)` (the getrandbits variant): draw `n.bit_length()`
    /// bits until the value is below `n`. Returns 0 for `n == 0` as CPython does.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let bits = u64::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(bits);
            if r < n {
                return r;
            }
        }
    }

    /// `random.sample(range(n), k)`: `k` distinct indices below `n`, in the order
    /// CPython returns them. Both of CPython's strategies are reproduced, chosen by
    /// the same rule (see [`sample_uses_pool`]).
    pub fn sample(&mut self, n: usize, k: usize) -> Result<Vec<usize>> {
        if k > n {
            return Err(DataError::SampleTooLarge { n, k });
        }
        Ok(if sample_uses_pool(n, k) {
            self.sample_from_pool(n, k)
        } else {
            self.sample_with_set(n, k)
        })
    }

    /// `sample`'s pool branch: a partial Fisher-Yates shuffle that moves the last
    /// unselected element into the hole left by each pick.
    fn sample_from_pool(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..n).collect();
        (0..k)
            .map(|i| {
                let j = self.randbelow_usize(n - i);
                let picked = pool[j];
                pool[j] = pool[n - i - 1];
                picked
            })
            .collect()
    }

    /// `sample`'s set branch: draw from the whole range, redrawing duplicates.
    fn sample_with_set(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut selected = std::collections::HashSet::with_capacity(k);
        let mut result = Vec::with_capacity(k);
        for _ in 0..k {
            let mut j = self.randbelow_usize(n);
            while selected.contains(&j) {
                j = self.randbelow_usize(n);
            }
            selected.insert(j);
            result.push(j);
        }
        result
    }

    fn randbelow_usize(&mut self, n: usize) -> usize {
        // Lossless: usize is at most 64 bits and the result is below n.
        self.randbelow(n as u64) as usize
    }
}

/// The 32-bit words of the non-negative integer with big-endian bytes `be`,
/// least significant first, without high zero words but at least one word:
/// the key CPython's `random_seed` passes to `init_by_array`.
fn seed_key(be: &[u8]) -> Vec<u32> {
    // Walk 4-byte chunks from the least significant end; the most significant
    // chunk may be short and is then zero-extended at the top.
    let mut key: Vec<u32> = be
        .rchunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0u32, |word, &b| (word << 8) | u32::from(b))
        })
        .collect();
    while key.len() > 1 && key.last() == Some(&0) {
        key.pop();
    }
    if key.is_empty() {
        key.push(0);
    }
    key
}

/// Whether CPython's `sample(population, k)` takes the pool branch for a
/// population of `n`: `setsize = 21`, plus `4 ** ceil(log(3k, 4))` when `k > 5`;
/// the pool is used when `n <= setsize`. The float arithmetic mirrors CPython's
/// `math.log(x, 4) == log(x) / log(4)`.
pub fn sample_uses_pool(n: usize, k: usize) -> bool {
    let mut setsize: f64 = 21.0;
    if k > 5 {
        let exponent = ((k as f64 * 3.0).ln() / 4f64.ln()).ceil();
        setsize += 4f64.powf(exponent);
    }
    (n as f64) <= setsize
}

/// `random.seed(seed); random.sample(range(n), k)` in one call.
pub fn python_sample(seed: i128, n: usize, k: usize) -> Result<Vec<usize>> {
    PyRandom::new(seed).sample(n, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn webquestions_few_shot_indices() {
        assert_eq!(
            python_sample(42, 3778, 5).unwrap(),
            vec![2619, 456, 102, 3037, 1126]
        );
    }

    fn key_of(seed: u128) -> Vec<u32> {
        seed_key(&seed.to_be_bytes())
    }

    #[test]
    fn seed_key_matches_cpython_word_split() {
        assert_eq!(key_of(0), vec![0]);
        assert_eq!(key_of(42), vec![42]);
        assert_eq!(key_of(1 << 32), vec![0, 1]);
        assert_eq!(key_of(u128::MAX), vec![u32::MAX; 4]);
        assert_eq!(seed_key(&[]), vec![0]);
    }

    #[test]
    fn short_top_chunk_is_zero_extended() {
        // 0x01_02030405 = words [0x02030405, 0x01].
        assert_eq!(seed_key(&[1, 2, 3, 4, 5]), vec![0x0203_0405, 1]);
        assert_eq!(seed_key(&[0, 0, 0, 0, 0, 7]), vec![7]);
    }

    #[test]
    fn str_seed_is_the_integer_of_text_and_digest() {
        // The integer seed built by hand must give the same stream.
        let text = b"ab";
        let mut be = text.to_vec();
        be.extend_from_slice(&Sha512::digest(text));
        let mut by_str = PyRandom::from_str_seed("ab");
        let mut by_int = PyRandom::from_be_bytes(&be);
        for _ in 0..10 {
            assert_eq!(by_str.getrandbits(32), by_int.getrandbits(32));
        }
    }

    #[test]
    fn negative_seeds_equal_their_absolute_value() {
        assert_eq!(
            python_sample(-7, 100, 10).unwrap(),
            python_sample(7, 100, 10).unwrap()
        );
    }

    #[test]
    fn branch_choice_follows_setsize() {
        // k <= 5: setsize 21.
        assert!(sample_uses_pool(21, 5));
        assert!(!sample_uses_pool(22, 5));
        // k = 6: 21 + 4**ceil(log4(18)) = 21 + 64 = 85.
        assert!(sample_uses_pool(85, 6));
        assert!(!sample_uses_pool(86, 6));
    }

    #[test]
    fn oversized_sample_is_an_error() {
        assert!(matches!(
            python_sample(1, 3, 4),
            Err(DataError::SampleTooLarge { n: 3, k: 4 })
        ));
    }

    #[test]
    fn getrandbits_zero_consumes_nothing() {
        let mut a = PyRandom::new(5);
        let mut b = PyRandom::new(5);
        assert_eq!(a.getrandbits(0), 0);
        assert_eq!(a.getrandbits(32), b.getrandbits(32));
    }

    proptest! {
        #[test]
        fn samples_are_distinct_and_in_range(seed in any::<i64>(), n in 0usize..300, k_frac in 0.0f64..=1.0) {
            let k = ((n as f64) * k_frac) as usize;
            let picks = python_sample(i128::from(seed), n, k).unwrap();
            prop_assert_eq!(picks.len(), k);
            let unique: std::collections::HashSet<_> = picks.iter().collect();
            prop_assert_eq!(unique.len(), k);
            prop_assert!(picks.iter().all(|&p| p < n));
        }

        #[test]
        fn random_is_in_unit_interval(seed in ".{0,40}") {
            let mut rng = PyRandom::from_str_seed(&seed);
            for _ in 0..8 {
                let x = rng.random();
                prop_assert!((0.0..1.0).contains(&x), "{x}");
            }
        }

        #[test]
        fn randbelow_stays_below(seed in any::<u32>(), n in 1u64..u64::MAX) {
            let mut rng = PyRandom::new(i128::from(seed));
            prop_assert!(rng.randbelow(n) < n);
        }
    }
}
