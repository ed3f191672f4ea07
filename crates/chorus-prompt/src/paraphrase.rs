//! The prompt the Python pipeline used to generate WebQuestions paraphrases.
//!
//! Round `i` (0..5) shows five fixed example questions, each with its `i`-th
//! hand-written paraphrase, and produced the dataset's `paraphrase{i+1}` column
//! (sampled with temperature 1.5, top-p 0.9, 30 new tokens, seed `i`). The text is
//! reproduced byte for byte, including the instruction's leading newline and
//! trailing `"\n    "` that came from a Python triple-quoted string.

use crate::error::PromptError;

/// The number of generation rounds (paraphrases per example).
pub const PARAPHRASE_ROUNDS: usize = 5;

const INSTRUCTION: &str = "\nParaphrase the following question. Keep the original meaning, but use a \
different sentence structure and vocabulary. Aim to make the paraphrase sound natural and diverse.\n    ";

/// The example questions and their paraphrase for each round.
const EXAMPLES: [(&str, [&str; PARAPHRASE_ROUNDS]); 5] = [
    (
        "who is the governor of hawaii now?",
        [
            "as of now, who leads Hawaii as its governor?",
            "who's currently serving as Hawaii's governor?",
            "can you tell me who governs Hawaii right now?",
            "who\u{2019}s in charge of the Hawaii state government these days?",
            "who\u{2019}s the top executive official in Hawaii right now?",
        ],
    ),
    (
        "what was nelson mandela's religion?",
        [
            "what was Mandela\u{2019}s faith tradition",
            "can you tell me Mandela\u{2019}s religion?",
            "what faith did Nelson Mandela practice?",
            "what was the religious affiliation of Nelson Mandela?",
            "what religion did Nelson Mandela follow?",
        ],
    ),
    (
        "who played sean in scrubs?",
        [
            "which actor portrayed Sean in Scrubs?",
            "who took on the role of Sean in Scrubs?",
            "who played the character Sean in the TV show Scrubs?",
            "who was the actor that played Sean in the series Scrubs?",
            "do you know who played the part of Sean in Scrubs?",
        ],
    ),
    (
        "what political party was henry clay?",
        [
            "Henry Clay was a member of which political party?",
            "to which party did Henry Clay pledge his allegiance?",
            "what political affiliation did Henry Clay have?",
            "under which political banner did Henry Clay serve?",
            "where did Henry Clay stand on the political party map?",
        ],
    ),
    (
        "who are iran's major trading partners?",
        [
            "who does Iran trade with the most?",
            "who are the primary countries doing business with Iran?",
            "what are Iran\u{2019}s strongest trade relationships?",
            "which countries top the list of Iran\u{2019}s key trade allies?",
            "which countries are central to Iran\u{2019}s import and export network?",
        ],
    ),
];

/// The paraphrase-generation prompt for `question` in round `round` (0-based):
/// `{instruction}\n` + examples `Q: {q}\nParaphrase: {p}` joined by `\n\n` +
/// `\n\nQ: {question}\nParaphrase:`.
pub fn paraphrase_generation_prompt(question: &str, round: usize) -> Result<String, PromptError> {
    if round >= PARAPHRASE_ROUNDS {
        return Err(PromptError::Round {
            round,
            rounds: PARAPHRASE_ROUNDS,
        });
    }
    let examples: Vec<String> = EXAMPLES
        .iter()
        .map(|(q, paraphrases)| format!("Q: {q}\nParaphrase: {}", paraphrases[round]))
        .collect();
    Ok(format!(
        "{INSTRUCTION}\n{}\n\nQ: {question}\nParaphrase:",
        examples.join("\n\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_zero_is_the_pipeline_string() {
        let expected = "\nParaphrase the following question. Keep the original meaning, but use a different \
sentence structure and vocabulary. Aim to make the paraphrase sound natural and diverse.\n    \n\
Q: who is the governor of hawaii now?\nParaphrase: as of now, who leads Hawaii as its governor?\n\n\
Q: what was nelson mandela's religion?\nParaphrase: what was Mandela\u{2019}s faith tradition\n\n\
Q: who played sean in scrubs?\nParaphrase: which actor portrayed Sean in Scrubs?\n\n\
Q: what political party was henry clay?\nParaphrase: Henry Clay was a member of which political party?\n\n\
Q: who are iran's major trading partners?\nParaphrase: who does Iran trade with the most?\n\n\
Q: what does jamaican people speak?\nParaphrase:";
        assert_eq!(
            paraphrase_generation_prompt("what does jamaican people speak?", 0).unwrap(),
            expected
        );
    }

    #[test]
    fn each_round_uses_its_own_paraphrase_of_every_example() {
        for round in 0..PARAPHRASE_ROUNDS {
            let prompt = paraphrase_generation_prompt("q?", round).unwrap();
            for (question, paraphrases) in EXAMPLES {
                assert!(prompt.contains(&format!(
                    "Q: {question}\nParaphrase: {}\n",
                    paraphrases[round]
                )));
            }
            assert!(prompt.ends_with("\n\nQ: q?\nParaphrase:"));
        }
    }

    #[test]
    fn rounds_beyond_the_examples_are_rejected() {
        let err = paraphrase_generation_prompt("q", PARAPHRASE_ROUNDS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "paraphrase-generation round 5 out of range (rounds 0..5)"
        );
    }
}
