//! The ensemble methods as strategies behind one trait.
//!
//! A strategy says (1) which rows to encode for a question and how they group
//! into answers ([`Strategy::plan`]), and (2) how a group's rows' next-token
//! logits become the one score vector the token is chosen from
//! ([`Strategy::fusion`], a description the model's kernels run where the
//! logits are). The decoding loop ([`crate::Engine`]) knows nothing else about
//! methods: adding one means adding a type here.

use chorus_llama::Fusion;

use crate::answer::Question;
use crate::config::{FlexConfig, Method};
use crate::error::EnsembleError;
use crate::rows::{Prompter, RowPlan};
use crate::score;

/// Rows fused into one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    /// The paraphrase answered, for methods answering paraphrases one by one.
    pub paraphrase_index: Option<usize>,
    /// The paraphrases this answer is about.
    pub paraphrases: Vec<String>,
    /// Prompt texts reported in the answer.
    pub prompts: Vec<String>,
    /// The rows to encode; every chosen token is appended to all of them.
    pub rows: Vec<RowPlan>,
}

/// An ensemble method (`Sync`: batches are planned on every core).
pub trait Strategy: Sync {
    /// The method's name, for logs.
    fn name(&self) -> &'static str;

    /// The answer groups of one question. By default one group of every
    /// paraphrase's prompt, each its own row, fused at every step (the
    /// logit-level ensembles).
    fn plan(
        &self,
        question: &Question,
        prompter: &Prompter<'_>,
    ) -> Result<Vec<GroupPlan>, EnsembleError> {
        fused_group(question, prompter)
    }

    /// How a group's rows of logits (`rows`: their indices among a step's
    /// logits, in plan order) are fused into the scores its next token is
    /// chosen from. `confidences` (one per row) are given exactly when
    /// [`Strategy::needs_confidences`] is true.
    fn fusion(&self, rows: Vec<usize>, confidences: Option<&[f64]>) -> Fusion;

    /// Whether [`Strategy::fusion`] needs per-row confidences: the engine then
    /// first decodes every row alone (from the same prompt encoding) and passes
    /// the mean probability of each row's own greedy tokens.
    fn needs_confidences(&self) -> bool {
        false
    }
}

/// The strategy of a method.
pub fn strategy_for(method: Method, flex: &FlexConfig) -> Box<dyn Strategy> {
    match method {
        Method::Origin => Box::new(Origin),
        Method::PerPrompt => Box::new(PerPrompt),
        Method::Avg => Box::new(Avg),
        Method::Max => Box::new(Max),
        Method::WeightedAvg => Box::new(WeightedAvg),
        Method::WeightedMax => Box::new(WeightedMax),
        Method::Flex => Box::new(Flex { config: *flex }),
    }
}

fn paraphrases(question: &Question) -> Result<&[String], EnsembleError> {
    if question.paraphrases.is_empty() {
        Err(EnsembleError::NoParaphrases {
            item_index: question.item_index,
        })
    } else {
        Ok(&question.paraphrases)
    }
}

/// One group per paraphrase in `indices`, each its standard prompt alone.
fn solo_groups(
    question: &Question,
    prompter: &Prompter<'_>,
    indices: impl Iterator<Item = usize>,
) -> Result<Vec<GroupPlan>, EnsembleError> {
    let all = paraphrases(question)?;
    indices
        .map(|i| {
            Ok(GroupPlan {
                paraphrase_index: Some(i),
                paraphrases: vec![all[i].clone()],
                prompts: vec![prompter.standard_text(&all[i])],
                rows: vec![prompter.standard_row(question.item_index, &all[i])?],
            })
        })
        .collect()
}

/// One group holding every paraphrase's standard prompt as its own row.
fn fused_group(
    question: &Question,
    prompter: &Prompter<'_>,
) -> Result<Vec<GroupPlan>, EnsembleError> {
    let all = paraphrases(question)?;
    let rows = all
        .iter()
        .map(|p| prompter.standard_row(question.item_index, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![GroupPlan {
        paraphrase_index: None,
        paraphrases: all.to_vec(),
        prompts: all.iter().map(|p| prompter.standard_text(p)).collect(),
        rows,
    }])
}

fn only_row(rows: Vec<usize>) -> Fusion {
    Fusion::Row(rows.first().copied().unwrap_or(0))
}

/// `origin`: paraphrase 0 only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin;

impl Strategy for Origin {
    fn name(&self) -> &'static str {
        "origin"
    }
    fn plan(
        &self,
        question: &Question,
        prompter: &Prompter<'_>,
    ) -> Result<Vec<GroupPlan>, EnsembleError> {
        solo_groups(question, prompter, 0..1)
    }
    fn fusion(&self, rows: Vec<usize>, _: Option<&[f64]>) -> Fusion {
        only_row(rows)
    }
}

/// `per_prompt`: every paraphrase alone; rows stop independently.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerPrompt;

impl Strategy for PerPrompt {
    fn name(&self) -> &'static str {
        "per_prompt"
    }
    fn plan(
        &self,
        question: &Question,
        prompter: &Prompter<'_>,
    ) -> Result<Vec<GroupPlan>, EnsembleError> {
        solo_groups(question, prompter, 0..paraphrases(question)?.len())
    }
    fn fusion(&self, rows: Vec<usize>, _: Option<&[f64]>) -> Fusion {
        only_row(rows)
    }
}

/// `avg`: mean of the paraphrases' logits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Avg;

impl Strategy for Avg {
    fn name(&self) -> &'static str {
        "avg"
    }
    fn fusion(&self, rows: Vec<usize>, _: Option<&[f64]>) -> Fusion {
        Fusion::Mean(rows)
    }
}

/// `max`: element-wise maximum of the paraphrases' probabilities.
#[derive(Debug, Clone, Copy, Default)]
pub struct Max;

impl Strategy for Max {
    fn name(&self) -> &'static str {
        "max"
    }
    fn fusion(&self, rows: Vec<usize>, _: Option<&[f64]>) -> Fusion {
        Fusion::MaxProbability(rows)
    }
}

/// `weighted_avg`: logits weighted by normalised confidences.
#[derive(Debug, Clone, Copy, Default)]
pub struct WeightedAvg;

impl Strategy for WeightedAvg {
    fn name(&self) -> &'static str {
        "weighted_avg"
    }
    fn fusion(&self, rows: Vec<usize>, confidences: Option<&[f64]>) -> Fusion {
        match confidences {
            Some(weights) => Fusion::WeightedMean {
                rows,
                weights: weights.to_vec(),
            },
            None => Fusion::Mean(rows),
        }
    }
    fn needs_confidences(&self) -> bool {
        true
    }
}

/// `weighted_max`: the logits of the most confident paraphrase.
#[derive(Debug, Clone, Copy, Default)]
pub struct WeightedMax;

impl Strategy for WeightedMax {
    fn name(&self) -> &'static str {
        "weighted_max"
    }
    fn fusion(&self, rows: Vec<usize>, confidences: Option<&[f64]>) -> Fusion {
        let best = confidences.map_or(0, score::most_confident);
        Fusion::Row(rows.get(best).or(rows.first()).copied().unwrap_or(0))
    }
    fn needs_confidences(&self) -> bool {
        true
    }
}

/// `flex`: all paraphrases packed into one row; fusion happens in attention.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flex {
    /// Positions, sharing, mask and first-token fusion.
    pub config: FlexConfig,
}

impl Strategy for Flex {
    fn name(&self) -> &'static str {
        "flex"
    }
    fn plan(
        &self,
        question: &Question,
        prompter: &Prompter<'_>,
    ) -> Result<Vec<GroupPlan>, EnsembleError> {
        let all = paraphrases(question)?;
        let packed = prompter.packed_row(question.item_index, all, &self.config)?;
        Ok(vec![GroupPlan {
            paraphrase_index: None,
            paraphrases: all.to_vec(),
            prompts: packed.segment_texts,
            rows: vec![packed.row],
        }])
    }
    fn fusion(&self, rows: Vec<usize>, _: Option<&[f64]>) -> Fusion {
        only_row(rows)
    }
}
