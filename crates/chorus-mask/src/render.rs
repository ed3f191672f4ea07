//! Pictures of masks: ASCII for terminals and tests (always built); PNG for
//! documentation lives in [`crate::picture`] behind the `png` feature.

use crate::dense::DenseMask;
use crate::role::Role;
use crate::segment::SegmentTable;

/// A labelled span of token indices (rows or columns of a picture).
pub(crate) struct Band {
    pub(crate) start: usize,
    pub(crate) label: String,
    /// Read by the PNG pictures only (colours by role).
    #[cfg_attr(not(feature = "png"), allow(dead_code))]
    pub(crate) role: Role,
}

/// The segments of `table` as bands over `offset..offset + len`, with the tokens
/// past the prompt as one `G` band.
pub(crate) fn bands(table: &SegmentTable, offset: usize, len: usize) -> Vec<Band> {
    let end = offset + len;
    let mut out: Vec<Band> = table
        .segments()
        .iter()
        .filter(|s| s.range.end > offset && s.range.start < end)
        .map(|s| Band {
            start: s.range.start.max(offset) - offset,
            label: s.role.short_label(),
            role: s.role,
        })
        .collect();
    if end > table.len() {
        out.push(Band {
            start: table.len().max(offset) - offset,
            label: Role::Generated.short_label(),
            role: Role::Generated,
        });
    }
    out
}

/// The band holding index `i` (bands are sorted by start).
pub(crate) fn band_at(bands: &[Band], i: usize) -> Option<&Band> {
    let idx = bands.partition_point(|b| b.start <= i);
    idx.checked_sub(1).map(|k| &bands[k])
}

/// Renders `mask` as text: `#` visible, `.` hidden, one line per query row. With
/// a table, each row starts with its segment label, `|` separates key segments and
/// a rule line separates query segments.
pub fn render_ascii(mask: &DenseMask, table: Option<&SegmentTable>) -> String {
    let row_bands = table.map(|t| bands(t, mask.q_start(), mask.q_len()));
    let col_bands = table.map(|t| bands(t, 0, mask.kv_len()));
    let width = row_bands
        .iter()
        .flatten()
        .map(|b| b.label.len())
        .max()
        .unwrap_or(0);
    let is_col_boundary = |c: usize| {
        c > 0
            && col_bands
                .as_ref()
                .is_some_and(|bs| bs.iter().any(|b| b.start == c))
    };
    let mut out = String::new();
    if let Some(cols) = &col_bands {
        let legend: Vec<String> = cols
            .iter()
            .map(|b| format!("{}@{}", b.label, b.start))
            .collect();
        out.push_str(&format!("{:width$} keys: {}\n", "", legend.join(" ")));
    }
    for r in 0..mask.q_len() {
        if let Some(rows) = &row_bands {
            if r > 0 && rows.iter().any(|b| b.start == r) {
                out.push_str(&format!("{:width$} ", ""));
                for c in 0..mask.kv_len() {
                    if is_col_boundary(c) {
                        out.push('+');
                    }
                    out.push('-');
                }
                out.push('\n');
            }
            let label = band_at(rows, r).map_or("", |b| b.label.as_str());
            out.push_str(&format!("{label:width$} "));
        }
        for c in 0..mask.kv_len() {
            if is_col_boundary(c) {
                out.push('|');
            }
            out.push(if mask.get(r, c) { '#' } else { '.' });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::predicate::causal;
    use crate::rules::flex_rule;

    /// Two question segments of 2 and 3 tokens (also drawn by the PNG tests).
    pub(crate) fn table() -> SegmentTable {
        SegmentTable::from_lengths(&[
            (Role::Question { paraphrase: 0 }, 2),
            (Role::Question { paraphrase: 1 }, 3),
        ])
        .unwrap()
    }

    #[test]
    fn ascii_without_table_is_a_plain_grid() {
        let m = DenseMask::compile(&causal(), 0..3, 3);
        assert_eq!(render_ascii(&m, None), "#..\n##.\n###\n");
    }

    #[test]
    fn ascii_with_table_labels_rows_and_separates_segments() {
        let t = table();
        let m = DenseMask::compile(&flex_rule(&t), 0..6, 6);
        let text = render_ascii(&m, Some(&t));
        let expected = concat!(
            "   keys: Q0@0 Q1@2 G@5\n",
            "Q0 #.|...|.\n",
            "Q0 ##|...|.\n",
            "   --+---+-\n",
            "Q1 ..|#..|.\n",
            "Q1 ..|##.|.\n",
            "Q1 ..|###|.\n",
            "   --+---+-\n",
            "G  ##|###|#\n",
        );
        assert_eq!(text, expected);
    }
}
