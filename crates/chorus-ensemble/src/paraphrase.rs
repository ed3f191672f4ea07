//! WebQuestions paraphrase generation (docs/DESIGN.md, "Paraphrase generation"): the model rewrites
//! each question in `rounds` sampled rounds; round `i` shows the `i`-th example
//! paraphrases and samples with seed `sampling.seed + i` (the pipeline's seed is
//! the round index, i.e. `sampling.seed = 0`).

use chorus_data::Item;
use chorus_llama::Kernels;
use chorus_prompt::paraphrase_generation_prompt;
use serde_json::{Map, Value};

use crate::config::SamplingConfig;
use crate::engine::Engine;
use crate::error::EnsembleError;

/// One WebQuestions JSONL row per item: the item's own fields (`uuid`, `qid`,
/// `question`, `answers`, ...) plus `"paraphrases"`: the original question at
/// index 0, then one sampled paraphrase per round. chorus-data's WebQuestions
/// loader reads these rows back.
///
/// A round whose sample is empty (the model ended the line at once) falls back to
/// the original question, with a warning, so that no prompt asks an empty question.
pub fn generate_paraphrases<K: Kernels>(
    engine: &Engine<K>,
    items: &[Item],
    rounds: usize,
    sampling: &SamplingConfig,
) -> Result<Vec<Map<String, Value>>, EnsembleError> {
    generate_paraphrases_with_progress(engine, items, rounds, sampling, &mut |_| {})
}

/// [`generate_paraphrases`], calling `progress` with the number of prompts
/// sampled after every batch (`rounds × items` in all).
pub fn generate_paraphrases_with_progress<K: Kernels>(
    engine: &Engine<K>,
    items: &[Item],
    rounds: usize,
    sampling: &SamplingConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Map<String, Value>>, EnsembleError> {
    let originals: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.question()
                .map(str::to_owned)
                .ok_or(EnsembleError::NoParaphrases { item_index: index })
        })
        .collect::<Result<_, _>>()?;
    let mut paraphrases: Vec<Vec<String>> = originals.iter().map(|q| vec![q.clone()]).collect();
    for round in 0..rounds {
        let prompts = originals
            .iter()
            .map(|q| paraphrase_generation_prompt(q, round))
            .collect::<Result<Vec<_>, _>>()?;
        let config = SamplingConfig {
            seed: sampling.seed.wrapping_add(round as u64),
            ..*sampling
        };
        let samples = engine.sample_with_progress(&prompts, &config, progress)?;
        for ((item, list), sample) in items.iter().zip(&mut paraphrases).zip(samples) {
            if sample.is_empty() {
                tracing::warn!(uuid = %item.uuid, round, "empty paraphrase sampled; keeping the original question");
                list.push(list[0].clone());
            } else {
                list.push(sample);
            }
        }
        tracing::info!(round, rounds, items = items.len(), "paraphrase round done");
    }
    Ok(items
        .iter()
        .zip(paraphrases)
        .map(|(item, list)| row(item, list))
        .collect())
}

fn row(item: &Item, paraphrases: Vec<String>) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("uuid".into(), Value::from(item.uuid.clone()));
    for (key, value) in &item.meta.fields {
        row.insert(key.clone(), value.clone());
    }
    row.entry("question")
        .or_insert_with(|| Value::from(paraphrases[0].clone()));
    row.insert("answers".into(), Value::from(item.answers.clone()));
    row.insert("paraphrases".into(), Value::from(paraphrases));
    row
}
