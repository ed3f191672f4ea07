//! Seeded temperature / top-p sampling (paraphrase generation).

use crate::score::{self, Choice};

/// SplitMix64: a small, well-mixed, seedable generator; the same seed gives the
/// same stream on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator for one prompt: the run's seed mixed with an FNV-1a hash of the
    /// prompt text, so a prompt's samples do not depend on batch composition or order.
    pub fn for_prompt(seed: u64, prompt: &str) -> Self {
        let hash = prompt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut mixer = Self(seed ^ hash.rotate_left(17));
        Self(mixer.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform draw from `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Draws a token from `softmax(logits / temperature)` restricted to the smallest
/// set of most probable tokens whose mass reaches `top_p` (at least one token).
/// `temperature == 0` is greedy (argmax, first on ties) and draws nothing.
pub fn sample(logits: &[f32], temperature: f32, top_p: f32, rng: &mut Rng) -> Option<Choice> {
    let greedy = score::argmax(logits)?;
    if temperature <= 0.0 {
        return Some(greedy);
    }
    let t = f64::from(temperature);
    let max = logits
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            (
                i,
                if l.is_nan() {
                    0.0
                } else {
                    (f64::from(l - max) / t).exp()
                },
            )
        })
        .filter(|(_, p)| *p > 0.0)
        .collect();
    let total: f64 = probs.iter().map(|(_, p)| p).sum();
    let (kept, mass) = nucleus(&mut probs, f64::from(top_p) * total);
    if kept == 0 {
        // No token has a positive probability (every logit -inf): nothing to draw from.
        return Some(greedy);
    }
    let mut draw = rng.next_f64() * mass;
    let mut chosen = probs[kept - 1].0;
    for &(i, p) in &probs[..kept] {
        if draw < p {
            chosen = i;
            break;
        }
        draw -= p;
    }
    Some(Choice {
        token: u32::try_from(chosen).unwrap_or(u32::MAX),
        margin: greedy.margin,
    })
}

/// Orders `probs` so that its first `kept` entries are the nucleus, most
/// probable first (ties by token id), and returns `kept` and their mass: the
/// smallest prefix of that order whose mass reaches `threshold` (at least one
/// token). Only the prefix is sorted: a vocabulary is ~10⁵ tokens and the
/// nucleus usually far fewer, so a partial selection grown 4× at a time costs a
/// fraction of a full sort (which dominated paraphrase sampling). The order is
/// total, so the prefix is exactly the one a full sort would give.
fn nucleus(probs: &mut [(usize, f64)], threshold: f64) -> (usize, f64) {
    let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let (mut sorted, mut kept, mut mass) = (0, 0, 0.0);
    let mut want = probs.len().min(64);
    loop {
        if want < probs.len() {
            probs[sorted..].select_nth_unstable_by(want - sorted - 1, order);
        }
        probs[sorted..want].sort_by(order);
        sorted = want;
        while kept < sorted && (kept == 0 || mass < threshold) {
            mass += probs[kept].1;
            kept += 1;
        }
        let reached = kept > 0 && mass >= threshold;
        if reached || kept < sorted || sorted == probs.len() {
            return (kept, mass);
        }
        want = (want * 4).min(probs.len());
    }
}

#[cfg(test)]
mod tests {
    use super::{Rng, nucleus, sample, score};
    use proptest::prelude::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::for_prompt(7, "Q: x");
        let mut b = Rng::for_prompt(7, "Q: x");
        let mut c = Rng::for_prompt(8, "Q: x");
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xs, (0..4).map(|_| c.next_u64()).collect::<Vec<_>>());
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Probabilities ~0.66, 0.24, 0.09: top_p 0.5 keeps only the first token.
        let logits = [2.0f32, 1.0, 0.0];
        let mut rng = Rng::new(1);
        assert!((0..200).all(|_| sample(&logits, 1.0, 0.5, &mut rng).unwrap().token == 0));
        let drawn: std::collections::HashSet<u32> = (0..400)
            .map(|_| sample(&logits, 1.0, 1.0, &mut rng).unwrap().token)
            .collect();
        assert_eq!(drawn.len(), 3);
    }

    #[test]
    fn draws_follow_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln()];
        let mut rng = Rng::new(3);
        let ones = (0..4000)
            .filter(|_| sample(&logits, 1.0, 1.0, &mut rng).unwrap().token == 1)
            .count();
        assert!(
            (2800..3200).contains(&ones),
            "{ones} of 4000, expected ~3000"
        );
    }

    /// The nucleus by a full sort, as the sampler first did it.
    fn nucleus_by_full_sort(probs: &mut [(usize, f64)], threshold: f64) -> (usize, f64) {
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (mut kept, mut mass) = (0, 0.0);
        while kept < probs.len() && (kept == 0 || mass < threshold) {
            mass += probs[kept].1;
            kept += 1;
        }
        (kept, mass)
    }

    proptest! {
        #[test]
        fn partial_nucleus_equals_the_full_sort(
            // Few distinct values give many ties; up to 3000 entries pass several growth steps.
            levels in proptest::collection::vec(0u8..6, 1..3000),
            top_p in 0.0f64..=1.0,
        ) {
            let mut fast: Vec<(usize, f64)> = levels.iter().map(|&l| f64::from(l).exp()).enumerate().collect();
            let mut full = fast.clone();
            let total: f64 = fast.iter().map(|(_, p)| p).sum();
            let (kept, mass) = nucleus(&mut fast, top_p * total);
            let (kept_full, mass_full) = nucleus_by_full_sort(&mut full, top_p * total);
            prop_assert_eq!(kept, kept_full);
            prop_assert_eq!(mass.to_bits(), mass_full.to_bits());
            prop_assert_eq!(&fast[..kept], &full[..kept]);
        }

        #[test]
        fn zero_or_tiny_temperature_is_greedy(v in proptest::collection::vec(-20.0f32..20.0, 1..40), seed in any::<u64>()) {
            let greedy = score::argmax(&v).unwrap().token;
            let mut rng = Rng::new(seed);
            prop_assert_eq!(sample(&v, 0.0, 0.9, &mut rng).unwrap().token, greedy);
            let top = v[greedy as usize];
            let unique_max = v.iter().filter(|&&x| x == top).count() == 1;
            let gap = v.iter().filter(|&&x| x != top).fold(f32::INFINITY, |g, &x| g.min(top - x));
            if unique_max && gap > 1e-3 {
                prop_assert_eq!(sample(&v, 1e-6, 0.9, &mut rng).unwrap().token, greedy);
            }
        }
    }
}
