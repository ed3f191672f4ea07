//! The ensemble notebook cannot rot: its code cells must equal the marked
//! regions of `examples/notebook_ensemble.rs`, which `cargo test` compiles.
//! (The mask notebook is executed by `.ci/run`; see notebooks/README.md.)

use std::path::Path;

const EXAMPLE: &str = "examples/notebook_ensemble.rs";
const NOTEBOOK: &str = "notebooks/02-paraphrase-ensemble.ipynb";

/// The cells of the example, as `notebooks/make_notebooks.py` reads them:
/// `(is_code, text)`. A `// md` line starts a Markdown cell made of the
/// comment lines after it; `// cell` … `// end cell` is a code cell, each line
/// without its first four spaces, `// notebook: LINE` giving LINE.
fn example_cells(source: &str) -> Vec<(bool, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut cells = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        match lines[index].trim() {
            "// md" => {
                index += 1;
                let mut text = Vec::new();
                while index < lines.len() {
                    let line = lines[index].trim_start();
                    if !line.starts_with("//") || line == "// cell" || line == "// md" {
                        break;
                    }
                    let body = line.trim_start_matches("//");
                    text.push(body.strip_prefix(' ').unwrap_or(body).to_owned());
                    index += 1;
                }
                cells.push((false, text.join("\n")));
                continue;
            }
            "// cell" => {
                index += 1;
                let mut text = Vec::new();
                while index < lines.len() && lines[index].trim() != "// end cell" {
                    let line = lines[index];
                    let shown = match line.trim_start().strip_prefix("// notebook: ") {
                        Some(command) => command.to_owned(),
                        None => line.strip_prefix("    ").unwrap_or(line.trim()).to_owned(),
                    };
                    text.push(shown);
                    index += 1;
                }
                cells.push((true, text.join("\n")));
            }
            _ => {}
        }
        index += 1;
    }
    cells
}

/// The notebook's cells: `(is_code, source)`.
fn notebook_cells(json: &str) -> Vec<(bool, String)> {
    let notebook: serde_json::Value = serde_json::from_str(json).expect("the notebook is JSON");
    notebook["cells"]
        .as_array()
        .expect("a cells list")
        .iter()
        .map(|cell| {
            let source = match &cell["source"] {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Array(lines) => {
                    lines.iter().filter_map(|l| l.as_str()).collect::<String>()
                }
                other => panic!("cell source {other}"),
            };
            (cell["cell_type"] == "code", source)
        })
        .collect()
}

#[test]
fn ensemble_notebook_cells_equal_the_compiled_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join(EXAMPLE)).unwrap();
    let notebook = std::fs::read_to_string(root.join(NOTEBOOK)).unwrap();
    let expected = example_cells(&example);
    let found = notebook_cells(&notebook);
    assert!(expected.iter().filter(|c| c.0).count() >= 4, "{expected:?}");
    let code = |cells: &[(bool, String)]| -> Vec<String> {
        cells
            .iter()
            .filter(|c| c.0)
            .map(|c| c.1.trim().to_owned())
            .collect()
    };
    assert_eq!(
        code(&found),
        code(&expected),
        "{NOTEBOOK}'s code cells differ from {EXAMPLE}'s marked regions: edit the example, then \
         run `python3 notebooks/make_notebooks.py 02` and execute the notebook (notebooks/README.md)"
    );
    // Markdown is documentation, but it should not drift either.
    assert_eq!(found.len(), expected.len(), "cell count");
}

#[test]
fn example_cells_follow_the_markers() {
    let source = "// md\n// # Title\n//\n// text\n// cell\n// notebook: :dep x\nuse a;\n// end cell\nfn main() {\n    // cell\n    let x = 1;\n        f(x);\n    // end cell\n}\n";
    assert_eq!(
        example_cells(source),
        [
            (false, "# Title\n\ntext".to_owned()),
            (true, ":dep x\nuse a;".to_owned()),
            (true, "let x = 1;\n    f(x);".to_owned()),
        ]
    );
}
