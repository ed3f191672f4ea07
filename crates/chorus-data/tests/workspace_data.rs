//! The loaders on the workspace's real data files and golden item files.

use std::path::{Path, PathBuf};

use chorus_data::{
    DataDir, Dataset, EmptyPolicy, JsonlFields, ParaphraseSelection, ParaphraseSource,
    SamplingSpec, Shard, load_generic,
};

fn data_dir() -> DataDir {
    DataDir::new(DataDir::compiled_default())
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/golden")
        .join(name)
}

#[test]
fn all_webquestions_items_load_with_the_original_question_first() {
    let test = Dataset::WebQa
        .load(&data_dir(), EmptyPolicy::Error)
        .unwrap();
    let train = Dataset::WebQa
        .load_train(&data_dir(), EmptyPolicy::Error)
        .unwrap()
        .unwrap();
    assert_eq!(test.items.len() + train.items.len(), 5810);
    assert!(test.skipped.is_empty() && train.skipped.is_empty());
    let first = &test.items[0];
    assert_eq!(first.uuid, "36caa8a236f715c311f13b3fe6f4ba4b");
    assert_eq!(first.question(), Some("what does jamaican people speak?"));
    assert_eq!(first.meta.fields["qid"], "wqs000000");
    assert_eq!(
        train.items[2619].question(),
        Some("who is lamar odom married too?")
    );
}

#[test]
fn all_myriadlama_items_load_with_manual_and_auto_paraphrases() {
    let loaded = Dataset::MyriadLama
        .load(&data_dir(), EmptyPolicy::Error)
        .unwrap();
    assert_eq!(loaded.items.len(), 2000);
    for item in &loaded.items {
        assert!(
            !item.indices_from(ParaphraseSource::Manual).is_empty(),
            "{}",
            item.uuid
        );
        assert!(
            !item.indices_from(ParaphraseSource::Auto).is_empty(),
            "{}",
            item.uuid
        );
        assert_eq!(item.meta.sources.len(), item.paraphrases.len());
    }
}

#[test]
fn golden_item_files_load_as_generic_jsonl() {
    for name in ["webqa.items.jsonl", "myriadlama.items.jsonl"] {
        let loaded =
            load_generic(&golden(name), &JsonlFields::default(), EmptyPolicy::Error).unwrap();
        assert_eq!(loaded.items.len(), 20, "{name}");
        assert!(
            loaded.items.iter().all(|i| i.paraphrases.len() == 5),
            "{name}"
        );
        assert!(
            loaded.items[0].meta.fields.contains_key("few_shot"),
            "{name}"
        );
    }
}

#[test]
fn sampling_over_the_real_data_is_reproducible_and_shard_independent() {
    let loaded = Dataset::MyriadLama
        .load(&data_dir(), EmptyPolicy::Error)
        .unwrap();
    let selection = ParaphraseSelection::Sampled(SamplingSpec::from_tag("m5a0s3", 7).unwrap());
    let whole: Vec<Vec<usize>> = loaded
        .items
        .iter()
        .map(|i| selection.select(i).unwrap())
        .collect();
    let shard = Shard::new(3, 4).unwrap();
    let range = shard.range(loaded.items.len());
    let sharded: Vec<Vec<usize>> = shard
        .select(&loaded.items)
        .iter()
        .map(|i| selection.select(i).unwrap())
        .collect();
    assert_eq!(sharded, whole[range].to_vec());
    for (item, picked) in loaded.items.iter().zip(&whole) {
        let manual = item.indices_from(ParaphraseSource::Manual);
        assert_eq!(picked.len(), manual.len().min(3), "{}", item.uuid);
        assert!(picked.iter().all(|i| manual.contains(i)), "{}", item.uuid);
    }
}
