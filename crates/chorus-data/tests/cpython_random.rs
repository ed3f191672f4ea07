//! Equivalence with CPython's `random`: every case of `fixtures/cpython_random.json`
//! (written by `fixtures/cpython_random.py`) must be reproduced exactly.

use std::collections::HashMap;

use chorus_data::{
    DataDir, Dataset, EmptyPolicy, Item, ParaphraseSelection, ParaphraseSource, PyRandom,
    SamplingSpec, item_seed, python_sample, sample_uses_pool,
};
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cpython_random.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture present"))
        .expect("valid JSON")
}

fn seed_of(case: &Value) -> i128 {
    case["seed"]
        .as_str()
        .expect("seed string")
        .parse()
        .expect("integer seed")
}

fn usize_of(value: &Value) -> usize {
    usize::try_from(value.as_u64().expect("unsigned")).expect("fits usize")
}

#[test]
fn sample_matches_cpython_in_both_branches() {
    let reference = reference();
    let cases = reference["sample"].as_array().expect("sample cases");
    let mut branches_seen = (false, false);
    for case in cases {
        let (seed, n, k) = (seed_of(case), usize_of(&case["n"]), usize_of(&case["k"]));
        let expected: Vec<usize> = case["sample"]
            .as_array()
            .expect("list")
            .iter()
            .map(usize_of)
            .collect();
        assert_eq!(
            python_sample(seed, n, k).unwrap(),
            expected,
            "seed {seed}, n {n}, k {k}"
        );
        let pool = case["pool"].as_bool().expect("bool");
        assert_eq!(sample_uses_pool(n, k), pool, "branch for n {n}, k {k}");
        if pool {
            branches_seen.0 = true;
        } else {
            branches_seen.1 = true;
        }
    }
    assert_eq!(
        branches_seen,
        (true, true),
        "the fixture must exercise both branches"
    );
}

#[test]
fn getrandbits_matches_cpython() {
    let reference = reference();
    for case in reference["getrandbits"]
        .as_array()
        .expect("getrandbits cases")
    {
        let mut rng = PyRandom::new(seed_of(case));
        let widths = case["widths"].as_array().expect("widths");
        let values = case["values"].as_array().expect("values");
        for (width, value) in widths.iter().zip(values) {
            let width = u32::try_from(width.as_u64().expect("width")).expect("small");
            let expected: u64 = value
                .as_str()
                .expect("value string")
                .parse()
                .expect("integer");
            assert_eq!(rng.getrandbits(width), expected, "width {width}");
        }
    }
}

#[test]
fn webquestions_few_shot_indices_match_fewshot_json() {
    let path = chorus_data::DataDir::new(chorus_data::DataDir::compiled_default()).fewshot_path();
    let entries = chorus_data::load_fewshot(&path).unwrap();
    let recorded = entries["webqa"]
        .train_indices
        .clone()
        .expect("train_indices");
    assert_eq!(python_sample(42, 3778, 5).unwrap(), recorded);
}

#[test]
fn str_seeds_match_cpython_getrandbits_random_and_sample() {
    let reference = reference();
    let cases = reference["str_seed"].as_array().expect("str_seed cases");
    assert!(!cases.is_empty());
    for case in cases {
        let seed = case["seed"].as_str().expect("seed string");
        let mut rng = PyRandom::from_str_seed(seed);
        let widths = case["widths"].as_array().expect("widths");
        let values = case["values"].as_array().expect("values");
        for (width, value) in widths.iter().zip(values) {
            let width = u32::try_from(width.as_u64().expect("width")).expect("small");
            let expected: u64 = value.as_str().unwrap().parse().unwrap();
            assert_eq!(rng.getrandbits(width), expected, "{seed:?} width {width}");
        }
        // random() continues the same stream; repr() strings parse exactly.
        for value in case["randoms"].as_array().expect("randoms") {
            let expected: f64 = value.as_str().unwrap().parse().unwrap();
            assert_eq!(rng.random().to_bits(), expected.to_bits(), "{seed:?}");
        }
        for sample in case["samples"].as_array().expect("samples") {
            let (n, k) = (usize_of(&sample["n"]), usize_of(&sample["k"]));
            let expected: Vec<usize> = sample["sample"]
                .as_array()
                .unwrap()
                .iter()
                .map(usize_of)
                .collect();
            let picked = PyRandom::from_str_seed(seed).sample(n, k).unwrap();
            assert_eq!(picked, expected, "{seed:?} n {n} k {k}");
        }
    }
}

/// The real MyriadLAMA test items, by uuid.
fn myriadlama_items() -> HashMap<String, Item> {
    let dir = DataDir::new(DataDir::compiled_default());
    let loaded = Dataset::MyriadLama
        .load(&dir, EmptyPolicy::Error)
        .expect("data/myriadlama/test.jsonl loads");
    loaded
        .items
        .into_iter()
        .map(|item| (item.uuid.clone(), item))
        .collect()
}

#[test]
fn two_stage_sampling_matches_cpython_on_real_myriadlama_items() {
    let reference = reference();
    let cases = reference["two_stage"].as_array().expect("two_stage cases");
    let items = myriadlama_items();
    let mut tags = std::collections::HashSet::new();
    for case in cases {
        let seed: u64 = case["seed"].as_str().unwrap().parse().unwrap();
        let uuid = case["uuid"].as_str().unwrap();
        assert_eq!(
            item_seed(seed, uuid),
            case["item_seed"].as_str().unwrap(),
            "seed string of {uuid:?}"
        );
        let item = &items[uuid];
        let manual = item
            .meta
            .sources
            .iter()
            .filter(|s| **s == ParaphraseSource::Manual)
            .count();
        assert_eq!(manual, usize_of(&case["manual"]), "{uuid}");
        assert_eq!(item.paraphrases.len() - manual, usize_of(&case["auto"]));
        let spec = SamplingSpec {
            num_manual: usize_of(&case["num_manual"]),
            num_auto: usize_of(&case["num_auto"]),
            num_samples: usize_of(&case["num_samples"]),
            seed,
        };
        let expected: Vec<usize> = case["picked"]
            .as_array()
            .unwrap()
            .iter()
            .map(usize_of)
            .collect();
        let context = format!("{} seed {seed} {uuid}", spec.tag());
        assert_eq!(spec.select(item).unwrap(), expected, "{context}");
        let texts: Vec<&str> = case["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let applied = ParaphraseSelection::Sampled(spec).apply(item).unwrap();
        assert_eq!(applied.paraphrases, texts, "{context}");
        tags.insert(spec.tag());
    }
    for tag in ["m5a5s5", "m5a0s3"] {
        assert!(tags.contains(tag), "the fixture must cover {tag}");
    }
}
