//! The code of `notebooks/02-paraphrase-ensemble.ipynb`, cell by cell: the
//! notebook is written from this file (`python3 notebooks/make_notebooks.py 02`)
//! and `tests/notebooks.rs` keeps its code cells equal to the regions between
//! `// cell` and `// end cell` here (four spaces of indentation removed;
//! `// notebook: ` lines are notebook-only, evcxr commands), so the notebook's
//! code compiles with the workspace. `// md` blocks are its Markdown cells.
//!
//! Run it as a program: `cargo build --release -p flex-generate -p
//! ensemble-generate && scripts/fetch-model && cargo run --example
//! notebook_ensemble` (it prints the notebook's HTML and PNG outputs in evcxr's
//! display protocol).

// md
// # Paraphrase ensembles with SmolLM2
//
// SmolLM2-135M-Instruct answers WebQuestions items asked 1, 3 and 5 ways, fused three
// ways: `avg` (mean of the paraphrases' next-token logits), `max` (element-wise max of
// their probabilities) and `flex` (all paraphrases packed into one sequence, fused
// inside attention). The runs are the release binaries (`flex-generate`,
// `ensemble-generate`; build them with `cargo build --release -p flex-generate -p
// ensemble-generate`, fetch the model with `scripts/fetch-model`); the notebook reads
// their result files with `chorus-results` and scores them with `chorus-eval`.
// cell
// notebook: :cache 1000
// notebook: :dep chorus-results = { path = "../crates/chorus-results" }
// notebook: :dep chorus-eval = { path = "../crates/chorus-eval" }
use std::path::{Path, PathBuf};
use std::process::Command;

use chorus_eval::{HtmlTable, Lemmatizer, MatchOptions, ReportOptions, is_correct, report_paths};
use chorus_results::{RowInput, read_results};
// end cell

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // md
    // The repository root (the folder with `models.toml`) and the binaries:
    // `$BIN` when set, else `target/release`.
    // cell
    let repo: PathBuf = std::env::current_dir()?
        .ancestors()
        .find(|dir| dir.join("models.toml").exists())
        .map(Path::to_path_buf)
        .ok_or_else(|| std::io::Error::other("run from inside the Chorus repository"))?;
    let bin = std::env::var_os("BIN").map_or_else(|| repo.join("target/release"), PathBuf::from);
    let model = repo.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    for binary in ["flex-generate", "ensemble-generate"] {
        if !bin.join(binary).exists() {
            // Err(..)? rather than return: evcxr runs a cell in a function of its own.
            Err::<(), _>(std::io::Error::other(format!(
                "{} missing: cargo build --release -p {binary}",
                bin.join(binary).display()
            )))?;
        }
    }
    if !model.exists() {
        Err::<(), _>(std::io::Error::other(format!(
            "{} missing: run scripts/fetch-model",
            model.display()
        )))?;
    }
    // Runs start in the repository, so that files record relative paths.
    let results = PathBuf::from("results/notebook");
    println!(
        "binaries: {}\nmodel: {}\nresults: {}",
        bin.display(),
        model.display(),
        results.display()
    );
    // end cell

    // md
    // ## Run avg, max and flex
    //
    // The 20 items of `data/webquestions/test.paraphrased20.jsonl` (the original question
    // and 5 paraphrases each), with the first 1, 3 and 5 paraphrases. Each run loads the
    // model, encodes the instruction and few-shot block once, and writes a Feather file
    // (`--force` reruns it).
    // cell
    let dataset = "data/webquestions/test.paraphrased20.jsonl";
    let mut summaries = Vec::new();
    for k in [1, 3, 5] {
        for method in ["avg", "max", "flex"] {
            let binary = if method == "flex" {
                "flex-generate"
            } else {
                "ensemble-generate"
            };
            let output = Command::new(bin.join(binary))
                .current_dir(&repo)
                .args([
                    "--method",
                    method,
                    "--max_samples",
                    "20",
                    "--num_ensemble",
                    &k.to_string(),
                    "--force",
                ])
                .arg("--dataset")
                .arg(dataset)
                .arg("--model")
                .arg("smollm2-135m-it")
                .arg("--results-dir")
                .arg(&results)
                .env("RUST_LOG", "warn")
                .output()?;
            if !output.status.success() {
                Err::<(), _>(std::io::Error::other(format!(
                    "{binary} {method} k={k}: {}",
                    String::from_utf8_lossy(&output.stderr)
                )))?;
            }
            summaries.push(String::from_utf8_lossy(&output.stdout).trim().to_owned());
        }
    }
    for summary in &summaries {
        println!("{}", summary.split(';').next().unwrap_or(""));
    }
    // end cell

    // md
    // ## The rows
    //
    // Every item with its paraphrases and each method's answer at k = 5 (✓ when it
    // matches a gold answer by lemma, as the accuracy metric counts it).
    // cell
    let lemmatizer = Lemmatizer::english()?;
    let folder = repo
        .join(&results)
        .join("smollm2-135m-it/test.paraphrased20");
    let files = [
        ("avg", "avg-n5.feather"),
        ("max", "max-n5.feather"),
        ("flex", "flex-n5.feather"),
    ];
    let tables = files
        .iter()
        .map(|(_, file)| read_results(folder.join(file)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = HtmlTable::new(["question and paraphrases", "answers", "avg", "max", "flex"]);
    for (index, first) in tables[0].rows().iter().enumerate() {
        let paraphrases = match &first.input {
            RowInput::Fused { paraphrases, .. } => paraphrases.join(" / "),
            _ => String::new(),
        };
        let answers: Vec<Vec<String>> =
            first.answers.iter().map(|a| lemmatizer.lemmas(a)).collect();
        let mut cells = vec![paraphrases, first.answers.join(", ")];
        for table in &tables {
            let prediction = &table.rows()[index].output.prediction;
            let right = is_correct(
                &lemmatizer.lemmas(prediction),
                &answers,
                MatchOptions::default(),
            );
            cells.push(format!("{prediction} {}", if right { "✓" } else { "✗" }));
        }
        rows.push_row(cells);
    }
    rows.evcxr_display();
    // end cell

    // md
    // ## Accuracy
    //
    // `report` over the run's files (this dataset's folder), as `ensemble-generate
    // report` prints it, and
    // accuracy against the number of paraphrases (20 items: a demonstration, not a
    // measurement; `scripts/results/run_all.sh` runs the full test sets).
    // cell
    let report = report_paths(&[&folder], &lemmatizer, ReportOptions::default())?;
    report.table().evcxr_display();
    // end cell

    // cell
    report.plot().evcxr_display();
    // end cell

    Ok(())
}
