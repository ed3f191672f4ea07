//! `merge`: joins the outputs of `--shard i/n` runs into the file a single run
//! would have written, and `add_lemma_columns` for `--lemmaize`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::columns::RowKey;
use crate::error::{Result, ResultsError};
use crate::feather::read_results;
use crate::output::{Outcome, OutputPaths, Written, write_table};
use crate::row::ResultRow;
use crate::run::{RunInfo, ShardInfo};
use crate::table::ResultTable;

/// Merges shard outputs into `output`, ordered by item index. The inputs
/// must come from the same run (equal metadata except `shard`) and have the
/// same columns; no row may occur in two inputs; when they carry shard
/// metadata, they must be every shard of one `n` exactly once. The merged
/// file has no `shard` key, so it equals the file of an unsharded run.
/// Returns [`Outcome::AlreadyExists`] when `output` exists and `force` is not
/// set.
pub fn merge(
    inputs: &[PathBuf],
    output: impl AsRef<Path>,
    force: bool,
) -> Result<Outcome<Written>> {
    let output = output.as_ref();
    if output.exists() && !force {
        return Ok(Outcome::AlreadyExists(OutputPaths::new(output)));
    }
    let tables = inputs
        .iter()
        .map(|path| read_results(path).map(|table| (path.as_path(), table)))
        .collect::<Result<Vec<_>>>()?;
    let Some((first_path, first)) = tables.first() else {
        return Err(ResultsError::NoMergeInputs);
    };
    for (path, table) in &tables[1..] {
        check_compatible(first_path, first, path, table)?;
    }
    check_shard_set(&tables)?;
    let run = RunInfo {
        shard: None,
        ..first.run().clone()
    };
    let rows = combine_rows(tables)?;
    let table = ResultTable::new(run, rows, output)?;
    tracing::info!(inputs = inputs.len(), rows = table.rows().len(), output = %output.display(), "merged shards");
    write_table(&table, output).map(Outcome::Ready)
}

fn check_compatible(
    first_path: &Path,
    first: &ResultTable,
    path: &Path,
    table: &ResultTable,
) -> Result<()> {
    let mismatch = |what, first_value: String, other_value: String| ResultsError::MergeMismatch {
        first: first_path.to_path_buf(),
        other: path.to_path_buf(),
        what,
        first_value,
        other_value,
    };
    if let Some((key, mine, theirs)) = first.run().difference(table.run()) {
        return Err(mismatch(key, mine, theirs));
    }
    if first.columns() != table.columns() {
        return Err(mismatch(
            "columns",
            first.columns().to_string(),
            table.columns().to_string(),
        ));
    }
    Ok(())
}

/// Checks that the inputs' shard metadata covers shards `0..n` once each
/// (inputs without shard metadata are only checked for overlap).
fn check_shard_set(tables: &[(&Path, ResultTable)]) -> Result<()> {
    let shards: Vec<(&Path, Option<ShardInfo>)> = tables
        .iter()
        .map(|(path, table)| (*path, table.run().shard))
        .collect();
    let with_shard: Vec<(&Path, ShardInfo)> = shards
        .iter()
        .filter_map(|(p, s)| s.map(|s| (*p, s)))
        .collect();
    let Some(&(first_path, first)) = with_shard.first() else {
        return Ok(());
    };
    let error = |message: String| Err(ResultsError::MergeShards { message });
    if let Some((path, _)) = shards.iter().find(|(_, shard)| shard.is_none()) {
        return error(format!(
            "{} has no shard metadata but {} is shard {first}",
            path.display(),
            first_path.display()
        ));
    }
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for &(path, shard) in &with_shard {
        if shard.count != first.count {
            return error(format!(
                "{} is shard {shard} but {} is shard {first}",
                path.display(),
                first_path.display()
            ));
        }
        if let Some(other) = seen.insert(shard.index, path) {
            return error(format!(
                "{} and {} are both shard {shard}",
                other.display(),
                path.display()
            ));
        }
    }
    let missing: Vec<String> = (0..first.count)
        .filter(|index| !seen.contains_key(index))
        .map(|index| format!("{index}/{}", first.count))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        error(format!("shard(s) {} missing", missing.join(", ")))
    }
}

/// All rows of all inputs by key; a key in two inputs is an error.
fn combine_rows(tables: Vec<(&Path, ResultTable)>) -> Result<Vec<ResultRow>> {
    let mut rows: BTreeMap<RowKey, (&Path, ResultRow)> = BTreeMap::new();
    for (path, table) in tables {
        for row in table.into_rows() {
            let key = row.key();
            if let Some((first, _)) = rows.insert(key, (path, row)) {
                return Err(ResultsError::MergeOverlap {
                    first: first.to_path_buf(),
                    other: path.to_path_buf(),
                    key,
                });
            }
        }
    }
    Ok(rows.into_values().map(|(_, row)| row).collect())
}

/// `--lemmaize`: reopens the result file `feather`, (re)computes the
/// `predict_lemma` and `answer_lemmas` columns with `lemmatize` (text to
/// lower-cased lemmas, supplied by chorus-eval) and replaces the Feather and
/// CSV files atomically.
pub fn add_lemma_columns(
    feather: impl AsRef<Path>,
    lemmatize: impl FnMut(&str) -> Vec<String>,
) -> Result<Written> {
    let feather = feather.as_ref();
    let table = read_results(feather)?.with_lemmas(lemmatize);
    write_table(&table, feather)
}
