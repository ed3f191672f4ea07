//! Forward-pass behaviour on random tiny weights: rows (ragged ones too) are
//! independent, `logits_at` selects positions, bad input is rejected with typed
//! errors naming the problem (and leaves the cache untouched), bad weights are
//! rejected at load.

use chorus_llama::{
    Cpu, ForwardInput, HostTensor, InputError, KeyBias, KeyMask, Llama, LlamaConfig, LlamaError,
    RandomWeights, RowInput, WeightSource, presets,
};
use chorus_mask::DenseMask;

fn tiny_model() -> Llama<Cpu> {
    let weights = RandomWeights::with_std(presets::tiny(), 3, 0.2);
    Llama::from_source(&weights, &()).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits at every position of each row, rows fed together from empty slots.
fn all_positions(model: &Llama<Cpu>, tokens: Vec<Vec<u32>>) -> Vec<f32> {
    let mut cache = model.new_cache(tokens.len(), 16).unwrap();
    let mut input = ForwardInput::causal(tokens, 0);
    for row in &mut input.rows {
        row.logits_at = (0..row.tokens.len()).collect();
    }
    let logits = model.forward(&input, &mut cache).unwrap();
    model.logits_to_vec(&logits).unwrap()
}

#[test]
fn rows_of_any_length_do_not_influence_each_other() {
    let model = tiny_model();
    let a = vec![5, 17, 3, 44, 90, 12, 7];
    let b = vec![60, 2, 2, 81];
    let together = all_positions(&model, vec![a.clone(), b.clone()]);
    let alone_a = all_positions(&model, vec![a.clone()]);
    let alone_b = all_positions(&model, vec![b]);
    let split = alone_a.len();
    assert!(max_abs_diff(&together[..split], &alone_a) < 1e-5);
    assert!(max_abs_diff(&together[split..], &alone_b) < 1e-5);
    assert!(
        max_abs_diff(&alone_a[..alone_b.len()], &alone_b) > 1e-2,
        "different prompts must differ"
    );
}

#[test]
fn logits_at_returns_exactly_the_requested_positions() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let tokens = vec![vec![4, 8, 15, 16, 23, 42], vec![1, 2, 3, 4, 5, 6]];
    let full = all_positions(&model, tokens.clone());
    let mut cache = model.new_cache(2, 6).unwrap();
    let mut input = ForwardInput::causal(tokens, 0);
    input.rows.iter_mut().for_each(|r| r.logits_at = vec![4, 1]);
    let picked = model.forward(&input, &mut cache).unwrap();
    assert_eq!(picked.dims(), [4, vocab]);
    let picked = model.logits_to_vec(&picked).unwrap();
    for (row, base) in [(0usize, 0usize), (1, 6)] {
        for (slot, position) in [(0usize, 4usize), (1, 1)] {
            let got = &picked[(row * 2 + slot) * vocab..(row * 2 + slot + 1) * vocab];
            let want = &full[(base + position) * vocab..(base + position + 1) * vocab];
            assert!(
                max_abs_diff(got, want) < 1e-5,
                "row {row} position {position}"
            );
        }
    }
    // No logits wanted: an empty result, the cache still advances.
    let mut cache = model.new_cache(1, 4).unwrap();
    let mut input = ForwardInput::causal(vec![vec![1, 2, 3]], 0);
    input.rows[0].logits_at.clear();
    assert_eq!(
        model.forward(&input, &mut cache).unwrap().dims(),
        [0, vocab]
    );
    assert_eq!(cache.len(0), 3);
}

#[test]
fn causal_helper_continues_positions_after_the_cache() {
    let input = ForwardInput::causal(vec![vec![1, 2], vec![3, 4]], 7);
    assert_eq!(input.rows[1].positions, vec![7, 8]);
    assert_eq!(input.rows[1].slot, 1);
    assert_eq!(input.rows[0].logits_at, vec![1]);
}

/// Runs `input` on a fresh cache of `slots` slots, expects an input error,
/// checks the cache did not change, and returns the error.
fn input_error(model: &Llama<Cpu>, input: &ForwardInput, slots: usize) -> InputError {
    let mut cache = model.new_cache(slots, 8).unwrap();
    let error = model.forward(input, &mut cache).unwrap_err();
    assert!(
        (0..slots).all(|s| cache.len(s) == 0),
        "a rejected input must leave the cache as it was"
    );
    match error {
        LlamaError::Input(error) => error,
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn bad_input_is_rejected_with_an_error_naming_the_problem() {
    let model = tiny_model();
    let causal = |rows: Vec<Vec<u32>>| ForwardInput::causal(rows, 0);

    let too_big = causal(vec![vec![1, 97, 3]]);
    let error = input_error(&model, &too_big, 1);
    assert_eq!(
        error,
        InputError::TokenOutOfRange {
            row: 0,
            index: 1,
            id: 97,
            vocab: 97
        }
    );
    assert!(error.to_string().contains("tokens[1] = 97"), "{error}");

    let mut far = causal(vec![vec![1, 2]]);
    far.rows[0].positions[1] = 512;
    let error = input_error(&model, &far, 1);
    assert!(matches!(
        error,
        InputError::PositionOutOfRange {
            row: 0,
            index: 1,
            position: 512,
            ..
        }
    ));
    assert!(
        error.to_string().contains("max_position_embeddings"),
        "{error}"
    );

    let mut short = causal(vec![vec![1, 2], vec![3]]);
    short.rows[1].positions.clear();
    let error = input_error(&model, &short, 2);
    assert_eq!(
        error,
        InputError::PositionCount {
            row: 1,
            found: 0,
            expected: 1
        }
    );

    let mut outside = causal(vec![vec![1, 2]]);
    outside.rows[0].logits_at = vec![2];
    let error = input_error(&model, &outside, 1);
    assert_eq!(
        error,
        InputError::LogitsIndex {
            row: 0,
            index: 2,
            len: 2
        }
    );

    let no_slot = causal(vec![vec![1], vec![2]]);
    let error = input_error(&model, &no_slot, 1);
    assert_eq!(
        error,
        InputError::SlotOutOfRange {
            row: 1,
            slot: 1,
            slots: 1
        }
    );

    let mut twice = causal(vec![vec![1], vec![2]]);
    twice.rows[1].slot = 0;
    let error = input_error(&model, &twice, 2);
    assert_eq!(
        error,
        InputError::SlotTwice {
            row: 1,
            slot: 0,
            first: 0
        }
    );

    let empty = causal(vec![vec![]]);
    assert_eq!(
        input_error(&model, &empty, 1),
        InputError::EmptyRow { row: 0 }
    );
    assert_eq!(
        input_error(&model, &ForwardInput::default(), 1),
        InputError::NoRows
    );

    let mut wrong_mask = causal(vec![vec![1, 2, 3]]);
    wrong_mask.rows[0].mask = KeyMask::Dense(DenseMask::compile(&chorus_mask::causal(), 0..3, 4));
    let error = input_error(&model, &wrong_mask, 1);
    assert!(
        matches!(
            error,
            InputError::MaskShape {
                row: 0,
                found_keys: 4,
                keys: 3,
                ..
            }
        ),
        "{error:?}"
    );

    let mut blind = causal(vec![vec![1, 2]]);
    blind.rows[0].mask = KeyMask::Dense(DenseMask::empty(0, 2, 2));
    assert_eq!(
        input_error(&model, &blind, 1),
        InputError::BlindQuery { row: 0, query: 0 }
    );

    let mut bad_bias = causal(vec![vec![1, 2]]);
    bad_bias.rows[0].bias = Some(KeyBias {
        keys: 0..3,
        values: vec![0.0, 1.0],
    });
    assert!(matches!(
        input_error(&model, &bad_bias, 1),
        InputError::BiasRange {
            end: 3,
            keys: 2,
            ..
        }
    ));
    bad_bias.rows[0].bias = Some(KeyBias {
        keys: 0..1,
        values: vec![0.0, f32::NAN],
    });
    assert!(matches!(
        input_error(&model, &bad_bias, 1),
        InputError::NonFiniteBias { index: 1, .. }
    ));
    bad_bias.rows[0].bias = Some(KeyBias {
        keys: 0..1,
        values: vec![0.0],
    });
    assert_eq!(
        input_error(&model, &bad_bias, 1),
        InputError::BiasLength {
            row: 0,
            found: 1,
            expected: 2
        }
    );
}

#[test]
fn rows_continue_only_their_own_slot() {
    let model = tiny_model();
    let mut cache = model.new_cache(3, 2).unwrap();
    let prompt = model
        .forward(
            &ForwardInput::causal(vec![vec![3, 4], vec![9], vec![7, 7, 7]], 0),
            &mut cache,
        )
        .unwrap();
    assert_eq!(prompt.rows(), 3);
    assert_eq!((cache.len(0), cache.len(1), cache.len(2)), (2, 1, 3));
    // Only slot 1 is fed: the others keep their length; slot 2 grew the store.
    let step = ForwardInput {
        rows: vec![RowInput::causal(1, vec![5], 1)],
    };
    model.forward(&step, &mut cache).unwrap();
    assert_eq!((cache.len(0), cache.len(1), cache.len(2)), (2, 2, 3));
    assert!(cache.capacity() >= 3);
    let alone = all_positions(&model, vec![vec![9, 5]]);
    let mut fresh = model.new_cache(1, 2).unwrap();
    model
        .forward(&ForwardInput::causal(vec![vec![9]], 0), &mut fresh)
        .unwrap();
    let again = model
        .forward(
            &ForwardInput {
                rows: vec![RowInput::causal(0, vec![5], 1)],
            },
            &mut fresh,
        )
        .unwrap();
    let vocab = model.config().vocab_size;
    assert!(max_abs_diff(&model.logits_to_vec(&again).unwrap(), &alone[vocab..]) < 1e-5);
}

/// A weight source that hides one tensor or hands out a wrong shape.
struct Broken {
    inner: RandomWeights,
    missing: Option<&'static str>,
    reshaped: Option<&'static str>,
}

impl WeightSource for Broken {
    fn config(&self) -> &LlamaConfig {
        self.inner.config()
    }
    fn tensor(&self, name: &str) -> Result<HostTensor, LlamaError> {
        if self.missing == Some(name) {
            return Err(LlamaError::MissingTensor {
                path: "broken".into(),
                tensor: name.into(),
            });
        }
        let mut tensor = self.inner.tensor(name)?;
        if self.reshaped == Some(name) {
            tensor.shape.reverse();
        }
        Ok(tensor)
    }
    fn contains(&self, name: &str) -> bool {
        self.missing != Some(name) && self.inner.contains(name)
    }
}

#[test]
fn bad_weights_and_configs_are_rejected_at_load() {
    let device = ();
    let inner = RandomWeights::new(presets::tiny(), 1);
    let name = "model.layers.1.self_attn.k_proj.weight";
    let missing = Broken {
        inner: inner.clone(),
        missing: Some(name),
        reshaped: None,
    };
    let error = Llama::<Cpu>::from_source(&missing, &device)
        .unwrap_err()
        .to_string();
    assert!(error.contains(name), "{error}");
    let reshaped = Broken {
        inner,
        missing: None,
        reshaped: Some(name),
    };
    let error = Llama::<Cpu>::from_source(&reshaped, &device)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(name) && error.contains("[32, 16]"),
        "{error}"
    );

    let mut config = presets::tiny();
    config.num_key_value_heads = Some(3);
    let error = Llama::<Cpu>::from_source(&RandomWeights::new(config, 1), &device).unwrap_err();
    assert!(matches!(error, LlamaError::Config(_)), "{error:?}");
    assert!(
        error.to_string().contains("num_key_value_heads 3"),
        "{error}"
    );
}

#[test]
fn untied_head_is_used_when_present() {
    let device = ();
    let mut config = presets::tiny();
    config.tie_word_embeddings = false;
    let untied = Llama::<Cpu>::from_source(&RandomWeights::new(config, 1), &device).unwrap();
    let tied = Llama::<Cpu>::from_source(&RandomWeights::new(presets::tiny(), 1), &device).unwrap();
    let a = all_positions(&untied, vec![vec![1, 2, 3]]);
    let b = all_positions(&tied, vec![vec![1, 2, 3]]);
    assert!(
        max_abs_diff(&a, &b) > 1e-4,
        "a separate lm_head must change the logits"
    );
}
