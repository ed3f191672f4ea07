//! What a report holds: the options it ran with and one score per result file
//! (the data the scoring in `report.rs` fills and `render.rs` prints).

use std::path::PathBuf;

use serde::Serialize;

use crate::metric::{AccuracyReport, MatchOptions};
use crate::paraphrases::{OracleGap, ParaphraseMetrics};
use crate::quality::{ParaphraseSetQuality, QualitySummary};

/// Where the lemmas a file is scored with come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LemmaSource {
    /// The file's `predict_lemma` and `answer_lemmas` columns (written by
    /// `--lemmaize`, or by the Python pipeline with spaCy); a file without
    /// them is an error ([`EvalError::MissingLemmas`]). The command line's
    /// default.
    Stored,
    /// The stored columns where a file has them; otherwise `prediction` and
    /// `answers` lemmatised with [`Lemmatizer::english`]. The command line's
    /// `--lemmaize-missing`, and the library's default.
    #[default]
    StoredElseLemmatize,
    /// Always lemmatise `prediction` and `answers` again, ignoring stored
    /// lemmas.
    Lemmatize,
}

/// What the report computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ReportOptions {
    /// The matching rule (`anchor_compat`: the Python pipeline's
    /// empty-prediction rule).
    pub match_options: MatchOptions,
    /// Where lemmas come from.
    pub lemmas: LemmaSource,
}

/// What kind of run a file holds, told by its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// One answer per item from one prompt (`origin`, or a file with neither
    /// `paraphrase_index` nor `paraphrases`).
    Single,
    /// One row per item and paraphrase (`per_prompt`: a `paraphrase_index`
    /// column).
    PerParaphrase,
    /// One answer per item fused from several paraphrases (avg, max,
    /// weighted, flex: a `paraphrases` list column).
    Fused,
}

/// A fused file against the oracle of a per-paraphrase file of the same
/// model, dataset and paraphrase selection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OracleComparison {
    /// The per-paraphrase file compared with (as shown in the report).
    pub reference: PathBuf,
    /// The comparison, on the items both files hold.
    #[serde(flatten)]
    pub gap: OracleGap,
}

/// The scores of one result file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileScore {
    /// The file: relative to the input directory when the report has a single
    /// directory input, else the path as found.
    pub path: PathBuf,
    /// Model name (schema metadata `model`, else the parent directory).
    pub model: String,
    /// Method (schema metadata `method`, else the file stem).
    pub method: String,
    /// Dataset (schema metadata `dataset`), when recorded.
    pub dataset: Option<String>,
    /// The paraphrase selection (`selection` in the `options` metadata, e.g.
    /// `n3`, `m5a0s3`), when recorded.
    pub selection: Option<String>,
    /// The kind of run, from the file's columns.
    pub kind: FileKind,
    /// Paraphrases asked per question: the length of `paraphrases` (its most
    /// common value), 1 for single and per-paraphrase files.
    pub paraphrases: usize,
    /// Accuracy of the `prediction` column.
    pub prediction: AccuracyReport,
    /// Accuracy of `generation` cut at its first punctuation or whitespace
    /// token; absent when the file has no `generation` column.
    pub generation_cut: Option<AccuracyReport>,
    /// Consistency, fluctuation and oracle of a per-paraphrase file.
    pub paraphrase_metrics: Option<ParaphraseMetrics>,
    /// A fused file against its per-paraphrase reference, when the report
    /// holds one.
    pub oracle: Option<OracleComparison>,
    /// The quality of the paraphrases of the file's dataset, for the file's
    /// selection ([`ParaphraseSetQuality::for_selection`]), when the report
    /// was given that set ([`Report::with_paraphrase_sets`]); absent for
    /// `origin` files, which ask the reference question only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paraphrase_quality: Option<QualitySummary>,
}

/// Scores of every result file of a report's inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The files and directories given.
    pub inputs: Vec<PathBuf>,
    /// The options used.
    pub options: ReportOptions,
    /// One entry per result file, sorted by path.
    pub files: Vec<FileScore>,
    /// The paraphrase sets measured ([`Report::with_paraphrase_sets`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paraphrase_sets: Vec<ParaphraseSetQuality>,
}

impl FileScore {
    /// The result set a file belongs to, for grouping: the first folder of
    /// its shown path when that path is deeper than Chorus's own
    /// `{model}/{dataset}/{file}` layout (as in `results/full/<set>/...`
    /// written by `scripts/results/run_all.sh`), else the dataset's file
    /// stem (`webqa`, `test.paraphrased20`; `-` when unrecorded).
    pub fn result_set(&self) -> String {
        let parts: Vec<_> = self.path.components().collect();
        if parts.len() > 3 {
            parts[0].as_os_str().to_string_lossy().into_owned()
        } else {
            self.dataset
                .as_deref()
                .map(|dataset| {
                    std::path::Path::new(dataset)
                        .file_stem()
                        .map_or_else(|| dataset.to_owned(), |s| s.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "-".to_owned())
        }
    }
}

impl Report {
    /// Adds the paraphrase sets to the report and gives every result file
    /// whose recorded dataset names one of them (the same string, or a path
    /// with the same file name) that set's quality for the file's selection.
    /// Single-prompt files (`origin`) get none: they ask the reference only.
    pub fn with_paraphrase_sets(mut self, sets: Vec<ParaphraseSetQuality>) -> Self {
        for file in &mut self.files {
            if file.kind == FileKind::Single {
                continue;
            }
            let Some(recorded) = file.dataset.as_deref() else {
                continue;
            };
            file.paraphrase_quality = sets
                .iter()
                .find(|set| crate::quality::same_dataset(recorded, &set.dataset))
                .map(|set| *set.for_selection(file.selection.as_deref()));
        }
        self.paraphrase_sets = sets;
        self
    }
}
