//! `ensemble-generate`: logit-level ensembles (origin, per_prompt, avg, max,
//! weighted_avg, weighted_max) over a dataset, plus `merge` and `paraphrase`.
//!
//! A thin front end: flags, run loop and subcommands live in [`chorus::cli`].

// glibc's malloc returns the large per-step activation buffers to the kernel and
// faults them back in on every forward pass (a third of CPU wall time went to the
// kernel); mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chorus::cli::ensemble_main()
}
