//! `ensemble-generate paraphrase`: model-generated paraphrases of a dataset's
//! questions (docs/DESIGN.md, "Paraphrase generation"), written as WebQuestions JSONL
//! whose `paraphrases` field holds the original question first.
//!
//! Round `r` (0-based) asks every question with the round-`r` few-shot
//! paraphrase prompt and samples with temperature 1.5, top-p 0.9, at most 30
//! new tokens and seed `r`; the first line of each sample is kept.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chorus_data::{DataDir, Dataset, EmptyPolicy, Item};
use chorus_ensemble::{BatchSize, DecodeConfig, Engine, SamplingConfig, generate_paraphrases};
use chorus_llama::backend::{OnBackend, run_on};
use chorus_llama::{Kernels, Llama};
use chorus_prompt::PromptContext;
use serde_json::{Map, Value};

use crate::cli::args::ParaphraseArgs;
use crate::cli::device::dtype_for;
use crate::cli::error::{CliError, Result};
use crate::cli::models::{ResolvedModel, resolve_model_with};

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
    let data_dir = DataDir::resolve(args.engine.data_dir.as_deref());
    let path = dataset.test_path(&data_dir);
    if !path.exists() {
        return Err(CliError::MissingDataset { path });
    }
    let device = args.engine.device;
    let model = resolve_model_with(&args.engine.model, args.engine.tokenizer.as_deref())?;
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
    let (backend, cuda_index) = device.backend(dtype_for(device, args.engine.dtype)?)?;
    let paraphrases = run_on(&backend, cuda_index, Paraphrase(&request))??;
    write_jsonl(&args.output, &paraphrases)?;
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
    type Output = Result<Vec<Map<String, Value>>>;
    fn run<K: Kernels>(self, device: K::Device, _dtype: &'static str) -> Self::Output {
        paraphrase_on::<K>(self.0, device)
    }
}

/// The JSONL rows of every item: its fields, and `paraphrases` = the original
/// question then one sampled paraphrase per round.
fn paraphrase_on<K: Kernels>(
    request: &Request<'_>,
    device: K::Device,
) -> Result<Vec<Map<String, Value>>> {
    let checkpoint = request.model.open()?;
    let model = Llama::<K>::from_source(checkpoint.weights.as_ref(), &device)?;
    // The context is unused by sampling (prompts are complete texts).
    let context = PromptContext::for_dataset(&Dataset::WebQa, request.data_dir)?;
    let decode = DecodeConfig {
        batch_size: BatchSize::Fixed(request.args.batch_size),
        ..DecodeConfig::default()
    };
    let engine = Engine::new(model, checkpoint.tokenizer, context, decode)?;
    // The pipeline's sampling: seed = round index (SamplingConfig's seed 0 + round).
    Ok(generate_paraphrases(
        &engine,
        request.items,
        request.args.rounds,
        &SamplingConfig::default(),
    )?)
}

/// Writes the rows, one JSON object per line, atomically.
fn write_jsonl(path: &Path, rows: &[Map<String, Value>]) -> Result<()> {
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
    for row in rows {
        writeln!(file, "{}", Value::Object(row.clone())).map_err(io("write"))?;
    }
    file.as_file().sync_all().map_err(io("fsync"))?;
    file.persist(path).map_err(|error| CliError::Io {
        path: path.to_path_buf(),
        action: "rename over",
        source: error.error,
    })?;
    Ok(())
}
