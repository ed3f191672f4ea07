//! Guards around arrow-ipc 57 for files Chorus did not write (found by
//! fuzzing, issue 16): arrow-ipc allocates whatever lengths a file claims
//! before reading them, and a failed allocation aborts the process, so every
//! claimed length is checked against the file first ([`check_ipc_file`]); and
//! it panics on some malformed files instead of returning an error, so its
//! readers run under `catch_unwind` and report the panic's text
//! ([`panic_text`]). Shared by every Arrow reader of the workspace: the
//! `save_to_disk` reader here, chorus-results' and the report's Feather readers.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Why [`check_ipc_file`] refused a file.
#[derive(Debug)]
pub enum IpcCheckError {
    /// The file could not be read.
    Io(std::io::Error),
    /// A claimed length does not fit the file (the message says which).
    Corrupt(String),
}

/// The message of a caught panic of an Arrow reader.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the Arrow reader panicked".to_string())
}

/// The largest factor by which a compressed Arrow buffer may claim to expand:
/// zstd's best case (an RLE block of 128 KiB in 4 bytes) is about 32,768×,
/// LZ4's about 255×. A buffer claiming more is corrupt, and arrow-ipc would
/// allocate the claim before decompressing (found by fuzzing).
pub const MAX_EXPANSION: u64 = 32_768;

/// Checks the uncompressed length each compressed buffer of a record batch
/// claims (its first 8 bytes) against [`MAX_EXPANSION`] times its compressed
/// length. `meta` is the block's metadata (framing included); `body` is the
/// file offset of its body.
fn check_compressed_claims(
    file: &mut File,
    meta: &[u8],
    body: u64,
) -> std::result::Result<(), String> {
    let skip = if meta.starts_with(&[0xff; 4]) { 8 } else { 4 };
    let Some(message) = meta
        .get(skip..)
        .and_then(|m| arrow_ipc::root_as_message(m).ok())
    else {
        return Ok(());
    };
    let Some(batch) = message.header_as_record_batch() else {
        return Ok(());
    };
    if batch.compression().is_none() {
        return Ok(());
    }
    for (i, buffer) in batch.buffers().into_iter().flatten().enumerate() {
        let (Ok(offset), Ok(length)) = (
            u64::try_from(buffer.offset()),
            u64::try_from(buffer.length()),
        ) else {
            return Err(format!("buffer {i} has a negative offset or length"));
        };
        if length < 8 {
            continue;
        }
        let mut claim = [0u8; 8];
        let read = body
            .checked_add(offset)
            .ok_or_else(|| format!("buffer {i} offset overflows"))
            .and_then(|at| {
                file.seek(SeekFrom::Start(at))
                    .and_then(|_| file.read_exact(&mut claim))
                    .map_err(|e| format!("buffer {i}: {e}"))
            });
        read?;
        let claimed = i64::from_le_bytes(claim);
        // -1 marks a buffer stored uncompressed.
        if claimed != -1
            && u64::try_from(claimed).is_ok_and(|c| c > (length - 8).saturating_mul(MAX_EXPANSION))
        {
            return Err(format!(
                "compressed buffer {i} of {length} bytes claims {claimed} bytes uncompressed"
            ));
        }
    }
    Ok(())
}

/// Checks the lengths an Arrow IPC file (Feather v2) claims against its size
/// before arrow-ipc allocates them: the footer, each block's metadata and
/// body, and the uncompressed size of each compressed buffer (a 417-byte file
/// asked for 512 MiB; a block length can ask for exabytes). What this cannot
/// read (no footer) is left to arrow's own errors. Leaves the file at its start.
pub fn check_ipc_file(file: &mut File) -> Result<(), IpcCheckError> {
    let io = IpcCheckError::Io;
    let len = file.metadata().map_err(io)?.len();
    if len < 10 {
        return Ok(());
    }
    let mut tail = [0u8; 10];
    file.seek(SeekFrom::End(-10))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(io)?;
    let claimed = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let footer_len = u64::try_from(claimed)
        .ok()
        .filter(|&n| n + 10 <= len)
        .ok_or_else(|| {
            IpcCheckError::Corrupt(format!(
                "the footer claims {claimed} bytes, the file has {len}"
            ))
        })?;
    let mut footer = vec![0u8; footer_len as usize];
    file.seek(SeekFrom::End(-10 - footer_len as i64))
        .and_then(|_| file.read_exact(&mut footer))
        .map_err(io)?;
    if let Ok(footer) = arrow_ipc::root_as_footer(&footer) {
        let blocks = footer
            .recordBatches()
            .into_iter()
            .flatten()
            .chain(footer.dictionaries().into_iter().flatten());
        for (i, block) in blocks.enumerate() {
            let part = |n: i64| u64::try_from(n).ok();
            let end = part(block.offset())
                .zip(part(i64::from(block.metaDataLength())))
                .zip(part(block.bodyLength()))
                .and_then(|((o, m), b)| o.checked_add(m)?.checked_add(b));
            if end.is_none_or(|end| end > len) {
                return Err(IpcCheckError::Corrupt(format!(
                    "block {i} (offset {}, {} metadata + {} body bytes) ends past the end of the file ({len} bytes)",
                    block.offset(),
                    block.metaDataLength(),
                    block.bodyLength()
                )));
            }
            let meta_len = block.metaDataLength() as usize;
            let mut meta = vec![0u8; meta_len];
            file.seek(SeekFrom::Start(block.offset() as u64))
                .and_then(|_| file.read_exact(&mut meta))
                .map_err(io)?;
            let body = block.offset() as u64 + meta_len as u64;
            check_compressed_claims(file, &meta, body)
                .map_err(|message| IpcCheckError::Corrupt(format!("block {i}: {message}")))?;
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(())
}
