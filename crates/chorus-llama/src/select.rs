//! Choosing the next token from rows of logits: the greedy choice with its
//! margin, softmax, the fusions of several rows (mean, weighted mean, maximum of
//! probabilities) as data ([`Fusion`]) so that a device can run them where the
//! logits are, and their host implementation ([`select_on_host`]), which is the
//! reference every device implementation is tested against.

use std::borrow::Cow;

use crate::LlamaError;

/// How one group's rows of logits become the score vector its token is chosen from.
#[derive(Debug, Clone, PartialEq)]
pub enum Fusion {
    /// One row's logits as they are.
    Row(usize),
    /// The mean of the rows' logits.
    Mean(Vec<usize>),
    /// The rows' logits weighted by `weights` (normalised to sum 1; plain mean when
    /// they are not positive and finite).
    WeightedMean {
        /// The rows fused.
        rows: Vec<usize>,
        /// One weight per row.
        weights: Vec<f64>,
    },
    /// The element-wise maximum of the rows' softmax probabilities.
    MaxProbability(Vec<usize>),
}

impl Fusion {
    /// The rows this fusion reads.
    pub fn rows(&self) -> &[usize] {
        match self {
            Fusion::Row(row) => std::slice::from_ref(row),
            Fusion::Mean(rows) | Fusion::MaxProbability(rows) => rows,
            Fusion::WeightedMean { rows, .. } => rows,
        }
    }

    /// The fused score vector of `rows` (one slice per row of [`Fusion::rows`], in
    /// that order).
    pub fn scores<'a>(&self, rows: &[&'a [f32]]) -> Cow<'a, [f32]> {
        match self {
            Fusion::Row(_) => Cow::Borrowed(rows.first().copied().unwrap_or(&[])),
            Fusion::Mean(_) => Cow::Owned(mean(rows)),
            Fusion::WeightedMean { weights, .. } => Cow::Owned(weighted_mean(rows, weights)),
            Fusion::MaxProbability(_) => Cow::Owned(max_probability(rows)),
        }
    }
}

/// One next-token choice to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// How the group's rows are fused.
    pub fusion: Fusion,
    /// Also report the chosen token's probability under the (first) row's own logits.
    pub probability: bool,
}

/// A choice and, when asked for, the chosen token's probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Picked {
    /// The greedy choice.
    pub choice: Choice,
    /// Probability of the token under the first row's logits ([`Selection::probability`]).
    pub probability: Option<f64>,
}

/// The host implementation of [`crate::kernels::Kernels::select`] over row-major
/// f32 logits `[rows, vocab]`.
pub fn select_on_host(
    logits: &[f32],
    rows: usize,
    vocab: usize,
    selections: &[Selection],
) -> Result<Vec<Picked>, LlamaError> {
    selections
        .iter()
        .enumerate()
        .map(|(index, selection)| {
            let slices = selection
                .fusion
                .rows()
                .iter()
                .map(|&row| {
                    (row < rows)
                        .then(|| &logits[row * vocab..(row + 1) * vocab])
                        .ok_or(LlamaError::Input(crate::InputError::SelectionRow {
                            row,
                            rows,
                        }))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let scores = selection.fusion.scores(&slices);
            let choice =
                argmax(&scores).ok_or(LlamaError::Input(crate::InputError::NothingToChoose {
                    selection: index,
                }))?;
            let probability = selection
                .probability
                .then(|| probability_of(slices[0], choice.token as usize));
            Ok(Picked {
                choice,
                probability,
            })
        })
        .collect()
}

/// The greedy choice from a score vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// The chosen token id.
    pub token: u32,
    /// Top-1 minus top-2 score (0 on an exact tie, `f32::INFINITY` for one entry).
    pub margin: f32,
}

/// The index of the largest score (the first one on ties, as `torch.argmax`) and
/// its margin over the runner-up. NaN scores are never chosen: `None` when
/// there is no other score (empty, or all NaN, as a model that overflowed
/// gives), so that a broken run stops instead of emitting token 0.
pub fn argmax(scores: &[f32]) -> Option<Choice> {
    let mut best: Option<(usize, f32)> = None;
    let mut second = f32::NEG_INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_nan() {
            continue;
        }
        match best {
            Some((_, top)) if s <= top => second = second.max(s),
            Some((_, top)) => {
                second = top;
                best = Some((i, s));
            }
            None => best = Some((i, s)),
        }
    }
    let (index, top) = best?;
    Some(Choice {
        token: u32::try_from(index).unwrap_or(u32::MAX),
        margin: top - second,
    })
}

/// `softmax(scores)` in f32 after subtracting the maximum (as `torch.softmax`),
/// accumulating the normaliser in f64.
pub fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = scores.iter().map(|&s| (s - max).exp()).collect();
    let sum: f64 = exps.iter().map(|&e| f64::from(e)).sum();
    let sum = sum as f32;
    exps.into_iter().map(|e| e / sum).collect()
}

/// The probability `softmax(scores)[token]`, computed in f64.
pub fn probability_of(scores: &[f32], token: usize) -> f64 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = scores.iter().map(|&s| f64::from(s - max).exp()).sum();
    scores
        .get(token)
        .map_or(0.0, |&s| f64::from(s - max).exp() / sum)
}

/// Element-wise mean of equally long rows (the `avg` method).
pub fn mean(rows: &[&[f32]]) -> Vec<f32> {
    let mut out = sum_rows(rows, |_| 1.0);
    let n = rows.len().max(1) as f32;
    out.iter_mut().for_each(|v| *v /= n);
    out
}

/// Element-wise maximum of each row's softmax (the `max` method): probabilities.
pub fn max_probability(rows: &[&[f32]]) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::new();
    for row in rows {
        let probs = softmax(row);
        if out.is_empty() {
            out = probs;
        } else {
            out.iter_mut().zip(probs).for_each(|(o, p)| *o = o.max(p));
        }
    }
    out
}

/// `Σ wᵢ · rowᵢ` with the weights normalised to sum 1 (the `weighted_avg`
/// method); equal weights when they sum to zero or are not finite.
pub fn weighted_mean(rows: &[&[f32]], weights: &[f64]) -> Vec<f32> {
    let total: f64 = weights.iter().take(rows.len()).sum();
    if !(total.is_finite() && total > 0.0) || weights.len() < rows.len() {
        return mean(rows);
    }
    sum_rows(rows, |i| (weights[i] / total) as f32)
}

/// Index of the largest weight (first on ties; NaN never wins).
pub fn most_confident(weights: &[f64]) -> usize {
    let mut best = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w > weights[best] || weights[best].is_nan() {
            best = i;
        }
    }
    best
}

/// The `k` largest scores, best first (ties by lower index), as `(id, score)`.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut indexed: Vec<(u32, f32)> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_nan())
        .map(|(i, &s)| (u32::try_from(i).unwrap_or(u32::MAX), s))
        .collect();
    let k = k.min(indexed.len());
    if k == 0 {
        return Vec::new();
    }
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    indexed.select_nth_unstable_by(k - 1, order);
    indexed.truncate(k);
    indexed.sort_by(order);
    indexed
}

fn sum_rows(rows: &[&[f32]], weight: impl Fn(usize) -> f32) -> Vec<f32> {
    let len = rows.first().map_or(0, |r| r.len());
    let mut out = vec![0.0f32; len];
    for (i, row) in rows.iter().enumerate() {
        let w = weight(i);
        out.iter_mut()
            .zip(row.iter())
            .for_each(|(o, &v)| *o += w * v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn argmax_takes_the_first_of_ties_and_reports_the_margin() {
        assert_eq!(
            argmax(&[1.0, 3.0, 3.0, 2.0]),
            Some(Choice {
                token: 1,
                margin: 0.0
            })
        );
        assert_eq!(
            argmax(&[1.0, 4.0, 2.5]),
            Some(Choice {
                token: 1,
                margin: 1.5
            })
        );
        assert_eq!(argmax(&[f32::NAN, 1.0]).unwrap().token, 1);
        assert_eq!(argmax(&[]), None);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), None);
        assert_eq!(argmax(&[2.0]).unwrap().margin, f32::INFINITY);
    }

    #[test]
    fn fusions_match_hand_computations() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [3.0f32, 0.0, 1.0];
        assert_eq!(mean(&[&a, &b]), vec![2.0, 1.0, 2.0]);
        assert_eq!(weighted_mean(&[&a, &b], &[3.0, 1.0]), vec![1.5, 1.5, 2.5]);
        assert_eq!(weighted_mean(&[&a, &b], &[0.0, 0.0]), mean(&[&a, &b]));
        let m = max_probability(&[&a, &b]);
        let (pa, pb) = (softmax(&a), softmax(&b));
        for i in 0..3 {
            assert_eq!(m[i], pa[i].max(pb[i]));
        }
        assert_eq!(most_confident(&[0.2, 0.7, 0.7]), 1);
        assert_eq!(
            top_k(&[0.5, 2.0, 2.0, -1.0], 3),
            vec![(1, 2.0), (2, 2.0), (0, 0.5)]
        );
    }

    proptest! {
        #[test]
        fn softmax_is_a_distribution_and_keeps_the_argmax(v in proptest::collection::vec(-30.0f32..30.0, 1..50)) {
            let p = softmax(&v);
            let sum: f32 = p.iter().sum();
            prop_assert!((sum - 1.0).abs() < 1e-4);
            prop_assert_eq!(argmax(&p).unwrap().token, argmax(&v).unwrap().token);
            let t = argmax(&v).unwrap().token as usize;
            prop_assert!((probability_of(&v, t) - f64::from(p[t])).abs() < 1e-5);
        }

        #[test]
        fn fusing_one_row_is_the_identity(v in proptest::collection::vec(-30.0f32..30.0, 1..50), w in 0.1f64..5.0) {
            prop_assert_eq!(mean(&[&v]), v.clone());
            let weighted = weighted_mean(&[&v], &[w]);
            for (x, y) in weighted.iter().zip(&v) {
                prop_assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0));
            }
            prop_assert_eq!(argmax(&max_probability(&[&v])).unwrap().token, argmax(&v).unwrap().token);
        }

        #[test]
        fn top_k_is_sorted_and_starts_with_the_argmax(v in proptest::collection::vec(-30.0f32..30.0, 1..50), k in 1usize..12) {
            let top = top_k(&v, k);
            prop_assert_eq!(top.len(), k.min(v.len()));
            prop_assert_eq!(top[0].0, argmax(&v).unwrap().token);
            prop_assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        }
    }
}
