//! `ensemble-generate`: logit-level ensembles (origin, per_prompt, avg, max,
//! weighted_avg, weighted_max) over a dataset, plus `merge` and `paraphrase`.
//!
//! A thin front end: flags, run loop and subcommands live in [`chorus::cli`].

fn main() -> std::process::ExitCode {
    chorus::cli::ensemble_main()
}
