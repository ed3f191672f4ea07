//! `ensemble-generate`: logit-level ensembles (origin, per_prompt, avg, max, weighted) over a dataset.

fn main() {
    eprintln!("ensemble-generate: not implemented yet (see issue 5)");
    std::process::exit(2);
}
