//! Loops over large host buffers split across the machine's cores (rayon):
//! weight loading touches ~3·10⁹ values for a 3B model, a minute on one core.

use rayon::prelude::*;

/// Below this many elements a buffer is handled on the calling thread: handing
/// work to the pool costs more than the work.
const PARALLEL_FROM: usize = 1 << 20;

/// Calls `work(start, chunk)` on consecutive chunks of `out`, one per core (rayon's
/// pool), where `start` is the chunk's offset in `out`. Every chunk but the last is
/// a multiple of `align` elements, so work can be cut at row or tile boundaries.
pub(crate) fn for_each_chunk<T: Send>(
    out: &mut [T],
    align: usize,
    work: impl Fn(usize, &mut [T]) + Sync,
) {
    let threads = rayon::current_num_threads();
    if out.len() < PARALLEL_FROM || threads == 1 {
        work(0, out);
        return;
    }
    let align = align.max(1);
    let chunk_len = out.len().div_ceil(threads).div_ceil(align) * align;
    out.par_chunks_mut(chunk_len)
        .enumerate()
        .for_each(|(index, chunk)| work(index * chunk_len, chunk));
}

/// `side()` on a thread of its own while `main()` runs on this one; both
/// results. Not `rayon::join`: `side` may block for a long time (a CUDA module
/// compiling) and must not hold one of the pool's workers that `main`'s own
/// parallel loops need. A panic in `side` resumes on this thread.
pub(crate) fn alongside<A: Send, B>(
    side: impl FnOnce() -> A + Send,
    main: impl FnOnce() -> B,
) -> (A, B) {
    std::thread::scope(|scope| {
        let side = scope.spawn(side);
        let main = main();
        let side = side
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (side, main)
    })
}

/// `values` mapped through `convert` (e.g. f32 to the backend's bf16), in parallel.
pub(crate) fn convert<T>(values: &[f32], convert: impl Fn(f32) -> T + Sync) -> Vec<T>
where
    T: bytemuck::Zeroable + Send,
{
    // Zeroed allocations come from fresh pages, faulted in by the workers
    // rather than written twice.
    let mut out: Vec<T> = bytemuck::zeroed_vec(values.len());
    for_each_chunk(&mut out, 1, |start, chunk| {
        for (slot, &value) in chunk.iter_mut().zip(&values[start..]) {
            *slot = convert(value);
        }
    });
    out
}

/// Row-major `[Σ rows_i, cols]` blocks (each `blocks[i]` holds `rows_i` rows)
/// stacked and transposed to `[cols, Σ rows_i]`, mapped through `convert`: a
/// fused linear weight built from its Hugging Face parts without a stacked
/// copy. Tiled so that reads and writes both stay in cache (a plain loop
/// misses on every read or write), with bands of output rows on separate threads.
pub(crate) fn stack_transposed<T>(
    blocks: &[&[f32]],
    cols: usize,
    convert: impl Fn(f32) -> T + Sync,
) -> Vec<T>
where
    T: bytemuck::Zeroable + Send,
{
    // Small tiles, each output row written contiguously: rows of 3B-sized
    // weights lie a multiple of 4 KiB apart, so wider tiles fight over the same
    // L1 sets. Measured on one Llama-3.2-3B layer (2-core VM): 64 x 64 tiles with
    // strided writes 0.46 s, 8 x 8 with contiguous writes 0.28 s.
    const TILE: usize = 8;
    let rows: usize = blocks.iter().map(|block| block.len() / cols.max(1)).sum();
    let mut out: Vec<T> = bytemuck::zeroed_vec(rows * cols);
    if rows == 0 || cols == 0 {
        return out;
    }
    for_each_chunk(&mut out, TILE * rows, |start, band| {
        let first_col = start / rows;
        let band_cols = band.len() / rows;
        let mut row_offset = 0;
        for block in blocks {
            let block_rows = block.len() / cols;
            for r0 in (0..block_rows).step_by(TILE) {
                for c0 in (0..band_cols).step_by(TILE) {
                    let r_end = (r0 + TILE).min(block_rows);
                    for c in c0..(c0 + TILE).min(band_cols) {
                        let column = first_col + c;
                        let out_row = &mut band[c * rows + row_offset..];
                        for r in r0..r_end {
                            out_row[r] = convert(block[r * cols + column]);
                        }
                    }
                }
            }
            row_offset += block_rows;
        }
    });
    out
}

/// The blocks one after the other in one new vector, copied on every core.
pub(crate) fn concat(blocks: &[&[f32]]) -> Vec<f32> {
    use rayon::prelude::*;
    let total = blocks.iter().map(|b| b.len()).sum();
    let mut out = vec![0.0f32; total];
    let mut rest = out.as_mut_slice();
    let mut pieces = Vec::with_capacity(blocks.len());
    for block in blocks {
        let (head, tail) = rest.split_at_mut(block.len());
        pieces.push((head, *block));
        rest = tail;
    }
    pieces.into_par_iter().for_each(|(dst, src)| {
        dst.par_chunks_mut(1 << 16)
            .zip(src.par_chunks(1 << 16))
            .for_each(|(d, s)| d.copy_from_slice(s));
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_transpose_equals_the_definition() {
        let shapes: [&[usize]; 6] = [&[1], &[70], &[3, 1], &[200, 5], &[129, 64, 1], &[2048]];
        for (cols, block_rows) in [1, 70, 130, 67, 257, 600].into_iter().zip(shapes) {
            let blocks: Vec<Vec<f32>> = block_rows
                .iter()
                .enumerate()
                .map(|(b, &r)| (0..r * cols).map(|i| (i + 1000 * b) as f32).collect())
                .collect();
            let views: Vec<&[f32]> = blocks.iter().map(Vec::as_slice).collect();
            let stacked: Vec<f32> = blocks.concat();
            let rows = stacked.len() / cols;
            let out = stack_transposed(&views, cols, |x| x);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        out[c * rows + r],
                        stacked[r * cols + c],
                        "{rows}x{cols} ({r}, {c})"
                    );
                }
            }
        }
    }

    #[test]
    fn alongside_runs_both_at_once_and_returns_both() {
        use std::sync::mpsc::channel;
        use std::time::Duration;
        // Each side waits for the other's message: run one after the other,
        // the first would time out.
        let (to_side, side_inbox) = channel();
        let (to_main, main_inbox) = channel();
        let wait = Duration::from_secs(10);
        let (side, main) = alongside(
            move || {
                to_main.send("from side").unwrap();
                side_inbox.recv_timeout(wait)
            },
            move || {
                to_side.send("from main").unwrap();
                main_inbox.recv_timeout(wait)
            },
        );
        assert_eq!(side, Ok("from main"));
        assert_eq!(main, Ok("from side"));
    }

    #[test]
    fn a_panic_beside_reaches_the_caller() {
        let outcome = std::panic::catch_unwind(|| alongside(|| panic!("side failed"), || 1));
        let panic = outcome.expect_err("the side's panic");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"side failed"));
    }

    #[test]
    fn chunks_cover_the_buffer_once_at_aligned_starts() {
        let mut out = vec![0u32; (1 << 20) + 77];
        for_each_chunk(&mut out, 64, |start, chunk| {
            assert!(start % 64 == 0);
            for (i, slot) in chunk.iter_mut().enumerate() {
                *slot += (start + i) as u32;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32));
        assert_eq!(convert(&[1.5, -2.0], |x| (x * 2.0) as i32), vec![3, -4]);
    }
}
