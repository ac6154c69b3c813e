//! The plugin's `key=value` parameters and the passphrase files they name.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Largest passphrase file accepted: a passphrase is a line, not a document.
pub const MAX_PASSPHRASE_LEN: usize = 4096;

/// Most volumes one server opens (exported and protected together).
pub const MAX_VOLUMES: usize = 64;

/// The plugin's configuration, built from nbdkit's `key=value` parameters.
///
/// | key | meaning |
/// |---|---|
/// | `medium=PATH` | the formatted medium (image file or block device); once |
/// | `passphrase-file=FILE` | a volume to export; repeat for several: the n-th one (from 0) is the export named `"n"`, and the first is also the default export `""` |
/// | `protect=FILE` | a volume to open and protect from the exported ones, but not export; may repeat |
///
/// Passphrase files are read when the parameter is given (so a caller may remove them once the
/// server is up); one trailing line break (`\n` or `\r\n`) is stripped, nothing else. The
/// passphrases are zeroized when the configuration is dropped and never printed: `Debug` shows
/// only how many there are.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let pw = dir.path().join("pw");
/// std::fs::write(&pw, "correct horse\n")?;
///
/// let mut config = qsmm_nbd::Config::default();
/// config.set("medium", "dark.img")?;
/// config.set("passphrase-file", pw.to_str().unwrap())?;
/// config.check()?;
/// assert_eq!(config.exports().len(), 1);
/// assert_eq!(config.exports()[0].as_bytes(), b"correct horse");
/// assert_eq!(config.export_index(""), Some(0));
/// assert_eq!(config.export_index("0"), Some(0));
/// assert_eq!(config.export_index("1"), None);
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct Config {
    medium: Option<PathBuf>,
    exports: Vec<Passphrase>,
    protected: Vec<Passphrase>,
}

impl Config {
    /// Applies one `key=value` parameter.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`] for a key not in the table above, [`Error::DuplicateMedium`] for a
    /// second `medium`, [`Error::TooManyVolumes`] past [`MAX_VOLUMES`], and the errors of
    /// [`Passphrase::read`] for the passphrase files.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "medium" => {
                if self.medium.is_some() {
                    return Err(Error::DuplicateMedium);
                }
                if value.is_empty() {
                    return Err(Error::MissingParameter("medium"));
                }
                self.medium = Some(PathBuf::from(value));
            }
            "passphrase-file" | "protect" => {
                if self.exports.len() + self.protected.len() >= MAX_VOLUMES {
                    return Err(Error::TooManyVolumes { max: MAX_VOLUMES });
                }
                let passphrase = Passphrase::read(Path::new(value))?;
                if key == "protect" {
                    self.protected.push(passphrase);
                } else {
                    self.exports.push(passphrase);
                }
            }
            other => return Err(Error::UnknownKey(other.to_owned())),
        }
        Ok(())
    }

    /// Checks that the configuration is complete: a medium and at least one exported volume.
    ///
    /// # Errors
    ///
    /// [`Error::MissingParameter`] naming the first missing key.
    pub fn check(&self) -> Result<()> {
        if self.medium.is_none() {
            return Err(Error::MissingParameter("medium"));
        }
        if self.exports.is_empty() {
            return Err(Error::MissingParameter("passphrase-file"));
        }
        Ok(())
    }

    /// The medium, once given.
    #[must_use]
    pub fn medium(&self) -> Option<&Path> {
        self.medium.as_deref()
    }

    /// The passphrases of the exported volumes, in export order.
    #[must_use]
    pub fn exports(&self) -> &[Passphrase] {
        &self.exports
    }

    /// The passphrases of the volumes that are protected but not exported.
    #[must_use]
    pub fn protected(&self) -> &[Passphrase] {
        &self.protected
    }

    /// Maps an NBD export name to the index of the exported volume: `""` (the default export)
    /// is volume 0, and `"n"` (decimal, no sign or leading zeros) is volume `n`.
    #[must_use]
    pub fn export_index(&self, name: &str) -> Option<usize> {
        export_index(name, self.exports.len())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("medium", &self.medium)
            .field("exports", &self.exports.len())
            .field("protected", &self.protected.len())
            .finish()
    }
}

/// Maps an export name to an index below `count` (see [`Config::export_index`]).
#[must_use]
pub fn export_index(name: &str, count: usize) -> Option<usize> {
    let index = if name.is_empty() {
        0
    } else {
        if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
            return None;
        }
        name.parse::<usize>().ok()?
    };
    (index < count).then_some(index)
}

/// A passphrase read from a file; zeroized on drop, never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Reads a passphrase file and strips one trailing line break.
    ///
    /// # Errors
    ///
    /// [`Error::PassphraseFile`] when the file cannot be read, [`Error::PassphraseTooLong`]
    /// past [`MAX_PASSPHRASE_LEN`] bytes, [`Error::EmptyPassphrase`] when nothing is left.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = Zeroizing::new(fs::read(path).map_err(|source| Error::PassphraseFile {
            path: path.to_owned(),
            source,
        })?);
        Self::from_file_contents(&bytes)
    }

    /// The passphrase in a file's contents: one trailing `\n` or `\r\n` is stripped.
    ///
    /// # Errors
    ///
    /// [`Error::PassphraseTooLong`], [`Error::EmptyPassphrase`].
    pub fn from_file_contents(contents: &[u8]) -> Result<Self> {
        if contents.len() > MAX_PASSPHRASE_LEN {
            return Err(Error::PassphraseTooLong {
                max: MAX_PASSPHRASE_LEN,
            });
        }
        let line = contents
            .strip_suffix(b"\n")
            .map_or(contents, |line| line.strip_suffix(b"\r").unwrap_or(line));
        if line.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        Ok(Self(Zeroizing::new(line.to_vec())))
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

    fn file(dir: &Path, name: &str, contents: &[u8]) -> String {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[test]
    fn parses_medium_exports_and_protected_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.set("medium", "/dev/null").unwrap();
        config
            .set("passphrase-file", &file(dir.path(), "a", b"alpha\n"))
            .unwrap();
        config
            .set("protect", &file(dir.path(), "p", b"hidden\r\n"))
            .unwrap();
        config
            .set("passphrase-file", &file(dir.path(), "b", b"beta"))
            .unwrap();
        config.check().unwrap();
        assert_eq!(config.medium(), Some(Path::new("/dev/null")));
        let exports: Vec<_> = config.exports().iter().map(Passphrase::as_bytes).collect();
        assert_eq!(exports, [b"alpha".as_slice(), b"beta"]);
        assert_eq!(config.protected()[0].as_bytes(), b"hidden");
    }

    #[test]
    fn rejects_bad_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        assert!(matches!(
            config.check(),
            Err(Error::MissingParameter("medium"))
        ));
        assert!(matches!(
            config.set("passphrase", "x"),
            Err(Error::UnknownKey(k)) if k == "passphrase"
        ));
        assert!(matches!(
            config.set("medium", ""),
            Err(Error::MissingParameter("medium"))
        ));
        config.set("medium", "m").unwrap();
        assert!(matches!(
            config.set("medium", "n"),
            Err(Error::DuplicateMedium)
        ));
        assert!(matches!(
            config.check(),
            Err(Error::MissingParameter("passphrase-file"))
        ));
        assert!(matches!(
            config.set(
                "passphrase-file",
                &dir.path().join("absent").to_string_lossy()
            ),
            Err(Error::PassphraseFile { .. })
        ));
        assert!(matches!(
            config.set("passphrase-file", &file(dir.path(), "e", b"\n")),
            Err(Error::EmptyPassphrase)
        ));
        let long = vec![b'x'; MAX_PASSPHRASE_LEN + 1];
        assert!(matches!(
            config.set("passphrase-file", &file(dir.path(), "l", &long)),
            Err(Error::PassphraseTooLong { .. })
        ));
        let pw = file(dir.path(), "ok", b"pw");
        for _ in 0..MAX_VOLUMES {
            config.set("protect", &pw).unwrap();
        }
        assert!(matches!(
            config.set("passphrase-file", &pw),
            Err(Error::TooManyVolumes { max: MAX_VOLUMES })
        ));
    }

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
    fn export_names_map_to_indexes() {
        assert_eq!(export_index("", 2), Some(0));
        assert_eq!(export_index("0", 2), Some(0));
        assert_eq!(export_index("1", 2), Some(1));
        assert_eq!(export_index("2", 2), None);
        assert_eq!(export_index("", 0), None);
        for bad in [
            "01",
            "+1",
            "-1",
            " 1",
            "one",
            "1 ",
            "99999999999999999999999",
        ] {
            assert_eq!(export_index(bad, 100), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_passphrases() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config
            .set("passphrase-file", &file(dir.path(), "a", b"s3cret-words"))
            .unwrap();
        let shown = format!("{config:?} {:?}", config.exports()[0]);
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
