//! The checkpoint of an unfinished `paraphrase` run: `<output>.partial.jsonl`.
//!
//! Its first line holds the run's settings (model, dataset and its questions,
//! sampling); every further line is one finished round, appended and fsync'd
//! as the round ends: `{"round":r,"sha256":"<hex>","paraphrases":[...]}`, the
//! checksum taken over the `paraphrases` JSON. A round depends only on the
//! settings and its index, so `--resume` keeps the finished rounds and samples
//! the rest. A kill can tear the last line: it is dropped and the file cut back
//! to the last complete one. A complete line that fails its checksum, a round
//! out of order, or settings that differ are refused, naming the file and line:
//! a resumed run never publishes paraphrases it did not sample.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::error::{CliError, Result};

/// An open round checkpoint, appended to as rounds finish.
#[derive(Debug)]
pub struct RoundCheckpoint {
    path: PathBuf,
    file: File,
}

impl RoundCheckpoint {
    /// The checkpoint path of `output`: `<output>.partial.jsonl`.
    pub fn path_for(output: &Path) -> PathBuf {
        let mut name = output.as_os_str().to_owned();
        name.push(".partial.jsonl");
        PathBuf::from(name)
    }

    /// A new checkpoint for `output` (replacing any) whose header is `settings`.
    pub fn create(output: &Path, settings: &Value) -> Result<Self> {
        let path = Self::path_for(output);
        let mut file = File::create(&path).map_err(io(&path, "create"))?;
        writeln!(file, "{}", header(settings)).map_err(io(&path, "write"))?;
        file.sync_all().map_err(io(&path, "fsync"))?;
        Ok(Self { path, file })
    }

    /// The checkpoint of `output` with the rounds it holds, in order; the
    /// header must equal `settings`, every round hold `items` paraphrases.
    pub fn resume(
        output: &Path,
        settings: &Value,
        items: usize,
    ) -> Result<(Self, Vec<Vec<String>>)> {
        let path = Self::path_for(output);
        let bytes = std::fs::read(&path).map_err(io(&path, "read"))?;
        // Everything after the last newline is a torn line: dropped.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let bad = |line: usize, reason: String| CliError::RoundCheckpoint {
            path: path.clone(),
            line,
            reason,
        };
        let mut lines = bytes[..complete]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty());
        let first = lines
            .next()
            .ok_or_else(|| bad(1, "no header line".into()))?;
        if parse(first).map_err(|e| bad(1, e))? != header(settings) {
            return Err(bad(
                1,
                "written by a run with other settings (model, dataset or sampling)".into(),
            ));
        }
        let mut rounds = Vec::new();
        for (index, line) in lines.enumerate() {
            let number = index + 2;
            let round = parse_round(line, index, items).map_err(|e| bad(number, e))?;
            rounds.push(round);
        }
        // Append mode: every write lands after the kept lines.
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path, "open"))?;
        file.set_len(complete as u64)
            .map_err(io(&path, "truncate"))?;
        Ok((Self { path, file }, rounds))
    }

    /// Appends round `round` (the next one) and syncs it to disk.
    pub fn append(&mut self, round: usize, paraphrases: &[String]) -> Result<()> {
        let list = Value::from(paraphrases.to_vec());
        let line = json!({
            "round": round,
            "sha256": sha256_hex(list.to_string().as_bytes()),
            "paraphrases": list,
        });
        writeln!(self.file, "{line}").map_err(io(&self.path, "append to"))?;
        self.file.sync_all().map_err(io(&self.path, "fsync"))
    }

    /// Removes the checkpoint (its run's output is written).
    pub fn remove(self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(io(&self.path, "remove"))
    }
}

/// The header line's value: the settings, tagged with the format.
fn header(settings: &Value) -> Value {
    json!({ "paraphrase_checkpoint": 1, "settings": settings })
}

fn parse(line: &[u8]) -> std::result::Result<Value, String> {
    serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))
}

/// A round line's paraphrases, checked: its index, its checksum, its length.
fn parse_round(
    line: &[u8],
    expected: usize,
    items: usize,
) -> std::result::Result<Vec<String>, String> {
    let value = parse(line)?;
    let round = value["round"].as_u64();
    if round != Some(expected as u64) {
        return Err(format!(
            "round {:?} where round {expected} was due",
            value["round"]
        ));
    }
    let list = &value["paraphrases"];
    if value["sha256"].as_str() != Some(sha256_hex(list.to_string().as_bytes()).as_str()) {
        return Err("paraphrases do not match their sha256 (edited or corrupt)".into());
    }
    let paraphrases: Vec<String> =
        serde_json::from_value(list.clone()).map_err(|e| format!("paraphrases: {e}"))?;
    if paraphrases.len() != items {
        return Err(format!(
            "{} paraphrases for {items} items",
            paraphrases.len()
        ));
    }
    Ok(paraphrases)
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> CliError {
    let path = path.to_path_buf();
    move |source| CliError::Io {
        path,
        action,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Value {
        json!({"model": "m", "temperature": 0.7})
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rounds_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("p.jsonl");
        let mut checkpoint = RoundCheckpoint::create(&output, &settings()).unwrap();
        checkpoint.append(0, &strings(&["a", "b"])).unwrap();
        checkpoint.append(1, &strings(&["c", "d\"\n"])).unwrap();
        drop(checkpoint);
        let (mut checkpoint, rounds) = RoundCheckpoint::resume(&output, &settings(), 2).unwrap();
        assert_eq!(rounds, [strings(&["a", "b"]), strings(&["c", "d\"\n"])]);
        checkpoint.append(2, &strings(&["e", "f"])).unwrap();
        let (checkpoint, rounds) = RoundCheckpoint::resume(&output, &settings(), 2).unwrap();
        assert_eq!(rounds.len(), 3);
        checkpoint.remove().unwrap();
        assert!(!RoundCheckpoint::path_for(&output).exists());
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("p.jsonl");
        let mut checkpoint = RoundCheckpoint::create(&output, &settings()).unwrap();
        checkpoint.append(0, &strings(&["a"])).unwrap();
        drop(checkpoint);
        let path = RoundCheckpoint::path_for(&output);
        let whole = std::fs::read(&path).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"round\":1,\"sha2").unwrap();
        drop(file);
        let (mut checkpoint, rounds) = RoundCheckpoint::resume(&output, &settings(), 1).unwrap();
        assert_eq!(rounds, [strings(&["a"])]);
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        checkpoint.append(1, &strings(&["b"])).unwrap();
        let (_, rounds) = RoundCheckpoint::resume(&output, &settings(), 1).unwrap();
        assert_eq!(rounds, [strings(&["a"]), strings(&["b"])]);
    }

    #[test]
    fn edited_rounds_and_other_settings_are_refused_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("p.jsonl");
        let mut checkpoint = RoundCheckpoint::create(&output, &settings()).unwrap();
        checkpoint.append(0, &strings(&["original"])).unwrap();
        drop(checkpoint);
        let other = json!({"model": "m", "temperature": 1.5});
        let error = RoundCheckpoint::resume(&output, &other, 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 1") && error.contains("other settings"),
            "{error}"
        );

        let path = RoundCheckpoint::path_for(&output);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("original", "edited")).unwrap();
        let error = RoundCheckpoint::resume(&output, &settings(), 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2") && error.contains("sha256"),
            "{error}"
        );

        // Another number of items per round.
        std::fs::write(&path, &text).unwrap();
        let error = RoundCheckpoint::resume(&output, &settings(), 2)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2") && error.contains("1 paraphrases for 2 items"),
            "{error}"
        );
    }
}
