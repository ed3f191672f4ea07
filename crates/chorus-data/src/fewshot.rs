//! `fewshot.json`: the instruction and few-shot block of each dataset as the Python
//! pipeline rendered them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{DataError, Location, Result};

/// One dataset's entry of `fewshot.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FewShotEntry {
    /// The task instruction.
    pub instruction: String,
    /// The rendered few-shot block: `Q: {q}\nA: {a}` joined by `\n\n`.
    pub few_shot: String,
    /// For WebQuestions: the train indices the block was drawn from.
    #[serde(default)]
    pub train_indices: Option<Vec<usize>>,
}

/// One few-shot question with its answer, as parsed from a rendered block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaPair {
    /// The question text (after `Q: `).
    pub question: String,
    /// The answer text (after `A: `).
    pub answer: String,
}

impl FewShotEntry {
    /// The block's examples. `fewshot.json` is the only place MyriadLAMA's five
    /// fixed examples are recorded, so they are read back from the block; a block
    /// that is not `Q: ...\nA: ...` pairs joined by blank lines is an error.
    pub fn examples(&self) -> Result<Vec<QaPair>> {
        self.few_shot
            .split("\n\n")
            .enumerate()
            .map(|(i, pair)| parse_pair(i, pair))
            .collect()
    }
}

fn parse_pair(index: usize, text: &str) -> Result<QaPair> {
    let bad = || DataError::Spec {
        what: "few-shot example",
        spec: text.to_owned(),
        reason: format!("example {index} is not `Q: <question>\\nA: <answer>`"),
    };
    let (question, answer) = text.split_once('\n').ok_or_else(bad)?;
    let question = question.strip_prefix("Q: ").ok_or_else(bad)?;
    let answer = answer.strip_prefix("A: ").ok_or_else(bad)?;
    if answer.contains('\n') {
        return Err(bad());
    }
    Ok(QaPair {
        question: question.to_owned(),
        answer: answer.to_owned(),
    })
}

/// Reads `fewshot.json`: dataset name (`webqa`, `myriadlama`) to entry.
pub fn load_fewshot(path: &Path) -> Result<BTreeMap<String, FewShotEntry>> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| DataError::Json {
        at: Location::line(path, source.line()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DataDir;

    #[test]
    fn reads_the_workspace_file() {
        let entries =
            load_fewshot(&DataDir::new(DataDir::compiled_default()).fewshot_path()).unwrap();
        assert_eq!(
            entries["webqa"].train_indices,
            Some(vec![2619, 456, 102, 3037, 1126])
        );
        let lama = entries["myriadlama"].examples().unwrap();
        assert_eq!(lama.len(), 5);
        assert_eq!(
            lama[1].question,
            "Marty Ehrlich became known as a [MASK] player."
        );
        assert_eq!(lama[4].answer, "Wisconsin");
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        let entry = |few_shot: &str| FewShotEntry {
            instruction: String::new(),
            few_shot: few_shot.into(),
            train_indices: None,
        };
        assert!(entry("Q: a\nA: b\n\nQ: c").examples().is_err());
        assert!(entry("Q: a\nB: b").examples().is_err());
        assert_eq!(entry("Q: a\nA: b").examples().unwrap()[0].answer, "b");
    }
}
