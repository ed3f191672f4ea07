//! `flex-generate`: attention-fusion (flex) generation over a dataset.
//!
//! A thin front end: flags, run loop and `merge` live in [`chorus::cli`].

fn main() -> std::process::ExitCode {
    chorus::cli::flex_main()
}
