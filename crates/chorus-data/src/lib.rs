//! Dataset loaders yielding [`Item`]s (uuid, answers, paraphrases, meta) for
//! WebQuestions, MyriadLAMA, generic JSONL and Hugging Face `save_to_disk`
//! folders; paraphrase selection, CPython-identical few-shot sampling and
//! sharding.
//!
//! Everything random is a bit-exact port of CPython's `random` ([`PyRandom`]):
//! few-shot examples are `random.seed(42); random.sample(range(n), 5)`, and
//! two-stage paraphrase sampling ([`SamplingSpec`]) seeds each item with
//! `random.seed(uuid)`, the uuid string, as the pipeline did, so a draw can be
//! checked against a few lines of Python.
//!
//! ```no_run
//! use chorus_data::{DataDir, Dataset, EmptyPolicy, ParaphraseSelection, Shard};
//!
//! let dir = DataDir::resolve(None);
//! let loaded = Dataset::MyriadLama.load(&dir, EmptyPolicy::Error)?;
//! let shard: Shard = "0/4".parse()?;
//! let selection = ParaphraseSelection::parse_indices("0,1,2")?;
//! for item in shard.select(&loaded.items) {
//!     let item = selection.apply(item)?;
//!     println!("{} {:?}", item.uuid, item.paraphrases);
//! }
//! # Ok::<(), chorus_data::DataError>(())
//! ```

#![warn(missing_docs)]

pub mod arrow_guard;
mod dataset;
mod error;
mod fewshot;
mod fields;
mod hf;
mod item;
mod jsonl;
mod method;
mod pyrandom;
mod selection;
mod shard;

pub use dataset::{DATA_DIR_ENV, DataDir, Dataset, load_path};
pub use error::{DataError, Location, Missing, Record, Result};
pub use fewshot::{FewShotEntry, QaPair, load_fewshot};
pub use hf::{DEFAULT_SPLIT, load_hf_dataset};
pub use item::{EmptyPolicy, Item, ItemMeta, Loaded, ParaphraseSource, Skipped};
pub use jsonl::{
    JsonlFields, JsonlFormat, ParaphraseField, first_record, load_generic, load_jsonl,
    load_myriadlama, load_webquestions,
};
pub use method::{Method, StopReason, UnknownMethod};
pub use pyrandom::{PyRandom, python_sample, sample_uses_pool};
pub use selection::{ParaphraseSelection, SamplingSpec, item_seed};
pub use shard::Shard;
