//! `flex-generate`: attention-fusion (flex) generation over a dataset.
//!
//! A thin front end: flags, run loop and `merge` live in [`chorus::cli`].

// glibc's malloc returns the large per-step activation buffers to the kernel and
// faults them back in on every forward pass (a third of CPU wall time went to the
// kernel); mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chorus::cli::flex_main()
}
