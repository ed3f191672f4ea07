//! Every kernel set against the Burn reference ([`BurnCpu`]) on random tiny
//! weights, through one pass that uses everything a pass can hold: ragged rows,
//! a shared context seen by some slots, interval masks, a key bias, prefill and
//! decoding steps with logits at several positions.

use std::sync::Arc;

use chorus_llama::kernels::Kernels;
use chorus_llama::{
    BurnCpu, Cpu, ForwardInput, KeyBias, KeyMask, Llama, RandomWeights, RowInput, presets,
};
use chorus_mask::{IntervalMask, Role, SegmentTable, flex_rule};

fn model<K: Kernels>() -> Llama<K> {
    let mut config = presets::tiny();
    // Qwen-style q/k/v biases and an untied head exercise the loader's options.
    config.tie_word_embeddings = false;
    let weights = RandomWeights::with_std(config, 21, 0.2).with_qkv_bias();
    Llama::from_source(&weights, &K::Device::default()).unwrap()
}

fn tokens(seed: u32, len: usize) -> Vec<u32> {
    (0..len as u32)
        .map(|i| (seed * 29 + i * 11 + 5) % 97)
        .collect()
}

/// The logits of a prefill and three decoding steps, flattened.
fn run<K: Kernels>(model: &Llama<K>) -> Vec<f32> {
    let context = Arc::new(
        model
            .encode_context(tokens(1, 7), (0..7).collect(), KeyMask::Causal)
            .unwrap(),
    );
    let mut cache = model
        .new_cache_sharing(&context, vec![true, false, true], 4)
        .unwrap();
    // Slot 0: a causal question after the context. Slot 1: a packed flex row of
    // two segments, no context. Slot 2: flex segments after the context, with
    // a bias on the context keys for the fused suffix.
    let table = SegmentTable::from_lengths(&[
        (Role::Question { paraphrase: 0 }, 4),
        (Role::Question { paraphrase: 1 }, 3),
        (Role::Shared, 1),
    ])
    .unwrap();
    let packed = IntervalMask::compile(&flex_rule(&table), 0..8, 8);
    let shared_table = SegmentTable::from_lengths(&[
        (Role::Shared, 7),
        (Role::Question { paraphrase: 0 }, 2),
        (Role::Question { paraphrase: 1 }, 3),
        (Role::Shared, 1),
    ])
    .unwrap();
    let after_context = IntervalMask::compile(&flex_rule(&shared_table), 7..13, 13);
    let prefill = ForwardInput {
        rows: vec![
            RowInput::causal(0, tokens(2, 5), 7),
            RowInput {
                slot: 1,
                tokens: tokens(3, 8),
                positions: vec![0, 1, 2, 3, 0, 1, 2, 4],
                mask: KeyMask::Intervals(packed),
                bias: None,
                logits_at: vec![3, 6, 7],
            },
            RowInput {
                slot: 2,
                tokens: tokens(4, 6),
                positions: vec![7, 8, 7, 8, 9, 10],
                mask: KeyMask::Intervals(after_context),
                bias: Some(KeyBias {
                    keys: 0..7,
                    values: vec![0.0, 0.0, 0.0, 0.0, 0.0, 2f32.ln()],
                }),
                logits_at: vec![5],
            },
        ],
    };
    let mut out = model
        .logits_to_vec(&model.forward(&prefill, &mut cache).unwrap())
        .unwrap();
    for step in 0..3u32 {
        let mut rows = vec![
            RowInput::causal(0, vec![10 + step], 12 + step as usize),
            RowInput::causal(1, vec![20 + step], 5 + step as usize),
            RowInput::causal(2, vec![30 + step], 11 + step as usize),
        ];
        rows[2].bias = Some(KeyBias {
            keys: 0..7,
            values: vec![2f32.ln()],
        });
        if step == 1 {
            rows.remove(1); // a finished row is simply not fed
        }
        let logits = model.forward(&ForwardInput { rows }, &mut cache).unwrap();
        out.extend(model.logits_to_vec(&logits).unwrap());
    }
    out
}

#[test]
fn cpu_kernels_equal_the_burn_reference() {
    let reference = run(&model::<BurnCpu>());
    let cpu = run(&model::<Cpu>());
    assert_eq!(cpu.len(), reference.len());
    let diff = cpu
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        diff < 1e-4,
        "cpu kernels differ from the reference by {diff}"
    );
}
