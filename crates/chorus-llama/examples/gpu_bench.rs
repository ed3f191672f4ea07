//! Prefill and decode throughput of the Burn Llama: at Llama-3.2-3B shapes with
//! seeded random weights, the Chorus side of `scripts/gpu/torch_bench.py` (same
//! shapes and the same measurement, so the two JSON outputs sit side by side);
//! with `--model` on a real checkpoint, the Chorus side of
//! `scripts/bench/llama_cpp_compare.py` (the same GGUF through llama.cpp).
//!
//! ```text
//! cargo build --release --features cuda -p chorus-llama --example gpu_bench   # `cpu` only: no features
//! gpu_bench [--backend cuda-bf16|cuda-f16|cuda-f32|cpu] [--preset llama-3.2-3b|smollm2-135m|tiny]
//!           [--model PATH.gguf] [--prompt-ids ID,ID,...]
//!           [--prefill-batch 8] [--prefill-len 512] [--decode-batch 1,8,32]
//!           [--decode-context 512] [--decode-steps 32] [--repeats 5] [--out FILE]
//! ```
//!
//! - weights: `--model` loads a `.gguf` file or a Hugging Face directory through
//!   [`Checkpoint::open`] (quantised GGUF tensors are dequantised at load, so the
//!   `cpu` backend computes in f32) and overrides `--preset`; without it, seeded
//!   random weights of the preset;
//! - tokens: seeded pseudo-random ids below the vocabulary, or with `--prompt-ids`
//!   the first `len` (prefill, every row) and `context` (decode) of the given ids,
//!   the decode steps feeding the last given id; the ids only matter for realism,
//!   the kernels' work does not depend on them;
//! - prefill: `batch × len` new tokens from an empty cache, causal mask, logits at
//!   the last position only; reported as tokens/s of the median run;
//! - decode: a `context`-token prefill (untimed), then `steps` single-token steps on
//!   the KV cache (the same token every step, as the PyTorch side does; nothing is
//!   read back); reported as the median over runs of ms per step.
//!
//! Every timing runs after one untimed warm-up (kernel compilation, autotune) and
//! is closed by `Backend::sync`, so queued GPU work is counted. Prints one JSON
//! object and writes it to `--out` when given.

use std::time::Instant;

use chorus_llama::backend::{OnBackend, run_on};
use chorus_llama::{
    Checkpoint, ForwardInput, Kernels, KvCache, Llama, LlamaConfig, RandomWeights, presets,
};
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error>;

/// Parsed command line.
struct Args {
    backend: String,
    preset: String,
    model: Option<String>,
    prompt_ids: Option<Vec<u32>>,
    prefill_batch: usize,
    prefill_len: usize,
    decode_batch: Vec<usize>,
    decode_context: usize,
    decode_steps: usize,
    repeats: usize,
    out: Option<String>,
}

fn parse_args() -> Result<Args, Failure> {
    let mut args = Args {
        backend: "cuda-bf16".into(),
        preset: "llama-3.2-3b".into(),
        model: None,
        prompt_ids: None,
        prefill_batch: 8,
        prefill_len: 512,
        decode_batch: vec![1, 8, 32],
        decode_context: 512,
        decode_steps: 32,
        repeats: 5,
        out: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = |flag: &str| words.next().ok_or_else(|| format!("{flag} needs a value"));
        match word.as_str() {
            "--backend" => args.backend = value("--backend")?,
            "--preset" => args.preset = value("--preset")?,
            "--model" => args.model = Some(value("--model")?),
            "--prompt-ids" => {
                let ids = value("--prompt-ids")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<u32>, _>>()?;
                args.prompt_ids = Some(ids);
            }
            "--prefill-batch" => args.prefill_batch = value("--prefill-batch")?.parse()?,
            "--prefill-len" => args.prefill_len = value("--prefill-len")?.parse()?,
            "--decode-batch" => {
                args.decode_batch = value("--decode-batch")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--decode-context" => args.decode_context = value("--decode-context")?.parse()?,
            "--decode-steps" => args.decode_steps = value("--decode-steps")?.parse()?,
            "--repeats" => args.repeats = value("--repeats")?.parse()?,
            "--out" => args.out = Some(value("--out")?),
            other => return Err(format!("unknown argument `{other}` (see the file's docs)").into()),
        }
    }
    if args.repeats == 0 || args.prefill_len == 0 || args.decode_context == 0 {
        return Err("--repeats, --prefill-len and --decode-context must be at least 1".into());
    }
    if let Some(ids) = &args.prompt_ids
        && ids.len() < args.prefill_len.max(args.decode_context)
    {
        return Err(format!(
            "--prompt-ids gives {} ids, fewer than --prefill-len / --decode-context ({} / {})",
            ids.len(),
            args.prefill_len,
            args.decode_context
        )
        .into());
    }
    Ok(args)
}

fn preset(name: &str) -> Result<LlamaConfig, Failure> {
    presets::by_name(name).ok_or_else(|| {
        format!(
            "unknown preset `{name}`; known: {}",
            presets::NAMES.join(", ")
        )
        .into()
    })
}

fn main() -> Result<(), Failure> {
    let args = parse_args()?;
    let result = run_on(&args.backend, 0, Job(&args))??;
    let text = serde_json::to_string_pretty(&result)?;
    println!("{text}");
    if let Some(path) = &args.out {
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// `rows` copies of the first `len` of `--prompt-ids` when given, else
/// [`random_tokens`].
fn tokens(args: &Args, rows: usize, len: usize, vocab: usize, seed: u64) -> Vec<Vec<u32>> {
    match &args.prompt_ids {
        Some(ids) => vec![ids[..len].to_vec(); rows],
        None => random_tokens(rows, len, vocab, seed),
    }
}

/// Deterministic pseudo-random token ids below `vocab` (xorshift; no rand dependency).
fn random_tokens(rows: usize, len: usize, vocab: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..rows)
        .map(|_| {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % vocab as u64) as u32
                })
                .collect()
        })
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn sync<K: Kernels>(model: &Llama<K>) -> Result<(), Failure> {
    model.kernels().sync()?;
    Ok(())
}

fn bench<K: Kernels>(args: &Args, device: K::Device, dtype: &str) -> Result<Value, Failure> {
    let start = Instant::now();
    let model = match &args.model {
        Some(path) => {
            let checkpoint = Checkpoint::open(path.as_ref())?;
            Llama::<K>::from_source(checkpoint.weights.as_ref(), &device)?
        }
        None => Llama::<K>::from_source(&RandomWeights::new(preset(&args.preset)?, 0), &device)?,
    };
    sync(&model)?;
    let load_s = start.elapsed().as_secs_f64();
    let weights = match &args.model {
        Some(path) => path.clone(),
        None => format!("random {}", args.preset),
    };
    eprintln!("{weights} weights on the device in {load_s:.1} s");
    let vocab = model.config().vocab_size;
    let outside = args
        .prompt_ids
        .iter()
        .flatten()
        .find(|&&id| id as usize >= vocab);
    if let Some(id) = outside {
        return Err(format!("--prompt-id {id} is not below the vocabulary size {vocab}").into());
    }

    let prefill = prefill::<K>(&model, args, vocab)?;
    eprintln!("prefill: {prefill}");
    let mut decode = Vec::new();
    for &batch in &args.decode_batch {
        let row = decode_steps::<K>(&model, args, batch, vocab)?;
        eprintln!("decode: {row}");
        decode.push(row);
    }
    Ok(json!({
        "impl": format!("chorus-llama ({})", model.kernels().name()),
        "backend": args.backend,
        "dtype": dtype,
        "preset": if args.model.is_some() { Value::Null } else { json!(args.preset) },
        "model": args.model,
        "config": model.config(),
        "tokens": match &args.prompt_ids {
            Some(ids) => json!({ "source": "--prompt-ids", "ids": ids }),
            None => json!({ "source": "seeded random ids" }),
        },
        "settings": {
            "prefill_batch": args.prefill_batch,
            "prefill_len": args.prefill_len,
            "decode_batch": args.decode_batch,
            "decode_context": args.decode_context,
            "decode_steps": args.decode_steps,
            "repeats": args.repeats,
            "warmup_runs": 1,
        },
        "weights_upload_s": load_s,
        "repeats": args.repeats,
        "prefill": prefill,
        "decode": decode,
    }))
}

/// Median time of a `batch × len` prefill with logits at the last position.
fn prefill<K: Kernels>(model: &Llama<K>, args: &Args, vocab: usize) -> Result<Value, Failure> {
    let ids = tokens(args, args.prefill_batch, args.prefill_len, vocab, 1);
    let run = || -> Result<f64, Failure> {
        let mut cache = model.new_cache(args.prefill_batch, args.prefill_len)?;
        sync(model)?;
        let t = Instant::now();
        let logits = model.forward(&ForwardInput::causal(ids.clone(), 0), &mut cache)?;
        sync(model)?;
        let elapsed = t.elapsed().as_secs_f64();
        drop(logits);
        Ok(elapsed)
    };
    run()?;
    let times = (0..args.repeats)
        .map(|_| run())
        .collect::<Result<Vec<_>, _>>()?;
    let seconds = median(times.clone());
    let n = (args.prefill_batch * args.prefill_len) as f64;
    Ok(json!({
        "batch": args.prefill_batch,
        "len": args.prefill_len,
        "seconds": seconds,
        "tokens_per_s": n / seconds,
        "runs_s": times,
    }))
}

/// Median ms per decode step at `batch` rows over a `decode_context` cache.
fn decode_steps<K: Kernels>(
    model: &Llama<K>,
    args: &Args,
    batch: usize,
    vocab: usize,
) -> Result<Value, Failure> {
    let mut prefilled: KvCache<K> =
        model.new_cache(batch, args.decode_context + args.decode_steps)?;
    let context = tokens(args, batch, args.decode_context, vocab, 2);
    model.forward(&ForwardInput::causal(context, 0), &mut prefilled)?;
    let step = match &args.prompt_ids {
        Some(ids) => vec![vec![ids[ids.len() - 1]]; batch],
        None => random_tokens(batch, 1, vocab, 3),
    };
    let run = || -> Result<f64, Failure> {
        let mut cache = model.fork_cache(&prefilled)?;
        sync(model)?;
        let t = Instant::now();
        for _ in 0..args.decode_steps {
            let input = ForwardInput::causal(step.clone(), cache.len(0));
            model.forward(&input, &mut cache)?;
        }
        sync(model)?;
        Ok(t.elapsed().as_secs_f64() / args.decode_steps as f64)
    };
    run()?;
    let times = (0..args.repeats)
        .map(|_| run())
        .collect::<Result<Vec<_>, _>>()?;
    let ms: Vec<f64> = times.iter().map(|s| s * 1e3).collect();
    Ok(json!({
        "batch": batch,
        "context": args.decode_context,
        "steps": args.decode_steps,
        "ms_per_step": median(ms.clone()),
        "runs_ms_per_step": ms,
    }))
}

/// [`bench`] on the backend `--backend` names.
struct Job<'a>(&'a Args);

impl OnBackend for Job<'_> {
    type Output = Result<Value, Failure>;
    fn run<K: Kernels>(self, device: K::Device, dtype: &'static str) -> Self::Output {
        bench::<K>(self.0, device, dtype)
    }
}
