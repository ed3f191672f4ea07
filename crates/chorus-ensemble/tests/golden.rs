//! Parity of the whole engine with the PyTorch oracle (`tests/fixtures/golden`,
//! semantics in the oracle README) on the real SmolLM2-135M GGUF. Every test skips,
//! printing why, when the model file is absent (`bash scripts/fetch-model`).
//!
//! - prompts: our standard prompts are byte- and token-identical to `prompts.jsonl`;
//! - generated ids per method (per_prompt, avg, max, flex_segment, flex_continuous,
//!   goldens made with `--fuse-first none`, no share-prefix): a row may differ only
//!   from a step whose recorded top-1/top-2 margin is a near-tie (< 1e-2);
//! - top-10 step scores (`logits.jsonl` `steps`) within 1e-3;
//! - share-prefix flex gives plain flex's generations.
//!
//! The default tests cover the first 2 items of each dataset (CPU time in debug CI);
//! the `#[ignore]`d one covers every recorded item (the fixtures hold 20 per
//! dataset) and prints the agreement per method:
//! `cargo test -p chorus-ensemble --test golden -- --ignored --nocapture`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chorus_ensemble::{Answer, DecodeConfig, Engine, FlexConfig, Method, Positions, Question};
use chorus_llama::testing::golden_records as golden;
use chorus_llama::{Checkpoint, Cpu, Llama, Tokenizer};
use chorus_prompt::PromptContext;
use serde_json::Value;

// Same allocator as the binaries (glibc's malloc re-faults activation buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NEAR_TIE: f64 = 1e-2;
const LOGIT_TOLERANCE: f32 = 1e-3;
const DEFAULT_ITEMS: usize = 2;
const DATASETS: [&str; 2] = ["webqa", "myriadlama"];
const METHODS: [&str; 5] = [
    "per_prompt",
    "avg",
    "max",
    "flex_segment",
    "flex_continuous",
];

/// The model and tokenizer, loaded once per test binary; `None` if absent.
fn loaded() -> Option<&'static (Arc<Llama<Cpu>>, Tokenizer)> {
    static LOADED: OnceLock<Option<(Arc<Llama<Cpu>>, Tokenizer)>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = chorus_llama::testing::smollm2_or_skip()?;
            let checkpoint = Checkpoint::open(&path).unwrap();
            let model = Llama::from_source(checkpoint.weights.as_ref(), &()).unwrap();
            Some((Arc::new(model), checkpoint.tokenizer))
        })
        .as_ref()
}

/// A golden item: uuid, paraphrases and the prompt context it was asked in.
struct Item {
    uuid: String,
    paraphrases: Vec<String>,
    context: PromptContext,
}

/// The context of the oracle's raw `few_shot` block; checks the round trip.
fn context(instruction: &str, few_shot: &str) -> PromptContext {
    let context = PromptContext::from_rendered(instruction, few_shot).unwrap();
    assert_eq!(context.few_shot_block(), few_shot);
    context
}

fn items(dataset: &str) -> Vec<Item> {
    golden(&format!("{dataset}.items.jsonl"))
        .into_iter()
        .map(|row| Item {
            uuid: row["uuid"].as_str().unwrap().to_owned(),
            paraphrases: strings(&row["paraphrases"]),
            context: context(
                row["instruction"].as_str().unwrap(),
                row["few_shot"].as_str().unwrap(),
            ),
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

fn engine(context: PromptContext) -> Option<Engine<Cpu>> {
    engine_with(context, DecodeConfig::default())
}

fn engine_with(context: PromptContext, decode: DecodeConfig) -> Option<Engine<Cpu>> {
    let (model, tokenizer) = loaded()?;
    Some(Engine::shared(Arc::clone(model), tokenizer.clone(), context, decode).unwrap())
}

fn method_of(name: &str) -> (Method, FlexConfig) {
    match name {
        "per_prompt" => (Method::PerPrompt, FlexConfig::default()),
        "avg" => (Method::Avg, FlexConfig::default()),
        "max" => (Method::Max, FlexConfig::default()),
        "flex_segment" => (Method::Flex, FlexConfig::pipeline(Positions::Segment)),
        "flex_continuous" => (Method::Flex, FlexConfig::pipeline(Positions::Continuous)),
        _ => panic!("unknown golden method {name}"),
    }
}

/// Golden rows of a method keyed by (uuid, paraphrase index or 0).
fn golden_rows(dataset: &str, method: &str) -> HashMap<(String, usize), Value> {
    golden(&format!("{dataset}.{method}.jsonl"))
        .into_iter()
        .map(|row| {
            let key = (
                row["uuid"].as_str().unwrap().to_owned(),
                row["paraphrase_index"].as_u64().unwrap_or(0) as usize,
            );
            (key, row)
        })
        .collect()
}

/// Agreement of one method on one dataset.
#[derive(Debug, Default)]
struct Agreement {
    rows: usize,
    identical: usize,
    /// Differing rows whose first difference is at a recorded near-tie.
    near_tie: usize,
    /// Differing rows NOT explained by a near-tie: (uuid, paraphrase, ours, golden).
    unexplained: Vec<(String, usize, Vec<u32>, Vec<u32>)>,
}

impl Agreement {
    fn rate(&self) -> f64 {
        self.identical as f64 / self.rows.max(1) as f64
    }

    /// Prints the counts of one dataset and method.
    fn report(&self, dataset: &str, method: &str) {
        eprintln!(
            "{dataset} {method}: {}/{} rows identical ({:.1}%), {} near-tie differences, {} unexplained",
            self.identical,
            self.rows,
            100.0 * self.rate(),
            self.near_tie,
            self.unexplained.len()
        );
    }
}

/// Runs `method` over the first `limit` items and compares with the goldens.
fn compare(dataset: &str, method: &str, limit: usize) -> Option<Agreement> {
    let items = items(dataset);
    let items = &items[..limit.min(items.len())];
    let engine = engine(items[0].context.clone())?;
    let questions: Vec<Question> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!(item.context, items[0].context, "one context per dataset");
            Question::new(i, item.paraphrases.clone())
        })
        .collect();
    let (m, flex) = method_of(method);
    let answers = engine.run(m, &flex, &questions).unwrap();
    let golden = golden_rows(dataset, method);
    let mut agreement = Agreement::default();
    for answer in &answers {
        let uuid = &items[answer.item_index].uuid;
        let paraphrase = answer.paraphrase_index.unwrap_or(0);
        let row = &golden[&(uuid.clone(), paraphrase)];
        check_row(answer, row, &mut agreement, uuid, paraphrase);
    }
    Some(agreement)
}

fn check_row(
    answer: &Answer,
    row: &Value,
    agreement: &mut Agreement,
    uuid: &str,
    paraphrase: usize,
) {
    agreement.rows += 1;
    let expected = ids(&row["generated_ids"]);
    if answer.generated_ids == expected {
        agreement.identical += 1;
        assert_eq!(answer.generation, row["generation"].as_str().unwrap());
        assert_eq!(answer.prediction, row["prediction"].as_str().unwrap());
        assert_eq!(
            answer.stop_reason.name(),
            row["stop_reason"].as_str().unwrap()
        );
        return;
    }
    let first_difference = answer
        .generated_ids
        .iter()
        .zip(&expected)
        .position(|(a, b)| a != b)
        .unwrap_or(answer.generated_ids.len().min(expected.len()));
    let margins: Vec<f64> = row["step_margins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    if margins.get(first_difference).is_some_and(|m| *m < NEAR_TIE) {
        agreement.near_tie += 1;
    } else {
        agreement.unexplained.push((
            uuid.to_owned(),
            paraphrase,
            answer.generated_ids.clone(),
            expected,
        ));
    }
}

fn assert_parity(dataset: &str, method: &str, limit: usize, min_rate: f64) {
    let Some(agreement) = compare(dataset, method, limit) else {
        return;
    };
    agreement.report(dataset, method);
    assert!(
        agreement.unexplained.is_empty(),
        "{dataset} {method}: {:?}",
        agreement.unexplained
    );
    assert!(
        agreement.rate() >= min_rate,
        "{dataset} {method}: rate {}",
        agreement.rate()
    );
}

macro_rules! parity_tests {
    ($($name:ident: $dataset:literal, $method:literal;)+) => {
        $(
            #[test]
            fn $name() {
                // Near-ties may flip a row; unexplained differences never.
                assert_parity($dataset, $method, DEFAULT_ITEMS, 0.5);
            }
        )+
    };
}

parity_tests! {
    webqa_per_prompt: "webqa", "per_prompt";
    webqa_avg: "webqa", "avg";
    webqa_max: "webqa", "max";
    webqa_flex_segment: "webqa", "flex_segment";
    webqa_flex_continuous: "webqa", "flex_continuous";
    myriadlama_per_prompt: "myriadlama", "per_prompt";
    myriadlama_avg: "myriadlama", "avg";
    myriadlama_max: "myriadlama", "max";
    myriadlama_flex_segment: "myriadlama", "flex_segment";
    myriadlama_flex_continuous: "myriadlama", "flex_continuous";
}

/// Every recorded item (20 per dataset; `CHORUS_GOLDEN_ITEMS` limits them) of both datasets, every method: at
/// least 98% identical rows and no difference outside a recorded near-tie.
#[test]
#[ignore = "all 20 recorded items x 5 methods x 2 datasets; long on CPU"]
fn all_items_all_methods() {
    let limit = std::env::var("CHORUS_GOLDEN_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let mut failures = Vec::new();
    for dataset in DATASETS {
        for method in METHODS {
            let Some(agreement) = compare(dataset, method, limit) else {
                return;
            };
            agreement.report(dataset, method);
            if !agreement.unexplained.is_empty() || agreement.rate() < 0.98 {
                failures.push(format!("{dataset} {method}: {agreement:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn prompts_are_token_identical() {
    let Some((_, tokenizer)) = loaded() else {
        return;
    };
    let mut checked = 0;
    for dataset in DATASETS {
        let items: HashMap<String, Item> = items(dataset)
            .into_iter()
            .map(|i| (i.uuid.clone(), i))
            .collect();
        let context = items.values().next().unwrap().context.clone();
        let prefix = chorus_ensemble::rows::context_prefix(&context, tokenizer).unwrap();
        assert!(
            prefix.resumes(),
            "{dataset}: SmolLM2 prompts resume after the prefix"
        );
        let prompter = chorus_ensemble::rows::Prompter {
            context: &context,
            tokenizer,
            prefix: &prefix,
        };
        for row in golden("prompts.jsonl")
            .iter()
            .filter(|r| r["dataset"] == dataset)
        {
            let item = &items[row["uuid"].as_str().unwrap()];
            assert_eq!(item.context, context);
            let paraphrase = &item.paraphrases[row["paraphrase_index"].as_u64().unwrap() as usize];
            assert_eq!(
                prompter.standard_text(paraphrase),
                row["prompt"].as_str().unwrap()
            );
            assert_eq!(
                prompter.standard_row(0, paraphrase).unwrap().tokens,
                ids(&row["token_ids"])
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 200);
}

#[test]
fn webqa_step_scores_match_within_tolerance() {
    assert_step_scores("webqa", 1);
}

#[test]
fn myriadlama_step_scores_match_within_tolerance() {
    assert_step_scores("myriadlama", 1);
}

#[test]
#[ignore = "the 5 items per dataset that logits.jsonl records; minutes on CPU"]
fn all_recorded_step_scores_match_within_tolerance() {
    for dataset in DATASETS {
        assert_step_scores(dataset, 5);
    }
}

/// Top-10 step scores of the first `limit` items, every method, within 1e-3
/// while our tokens agree with the oracle's.
fn assert_step_scores(dataset: &str, limit: usize) {
    if loaded().is_none() {
        return;
    }
    let steps: Vec<Value> = golden("logits.jsonl")
        .into_iter()
        .filter(|r| r["kind"] == "steps")
        .collect();
    let mut compared = 0;
    {
        let items: Vec<Item> = items(dataset).into_iter().take(limit).collect();
        let engine = engine(items[0].context.clone()).unwrap();
        let questions: Vec<Question> = items
            .iter()
            .enumerate()
            .map(|(i, item)| Question::new(i, item.paraphrases.clone()))
            .collect();
        for method in METHODS {
            let (m, flex) = method_of(method);
            for traced in engine.trace(m, &flex, &questions, 40).unwrap() {
                let uuid = &items[traced.answer.item_index].uuid;
                let Some(row) = steps.iter().find(|r| {
                    r["dataset"] == dataset
                        && r["uuid"] == uuid.as_str()
                        && r["method"] == method
                        && r["paraphrase_index"].as_u64().map(|p| p as usize)
                            == traced.answer.paraphrase_index
                }) else {
                    continue;
                };
                let expected_ids = ids(&row["generated_ids"]);
                for (step, theirs) in row["top10_per_step"].as_array().unwrap().iter().enumerate() {
                    if traced.answer.generated_ids[..step] != expected_ids[..step]
                        || step >= traced.steps.len()
                    {
                        break;
                    }
                    let ours: HashMap<u32, f32> = traced.steps[step].iter().copied().collect();
                    for pair in theirs.as_array().unwrap() {
                        let id = pair[0].as_u64().unwrap() as u32;
                        let value = pair[1].as_f64().unwrap() as f32;
                        let mine = ours.get(&id).unwrap_or_else(|| panic!("{dataset} {method} {uuid} step {step}: token {id} not in our top 40"));
                        assert!(
                            (mine - value).abs() <= LOGIT_TOLERANCE,
                            "{dataset} {method} {uuid} step {step} token {id}: {mine} vs {value}"
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared >= 90 * limit, "only {compared} scores compared");
}

/// Share-prefix flex (one prefix copy + ln k bias) decodes like plain flex.
#[test]
fn share_prefix_flex_equals_plain_flex() {
    if loaded().is_none() {
        return;
    }
    for dataset in DATASETS {
        let items: Vec<Item> = items(dataset).into_iter().take(2).collect();
        let engine = engine(items[0].context.clone()).unwrap();
        let questions: Vec<Question> = items
            .iter()
            .enumerate()
            .map(|(i, item)| Question::new(i, item.paraphrases.clone()))
            .collect();
        let plain = FlexConfig {
            share_prefix: false,
            ..FlexConfig::default()
        };
        let shared = FlexConfig::default();
        let a = engine.run(Method::Flex, &plain, &questions).unwrap();
        let b = engine.run(Method::Flex, &shared, &questions).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                x.generated_ids, y.generated_ids,
                "{dataset} item {}",
                x.item_index
            );
            assert!(
                y.prompt_tokens * 3 < x.prompt_tokens,
                "{} vs {}",
                y.prompt_tokens,
                x.prompt_tokens
            );
        }
    }
}

/// Every method with the shared context (the default) against every row
/// encoded whole (`--no-shared-context`): identical generations, step scores
/// within 1e-4, on the first `limit` items of both datasets.
fn assert_shared_context_is_exact(limit: usize) {
    if loaded().is_none() {
        return;
    }
    let mut cases: Vec<(Method, FlexConfig)> = Method::ALL
        .into_iter()
        .filter(|m| *m != Method::Flex)
        .map(|m| (m, FlexConfig::default()))
        .collect();
    cases.extend([
        (Method::Flex, FlexConfig::default()),
        (Method::Flex, FlexConfig::pipeline(Positions::Segment)),
        (Method::Flex, FlexConfig::pipeline(Positions::Continuous)),
    ]);
    for dataset in DATASETS {
        let items: Vec<Item> = items(dataset).into_iter().take(limit).collect();
        let questions: Vec<Question> = items
            .iter()
            .enumerate()
            .map(|(i, item)| Question::new(i, item.paraphrases.clone()))
            .collect();
        let context = items[0].context.clone();
        let shared = engine(context.clone()).unwrap();
        let whole = engine_with(
            context,
            DecodeConfig {
                shared_context: false,
                ..DecodeConfig::default()
            },
        )
        .unwrap();
        let mut worst = 0f32;
        for (method, flex) in &cases {
            let a = shared.trace(*method, flex, &questions, 10).unwrap();
            let b = whole.trace(*method, flex, &questions, 10).unwrap();
            for (x, y) in a.iter().zip(&b) {
                let what = format!("{dataset} {method} {flex:?} item {}", x.answer.item_index);
                assert_eq!(x.answer.generated_ids, y.answer.generated_ids, "{what}");
                for (sx, sy) in x.steps.iter().zip(&y.steps) {
                    for ((tx, vx), (ty, vy)) in sx.iter().zip(sy) {
                        assert_eq!(tx, ty, "{what}");
                        worst = worst.max((vx - vy).abs());
                    }
                }
            }
        }
        let stats = shared.context_stats();
        eprintln!(
            "{dataset}: shared context vs whole rows, max step-score diff {worst:e}; {stats:?}"
        );
        assert!(worst < 1e-4, "{dataset}: {worst}");
        assert_eq!(stats.fallback_rows, 0, "{dataset}: {stats:?}");
    }
}

#[test]
fn the_shared_context_changes_no_generation() {
    assert_shared_context_is_exact(1);
}

#[test]
#[ignore = "all 20 recorded items x 9 method settings x 2 datasets, twice; long on CPU"]
fn the_shared_context_changes_no_generation_on_any_golden_item() {
    assert_shared_context_is_exact(usize::MAX);
}
