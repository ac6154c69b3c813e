//! age ASCII armor (age-encryption.org/v1, "ASCII armor"): strict PEM (RFC 7468 §3) with the
//! label `AGE ENCRYPTED FILE`, padded standard base64 in 64-column lines.
//!
//! The reader is strict, as the specification recommends so that armored files are not
//! malleable: whitespace is allowed only before the first and after the last line; lines end
//! in LF or CRLF; every line but the last has exactly 64 columns, the last has 1 to 64 and is
//! the only one with `=` padding; base64 must be canonical. Anything else is an
//! [`AgeError::Armor`].

use std::io::{self, BufRead, Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::AgeError;

/// The first line of an armored file.
pub(crate) const BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
/// The last line of an armored file.
const END: &[u8] = b"-----END AGE ENCRYPTED FILE-----";
/// Base64 columns per line.
const LINE_COLUMNS: usize = 64;
/// Bytes per full line.
const LINE_BYTES: usize = LINE_COLUMNS / 4 * 3;

/// Writes the armored form of everything written to it.
pub(crate) struct ArmoredWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> ArmoredWriter<W> {
    pub(crate) fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(BEGIN)?;
        inner.write_all(b"\n")?;
        Ok(Self {
            inner,
            pending: Vec::with_capacity(LINE_BYTES),
        })
    }

    /// Writes the last line and the end marker, and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            let line = STANDARD.encode(&self.pending);
            self.inner.write_all(line.as_bytes())?;
            self.inner.write_all(b"\n")?;
        }
        self.inner.write_all(END)?;
        self.inner.write_all(b"\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ArmoredWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = data.len().min(LINE_BYTES - self.pending.len());
        self.pending.extend_from_slice(&data[..take]);
        if self.pending.len() == LINE_BYTES {
            let line = STANDARD.encode(&self.pending);
            self.inner.write_all(line.as_bytes())?;
            self.inner.write_all(b"\n")?;
            self.pending.clear();
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the binary file out of an armored one.
pub(crate) struct ArmoredReader<R: BufRead> {
    inner: R,
    /// Decoded bytes of the current line.
    decoded: Zeroizing<Vec<u8>>,
    position: usize,
    state: ArmorState,
    line: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArmorState {
    /// Before the begin line.
    Start,
    /// Full lines so far.
    Body,
    /// After the last (short or padded) line: only the end line may follow.
    AfterLast,
    /// The end line and trailing whitespace were read.
    Done,
    /// The armor was invalid.
    Failed,
}

impl<R: BufRead> ArmoredReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            decoded: Zeroizing::new(Vec::with_capacity(LINE_BYTES)),
            position: 0,
            state: ArmorState::Start,
            line: Vec::with_capacity(LINE_COLUMNS + 2),
        }
    }

    /// Advances to the next decoded line (or the end).
    fn advance(&mut self) -> Result<(), AgeError> {
        if self.state == ArmorState::Start {
            skip_whitespace(&mut self.inner)?;
            if self.read_line()?.as_deref() != Some(BEGIN) {
                return Err(AgeError::Armor);
            }
            self.state = ArmorState::Body;
        }
        let line = self.read_line()?.ok_or(AgeError::Armor)?;
        if line == END {
            skip_whitespace(&mut self.inner)?;
            if !self.inner.fill_buf().map_err(AgeError::from_io)?.is_empty() {
                return Err(AgeError::Armor);
            }
            self.state = ArmorState::Done;
            return Ok(());
        }
        if self.state == ArmorState::AfterLast || line.is_empty() || line.len() > LINE_COLUMNS {
            return Err(AgeError::Armor);
        }
        if line.len() < LINE_COLUMNS || line.ends_with(b"=") {
            self.state = ArmorState::AfterLast;
        }
        // The engine requires canonical padding and zero trailing bits.
        self.decoded.clear();
        STANDARD
            .decode_vec(&line, &mut self.decoded)
            .map_err(|_| AgeError::Armor)?;
        self.position = 0;
        Ok(())
    }

    /// Reads one line without its LF or CRLF; `None` at the end of input. A missing final
    /// line ending is accepted (only the end line can be last).
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, AgeError> {
        self.line.clear();
        let limit = u64::try_from(LINE_COLUMNS + 2).map_err(|_| AgeError::Armor)?;
        (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .map_err(AgeError::from_io)?;
        if self.line.is_empty() {
            return Ok(None);
        }
        let mut line = self.line.as_slice();
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest.strip_suffix(b"\r").unwrap_or(rest);
        } else if line != END {
            return Err(AgeError::Armor);
        }
        Ok(Some(line.to_vec()))
    }
}

impl<R: BufRead> Read for ArmoredReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                ArmorState::Failed => return Err(io::Error::other(AgeError::Armor)),
                _ if self.position < self.decoded.len() || out.is_empty() => {
                    let available = &self.decoded[self.position..];
                    let n = available.len().min(out.len());
                    out[..n].copy_from_slice(&available[..n]);
                    self.position += n;
                    return Ok(n);
                }
                ArmorState::Done => return Ok(0),
                _ => {
                    if let Err(error) = self.advance() {
                        self.state = ArmorState::Failed;
                        self.decoded.clear();
                        return Err(io::Error::other(error));
                    }
                }
            }
        }
    }
}

fn skip_whitespace<R: BufRead>(reader: &mut R) -> Result<(), AgeError> {
    loop {
        let buffer = reader.fill_buf().map_err(AgeError::from_io)?;
        if buffer.is_empty() {
            return Ok(());
        }
        let skip = buffer
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(buffer.len());
        let done = skip < buffer.len();
        reader.consume(skip);
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armor(data: &[u8]) -> Vec<u8> {
        let mut writer = ArmoredWriter::new(Vec::new()).unwrap();
        writer.write_all(data).unwrap();
        writer.finish().unwrap()
    }

    fn dearmor(text: &[u8]) -> Result<Vec<u8>, AgeError> {
        let mut out = Vec::new();
        ArmoredReader::new(text)
            .read_to_end(&mut out)
            .map_err(AgeError::from_io)?;
        Ok(out)
    }

    #[test]
    fn round_trips_every_line_shape() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 96, 1000] {
            let data: Vec<u8> = (0..=255u8).cycle().take(len).collect();
            let text = armor(&data);
            assert_eq!(dearmor(&text).unwrap(), data, "length {len}");
            let crlf: Vec<u8> = String::from_utf8(text.clone())
                .unwrap()
                .replace('\n', "\r\n")
                .into_bytes();
            assert_eq!(dearmor(&crlf).unwrap(), data, "CRLF, length {len}");
        }
    }

    #[test]
    fn garbage_after_the_end_is_rejected() {
        let mut text = armor(b"hello");
        text.extend_from_slice(b"x");
        assert!(matches!(dearmor(&text), Err(AgeError::Armor)));
    }
}
