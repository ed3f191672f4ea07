//! Checkpoint loading: opening the SmolLM2 GGUF (header, metadata, config,
//! shape checks) and opening + dequantising all 272 tensors to f32 with Q/K
//! un-permutation; plus rebuilding the tokenizer from GGUF metadata.
//! Skipped (with a message) when the model file is absent.

use chorus_llama::weights::expected_tensor_shapes;
use chorus_llama::{GgufFile, Tokenizer, WeightSource};
use criterion::{Criterion, criterion_group, criterion_main};

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

criterion_group!(benches, load);
criterion_main!(benches);
