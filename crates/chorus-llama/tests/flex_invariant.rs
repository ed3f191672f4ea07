//! docs/DESIGN.md rules 3 and 4 on random tiny weights (the real-model version lives in
//! `parity.rs`):
//! - packing prompts into one sequence with segment positions and the flex mask
//!   gives, at each segment's last token, the logits of that prompt run alone;
//! - one shared copy of a common prefix plus `ln(k)` on its keys for generated
//!   queries equals the k-copy flex pass, at every decoding step, whether the
//!   copy is in the row or a shared context encoded once.

use std::sync::Arc;

use chorus_llama::{
    Cpu, ForwardInput, InputError, KeyBias, KeyMask, KvCache, Llama, LlamaError, RandomWeights,
    RowInput, presets,
};
use chorus_mask::{DenseMask, IntervalMask, Role, SegmentTable, flex_rule, shared_prefix_bias};

const TOLERANCE: f32 = 1e-4;

fn tiny_model() -> Llama<Cpu> {
    let weights = RandomWeights::with_std(presets::tiny(), 5, 0.2);
    Llama::from_source(&weights, &()).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn prompt(seed: u32, len: usize) -> Vec<u32> {
    (0..len as u32)
        .map(|i| (seed * 37 + i * 13 + 1) % 97)
        .collect()
}

fn run(model: &Llama<Cpu>, cache: &mut KvCache<Cpu>, row: RowInput) -> Vec<f32> {
    let logits = model
        .forward(&ForwardInput { rows: vec![row] }, cache)
        .unwrap();
    model.logits_to_vec(&logits).unwrap()
}

/// Last-token logits of `tokens` run alone, causally.
fn alone(model: &Llama<Cpu>, tokens: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache(1, tokens.len()).unwrap();
    run(model, &mut cache, RowInput::causal(0, tokens.to_vec(), 0))
}

/// A packed prompt: tokens, per-token positions and its segment table.
struct Packed {
    tokens: Vec<u32>,
    positions: Vec<usize>,
    table: SegmentTable,
}

impl Packed {
    /// Segments one after another, each with positions `start..start + len`.
    fn new(segments: &[(Role, Vec<u32>, usize)]) -> Self {
        let mut tokens = Vec::new();
        let mut positions = Vec::new();
        let mut lengths = Vec::new();
        for (role, ids, start) in segments {
            tokens.extend_from_slice(ids);
            positions.extend(*start..start + ids.len());
            lengths.push((*role, ids.len()));
        }
        let table = SegmentTable::from_lengths(&lengths).unwrap();
        Self {
            tokens,
            positions,
            table,
        }
    }

    /// Index of the last token of every question segment.
    fn question_ends(&self) -> Vec<usize> {
        self.table
            .segments()
            .iter()
            .filter(|s| matches!(s.role, Role::Question { .. }))
            .map(|s| s.range.end - 1)
            .collect()
    }

    /// The flex mask of prompt tokens `from..` over every prompt key.
    fn mask(&self, from: usize) -> KeyMask {
        let n = self.tokens.len();
        KeyMask::Intervals(IntervalMask::compile(&flex_rule(&self.table), from..n, n))
    }

    /// Encodes the prompt from token `from` on (the tokens before it already in
    /// the cache or its shared context) with the flex mask; logits at `at`.
    fn prefill(
        &self,
        model: &Llama<Cpu>,
        cache: &mut KvCache<Cpu>,
        from: usize,
        at: &[usize],
    ) -> Vec<f32> {
        let row = RowInput {
            slot: 0,
            tokens: self.tokens[from..].to_vec(),
            positions: self.positions[from..].to_vec(),
            mask: self.mask(from),
            bias: None,
            logits_at: at.iter().map(|a| a - from).collect(),
        };
        run(model, cache, row)
    }

    /// One generated token at `position`, with the `ln(copies)` bias on the
    /// shared-prefix keys when `copies > 1`.
    fn step(
        &self,
        model: &Llama<Cpu>,
        cache: &mut KvCache<Cpu>,
        token: u32,
        position: usize,
        copies: usize,
    ) -> Vec<f32> {
        let q = cache.keys(0);
        let bias = (copies > 1).then(|| {
            let prefix = shared_prefix_bias(&self.table, copies);
            KeyBias {
                keys: prefix.key_range(),
                values: prefix.query_values(q..q + 1),
            }
        });
        let row = RowInput {
            slot: 0,
            tokens: vec![token],
            positions: vec![position],
            mask: KeyMask::Causal,
            bias,
            logits_at: vec![0],
        };
        run(model, cache, row)
    }
}

fn question(paraphrase: usize) -> Role {
    Role::Question { paraphrase }
}

#[test]
fn packed_segment_ends_equal_prompts_run_alone() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let prompts = [prompt(1, 9), prompt(2, 14), prompt(3, 6), prompt(4, 11)];
    let segments: Vec<_> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| (question(i), p.clone(), 0))
        .collect();
    let packed = Packed::new(&segments);
    let ends = packed.question_ends();
    let mut cache = model.new_cache(1, 64).unwrap();
    let logits = packed.prefill(&model, &mut cache, 0, &ends);
    for (i, p) in prompts.iter().enumerate() {
        let diff = max_abs_diff(&logits[i * vocab..(i + 1) * vocab], &alone(&model, p));
        assert!(
            diff < TOLERANCE,
            "segment {i}: packed vs alone differ by {diff}"
        );
    }

    // The mask matters: a plain causal pass over the same packing differs.
    let mut cache = model.new_cache(1, 64).unwrap();
    let mut causal = RowInput::causal(0, packed.tokens.clone(), 0);
    causal.positions = packed.positions.clone();
    causal.logits_at = ends;
    let unmasked = run(&model, &mut cache, causal);
    let last = prompts.len() - 1;
    let diff = max_abs_diff(&unmasked[last * vocab..], &alone(&model, &prompts[last]));
    assert!(
        diff > 1e-3,
        "without the flex mask the last segment should see the others"
    );
}

#[test]
fn shared_prefix_with_ln_k_bias_equals_k_copies_in_the_row_or_shared_once() {
    let model = tiny_model();
    let prefix = prompt(9, 10);
    let questions = [prompt(5, 4), prompt(6, 7), prompt(7, 5)];
    let k = questions.len();
    let full_prompts: Vec<Vec<u32>> = questions
        .iter()
        .map(|q| [prefix.clone(), q.clone()].concat())
        .collect();
    let first_generated = full_prompts.iter().map(Vec::len).max().unwrap();

    // Flex without sharing: k whole prompts, positions restarting at 0.
    let full = Packed::new(
        &full_prompts
            .iter()
            .enumerate()
            .map(|(i, p)| (question(i), p.clone(), 0))
            .collect::<Vec<_>>(),
    );
    // One Shared prefix at 0.., each question continuing at prefix.len().
    let mut shared_segments = vec![(Role::Shared, prefix.clone(), 0)];
    shared_segments.extend(
        questions
            .iter()
            .enumerate()
            .map(|(i, q)| (question(i), q.clone(), prefix.len())),
    );
    let shared = Packed::new(&shared_segments);
    // The same prefix as a context encoded once, attended by the slot.
    let context = Arc::new(
        model
            .encode_context(prefix.clone(), (0..prefix.len()).collect(), KeyMask::Causal)
            .unwrap(),
    );

    let mut full_cache = model.new_cache(1, 64).unwrap();
    let mut shared_cache = model.new_cache(1, 64).unwrap();
    let mut context_cache = model.new_cache_sharing(&context, vec![true], 8).unwrap();
    let full_ends = full.prefill(&model, &mut full_cache, 0, &full.question_ends());
    let shared_ends = shared.prefill(&model, &mut shared_cache, 0, &shared.question_ends());
    let context_ends = shared.prefill(
        &model,
        &mut context_cache,
        prefix.len(),
        &shared.question_ends(),
    );
    for (what, got) in [
        ("in-row prefix", &shared_ends),
        ("shared context", &context_ends),
    ] {
        let diff = max_abs_diff(&full_ends, got);
        assert!(diff < TOLERANCE, "segment ends differ by {diff} ({what})");
    }
    assert_eq!(
        shared_cache.len(0),
        full_cache.len(0) - (k - 1) * prefix.len()
    );
    assert_eq!(context_cache.len(0), shared_cache.len(0) - prefix.len());
    assert_eq!(context_cache.keys(0), shared_cache.keys(0));

    for (step, token) in [17u32, 42, 3].into_iter().enumerate() {
        let position = first_generated + step;
        let want = full.step(&model, &mut full_cache, token, position, 1);
        for (what, cache) in [
            ("in-row prefix", &mut shared_cache),
            ("shared context", &mut context_cache),
        ] {
            if step == 0 {
                // Without the bias the shared prefix is under-weighted.
                let mut probe = model.fork_cache(cache).unwrap();
                let unbiased = shared.step(&model, &mut probe, token, position, 1);
                assert!(
                    max_abs_diff(&want, &unbiased) > 1e-3,
                    "the ln(k) bias must matter ({what})"
                );
            }
            let got = shared.step(&model, cache, token, position, k);
            let diff = max_abs_diff(&want, &got);
            assert!(
                diff < TOLERANCE,
                "generated step {step}: ln(k) vs k copies differ by {diff} ({what})"
            );
        }
    }
}

#[test]
fn bias_is_added_only_where_visible_and_masks_are_checked() {
    let model = tiny_model();
    let tokens = prompt(3, 5);
    let table = SegmentTable::from_lengths(&[(question(0), 5)]).unwrap();
    let mut row = RowInput::causal(0, tokens.clone(), 0);
    row.mask = KeyMask::Dense(DenseMask::compile(&flex_rule(&table), 0..5, 5));
    row.bias = Some(KeyBias {
        keys: 0..5,
        values: vec![0.0; 5],
    });
    let mut cache = model.new_cache(1, 5).unwrap();
    let with_zero_bias = run(&model, &mut cache, row.clone());
    assert!(max_abs_diff(&with_zero_bias, &alone(&model, &tokens)) < 1e-5);

    // A huge bias on the last keys, hidden (future) for the last query but one:
    // the last query sees them and is changed, the earlier ones are not.
    row.bias = Some(KeyBias {
        keys: 3..5,
        values: vec![50.0; 5],
    });
    row.logits_at = vec![2, 4];
    let mut cache = model.new_cache(1, 5).unwrap();
    let biased = run(&model, &mut cache, row.clone());
    let vocab = model.config().vocab_size;
    assert!(max_abs_diff(&biased[..vocab], &alone(&model, &tokens[..3])) < 1e-5);
    assert!(max_abs_diff(&biased[vocab..], &with_zero_bias) > 1e-3);

    // A mask that does not start at the first new token is named.
    let mut cache = model.new_cache(1, 8).unwrap();
    run(&model, &mut cache, RowInput::causal(0, tokens.clone(), 0));
    let mut late = RowInput::causal(0, vec![1], 5);
    late.mask = KeyMask::Intervals(IntervalMask::compile(&flex_rule(&table), 0..1, 6));
    let error = model
        .forward(&ForwardInput { rows: vec![late] }, &mut cache)
        .unwrap_err();
    assert!(
        matches!(
            error,
            LlamaError::Input(InputError::MaskStart {
                found: 0,
                expected: 5,
                ..
            })
        ),
        "{error:?}"
    );
}
