//! Compiling the flex mask of a packed sequence to its dense, block-sparse and
//! interval forms: 5 paraphrase segments × 300 tokens and 6 × 1000 tokens (plus a
//! shared suffix of 3 tokens and 10 generated tokens). `dense_cellwise` evaluates
//! the same rule one cell at a time (the trait's default row path, as for any
//! closure) to show what the segment-run fast path saves; `decode_row` is the
//! incremental form a decoder uses per step (one new query row).

use std::hint::black_box;

use chorus_mask::{
    BlockMask, DEFAULT_BLOCK, DenseMask, IntervalMask, MaskPredicate, Role, SegmentTable, flex_rule,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn layout(segments: usize, tokens: usize) -> SegmentTable {
    let mut lengths: Vec<(Role, usize)> = (0..segments)
        .map(|paraphrase| (Role::Question { paraphrase }, tokens))
        .collect();
    lengths.push((Role::Shared, 3));
    SegmentTable::from_lengths(&lengths).expect("valid layout")
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("flex_compile");
    group.sample_size(10);
    for (segments, tokens) in [(5usize, 300usize), (6, 1000)] {
        let table = layout(segments, tokens);
        let rule = flex_rule(&table);
        let n = table.len() + 10;
        let id = |what: &str| BenchmarkId::new(what, format!("{segments}x{tokens}"));
        group.bench_function(id("dense"), |b| {
            b.iter(|| DenseMask::compile(black_box(&rule), 0..n, n))
        });
        let cellwise = |b: usize, h: usize, q: usize, kv: usize| rule.visible(b, h, q, kv);
        group.bench_function(id("dense_cellwise"), |b| {
            b.iter(|| DenseMask::compile(black_box(&cellwise), 0..n, n))
        });
        group.bench_function(id("block128"), |b| {
            b.iter(|| BlockMask::compile(black_box(&rule), n, n, DEFAULT_BLOCK).expect("block > 0"))
        });
        group.bench_function(id("interval"), |b| {
            b.iter(|| IntervalMask::compile(black_box(&rule), 0..n, n))
        });
        group.bench_function(id("decode_row"), |b| {
            b.iter(|| DenseMask::compile(black_box(&rule), n - 1..n, n))
        });
    }
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
