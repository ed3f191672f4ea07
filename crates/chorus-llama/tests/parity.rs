//! Parity with the PyTorch oracle (`tests/fixtures/golden`, semantics in the
//! oracle README) on the real SmolLM2-135M GGUF. Every test skips, printing why,
//! when the model file is absent (`bash scripts/fetch-model`).
//!
//! - top-10 logits at the last prompt position of each prompt run alone, ±1e-3;
//! - greedy continuations of `per_prompt` rows, token for token (up to a step whose
//!   recorded top-1/top-2 margin is a near-tie below 1e-2);
//! - the flex invariant and the first fused step on a packed item.
//!
//! The default tests cover the first 10 items of each dataset; the `#[ignore]`d
//! ones cover all 60 (`cargo test -p chorus-llama --test parity -- --ignored`).

use std::collections::HashMap;
use std::sync::OnceLock;

use chorus_llama::testing::{argmax, golden_records as golden};
use chorus_llama::{Checkpoint, Cpu, ForwardInput, KeyMask, KvCache, Llama, RowInput, Tokenizer};
use chorus_mask::{DenseMask, Role, SegmentTable, flex_rule};
use serde_json::Value;

/// Absolute tolerance on logits, as COMPASS asks for top-10 logits.
const LOGIT_TOLERANCE: f32 = 1e-3;
/// Recorded margins below this are near-ties where correct f32 maths may differ.
const NEAR_TIE: f64 = 1e-2;
const EOS: u32 = 2;
const MAX_NEW_TOKENS: usize = 10;

struct Loaded {
    model: Llama<Cpu>,
    tokenizer: Tokenizer,
}

/// The model, loaded once per test binary; `None` (with a printed reason) if absent.
fn loaded() -> Option<&'static Loaded> {
    static LOADED: OnceLock<Option<Loaded>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = chorus_llama::testing::smollm2_or_skip()?;
            let checkpoint = Checkpoint::open(&path).unwrap();
            let model = Llama::from_source(checkpoint.weights.as_ref(), &()).unwrap();
            Some(Loaded {
                model,
                tokenizer: checkpoint.tokenizer,
            })
        })
        .as_ref()
}

/// Prompt token ids by (dataset, uuid, paraphrase index).
fn prompt_ids() -> &'static HashMap<(String, String, u64), Vec<u32>> {
    static PROMPTS: OnceLock<HashMap<(String, String, u64), Vec<u32>>> = OnceLock::new();
    PROMPTS.get_or_init(|| {
        golden("prompts.jsonl")
            .into_iter()
            .map(|row| {
                let ids = row["token_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u32)
                    .collect();
                (key(&row), ids)
            })
            .collect()
    })
}

fn key(row: &Value) -> (String, String, u64) {
    (
        row["dataset"].as_str().unwrap().to_string(),
        row["uuid"].as_str().unwrap().to_string(),
        row["paraphrase_index"].as_u64().unwrap(),
    )
}

fn top10(row: &Value) -> Vec<(u32, f32)> {
    row["top10"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_u64().unwrap() as u32,
                pair[1].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

/// Logits of the last token after feeding `tokens` causally to slot 0 of `cache`.
fn feed(model: &Llama<Cpu>, cache: &mut KvCache<Cpu>, tokens: Vec<u32>) -> Vec<f32> {
    let row = RowInput::causal(0, tokens, cache.keys(0));
    let logits = model
        .forward(&ForwardInput { rows: vec![row] }, cache)
        .unwrap();
    model.logits_to_vec(&logits).unwrap()
}

fn one_slot(model: &Llama<Cpu>) -> KvCache<Cpu> {
    model.new_cache(1, 256).unwrap()
}

/// Checks our logits against a golden top-10: the same values at those ids, and no
/// other token clearly above the golden 10th. Returns the largest difference.
fn check_top10(ours: &[f32], want: &[(u32, f32)], what: &str) -> f32 {
    let mut worst = 0f32;
    for &(id, logit) in want {
        let diff = (ours[id as usize] - logit).abs();
        assert!(
            diff <= LOGIT_TOLERANCE,
            "{what}: token {id} logit {} vs oracle {logit}",
            ours[id as usize]
        );
        worst = worst.max(diff);
    }
    let floor = want.last().unwrap().1 + LOGIT_TOLERANCE;
    for (id, &v) in ours.iter().enumerate() {
        let listed = want.iter().any(|&(w, _)| w as usize == id);
        assert!(
            listed || v <= floor,
            "{what}: token {id} ({v}) would enter the oracle's top-10"
        );
    }
    worst
}

fn alone_logits_match(limit_items: usize) {
    let Some(loaded) = loaded() else { return };
    let rows: Vec<Value> = golden("logits.jsonl")
        .into_iter()
        .filter(|r| r["kind"] == "alone_last_prompt_position")
        .collect();
    let mut items_seen: Vec<(String, String)> = Vec::new();
    let mut worst = 0f32;
    let mut checked = 0;
    for row in &rows {
        let item = (
            row["dataset"].as_str().unwrap().to_string(),
            row["uuid"].as_str().unwrap().to_string(),
        );
        if !items_seen.contains(&item) {
            items_seen.push(item);
        }
        if items_seen
            .iter()
            .filter(|(d, _)| *d == row["dataset"])
            .count()
            > limit_items
        {
            continue;
        }
        let ids = prompt_ids()[&key(row)].clone();
        assert_eq!(ids.len() as u64, row["prompt_len"].as_u64().unwrap());
        let mut cache = one_slot(&loaded.model);
        let logits = feed(&loaded.model, &mut cache, ids);
        worst = worst.max(check_top10(
            &logits,
            &top10(row),
            &format!("{:?}", key(row)),
        ));
        checked += 1;
    }
    assert!(checked > 0);
    eprintln!("{checked} prompts: top-10 logits within {worst:e} of the oracle");
}

#[test]
fn top10_logits_of_prompts_alone_match_the_oracle() {
    alone_logits_match(2);
}

#[test]
#[ignore = "all 50 golden prompts, ~1 min in release"]
fn top10_logits_of_all_golden_prompts_match_the_oracle() {
    alone_logits_match(usize::MAX);
}

/// Greedy decoding with the oracle's stop rules; the stop token is kept.
fn greedy(loaded: &Loaded, prompt: Vec<u32>) -> Vec<u32> {
    let mut cache = one_slot(&loaded.model);
    let mut logits = feed(&loaded.model, &mut cache, prompt);
    let mut generated = Vec::new();
    while generated.len() < MAX_NEW_TOKENS {
        let next = argmax(&logits);
        generated.push(next);
        if next == EOS || loaded.tokenizer.decode(&[next]).unwrap().contains('\n') {
            break;
        }
        logits = feed(&loaded.model, &mut cache, vec![next]);
    }
    generated
}

fn continuations_match(dataset: &str, limit_items: usize) {
    let Some(loaded) = loaded() else { return };
    let rows = golden(&format!("{dataset}.per_prompt.jsonl"));
    let mut uuids: Vec<String> = Vec::new();
    let (mut exact, mut near_tie) = (0, 0);
    for row in &rows {
        let uuid = row["uuid"].as_str().unwrap().to_string();
        if !uuids.contains(&uuid) {
            uuids.push(uuid);
        }
        if uuids.len() > limit_items {
            break;
        }
        let want: Vec<u32> = row["generated_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let margins: Vec<f64> = row["step_margins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = greedy(loaded, prompt_ids()[&key(row)].clone());
        // Up to the first near-tie, the choice is determined: compare that prefix.
        let decided = margins
            .iter()
            .position(|&m| m < NEAR_TIE)
            .unwrap_or(want.len());
        if decided < want.len() {
            near_tie += 1;
        } else {
            exact += 1;
        }
        let n = decided.min(want.len());
        assert_eq!(
            got.get(..n),
            Some(&want[..n]),
            "{dataset} {:?}: generated {got:?}, oracle {want:?}",
            key(row)
        );
        if decided >= want.len() {
            assert_eq!(got, want, "{dataset} {:?}", key(row));
        }
    }
    eprintln!("{dataset}: {exact} rows identical, {near_tie} rows compared up to a near-tie step");
}

#[test]
fn greedy_continuations_match_the_oracle_webqa() {
    continuations_match("webqa", 10);
}

#[test]
fn greedy_continuations_match_the_oracle_myriadlama() {
    continuations_match("myriadlama", 10);
}

#[test]
#[ignore = "all 300 rows per dataset, several minutes"]
fn greedy_continuations_of_all_rows_match_the_oracle() {
    continuations_match("webqa", usize::MAX);
    continuations_match("myriadlama", usize::MAX);
}

/// The first webqa item, packed flex-style with segment positions: each segment end
/// equals the prompt alone (docs/DESIGN.md rule 3) and the oracle's recorded values, and
/// the first generated token's logits equal the oracle's second flex step.
#[test]
fn flex_packing_of_a_real_item_matches_alone_and_the_oracle() {
    let Some(loaded) = loaded() else { return };
    let model = &loaded.model;
    let logits_rows = golden("logits.jsonl");
    let flex_row = &golden("webqa.flex_segment.jsonl")[0];
    let uuid = flex_row["uuid"].as_str().unwrap();
    let prompts: Vec<Vec<u32>> = (0..5u64)
        .map(|p| prompt_ids()[&("webqa".to_string(), uuid.to_string(), p)].clone())
        .collect();
    let lengths: Vec<(Role, usize)> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| (Role::Question { paraphrase: i }, p.len()))
        .collect();
    let table = SegmentTable::from_lengths(&lengths).unwrap();
    let rule = flex_rule(&table);
    let n = table.len();
    let ends: Vec<usize> = table.segments().iter().map(|s| s.range.end - 1).collect();
    let input = ForwardInput {
        rows: vec![RowInput {
            slot: 0,
            tokens: prompts.concat(),
            positions: prompts.iter().flat_map(|p| 0..p.len()).collect(),
            mask: KeyMask::Dense(DenseMask::compile(&rule, 0..n, n)),
            bias: None,
            logits_at: ends,
        }],
    };
    let mut cache = model.new_cache(1, n + 1).unwrap();
    let packed = model
        .logits_to_vec(&model.forward(&input, &mut cache).unwrap())
        .unwrap();
    let vocab = model.config().vocab_size;
    let golden_of = |kind: &str, p: u64| {
        logits_rows
            .iter()
            .find(|r| {
                r["kind"] == kind
                    && r["uuid"] == uuid
                    && r["paraphrase_index"] == p
                    && r["positions"] != "continuous"
            })
            .map(top10)
            .unwrap()
    };
    let mut worst_alone = 0f32;
    for (p, prompt) in prompts.iter().enumerate() {
        let ours = &packed[p * vocab..(p + 1) * vocab];
        let alone = feed(model, &mut one_slot(model), prompt.clone());
        let diff = ours
            .iter()
            .zip(&alone)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst_alone = worst_alone.max(diff);
        check_top10(
            ours,
            &golden_of("flex_segment_end", p as u64),
            &format!("segment {p} end"),
        );
        check_top10(
            &alone,
            &golden_of("alone_last_prompt_position", p as u64),
            &format!("prompt {p} alone"),
        );
    }
    // Logits are ~10-30 here; the oracle measured 4e-5 for the same invariant.
    assert!(
        worst_alone < 2e-4,
        "packed segment ends differ from prompts alone by {worst_alone}"
    );
    eprintln!("flex invariant on the real model: max abs diff {worst_alone:e}");

    let first = flex_row["generated_ids"][0].as_u64().unwrap() as u32;
    let position = prompts.iter().map(Vec::len).max().unwrap();
    let step = ForwardInput {
        rows: vec![RowInput {
            slot: 0,
            tokens: vec![first],
            positions: vec![position],
            mask: KeyMask::Dense(DenseMask::compile(&rule, n..n + 1, n + 1)),
            bias: None,
            logits_at: vec![0],
        }],
    };
    let second = model
        .logits_to_vec(&model.forward(&step, &mut cache).unwrap())
        .unwrap();
    let want = logits_rows
        .iter()
        .find(|r| {
            r["kind"] == "flex_second_generated_step"
                && r["uuid"] == uuid
                && r["positions"] == "segment"
        })
        .map(top10)
        .unwrap();
    check_top10(&second, &want, "flex second step");
}
