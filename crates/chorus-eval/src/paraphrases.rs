//! Metrics over the paraphrases of an item, after the MyriadLAMA / BELIEF
//! evaluation (Zhao et al. 2024, arXiv 2406.12277): consistency of the
//! predictions across an item's paraphrases, fluctuation of accuracy across
//! paraphrase positions, and the oracle upper bound of a paraphrase ensemble.
//!
//! They are computed from the rows of a `per_prompt` run (one row per item
//! and paraphrase), each reduced to a [`ParaphraseRow`]: the item's identity,
//! the paraphrase's position, the normalised prediction (the lemma sequence the
//! accuracy match uses) and whether the row is right. The definitions are in
//! the crate's README ("Metrics").

use std::collections::BTreeMap;

use serde::Serialize;

/// One row of a per-paraphrase run, as the paraphrase metrics see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParaphraseRow {
    /// The item (its `uuid`): rows of one item are its paraphrases.
    pub item: String,
    /// The paraphrase's position (`paraphrase_index`).
    pub paraphrase_index: u64,
    /// The normalised prediction: the lemma sequence the accuracy match
    /// compares (stored `predict_lemma` or the lemmatised `prediction`).
    pub prediction: Vec<String>,
    /// Whether the row's prediction is right.
    pub correct: bool,
}

/// Accuracy of the rows at one paraphrase position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PositionAccuracy {
    /// The position (`paraphrase_index`).
    pub paraphrase_index: u64,
    /// Right rows at this position.
    pub correct: usize,
    /// Rows at this position.
    pub total: usize,
    /// `correct / total`.
    pub accuracy: f64,
}

/// Consistency, fluctuation and the oracle of a per-paraphrase run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParaphraseMetrics {
    /// Distinct items.
    pub items: usize,
    /// Paraphrases per item (the most common count, the smallest on ties).
    pub paraphrases_per_item: usize,
    /// Mean over items with at least two paraphrases of the share of their
    /// paraphrase pairs whose normalised predictions are equal; `None` when
    /// no item has two paraphrases.
    pub consistency: Option<f64>,
    /// Items with at least two paraphrases (those `consistency` averages).
    pub consistency_items: usize,
    /// Accuracy per paraphrase position, by increasing position.
    pub positions: Vec<PositionAccuracy>,
    /// Fluctuation: the highest minus the lowest position accuracy (0 for one
    /// position).
    pub fluctuation_range: f64,
    /// Fluctuation: the population standard deviation of the position
    /// accuracies (divided by the number of positions).
    pub fluctuation_std: f64,
    /// Mean per-paraphrase accuracy: the mean over items of the share of the
    /// item's paraphrases answered right (the expected accuracy of asking one
    /// paraphrase drawn at random per item).
    pub mean_accuracy: f64,
    /// Items with at least one right paraphrase.
    pub oracle_correct: usize,
    /// The oracle upper bound: `oracle_correct / items`.
    pub oracle: f64,
}

/// A fused run against the oracle of a per-paraphrase run of the same items.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OracleGap {
    /// Items present in both runs (the items every number here is over).
    pub items: usize,
    /// The fused run's accuracy on those items.
    pub accuracy: f64,
    /// The per-paraphrase run's mean per-paraphrase accuracy on those items.
    pub mean_accuracy: f64,
    /// The per-paraphrase run's oracle on those items.
    pub oracle: f64,
    /// Share of the gap recovered:
    /// `(accuracy - mean_accuracy) / (oracle - mean_accuracy)`; `None` when
    /// the oracle equals the mean (every item all right or all wrong). Below
    /// 0 the ensemble is worse than one paraphrase; above 1 it beats the
    /// oracle (it answered items no single paraphrase got right).
    pub recovered: Option<f64>,
}

/// Per item: paraphrases, right ones, and their normalised predictions.
#[derive(Default)]
struct ItemRows<'a> {
    total: usize,
    correct: usize,
    predictions: Vec<&'a [String]>,
}

fn by_item(rows: &[ParaphraseRow]) -> BTreeMap<&str, ItemRows<'_>> {
    let mut items: BTreeMap<&str, ItemRows<'_>> = BTreeMap::new();
    for row in rows {
        let entry = items.entry(row.item.as_str()).or_default();
        entry.total += 1;
        entry.correct += usize::from(row.correct);
        entry.predictions.push(&row.prediction);
    }
    items
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Share of pairs of `predictions` that are equal; `None` for fewer than two.
fn pairwise_agreement(predictions: &[&[String]]) -> Option<f64> {
    let n = predictions.len();
    if n < 2 {
        return None;
    }
    let mut equal = 0usize;
    for (i, first) in predictions.iter().enumerate() {
        equal += predictions[i + 1..]
            .iter()
            .filter(|second| *second == first)
            .count();
    }
    Some(ratio(equal, n * (n - 1) / 2))
}

/// Consistency, fluctuation and the oracle of the rows of a per-paraphrase run.
pub fn paraphrase_metrics(rows: &[ParaphraseRow]) -> ParaphraseMetrics {
    let items = by_item(rows);
    let agreements: Vec<f64> = items
        .values()
        .filter_map(|item| pairwise_agreement(&item.predictions))
        .collect();
    let consistency =
        (!agreements.is_empty()).then(|| agreements.iter().sum::<f64>() / agreements.len() as f64);

    let mut by_position: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for row in rows {
        let entry = by_position.entry(row.paraphrase_index).or_default();
        entry.0 += usize::from(row.correct);
        entry.1 += 1;
    }
    let positions: Vec<PositionAccuracy> = by_position
        .into_iter()
        .map(|(paraphrase_index, (correct, total))| PositionAccuracy {
            paraphrase_index,
            correct,
            total,
            accuracy: ratio(correct, total),
        })
        .collect();
    let accuracies: Vec<f64> = positions.iter().map(|p| p.accuracy).collect();
    let (lowest, highest) = accuracies
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &a| {
            (lo.min(a), hi.max(a))
        });
    let fluctuation_range = if accuracies.is_empty() {
        0.0
    } else {
        highest - lowest
    };
    let fluctuation_std = population_std(&accuracies);

    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for item in items.values() {
        *counts.entry(item.total).or_default() += 1;
    }
    let paraphrases_per_item = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(count, _)| count);
    let oracle_correct = items.values().filter(|item| item.correct > 0).count();
    let mean_accuracy = if items.is_empty() {
        0.0
    } else {
        items
            .values()
            .map(|item| ratio(item.correct, item.total))
            .sum::<f64>()
            / items.len() as f64
    };
    ParaphraseMetrics {
        items: items.len(),
        paraphrases_per_item,
        consistency,
        consistency_items: agreements.len(),
        positions,
        fluctuation_range,
        fluctuation_std,
        mean_accuracy,
        oracle_correct,
        oracle: ratio(oracle_correct, items.len()),
    }
}

/// The population standard deviation (0 for fewer than two values).
fn population_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Compares a fused run (`(item, right)` per row) with the oracle of the
/// per-paraphrase rows `reference`, on the items both hold; `None` when they
/// share no item.
pub fn oracle_gap<'a>(
    method: impl IntoIterator<Item = (&'a str, bool)>,
    reference: &[ParaphraseRow],
) -> Option<OracleGap> {
    let items = by_item(reference);
    let (mut rows, mut right, mut oracle, mut mean) = (0usize, 0usize, 0usize, 0.0f64);
    for (item, correct) in method {
        let Some(paraphrases) = items.get(item) else {
            continue;
        };
        rows += 1;
        right += usize::from(correct);
        oracle += usize::from(paraphrases.correct > 0);
        mean += ratio(paraphrases.correct, paraphrases.total);
    }
    if rows == 0 {
        return None;
    }
    let accuracy = ratio(right, rows);
    let mean_accuracy = mean / rows as f64;
    let oracle = ratio(oracle, rows);
    let gap = oracle - mean_accuracy;
    Some(OracleGap {
        items: rows,
        accuracy,
        mean_accuracy,
        oracle,
        recovered: (gap.abs() > 1e-12).then(|| (accuracy - mean_accuracy) / gap),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(item: &str, index: u64, prediction: &str, correct: bool) -> ParaphraseRow {
        ParaphraseRow {
            item: item.to_owned(),
            paraphrase_index: index,
            prediction: prediction.split_whitespace().map(str::to_owned).collect(),
            correct,
        }
    }

    /// Three items, three paraphrases each (the fixture of the README).
    fn rows() -> Vec<ParaphraseRow> {
        vec![
            row("a", 0, "paris", true),
            row("a", 1, "paris", true),
            row("a", 2, "lyon", false),
            row("b", 0, "rome", true),
            row("b", 1, "milan", false),
            row("b", 2, "milan", false),
            row("c", 0, "munich", false),
            row("c", 1, "munich", false),
            row("c", 2, "munich", false),
        ]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_metrics() {
        let metrics = paraphrase_metrics(&rows());
        assert_eq!((metrics.items, metrics.paraphrases_per_item), (3, 3));
        // a: 1 of 3 pairs equal, b: 1 of 3, c: 3 of 3.
        assert!(close(metrics.consistency.unwrap(), 5.0 / 9.0));
        assert_eq!(metrics.consistency_items, 3);
        let accuracies: Vec<f64> = metrics.positions.iter().map(|p| p.accuracy).collect();
        assert_eq!(accuracies, [2.0 / 3.0, 1.0 / 3.0, 0.0]);
        assert!(close(metrics.fluctuation_range, 2.0 / 3.0));
        assert!(close(metrics.fluctuation_std, (2.0f64 / 27.0).sqrt()));
        assert!(close(metrics.mean_accuracy, 1.0 / 3.0));
        assert_eq!(metrics.oracle_correct, 2);
        assert!(close(metrics.oracle, 2.0 / 3.0));
    }

    #[test]
    fn single_paraphrase_items_have_no_consistency() {
        let metrics = paraphrase_metrics(&[row("a", 0, "x", true), row("b", 0, "y", false)]);
        assert_eq!(metrics.consistency, None);
        assert_eq!(metrics.consistency_items, 0);
        assert_eq!(metrics.fluctuation_range, 0.0);
        assert_eq!(metrics.fluctuation_std, 0.0);
        assert!(close(metrics.oracle, 0.5));
        let empty = paraphrase_metrics(&[]);
        assert_eq!(
            (empty.items, empty.oracle, empty.mean_accuracy),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn empty_predictions_agree_with_each_other() {
        let metrics = paraphrase_metrics(&[row("a", 0, "", false), row("a", 1, "", false)]);
        assert_eq!(metrics.consistency, Some(1.0));
    }

    #[test]
    fn gap_is_measured_on_shared_items() {
        let reference = rows();
        // a right, b right, c wrong; d is not in the reference.
        let fused = [("a", true), ("b", true), ("c", false), ("d", true)];
        let gap = oracle_gap(fused, &reference).unwrap();
        assert_eq!(gap.items, 3);
        assert!(close(gap.accuracy, 2.0 / 3.0));
        assert!(close(gap.mean_accuracy, 1.0 / 3.0));
        assert!(close(gap.oracle, 2.0 / 3.0));
        assert!(close(gap.recovered.unwrap(), 1.0));
        // Only c: mean 0 = oracle 0, nothing to recover.
        let none = oracle_gap([("c", false)], &reference).unwrap();
        assert_eq!(none.recovered, None);
        assert!(oracle_gap([("z", true)], &reference).is_none());
    }
}
