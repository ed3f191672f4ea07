//! Chorus: ask a language model the same factual question several ways and fuse
//! the answers.
//!
//! This facade re-exports the workspace crates so examples and end-to-end tests can
//! reach the whole toolkit through one dependency. Data flows one way:
//! [`data`] → [`prompt`] → [`mask`] → [`llama`] → [`ensemble`] → [`results`] → [`eval`].

#![warn(missing_docs)]

pub use chorus_data as data;
pub use chorus_ensemble as ensemble;
pub use chorus_eval as eval;
pub use chorus_llama as llama;
pub use chorus_mask as mask;
pub use chorus_prompt as prompt;
pub use chorus_results as results;

pub mod cli;
