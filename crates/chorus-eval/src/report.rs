//! Accuracy reports over a directory of result files
//! (`results/{model}/{method}.feather` plus `.csv`).
//!
//! Every Feather file is read (a CSV only when no Feather file of the same
//! name sits beside it). Per file the report gives the accuracy of the
//! `prediction` column and of the raw `generation` cut at its first
//! punctuation or whitespace token, how many predictions were empty, and
//! the number of paraphrases asked per question.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use serde::Serialize;
use tracing::{debug, info};

use crate::error::EvalError;
use crate::lemmatizer::Lemmatizer;
use crate::metric::{AccuracyReport, LemmaRow, MatchOptions, accuracy, cut_at_punctuation};
use crate::plot;

/// What the report computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportOptions {
    /// The matching rule.
    pub match_options: MatchOptions,
    /// Use `predict_lemma` / `answer_lemmas` when a file has them (added by
    /// `--lemmaize`) instead of lemmatising `prediction` and `answers` again.
    pub use_stored_lemmas: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            match_options: MatchOptions::default(),
            use_stored_lemmas: true,
        }
    }
}

/// The scores of one result file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileScore {
    /// The file, relative to the report's directory.
    pub path: PathBuf,
    /// Model name (schema metadata `model`, else the parent directory).
    pub model: String,
    /// Method (schema metadata `method`, else the file stem).
    pub method: String,
    /// Dataset (schema metadata `dataset`), when recorded.
    pub dataset: Option<String>,
    /// Paraphrases asked per question: the length of `paraphrases` (its most
    /// common value), 1 for `origin` and `per_prompt` files.
    pub paraphrases: usize,
    /// Accuracy of the `prediction` column.
    pub prediction: AccuracyReport,
    /// Accuracy of `generation` cut at its first punctuation or whitespace
    /// token; absent when the file has no `generation` column.
    pub generation_cut: Option<AccuracyReport>,
}

/// Scores of every result file under a directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The directory that was scanned.
    pub directory: PathBuf,
    /// The options used.
    pub options: ReportOptions,
    /// One entry per result file, sorted by path.
    pub files: Vec<FileScore>,
}

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
    let mut files = Vec::new();
    for path in result_files(dir)? {
        info!(path = %path.display(), "scoring result file");
        let table = read_result_file(&path)?;
        files.push(score_table(dir, &path, &table, lemmatizer, options));
    }
    Ok(Report {
        directory: dir.to_path_buf(),
        options,
        files,
    })
}

impl Report {
    /// A Markdown table, one row per file, with a note on empty predictions.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| model | method | dataset | paraphrases | rows | accuracy | correct | empty | cut accuracy | file |\n\
             |---|---|---|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for file in &self.files {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.1}% | {} | {} | {} | {} |",
                file.model,
                file.method,
                file.dataset.as_deref().unwrap_or("-"),
                file.paraphrases,
                file.prediction.total,
                100.0 * file.prediction.accuracy,
                file.prediction.correct,
                file.prediction.empty,
                file.generation_cut.map_or_else(
                    || "-".to_owned(),
                    |cut| format!("{:.1}%", 100.0 * cut.accuracy)
                ),
                file.path.display(),
            );
        }
        let empty: usize = self.files.iter().map(|f| f.prediction.empty).sum();
        let rule = if self.options.match_options.anchor_compat {
            "counted as correct (anchor_compat, the Python pipeline's rule)"
        } else {
            "counted as wrong"
        };
        let _ = writeln!(out, "\n{empty} empty prediction(s), {rule}.");
        out
    }

    /// CSV with a header row, one row per file.
    pub fn to_csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let header = [
            "path",
            "model",
            "method",
            "dataset",
            "paraphrases",
            "total",
            "correct",
            "empty",
            "accuracy",
            "cut_correct",
            "cut_accuracy",
        ];
        let mut rows = vec![header.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()];
        for file in &self.files {
            let cut = file.generation_cut;
            rows.push(vec![
                file.path.display().to_string(),
                file.model.clone(),
                file.method.clone(),
                file.dataset.clone().unwrap_or_default(),
                file.paraphrases.to_string(),
                file.prediction.total.to_string(),
                file.prediction.correct.to_string(),
                file.prediction.empty.to_string(),
                format!("{:.6}", file.prediction.accuracy),
                cut.map(|c| c.correct.to_string()).unwrap_or_default(),
                cut.map(|c| format!("{:.6}", c.accuracy))
                    .unwrap_or_default(),
            ]);
        }
        for row in rows {
            // Writing to a Vec cannot fail.
            let _ = writer.write_record(&row);
        }
        writer
            .into_inner()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Pretty-printed JSON of the whole report.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    }

    /// Draws accuracy against the number of paraphrases, one line per
    /// model and method (a `_k3`-style suffix of the method is ignored, so
    /// `avg_k1`, `avg_k3`, `avg_k5` form one line), and writes it to `path`
    /// as PNG.
    pub fn write_plot(&self, path: &Path) -> Result<(), EvalError> {
        let mut series: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
        for file in &self.files {
            series
                .entry(format!(
                    "{} {}",
                    file.model,
                    without_count_suffix(&file.method)
                ))
                .or_default()
                .push((file.paraphrases, file.prediction.accuracy));
        }
        let series: Vec<plot::Series> = series
            .into_iter()
            .map(|(label, mut points)| {
                points.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                plot::Series { label, points }
            })
            .collect();
        plot::render_plot(&series)
            .save_with_format(path, image::ImageFormat::Png)
            .map_err(|source| EvalError::Image {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// `avg_k3` → `avg`: drops a trailing `_k<digits>` or `-k<digits>`.
fn without_count_suffix(method: &str) -> &str {
    let digits = method.len() - method.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let head = &method[..method.len() - digits];
    match head.strip_suffix("_k").or_else(|| head.strip_suffix("-k")) {
        Some(base) if digits > 0 && !base.is_empty() => base,
        _ => method,
    }
}

/// `predict_lemma` and `answer_lemmas` columns, row by row.
type StoredLemmas = (Vec<Vec<String>>, Vec<Vec<Vec<String>>>);

/// A result file's columns, as far as the report needs them.
#[derive(Debug, Default)]
struct ResultTable {
    metadata: BTreeMap<String, String>,
    answers: Vec<Vec<String>>,
    predictions: Vec<String>,
    generations: Option<Vec<String>>,
    paraphrase_counts: Option<Vec<usize>>,
    stored_lemmas: Option<StoredLemmas>,
}

fn score_table(
    dir: &Path,
    path: &Path,
    table: &ResultTable,
    lemmatizer: &Lemmatizer,
    options: ReportOptions,
) -> FileScore {
    let answer_lemmas: Vec<Vec<Vec<String>>> =
        match (&table.stored_lemmas, options.use_stored_lemmas) {
            (Some((_, answers)), true) => answers.clone(),
            _ => table
                .answers
                .iter()
                .map(|answers| answers.iter().map(|a| lemmatizer.lemmas(a)).collect())
                .collect(),
        };
    let predictions: Vec<Vec<String>> = match (&table.stored_lemmas, options.use_stored_lemmas) {
        (Some((predictions, _)), true) => predictions.clone(),
        _ => table
            .predictions
            .iter()
            .map(|p| lemmatizer.lemmas(p))
            .collect(),
    };
    let rows: Vec<LemmaRow> = predictions
        .into_iter()
        .zip(&answer_lemmas)
        .map(|(prediction, answers)| LemmaRow {
            prediction,
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
    let relative = path.strip_prefix(dir).unwrap_or(path).to_path_buf();
    let model = table.metadata.get("model").cloned().unwrap_or_else(|| {
        relative
            .parent()
            .and_then(Path::file_name)
            .map_or_else(|| "-".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    let method = table.metadata.get("method").cloned().unwrap_or_else(|| {
        path.file_stem()
            .map_or_else(|| "-".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    FileScore {
        path: relative,
        model,
        method,
        dataset: table.metadata.get("dataset").cloned(),
        paraphrases: table.paraphrase_counts.as_deref().map_or(1, most_common),
        prediction: accuracy(&rows, options.match_options),
        generation_cut,
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

/// Feather files under `dir`, plus CSV files without a Feather twin, sorted.
fn result_files(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut found = Vec::new();
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
    found.sort();
    debug!(count = found.len(), dir = %dir.display(), "result files found");
    Ok(found)
}

fn read_result_file(path: &Path) -> Result<ResultTable, EvalError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => read_csv(path),
        _ => read_feather(path),
    }
}

fn read_feather(path: &Path) -> Result<ResultTable, EvalError> {
    let file = File::open(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let arrow = |source| EvalError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).map_err(arrow)?;
    let schema = reader.schema();
    let mut table = ResultTable {
        metadata: schema.metadata().clone().into_iter().collect(),
        ..ResultTable::default()
    };
    let has = |name: &str| schema.column_with_name(name).is_some();
    for name in ["answers", "prediction"] {
        if !has(name) {
            return Err(EvalError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_owned(),
            });
        }
    }
    let mut generations = has("generation").then(Vec::new);
    let per_prompt = has("paraphrase_index") || has("question");
    let mut counts = (!per_prompt && has("paraphrases")).then(Vec::new);
    let lemmaized = has("predict_lemma") && has("answer_lemmas");
    let mut stored = lemmaized.then(|| (Vec::new(), Vec::new()));
    for batch in reader {
        let batch = batch.map_err(arrow)?;
        let offset = table.predictions.len();
        let column = |name: &str| -> Result<&ArrayRef, EvalError> {
            batch
                .column_by_name(name)
                .ok_or_else(|| EvalError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.to_owned(),
                })
        };
        let cells = Cells { path, offset };
        table
            .answers
            .extend(cells.string_lists("answers", column("answers")?)?);
        table
            .predictions
            .extend(cells.strings("prediction", column("prediction")?)?);
        if let Some(generations) = generations.as_mut() {
            generations.extend(cells.strings("generation", column("generation")?)?);
        }
        if let Some(counts) = counts.as_mut() {
            let lists = cells.string_lists("paraphrases", column("paraphrases")?)?;
            counts.extend(lists.iter().map(Vec::len));
        }
        if let Some((predictions, answers)) = stored.as_mut() {
            predictions.extend(cells.string_lists("predict_lemma", column("predict_lemma")?)?);
            answers.extend(cells.nested_string_lists("answer_lemmas", column("answer_lemmas")?)?);
        }
    }
    table.generations = generations;
    table.paraphrase_counts = counts;
    table.stored_lemmas = stored;
    Ok(table)
}

/// Decodes the cells of one record batch; `offset` is the batch's first row.
struct Cells<'a> {
    path: &'a Path,
    offset: usize,
}

impl Cells<'_> {
    fn error(&self, column: &str, row: usize, message: impl Into<String>) -> EvalError {
        EvalError::BadCell {
            path: self.path.to_path_buf(),
            row: self.offset + row,
            column: column.to_owned(),
            message: message.into(),
        }
    }

    fn strings(&self, column: &str, array: &ArrayRef) -> Result<Vec<String>, EvalError> {
        let value = |row: usize| -> Option<String> {
            if array.is_null(row) {
                return None;
            }
            if let Some(strings) = array.as_string_opt::<i32>() {
                return Some(strings.value(row).to_owned());
            }
            array
                .as_string_opt::<i64>()
                .map(|s| s.value(row).to_owned())
        };
        if array.as_string_opt::<i32>().is_none() && array.as_string_opt::<i64>().is_none() {
            return Err(self.error(
                column,
                0,
                format!("expected strings, found {}", array.data_type()),
            ));
        }
        (0..array.len())
            .map(|row| value(row).ok_or_else(|| self.error(column, row, "null value")))
            .collect()
    }

    fn list_values(&self, column: &str, array: &ArrayRef) -> Result<Vec<ArrayRef>, EvalError> {
        let lists: Vec<Option<ArrayRef>> = if let Some(lists) = array.as_list_opt::<i32>() {
            (0..lists.len())
                .map(|row| lists.is_valid(row).then(|| lists.value(row)))
                .collect()
        } else if let Some(lists) = array.as_list_opt::<i64>() {
            (0..lists.len())
                .map(|row| lists.is_valid(row).then(|| lists.value(row)))
                .collect()
        } else {
            return Err(self.error(
                column,
                0,
                format!("expected a list column, found {}", array.data_type()),
            ));
        };
        lists
            .into_iter()
            .enumerate()
            .map(|(row, list)| list.ok_or_else(|| self.error(column, row, "null list")))
            .collect()
    }

    fn string_lists(&self, column: &str, array: &ArrayRef) -> Result<Vec<Vec<String>>, EvalError> {
        self.list_values(column, array)?
            .iter()
            .enumerate()
            .map(|(row, values)| {
                let inner = Cells {
                    path: self.path,
                    offset: self.offset + row,
                };
                inner.strings(column, values)
            })
            .collect()
    }

    fn nested_string_lists(
        &self,
        column: &str,
        array: &ArrayRef,
    ) -> Result<Vec<Vec<Vec<String>>>, EvalError> {
        self.list_values(column, array)?
            .iter()
            .enumerate()
            .map(|(row, values)| {
                let inner = Cells {
                    path: self.path,
                    offset: self.offset + row,
                };
                inner.string_lists(column, values)
            })
            .collect()
    }
}

fn read_csv(path: &Path) -> Result<ResultTable, EvalError> {
    let csv_error = |source| EvalError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let index = |name: &str| headers.iter().position(|h| h == name);
    let required = |name: &str| {
        index(name).ok_or_else(|| EvalError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_owned(),
        })
    };
    let (answers_at, prediction_at) = (required("answers")?, required("prediction")?);
    let generation_at = index("generation");
    let per_prompt = index("paraphrase_index").is_some() || index("question").is_some();
    let paraphrases_at = index("paraphrases").filter(|_| !per_prompt);
    let lemmas_at = index("predict_lemma").zip(index("answer_lemmas"));
    let mut table = ResultTable {
        generations: generation_at.map(|_| Vec::new()),
        paraphrase_counts: paraphrases_at.map(|_| Vec::new()),
        stored_lemmas: lemmas_at.map(|_| (Vec::new(), Vec::new())),
        ..ResultTable::default()
    };
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        let cell = |at: usize| record.get(at).unwrap_or("");
        let bad = |column: &str, message: String| EvalError::BadCell {
            path: path.to_path_buf(),
            row,
            column: column.to_owned(),
            message,
        };
        let strings = |column: &str, at: usize| {
            parse_literal(cell(at))
                .and_then(PyValue::into_strings)
                .map_err(|m| bad(column, m))
        };
        table.answers.push(strings("answers", answers_at)?);
        table.predictions.push(cell(prediction_at).to_owned());
        if let (Some(at), Some(out)) = (generation_at, table.generations.as_mut()) {
            out.push(cell(at).to_owned());
        }
        if let (Some(at), Some(out)) = (paraphrases_at, table.paraphrase_counts.as_mut()) {
            out.push(strings("paraphrases", at)?.len());
        }
        if let (Some((p_at, a_at)), Some((predictions, answers))) =
            (lemmas_at, table.stored_lemmas.as_mut())
        {
            predictions.push(strings("predict_lemma", p_at)?);
            let nested = parse_literal(cell(a_at))
                .and_then(PyValue::into_string_lists)
                .map_err(|m| bad("answer_lemmas", m))?;
            answers.push(nested);
        }
    }
    Ok(table)
}

/// A Python literal as written in a CSV list cell: a string or a list.
#[derive(Debug, Clone, PartialEq)]
enum PyValue {
    Str(String),
    List(Vec<PyValue>),
}

impl PyValue {
    fn into_strings(self) -> Result<Vec<String>, String> {
        match self {
            Self::List(items) => items
                .into_iter()
                .map(|item| match item {
                    Self::Str(s) => Ok(s),
                    Self::List(_) => {
                        Err("expected a list of strings, found a nested list".to_owned())
                    }
                })
                .collect(),
            Self::Str(_) => Err("expected a list, found a string".to_owned()),
        }
    }

    fn into_string_lists(self) -> Result<Vec<Vec<String>>, String> {
        match self {
            Self::List(items) => items.into_iter().map(Self::into_strings).collect(),
            Self::Str(_) => Err("expected a list of lists, found a string".to_owned()),
        }
    }
}

/// Parses a Python repr (`['a', "b's"]`, nested lists) or a JSON array of strings.
fn parse_literal(text: &str) -> Result<PyValue, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut position = 0;
    let value = parse_value(&chars, &mut position)?;
    skip_spaces(&chars, &mut position);
    if position != chars.len() {
        return Err(format!(
            "unexpected text after the value at character {position}"
        ));
    }
    Ok(value)
}

fn skip_spaces(chars: &[char], position: &mut usize) {
    while chars.get(*position).is_some_and(|c| c.is_whitespace()) {
        *position += 1;
    }
}

fn parse_value(chars: &[char], position: &mut usize) -> Result<PyValue, String> {
    skip_spaces(chars, position);
    match chars.get(*position) {
        Some('[') => {
            *position += 1;
            let mut items = Vec::new();
            loop {
                skip_spaces(chars, position);
                if chars.get(*position) == Some(&']') {
                    *position += 1;
                    return Ok(PyValue::List(items));
                }
                items.push(parse_value(chars, position)?);
                skip_spaces(chars, position);
                match chars.get(*position) {
                    Some(',') => *position += 1,
                    Some(']') => {}
                    _ => return Err(format!("expected ',' or ']' at character {position}")),
                }
            }
        }
        Some(&quote @ ('\'' | '"')) => {
            *position += 1;
            parse_string(chars, position, quote).map(PyValue::Str)
        }
        _ => Err(format!(
            "expected a list or a string at character {position}"
        )),
    }
}

fn parse_string(chars: &[char], position: &mut usize, quote: char) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let Some(&c) = chars.get(*position) else {
            return Err("unterminated string".to_owned());
        };
        *position += 1;
        if c == quote {
            return Ok(out);
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&escaped) = chars.get(*position) else {
            return Err("dangling backslash".to_owned());
        };
        *position += 1;
        let hex = |count: usize, position: &mut usize| -> Result<char, String> {
            let digits: String = chars
                .get(*position..*position + count)
                .unwrap_or_default()
                .iter()
                .collect();
            *position += count;
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad escape \\{escaped}{digits}"))
        };
        match escaped {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' => out.push(hex(2, position)?),
            'u' => out.push(hex(4, position)?),
            'U' => out.push(hex(8, position)?),
            '/' => out.push('/'),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_and_json_lists_parse() {
        assert_eq!(
            parse_literal(r#"['Paris', "St. John's", 'a\\b', '\n', '\u00e9']"#)
                .unwrap()
                .into_strings()
                .unwrap(),
            ["Paris", "St. John's", "a\\b", "\n", "é"]
        );
        assert_eq!(
            parse_literal(r#"["a", "b"]"#)
                .unwrap()
                .into_strings()
                .unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            parse_literal("[['a', 'b'], []]")
                .unwrap()
                .into_string_lists()
                .unwrap(),
            vec![vec!["a".to_owned(), "b".to_owned()], vec![]]
        );
        assert!(parse_literal("['a'").is_err());
        assert!(parse_literal("'a'").unwrap().into_strings().is_err());
    }

    #[test]
    fn count_suffix_is_dropped() {
        assert_eq!(without_count_suffix("avg_k3"), "avg");
        assert_eq!(without_count_suffix("flex-k10"), "flex");
        assert_eq!(without_count_suffix("avg"), "avg");
        assert_eq!(without_count_suffix("_k3"), "_k3");
        assert_eq!(without_count_suffix("max_k"), "max_k");
    }

    #[test]
    fn most_common_prefers_frequent_then_small() {
        assert_eq!(most_common(&[3, 3, 2]), 3);
        assert_eq!(most_common(&[2, 3]), 2);
        assert_eq!(most_common(&[]), 1);
    }
}
