//! What the benchmarks share.

use chorus_ensemble::Question;
use chorus_prompt::PromptContext;

/// The golden WebQuestions items: prompt context and questions.
pub fn webqa(limit: usize) -> (PromptContext, Vec<Question>) {
    let mut rows = chorus_llama::testing::golden_records("webqa.items.jsonl");
    rows.truncate(limit);
    let context = PromptContext::from_rendered(
        rows[0]["instruction"].as_str().unwrap(),
        rows[0]["few_shot"].as_str().unwrap(),
    )
    .unwrap();
    let questions = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let paraphrases = r["paraphrases"].as_array().unwrap();
            Question::new(
                i,
                paraphrases
                    .iter()
                    .map(|p| p.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    (context, questions)
}
