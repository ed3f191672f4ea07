//! Writing a whole table: the Feather file and its CSV twin, both replaced
//! atomically, plus the output naming scheme.

use std::path::{Path, PathBuf};

use crate::atomic::{directory_of, stage, sync_directory};
use crate::error::{Result, ResultsError};
use crate::feather::write_feather;
use crate::pyrepr::{float_repr, push_list, push_str_repr};
use crate::schema::{Cell, cell};
use crate::table::ResultTable;

/// The files of one result: `<name>.feather`, `<name>.csv`, and while a run
/// is going the checkpoint `<name>.feather.partial.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    /// The Feather file (the result; its existence marks a finished run).
    pub feather: PathBuf,
    /// The CSV with the same columns.
    pub csv: PathBuf,
    /// The checkpoint of an unfinished run.
    pub checkpoint: PathBuf,
    /// The lock file a writer holds while it runs (an advisory lock, released
    /// by the system when the process ends, however it ends).
    pub lock: PathBuf,
}

impl OutputPaths {
    /// The paths that belong to the Feather file `feather`.
    pub fn new(feather: impl Into<PathBuf>) -> Self {
        let feather = feather.into();
        let csv = feather.with_extension("csv");
        let beside = |suffix: &str| {
            let mut path = feather.clone().into_os_string();
            path.push(suffix);
            PathBuf::from(path)
        };
        OutputPaths {
            checkpoint: beside(".partial.jsonl"),
            lock: beside(".lock"),
            feather,
            csv,
        }
    }
}

/// The result of an operation that refuses to overwrite a finished output
/// unless forced.
#[derive(Debug)]
#[must_use]
pub enum Outcome<T> {
    /// The Feather output already exists and `force` was not given: nothing
    /// was done. Binaries report this and move on (the Python pipeline's
    /// "skip existing" behaviour).
    AlreadyExists(OutputPaths),
    /// The operation went ahead.
    Ready(T),
}

/// What a finished write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The files written.
    pub paths: OutputPaths,
    /// The number of rows in them.
    pub rows: usize,
}

/// Writes `table` to `feather` and its CSV twin, replacing both atomically
/// (the CSV is renamed into place first, so an existing Feather file always
/// has a complete CSV beside it).
pub fn write_table(table: &ResultTable, feather: impl Into<PathBuf>) -> Result<Written> {
    let paths = OutputPaths::new(feather);
    let directory = directory_of(&paths.feather);
    std::fs::create_dir_all(directory)
        .map_err(crate::error::io_error(directory, "create directory"))?;
    // The two files are independent until committed: staged side by side, so
    // the end of a run waits for the slower one only.
    let (feather_file, csv_file) = rayon::join(
        || {
            stage(&paths.feather, |out| {
                write_feather(table, out, &paths.feather)
            })
        },
        || stage(&paths.csv, |out| write_csv(table, out, &paths.csv)),
    );
    let (feather_file, csv_file) = (feather_file?, csv_file?);
    csv_file.commit()?;
    feather_file.commit()?;
    sync_directory(directory)?;
    Ok(Written {
        rows: table.rows().len(),
        paths,
    })
}

/// Writes the CSV: a header of column names, then one record per row; list
/// cells in Python repr (see [`crate::pyrepr`]).
fn write_csv(table: &ResultTable, out: impl std::io::Write, path: &Path) -> Result<()> {
    let csv_error = |source| ResultsError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let columns = table.columns().columns();
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record(columns.iter().map(|column| column.name()))
        .map_err(csv_error)?;
    for row in table.rows() {
        let record = columns
            .iter()
            .map(|&column| cell(row, column).map(render_cell).unwrap_or_default());
        writer.write_record(record).map_err(csv_error)?;
    }
    writer.flush().map_err(|source| ResultsError::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}

/// The CSV text of one cell.
pub(crate) fn render_cell(cell: Cell<'_>) -> String {
    let mut out = String::new();
    match cell {
        Cell::U64(value) => out = value.to_string(),
        Cell::U32(value) => out = value.to_string(),
        Cell::Text(text) => out.push_str(text),
        Cell::TextList(items) => push_list(&mut out, items, push_str_repr),
        Cell::FloatList(values) => push_list(&mut out, values, |out, value| {
            out.push_str(&float_repr(*value))
        }),
        Cell::IdList(ids) => push_list(&mut out, ids, |out, id| out.push_str(&id.to_string())),
        Cell::TextListList(lists) => push_list(&mut out, lists, |out, list| {
            push_list(out, list.iter().map(String::as_str), push_str_repr)
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sit_beside_the_feather_file() {
        let paths = OutputPaths::new("results/smol/avg.feather");
        assert_eq!(paths.csv, PathBuf::from("results/smol/avg.csv"));
        assert_eq!(
            paths.checkpoint,
            PathBuf::from("results/smol/avg.feather.partial.jsonl")
        );
    }

    #[test]
    fn cells_render_as_pandas_writes_python_lists() {
        let lemmas = vec![vec!["new".to_string(), "york".to_string()], vec![]];
        assert_eq!(
            render_cell(Cell::TextListList(&lemmas)),
            "[['new', 'york'], []]"
        );
        assert_eq!(render_cell(Cell::IdList(&[3, 14])), "[3, 14]");
        assert_eq!(render_cell(Cell::FloatList(&[0.25, 1.0])), "[0.25, 1.0]");
        assert_eq!(render_cell(Cell::Text("a,b")), "a,b");
    }
}
