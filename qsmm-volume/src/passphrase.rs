//! The passphrase-file format shared by every tool: the passphrase, at most one trailing line
//! break, at most [`MAX_PASSPHRASE_LEN`] bytes.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Largest passphrase file accepted, in bytes: a passphrase is a line, not a document.
pub const MAX_PASSPHRASE_LEN: usize = 4096;

/// Why a passphrase could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PassphraseError {
    /// The file could not be read.
    #[error("cannot read passphrase file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is longer than any passphrase.
    #[error("passphrase file longer than {max} bytes")]
    TooLong {
        /// The largest accepted size.
        max: usize,
    },
    /// Nothing is left once the line break is removed.
    #[error("the passphrase is empty")]
    Empty,
}

/// A passphrase; zeroized on drop, never printed (`Debug` shows a placeholder).
///
/// # Examples
///
/// ```
/// use qsmm_volume::Passphrase;
///
/// let pw = Passphrase::from_file_contents(b"correct horse\r\n")?;
/// assert_eq!(pw.as_bytes(), b"correct horse");
/// assert!(Passphrase::from_file_contents(b"\n").is_err());
/// assert_eq!(format!("{pw:?}"), "Passphrase(<redacted>)");
/// # Ok::<(), qsmm_volume::PassphraseError>(())
/// ```
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Reads a passphrase file (see [`Self::from_file_contents`]). At most
    /// [`MAX_PASSPHRASE_LEN`] + 1 bytes are read, whatever the file's size.
    ///
    /// # Errors
    ///
    /// [`PassphraseError::Read`] when the file cannot be read, and the errors of
    /// [`Self::from_file_contents`].
    pub fn read_file(path: &Path) -> Result<Self, PassphraseError> {
        let error = |source| PassphraseError::Read {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(error)?;
        let mut contents = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE_LEN + 1));
        file.take(MAX_PASSPHRASE_LEN as u64 + 1)
            .read_to_end(&mut contents)
            .map_err(error)?;
        Self::from_file_contents(&contents)
    }

    /// The passphrase in a file's contents: exactly one trailing `\n` or `\r\n` is stripped,
    /// nothing else (spaces are part of the passphrase).
    ///
    /// # Errors
    ///
    /// [`PassphraseError::TooLong`] past [`MAX_PASSPHRASE_LEN`] bytes,
    /// [`PassphraseError::Empty`] when nothing is left.
    pub fn from_file_contents(contents: &[u8]) -> Result<Self, PassphraseError> {
        if contents.len() > MAX_PASSPHRASE_LEN {
            return Err(PassphraseError::TooLong {
                max: MAX_PASSPHRASE_LEN,
            });
        }
        let line = contents
            .strip_suffix(b"\n")
            .map_or(contents, |line| line.strip_suffix(b"\r").unwrap_or(line));
        Self::new(line)
    }

    /// A passphrase as typed (no line break to strip).
    ///
    /// # Errors
    ///
    /// [`PassphraseError::TooLong`] past [`MAX_PASSPHRASE_LEN`] bytes,
    /// [`PassphraseError::Empty`] for no bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, PassphraseError> {
        if bytes.len() > MAX_PASSPHRASE_LEN {
            return Err(PassphraseError::TooLong {
                max: MAX_PASSPHRASE_LEN,
            });
        }
        if bytes.is_empty() {
            return Err(PassphraseError::Empty);
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// The passphrase bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_one_line_break() {
        let strip = |b: &[u8]| {
            Passphrase::from_file_contents(b)
                .unwrap()
                .as_bytes()
                .to_vec()
        };
        assert_eq!(strip(b"pw"), b"pw");
        assert_eq!(strip(b"pw\n"), b"pw");
        assert_eq!(strip(b"pw\r\n"), b"pw");
        assert_eq!(strip(b"pw\n\n"), b"pw\n");
        assert_eq!(strip(b" pw \n"), b" pw ");
        assert_eq!(strip(b"pw\r"), b"pw\r");
    }

    #[test]
    fn bounds() {
        assert!(matches!(
            Passphrase::from_file_contents(b"\r\n"),
            Err(PassphraseError::Empty)
        ));
        assert!(matches!(Passphrase::new(b""), Err(PassphraseError::Empty)));
        let max = vec![b'x'; MAX_PASSPHRASE_LEN];
        assert!(Passphrase::from_file_contents(&max).is_ok());
        assert!(Passphrase::new(&max).is_ok());
        let over = vec![b'x'; MAX_PASSPHRASE_LEN + 1];
        assert!(matches!(
            Passphrase::from_file_contents(&over),
            Err(PassphraseError::TooLong { .. })
        ));
        assert!(matches!(
            Passphrase::new(&over),
            Err(PassphraseError::TooLong { .. })
        ));
    }

    #[test]
    fn files_are_read_with_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        std::fs::write(&ok, b"words\n").unwrap();
        assert_eq!(Passphrase::read_file(&ok).unwrap().as_bytes(), b"words");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 1 << 20]).unwrap();
        assert!(matches!(
            Passphrase::read_file(&big),
            Err(PassphraseError::TooLong { .. })
        ));
        assert!(matches!(
            Passphrase::read_file(&dir.path().join("absent")),
            Err(PassphraseError::Read { .. })
        ));
    }
}
