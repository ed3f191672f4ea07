//! DESIGN.md rules 3 and 4 on random tiny weights (the real-model version lives in
//! `parity.rs`):
//! - packing prompts into one sequence with segment positions and the flex mask
//!   gives, at each segment's last token, the logits of that prompt run alone;
//! - one shared copy of a common prefix plus `ln(k)` on its keys for generated
//!   queries equals the k-copy flex pass, at every decoding step.

use burn::tensor::Tensor;
use chorus_llama::{AttentionMask, Cpu, ForwardInput, KvCache, Llama, RandomWeights, presets};
use chorus_mask::{DenseBias, DenseMask, Role, SegmentTable, flex_rule, shared_prefix_bias};

const TOLERANCE: f32 = 1e-4;

fn tiny_model() -> Llama<Cpu> {
    let weights = RandomWeights::with_std(presets::tiny(), 5, 0.2);
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

fn prompt(seed: u32, len: usize) -> Vec<u32> {
    (0..len as u32)
        .map(|i| (seed * 37 + i * 13 + 1) % 97)
        .collect()
}

/// Last-token logits of `tokens` run alone, causally.
fn alone(model: &Llama<Cpu>, tokens: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache(1);
    values(
        model
            .forward(&ForwardInput::causal(vec![tokens.to_vec()], 0), &mut cache)
            .unwrap(),
    )
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

    /// Index of the last token of every segment of this role kind.
    fn question_ends(&self) -> Vec<usize> {
        self.table
            .segments()
            .iter()
            .filter(|s| matches!(s.role, Role::Question { .. }))
            .map(|s| s.range.end - 1)
            .collect()
    }

    /// Encodes the whole prompt with the flex mask into `cache`; logits at `at`.
    fn prefill(&self, model: &Llama<Cpu>, cache: &mut KvCache<Cpu>, at: Vec<usize>) -> Vec<f32> {
        let n = self.tokens.len();
        let mask = DenseMask::compile(&flex_rule(&self.table), 0..n, n);
        let input = ForwardInput {
            tokens: vec![self.tokens.clone()],
            positions: vec![self.positions.clone()],
            mask: AttentionMask::Dense(vec![mask]),
            bias: None,
            logits_at: at,
        };
        values(model.forward(&input, cache).unwrap())
    }

    /// One generated token at `position`, with the `ln(copies)` bias when `copies > 1`.
    fn step(
        &self,
        model: &Llama<Cpu>,
        cache: &mut KvCache<Cpu>,
        token: u32,
        position: usize,
        copies: usize,
    ) -> Vec<f32> {
        let q = cache.len();
        let mask = DenseMask::compile(&flex_rule(&self.table), q..q + 1, q + 1);
        let bias = (copies > 1).then(|| {
            vec![DenseBias::compile(
                &shared_prefix_bias(&self.table, copies),
                q..q + 1,
                q + 1,
            )]
        });
        let input = ForwardInput {
            tokens: vec![vec![token]],
            positions: vec![vec![position]],
            mask: AttentionMask::Dense(vec![mask]),
            bias,
            logits_at: vec![0],
        };
        values(model.forward(&input, cache).unwrap())
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
    let mut cache = model.new_cache(1);
    let logits = packed.prefill(&model, &mut cache, ends.clone());
    for (i, p) in prompts.iter().enumerate() {
        let diff = max_abs_diff(&logits[i * vocab..(i + 1) * vocab], &alone(&model, p));
        assert!(
            diff < TOLERANCE,
            "segment {i}: packed vs alone differ by {diff}"
        );
    }

    // The mask matters: a plain causal pass over the same packing differs.
    let mut cache = model.new_cache(1);
    let mut causal = ForwardInput::causal(vec![packed.tokens.clone()], 0);
    causal.positions = vec![packed.positions.clone()];
    causal.logits_at = ends;
    let unmasked = values(model.forward(&causal, &mut cache).unwrap());
    let last = prompts.len() - 1;
    let diff = max_abs_diff(&unmasked[last * vocab..], &alone(&model, &prompts[last]));
    assert!(
        diff > 1e-3,
        "without the flex mask the last segment should see the others"
    );
}

#[test]
fn shared_prefix_with_ln_k_bias_equals_k_copies() {
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

    let mut full_cache = model.new_cache(1);
    let mut shared_cache = model.new_cache(1);
    let full_ends = full.prefill(&model, &mut full_cache, full.question_ends());
    let shared_ends = shared.prefill(&model, &mut shared_cache, shared.question_ends());
    let diff = max_abs_diff(&full_ends, &shared_ends);
    assert!(
        diff < TOLERANCE,
        "segment ends differ by {diff} between shared and full prefixes"
    );
    assert_eq!(
        shared_cache.len(),
        full_cache.len() - (k - 1) * prefix.len()
    );

    for (step, token) in [17u32, 42, 3].into_iter().enumerate() {
        let position = first_generated + step;
        let want = full.step(&model, &mut full_cache, token, position, 1);
        let got = shared.step(&model, &mut shared_cache, token, position, k);
        let diff = max_abs_diff(&want, &got);
        assert!(
            diff < TOLERANCE,
            "generated step {step}: shared+ln(k) vs k copies differ by {diff}"
        );
        if step == 0 {
            // Without the bias the shared prefix is under-weighted.
            let mut probe = shared_cache.fork();
            probe.truncate(probe.len() - 1).unwrap();
            let unbiased = shared.step(&model, &mut probe, token, position, 1);
            assert!(
                max_abs_diff(&want, &unbiased) > 1e-3,
                "the ln(k) bias must matter"
            );
        }
    }
}

#[test]
fn bias_is_added_only_where_visible_and_shapes_are_checked() {
    let model = tiny_model();
    let tokens = prompt(3, 5);
    let table = SegmentTable::from_lengths(&[(question(0), 5)]).unwrap();
    let mask = DenseMask::compile(&flex_rule(&table), 0..5, 5);
    let zero = |_: usize, _: usize, _: usize, _: usize| 0.0f32;
    let mut input = ForwardInput::causal(vec![tokens.clone()], 0);
    input.mask = AttentionMask::Dense(vec![mask.clone()]);
    input.bias = Some(vec![DenseBias::compile(&zero, 0..5, 5)]);
    let mut cache = model.new_cache(1);
    let with_zero_bias = values(model.forward(&input, &mut cache).unwrap());
    assert!(max_abs_diff(&with_zero_bias, &alone(&model, &tokens)) < 1e-5);

    // A huge bias on hidden (future) keys must not leak through the mask.
    let future = |_: usize, _: usize, q: usize, kv: usize| if kv > q { 50.0f32 } else { 0.0 };
    input.bias = Some(vec![DenseBias::compile(&future, 0..5, 5)]);
    let mut cache = model.new_cache(1);
    let with_hidden_bias = values(model.forward(&input, &mut cache).unwrap());
    assert!(max_abs_diff(&with_hidden_bias, &with_zero_bias) < 1e-5);

    // Wrong shapes are named.
    input.bias = None;
    input.mask = AttentionMask::Dense(vec![DenseMask::compile(&flex_rule(&table), 0..5, 4)]);
    let error = model
        .forward(&input, &mut model.new_cache(1))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("mask[0]") && error.contains("5×4") && error.contains("expected 5×5"),
        "{error}"
    );
    input.mask = AttentionMask::Dense(vec![mask.clone(), mask]);
    let error = model
        .forward(&input, &mut model.new_cache(1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("mask has 2 rows"), "{error}");
    input.mask = AttentionMask::Dense(vec![DenseMask::empty(0, 5, 5)]);
    let error = model
        .forward(&input, &mut model.new_cache(1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("hides every key"), "{error}");
}

#[test]
fn left_padding_through_a_dense_mask_equals_the_row_alone() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let long = prompt(1, 8);
    let short = prompt(2, 5);
    let pad = 8 - short.len();
    // Row 1 is left-padded: pads see only themselves' first key (never read), real
    // tokens never see pads; positions count real tokens only.
    let padded: Vec<u32> = std::iter::repeat_n(2, pad)
        .chain(short.iter().copied())
        .collect();
    let causal_no_pad = |q: usize, kv: usize, pad: usize| kv <= q && (kv >= pad || q < pad);
    let mask_for = |pad: usize| {
        let predicate = move |_: usize, _: usize, q: usize, kv: usize| causal_no_pad(q, kv, pad);
        DenseMask::compile(&predicate, 0..8, 8)
    };
    let input = ForwardInput {
        tokens: vec![long.clone(), padded],
        positions: vec![
            (0..8).collect(),
            (0..8).map(|i: usize| i.saturating_sub(pad)).collect(),
        ],
        mask: AttentionMask::Dense(vec![mask_for(0), mask_for(pad)]),
        bias: None,
        logits_at: vec![7],
    };
    let mut cache = model.new_cache(2);
    let logits = values(model.forward(&input, &mut cache).unwrap());
    assert!(max_abs_diff(&logits[..vocab], &alone(&model, &long)) < 1e-5);
    assert!(max_abs_diff(&logits[vocab..], &alone(&model, &short)) < 1e-5);

    // And one decode step on top, every real key visible in both rows.
    let step_mask = |pad: usize| {
        let predicate = move |_: usize, _: usize, _q: usize, kv: usize| kv >= pad;
        DenseMask::compile(&predicate, 8..9, 9)
    };
    let input = ForwardInput {
        tokens: vec![vec![30], vec![30]],
        positions: vec![vec![8], vec![short.len()]],
        mask: AttentionMask::Dense(vec![step_mask(0), step_mask(pad)]),
        bias: None,
        logits_at: vec![0],
    };
    let logits = values(model.forward(&input, &mut cache).unwrap());
    let extended = |p: &[u32]| [p.to_vec(), vec![30]].concat();
    assert!(max_abs_diff(&logits[..vocab], &alone(&model, &extended(&long))) < 1e-5);
    assert!(max_abs_diff(&logits[vocab..], &alone(&model, &extended(&short))) < 1e-5);
}
