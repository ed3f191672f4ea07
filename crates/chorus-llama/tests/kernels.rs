//! Every kernel set against the Burn reference ([`BurnCpu`]) on random tiny
//! weights, through [`workout`]: passes that use everything a pass can hold
//! (ragged rows, a shared context seen by some slots, interval masks, a key
//! bias, prefill and decoding steps with logits at several positions). The
//! CUDA kernels run the same workout in `examples/cuda_check.rs` (on a GPU).

use chorus_llama::kernels::Kernels;
use chorus_llama::testing::{long_workout, workout};
use chorus_llama::{BurnCpu, Cpu, Llama, RandomWeights, presets};

fn model<K: Kernels>() -> Llama<K> {
    let mut config = presets::tiny();
    // Qwen-style q/k/v biases and an untied head exercise the loader's options.
    config.tie_word_embeddings = false;
    let weights = RandomWeights::with_std(config, 21, 0.2).with_qkv_bias();
    Llama::from_source(&weights, &K::Device::default()).unwrap()
}

/// Runs `workout` on the CPU kernels and on the Burn reference; asserts they agree.
fn assert_cpu_equals_reference(
    workout: fn(&Llama<BurnCpu>) -> Vec<f32>,
    on_cpu: fn(&Llama<Cpu>) -> Vec<f32>,
) {
    let reference = workout(&model::<BurnCpu>());
    let cpu = on_cpu(&model::<Cpu>());
    assert_eq!(cpu.len(), reference.len());
    assert!(reference.iter().all(|v| v.is_finite()));
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

#[test]
fn cpu_kernels_equal_the_burn_reference() {
    assert_cpu_equals_reference(|m| workout(m).unwrap(), |m| workout(m).unwrap());
}

#[test]
fn cpu_kernels_equal_the_burn_reference_on_long_windows() {
    assert_cpu_equals_reference(|m| long_workout(m).unwrap(), |m| long_workout(m).unwrap());
}
