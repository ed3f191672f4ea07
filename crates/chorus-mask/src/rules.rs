//! Role-based visibility rules, written as data.
//!
//! A rule set is a list of [`VisibilityRule`]s: "queries of these kinds see keys of
//! those kinds when the two segments stand in one of these relations". A key is
//! visible to a query when the key is not in the future (always causal) and at
//! least one rule grants it. [`FLEX_RULES`] and [`STRUCTURED_RULES`] are the two
//! rule sets of docs/DESIGN.md; [`rule_mask`] compiles any rule set against a
//! [`SegmentTable`] into a fast predicate.

use std::sync::Arc;

use crate::bits::set_range;
use crate::predicate::MaskPredicate;
use crate::role::Role;
use crate::segment::SegmentTable;

/// The kind of a segment as the rules see it: its [`Role`] without indices, with
/// `Shared` split by position (before the first question or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// [`Role::Instruction`].
    Instruction,
    /// [`Role::FewShotQuestion`].
    FewShotQuestion,
    /// [`Role::FewShotAnswer`].
    FewShotAnswer,
    /// [`Role::Question`].
    Question,
    /// [`Role::Shared`] before the first question (or with no question at all): a
    /// deduplicated common prefix.
    SharedPrefix,
    /// [`Role::Shared`] after a question: a fused suffix such as `"\nA:"`.
    SharedSuffix,
    /// [`Role::Generated`] and every token past the prompt.
    Generated,
}

impl RoleKind {
    const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The kind of a segment with `role` at segment index `index`, given the index
    /// of the table's first question segment.
    pub fn classify(role: Role, index: usize, first_question: Option<usize>) -> Self {
        match role {
            Role::Instruction => Self::Instruction,
            Role::FewShotQuestion { .. } => Self::FewShotQuestion,
            Role::FewShotAnswer { .. } => Self::FewShotAnswer,
            Role::Question { .. } => Self::Question,
            Role::Shared => match first_question {
                Some(first) if index > first => Self::SharedSuffix,
                _ => Self::SharedPrefix,
            },
            Role::Generated => Self::Generated,
        }
    }
}

/// A set of [`RoleKind`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kinds(u8);

impl Kinds {
    /// No kind.
    pub const NONE: Self = Self(0);
    /// Every kind, generated tokens included.
    pub const ALL: Self = Self(0x7f);
    /// Instruction segments.
    pub const INSTRUCTION: Self = Self::of(RoleKind::Instruction);
    /// Few-shot question segments.
    pub const FEW_SHOT_QUESTION: Self = Self::of(RoleKind::FewShotQuestion);
    /// Few-shot answer segments.
    pub const FEW_SHOT_ANSWER: Self = Self::of(RoleKind::FewShotAnswer);
    /// All few-shot material (questions and answers).
    pub const FEW_SHOT: Self = Self::FEW_SHOT_QUESTION.with(Self::FEW_SHOT_ANSWER);
    /// Question (paraphrase) segments.
    pub const QUESTION: Self = Self::of(RoleKind::Question);
    /// Shared segments before the first question.
    pub const SHARED_PREFIX: Self = Self::of(RoleKind::SharedPrefix);
    /// Shared segments after a question.
    pub const SHARED_SUFFIX: Self = Self::of(RoleKind::SharedSuffix);
    /// Generated tokens.
    pub const GENERATED: Self = Self::of(RoleKind::Generated);

    /// The set holding just `kind`.
    pub const fn of(kind: RoleKind) -> Self {
        Self(kind.bit())
    }

    /// The union of two sets.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: RoleKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// How a key's segment relates to a query's segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The same segment (generated tokens form one segment).
    SameSegment,
    /// Different segments of the same group: the same few-shot example (questions
    /// and answer of example `e`), or the same question paraphrase.
    SameGroup,
    /// Different groups of the same family: another few-shot example, or another
    /// question paraphrase.
    OtherGroup,
    /// Anything else (e.g. an instruction and a question).
    Unrelated,
}

impl Relation {
    const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The relation between segment `a` (role `role_a`) and segment `b`.
    pub fn between(a: usize, role_a: Role, b: usize, role_b: Role) -> Self {
        if a == b {
            return Self::SameSegment;
        }
        match (group_of(role_a), group_of(role_b)) {
            (Some(x), Some(y)) if x == y => Self::SameGroup,
            (Some(x), Some(y)) if x.0 == y.0 => Self::OtherGroup,
            _ => Self::Unrelated,
        }
    }
}

/// A role's (family, index) group: few-shot material is grouped by example,
/// questions by paraphrase.
fn group_of(role: Role) -> Option<(u8, usize)> {
    match role {
        Role::FewShotQuestion { example, .. } | Role::FewShotAnswer { example } => {
            Some((0, example))
        }
        Role::Question { paraphrase } => Some((1, paraphrase)),
        _ => None,
    }
}

/// A set of [`Relation`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Relations(u8);

impl Relations {
    /// Only the query's own segment.
    pub const SAME_SEGMENT: Self = Self(Relation::SameSegment.bit());
    /// Other segments of the same group.
    pub const SAME_GROUP: Self = Self(Relation::SameGroup.bit());
    /// Segments of other groups of the same family.
    pub const OTHER_GROUP: Self = Self(Relation::OtherGroup.bit());
    /// Unrelated segments.
    pub const UNRELATED: Self = Self(Relation::Unrelated.bit());
    /// Any relation.
    pub const ANY: Self = Self(0x0f);

    /// The union of two sets.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `relation` is in the set.
    pub const fn contains(self, relation: Relation) -> bool {
        self.0 & relation.bit() != 0
    }
}

/// One visibility grant: queries of kinds `query` see earlier (or equal) keys of
/// kinds `key` whose segment stands in one of the relations `sees`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VisibilityRule {
    /// Query kinds the rule applies to.
    pub query: Kinds,
    /// Key kinds it opens.
    pub key: Kinds,
    /// Relations (query segment → key segment) it opens.
    pub sees: Relations,
    /// The rule in words (shown in docs and debug output).
    pub why: &'static str,
}

/// The flex rules (docs/DESIGN.md: "Flex semantics", "Flex (attention fusion)"), always causal.
pub const FLEX_RULES: &[VisibilityRule] = &[
    VisibilityRule {
        query: Kinds::ALL,
        key: Kinds::ALL,
        sees: Relations::SAME_SEGMENT,
        why: "every token sees its own segment",
    },
    VisibilityRule {
        query: Kinds::QUESTION,
        key: Kinds::SHARED_PREFIX,
        sees: Relations::ANY,
        why: "a question sees the shared prefix (--share-prefix)",
    },
    VisibilityRule {
        query: Kinds::SHARED_SUFFIX.with(Kinds::GENERATED),
        key: Kinds::ALL,
        sees: Relations::ANY,
        why: "the fused suffix and generated tokens see everything before them",
    },
];

/// The MyriadLAMA structured rules (docs/DESIGN.md, "MyriadLAMA variant"), always causal.
pub const STRUCTURED_RULES: &[VisibilityRule] = &[
    VisibilityRule {
        query: Kinds::ALL,
        key: Kinds::ALL,
        sees: Relations::SAME_SEGMENT,
        why: "every token sees its own segment",
    },
    VisibilityRule {
        query: Kinds::ALL,
        key: Kinds::INSTRUCTION.with(Kinds::SHARED_PREFIX),
        sees: Relations::ANY,
        why: "everything sees the instruction (and a shared prefix)",
    },
    VisibilityRule {
        query: Kinds::FEW_SHOT,
        key: Kinds::FEW_SHOT,
        sees: Relations::OTHER_GROUP,
        why: "few-shot material sees the other few-shot examples before it",
    },
    VisibilityRule {
        query: Kinds::FEW_SHOT_ANSWER,
        key: Kinds::FEW_SHOT_QUESTION,
        sees: Relations::SAME_GROUP,
        why: "a few-shot answer sees every question paraphrase of its example",
    },
    VisibilityRule {
        query: Kinds::QUESTION,
        key: Kinds::FEW_SHOT,
        sees: Relations::ANY,
        why: "questions see all few-shot material (but not each other)",
    },
    VisibilityRule {
        query: Kinds::SHARED_SUFFIX.with(Kinds::GENERATED),
        key: Kinds::ALL,
        sees: Relations::ANY,
        why: "the shared suffix and generated tokens see everything before them",
    },
];

/// Whether `rules` grant a query of `query_kind` the keys of `key_kind` in `relation`.
pub fn grants(
    rules: &[VisibilityRule],
    query_kind: RoleKind,
    key_kind: RoleKind,
    relation: Relation,
) -> bool {
    rules.iter().any(|r| {
        r.query.contains(query_kind) && r.key.contains(key_kind) && r.sees.contains(relation)
    })
}

/// A rule set compiled against a segment table: a causal predicate with O(1)
/// lookups (token → segment → segment-pair visibility). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMask {
    token_segment: Arc<[u32]>,
    /// Token range of each region (segments, then the generated region, whose
    /// end is unbounded).
    region_ranges: Arc<[std::ops::Range<usize>]>,
    /// Row-major `(segments + 1)²` table; index `segments` is the generated region.
    pair_visible: Arc<[bool]>,
    regions: usize,
}

impl RuleMask {
    /// Number of prompt tokens covered by the table.
    pub fn prompt_len(&self) -> usize {
        self.token_segment.len()
    }

    /// Whether (ignoring causality) tokens of segment `query` see tokens of
    /// segment `key`; index `segments().len()` stands for generated tokens.
    pub fn segment_sees(&self, query: usize, key: usize) -> bool {
        if query >= self.regions || key >= self.regions {
            return false;
        }
        self.pair_visible[query * self.regions + key]
    }

    fn region_of(&self, token: usize) -> usize {
        self.token_segment
            .get(token)
            .map_or(self.regions - 1, |&s| s as usize)
    }
}

impl MaskPredicate for RuleMask {
    fn visible(&self, _b: usize, _h: usize, q: usize, kv: usize) -> bool {
        kv <= q && self.pair_visible[self.region_of(q) * self.regions + self.region_of(kv)]
    }

    /// O(segments + kv_len / 64) per row: whole visible segments are set at once.
    fn fill_row(&self, _b: usize, _h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        row.fill(0);
        let limit = q.saturating_add(1).min(kv_len);
        let visible = &self.pair_visible[self.region_of(q) * self.regions..][..self.regions];
        for (range, _) in self.region_ranges.iter().zip(visible).filter(|(_, v)| **v) {
            set_range(row, range.start, range.end.min(limit));
        }
    }
}

/// Compiles `rules` against `table`: the predicate is causal, and a key is
/// visible when some rule grants its segment to the query's segment.
pub fn rule_mask(table: &SegmentTable, rules: &[VisibilityRule]) -> RuleMask {
    let first_question = table.first_question();
    // Region list: the table's segments, then the generated region.
    let mut regions: Vec<(Role, RoleKind)> = table
        .segments()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.role, RoleKind::classify(s.role, i, first_question)))
        .collect();
    regions.push((Role::Generated, RoleKind::Generated));
    let n = regions.len();
    let mut pair_visible = vec![false; n * n];
    for (qi, &(q_role, q_kind)) in regions.iter().enumerate() {
        for (ki, &(k_role, k_kind)) in regions.iter().enumerate() {
            let relation = Relation::between(qi, q_role, ki, k_role);
            pair_visible[qi * n + ki] = grants(rules, q_kind, k_kind, relation);
        }
    }
    let region_ranges: Vec<std::ops::Range<usize>> = table
        .segments()
        .iter()
        .map(|s| s.range.clone())
        .chain(std::iter::once(table.len()..usize::MAX))
        .collect();
    RuleMask {
        token_segment: table.token_segments().into(),
        region_ranges: region_ranges.into(),
        pair_visible: pair_visible.into(),
        regions: n,
    }
}

/// The flex mask ([`FLEX_RULES`]): generated tokens (indices `>= table.len()`) see
/// everything before them and themselves; a prompt token sees the earlier-or-equal
/// tokens of its own segment; a `Question` also sees `Shared` segments before the
/// first question; a `Shared` segment after a question (the fused-first suffix)
/// sees everything before it.
pub fn flex_rule(table: &SegmentTable) -> RuleMask {
    rule_mask(table, FLEX_RULES)
}

/// The MyriadLAMA structured mask ([`STRUCTURED_RULES`], docs/DESIGN.md), always causal:
/// everything sees the instruction; a few-shot question paraphrase sees only
/// itself among its example's paraphrases but sees the other examples before it; a
/// few-shot answer sees its example's question paraphrases and the other examples;
/// question paraphrases are isolated from each other and see all few-shot
/// material; a shared suffix and generated tokens see everything before them.
pub fn structured_rule(table: &SegmentTable) -> RuleMask {
    rule_mask(table, STRUCTURED_RULES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fsq(example: usize, variant: usize) -> Role {
        Role::FewShotQuestion { example, variant }
    }
    fn fsa(example: usize) -> Role {
        Role::FewShotAnswer { example }
    }
    fn q(paraphrase: usize) -> Role {
        Role::Question { paraphrase }
    }

    /// I(2) F0.0(2) F0.1(2) A0(1) F1.0(2) F1.1(2) A1(1) Q0(2) Q1(2) S(1)
    fn structured_table() -> SegmentTable {
        SegmentTable::from_lengths(&[
            (Role::Instruction, 2),
            (fsq(0, 0), 2),
            (fsq(0, 1), 2),
            (fsa(0), 1),
            (fsq(1, 0), 2),
            (fsq(1, 1), 2),
            (fsa(1), 1),
            (q(0), 2),
            (q(1), 2),
            (Role::Shared, 1),
        ])
        .unwrap()
    }

    /// Whether any token of segment `qs` sees any token of segment `ks` (segment
    /// index `len` = generated, token `table.len()`).
    fn sees_any(m: &RuleMask, t: &SegmentTable, qs: usize, ks: usize) -> bool {
        let range = |s: usize| {
            t.segments()
                .get(s)
                .map_or(t.len()..t.len() + 1, |x| x.range.clone())
        };
        range(qs).any(|qt| range(ks).any(|kt| m.visible(0, 0, qt, kt)))
    }

    /// Every token of `qs` sees every causally-allowed token of `ks`.
    fn sees_all(m: &RuleMask, t: &SegmentTable, qs: usize, ks: usize) -> bool {
        let range = |s: usize| {
            t.segments()
                .get(s)
                .map_or(t.len()..t.len() + 1, |x| x.range.clone())
        };
        range(qs).all(|qt| {
            range(ks)
                .filter(|&kt| kt <= qt)
                .all(|kt| m.visible(0, 0, qt, kt))
        })
    }

    #[test]
    fn structured_everything_sees_the_instruction() {
        let t = structured_table();
        let m = structured_rule(&t);
        for s in 0..=t.segments().len() {
            assert!(
                sees_all(&m, &t, s, 0),
                "segment {s} must see the instruction"
            );
        }
    }

    #[test]
    fn structured_few_shot_question_sees_only_itself_among_its_paraphrases() {
        let t = structured_table();
        let m = structured_rule(&t);
        assert!(!sees_any(&m, &t, 2, 1), "F0.1 must not see F0.0");
        assert!(!sees_any(&m, &t, 5, 4), "F1.1 must not see F1.0");
        assert!(sees_all(&m, &t, 2, 2), "F0.1 sees itself causally");
        assert!(!m.visible(0, 0, 5, 6), "never the future inside a segment");
    }

    #[test]
    fn structured_few_shot_question_sees_other_examples() {
        let t = structured_table();
        let m = structured_rule(&t);
        for (qs, ks) in [(4, 1), (4, 2), (4, 3), (5, 1), (5, 2), (5, 3)] {
            assert!(
                sees_all(&m, &t, qs, ks),
                "segment {qs} must see example-0 segment {ks}"
            );
        }
        assert!(
            !sees_any(&m, &t, 1, 4),
            "causal: example 0 cannot see example 1"
        );
    }

    #[test]
    fn structured_few_shot_answer_sees_its_questions_and_other_examples() {
        let t = structured_table();
        let m = structured_rule(&t);
        for ks in [1, 2, 3] {
            assert!(sees_all(&m, &t, 3, ks), "A0 must see segment {ks}");
        }
        for ks in [1, 2, 3, 4, 5, 6] {
            assert!(sees_all(&m, &t, 6, ks), "A1 must see segment {ks}");
        }
    }

    #[test]
    fn structured_questions_are_isolated_and_see_all_few_shot_material() {
        let t = structured_table();
        let m = structured_rule(&t);
        assert!(!sees_any(&m, &t, 8, 7), "Q1 must not see Q0");
        for qs in [7, 8] {
            for ks in 0..7 {
                assert!(
                    sees_all(&m, &t, qs, ks),
                    "question {qs} must see segment {ks}"
                );
            }
        }
    }

    #[test]
    fn structured_suffix_and_generated_see_everything_before() {
        let t = structured_table();
        let m = structured_rule(&t);
        let n = t.len();
        for kv in 0..n {
            assert!(m.visible(0, 0, n - 1, kv), "shared suffix sees token {kv}");
            assert!(m.visible(0, 0, n + 2, kv), "generated sees token {kv}");
        }
        assert!(m.visible(0, 0, n + 2, n + 1));
        assert!(m.visible(0, 0, n + 2, n + 2));
        assert!(!m.visible(0, 0, n + 2, n + 3), "generated is causal too");
    }

    fn flex_table(share: bool, suffix: bool) -> SegmentTable {
        let mut lengths = Vec::new();
        if share {
            lengths.push((Role::Shared, 3));
        }
        lengths.extend([(q(0), 3), (q(1), 2), (q(2), 4)]);
        if suffix {
            lengths.push((Role::Shared, 2));
        }
        SegmentTable::from_lengths(&lengths).unwrap()
    }

    #[test]
    fn flex_prompt_tokens_see_only_their_own_segment() {
        let t = flex_table(false, false);
        let m = flex_rule(&t);
        assert!(sees_all(&m, &t, 1, 1));
        assert!(!sees_any(&m, &t, 1, 0));
        assert!(!sees_any(&m, &t, 2, 0));
        assert!(!sees_any(&m, &t, 2, 1));
        assert!(!m.visible(0, 0, 3, 4), "causal inside a segment");
    }

    #[test]
    fn flex_questions_see_the_shared_prefix() {
        let t = flex_table(true, true);
        let m = flex_rule(&t);
        for qs in [1, 2, 3] {
            assert!(
                sees_all(&m, &t, qs, 0),
                "question {qs} sees the shared prefix"
            );
        }
        assert!(!sees_any(&m, &t, 3, 1));
    }

    #[test]
    fn flex_shared_suffix_and_generated_see_everything_before() {
        let t = flex_table(true, true);
        let m = flex_rule(&t);
        for ks in 0..5 {
            assert!(sees_all(&m, &t, 4, ks), "suffix sees segment {ks}");
            assert!(sees_all(&m, &t, 5, ks), "generated sees segment {ks}");
        }
    }

    #[test]
    fn rule_tables_are_data() {
        assert!(grants(
            STRUCTURED_RULES,
            RoleKind::FewShotAnswer,
            RoleKind::FewShotQuestion,
            Relation::SameGroup
        ));
        assert!(!grants(
            STRUCTURED_RULES,
            RoleKind::FewShotQuestion,
            RoleKind::FewShotQuestion,
            Relation::SameGroup
        ));
        assert!(!grants(
            STRUCTURED_RULES,
            RoleKind::Question,
            RoleKind::Question,
            Relation::OtherGroup
        ));
        assert!(!grants(
            FLEX_RULES,
            RoleKind::Question,
            RoleKind::Question,
            Relation::OtherGroup
        ));
        assert_eq!(
            RoleKind::classify(Role::Shared, 0, Some(1)),
            RoleKind::SharedPrefix
        );
        assert_eq!(
            RoleKind::classify(Role::Shared, 3, Some(1)),
            RoleKind::SharedSuffix
        );
        assert_eq!(
            RoleKind::classify(Role::Shared, 3, None),
            RoleKind::SharedPrefix
        );
    }
}
