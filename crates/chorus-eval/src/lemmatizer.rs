//! Lower-cased English lemmas that approximate spaCy `en_core_web_lg`'s
//! `lemma_` without its tagger.
//!
//! en_core_web_lg lemmatises with rules that need a part-of-speech tag: a
//! noun tagged plural goes through spaCy's suffix rules (`s`→``, `ies`→`y`,
//! ...) checked against its lemma index, a verb through the verb rules, and a
//! proper noun stays as written. Chorus has no tagger, so it guesses the tag
//! from the word's shape and from spaCy's own tables, then applies spaCy's
//! rule algorithm unchanged:
//!
//! * words with an upper-case letter are proper nouns (kept), except a lone
//!   title-case word with a plural ending (`Avengers`, `Hungarians`), which
//!   the tagger, given no context, reads as a plural noun;
//! * lower-case words ending in `s` are plural nouns, unless the ending is
//!   `ss`, `us` or `is` (`chess`, `campus`, `dermatitis`) or the stem would be
//!   shorter than three letters (`es`, `des`);
//! * lower-case `-ing` words are verbs when spaCy's verb index or exceptions
//!   know the stem (`acting` → `act`, `hitting` → `hit`);
//! * irregular forms that can only be verbs (`got`, `went`) become the verb;
//! * forms of *be* and contracted auxiliaries get the lemmas spaCy's
//!   attribute ruler gives them (`is` → `be`, `n't` → `not`); the possessive
//!   `'s` stays `'s`;
//! * tokens with digits, punctuation and symbols are only lower-cased (curly
//!   quotes become straight ones, as spaCy's punctuation rules do).
//!
//! `docs/decisions/chorus-eval.md` records how much each rule buys on the
//! dev set.

use crate::error::EvalError;
use crate::tables::{LemmaTables, SuffixRule};
use crate::tokenizer::Tokenizer;

/// Lemmas spaCy assigns to closed-class tokens through its attribute ruler
/// rather than through the lemma tables.
const FUNCTION_WORD_LEMMAS: &[(&str, &str)] = &[
    ("is", "be"),
    ("am", "be"),
    ("are", "be"),
    ("was", "be"),
    ("were", "be"),
    ("'m", "be"),
    ("'re", "be"),
    ("n't", "not"),
    ("'ll", "will"),
    ("'ve", "have"),
    ("'d", "would"),
];

/// The English tokenizer plus the lemma tables.
#[derive(Debug, Clone)]
pub struct Lemmatizer {
    tokenizer: Tokenizer,
    tables: LemmaTables,
}

impl Lemmatizer {
    /// The English lemmatizer, built from the tables embedded in the binary.
    pub fn english() -> Result<Self, EvalError> {
        Ok(Self {
            tokenizer: Tokenizer::english()?,
            tables: LemmaTables::english()?,
        })
    }

    /// The tokenizer this lemmatizer splits text with.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// spaCy-style tokens of `text` (see [`Tokenizer::tokenize`]).
    pub fn tokens<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.tokenizer.tokenize(text)
    }

    /// The lower-cased lemma of every token of `text`, in order.
    pub fn lemmas(&self, text: &str) -> Vec<String> {
        let tokens = self.tokenizer.tokenize(text);
        let alone = tokens.len() == 1;
        tokens
            .iter()
            .enumerate()
            .map(|(index, token)| {
                let next = tokens.get(index + 1).copied();
                self.lemma(token, alone, next)
            })
            .collect()
    }

    /// The lemma of one token; `alone` says whether it is the whole text,
    /// `next` is the following token.
    fn lemma(&self, token: &str, alone: bool, next: Option<&str>) -> String {
        let lower = token.to_lowercase();
        if token == lower
            && let Some(lemma) = function_word_lemma(token, next)
        {
            return lemma.to_owned();
        }
        if token == "'s" || token == "'S" {
            return "'s".to_owned();
        }
        if token.chars().any(char::is_numeric) {
            return lower;
        }
        if !token.chars().all(char::is_alphabetic) {
            return self.punctuation_lemma(token).unwrap_or(lower);
        }
        if token != lower {
            return if alone && looks_like_lone_plural(token) {
                self.plural_noun_lemma(&lower)
            } else {
                lower
            };
        }
        self.lower_case_word_lemma(lower)
    }

    fn lower_case_word_lemma(&self, word: String) -> String {
        if let Some(lemma) = self.tables.noun_exc.get(&word).and_then(|l| l.first()) {
            return lemma.clone();
        }
        if let Some(lemma) = self.tables.verb_only_forms.get(&word) {
            return lemma.clone();
        }
        if looks_plural(&word) {
            return self.plural_noun_lemma(&word);
        }
        if word.ends_with("ing")
            && word.chars().count() >= 5
            && let Some(lemma) = self.ing_verb_lemma(&word)
        {
            return lemma;
        }
        word
    }

    /// spaCy's rule lemmatizer for a noun tagged plural.
    fn plural_noun_lemma(&self, word: &str) -> String {
        let exceptions = self.tables.noun_exc.get(word).map(Vec::as_slice);
        rule_lemmatize(
            word,
            &self.tables.noun_rules,
            |form| self.tables.noun_index.contains(form),
            exceptions.unwrap_or_default(),
        )
        .unwrap_or_else(|| word.to_owned())
    }

    /// spaCy's verb rules for an `-ing` form, when the stem is a known verb.
    fn ing_verb_lemma(&self, word: &str) -> Option<String> {
        let exceptions = self.tables.verb_exc_ing.get(word).map(Vec::as_slice);
        let known = |form: &str| self.tables.verb_index.contains(form);
        let forms = candidate_forms(word, &self.tables.verb_rules, known);
        exceptions
            .and_then(|e| e.first().cloned())
            .or_else(|| forms.known.into_iter().next())
    }

    /// spaCy's punctuation rules (curly quotes to straight ones).
    fn punctuation_lemma(&self, token: &str) -> Option<String> {
        self.tables
            .punct_rules
            .iter()
            .find(|(old, _)| old == token)
            .map(|(_, new)| new.clone())
    }
}

/// Lemmas of function words, or `None`. `ca` and `wo` are only the
/// auxiliaries of `can't` and `won't` when `n't` follows.
fn function_word_lemma(token: &str, next: Option<&str>) -> Option<&'static str> {
    if let Some((_, lemma)) = FUNCTION_WORD_LEMMAS.iter().find(|(form, _)| *form == token) {
        return Some(lemma);
    }
    match (token, next) {
        ("ca", Some("n't")) => Some("can"),
        ("wo", Some("n't")) => Some("will"),
        _ => None,
    }
}

/// A lower-case word that reads as a regular plural noun.
fn looks_plural(word: &str) -> bool {
    word.ends_with('s')
        && !word.ends_with("ss")
        && !word.ends_with("us")
        && !word.ends_with("is")
        && word.chars().count() >= 4
}

/// A title-case word with a plural ending: `s` after a consonant or `e`.
fn looks_like_lone_plural(token: &str) -> bool {
    let mut chars = token.chars();
    let title_case = chars.next().is_some_and(char::is_uppercase) && chars.all(char::is_lowercase);
    let mut rev = token.chars().rev();
    let ends_in_s = rev.next() == Some('s');
    let before = rev.next();
    title_case
        && ends_in_s
        && before.is_some_and(|c| !matches!(c, 'a' | 'i' | 'o' | 'u' | 'y' | 's'))
        && token.chars().count() >= 4
}

/// The outputs of suffix rules, split into those the index knows (or that
/// are not purely alphabetic, which spaCy accepts as well) and the rest.
struct CandidateForms {
    known: Vec<String>,
    unknown: Vec<String>,
}

fn candidate_forms(
    word: &str,
    rules: &[SuffixRule],
    known: impl Fn(&str) -> bool,
) -> CandidateForms {
    let mut forms = CandidateForms {
        known: Vec::new(),
        unknown: Vec::new(),
    };
    for (old, new) in rules {
        let Some(stem) = word.strip_suffix(old.as_str()) else {
            continue;
        };
        let form = format!("{stem}{new}");
        if form.is_empty() {
            continue;
        }
        let target = if known(&form) || !form.chars().all(char::is_alphabetic) {
            &mut forms.known
        } else {
            &mut forms.unknown
        };
        if !target.contains(&form) {
            target.push(form);
        }
    }
    forms
}

/// spaCy's `Lemmatizer.rule_lemmatize` after the tag is known: exceptions
/// first, then rule outputs the index knows (in rule order, as the spaCy
/// release behind en_core_web_lg ordered them), then unknown rule outputs.
fn rule_lemmatize(
    word: &str,
    rules: &[SuffixRule],
    known: impl Fn(&str) -> bool,
    exceptions: &[String],
) -> Option<String> {
    if let Some(first) = exceptions.first() {
        return Some(first.clone());
    }
    let forms = candidate_forms(word, rules, known);
    forms.known.into_iter().chain(forms.unknown).next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lemmatizer() -> &'static Lemmatizer {
        static CELL: std::sync::OnceLock<Lemmatizer> = std::sync::OnceLock::new();
        CELL.get_or_init(|| Lemmatizer::english().unwrap())
    }

    fn lemmas(text: &str) -> Vec<String> {
        lemmatizer().lemmas(text)
    }

    #[test]
    fn regular_and_irregular_plurals() {
        assert_eq!(lemmas("languages"), ["language"]);
        assert_eq!(lemmas("companies"), ["company"]);
        assert_eq!(lemmas("buses"), ["bus"]);
        assert_eq!(lemmas("children"), ["child"]);
        assert_eq!(lemmas("parishes"), ["parish"]);
    }

    #[test]
    fn singular_looking_words_are_kept() {
        assert_eq!(
            lemmas("campus chess dermatitis"),
            ["campus", "chess", "dermatitis"]
        );
        assert_eq!(lemmas("es"), ["es"]);
        assert_eq!(lemmas("1970s"), ["1970s"]);
    }

    #[test]
    fn proper_nouns_are_lower_cased_only() {
        assert_eq!(lemmas("United States"), ["united", "states"]);
        assert_eq!(lemmas("Paris"), ["paris"]);
        assert_eq!(lemmas("US"), ["us"]);
        // A lone title-case plural reads as a plural noun.
        assert_eq!(lemmas("Avengers"), ["avenger"]);
    }

    #[test]
    fn verbs_and_function_words() {
        assert_eq!(lemmas("acting"), ["act"]);
        assert_eq!(lemmas("got"), ["get"]);
        assert_eq!(
            lemmas("Bani Khalid is a region"),
            ["bani", "khalid", "be", "a", "region"]
        );
        assert_eq!(lemmas("can't"), ["can", "not"]);
        assert_eq!(lemmas("morning"), ["morning"]);
    }

    #[test]
    fn possessives_and_punctuation() {
        assert_eq!(
            lemmas("People's Republic of China"),
            ["people", "'s", "republic", "of", "china"]
        );
        assert_eq!(
            lemmas("Arlington County, Virginia"),
            ["arlington", "county", ",", "virginia"]
        );
        assert_eq!(lemmas("‘Êraq"), ["'", "êraq"]);
        assert_eq!(lemmas("Arab Rep. Egypt"), ["arab", "rep.", "egypt"]);
    }

    proptest! {
        #[test]
        fn lemmas_are_lower_case(text in "[ a-zA-Z'.,-]{0,30}") {
            for lemma in lemmas(&text) {
                prop_assert_eq!(lemma.to_lowercase(), lemma);
            }
        }

        #[test]
        fn one_lemma_per_token(text in "[ a-zA-Z0-9'.,/()-]{0,30}") {
            prop_assert_eq!(lemmas(&text).len(), lemmatizer().tokens(&text).len());
        }
    }
}
