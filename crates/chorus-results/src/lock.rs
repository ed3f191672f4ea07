//! One writer per output: an exclusive advisory lock (`flock` on Unix,
//! `LockFileEx` on Windows, through `std::fs::File::try_lock`) on a file beside
//! the output, held for the writer's lifetime.
//!
//! The system releases the lock when the process ends, however it ends, so a
//! run killed with SIGKILL leaves no stale lock behind (only an unlocked file)
//! and can be resumed at once. A finished run removes the file, so a results
//! folder holds only results. Removing it while holding the lock leaves one
//! narrow race: a process that opened the file just before the removal may
//! lock the removed file while a third locks a new one; both would then find
//! the finished output and skip it unless forced.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Result, ResultsError, io_error};

/// The held lock of one output; released on drop.
#[derive(Debug)]
pub(crate) struct OutputLock {
    file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Takes the lock at `lock` for `output`, or fails at once with
    /// [`ResultsError::Locked`] when another process (or another writer in
    /// this one) holds it.
    pub(crate) fn acquire(lock: &Path, output: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock)
            .map_err(io_error(lock, "open the lock file"))?;
        match file.try_lock() {
            Ok(()) => Ok(OutputLock {
                file,
                path: lock.to_path_buf(),
            }),
            Err(TryLockError::WouldBlock) => Err(ResultsError::Locked {
                output: output.to_path_buf(),
                lock: lock.to_path_buf(),
            }),
            Err(TryLockError::Error(source)) => Err(io_error(lock, "lock")(source)),
        }
    }

    /// Removes the lock file, then releases the lock (a finished run).
    pub(crate) fn release_and_remove(&self) -> Result<()> {
        // Someone removing it by hand must not fail a run whose files are written.
        match std::fs::remove_file(&self.path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(&self.path, "remove the lock file")(error));
            }
            _ => {}
        }
        self.file.unlock().map_err(io_error(&self.path, "unlock"))
    }
}
