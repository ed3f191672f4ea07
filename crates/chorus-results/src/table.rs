//! [`ResultTable`]: the validated, ordered rows of one result file with the
//! run that produced them.

use std::path::Path;

use crate::columns::{ColumnSet, RowKind};
use crate::error::{Result, ResultsError};
use crate::row::ResultRow;
use crate::run::RunInfo;

/// The rows of one result file in [`RowKey`](crate::RowKey) order, with the
/// run parameters. Every row fits the file's [`ColumnSet`] and no key occurs
/// twice; only this crate builds tables, so those invariants always hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultTable {
    run: RunInfo,
    columns: ColumnSet,
    rows: Vec<ResultRow>,
}

impl ResultTable {
    /// Validates `rows` for a file of `run` (at `path`, named in errors) and
    /// orders them by key. The lemma columns are present when the rows have
    /// lemmas; rows must agree on that.
    pub(crate) fn new(run: RunInfo, mut rows: Vec<ResultRow>, path: &Path) -> Result<Self> {
        let columns = ColumnSet {
            kind: RowKind::of(run.method),
            lemmas: rows.first().is_some_and(|row| row.lemmas.is_some()),
        };
        for row in &rows {
            row.check(columns, path)?;
        }
        rows.sort_by_key(ResultRow::key);
        if let Some(pair) = rows.windows(2).find(|pair| pair[0].key() == pair[1].key()) {
            return Err(ResultsError::DuplicateRow {
                path: path.to_path_buf(),
                key: pair[0].key(),
            });
        }
        Ok(ResultTable { run, columns, rows })
    }

    /// The run that produced the file.
    pub fn run(&self) -> &RunInfo {
        &self.run
    }

    /// The file's columns.
    pub fn columns(&self) -> ColumnSet {
        self.columns
    }

    /// The rows, ordered by item index (then paraphrase index).
    pub fn rows(&self) -> &[ResultRow] {
        &self.rows
    }

    /// Takes the rows out.
    pub fn into_rows(self) -> Vec<ResultRow> {
        self.rows
    }

    /// The table with `predict_lemma` and `answer_lemmas` (re)computed by
    /// `lemmatize`, which maps a text to its lemmas (chorus-eval supplies it;
    /// this crate does not depend on a lemmatizer).
    pub fn with_lemmas(self, mut lemmatize: impl FnMut(&str) -> Vec<String>) -> Self {
        let rows = self
            .rows
            .into_iter()
            .map(|row| row.lemmatized(&mut lemmatize))
            .collect();
        ResultTable {
            run: self.run,
            columns: ColumnSet {
                lemmas: true,
                ..self.columns
            },
            rows,
        }
    }
}
