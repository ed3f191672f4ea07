//! The CUDA kernels against the CPU kernels on a GPU (CI has none, so this is
//! an example run by `scripts/gpu/`, not a test): the [`workout`] passes on
//! random weights of several head geometries, and the on-device token
//! selection of every fusion on random logits.
//!
//! ```text
//! cargo build --release --features cuda -p chorus-llama --example cuda_check
//! cuda_check [--backend cuda-f32|cuda-bf16|cuda-f16] [--out FILE]
//! ```
//!
//! Prints one JSON object per check and a summary; exit status 1 when a check
//! fails its tolerance (f32: 2e-3 absolute on logits of magnitude ~1-10; 16-bit
//! types: 5 % of the logits' spread, and the same argmax on 95 % of rows).

use chorus_llama::backend::{OnBackend, run_on};
use chorus_llama::select::{Fusion, Selection, select_on_host};
use chorus_llama::testing::{long_workout, workout};
use chorus_llama::{Cpu, Kernels, Llama, LlamaConfig, RandomWeights, presets};
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error>;

/// A workout of `chorus_llama::testing` on a model of kernel set K.
type Workout<K> = fn(&Llama<K>) -> Result<Vec<f32>, chorus_llama::LlamaError>;

/// Head geometries to check: (name, query heads, kv heads, head dim).
const GEOMETRIES: [(&str, usize, usize, usize); 4] = [
    ("tiny (group 2, dim 8)", 4, 2, 8),
    ("smollm2-like (group 3, dim 64)", 3, 1, 64),
    ("llama-3b-like (group 3, dim 128)", 6, 2, 128),
    ("multi-head (group 1, dim 64)", 2, 2, 64),
];

fn config(query: usize, kv: usize, dim: usize) -> LlamaConfig {
    LlamaConfig {
        hidden_size: query * dim,
        num_attention_heads: query,
        num_key_value_heads: Some(kv),
        head_dim: Some(dim),
        intermediate_size: 2 * query * dim,
        vocab_size: 301,
        tie_word_embeddings: false,
        ..presets::tiny()
    }
}

fn model<K: Kernels>(config: &LlamaConfig, device: &K::Device) -> Result<Llama<K>, Failure> {
    let weights = RandomWeights::with_std(config.clone(), 21, 0.2).with_qkv_bias();
    Ok(Llama::from_source(&weights, device)?)
}

/// Largest absolute difference, spread of the reference, rows (of `vocab`)
/// whose argmax agrees.
fn compare(ours: &[f32], reference: &[f32], vocab: usize) -> (f32, f32, usize, usize) {
    let diff = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let (lo, hi) = reference
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let argmax = |row: &[f32]| chorus_llama::select::argmax(row).map(|c| c.token);
    let rows = reference.len() / vocab;
    let agree = (0..rows)
        .filter(|&r| {
            let range = r * vocab..(r + 1) * vocab;
            argmax(&ours[range.clone()]) == argmax(&reference[range])
        })
        .count();
    (diff, hi - lo, agree, rows)
}

fn check<K: Kernels>(device: K::Device, dtype: &str) -> Result<(Vec<Value>, bool), Failure> {
    let strict = dtype == "f32";
    let mut results = Vec::new();
    let mut ok = true;
    let workouts: [(&str, Workout<Cpu>, Workout<K>); 2] = [
        ("workout", workout::<Cpu>, workout::<K>),
        ("long windows", long_workout::<Cpu>, long_workout::<K>),
    ];
    for ((name, query, kv, dim), (check, on_cpu, on_gpu)) in GEOMETRIES
        .into_iter()
        .flat_map(|g| workouts.map(|w| (g, w)))
    {
        let config = config(query, kv, dim);
        let reference = on_cpu(&model::<Cpu>(&config, &())?)?;
        let gpu = model::<K>(&config, &device)?;
        let ours = on_gpu(&gpu)?;
        let (diff, spread, agree, rows) = compare(&ours, &reference, config.vocab_size);
        let passed = ours.len() == reference.len()
            && if strict {
                diff < 2e-3
            } else {
                diff < 0.05 * spread && agree * 20 >= rows * 19
            };
        ok &= passed;
        results.push(json!({
            "check": check, "geometry": name, "kernels": gpu.kernels().name(),
            "max_abs_diff": diff, "reference_spread": spread,
            "rows_same_argmax": agree, "rows": rows, "passed": passed,
        }));
    }
    let (selection, passed) = selections::<K>(&device)?;
    ok &= passed;
    results.push(selection);
    Ok((results, ok))
}

/// Every fusion on random logits, on the device and on the host.
fn selections<K: Kernels>(device: &K::Device) -> Result<(Value, bool), Failure> {
    let config = config(2, 2, 64);
    let gpu = model::<K>(&config, device)?;
    // Logits of real passes: the workout's last step reads 2 rows; take a
    // prefill of many rows instead for more selections.
    let rows = 24;
    let vocab = config.vocab_size;
    let tokens: Vec<Vec<u32>> = (0..rows as u32)
        .map(|r| {
            (0..5)
                .map(|i| (r * 13 + i * 7 + 1) % vocab as u32)
                .collect()
        })
        .collect();
    let mut cache = gpu.new_cache(rows, 5)?;
    let logits = gpu.forward(&chorus_llama::ForwardInput::causal(tokens, 0), &mut cache)?;
    let host = gpu.logits_to_vec(&logits)?;
    let mut selections = Vec::new();
    for g in 0..rows / 4 {
        let members: Vec<usize> = (4 * g..4 * g + 4).collect();
        let fusion = match g % 4 {
            0 => Fusion::Row(members[1]),
            1 => Fusion::Mean(members),
            2 => Fusion::WeightedMean {
                rows: members,
                weights: vec![0.4, 0.1, 0.3, 0.2],
            },
            _ => Fusion::MaxProbability(members),
        };
        selections.push(Selection {
            fusion,
            probability: g % 2 == 0,
        });
    }
    let device_picks = gpu.select(&logits, &selections)?;
    let host_picks = select_on_host(&host, rows, vocab, &selections)?;
    let mut same = 0;
    let mut worst_margin = 0f32;
    let mut worst_probability = 0f64;
    for (d, h) in device_picks.iter().zip(&host_picks) {
        same += usize::from(d.choice.token == h.choice.token);
        worst_margin = worst_margin.max((d.choice.margin - h.choice.margin).abs());
        if let (Some(a), Some(b)) = (d.probability, h.probability) {
            worst_probability = worst_probability.max((a - b).abs());
        }
    }
    let passed = same == selections.len() && worst_margin < 1e-3 && worst_probability < 1e-4;
    Ok((
        json!({
            "check": "select", "selections": selections.len(), "same_token": same,
            "max_margin_diff": worst_margin, "max_probability_diff": worst_probability,
            "passed": passed,
        }),
        passed,
    ))
}

struct Job;

impl OnBackend for Job {
    type Output = Result<(Vec<Value>, bool), Failure>;
    fn run<K: Kernels>(self, device: K::Device, dtype: &'static str) -> Self::Output {
        check::<K>(device, dtype)
    }
}

fn main() -> Result<(), Failure> {
    let mut backend = "cuda-f32".to_string();
    let mut out = None;
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        match word.as_str() {
            "--backend" => backend = words.next().ok_or("--backend needs a value")?,
            "--out" => out = Some(words.next().ok_or("--out needs a value")?),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let (results, ok) = run_on(&backend, 0, Job)??;
    let text = serde_json::to_string_pretty(
        &json!({ "backend": backend, "passed": ok, "checks": results }),
    )?;
    println!("{text}");
    if let Some(path) = out {
        std::fs::write(path, &text)?;
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
