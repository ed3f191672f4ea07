//! Plans packed for a device: a pass's tables and a step's selections, each
//! flattened into one u32 buffer that is uploaded in one copy (f32 values as
//! their bits). The CUDA kernels read them by offset; the packing itself is
//! plain host code, tested here without a GPU.

use crate::kernels::{Heads, PassPlan};
use crate::select::{Fusion, Selection};

/// Offsets (in u32 words) of each table in the packed buffer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Offsets {
    pub tok_row: usize,
    pub tok_slot: usize,
    pub tok_index: usize,
    /// Per token, its row in the `cos` / `sin` tables.
    pub tok_rope: usize,
    pub cos: usize,
    pub sin: usize,
    pub range_starts: usize,
    pub ranges: usize,
    pub bias_value: usize,
    pub bias_range: usize,
    pub row_shared: usize,
    pub tokens: usize,
    pub logit_tokens: usize,
}

/// The plan's tables, one after another, and where each starts.
pub(crate) fn pack(plan: &PassPlan) -> (Vec<u32>, Offsets) {
    let mut buffer: Vec<u32> = Vec::new();
    let at = |buffer: &mut Vec<u32>, values: &mut dyn Iterator<Item = u32>| {
        let start = buffer.len();
        buffer.extend(values);
        start
    };
    let tokens = plan.len();
    let rows: Vec<usize> = (0..tokens).map(|t| plan.token_rows[t] as usize).collect();
    let rope = RopeRows::of(plan);
    let offsets = Offsets {
        tok_row: at(&mut buffer, &mut plan.token_rows.iter().copied()),
        tok_slot: at(
            &mut buffer,
            &mut rows.iter().map(|&r| plan.rows[r].slot as u32),
        ),
        tok_index: at(
            &mut buffer,
            &mut (0..tokens).map(|t| {
                let row = &plan.rows[rows[t]];
                (row.cached + t - row.offset) as u32
            }),
        ),
        tok_rope: at(&mut buffer, &mut rope.token_rows.iter().copied()),
        cos: at(&mut buffer, &mut rope.rows(&plan.cos)),
        sin: at(&mut buffer, &mut rope.rows(&plan.sin)),
        range_starts: at(&mut buffer, &mut plan.range_starts.iter().copied()),
        ranges: at(&mut buffer, &mut plan.ranges.iter().flatten().copied()),
        bias_value: at(
            &mut buffer,
            &mut (0..tokens).map(|t| plan.token_bias(t).map_or(0.0f32, |b| b.value).to_bits()),
        ),
        bias_range: at(
            &mut buffer,
            &mut (0..tokens).flat_map(|t| {
                let b = plan.token_bias(t);
                [b.map_or(0, |b| b.start), b.map_or(0, |b| b.end)]
            }),
        ),
        row_shared: at(&mut buffer, &mut plan.rows.iter().map(|r| r.shared as u32)),
        tokens: at(&mut buffer, &mut plan.tokens.iter().copied()),
        logit_tokens: at(&mut buffer, &mut plan.logit_tokens.iter().copied()),
    };
    // Never empty: a zero-length device allocation is an error.
    buffer.push(0);
    (buffer, offsets)
}

/// Tokens of one tile at most: four warps of `attend_own_tiles` taking four
/// tokens each, or one tensor-core fragment row per token (the m16n8k16
/// fragments of its tensor-core path and of `attend_fused` have 16 rows, so
/// this must not grow past 16 without them).
pub(crate) const TILE_TOKENS: usize = 16;

/// A run of consecutive tokens of one row whose own keys (the keys past the
/// row's shared context that they see) all lie in `[lo, hi)` of the row's key
/// space: `attend_own_tiles` copies those keys into shared memory once for the
/// whole tile instead of once per token. A prefill segment of n tokens sees
/// ~n/2 own keys per token, all among the segment's n, so a tile turns ~n²/2
/// key reads from the cache into n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnTile {
    /// First token (pass order).
    pub first: u32,
    /// Tokens in the tile.
    pub count: u32,
    /// First own key any of them sees (row key space); `hi == lo` when none does.
    pub lo: u32,
    /// One past the last own key any of them sees.
    pub hi: u32,
}

/// Shared memory `attend_own_tiles` may use (static shared memory stops at
/// 48 KiB; 40 leave room for five blocks per SM).
const TILE_SHARED_BYTES: usize = 40 << 10;

/// Shared memory of one own-part block of `warps` warps before any key (as
/// attention.cu lays it out): each warp's queries in f32, and, when they fit
/// in the same budget (`OWN_PREFETCH`), each warp's copy of the shared part's
/// output rows, maxima and sums that its token merges with.
fn own_block_bytes(heads: Heads, warps: usize) -> usize {
    let (group, dim) = (heads.group(), heads.dim);
    let queries = warps * group * dim * 4;
    let merge_inputs = warps * (group * dim + 2 * group) * 4;
    if queries + merge_inputs <= TILE_SHARED_BYTES {
        queries + merge_inputs
    } else {
        queries
    }
}

/// Keys of a tile's window that fit in shared memory beside what every
/// own-part block holds ([`own_block_bytes`]), with key rows padded by 64
/// bytes; at most 48, and 0 (no tiled kernel) when fewer than 8 fit or the
/// head dim is not a multiple of 32.
pub(crate) fn tile_keys(heads: Heads, elem_bytes: usize, warps: usize) -> usize {
    if !heads.dim.is_multiple_of(32) {
        return 0;
    }
    let per_key = (2 * heads.dim + 64 / elem_bytes) * elem_bytes;
    let keys = TILE_SHARED_BYTES.saturating_sub(own_block_bytes(heads, warps)) / per_key;
    if keys < 8 { 0 } else { keys.min(48) }
}

/// The own-key window of token `t`: the smallest `[lo, hi)` holding every key
/// at or past its row's shared context that it sees (`lo == hi` when none).
fn own_window(plan: &PassPlan, t: usize) -> (u32, u32) {
    let shared = plan.token_row(t).shared as u32;
    let own = plan
        .token_ranges(t)
        .iter()
        .map(|&[start, end]| (start.max(shared), end))
        .filter(|(start, end)| start < end);
    own.fold(
        None,
        |window: Option<(u32, u32)>, (start, end)| match window {
            Some((lo, hi)) => Some((lo.min(start), hi.max(end))),
            None => Some((start, end)),
        },
    )
    .unwrap_or((shared, shared))
}

/// The pass's tokens cut into [`OwnTile`]s, in order: a tile grows while the
/// next token is of the same row, starts its window at the same key (a new
/// segment of a flex row starts a new tile, so segments never share a window),
/// and keeps the union window within `max_keys`; at most `max_tokens` tokens.
/// A token whose own window alone is wider than `max_keys` gets a tile of its
/// own (the kernel then reads its keys from the cache).
pub(crate) fn own_tiles(plan: &PassPlan, max_tokens: usize, max_keys: usize) -> Vec<OwnTile> {
    let mut tiles: Vec<OwnTile> = Vec::new();
    for t in 0..plan.len() {
        let (lo, hi) = own_window(plan, t);
        if let Some(tile) = tiles.last_mut() {
            let joins = plan.token_rows[tile.first as usize] == plan.token_rows[t]
                && (tile.count as usize) < max_tokens
                && tile.lo == lo
                && (tile.hi.max(hi) - lo) as usize <= max_keys;
            if joins {
                tile.count += 1;
                tile.hi = tile.hi.max(hi);
                continue;
            }
        }
        tiles.push(OwnTile {
            first: t as u32,
            count: 1,
            lo,
            hi,
        });
    }
    tiles
}

/// The distinct positions of a pass: a prefill of thousands of rows repeats
/// the same few hundred positions, so the RoPE tables are packed once per
/// position (the upload of a 2,032-item Llama-3B prefill: 115 MB → 0.1 MB).
struct RopeRows {
    /// Per token, the index of its position among the distinct ones.
    token_rows: Vec<u32>,
    /// Per distinct position, the first token that has it.
    first_token: Vec<usize>,
    half: usize,
}

impl RopeRows {
    fn of(plan: &PassPlan) -> Self {
        let tokens = plan.len();
        let half = plan.cos.len().checked_div(tokens).unwrap_or(0);
        let mut index_of: std::collections::HashMap<u32, u32> = Default::default();
        let mut first_token = Vec::new();
        let token_rows = plan
            .positions
            .iter()
            .enumerate()
            .map(|(t, &p)| {
                *index_of.entry(p).or_insert_with(|| {
                    first_token.push(t);
                    (first_token.len() - 1) as u32
                })
            })
            .collect();
        Self {
            token_rows,
            first_token,
            half,
        }
    }

    /// The per-token `table` reduced to one row per distinct position, as bits.
    fn rows<'a>(&'a self, table: &'a [f32]) -> impl Iterator<Item = u32> + 'a {
        self.first_token
            .iter()
            .flat_map(move |&t| &table[t * self.half..(t + 1) * self.half])
            .map(|v| v.to_bits())
    }
}

/// The selections of one step for the `select_tokens` kernel: per selection
/// its kind (0 one row, 1 mean, 2 weighted mean, 3 maximum probability), its
/// members (compressed rows), normalised weights and whether the chosen
/// token's probability is wanted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PackedSelections {
    pub buffer: Vec<u32>,
    pub kinds: usize,
    pub member_starts: usize,
    pub members: usize,
    pub weights: usize,
    pub want_probability: usize,
}

/// Rows a maximum-of-probabilities fusion may read on the device.
pub(crate) const MAX_SOFTMAX_ROWS: usize = 16;

/// Packs `selections`, or `None` when one of them is beyond what the kernel
/// handles (a maximum of probabilities over more than [`MAX_SOFTMAX_ROWS`]
/// rows): the caller then selects on the host.
pub(crate) fn pack_selections(selections: &[Selection]) -> Option<PackedSelections> {
    let mut kinds = Vec::with_capacity(selections.len());
    let mut starts = vec![0u32];
    let mut members = Vec::new();
    let mut weights = Vec::new();
    for selection in selections {
        let rows = selection.fusion.rows();
        let (kind, row_weights) = match &selection.fusion {
            Fusion::Row(_) => (0, vec![1.0; rows.len()]),
            Fusion::Mean(_) => (1, vec![1.0; rows.len()]),
            Fusion::WeightedMean { weights, .. } => match normalised(weights, rows.len()) {
                Some(w) => (2, w),
                None => (1, vec![1.0; rows.len()]),
            },
            Fusion::MaxProbability(_) if rows.len() > MAX_SOFTMAX_ROWS => return None,
            Fusion::MaxProbability(_) => (3, vec![1.0; rows.len()]),
        };
        let rows = if kind == 0 {
            &rows[..1.min(rows.len())]
        } else {
            rows
        };
        kinds.push(kind);
        members.extend(rows.iter().map(|&r| r as u32));
        weights.extend(
            row_weights
                .iter()
                .take(rows.len())
                .map(|w: &f32| w.to_bits()),
        );
        starts.push(members.len() as u32);
    }
    let want: Vec<u32> = selections
        .iter()
        .map(|s| u32::from(s.probability))
        .collect();
    let mut buffer = Vec::new();
    let mut push = |values: &[u32]| {
        let start = buffer.len();
        buffer.extend_from_slice(values);
        start
    };
    let kinds_at = push(&kinds);
    let starts_at = push(&starts);
    let members_at = push(&members);
    let weights_at = push(&weights);
    let want_at = push(&want);
    buffer.push(0);
    Some(PackedSelections {
        buffer,
        kinds: kinds_at,
        member_starts: starts_at,
        members: members_at,
        weights: weights_at,
        want_probability: want_at,
    })
}

/// Weights divided by their sum, as [`crate::select::weighted_mean`] uses them;
/// `None` when that falls back to the plain mean.
fn normalised(weights: &[f64], rows: usize) -> Option<Vec<f32>> {
    let total: f64 = weights.iter().take(rows).sum();
    if !(total.is_finite() && total > 0.0) || weights.len() < rows {
        return None;
    }
    Some(weights[..rows].iter().map(|w| (w / total) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{Heads, RowPass, TokenBias};

    #[test]
    fn tables_land_at_their_offsets() {
        let mut plan = PassPlan::new(Heads {
            query: 2,
            key_value: 1,
            dim: 4,
        });
        plan.tokens = vec![7, 8, 9];
        plan.positions = vec![0, 1, 5];
        plan.token_rows = vec![0, 0, 1];
        plan.cos = vec![1.0, 1.5, 2.0, 2.5, 1.0, 1.5];
        plan.sin = vec![0.5; 6];
        plan.positions = vec![3, 4, 3];
        plan.rows = vec![
            RowPass {
                slot: 3,
                shared: 0,
                cached: 0,
                len: 2,
                offset: 0,
            },
            RowPass {
                slot: 1,
                shared: 4,
                cached: 2,
                len: 1,
                offset: 2,
            },
        ];
        plan.range_starts = vec![0, 1, 2, 4];
        plan.ranges = vec![[0, 1], [0, 2], [0, 4], [5, 7]];
        plan.bias = Some(vec![
            TokenBias::NONE,
            TokenBias::NONE,
            TokenBias {
                value: 2.0,
                start: 0,
                end: 4,
            },
        ]);
        plan.logit_tokens = vec![1, 2];
        let (buffer, o) = pack(&plan);
        assert_eq!(&buffer[o.tok_slot..o.tok_slot + 3], &[3, 3, 1]);
        assert_eq!(&buffer[o.tok_index..o.tok_index + 3], &[0, 1, 2]);
        assert_eq!(f32::from_bits(buffer[o.sin]), 0.5);
        // Positions 3, 4, 3: two table rows, the third token reads the first.
        assert_eq!(&buffer[o.tok_rope..o.tok_rope + 3], &[0, 1, 0]);
        let cos: Vec<f32> = buffer[o.cos..o.cos + 4]
            .iter()
            .map(|&b| f32::from_bits(b))
            .collect();
        assert_eq!(cos, [1.0, 1.5, 2.0, 2.5]);
        assert_eq!(o.sin - o.cos, 4);
        assert_eq!(&buffer[o.ranges + 6..o.ranges + 8], &[5, 7]);
        assert_eq!(f32::from_bits(buffer[o.bias_value + 2]), 2.0);
        assert_eq!(&buffer[o.bias_range + 4..o.bias_range + 6], &[0, 4]);
        assert_eq!(&buffer[o.row_shared..o.row_shared + 2], &[0, 4]);
        assert_eq!(&buffer[o.logit_tokens..o.logit_tokens + 2], &[1, 2]);
        assert_eq!(buffer[o.tokens + 2], 9);
    }

    /// A pass of rows `(shared, segment lengths)`: every token sees the shared
    /// context and its own segment up to itself (a flex prefill; one segment
    /// is a plain causal row).
    fn segmented_plan(rows: &[(usize, Vec<usize>)]) -> PassPlan {
        let mut plan = PassPlan::new(Heads {
            query: 2,
            key_value: 1,
            dim: 4,
        });
        for (slot, (shared, segments)) in rows.iter().enumerate() {
            let len: usize = segments.iter().sum();
            let offset = plan.len();
            plan.rows.push(RowPass {
                slot,
                shared: *shared,
                cached: 0,
                len,
                offset,
            });
            let mut start = *shared;
            for &segment in segments {
                for i in 0..segment {
                    plan.tokens.push(0);
                    plan.positions.push(i as u32);
                    plan.token_rows.push(slot as u32);
                    if *shared > 0 {
                        plan.ranges.push([0, *shared as u32]);
                    }
                    plan.ranges.push([start as u32, (start + i + 1) as u32]);
                    plan.range_starts.push(plan.ranges.len() as u32);
                }
                start += segment;
            }
        }
        plan
    }

    fn spans(tiles: &[OwnTile]) -> Vec<[u32; 4]> {
        tiles
            .iter()
            .map(|t| [t.first, t.count, t.lo, t.hi])
            .collect()
    }

    #[test]
    fn tile_windows_fit_shared_memory_beside_the_queries() {
        let heads = |query, key_value, dim| Heads {
            query,
            key_value,
            dim,
        };
        // Llama-3.2-3B in bf16: 6 KiB of queries and 6.1 KiB of merge inputs
        // leave 27.9 KiB, 49 keys of 576 bytes: 48 kept (40,032 bytes in all,
        // as ptxas reports for the kernel).
        assert_eq!(tile_keys(heads(24, 8, 128), 2, 4), 48);
        // Group 8 of 256-dim heads: 32 KiB of queries (the merge inputs no
        // longer fit beside them) leave 8 KiB, 7 keys: no tiles.
        assert_eq!(tile_keys(heads(16, 2, 256), 2, 4), 0);
        // f32 keys of 128 dims: (40 KiB - 12.1 KiB) / 1088 bytes.
        assert_eq!(tile_keys(heads(24, 8, 128), 4, 4), 26);
        // Qwen2-7B's group of 7 in bf16: 28.2 KiB before any key, 20 keys.
        assert_eq!(tile_keys(heads(28, 4, 128), 2, 4), 20);
        assert_eq!(tile_keys(heads(9, 3, 80), 2, 4), 0);
    }

    #[test]
    fn tiles_cut_causal_rows_at_the_token_limit_and_at_rows() {
        let plan = segmented_plan(&[(5, vec![20]), (5, vec![20])]);
        let tiles = own_tiles(&plan, 16, 48);
        assert_eq!(
            spans(&tiles),
            [
                [0, 16, 5, 21],
                [16, 4, 5, 25],
                [20, 16, 5, 21],
                [36, 4, 5, 25]
            ]
        );
    }

    #[test]
    fn tiles_never_span_two_segments_of_a_flex_row() {
        let plan = segmented_plan(&[(3, vec![3, 4]), (0, vec![2])]);
        let tiles = own_tiles(&plan, 16, 48);
        assert_eq!(spans(&tiles), [[0, 3, 3, 6], [3, 4, 6, 10], [7, 2, 0, 2]]);
    }

    #[test]
    fn tokens_wider_than_the_key_limit_get_tiles_of_their_own() {
        let plan = segmented_plan(&[(0, vec![6])]);
        let tiles = own_tiles(&plan, 16, 4);
        assert_eq!(spans(&tiles), [[0, 4, 0, 4], [4, 1, 0, 5], [5, 1, 0, 6]]);
    }

    #[test]
    fn a_token_that_sees_only_the_shared_context_has_an_empty_window() {
        let mut plan = segmented_plan(&[(4, vec![1])]);
        plan.ranges = vec![[0, 4]];
        plan.range_starts = vec![0, 1];
        assert_eq!(spans(&own_tiles(&plan, 16, 48)), [[0, 1, 4, 4]]);
    }

    proptest::proptest! {
        /// Tiles cover the pass in order, stay within one row and the token
        /// limit, and every own key a token sees lies in its tile's window,
        /// which fits the key limit whenever the tile has several tokens.
        #[test]
        fn tiles_partition_the_pass_and_hold_every_own_key(
            rows in proptest::collection::vec(
                (0usize..40, proptest::collection::vec(1usize..30, 1..5)),
                1..5,
            ),
            max_tokens in 1usize..20,
            max_keys in 1usize..64,
        ) {
            let plan = segmented_plan(&rows);
            let tiles = own_tiles(&plan, max_tokens, max_keys);
            let mut next = 0u32;
            for tile in &tiles {
                proptest::prop_assert_eq!(tile.first, next);
                proptest::prop_assert!(tile.count >= 1 && tile.count as usize <= max_tokens);
                proptest::prop_assert!(tile.lo <= tile.hi);
                if tile.count > 1 {
                    proptest::prop_assert!((tile.hi - tile.lo) as usize <= max_keys);
                }
                for t in tile.first..tile.first + tile.count {
                    let t = t as usize;
                    proptest::prop_assert_eq!(plan.token_rows[t], plan.token_rows[tile.first as usize]);
                    let shared = plan.token_row(t).shared as u32;
                    for &[start, end] in plan.token_ranges(t) {
                        for key in start.max(shared)..end {
                            proptest::prop_assert!(tile.lo <= key && key < tile.hi);
                        }
                    }
                }
                next += tile.count;
            }
            proptest::prop_assert_eq!(next as usize, plan.len());
        }
    }

    #[test]
    fn selections_pack_kinds_members_and_normalised_weights() {
        let selections = vec![
            Selection {
                fusion: Fusion::Row(4),
                probability: true,
            },
            Selection {
                fusion: Fusion::Mean(vec![0, 1]),
                probability: false,
            },
            Selection {
                fusion: Fusion::WeightedMean {
                    rows: vec![2, 3],
                    weights: vec![3.0, 1.0],
                },
                probability: false,
            },
            Selection {
                fusion: Fusion::WeightedMean {
                    rows: vec![5],
                    weights: vec![0.0],
                },
                probability: false,
            },
            Selection {
                fusion: Fusion::MaxProbability(vec![6, 7, 8]),
                probability: false,
            },
        ];
        let p = pack_selections(&selections).unwrap();
        let b = &p.buffer;
        assert_eq!(&b[p.kinds..p.kinds + 5], &[0, 1, 2, 1, 3]);
        assert_eq!(
            &b[p.member_starts..p.member_starts + 6],
            &[0, 1, 3, 5, 6, 9]
        );
        assert_eq!(&b[p.members..p.members + 9], &[4, 0, 1, 2, 3, 5, 6, 7, 8]);
        assert_eq!(f32::from_bits(b[p.weights + 3]), 0.75);
        assert_eq!(f32::from_bits(b[p.weights + 4]), 0.25);
        assert_eq!(
            &b[p.want_probability..p.want_probability + 5],
            &[1, 0, 0, 0, 0]
        );
        let wide = vec![Selection {
            fusion: Fusion::MaxProbability((0..17).collect()),
            probability: false,
        }];
        assert!(pack_selections(&wide).is_none());
    }
}
