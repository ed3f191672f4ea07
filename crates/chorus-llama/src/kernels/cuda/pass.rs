//! The pointer table (`struct Pass` in attention.cu) by which the kernels read
//! a pass's packed plan ([`crate::kernels::packed`]).

use cudarc::driver::DeviceRepr;

use crate::kernels::packed::Offsets;

/// `struct Pass` of attention.cu: device pointers into the packed buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct PassArg {
    tok_row: u64,
    tok_slot: u64,
    tok_index: u64,
    tok_rope: u64,
    cos: u64,
    sin: u64,
    range_starts: u64,
    ranges: u64,
    bias_value: u64,
    bias_range: u64,
    row_shared: u64,
}

// SAFETY: plain old data of the same layout as the kernels' `struct Pass`
// (eleven 64-bit pointers).
unsafe impl DeviceRepr for PassArg {}

impl PassArg {
    /// The pointers of the tables at `offsets` in the buffer at device address `base`.
    pub(super) fn new(base: u64, o: &Offsets) -> Self {
        let at = |offset: usize| base + 4 * offset as u64;
        Self {
            tok_row: at(o.tok_row),
            tok_slot: at(o.tok_slot),
            tok_index: at(o.tok_index),
            tok_rope: at(o.tok_rope),
            cos: at(o.cos),
            sin: at(o.sin),
            range_starts: at(o.range_starts),
            ranges: at(o.ranges),
            bias_value: at(o.bias_value),
            bias_range: at(o.bias_range),
            row_shared: at(o.row_shared),
        }
    }
}
