//! [`ResultWriter`]: collects the rows of a run, checkpointing each batch, and
//! writes the final Feather + CSV files when the run is complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::atomic::directory_of;
use crate::checkpoint::{Checkpoint, LoadedRow};
use crate::columns::{ColumnSet, RowKey, RowKind};
use crate::error::{Result, ResultsError, io_error};
use crate::lock::OutputLock;
use crate::output::{Outcome, OutputPaths, Written, write_table};
use crate::row::ResultRow;
use crate::run::RunInfo;
use crate::table::ResultTable;

/// How [`ResultWriter::open`] treats existing files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Run even if the Feather output exists (it is replaced on
    /// [`ResultWriter::finish`]), and discard an existing checkpoint unless
    /// `resume` is also set.
    pub force: bool,
    /// Continue from an existing checkpoint of the same run.
    pub resume: bool,
}

/// Collects the rows of one run. Each [`append`](ResultWriter::append) goes
/// to the checkpoint (fsync'd) before it returns, so a killed run loses at
/// most the batch in flight; [`finish`](ResultWriter::finish) writes the
/// Feather and CSV files atomically and removes the checkpoint. Rows are
/// stored by [`RowKey`], whatever order they finish in. One writer per output
/// at a time: a second [`open`](ResultWriter::open) of the same output, from
/// any process, fails with [`ResultsError::Locked`] while this one lives.
#[derive(Debug)]
pub struct ResultWriter {
    paths: OutputPaths,
    run: RunInfo,
    columns: ColumnSet,
    rows: BTreeMap<RowKey, ResultRow>,
    resumed_rows: usize,
    checkpoint: Checkpoint,
    /// Held until the writer is dropped: a second writer of the same output
    /// is refused instead of interleaving its rows with ours.
    _lock: OutputLock,
}

impl ResultWriter {
    /// Prepares to write the run `run` to the Feather file `feather`
    /// (creating its directory). Returns [`Outcome::AlreadyExists`] when the
    /// output exists and `options.force` is not set. With `options.resume`
    /// the rows of an existing checkpoint are loaded: ask
    /// [`is_finished`](ResultWriter::is_finished) which rows to skip.
    /// A checkpoint found without `resume` or `force` is an error, so that no
    /// finished work is thrown away by accident.
    pub fn open(
        feather: impl AsRef<Path>,
        run: RunInfo,
        options: WriteOptions,
    ) -> Result<Outcome<Self>> {
        let paths = OutputPaths::new(feather.as_ref());
        // A directory here would otherwise pass for a finished output (it
        // exists), or with --force fail only at the final rename.
        for path in [&paths.feather, &paths.csv, &paths.checkpoint, &paths.lock] {
            if path.is_dir() {
                return Err(ResultsError::NotAFile { path: path.clone() });
            }
        }
        if paths.feather.exists() && !options.force {
            remove_finished_checkpoint(&paths)?;
            tracing::info!(path = %paths.feather.display(), "output exists; skipping (use --force to overwrite)");
            return Ok(Outcome::AlreadyExists(paths));
        }
        let directory = directory_of(&paths.feather);
        std::fs::create_dir_all(directory).map_err(io_error(directory, "create directory"))?;
        let lock = OutputLock::acquire(&paths.lock, &paths.feather)?;
        remove_stale_temporaries(&paths);
        let has_checkpoint = paths.checkpoint.exists();
        if has_checkpoint && !options.resume && !options.force {
            return Err(ResultsError::CheckpointExists {
                path: paths.checkpoint,
            });
        }
        let (checkpoint, loaded) = if has_checkpoint && options.resume {
            Checkpoint::resume(&paths.checkpoint, &run)?
        } else {
            (Checkpoint::create(&paths.checkpoint, &run)?, Vec::new())
        };
        let mut writer = ResultWriter {
            columns: ColumnSet {
                kind: RowKind::of(run.method),
                lemmas: false,
            },
            paths,
            run,
            rows: BTreeMap::new(),
            resumed_rows: 0,
            checkpoint,
            _lock: lock,
        };
        for LoadedRow { line, row } in loaded {
            writer.insert_loaded(line, row)?;
        }
        writer.resumed_rows = writer.rows.len();
        if writer.resumed_rows > 0 {
            tracing::info!(
                path = %writer.paths.checkpoint.display(),
                rows = writer.resumed_rows,
                "resuming from checkpoint"
            );
        }
        Ok(Outcome::Ready(writer))
    }

    fn insert_loaded(&mut self, line: usize, row: ResultRow) -> Result<()> {
        row.check(self.columns, &self.paths.checkpoint)?;
        let key = row.key();
        if self.rows.insert(key, row).is_some() {
            return Err(ResultsError::CheckpointLine {
                path: self.paths.checkpoint.clone(),
                line,
                message: format!("{key} occurs twice"),
            });
        }
        Ok(())
    }

    /// The run being written.
    pub fn run(&self) -> &RunInfo {
        &self.run
    }

    /// The output files.
    pub fn paths(&self) -> &OutputPaths {
        &self.paths
    }

    /// How many rows were loaded from the checkpoint when the writer opened.
    pub fn resumed_rows(&self) -> usize {
        self.resumed_rows
    }

    /// How many rows are finished (resumed or appended).
    pub fn finished_rows(&self) -> usize {
        self.rows.len()
    }

    /// Whether the row `key` is finished: skip its work when resuming. Use
    /// [`RowKey::item`] for every method but `per_prompt`, and
    /// [`RowKey::paraphrase`] for `per_prompt`.
    pub fn is_finished(&self, key: RowKey) -> bool {
        self.rows.contains_key(&key)
    }

    /// The keys of the finished rows, in order.
    pub fn finished_keys(&self) -> impl Iterator<Item = RowKey> + '_ {
        self.rows.keys().copied()
    }

    /// The uuids of the items with at least one finished row (for
    /// `per_prompt`, check single paraphrases with
    /// [`is_finished`](ResultWriter::is_finished)).
    pub fn finished_uuids(&self) -> BTreeSet<&str> {
        self.rows.values().map(|row| row.uuid.as_str()).collect()
    }

    /// Records finished rows: checks them all, appends them to the checkpoint
    /// and fsyncs once. A row of another method family, a row with lemmas, a
    /// non-finite confidence, or a row already finished (here, earlier, or in
    /// the resumed checkpoint) is refused, and then nothing of the batch is
    /// recorded.
    pub fn append(&mut self, rows: impl IntoIterator<Item = ResultRow>) -> Result<()> {
        let rows: Vec<ResultRow> = rows.into_iter().collect();
        let mut batch_keys = BTreeSet::new();
        for row in &rows {
            row.check(self.columns, &self.paths.feather)?;
            let key = row.key();
            if self.rows.contains_key(&key) || !batch_keys.insert(key) {
                return Err(ResultsError::DuplicateRow {
                    path: self.paths.feather.clone(),
                    key,
                });
            }
        }
        self.checkpoint.append(&rows)?;
        self.rows
            .extend(rows.into_iter().map(|row| (row.key(), row)));
        Ok(())
    }

    /// Writes the Feather and CSV files atomically, then deletes the
    /// checkpoint. On an error the checkpoint stays, so the run can resume.
    pub fn finish(self) -> Result<Written> {
        let rows: Vec<ResultRow> = self.rows.into_values().collect();
        let table = ResultTable::new(self.run, rows, &self.paths.feather)?;
        let written = write_table(&table, &self.paths.feather)?;
        self.checkpoint.remove()?;
        self._lock.release_and_remove()?;
        tracing::info!(path = %written.paths.feather.display(), rows = written.rows, "results written");
        Ok(written)
    }
}

/// Removes the checkpoint of a run killed after it wrote its output but before
/// it removed the checkpoint (the last step of [`ResultWriter::finish`]): the
/// output is whole then (written atomically after every row was checkpointed),
/// so a checkpoint no newer than the output is that run's and would otherwise
/// stay forever. A newer checkpoint belongs to a later run (one forced over this
/// output and interrupted) and is kept for it to resume. Taken under the
/// output's lock, so no live writer's checkpoint is touched.
fn remove_finished_checkpoint(paths: &OutputPaths) -> Result<()> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let (Some(output), Some(checkpoint)) = (modified(&paths.feather), modified(&paths.checkpoint))
    else {
        return Ok(());
    };
    if checkpoint > output {
        return Ok(());
    }
    let lock = OutputLock::acquire(&paths.lock, &paths.feather)?;
    std::fs::remove_file(&paths.checkpoint).map_err(io_error(&paths.checkpoint, "remove"))?;
    tracing::info!(path = %paths.checkpoint.display(), "removed the checkpoint of a run killed after writing its output");
    lock.release_and_remove()
}

/// Deletes the temporary files a killed run left while staging this output's
/// Feather or CSV file (`.<name>.<random>.tmp`, see `atomic::stage`): a kill
/// during the final write leaves one behind. Called with the output's lock
/// held, so no live writer is staging them. Failures are logged, not fatal:
/// a leftover file costs space, not correctness.
fn remove_stale_temporaries(paths: &OutputPaths) {
    let prefixes: Vec<String> = [&paths.feather, &paths.csv]
        .iter()
        .filter_map(|path| path.file_name())
        .map(|name| format!(".{}.", name.to_string_lossy()))
        .collect();
    let directory = directory_of(&paths.feather);
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name.ends_with(".tmp") && prefixes.iter().any(|p| name.starts_with(p.as_str()));
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(path = %entry.path().display(), "removed a temporary file left by an interrupted write")
                }
                Err(error) => {
                    tracing::warn!(path = %entry.path().display(), %error, "cannot remove a stale temporary file")
                }
            }
        }
    }
}
