//! The plugin's `key=value` parameters and the passphrase files they name.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qsmm_volume::{DEFAULT_TICK_RATE, MAX_PASSPHRASE_LEN, Passphrase};

use crate::error::{Error, Result};

/// Most volumes one server opens (exported and protected together).
pub const MAX_VOLUMES: usize = 64;

/// The commit interval when `commit-interval` is not given: 5 seconds, as ext4's journal.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// Longest commit interval accepted, in seconds (one day).
const MAX_COMMIT_INTERVAL_SECS: u64 = 86_400;

/// The plugin's configuration, built from nbdkit's `key=value` parameters.
///
/// | key | meaning |
/// |---|---|
/// | `medium=PATH` | the formatted medium (image file or block device); once |
/// | `passphrase-file=FILE` | a volume to export; repeat for several: the n-th one (from 0) is the export named `"n"`, and the first is also the default export `""` |
/// | `passphrase-fd=N` | volumes to export, read from the inherited file descriptor `N` (a pipe or memfd) in the [passphrase stream](encode_passphrase_stream) format; they take the next export numbers; once |
/// | `protect=FILE` | a volume to open and protect from the exported ones, but not export; may repeat |
/// | `commit-interval=SECONDS` | commit each volume at most this long after its first unflushed write (default 5; 0 = only when a client flushes) |
/// | `tick-rate=SLOTS` | on a multi-snapshot medium, slots written per second while served, whatever the volumes do (default [`DEFAULT_TICK_RATE`], at most 16384; 0 = no timer: each mount spends a fixed budget, and higher volumes' flushes write at once) |
///
/// Passphrase files are read when the parameter is given (so a caller may remove them once the
/// server is up) in the format of [`Passphrase::read_file`]: one trailing line break (`\n` or
/// `\r\n`) is stripped, nothing else. A passphrase stream is read to its end when the parameter
/// is given, so the passphrases never touch a disk and the command line does not say how many
/// volumes are open. The passphrases are zeroized when the configuration is dropped and never
/// printed: `Debug` shows only how many there are.
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
    stream_read: bool,
    commit_interval: Option<Duration>,
    tick_rate: Option<u32>,
}

/// Most slots per second `tick-rate` accepts.
const MAX_TICK_RATE: u32 = 16_384;

impl Config {
    /// Applies one `key=value` parameter.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`] for a key not in the table above, [`Error::DuplicateMedium`] for a
    /// second `medium`, [`Error::DuplicateParameter`] for a second `passphrase-fd` or
    /// `commit-interval` or `tick-rate`, [`Error::InvalidValue`] for a
    /// value that is not a number in range, [`Error::TooManyVolumes`] past [`MAX_VOLUMES`],
    /// [`Error::Passphrase`] for a passphrase file, and the errors of
    /// [`decode_passphrase_stream`].
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
                let passphrase = Passphrase::read_file(Path::new(value))?;
                if key == "protect" {
                    self.protected.push(passphrase);
                } else {
                    self.exports.push(passphrase);
                }
            }
            "passphrase-fd" => {
                if self.stream_read {
                    return Err(Error::DuplicateParameter("passphrase-fd"));
                }
                let fd: u32 = value
                    .parse()
                    .map_err(|_| Error::InvalidValue("passphrase-fd"))?;
                self.stream_read = true;
                let room = MAX_VOLUMES.saturating_sub(self.exports.len() + self.protected.len());
                let path = PathBuf::from(format!("/proc/self/fd/{fd}"));
                let file = std::fs::File::open(&path)
                    .map_err(|source| Error::PassphraseFd { fd, source })?;
                let passphrases = decode_passphrase_stream(file, room)?;
                self.exports.extend(passphrases);
            }
            "commit-interval" => {
                if self.commit_interval.is_some() {
                    return Err(Error::DuplicateParameter("commit-interval"));
                }
                let secs: u64 = value
                    .parse()
                    .ok()
                    .filter(|&s| s <= MAX_COMMIT_INTERVAL_SECS)
                    .ok_or(Error::InvalidValue("commit-interval"))?;
                self.commit_interval = Some(Duration::from_secs(secs));
            }
            "tick-rate" => {
                if self.tick_rate.is_some() {
                    return Err(Error::DuplicateParameter("tick-rate"));
                }
                let rate: u32 = value
                    .parse()
                    .ok()
                    .filter(|&r| r <= MAX_TICK_RATE)
                    .ok_or(Error::InvalidValue("tick-rate"))?;
                self.tick_rate = Some(rate);
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

    /// How long after its first unflushed write a volume is committed; `None` when it is
    /// committed only when a client flushes (`commit-interval=0`).
    #[must_use]
    pub fn commit_interval(&self) -> Option<Duration> {
        let interval = self.commit_interval.unwrap_or(DEFAULT_COMMIT_INTERVAL);
        (!interval.is_zero()).then_some(interval)
    }

    /// Slots per second a multi-snapshot medium spends while served; `None` for no timer
    /// (`tick-rate=0`: each mount spends the volume crate's fixed budget instead).
    #[must_use]
    pub fn tick_rate(&self) -> Option<u32> {
        let rate = self.tick_rate.unwrap_or(DEFAULT_TICK_RATE);
        (rate != 0).then_some(rate)
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
            .field("commit_interval", &self.commit_interval)
            .field("tick_rate", &self.tick_rate)
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

/// Encodes passphrases as a passphrase stream, what `passphrase-fd` reads: for each passphrase
/// its length (2 bytes, big-endian) then its bytes; the stream ends at end of file.
///
/// # Errors
///
/// [`Error::TooManyVolumes`] past [`MAX_VOLUMES`] passphrases; [`Error::Passphrase`] for an
/// empty passphrase or one longer than [`MAX_PASSPHRASE_LEN`].
///
/// # Examples
///
/// ```
/// let stream = qsmm_nbd::encode_passphrase_stream(&[b"one", b"two words"])?;
/// let back = qsmm_nbd::decode_passphrase_stream(stream.as_slice(), 64)?;
/// assert_eq!(back[1].as_bytes(), b"two words");
/// # Ok::<(), qsmm_nbd::Error>(())
/// ```
pub fn encode_passphrase_stream(passphrases: &[&[u8]]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    if passphrases.len() > MAX_VOLUMES {
        return Err(Error::TooManyVolumes { max: MAX_VOLUMES });
    }
    let mut out = zeroize::Zeroizing::new(Vec::new());
    for passphrase in passphrases {
        let checked = Passphrase::new(passphrase)?;
        let len = u16::try_from(checked.as_bytes().len()).map_err(|_| {
            Error::Passphrase(qsmm_volume::PassphraseError::TooLong {
                max: MAX_PASSPHRASE_LEN,
            })
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(checked.as_bytes());
    }
    Ok(out)
}

/// Reads a passphrase stream (see [`encode_passphrase_stream`]) to its end, accepting at most
/// `max` passphrases.
///
/// # Errors
///
/// [`Error::TooManyVolumes`] past `max`; [`Error::BadPassphraseStream`] for a stream cut inside
/// a record; [`Error::Passphrase`] for an empty or too long passphrase;
/// [`Error::PassphraseFd`] (fd 0) when reading fails.
pub fn decode_passphrase_stream(mut reader: impl Read, max: usize) -> Result<Vec<Passphrase>> {
    let mut out = Vec::new();
    let read_error = |source| Error::PassphraseFd { fd: 0, source };
    loop {
        let mut len = [0u8; 2];
        let got = read_full(&mut reader, &mut len).map_err(read_error)?;
        if got == 0 {
            return Ok(out);
        }
        if got < len.len() {
            return Err(Error::BadPassphraseStream);
        }
        let len = usize::from(u16::from_be_bytes(len));
        if len > MAX_PASSPHRASE_LEN {
            return Err(Error::Passphrase(qsmm_volume::PassphraseError::TooLong {
                max: MAX_PASSPHRASE_LEN,
            }));
        }
        if out.len() >= max {
            return Err(Error::TooManyVolumes { max: MAX_VOLUMES });
        }
        let mut bytes = zeroize::Zeroizing::new(vec![0u8; len]);
        if read_full(&mut reader, &mut bytes).map_err(read_error)? < len {
            return Err(Error::BadPassphraseStream);
        }
        out.push(Passphrase::new(&bytes)?);
    }
}

/// Reads until `buf` is full or the end of the input; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match reader.read(buf.get_mut(done..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use qsmm_volume::PassphraseError;

    use super::*;

    fn file(dir: &Path, name: &str, contents: &[u8]) -> String {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
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
            Err(Error::Passphrase(PassphraseError::Read { .. }))
        ));
        assert!(matches!(
            config.set("passphrase-file", &file(dir.path(), "e", b"\n")),
            Err(Error::Passphrase(PassphraseError::Empty))
        ));
        let long = vec![b'x'; MAX_PASSPHRASE_LEN + 1];
        assert!(matches!(
            config.set("passphrase-file", &file(dir.path(), "l", &long)),
            Err(Error::Passphrase(PassphraseError::TooLong { .. }))
        ));
        for bad in ["", "-1", "x", "86401", "1.5"] {
            assert!(matches!(
                config.set("commit-interval", bad),
                Err(Error::InvalidValue("commit-interval"))
            ));
        }
        assert!(matches!(
            config.set("passphrase-fd", "stdin"),
            Err(Error::InvalidValue("passphrase-fd"))
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
    fn commit_interval_defaults_to_five_seconds_and_zero_turns_it_off() {
        let mut config = Config::default();
        assert_eq!(config.commit_interval(), Some(DEFAULT_COMMIT_INTERVAL));
        config.set("commit-interval", "2").unwrap();
        assert_eq!(config.commit_interval(), Some(Duration::from_secs(2)));
        assert!(matches!(
            config.set("commit-interval", "3"),
            Err(Error::DuplicateParameter("commit-interval"))
        ));
        let mut off = Config::default();
        off.set("commit-interval", "0").unwrap();
        assert_eq!(off.commit_interval(), None);
    }

    #[test]
    fn tick_rate_defaults_to_the_volume_crates_and_zero_turns_the_timer_off() {
        let mut config = Config::default();
        assert_eq!(config.tick_rate(), Some(DEFAULT_TICK_RATE));
        config.set("tick-rate", "16384").unwrap();
        assert_eq!(config.tick_rate(), Some(16_384));
        assert!(matches!(
            config.set("tick-rate", "3"),
            Err(Error::DuplicateParameter("tick-rate"))
        ));
        let mut off = Config::default();
        off.set("tick-rate", "0").unwrap();
        assert_eq!(off.tick_rate(), None);
        for bad in ["", "-1", "x", "16385", "1.5"] {
            assert!(matches!(
                Config::default().set("tick-rate", bad),
                Err(Error::InvalidValue("tick-rate"))
            ));
        }
    }

    #[test]
    fn passphrase_streams_round_trip_and_reject_damage() {
        let stream = encode_passphrase_stream(&[b"alpha", b"two\nlines", &[0xff; 300]]).unwrap();
        let back = decode_passphrase_stream(stream.as_slice(), MAX_VOLUMES).unwrap();
        let back: Vec<&[u8]> = back.iter().map(Passphrase::as_bytes).collect();
        assert_eq!(back, [b"alpha".as_slice(), b"two\nlines", &[0xff; 300]]);
        assert!(
            decode_passphrase_stream(&[][..], MAX_VOLUMES)
                .unwrap()
                .is_empty()
        );
        for cut in 1..stream.len() {
            let result = decode_passphrase_stream(&stream[..cut], MAX_VOLUMES);
            // A cut between records is a shorter valid stream; inside a record, an error.
            match result {
                Ok(got) => assert!(
                    cut == 7 || cut == 7 + 11,
                    "cut {cut}: {} records",
                    got.len()
                ),
                Err(e) => assert!(matches!(e, Error::BadPassphraseStream), "cut {cut}: {e}"),
            }
        }
        assert!(matches!(
            decode_passphrase_stream(&[0, 0][..], MAX_VOLUMES),
            Err(Error::Passphrase(PassphraseError::Empty))
        ));
        assert!(matches!(
            decode_passphrase_stream(&[0x10, 0x01][..], MAX_VOLUMES),
            Err(Error::Passphrase(PassphraseError::TooLong { .. }))
        ));
        assert!(matches!(
            decode_passphrase_stream(stream.as_slice(), 2),
            Err(Error::TooManyVolumes { .. })
        ));
        assert!(encode_passphrase_stream(&[b""]).is_err());
        assert!(encode_passphrase_stream(&[&[b'x'; MAX_PASSPHRASE_LEN + 1]]).is_err());
        assert!(encode_passphrase_stream(&[b"x".as_slice(); MAX_VOLUMES + 1]).is_err());
    }

    #[test]
    fn passphrase_fd_reads_an_inherited_descriptor_once() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&encode_passphrase_stream(&[b"first", b"second"]).unwrap())
            .unwrap();
        let fd = file.as_raw_fd().to_string();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.set("medium", "m").unwrap();
        config
            .set("passphrase-file", &file_in(dir.path(), b"zeroth\n"))
            .unwrap();
        config.set("passphrase-fd", &fd).unwrap();
        let exports: Vec<&[u8]> = config.exports().iter().map(Passphrase::as_bytes).collect();
        assert_eq!(exports, [b"zeroth".as_slice(), b"first", b"second"]);
        assert!(matches!(
            config.set("passphrase-fd", &fd),
            Err(Error::DuplicateParameter("passphrase-fd"))
        ));
        let mut closed = Config::default();
        assert!(matches!(
            closed.set("passphrase-fd", "999999"),
            Err(Error::PassphraseFd { fd: 999_999, .. })
        ));
    }

    fn file_in(dir: &Path, contents: &[u8]) -> String {
        file(dir, "pw", contents)
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
