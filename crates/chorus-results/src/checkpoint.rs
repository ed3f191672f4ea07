//! The checkpoint of an unfinished run: `<out>.feather.partial.jsonl`, a
//! header line naming the run, then one JSON row per line, appended and
//! fsync'd as rows finish. A kill can tear the last line; loading drops such a
//! line (and only such a line) and truncates the file back to the last
//! complete one.
//!
//! Each row line carries the SHA-256 of its row's JSON:
//! `{"sha256":"<64 hex digits>","row":<row JSON>}`. A complete line whose row
//! does not match its checksum (edited by hand, or corrupted on disk) is
//! refused with its line number instead of being taken as a finished row: a
//! resumed run must never publish rows it did not compute.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, ResultsError, io_error};
use crate::row::ResultRow;
use crate::run::RunInfo;

/// The checkpoint layout version (2: row lines carry a SHA-256).
const CHECKPOINT_VERSION: u32 = 2;

/// What a row line starts with, before the 64 hex digits of its checksum.
const ROW_PREFIX: &[u8] = b"{\"sha256\":\"";
/// What follows the checksum, before the row's JSON.
const ROW_INFIX: &[u8] = b"\",\"row\":";

/// The first line of a checkpoint.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    chorus_checkpoint: u32,
    run: RunInfo,
}

/// An open checkpoint, positioned for appending.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    path: PathBuf,
    file: File,
}

/// A row loaded from a checkpoint, with its 1-based line number.
pub(crate) struct LoadedRow {
    pub(crate) line: usize,
    pub(crate) row: ResultRow,
}

impl Checkpoint {
    /// Starts a new, empty checkpoint for `run`, replacing any old one.
    pub(crate) fn create(path: &Path, run: &RunInfo) -> Result<Self> {
        let file = File::create(path).map_err(io_error(path, "create"))?;
        let mut checkpoint = Checkpoint {
            path: path.to_path_buf(),
            file,
        };
        let header = Header {
            chorus_checkpoint: CHECKPOINT_VERSION,
            run: run.clone(),
        };
        checkpoint.write_lines(&[serialize_line(&header, path)?])?;
        Ok(checkpoint)
    }

    /// Opens the checkpoint at `path` written for `run` and loads its rows.
    /// A file without a complete header line is started afresh.
    pub(crate) fn resume(path: &Path, run: &RunInfo) -> Result<(Self, Vec<LoadedRow>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_error(path, "open"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_error(path, "read"))?;
        let Some(complete_len) = bytes.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else {
            tracing::warn!(path = %path.display(), "checkpoint has no complete header; starting afresh");
            return Ok((Checkpoint::create(path, run)?, Vec::new()));
        };
        // Every complete line, without the newline that ends the last one.
        let mut lines = bytes[..complete_len - 1].split(|&b| b == b'\n');
        check_header(lines.next().unwrap_or_default(), path, run)?;
        let mut rows = lines
            .enumerate()
            .map(|(index, line)| parse_row(line, index + 2, path))
            .collect::<Result<Vec<_>>>()?;
        let mut checkpoint = Checkpoint {
            path: path.to_path_buf(),
            file,
        };
        let tail = &bytes[complete_len..];
        if !tail.is_empty() {
            checkpoint.repair_tail(tail, complete_len, rows.len() + 2, &mut rows)?;
        }
        Ok((checkpoint, rows))
    }

    /// Handles bytes after the last newline: a complete row missing only its
    /// newline is kept; anything else is a torn write and is cut off.
    fn repair_tail(
        &mut self,
        tail: &[u8],
        complete_len: usize,
        line: usize,
        rows: &mut Vec<LoadedRow>,
    ) -> Result<()> {
        match parse_row(tail, line, &self.path) {
            Ok(row) => {
                rows.push(row);
                self.write_lines(&[String::new()])
            }
            Err(_) => {
                tracing::warn!(
                    path = %self.path.display(),
                    line,
                    bytes = tail.len(),
                    "dropping the torn last line of the checkpoint"
                );
                self.file
                    .set_len(complete_len as u64)
                    .map_err(io_error(&self.path, "truncate"))?;
                self.file.sync_data().map_err(io_error(&self.path, "fsync"))
            }
        }
    }

    /// Appends `rows` and fsyncs once for the whole batch.
    pub(crate) fn append(&mut self, rows: &[ResultRow]) -> Result<()> {
        // Serialising and hashing a batch of rows with their prompt texts is
        // the checkpoint's main cost: on every core.
        let lines = rows
            .par_iter()
            .map(|row| row_line(row, &self.path))
            .collect::<Result<Vec<_>>>()?;
        self.write_lines(&lines)
    }

    /// Writes each line followed by a newline in one write call, then fsyncs.
    fn write_lines(&mut self, lines: &[String]) -> Result<()> {
        let mut buffer = String::new();
        for line in lines {
            buffer.push_str(line);
            buffer.push('\n');
        }
        self.file
            .write_all(buffer.as_bytes())
            .map_err(io_error(&self.path, "append to"))?;
        self.file.sync_data().map_err(io_error(&self.path, "fsync"))
    }

    /// Deletes the checkpoint (after the final files are in place).
    pub(crate) fn remove(self) -> Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path).map_err(io_error(&self.path, "remove"))
    }
}

fn serialize_line(value: &impl Serialize, path: &Path) -> Result<String> {
    serde_json::to_string(value).map_err(|error| ResultsError::CheckpointLine {
        path: path.to_path_buf(),
        line: 0,
        message: format!("cannot serialise: {error}"),
    })
}

/// A row line: the row's JSON behind its SHA-256 (see the module docs).
fn row_line(row: &ResultRow, path: &Path) -> Result<String> {
    let json = serialize_line(row, path)?;
    let digest = sha256_hex(json.as_bytes());
    Ok(format!("{{\"sha256\":\"{digest}\",\"row\":{json}}}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// The row JSON of a row line whose checksum matches, or why not.
fn checked_row_json(line: &[u8]) -> std::result::Result<&[u8], String> {
    let layout = || {
        let digest = line.strip_prefix(ROW_PREFIX)?.get(..64)?;
        let rest = line[ROW_PREFIX.len() + 64..].strip_prefix(ROW_INFIX)?;
        let json = rest.strip_suffix(b"}")?;
        Some((digest, json))
    };
    let (digest, json) = layout().ok_or_else(|| {
        "not a checkpoint row (expected {\"sha256\":\"<hex>\",\"row\":{...}})".to_string()
    })?;
    if sha256_hex(json).as_bytes() != digest {
        return Err(
            "the row does not match its sha256: the checkpoint was edited or corrupted \
             (delete it, or rerun with --force, to start over)"
                .to_string(),
        );
    }
    Ok(json)
}

fn check_header(line: &[u8], path: &Path, run: &RunInfo) -> Result<()> {
    let header: Header =
        serde_json::from_slice(line).map_err(|error| ResultsError::CheckpointLine {
            path: path.to_path_buf(),
            line: 1,
            message: format!("not a checkpoint header: {error}"),
        })?;
    if header.chorus_checkpoint != CHECKPOINT_VERSION {
        return Err(ResultsError::CheckpointLine {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "checkpoint version {} is not supported (expected {CHECKPOINT_VERSION}; \
                 rerun with --force to start over)",
                header.chorus_checkpoint
            ),
        });
    }
    let shard = |run: &RunInfo| {
        run.shard
            .map(|s| s.to_string())
            .unwrap_or_else(|| "none".into())
    };
    let difference = run.difference(&header.run).or_else(|| {
        (run.shard != header.run.shard).then(|| ("shard", shard(run), shard(&header.run)))
    });
    match difference {
        None => Ok(()),
        Some((field, expected, found)) => Err(ResultsError::CheckpointMismatch {
            path: path.to_path_buf(),
            field,
            expected,
            found,
        }),
    }
}

fn parse_row(line: &[u8], number: usize, path: &Path) -> Result<LoadedRow> {
    let line_error = |message: String| ResultsError::CheckpointLine {
        path: path.to_path_buf(),
        line: number,
        message,
    };
    let json = checked_row_json(line).map_err(line_error)?;
    let row = serde_json::from_slice(json).map_err(|error| line_error(error.to_string()))?;
    Ok(LoadedRow { line: number, row })
}
