//! The bundle a note with files carries as its plaintext: message, file key and manifest.
//!
//! Byte layout (integers little-endian):
//!
//! ```text
//! bundle = "\0QSF" ‖ 0x01 ‖ file key (32) ‖ u32 message_len ‖ message ‖ u8 file_count ‖ file*
//! file   = u8 name_len ‖ name (UTF-8) ‖ u8 type_len ‖ media type (ASCII) ‖ u64 size
//! ```
//!
//! A note plaintext that starts with the four magic bytes is a bundle; any other plaintext is
//! a bare message. A sender whose message (without files) starts with the magic wraps it in a
//! bundle with no files, so every plaintext reads one way only.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{FILE_KEY_LEN, MAX_FILES};
use crate::{Error, Result};

/// The key under which a bundle's files are sealed ([`super::seal_file`]); fresh per note and
/// carried only inside the sealed note.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; FILE_KEY_LEN]);

impl FileKey {
    /// A fresh key from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the generator fails.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; FILE_KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|_| Error::Rng)?;
        Ok(Self(bytes))
    }

    /// A key from its bytes (known-answer tests, or a key read from an opened bundle).
    #[must_use]
    pub fn from_bytes(bytes: [u8; FILE_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    ///
    /// <div class="warning">This is key material: it opens every file of the note.</div>
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; FILE_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

/// One file of a bundle's manifest: its name, media type and size in bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct FileEntry {
    name: String,
    media_type: String,
    size: u64,
}

impl FileEntry {
    /// A manifest entry, checked: the name is 1 to 255 bytes of UTF-8 with no control
    /// character, no `/` or `\` and not `.` or `..` (so it is safe as a file name in any
    /// directory); the media type is at most 127 printable ASCII characters (may be empty);
    /// the size is at most [`MAX_FILE_SIZE`](super::MAX_FILE_SIZE).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the name or type is not acceptable;
    /// [`Error::DataTooLarge`] if the size is.
    pub fn new(name: &str, media_type: &str, size: u64) -> Result<Self> {
        check_name(name)?;
        check_media_type(media_type)?;
        super::check_size(size)?;
        Ok(Self {
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            size,
        })
    }

    /// The file's name, safe to use as one path component.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's media type as the sender gave it (may be empty).
    #[must_use]
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The file's size in bytes (before sealing).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl std::fmt::Debug for FileEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The name and type are part of the sealed content: not printed.
        f.debug_struct("FileEntry")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A note's plaintext when it carries files: the message, the [`FileKey`] and the manifest.
pub struct Bundle {
    message: Zeroizing<Vec<u8>>,
    key: FileKey,
    files: Vec<FileEntry>,
}

impl Bundle {
    /// The four bytes every bundle starts with.
    pub const MAGIC: [u8; 4] = *b"\0QSF";
    /// The format version after the magic.
    pub const VERSION: u8 = 1;

    /// A bundle of `message` and `files` under a fresh file key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if there are more than [`MAX_FILES`] files;
    /// [`Error::DataTooLarge`] if the message exceeds `u32::MAX` bytes; [`Error::Rng`].
    pub fn new(message: &[u8], files: Vec<FileEntry>) -> Result<Self> {
        Self::with_key(message, files, FileKey::generate()?)
    }

    /// A bundle under a given key: for known-answer tests only, since the key must be fresh.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_key(message: &[u8], files: Vec<FileEntry>, key: FileKey) -> Result<Self> {
        if files.len() > MAX_FILES {
            return Err(Error::InvalidParameter("too many files in one note"));
        }
        if u32::try_from(message.len()).is_err() {
            return Err(Error::DataTooLarge {
                max: u32::MAX as usize,
                got: message.len(),
            });
        }
        Ok(Self {
            message: Zeroizing::new(message.to_vec()),
            key,
            files,
        })
    }

    /// Whether a note plaintext is a bundle (starts with [`MAGIC`](Self::MAGIC)). A sender
    /// sending a bare message for which this holds must wrap it in a bundle without files.
    #[must_use]
    pub fn is_bundle(plaintext: &[u8]) -> bool {
        plaintext.starts_with(&Self::MAGIC)
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The key of the files.
    #[must_use]
    pub fn key(&self) -> &FileKey {
        &self.key
    }

    /// The manifest, in file-index order.
    #[must_use]
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The note plaintext that carries this bundle.
    #[must_use]
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            64 + self.message.len() + self.files.len() * 300,
        ));
        out.extend_from_slice(&Self::MAGIC);
        out.push(Self::VERSION);
        out.extend_from_slice(self.key.as_bytes());
        // Checked in the constructor.
        let message_len = u32::try_from(self.message.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&message_len.to_le_bytes());
        out.extend_from_slice(&self.message);
        // At most MAX_FILES (32), checked in the constructor.
        out.push(u8::try_from(self.files.len()).unwrap_or(u8::MAX));
        for file in &self.files {
            // Names are at most 255 bytes and types 127, checked in `FileEntry::new`.
            out.push(u8::try_from(file.name.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(file.name.as_bytes());
            out.push(u8::try_from(file.media_type.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(file.media_type.as_bytes());
            out.extend_from_slice(&file.size.to_le_bytes());
        }
        out
    }

    /// Reads a note plaintext: `Ok(None)` if it is a bare message (no magic), the bundle if it
    /// is one.
    ///
    /// # Errors
    ///
    /// [`Error::Encoding`] if it starts with the magic but is not a valid bundle (unknown
    /// version, truncated, trailing bytes, too many files, a name or type that
    /// [`FileEntry::new`] refuses).
    pub fn from_plaintext(plaintext: &[u8]) -> Result<Option<Self>> {
        if !Self::is_bundle(plaintext) {
            return Ok(None);
        }
        let mut reader = Cursor(&plaintext[Self::MAGIC.len()..]);
        if reader.u8()? != Self::VERSION {
            return Err(BAD);
        }
        let key = FileKey::from_bytes(reader.array()?);
        let message_len = usize::try_from(u32::from_le_bytes(reader.array()?)).map_err(|_| BAD)?;
        let message = Zeroizing::new(reader.take(message_len)?.to_vec());
        let count = usize::from(reader.u8()?);
        if count > MAX_FILES {
            return Err(BAD);
        }
        let mut files = Vec::with_capacity(count);
        for _ in 0..count {
            let name_len = usize::from(reader.u8()?);
            let name = std::str::from_utf8(reader.take(name_len)?).map_err(|_| BAD)?;
            let type_len = usize::from(reader.u8()?);
            let media_type = std::str::from_utf8(reader.take(type_len)?).map_err(|_| BAD)?;
            let size = u64::from_le_bytes(reader.array()?);
            files.push(FileEntry::new(name, media_type, size).map_err(|_| BAD)?);
        }
        if !reader.0.is_empty() {
            return Err(BAD);
        }
        Ok(Some(Self {
            message,
            key,
            files,
        }))
    }
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("message_len", &self.message.len())
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

const BAD: Error = Error::Encoding("note file manifest");
const MAX_NAME_LEN: usize = 255;
const MAX_TYPE_LEN: usize = 127;

fn check_name(name: &str) -> Result<()> {
    let acceptable = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if acceptable {
        Ok(())
    } else {
        Err(Error::InvalidParameter(
            "a file name must be 1 to 255 bytes, without control characters, / or \\, and not . or ..",
        ))
    }
}

fn check_media_type(media_type: &str) -> Result<()> {
    if media_type.len() <= MAX_TYPE_LEN && media_type.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Ok(())
    } else {
        Err(Error::InvalidParameter(
            "a media type must be at most 127 printable ASCII characters",
        ))
    }
}

/// A strict reader over the bundle's bytes: every read is bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.0.len() {
            return Err(BAD);
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| BAD)
    }
}
