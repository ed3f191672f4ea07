//! `--shard i/n`: deterministic splitting of a dataset across processes.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::error::{DataError, Result};

/// Shard `index` of `count`. Shard `i` owns the contiguous index range
/// `[len·i/n, len·(i+1)/n)` ([`Shard::range`]; or the same over whole batches,
/// [`Shard::range_in_units`]): shards differ in size by at most one item (one
/// unit), and concatenating shard outputs in shard order restores file order
/// (what a `merge` step needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Shard `index` of `count`; needs `count > 0` and `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            return Err(spec_error(
                index,
                count,
                "the shard count must be at least 1",
            ));
        }
        if index >= count {
            return Err(spec_error(
                index,
                count,
                "the shard index must be below the count (0-based)",
            ));
        }
        Ok(Self { index, count })
    }

    /// The whole dataset as one shard (`0/1`).
    pub fn whole() -> Self {
        Self { index: 0, count: 1 }
    }

    /// This shard's 0-based index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of shards.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The item indices this shard owns in a dataset of `len` items.
    pub fn range(&self, len: usize) -> Range<usize> {
        let bound = |i: usize| (len as u128 * i as u128 / self.count as u128) as usize;
        bound(self.index)..bound(self.index + 1)
    }

    /// As [`Shard::range`], but splitting only between whole units of `unit`
    /// items counted from the start (e.g. batches of a run): shard `i` owns
    /// units `[u·i/n, u·(i+1)/n)` of the `u = ⌈len/unit⌉` units. A sharded run
    /// then computes exactly the batches of the unsharded run, which matters
    /// where kernels are not batch-invariant (GPU floating point). `unit` 0
    /// counts as 1.
    pub fn range_in_units(&self, len: usize, unit: usize) -> Range<usize> {
        let unit = unit.max(1);
        let units = len.div_ceil(unit);
        let bound = |i: usize| {
            let first_unit = (units as u128 * i as u128 / self.count as u128) as usize;
            (first_unit * unit).min(len)
        };
        bound(self.index)..bound(self.index + 1)
    }

    /// This shard's part of `items`.
    pub fn select<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        &items[self.range(items.len())]
    }
}

fn spec_error(index: usize, count: usize, reason: &str) -> DataError {
    DataError::Spec {
        what: "shard",
        spec: format!("{index}/{count}"),
        reason: reason.into(),
    }
}

impl FromStr for Shard {
    type Err = DataError;

    /// Parses `i/n`, e.g. `0/4`.
    fn from_str(spec: &str) -> Result<Self> {
        let bad = |reason: &str| DataError::Spec {
            what: "shard",
            spec: spec.into(),
            reason: reason.into(),
        };
        let (index, count) = spec
            .split_once('/')
            .ok_or_else(|| bad("expected i/n, e.g. 0/4"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad("i and n must be integers"))
        };
        Self::new(number(index)?, number(count)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_validates() {
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard::new(1, 4).unwrap());
        assert_eq!(Shard::new(2, 3).unwrap().to_string(), "2/3");
        for bad in ["", "1", "4/4", "0/0", "a/2", "1/b", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let err = "4/4".parse::<Shard>().unwrap_err().to_string();
        assert!(err.contains("below the count"), "{err}");
    }

    #[test]
    fn whole_selects_everything() {
        assert_eq!(Shard::whole().select(&[1, 2, 3]), &[1, 2, 3]);
    }

    proptest! {
        #[test]
        fn shards_partition_in_order(len in 0usize..500, count in 1usize..40) {
            let items: Vec<usize> = (0..len).collect();
            let joined: Vec<usize> = (0..count)
                .flat_map(|i| Shard::new(i, count).unwrap().select(&items).to_vec())
                .collect();
            prop_assert_eq!(&joined, &items);
            let sizes: Vec<usize> = (0..count).map(|i| Shard::new(i, count).unwrap().range(len).len()).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }

        #[test]
        fn unit_shards_partition_at_unit_boundaries(len in 0usize..500, count in 1usize..40, unit in 0usize..40) {
            let ranges: Vec<Range<usize>> = (0..count)
                .map(|i| Shard::new(i, count).unwrap().range_in_units(len, unit))
                .collect();
            let joined: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
            prop_assert_eq!(joined, (0..len).collect::<Vec<_>>());
            let unit = unit.max(1);
            for range in &ranges {
                prop_assert!(range.start % unit == 0 || range.start == len);
            }
            let sizes: Vec<usize> = ranges.iter().map(|r| r.len().div_ceil(unit)).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            if unit == 1 {
                let plain: Vec<Range<usize>> = (0..count).map(|i| Shard::new(i, count).unwrap().range(len)).collect();
                prop_assert_eq!(ranges, plain);
            }
        }
    }
}
