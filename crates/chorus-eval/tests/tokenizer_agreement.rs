//! Agreement with `spacy.blank("en")`'s tokenizer on
//! `data/lemmas/spacy_tokens_dev.jsonl` (questions, paraphrases, answers and
//! generations from the repository's data, plus hand-picked hard cases; made
//! by `scripts/build-lemma-table.py --tokens`). `CHORUS_SPACY_TOKENS` may
//! name another file in the same format.

use chorus_eval::Tokenizer;

const DEFAULT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/lemmas/spacy_tokens_dev.jsonl"
);

#[test]
fn tokens_agree_with_spacy() {
    let path = std::env::var("CHORUS_SPACY_TOKENS").unwrap_or_else(|_| DEFAULT.to_owned());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let tokenizer = Tokenizer::english().unwrap();
    let (mut same, mut total) = (0usize, 0usize);
    let mut differences = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}:{}: {e}", index + 1));
        let input = value["text"].as_str().expect("text");
        let expected: Vec<&str> = value["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|t| t.as_str().expect("token"))
            .collect();
        let got = tokenizer.tokenize(input);
        total += 1;
        if got == expected {
            same += 1;
        } else {
            differences.push(format!("{input:?}: got {got:?}, spaCy {expected:?}"));
        }
    }
    println!("tokenizations equal to spaCy's: {same}/{total}");
    for line in differences.iter().take(50) {
        println!("  {line}");
    }
    assert!(total > 0, "{path} is empty");
    assert!(
        differences.is_empty(),
        "{} of {total} strings tokenized differently from spaCy",
        differences.len()
    );
}
