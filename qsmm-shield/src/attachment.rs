//! Files attached to a paravoid note: a manifest sealed inside the note, and each file's bytes
//! sealed in 64 KiB chunks that are stored beside the note and streamed both ways.
//!
//! A note with files carries a [`Bundle`] as its plaintext: the message, a fresh 32-byte
//! [`FileKey`] and one [`FileEntry`] (name, media type, size) per file. The note scheme
//! ([`note`](crate::note)) seals the bundle, so the file key, names and sizes are reachable only
//! with the link keys (and the passphrase, if the note has one). The files themselves are sealed
//! with keys derived from the file key, one chunk at a time, so that neither the sender nor the
//! recipient ever holds a whole file in memory.
//!
//! ```
//! use qsmm_shield::attachment::{self, Bundle, FileEntry};
//! use qsmm_shield::note;
//!
//! let report = b"quarterly numbers".repeat(10_000);
//! let entry = FileEntry::new("report.txt", "text/plain", report.len() as u64)?;
//! let bundle = Bundle::new(b"see attached", vec![entry])?;
//!
//! // The note carries the bundle; the file's sealed bytes travel beside it.
//! let (stored, keys) = note::seal_note(&bundle.to_plaintext())?;
//! let mut sealed = Vec::new();
//! attachment::seal_file(bundle.key(), 0, report.len() as u64, &report[..], &mut sealed)?;
//! assert_eq!(sealed.len() as u64, attachment::sealed_size(report.len() as u64)?);
//!
//! // The recipient opens the note, reads the manifest, then streams the file open.
//! let plaintext = note::open_note(&stored, &keys)?;
//! let opened = Bundle::from_plaintext(&plaintext)?.expect("a bundle");
//! assert_eq!(opened.message(), b"see attached");
//! let file = &opened.files()[0];
//! assert_eq!(file.name(), "report.txt");
//! let mut out = Vec::new();
//! attachment::open_file(opened.key(), 0, file.size(), &sealed[..], &mut out)?;
//! assert_eq!(out, report);
//! # Ok::<(), qsmm_shield::Error>(())
//! ```
//!
//! # Construction
//!
//! - File key: 32 bytes from the operating system's random number generator, fresh per note,
//!   carried only inside the sealed bundle.
//! - Key of file `i` (its position in the manifest, from 0):
//!   `key_i` = HKDF-SHA256(salt = ∅, ikm = file key,
//!   info = `"qsmm/v1/shield/note" ‖ "/file" ‖ u32le(i)`), 32 bytes.
//! - The file's bytes are cut into chunks of [`CHUNK_LEN`] (64 KiB); the last chunk holds the
//!   rest (1 to 65,536 bytes), and an empty file is one empty chunk. So a file of `size` bytes
//!   has `max(1, ⌈size / 65536⌉)` chunks and seals to `size + 16 · chunks` bytes
//!   ([`sealed_size`]).
//! - Chunk `n` (from 0) is AES-256-GCM(`key_i`, nonce = `u88be(n) ‖ last`, AAD = ∅), where
//!   `last` is `0x01` on the final chunk and `0x00` otherwise: the STREAM construction, as age
//!   uses it. The sealed chunks are concatenated.
//!
//! # Guarantees
//!
//! - Reordering, dropping, repeating or truncating chunks fails: each chunk's nonce carries its
//!   position, and the final chunk is marked, so a stream cut at a chunk boundary is refused.
//!   Chunks of another file (another `i`) or another note (another file key) fail their tag.
//! - The manifest fixes each file's size, so the opener knows exactly how many chunks to expect
//!   and how long each is; any other length is refused before decryption.
//! - A chunk is released to the caller only after its tag checks, but a stream's completeness is
//!   known only at its end: callers that write to disk keep the output aside until
//!   [`open_file`] returns `Ok` (as the paravoid command-line client does).
//! - The server that stores the sealed chunks learns the number of files, their sealed sizes
//!   (hence the plaintext sizes), nothing of names, types or content.

use std::io::{Read, Write};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use qsmm_types::labels;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, Result};

mod manifest;

pub use manifest::{Bundle, FileEntry, FileKey};

/// Length of a plaintext chunk (64 KiB); every chunk but the last of a file has this length.
pub const CHUNK_LEN: usize = 64 * 1024;
/// Length of the AES-GCM tag after each sealed chunk.
pub const CHUNK_TAG_LEN: usize = 16;
/// Length of a full sealed chunk: [`CHUNK_LEN`] + [`CHUNK_TAG_LEN`].
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + CHUNK_TAG_LEN;
/// Largest file size a manifest accepts (2^48 − 1 bytes, exactly representable in JavaScript).
pub const MAX_FILE_SIZE: u64 = (1 << 48) - 1;
/// Most files one note may carry.
pub const MAX_FILES: usize = 32;
/// Length of a [`FileKey`].
pub const FILE_KEY_LEN: usize = 32;

/// Number of chunks of a file of `size` bytes: `max(1, ⌈size / 65536⌉)`.
///
/// # Errors
///
/// [`Error::DataTooLarge`] if `size` exceeds [`MAX_FILE_SIZE`].
pub fn chunk_count(size: u64) -> Result<u64> {
    check_size(size)?;
    Ok(size.div_ceil(CHUNK_LEN as u64).max(1))
}

/// Length of the sealed stream of a file of `size` bytes: `size + 16 · chunk_count(size)`.
///
/// # Errors
///
/// [`Error::DataTooLarge`] if `size` exceeds [`MAX_FILE_SIZE`].
pub fn sealed_size(size: u64) -> Result<u64> {
    Ok(size + CHUNK_TAG_LEN as u64 * chunk_count(size)?)
}

/// Seals file `index` of a bundle, `size` bytes read from `reader`, writing the sealed chunks
/// to `writer`; returns the number of sealed bytes written ([`sealed_size`]`(size)`).
///
/// Memory use is one chunk, whatever the file's size.
///
/// # Errors
///
/// [`Error::DataTooLarge`] if `size` exceeds [`MAX_FILE_SIZE`]; [`Error::InvalidParameter`] if
/// the reader yields fewer or more than `size` bytes; [`Error::Io`] if reading or writing fails.
/// What was written before an error is not a valid sealed file.
pub fn seal_file<R: Read, W: Write>(
    key: &FileKey,
    index: u32,
    size: u64,
    mut reader: R,
    mut writer: W,
) -> Result<u64> {
    let mut sealer = ChunkSealer::new(key, index, size)?;
    let mut chunk = Zeroizing::new(vec![0u8; CHUNK_LEN]);
    let mut written = 0u64;
    while let Some(len) = sealer.next_chunk_len() {
        let buffer = chunk.get_mut(..len).ok_or(Error::Crypto)?;
        read_exact_or(
            &mut reader,
            buffer,
            "the file is shorter than its declared size",
        )?;
        let sealed = sealer.seal_chunk(buffer)?;
        writer.write_all(&sealed)?;
        written += sealed.len() as u64;
    }
    let mut probe = [0u8; 1];
    if read_some(&mut reader, &mut probe)? != 0 {
        return Err(Error::InvalidParameter(
            "the file is longer than its declared size",
        ));
    }
    writer.flush()?;
    Ok(written)
}

/// Opens file `index` of a bundle, whose manifest says it has `size` bytes: reads the sealed
/// chunks from `reader` and writes the plaintext to `writer`; returns `size`.
///
/// Memory use is one chunk, whatever the file's size. Each chunk is written as soon as its tag
/// checks; the stream as a whole is known complete and in order only when this returns `Ok`.
///
/// # Errors
///
/// [`Error::Crypto`] if a chunk fails its tag (wrong key, modified, reordered, from another
/// file) or the stream is truncated, cut at a chunk boundary or followed by more bytes;
/// [`Error::DataTooLarge`] if `size` exceeds [`MAX_FILE_SIZE`]; [`Error::Io`] if reading or
/// writing fails.
pub fn open_file<R: Read, W: Write>(
    key: &FileKey,
    index: u32,
    size: u64,
    mut reader: R,
    mut writer: W,
) -> Result<u64> {
    let mut opener = ChunkOpener::new(key, index, size)?;
    let mut buffer = Zeroizing::new(vec![0u8; SEALED_CHUNK_LEN]);
    while let Some(len) = opener.next_sealed_len() {
        let sealed = buffer.get_mut(..len).ok_or(Error::Crypto)?;
        read_exact_or_crypto(&mut reader, sealed)?;
        let plain = opener.open_chunk_in_place(sealed)?;
        writer.write_all(plain)?;
    }
    let mut probe = [0u8; 1];
    if read_some(&mut reader, &mut probe)? != 0 {
        return Err(Error::Crypto);
    }
    writer.flush()?;
    Ok(size)
}

/// Seals one file chunk by chunk, for callers that move chunks themselves (see [`seal_file`]
/// for the whole stream).
pub struct ChunkSealer {
    cipher: Aes256Gcm,
    position: ChunkPosition,
}

impl ChunkSealer {
    /// A sealer for file `index` of `size` bytes under `key`.
    ///
    /// # Errors
    ///
    /// [`Error::DataTooLarge`] if `size` exceeds [`MAX_FILE_SIZE`].
    pub fn new(key: &FileKey, index: u32, size: u64) -> Result<Self> {
        Ok(Self {
            cipher: file_cipher(key, index)?,
            position: ChunkPosition::new(size)?,
        })
    }

    /// Length of the plaintext the next chunk must have, or `None` once the last one is sealed.
    #[must_use]
    pub fn next_chunk_len(&self) -> Option<usize> {
        self.position.next_len()
    }

    /// Seals the next chunk, which must be exactly [`next_chunk_len`](Self::next_chunk_len)
    /// bytes long, and returns it with its tag.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the chunk has another length or the file is complete.
    pub fn seal_chunk(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        if self.position.next_len() != Some(chunk.len()) {
            return Err(Error::InvalidParameter(
                "a chunk of the wrong length, or after the last one",
            ));
        }
        let nonce = self.position.nonce();
        let mut sealed = Vec::with_capacity(chunk.len() + CHUNK_TAG_LEN);
        sealed.extend_from_slice(chunk);
        self.cipher
            .encrypt_in_place(&Nonce::from(nonce), &[], &mut sealed)
            .map_err(|_| Error::Crypto)?;
        self.position.advance();
        Ok(sealed)
    }
}

impl std::fmt::Debug for ChunkSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSealer")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Opens one file chunk by chunk, in order (see [`open_file`] for the whole stream).
pub struct ChunkOpener {
    cipher: Aes256Gcm,
    position: ChunkPosition,
}

impl ChunkOpener {
    /// An opener for file `index` of `size` bytes (from the manifest) under `key`.
    ///
    /// # Errors
    ///
    /// [`Error::DataTooLarge`] if `size` exceeds [`MAX_FILE_SIZE`].
    pub fn new(key: &FileKey, index: u32, size: u64) -> Result<Self> {
        Ok(Self {
            cipher: file_cipher(key, index)?,
            position: ChunkPosition::new(size)?,
        })
    }

    /// Length the next sealed chunk must have, or `None` once the last one is open.
    #[must_use]
    pub fn next_sealed_len(&self) -> Option<usize> {
        self.position.next_len().map(|len| len + CHUNK_TAG_LEN)
    }

    /// Whether every chunk was opened: only then is the file known complete.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.position.next_len().is_none()
    }

    /// Opens the next sealed chunk in place and returns its plaintext (the front of `sealed`).
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the chunk has the wrong length for its position, fails its tag, or
    /// comes after the last one.
    pub fn open_chunk_in_place<'a>(&mut self, sealed: &'a mut [u8]) -> Result<&'a [u8]> {
        if self.next_sealed_len() != Some(sealed.len()) {
            return Err(Error::Crypto);
        }
        let (body, tag) = sealed.split_at_mut(sealed.len() - CHUNK_TAG_LEN);
        let tag: &[u8] = tag;
        self.cipher
            .decrypt_inout_detached(
                &Nonce::from(self.position.nonce()),
                &[],
                (&mut *body).into(),
                tag.try_into().map_err(|_| Error::Crypto)?,
            )
            .map_err(|_| Error::Crypto)?;
        self.position.advance();
        Ok(body)
    }
}

impl std::fmt::Debug for ChunkOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkOpener")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Where a sealer or opener stands in a file: the next chunk's counter and the bytes left.
#[derive(Debug)]
struct ChunkPosition {
    counter: u64,
    remaining: u64,
    done: bool,
}

impl ChunkPosition {
    fn new(size: u64) -> Result<Self> {
        check_size(size)?;
        Ok(Self {
            counter: 0,
            remaining: size,
            done: false,
        })
    }

    fn next_len(&self) -> Option<usize> {
        (!self.done).then(|| {
            // At most CHUNK_LEN, so the conversion cannot truncate.
            usize::try_from(self.remaining.min(CHUNK_LEN as u64)).unwrap_or(CHUNK_LEN)
        })
    }

    fn is_last(&self) -> bool {
        self.remaining <= CHUNK_LEN as u64
    }

    /// `u88be(counter) ‖ last`.
    fn nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&self.counter.to_be_bytes());
        nonce[11] = u8::from(self.is_last());
        nonce
    }

    fn advance(&mut self) {
        if self.is_last() {
            self.remaining = 0;
            self.done = true;
        } else {
            self.remaining -= CHUNK_LEN as u64;
        }
        self.counter += 1;
    }
}

fn check_size(size: u64) -> Result<()> {
    if size > MAX_FILE_SIZE {
        return Err(Error::DataTooLarge {
            max: usize::try_from(MAX_FILE_SIZE).unwrap_or(usize::MAX),
            got: usize::try_from(size).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

/// The AES-256-GCM cipher of file `index`: its key is HKDF(file key, label ‖ "/file" ‖ u32le).
fn file_cipher(key: &FileKey, index: u32) -> Result<Aes256Gcm> {
    let hkdf = Hkdf::<Sha256>::new(None, key.as_bytes());
    let mut derived = Zeroizing::new([0u8; 32]);
    hkdf.expand_multi_info(
        &[
            labels::SHIELD_NOTE.as_bytes(),
            b"/file",
            &index.to_le_bytes(),
        ],
        derived.as_mut(),
    )
    .map_err(|_| Error::Crypto)?;
    Aes256Gcm::new_from_slice(&derived[..]).map_err(|_| Error::Crypto)
}

/// Fills `buffer`, or fails with `short` if the reader ends first.
fn read_exact_or<R: Read>(reader: &mut R, buffer: &mut [u8], short: &'static str) -> Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        let rest = buffer.get_mut(filled..).ok_or(Error::Crypto)?;
        match read_some(reader, rest)? {
            0 => return Err(Error::InvalidParameter(short)),
            n => filled += n,
        }
    }
    Ok(())
}

/// Fills `buffer`, or fails with [`Error::Crypto`] (a truncated sealed stream) if the reader
/// ends first.
fn read_exact_or_crypto<R: Read>(reader: &mut R, buffer: &mut [u8]) -> Result<()> {
    read_exact_or(reader, buffer, "").map_err(|err| match err {
        Error::InvalidParameter(_) => Error::Crypto,
        other => other,
    })
}

/// One `read`, retried on interruption.
fn read_some<R: Read>(reader: &mut R, buffer: &mut [u8]) -> Result<usize> {
    loop {
        match reader.read(buffer) {
            Ok(n) => return Ok(n),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
}
