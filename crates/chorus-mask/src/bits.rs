//! Bit-row helpers shared by the dense, block and interval forms. A row of `n`
//! keys is `n.div_ceil(64)` words; bit `k % 64` of word `k / 64` is key `k`.

/// Sets bits `start..end` of `words` (clamped to the row).
pub(crate) fn set_range(words: &mut [u64], start: usize, end: usize) {
    let end = end.min(words.len() * 64);
    if start >= end {
        return;
    }
    let (first, last) = (start / 64, (end - 1) / 64);
    for (w, word) in words.iter_mut().enumerate().take(last + 1).skip(first) {
        let lo = if w == first { start % 64 } else { 0 };
        let hi = if w == last { (end - 1) % 64 + 1 } else { 64 };
        *word |= range_mask(lo, hi);
    }
}

/// A word with bits `lo..hi` set (`0 <= lo < hi <= 64`).
fn range_mask(lo: usize, hi: usize) -> u64 {
    let upper = if hi == 64 { u64::MAX } else { (1u64 << hi) - 1 };
    upper & !((1u64 << lo) - 1)
}

/// Clears the padding bits at or past `len` in the last word.
pub(crate) fn clear_tail(words: &mut [u64], len: usize) {
    if let Some(last) = words.last_mut()
        && !len.is_multiple_of(64)
    {
        *last &= (1u64 << (len % 64)) - 1;
    }
}

/// `n <= 64` bits of `words` starting at bit `start`, as the low bits of a word
/// (bits past the row read as 0).
pub(crate) fn get_bits(words: &[u64], start: usize, n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    let (w, shift) = (start / 64, start % 64);
    let lo = words.get(w).copied().unwrap_or(0) >> shift;
    let hi = if shift == 0 {
        0
    } else {
        words.get(w + 1).copied().unwrap_or(0) << (64 - shift)
    };
    let value = lo | hi;
    if n == 64 {
        value
    } else {
        value & ((1u64 << n) - 1)
    }
}

/// The runs of set bits of a row of `len` keys, in order.
pub(crate) fn runs(words: &[u64], len: usize, mut emit: impl FnMut(usize, usize)) {
    let mut pos = 0;
    while pos < len {
        let Some(start) = next_bit(words, pos, len, true) else {
            break;
        };
        let end = next_bit(words, start, len, false).unwrap_or(len);
        emit(start, end);
        pos = end;
    }
}

/// First index `>= from` (and `< len`) whose bit equals `value`.
fn next_bit(words: &[u64], from: usize, len: usize, value: bool) -> Option<usize> {
    let mut w = from / 64;
    let mut word = if value {
        words.get(w)? & (u64::MAX << (from % 64))
    } else {
        !words.get(w)? & (u64::MAX << (from % 64))
    };
    loop {
        if word != 0 {
            let i = w * 64 + word.trailing_zeros() as usize;
            return (i < len).then_some(i);
        }
        w += 1;
        word = if value {
            *words.get(w)?
        } else {
            !*words.get(w)?
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_runs_agree() {
        let mut row = vec![0u64; 3];
        set_range(&mut row, 3, 7);
        set_range(&mut row, 60, 130);
        set_range(&mut row, 150, 500);
        clear_tail(&mut row, 160);
        let mut found = Vec::new();
        runs(&row, 160, |a, b| found.push(a..b));
        assert_eq!(found, vec![3..7, 60..130, 150..160]);
        assert_eq!(get_bits(&row, 2, 6), 0b011110);
        assert_eq!(get_bits(&row, 60, 64), u64::MAX);
        assert_eq!(get_bits(&row, 190, 64), 0);
    }
}
