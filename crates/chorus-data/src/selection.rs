//! Which paraphrases of an item take part in an ensemble.

use std::fmt;
use std::str::FromStr;

use crate::error::{DataError, Result};
use crate::item::{Item, ItemMeta, ParaphraseSource};
use crate::pyrandom::PyRandom;

/// How to choose the paraphrases of each item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParaphraseSelection {
    /// Every paraphrase, in file order.
    All,
    /// Fixed indices (`--indexs 0,1,2`), in the order given.
    Indices(Vec<usize>),
    /// The first `n` paraphrases (`--num-ensemble n`).
    FirstN(usize),
    /// Seeded two-stage sampling from manual and automatic paraphrases.
    Sampled(SamplingSpec),
}

impl ParaphraseSelection {
    /// Parses `--indexs`: comma-separated, distinct, non-negative integers.
    pub fn parse_indices(spec: &str) -> Result<Self> {
        let bad = |reason: String| DataError::Spec {
            what: "paraphrase indices",
            spec: spec.to_owned(),
            reason,
        };
        let mut indices = Vec::new();
        for part in spec.split(',') {
            let index: usize = part
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{}` is not an index", part.trim())))?;
            if indices.contains(&index) {
                return Err(bad(format!("index {index} is repeated")));
            }
            indices.push(index);
        }
        Ok(Self::Indices(indices))
    }

    /// The indices into `item.paraphrases` chosen for `item`. Deterministic: the
    /// same item and selection always give the same indices.
    pub fn select(&self, item: &Item) -> Result<Vec<usize>> {
        let available = item.paraphrases.len();
        let check = |index: usize| {
            if index < available {
                Ok(index)
            } else {
                Err(DataError::ParaphraseIndex {
                    uuid: item.uuid.clone(),
                    index,
                    available,
                })
            }
        };
        match self {
            Self::All => Ok((0..available).collect()),
            Self::Indices(indices) => indices.iter().map(|&i| check(i)).collect(),
            Self::FirstN(0) => Ok(Vec::new()),
            Self::FirstN(n) => check(n - 1).map(|_| (0..*n).collect()),
            Self::Sampled(spec) => spec.select(item),
        }
    }

    /// A copy of `item` holding only the selected paraphrases (and their sources),
    /// in selection order.
    pub fn apply(&self, item: &Item) -> Result<Item> {
        let indices = self.select(item)?;
        let pick = |i: &usize| item.paraphrases[*i].clone();
        let source = |i: &usize| {
            item.meta
                .sources
                .get(*i)
                .copied()
                .unwrap_or(ParaphraseSource::Unspecified)
        };
        Ok(Item {
            uuid: item.uuid.clone(),
            answers: item.answers.clone(),
            paraphrases: indices.iter().map(pick).collect(),
            meta: ItemMeta {
                sources: indices.iter().map(source).collect(),
                fields: item.meta.fields.clone(),
            },
        })
    }
}

/// Two-stage sampling: draw `num_manual` manual and `num_auto` automatic
/// paraphrases, then `num_samples` from their union.
///
/// Each item gets its own CPython generator, seeded like the Python pipeline
/// seeded its per-item paraphrase draws: `random.seed(uuid)` with the uuid
/// *string* (see [`item_seed`] and [`PyRandom::from_str_seed`]). With it, in
/// this order:
///
/// ```python
/// random.seed(uuid)
/// pool = random.sample(manual, min(num_manual, len(manual)))
/// pool += random.sample(auto, min(num_auto, len(auto)))
/// picked = random.sample(pool, min(num_samples, len(pool)))
/// ```
///
/// where `manual` and `auto` list the item's paraphrases of each group in file
/// order; the result is the paraphrase indices of `picked`, in draw order. An
/// item's draw depends only on its uuid (and [`SamplingSpec::seed`]), never on
/// its position, sharding or filtering.
///
/// A stage asking for more paraphrases than exist takes all of them (MyriadLAMA
/// items have 3–4 of each, the defaults ask for 5). "Manual" means
/// human-written: [`ParaphraseSource::Manual`], `Original` and `Unspecified`;
/// "automatic" means `Auto` and `Generated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplingSpec {
    /// How many manual paraphrases enter the pool.
    pub num_manual: usize,
    /// How many automatic paraphrases enter the pool.
    pub num_auto: usize,
    /// How many paraphrases are drawn from the pool.
    pub num_samples: usize,
    /// The run's seed. [`SamplingSpec::PIPELINE_SEED`] (the default) seeds each
    /// item with its bare uuid, as the pipeline did; any other value gives other,
    /// equally reproducible draws (see [`item_seed`]).
    pub seed: u64,
}

impl Default for SamplingSpec {
    /// The pipeline's defaults: 5 manual, 5 automatic, 5 sampled, seeded like
    /// the pipeline.
    fn default() -> Self {
        Self {
            num_manual: 5,
            num_auto: 5,
            num_samples: 5,
            seed: Self::PIPELINE_SEED,
        }
    }
}

impl SamplingSpec {
    /// The run seed that reproduces the pipeline's per-item seeding
    /// (`random.seed(uuid)`); 42 is the pipeline's (and the CLI's) default seed.
    pub const PIPELINE_SEED: u64 = 42;

    /// The pipeline's file-name tag, e.g. `m5a0s3`.
    pub fn tag(&self) -> String {
        format!(
            "m{}a{}s{}",
            self.num_manual, self.num_auto, self.num_samples
        )
    }

    /// Parses a tag such as `m5a0s3` (the seed is not part of the tag).
    pub fn from_tag(tag: &str, seed: u64) -> Result<Self> {
        let bad = || DataError::Spec {
            what: "sampling tag",
            spec: tag.to_owned(),
            reason: "expected m<manual>a<auto>s<samples>, e.g. m5a0s3".into(),
        };
        let rest = tag.strip_prefix('m').ok_or_else(bad)?;
        let (manual, rest) = rest.split_once('a').ok_or_else(bad)?;
        let (auto, samples) = rest.split_once('s').ok_or_else(bad)?;
        let number = |s: &str| s.parse::<usize>().map_err(|_| bad());
        Ok(Self {
            num_manual: number(manual)?,
            num_auto: number(auto)?,
            num_samples: number(samples)?,
            seed,
        })
    }

    /// The sampled indices into `item.paraphrases`, in draw order.
    pub fn select(&self, item: &Item) -> Result<Vec<usize>> {
        let mut rng = PyRandom::from_str_seed(&item_seed(self.seed, &item.uuid));
        let (manual, auto) = split_by_group(item);
        let mut pool = draw(&mut rng, &manual, self.num_manual)?;
        pool.extend(draw(&mut rng, &auto, self.num_auto)?);
        draw(&mut rng, &pool, self.num_samples)
    }
}

impl fmt::Display for SamplingSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag())
    }
}

impl FromStr for SamplingSpec {
    type Err = DataError;

    /// Parses a tag with the pipeline's seeding ([`SamplingSpec::PIPELINE_SEED`]).
    fn from_str(tag: &str) -> Result<Self> {
        Self::from_tag(tag, Self::default().seed)
    }
}

/// `random.sample(candidates, min(k, len))`.
fn draw(rng: &mut PyRandom, candidates: &[usize], k: usize) -> Result<Vec<usize>> {
    let k = k.min(candidates.len());
    Ok(rng
        .sample(candidates.len(), k)?
        .into_iter()
        .map(|i| candidates[i])
        .collect())
}

/// Indices of human-written and of machine-made paraphrases.
fn split_by_group(item: &Item) -> (Vec<usize>, Vec<usize>) {
    (0..item.paraphrases.len()).partition(|&i| {
        let source = item
            .meta
            .sources
            .get(i)
            .copied()
            .unwrap_or(ParaphraseSource::Unspecified);
        !matches!(source, ParaphraseSource::Auto | ParaphraseSource::Generated)
    })
}

/// The string that seeds one item's generator (`random.seed(<this string>)`).
///
/// For [`SamplingSpec::PIPELINE_SEED`] it is the uuid itself, exactly what the
/// pipeline passed to `random.seed`; for any other run seed it is
/// `"{uuid}:{seed}"`, so other seeds stay reproducible with one line of Python.
/// Either way it depends on the uuid, not on the item's position, so sharding,
/// filtering or reordering a dataset never changes what an item draws.
pub fn item_seed(seed: u64, uuid: &str) -> String {
    if seed == SamplingSpec::PIPELINE_SEED {
        uuid.to_owned()
    } else {
        format!("{uuid}:{seed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn myriad_item(uuid: &str, manual: usize, auto: usize) -> Item {
        let paraphrases: Vec<String> = (0..manual)
            .map(|i| format!("m{i}"))
            .chain((0..auto).map(|i| format!("a{i}")))
            .collect();
        let sources = std::iter::repeat_n(ParaphraseSource::Manual, manual)
            .chain(std::iter::repeat_n(ParaphraseSource::Auto, auto))
            .collect();
        Item {
            uuid: uuid.into(),
            answers: vec!["x".into()],
            paraphrases,
            meta: ItemMeta {
                sources,
                fields: Default::default(),
            },
        }
    }

    #[test]
    fn indices_are_parsed_and_checked() {
        let selection = ParaphraseSelection::parse_indices("0, 2,1").unwrap();
        assert_eq!(selection, ParaphraseSelection::Indices(vec![0, 2, 1]));
        let item = myriad_item("u", 2, 1);
        assert_eq!(selection.select(&item).unwrap(), vec![0, 2, 1]);
        let err = ParaphraseSelection::Indices(vec![3])
            .select(&item)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "item u: paraphrase index 3 out of range (it has 3)"
        );
    }

    #[test]
    fn bad_index_lists_are_rejected() {
        for spec in ["", "0,,1", "a", "-1", "1,1"] {
            assert!(ParaphraseSelection::parse_indices(spec).is_err(), "{spec}");
        }
    }

    #[test]
    fn first_n_takes_a_prefix_or_fails() {
        let item = myriad_item("u", 2, 2);
        assert_eq!(
            ParaphraseSelection::FirstN(3).select(&item).unwrap(),
            vec![0, 1, 2]
        );
        assert_eq!(
            ParaphraseSelection::FirstN(0).select(&item).unwrap(),
            Vec::<usize>::new()
        );
        assert!(ParaphraseSelection::FirstN(5).select(&item).is_err());
    }

    #[test]
    fn tags_round_trip() {
        let spec = SamplingSpec {
            num_manual: 5,
            num_auto: 0,
            num_samples: 3,
            seed: 9,
        };
        assert_eq!(spec.tag(), "m5a0s3");
        assert_eq!(SamplingSpec::from_tag("m5a0s3", 9).unwrap(), spec);
        assert_eq!(
            "m5a5s5".parse::<SamplingSpec>().unwrap(),
            SamplingSpec::default()
        );
        for bad in ["", "m5a0", "x5a0s3", "m5a0s", "ma0s3", "m5s3a0"] {
            assert!(SamplingSpec::from_tag(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn manual_only_sampling_draws_only_manual_paraphrases() {
        let spec = SamplingSpec {
            num_manual: 5,
            num_auto: 0,
            num_samples: 3,
            seed: 1,
        };
        let item = myriad_item("u", 4, 4);
        let picked = spec.select(&item).unwrap();
        assert_eq!(picked.len(), 3);
        assert!(picked.iter().all(|&i| i < 4), "{picked:?}");
    }

    #[test]
    fn apply_keeps_sources_aligned() {
        let item = myriad_item("u", 1, 2);
        let applied = ParaphraseSelection::Indices(vec![2, 0])
            .apply(&item)
            .unwrap();
        assert_eq!(applied.paraphrases, vec!["a1", "m0"]);
        assert_eq!(
            applied.meta.sources,
            vec![ParaphraseSource::Auto, ParaphraseSource::Manual]
        );
    }

    #[test]
    fn all_keeps_every_paraphrase_in_file_order() {
        let item = myriad_item("u", 2, 2);
        let applied = ParaphraseSelection::All.apply(&item).unwrap();
        assert_eq!(applied, item);
    }

    #[test]
    fn seeds_and_uuids_change_the_draws() {
        let items: Vec<Item> = (0..40)
            .map(|i| myriad_item(&format!("u{i}"), 4, 4))
            .collect();
        let picks = |seed| {
            let spec = SamplingSpec::from_tag("m5a5s3", seed).unwrap();
            items
                .iter()
                .map(|item| spec.select(item).unwrap())
                .collect::<Vec<_>>()
        };
        let (first, second) = (picks(1), picks(2));
        assert_eq!(first, picks(1));
        assert_ne!(first, second, "another seed draws differently");
        let distinct: std::collections::HashSet<&Vec<usize>> = first.iter().collect();
        assert!(
            distinct.len() > 10,
            "items draw independently: {distinct:?}"
        );
    }

    #[test]
    fn item_seed_depends_on_seed_and_uuid() {
        assert_ne!(item_seed(1, "a"), item_seed(2, "a"));
        assert_ne!(item_seed(1, "a"), item_seed(1, "b"));
        assert_eq!(item_seed(1, "a"), item_seed(1, "a"));
    }

    #[test]
    fn pipeline_seed_is_the_bare_uuid() {
        assert_eq!(item_seed(SamplingSpec::PIPELINE_SEED, "abc-1"), "abc-1");
        assert_eq!(item_seed(7, "abc-1"), "abc-1:7");
        assert_eq!(SamplingSpec::default().seed, SamplingSpec::PIPELINE_SEED);
    }

    #[test]
    fn draw_order_is_manual_then_auto_then_pool() {
        // The same three `sample` calls made by hand on one generator.
        let item = myriad_item("04dc00943c6cc89-03c2db8f35e8577", 3, 4);
        let spec = SamplingSpec::from_tag("m2a3s4", SamplingSpec::PIPELINE_SEED).unwrap();
        let mut rng = PyRandom::from_str_seed(&item.uuid);
        let mut pool: Vec<usize> = rng.sample(3, 2).unwrap();
        pool.extend(rng.sample(4, 3).unwrap().into_iter().map(|i| i + 3));
        let expected: Vec<usize> = rng
            .sample(5, 4)
            .unwrap()
            .into_iter()
            .map(|i| pool[i])
            .collect();
        assert_eq!(spec.select(&item).unwrap(), expected);
    }

    proptest! {
        #[test]
        fn sampling_is_deterministic_distinct_and_sized(
            seed in any::<u64>(), uuid in "[a-f0-9]{1,16}",
            manual in 0usize..6, auto in 0usize..6,
            num_manual in 0usize..7, num_auto in 0usize..7, num_samples in 0usize..12,
        ) {
            let item = myriad_item(&uuid, manual, auto);
            let spec = SamplingSpec { num_manual, num_auto, num_samples, seed };
            let first = spec.select(&item).unwrap();
            prop_assert_eq!(&first, &spec.select(&item).unwrap());
            let pool = num_manual.min(manual) + num_auto.min(auto);
            prop_assert_eq!(first.len(), num_samples.min(pool));
            let unique: std::collections::HashSet<_> = first.iter().collect();
            prop_assert_eq!(unique.len(), first.len());
            let manual_picked = first.iter().filter(|&&i| i < manual).count();
            prop_assert!(manual_picked <= num_manual);
            prop_assert!(first.len() - manual_picked <= num_auto);
        }
    }
}
