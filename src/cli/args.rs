//! Command-line flags of `flex-generate` and `ensemble-generate`.
//!
//! Flag names follow the Python pipeline (`--max_samples`, `--num_manual`,
//! `--indexs`, ...); each also has a dashed alias (`--max-samples`), and the
//! Chorus-only flags are dashed with an underscore alias.

use std::path::PathBuf;

use std::str::FromStr;

use chorus_ensemble::{
    BatchSize, FUSE_FIRST_NAMES, FlexMask, Method, Positions, PredictionRule, parse_fuse_first,
};
use chorus_eval::ReportFormat;
use chorus_prompt::FuseFirst;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::cli::device::{DeviceSpec, Dtype};

/// The model used when `--model` is not given (an entry of `models.toml`).
pub const DEFAULT_MODEL: &str = "smollm2-135m-it";

/// `flex-generate`: attention fusion over a dataset.
#[derive(Debug, Parser)]
#[command(
    name = "flex-generate",
    version,
    about = "Answer every question of a dataset with all its paraphrases packed into one \
             sequence and fused inside attention (flex).",
    args_conflicts_with_subcommands = true
)]
pub struct FlexCli {
    /// `merge` or `report` instead of a generation run.
    #[command(subcommand)]
    pub command: Option<FlexCommand>,
    /// The method: only `flex` (accepted for compatibility with
    /// ensemble-generate's flag).
    #[arg(long, default_value = "flex", value_parser = methods_shown(|method| method == Method::Flex))]
    pub method: Method,
    /// What to run and where to write it.
    #[command(flatten)]
    pub run: RunArgs,
    /// Flex layout and mask options.
    #[command(flatten)]
    pub flex: FlexArgs,
}

/// Subcommands of `flex-generate`.
#[derive(Debug, Subcommand)]
pub enum FlexCommand {
    /// Join the outputs of `--shard i/n` runs into one file.
    Merge(MergeArgs),
    /// Score result files: accuracy, and for paraphrase runs consistency,
    /// fluctuation and the oracle.
    Report(ReportArgs),
}

/// `ensemble-generate`: logit-level ensembles over a dataset.
#[derive(Debug, Parser)]
#[command(
    name = "ensemble-generate",
    version,
    about = "Answer every question of a dataset with a paraphrase ensemble: origin, \
             per_prompt, avg, max, weighted_avg or weighted_max.",
    args_conflicts_with_subcommands = true
)]
pub struct EnsembleCli {
    /// `merge`, `report` or `paraphrase` instead of a generation run.
    #[command(subcommand)]
    pub command: Option<EnsembleCommand>,
    /// The ensemble method (flex is flex-generate's).
    #[arg(long, default_value = "avg", value_parser = methods_shown(|method| method != Method::Flex))]
    pub method: Method,
    /// What to run and where to write it.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands of `ensemble-generate`.
#[derive(Debug, Subcommand)]
pub enum EnsembleCommand {
    /// Join the outputs of `--shard i/n` runs into one file.
    Merge(MergeArgs),
    /// Score result files: accuracy, and for paraphrase runs consistency,
    /// fluctuation and the oracle.
    Report(ReportArgs),
    /// Generate paraphrases of each question with the model (sampled, 5
    /// rounds) and write a WebQuestions JSONL file with a `paraphrases` field.
    Paraphrase(ParaphraseArgs),
}

/// What a command runs on: the model and its tokenizer, the data folder, the
/// device and the float type (generation runs and `paraphrase` alike).
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// A name from models.toml, a Hugging Face folder (safetensors or
    /// pytorch_model.bin), a `.gguf` file, a Hugging Face id
    /// `org/name[@revision]` from the local hub cache (HF_HUB_CACHE, else
    /// HF_HOME/hub, else ~/.cache/huggingface/hub; never downloaded), or
    /// `random:<preset>[:<seed>]` (seeded random weights of a preset shape:
    /// llama-3.2-3b, smollm2-135m, tiny).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// The checkpoint whose tokenizer drives `--model random:...` (default:
    /// the default model).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// The data folder (default: $CHORUS_DATA, else the repository's data/).
    #[arg(long = "data-dir", alias = "data_dir")]
    pub data_dir: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:<index>`.
    #[arg(long, default_value = "cpu", value_parser = DeviceSpec::from_str)]
    pub device: DeviceSpec,
    /// Weight and activation type (cpu: f32 only; cuda default bf16).
    #[arg(long)]
    pub dtype: Option<Dtype>,
}

/// The flags of a generation run, shared by both binaries.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// `webqa`, `myriadlama`, or a JSONL file / `save_to_disk` folder
    /// (required for a generation run).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Model, tokenizer, data folder, device and float type.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Prompt context (instruction + few-shot block) for a dataset given as a
    /// path: webqa (default) or myriadlama.
    #[arg(long)]
    pub context: Option<ContextName>,
    /// Fixed paraphrase indices, e.g. `0,1,2`.
    #[arg(long = "indexs", alias = "indices")]
    pub indexs: Option<String>,
    /// Use the first N paraphrases of each item.
    #[arg(
        long = "num_ensemble",
        visible_alias = "num-ensemble",
        alias = "num_paraphrases",
        alias = "num-paraphrases"
    )]
    pub num_ensemble: Option<usize>,
    /// Two-stage sampling: manual paraphrases drawn into the pool.
    #[arg(long = "num_manual", alias = "num-manual", default_value_t = 5)]
    pub num_manual: usize,
    /// Two-stage sampling: automatic paraphrases drawn into the pool.
    #[arg(long = "num_auto", alias = "num-auto", default_value_t = 5)]
    pub num_auto: usize,
    /// Two-stage sampling: paraphrases drawn from the pool.
    #[arg(long = "num_samples", alias = "num-samples", default_value_t = 5)]
    pub num_samples: usize,
    /// Seed of the two-stage paraphrase sampling. Each item draws with its own
    /// CPython generator: 42 (the default) seeds it like the pipeline,
    /// `random.seed(uuid)`; any other value seeds it with `"{uuid}:{seed}"`.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Only the first N items of the dataset.
    #[arg(long = "max_samples", alias = "max-samples")]
    pub max_samples: Option<usize>,
    /// Add `predict_lemma` and `answer_lemmas` columns to the output.
    #[arg(long)]
    pub lemmaize: bool,
    /// Questions decoded together: a number, or `auto` (the default): as many
    /// as 80 % of the GPU's free memory holds, 8 on the CPU.
    #[arg(long = "batch-size", alias = "batch_size", default_value = "auto", value_parser = parse_batch_size)]
    pub batch_size: BatchSize,
    /// Encode every prompt whole instead of encoding the run's context
    /// (instruction + few-shot block) once for all rows; the shared context is
    /// exact and the default, this is for checking.
    #[arg(long = "no-shared-context", alias = "no_shared_context")]
    pub no_shared_context: bool,
    /// Tokens generated at most per answer.
    #[arg(
        long = "max-new-tokens",
        alias = "max_new_tokens",
        default_value_t = 10
    )]
    pub max_new_tokens: usize,
    /// How the answer is cut from the generation (default: first-word for
    /// MyriadLAMA, else first-line).
    #[arg(long, value_parser = one_of::<PredictionRule>(PredictionRule::NAMES.iter().copied()))]
    pub prediction: Option<PredictionRule>,
    /// Run shard `i` of `n` (0-based), e.g. `0/4`; join with `merge`.
    #[arg(long)]
    pub shard: Option<String>,
    /// The Feather output (default:
    /// `results/{model}/{dataset}/{method}-{tag}.feather`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The folder default outputs go under.
    #[arg(long = "results-dir", alias = "results_dir", default_value = "results")]
    pub results_dir: PathBuf,
    /// Overwrite an existing output (and discard a checkpoint unless --resume).
    #[arg(long)]
    pub force: bool,
    /// Continue an interrupted run from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Test hook: fail once this many items are checkpointed (also
    /// `$CHORUS_TEST_ABORT_AFTER`), to exercise --resume.
    #[arg(long = "abort-after", hide = true)]
    pub abort_after: Option<usize>,
}

/// The flex-only flags.
#[derive(Debug, Clone, Args)]
pub struct FlexArgs {
    /// Position ids: `segment` (restart per paraphrase) or `continuous`.
    #[arg(long, default_value = "segment", value_parser = one_of::<Positions>(Positions::NAMES.iter().copied()))]
    pub positions: Positions,
    /// Keep one copy of the instruction + few-shot prefix, weighted as the k
    /// copies it stands for (the default with segment positions and the flex
    /// mask; the flag is kept for compatibility).
    #[arg(
        long = "share-prefix",
        alias = "share_prefix",
        conflicts_with = "no_share_prefix"
    )]
    pub share_prefix: bool,
    /// Pack one whole prompt per paraphrase (k copies of the prefix), as the
    /// Python pipeline did.
    #[arg(long = "no-share-prefix", alias = "no_share_prefix")]
    pub no_share_prefix: bool,
    /// `flex` (isolated paraphrases) or `structured` (MyriadLAMA layout).
    #[arg(long, default_value = "flex", value_parser = one_of::<FlexMask>(FlexMask::NAMES.iter().copied()))]
    pub mask: FlexMask,
    /// `shared-suffix` (fuse the first answer token) or `none` (pipeline).
    #[arg(
        long = "fuse-first",
        alias = "fuse_first",
        default_value = "shared-suffix",
        value_parser = PossibleValuesParser::new(FUSE_FIRST_NAMES).try_map(|name| parse_fuse_first(&name))
    )]
    pub fuse_first: FuseFirst,
    /// Structured layout: question phrasings per few-shot example.
    #[arg(
        long = "num_fs_paraphrases",
        alias = "num-fs-paraphrases",
        default_value_t = 3
    )]
    pub num_fs_paraphrases: usize,
}

impl Default for FlexArgs {
    fn default() -> Self {
        FlexArgs {
            positions: Positions::default(),
            share_prefix: false,
            no_share_prefix: false,
            mask: FlexMask::default(),
            fuse_first: FuseFirst::default(),
            num_fs_paraphrases: 3,
        }
    }
}

/// `merge`: shard outputs into one file.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The merged Feather file (its CSV is written beside it).
    #[arg(long)]
    pub output: PathBuf,
    /// Overwrite an existing merged file.
    #[arg(long)]
    pub force: bool,
    /// The shard outputs (Feather files).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// `report`: scores result files with chorus-eval (`chorus_eval::report_paths`).
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Result files and folders (searched recursively for `.feather` files and
    /// `.csv` files without a `.feather` twin): Chorus's, or any Feather / CSV
    /// file with `answers` and `prediction` columns.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Count an empty prediction (or an empty answer) as matching, as the
    /// Python pipeline's metric does.
    #[arg(long = "anchor-compat", alias = "anchor_compat")]
    pub anchor_compat: bool,
    /// What is written to stdout: Markdown tables, CSV or JSON.
    #[arg(
        long,
        default_value = "md",
        value_parser = one_of::<ReportFormat>(ReportFormat::NAMES.iter().copied())
    )]
    pub format: ReportFormat,
    /// Also draw accuracy against the number of paraphrases into this PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Lemmatise `prediction` and `answers` of files without stored lemma
    /// columns (`predict_lemma`, `answer_lemmas`); without it such a file is
    /// an error. Files with the columns are scored with their stored lemmas.
    #[arg(long = "lemmaize-missing", alias = "lemmaize_missing")]
    pub lemmaize_missing: bool,
    /// Measure the paraphrase quality of this dataset (`webqa`, `myriadlama`
    /// or a JSONL file; repeatable): how many paraphrases keep the question's
    /// content words, by lemma. The report gets a table per set, and result
    /// files whose recorded dataset names the set a `keep question` column.
    #[arg(long = "paraphrases", value_name = "DATASET")]
    pub paraphrases: Vec<String>,
    /// The data folder `--paraphrases webqa|myriadlama` are read from
    /// (default: $CHORUS_DATA, else the repository's data/).
    #[arg(long = "data-dir", alias = "data_dir")]
    pub data_dir: Option<PathBuf>,
}

/// `paraphrase`: model-generated paraphrases for a dataset.
#[derive(Debug, Clone, Args)]
pub struct ParaphraseArgs {
    /// `webqa` or a WebQuestions-style JSONL file.
    #[arg(long, default_value = "webqa")]
    pub dataset: String,
    /// Model, tokenizer, data folder, device and float type.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The JSONL file to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Paraphrasing rounds: one paraphrase per round, round `r` using the
    /// `r`-th paraphrase of each few-shot example (1 to 5) and seed `--seed + r`.
    #[arg(long, alias = "num_rounds", alias = "num-rounds", default_value_t = 5)]
    pub rounds: usize,
    /// Sampling temperature (the pipeline's 1.5; 0 is greedy).
    #[arg(long, default_value_t = 1.5)]
    pub temperature: f32,
    /// Nucleus mass kept when sampling, in (0, 1] (the pipeline's 0.9).
    #[arg(long = "top-p", alias = "top_p", default_value_t = 0.9)]
    pub top_p: f32,
    /// Seed of round 0; round `r` samples with `seed + r` (the pipeline's 0).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokens sampled at most per paraphrase (the pipeline's 30).
    #[arg(
        long = "max-new-tokens",
        alias = "max_new_tokens",
        default_value_t = 30
    )]
    pub max_new_tokens: usize,
    /// Only the first N items.
    #[arg(long = "max_samples", alias = "max-samples")]
    pub max_samples: Option<usize>,
    /// Prompts sampled together (with the shared prefix encoded once, a
    /// prompt's own part is ~10 tokens: large batches are cheap).
    #[arg(long = "batch-size", alias = "batch_size", default_value_t = 32)]
    pub batch_size: usize,
    /// Encode every prompt whole instead of encoding the round's instruction
    /// and examples (the prompts' common prefix) once (a benchmark switch).
    #[arg(long = "no-shared-context", alias = "no_shared_context")]
    pub no_shared_context: bool,
    /// Overwrite an existing output (and discard a checkpoint unless --resume).
    #[arg(long)]
    pub force: bool,
    /// Continue an interrupted run from its checkpoint
    /// (`<output>.partial.jsonl`: the rounds finished so far).
    #[arg(long)]
    pub resume: bool,
    /// Test hook: fail once this many rounds are checkpointed (also
    /// `$CHORUS_TEST_ABORT_AFTER`), to exercise --resume.
    #[arg(long = "abort-after", hide = true)]
    pub abort_after: Option<usize>,
}

/// A prompt context by dataset name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContextName {
    /// WebQuestions instruction and 5 train examples.
    Webqa,
    /// MyriadLAMA instruction and its 5 fixed examples.
    Myriadlama,
}

/// `--batch-size`: `auto` or a positive number (clap's usage error otherwise).
fn parse_batch_size(value: &str) -> Result<BatchSize, String> {
    value
        .parse()
        .map_err(|e: chorus_ensemble::EnsembleError| e.to_string())
}

/// A parser accepting exactly `names`, each read by `T`'s `FromStr`: `--help`
/// lists the names, and any other value is clap's usage error (exit code 2).
fn one_of<T>(
    names: impl IntoIterator<Item = impl Into<PossibleValue>>,
) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

/// `--method`: every method is accepted but only `shown` are listed by
/// `--help`, so that a run of the other binary's method can point at that
/// binary instead of getting clap's bare "invalid value".
fn methods_shown(shown: fn(Method) -> bool) -> impl TypedValueParser<Value = Method> {
    one_of::<Method>(
        Method::ALL.map(|method| PossibleValue::new(method.name()).hide(!shown(method))),
    )
}
