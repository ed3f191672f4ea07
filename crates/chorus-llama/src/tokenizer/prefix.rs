//! [`PromptPrefix`]: a text that many prompts start with (a run's instruction
//! and few-shot block, ~120 of a prompt's ~140 tokens), encoded once.
//!
//! Byte-level BPE tokenizers split text into words by regular expressions
//! that scan left to right and look at most one character past a match, then
//! merge bytes within each word. So the words of `prefix + rest` before the
//! prefix's last word are the prefix's own, and the ids of
//! `prefix + rest` are the prefix's ids up to its last word followed by the
//! ids of `last word + rest`. [`PromptPrefix::encode_prompt`] encodes only
//! that tail; planning a batch of WebQuestions prompts tokenized ~7× fewer
//! characters.
//!
//! Only tokenizers for which that reasoning holds take the shortcut: no
//! normalizer (NFC, say, may join characters across the cut), a BPE model
//! without dropout, pre-tokenizers that split by patterns (byte-level without
//! an added leading space, `Split`, `Digits`). The prefix must not end in
//! whitespace (an added token's `lstrip` could reach back across the cut) and
//! must encode to the same ids either way, and so must the prefix followed by
//! a few probes; otherwise every prompt is encoded whole.

use tokenizers::models::ModelWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

use super::Tokenizer;
use crate::LlamaError;

/// Texts put after the prefix when checking the shortcut once: the starts a
/// prompt's rest may have (blank line, word, digits, punctuation, space).
const PROBES: [&str; 6] = ["\n\nQ: who is it?\nA:", "s and", "123", "'s", "!?", " x"];

/// A text encoded once for the prompts that start with it.
#[derive(Debug, Clone)]
pub struct PromptPrefix {
    tokenizer: Tokenizer,
    text: String,
    /// [`Tokenizer::encode_prompt`] of `text` (BOS first iff the tokenizer
    /// adds one).
    ids: Vec<u32>,
    /// How many of `ids` the tokenizer adds before the text's own (BOS).
    added: usize,
    /// Where encoding may resume: the byte offset of the text's last word
    /// and how many of the text's own ids come before it; `None` where
    /// texts are encoded whole.
    resume: Option<(usize, usize)>,
}

impl PromptPrefix {
    /// Encodes `text` and finds where prompts starting with it may resume.
    pub fn new(tokenizer: &Tokenizer, text: &str) -> Result<Self, LlamaError> {
        let ids = tokenizer.encode_prompt(text)?;
        let added = usize::from(tokenizer.prompt_start().is_some());
        let mut prefix = Self {
            tokenizer: tokenizer.clone(),
            text: text.to_owned(),
            ids,
            added,
            resume: None,
        };
        prefix.resume = prefix.resume_point()?;
        Ok(prefix)
    }

    /// The prefix's ids as a prompt start (BOS first iff the tokenizer adds one).
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The prefix's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether prompts that start with the prefix are encoded from its last
    /// word on (else whole).
    pub fn resumes(&self) -> bool {
        self.resume.is_some()
    }

    /// [`Tokenizer::encode_prompt`] of `text`, the same ids, tokenizing only
    /// from the prefix's last word where `text` starts with the prefix.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        match self.resume {
            Some(resume) if text.starts_with(&self.text) => self.resumed(resume, text, true),
            _ => self.tokenizer.encode_prompt(text),
        }
    }

    /// [`Tokenizer::encode`] of `text` (no BOS), by the same shortcut.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        match self.resume {
            Some(resume) if text.starts_with(&self.text) => self.resumed(resume, text, false),
            _ => self.tokenizer.encode(text),
        }
    }

    fn resumed(
        &self,
        (byte, kept): (usize, usize),
        text: &str,
        prompt: bool,
    ) -> Result<Vec<u32>, LlamaError> {
        let from = if prompt { 0 } else { self.added };
        let tail = self.tokenizer.encode(&text[byte..])?;
        let mut ids = Vec::with_capacity(self.added + kept + tail.len());
        ids.extend_from_slice(&self.ids[from..self.added + kept]);
        ids.extend(tail);
        Ok(ids)
    }

    /// The resume point, where the tokenizer and the prefix allow one and
    /// the prefix and every probe after it encode the same either way.
    fn resume_point(&self) -> Result<Option<(usize, usize)>, LlamaError> {
        if !splits_by_patterns(&self.tokenizer.inner)
            || self.text.is_empty()
            || self.text.ends_with(char::is_whitespace)
        {
            return Ok(None);
        }
        let Some(byte) = last_word_start(&self.tokenizer.inner, &self.text)
            .filter(|&byte| self.text.is_char_boundary(byte))
        else {
            return Ok(None);
        };
        let head = self.tokenizer.encode(&self.text[..byte])?;
        if !self.ids[self.added..].starts_with(&head) {
            return Ok(None);
        }
        let resume = (byte, head.len());
        for probe in std::iter::once("").chain(PROBES) {
            let text = format!("{}{probe}", self.text);
            if self.resumed(resume, &text, true)? != self.tokenizer.encode_prompt(&text)? {
                return Ok(None);
            }
        }
        Ok(Some(resume))
    }
}

/// Whether `inner` tokenizes word by word with words cut by patterns (see
/// the module documentation).
fn splits_by_patterns(inner: &tokenizers::Tokenizer) -> bool {
    let bpe = matches!(inner.get_model(), ModelWrapper::BPE(bpe) if bpe.dropout.is_none());
    let pre = inner.get_pre_tokenizer().is_some_and(pattern_splits);
    bpe && pre && inner.get_normalizer().is_none()
}

fn pattern_splits(pre: &PreTokenizerWrapper) -> bool {
    match pre {
        PreTokenizerWrapper::ByteLevel(byte_level) => !byte_level.add_prefix_space,
        PreTokenizerWrapper::Split(_) | PreTokenizerWrapper::Digits(_) => true,
        PreTokenizerWrapper::Sequence(sequence) => sequence.as_ref().iter().all(pattern_splits),
        _ => false,
    }
}

/// The byte offset of the last word the pre-tokenizer cuts `text` into.
fn last_word_start(inner: &tokenizers::Tokenizer, text: &str) -> Option<usize> {
    let mut words = PreTokenizedString::from(text);
    inner.get_pre_tokenizer()?.pre_tokenize(&mut words).ok()?;
    let splits = words.get_splits(OffsetReferential::Original, OffsetType::Byte);
    let (_, (start, _), _) = splits.last()?;
    Some(*start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm() -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tokenizers/smollm/tokenizer.gguf");
        Tokenizer::open(&dir).unwrap()
    }

    #[test]
    fn prompts_after_the_prefix_get_the_ids_of_a_whole_encoding() {
        let tok = smollm();
        let prefix =
            PromptPrefix::new(&tok, "Answer briefly.\n\nQ: Where is Paris?\nA: France").unwrap();
        assert!(prefix.resumes());
        for rest in [
            "\n\nQ: what is the capital of 'x'?\nA:",
            "",
            "ly",
            " 42.",
            "\n",
        ] {
            let text = format!("{}{rest}", prefix.text());
            assert_eq!(
                prefix.encode_prompt(&text).unwrap(),
                tok.encode_prompt(&text).unwrap(),
                "{text:?}"
            );
        }
        // A text that does not start with the prefix is encoded whole.
        assert_eq!(
            prefix.encode_prompt("Other.").unwrap(),
            tok.encode_prompt("Other.").unwrap()
        );
    }

    #[test]
    fn a_prefix_ending_in_whitespace_is_encoded_whole() {
        let prefix = PromptPrefix::new(&smollm(), "Answer:\n").unwrap();
        assert!(!prefix.resumes());
    }
}
