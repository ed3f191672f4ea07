//! Accuracy reports over result files: Chorus's own
//! (`results/{model}/{dataset}/{method}-{tag}.feather` plus `.csv`) and any
//! Feather / CSV file with `answers` and `prediction` columns (the Python
//! pipeline's, pandas').
//!
//! The inputs are files or directories (searched recursively): every Feather
//! file is read (a CSV only when no Feather file of the same name sits beside
//! it). Per file the report gives the accuracy of the `prediction` column and
//! of the raw `generation` cut at its first punctuation or whitespace token,
//! how many predictions were empty, and the number of paraphrases asked per
//! question. A per-paraphrase file (with `paraphrase_index`) also gets its
//! consistency, fluctuation and oracle ([`ParaphraseMetrics`]); a fused file
//! (with `paraphrases`) is compared with the oracle of the per-paraphrase file
//! of the same model, dataset and paraphrase selection when the report holds
//! one ([`OracleComparison`]). The metrics are defined in the crate's README.

mod read;
mod render;
mod score;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tracing::{debug, info, warn};

use crate::error::EvalError;
use crate::lemmatizer::Lemmatizer;
use crate::metric::{LemmaRow, accuracy, cut_at_punctuation};
use crate::paraphrases::{ParaphraseRow, oracle_gap, paraphrase_metrics};

pub use render::ReportFormat;
pub use score::{FileKind, FileScore, LemmaSource, OracleComparison, Report, ReportOptions};

/// Scores every result file under `dir` with the default options.
pub fn report(dir: &Path) -> Result<Report, EvalError> {
    report_with(dir, &Lemmatizer::english()?, ReportOptions::default())
}

/// Scores every result file under `dir`.
pub fn report_with(
    dir: &Path,
    lemmatizer: &Lemmatizer,
    options: ReportOptions,
) -> Result<Report, EvalError> {
    report_paths(&[dir], lemmatizer, options)
}

/// Scores every result file among `inputs`: files (`.csv` read as CSV,
/// anything else as Feather) and directories (searched recursively for
/// `.feather` files and `.csv` files without a `.feather` twin). A file found
/// twice is scored once; finding none is an error.
pub fn report_paths<P: AsRef<Path>>(
    inputs: &[P],
    lemmatizer: &Lemmatizer,
    options: ReportOptions,
) -> Result<Report, EvalError> {
    let inputs: Vec<PathBuf> = inputs.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let found = result_files(&inputs)?;
    if found.is_empty() {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(EvalError::NoResultFiles {
            inputs: names.join(", "),
        });
    }
    let base = match inputs.as_slice() {
        [only] if only.is_dir() => Some(only.as_path()),
        _ => None,
    };
    let mut scored = Vec::with_capacity(found.len());
    for path in &found {
        info!(path = %path.display(), "scoring result file");
        let table = read::read_result_file(path)?;
        let shown = base
            .and_then(|dir| path.strip_prefix(dir).ok())
            .unwrap_or(path)
            .to_path_buf();
        scored.push(score_table(path, shown, &table, lemmatizer, options)?);
    }
    compare_with_oracles(&mut scored);
    Ok(Report {
        inputs,
        options,
        files: scored.into_iter().map(|s| s.score).collect(),
        paraphrase_sets: Vec::new(),
    })
}

/// A file's scores plus the rows the cross-file comparison needs.
struct Scored {
    score: FileScore,
    /// The `seed` of the `options` metadata (selection identity).
    seed: Option<serde_json::Value>,
    /// Per row: `(uuid, right)`, when the file has `uuid`.
    rows: Option<Vec<(String, bool)>>,
    /// A per-paraphrase file's rows.
    paraphrase_rows: Option<Vec<ParaphraseRow>>,
}

fn score_table(
    path: &Path,
    shown: PathBuf,
    table: &read::ResultTable,
    lemmatizer: &Lemmatizer,
    options: ReportOptions,
) -> Result<Scored, EvalError> {
    let (predictions, answer_lemmas) = lemmas_of(path, table, lemmatizer, options.lemmas)?;
    let correct: Vec<bool> = predictions
        .iter()
        .zip(&answer_lemmas)
        .map(|(prediction, answers)| crate::is_correct(prediction, answers, options.match_options))
        .collect();
    let rows: Vec<LemmaRow> = predictions
        .iter()
        .zip(&answer_lemmas)
        .map(|(prediction, answers)| LemmaRow {
            prediction: prediction.clone(),
            answers: answers.clone(),
        })
        .collect();
    let generation_cut = table.generations.as_ref().map(|generations| {
        let cut_rows: Vec<LemmaRow> = generations
            .iter()
            .zip(&answer_lemmas)
            .map(|(generation, answers)| LemmaRow {
                prediction: cut_at_punctuation(&lemmatizer.lemmas(generation.trim_start()))
                    .to_vec(),
                answers: answers.clone(),
            })
            .collect();
        accuracy(&cut_rows, options.match_options)
    });

    let paraphrase_rows = match (&table.paraphrase_indices, &table.uuids) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(EvalError::MissingColumn {
                path: path.to_path_buf(),
                column: "uuid".to_owned(),
            });
        }
        (Some(indices), Some(uuids)) => Some(
            uuids
                .iter()
                .zip(indices)
                .zip(predictions)
                .zip(&correct)
                .map(|(((uuid, &index), prediction), &correct)| ParaphraseRow {
                    item: uuid.clone(),
                    paraphrase_index: index,
                    prediction,
                    correct,
                })
                .collect::<Vec<_>>(),
        ),
    };
    let kind = if table.paraphrase_indices.is_some() {
        FileKind::PerParaphrase
    } else if table.paraphrase_counts.is_some() {
        FileKind::Fused
    } else {
        FileKind::Single
    };

    let model = table.metadata.get("model").cloned().unwrap_or_else(|| {
        path.parent()
            .and_then(Path::file_name)
            .map_or_else(|| "-".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    let run_options: Option<serde_json::Value> = table
        .metadata
        .get("options")
        .and_then(|json| serde_json::from_str(json).ok());
    let option = |key: &str| run_options.as_ref().and_then(|o| o.get(key)).cloned();
    let selection = option("selection").and_then(|v| v.as_str().map(str::to_owned));
    let stem = path
        .file_stem()
        .map_or_else(|| "-".to_owned(), |n| n.to_string_lossy().into_owned());
    let method = match table.metadata.get("method") {
        Some(method) => method_variant(method, selection.as_deref(), &stem),
        None => stem,
    };
    let score = FileScore {
        path: shown,
        model,
        method,
        dataset: table.metadata.get("dataset").cloned(),
        selection,
        kind,
        paraphrases: table.paraphrase_counts.as_deref().map_or(1, most_common),
        prediction: accuracy(&rows, options.match_options),
        generation_cut,
        paraphrase_metrics: paraphrase_rows.as_deref().map(paraphrase_metrics),
        oracle: None,
        paraphrase_quality: None,
    };
    Ok(Scored {
        score,
        seed: option("seed"),
        rows: table
            .uuids
            .as_ref()
            .map(|uuids| uuids.iter().cloned().zip(correct).collect()),
        paraphrase_rows,
    })
}

/// The method with the option suffix of Chorus's file name, so that runs of
/// one method with different options stay apart in the report and the plot:
/// `flex` of `flex-m5a5s5-fusenone.feather` is `flex-fusenone`. The file
/// stem is `{method}[-{selection}]{suffixes}`; a stem of another shape leaves
/// the method as recorded.
fn method_variant(method: &str, selection: Option<&str>, stem: &str) -> String {
    let Some(rest) = stem.strip_prefix(method) else {
        return method.to_owned();
    };
    let rest = match selection {
        Some(tag) => rest
            .strip_prefix('-')
            .and_then(|r| r.strip_prefix(tag))
            .unwrap_or(rest),
        None => rest,
    };
    // A shard's or a copy's name (`.shard0of4`, ` (1)`) is no option.
    if rest.starts_with('-')
        && rest[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        format!("{method}{rest}")
    } else {
        method.to_owned()
    }
}

/// The prediction lemmas and every answer's lemmas of each row, from the
/// source `lemmas` asks for.
type Lemmas = (Vec<Vec<String>>, Vec<Vec<Vec<String>>>);

fn lemmas_of(
    path: &Path,
    table: &read::ResultTable,
    lemmatizer: &Lemmatizer,
    source: LemmaSource,
) -> Result<Lemmas, EvalError> {
    let stored = match (&table.predict_lemmas, &table.answer_lemmas) {
        (Some(predictions), Some(answers)) => Some((predictions, answers)),
        _ => None,
    };
    match (source, stored) {
        (LemmaSource::Stored | LemmaSource::StoredElseLemmatize, Some((predictions, answers))) => {
            Ok((predictions.clone(), answers.clone()))
        }
        (LemmaSource::Stored, None) => Err(EvalError::MissingLemmas {
            path: path.to_path_buf(),
            column: if table.predict_lemmas.is_none() {
                "predict_lemma"
            } else {
                "answer_lemmas"
            }
            .to_owned(),
        }),
        _ => Ok((
            table
                .predictions
                .iter()
                .map(|p| lemmatizer.lemmas(p))
                .collect(),
            table
                .answers
                .iter()
                .map(|answers| answers.iter().map(|a| lemmatizer.lemmas(a)).collect())
                .collect(),
        )),
    }
}

/// Gives every fused file with a `uuid` column the oracle comparison with its
/// per-paraphrase reference: a per-paraphrase file of the same model and
/// dataset whose paraphrase selection (and seed) equal the fused file's where
/// both record them, else whose paraphrases per item equal the fused file's
/// paraphrase count. The first such file by path is taken.
fn compare_with_oracles(scored: &mut [Scored]) {
    let mut comparisons = Vec::new();
    for (index, fused) in scored.iter().enumerate() {
        let Some(rows) = fused
            .rows
            .as_ref()
            .filter(|_| fused.score.kind == FileKind::Fused)
        else {
            continue;
        };
        let references: Vec<&Scored> = scored
            .iter()
            .filter(|candidate| {
                let (f, c) = (&fused.score, &candidate.score);
                let Some(metrics) = c.paraphrase_metrics.as_ref() else {
                    return false;
                };
                let selection = same(&f.selection, &c.selection);
                let seed = same(&fused.seed, &candidate.seed);
                let same_selection = match selection {
                    Some(equal) => equal && seed.unwrap_or(true),
                    None => metrics.paraphrases_per_item == f.paraphrases,
                };
                c.model == f.model && c.dataset == f.dataset && same_selection
            })
            .collect();
        let Some(reference) = references.first() else {
            debug!(path = %fused.score.path.display(), "no per_prompt reference for the oracle");
            continue;
        };
        if references.len() > 1 {
            warn!(
                path = %fused.score.path.display(),
                reference = %reference.score.path.display(),
                candidates = references.len(),
                "several per_prompt files fit; comparing with the first"
            );
        }
        let reference_rows = reference.paraphrase_rows.as_deref().unwrap_or_default();
        let gap = oracle_gap(
            rows.iter().map(|(uuid, right)| (uuid.as_str(), *right)),
            reference_rows,
        );
        if let Some(gap) = gap {
            comparisons.push((
                index,
                OracleComparison {
                    reference: reference.score.path.clone(),
                    gap,
                },
            ));
        }
    }
    for (index, comparison) in comparisons {
        scored[index].score.oracle = Some(comparison);
    }
}

/// Whether two recorded values are equal; `None` when either is unrecorded.
fn same<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> Option<bool> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a == b),
        _ => None,
    }
}

/// The most common value (the smallest on ties); 1 for an empty list.
fn most_common(values: &[usize]) -> usize {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for &value in values {
        *counts.entry(value).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map_or(1, |(value, _)| value)
}

/// The result files among `inputs`, each once, sorted.
fn result_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, EvalError> {
    let mut found = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut found)?;
        } else {
            // A missing file is reported when it is read (`Io`, naming it).
            found.push(input.clone());
        }
    }
    let mut seen = BTreeSet::new();
    found.retain(|path| seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())));
    found.sort();
    debug!(count = found.len(), "result files found");
    Ok(found)
}

/// Feather files under `dir`, plus CSV files without a Feather twin.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), EvalError> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let io = |source| EvalError::Io {
            path: current.clone(),
            source,
        };
        for entry in std::fs::read_dir(&current).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let wanted = match extension {
                "feather" => true,
                "csv" => !path.with_extension("feather").exists(),
                _ => false,
            };
            if wanted {
                found.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_variants_come_from_the_file_name() {
        let v = method_variant;
        assert_eq!(
            v("flex", Some("m5a5s5"), "flex-m5a5s5-fusenone"),
            "flex-fusenone"
        );
        assert_eq!(v("flex", Some("m5a5s5"), "flex-m5a5s5"), "flex");
        assert_eq!(
            v("flex", Some("n3"), "flex-n3-structured-continuous"),
            "flex-structured-continuous"
        );
        assert_eq!(v("origin", None, "origin"), "origin");
        assert_eq!(v("avg", Some("n3"), "avg-n3.shard0of2"), "avg");
        assert_eq!(v("avg", Some("n3"), "pipeline_avg"), "avg");
    }

    #[test]
    fn most_common_prefers_frequent_then_small() {
        assert_eq!(most_common(&[3, 3, 2]), 3);
        assert_eq!(most_common(&[2, 3]), 2);
        assert_eq!(most_common(&[]), 1);
    }
}
