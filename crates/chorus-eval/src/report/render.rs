//! A report as Markdown, CSV or JSON, and its accuracy plot.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;

use crate::error::EvalError;
use crate::plot;

use super::score::{FileKind, FileScore, Report};

/// The text a report is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Markdown tables ([`Report::to_markdown`]).
    #[default]
    Markdown,
    /// CSV, one row per file ([`Report::to_csv`]).
    Csv,
    /// Pretty-printed JSON of the whole report ([`Report::to_json`]).
    Json,
}

impl ReportFormat {
    /// Every format's command-line name (`--format`).
    pub const NAMES: &'static [&'static str] = &["md", "csv", "json"];

    /// The format's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "md",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReportFormat {
    type Err = EvalError;

    /// `md` (or `markdown`), `csv`, `json`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "md" | "markdown" => Ok(ReportFormat::Markdown),
            "csv" => Ok(ReportFormat::Csv),
            "json" => Ok(ReportFormat::Json),
            other => Err(EvalError::UnknownFormat {
                name: other.to_owned(),
            }),
        }
    }
}

/// `0.5` → `50.0%`.
fn percent(value: f64) -> String {
    format!("{:.1}%", 100.0 * value)
}

/// `0.5` → `50.0 pp` (percentage points).
fn points(value: f64) -> String {
    format!("{:.1} pp", 100.0 * value)
}

fn optional(value: Option<f64>, show: fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), show)
}

/// `0:0.666667;1:0.333333`: accuracy per paraphrase position.
fn position_list(file: &FileScore, show: fn(f64) -> String, separator: &str) -> String {
    file.paraphrase_metrics
        .as_ref()
        .map(|metrics| {
            metrics
                .positions
                .iter()
                .map(|p| format!("{}:{}", p.paraphrase_index, show(p.accuracy)))
                .collect::<Vec<_>>()
                .join(separator)
        })
        .unwrap_or_default()
}

impl FileScore {
    /// The oracle shown beside the accuracy: a per-paraphrase file's own, a
    /// fused file's reference's (on the shared items).
    fn shown_oracle(&self) -> Option<f64> {
        match self.kind {
            FileKind::PerParaphrase => self.paraphrase_metrics.as_ref().map(|m| m.oracle),
            _ => self.oracle.as_ref().map(|o| o.gap.oracle),
        }
    }

    /// The mean per-paraphrase accuracy the oracle goes with.
    fn shown_mean(&self) -> Option<f64> {
        match self.kind {
            FileKind::PerParaphrase => self.paraphrase_metrics.as_ref().map(|m| m.mean_accuracy),
            _ => self.oracle.as_ref().map(|o| o.gap.mean_accuracy),
        }
    }
}

impl Report {
    /// The report in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Markdown => self.to_markdown(),
            ReportFormat::Csv => self.to_csv(),
            ReportFormat::Json => self.to_json(),
        }
    }

    /// Markdown: one row per file (accuracy, and beside it the oracle and the
    /// share of the gap recovered); a table of the per-paraphrase files'
    /// consistency and fluctuation; a table of the fused files' oracle
    /// comparisons; notes on empty predictions and the definitions.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| model | method | dataset | paraphrases | rows | accuracy | correct | empty | cut accuracy | oracle | recovered | file |\n\
             |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for file in &self.files {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                file.model,
                file.method,
                file.dataset.as_deref().unwrap_or("-"),
                file.paraphrases,
                file.prediction.total,
                percent(file.prediction.accuracy),
                file.prediction.correct,
                file.prediction.empty,
                optional(file.generation_cut.map(|cut| cut.accuracy), percent),
                optional(file.shown_oracle(), percent),
                optional(file.oracle.as_ref().and_then(|o| o.gap.recovered), percent),
                file.path.display(),
            );
        }

        let per_paraphrase: Vec<&FileScore> = self
            .files
            .iter()
            .filter(|f| f.paraphrase_metrics.is_some())
            .collect();
        if !per_paraphrase.is_empty() {
            out.push_str(
                "\nPer-paraphrase runs:\n\n\
                 | model | dataset | items | paraphrases/item | mean accuracy | oracle | consistency | fluctuation range | fluctuation std | accuracy by paraphrase_index | file |\n\
                 |---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
            );
            for file in per_paraphrase {
                let Some(metrics) = &file.paraphrase_metrics else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    file.model,
                    file.dataset.as_deref().unwrap_or("-"),
                    metrics.items,
                    metrics.paraphrases_per_item,
                    percent(metrics.mean_accuracy),
                    percent(metrics.oracle),
                    optional(metrics.consistency, percent),
                    points(metrics.fluctuation_range),
                    points(metrics.fluctuation_std),
                    position_list(file, percent, ", ").replace(':', ": "),
                    file.path.display(),
                );
            }
        }

        let compared: Vec<&FileScore> = self.files.iter().filter(|f| f.oracle.is_some()).collect();
        if !compared.is_empty() {
            out.push_str(
                "\nFused runs against the oracle of their per-paraphrase reference, on the items both files hold:\n\n\
                 | model | method | dataset | items | accuracy | mean per-paraphrase | oracle | recovered | file | reference |\n\
                 |---|---|---|---:|---:|---:|---:|---:|---|---|\n",
            );
            for file in compared {
                let Some(oracle) = &file.oracle else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    file.model,
                    file.method,
                    file.dataset.as_deref().unwrap_or("-"),
                    oracle.gap.items,
                    percent(oracle.gap.accuracy),
                    percent(oracle.gap.mean_accuracy),
                    percent(oracle.gap.oracle),
                    optional(oracle.gap.recovered, percent),
                    file.path.display(),
                    oracle.reference.display(),
                );
            }
        }

        let empty: usize = self.files.iter().map(|f| f.prediction.empty).sum();
        let rule = if self.options.match_options.anchor_compat {
            "counted as correct (anchor_compat, the Python pipeline's rule)"
        } else {
            "counted as wrong"
        };
        let _ = writeln!(out, "\n{empty} empty prediction(s), {rule}.");
        if self
            .files
            .iter()
            .any(|f| f.paraphrase_metrics.is_some() || f.oracle.is_some())
        {
            out.push_str(
                "\nmean accuracy: mean over items of the share of their paraphrases answered right; \
                 oracle: share of items with at least one paraphrase right; \
                 recovered: (accuracy - mean) / (oracle - mean); \
                 consistency: mean over items of the share of paraphrase pairs whose lemmatised predictions are equal; \
                 fluctuation: range and standard deviation of the accuracy per paraphrase_index \
                 (pp: percentage points). See chorus-eval's README, \"Metrics\".\n",
            );
        }
        out
    }

    /// CSV with a header row, one row per file; cells of metrics a file does
    /// not have are empty.
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
            "kind",
            "selection",
            "items",
            "mean_paraphrase_accuracy",
            "oracle",
            "recovered",
            "reference",
            "compared_accuracy",
            "consistency",
            "fluctuation_range",
            "fluctuation_std",
            "position_accuracy",
        ];
        let number = |value: Option<f64>| value.map(|v| format!("{v:.6}")).unwrap_or_default();
        let mut rows = vec![header.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()];
        for file in &self.files {
            let cut = file.generation_cut;
            let metrics = file.paraphrase_metrics.as_ref();
            let oracle = file.oracle.as_ref();
            let kind = match file.kind {
                FileKind::Single => "single",
                FileKind::PerParaphrase => "per_paraphrase",
                FileKind::Fused => "fused",
            };
            let items = metrics
                .map(|m| m.items)
                .or(oracle.map(|o| o.gap.items))
                .map(|n| n.to_string())
                .unwrap_or_default();
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
                number(cut.map(|c| c.accuracy)),
                kind.to_owned(),
                file.selection.clone().unwrap_or_default(),
                items,
                number(file.shown_mean()),
                number(file.shown_oracle()),
                number(oracle.and_then(|o| o.gap.recovered)),
                oracle
                    .map(|o| o.reference.display().to_string())
                    .unwrap_or_default(),
                number(oracle.map(|o| o.gap.accuracy)),
                number(metrics.and_then(|m| m.consistency)),
                number(metrics.map(|m| m.fluctuation_range)),
                number(metrics.map(|m| m.fluctuation_std)),
                position_list(file, |v| format!("{v:.6}"), ";"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_suffix_is_dropped() {
        assert_eq!(without_count_suffix("avg_k3"), "avg");
        assert_eq!(without_count_suffix("flex-k10"), "flex");
        assert_eq!(without_count_suffix("avg"), "avg");
        assert_eq!(without_count_suffix("_k3"), "_k3");
        assert_eq!(without_count_suffix("max_k"), "max_k");
    }

    #[test]
    fn formats_round_trip_their_names() {
        for name in ReportFormat::NAMES {
            assert_eq!(name.parse::<ReportFormat>().unwrap().name(), *name);
        }
        assert_eq!(
            "markdown".parse::<ReportFormat>().unwrap(),
            ReportFormat::Markdown
        );
        let error = "html".parse::<ReportFormat>().unwrap_err().to_string();
        assert!(error.contains("html"), "{error}");
    }
}
