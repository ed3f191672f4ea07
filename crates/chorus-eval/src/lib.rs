//! Evaluation: spaCy-compatible English lemmas, the bidirectional lemma partial-match accuracy, and accuracy reports.
