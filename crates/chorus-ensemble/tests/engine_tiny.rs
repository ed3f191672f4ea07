//! Engine behaviour on a tiny random model: batching, ragged rows, KV cache,
//! method laws (one paraphrase fuses to itself), share-prefix and shared-context
//! exactness, sampling.

mod common;

use chorus_ensemble::ContextStats;
use chorus_ensemble::{
    Answer, DecodeConfig, FlexConfig, FlexMask, Method, Positions, Question, SamplingConfig,
    StopReason,
};
use chorus_llama::ForwardInput;
use chorus_prompt::FuseFirst;
use common::{questions, tiny_engine};

fn decode(batch_size: usize) -> DecodeConfig {
    DecodeConfig {
        batch_size: chorus_ensemble::BatchSize::Fixed(batch_size),
        ..DecodeConfig::default()
    }
}

fn ids(answers: &[Answer]) -> Vec<Vec<u32>> {
    answers.iter().map(|a| a.generated_ids.clone()).collect()
}

fn flex_configs() -> Vec<FlexConfig> {
    let mut configs = Vec::new();
    for positions in [Positions::Segment, Positions::Continuous] {
        for fuse_first in [FuseFirst::None, FuseFirst::SharedSuffix] {
            for share_prefix in [false, true] {
                configs.push(FlexConfig {
                    positions,
                    fuse_first,
                    share_prefix,
                    ..FlexConfig::default()
                });
            }
        }
    }
    configs.push(FlexConfig {
        mask: FlexMask::Structured,
        ..FlexConfig::default()
    });
    configs
}

/// Greedy decoding the slow way: one full forward over prompt + generation per
/// step, no cache reuse, no padding.
fn reference_greedy(
    engine: &chorus_ensemble::Engine<chorus_llama::Cpu>,
    prompt: &str,
    max_new: usize,
) -> Vec<u32> {
    let mut tokens = engine.tokenizer().encode_prompt(prompt).unwrap();
    let mut out = Vec::new();
    let vocab = engine.model().config().vocab_size;
    for _ in 0..max_new {
        let model = engine.model();
        let mut cache = model.new_cache(1, tokens.len()).unwrap();
        let logits = model
            .forward(&ForwardInput::causal(vec![tokens.clone()], 0), &mut cache)
            .unwrap();
        let logits = model.logits_to_vec(&logits).unwrap();
        let token = chorus_ensemble::score::argmax(&logits[..vocab])
            .unwrap()
            .token;
        out.push(token);
        tokens.push(token);
        let text = engine.tokenizer().decode(&[token]).unwrap();
        if Some(token) == engine.tokenizer().eos_id() || text.contains('\n') {
            break;
        }
    }
    out
}

#[test]
fn kv_cached_batched_per_prompt_equals_uncached_greedy() {
    let engine = tiny_engine(decode(8), false);
    let answers = engine
        .run(Method::PerPrompt, &FlexConfig::default(), &questions())
        .unwrap();
    assert_eq!(answers.len(), 6);
    for answer in &answers {
        let expected = reference_greedy(&engine, &answer.prompts[0], 10);
        assert_eq!(
            answer.generated_ids, expected,
            "item {} paraphrase {:?}",
            answer.item_index, answer.paraphrase_index
        );
        assert_eq!(answer.step_margins.len(), answer.generated_ids.len());
    }
}

#[test]
fn answers_do_not_depend_on_batch_size() {
    let one = tiny_engine(decode(1), false);
    let many = tiny_engine(decode(3), false);
    for method in Method::ALL {
        for flex in flex_configs() {
            let a = one.run(method, &flex, &questions()).unwrap();
            let b = many.run(method, &flex, &questions()).unwrap();
            assert_eq!(ids(&a), ids(&b), "{method} {flex:?}");
            if method != Method::Flex {
                break;
            }
        }
    }
}

/// On the CPU the kernels report no memory limit: `auto` means the CPU default,
/// a fixed size is taken as given.
#[test]
fn auto_batches_on_the_cpu_hold_the_cpu_default() {
    use chorus_ensemble::{BatchSize, strategy_for};
    let auto = tiny_engine(
        DecodeConfig {
            batch_size: BatchSize::Auto,
            ..DecodeConfig::default()
        },
        false,
    );
    let strategy = strategy_for(Method::Avg, &FlexConfig::default());
    let questions = questions();
    assert_eq!(
        auto.batch_size_for(strategy.as_ref(), &questions).unwrap(),
        BatchSize::CPU_DEFAULT
    );
    let fixed = tiny_engine(decode(3), false);
    assert_eq!(
        fixed.batch_size_for(strategy.as_ref(), &questions).unwrap(),
        3
    );
}

#[test]
fn one_paraphrase_fuses_to_itself() {
    let engine = tiny_engine(decode(4), false);
    let single: Vec<Question> = questions()
        .into_iter()
        .map(|q| Question::new(q.item_index, vec![q.paraphrases[0].clone()]))
        .collect();
    let reference = ids(&engine
        .run(Method::PerPrompt, &FlexConfig::default(), &single)
        .unwrap());
    for method in [
        Method::Origin,
        Method::Avg,
        Method::Max,
        Method::WeightedAvg,
        Method::WeightedMax,
    ] {
        assert_eq!(
            ids(&engine.run(method, &FlexConfig::default(), &single).unwrap()),
            reference,
            "{method}"
        );
    }
    for flex in flex_configs() {
        assert_eq!(
            ids(&engine.run(Method::Flex, &flex, &single).unwrap()),
            reference,
            "{flex:?}"
        );
    }
}

#[test]
fn origin_answers_paraphrase_zero() {
    let engine = tiny_engine(decode(8), false);
    let origin = engine
        .run(Method::Origin, &FlexConfig::default(), &questions())
        .unwrap();
    let per_prompt = engine
        .run(Method::PerPrompt, &FlexConfig::default(), &questions())
        .unwrap();
    let firsts: Vec<&Answer> = per_prompt
        .iter()
        .filter(|a| a.paraphrase_index == Some(0))
        .collect();
    assert_eq!(origin.len(), 3);
    for (o, p) in origin.iter().zip(firsts) {
        assert_eq!(o.generated_ids, p.generated_ids);
        assert_eq!(o.paraphrase_index, Some(0));
    }
}

#[test]
fn share_prefix_is_exactly_plain_flex() {
    let engine = tiny_engine(decode(3), false);
    for fuse_first in [FuseFirst::SharedSuffix, FuseFirst::None] {
        let plain = FlexConfig {
            fuse_first,
            share_prefix: false,
            ..FlexConfig::default()
        };
        let shared = FlexConfig {
            share_prefix: true,
            ..plain
        };
        let a = engine.trace(Method::Flex, &plain, &questions(), 5).unwrap();
        let b = engine
            .trace(Method::Flex, &shared, &questions(), 5)
            .unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                x.answer.generated_ids, y.answer.generated_ids,
                "{fuse_first:?}"
            );
            assert!(
                y.answer.prompt_tokens < x.answer.prompt_tokens || x.answer.paraphrases.len() == 1
            );
            for (sx, sy) in x.steps.iter().zip(&y.steps) {
                for ((tx, vx), (ty, vy)) in sx.iter().zip(sy) {
                    assert_eq!(tx, ty);
                    assert!((vx - vy).abs() < 1e-4, "{fuse_first:?}: {vx} vs {vy}");
                }
            }
        }
    }
}

/// Two engines at `batch_size`: one encoding every prompt whole, one sharing
/// the context (the default).
fn without_and_with_shared_context(
    batch_size: usize,
) -> (
    chorus_ensemble::Engine<chorus_llama::Cpu>,
    chorus_ensemble::Engine<chorus_llama::Cpu>,
) {
    let whole = tiny_engine(
        DecodeConfig {
            shared_context: false,
            ..decode(batch_size)
        },
        false,
    );
    (whole, tiny_engine(decode(batch_size), false))
}

/// The same run with and without the shared context: identical generations,
/// step scores within float rounding.
fn assert_shared_context_is_exact(method: Method, flex: &FlexConfig) -> ContextStats {
    let (whole, shared) = without_and_with_shared_context(2);
    let a = whole.trace(method, flex, &questions(), 5).unwrap();
    let b = shared.trace(method, flex, &questions(), 5).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x.answer.generated_ids, y.answer.generated_ids,
            "{method} {flex:?}"
        );
        assert_eq!(
            x.answer.confidences.is_some(),
            y.answer.confidences.is_some()
        );
        for (sx, sy) in x.steps.iter().zip(&y.steps) {
            for ((tx, vx), (ty, vy)) in sx.iter().zip(sy) {
                assert_eq!(tx, ty, "{method} {flex:?}");
                assert!((vx - vy).abs() < 1e-4, "{method} {flex:?}: {vx} vs {vy}");
            }
        }
    }
    assert_eq!(whole.context_stats(), ContextStats::default());
    shared.context_stats()
}

#[test]
fn the_shared_context_changes_no_result_of_any_method() {
    for method in Method::ALL.into_iter().filter(|m| *m != Method::Flex) {
        let stats = assert_shared_context_is_exact(method, &FlexConfig::default());
        assert!(
            stats.context_tokens > 0 && stats.shared_rows > 0,
            "{method}: {stats:?}"
        );
        assert_eq!(stats.fallback_rows, 0, "{method}");
    }
    for flex in flex_configs() {
        let stats = assert_shared_context_is_exact(Method::Flex, &flex);
        assert_eq!(stats.fallback_rows, 0, "{flex:?}: {stats:?}");
        assert_eq!(
            stats.shared_rows, 3,
            "{flex:?}: one packed row per question"
        );
    }
}

#[test]
fn prefill_counts_each_rows_own_tokens_once() {
    let (whole, shared) = without_and_with_shared_context(2);
    let questions = questions();
    for engine in [&whole, &shared] {
        engine
            .run(Method::Avg, &FlexConfig::default(), &questions)
            .unwrap();
    }
    // Encoded whole, every row is its standard prompt.
    let prompter = whole.prompter();
    let prompts: usize = questions
        .iter()
        .flat_map(|q| &q.paraphrases)
        .map(|p| prompter.standard_row(0, p).unwrap().len())
        .sum();
    assert_eq!(whole.phase_times().prefill_tokens, prompts);
    // With the context shared, each row skips it (encoded once, apart).
    let stats = shared.context_stats();
    assert!(
        stats.shared_rows > 0 && stats.context_tokens > 0,
        "{stats:?}"
    );
    assert_eq!(
        shared.phase_times().prefill_tokens,
        prompts - stats.shared_rows * stats.context_tokens
    );
}

#[test]
fn pipeline_flex_first_token_is_the_last_paraphrases_own() {
    let engine = tiny_engine(decode(3), false);
    let flex = engine
        .trace(
            Method::Flex,
            &FlexConfig::pipeline(Positions::Segment),
            &questions(),
            5,
        )
        .unwrap();
    let alone = engine
        .trace(Method::PerPrompt, &FlexConfig::default(), &questions(), 5)
        .unwrap();
    for f in &flex {
        let last = f.answer.paraphrases.len() - 1;
        let own = alone
            .iter()
            .find(|a| {
                a.answer.item_index == f.answer.item_index
                    && a.answer.paraphrase_index == Some(last)
            })
            .unwrap();
        for ((tf, vf), (ta, va)) in f.steps[0].iter().zip(&own.steps[0]) {
            assert_eq!(tf, ta);
            assert!((vf - va).abs() < 1e-4, "{vf} vs {va}");
        }
    }
}

#[test]
fn weighted_methods_store_confidences_and_weighted_max_follows_the_most_confident() {
    let engine = tiny_engine(decode(3), false);
    let qs = questions();
    let weighted = engine
        .run(Method::WeightedMax, &FlexConfig::default(), &qs)
        .unwrap();
    let per_prompt = engine
        .run(Method::PerPrompt, &FlexConfig::default(), &qs)
        .unwrap();
    for answer in &weighted {
        let confidences = answer.confidences.as_ref().unwrap();
        assert_eq!(confidences.len(), answer.paraphrases.len());
        assert!(
            confidences.iter().all(|c| *c > 0.0 && *c <= 1.0),
            "{confidences:?}"
        );
        let best = chorus_ensemble::score::most_confident(confidences);
        let own = per_prompt
            .iter()
            .find(|a| a.item_index == answer.item_index && a.paraphrase_index == Some(best))
            .unwrap();
        assert_eq!(answer.generated_ids, own.generated_ids);
    }
    let avg = engine
        .run(Method::WeightedAvg, &FlexConfig::default(), &qs)
        .unwrap();
    assert!(avg.iter().all(|a| {
        a.confidences
            .as_ref()
            .is_some_and(|c| c.len() == a.paraphrases.len())
    }));
    assert!(
        engine
            .run(Method::Avg, &FlexConfig::default(), &qs)
            .unwrap()
            .iter()
            .all(|a| a.confidences.is_none())
    );
}

#[test]
fn answers_are_consistent_records() {
    let engine = tiny_engine(decode(2), false);
    for method in Method::ALL {
        let answers = engine
            .run(method, &FlexConfig::default(), &questions())
            .unwrap();
        for a in &answers {
            assert!(!a.generated_ids.is_empty() && a.generated_ids.len() <= 10);
            let last = *a.generated_ids.last().unwrap();
            let last_text = engine.tokenizer().decode(&[last]).unwrap();
            match a.stop_reason {
                StopReason::Newline => assert!(last_text.contains('\n')),
                StopReason::Eos => assert_eq!(Some(last), engine.tokenizer().eos_id()),
                StopReason::MaxNewTokens => assert_eq!(a.generated_ids.len(), 10),
            }
            assert_eq!(
                a.prediction,
                a.generation.split('\n').next().unwrap().trim()
            );
            assert!(a.prompt_tokens > 0);
        }
    }
}

#[test]
fn batches_are_handed_over_in_order() {
    let engine = tiny_engine(decode(2), false);
    let mut seen = Vec::new();
    engine
        .run_with(Method::Avg, &FlexConfig::default(), &questions(), |batch| {
            seen.push(batch.iter().map(|a| a.item_index).collect::<Vec<_>>());
            Ok::<(), chorus_ensemble::EnsembleError>(())
        })
        .unwrap();
    assert_eq!(seen, vec![vec![0, 1], vec![2]]);
}

#[test]
fn batches_are_handed_over_on_another_thread() {
    // So that writing a batch (checkpoint, fsync) overlaps decoding the next.
    let engine = tiny_engine(decode(1), false);
    let caller = std::thread::current().id();
    let mut handlers = Vec::new();
    engine
        .run_with(Method::Avg, &FlexConfig::default(), &questions(), |_| {
            handlers.push(std::thread::current().id());
            Ok::<(), chorus_ensemble::EnsembleError>(())
        })
        .unwrap();
    assert_eq!(handlers.len(), 3);
    assert!(handlers.iter().all(|&id| id != caller));
}

#[test]
fn a_failing_batch_handler_stops_the_run_with_its_error() {
    // Batches of one: the handler fails on the first, while the second is
    // being decoded; neither the second nor the third reaches it.
    let engine = tiny_engine(decode(1), false);
    let mut handed = 0;
    let outcome = engine.run_with(Method::Avg, &FlexConfig::default(), &questions(), |_| {
        handed += 1;
        Err(chorus_ensemble::EnsembleError::NoParaphrases { item_index: 99 })
    });
    match outcome {
        Err(chorus_ensemble::EnsembleError::NoParaphrases { item_index: 99 }) => {}
        other => panic!("expected the handler's error, got {other:?}"),
    }
    assert_eq!(handed, 1);
}

#[test]
fn an_engine_error_still_hands_over_the_batches_before_it() {
    // The third question has no paraphrase: planning it fails (ahead, while
    // the second batch is decoded), after the first two batches were handed over.
    let engine = tiny_engine(decode(1), false);
    let mut asked = questions();
    asked[2].paraphrases.clear();
    let mut seen = Vec::new();
    let outcome = engine.run_with(Method::Avg, &FlexConfig::default(), &asked, |batch| {
        seen.extend(batch.iter().map(|a| a.item_index));
        Ok::<(), chorus_ensemble::EnsembleError>(())
    });
    assert!(
        matches!(
            outcome,
            Err(chorus_ensemble::EnsembleError::NoParaphrases { item_index: 2 })
        ),
        "{outcome:?}"
    );
    assert_eq!(seen, vec![0, 1]);
}

#[test]
fn bos_starts_every_standalone_segment() {
    let engine = tiny_engine(decode(3), true);
    let bos = engine.tokenizer().bos_id().unwrap();
    let prompter = engine.prompter();
    let paraphrases = vec!["a?".to_string(), "bb?".to_string()];
    let plain = prompter
        .packed_row(0, &paraphrases, &FlexConfig::pipeline(Positions::Segment))
        .unwrap();
    let starts: Vec<u32> = plain
        .table
        .segments()
        .iter()
        .map(|s| plain.row.tokens[s.range.start])
        .collect();
    assert_eq!(starts, vec![bos, bos]);
    let shared = prompter
        .packed_row(
            0,
            &paraphrases,
            &FlexConfig {
                share_prefix: true,
                ..FlexConfig::default()
            },
        )
        .unwrap();
    assert_eq!(shared.row.tokens.iter().filter(|&&t| t == bos).count(), 1);
    assert_eq!(shared.row.tokens[0], bos);
    // With BOS, flex of one paraphrase still equals that prompt alone.
    let single = vec![Question::new(0, vec!["a?".into()])];
    let alone = engine
        .run(Method::PerPrompt, &FlexConfig::default(), &single)
        .unwrap();
    let flex = engine
        .run(Method::Flex, &FlexConfig::default(), &single)
        .unwrap();
    assert_eq!(ids(&alone), ids(&flex));
}

#[test]
fn sampling_is_seeded_and_cold_sampling_is_greedy() {
    let engine = tiny_engine(decode(2), false);
    let prompts: Vec<String> = ["Q: a\nA:", "Q: bb\nA:", "Q: ccc\nA:"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let hot = SamplingConfig {
        temperature: 1.5,
        top_p: 0.9,
        seed: 3,
        max_new_tokens: 12,
    };
    let a = engine.sample(&prompts, &hot).unwrap();
    assert_eq!(a, engine.sample(&prompts, &hot).unwrap());
    let other = engine
        .sample(&prompts, &SamplingConfig { seed: 4, ..hot })
        .unwrap();
    assert_ne!(a, other);
    // Batching does not change a prompt's draws.
    assert_eq!(
        a[2],
        tiny_engine(decode(1), false)
            .sample(&prompts[2..], &hot)
            .unwrap()[0]
    );
    let cold = engine
        .sample(
            &prompts,
            &SamplingConfig {
                temperature: 0.0,
                ..hot
            },
        )
        .unwrap();
    for (prompt, sampled) in prompts.iter().zip(&cold) {
        let greedy = reference_greedy(&engine, prompt, 12);
        let text = engine.tokenizer().decode(&greedy).unwrap();
        assert_eq!(sampled, text.split('\n').next().unwrap().trim());
    }
}

#[test]
fn sampling_with_the_shared_prompt_prefix_draws_what_whole_prompts_draw() {
    // One paraphrase round: every prompt starts with the same instruction and
    // examples, which `sample` encodes once.
    let prompts: Vec<String> = [
        "who is it?",
        "where now?",
        "what does jamaican people speak?",
    ]
    .iter()
    .map(|q| chorus_prompt::paraphrase_generation_prompt(q, 1).unwrap())
    .collect();
    let (whole, shared) = without_and_with_shared_context(2);
    for temperature in [0.0, 0.7, 1.5] {
        let sampling = SamplingConfig {
            temperature,
            top_p: 0.9,
            seed: 5,
            max_new_tokens: 12,
        };
        let drawn = shared.sample(&prompts, &sampling).unwrap();
        assert_eq!(
            drawn,
            whole.sample(&prompts, &sampling).unwrap(),
            "T = {temperature}"
        );
        // Another batch size, so other rows beside each prompt: same draws.
        let other = tiny_engine(decode(3), false);
        assert_eq!(
            drawn,
            other.sample(&prompts, &sampling).unwrap(),
            "T = {temperature}"
        );
    }
    // The shared prefix is not the run's context: the run's statistics stay empty.
    assert_eq!(shared.context_stats(), ContextStats::default());
}

#[test]
fn generated_paraphrases_load_back_as_webquestions() {
    let engine = tiny_engine(decode(4), false);
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("test.jsonl");
    std::fs::write(
        &source,
        "{\"uuid\":\"u1\",\"qid\":\"wqs0\",\"question\":\"who is it?\",\"answers\":[\"me\"]}\n\
         {\"uuid\":\"u2\",\"qid\":\"wqs1\",\"question\":\"where now?\",\"answers\":[\"here\",\"there\"]}\n",
    )
    .unwrap();
    let items = chorus_data::load_webquestions(&source, chorus_data::EmptyPolicy::Error)
        .unwrap()
        .items;
    let sampling = SamplingConfig {
        max_new_tokens: 8,
        ..SamplingConfig::default()
    };
    let rows = chorus_ensemble::generate_paraphrases(&engine, &items, 3, &sampling).unwrap();
    // Progress counts every prompt of every round (2 items x 3 rounds), batch by batch.
    let mut reports = Vec::new();
    let again = chorus_ensemble::generate_paraphrases_with_progress(
        &engine,
        &items,
        3,
        &sampling,
        &mut |done| reports.push(done),
    )
    .unwrap();
    assert_eq!(rows, again);
    assert_eq!(reports.iter().sum::<usize>(), 6, "{reports:?}");
    assert!(reports.iter().all(|&n| n <= 4), "batches of 4: {reports:?}");
    // Rows from rounds sampled one by one (as a resumed run keeps them) are
    // the same; a round of the wrong length is refused by its index.
    let rounds: Vec<Vec<String>> = (0..3)
        .map(|r| chorus_ensemble::paraphrase_round(&engine, &items, r, &sampling, &mut |_| {}))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        chorus_ensemble::paraphrase_rows(&items, &rounds).unwrap(),
        rows
    );
    let short = [rounds[0].clone(), rounds[1][..1].to_vec()];
    assert!(matches!(
        chorus_ensemble::paraphrase_rows(&items, &short),
        Err(chorus_ensemble::EnsembleError::RoundLength {
            round: 1,
            paraphrases: 1,
            items: 2
        })
    ));
    let out = dir.path().join("with_paraphrases.jsonl");
    let text: String = rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&out, text).unwrap();
    let loaded = chorus_data::load_webquestions(&out, chorus_data::EmptyPolicy::Error)
        .unwrap()
        .items;
    for (before, after) in items.iter().zip(&loaded) {
        assert_eq!(after.uuid, before.uuid);
        assert_eq!(after.answers, before.answers);
        assert_eq!(after.paraphrases.len(), 4);
        assert_eq!(after.paraphrases[0], before.paraphrases[0]);
        assert!(
            after
                .paraphrases
                .iter()
                .all(|p| !p.is_empty() && !p.contains('\n'))
        );
    }
}

/// Random weights whose final norm is NaN, so every logit is NaN and no token
/// can be chosen.
struct NanLogits(chorus_llama::RandomWeights);

impl chorus_llama::WeightSource for NanLogits {
    fn config(&self) -> &chorus_llama::LlamaConfig {
        self.0.config()
    }

    fn tensor(&self, name: &str) -> Result<chorus_llama::HostTensor, chorus_llama::LlamaError> {
        let mut tensor = self.0.tensor(name)?;
        if name == "model.norm.weight" {
            tensor.data.fill(f32::NAN);
        }
        Ok(tensor)
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

#[test]
fn a_step_without_a_choosable_token_names_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = common::char_tokenizer(dir.path(), false);
    let mut config = chorus_llama::presets::tiny();
    config.vocab_size = common::VOCAB;
    let weights = NanLogits(chorus_llama::RandomWeights::with_std(config, 11, 0.5));
    let model = chorus_llama::Llama::<chorus_llama::Cpu>::from_source(&weights, &()).unwrap();
    let engine =
        chorus_ensemble::Engine::new(model, tokenizer, common::context(), decode(4)).unwrap();
    // Greedy (fused on the kernels' side) and sampled (chosen on the host) alike
    // report the group, not a logits shape.
    let error = engine
        .run(Method::Avg, &FlexConfig::default(), &questions())
        .unwrap_err();
    assert!(
        matches!(
            error,
            chorus_ensemble::EnsembleError::EmptyScores { group: 0 }
        ),
        "{error:?}"
    );
    let hot = SamplingConfig {
        temperature: 1.0,
        top_p: 0.9,
        seed: 1,
        max_new_tokens: 3,
    };
    let error = engine.sample(&["Q: a\nA:".to_string()], &hot).unwrap_err();
    assert!(
        matches!(
            error,
            chorus_ensemble::EnsembleError::EmptyScores { group: 0 }
        ),
        "{error:?}"
    );
}

#[test]
fn an_empty_sampling_prompt_is_named_by_its_index_in_the_whole_list() {
    // Batches of 2: the empty prompt is the first of the second batch, index 2
    // of the list (not 0, its index within the batch).
    let engine = tiny_engine(decode(2), false);
    let prompts: Vec<String> = ["Q: a\nA:", "Q: bb\nA:", ""]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let hot = SamplingConfig {
        temperature: 1.0,
        top_p: 0.9,
        seed: 1,
        max_new_tokens: 3,
    };
    let error = engine.sample(&prompts, &hot).unwrap_err();
    assert!(
        matches!(
            error,
            chorus_ensemble::EnsembleError::EmptyPrompt { prompt_index: 2 }
        ),
        "{error:?}"
    );
}
