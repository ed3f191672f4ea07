//! Arithmetic on next-token score vectors: greedy choice with its margin,
//! softmax, and the fusions of several paraphrases' logits. It lives in
//! chorus-llama ([`chorus_llama::select`]), where the kernels run the fusions on
//! the device; re-exported here for the methods' own use.

pub use chorus_llama::select::{
    Choice, argmax, max_probability, mean, most_confident, probability_of, softmax, top_k,
    weighted_mean,
};
