//! Saving a note's files into a directory without trusting their names and without leaving
//! a partial file under a final name.
//!
//! - Names come from the sealed manifest, so from the sender: each must be one path component
//!   (no `/` or `\`, not `.` or `..`, no NUL or other control character, 1 to 255 bytes), and
//!   no name may appear twice. Otherwise nothing is written ([`CliError::UnsafeFileList`]).
//! - No existing file is replaced: a name already taken in the directory stops the open before
//!   any download ([`CliError::FileExists`]), and the final step links each file to its name
//!   with an operation that fails rather than replace (a hard link; a rename where the file
//!   system has no hard links, after checking again).
//! - Each file is written to a temporary name in the directory (`.paravoid-<random>.part`,
//!   readable by its owner only) and gets its name only once every file of the note is
//!   complete and authenticated; on any error the temporary files are removed.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use qsmm_shield::attachment::FileEntry;
use uuid::Uuid;

use crate::error::{CliError, Result};

/// Longest file name accepted, in bytes (as the manifest format allows).
const MAX_NAME_BYTES: usize = 255;

/// Whether `name` is safe as one file name in any directory: 1 to 255 bytes, no `/`, `\`,
/// NUL or other control character, and not `.` or `..`.
#[must_use]
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
}

/// Checks the manifest's names (each safe, none twice) and that none is taken in `dir`.
///
/// # Errors
///
/// [`CliError::UnsafeFileList`] for an unsafe or repeated name; [`CliError::FileExists`] for
/// a name already taken in `dir` (by a file, a directory or a link, even a dangling one).
pub(crate) fn check_names(dir: &Path, files: &[FileEntry]) -> Result<()> {
    let mut seen = HashSet::with_capacity(files.len());
    for file in files {
        if !is_safe_name(file.name()) || !seen.insert(file.name()) {
            return Err(CliError::UnsafeFileList);
        }
    }
    for file in files {
        let path = dir.join(file.name());
        if path.symlink_metadata().is_ok() {
            return Err(CliError::FileExists {
                path: path.display().to_string(),
            });
        }
    }
    Ok(())
}

/// A file being written under a temporary name; removed when dropped unless
/// [`persist`](Self::persist)ed.
pub(crate) struct PartFile {
    path: PathBuf,
    file: Option<File>,
}

impl PartFile {
    /// A new, empty temporary file in `dir`, readable by its owner only.
    pub(crate) fn create(dir: &Path) -> Result<Self> {
        let path = dir.join(format!(".paravoid-{}.part", Uuid::new_v4().simple()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(|err| CliError::io(format!("create a file in {}", dir.display()), err))?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    /// Appends `bytes`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self.file.as_mut().ok_or_else(|| closed(&self.path))?;
        file.write_all(bytes)
            .map_err(|err| CliError::io(format!("write {}", self.path.display()), err))
    }

    /// Flushes the file to disk and closes it (it keeps its temporary name).
    pub(crate) fn finish(&mut self) -> Result<()> {
        let file = self.file.take().ok_or_else(|| closed(&self.path))?;
        file.sync_all()
            .map_err(|err| CliError::io(format!("write {}", self.path.display()), err))
    }

    /// Gives the finished file the name `target`, never replacing an existing file.
    ///
    /// # Errors
    ///
    /// [`CliError::FileExists`] if `target` exists; [`CliError::Io`].
    pub(crate) fn persist(mut self, target: &Path) -> Result<()> {
        if self.file.is_some() {
            self.finish()?;
        }
        let exists = || CliError::FileExists {
            path: target.display().to_string(),
        };
        match std::fs::hard_link(&self.path, target) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            // A file system without hard links: check, then rename.
            Err(_) => {
                if target.symlink_metadata().is_ok() {
                    return Err(exists());
                }
                std::fs::rename(&self.path, target)
                    .map_err(|err| CliError::io(format!("write {}", target.display()), err))?;
            }
        }
        // The Drop removes the temporary name (already gone after a rename).
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        self.file = None;
        let _gone = std::fs::remove_file(&self.path);
    }
}

fn closed(path: &Path) -> CliError {
    CliError::io(
        format!("write {}", path.display()),
        std::io::Error::other("the file is already closed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_components_are_safe_names() {
        for good in [
            "report.pdf",
            "..hidden",
            "a..b",
            ".env",
            "ünï cødé ✓.txt",
            "-rf",
        ] {
            assert!(is_safe_name(good), "{good}");
        }
        let long = "x".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "/etc/passwd",
            "../x",
            "a\\b",
            "nul\0",
            "line\nbreak",
            "esc\x1b[2J",
            "c1\u{9b}",
            long.as_str(),
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn repeated_and_taken_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |name: &str| FileEntry::new(name, "", 1).unwrap();
        check_names(dir.path(), &[entry("a"), entry("b")]).unwrap();
        assert!(matches!(
            check_names(dir.path(), &[entry("a"), entry("a")]),
            Err(CliError::UnsafeFileList)
        ));
        std::fs::write(dir.path().join("b"), b"mine").unwrap();
        assert!(matches!(
            check_names(dir.path(), &[entry("a"), entry("b")]),
            Err(CliError::FileExists { .. })
        ));
    }

    #[test]
    fn part_files_vanish_unless_persisted_and_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(dir.path()).unwrap();
        part.write(b"half").unwrap();
        drop(part);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut part = PartFile::create(dir.path()).unwrap();
        part.write(b"whole").unwrap();
        part.finish().unwrap();
        part.persist(&dir.path().join("done")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("done")).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut part = PartFile::create(dir.path()).unwrap();
        part.write(b"other").unwrap();
        let refused = part.persist(&dir.path().join("done")).unwrap_err();
        assert!(matches!(refused, CliError::FileExists { .. }));
        assert_eq!(std::fs::read(dir.path().join("done")).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
