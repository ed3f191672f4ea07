//! The command-line front end shared by `flex-generate` and
//! `ensemble-generate`: flag parsing ([`args`]), `--model` resolution through
//! `models.toml` ([`models`]), run planning ([`plan`]: dataset, paraphrase
//! selection, output path, run parameters) and the run loop ([`generate`]:
//! skip / force / resume, progress bar, checkpoint per batch, summary line),
//! plus `merge` of shard outputs and `report` (chorus-eval's scores of result
//! files, printed as Markdown, CSV or JSON).
//!
//! Both binaries are one line: `fn main() -> ExitCode { chorus::cli::flex_main() }`
//! (or `ensemble_main`). Errors are printed with their causes and give exit
//! code 1 (2 for bad flags); nothing panics on bad input.

pub mod args;
pub mod device;
pub mod error;
pub mod generate;
pub mod models;
pub mod paraphrase;
pub mod plan;
pub mod rounds;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use args::{
    EngineArgs, EnsembleCli, EnsembleCommand, FlexArgs, FlexCli, FlexCommand, MergeArgs,
    ReportArgs, RunArgs,
};
pub use error::CliError;
pub use generate::{Summary, run_plan};
pub use models::{ModelSource, ResolvedModel, resolve_model, resolve_model_with};
pub use plan::{ABORT_AFTER_ENV, RunPlan, plan_run};

use chorus_ensemble::Method;
use chorus_eval::{
    LemmaSource, Lemmatizer, MatchOptions, ReportOptions, paraphrase_set_quality, report_paths,
};
use chorus_results::{Outcome, merge};

/// `flex-generate`'s `main`.
pub fn flex_main() -> ExitCode {
    main_with(run_flex(std::env::args_os()))
}

/// `ensemble-generate`'s `main`.
pub fn ensemble_main() -> ExitCode {
    main_with(run_ensemble(std::env::args_os()))
}

/// Prints the summary (stdout) or the error with its causes (stderr) and
/// turns it into an exit code. Flag errors and `--help` are printed by clap
/// (usage message; exit code 2, or 0 for `--help` / `--version`).
fn main_with(result: Result<String, CliError>) -> ExitCode {
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(CliError::Flags(error)) => {
            let code = error.exit_code();
            // Printing to a closed stdout/stderr is not worth a panic.
            let _ = error.print();
            ExitCode::from(u8::try_from(code).unwrap_or(2))
        }
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::from(error.exit_code())
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // thiserror's transparent variants repeat their source's message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Parses the flags with clap; bad flags and `--help` come back as
/// [`CliError::Flags`].
fn parse<P: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<P, CliError> {
    P::try_parse_from(args).map_err(CliError::Flags)
}

/// Runs `flex-generate` with `args` (program name first, as `std::env::args_os`
/// gives them); returns the summary line.
pub fn run_flex(args: impl IntoIterator<Item = OsString>) -> Result<String, CliError> {
    let cli: FlexCli = parse(args)?;
    init_logging();
    match cli.command {
        Some(FlexCommand::Merge(merge_args)) => run_merge("flex-generate", &merge_args),
        Some(FlexCommand::Report(report_args)) => run_report(&report_args),
        None => {
            if cli.method != Method::Flex {
                return Err(CliError::Usage(format!(
                    "flex-generate runs --method flex only (got `{}`); use ensemble-generate for other methods",
                    cli.method
                )));
            }
            let plan = plan_run("flex-generate", Method::Flex, &cli.run, &cli.flex)?;
            Ok(run_plan(&plan)?.to_string())
        }
    }
}

/// Runs `ensemble-generate` with `args` (program name first); returns the summary line.
pub fn run_ensemble(args: impl IntoIterator<Item = OsString>) -> Result<String, CliError> {
    let cli: EnsembleCli = parse(args)?;
    init_logging();
    match cli.command {
        Some(EnsembleCommand::Merge(merge_args)) => run_merge("ensemble-generate", &merge_args),
        Some(EnsembleCommand::Report(report_args)) => run_report(&report_args),
        Some(EnsembleCommand::Paraphrase(paraphrase_args)) => {
            paraphrase::run_paraphrase(&paraphrase_args)
        }
        None => {
            let method = cli.method;
            if method == Method::Flex {
                return Err(CliError::Usage(
                    "--method flex is run by flex-generate".into(),
                ));
            }
            let plan = plan_run("ensemble-generate", method, &cli.run, &FlexArgs::default())?;
            Ok(run_plan(&plan)?.to_string())
        }
    }
}

/// `merge`: joins shard outputs; an existing output is kept unless `--force`.
fn run_merge(binary: &str, args: &MergeArgs) -> Result<String, CliError> {
    Ok(match merge(&args.inputs, &args.output, args.force)? {
        Outcome::Ready(written) => format!(
            "{binary} merge: {} inputs, {} rows -> {}",
            args.inputs.len(),
            written.rows,
            written.paths.feather.display()
        ),
        Outcome::AlreadyExists(paths) => format!(
            "{binary} merge: {} exists; skipped (use --force to overwrite)",
            paths.feather.display()
        ),
    })
}

/// `report`: scores the inputs with chorus-eval and returns the rendered
/// report (printed to stdout); `--plot` also writes the PNG.
fn run_report(args: &ReportArgs) -> Result<String, CliError> {
    let lemmatizer = Lemmatizer::english()?;
    let mut report = report_paths(&args.inputs, &lemmatizer, report_options(args))?;
    if !args.paraphrases.is_empty() {
        let sets = args
            .paraphrases
            .iter()
            .map(|dataset| paraphrase_set_quality(dataset, args.data_dir.as_deref(), &lemmatizer))
            .collect::<Result<Vec<_>, _>>()?;
        report = report.with_paraphrase_sets(sets);
    }
    if let Some(png) = &args.plot {
        report.write_plot(png)?;
        tracing::info!(path = %png.display(), "accuracy plot written");
    }
    // main_with adds the final newline.
    Ok(report.render(args.format).trim_end().to_owned())
}

/// chorus-eval's options for `report`'s flags: `--anchor-compat` is
/// [`MatchOptions::anchor_compat`] (bidirectional matching stays on);
/// stored lemmas are required unless `--lemmaize-missing`.
fn report_options(args: &ReportArgs) -> ReportOptions {
    ReportOptions {
        match_options: MatchOptions {
            anchor_compat: args.anchor_compat,
            ..MatchOptions::default()
        },
        lemmas: if args.lemmaize_missing {
            LemmaSource::StoredElseLemmatize
        } else {
            LemmaSource::Stored
        },
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level `info`. A second
/// call (tests run several commands in one process) keeps the first setup.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_eval::ReportFormat;

    fn report_args(flags: &[&str]) -> ReportArgs {
        let cli = EnsembleCli::try_parse_from(["ensemble-generate", "report"].iter().chain(flags))
            .unwrap();
        match cli.command {
            Some(EnsembleCommand::Report(args)) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn report_flags_map_to_chorus_eval_options() {
        let args = report_args(&["results/"]);
        assert_eq!(args.format, ReportFormat::Markdown);
        assert_eq!(args.plot, None);
        let options = report_options(&args);
        assert_eq!(options.lemmas, LemmaSource::Stored);
        assert_eq!(options.match_options, MatchOptions::default());

        let args = report_args(&[
            "a.feather",
            "b/",
            "--anchor-compat",
            "--lemmaize-missing",
            "--format",
            "json",
            "--plot",
            "acc.png",
        ]);
        assert_eq!(args.inputs.len(), 2);
        assert_eq!(args.format, ReportFormat::Json);
        let options = report_options(&args);
        assert_eq!(options.lemmas, LemmaSource::StoredElseLemmatize);
        assert!(options.match_options.anchor_compat && options.match_options.bidirectional);

        let flex =
            FlexCli::try_parse_from(["flex-generate", "report", "--format", "csv", "x"]).unwrap();
        assert!(
            matches!(flex.command, Some(FlexCommand::Report(ref a)) if a.format == ReportFormat::Csv)
        );
        assert!(EnsembleCli::try_parse_from(["ensemble-generate", "report"]).is_err());

        let args = report_args(&[
            "r/",
            "--paraphrases",
            "webqa",
            "--paraphrases",
            "data/x.jsonl",
            "--data-dir",
            "d",
        ]);
        assert_eq!(args.paraphrases, ["webqa", "data/x.jsonl"]);
        assert_eq!(args.data_dir.as_deref(), Some(std::path::Path::new("d")));
    }
}
