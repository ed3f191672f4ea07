//! The log-sum-exp merge of partial attentions, as `attend_own` (cuda/attention.cu)
//! combines the shared context's part with a row's own keys: each part is
//! summarised by its largest score, the sum of its exponentials relative to that
//! score and its normalised output; merged, they give exactly the softmax over the
//! union of their keys. Host code here so that the maths is tested without a GPU.

/// One part of an attention: `max` of its scores (−∞ when it has no key), `sum`
/// of `exp(score − max)`, and `out`, its softmax-weighted values.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// Largest score of the part (`f32::NEG_INFINITY` for an empty part).
    pub max: f32,
    /// `Σ exp(score − max)` over the part's keys (0 for an empty part).
    pub sum: f32,
    /// The part's output, normalised by its own `sum`.
    pub out: Vec<f32>,
}

impl Partial {
    /// The partial attention of `scores` over `values` (one row per key).
    pub fn of(scores: &[f32], values: &[Vec<f32>], dim: usize) -> Self {
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut out = vec![0.0; dim];
        let mut sum = 0.0;
        if max > f32::NEG_INFINITY {
            for (score, value) in scores.iter().zip(values) {
                let weight = (score - max).exp();
                sum += weight;
                out.iter_mut()
                    .zip(value)
                    .for_each(|(o, v)| *o += weight * v);
            }
            out.iter_mut().for_each(|o| *o /= sum);
        }
        Self { max, sum, out }
    }
}

/// The softmax-weighted values over both parts' keys: each part's output weighted
/// by `sum · exp(max − max of both)`, normalised by the total (zeros when neither
/// part has a key).
pub fn merge(a: &Partial, b: &Partial) -> Vec<f32> {
    let max = a.max.max(b.max);
    let weight = |p: &Partial| {
        if p.max > f32::NEG_INFINITY {
            p.sum * (p.max - max).exp()
        } else {
            0.0
        }
    };
    let (wa, wb) = (weight(a), weight(b));
    let total = wa + wb;
    if total == 0.0 {
        return vec![0.0; a.out.len()];
    }
    a.out
        .iter()
        .zip(&b.out)
        .map(|(x, y)| (wa * x + wb * y) / total)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Splitting a row's keys anywhere and merging the two parts gives the
        /// joint softmax attention (an empty part included).
        #[test]
        fn the_merge_of_two_parts_is_the_joint_softmax(
            keys in proptest::collection::vec(
                (-30.0f32..30.0, proptest::collection::vec(-4.0f32..4.0, 4)), 1..40),
            split in 0usize..40,
        ) {
            let split = split.min(keys.len());
            let scores: Vec<f32> = keys.iter().map(|k| k.0).collect();
            let values: Vec<Vec<f32>> = keys.iter().map(|k| k.1.clone()).collect();
            let joint = Partial::of(&scores, &values, 4).out;
            let a = Partial::of(&scores[..split], &values[..split], 4);
            let b = Partial::of(&scores[split..], &values[split..], 4);
            let merged = merge(&a, &b);
            for (m, j) in merged.iter().zip(&joint) {
                prop_assert!((m - j).abs() <= 1e-5 * (1.0 + j.abs()), "{m} vs {j}");
            }
        }
    }

    #[test]
    fn two_empty_parts_give_zeros() {
        let empty = Partial::of(&[], &[], 3);
        assert_eq!(merge(&empty, &empty), vec![0.0; 3]);
    }
}
