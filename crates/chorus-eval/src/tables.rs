//! The embedded lemma table (`data/lemmas/en_lemma_table.txt`), generated
//! from spacy-lookups-data by `scripts/build-lemma-table.py`.
//!
//! Format: `[section]` headers, then one tab-separated row per line; lines
//! starting with `#` are comments.

use std::collections::{HashMap, HashSet};

use crate::error::EvalError;

const TABLE_TEXT: &str = include_str!("../../../data/lemmas/en_lemma_table.txt");
const TABLE_FILE: &str = "data/lemmas/en_lemma_table.txt";

/// A suffix rewrite rule: a word ending in `old` may have the lemma with
/// `old` replaced by `new`.
pub(crate) type SuffixRule = (String, String);

/// spaCy's English lemma resources, trimmed to what the lemmatizer consults.
#[derive(Debug, Clone, Default)]
pub(crate) struct LemmaTables {
    pub(crate) noun_rules: Vec<SuffixRule>,
    pub(crate) verb_rules: Vec<SuffixRule>,
    pub(crate) punct_rules: Vec<SuffixRule>,
    /// Irregular plurals: form → lemmas (best first).
    pub(crate) noun_exc: HashMap<String, Vec<String>>,
    /// Irregular `-ing` forms: form → lemmas.
    pub(crate) verb_exc_ing: HashMap<String, Vec<String>>,
    /// Irregular verb forms that are no noun, adjective or verb lemma.
    pub(crate) verb_only_forms: HashMap<String, String>,
    /// Noun lemmas that can decide between two rule outputs.
    pub(crate) noun_index: HashSet<String>,
    /// Verb lemmas.
    pub(crate) verb_index: HashSet<String>,
}

impl LemmaTables {
    /// Parses the embedded table.
    pub(crate) fn english() -> Result<Self, EvalError> {
        Self::parse(TABLE_TEXT, TABLE_FILE)
    }

    /// Parses a table in the format above; `file` names it in errors.
    pub(crate) fn parse(text: &str, file: &'static str) -> Result<Self, EvalError> {
        let mut tables = Self::default();
        let mut section = String::new();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            if line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let error = |message: String| EvalError::Table {
                file,
                line: line_number,
                message,
            };
            tables.add_row(&section, &fields).map_err(error)?;
        }
        if tables.noun_rules.is_empty() || tables.verb_index.is_empty() {
            return Err(EvalError::Table {
                file,
                line: 0,
                message: "missing [noun_rules] or [verb_index] section".to_owned(),
            });
        }
        Ok(tables)
    }

    fn add_row(&mut self, section: &str, fields: &[&str]) -> Result<(), String> {
        let owned = |i: usize| fields.get(i).map(|s| (*s).to_owned());
        match (section, fields) {
            ("noun_rules" | "verb_rules" | "punct_rules", [old, new]) => {
                let rule = ((*old).to_owned(), (*new).to_owned());
                match section {
                    "noun_rules" => self.noun_rules.push(rule),
                    "verb_rules" => self.verb_rules.push(rule),
                    _ => self.punct_rules.push(rule),
                }
            }
            ("noun_exc" | "verb_exc_ing", [form, lemmas @ ..]) if !lemmas.is_empty() => {
                let lemmas = lemmas.iter().map(|s| (*s).to_owned()).collect();
                let map = if section == "noun_exc" {
                    &mut self.noun_exc
                } else {
                    &mut self.verb_exc_ing
                };
                map.insert((*form).to_owned(), lemmas);
            }
            ("verb_only_forms", [_, _]) => {
                self.verb_only_forms
                    .insert(owned(0).unwrap_or_default(), owned(1).unwrap_or_default());
            }
            ("noun_index", [word]) => {
                self.noun_index.insert((*word).to_owned());
            }
            ("verb_index", [word]) => {
                self.verb_index.insert((*word).to_owned());
            }
            _ => {
                return Err(format!(
                    "unexpected row with {} field(s) in section [{section}]",
                    fields.len()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses() {
        let tables = LemmaTables::english().unwrap();
        assert_eq!(
            tables.noun_rules.first(),
            Some(&("s".to_owned(), String::new()))
        );
        assert_eq!(
            tables.noun_exc.get("children"),
            Some(&vec!["child".to_owned()])
        );
        assert_eq!(
            tables.verb_only_forms.get("got").map(String::as_str),
            Some("get")
        );
        assert!(tables.noun_index.contains("bus"));
        assert!(tables.verb_index.contains("sing"));
    }

    #[test]
    fn malformed_row_names_file_and_line() {
        let error = LemmaTables::parse("[noun_rules]\ns\t\n[noun_index]\na\tb\n", "test.txt")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("test.txt") && error.contains("line 4"),
            "{error}"
        );
    }
}
