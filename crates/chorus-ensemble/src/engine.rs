//! The decoding engine: the run's context (instruction + few-shot block) encoded
//! once and shared by every row, ragged prefill of each row's own tokens, then
//! one forward pass per step over a preallocated KV cache, feeding only the new
//! token of each live row. Tokens are chosen where the logits are (the model's
//! kernels fuse and take the argmax); only traced and sampled runs read whole
//! logits back.

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use std::{panic, thread};

use chorus_llama::{
    BatchNeed, ForwardInput, Fusion, InputError, Kernels, KeyBias, KeyMask, KvCache, Llama,
    LlamaError, Logits, PromptPrefix, RowInput, Selection, SharedContext, Tokenizer,
};
use chorus_mask::IntervalMask;
use chorus_prompt::PromptContext;
use rayon::prelude::*;

use crate::answer::{Answer, Question, StopReason};
use crate::config::{BatchSize, DecodeConfig, FlexConfig, Method, SamplingConfig};
use crate::error::EnsembleError;
use crate::rows::{Prompter, RowBias, RowPlan, context_prefix};
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

/// How the rows of a run used the shared context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextStats {
    /// Tokens of the shared context (0 when none was encoded).
    pub context_tokens: usize,
    /// Rows that attended to the shared context.
    pub shared_rows: usize,
    /// Rows encoded whole because their prompt does not start with the context
    /// (or the run's context could not be shared with them).
    pub fallback_rows: usize,
}

/// Where the engine's time went, summed over batches: the prompt encoding
/// (closed by one device sync per batch, so queued GPU work is counted), the
/// decode loop (its per-step readback of the chosen tokens syncs anyway), and
/// the host work the device waited for (see [`PhaseTimes::host`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Encoding the prompts (and the shared context, once), on the device.
    pub prefill: Duration,
    /// Generating: forward passes over one new token per row, and choosing.
    pub decode: Duration,
    /// Host work between device phases: the part of a batch's planning
    /// (prompt building, tokenisation) not hidden behind the batch before,
    /// and building its answers.
    pub host: Duration,
    /// Tokens the prefill encoded: each row's own tokens (the shared context,
    /// encoded once, is counted in [`ContextStats`]). With the model's size it
    /// gives the prefill's rate, e.g. against the GPU's GEMM rate.
    pub prefill_tokens: usize,
}

impl std::fmt::Display for PhaseTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "prefill {:.2} s ({} row tokens), decode {:.2} s, host {:.2} s",
            self.prefill.as_secs_f64(),
            self.prefill_tokens,
            self.decode.as_secs_f64(),
            self.host.as_secs_f64()
        )
    }
}

/// Greedy paraphrase-ensemble decoding over a Llama model.
pub struct Engine<K: Kernels> {
    model: Arc<Llama<K>>,
    tokenizer: Tokenizer,
    context: PromptContext,
    /// The context's prefix, encoded once: as every standard prompt starts.
    prefix: PromptPrefix,
    decode: DecodeConfig,
    /// Per token id: whether its text contains a newline (the stop rule).
    newline: Arc<Vec<bool>>,
    /// The run's shared context, encoded from the first row that can share it.
    shared: Mutex<Option<Arc<SharedContext<K>>>>,
    stats: Mutex<ContextStats>,
    times: Mutex<PhaseTimes>,
}

impl<K: Kernels> std::fmt::Debug for Engine<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.model)
            .field("decode", &self.decode)
            .finish_non_exhaustive()
    }
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

/// A decision for one group at one step.
#[derive(Debug, Clone)]
struct Chosen {
    choice: Choice,
    /// Top-k of the score it was chosen from (empty unless tracing).
    top: StepTopK,
    /// Probability of the token under the (single) row's logits, when asked for.
    probability: Option<f64>,
}

/// A host function picking a group's token from its rows' logits (group index,
/// one slice per row).
type HostPick<'a> = dyn FnMut(usize, &[&[f32]]) -> Option<Choice> + 'a;

/// How each step's tokens are chosen.
enum Chooser<'a> {
    /// Greedy over each group's fusion, where the logits are; with `trace > 0`
    /// the fused scores are read back and their top-`trace` kept.
    Greedy {
        fusion: &'a dyn Fn(usize, Vec<usize>) -> Fusion,
        probability: bool,
        trace: usize,
    },
    /// A host function of the group and its rows' logits (sampling).
    Host(&'a mut HostPick<'a>),
}

/// A batch row in the cache.
#[derive(Debug, Clone)]
struct LiveRow {
    group: usize,
    slot: usize,
    next_position: usize,
    generated_bias: Option<(std::ops::Range<usize>, f32)>,
}

/// A batch after its prompts were encoded; `L` is the prompt logits, owned or
/// borrowed (the confidence pass of the weighted methods starts from the same).
struct Encoded<K: Kernels, L = Logits<K>> {
    cache: KvCache<K>,
    rows: Vec<LiveRow>,
    /// Logits at each row's last prompt token, in row order.
    logits: L,
}

impl<K: Kernels> Engine<K> {
    /// An engine over `model` with its `tokenizer`, the run's prompt `context`
    /// and decoding options.
    pub fn new(
        model: Llama<K>,
        tokenizer: Tokenizer,
        context: PromptContext,
        decode: DecodeConfig,
    ) -> Result<Self, EnsembleError> {
        Self::shared(Arc::new(model), tokenizer, context, decode)
    }

    /// As [`Engine::new`] over a model shared with other engines (e.g. one per
    /// dataset context).
    pub fn shared(
        model: Arc<Llama<K>>,
        tokenizer: Tokenizer,
        context: PromptContext,
        decode: DecodeConfig,
    ) -> Result<Self, EnsembleError> {
        let vocab = model.config().vocab_size;
        let newline = (0..vocab)
            .map(|id| {
                u32::try_from(id)
                    .ok()
                    .and_then(|id| tokenizer.decode(&[id]).ok())
                    .is_some_and(|text| text.contains('\n'))
            })
            .collect();
        Self::assemble(model, tokenizer, context, decode, Arc::new(newline))
    }

    fn assemble(
        model: Arc<Llama<K>>,
        tokenizer: Tokenizer,
        context: PromptContext,
        decode: DecodeConfig,
        newline: Arc<Vec<bool>>,
    ) -> Result<Self, EnsembleError> {
        let prefix = context_prefix(&context, &tokenizer)?;
        Ok(Self {
            model,
            tokenizer,
            context,
            prefix,
            decode,
            newline,
            shared: Mutex::new(None),
            stats: Mutex::new(ContextStats::default()),
            times: Mutex::new(PhaseTimes::default()),
        })
    }

    /// The model.
    pub fn model(&self) -> &Llama<K> {
        &self.model
    }

    /// The same model and tokenizer with another prompt context and decoding
    /// options (cheap: the weights are shared; the shared context is not).
    pub fn with_context(
        &self,
        context: PromptContext,
        decode: DecodeConfig,
    ) -> Result<Self, EnsembleError> {
        Self::assemble(
            Arc::clone(&self.model),
            self.tokenizer.clone(),
            context,
            decode,
            Arc::clone(&self.newline),
        )
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

    /// How rows used the shared context so far.
    pub fn context_stats(&self) -> ContextStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the time of every batch decoded so far went.
    pub fn phase_times(&self) -> PhaseTimes {
        *self.times.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The row builder over this engine's context and tokenizer.
    pub fn prompter(&self) -> Prompter<'_> {
        Prompter {
            context: &self.context,
            tokenizer: &self.tokenizer,
            prefix: &self.prefix,
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
    /// bars and checkpoints. `on_batch` runs on another thread while the next
    /// batch is decoded (see [`Engine::run_strategy`]). An error from `on_batch`
    /// stops the run.
    pub fn run_with<E: From<EnsembleError> + Send>(
        &self,
        method: Method,
        flex: &FlexConfig,
        questions: &[Question],
        on_batch: impl FnMut(Vec<Answer>) -> Result<(), E> + Send,
    ) -> Result<(), E> {
        if method == Method::Flex {
            flex.validate()?;
        }
        self.run_strategy(strategy_for(method, flex).as_ref(), questions, on_batch)
    }

    /// As [`Engine::run_with`] for any [`Strategy`].
    ///
    /// Three things overlap, so that the device does not wait for the host:
    /// while batch `k` is on the device, batch `k + 1` is planned (tokenised)
    /// on another thread and `on_batch` (e.g. writing a checkpoint) runs for
    /// batch `k - 1` on a third. `on_batch` still sees the batches in order,
    /// one at a time; when it fails, no further batch is started and its
    /// error is returned once the batch in flight is done.
    pub fn run_strategy<E>(
        &self,
        strategy: &dyn Strategy,
        questions: &[Question],
        on_batch: impl FnMut(Vec<Answer>) -> Result<(), E> + Send,
    ) -> Result<(), E>
    where
        E: From<EnsembleError> + Send,
    {
        self.decode.validate()?;
        let batch = self.batch_size_for(strategy, questions)?;
        let chunks: Vec<&[Question]> = questions.chunks(batch).collect();
        thread::scope(|scope| {
            // One batch waits in the channel at most: answers are not piled up
            // faster than they are written.
            let (sender, receiver) = mpsc::sync_channel::<Vec<Answer>>(1);
            let consumer = scope.spawn(move || receiver.into_iter().try_for_each(on_batch));
            let decoded = self.decode_overlapped(scope, strategy, &chunks, &sender);
            drop(sender);
            consumer
                .join()
                .unwrap_or_else(|panic| panic::resume_unwind(panic))?;
            decoded.map_err(E::from)
        })
    }

    /// Decodes `chunks` in order, planning each next one on a scoped thread
    /// while the current one is decoded, and sends each batch's answers to
    /// `sender`; stops early (without an error) when its receiver is gone.
    fn decode_overlapped<'scope, 'env>(
        &'env self,
        scope: &'scope thread::Scope<'scope, 'env>,
        strategy: &'env dyn Strategy,
        chunks: &[&'env [Question]],
        sender: &mpsc::SyncSender<Vec<Answer>>,
    ) -> Result<(), EnsembleError> {
        let prompter = self.prompter();
        let plan =
            |chunk: &'env [Question]| scope.spawn(move || plan_batch(&prompter, strategy, chunk));
        let mut next = chunks.first().map(|&chunk| plan(chunk));
        let mut index = 0;
        while let Some(planning) = next.take() {
            let waiting = Instant::now();
            let planned = planning
                .join()
                .unwrap_or_else(|panic| panic::resume_unwind(panic))?;
            let waited = waiting.elapsed();
            index += 1;
            next = chunks.get(index).map(|&chunk| plan(chunk));
            let answers = self.decode_planned(strategy, planned, waited, 0)?;
            if sender
                .send(answers.into_iter().map(|t| t.answer).collect())
                .is_err()
            {
                break;
            }
        }
        Ok(())
    }

    /// The questions per batch of a run of `questions` with `strategy`: the
    /// configured number, or for [`BatchSize::Auto`] as many as 80 % of the
    /// device's free memory holds (their KV cache and the activations of their
    /// prefill pass, estimated from the rows of the first 64 questions), split
    /// evenly and into at least two batches of 256 or more questions where
    /// the run is that long (so that planning and writing overlap the device,
    /// see [`Engine::run_strategy`]), and [`BatchSize::CPU_DEFAULT`] where the
    /// kernels report no memory limit.
    pub fn batch_size_for(
        &self,
        strategy: &dyn Strategy,
        questions: &[Question],
    ) -> Result<usize, EnsembleError> {
        if let Some(fixed) = self.decode.batch_size.fixed() {
            return Ok(fixed.max(1));
        }
        let Some(free) = self.model.kernels().free_memory()? else {
            return Ok(BatchSize::CPU_DEFAULT);
        };
        let sample = &questions[..questions.len().min(64)];
        let mut need = self.memory_need(strategy, sample)?;
        if strategy.needs_confidences() {
            // The confidence pass decodes every row alone on a copy of the cache.
            need.cached_tokens *= 2;
            need.logit_rows *= 2;
        }
        let per_question = self
            .model
            .batch_bytes(&need)
            .div_ceil(sample.len().max(1) as u64);
        let batch = fitting_batch(free, per_question, questions.len());
        tracing::info!(
            batch,
            free_gib = free as f64 / f64::from(1 << 30),
            per_question_mib = per_question as f64 / f64::from(1 << 20),
            "batch size from free device memory"
        );
        Ok(batch)
    }

    /// What decoding `questions` in one batch asks of the device.
    fn memory_need(
        &self,
        strategy: &dyn Strategy,
        questions: &[Question],
    ) -> Result<BatchNeed, EnsembleError> {
        // Planned as a batch is (in parallel): one by one, the 64 sample
        // questions took 0.06–0.15 s of an H100 run's ~5 s after load.
        let planned = plan_batch(&self.prompter(), strategy, questions)?;
        let mut need = BatchNeed::default();
        for (_, group) in &planned.plans {
            for row in &group.rows {
                let shared = if self.decode.shared_context {
                    row.context_len
                } else {
                    0
                };
                let own = row.len().saturating_sub(shared);
                need.tokens += own;
                need.cached_tokens += own + self.decode.max_new_tokens;
                need.logit_rows += 1;
                need.shared_keys = need.shared_keys.max(shared);
            }
        }
        Ok(need)
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
        let batch = self.batch_size_for(strategy.as_ref(), questions)?;
        for chunk in questions.chunks(batch) {
            out.extend(self.decode_questions(strategy.as_ref(), chunk, k.max(1))?);
        }
        Ok(out)
    }

    /// Samples one continuation per prompt (raw prompt texts) and returns the
    /// first line of each, trimmed. Each prompt draws from its own stream
    /// seeded by `sampling.seed` and the prompt text, so results do not depend
    /// on batching. Stops at a newline, EOS or `max_new_tokens`. The tokens
    /// every prompt starts with (a paraphrase round's instruction and
    /// examples, ~140 of a prompt's ~150) are encoded once and shared, unless
    /// the engine's `shared_context` is off; the draws are the same either way
    /// (tested), the prefill several times cheaper.
    pub fn sample(
        &self,
        prompts: &[String],
        sampling: &SamplingConfig,
    ) -> Result<Vec<String>, EnsembleError> {
        self.sample_with_progress(prompts, sampling, &mut |_| {})
    }

    /// [`Engine::sample`], calling `progress` with the number of prompts
    /// finished after every batch (for a progress bar).
    pub fn sample_with_progress(
        &self,
        prompts: &[String],
        sampling: &SamplingConfig,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<String>, EnsembleError> {
        sampling.validate()?;
        self.decode.validate()?;
        let mut out = Vec::with_capacity(prompts.len());
        // Sampling runs paraphrase generation, a small job: no memory sizing.
        let batch = self
            .decode
            .batch_size
            .fixed()
            .unwrap_or(BatchSize::CPU_DEFAULT);
        let tokenized = prompts
            .iter()
            .enumerate()
            .map(|(prompt_index, p)| {
                let tokens = self.tokenizer.encode_prompt(p)?;
                match tokens.is_empty() {
                    true => Err(EnsembleError::EmptyPrompt { prompt_index }),
                    false => Ok(tokens),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The prompts of one call share their instruction and examples (one
        // paraphrase round): encoded once instead of once per prompt.
        let context = match self.decode.shared_context {
            true => self.common_prefix_context(&tokenized)?,
            false => None,
        };
        let source = context
            .as_ref()
            .map_or(ContextSource::Off, ContextSource::Given);
        let context_len = context.as_ref().map_or(0, |c| c.len());
        for (chunk, texts) in tokenized.chunks(batch).zip(prompts.chunks(batch)) {
            let rows: Vec<Vec<RowPlan>> = chunk
                .iter()
                .map(|tokens| {
                    let mut row = RowPlan::causal(tokens.clone());
                    row.context_len = context_len;
                    vec![row]
                })
                .collect();
            let mut rngs: Vec<Rng> = texts
                .iter()
                .map(|p| Rng::for_prompt(sampling.seed, p))
                .collect();
            let encoded = self.encode(&rows, sampling.max_new_tokens, source)?;
            let encoded = Encoded {
                cache: encoded.cache,
                rows: encoded.rows,
                logits: &encoded.logits,
            };
            let mut draw = |group: usize, logits: &[&[f32]]| {
                sampling::sample(
                    logits[0],
                    sampling.temperature,
                    sampling.top_p,
                    &mut rngs[group],
                )
            };
            let decoded = self.decode_loop(
                encoded,
                rows.len(),
                sampling.max_new_tokens,
                Chooser::Host(&mut draw),
            )?;
            progress(chunk.len());
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
        trace: usize,
    ) -> Result<Vec<TracedAnswer>, EnsembleError> {
        let planned = plan_batch(&self.prompter(), strategy, questions)?;
        let planning = planned.planning;
        self.decode_planned(strategy, planned, planning, trace)
    }

    /// Encodes and decodes one planned batch. `waited`: how long the device
    /// waited for its planning (all of it unless planned ahead), counted as
    /// host time.
    fn decode_planned(
        &self,
        strategy: &dyn Strategy,
        planned: PlannedBatch,
        waited: Duration,
        trace: usize,
    ) -> Result<Vec<TracedAnswer>, EnsembleError> {
        let plans = planned.plans;
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Vec<RowPlan>> = plans.iter().map(|(_, g)| g.rows.clone()).collect();
        tracing::debug!(
            method = strategy.name(),
            questions = planned.questions,
            groups = plans.len(),
            rows = rows.iter().map(Vec::len).sum::<usize>(),
            planning_ms = planned.planning.as_millis() as u64,
            waited_ms = waited.as_millis() as u64,
            "decoding batch"
        );
        let started = Instant::now();
        let source = match self.decode.shared_context {
            true => ContextSource::Run,
            false => ContextSource::Off,
        };
        let encoded = self.encode(&rows, self.decode.max_new_tokens, source)?;
        self.model.kernels().sync()?;
        let encoded_at = started.elapsed();
        let confidences = if strategy.needs_confidences() {
            Some(self.confidences(&encoded, &rows)?)
        } else {
            None
        };
        let fusion = |group: usize, members: Vec<usize>| {
            let weights = confidences.as_ref().map(|c| c[group].as_slice());
            strategy.fusion(members, weights)
        };
        let chooser = Chooser::Greedy {
            fusion: &fusion,
            probability: false,
            trace,
        };
        let encoded = Encoded {
            cache: encoded.cache,
            rows: encoded.rows,
            logits: &encoded.logits,
        };
        let decoded =
            self.decode_loop(encoded, plans.len(), self.decode.max_new_tokens, chooser)?;
        let decoded_at = started.elapsed();
        tracing::debug!(
            prefill_ms = encoded_at.as_millis() as u64,
            total_ms = decoded_at.as_millis() as u64,
            steps = decoded.iter().map(|d| d.ids.len()).max().unwrap_or(0),
            "batch decoded"
        );
        let finishing = Instant::now();
        let answers = plans
            .into_par_iter()
            .zip(decoded)
            .enumerate()
            .map(|(g, ((item_index, plan), d))| {
                let confidences = confidences.as_ref().map(|c| c[g].clone());
                self.answer(item_index, plan, d, confidences)
            })
            .collect();
        let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        times.prefill += encoded_at;
        times.decode += decoded_at - encoded_at;
        times.host += waited + finishing.elapsed();
        answers
    }

    /// Per group, per row: the mean probability of the row's own greedy answer,
    /// decoded alone from the shared prompt encoding.
    fn confidences(
        &self,
        encoded: &Encoded<K>,
        rows: &[Vec<RowPlan>],
    ) -> Result<Vec<Vec<f64>>, EnsembleError> {
        // Every row becomes its own group for this pass, on a copy of the cache.
        let mut owner = Vec::new();
        let mut solo_rows = encoded.rows.clone();
        for (row_index, row) in solo_rows.iter_mut().enumerate() {
            owner.push(row.group);
            row.group = row_index;
        }
        let n = solo_rows.len();
        let solo = Encoded {
            cache: self.model.fork_cache(&encoded.cache)?,
            rows: solo_rows,
            logits: &encoded.logits,
        };
        let alone = |_: usize, members: Vec<usize>| Fusion::Row(members[0]);
        let chooser = Chooser::Greedy {
            fusion: &alone,
            probability: true,
            trace: 0,
        };
        let decoded = self.decode_loop(solo, n, self.decode.max_new_tokens, chooser)?;
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

    /// The longest token prefix common to every prompt (each keeping at least
    /// one token of its own), encoded once as a shared context; `None` for
    /// fewer than two prompts or a prefix shorter than
    /// [`MIN_SAMPLING_CONTEXT`] tokens, where sharing saves too little.
    fn common_prefix_context(
        &self,
        prompts: &[Vec<u32>],
    ) -> Result<Option<Arc<SharedContext<K>>>, EnsembleError> {
        let len = common_prefix_len(prompts);
        if prompts.len() < 2 || len < MIN_SAMPLING_CONTEXT {
            return Ok(None);
        }
        let mask = KeyMask::Intervals(IntervalMask::compile(&chorus_mask::causal(), 0..len, len));
        let context =
            self.model
                .encode_context(prompts[0][..len].to_vec(), (0..len).collect(), mask)?;
        tracing::debug!(tokens = len, "sampling context encoded");
        Ok(Some(Arc::new(context)))
    }

    /// The run's shared context for `row`, if the row can attend to it: encoded
    /// from the first row that can share its leading `context_len` tokens; a
    /// later row shares it when its leading tokens, their positions and the
    /// mask among them are the same.
    fn context_for(&self, row: &RowPlan) -> Result<Option<Arc<SharedContext<K>>>, EnsembleError> {
        let Some(prefix) = shareable_prefix(row) else {
            return Ok(None);
        };
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(context) = shared.as_ref() {
            return Ok(prefix.is_encoded_by(context).then(|| Arc::clone(context)));
        }
        let context = Arc::new(self.model.encode_context(
            prefix.tokens.to_vec(),
            prefix.positions.to_vec(),
            prefix.mask,
        )?);
        tracing::debug!(tokens = context.len(), "shared context encoded");
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .context_tokens = context.len();
        *shared = Some(Arc::clone(&context));
        Ok(Some(context))
    }

    /// Encodes the rows of every group in one forward pass: each row's own
    /// tokens after the shared context it attends to (its whole prompt when it
    /// shares none), in a cache with room for `max_new_tokens` more per row.
    fn encode(
        &self,
        groups: &[Vec<RowPlan>],
        max_new_tokens: usize,
        source: ContextSource<'_, K>,
    ) -> Result<Encoded<K>, EnsembleError> {
        let plans: Vec<(usize, &RowPlan)> = groups
            .iter()
            .enumerate()
            .flat_map(|(g, rows)| rows.iter().map(move |r| (g, r)))
            .collect();
        let mut context = None;
        let mut sharing = Vec::with_capacity(plans.len());
        for (_, row) in &plans {
            let shared = match source {
                ContextSource::Off => None,
                ContextSource::Run => self.context_for(row)?,
                ContextSource::Given(given) => shareable_prefix(row)
                    .filter(|prefix| prefix.is_encoded_by(given))
                    .map(|_| Arc::clone(given)),
            };
            // The run's summary counts the run's context only.
            if matches!(source, ContextSource::Run) {
                let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
                match shared.is_some() {
                    true => stats.shared_rows += 1,
                    false => stats.fallback_rows += 1,
                }
            }
            sharing.push(shared.is_some());
            context = context.or(shared);
        }
        let skipped = |i: usize| match (&context, sharing[i]) {
            (Some(c), true) => c.len(),
            _ => 0,
        };
        // Each row's tokens past the context it shares: what the prefill encodes.
        let own: Vec<usize> = (0..plans.len())
            .map(|i| plans[i].1.len() - skipped(i))
            .collect();
        let capacity = own.iter().copied().max().unwrap_or(0) + max_new_tokens;
        self.times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prefill_tokens += own.iter().sum::<usize>();
        let mut cache = match &context {
            Some(c) => self.model.new_cache_sharing(c, sharing.clone(), capacity)?,
            None => self.model.new_cache(plans.len(), capacity)?,
        };
        let inputs = plans
            .iter()
            .enumerate()
            .map(|(slot, (_, row))| row_input(slot, row, skipped(slot)))
            .collect();
        let logits = self
            .model
            .forward(&ForwardInput { rows: inputs }, &mut cache)?;
        let rows = plans
            .iter()
            .enumerate()
            .map(|(slot, &(group, r))| LiveRow {
                group,
                slot,
                next_position: r.next_position,
                generated_bias: r.bias.as_ref().map(|b| (b.keys.clone(), b.generated)),
            })
            .collect();
        Ok(Encoded {
            cache,
            rows,
            logits,
        })
    }

    /// One token per live group from `logits` (row `i` is `rows[i]`).
    fn choose(
        &self,
        logits: &Logits<K>,
        rows: &[LiveRow],
        groups: usize,
        chooser: &mut Chooser<'_>,
    ) -> Result<Vec<(usize, Chosen)>, EnsembleError> {
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
        for (i, row) in rows.iter().enumerate() {
            members[row.group].push(i);
        }
        let live: Vec<(usize, Vec<usize>)> = members
            .into_iter()
            .enumerate()
            .filter(|(_, m)| !m.is_empty())
            .collect();
        let (fusion, probability, trace) = match chooser {
            Chooser::Greedy {
                fusion,
                probability,
                trace,
            } => (*fusion, *probability, *trace),
            Chooser::Host(pick) => return self.choose_on_host(logits, live, &mut **pick),
        };
        if trace == 0 {
            let selections: Vec<Selection> = live
                .iter()
                .map(|(g, m)| Selection {
                    fusion: fusion(*g, m.clone()),
                    probability,
                })
                .collect();
            let picked = self
                .model
                .select(logits, &selections)
                .map_err(|error| match error {
                    LlamaError::Input(InputError::NothingToChoose { selection }) => {
                        EnsembleError::EmptyScores {
                            group: live[selection].0,
                        }
                    }
                    other => other.into(),
                })?;
            return Ok(live
                .into_iter()
                .zip(picked)
                .map(|((g, _), p)| {
                    let chosen = Chosen {
                        choice: p.choice,
                        top: Vec::new(),
                        probability: p.probability,
                    };
                    (g, chosen)
                })
                .collect());
        }
        let values = self.model.logits_to_vec(logits)?;
        let vocab = logits.vocab();
        live.into_iter()
            .map(|(g, m)| {
                let slices: Vec<&[f32]> = m
                    .iter()
                    .map(|&i| &values[i * vocab..(i + 1) * vocab])
                    .collect();
                let scores = fusion(g, m.clone()).scores(&slices);
                let choice =
                    score::argmax(&scores).ok_or(EnsembleError::EmptyScores { group: g })?;
                let probability =
                    probability.then(|| score::probability_of(slices[0], choice.token as usize));
                Ok((
                    g,
                    Chosen {
                        choice,
                        top: score::top_k(&scores, trace),
                        probability,
                    },
                ))
            })
            .collect()
    }

    /// The host chooser's picks, on logits read back.
    fn choose_on_host(
        &self,
        logits: &Logits<K>,
        live: Vec<(usize, Vec<usize>)>,
        pick: &mut HostPick<'_>,
    ) -> Result<Vec<(usize, Chosen)>, EnsembleError> {
        let values = self.model.logits_to_vec(logits)?;
        let vocab = logits.vocab();
        live.into_iter()
            .map(|(g, m)| {
                let slices: Vec<&[f32]> = m
                    .iter()
                    .map(|&i| &values[i * vocab..(i + 1) * vocab])
                    .collect();
                let choice = pick(g, &slices).ok_or(EnsembleError::EmptyScores { group: g })?;
                Ok((
                    g,
                    Chosen {
                        choice,
                        top: Vec::new(),
                        probability: None,
                    },
                ))
            })
            .collect()
    }
    /// The loop shared by every method: choose a token per live group, stop
    /// groups on EOS / newline / length, feed each live row its group's token.
    /// Finished rows are simply no longer fed.
    fn decode_loop(
        &self,
        encoded: Encoded<K, &Logits<K>>,
        groups: usize,
        max_new_tokens: usize,
        mut chooser: Chooser<'_>,
    ) -> Result<Vec<Decoded>, EnsembleError> {
        let Encoded {
            mut cache,
            mut rows,
            logits: first,
        } = encoded;
        let mut decoded = vec![Decoded::default(); groups];
        let mut latest: Option<Logits<K>> = None;
        loop {
            let logits = latest.as_ref().unwrap_or(first);
            for (g, chosen) in self.choose(logits, &rows, groups, &mut chooser)? {
                let d = &mut decoded[g];
                d.ids.push(chosen.choice.token);
                d.margins.push(chosen.choice.margin);
                d.steps.push(chosen.top);
                d.probabilities.extend(chosen.probability);
                d.stop = self.stop_reason(chosen.choice.token, d.ids.len(), max_new_tokens);
            }
            rows.retain(|r| decoded[r.group].stop.is_none());
            if rows.is_empty() {
                break;
            }
            let inputs = rows
                .iter()
                .map(|r| step_input(r, decoded[r.group].ids.last().copied().unwrap_or(0)))
                .collect();
            latest = Some(
                self.model
                    .forward(&ForwardInput { rows: inputs }, &mut cache)?,
            );
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
}

/// A batch's questions planned into groups of rows: host work only, so it
/// can run while the device decodes the batch before.
struct PlannedBatch {
    /// Questions planned.
    questions: usize,
    /// Every group of every question, with its question's index, in order.
    plans: Vec<(usize, GroupPlan)>,
    /// Time the planning took.
    planning: Duration,
}

/// Plans `questions` on every core (tokenising a batch's prompts is the
/// host's largest share of a GPU run), in question order.
fn plan_batch(
    prompter: &Prompter<'_>,
    strategy: &dyn Strategy,
    questions: &[Question],
) -> Result<PlannedBatch, EnsembleError> {
    let started = Instant::now();
    let planned: Vec<Vec<GroupPlan>> = questions
        .par_iter()
        .map(|question| strategy.plan(question, prompter))
        .collect::<Result<_, _>>()?;
    let plans = questions
        .iter()
        .zip(planned)
        .flat_map(|(question, groups)| groups.into_iter().map(|g| (question.item_index, g)))
        .collect();
    Ok(PlannedBatch {
        questions: questions.len(),
        plans,
        planning: started.elapsed(),
    })
}

/// Batches a run with device memory to spare is still split into (when each
/// keeps [`MIN_OVERLAPPED_BATCH`] questions): with one batch, its planning and
/// its answers' writing could not overlap any device work (see
/// [`Engine::run_strategy`]). Two, not more: on an H100, WebQuestions' 2,032
/// items in two batches ran flex and avg 2–3 % faster than in four (max and
/// per_prompt alike), whose shorter decode steps cost more than the host time
/// they hid (docs/benchmarks/gpu.md).
const OVERLAPPED_BATCHES: usize = 2;

/// Fewest questions per batch that [`OVERLAPPED_BATCHES`] splits a run into:
/// smaller batches leave the device's matrix products too short to run at
/// full rate.
const MIN_OVERLAPPED_BATCH: usize = 256;

/// The questions per batch for a run of `questions` when each needs
/// `per_question` of `free` bytes: as few equal batches as fit in 80 % of
/// `free` (a batch of at least one question), but at least
/// [`OVERLAPPED_BATCHES`] of at least [`MIN_OVERLAPPED_BATCH`] questions where
/// the run is long enough.
fn fitting_batch(free: u64, per_question: u64, questions: usize) -> usize {
    let usable = free / 5 * 4;
    let fits = usize::try_from(usable / per_question.max(1)).unwrap_or(usize::MAX);
    let by_memory = questions.div_ceil(fits.max(1));
    let for_overlap = (questions / MIN_OVERLAPPED_BATCH).min(OVERLAPPED_BATCHES);
    let batches = by_memory.max(for_overlap).max(1);
    questions.div_ceil(batches).max(1)
}

/// The length of the longest prefix every prompt starts with, short enough to
/// leave each prompt at least one token of its own (0 when one is empty).
fn common_prefix_len(prompts: &[Vec<u32>]) -> usize {
    let Some(first) = prompts.first() else {
        return 0;
    };
    prompts
        .iter()
        .fold(first.len().saturating_sub(1), |len, prompt| {
            let common = first.iter().zip(prompt).take_while(|(a, b)| a == b).count();
            len.min(common).min(prompt.len().saturating_sub(1))
        })
}

/// Shortest common prefix [`Engine::sample`] encodes once for its prompts.
const MIN_SAMPLING_CONTEXT: usize = 16;

/// Where the rows of a batch find the shared context they may skip.
enum ContextSource<'a, K: Kernels> {
    /// Nowhere: every row encodes its whole prompt.
    Off,
    /// The run's context (instruction + few-shot block), encoded once per
    /// engine ([`Engine::context_for`]) and counted in [`ContextStats`].
    Run,
    /// A context of the caller's (sampling: one per paraphrase round).
    Given(&'a Arc<SharedContext<K>>),
}

// By hand: a derive would ask `K: Copy`, and only a reference is copied.
impl<K: Kernels> Clone for ContextSource<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Kernels> Copy for ContextSource<'_, K> {}

/// The leading tokens of a row that a shared context can stand for.
struct Prefix<'a> {
    tokens: &'a [u32],
    positions: &'a [usize],
    mask: KeyMask,
}

impl Prefix<'_> {
    /// Whether `context` was encoded from exactly these tokens, positions and mask.
    fn is_encoded_by<K: Kernels>(&self, context: &SharedContext<K>) -> bool {
        context.tokens() == self.tokens
            && context.positions() == self.positions
            && context.mask() == &self.mask
    }
}

/// The row's first `context_len` tokens, when a context encoded from them alone
/// gives exactly the keys the row would compute: no prefix token sees a key
/// after the prefix, and no bias touches the prefix's own queries.
fn shareable_prefix(row: &RowPlan) -> Option<Prefix<'_>> {
    let len = row.context_len;
    if len == 0 || len >= row.len() {
        return None;
    }
    let mask = match &row.prompt_mask {
        None => IntervalMask::compile(&chorus_mask::causal(), 0..len, len),
        Some(mask) => {
            let rows = mask.slice_rows(0..len);
            if !rows.sees_only_before(len) {
                return None;
            }
            rows.with_kv_len(len)
        }
    };
    if row
        .bias
        .as_ref()
        .is_some_and(|b: &RowBias| b.prompt[..len].iter().any(|&v| v != 0.0))
    {
        return None;
    }
    Some(Prefix {
        tokens: &row.tokens[..len],
        positions: &row.positions[..len],
        mask: KeyMask::Intervals(mask),
    })
}

/// The prompt of `row` from token `skip` on (the first `skip` being the shared
/// context), logits at its last token.
fn row_input(slot: usize, row: &RowPlan, skip: usize) -> RowInput {
    let len = row.len();
    let mask = match &row.prompt_mask {
        None => KeyMask::Causal,
        Some(mask) => KeyMask::Intervals(mask.slice_rows(skip..len)),
    };
    RowInput {
        slot,
        tokens: row.tokens[skip..].to_vec(),
        positions: row.positions[skip..].to_vec(),
        mask,
        bias: row.bias.as_ref().map(|b| KeyBias {
            keys: b.keys.clone(),
            values: b.prompt[skip..].to_vec(),
        }),
        logits_at: vec![len - skip - 1],
    }
}

/// One generated token of a live row: it sees every key before it; the
/// share-prefix bias applies on the prefix keys.
fn step_input(row: &LiveRow, token: u32) -> RowInput {
    let mut input = RowInput::causal(row.slot, vec![token], row.next_position);
    input.bias = row.generated_bias.as_ref().map(|(keys, value)| KeyBias {
        keys: keys.clone(),
        values: vec![*value],
    });
    input
}

#[cfg(test)]
mod tests {
    use super::{MIN_OVERLAPPED_BATCH, OVERLAPPED_BATCHES, common_prefix_len, fitting_batch};

    #[test]
    fn the_common_prefix_leaves_every_prompt_a_token_of_its_own() {
        assert_eq!(common_prefix_len(&[]), 0);
        assert_eq!(common_prefix_len(&[vec![1, 2, 3]]), 2);
        assert_eq!(common_prefix_len(&[vec![1, 2, 3, 4], vec![1, 2, 5]]), 2);
        // The shorter prompt is the prefix of the longer: it keeps its last token.
        assert_eq!(common_prefix_len(&[vec![1, 2, 3, 4], vec![1, 2, 3]]), 2);
        assert_eq!(common_prefix_len(&[vec![1, 2, 3], vec![1, 2, 3, 4]]), 2);
        assert_eq!(common_prefix_len(&[vec![7, 2], vec![1, 2]]), 0);
        assert_eq!(common_prefix_len(&[vec![1, 2], vec![]]), 0);
    }

    #[test]
    fn a_batch_fills_four_fifths_of_free_memory_within_the_run() {
        // 80 fit: 13 batches of 77, not 12 of 80 and a last one of 40.
        assert_eq!(fitting_batch(1000, 10, 1000), 77);
        assert_eq!(fitting_batch(1000, 10, 30), 30);
        // Nothing fits: still one question per batch, so the run can proceed
        // (and the device reports what it is out of).
        assert_eq!(fitting_batch(1000, 5000, 30), 1);
        assert_eq!(fitting_batch(1000, 0, 30), 30);
    }

    #[test]
    fn a_long_run_is_split_so_host_work_overlaps_the_device() {
        let plenty = 1 << 40;
        // WebQuestions' 2,032 test items fit whole on an H200: two batches.
        assert_eq!(fitting_batch(plenty, 1 << 20, 2032), 1016);
        // 1,363 fit on an H100: two equal batches, not 1,363 + 669.
        assert_eq!(fitting_batch(1363 * 5 / 4 * 100, 100, 2032), 1016);
        // Each keeps 256 questions at least: 600 make two batches, 511 one.
        assert_eq!(fitting_batch(plenty, 1, 600), 300);
        assert_eq!(fitting_batch(plenty, 1, 511), 511);
    }

    proptest::proptest! {
        #[test]
        fn batches_fit_memory_and_split_a_run_evenly(
            free in 0u64..1 << 40,
            per_question in 0u64..1 << 30,
            questions in 1usize..20_000,
        ) {
            let batch = fitting_batch(free, per_question, questions);
            let fits = (free / 5 * 4) / per_question.max(1);
            proptest::prop_assert!(batch >= 1 && batch <= questions);
            proptest::prop_assert!(batch as u64 <= fits.max(1));
            let count = questions.div_ceil(batch);
            proptest::prop_assert!(count >= (questions / MIN_OVERLAPPED_BATCH).min(OVERLAPPED_BATCHES));
            // The last batch is short by fewer questions than there are batches.
            proptest::prop_assert!(count * batch - questions < count);
        }
    }
}
