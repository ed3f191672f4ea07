//! A port of spaCy's English tokenizer (spaCy 3.8, `spacy.blank("en")`).
//!
//! The algorithm is spaCy's: split on whitespace, then for each chunk peel
//! prefixes and suffixes until a special case (abbreviation, contraction,
//! emoticon) or nothing is left, keep URLs whole, and split the core at
//! infixes (hyphens between letters, `/` and `:` between words, `,` between
//! letters, `.` between a lower- and an upper-case letter, ...). The data —
//! special cases, affix strings and character classes — is generated from
//! spaCy itself by `scripts/build-lemma-table.py` into
//! `data/lemmas/en_tokenizer.json`; the handful of look-around expressions
//! are written out by hand below, and the script refuses to run if spaCy's
//! patterns ever change.
//!
//! Like spaCy, a post-pass then merges runs of adjacent tokens that spell a
//! special case containing affix characters (`Co.Ltd.` → `Co.`, `Ltd.`;
//! `):` after a closing parenthesis). Not ported: URLs written as IP
//! addresses.

use std::collections::HashMap;

use serde::Deserialize;

use crate::charclass::CharClass;
use crate::error::EvalError;

/// The JSON file generated from spaCy, as stored in the repository.
const TOKENIZER_JSON: &str = include_str!("../../../data/lemmas/en_tokenizer.json");
const TOKENIZER_FILE: &str = "data/lemmas/en_tokenizer.json";

/// The generated tokenizer data, field for field.
#[derive(Debug, Deserialize)]
struct TokenizerData {
    specials: HashMap<String, Vec<String>>,
    punct: Vec<String>,
    quotes: Vec<String>,
    currency: Vec<String>,
    units: Vec<String>,
    hyphens: Vec<String>,
    prefix_extra: Vec<String>,
    suffix_extra: Vec<String>,
    alpha: Vec<[u32; 2]>,
    alpha_lower: Vec<[u32; 2]>,
    alpha_upper: Vec<[u32; 2]>,
    icons: Vec<[u32; 2]>,
    quote_chars: Vec<[u32; 2]>,
    suffix_dot_after: Vec<[u32; 2]>,
}

/// One alternative of spaCy's prefix expression, in spaCy's order.
#[derive(Debug, Clone)]
enum PrefixRule {
    /// A literal string.
    Literal(String),
    /// `\+(?![0-9])`: a plus sign not followed by a digit.
    PlusNotBeforeDigit,
    /// `\.\.+`: two or more dots.
    Dots,
    /// One character of the "other symbols" class (emoji, dingbats).
    Icon,
}

/// spaCy's English tokenizer rules.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// Special cases: the chunk and the byte lengths of its pieces.
    specials: HashMap<String, Vec<usize>>,
    prefixes: Vec<PrefixRule>,
    /// Literal suffixes (punctuation, quotes, `'s`, dashes).
    suffix_literals: Vec<String>,
    currency: Vec<String>,
    units: Vec<String>,
    hyphens: Vec<String>,
    alpha: CharClass,
    lower_or_quote: CharClass,
    upper_or_quote: CharClass,
    upper: CharClass,
    icons: CharClass,
    suffix_dot_after: CharClass,
    /// Special cases that ordinary tokenization would split, keyed by their
    /// first piece: `(pieces without special cases, the special case)`.
    split_specials: HashMap<String, Vec<(Vec<String>, String)>>,
}

impl Tokenizer {
    /// The English tokenizer, built from the embedded spaCy data.
    pub fn english() -> Result<Self, EvalError> {
        let data: TokenizerData =
            serde_json::from_str(TOKENIZER_JSON).map_err(|source| EvalError::TokenizerData {
                file: TOKENIZER_FILE,
                source,
            })?;
        Self::from_data(data)
    }

    fn from_data(data: TokenizerData) -> Result<Self, EvalError> {
        let mut specials = HashMap::with_capacity(data.specials.len());
        for (chunk, pieces) in data.specials {
            if pieces.concat() != chunk || pieces.iter().any(String::is_empty) {
                return Err(EvalError::SpecialCase {
                    file: TOKENIZER_FILE,
                    chunk,
                });
            }
            specials.insert(chunk, pieces.iter().map(String::len).collect());
        }
        let literal = |items: &[String]| -> Vec<PrefixRule> {
            items
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| PrefixRule::Literal(s.clone()))
                .collect()
        };
        // spaCy: ["§", "%", "=", "—", "–", r"\+(?![0-9])"] + LIST_PUNCT
        //        + LIST_ELLIPSES + LIST_QUOTES + LIST_CURRENCY + LIST_ICONS
        let mut prefixes = literal(&data.prefix_extra);
        prefixes.push(PrefixRule::PlusNotBeforeDigit);
        prefixes.extend(literal(&data.punct));
        prefixes.push(PrefixRule::Dots);
        prefixes.push(PrefixRule::Literal("…".to_owned()));
        prefixes.extend(literal(&data.quotes));
        prefixes.extend(literal(&data.currency));
        prefixes.push(PrefixRule::Icon);
        // spaCy: LIST_PUNCT + LIST_ELLIPSES + LIST_QUOTES + LIST_ICONS
        //        + ["'s", "'S", "’s", "’S", "—", "–"] + look-behind rules.
        let mut suffix_literals: Vec<String> = data
            .punct
            .iter()
            .chain(&data.quotes)
            .chain(&data.suffix_extra)
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        suffix_literals.push("…".to_owned());
        let quotes = CharClass::from_ranges(&data.quote_chars);
        let upper = CharClass::from_ranges(&data.alpha_upper);
        let mut tokenizer = Self {
            specials,
            prefixes,
            suffix_literals,
            currency: data
                .currency
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect(),
            units: data.units.into_iter().filter(|s| !s.is_empty()).collect(),
            hyphens: data.hyphens.into_iter().filter(|s| !s.is_empty()).collect(),
            alpha: CharClass::from_ranges(&data.alpha),
            lower_or_quote: CharClass::from_ranges(&data.alpha_lower).union(&quotes),
            upper_or_quote: upper.union(&quotes),
            upper,
            icons: CharClass::from_ranges(&data.icons),
            suffix_dot_after: CharClass::from_ranges(&data.suffix_dot_after),
            split_specials: HashMap::new(),
        };
        tokenizer.split_specials = tokenizer.index_split_specials();
        Ok(tokenizer)
    }

    /// spaCy's special-case matcher patterns: every special case that has a
    /// prefix, suffix, infix or space, as ordinary tokenization splits it.
    fn index_split_specials(&self) -> HashMap<String, Vec<(Vec<String>, String)>> {
        let mut index: HashMap<String, Vec<(Vec<String>, String)>> = HashMap::new();
        for chunk in self.specials.keys() {
            let affixed = self.find_prefix(chunk) != 0
                || self.find_suffix(chunk) != 0
                || !self.find_infixes(chunk).is_empty()
                || chunk.contains(' ');
            if !affixed {
                continue;
            }
            let mut pieces = Vec::new();
            self.tokenize_text(chunk, false, &mut pieces);
            let pieces: Vec<String> = pieces.into_iter().map(str::to_owned).collect();
            if let Some(first) = pieces.first() {
                index
                    .entry(first.clone())
                    .or_default()
                    .push((pieces, chunk.clone()));
            }
        }
        index
    }

    /// Splits `text` into tokens, as spaCy's English tokenizer does.
    ///
    /// Single spaces between tokens disappear; any other whitespace becomes
    /// a token of its own (as in spaCy, `"a  b"` gives `["a", " ", "b"]`).
    pub fn tokenize<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut tokens = Vec::new();
        self.tokenize_text(text, true, &mut tokens);
        if self.split_specials.is_empty() {
            return tokens;
        }
        self.merge_split_specials(text, tokens)
    }

    /// Whitespace splitting plus affix/infix rules (spaCy's `_tokenize_affixes`).
    fn tokenize_text<'a>(&self, text: &'a str, with_specials: bool, tokens: &mut Vec<&'a str>) {
        let Some(first) = text.chars().next() else {
            return;
        };
        let mut in_space = is_space(first);
        let mut start = 0;
        for (index, c) in text.char_indices() {
            if is_space(c) != in_space {
                if start < index {
                    self.tokenize_chunk(&text[start..index], with_specials, tokens);
                }
                // A single ' ' after a token is that token's trailing space.
                start = if c == ' ' { index + 1 } else { index };
                in_space = !in_space;
            }
        }
        if start < text.len() {
            self.tokenize_chunk(&text[start..], with_specials, tokens);
        }
    }

    /// spaCy's `_apply_special_cases`: finds runs of adjacent tokens that
    /// spell a special case, keeps the longest (then leftmost) of
    /// overlapping runs, and replaces each by the special case's pieces.
    fn merge_split_specials<'a>(&self, text: &'a str, tokens: Vec<&'a str>) -> Vec<&'a str> {
        let offset = |token: &str| token.as_ptr() as usize - text.as_ptr() as usize;
        let mut matches: Vec<(usize, usize, &str)> = Vec::new();
        for (start, token) in tokens.iter().enumerate() {
            let Some(candidates) = self.split_specials.get(*token) else {
                continue;
            };
            for (pieces, chunk) in candidates {
                let end = start + pieces.len();
                if end > tokens.len() || !tokens[start..end].iter().zip(pieces).all(|(t, p)| t == p)
                {
                    continue;
                }
                let from = offset(tokens[start]);
                let to = offset(tokens[end - 1]) + tokens[end - 1].len();
                if &text[from..to] == chunk.as_str() {
                    matches.push((start, end, &text[from..to]));
                }
            }
        }
        if matches.is_empty() {
            return tokens;
        }
        // Longest first, then later start first, as spaCy's filter visits them.
        matches.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(b.0.cmp(&a.0)));
        let mut taken = vec![false; tokens.len()];
        let mut kept = Vec::new();
        for (start, end, span) in matches {
            if !taken[start] && !taken[end - 1] {
                kept.push((start, end, span));
            }
            taken[start..end].iter_mut().for_each(|t| *t = true);
        }
        kept.sort_by_key(|m| m.0);
        let mut merged = Vec::with_capacity(tokens.len());
        let mut index = 0;
        for (start, end, span) in kept {
            merged.extend_from_slice(&tokens[index..start]);
            self.push_special(span, &mut merged);
            index = end;
        }
        merged.extend_from_slice(&tokens[index..]);
        merged
    }

    fn tokenize_chunk<'a>(&self, chunk: &'a str, with_specials: bool, tokens: &mut Vec<&'a str>) {
        if with_specials && self.push_special(chunk, tokens) {
            return;
        }
        let mut prefixes = Vec::new();
        let mut suffixes = Vec::new();
        let core = self.split_affixes(chunk, with_specials, &mut prefixes, &mut suffixes);
        tokens.extend(prefixes);
        let special_core = with_specials && !core.is_empty() && self.push_special(core, tokens);
        if !core.is_empty() && !special_core {
            if looks_like_url(core) {
                tokens.push(core);
            } else {
                self.push_infix_split(core, tokens);
            }
        }
        tokens.extend(suffixes.into_iter().rev());
    }

    /// Pushes the pieces of a special case; false when `chunk` is none.
    fn push_special<'a>(&self, chunk: &'a str, tokens: &mut Vec<&'a str>) -> bool {
        let Some(lengths) = self.specials.get(chunk) else {
            return false;
        };
        let mut start = 0;
        for &length in lengths {
            tokens.push(&chunk[start..start + length]);
            start += length;
        }
        true
    }

    /// spaCy's `_split_affixes`: peels prefixes and suffixes off `s`.
    fn split_affixes<'a>(
        &self,
        mut s: &'a str,
        with_specials: bool,
        prefixes: &mut Vec<&'a str>,
        suffixes: &mut Vec<&'a str>,
    ) -> &'a str {
        let special = |s: &str| with_specials && self.specials.contains_key(s);
        let mut last_len = usize::MAX;
        while !s.is_empty() && s.len() != last_len {
            if special(s) {
                break;
            }
            last_len = s.len();
            let prefix_len = self.find_prefix(s);
            if prefix_len != 0 {
                let rest = &s[prefix_len..];
                if !rest.is_empty() && special(rest) {
                    prefixes.push(&s[..prefix_len]);
                    s = rest;
                    break;
                }
            }
            let suffix_len = self.find_suffix(&s[prefix_len..]);
            let cut = s.len() - suffix_len;
            if suffix_len != 0 {
                let rest = &s[..cut];
                if !rest.is_empty() && special(rest) {
                    suffixes.push(&s[cut..]);
                    s = rest;
                    break;
                }
            }
            if prefix_len != 0 && suffix_len != 0 && prefix_len + suffix_len <= s.len() {
                prefixes.push(&s[..prefix_len]);
                suffixes.push(&s[cut..]);
                s = &s[prefix_len..cut];
            } else if prefix_len != 0 {
                prefixes.push(&s[..prefix_len]);
                s = &s[prefix_len..];
            } else if suffix_len != 0 {
                suffixes.push(&s[cut..]);
                s = &s[..cut];
            }
        }
        s
    }

    /// Byte length of the prefix to split off (first matching rule wins).
    fn find_prefix(&self, s: &str) -> usize {
        for rule in &self.prefixes {
            let length = match rule {
                PrefixRule::Literal(literal) => {
                    if s.starts_with(literal.as_str()) {
                        literal.len()
                    } else {
                        0
                    }
                }
                PrefixRule::PlusNotBeforeDigit => {
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some('+'), next) if !next.is_some_and(|c| c.is_ascii_digit()) => 1,
                        _ => 0,
                    }
                }
                PrefixRule::Dots => {
                    let dots = s.bytes().take_while(|&b| b == b'.').count();
                    if dots >= 2 { dots } else { 0 }
                }
                PrefixRule::Icon => s
                    .chars()
                    .next()
                    .filter(|&c| self.icons.contains(c))
                    .map_or(0, char::len_utf8),
            };
            if length != 0 {
                return length;
            }
        }
        0
    }

    /// Byte length of the suffix to split off: the longest alternative that
    /// matches at the end (a regex search finds the earliest start).
    fn find_suffix(&self, s: &str) -> usize {
        let mut best = 0;
        for literal in &self.suffix_literals {
            if s.ends_with(literal.as_str()) {
                best = best.max(literal.len());
            }
        }
        let dots = s.bytes().rev().take_while(|&b| b == b'.').count();
        if dots >= 2 {
            best = best.max(dots);
        }
        let mut rev = s.chars().rev();
        let last = rev.next();
        let before_last = rev.next();
        let third_last = rev.next();
        if let Some(last) = last {
            if self.icons.contains(last) {
                best = best.max(last.len_utf8());
            }
            let digit_before = before_last.is_some_and(|c| c.is_ascii_digit());
            if last == '+' && digit_before {
                best = best.max(1);
            }
            if last == '.' {
                let after_degree = matches!(before_last, Some('F' | 'f' | 'C' | 'c' | 'K' | 'k'))
                    && third_last == Some('°');
                let after_class = before_last.is_some_and(|c| self.suffix_dot_after.contains(c));
                let after_two_upper = before_last.is_some_and(|c| self.upper.contains(c))
                    && third_last.is_some_and(|c| self.upper.contains(c));
                if after_degree || after_class || after_two_upper {
                    best = best.max(1);
                }
            }
        }
        for word in self.currency.iter().chain(&self.units) {
            if let Some(head) = s.strip_suffix(word.as_str())
                && head.ends_with(|c: char| c.is_ascii_digit())
            {
                best = best.max(word.len());
            }
        }
        best
    }

    /// spaCy's infix loop: split `core` at every infix match, except one at
    /// position 0, which spaCy skips.
    fn push_infix_split<'a>(&self, core: &'a str, tokens: &mut Vec<&'a str>) {
        let mut start = 0;
        for (infix_start, infix_end) in self.find_infixes(core) {
            if infix_start == 0 {
                continue;
            }
            if infix_start != start {
                tokens.push(&core[start..infix_start]);
            }
            tokens.push(&core[infix_start..infix_end]);
            start = infix_end;
        }
        if start < core.len() {
            tokens.push(&core[start..]);
        }
    }

    /// Non-overlapping infix matches, left to right, as `re.finditer` finds them.
    fn find_infixes(&self, s: &str) -> Vec<(usize, usize)> {
        let mut matches = Vec::new();
        let mut previous: Option<char> = None;
        let mut position = 0;
        while position < s.len() {
            let rest = &s[position..];
            let Some(c) = rest.chars().next() else { break };
            if let Some(length) = self.infix_at(previous, rest) {
                matches.push((position, position + length));
                previous = s[..position + length].chars().next_back();
                position += length;
            } else {
                previous = Some(c);
                position += c.len_utf8();
            }
        }
        matches
    }

    /// The length of the infix starting `rest`, given the character before it.
    fn infix_at(&self, previous: Option<char>, rest: &str) -> Option<usize> {
        let mut chars = rest.chars();
        let c = chars.next()?;
        let next = chars.next();
        let dots = rest.bytes().take_while(|&b| b == b'.').count();
        if dots >= 2 {
            return Some(dots);
        }
        if c == '…' || self.icons.contains(c) {
            return Some(c.len_utf8());
        }
        let prev = previous?;
        let next_alpha = next.is_some_and(|n| self.alpha.contains(n));
        // (?<=[0-9])[+\-\*^](?=[0-9-])
        if prev.is_ascii_digit()
            && matches!(c, '+' | '-' | '*' | '^')
            && next.is_some_and(|n| n.is_ascii_digit() || n == '-')
        {
            return Some(1);
        }
        // (?<=[{al}{q}])\.(?=[{au}{q}])
        if c == '.'
            && self.lower_or_quote.contains(prev)
            && next.is_some_and(|n| self.upper_or_quote.contains(n))
        {
            return Some(1);
        }
        let prev_alpha = self.alpha.contains(prev);
        // (?<=[{a}]),(?=[{a}])
        if c == ',' && prev_alpha && next_alpha {
            return Some(1);
        }
        if prev_alpha || prev.is_ascii_digit() {
            // (?<=[{a}0-9])(?:{h})(?=[{a}]), alternatives tried in order.
            for hyphen in &self.hyphens {
                if let Some(after) = rest.strip_prefix(hyphen.as_str())
                    && after.chars().next().is_some_and(|n| self.alpha.contains(n))
                {
                    return Some(hyphen.len());
                }
            }
            // (?<=[{a}0-9])[:<>=/](?=[{a}])
            if matches!(c, ':' | '<' | '>' | '=' | '/') && next_alpha {
                return Some(1);
            }
        }
        None
    }
}

/// Python's `str.isspace`, which spaCy splits on.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A simplified form of spaCy's `URL_MATCH`: optional `scheme://`, optional
/// `user@`, a host name of dot-separated labels ending in a lower-case (or
/// non-ASCII) top-level domain of two or more letters, an optional port and
/// an optional path, query or fragment.
fn looks_like_url(s: &str) -> bool {
    let mut rest = s;
    if let Some(position) = rest.find("://") {
        let scheme = &rest[..position];
        let scheme_ok = scheme.chars().count() >= 2
            && scheme
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
        if !scheme_ok {
            return false;
        }
        rest = &rest[position + 3..];
    }
    if let Some(at) = rest.find('@')
        && !rest[..at].is_empty()
        && !rest[..at].contains(char::is_whitespace)
    {
        rest = &rest[at + 1..];
    }
    let host_end = rest.find([':', '/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    let host = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let Some((tld, names)) = labels.split_last() else {
        return false;
    };
    let label_char = |c: char| c.is_ascii_alphanumeric() || c as u32 >= 0xA1;
    let names_ok = !names.is_empty()
        && names.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.starts_with(label_char)
                && label.ends_with(label_char)
                && label.chars().all(|c| label_char(c) || c == '-' || c == '_')
        });
    let tld_ok = tld.chars().count() >= 2
        && tld.chars().count() <= 63
        && tld
            .chars()
            .all(|c| c.is_ascii_lowercase() || (c as u32 >= 0xA1 && c.is_alphabetic()));
    if !(names_ok && tld_ok) {
        return false;
    }
    let tail = match tail.strip_prefix(':') {
        Some(port) => {
            let digits = port.bytes().take_while(u8::is_ascii_digit).count();
            if !(2..=5).contains(&digits) {
                return false;
            }
            &port[digits..]
        }
        None => tail,
    };
    tail.is_empty() || tail.starts_with(['/', '?', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokenizer() -> Tokenizer {
        Tokenizer::english().unwrap()
    }

    fn tokens(text: &str) -> Vec<&str> {
        // The tokenizer is cheap to build but tests call this a lot.
        thread_local! {
            static TOKENIZER: Tokenizer = Tokenizer::english().unwrap();
        }
        TOKENIZER.with(|t| t.tokenize(text))
    }

    #[test]
    fn abbreviations_stay_whole() {
        assert_eq!(tokens("Apple Inc."), ["Apple", "Inc."]);
        assert_eq!(
            tokens("Los Angeles, Calif."),
            ["Los", "Angeles", ",", "Calif."]
        );
        assert_eq!(tokens("Santa Fe, N.M."), ["Santa", "Fe", ",", "N.M."]);
        assert_eq!(tokens("the U.S."), ["the", "U.S."]);
        assert_eq!(tokens("(U.S.)"), ["(", "U.S.", ")"]);
    }

    #[test]
    fn possessives_and_contractions_split() {
        assert_eq!(tokens("People's Republic"), ["People", "'s", "Republic"]);
        assert_eq!(tokens("St. John's"), ["St.", "John", "'s"]);
        assert_eq!(tokens("don't"), ["do", "n't"]);
        assert_eq!(tokens("I'm here."), ["I", "'m", "here", "."]);
        assert_eq!(tokens("B-52's"), ["B-52", "'s"]);
    }

    #[test]
    fn infixes_split_names() {
        assert_eq!(tokens("Texas A&M"), ["Texas", "A&M"]);
        assert_eq!(tokens("singer/songwriter"), ["singer", "/", "songwriter"]);
        assert_eq!(tokens("super-hero"), ["super", "-", "hero"]);
        assert_eq!(tokens("US-TN"), ["US", "-", "TN"]);
        assert_eq!(tokens("10,000 Lakes"), ["10,000", "Lakes"]);
        assert_eq!(tokens("1990-2000"), ["1990", "-", "2000"]);
        assert_eq!(
            tokens("construction.Mechanics"),
            ["construction", ".", "Mechanics"]
        );
    }

    #[test]
    fn punctuation_is_peeled() {
        assert_eq!(tokens("(fr)"), ["(", "fr", ")"]);
        assert_eq!(tokens("\"Paris\"!"), ["\"", "Paris", "\"", "!"]);
        assert_eq!(tokens("wait..."), ["wait", "..."]);
        assert_eq!(tokens("$100"), ["$", "100"]);
        assert_eq!(tokens("5km"), ["5", "km"]);
        assert_eq!(tokens("end."), ["end", "."]);
        assert_eq!(tokens("‘Êraq"), ["‘", "Êraq"]);
    }

    #[test]
    fn special_cases_are_merged_after_splitting() {
        assert_eq!(tokens("Co.Ltd. Beer"), ["Co.", "Ltd.", "Beer"]);
        assert_eq!(tokens("St.Louis"), ["St.", "Louis"]);
        assert_eq!(
            tokens("(Part 1): Dreams"),
            ["(", "Part", "1", "):", "Dreams"]
        );
        assert_eq!(
            tokens("(Part 1) : Dreams"),
            ["(", "Part", "1", ")", ":", "Dreams"]
        );
    }

    #[test]
    fn whitespace_follows_spacy() {
        assert_eq!(tokens(""), Vec::<&str>::new());
        assert_eq!(tokens("a b"), ["a", "b"]);
        assert_eq!(tokens("a  b"), ["a", " ", "b"]);
        assert_eq!(tokens("a\nb"), ["a", "\n", "b"]);
        assert_eq!(tokens(" a"), [" ", "a"]);
        assert_eq!(tokens("a "), ["a"]);
    }

    #[test]
    fn urls_stay_whole() {
        assert_eq!(
            tokens("see en.wikipedia.org/wiki/Paris"),
            ["see", "en.wikipedia.org/wiki/Paris"]
        );
        assert!(looks_like_url("https://example.com:8080/a?b#c"));
        assert!(!looks_like_url("U.S.A"));
        assert!(!looks_like_url("e.g"));
    }

    #[test]
    fn english_data_loads() {
        let tokenizer = tokenizer();
        assert!(tokenizer.specials.len() > 1000);
        assert!(tokenizer.alpha.contains('é') && !tokenizer.alpha.contains('1'));
    }

    proptest! {
        /// Tokens are pieces of the text, in order, and together with the
        /// dropped single spaces they rebuild it.
        #[test]
        fn tokens_cover_the_text(text in "[ a-zA-Z0-9.,'/&()\\-:!?\"$é…]{0,40}") {
            let pieces = tokens(&text);
            let mut rest = text.as_str();
            for piece in &pieces {
                prop_assert!(!piece.is_empty());
                let trimmed = rest.strip_prefix(' ').filter(|_| !rest.starts_with(piece)).unwrap_or(rest);
                prop_assert!(trimmed.starts_with(piece), "{:?} not at {:?}", piece, trimmed);
                rest = &trimmed[piece.len()..];
            }
            prop_assert!(rest.is_empty() || rest == " ", "left over {:?}", rest);
        }
    }
}
