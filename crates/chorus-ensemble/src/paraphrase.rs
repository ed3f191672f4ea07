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
    let sampled = (0..rounds)
        .map(|round| paraphrase_round(engine, items, round, sampling, progress))
        .collect::<Result<Vec<_>, _>>()?;
    paraphrase_rows(items, &sampled)
}

/// One round of [`generate_paraphrases`]: a paraphrase per item, in item order,
/// sampled with the round-`round` prompt and seed `sampling.seed + round`. A
/// round depends on nothing but its inputs, so a run can keep finished rounds
/// and resume at the next one.
pub fn paraphrase_round<K: Kernels>(
    engine: &Engine<K>,
    items: &[Item],
    round: usize,
    sampling: &SamplingConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<String>, EnsembleError> {
    let originals = questions(items)?;
    let prompts = originals
        .iter()
        .map(|q| paraphrase_generation_prompt(q, round))
        .collect::<Result<Vec<_>, _>>()?;
    let config = SamplingConfig {
        seed: sampling.seed.wrapping_add(round as u64),
        ..*sampling
    };
    let samples = engine.sample_with_progress(&prompts, &config, progress)?;
    let paraphrases = items
        .iter()
        .zip(originals)
        .zip(samples)
        .map(|((item, original), sample)| {
            if sample.is_empty() {
                tracing::warn!(uuid = %item.uuid, round, "empty paraphrase sampled; keeping the original question");
                original.to_owned()
            } else {
                sample
            }
        })
        .collect();
    tracing::info!(round, items = items.len(), "paraphrase round done");
    Ok(paraphrases)
}

/// The output rows of [`generate_paraphrases`] from the rounds' paraphrases
/// (`rounds[r][i]`: item `i`'s paraphrase of round `r`).
pub fn paraphrase_rows(
    items: &[Item],
    rounds: &[Vec<String>],
) -> Result<Vec<Map<String, Value>>, EnsembleError> {
    let originals = questions(items)?;
    if let Some((round, sampled)) = rounds
        .iter()
        .enumerate()
        .find(|(_, sampled)| sampled.len() != items.len())
    {
        return Err(EnsembleError::RoundLength {
            round,
            paraphrases: sampled.len(),
            items: items.len(),
        });
    }
    Ok(items
        .iter()
        .zip(originals)
        .enumerate()
        .map(|(index, (item, original))| {
            let paraphrases = std::iter::once(original.to_owned())
                .chain(rounds.iter().map(|round| round[index].clone()))
                .collect();
            row(item, paraphrases)
        })
        .collect())
}

/// Every item's question, or the index of the first item without one.
fn questions(items: &[Item]) -> Result<Vec<&str>, EnsembleError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.question()
                .ok_or(EnsembleError::NoParaphrases { item_index: index })
        })
        .collect()
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
