//! Prompts must be byte-identical to the Python pipeline's: checked against
//! `data/fewshot.json` and every prompt of `tests/fixtures/golden/prompts.jsonl`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chorus_data::{DataDir, Dataset, EmptyPolicy, Item, JsonlFields, load_fewshot, load_generic};
use chorus_prompt::{
    FEW_SHOT_COUNT, FEW_SHOT_SEED, FlexOptions, FuseFirst, MYRIADLAMA_INSTRUCTION, PromptContext,
    WEBQA_INSTRUCTION,
};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data_dir() -> DataDir {
    DataDir::new(workspace().join("data"))
}

/// WebQuestions' context built from the train split with CPython's sampling.
fn webqa_context() -> PromptContext {
    let train = Dataset::WebQa
        .load_train(&data_dir(), EmptyPolicy::Error)
        .unwrap()
        .unwrap();
    PromptContext::webqa(&train.items, FEW_SHOT_SEED, FEW_SHOT_COUNT).unwrap()
}

/// MyriadLAMA's context from the five fixed examples of fewshot.json.
fn myriadlama_context() -> PromptContext {
    let entries = load_fewshot(&data_dir().fewshot_path()).unwrap();
    PromptContext::from_fewshot_entry(&entries["myriadlama"]).unwrap()
}

fn golden_items(dataset: &str) -> HashMap<String, Item> {
    let path = workspace().join(format!("tests/fixtures/golden/{dataset}.items.jsonl"));
    let loaded = load_generic(&path, &JsonlFields::default(), EmptyPolicy::Error).unwrap();
    loaded
        .items
        .into_iter()
        .map(|item| (item.uuid.clone(), item))
        .collect()
}

fn golden_prompts() -> Vec<Value> {
    let text =
        std::fs::read_to_string(workspace().join("tests/fixtures/golden/prompts.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn contexts_match_fewshot_json() {
    let entries = load_fewshot(&data_dir().fewshot_path()).unwrap();
    let webqa = webqa_context();
    assert_eq!(webqa.instruction, entries["webqa"].instruction);
    assert_eq!(webqa.instruction, WEBQA_INSTRUCTION);
    assert_eq!(webqa.few_shot_block(), entries["webqa"].few_shot);
    let lama = myriadlama_context();
    assert_eq!(lama.instruction, MYRIADLAMA_INSTRUCTION);
    assert_eq!(lama.few_shot_block(), entries["myriadlama"].few_shot);
}

#[test]
fn built_in_contexts_are_the_pipeline_ones() {
    let dir = data_dir();
    assert_eq!(
        PromptContext::for_dataset(&Dataset::WebQa, &dir).unwrap(),
        webqa_context()
    );
    assert_eq!(
        PromptContext::for_dataset(&Dataset::MyriadLama, &dir).unwrap(),
        myriadlama_context()
    );
    let path = Dataset::Path(PathBuf::from("x.jsonl"));
    let err = PromptContext::for_dataset(&path, &dir).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no built-in prompt context for dataset x.jsonl"),
        "{err}"
    );
}

#[test]
fn golden_items_carry_the_same_instruction_and_block() {
    for (dataset, context) in [
        ("webqa", webqa_context()),
        ("myriadlama", myriadlama_context()),
    ] {
        for item in golden_items(dataset).values() {
            assert_eq!(
                item.meta.fields["instruction"],
                context.instruction.as_str(),
                "{dataset}"
            );
            assert_eq!(
                item.meta.fields["few_shot"],
                context.few_shot_block().as_str(),
                "{dataset}"
            );
        }
    }
}

#[test]
fn every_golden_prompt_is_rendered_byte_for_byte() {
    let contexts = HashMap::from([
        ("webqa", webqa_context()),
        ("myriadlama", myriadlama_context()),
    ]);
    let items = HashMap::from([
        ("webqa", golden_items("webqa")),
        ("myriadlama", golden_items("myriadlama")),
    ]);
    let rows = golden_prompts();
    assert_eq!(rows.len(), 200);
    for row in rows {
        let dataset = row["dataset"].as_str().unwrap();
        let uuid = row["uuid"].as_str().unwrap();
        let index = row["paraphrase_index"].as_u64().unwrap() as usize;
        let question = &items[dataset][uuid].paraphrases[index];
        let layout = contexts[dataset].standard(question, index);
        assert_eq!(
            layout.render(),
            row["prompt"].as_str().unwrap(),
            "{dataset} {uuid} #{index}"
        );
    }
}

#[test]
fn flex_layouts_of_golden_items_rebuild_the_golden_prompts() {
    let rows = golden_prompts();
    for (dataset, context) in [
        ("webqa", webqa_context()),
        ("myriadlama", myriadlama_context()),
    ] {
        for item in golden_items(dataset).values() {
            let expected: Vec<&str> = rows
                .iter()
                .filter(|r| r["dataset"] == dataset && r["uuid"] == item.uuid.as_str())
                .map(|r| r["prompt"].as_str().unwrap())
                .collect();
            let plain = context.flex(
                &item.paraphrases,
                FlexOptions {
                    share_prefix: false,
                    fuse_first: FuseFirst::None,
                },
            );
            assert_eq!(
                plain.unwrap().render(),
                expected.concat(),
                "{dataset} {}",
                item.uuid
            );
            let shared = context
                .flex(
                    &item.paraphrases,
                    FlexOptions {
                        share_prefix: true,
                        fuse_first: FuseFirst::SharedSuffix,
                    },
                )
                .unwrap();
            let segments = shared.segments();
            let (prefix, suffix) = (&segments[0].text, &segments[segments.len() - 1].text);
            for (i, prompt) in expected.iter().enumerate() {
                assert_eq!(
                    &format!("{prefix}{}{suffix}", shared.paraphrase_text(i)),
                    prompt
                );
            }
        }
    }
}

#[test]
fn structured_layout_of_a_real_item() {
    let context = myriadlama_context();
    let items = golden_items("myriadlama");
    let item = items.values().next().unwrap();
    let layout = context.structured(&item.paraphrases[..3], 3).unwrap();
    let questions: String = item.paraphrases[..3]
        .iter()
        .map(|p| format!("Q: {p}\n"))
        .collect();
    let expected = format!(
        "{}\n\n{}\n\n{questions}A:",
        context.instruction,
        context.few_shot_block()
    );
    assert_eq!(layout.render(), expected);
}
