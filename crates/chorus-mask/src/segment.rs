//! Segments with roles and the validated table of them.

use std::ops::Range;

use crate::error::MaskError;
use crate::role::Role;

/// A span of prompt tokens with its role.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Token indices covered (start inclusive, end exclusive).
    pub range: Range<usize>,
    /// What the span is.
    pub role: Role,
}

impl Segment {
    /// A segment covering `range` with `role`.
    pub fn new(range: Range<usize>, role: Role) -> Self {
        Self { range, role }
    }

    /// Number of tokens in the segment.
    pub fn len(&self) -> usize {
        self.range.end.saturating_sub(self.range.start)
    }

    /// Whether the segment covers no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A validated, ordered list of segments covering prompt tokens `0..len()`
/// contiguously: no gaps, no overlaps, no empty segment.
///
/// Tokens at indices `>= len()` are generated tokens: rule sets treat them as one
/// extra [`Role::Generated`] region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTable {
    segments: Vec<Segment>,
    len: usize,
}

impl SegmentTable {
    /// Validates `segments`: they must be non-empty, start at token 0 and follow
    /// each other without gap or overlap. Errors name the offending segment.
    pub fn new(segments: Vec<Segment>) -> Result<Self, MaskError> {
        if segments.is_empty() {
            return Err(MaskError::EmptyTable);
        }
        let mut expected = 0usize;
        for (index, segment) in segments.iter().enumerate() {
            let (start, end, role) = (segment.range.start, segment.range.end, segment.role);
            if end < start {
                return Err(MaskError::OutOfRange {
                    index,
                    role,
                    start,
                    end,
                });
            }
            if start == end {
                return Err(MaskError::EmptySegment {
                    index,
                    role,
                    start,
                    end,
                });
            }
            if start > expected {
                return Err(MaskError::Gap {
                    index,
                    role,
                    start,
                    expected,
                });
            }
            if start < expected {
                return Err(MaskError::Overlap {
                    index,
                    role,
                    start,
                    expected,
                });
            }
            expected = end;
        }
        Ok(Self {
            segments,
            len: expected,
        })
    }

    /// Builds a table from consecutive `(role, token count)` pairs.
    pub fn from_lengths(lengths: &[(Role, usize)]) -> Result<Self, MaskError> {
        let mut start = 0usize;
        let mut segments = Vec::with_capacity(lengths.len());
        for (index, &(role, len)) in lengths.iter().enumerate() {
            let end = start.checked_add(len).ok_or(MaskError::OutOfRange {
                index,
                role,
                start,
                end: len,
            })?;
            segments.push(Segment::new(start..end, role));
            start = end;
        }
        Self::new(segments)
    }

    /// Total number of prompt tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a valid table covers at least one token. Provided for API
    /// symmetry with [`SegmentTable::len`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The segments in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Index of the segment that holds `token`, or `None` for a token past the
    /// prompt (a generated token). O(log segments).
    pub fn segment_of(&self, token: usize) -> Option<usize> {
        if token >= self.len {
            return None;
        }
        // First segment whose end is past the token.
        Some(self.segments.partition_point(|s| s.range.end <= token))
    }

    /// The role of `token`: its segment's role, or [`Role::Generated`] past the prompt.
    pub fn role_of(&self, token: usize) -> Role {
        self.segment_of(token)
            .map_or(Role::Generated, |i| self.segments[i].role)
    }

    /// The segment that holds `token`, or an error naming the token.
    pub fn segment_at(&self, token: usize) -> Result<&Segment, MaskError> {
        self.segment_of(token)
            .map(|i| &self.segments[i])
            .ok_or(MaskError::TokenOutOfRange {
                token,
                len: self.len,
            })
    }

    /// For every prompt token, the index of its segment (a lookup table for rules).
    pub fn token_segments(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len);
        for (index, segment) in self.segments.iter().enumerate() {
            // Segment counts beyond u32 are impossible in practice (each needs a token).
            let id = u32::try_from(index).unwrap_or(u32::MAX);
            out.extend(std::iter::repeat_n(id, segment.len()));
        }
        out
    }

    /// Index of the first `Question` segment, if any.
    pub fn first_question(&self) -> Option<usize> {
        self.segments
            .iter()
            .position(|s| matches!(s.role, Role::Question { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(p: usize) -> Role {
        Role::Question { paraphrase: p }
    }

    #[test]
    fn from_lengths_builds_contiguous_ranges() {
        let t = SegmentTable::from_lengths(&[(Role::Shared, 3), (q(0), 2), (q(1), 4)]).unwrap();
        assert_eq!(t.len(), 9);
        assert_eq!(t.segments()[1].range, 3..5);
        assert_eq!(t.segments()[2].range, 5..9);
        assert_eq!(t.segment_of(0), Some(0));
        assert_eq!(t.segment_of(2), Some(0));
        assert_eq!(t.segment_of(3), Some(1));
        assert_eq!(t.segment_of(8), Some(2));
        assert_eq!(t.segment_of(9), None);
        assert_eq!(t.role_of(9), Role::Generated);
        assert_eq!(t.token_segments(), vec![0, 0, 0, 1, 1, 2, 2, 2, 2]);
        assert_eq!(t.first_question(), Some(1));
    }

    #[test]
    fn empty_table_is_rejected() {
        assert!(matches!(
            SegmentTable::new(vec![]),
            Err(MaskError::EmptyTable)
        ));
    }

    #[test]
    fn empty_segment_names_index_and_role() {
        let err = SegmentTable::from_lengths(&[(Role::Shared, 3), (q(4), 0)]).unwrap_err();
        assert!(matches!(err, MaskError::EmptySegment { index: 1, role, .. } if role == q(4)));
        assert!(err.to_string().contains("segment 1"), "{err}");
        assert!(err.to_string().contains("paraphrase: 4"), "{err}");
    }

    #[test]
    fn gap_overlap_and_reversed_ranges_are_rejected() {
        let gap = SegmentTable::new(vec![Segment::new(0..2, q(0)), Segment::new(3..5, q(1))]);
        assert!(matches!(
            gap,
            Err(MaskError::Gap {
                index: 1,
                start: 3,
                expected: 2,
                ..
            })
        ));
        let first = SegmentTable::new(vec![Segment::new(1..2, q(0))]);
        assert!(matches!(
            first,
            Err(MaskError::Gap {
                index: 0,
                start: 1,
                expected: 0,
                ..
            })
        ));
        let overlap = SegmentTable::new(vec![Segment::new(0..4, q(0)), Segment::new(3..5, q(1))]);
        assert!(matches!(
            overlap,
            Err(MaskError::Overlap {
                index: 1,
                start: 3,
                expected: 4,
                ..
            })
        ));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = SegmentTable::new(vec![Segment::new(0..2, q(0)), Segment::new(5..2, q(1))]);
        assert!(matches!(
            reversed,
            Err(MaskError::OutOfRange { index: 1, .. })
        ));
        let overflow = SegmentTable::from_lengths(&[(q(0), usize::MAX), (q(1), 2)]);
        assert!(matches!(
            overflow,
            Err(MaskError::OutOfRange { index: 1, .. })
        ));
    }

    #[test]
    fn segment_at_reports_out_of_range_tokens() {
        let t = SegmentTable::from_lengths(&[(q(0), 2)]).unwrap();
        assert_eq!(t.segment_at(1).unwrap().role, q(0));
        assert!(matches!(
            t.segment_at(2),
            Err(MaskError::TokenOutOfRange { token: 2, len: 2 })
        ));
    }
}
