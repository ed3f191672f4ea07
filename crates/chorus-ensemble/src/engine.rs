//! The decoding engine: batched prefill with left padding expressed through masks,
//! then one forward pass per step over a KV cache, feeding only the new token.

use std::borrow::Cow;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use chorus_llama::{AttentionMask, ForwardInput, KvCache, Llama, Tokenizer};
use chorus_mask::{DenseBias, DenseMask};
use chorus_prompt::PromptContext;

use crate::answer::{Answer, Question, StopReason};
use crate::config::{DecodeConfig, FlexConfig, Method, SamplingConfig};
use crate::error::EnsembleError;
use crate::rows::{Prompter, RowPlan};
use crate::sampling::{self, Rng};
use crate::score::{self, Choice};
use crate::strategy::{GroupPlan, Strategy, strategy_for};

/// One step's scores, kept for diagnostics by [`Engine::trace`].
pub type StepTopK = Vec<(u32, f32)>;

/// An answer with the top-k of the score it was chosen from at every step.
#[derive(Debug, Clone, PartialEq)]
pub struct TracedAnswer {
    /// The answer.
    pub answer: Answer,
    /// Per step, the `k` best `(token, score)` pairs (logits; probabilities for `max`).
    pub steps: Vec<StepTopK>,
}

/// Greedy paraphrase-ensemble decoding over a Llama model.
#[derive(Debug)]
pub struct Engine<B: Backend> {
    model: Arc<Llama<B>>,
    tokenizer: Tokenizer,
    context: PromptContext,
    decode: DecodeConfig,
    /// Per token id: whether its text contains a newline (the stop rule).
    newline: Vec<bool>,
    /// Token id placed in padding slots (never attended to).
    pad_id: u32,
}

/// What decoding produced for one group.
#[derive(Debug, Clone, Default)]
struct Decoded {
    ids: Vec<u32>,
    margins: Vec<f32>,
    stop: Option<StopReason>,
    /// Probability of each chosen token under its row's own logits (single-row groups).
    probabilities: Vec<f64>,
    steps: Vec<StepTopK>,
}

/// A chooser's decision for one group at one step.
#[derive(Debug, Clone)]
struct Chosen {
    choice: Choice,
    /// Top-k of the score it was chosen from (empty unless tracing).
    top: StepTopK,
    /// Probability of the token under the (single) row's logits, when asked for.
    probability: Option<f64>,
}

impl Chosen {
    fn plain(choice: Choice) -> Self {
        Self {
            choice,
            top: Vec::new(),
            probability: None,
        }
    }
}

/// Picks a group's next token from its rows' logits (group index, row logits).
type Chooser<'a> = dyn FnMut(usize, &[&[f32]]) -> Option<Chosen> + 'a;

/// A batch row in the cache.
#[derive(Debug, Clone)]
struct LiveRow {
    group: usize,
    pad: usize,
    prompt_len: usize,
    next_position: usize,
    generated_bias: Option<Arc<[f32]>>,
}

/// A batch after its prompts were encoded.
#[derive(Debug, Clone)]
struct Encoded<B: Backend> {
    cache: KvCache<B>,
    rows: Vec<LiveRow>,
    /// Last logits, `rows × vocab`.
    logits: Vec<f32>,
}

impl<B: Backend> Engine<B> {
    /// An engine over `model` with its `tokenizer`, the run's prompt `context`
    /// and decoding options.
    pub fn new(
        model: Llama<B>,
        tokenizer: Tokenizer,
        context: PromptContext,
        decode: DecodeConfig,
    ) -> Self {
        Self::shared(Arc::new(model), tokenizer, context, decode)
    }

    /// As [`Engine::new`] over a model shared with other engines (e.g. one per
    /// dataset context).
    pub fn shared(
        model: Arc<Llama<B>>,
        tokenizer: Tokenizer,
        context: PromptContext,
        decode: DecodeConfig,
    ) -> Self {
        let vocab = model.config().vocab_size;
        let newline = (0..vocab)
            .map(|id| {
                u32::try_from(id)
                    .ok()
                    .and_then(|id| tokenizer.decode(&[id]).ok())
                    .is_some_and(|text| text.contains('\n'))
            })
            .collect();
        let pad_id = tokenizer.eos_id().unwrap_or(0);
        Self {
            model,
            tokenizer,
            context,
            decode,
            newline,
            pad_id,
        }
    }

    /// The model.
    pub fn model(&self) -> &Llama<B> {
        &self.model
    }

    /// The same model and tokenizer with another prompt context and decoding
    /// options (cheap: the weights are shared).
    pub fn with_context(&self, context: PromptContext, decode: DecodeConfig) -> Self {
        Self {
            model: Arc::clone(&self.model),
            tokenizer: self.tokenizer.clone(),
            context,
            decode,
            newline: self.newline.clone(),
            pad_id: self.pad_id,
        }
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The prompt context (instruction and few-shot examples).
    pub fn context(&self) -> &PromptContext {
        &self.context
    }

    /// The decoding options.
    pub fn decode_config(&self) -> &DecodeConfig {
        &self.decode
    }

    /// The row builder over this engine's context and tokenizer.
    pub fn prompter(&self) -> Prompter<'_> {
        Prompter {
            context: &self.context,
            tokenizer: &self.tokenizer,
        }
    }

    /// Answers every question with `method`: one answer per question, or per
    /// paraphrase for `per_prompt`, in input order.
    pub fn run(
        &self,
        method: Method,
        flex: &FlexConfig,
        questions: &[Question],
    ) -> Result<Vec<Answer>, EnsembleError> {
        let mut answers = Vec::new();
        self.run_with(method, flex, questions, |batch| {
            answers.extend(batch);
            Ok::<(), EnsembleError>(())
        })?;
        Ok(answers)
    }

    /// As [`Engine::run`], handing each batch's answers (`batch_size` questions,
    /// in input order) to `on_batch` as soon as the batch is decoded: for progress
    /// bars and checkpoints. An error from `on_batch` stops the run.
    pub fn run_with<E: From<EnsembleError>>(
        &self,
        method: Method,
        flex: &FlexConfig,
        questions: &[Question],
        on_batch: impl FnMut(Vec<Answer>) -> Result<(), E>,
    ) -> Result<(), E> {
        if method == Method::Flex {
            flex.validate()?;
        }
        self.run_strategy(strategy_for(method, flex).as_ref(), questions, on_batch)
    }

    /// As [`Engine::run_with`] for any [`Strategy`].
    pub fn run_strategy<E: From<EnsembleError>>(
        &self,
        strategy: &dyn Strategy,
        questions: &[Question],
        mut on_batch: impl FnMut(Vec<Answer>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.decode.validate()?;
        for chunk in questions.chunks(self.decode.batch_size) {
            let answers = self.decode_questions(strategy, chunk, 0)?;
            on_batch(answers.into_iter().map(|t| t.answer).collect())?;
        }
        Ok(())
    }

    /// As [`Engine::run`], also returning the top-`k` scores of every step
    /// (diagnostics and parity tests).
    pub fn trace(
        &self,
        method: Method,
        flex: &FlexConfig,
        questions: &[Question],
        k: usize,
    ) -> Result<Vec<TracedAnswer>, EnsembleError> {
        self.decode.validate()?;
        let strategy = strategy_for(method, flex);
        let mut out = Vec::new();
        for chunk in questions.chunks(self.decode.batch_size) {
            out.extend(self.decode_questions(strategy.as_ref(), chunk, k.max(1))?);
        }
        Ok(out)
    }

    /// Samples one continuation per prompt (raw prompt texts, encoded whole) and
    /// returns the first line of each, trimmed. Each prompt draws from its own
    /// stream seeded by `sampling.seed` and the prompt text, so results do not
    /// depend on batching. Stops at a newline, EOS or `max_new_tokens`.
    pub fn sample(
        &self,
        prompts: &[String],
        sampling: &SamplingConfig,
    ) -> Result<Vec<String>, EnsembleError> {
        sampling.validate()?;
        self.decode.validate()?;
        let mut out = Vec::with_capacity(prompts.len());
        for chunk in prompts.chunks(self.decode.batch_size.max(1)) {
            let rows = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let tokens = self.tokenizer.encode_prompt(p)?;
                    if tokens.is_empty() {
                        return Err(EnsembleError::EmptySegment {
                            item_index: i,
                            segment: 0,
                            role: "sampling prompt".into(),
                        });
                    }
                    Ok(vec![RowPlan::causal(tokens)])
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut rngs: Vec<Rng> = chunk
                .iter()
                .map(|p| Rng::for_prompt(sampling.seed, p))
                .collect();
            let encoded = self.encode(&rows)?;
            let mut choose = |group: usize, logits: &[&[f32]]| {
                sampling::sample(
                    logits[0],
                    sampling.temperature,
                    sampling.top_p,
                    &mut rngs[group],
                )
                .map(Chosen::plain)
            };
            let decoded =
                self.decode_loop(encoded, rows.len(), sampling.max_new_tokens, &mut choose)?;
            for d in decoded {
                let generation = self.generation_text(&d.ids)?;
                out.push(
                    generation
                        .split('\n')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_owned(),
                );
            }
        }
        Ok(out)
    }

    /// Plans, encodes and decodes one batch of questions.
    fn decode_questions(
        &self,
        strategy: &dyn Strategy,
        questions: &[Question],
        top_k: usize,
    ) -> Result<Vec<TracedAnswer>, EnsembleError> {
        let prompter = self.prompter();
        let mut plans: Vec<(usize, GroupPlan)> = Vec::new();
        for question in questions {
            for group in strategy.plan(question, &prompter)? {
                plans.push((question.item_index, group));
            }
        }
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Vec<RowPlan>> = plans.iter().map(|(_, g)| g.rows.clone()).collect();
        tracing::debug!(
            method = strategy.name(),
            questions = questions.len(),
            groups = plans.len(),
            rows = rows.iter().map(Vec::len).sum::<usize>(),
            "decoding batch"
        );
        let started = std::time::Instant::now();
        let encoded = self.encode(&rows)?;
        let encoded_at = started.elapsed();
        let confidences = if strategy.needs_confidences() {
            Some(self.confidences(encoded.clone(), &rows)?)
        } else {
            None
        };
        let mut choose = |group: usize, logits: &[&[f32]]| {
            let weights = confidences.as_ref().map(|c| c[group].as_slice());
            let scores: Cow<'_, [f32]> = strategy.scores(logits, weights);
            score::argmax(&scores).map(|choice| Chosen {
                choice,
                top: top_k_of(&scores, top_k),
                probability: None,
            })
        };
        let decoded = self.decode_loop(
            encoded,
            plans.len(),
            self.decode.max_new_tokens,
            &mut choose,
        )?;
        tracing::debug!(
            prefill_ms = encoded_at.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            steps = decoded.iter().map(|d| d.ids.len()).max().unwrap_or(0),
            "batch decoded"
        );
        plans
            .into_iter()
            .zip(decoded)
            .enumerate()
            .map(|(g, ((item_index, plan), d))| {
                let confidences = confidences.as_ref().map(|c| c[g].clone());
                self.answer(item_index, plan, d, confidences)
            })
            .collect()
    }

    /// Per group, per row: the mean probability of the row's own greedy answer,
    /// decoded alone from the shared prompt encoding.
    fn confidences(
        &self,
        encoded: Encoded<B>,
        rows: &[Vec<RowPlan>],
    ) -> Result<Vec<Vec<f64>>, EnsembleError> {
        // Every row becomes its own group for this pass.
        let mut owner = Vec::new();
        let mut solo = encoded;
        for (row_index, row) in solo.rows.iter_mut().enumerate() {
            owner.push(row.group);
            row.group = row_index;
        }
        let n = solo.rows.len();
        let mut choose = |_: usize, logits: &[&[f32]]| {
            score::argmax(logits[0]).map(|choice| Chosen {
                choice,
                top: Vec::new(),
                probability: Some(score::probability_of(logits[0], choice.token as usize)),
            })
        };
        let decoded = self.decode_loop(solo, n, self.decode.max_new_tokens, &mut choose)?;
        let mut out: Vec<Vec<f64>> = rows.iter().map(|r| Vec::with_capacity(r.len())).collect();
        for (group, d) in owner.into_iter().zip(decoded) {
            let mean = d.probabilities.iter().sum::<f64>() / d.probabilities.len().max(1) as f64;
            out[group].push(mean);
        }
        Ok(out)
    }

    fn answer(
        &self,
        item_index: usize,
        plan: GroupPlan,
        decoded: Decoded,
        confidences: Option<Vec<f64>>,
    ) -> Result<TracedAnswer, EnsembleError> {
        let generation = self.generation_text(&decoded.ids)?;
        Ok(TracedAnswer {
            answer: Answer {
                item_index,
                paraphrase_index: plan.paraphrase_index,
                prompt_tokens: plan.rows.iter().map(RowPlan::len).sum(),
                paraphrases: plan.paraphrases,
                prompts: plan.prompts,
                prediction: self.decode.prediction.apply(&generation),
                generation,
                generated_ids: decoded.ids,
                stop_reason: decoded.stop.unwrap_or(StopReason::MaxNewTokens),
                confidences,
                step_margins: decoded.margins,
            },
            steps: decoded.steps,
        })
    }

    /// `decode(ids without a final EOS)`.
    fn generation_text(&self, ids: &[u32]) -> Result<String, EnsembleError> {
        let eos = self.tokenizer.eos_id();
        let ids = match ids.split_last() {
            Some((last, rest)) if Some(*last) == eos => rest,
            _ => ids,
        };
        Ok(self.tokenizer.decode(ids)?)
    }

    /// Encodes the rows of every group in one forward pass: rows are left-padded
    /// to the longest, padding keys are hidden from real queries and each pad
    /// query sees only itself.
    fn encode(&self, groups: &[Vec<RowPlan>]) -> Result<Encoded<B>, EnsembleError> {
        let plans: Vec<(usize, &RowPlan)> = groups
            .iter()
            .enumerate()
            .flat_map(|(g, rows)| rows.iter().map(move |r| (g, r)))
            .collect();
        let width = plans.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
        let rows: Vec<LiveRow> = plans
            .iter()
            .map(|&(group, r)| LiveRow {
                group,
                pad: width - r.len(),
                prompt_len: r.len(),
                next_position: r.next_position,
                generated_bias: r.bias.as_ref().map(|b| Arc::from(b.generated.as_slice())),
            })
            .collect();
        let plain = plans
            .iter()
            .all(|(_, r)| r.len() == width && r.prompt_mask.is_none());
        let mask = if plain {
            AttentionMask::Causal
        } else {
            AttentionMask::Dense(
                plans
                    .iter()
                    .map(|&(_, r)| padded_prompt_mask(r, width))
                    .collect(),
            )
        };
        let bias = plans.iter().any(|(_, r)| r.bias.is_some()).then(|| {
            plans
                .iter()
                .map(|&(_, r)| padded_prompt_bias(r, width))
                .collect()
        });
        let pad = |row: &RowPlan, fill: u32, values: &[u32]| -> Vec<u32> {
            std::iter::repeat_n(fill, width - row.len())
                .chain(values.iter().copied())
                .collect()
        };
        let input = ForwardInput {
            tokens: plans
                .iter()
                .map(|&(_, r)| pad(r, self.pad_id, &r.tokens))
                .collect(),
            positions: plans
                .iter()
                .map(|&(_, r)| {
                    std::iter::repeat_n(0, width - r.len())
                        .chain(r.positions.iter().copied())
                        .collect()
                })
                .collect(),
            mask,
            bias,
            logits_at: vec![width.saturating_sub(1)],
        };
        let mut cache = self.model.new_cache(rows.len());
        let logits = self.forward(&input, &mut cache)?;
        Ok(Encoded {
            cache,
            rows,
            logits,
        })
    }

    /// Runs one forward pass and reads the logits back as `rows × vocab`.
    fn forward(
        &self,
        input: &ForwardInput,
        cache: &mut KvCache<B>,
    ) -> Result<Vec<f32>, EnsembleError> {
        let logits = self.model.forward(input, cache)?;
        let dims = logits.dims();
        let vocab = self.model.config().vocab_size;
        let expected = [input.tokens.len(), 1, vocab];
        if dims != expected {
            return Err(EnsembleError::LogitsShape {
                found: dims.to_vec(),
                expected: expected.to_vec(),
            });
        }
        logits
            .into_data()
            .into_vec::<f32>()
            .map_err(|e| EnsembleError::Readback(format!("{e:?}")))
    }

    /// The greedy loop shared by every method: choose a token per live group,
    /// stop groups on EOS / newline / length, drop finished rows from the cache,
    /// feed each live row its group's token.
    fn decode_loop(
        &self,
        encoded: Encoded<B>,
        groups: usize,
        max_new_tokens: usize,
        choose: &mut Chooser<'_>,
    ) -> Result<Vec<Decoded>, EnsembleError> {
        let Encoded {
            mut cache,
            mut rows,
            mut logits,
        } = encoded;
        let vocab = self.model.config().vocab_size;
        let mut decoded = vec![Decoded::default(); groups];
        loop {
            let mut members: Vec<Vec<&[f32]>> = vec![Vec::new(); groups];
            for (i, row) in rows.iter().enumerate() {
                members[row.group].push(&logits[i * vocab..(i + 1) * vocab]);
            }
            for (g, slices) in members.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
                let chosen = choose(g, slices).ok_or_else(|| EnsembleError::LogitsShape {
                    found: vec![0],
                    expected: vec![vocab],
                })?;
                let d = &mut decoded[g];
                d.ids.push(chosen.choice.token);
                d.margins.push(chosen.choice.margin);
                d.steps.push(chosen.top);
                d.probabilities.extend(chosen.probability);
                d.stop = self.stop_reason(chosen.choice.token, d.ids.len(), max_new_tokens);
            }
            let keep: Vec<usize> = (0..rows.len())
                .filter(|&i| decoded[rows[i].group].stop.is_none())
                .collect();
            if keep.is_empty() {
                break;
            }
            if keep.len() < rows.len() {
                cache = cache.select_rows(&keep)?;
                rows = keep.iter().map(|&i| rows[i].clone()).collect();
            }
            let tokens: Vec<Vec<u32>> = rows
                .iter()
                .map(|r| decoded[r.group].ids.last().copied().into_iter().collect())
                .collect();
            let input = self.step_input(tokens, &rows, cache.len());
            logits = self.forward(&input, &mut cache)?;
            rows.iter_mut().for_each(|r| r.next_position += 1);
        }
        Ok(decoded)
    }

    fn stop_reason(
        &self,
        token: u32,
        generated: usize,
        max_new_tokens: usize,
    ) -> Option<StopReason> {
        if Some(token) == self.tokenizer.eos_id() {
            Some(StopReason::Eos)
        } else if self.newline.get(token as usize).copied().unwrap_or(false) {
            Some(StopReason::Newline)
        } else if generated >= max_new_tokens {
            Some(StopReason::MaxNewTokens)
        } else {
            None
        }
    }

    /// One new token per row over `cache_len` cached keys: a generated query sees
    /// every non-pad key; the share-prefix bias applies on the prompt keys.
    fn step_input(
        &self,
        tokens: Vec<Vec<u32>>,
        rows: &[LiveRow],
        cache_len: usize,
    ) -> ForwardInput {
        let total = cache_len + 1;
        let q = cache_len..total;
        let mask = if rows.iter().all(|r| r.pad == 0) {
            AttentionMask::Causal
        } else {
            AttentionMask::Dense(
                rows.iter()
                    .map(|r| {
                        let pad = r.pad;
                        DenseMask::compile(
                            &move |_: usize, _: usize, _: usize, kv: usize| kv >= pad,
                            q.clone(),
                            total,
                        )
                    })
                    .collect(),
            )
        };
        let bias = rows.iter().any(|r| r.generated_bias.is_some()).then(|| {
            rows.iter()
                .map(|r| {
                    let (pad, len, values) = (r.pad, r.prompt_len, r.generated_bias.clone());
                    let bias = move |_: usize, _: usize, _: usize, kv: usize| match &values {
                        Some(v) if kv >= pad && kv < pad + len => v[kv - pad],
                        _ => 0.0,
                    };
                    DenseBias::compile(&bias, q.clone(), total)
                })
                .collect()
        });
        ForwardInput {
            tokens,
            positions: rows.iter().map(|r| vec![r.next_position]).collect(),
            mask,
            bias,
            logits_at: vec![0],
        }
    }
}

/// The row's prompt mask shifted right by its padding: pads see only themselves,
/// real queries never see pads.
fn padded_prompt_mask(row: &RowPlan, width: usize) -> DenseMask {
    let pad = width - row.len();
    let visible = |_: usize, _: usize, q: usize, kv: usize| {
        if q < pad {
            kv == q
        } else {
            kv >= pad && row.sees(q - pad, kv - pad)
        }
    };
    DenseMask::compile(&visible, 0..width, width)
}

/// The row's prompt bias shifted right by its padding (zero without a bias).
fn padded_prompt_bias(row: &RowPlan, width: usize) -> DenseBias {
    let pad = width - row.len();
    let bias = |_: usize, _: usize, q: usize, kv: usize| match &row.bias {
        Some(b) if q >= pad && kv >= pad => b.prompt.get(q - pad, kv - pad),
        _ => 0.0,
    };
    DenseBias::compile(&bias, 0..width, width)
}

fn top_k_of(scores: &[f32], k: usize) -> StepTopK {
    if k == 0 {
        Vec::new()
    } else {
        score::top_k(scores, k)
    }
}
