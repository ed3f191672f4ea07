//! Agreement with spaCy en_core_web_lg on `data/lemmas/spacy_lg_dev.jsonl`:
//! the share of dev strings whose whole lemma sequence equals spaCy's.

use chorus_eval::Lemmatizer;

const DEV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/lemmas/spacy_lg_dev.jsonl"
);

fn dev_set() -> Vec<(String, Vec<String>)> {
    let text =
        std::fs::read_to_string(DEV).expect("data/lemmas/spacy_lg_dev.jsonl is in the repository");
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{DEV}:{}: {e}", index + 1));
            let text = value["text"].as_str().expect("text").to_owned();
            let lemmas = value["lemmas"]
                .as_array()
                .expect("lemmas")
                .iter()
                .map(|l| l.as_str().expect("lemma").to_owned())
                .collect();
            (text, lemmas)
        })
        .collect()
}

#[test]
fn lemma_sequences_agree_with_spacy_on_the_dev_set() {
    let lemmatizer = Lemmatizer::english().unwrap();
    let dev = dev_set();
    let mut same = 0;
    let mut same_tokens = 0;
    let mut mismatches = Vec::new();
    for (text, expected) in &dev {
        let got = lemmatizer.lemmas(text);
        same_tokens += usize::from(got.len() == expected.len());
        if &got == expected {
            same += 1;
        } else {
            mismatches.push(format!("{text:?}: got {got:?}, spaCy {expected:?}"));
        }
    }
    let share = same as f64 / dev.len() as f64;
    println!(
        "lemma sequences equal to spaCy's: {same}/{} = {:.2}% (token counts equal: {same_tokens})",
        dev.len(),
        100.0 * share
    );
    for line in &mismatches {
        println!("  {line}");
    }
    assert_eq!(same_tokens, dev.len(), "tokenization differs from spaCy's");
    assert!(
        share >= 0.98,
        "agreement {:.2}% is below 98%",
        100.0 * share
    );
}
