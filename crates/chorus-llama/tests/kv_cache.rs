//! KV-cache behaviour on random tiny weights: incremental decoding equals one full
//! forward pass, and the cache operations (truncate, fork, select/repeat rows) keep
//! that equality.

use burn::tensor::Tensor;
use chorus_llama::{Cpu, ForwardInput, KvCache, Llama, RandomWeights, presets};

const TOLERANCE: f32 = 1e-4;

fn tiny_model() -> Llama<Cpu> {
    let weights = RandomWeights::with_std(presets::tiny(), 11, 0.2);
    Llama::from_source(&weights, &Default::default()).unwrap()
}

fn values(t: Tensor<Cpu, 3>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits at every position of `tokens` (batch rows of equal length), no cache.
fn full_pass(model: &Llama<Cpu>, tokens: Vec<Vec<u32>>) -> Vec<f32> {
    let len = tokens[0].len();
    let mut cache = model.new_cache(tokens.len());
    let mut input = ForwardInput::causal(tokens, 0);
    input.logits_at = (0..len).collect();
    values(model.forward(&input, &mut cache).unwrap())
}

/// Logits of the last token after feeding `tokens` one at a time to `cache`.
fn step(model: &Llama<Cpu>, cache: &mut KvCache<Cpu>, tokens: Vec<Vec<u32>>) -> Vec<f32> {
    let input = ForwardInput::causal(tokens, cache.len());
    values(model.forward(&input, cache).unwrap())
}

fn sequence(seed: u32, len: usize) -> Vec<u32> {
    (0..len as u32)
        .map(|i| (seed * 31 + i * 17 + 3) % 97)
        .collect()
}

#[test]
fn prefill_then_single_token_steps_equal_one_full_forward() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let rows = vec![sequence(1, 12), sequence(2, 12)];
    let full = full_pass(&model, rows.clone());
    let prefill = 5;
    let mut cache = model.new_cache(2);
    let first: Vec<Vec<u32>> = rows.iter().map(|r| r[..prefill].to_vec()).collect();
    let mut input = ForwardInput::causal(first, 0);
    input.logits_at = (0..prefill).collect();
    let prefill_logits = values(model.forward(&input, &mut cache).unwrap());
    for b in 0..2 {
        let ours = &prefill_logits[b * prefill * vocab..(b + 1) * prefill * vocab];
        let want = &full[b * 12 * vocab..(b * 12 + prefill) * vocab];
        assert!(max_abs_diff(ours, want) < TOLERANCE, "prefill row {b}");
    }
    for t in prefill..12 {
        let next: Vec<Vec<u32>> = rows.iter().map(|r| vec![r[t]]).collect();
        let logits = step(&model, &mut cache, next);
        assert_eq!(cache.len(), t + 1);
        for b in 0..2 {
            let want = &full[(b * 12 + t) * vocab..(b * 12 + t + 1) * vocab];
            let diff = max_abs_diff(&logits[b * vocab..(b + 1) * vocab], want);
            assert!(diff < TOLERANCE, "row {b} step {t}: max abs diff {diff}");
        }
    }
}

#[test]
fn multi_token_chunks_continue_a_cache() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let row = sequence(5, 10);
    let full = full_pass(&model, vec![row.clone()]);
    let mut cache = model.new_cache(1);
    step(&model, &mut cache, vec![row[..4].to_vec()]);
    let logits = step(&model, &mut cache, vec![row[4..10].to_vec()]);
    let diff = max_abs_diff(&logits, &full[9 * vocab..10 * vocab]);
    assert!(diff < TOLERANCE, "chunked prefill differs by {diff}");
}

#[test]
fn truncate_rewinds_to_an_earlier_state() {
    let model = tiny_model();
    let row = sequence(3, 8);
    let mut cache = model.new_cache(1);
    step(&model, &mut cache, vec![row[..6].to_vec()]);
    let reference = step(&model, &mut cache, vec![vec![row[6]]]);
    step(&model, &mut cache, vec![vec![row[7]]]);
    cache.truncate(6).unwrap();
    assert_eq!(cache.len(), 6);
    let again = step(&model, &mut cache, vec![vec![row[6]]]);
    assert!(max_abs_diff(&reference, &again) < 1e-6);
    let error = cache.truncate(99).unwrap_err().to_string();
    assert!(error.contains("99"), "{error}");
    cache.truncate(0).unwrap();
    assert!(cache.is_empty());
}

#[test]
fn fork_is_independent_of_the_original() {
    let model = tiny_model();
    let row = sequence(4, 6);
    let mut cache = model.new_cache(1);
    step(&model, &mut cache, vec![row.clone()]);
    let mut fork = cache.fork();
    let a = step(&model, &mut fork, vec![vec![10]]);
    let b = step(&model, &mut cache, vec![vec![10]]);
    assert_eq!(fork.len(), 7);
    assert_eq!(cache.len(), 7);
    assert!(max_abs_diff(&a, &b) < 1e-6);
    let c = step(&model, &mut fork, vec![vec![20]]);
    assert_eq!(
        cache.len(),
        7,
        "stepping the fork must not grow the original"
    );
    assert_ne!(a, c);
}

#[test]
fn select_and_repeat_rows_keep_each_rows_history() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let rows = vec![sequence(7, 5), sequence(8, 5), sequence(9, 5)];
    let mut cache = model.new_cache(3);
    step(&model, &mut cache, rows.clone());
    let all = step(&model, &mut cache, vec![vec![1], vec![1], vec![1]]);

    let mut cache = model.new_cache(3);
    step(&model, &mut cache, rows.clone());
    let mut picked = cache.select_rows(&[2, 0, 2]).unwrap();
    assert_eq!(picked.batch(), 3);
    let logits = step(&model, &mut picked, vec![vec![1], vec![1], vec![1]]);
    let row = |v: &[f32], i: usize| v[i * vocab..(i + 1) * vocab].to_vec();
    assert!(max_abs_diff(&row(&logits, 0), &row(&all, 2)) < 1e-5);
    assert!(max_abs_diff(&row(&logits, 1), &row(&all, 0)) < 1e-5);
    assert!(max_abs_diff(&row(&logits, 2), &row(&all, 2)) < 1e-5);

    let mut single = cache.select_rows(&[1]).unwrap();
    let mut repeated = single.repeat_rows(2).unwrap();
    let twice = step(&model, &mut repeated, vec![vec![1], vec![1]]);
    let once = step(&model, &mut single, vec![vec![1]]);
    assert!(max_abs_diff(&row(&twice, 0), &once) < 1e-5);
    assert!(max_abs_diff(&row(&twice, 1), &once) < 1e-5);

    assert!(
        cache
            .select_rows(&[3])
            .unwrap_err()
            .to_string()
            .contains("row 3")
    );
    assert!(
        cache.repeat_rows(2).is_err(),
        "repeat_rows needs a batch-1 cache"
    );
}
