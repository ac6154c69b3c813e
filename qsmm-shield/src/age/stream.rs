//! age v1 payload (age-encryption.org/v1, "Payload"): the STREAM construction over
//! ChaCha20-Poly1305 in 64 KiB chunks.
//!
//! ```text
//! payload key = HKDF-SHA-256(ikm = file key, salt = 16-byte nonce, info = "payload")
//! chunk i     = ChaCha20-Poly1305(payload key, nonce = i as 11 bytes big endian ‖ last flag,
//!                                 64 KiB of plaintext, or fewer for the last chunk)
//! ```
//!
//! The last chunk has flag `0x01` and may be full; it is empty only if the whole payload is.
//! The reader releases a chunk's plaintext only after its tag verified, and fails unless the
//! input ends right after a valid last chunk.

use std::io::{self, Read, Write};

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{AgeError, FileKey};

/// Plaintext bytes per chunk.
pub(crate) const CHUNK_LEN: usize = 64 * 1024;
/// Poly1305 tag length.
const TAG_LEN: usize = 16;
/// Ciphertext bytes per full chunk.
const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
/// Length of the payload nonce that follows the header.
pub(crate) const PAYLOAD_NONCE_LEN: usize = 16;

/// Derives the payload key from the file key and the payload nonce.
pub(crate) fn payload_key(
    file_key: &FileKey,
    nonce: &[u8; PAYLOAD_NONCE_LEN],
) -> Result<Zeroizing<[u8; 32]>, AgeError> {
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(nonce), file_key.as_ref())
        .expand(b"payload", key.as_mut())
        .map_err(|_| AgeError::Crypto)?;
    Ok(key)
}

/// The chunk nonce: the counter as 11 big-endian bytes, then the last-chunk flag.
fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    let mut nonce = Nonce::default();
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// Encrypts a payload chunk by chunk into `W`.
pub(crate) struct StreamWriter<W: Write> {
    inner: W,
    cipher: ChaCha20Poly1305,
    buffer: Zeroizing<Vec<u8>>,
    counter: u64,
}

impl<W: Write> StreamWriter<W> {
    pub(crate) fn new(inner: W, key: &[u8; 32]) -> Self {
        Self {
            inner,
            cipher: ChaCha20Poly1305::new(key.into()),
            buffer: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN)),
            counter: 0,
        }
    }

    /// Seals the buffered chunk and writes it out.
    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let nonce = chunk_nonce(self.counter, last);
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce, b"", self.buffer.as_mut_slice().into())
            .map_err(|_| io::Error::other(AgeError::Crypto))?;
        self.buffer.extend_from_slice(&tag);
        self.inner.write_all(&self.buffer)?;
        self.buffer.clear();
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other(AgeError::Crypto))?;
        Ok(())
    }

    /// Seals the last chunk and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.seal_chunk(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for StreamWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full chunk is sealed only once more data arrives, so the last chunk may be full.
        if self.buffer.len() == CHUNK_LEN {
            self.seal_chunk(false)?;
        }
        let take = data.len().min(CHUNK_LEN - self.buffer.len());
        self.buffer.extend_from_slice(&data[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a payload chunk by chunk from `R`.
pub(crate) struct StreamReader<R: Read> {
    inner: R,
    cipher: ChaCha20Poly1305,
    /// The current chunk: ciphertext while reading, then its plaintext.
    chunk: Zeroizing<Vec<u8>>,
    /// How much of the plaintext in `chunk` was handed out.
    position: usize,
    counter: u64,
    state: ReadState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// More chunks follow.
    Reading,
    /// The last chunk was verified; what remains in `chunk` is all that is left, and the
    /// input must end there.
    Done,
    /// A chunk failed; every further read fails.
    Failed,
}

impl<R: Read> StreamReader<R> {
    pub(crate) fn new(inner: R, key: &[u8; 32]) -> Self {
        Self {
            inner,
            cipher: ChaCha20Poly1305::new(key.into()),
            chunk: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN)),
            position: 0,
            counter: 0,
            state: ReadState::Reading,
        }
    }

    /// Reads and opens the next chunk into `chunk`.
    ///
    /// A short chunk must be the last one. A full chunk is opened as a middle chunk and, if
    /// that fails, as the last one (which may be full); as in the reference implementation, no
    /// look-ahead is needed, and data after the last chunk is an error reported after its
    /// plaintext.
    fn next_chunk(&mut self) -> Result<(), AgeError> {
        self.chunk.clear();
        self.position = 0;
        self.chunk.resize(SEALED_CHUNK_LEN, 0);
        let filled = read_full(&mut self.inner, &mut self.chunk, 0)?;
        self.chunk.truncate(filled);
        let Some(sealed_len) = filled.checked_sub(TAG_LEN) else {
            return Err(AgeError::Payload);
        };
        let (data, tag) = self.chunk.split_at_mut(sealed_len);
        let tag = Tag::try_from(&*tag).map_err(|_| AgeError::Payload)?;
        let mut last = filled < SEALED_CHUNK_LEN;
        if last && sealed_len == 0 && self.counter > 0 {
            // Only an empty payload may end with an empty chunk.
            return Err(AgeError::Payload);
        }
        // The tag is checked before any byte is decrypted, so a failed attempt leaves `data`
        // intact for the second one.
        let mut opened = self.cipher.decrypt_inout_detached(
            &chunk_nonce(self.counter, last),
            b"",
            data.into(),
            &tag,
        );
        if opened.is_err() && !last {
            last = true;
            opened = self.cipher.decrypt_inout_detached(
                &chunk_nonce(self.counter, true),
                b"",
                data.into(),
                &tag,
            );
        }
        opened.map_err(|_| AgeError::Payload)?;
        self.chunk.truncate(sealed_len);
        self.counter = self.counter.checked_add(1).ok_or(AgeError::Payload)?;
        if last {
            self.state = ReadState::Done;
        }
        Ok(())
    }

    /// After the last chunk: the input must end.
    fn check_end(&mut self) -> Result<(), AgeError> {
        let mut byte = [0u8; 1];
        if read_full(&mut self.inner, &mut byte, 0)? == 0 {
            Ok(())
        } else {
            Err(AgeError::Payload)
        }
    }
}

impl<R: Read> Read for StreamReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.state == ReadState::Failed {
                return Err(io::Error::other(AgeError::Payload));
            }
            let available = &self.chunk[self.position..];
            if !available.is_empty() || out.is_empty() {
                let n = available.len().min(out.len());
                out[..n].copy_from_slice(&available[..n]);
                self.position += n;
                return Ok(n);
            }
            let step = if self.state == ReadState::Done {
                match self.check_end() {
                    Ok(()) => return Ok(0),
                    Err(error) => Err(error),
                }
            } else {
                self.next_chunk()
            };
            if let Err(error) = step {
                self.chunk.clear();
                self.position = 0;
                self.state = ReadState::Failed;
                return Err(io::Error::other(error));
            }
        }
    }
}

/// Reads into `buffer[filled..]` until it is full or the input ends; returns the new fill.
fn read_full<R: Read>(
    reader: &mut R,
    buffer: &mut [u8],
    mut filled: usize,
) -> Result<usize, AgeError> {
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(AgeError::from_io(error)),
        }
    }
    Ok(filled)
}
