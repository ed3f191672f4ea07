//! `ensemble-generate paraphrase`: model-generated paraphrases of a dataset's
//! questions (docs/DESIGN.md, "Paraphrase generation"), written as WebQuestions JSONL
//! whose `paraphrases` field holds the original question first.
//!
//! Round `r` (0-based) asks every question with the round-`r` few-shot
//! paraphrase prompt and samples with `--temperature` (default 1.5), `--top-p`
//! (0.9), at most `--max-new-tokens` (30) new tokens and seed `--seed + r`
//! (seed 0); the first line of each sample is kept. The defaults are the
//! Python pipeline's settings.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chorus_data::{DataDir, Dataset, EmptyPolicy, Item};
use chorus_ensemble::{
    BatchSize, DecodeConfig, Engine, SamplingConfig, paraphrase_round, paraphrase_rows,
};
use chorus_llama::backend::{OnBackend, run_on};
use chorus_llama::{Kernels, Llama};
use chorus_prompt::{PARAPHRASE_ROUNDS, PromptContext};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::cli::args::ParaphraseArgs;
use crate::cli::device::dtype_for;
use crate::cli::error::{CliError, Result};
use crate::cli::models::{ResolvedModel, resolve_model_with};
use crate::cli::plan::ABORT_AFTER_ENV;
use crate::cli::rounds::{RoundCheckpoint, sha256_hex};

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
    if args.rounds > PARAPHRASE_ROUNDS {
        return Err(CliError::Usage(format!(
            "--rounds is at most {PARAPHRASE_ROUNDS} (one per paraphrase of the few-shot examples), got {}",
            args.rounds
        )));
    }
    // Bad sampling settings are usage errors before the model is loaded.
    sampling_config(args)
        .validate()
        .map_err(|error| CliError::Usage(error.to_string()))?;
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
    let (checkpoint, finished) = open_checkpoint(args, &model, items)?;
    let request = Request {
        args,
        items,
        data_dir: &data_dir,
        model: &model,
        checkpoint,
        finished,
    };
    let (backend, cuda_index) = device.backend(dtype_for(device, args.engine.dtype)?)?;
    let (paraphrases, checkpoint) = run_on(&backend, cuda_index, Paraphrase(request))??;
    write_jsonl(&args.output, &paraphrases)?;
    checkpoint.remove()?;
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
    /// Where finished rounds go.
    checkpoint: RoundCheckpoint,
    /// The rounds a resumed run found there.
    finished: Vec<Vec<String>>,
}

/// The run's checkpoint (`<output>.partial.jsonl`) and the rounds it holds:
/// resumed with --resume, replaced with --force, refused otherwise.
fn open_checkpoint(
    args: &ParaphraseArgs,
    model: &ResolvedModel,
    items: &[Item],
) -> Result<(RoundCheckpoint, Vec<Vec<String>>)> {
    let settings = checkpoint_settings(args, model, items);
    let path = RoundCheckpoint::path_for(&args.output);
    if path.exists() && args.resume {
        let (checkpoint, finished) = RoundCheckpoint::resume(&args.output, &settings, items.len())?;
        tracing::info!(rounds = finished.len(), checkpoint = %path.display(), "resuming");
        return Ok((checkpoint, finished));
    }
    if path.exists() && !args.force {
        return Err(CliError::RoundCheckpointExists { path });
    }
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| CliError::Io {
            path: parent.to_path_buf(),
            action: "create",
            source,
        })?;
    }
    Ok((
        RoundCheckpoint::create(&args.output, &settings)?,
        Vec::new(),
    ))
}

/// What a checkpoint's rounds depend on: the model, the questions and the
/// sampling settings (round `r` of two runs that agree on these is the same).
fn checkpoint_settings(args: &ParaphraseArgs, model: &ResolvedModel, items: &[Item]) -> Value {
    let questions: String = items
        .iter()
        .map(|item| format!("{}\n", item.question().unwrap_or_default()))
        .collect();
    json!({
        "model": model.name,
        "dataset": args.dataset,
        "items": items.len(),
        "questions_sha256": sha256_hex(questions.as_bytes()),
        "temperature": args.temperature,
        "top_p": args.top_p,
        "seed": args.seed,
        "max_new_tokens": args.max_new_tokens,
    })
}

/// [`paraphrase_on`] for [`run_on`], which picks the backend at run time.
struct Paraphrase<'a>(Request<'a>);

impl OnBackend for Paraphrase<'_> {
    type Output = Result<(Vec<Map<String, Value>>, RoundCheckpoint)>;
    fn run<K: Kernels>(self, device: K::Device, _dtype: &'static str) -> Self::Output {
        paraphrase_on::<K>(self.0, device)
    }
}

/// The JSONL rows of every item: its fields, and `paraphrases` = the original
/// question then one sampled paraphrase per round. Rounds found in the
/// checkpoint are kept; every newly sampled round is appended to it.
fn paraphrase_on<K: Kernels>(
    request: Request<'_>,
    device: K::Device,
) -> Result<(Vec<Map<String, Value>>, RoundCheckpoint)> {
    let weights = request.model.open()?;
    let model = Llama::<K>::from_source(weights.weights.as_ref(), &device)?;
    // The context is unused by sampling (prompts are complete texts).
    let context = PromptContext::for_dataset(&Dataset::WebQa, request.data_dir)?;
    let decode = DecodeConfig {
        batch_size: BatchSize::Fixed(request.args.batch_size),
        shared_context: !request.args.no_shared_context,
        ..DecodeConfig::default()
    };
    let engine = Engine::new(model, weights.tokenizer, context, decode)?;
    let Request {
        args,
        items,
        mut checkpoint,
        mut finished,
        ..
    } = request;
    finished.truncate(args.rounds);
    let bar = progress_bar(items.len() * args.rounds);
    bar.inc((items.len() * finished.len()) as u64);
    let abort_after = args.abort_after.or_else(|| {
        std::env::var(ABORT_AFTER_ENV)
            .ok()
            .and_then(|value| value.parse().ok())
    });
    for round in finished.len()..args.rounds {
        if abort_after.is_some_and(|limit| finished.len() >= limit) {
            return Err(CliError::TestAbortRounds {
                rounds: finished.len(),
            });
        }
        // Round r samples with seed + r (paraphrase_round adds the round).
        let sampled =
            paraphrase_round(&engine, items, round, &sampling_config(args), &mut |done| {
                bar.inc(done as u64)
            })?;
        checkpoint.append(round, &sampled)?;
        finished.push(sampled);
    }
    bar.finish_and_clear();
    Ok((paraphrase_rows(items, &finished)?, checkpoint))
}

/// A bar over every prompt of every round (hidden when stderr is no terminal).
fn progress_bar(prompts: usize) -> ProgressBar {
    let bar = ProgressBar::new(prompts as u64);
    let template =
        "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} prompts {per_sec} ETA {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_prefix("ensemble-generate paraphrase");
    bar
}

/// The sampling settings of `--temperature`, `--top-p`, `--seed` and
/// `--max-new-tokens`.
fn sampling_config(args: &ParaphraseArgs) -> SamplingConfig {
    SamplingConfig {
        temperature: args.temperature,
        top_p: args.top_p,
        seed: args.seed,
        max_new_tokens: args.max_new_tokens,
    }
}

/// Writes the rows, one JSON object per line, atomically.
fn write_jsonl(path: &Path, rows: &[Map<String, Value>]) -> Result<()> {
    chorus_results::write_file_atomically(path, |out| {
        rows.iter()
            .try_for_each(|row| writeln!(out, "{}", Value::Object(row.clone())))
            .map_err(|source| chorus_results::ResultsError::Io {
                path: path.to_path_buf(),
                action: "write",
                source,
            })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{DeviceSpec, Dtype, EnsembleCli, EnsembleCommand};
    use clap::Parser;

    fn paraphrase_args(flags: &[&str]) -> Result<ParaphraseArgs, clap::Error> {
        let cli = EnsembleCli::try_parse_from(
            ["ensemble-generate", "paraphrase", "--output", "out.jsonl"]
                .iter()
                .chain(flags),
        )?;
        match cli.command {
            Some(EnsembleCommand::Paraphrase(args)) => Ok(args),
            other => panic!("not a paraphrase command: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_pipeline_settings() {
        let args = paraphrase_args(&[]).unwrap();
        assert_eq!(args.rounds, 5);
        assert_eq!(args.dataset, "webqa");
        assert_eq!(sampling_config(&args), SamplingConfig::default());
        assert_eq!(args.engine.device, DeviceSpec::Cpu);
        assert_eq!(args.engine.dtype, None);
    }

    #[test]
    fn sampling_rounds_device_and_dtype_are_flags() {
        let args = paraphrase_args(&[
            "--temperature",
            "0.7",
            "--top-p",
            "0.95",
            "--seed",
            "7",
            "--rounds",
            "3",
            "--max-new-tokens",
            "20",
            "--device",
            "cuda:1",
            "--dtype",
            "bf16",
            "--dataset",
            "data/webquestions/test.jsonl",
        ])
        .unwrap();
        let config = sampling_config(&args);
        assert_eq!(config.temperature, 0.7);
        assert_eq!(config.top_p, 0.95);
        assert_eq!(config.seed, 7);
        assert_eq!(config.max_new_tokens, 20);
        assert_eq!(args.rounds, 3);
        assert_eq!(args.engine.device, DeviceSpec::Cuda(1));
        assert_eq!(args.engine.dtype, Some(Dtype::Bf16));
        assert_eq!(args.dataset, "data/webquestions/test.jsonl");
        // The pipeline's underscore spellings are aliases.
        let args = paraphrase_args(&["--top_p", "0.5", "--num_rounds", "2"]).unwrap();
        assert_eq!((args.top_p, args.rounds), (0.5, 2));
        assert!(paraphrase_args(&["--temperature", "warm"]).is_err());
    }

    #[test]
    fn batch_sharing_and_resume_flags() {
        let args = paraphrase_args(&[]).unwrap();
        assert_eq!(args.batch_size, 32);
        assert!(!args.no_shared_context && !args.resume);
        assert_eq!(args.abort_after, None);
        let args =
            paraphrase_args(&["--no_shared_context", "--resume", "--batch_size", "4"]).unwrap();
        assert!(args.no_shared_context && args.resume);
        assert_eq!(args.batch_size, 4);
    }

    #[test]
    fn bad_settings_are_usage_errors_before_loading() {
        for flags in [
            &["--rounds", "6"][..],
            &["--rounds", "0"],
            &["--temperature=-1"],
            &["--top-p", "0"],
            &["--top-p", "1.5"],
            &["--max-new-tokens", "0"],
        ] {
            let mut args = paraphrase_args(flags).unwrap();
            // An output that cannot exist, so the skip check does not fire.
            args.output = std::path::PathBuf::from("/nonexistent/chorus/out.jsonl");
            match run_paraphrase(&args) {
                Err(CliError::Usage(message)) => assert!(!message.is_empty(), "{flags:?}"),
                other => panic!("{flags:?}: {other:?}"),
            }
        }
    }
}
