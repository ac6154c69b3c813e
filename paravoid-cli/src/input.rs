//! What the commands read: the message, passphrases, durations.

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{CliError, Result};

/// Largest message read from standard input: the most any paravoid server accepts
/// (`MAX_MESSAGE_BYTES_CEILING`); a server may be set to accept less and says so.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Largest passphrase file read.
pub const MAX_PASSPHRASE_BYTES: usize = 4096;

/// Reads a whole stream into zeroizing memory, refusing more than `max` bytes.
///
/// # Errors
///
/// [`CliError::MessageTooLarge`] past `max`; [`CliError::Io`] if reading fails.
pub fn read_bounded(reader: impl Read, max: usize, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::new());
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|err| CliError::io(format!("read {what}"), err))?;
    if out.len() > max {
        return Err(CliError::MessageTooLarge { max });
    }
    Ok(out)
}

/// The message from standard input: not empty, at most [`MAX_MESSAGE_BYTES`].
///
/// # Errors
///
/// [`CliError::EmptyMessage`], [`CliError::MessageTooLarge`] or [`CliError::Io`].
pub fn read_message(reader: impl Read) -> Result<Zeroizing<Vec<u8>>> {
    let message = read_bounded(reader, MAX_MESSAGE_BYTES, "standard input")?;
    if message.is_empty() {
        return Err(CliError::EmptyMessage);
    }
    Ok(message)
}

/// A passphrase from a file: its bytes without one final line break (`\n` or `\r\n`).
///
/// # Errors
///
/// [`CliError::Io`] if it cannot be read, [`CliError::InvalidArgument`] if it is larger than
/// [`MAX_PASSPHRASE_BYTES`], [`CliError::EmptyPassphrase`] if nothing is left.
pub fn passphrase_from_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let what = format!("read the passphrase file {}", path.display());
    let file = std::fs::File::open(path).map_err(|err| CliError::io(what.clone(), err))?;
    let mut bytes = match read_bounded(file, MAX_PASSPHRASE_BYTES, &what) {
        Err(CliError::MessageTooLarge { max }) => {
            return Err(CliError::InvalidArgument(format!(
                "the passphrase file holds more than {max} bytes"
            )));
        }
        other => other?,
    };
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(CliError::EmptyPassphrase);
    }
    Ok(bytes)
}

/// Asks for a passphrase on the terminal without echo; `confirm` asks twice.
///
/// # Errors
///
/// [`CliError::PassphraseRequired`] without a terminal, [`CliError::EmptyPassphrase`],
/// [`CliError::PassphraseMismatch`].
pub fn prompt_passphrase(confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(|text| Zeroizing::new(text.into_bytes()))
            .map_err(|_| CliError::PassphraseRequired)
    };
    let first = ask("Passphrase: ")?;
    if first.is_empty() {
        return Err(CliError::EmptyPassphrase);
    }
    if confirm && ask("Passphrase again: ")? != first {
        return Err(CliError::PassphraseMismatch);
    }
    Ok(first)
}

/// Reads a duration: seconds (`90`), or a number and a unit `s`, `m`, `h`, `d` (`1h`, `7d`).
///
/// # Errors
///
/// [`CliError::InvalidArgument`] otherwise, or for zero.
///
/// ```
/// assert_eq!(paravoid_cli::parse_ttl("1h")?, 3600);
/// assert_eq!(paravoid_cli::parse_ttl("90")?, 90);
/// assert!(paravoid_cli::parse_ttl("1w").is_err());
/// # Ok::<(), paravoid_cli::CliError>(())
/// ```
pub fn parse_ttl(text: &str) -> Result<u64> {
    let bad = || {
        CliError::InvalidArgument(format!(
            "--ttl {text:?} is not a duration such as 30m, 1h or 7d"
        ))
    };
    let (number, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&secs| secs > 0)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("1", 1),
            ("45s", 45),
            ("30m", 1800),
            ("1h", 3600),
            ("7d", 604_800),
        ] {
            assert_eq!(parse_ttl(text).unwrap(), secs, "{text}");
        }
        for bad in [
            "",
            "h",
            "0",
            "0h",
            "-1h",
            "1.5h",
            "1w",
            "1 h",
            "99999999999999999999d",
            "١h",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_bounded_and_not_empty() {
        assert_eq!(&read_message(&b"hi"[..]).unwrap()[..], b"hi");
        assert!(matches!(
            read_message(&b""[..]),
            Err(CliError::EmptyMessage)
        ));
        let exact = vec![b'x'; MAX_MESSAGE_BYTES];
        assert_eq!(read_message(&exact[..]).unwrap().len(), MAX_MESSAGE_BYTES);
        let over = vec![b'x'; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            read_message(&over[..]),
            Err(CliError::MessageTooLarge {
                max: MAX_MESSAGE_BYTES
            })
        ));
        // An endless stream is cut at the limit, not read to the end.
        assert!(read_message(std::io::repeat(b'x')).is_err());
    }

    #[test]
    fn passphrase_files_lose_one_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        for (content, expected) in [
            (&b"horse\n"[..], &b"horse"[..]),
            (b"horse\r\n", b"horse"),
            (b"horse", b"horse"),
            (b"two lines\n\n", b"two lines\n"),
        ] {
            std::fs::write(&path, content).unwrap();
            assert_eq!(&passphrase_from_file(&path).unwrap()[..], expected);
        }
        std::fs::write(&path, b"\n").unwrap();
        assert!(matches!(
            passphrase_from_file(&path),
            Err(CliError::EmptyPassphrase)
        ));
        std::fs::write(&path, vec![b'x'; MAX_PASSPHRASE_BYTES + 1]).unwrap();
        assert!(matches!(
            passphrase_from_file(&path),
            Err(CliError::InvalidArgument(_))
        ));
        let missing = passphrase_from_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.exit_code(), 7);
    }
}
