//! `flex-generate`: attention-fusion (flex) generation over a dataset.

fn main() {
    eprintln!("flex-generate: not implemented yet (see issue 5)");
    std::process::exit(2);
}
