//! Ensemble strategies (origin, per_prompt, avg, max, weighted, flex) and the KV-cached greedy decoding engine over chorus-llama.
