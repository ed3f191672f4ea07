//! Property tests: algebraic laws of the combinators, equivalence of the dense,
//! block and interval forms, invariants of the flex and structured rules, the
//! incremental (row-range) form and the shared-prefix bias.

use chorus_mask::{
    BlockMask, DenseBias, DenseMask, IntervalMask, MaskError, MaskPredicate, Role, Segment,
    SegmentTable, and, causal, document, flex_rule, not, or, prefix_lm, shared_prefix_bias,
    sliding_window, structured_rule,
};
use proptest::prelude::*;

/// A boxed predicate, so that random expression trees can be built from the
/// crate's own combinators; it forwards `fill_row` so the row fast paths of the
/// combinators and ready-made masks are exercised too.
struct Dyn(Box<dyn MaskPredicate>);

impl MaskPredicate for Dyn {
    fn visible(&self, b: usize, h: usize, q: usize, kv: usize) -> bool {
        self.0.visible(b, h, q, kv)
    }

    fn fill_row(&self, b: usize, h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        self.0.fill_row(b, h, q, kv_len, row);
    }
}

fn boxed<P: MaskPredicate + 'static>(p: P) -> Dyn {
    Dyn(Box::new(p))
}

/// A random predicate expression.
#[derive(Debug, Clone)]
enum Expr {
    Causal,
    Window(usize),
    PrefixLm(usize),
    Document(Vec<u32>),
    /// `(q * a + kv * b + h) % m == 0`: an irregular pattern that depends on the head.
    Modular(usize, usize, usize),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    fn build(&self) -> Dyn {
        match self {
            Expr::Causal => boxed(causal()),
            Expr::Window(w) => boxed(sliding_window(*w)),
            Expr::PrefixLm(n) => boxed(prefix_lm(*n)),
            Expr::Document(ids) => boxed(document(ids.clone())),
            &Expr::Modular(a, b, m) => boxed(move |_b: usize, h: usize, q: usize, kv: usize| {
                (q * a + kv * b + h).is_multiple_of(m)
            }),
            Expr::And(x, y) => boxed(and(x.build(), y.build())),
            Expr::Or(x, y) => boxed(or(x.build(), y.build())),
            Expr::Not(x) => boxed(not(x.build())),
        }
    }
}

const N: usize = 12;

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        Just(Expr::Causal),
        (0..6usize).prop_map(Expr::Window),
        (0..N).prop_map(Expr::PrefixLm),
        proptest::collection::vec(0..3u32, 0..=N).prop_map(Expr::Document),
        (0..4usize, 0..4usize, 1..4usize).prop_map(|(a, b, m)| Expr::Modular(a, b, m)),
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Expr::Not(Box::new(a))),
        ]
    })
}

/// Every cell of an N x N grid for batch 0..2 and heads 0..2.
fn grid(p: &impl MaskPredicate) -> Vec<bool> {
    let mut out = Vec::with_capacity(4 * N * N);
    for b in 0..2 {
        for h in 0..2 {
            for q in 0..N {
                for kv in 0..N {
                    out.push(p.visible(b, h, q, kv));
                }
            }
        }
    }
    out
}

fn q(paraphrase: usize) -> Role {
    Role::Question { paraphrase }
}

/// A flex layout: optional shared prefix, 1..=5 paraphrase segments, optional shared suffix.
fn flex_table() -> impl Strategy<Value = SegmentTable> {
    (
        proptest::option::of(1..12usize),
        proptest::collection::vec(1..15usize, 1..=5),
        proptest::option::of(1..4usize),
    )
        .prop_map(|(prefix, questions, suffix)| {
            let mut lengths = Vec::new();
            lengths.extend(prefix.map(|n| (Role::Shared, n)));
            lengths.extend(questions.iter().enumerate().map(|(i, &n)| (q(i), n)));
            lengths.extend(suffix.map(|n| (Role::Shared, n)));
            SegmentTable::from_lengths(&lengths).unwrap()
        })
}

/// A MyriadLAMA structured layout: instruction, examples with several question
/// phrasings and an answer, question paraphrases, shared suffix.
fn structured_table() -> impl Strategy<Value = SegmentTable> {
    (
        1..6usize,
        proptest::collection::vec(proptest::collection::vec(1..6usize, 1..=3), 0..=3),
        proptest::collection::vec(1..8usize, 1..=4),
        1..3usize,
    )
        .prop_map(|(instruction, examples, questions, suffix)| {
            let mut lengths = vec![(Role::Instruction, instruction)];
            for (example, variants) in examples.iter().enumerate() {
                for (variant, &n) in variants.iter().enumerate() {
                    lengths.push((Role::FewShotQuestion { example, variant }, n));
                }
                lengths.push((Role::FewShotAnswer { example }, 2));
            }
            lengths.extend(questions.iter().enumerate().map(|(i, &n)| (q(i), n)));
            lengths.push((Role::Shared, suffix));
            SegmentTable::from_lengths(&lengths).unwrap()
        })
}

/// Any role sequence (not necessarily a sensible layout), for form equivalence.
fn any_table() -> impl Strategy<Value = SegmentTable> {
    let role = prop_oneof![
        Just(Role::Instruction),
        (0..3usize, 0..3usize)
            .prop_map(|(example, variant)| Role::FewShotQuestion { example, variant }),
        (0..3usize).prop_map(|example| Role::FewShotAnswer { example }),
        (0..4usize).prop_map(q),
        Just(Role::Shared),
    ];
    proptest::collection::vec((role, 1..20usize), 1..8)
        .prop_map(|l| SegmentTable::from_lengths(&l).unwrap())
}

proptest! {
    #[test]
    fn and_or_are_commutative(a in expr(), b in expr()) {
        prop_assert_eq!(grid(&and(a.build(), b.build())), grid(&and(b.build(), a.build())));
        prop_assert_eq!(grid(&or(a.build(), b.build())), grid(&or(b.build(), a.build())));
    }

    #[test]
    fn and_or_are_associative(a in expr(), b in expr(), c in expr()) {
        prop_assert_eq!(
            grid(&and(and(a.build(), b.build()), c.build())),
            grid(&and(a.build(), and(b.build(), c.build())))
        );
        prop_assert_eq!(
            grid(&or(or(a.build(), b.build()), c.build())),
            grid(&or(a.build(), or(b.build(), c.build())))
        );
    }

    #[test]
    fn de_morgan_and_double_negation(a in expr(), b in expr()) {
        prop_assert_eq!(grid(&not(and(a.build(), b.build()))), grid(&or(not(a.build()), not(b.build()))));
        prop_assert_eq!(grid(&not(or(a.build(), b.build()))), grid(&and(not(a.build()), not(b.build()))));
        prop_assert_eq!(grid(&not(not(a.build()))), grid(&a.build()));
    }

    #[test]
    fn methods_match_functions(a in expr(), b in expr()) {
        prop_assert_eq!(grid(&a.build().and(b.build())), grid(&and(a.build(), b.build())));
        prop_assert_eq!(grid(&a.build().or(b.build())), grid(&or(a.build(), b.build())));
        prop_assert_eq!(grid(&a.build().not()), grid(&not(a.build())));
    }

    #[test]
    fn row_fast_paths_match_cellwise_visibility(
        a in expr(),
        table in any_table(),
        rows in 0..80usize,
        kv_len in 0..200usize,
        structured in any::<bool>(),
    ) {
        let rule = if structured { structured_rule(&table) } else { flex_rule(&table) };
        let combined = or(and(rule.clone(), a.build()), not(sliding_window(3)));
        for (name, pred) in [("expr", &a.build() as &dyn MaskPredicate), ("rule", &rule), ("combined", &combined)] {
            let dense = DenseMask::compile(pred, 0..rows, kv_len);
            for q in 0..rows {
                for kv in 0..kv_len {
                    prop_assert_eq!(dense.get(q, kv), pred.visible(0, 0, q, kv), "{} q {} kv {}", name, q, kv);
                }
            }
        }
    }

    #[test]
    fn block_and_interval_forms_equal_dense(
        table in any_table(),
        generated in 0..5usize,
        block in 1..40usize,
        structured in any::<bool>(),
    ) {
        let n = table.len() + generated;
        let rule = if structured { structured_rule(&table) } else { flex_rule(&table) };
        let dense = DenseMask::compile(&rule, 0..n, n);
        let blocks = BlockMask::compile(&rule, n, n, block).unwrap();
        prop_assert_eq!(&blocks.to_dense(), &dense);
        prop_assert_eq!(&IntervalMask::compile(&rule, 0..n, n).to_dense(), &dense);
        prop_assert_eq!(&IntervalMask::from_dense(&dense).to_dense(), &dense);
        // Every non-skipped tile holds a visible cell; full tiles hold only visible cells.
        for qb in 0..blocks.num_q_blocks() {
            for &kb in blocks.full_kv_indices(qb) {
                for r in qb * block..((qb + 1) * block).min(n) {
                    for c in kb * block..((kb + 1) * block).min(n) {
                        prop_assert!(dense.get(r, c));
                    }
                }
            }
        }
    }

    #[test]
    fn flex_paraphrase_tokens_never_see_another_question(table in flex_table(), generated in 0..4usize) {
        let rule = flex_rule(&table);
        let n = table.len();
        let dense = DenseMask::compile(&rule, 0..n + generated, n + generated);
        let first_question = table.first_question().unwrap();
        for qt in 0..n {
            let (qs, q_role) = (table.segment_of(qt), table.role_of(qt));
            // The fused-first suffix (a Shared segment after a question) is the one
            // prompt segment meant to see every paraphrase.
            let suffix = q_role == Role::Shared && qs.unwrap() > first_question;
            for kv in 0..n + generated {
                if suffix && kv <= qt {
                    prop_assert!(dense.get(qt, kv), "suffix token {} must see {}", qt, kv);
                }
                let ks = table.segment_of(kv);
                let other_question = matches!(table.role_of(kv), Role::Question { .. }) && qs != ks;
                if other_question && !suffix {
                    prop_assert!(!dense.get(qt, kv), "prompt token {} sees question token {}", qt, kv);
                }
                if kv > qt {
                    prop_assert!(!dense.get(qt, kv), "token {} sees future token {}", qt, kv);
                }
            }
        }
        for g in n..n + generated {
            for kv in 0..=g {
                prop_assert!(dense.get(g, kv), "generated {} must see {}", g, kv);
            }
            for kv in g + 1..n + generated {
                prop_assert!(!dense.get(g, kv));
            }
        }
    }

    #[test]
    fn structured_rule_is_causal_and_isolates_questions(table in structured_table(), generated in 0..3usize) {
        let rule = structured_rule(&table);
        let total = table.len() + generated;
        let dense = DenseMask::compile(&rule, 0..total, total);
        for qt in 0..total {
            for kv in qt + 1..total {
                prop_assert!(!dense.get(qt, kv));
            }
            // Instruction tokens are visible to everyone (causally).
            for kv in table.segments()[0].range.clone().filter(|&kv| kv <= qt) {
                prop_assert!(dense.get(qt, kv));
            }
            let q_role = table.role_of(qt);
            for kv in 0..qt {
                let k_role = table.role_of(kv);
                let both_questions = matches!((q_role, k_role), (Role::Question { .. }, Role::Question { .. }));
                if both_questions && q_role != k_role {
                    prop_assert!(!dense.get(qt, kv), "question token {} sees question token {}", qt, kv);
                }
            }
        }
    }

    #[test]
    fn incremental_rows_equal_full_rows(
        table in any_table(),
        generated in 0..6usize,
        cut in any::<proptest::sample::Index>(),
        width in 0..8usize,
        structured in any::<bool>(),
    ) {
        let n = table.len() + generated;
        let rule = if structured { structured_rule(&table) } else { flex_rule(&table) };
        let full = DenseMask::compile(&rule, 0..n, n);
        let start = cut.index(n + 1);
        let end = (start + width).min(n);
        let rows = DenseMask::compile(&rule, start..end, n);
        prop_assert_eq!(&rows, &full.slice_rows(start..end));
        prop_assert_eq!(IntervalMask::compile(&rule, start..end, n).to_dense(), rows);
        let bias = shared_prefix_bias(&table, 3);
        let full_bias = DenseBias::compile(&bias, 0..n, n);
        let part = DenseBias::compile(&bias, start..end, n);
        prop_assert_eq!(part.as_slice(), &full_bias.as_slice()[start * n..end * n]);
    }

    /// The bias sits exactly on (query that sees every question without being
    /// one, shared-prefix key) under the flex rule: the queries that would see all
    /// copies of an unshared prefix.
    #[test]
    fn shared_prefix_bias_on_queries_that_see_every_copy_and_prefix_keys(
        table in flex_table(),
        generated in 0..4usize,
        copies in 0..8usize,
    ) {
        let n = table.len();
        let total = n + generated;
        let d = DenseBias::compile(&shared_prefix_bias(&table, copies), 0..total, total);
        let mask = DenseMask::compile(&flex_rule(&table), 0..total, total);
        let first_question = table.first_question().unwrap();
        let questions: Vec<&Segment> = table
            .segments()
            .iter()
            .filter(|s| matches!(s.role, Role::Question { .. }))
            .collect();
        let sees_every_copy = |qt: usize| {
            questions.iter().all(|s| !s.range.contains(&qt) && mask.get(qt, s.range.start))
        };
        let ln = (copies.max(1) as f32).ln();
        for qt in 0..total {
            for kv in 0..total {
                let prefix_key = table.segment_of(kv).is_some_and(|s| s < first_question && table.segments()[s].role == Role::Shared);
                let expected = if sees_every_copy(qt) && prefix_key { ln } else { 0.0 };
                prop_assert_eq!(d.get(qt, kv), expected, "q {} kv {}", qt, kv);
            }
        }
    }
}

proptest! {
    #[test]
    fn segment_table_accepts_exactly_contiguous_non_empty_ranges(
        spans in proptest::collection::vec((0..30usize, 0..30usize), 0..6),
    ) {
        let segments: Vec<Segment> = spans
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| Segment::new(start..end, q(i)))
            .collect();
        let mut expected_end = 0;
        let mut first_bad = None;
        for (i, s) in segments.iter().enumerate() {
            if s.range.start != expected_end || s.range.end <= s.range.start {
                first_bad = Some(i);
                break;
            }
            expected_end = s.range.end;
        }
        match SegmentTable::new(segments.clone()) {
            Ok(table) => {
                prop_assert!(first_bad.is_none() && !segments.is_empty());
                prop_assert_eq!(table.len(), expected_end);
                for (i, s) in segments.iter().enumerate() {
                    for t in s.range.clone() {
                        prop_assert_eq!(table.segment_of(t), Some(i));
                    }
                }
            }
            Err(MaskError::EmptyTable) => prop_assert!(segments.is_empty()),
            Err(
                MaskError::Gap { index, role, .. }
                | MaskError::Overlap { index, role, .. }
                | MaskError::EmptySegment { index, role, .. }
                | MaskError::OutOfRange { index, role, .. },
            ) => {
                prop_assert_eq!(Some(index), first_bad);
                prop_assert_eq!(role, q(index));
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }

    #[test]
    fn structured_few_shot_visibility_follows_examples(table in structured_table()) {
        let rule = structured_rule(&table);
        let n = table.len();
        for qt in 0..n {
            for kv in 0..qt {
                let (qr, kr) = (table.role_of(qt), table.role_of(kv));
                let same_segment = table.segment_of(qt) == table.segment_of(kv);
                let expected = match (qr, kr) {
                    (_, Role::Instruction) => true,
                    (Role::FewShotQuestion { example: a, .. }, Role::FewShotQuestion { example: b, .. }) => {
                        same_segment || a != b
                    }
                    (Role::FewShotQuestion { .. } | Role::FewShotAnswer { .. }, Role::FewShotAnswer { .. }) => true,
                    (Role::FewShotAnswer { .. }, Role::FewShotQuestion { .. }) => true,
                    (Role::Question { .. }, Role::FewShotQuestion { .. } | Role::FewShotAnswer { .. }) => true,
                    (Role::Question { .. }, Role::Question { .. }) => same_segment,
                    (Role::Shared, _) => true,
                    _ => same_segment,
                };
                prop_assert_eq!(rule.visible(0, 0, qt, kv), expected, "{:?} at {} -> {:?} at {}", qr, qt, kr, kv);
            }
        }
    }
}
