//! Forward-pass behaviour on random tiny weights: batch rows are independent,
//! `logits_at` selects positions, bad input is rejected with errors naming the
//! problem (and leaves the cache untouched), bad weights are rejected at load.

use burn::tensor::Tensor;
use chorus_llama::{
    Cpu, ForwardInput, HostTensor, Llama, LlamaConfig, LlamaError, RandomWeights, WeightSource,
    presets,
};

fn tiny_model() -> Llama<Cpu> {
    let weights = RandomWeights::with_std(presets::tiny(), 3, 0.2);
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

fn all_positions(model: &Llama<Cpu>, tokens: Vec<Vec<u32>>) -> Tensor<Cpu, 3> {
    let len = tokens[0].len();
    let mut cache = model.new_cache(tokens.len());
    let mut input = ForwardInput::causal(tokens, 0);
    input.logits_at = (0..len).collect();
    model.forward(&input, &mut cache).unwrap()
}

#[test]
fn batch_rows_do_not_influence_each_other() {
    let model = tiny_model();
    let a = vec![5, 17, 3, 44, 90, 12, 7];
    let b = vec![60, 2, 2, 81, 33, 1, 40];
    let together = values(all_positions(&model, vec![a.clone(), b.clone()]));
    let alone_a = values(all_positions(&model, vec![a]));
    let alone_b = values(all_positions(&model, vec![b]));
    let half = together.len() / 2;
    assert!(max_abs_diff(&together[..half], &alone_a) < 1e-5);
    assert!(max_abs_diff(&together[half..], &alone_b) < 1e-5);
    assert!(
        max_abs_diff(&alone_a, &alone_b) > 1e-2,
        "different prompts must differ"
    );
}

#[test]
fn logits_at_returns_exactly_the_requested_positions() {
    let model = tiny_model();
    let vocab = model.config().vocab_size;
    let tokens = vec![vec![4, 8, 15, 16, 23, 42], vec![1, 2, 3, 4, 5, 6]];
    let full = values(all_positions(&model, tokens.clone()));
    let mut cache = model.new_cache(2);
    let mut input = ForwardInput::causal(tokens, 0);
    input.logits_at = vec![4, 1];
    let picked = model.forward(&input, &mut cache).unwrap();
    assert_eq!(picked.dims(), [2, 2, vocab]);
    let picked = values(picked);
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
    let mut cache = model.new_cache(1);
    let mut input = ForwardInput::causal(vec![vec![1, 2, 3]], 0);
    input.logits_at.clear();
    assert_eq!(
        model.forward(&input, &mut cache).unwrap().dims(),
        [1, 0, vocab]
    );
    assert_eq!(cache.len(), 3);
}

#[test]
fn causal_helper_continues_positions_after_the_cache() {
    let input = ForwardInput::causal(vec![vec![1, 2], vec![3, 4]], 7);
    assert_eq!(input.positions, vec![vec![7, 8], vec![7, 8]]);
    assert_eq!(input.logits_at, vec![1]);
}

/// Runs `input` on a fresh cache of `batch` rows, expects an input error, checks
/// the cache did not change, and returns the message.
fn input_error(model: &Llama<Cpu>, input: &ForwardInput, batch: usize) -> String {
    let mut cache = model.new_cache(batch);
    let error = model.forward(input, &mut cache).unwrap_err();
    assert!(matches!(error, LlamaError::Input(_)), "{error:?}");
    assert_eq!(
        cache.len(),
        0,
        "a rejected input must leave the cache as it was"
    );
    error.to_string()
}

#[test]
fn bad_input_is_rejected_with_a_message_naming_the_problem() {
    let model = tiny_model();
    let ragged = ForwardInput::causal(vec![vec![1, 2, 3], vec![1, 2]], 0);
    let message = input_error(&model, &ragged, 2);
    assert!(
        message.contains("ragged") && message.contains("row 1"),
        "{message}"
    );

    let too_big = ForwardInput::causal(vec![vec![1, 97, 3]], 0);
    let message = input_error(&model, &too_big, 1);
    assert!(
        message.contains("tokens[0][1] = 97") && message.contains("vocabulary"),
        "{message}"
    );

    let mut far = ForwardInput::causal(vec![vec![1, 2]], 0);
    far.positions[0][1] = 512;
    let message = input_error(&model, &far, 1);
    assert!(
        message.contains("positions[0][1] = 512") && message.contains("max_position_embeddings"),
        "{message}"
    );

    let mut short = ForwardInput::causal(vec![vec![1, 2]], 0);
    short.positions[0].pop();
    let message = input_error(&model, &short, 1);
    assert!(message.contains("positions[0]"), "{message}");

    let mut outside = ForwardInput::causal(vec![vec![1, 2]], 0);
    outside.logits_at = vec![2];
    let message = input_error(&model, &outside, 1);
    assert!(message.contains("logits_at index 2"), "{message}");

    let wrong_batch = ForwardInput::causal(vec![vec![1, 2]], 0);
    let message = input_error(&model, &wrong_batch, 3);
    assert!(message.contains("KV cache has 3"), "{message}");

    let empty = ForwardInput::causal(vec![vec![]], 0);
    let message = input_error(&model, &empty, 1);
    assert!(message.contains("empty"), "{message}");
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
    let device = Default::default();
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
    let device = Default::default();
    let mut config = presets::tiny();
    config.tie_word_embeddings = false;
    let untied = Llama::<Cpu>::from_source(&RandomWeights::new(config, 1), &device).unwrap();
    let tied = Llama::<Cpu>::from_source(&RandomWeights::new(presets::tiny(), 1), &device).unwrap();
    let a = values(all_positions(&untied, vec![vec![1, 2, 3]]));
    let b = values(all_positions(&tied, vec![vec![1, 2, 3]]));
    assert!(
        max_abs_diff(&a, &b) > 1e-4,
        "a separate lm_head must change the logits"
    );
}
