//! A report as Markdown, CSV or JSON, and its accuracy plot.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;

use crate::display::{HtmlTable, Picture};
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
        // The quality column only where the report was given paraphrase sets.
        let quality = !self.paraphrase_sets.is_empty();
        let mut out = self.by_result_set_markdown().unwrap_or_default();
        out.push_str(
            "| model | method | dataset | paraphrases | rows | accuracy | correct | empty | cut accuracy | oracle | recovered |",
        );
        out.push_str(if quality {
            " keep question | file |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        } else {
            " file |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        });
        for file in &self.files {
            let keep = if quality {
                format!(
                    " {} |",
                    optional(file.paraphrase_quality.map(|q| q.keep_all), percent)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |{keep} {} |",
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

        if quality {
            out.push_str(&self.paraphrase_sets_markdown());
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

    /// Accuracy by method (a row each, in the README's order) and result set
    /// ([`FileScore::result_set`], a column each), then per set the oracle of
    /// its per-paraphrase run and, where known, the share of its paraphrases
    /// that keep the question: the overview a reader wants first. `None` when
    /// the report holds a single result set (the file table says it all).
    fn by_result_set_markdown(&self) -> Option<String> {
        let mut sets: Vec<String> = Vec::new();
        for file in &self.files {
            let set = file.result_set();
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
        if sets.len() < 2 {
            return None;
        }
        let column = |file: &FileScore| sets.iter().position(|s| *s == file.result_set());
        let one_model = self.files.iter().all(|f| f.model == self.files[0].model);
        // Rows sorted by the method's rank, then label; several files of one
        // method in one set (other selections) share the cell.
        let mut rows: BTreeMap<(MethodRank, String), Vec<Vec<String>>> = BTreeMap::new();
        let mut oracle = vec![Vec::new(); sets.len()];
        let mut keep = vec![Vec::new(); sets.len()];
        for file in &self.files {
            let Some(at) = column(file) else { continue };
            let label = if one_model {
                file.method.clone()
            } else {
                format!("{} {}", file.model, file.method)
            };
            rows.entry((method_rank(&file.method), label))
                .or_insert_with(|| vec![Vec::new(); sets.len()])[at]
                .push(percent(file.prediction.accuracy));
            if let Some(metrics) = &file.paraphrase_metrics {
                oracle[at].push(percent(metrics.oracle));
            }
            if let Some(quality) = file.paraphrase_quality {
                let shown = percent(quality.keep_all);
                if !keep[at].contains(&shown) {
                    keep[at].push(shown);
                }
            }
        }
        let cells = |values: &[Vec<String>]| {
            values
                .iter()
                .map(|v| {
                    if v.is_empty() {
                        "-".to_owned()
                    } else {
                        v.join(" / ")
                    }
                })
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let mut out = format!(
            "Accuracy by method and result set:\n\n| method | {} |\n|---|{}\n",
            sets.join(" | "),
            "---:|".repeat(sets.len())
        );
        for ((_, label), values) in &rows {
            let _ = writeln!(out, "| {label} | {} |", cells(values));
        }
        if oracle.iter().any(|v| !v.is_empty()) {
            let _ = writeln!(
                out,
                "| *oracle (any paraphrase right)* | {} |",
                cells(&oracle)
            );
        }
        if keep.iter().any(|v| !v.is_empty()) {
            let _ = writeln!(
                out,
                "| *paraphrases keeping the question* | {} |",
                cells(&keep)
            );
        }
        out.push_str("\nEvery result file:\n\n");
        Some(out)
    }

    /// The paraphrase-quality table: per set, every paraphrase and each
    /// source apart, with the definitions.
    fn paraphrase_sets_markdown(&self) -> String {
        let mut out = String::from(
            "\nParaphrase quality (each item's paraphrases against its paraphrase 0, by content lemma):\n\n\
             | paraphrase set | source | items | paraphrases | keep question | mean content kept | copies | keep, not copies |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
        );
        for set in &self.paraphrase_sets {
            let groups = std::iter::once(("all", &set.all)).chain(
                set.by_source
                    .iter()
                    .map(|(name, summary)| (name.as_str(), summary)),
            );
            for (source, summary) in groups {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    set.dataset,
                    source,
                    set.items,
                    summary.paraphrases,
                    percent(summary.keep_all),
                    percent(summary.mean_kept),
                    percent(summary.copies),
                    percent(summary.keep_all_not_copy),
                );
            }
        }
        out.push_str(
            "\ncontent lemmas: lemmas of the tokens that are not punctuation or spaCy English stop words \
             (MyriadLAMA's [MASK] removed); keep question: share of paraphrases holding every content lemma of \
             paraphrase 0 (the original question; MyriadLAMA: the first manual template); mean content kept: \
             mean share of those lemmas a paraphrase holds; copies: paraphrases with paraphrase 0's lemmas, \
             punctuation aside. A result file's keep question is its set's, for the paraphrase group its \
             selection draws (m5a0: manual, m0a5: auto, else all).\n",
        );
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
            "paraphrase_keep_question",
            "paraphrase_mean_content_kept",
            "paraphrase_copies",
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
                number(file.paraphrase_quality.map(|q| q.keep_all)),
                number(file.paraphrase_quality.map(|q| q.mean_kept)),
                number(file.paraphrase_quality.map(|q| q.copies)),
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

    /// Writes the accuracy plot to `path` as PNG. A report over several
    /// result sets ([`FileScore::result_set`]) gets grouped bars, one group
    /// per set and one bar per method in the order the files sort; any
    /// other report a line chart of accuracy against the number of
    /// paraphrases, one line per model and method (a `_k3`-style suffix of
    /// the method is ignored, so `avg_k1`, `avg_k3`, `avg_k5` form one line).
    pub fn write_plot(&self, path: &Path) -> Result<(), EvalError> {
        self.plot_image()
            .save_with_format(path, image::ImageFormat::Png)
            .map_err(|source| EvalError::Image {
                path: path.to_path_buf(),
                source,
            })
    }

    /// The accuracy plot ([`Report::write_plot`]) as a picture that
    /// notebooks show inline.
    pub fn plot(&self) -> Picture {
        Picture::new(self.plot_image())
    }

    /// The main table (model, method, dataset, paraphrases, rows, accuracy,
    /// oracle, recovered, file) as an [`HtmlTable`].
    pub fn table(&self) -> HtmlTable {
        let mut table = HtmlTable::new([
            "model",
            "method",
            "dataset",
            "paraphrases",
            "rows",
            "accuracy",
            "oracle",
            "recovered",
            "file",
        ]);
        for file in &self.files {
            table.push_row([
                file.model.clone(),
                file.method.clone(),
                file.dataset.clone().unwrap_or_else(|| "-".to_owned()),
                file.paraphrases.to_string(),
                file.prediction.total.to_string(),
                percent(file.prediction.accuracy),
                optional(file.shown_oracle(), percent),
                optional(file.oracle.as_ref().and_then(|o| o.gap.recovered), percent),
                file.path.display().to_string(),
            ]);
        }
        table
    }

    /// Shows the main table in an evcxr notebook ([`Report::table`]).
    pub fn evcxr_display(&self) {
        self.table().evcxr_display();
    }

    /// The plot's image: bars for several result sets, else lines.
    fn plot_image(&self) -> image::RgbImage {
        let mut sets: Vec<(String, Vec<(String, f64)>)> = Vec::new();
        for file in &self.files {
            let set = file.result_set();
            let bar = (file.method.clone(), file.prediction.accuracy);
            match sets.iter_mut().find(|(name, _)| *name == set) {
                Some((_, bars)) => bars.push(bar),
                None => sets.push((set, vec![bar])),
            }
        }
        if sets.len() > 1 {
            let groups: Vec<plot::BarGroup> = sets
                .into_iter()
                .map(|(label, mut bars)| {
                    bars.sort_by_key(|(method, _)| method_rank(method));
                    plot::BarGroup { label, bars }
                })
                .collect();
            plot::render_bars(&groups)
        } else {
            self.line_chart()
        }
    }

    /// Accuracy against the number of paraphrases, one line per model and
    /// method.
    fn line_chart(&self) -> image::RgbImage {
        // The model is named in the legend only when the report has several:
        // long checkpoint names would push the method out of the picture.
        let one_model = self.files.iter().all(|f| f.model == self.files[0].model);
        let mut series: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
        for file in &self.files {
            let method = without_count_suffix(&file.method);
            series
                .entry(if one_model {
                    method.to_owned()
                } else {
                    format!("{} {method}", file.model)
                })
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
    }
}

/// A method's place in the README's order ([`method_rank`]).
type MethodRank = (usize, String);

/// Bars in the README's method order (origin, per_prompt, avg, max, the
/// weighted ones, flex and its variants), anything else after them.
fn method_rank(method: &str) -> MethodRank {
    // Method::NAMES is the README's order.
    const ORDER: [&str; 7] = chorus_data::Method::NAMES;
    let rank = ORDER
        .iter()
        .position(|m| *m == method)
        .or_else(|| method.starts_with("flex").then_some(ORDER.len()))
        .unwrap_or(ORDER.len() + 1);
    (rank, method.to_owned())
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
