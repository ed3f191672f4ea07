//! The lemma-level partial-match metric.
//!
//! A prediction is correct when, for some answer, the answer's lemma sequence
//! occurs as a contiguous run in the prediction's, or (bidirectional, the
//! default) the prediction's occurs in the answer's. An empty prediction is
//! wrong; [`MatchOptions::anchor_compat`] restores the Python pipeline's
//! behaviour, where the empty run "occurs" in every answer.

use serde::Serialize;

/// How predictions are matched against answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MatchOptions {
    /// Also accept a prediction that occurs inside an answer.
    pub bidirectional: bool,
    /// Reproduce the Python quirk: an empty prediction (or an empty answer)
    /// matches everything.
    pub anchor_compat: bool,
}

impl Default for MatchOptions {
    /// Bidirectional, empty predictions wrong.
    fn default() -> Self {
        Self {
            bidirectional: true,
            anchor_compat: false,
        }
    }
}

/// Whether `needle` occurs in `haystack` as a contiguous run. The empty run
/// occurs everywhere.
pub fn contains_run<S: AsRef<str>, T: AsRef<str>>(haystack: &[S], needle: &[T]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > haystack.len() {
        return false;
    }
    haystack.windows(needle.len()).any(|window| {
        window
            .iter()
            .zip(needle)
            .all(|(a, b)| a.as_ref() == b.as_ref())
    })
}

/// Whether the prediction's lemmas match any answer's lemmas.
pub fn is_correct<S, A, T>(
    prediction_lemmas: &[S],
    answer_lemmas: &[A],
    options: MatchOptions,
) -> bool
where
    S: AsRef<str>,
    A: AsRef<[T]>,
    T: AsRef<str>,
{
    if prediction_lemmas.is_empty() && !options.anchor_compat {
        return false;
    }
    answer_lemmas.iter().any(|answer| {
        let answer = answer.as_ref();
        if answer.is_empty() && !options.anchor_compat {
            return false;
        }
        contains_run(prediction_lemmas, answer)
            || (options.bidirectional && contains_run(answer, prediction_lemmas))
    })
}

/// Whether a token (or lemma) is punctuation or whitespace: every character
/// is whitespace or Unicode punctuation (general category P*; for non-ASCII
/// characters the common punctuation blocks are used).
pub fn is_punctuation_or_space(token: &str) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_whitespace() || is_punctuation_char(c))
}

fn is_punctuation_char(c: char) -> bool {
    if c.is_ascii() {
        // ASCII punctuation minus the symbols $ + < = > ^ ` | ~ (categories S*).
        return c.is_ascii_punctuation()
            && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~');
    }
    matches!(c,
        '¡' | '§' | '«' | '¶' | '·' | '»' | '¿' | '\u{037E}' | '\u{0387}'
        | '\u{2010}'..='\u{2027}'
        | '\u{2030}'..='\u{2043}'
        | '\u{2045}'..='\u{2051}'
        | '\u{2053}'..='\u{205E}'
        | '\u{2E00}'..='\u{2E4F}'
        | '\u{3001}'..='\u{3003}'
        | '\u{3008}'..='\u{3011}'
        | '\u{3014}'..='\u{301F}'
        | '\u{FF01}'..='\u{FF03}'
        | '\u{FF05}'..='\u{FF0A}'
        | '\u{FF0C}'..='\u{FF0F}'
        | '\u{FF1A}' | '\u{FF1B}' | '\u{FF1F}' | '\u{FF20}'
        | '\u{FF3B}'..='\u{FF3D}'
        | '\u{FF5B}' | '\u{FF5D}'
        | '\u{060C}' | '\u{061B}' | '\u{061F}' | '\u{066A}'..='\u{066D}' | '\u{06D4}'
        | '\u{0964}' | '\u{0965}'
    )
}

/// The lemmas before the first punctuation or whitespace token: the
/// "take until punctuation" variant for raw generations (`" Paris, France"`
/// counts as `paris`).
pub fn cut_at_punctuation<S: AsRef<str>>(lemmas: &[S]) -> &[S] {
    let end = lemmas
        .iter()
        .position(|lemma| is_punctuation_or_space(lemma.as_ref()))
        .unwrap_or(lemmas.len());
    &lemmas[..end]
}

/// One scored row: the prediction's lemmas and every answer's lemmas.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LemmaRow {
    /// Lemmas of the prediction.
    pub prediction: Vec<String>,
    /// Lemmas of each answer.
    pub answers: Vec<Vec<String>>,
}

/// Accuracy over a set of rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AccuracyReport {
    /// Rows judged correct.
    pub correct: usize,
    /// Rows scored.
    pub total: usize,
    /// Rows whose prediction has no lemma (wrong unless `anchor_compat`).
    pub empty: usize,
    /// `correct / total` (0 when there are no rows).
    pub accuracy: f64,
}

/// Scores every row and counts empty predictions.
pub fn accuracy<'a, I>(rows: I, options: MatchOptions) -> AccuracyReport
where
    I: IntoIterator<Item = &'a LemmaRow>,
{
    let (mut correct, mut total, mut empty) = (0, 0, 0);
    for row in rows {
        total += 1;
        empty += usize::from(row.prediction.is_empty());
        correct += usize::from(is_correct(&row.prediction, &row.answers, options));
    }
    let accuracy = if total == 0 {
        0.0
    } else {
        correct as f64 / total as f64
    };
    AccuracyReport {
        correct,
        total,
        empty,
        accuracy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    const BOTH: MatchOptions = MatchOptions {
        bidirectional: true,
        anchor_compat: false,
    };
    const ONE_WAY: MatchOptions = MatchOptions {
        bidirectional: false,
        anchor_compat: false,
    };

    #[test]
    fn answer_inside_prediction_matches_both_ways() {
        let answers = [words("paris")];
        assert!(is_correct(&words("it be paris"), &answers, ONE_WAY));
        assert!(is_correct(&words("it be paris"), &answers, BOTH));
    }

    #[test]
    fn prediction_inside_answer_needs_bidirectional() {
        let answers = [words("new york city")];
        assert!(!is_correct(&words("york"), &answers, ONE_WAY));
        assert!(is_correct(&words("york"), &answers, BOTH));
    }

    #[test]
    fn multi_token_answers_must_be_contiguous() {
        let answers = [words("united states")];
        assert!(is_correct(
            &words("the united states of america"),
            &answers,
            ONE_WAY
        ));
        assert!(!is_correct(
            &words("united kingdom and states"),
            &answers,
            BOTH
        ));
        assert!(!is_correct(&words("states united"), &answers, BOTH));
    }

    #[test]
    fn any_answer_suffices() {
        let answers = [words("usa"), words("united states")];
        assert!(is_correct(&words("united states"), &answers, ONE_WAY));
        assert!(!is_correct(&words("canada"), &answers, BOTH));
        assert!(!is_correct(&words("canada"), &[] as &[Vec<String>], BOTH));
    }

    #[test]
    fn empty_prediction_is_wrong_unless_anchor_compat() {
        let answers = [words("paris")];
        let empty: Vec<String> = Vec::new();
        assert!(!is_correct(&empty, &answers, BOTH));
        let compat = MatchOptions {
            anchor_compat: true,
            ..BOTH
        };
        assert!(is_correct(&empty, &answers, compat));
        // One-way, the answer must occur in the (empty) prediction: it does not.
        assert!(!is_correct(
            &empty,
            &answers,
            MatchOptions {
                bidirectional: false,
                ..compat
            }
        ));
    }

    #[test]
    fn empty_answer_matches_only_with_anchor_compat() {
        let answers = [Vec::<String>::new()];
        assert!(!is_correct(&words("paris"), &answers, BOTH));
        let compat = MatchOptions {
            anchor_compat: true,
            ..BOTH
        };
        assert!(is_correct(&words("paris"), &answers, compat));
    }

    #[test]
    fn punctuation_cut_keeps_the_first_phrase() {
        let lemmas = ["paris", ",", "france"];
        assert_eq!(cut_at_punctuation(&lemmas), ["paris"]);
        assert_eq!(
            cut_at_punctuation(&["new", "york", "\n", "q"]),
            ["new", "york"]
        );
        assert_eq!(cut_at_punctuation(&[".", "paris"]), [] as [&str; 0]);
        assert_eq!(cut_at_punctuation(&["$", "5"]), ["$", "5"]);
        assert_eq!(cut_at_punctuation(&["a", "—", "b"]), ["a"]);
        assert_eq!(cut_at_punctuation::<&str>(&[]), [] as [&str; 0]);
    }

    #[test]
    fn accuracy_counts_empty_predictions() {
        let rows = vec![
            LemmaRow {
                prediction: words("paris"),
                answers: vec![words("paris")],
            },
            LemmaRow {
                prediction: words(""),
                answers: vec![words("rome")],
            },
            LemmaRow {
                prediction: words("berlin"),
                answers: vec![words("bonn")],
            },
            LemmaRow {
                prediction: words("the city of rome"),
                answers: vec![words("rome")],
            },
        ];
        let report = accuracy(&rows, BOTH);
        assert_eq!((report.correct, report.total, report.empty), (2, 4, 1));
        assert!((report.accuracy - 0.5).abs() < 1e-12);
        let compat = accuracy(
            &rows,
            MatchOptions {
                anchor_compat: true,
                ..BOTH
            },
        );
        assert_eq!((compat.correct, compat.empty), (3, 1));
        assert_eq!(accuracy(&[], BOTH).accuracy, 0.0);
    }

    fn lemma_seq() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-c]{1,2}", 0..6)
    }

    proptest! {
        #[test]
        fn a_prediction_matches_itself(p in lemma_seq()) {
            let expected = !p.is_empty();
            prop_assert_eq!(is_correct(&p, std::slice::from_ref(&p), ONE_WAY), expected);
            prop_assert_eq!(is_correct(&p, std::slice::from_ref(&p), BOTH), expected);
        }

        #[test]
        fn bidirectional_is_symmetric(p in lemma_seq(), a in lemma_seq()) {
            prop_assert_eq!(
                is_correct(&p, std::slice::from_ref(&a), BOTH),
                is_correct(&a, std::slice::from_ref(&p), BOTH)
            );
        }

        #[test]
        fn anchor_compat_only_changes_empty_cases(p in lemma_seq(), a in lemma_seq()) {
            let compat = MatchOptions { anchor_compat: true, ..BOTH };
            if !p.is_empty() && !a.is_empty() {
                prop_assert_eq!(
                    is_correct(&p, std::slice::from_ref(&a), BOTH),
                    is_correct(&p, std::slice::from_ref(&a), compat)
                );
            } else {
                prop_assert!(is_correct(&p, std::slice::from_ref(&a), compat));
            }
        }

        #[test]
        fn one_way_implies_bidirectional(p in lemma_seq(), a in lemma_seq()) {
            if is_correct(&p, std::slice::from_ref(&a), ONE_WAY) {
                prop_assert!(is_correct(&p, std::slice::from_ref(&a), BOTH));
            }
        }

        #[test]
        fn extending_a_prediction_keeps_one_way_matches(
            p in lemma_seq(), a in lemma_seq(), before in lemma_seq(), after in lemma_seq()
        ) {
            if is_correct(&p, std::slice::from_ref(&a), ONE_WAY) {
                let longer: Vec<String> = before.iter().chain(&p).chain(&after).cloned().collect();
                prop_assert!(is_correct(&longer, std::slice::from_ref(&a), ONE_WAY));
            }
        }

        #[test]
        fn cut_is_a_punctuation_free_prefix(p in prop::collection::vec("[a-b,.]{1,2}", 0..6)) {
            let cut = cut_at_punctuation(&p);
            prop_assert!(p.starts_with(cut));
            prop_assert!(cut.iter().all(|l| !is_punctuation_or_space(l)));
        }
    }
}
