//! Paraphrase quality: how many of a question's content words its paraphrases
//! keep, by lemma (the definitions are in the crate's README, "Metrics").
//!
//! A paraphrase set is a dataset whose items list several ways of asking one
//! question (`chorus_data::Item::paraphrases`). Paraphrase 0 is the reference:
//! the original question for WebQuestions, the first manual template for
//! MyriadLAMA (what the `origin` method asks). Every other paraphrase is
//! compared with it:
//!
//! * **content lemmas** of a text: the lemmas ([`Lemmatizer::lemmas`]) of its
//!   tokens that are neither punctuation / whitespace nor spaCy English stop
//!   words (the token's lower-cased text or its lemma in [`STOP_WORDS`]), as a
//!   set; MyriadLAMA's `[MASK]` placeholder is removed first;
//! * **kept share** of a paraphrase: the share of the reference's content
//!   lemmas it contains (1 when the reference has none);
//! * a paraphrase **keeps the question** when its kept share is 1 (it contains
//!   every content lemma of the reference);
//! * a paraphrase is a **copy** when its lemmas other than punctuation equal the
//!   reference's in order: it keeps the question trivially and adds no
//!   diversity, so copies are counted apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chorus_data::{DataDir, Dataset, EmptyPolicy, Item, ParaphraseSource};
use serde::Serialize;

use crate::error::EvalError;
use crate::lemmatizer::Lemmatizer;
use crate::metric::is_punctuation_or_space;

/// spaCy's English stop words (`spacy/lang/en/stop_words.py`, spaCy 2, MIT
/// licence), lower-case, sorted for binary search.
pub const STOP_WORDS: &[&str] = &[
    "'d",
    "'ll",
    "'m",
    "'re",
    "'s",
    "'ve",
    "a",
    "about",
    "above",
    "across",
    "after",
    "afterwards",
    "again",
    "against",
    "all",
    "almost",
    "alone",
    "along",
    "already",
    "also",
    "although",
    "always",
    "am",
    "among",
    "amongst",
    "amount",
    "an",
    "and",
    "another",
    "any",
    "anyhow",
    "anyone",
    "anything",
    "anyway",
    "anywhere",
    "are",
    "around",
    "as",
    "at",
    "back",
    "be",
    "became",
    "because",
    "become",
    "becomes",
    "becoming",
    "been",
    "before",
    "beforehand",
    "behind",
    "being",
    "below",
    "beside",
    "besides",
    "between",
    "beyond",
    "both",
    "bottom",
    "but",
    "by",
    "ca",
    "call",
    "can",
    "cannot",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "down",
    "due",
    "during",
    "each",
    "eight",
    "either",
    "eleven",
    "else",
    "elsewhere",
    "empty",
    "enough",
    "even",
    "ever",
    "every",
    "everyone",
    "everything",
    "everywhere",
    "except",
    "few",
    "fifteen",
    "fifty",
    "first",
    "five",
    "for",
    "former",
    "formerly",
    "forty",
    "four",
    "from",
    "front",
    "full",
    "further",
    "get",
    "give",
    "go",
    "had",
    "has",
    "have",
    "he",
    "hence",
    "her",
    "here",
    "hereafter",
    "hereby",
    "herein",
    "hereupon",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "hundred",
    "i",
    "if",
    "in",
    "indeed",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "keep",
    "last",
    "latter",
    "latterly",
    "least",
    "less",
    "made",
    "make",
    "many",
    "may",
    "me",
    "meanwhile",
    "might",
    "mine",
    "more",
    "moreover",
    "most",
    "mostly",
    "move",
    "much",
    "must",
    "my",
    "myself",
    "n't",
    "name",
    "namely",
    "neither",
    "never",
    "nevertheless",
    "next",
    "nine",
    "no",
    "nobody",
    "none",
    "noone",
    "nor",
    "not",
    "nothing",
    "now",
    "nowhere",
    "of",
    "off",
    "often",
    "on",
    "once",
    "one",
    "only",
    "onto",
    "or",
    "other",
    "others",
    "otherwise",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "part",
    "per",
    "perhaps",
    "please",
    "put",
    "quite",
    "rather",
    "re",
    "really",
    "regarding",
    "same",
    "say",
    "see",
    "seem",
    "seemed",
    "seeming",
    "seems",
    "serious",
    "several",
    "she",
    "should",
    "show",
    "side",
    "since",
    "six",
    "sixty",
    "so",
    "some",
    "somehow",
    "someone",
    "something",
    "sometime",
    "sometimes",
    "somewhere",
    "still",
    "such",
    "take",
    "ten",
    "than",
    "that",
    "the",
    "their",
    "them",
    "themselves",
    "then",
    "thence",
    "there",
    "thereafter",
    "thereby",
    "therefore",
    "therein",
    "thereupon",
    "these",
    "they",
    "third",
    "this",
    "those",
    "though",
    "three",
    "through",
    "throughout",
    "thru",
    "thus",
    "to",
    "together",
    "too",
    "top",
    "toward",
    "towards",
    "twelve",
    "twenty",
    "two",
    "under",
    "unless",
    "until",
    "up",
    "upon",
    "us",
    "used",
    "using",
    "various",
    "very",
    "via",
    "was",
    "we",
    "well",
    "were",
    "what",
    "whatever",
    "when",
    "whence",
    "whenever",
    "where",
    "whereafter",
    "whereas",
    "whereby",
    "wherein",
    "whereupon",
    "wherever",
    "whether",
    "which",
    "while",
    "whither",
    "who",
    "whoever",
    "whole",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// MyriadLAMA's answer slot, which every template has and no reader counts
/// as a word of the question.
const MASK: &str = "[MASK]";

/// Whether `word` (lower-case) is a spaCy English stop word. Curly
/// apostrophes count as straight ones (`’s` is `'s`).
pub fn is_stop_word(word: &str) -> bool {
    let straight = word.replace('\u{2019}', "'");
    STOP_WORDS.binary_search(&straight.as_str()).is_ok()
}

impl Lemmatizer {
    /// The content lemmas of `text`: the lemmas of its tokens that are not
    /// punctuation, whitespace or stop words ([`is_stop_word`] of the
    /// lower-cased token or of its lemma), in order, without `[MASK]`.
    pub fn content_lemmas(&self, text: &str) -> Vec<String> {
        let text = text.replace(MASK, " ");
        let tokens = self.tokens(&text);
        let lemmas = self.lemmas(&text);
        // lemmas() tokenizes the same text the same way: one lemma per token.
        tokens
            .iter()
            .zip(lemmas)
            .filter(|(token, lemma)| {
                !is_punctuation_or_space(token)
                    && !is_stop_word(&token.to_lowercase())
                    && !is_stop_word(lemma)
            })
            .map(|(_, lemma)| lemma)
            .collect()
    }
}

/// The quality of a group of paraphrases against their references.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualitySummary {
    /// Paraphrases compared (reference questions are not counted).
    pub paraphrases: usize,
    /// Share of the paraphrases that keep every content lemma of their
    /// reference ("keeps the question"), copies included.
    pub keep_all: f64,
    /// Mean over paraphrases of the share of the reference's content lemmas
    /// kept.
    pub mean_kept: f64,
    /// Share of the paraphrases that are copies of their reference (same
    /// lemmas, punctuation aside).
    pub copies: f64,
    /// Share that keep the question without being a copy: the useful ones.
    pub keep_all_not_copy: f64,
}

/// Running sums behind a [`QualitySummary`].
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    paraphrases: usize,
    keep_all: usize,
    kept: f64,
    copies: usize,
    keep_all_not_copy: usize,
}

impl Tally {
    fn add(&mut self, judged: Judged) {
        self.paraphrases += 1;
        self.kept += judged.kept;
        self.keep_all += usize::from(judged.keeps_all);
        self.copies += usize::from(judged.copy);
        self.keep_all_not_copy += usize::from(judged.keeps_all && !judged.copy);
    }

    fn summary(&self) -> QualitySummary {
        let share = |count: f64| {
            if self.paraphrases == 0 {
                0.0
            } else {
                count / self.paraphrases as f64
            }
        };
        QualitySummary {
            paraphrases: self.paraphrases,
            keep_all: share(self.keep_all as f64),
            mean_kept: share(self.kept),
            copies: share(self.copies as f64),
            keep_all_not_copy: share(self.keep_all_not_copy as f64),
        }
    }
}

/// One paraphrase against its reference.
#[derive(Debug, Clone, Copy)]
struct Judged {
    kept: f64,
    keeps_all: bool,
    copy: bool,
}

/// A reference question, lemmatised once for all its paraphrases.
struct Reference {
    content: BTreeSet<String>,
    words: Vec<String>,
}

impl Reference {
    fn new(lemmatizer: &Lemmatizer, text: &str) -> Self {
        Reference {
            content: lemmatizer.content_lemmas(text).into_iter().collect(),
            words: words(lemmatizer, text),
        }
    }

    fn judge(&self, lemmatizer: &Lemmatizer, paraphrase: &str) -> Judged {
        let content: BTreeSet<String> = lemmatizer.content_lemmas(paraphrase).into_iter().collect();
        let kept = if self.content.is_empty() {
            1.0
        } else {
            self.content.intersection(&content).count() as f64 / self.content.len() as f64
        };
        Judged {
            kept,
            keeps_all: self.content.is_subset(&content),
            copy: words(lemmatizer, paraphrase) == self.words,
        }
    }
}

/// The lemmas of `text` other than punctuation and whitespace.
fn words(lemmatizer: &Lemmatizer, text: &str) -> Vec<String> {
    lemmatizer
        .lemmas(text)
        .into_iter()
        .filter(|lemma| !is_punctuation_or_space(lemma))
        .collect()
}

/// The paraphrase quality of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParaphraseSetQuality {
    /// The dataset as given (`webqa`, `myriadlama` or a file path); result
    /// files whose recorded dataset names the same file are matched to it.
    pub dataset: String,
    /// Items with at least one paraphrase besides the reference.
    pub items: usize,
    /// Every paraphrase but the reference, of every item.
    pub all: QualitySummary,
    /// The same per paraphrase source (`generated`, `manual`, `auto`,
    /// `original`, `unspecified`), for the sources the set has.
    pub by_source: BTreeMap<String, QualitySummary>,
}

impl ParaphraseSetQuality {
    /// The summary that fits a result file's paraphrase `selection`: a
    /// sampling tag without automatic paraphrases (`m5a0s3`) the `manual`
    /// group, one without manual paraphrases (`m0a5s3`) the `auto` group,
    /// anything else (and a group the set lacks) every paraphrase.
    pub fn for_selection(&self, selection: Option<&str>) -> &QualitySummary {
        let group = selection.and_then(|tag| {
            let rest = tag.strip_prefix('m')?;
            let (manual, rest) = rest.split_once('a')?;
            let (auto, _) = rest.split_once('s')?;
            match (manual, auto) {
                (_, "0") if manual != "0" => Some("manual"),
                ("0", _) if auto != "0" => Some("auto"),
                _ => None,
            }
        });
        group
            .and_then(|name| self.by_source.get(name))
            .unwrap_or(&self.all)
    }
}

/// The name of a paraphrase source in [`ParaphraseSetQuality::by_source`].
fn source_name(source: ParaphraseSource) -> &'static str {
    match source {
        ParaphraseSource::Original => "original",
        ParaphraseSource::Generated => "generated",
        ParaphraseSource::Manual => "manual",
        ParaphraseSource::Auto => "auto",
        ParaphraseSource::Unspecified => "unspecified",
    }
}

/// The paraphrase quality of `items` (see the module docs): each item's
/// paraphrases after the first against its first. `dataset` names the set in
/// the result.
pub fn paraphrase_quality(
    dataset: &str,
    items: &[Item],
    lemmatizer: &Lemmatizer,
) -> ParaphraseSetQuality {
    let mut all = Tally::default();
    let mut by_source: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut counted = 0;
    for item in items {
        let Some((first, rest)) = item.paraphrases.split_first() else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        counted += 1;
        let reference = Reference::new(lemmatizer, first);
        for (offset, paraphrase) in rest.iter().enumerate() {
            let judged = reference.judge(lemmatizer, paraphrase);
            all.add(judged);
            let source = item
                .meta
                .sources
                .get(offset + 1)
                .copied()
                .unwrap_or(ParaphraseSource::Unspecified);
            by_source
                .entry(source_name(source))
                .or_default()
                .add(judged);
        }
    }
    ParaphraseSetQuality {
        dataset: dataset.to_owned(),
        items: counted,
        all: all.summary(),
        by_source: by_source
            .into_iter()
            .map(|(name, tally)| (name.to_owned(), tally.summary()))
            .collect(),
    }
}

/// Loads `dataset` (`webqa`, `myriadlama`, or a JSONL file / `save_to_disk`
/// folder, read by chorus-data; the named datasets from `data_dir`, default
/// `$CHORUS_DATA` or the repository's `data/`) and measures its paraphrase
/// quality.
pub fn paraphrase_set_quality(
    dataset: &str,
    data_dir: Option<&Path>,
    lemmatizer: &Lemmatizer,
) -> Result<ParaphraseSetQuality, EvalError> {
    let parsed: Dataset = match dataset.parse() {
        Ok(parsed) => parsed,
        Err(never) => match never {},
    };
    let loaded = parsed
        .load(&DataDir::resolve(data_dir), EmptyPolicy::Error)
        .map_err(|source| EvalError::Dataset {
            dataset: dataset.to_owned(),
            source: Box::new(source),
        })?;
    Ok(paraphrase_quality(dataset, &loaded.items, lemmatizer))
}

/// Whether a result file's recorded dataset names the paraphrase set
/// `dataset`: the same string, or paths with the same file name.
pub(crate) fn same_dataset(recorded: &str, dataset: &str) -> bool {
    recorded == dataset
        || matches!(
            (Path::new(recorded).file_name(), Path::new(dataset).file_name()),
            (Some(a), Some(b)) if a == b && (recorded.contains('/') || dataset.contains('/'))
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_data::ItemMeta;

    fn lemmatizer() -> Lemmatizer {
        Lemmatizer::english().unwrap()
    }

    fn item(paraphrases: &[&str], sources: &[ParaphraseSource]) -> Item {
        Item {
            uuid: paraphrases[0].to_owned(),
            answers: vec!["x".into()],
            paraphrases: paraphrases.iter().map(|p| (*p).to_owned()).collect(),
            meta: ItemMeta {
                sources: sources.to_vec(),
                fields: Default::default(),
            },
        }
    }

    #[test]
    fn stop_words_are_sorted_and_found() {
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(is_stop_word("what") && is_stop_word("’s") && is_stop_word("n't"));
        assert!(!is_stop_word("jamaican"));
    }

    #[test]
    fn content_lemmas_drop_stop_words_punctuation_and_the_mask() {
        let l = lemmatizer();
        assert_eq!(
            l.content_lemmas("what does jamaican people speak?"),
            ["jamaican", "people", "speak"]
        );
        assert_eq!(
            l.content_lemmas("David Gates is a [MASK] player."),
            ["david", "gates", "player"]
        );
        assert!(l.content_lemmas("what is it?").is_empty());
    }

    #[test]
    fn keeps_copies_and_shares() {
        use ParaphraseSource::{Generated, Original};
        let l = lemmatizer();
        let items = [item(
            &[
                "what does jamaican people speak?",
                // Every content lemma, other words: keeps, not a copy.
                "which language do the jamaican people speak",
                // A copy (case and punctuation aside).
                "What does Jamaican people speak",
                // Nonsense: none kept.
                "a missing item from khipex party track",
                // One of three: "speak".
                "how do they speak in jamaica",
            ],
            &[Original, Generated, Generated, Generated, Generated],
        )];
        let quality = paraphrase_quality("set", &items, &l);
        assert_eq!(quality.items, 1);
        let all = quality.all;
        assert_eq!(all.paraphrases, 4);
        assert!((all.keep_all - 0.5).abs() < 1e-12, "{all:?}");
        assert!((all.copies - 0.25).abs() < 1e-12, "{all:?}");
        assert!((all.keep_all_not_copy - 0.25).abs() < 1e-12, "{all:?}");
        let mean = (1.0 + 1.0 + 0.0 + 1.0 / 3.0) / 4.0;
        assert!((all.mean_kept - mean).abs() < 1e-12, "{all:?}");
        assert_eq!(quality.by_source.keys().collect::<Vec<_>>(), ["generated"]);
        assert_eq!(quality.by_source["generated"], all);
    }

    #[test]
    fn groups_follow_sources_and_selections() {
        use ParaphraseSource::{Auto, Manual};
        let l = lemmatizer();
        let items = [
            item(
                &[
                    "David Gates plays [MASK].",
                    "David Gates plays the [MASK].",
                    "[MASK] is what Gates plays.",
                ],
                &[Manual, Manual, Auto],
            ),
            // A single paraphrase is nothing to compare: not counted.
            item(&["alone?"], &[Manual]),
        ];
        let quality = paraphrase_quality("myriadlama", &items, &l);
        assert_eq!(quality.items, 1);
        assert_eq!(quality.all.paraphrases, 2);
        let manual = quality.by_source["manual"];
        let auto = quality.by_source["auto"];
        assert_eq!((manual.keep_all, auto.keep_all), (1.0, 0.0));
        assert!((auto.mean_kept - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(quality.for_selection(Some("m5a0s3")), &manual);
        assert_eq!(quality.for_selection(Some("m0a5s3")), &auto);
        assert_eq!(quality.for_selection(Some("m5a5s5")), &quality.all);
        assert_eq!(quality.for_selection(Some("n3")), &quality.all);
        assert_eq!(quality.for_selection(None), &quality.all);
    }

    #[test]
    fn datasets_match_by_string_or_file_name() {
        assert!(same_dataset("myriadlama", "myriadlama"));
        assert!(same_dataset(
            "data/webquestions/test.smollm2-paraphrases.jsonl",
            "/repo/data/webquestions/test.smollm2-paraphrases.jsonl"
        ));
        assert!(!same_dataset(
            "data/webquestions/test.smollm2-paraphrases.jsonl",
            "data/webquestions/test.smollm2-paraphrases-t0.7.jsonl"
        ));
        assert!(!same_dataset("webqa", "myriadlama"));
    }
}
