#!/usr/bin/env python3
"""Writes the notebooks' cells (without outputs): `python3 notebooks/make_notebooks.py`.

The cells of 02-paraphrase-ensemble.ipynb are the marked regions of
examples/notebook_ensemble.rs (a test in tests/notebooks.rs keeps them equal), so
that notebook is written from the example. Execute them afterwards
(notebooks/README.md) to fill in the outputs.
"""
import pathlib
import re

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
KERNEL = {
    "kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"},
    "language_info": {"name": "Rust", "file_extension": ".rs", "mimetype": "text/rust"},
}


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text):
    return nbformat.v4.new_code_cell(text.strip())


def mask_notebook():
    cells = [
        md("""
# The mask algebra

`chorus-mask` describes attention masks as data, in the spirit of PyTorch
FlexAttention's `mask_mod`: a predicate over `(batch, head, q_idx, kv_idx)`, combinators
(`and`, `or`, `not`), segment tables with roles, and compilation to a dense bit mask,
FlexAttention's block-sparse `BlockMask` and per-row key intervals (what Chorus's
kernels read). No Burn, no model: this notebook only needs `chorus-mask`.

Pictures show visible cells coloured by the role of their key (hidden cells light
grey), segment boundaries as lines, labels `I` (instruction), `F` (few-shot question),
`A` (few-shot answer), `Q0..` (question paraphrases), `S` (shared), `G` (generated).
"""),
        code("""
:cache 1000
// Compiled crates are cached in evcxr's cache folder (~/.cache/evcxr), outside the clone.
:dep chorus-mask = { path = "../crates/chorus-mask" }
"""),
        code("""
use chorus_mask::{
    and, causal, flex_rule, not, sliding_window, structured_rule, BlockKind, BlockMask, DenseMask,
    IntervalMask, MaskPicture, MaskPredicate, Role, SegmentTable,
};
use chorus_mask::gallery::{gallery_flex_table, gallery_share_prefix_table, gallery_structured_table};
"""),
        md("""
## Predicates: the FlexAttention vocabulary

| FlexAttention | chorus-mask |
|---|---|
| `mask_mod(b, h, q_idx, kv_idx) -> bool` | `MaskPredicate::visible(b, h, q, kv)`, or any closure of that shape |
| `causal_mask` | `causal()` |
| `and_masks`, `or_masks` | `and(a, b)`, `or(a, b)`, plus `not(a)` |
| sliding window, prefix LM, document masking | `sliding_window(w)`, `prefix_lm(n)`, `document(ids)` |
| `score_mod` (additive bias) | `ScoreBias`, `shared_prefix_bias` |
| `create_block_mask(...)` → `BlockMask` | `BlockMask::compile(&rule, q_len, kv_len, block)` |
| — | `IntervalMask`: per query row, the visible key ranges |
"""),
        code("""
// Causal attention restricted to a window of 4 keys, drawn over 12 tokens.
let window = DenseMask::compile(&and(causal(), sliding_window(4)), 0..12, 12);
println!("causal(5, 2) = {}, causal(2, 5) = {}", causal().visible(0, 0, 5, 2), causal().visible(0, 0, 2, 5));
println!("window: row 9 sees key 4: {}, key 7: {}", window.get(9, 4), window.get(9, 7));
// A cell's final value is shown through its type's `evcxr_display` (as in the cells
// below); here it is called by hand, because in our runs evcxr 0.22 showed this
// first picture with Debug instead.
MaskPicture::new(&window, None)?.evcxr_display();
"""),
        md("""
## Causal attention over a packed sequence

Three paraphrases of one question packed into one sequence, then the shared `"\\nA:"`
suffix (`S`) and four generated tokens. Plain causal attention lets paraphrase 2 read
paraphrases 0 and 1 — what the Python pipeline silently fell back to.
"""),
        code("""
let flex_table = gallery_flex_table()?;
let len = flex_table.len() + 4; // + 4 generated tokens
println!("segments: {:?}", flex_table.segments().iter().map(|s| (s.role, s.range.clone())).collect::<Vec<_>>());
MaskPicture::new(&DenseMask::compile(&causal(), 0..len, len), Some(&flex_table))?
"""),
        md("""
## The flex mask

`flex_rule` turns the table into a predicate from the declarative rule table
`FLEX_RULES`: a paraphrase sees only itself (causally); the shared suffix and every
generated token see all paraphrases. The ensemble happens inside attention.
"""),
        code("""
// Rules borrow their table, and evcxr keeps only owned values between cells:
// the compiled mask is kept, the rule is rebuilt where needed.
let flex_dense = DenseMask::compile(&flex_rule(&flex_table), 0..len, len);
println!("visible cells: causal {} vs flex {}", DenseMask::compile(&causal(), 0..len, len).count_visible(), flex_dense.count_visible());
MaskPicture::new(&flex_dense, Some(&flex_table))?
"""),
        md("""
## Share-prefix

With `--share-prefix` (Chorus's default) the instruction and few-shot block are one
shared segment at the start, seen by every paraphrase; a `ln k` score bias on it keeps
the generations equal to the k-copies layout.
"""),
        code("""
let share_table = gallery_share_prefix_table()?;
let share_len = share_table.len() + 4;
MaskPicture::new(&DenseMask::compile(&flex_rule(&share_table), 0..share_len, share_len), Some(&share_table))?
"""),
        md("""
## The structured MyriadLAMA mask

Instruction, few-shot examples with several question phrasings and an answer each,
then the question's paraphrases: `STRUCTURED_RULES` says which role sees which
(phrasings of one example do not see each other; answers see their example's
phrasings; every question paraphrase sees the instruction and all examples).
"""),
        code("""
let structured_table = gallery_structured_table()?;
let structured_len = structured_table.len() + 4;
MaskPicture::new(&DenseMask::compile(&structured_rule(&structured_table), 0..structured_len, structured_len), Some(&structured_table))?
"""),
        md("""
## Tables built by hand

A `SegmentTable` is contiguous segments with roles; any predicate can be combined
with it, e.g. the flex rule restricted to a sliding window.
"""),
        code("""
let table = SegmentTable::from_lengths(&[
    (Role::Shared, 4),
    (Role::Question { paraphrase: 0 }, 5),
    (Role::Question { paraphrase: 1 }, 5),
    (Role::Shared, 2),
])?;
let total = table.len() + 3;
let windowed = DenseMask::compile(
    &and(flex_rule(&table), not(|_b: usize, _h: usize, q: usize, kv: usize| q >= kv + 10)),
    0..total,
    total,
);
MaskPicture::new(&windowed, Some(&table))?
"""),
        md("""
## Compiled forms

The same flex mask as FlexAttention's block-sparse layout (per query block: the
partially visible key blocks and the fully visible ones; empty blocks are skipped),
and as per-row key intervals, the form Chorus's kernels receive. Both convert back to
the dense mask exactly.
"""),
        code("""
let blocks = BlockMask::compile(&flex_rule(&flex_table), len, len, 8)?;
println!("{} x {} blocks of 8, sparsity {:.2}", blocks.num_q_blocks(), blocks.num_kv_blocks(), blocks.sparsity());
for q_block in 0..blocks.num_q_blocks() {
    let kinds: Vec<&str> = (0..blocks.num_kv_blocks())
        .map(|kv_block| match blocks.block_kind(q_block, kv_block) {
            BlockKind::Skipped => ".",
            BlockKind::Partial => "p",
            BlockKind::Full => "F",
        })
        .collect();
    println!("q block {q_block}: {}  kv_indices {:?} full_kv_indices {:?}", kinds.join(" "), blocks.kv_indices(q_block), blocks.full_kv_indices(q_block));
}
assert_eq!(blocks.to_dense(), flex_dense);
"""),
        code("""
let intervals = IntervalMask::compile(&flex_rule(&flex_table), 0..len, len);
for row in [0, 9, 16, 24, 27] {
    println!("row {row:>2} sees {:?}", intervals.row(row));
}
println!("{} ranges in all for {} rows", intervals.num_ranges(), intervals.q_len());
assert_eq!(intervals.to_dense(), flex_dense);
"""),
        md("""
## Incremental compilation

A decoder needs only the rows of the new tokens at each step: compiling the
predicate over a sub-range of query rows gives exactly those rows of the full mask.
"""),
        code("""
let step = len - 1; // the last generated token
let row = DenseMask::compile(&flex_rule(&flex_table), step..step + 1, len);
assert!((0..len).all(|kv| row.get(0, kv) == flex_dense.get(step, kv)));
println!("step row sees {} of {} keys", row.count_visible(), len);
"""),
    ]
    nb = nbformat.v4.new_notebook(cells=cells, metadata=KERNEL)
    return nb


def ensemble_notebook():
    """The cells of examples/notebook_ensemble.rs: markdown from `//! md:` blocks,
    code from the regions between `// cell` markers."""
    source = (REPO / "examples" / "notebook_ensemble.rs").read_text()
    cells = []
    for kind, text in parse_example(source):
        cells.append(md(text) if kind == "md" else code(text))
    return nbformat.v4.new_notebook(cells=cells, metadata=KERNEL)


def parse_example(source):
    """Yields ("md" | "code", text) in order from the example's markers:
    `// md` followed by `// ` comment lines is a markdown cell; a `// cell` line starts
    a code cell that runs to `// end cell`, its lines dedented by four spaces;
    `// notebook: LINE` lines are notebook-only lines (evcxr commands) put in the cell."""
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped == "// md":
            i += 1
            text = []
            while i < len(lines) and lines[i].strip().startswith("//") and lines[i].strip() not in ("// cell", "// md"):
                text.append(re.sub(r"^\s*// ?", "", lines[i]))
                i += 1
            yield "md", "\n".join(text)
            continue
        if stripped == "// cell":
            i += 1
            text = []
            while lines[i].strip() != "// end cell":
                line = lines[i]
                note = re.match(r"^\s*// notebook: (.*)$", line)
                text.append(note.group(1) if note else line[4:] if line.startswith("    ") else line.strip())
                i += 1
            yield "code", "\n".join(text)
        i += 1


def main():
    wanted = __import__("sys").argv[1:] or ["01", "02"]
    for name, build in [("01-mask-algebra.ipynb", mask_notebook), ("02-paraphrase-ensemble.ipynb", ensemble_notebook)]:
        if name[:2] in wanted:
            path = HERE / name
            nbformat.write(build(), path)
            print("wrote", path)


if __name__ == "__main__":
    main()
