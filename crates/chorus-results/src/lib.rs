//! Result files shared by `ensemble-generate` and `flex-generate`: a Feather
//! v2 file (Arrow IPC file format, readable by `pandas.read_feather`) plus a
//! CSV with the same columns, with the run parameters in the Arrow schema
//! metadata; atomic writes, resumable runs, shard merging and `--lemmaize`.
//!
//! # Columns
//!
//! Every file starts with `item_index` (u64), `uuid`, `answers` (list<str>),
//! then the columns of its method family ([`RowKind`]):
//!
//! | family | methods | columns |
//! |---|---|---|
//! | origin | `origin` | question, prompt |
//! | per_prompt | `per_prompt` | paraphrase_index (u32), paraphrase, prompt |
//! | fused | `avg`, `max`, `flex` | paraphrases (list<str>), prompts (list<str>; for flex the packed layout's segment texts) |
//! | weighted | `weighted_avg`, `weighted_max` | paraphrases, prompts, confidences (list<f64>) |
//!
//! then `prediction`, `generation`, `generated_ids` (list<u32>),
//! `stop_reason` (`newline`, `eos` or `max_new_tokens`), and after
//! `--lemmaize` `predict_lemma` (list<str>) and `answer_lemmas`
//! (list<list<str>>). No value is null. The schema metadata holds
//! `model`, `method`, `dataset`, `options` (JSON), `chorus_version`,
//! `chorus_results_format` and, for one shard of a run, `shard` (`i/n`).
//!
//! The CSV has the same header; list cells are written as Python reprs
//! (`['a', 'b']`, `[0.5, 1.0]`), as pandas does for columns of Python lists,
//! so `ast.literal_eval` reads them back.
//!
//! # Runs
//!
//! [`ResultWriter::open`] skips a finished output ([`Outcome::AlreadyExists`])
//! unless forced; [`ResultWriter::append`] checkpoints finished rows to
//! `<out>.feather.partial.jsonl` (fsync'd per batch); a killed run reopened
//! with `resume` continues where it stopped; [`ResultWriter::finish`] writes
//! both files atomically in item order and removes the checkpoint.
//! One writer per output: while a writer lives, a second
//! [`ResultWriter::open`] of the same output, from any process, fails with
//! [`ResultsError::Locked`].
//!
//! ```
//! use chorus_results::{
//!     Method, Outcome, Output, ResultRow, ResultWriter, RowInput, RowKey,
//!     RunInfo, StopReason, WriteOptions, read_results,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let directory = tempfile::tempdir()?;
//! let out = directory.path().join("smollm2/avg.feather");
//! let run = RunInfo::new("SmolLM2-135M", Method::Avg, "webqa", serde_json::json!({"max_new_tokens": 10}));
//! let row = |item_index: u64| ResultRow {
//!     item_index,
//!     uuid: format!("uuid-{item_index}"),
//!     answers: vec!["Paris".into()],
//!     input: RowInput::Fused {
//!         paraphrases: vec!["Capital of France?".into()],
//!         prompts: vec!["Q: Capital of France?\nA:".into()],
//!     },
//!     output: Output {
//!         prediction: "Paris".into(),
//!         generation: " Paris\n".into(),
//!         generated_ids: vec![7042, 198],
//!         stop_reason: StopReason::Newline,
//!     },
//!     lemmas: None,
//! };
//!
//! let Outcome::Ready(mut writer) = ResultWriter::open(&out, run.clone(), WriteOptions::default())? else {
//!     unreachable!("a fresh directory has no output yet");
//! };
//! // Rows may finish in any order; the file is ordered by item index.
//! writer.append([row(1)])?;
//! writer.append([row(0)])?;
//! assert!(writer.is_finished(RowKey::item(0)));
//! let written = writer.finish()?;
//! assert!(written.paths.csv.exists());
//!
//! let table = read_results(&out)?;
//! assert_eq!(table.run(), &run);
//! let items: Vec<u64> = table.rows().iter().map(|row| row.item_index).collect();
//! assert_eq!(items, [0, 1]);
//!
//! // A second run is skipped unless forced.
//! assert!(matches!(
//!     ResultWriter::open(&out, run, WriteOptions::default())?,
//!     Outcome::AlreadyExists(_)
//! ));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod atomic;
mod checkpoint;
mod columns;
mod error;
mod feather;
mod lock;
mod merge;
mod output;
mod pyrepr;
mod row;
mod run;
mod schema;
mod table;
mod writer;

pub use atomic::write_file_atomically;
pub use chorus_data::{Method, StopReason, UnknownMethod};
pub use columns::{Column, ColumnSet, RowKey, RowKind};
pub use error::{Result, ResultsError};
pub use feather::read_results;
pub use merge::{add_lemma_columns, merge};
pub use output::{Outcome, OutputPaths, Written, write_table};
pub use row::{Lemmas, Output, ResultRow, RowInput};
pub use run::{FORMAT_VERSION, InvalidShard, RunInfo, ShardInfo, keys};
pub use table::ResultTable;
pub use writer::{ResultWriter, WriteOptions};
