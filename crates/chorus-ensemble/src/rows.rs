//! Prompt rows: token ids, position ids and visibility of one sequence to encode.
//!
//! A [`RowPlan`] is what the decoding loop needs to know about one batch row: the
//! standard prompt of one paraphrase (causal), or a packed flex sequence with its
//! compiled prompt mask and, for `--share-prefix`, its score bias; and how many
//! of its leading tokens are the run's shared context (instruction + few-shot
//! block), which the engine may encode once for every row.

use std::ops::Range;

use chorus_llama::{PromptPrefix, Tokenizer};
use chorus_mask::{
    IntervalMask, Role, SegmentTable, flex_rule, shared_prefix_bias, structured_rule,
};
use chorus_prompt::{FlexOptions, PromptContext, PromptLayout};

use crate::config::{FlexConfig, FlexMask, Positions};
use crate::error::EnsembleError;

/// Score bias of a row (`--share-prefix`): a value added on one range of keys
/// (the one shared prefix that stands for `k` copies).
#[derive(Debug, Clone, PartialEq)]
pub struct RowBias {
    /// The keys the bias applies to.
    pub keys: Range<usize>,
    /// Per prompt token, its bias on those keys.
    pub prompt: Vec<f32>,
    /// Every generated token's bias on those keys.
    pub generated: f32,
}

/// One sequence to encode and continue.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    /// Prompt token ids.
    pub tokens: Vec<u32>,
    /// Position id of every prompt token.
    pub positions: Vec<usize>,
    /// Position id of the first generated token (then +1 per step).
    pub next_position: usize,
    /// Visibility among prompt tokens (`len` query rows over `len` keys); `None`
    /// means causal. Generated tokens always see every prompt token and every
    /// earlier generated one.
    pub prompt_mask: Option<IntervalMask>,
    /// Optional additive score bias.
    pub bias: Option<RowBias>,
    /// Leading tokens that are the run's context (instruction + few-shot block)
    /// and may be shared with every other row; 0 when the row's tokens do not
    /// start with it.
    pub context_len: usize,
}

impl RowPlan {
    /// A causal row with positions `0..len`.
    pub fn causal(tokens: Vec<u32>) -> Self {
        let len = tokens.len();
        Self {
            positions: (0..len).collect(),
            next_position: len,
            tokens,
            prompt_mask: None,
            bias: None,
            context_len: 0,
        }
    }

    /// Number of prompt tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the row has no token (never true for a planned row).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether prompt query `q` sees prompt key `kv`.
    pub fn sees(&self, q: usize, kv: usize) -> bool {
        match &self.prompt_mask {
            Some(mask) => mask.get(q, kv),
            None => kv <= q,
        }
    }
}

/// A packed flex row with the texts of its segments.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedRow {
    /// The row to encode.
    pub row: RowPlan,
    /// Segment texts in order (their concatenation is the packed prompt).
    pub segment_texts: Vec<String>,
    /// The segment table over the prompt tokens.
    pub table: SegmentTable,
}

/// Builds rows from the run's prompt context and the model's tokenizer.
#[derive(Debug, Clone, Copy)]
pub struct Prompter<'a> {
    /// Instruction and few-shot examples.
    pub context: &'a PromptContext,
    /// The model's tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// The context's shared prefix (instruction + few-shot block) encoded
    /// once: its ids (BOS first iff the tokenizer adds one) are what every
    /// prompt is expected to start with, and prompts are encoded from its
    /// last word on.
    pub prefix: &'a PromptPrefix,
}

/// `context`'s shared prefix, encoded as a prompt start.
pub fn context_prefix(
    context: &PromptContext,
    tokenizer: &Tokenizer,
) -> Result<PromptPrefix, EnsembleError> {
    Ok(PromptPrefix::new(tokenizer, &context.prefix_text())?)
}

impl Prompter<'_> {
    /// The standard prompt text of one paraphrase.
    pub fn standard_text(&self, paraphrase: &str) -> String {
        self.context.standard_prompt(paraphrase)
    }

    /// The standard prompt of one paraphrase, encoded whole (BOS first iff the
    /// tokenizer adds one), causal, positions `0..len`.
    pub fn standard_row(
        &self,
        item_index: usize,
        paraphrase: &str,
    ) -> Result<RowPlan, EnsembleError> {
        let tokens = self.prefix.encode_prompt(&self.standard_text(paraphrase))?;
        if tokens.is_empty() {
            return Err(EnsembleError::EmptySegment {
                item_index,
                segment: 0,
                role: "standard prompt".into(),
            });
        }
        let mut row = RowPlan::causal(tokens);
        row.context_len = self.context_len_of(&row.tokens);
        Ok(row)
    }

    /// The context's length if `tokens` start with it, else 0.
    fn context_len_of(&self, tokens: &[u32]) -> usize {
        let ids = self.prefix.ids();
        if !ids.is_empty() && tokens.starts_with(ids) {
            ids.len()
        } else {
            0
        }
    }

    /// All paraphrases packed into one row (docs/DESIGN.md, "Flex semantics").
    pub fn packed_row(
        &self,
        item_index: usize,
        paraphrases: &[String],
        flex: &FlexConfig,
    ) -> Result<PackedRow, EnsembleError> {
        flex.validate()?;
        let layout = match flex.mask {
            FlexMask::Flex => self.context.flex(
                paraphrases,
                FlexOptions {
                    share_prefix: flex.shares_prefix(),
                    fuse_first: flex.fuse_first,
                },
            )?,
            FlexMask::Structured => self
                .context
                .structured(paraphrases, flex.questions_per_example)?,
        };
        let segments = self.tokenize_segments(&layout)?;
        let lengths: Vec<(Role, usize)> = segments
            .iter()
            .map(|(role, _, ids)| (*role, ids.len()))
            .collect();
        let table = SegmentTable::from_lengths(&lengths)
            .map_err(|source| EnsembleError::Mask { item_index, source })?;
        let (positions, next_position) = match flex.positions {
            Positions::Segment => segment_positions(&lengths),
            Positions::Continuous => ((0..table.len()).collect(), table.len()),
        };
        let prompt_mask = match flex.mask {
            FlexMask::Flex => {
                IntervalMask::compile(&flex_rule(&table), 0..table.len(), table.len())
            }
            FlexMask::Structured => {
                IntervalMask::compile(&structured_rule(&table), 0..table.len(), table.len())
            }
        };
        let bias = flex
            .shares_prefix()
            .then(|| share_prefix_row_bias(&table, paraphrases.len()));
        // The structured layout's context is its instruction and few-shot
        // segments (tokenised and positioned as the layout has them); the flex
        // layouts start with the context's own ids.
        let structured_context: usize = match flex.mask {
            FlexMask::Structured => table
                .segments()
                .iter()
                .take_while(|s| !matches!(s.role, Role::Question { .. }))
                .map(|s| s.range.len())
                .sum(),
            FlexMask::Flex => 0,
        };
        let mut tokens = Vec::with_capacity(table.len());
        let mut segment_texts = Vec::with_capacity(segments.len());
        for (_, text, ids) in segments {
            tokens.extend(ids);
            segment_texts.push(text);
        }
        let context_len = match flex.mask {
            FlexMask::Structured => structured_context,
            FlexMask::Flex => self.context_len_of(&tokens),
        };
        Ok(PackedRow {
            row: RowPlan {
                tokens,
                positions,
                next_position,
                prompt_mask: Some(prompt_mask),
                bias,
                context_len,
            },
            segment_texts,
            table,
        })
    }

    /// Tokenises each non-empty segment on its own; with a BOS-adding tokenizer,
    /// every segment that starts a standalone prompt (the first one and its
    /// siblings) begins with BOS.
    fn tokenize_segments(
        &self,
        layout: &PromptLayout,
    ) -> Result<Vec<(Role, String, Vec<u32>)>, EnsembleError> {
        let bos = self.tokenizer.bos_id().filter(|_| self.tokenizer.add_bos());
        let first_key = layout.segments().first().map(|s| sibling_key(s.role));
        let mut in_first_group = true;
        let mut out = Vec::with_capacity(layout.segments().len());
        for (index, segment) in layout.segments().iter().enumerate() {
            in_first_group &= index == 0
                || (sibling_key(segment.role).is_some()
                    && Some(sibling_key(segment.role)) == first_key);
            let mut ids = self.prefix.encode(&segment.text)?;
            if let (true, Some(bos)) = (in_first_group, bos) {
                ids.insert(0, bos);
            }
            if !ids.is_empty() {
                out.push((segment.role, segment.text.clone(), ids));
            }
        }
        Ok(out)
    }
}

/// Segments that are alternatives of each other (mutually invisible siblings)
/// start at the same position: the phrasings of one few-shot example, and the
/// question paraphrases.
fn sibling_key(role: Role) -> Option<(u8, usize)> {
    match role {
        Role::FewShotQuestion { example, .. } => Some((0, example)),
        Role::Question { .. } => Some((1, 0)),
        _ => None,
    }
}

/// `segment` positions (docs/DESIGN.md flex rule 2): every segment continues from the
/// end of the longest segment before it, except that siblings (see
/// [`sibling_key`]) restart where their group starts, as each would in its own
/// standalone prompt. Returns the positions and the first generated position
/// (the largest end).
pub fn segment_positions(lengths: &[(Role, usize)]) -> (Vec<usize>, usize) {
    let mut positions = Vec::with_capacity(lengths.iter().map(|(_, len)| len).sum());
    let mut cursor = 0;
    let mut group: Option<((u8, usize), usize)> = None;
    for &(role, len) in lengths {
        let key = sibling_key(role);
        let start = match (key, group) {
            (Some(k), Some((group_key, group_start))) if k == group_key => group_start,
            (Some(k), _) => {
                group = Some((k, cursor));
                cursor
            }
            (None, _) => {
                group = None;
                cursor
            }
        };
        positions.extend(start..start + len);
        cursor = cursor.max(start + len);
    }
    (positions, cursor)
}

/// The `--share-prefix` bias of a packed row (chorus-mask's
/// [`shared_prefix_bias`]): `ln(k)` on the shared-prefix keys for the fused
/// suffix's prompt queries and for generated ones.
fn share_prefix_row_bias(table: &SegmentTable, copies: usize) -> RowBias {
    let bias = shared_prefix_bias(table, copies);
    RowBias {
        keys: bias.key_range(),
        prompt: bias.query_values(0..table.len()),
        generated: bias.value(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(paraphrase: usize) -> Role {
        Role::Question { paraphrase }
    }

    #[test]
    fn plain_flex_positions_restart_per_segment() {
        let (positions, next) = segment_positions(&[(q(0), 3), (q(1), 2)]);
        assert_eq!(positions, vec![0, 1, 2, 0, 1]);
        assert_eq!(next, 3);
    }

    #[test]
    fn shared_prefix_and_suffix_positions_continue_from_the_longest() {
        let (positions, next) =
            segment_positions(&[(Role::Shared, 2), (q(0), 1), (q(1), 3), (Role::Shared, 2)]);
        assert_eq!(positions, vec![0, 1, 2, 2, 3, 4, 5, 6]);
        assert_eq!(next, 7);
    }

    #[test]
    fn structured_siblings_share_their_start() {
        let fsq = |example, variant| Role::FewShotQuestion { example, variant };
        let lengths = [
            (Role::Instruction, 2),
            (fsq(0, 0), 2),
            (fsq(0, 1), 3),
            (Role::FewShotAnswer { example: 0 }, 1),
            (fsq(1, 0), 1),
            (q(0), 2),
            (q(1), 1),
            (Role::Shared, 1),
        ];
        let (positions, next) = segment_positions(&lengths);
        assert_eq!(positions, vec![0, 1, 2, 3, 2, 3, 4, 5, 6, 7, 8, 7, 9]);
        assert_eq!(next, 10);
    }
}
