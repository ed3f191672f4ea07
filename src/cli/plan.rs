//! From flags to a [`RunPlan`]: method and options checked, model, dataset
//! and output resolved, run parameters collected for the file's metadata.

use std::path::{Path, PathBuf};

use chorus_data::{DataDir, Dataset, Item, ParaphraseSelection, SamplingSpec, Shard};
use chorus_ensemble::{
    DecodeConfig, FlexConfig, FlexMask, Method, Positions, PredictionRule, Question,
};
use chorus_prompt::FuseFirst;
use chorus_results::{RunInfo, ShardInfo, WriteOptions};

use crate::cli::args::{ContextName, FlexArgs, RunArgs};
use crate::cli::device::{DeviceSpec, Dtype, dtype_for};
use crate::cli::error::{CliError, Result};
use crate::cli::models::{ResolvedModel, resolve_model_with};

/// Test hook: stop with an error once this many items were checkpointed by
/// this process (used by the kill-and-resume test).
pub const ABORT_AFTER_ENV: &str = "CHORUS_TEST_ABORT_AFTER";

/// Everything a generation run needs, checked.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The binary's name, for messages.
    pub binary: &'static str,
    /// The method.
    pub method: Method,
    /// Flex options (used by `flex` only).
    pub flex: FlexConfig,
    /// Decoding options.
    pub decode: DecodeConfig,
    /// The dataset.
    pub dataset: Dataset,
    /// The data folder.
    pub data_dir: DataDir,
    /// Which prompt context the questions get.
    pub context: ContextName,
    /// Paraphrase selection (not used by `origin`, which asks paraphrase 0).
    pub selection: ParaphraseSelection,
    /// Only the first N items.
    pub max_samples: Option<usize>,
    /// This run's shard, if sharded.
    pub shard: Option<Shard>,
    /// The model.
    pub model: ResolvedModel,
    /// Where it runs.
    pub device: DeviceSpec,
    /// Its float type.
    pub dtype: Dtype,
    /// The Feather output.
    pub output: PathBuf,
    /// Skip / force / resume.
    pub write: WriteOptions,
    /// Add lemma columns at the end.
    pub lemmaize: bool,
    /// Test hook: stop with an error once this many items are checkpointed.
    pub abort_after: Option<usize>,
    /// The run parameters stored in the file.
    pub run_info: RunInfo,
}

/// Builds the plan of a run of `method` (already checked against the binary).
pub fn plan_run(
    binary: &'static str,
    method: Method,
    run: &RunArgs,
    flex_args: &FlexArgs,
) -> Result<RunPlan> {
    let flex = flex_config(flex_args)?;
    let (dataset, data_dir) = dataset_of(run)?;
    let context = context_of(&dataset, run.context)?;
    let decode = decode_config(run, context)?;
    if method == Method::Flex {
        flex.validate()?;
    }
    let selection = selection_of(run)?;
    let shard = run.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    let device = run.engine.device;
    let dtype = dtype_for(device, run.engine.dtype)?;
    device.backend(dtype)?;
    let model = resolve_model_with(&run.engine.model, run.engine.tokenizer.as_deref())?;
    let tag = (method != Method::Origin).then(|| selection_tag(&selection));
    let output = run.output.clone().unwrap_or_else(|| {
        let stem = file_stem(method, tag.as_deref(), &flex);
        let dataset = dataset_name(&dataset);
        default_output(&run.results_dir, &model.name, &dataset, &stem, shard)
    });
    let options = options_json(OptionsInput {
        method,
        flex: &flex,
        decode: &decode,
        tag: tag.as_deref(),
        run,
        context,
        device,
        dtype,
    });
    let mut run_info = RunInfo::new(model.name.clone(), method, dataset.to_string(), options);
    if let Some(shard) = shard {
        run_info = run_info.with_shard(shard_info(shard)?);
    }
    Ok(RunPlan {
        binary,
        method,
        flex,
        decode,
        dataset,
        data_dir,
        context,
        selection,
        max_samples: run.max_samples,
        shard,
        model,
        device,
        dtype,
        output,
        write: WriteOptions {
            force: run.force,
            resume: run.resume,
        },
        lemmaize: run.lemmaize,
        abort_after: abort_after(run),
        run_info,
    })
}

/// `--dataset`, required, and the data folder it is read from; its test
/// split must exist.
fn dataset_of(run: &RunArgs) -> Result<(Dataset, DataDir)> {
    let Some(dataset_flag) = run.dataset.as_deref() else {
        return Err(CliError::Usage(
            "--dataset is required (webqa, myriadlama or a JSONL file)".into(),
        ));
    };
    let dataset: Dataset = match dataset_flag.parse() {
        Ok(dataset) => dataset,
        Err(never) => match never {},
    };
    let data_dir = DataDir::resolve(run.engine.data_dir.as_deref());
    let test_path = dataset.test_path(&data_dir);
    if !test_path.exists() {
        return Err(CliError::MissingDataset { path: test_path });
    }
    Ok((dataset, data_dir))
}

/// Decoding options; the answer is cut at the first word for MyriadLAMA's
/// context unless `--prediction` says otherwise.
fn decode_config(run: &RunArgs, context: ContextName) -> Result<DecodeConfig> {
    let prediction = match run.prediction {
        Some(rule) => rule,
        None if context == ContextName::Myriadlama => PredictionRule::FirstWord,
        None => PredictionRule::FirstLine,
    };
    let decode = DecodeConfig {
        max_new_tokens: run.max_new_tokens,
        batch_size: run.batch_size,
        prediction,
        shared_context: !run.no_shared_context,
    };
    decode.validate()?;
    Ok(decode)
}

/// `--abort-after`, else `$CHORUS_TEST_ABORT_AFTER`.
fn abort_after(run: &RunArgs) -> Option<usize> {
    run.abort_after.or_else(|| {
        std::env::var(ABORT_AFTER_ENV)
            .ok()
            .and_then(|value| value.parse().ok())
    })
}

fn flex_config(args: &FlexArgs) -> Result<FlexConfig> {
    let flex = FlexConfig {
        positions: args.positions,
        share_prefix: !args.no_share_prefix,
        mask: args.mask,
        fuse_first: args.fuse_first,
        questions_per_example: args.num_fs_paraphrases,
    };
    if args.share_prefix && !flex.shares_prefix() {
        return Err(CliError::Usage(
            "--share-prefix needs --positions segment and --mask flex (continuous positions \
             differ per copy; the structured layout has one prefix already)"
                .into(),
        ));
    }
    Ok(flex)
}

/// The prompt context: the dataset's own, or `--context` (default webqa) for
/// a dataset given as a path.
fn context_of(dataset: &Dataset, flag: Option<ContextName>) -> Result<ContextName> {
    let builtin = match dataset {
        Dataset::WebQa => Some(ContextName::Webqa),
        Dataset::MyriadLama => Some(ContextName::Myriadlama),
        Dataset::Path(_) => None,
    };
    match (builtin, flag) {
        (Some(own), Some(asked)) if own != asked => Err(CliError::Usage(format!(
            "--context {asked:?} does not fit --dataset {dataset}; --context is for datasets given as a path"
        ))),
        (Some(own), _) => Ok(own),
        (None, Some(asked)) => Ok(asked),
        (None, None) => {
            tracing::info!(%dataset, "no --context given for a dataset path; using the webqa prompt context");
            Ok(ContextName::Webqa)
        }
    }
}

/// `--indexs` wins over `--num_ensemble`, which wins over two-stage sampling.
fn selection_of(run: &RunArgs) -> Result<ParaphraseSelection> {
    if let Some(spec) = &run.indexs {
        if run.num_ensemble.is_some() {
            return Err(CliError::Usage(
                "--indexs and --num_ensemble both choose paraphrases; give one".into(),
            ));
        }
        return Ok(ParaphraseSelection::parse_indices(spec)?);
    }
    if let Some(n) = run.num_ensemble {
        if n == 0 {
            return Err(CliError::Usage("--num_ensemble must be at least 1".into()));
        }
        return Ok(ParaphraseSelection::FirstN(n));
    }
    if run.num_samples == 0 {
        return Err(CliError::Usage("--num_samples must be at least 1".into()));
    }
    Ok(ParaphraseSelection::Sampled(SamplingSpec {
        num_manual: run.num_manual,
        num_auto: run.num_auto,
        num_samples: run.num_samples,
        seed: run.seed,
    }))
}

/// The file-name tag of a selection: `m5a0s3` for sampling, `i0-1-2` for
/// fixed indices, `n3` for the first three, `all` for every paraphrase.
pub fn selection_tag(selection: &ParaphraseSelection) -> String {
    match selection {
        ParaphraseSelection::All => "all".into(),
        ParaphraseSelection::Indices(indices) => {
            let parts: Vec<String> = indices.iter().map(usize::to_string).collect();
            format!("i{}", parts.join("-"))
        }
        ParaphraseSelection::FirstN(n) => format!("n{n}"),
        ParaphraseSelection::Sampled(spec) => spec.tag(),
    }
}

fn shard_info(shard: Shard) -> Result<ShardInfo> {
    let narrow = |value: usize| {
        u32::try_from(value)
            .map_err(|_| CliError::Usage(format!("--shard {shard}: numbers must fit in 32 bits")))
    };
    Ok(ShardInfo {
        index: narrow(shard.index())?,
        count: narrow(shard.count())?,
    })
}

/// `webqa`, `myriadlama`, or the file stem of a dataset path.
pub fn dataset_name(dataset: &Dataset) -> String {
    match dataset {
        Dataset::Path(path) => path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dataset".into()),
        builtin => builtin.to_string(),
    }
}

/// `{method}-{tag}` plus a suffix per non-default flex option, so that runs
/// with different options never share (and skip) one output.
pub fn file_stem(method: Method, tag: Option<&str>, flex: &FlexConfig) -> String {
    let mut stem = method.name().to_string();
    if let Some(tag) = tag {
        stem.push('-');
        stem.push_str(tag);
    }
    if method == Method::Flex {
        if flex.mask == FlexMask::Structured {
            stem.push_str("-structured");
            if flex.questions_per_example != FlexConfig::default().questions_per_example {
                stem.push_str(&format!("-fs{}", flex.questions_per_example));
            }
        }
        if flex.positions == Positions::Continuous {
            stem.push_str("-continuous");
        }
        if flex.fuse_first == FuseFirst::None {
            stem.push_str("-fusenone");
        }
    }
    stem
}

/// `results/{model}/{dataset}/{stem}.feather`, or
/// `{stem}.shard{i}of{n}.feather` for one shard.
pub fn default_output(
    results_dir: &Path,
    model: &str,
    dataset: &str,
    stem: &str,
    shard: Option<Shard>,
) -> PathBuf {
    let file = match shard {
        Some(shard) => format!("{stem}.shard{}of{}.feather", shard.index(), shard.count()),
        None => format!("{stem}.feather"),
    };
    results_dir.join(model).join(dataset).join(file)
}

struct OptionsInput<'a> {
    method: Method,
    flex: &'a FlexConfig,
    decode: &'a DecodeConfig,
    tag: Option<&'a str>,
    run: &'a RunArgs,
    context: ContextName,
    device: DeviceSpec,
    dtype: Dtype,
}

/// The options that change results (not --batch-size, --force, --resume or
/// paths, so that a resumed run with another batch size is the same run).
fn options_json(input: OptionsInput<'_>) -> serde_json::Value {
    let run = input.run;
    let mut options = serde_json::json!({
        "selection": input.tag.unwrap_or("paraphrase0"),
        "seed": run.seed,
        "max_samples": run.max_samples,
        "max_new_tokens": input.decode.max_new_tokens,
        "prediction": input.decode.prediction.name(),
        "context": format!("{:?}", input.context).to_lowercase(),
        "backend": input.device.backend_name(),
        "dtype": input.dtype.name(),
    });
    if input.method == Method::Flex
        && let Some(map) = options.as_object_mut()
    {
        map.insert("positions".into(), input.flex.positions.name().into());
        map.insert("share_prefix".into(), input.flex.shares_prefix().into());
        map.insert("mask".into(), input.flex.mask.name().into());
        let fuse_first = match input.flex.fuse_first {
            FuseFirst::SharedSuffix => "shared-suffix",
            FuseFirst::None => "none",
        };
        map.insert("fuse_first".into(), fuse_first.into());
        map.insert(
            "num_fs_paraphrases".into(),
            input.flex.questions_per_example.into(),
        );
    }
    options
}

/// The items this run answers, with their dataset indices: the first
/// `max_samples` items, then this shard's range of them (so that the shards
/// of a `--max_samples N` run merge into the unsharded `--max_samples N` run).
/// Shards split between whole batches of a fixed `--batch-size`, so each shard
/// runs exactly the batches the unsharded run would: on a GPU, a row's bf16
/// results can depend on which rows share its batch. With `--batch-size auto`
/// shards split between items (give a number for bit-identical merges).
pub fn items_of_run<'a>(plan: &RunPlan, items: &'a [Item]) -> Vec<(usize, &'a Item)> {
    let limit = plan.max_samples.unwrap_or(items.len()).min(items.len());
    let range = plan
        .shard
        .unwrap_or_else(Shard::whole)
        .range_in_units(limit, plan.decode.batch_size.fixed().unwrap_or(1));
    range.clone().zip(&items[range]).collect()
}

/// The question asked for `item`: paraphrase 0 alone for `origin`, the
/// selected paraphrases otherwise.
pub fn question_of(plan: &RunPlan, item_index: usize, item: &Item) -> Result<Question> {
    let paraphrases = if plan.method == Method::Origin {
        item.paraphrases.iter().take(1).cloned().collect()
    } else {
        plan.selection.apply(item)?.paraphrases
    };
    Ok(Question::new(item_index, paraphrases))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_between_whole_batches() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.gguf");
        std::fs::write(&model, b"only resolved, never opened").unwrap();
        let output = dir.path().join("out.feather");
        let indices = |shard: &str| {
            let cli = crate::cli::args::FlexCli::try_parse_from([
                "flex-generate",
                "--dataset",
                "myriadlama",
                "--model",
                model.to_str().unwrap(),
                "--max_samples",
                "3",
                "--batch-size",
                "2",
                "--shard",
                shard,
                "--output",
                output.to_str().unwrap(),
            ])
            .unwrap();
            let plan = plan_run("flex-generate", Method::Flex, &cli.run, &cli.flex).unwrap();
            let loaded = plan
                .dataset
                .load(&plan.data_dir, chorus_data::EmptyPolicy::Error)
                .unwrap();
            let items = items_of_run(&plan, &loaded.items);
            items.iter().map(|(index, _)| *index).collect::<Vec<_>>()
        };
        // Batches of 2 over 3 items: [0, 1] and [2]; an item split would cut the first.
        assert_eq!(indices("0/2"), vec![0, 1]);
        assert_eq!(indices("1/2"), vec![2]);
    }

    #[test]
    fn output_names_carry_tag_flex_variant_and_shard() {
        let flex = FlexConfig {
            positions: Positions::Continuous,
            fuse_first: FuseFirst::None,
            ..FlexConfig::default()
        };
        assert_eq!(
            file_stem(Method::Flex, Some("m5a0s3"), &flex),
            "flex-m5a0s3-continuous-fusenone"
        );
        assert_eq!(
            file_stem(Method::Avg, Some("i0-1"), &flex),
            "avg-i0-1",
            "flex options do not name other methods' files"
        );
        let shard = Shard::new(1, 4).unwrap();
        assert_eq!(
            default_output(Path::new("results"), "smol", "webqa", "avg-n3", Some(shard)),
            PathBuf::from("results/smol/webqa/avg-n3.shard1of4.feather")
        );
        assert_eq!(
            selection_tag(&ParaphraseSelection::Indices(vec![0, 2])),
            "i0-2"
        );
    }
}
