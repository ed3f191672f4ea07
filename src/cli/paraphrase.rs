//! `ensemble-generate paraphrase`: model-generated paraphrases of a dataset's
//! questions (ANCHOR.md, paraphrase generation), written as WebQuestions JSONL
//! whose `paraphrases` field holds the original question first.
//!
//! Round `r` (0-based) asks every question with the round-`r` few-shot
//! paraphrase prompt and samples with temperature 1.5, top-p 0.9, at most 30
//! new tokens and seed `r`; the first line of each sample is kept.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use burn::tensor::backend::Backend;
use chorus_data::{DataDir, Dataset, EmptyPolicy, Item};
use chorus_ensemble::{DecodeConfig, Engine, SamplingConfig};
use chorus_llama::Llama;
use chorus_llama::backend::{OnBackend, run_on};
use chorus_prompt::{PromptContext, paraphrase_generation_prompt};
use serde_json::{Map, Value};

use crate::cli::args::ParaphraseArgs;
use crate::cli::error::{CliError, Result};
use crate::cli::models::{ResolvedModel, resolve_model_with};
use crate::cli::plan::{DeviceSpec, dtype_for};

/// Runs the `paraphrase` subcommand; returns the summary line.
pub fn run_paraphrase(args: &ParaphraseArgs) -> Result<String> {
    if args.output.exists() && !args.force {
        return Ok(format!(
            "ensemble-generate paraphrase: {} exists; skipped (use --force to overwrite)",
            args.output.display()
        ));
    }
    if args.rounds == 0 || args.batch_size == 0 {
        return Err(CliError::Usage(
            "--rounds and --batch-size must be at least 1".into(),
        ));
    }
    let dataset: Dataset = match args.dataset.parse() {
        Ok(dataset) => dataset,
        Err(never) => match never {},
    };
    let data_dir = DataDir::resolve(args.data_dir.as_deref());
    let path = dataset.test_path(&data_dir);
    if !path.exists() {
        return Err(CliError::MissingDataset { path });
    }
    let device = DeviceSpec::parse(&args.device)?;
    let model = resolve_model_with(&args.model, args.tokenizer.as_deref())?;
    let loaded = dataset.load(&data_dir, EmptyPolicy::Error)?;
    let limit = args.max_samples.unwrap_or(loaded.items.len());
    let items = &loaded.items[..limit.min(loaded.items.len())];
    let started = Instant::now();
    let request = Request {
        args,
        items,
        data_dir: &data_dir,
        model: &model,
    };
    let (backend, cuda_index) = device.backend(dtype_for(device, args.dtype)?)?;
    let paraphrases = run_on(&backend, cuda_index, Paraphrase(&request))??;
    write_jsonl(&args.output, items, &paraphrases)?;
    Ok(format!(
        "ensemble-generate paraphrase: {} items x {} rounds, {:.1} s -> {}",
        items.len(),
        args.rounds,
        started.elapsed().as_secs_f64(),
        args.output.display()
    ))
}

struct Request<'a> {
    args: &'a ParaphraseArgs,
    items: &'a [Item],
    data_dir: &'a DataDir,
    model: &'a ResolvedModel,
}

/// [`paraphrase_on`] for [`run_on`], which picks the backend at run time.
struct Paraphrase<'a>(&'a Request<'a>);

impl OnBackend for Paraphrase<'_> {
    type Output = Result<Vec<Vec<String>>>;
    fn run<B: Backend>(self, device: B::Device, _dtype: &'static str) -> Self::Output {
        paraphrase_on::<B>(self.0, device)
    }
}

/// The generated paraphrases of every item, one per round.
fn paraphrase_on<B: Backend>(request: &Request<'_>, device: B::Device) -> Result<Vec<Vec<String>>> {
    let checkpoint = request.model.open()?;
    let model = Llama::<B>::from_source(checkpoint.weights.as_ref(), &device)?;
    // The context is unused by sampling (prompts are complete texts).
    let context = PromptContext::for_dataset(&Dataset::WebQa, request.data_dir)?;
    let decode = DecodeConfig {
        batch_size: request.args.batch_size,
        ..DecodeConfig::default()
    };
    let engine = Engine::new(model, checkpoint.tokenizer, context, decode);
    let mut generated = vec![Vec::new(); request.items.len()];
    for round in 0..request.args.rounds {
        let prompts = request
            .items
            .iter()
            .map(|item| paraphrase_generation_prompt(item.question().unwrap_or_default(), round))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let sampling = SamplingConfig {
            seed: round as u64,
            ..SamplingConfig::default()
        };
        let samples = engine.sample(&prompts, &sampling)?;
        for (list, sample) in generated.iter_mut().zip(samples) {
            list.push(sample);
        }
        tracing::info!(round, items = prompts.len(), "paraphrase round done");
    }
    Ok(generated)
}

/// Writes one JSON object per item: its uuid, answers, other fields, and
/// `paraphrases` = original question then the generated ones; atomically.
fn write_jsonl(path: &Path, items: &[Item], generated: &[Vec<String>]) -> Result<()> {
    let io = |action: &'static str| {
        move |source| CliError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(directory).map_err(io("create the folder of"))?;
    let mut file = tempfile::NamedTempFile::new_in(directory).map_err(io("stage"))?;
    for (item, extra) in items.iter().zip(generated) {
        let mut record: Map<String, Value> = item.meta.fields.clone();
        record.insert("uuid".into(), item.uuid.clone().into());
        record.insert("answers".into(), item.answers.clone().into());
        let paraphrases: Vec<String> = item
            .question()
            .into_iter()
            .map(String::from)
            .chain(extra.iter().cloned())
            .collect();
        record.insert("paraphrases".into(), paraphrases.into());
        let line = Value::Object(record).to_string();
        writeln!(file, "{line}").map_err(io("write"))?;
    }
    file.as_file().sync_all().map_err(io("fsync"))?;
    file.persist(path).map_err(|error| CliError::Io {
        path: path.to_path_buf(),
        action: "rename over",
        source: error.error,
    })?;
    Ok(())
}
