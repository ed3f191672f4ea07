//! The crate's error type.

use crate::role::Role;

/// What can go wrong while building segment tables, block masks or images.
///
/// Segment errors name the offending segment's index and role so a bad prompt
/// layout can be traced back to the segment that broke it.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// A segment table needs at least one segment.
    #[error("segment table is empty: at least one segment is needed")]
    EmptyTable,
    /// A segment covers no token.
    #[error("segment {index} ({role:?}) is empty: range {start}..{end}")]
    EmptySegment {
        /// Index of the segment in the table.
        index: usize,
        /// Its role.
        role: Role,
        /// Its start token.
        start: usize,
        /// Its end token (exclusive).
        end: usize,
    },
    /// A segment starts after the end of the previous one (or after 0 for the first).
    #[error(
        "gap before segment {index} ({role:?}): it starts at token {start}, expected {expected}"
    )]
    Gap {
        /// Index of the segment in the table.
        index: usize,
        /// Its role.
        role: Role,
        /// Where it starts.
        start: usize,
        /// Where it should start (end of the previous segment, or 0).
        expected: usize,
    },
    /// A segment starts before the end of the previous one.
    #[error(
        "segment {index} ({role:?}) overlaps the previous segment: it starts at token {start}, expected {expected}"
    )]
    Overlap {
        /// Index of the segment in the table.
        index: usize,
        /// Its role.
        role: Role,
        /// Where it starts.
        start: usize,
        /// Where it should start (end of the previous segment).
        expected: usize,
    },
    /// A segment's end lies before its start, or the total length overflows `usize`/`u32`.
    #[error("segment {index} ({role:?}) has an out-of-range span {start}..{end}")]
    OutOfRange {
        /// Index of the segment in the table.
        index: usize,
        /// Its role.
        role: Role,
        /// Its start token.
        start: usize,
        /// Its end token (exclusive), or the overflowing length.
        end: usize,
    },
    /// A token index lies past the end of the prompt.
    #[error("token {token} is out of range: the table covers {len} prompt tokens")]
    TokenOutOfRange {
        /// The requested token.
        token: usize,
        /// Prompt length of the table.
        len: usize,
    },
    /// A block mask needs a positive block size.
    #[error("block size must be positive, got 0")]
    ZeroBlockSize,
    /// A mask too large to render as an image.
    #[error("mask of {rows}x{cols} cells is too large to render (at most {max} per side)")]
    TooLargeToRender {
        /// Query rows.
        rows: usize,
        /// Key columns.
        cols: usize,
        /// The limit per side.
        max: usize,
    },
    /// Writing an image failed.
    #[cfg(feature = "png")]
    #[error("cannot write image {path}: {source}")]
    Image {
        /// Destination path.
        path: String,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
}
