//! Checkpoint loading: opening the SmolLM2 GGUF (header, metadata, config,
//! shape checks) and opening + dequantising all 272 tensors to f32 with Q/K
//! un-permutation; plus rebuilding the tokenizer from GGUF metadata.
//! Skipped (with a message) when the model file is absent. Also building a CPU
//! model from seeded random weights of SmolLM2's shape (the draws, the fused
//! q/k/v and gate/up stacking, the weight transposes), which needs no file.

use chorus_llama::weights::expected_tensor_shapes;
use chorus_llama::{
    Cpu, GgufFile, Llama, LlamaConfig, RandomWeights, Tokenizer, WeightSource, presets,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn construct(c: &mut Criterion) {
    // One decoder layer at Llama-3.2-3B shapes (a small vocabulary keeps the
    // untransposed embedding out of the way): the per-layer load cost of the 3B model.
    let one_3b_layer = LlamaConfig {
        num_hidden_layers: 1,
        vocab_size: 1024,
        ..presets::llama_3_2_3b()
    };
    // Four layers: the loader reuses its host buffers from the second layer on,
    // so (four - one) / 3 is the per-layer cost of the remaining 27 layers.
    let four_3b_layers = LlamaConfig {
        num_hidden_layers: 4,
        ..one_3b_layer.clone()
    };
    let cases = [
        ("random_smollm2_135m", presets::smollm2_135m()),
        ("random_llama_3_2_3b_one_layer", one_3b_layer),
        ("random_llama_3_2_3b_four_layers", four_3b_layers),
    ];
    let mut group = c.benchmark_group("construct_cpu");
    group.sample_size(10);
    for (name, config) in cases {
        let weights = RandomWeights::new(config, 0);
        group.bench_function(name, |b| {
            b.iter(|| Llama::<Cpu>::from_source(&weights, &()).unwrap())
        });
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let Some(path) = chorus_llama::testing::smollm2_or_skip() else {
        return;
    };
    let mut group = c.benchmark_group("gguf_smollm2_135m_q4_1");
    group.sample_size(10);
    group.bench_function("open", |b| b.iter(|| GgufFile::open(&path).unwrap()));
    group.bench_function("open_dequantise_all", |b| {
        b.iter(|| {
            let file = GgufFile::open(&path).unwrap();
            let mut values = 0usize;
            for (name, _) in expected_tensor_shapes(file.config()) {
                values += file.tensor(&name).unwrap().data.len();
            }
            values
        })
    });
    let file = GgufFile::open(&path).unwrap();
    group.bench_function("tokenizer_from_gguf", |b| {
        b.iter(|| Tokenizer::from_gguf(&file).unwrap())
    });
    group.finish();
}

criterion_group!(benches, construct, load);
criterion_main!(benches);
