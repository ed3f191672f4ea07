//! Equivalence with CPython's `random`: every case of `fixtures/cpython_random.json`
//! (written by `fixtures/cpython_random.py`) must be reproduced exactly.

use chorus_data::{
    Item, ItemMeta, ParaphraseSource, PyRandom, SamplingSpec, item_seed, python_sample,
    sample_uses_pool,
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

/// An item with `manual` manual paraphrases followed by `auto` automatic ones.
fn item_with(uuid: &str, manual: usize, auto: usize) -> Item {
    let sources: Vec<ParaphraseSource> = std::iter::repeat_n(ParaphraseSource::Manual, manual)
        .chain(std::iter::repeat_n(ParaphraseSource::Auto, auto))
        .collect();
    Item {
        uuid: uuid.into(),
        answers: vec!["a".into()],
        paraphrases: (0..sources.len()).map(|i| format!("p{i}")).collect(),
        meta: ItemMeta {
            sources,
            fields: Default::default(),
        },
    }
}

#[test]
fn two_stage_sampling_matches_cpython_with_the_per_item_seed() {
    let reference = reference();
    let cases = reference["two_stage"].as_array().expect("two_stage cases");
    assert!(!cases.is_empty());
    for case in cases {
        let seed: u64 = case["seed"].as_str().unwrap().parse().unwrap();
        let uuid = case["uuid"].as_str().unwrap();
        let expected_seed: u64 = case["item_seed"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            item_seed(seed, uuid),
            expected_seed,
            "item seed of {uuid:?}"
        );
        let item = item_with(uuid, usize_of(&case["manual"]), usize_of(&case["auto"]));
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
        assert_eq!(
            spec.select(&item).unwrap(),
            expected,
            "{} {uuid:?}",
            spec.tag()
        );
    }
}
