//! Scores every result file under a directory and prints the Markdown table;
//! with a second argument, also writes the accuracy plot there. The library
//! call alone, with its defaults; the binaries' `report` subcommand
//! (`ensemble-generate report --help`) is the full front end.
//!
//! `cargo run -p chorus-eval --example report -- results/ accuracy.png`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: report <results dir> [plot.png]")?,
    );
    let report = chorus_eval::report(&dir)?;
    print!("{}", report.to_markdown());
    if let Some(png) = args.next() {
        report.write_plot(&PathBuf::from(png))?;
    }
    Ok(())
}
