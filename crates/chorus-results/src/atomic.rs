//! Atomic file replacement: write a temporary file in the target's directory,
//! fsync it, then rename it over the target. A reader (or a crash) sees the
//! old file or the new one, never a half-written one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Result, ResultsError, io_error};

/// A fully written, fsync'd temporary file waiting to be renamed over its
/// target. Dropping it without [`Staged::commit`] deletes it.
pub(crate) struct Staged {
    temporary: NamedTempFile,
    target: PathBuf,
}

/// The directory a file lives in (`.` for a bare file name).
pub(crate) fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes a temporary file next to `target` with `write` and fsyncs it.
pub(crate) fn stage(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<Staged> {
    let directory = directory_of(target);
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // The mode `File::create` gives (0o666 less the umask), not tempfile's
    // private 0o600: results are read by other users and tools.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut temporary = builder
        .tempfile_in(directory)
        .map_err(io_error(directory, "create a temporary file in"))?;
    let temporary_path = temporary.path().to_path_buf();
    {
        let mut buffered = BufWriter::new(temporary.as_file_mut());
        write(&mut buffered)?;
        buffered
            .flush()
            .map_err(io_error(&temporary_path, "write"))?;
    }
    temporary
        .as_file()
        .sync_all()
        .map_err(io_error(&temporary_path, "fsync"))?;
    Ok(Staged {
        temporary,
        target: target.to_path_buf(),
    })
}

impl Staged {
    /// Renames the temporary file over the target.
    pub(crate) fn commit(self) -> Result<()> {
        let target = self.target;
        self.temporary
            .persist(&target)
            .map_err(|error| ResultsError::Io {
                path: target.clone(),
                action: "rename a temporary file over",
                source: error.error,
            })?;
        Ok(())
    }
}

/// Writes `target` atomically: a temporary file beside it written by `write`
/// and fsync'd, renamed over it, the directory fsync'd. A crash leaves the old
/// file or the new one; the new one gets the mode `File::create` would give.
pub fn write_file_atomically(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    let directory = directory_of(target);
    std::fs::create_dir_all(directory).map_err(io_error(directory, "create"))?;
    stage(target, write)?.commit()?;
    sync_directory(directory)
}

/// Fsyncs a directory so that renames inside it survive a power cut.
/// Directories cannot be opened for syncing on every platform; there a failure
/// to open is ignored, since the rename itself has already happened.
pub(crate) fn sync_directory(directory: &Path) -> Result<()> {
    match File::open(directory) {
        Ok(handle) => handle
            .sync_all()
            .or_else(|error| match error.kind() {
                // Some file systems (and Windows) refuse fsync on a directory.
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::PermissionDenied => Ok(()),
                _ => Err(error),
            })
            .map_err(io_error(directory, "fsync directory")),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_leaves_the_target_alone() -> Result<()> {
        let directory = tempfile::tempdir().map_err(io_error(Path::new("tmp"), "create"))?;
        let target = directory.path().join("out.txt");
        std::fs::write(&target, "old").map_err(io_error(&target, "write"))?;
        let write_new = |out: &mut BufWriter<&mut File>| {
            out.write_all(b"new")
                .map_err(io_error(Path::new("tmp"), "write"))
        };
        drop(stage(&target, write_new)?);
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("old")
        );
        stage(&target, write_new)?.commit()?;
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("new")
        );
        let leftovers = std::fs::read_dir(directory.path())
            .map_err(io_error(directory.path(), "list"))?
            .count();
        assert_eq!(leftovers, 1, "temporary files must not be left behind");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_written_file_gets_the_mode_of_a_created_one() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().map_err(io_error(Path::new("tmp"), "create"))?;
        let created = directory.path().join("created.txt");
        std::fs::write(&created, "x").map_err(io_error(&created, "write"))?;
        let written = directory.path().join("sub/written.txt");
        write_file_atomically(&written, |out| {
            out.write_all(b"x")
                .map_err(io_error(Path::new("tmp"), "write"))
        })?;
        let mode = |path: &Path| std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode(&written).ok(), mode(&created).ok());
        Ok(())
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        assert_eq!(directory_of(Path::new("out.feather")), Path::new("."));
        assert_eq!(directory_of(Path::new("a/out.feather")), Path::new("a"));
    }
}
