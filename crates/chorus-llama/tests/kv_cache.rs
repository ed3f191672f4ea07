//! KV-cache behaviour on random tiny weights: incremental decoding equals one full
//! forward pass, a shared context encoded once equals encoding it in every row,
//! and the cache operations (truncate, fork, slot selection, growth) keep that
//! equality.

use std::sync::Arc;

use chorus_llama::{Cpu, ForwardInput, KeyMask, KvCache, Llama, RandomWeights, RowInput, presets};

const TOLERANCE: f32 = 1e-4;

fn tiny_model() -> Llama<Cpu> {
    let weights = RandomWeights::with_std(presets::tiny(), 11, 0.2);
    Llama::from_source(&weights, &()).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits at every position of each row, from empty slots.
fn full_pass(model: &Llama<Cpu>, tokens: Vec<Vec<u32>>) -> Vec<f32> {
    let mut cache = model.new_cache(tokens.len(), 4).unwrap();
    let mut input = ForwardInput::causal(tokens, 0);
    for row in &mut input.rows {
        row.logits_at = (0..row.tokens.len()).collect();
    }
    let logits = model.forward(&input, &mut cache).unwrap();
    model.logits_to_vec(&logits).unwrap()
}

/// Logits of each row's last token after feeding `tokens` (row `i` to slot `i`).
fn step(model: &Llama<Cpu>, cache: &mut KvCache<Cpu>, tokens: Vec<Vec<u32>>) -> Vec<f32> {
    let rows = tokens
        .into_iter()
        .enumerate()
        .map(|(slot, t)| RowInput::causal(slot, t, cache.keys(slot)))
        .collect();
    let logits = model.forward(&ForwardInput { rows }, cache).unwrap();
    model.logits_to_vec(&logits).unwrap()
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
    // A capacity below the final length: the store grows on the way.
    let mut cache = model.new_cache(2, 6).unwrap();
    let first: Vec<Vec<u32>> = rows.iter().map(|r| r[..prefill].to_vec()).collect();
    let mut input = ForwardInput::causal(first, 0);
    input
        .rows
        .iter_mut()
        .for_each(|r| r.logits_at = (0..prefill).collect());
    let prefill_logits = model
        .logits_to_vec(&model.forward(&input, &mut cache).unwrap())
        .unwrap();
    for b in 0..2 {
        let ours = &prefill_logits[b * prefill * vocab..(b + 1) * prefill * vocab];
        let want = &full[b * 12 * vocab..(b * 12 + prefill) * vocab];
        assert!(max_abs_diff(ours, want) < TOLERANCE, "prefill row {b}");
    }
    for t in prefill..12 {
        let next: Vec<Vec<u32>> = rows.iter().map(|r| vec![r[t]]).collect();
        let logits = step(&model, &mut cache, next);
        assert_eq!(cache.len(0), t + 1);
        for b in 0..2 {
            let want = &full[(b * 12 + t) * vocab..(b * 12 + t + 1) * vocab];
            let diff = max_abs_diff(&logits[b * vocab..(b + 1) * vocab], want);
            assert!(diff < TOLERANCE, "row {b} step {t}: max abs diff {diff}");
        }
    }
    assert!(cache.capacity() >= 12);
}

#[test]
fn multi_token_chunks_continue_a_cache() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let row = sequence(5, 10);
    let full = full_pass(&model, vec![row.clone()]);
    let mut cache = model.new_cache(1, 10).unwrap();
    step(&model, &mut cache, vec![row[..4].to_vec()]);
    let logits = step(&model, &mut cache, vec![row[4..10].to_vec()]);
    let diff = max_abs_diff(&logits, &full[9 * vocab..10 * vocab]);
    assert!(diff < TOLERANCE, "chunked prefill differs by {diff}");
}

#[test]
fn a_shared_context_equals_encoding_it_in_every_row() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let context = sequence(6, 9);
    let questions = [sequence(7, 4), sequence(8, 2), sequence(9, 6)];
    let encoded = model
        .encode_context(context.clone(), (0..9).collect(), KeyMask::Causal)
        .unwrap();
    assert_eq!(encoded.len(), 9);
    let encoded = Arc::new(encoded);
    // Slot 1 does not share: it is fed the whole prompt.
    let mut cache = model
        .new_cache_sharing(&encoded, vec![true, false, true], 8)
        .unwrap();
    assert_eq!((cache.keys(0), cache.keys(1)), (9, 0));
    let rows = questions
        .iter()
        .enumerate()
        .map(|(slot, q)| {
            let tokens = if slot == 1 {
                [context.clone(), q.clone()].concat()
            } else {
                q.clone()
            };
            RowInput::causal(slot, tokens, cache.keys(slot))
        })
        .collect();
    let shared = model
        .logits_to_vec(&model.forward(&ForwardInput { rows }, &mut cache).unwrap())
        .unwrap();
    let whole: Vec<Vec<u32>> = questions
        .iter()
        .map(|q| [context.clone(), q.clone()].concat())
        .collect();
    let mut plain = model.new_cache(3, 16).unwrap();
    let reference = step(&model, &mut plain, whole.clone());
    assert!(max_abs_diff(&shared, &reference) < TOLERANCE);
    // Decoding continues the same way.
    let next = vec![vec![1], vec![2], vec![3]];
    let a = step(&model, &mut cache, next.clone());
    let b = step(&model, &mut plain, next);
    assert!(max_abs_diff(&a, &b) < TOLERANCE);
    assert_eq!(a.len(), 3 * vocab);
}

#[test]
fn truncate_rewinds_to_an_earlier_state() {
    let model = tiny_model();
    let row = sequence(3, 8);
    let mut cache = model.new_cache(1, 8).unwrap();
    step(&model, &mut cache, vec![row[..6].to_vec()]);
    let reference = step(&model, &mut cache, vec![vec![row[6]]]);
    step(&model, &mut cache, vec![vec![row[7]]]);
    cache.truncate(0, 6).unwrap();
    assert_eq!(cache.len(0), 6);
    let again = step(&model, &mut cache, vec![vec![row[6]]]);
    assert!(max_abs_diff(&reference, &again) < 1e-6);
    let error = cache.truncate(0, 99).unwrap_err().to_string();
    assert!(error.contains("99"), "{error}");
    cache.truncate(0, 0).unwrap();
    assert!(cache.is_empty());
}

#[test]
fn fork_is_independent_of_the_original() {
    let model = tiny_model();
    let row = sequence(4, 6);
    let mut cache = model.new_cache(1, 8).unwrap();
    step(&model, &mut cache, vec![row.clone()]);
    let mut fork = model.fork_cache(&cache).unwrap();
    let a = step(&model, &mut fork, vec![vec![10]]);
    let b = step(&model, &mut cache, vec![vec![10]]);
    assert_eq!((fork.len(0), cache.len(0)), (7, 7));
    assert!(max_abs_diff(&a, &b) < 1e-6);
    let c = step(&model, &mut fork, vec![vec![20]]);
    assert_eq!(
        cache.len(0),
        7,
        "stepping the fork must not grow the original"
    );
    assert_ne!(a, c);
}

#[test]
fn selected_slots_keep_each_rows_history() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let rows = vec![sequence(7, 5), sequence(8, 3), sequence(9, 5)];
    let mut cache = model.new_cache(3, 6).unwrap();
    step(&model, &mut cache, rows.clone());
    let before = model.fork_cache(&cache).unwrap();
    let all = step(&model, &mut cache, vec![vec![1], vec![1], vec![1]]);

    let mut picked = model.select_slots(&before, &[2, 1, 2]).unwrap();
    assert_eq!(picked.slots(), 3);
    assert_eq!((picked.len(0), picked.len(1)), (5, 3));
    let logits = step(&model, &mut picked, vec![vec![1], vec![1], vec![1]]);
    let row = |v: &[f32], i: usize| v[i * vocab..(i + 1) * vocab].to_vec();
    assert!(max_abs_diff(&row(&logits, 0), &row(&all, 2)) < 1e-5);
    assert!(max_abs_diff(&row(&logits, 1), &row(&all, 1)) < 1e-5);
    assert!(max_abs_diff(&row(&logits, 2), &row(&all, 2)) < 1e-5);

    let error = model.select_slots(&before, &[3]).unwrap_err().to_string();
    assert!(error.contains("slot 3"), "{error}");
    assert!(model.select_slots(&before, &[]).is_err());
}
