//! age v1 files (age-encryption.org/v1, C2SP `age.md`): encrypt and decrypt files that any age
//! implementation opens, to X25519 (`age1…`) and post-quantum hybrid (`age1pq1…`) recipients.
//!
//! The hybrid recipient type of age 1.3 wraps the file key with HPKE base mode, KEM
//! MLKEM768-X25519 (X-Wing), HKDF-SHA256 and ChaCha20-Poly1305; its identities are 32-byte
//! seeds (`AGE-SECRET-KEY-PQ-1…`). It stays secure while either ML-KEM-768 or X25519 holds,
//! and is the type to use for new keys.
//!
//! ```
//! use qsmm_shield::age::{self, Identity};
//!
//! let identity = Identity::generate_hybrid()?;
//! let file = age::encrypt(&[identity.to_recipient()], b"attack at dawn", true)?;
//! assert!(file.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
//! assert_eq!(age::decrypt(&[identity], &file)?, b"attack at dawn");
//! # Ok::<(), age::AgeError>(())
//! ```
//!
//! [`Encryptor`] and [`Decryptor`] stream (constant memory: one 64 KiB chunk);
//! [`wrap_key`] and [`unwrap_key`] wrap a 32-byte [`SecretKey`] as an age file, so a key
//! escrowed with qsmm opens with `age -d -i key.txt` or any other age implementation.
//!
//! # Format
//!
//! ```text
//! file key    = 16 random bytes
//! header      = "age-encryption.org/v1\n", one stanza per recipient (the file key wrapped to
//!               it), "--- " HMAC-SHA-256 of the header under HKDF(file key, "header") "\n"
//! payload     = 16-byte nonce ‖ STREAM chunks (64 KiB, ChaCha20-Poly1305) under
//!               HKDF(ikm = file key, salt = nonce, info = "payload")
//! armor       = optional PEM "AGE ENCRYPTED FILE" around the whole file
//! ```
//!
//! See [`Header`] for the header grammar, [`Identity`] and [`Recipient`] for the stanzas.
//!
//! # Errors
//!
//! Decryption reports the failure classes of the age test suite: [`AgeError::NoMatch`],
//! [`AgeError::Header`], [`AgeError::HeaderMac`], [`AgeError::Payload`] and
//! [`AgeError::Armor`]. [`Decryptor`] releases plaintext only a verified chunk at a time; after
//! a payload error the plaintext already read is authentic but incomplete.
//!
//! # Security
//!
//! - Confidentiality and integrity of the payload against anyone without an identity (for
//!   hybrid recipients as long as ML-KEM-768 or X25519 holds). Truncation, reordering and
//!   extension of the payload are detected.
//! - No sender authentication: anyone with a recipient can make a file for it, and anyone who
//!   can open a file can re-encrypt its file key to make another with the same key.
//! - Files to hybrid recipients may not also go to X25519 recipients
//!   ([`AgeError::MixedRecipients`]), so a quantum computer cannot open them through the
//!   classical stanza.
//! - Secret keys, file keys, payload keys and plaintext buffers are zeroized; `Debug` never
//!   prints secrets. The `bech32` crate's internal buffers while parsing an identity string are
//!   not zeroized.
//! - Passphrase files ([`encrypt_with_passphrase`], [`decrypt_with_passphrase`]) are as
//!   strong as the passphrase against scrypt at the file's work factor; an scrypt stanza must
//!   be alone in its header, and work factors above [`MAX_WORK_FACTOR`] are refused
//!   ([`AgeError::WorkFactor`]) before any work is done.

use std::io::{self, BufReader, Chain, Cursor, Read, Write};

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use qsmm_types::SecretKey;

mod armor;
mod header;
mod keys;
mod scrypt;
mod stream;

use armor::{ArmoredReader, ArmoredWriter};
pub use header::{Header, Stanza};
pub use keys::{Identity, Recipient};
pub use scrypt::{DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR, Passphrase};
use stream::{PAYLOAD_NONCE_LEN, StreamReader, StreamWriter};

/// Length of an age file key.
pub const FILE_KEY_LEN: usize = 16;
/// Bytes looked at to tell an armored file from a binary one.
const PREFIX_LEN: usize = 1024;

/// Everything that can go wrong with an age file.
///
/// The decryption variants follow the failure classes of the C2SP CCTV age test vectors
/// (`expect:` lines): `no match`, `header failure`, `HMAC failure`, `payload failure`,
/// `armor failure`. As with [`crate::Error::Crypto`], none of them says which check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgeError {
    /// No identity opened any stanza of the header.
    #[error("no identity matched the file")]
    NoMatch,
    /// The header is malformed, names another version, or holds a stanza its identity type
    /// must reject (also a payload nonce cut short).
    #[error("malformed age header")]
    Header,
    /// The header MAC did not verify under the unwrapped file key.
    #[error("age header MAC verification failed")]
    HeaderMac,
    /// The payload failed to decrypt: a chunk was modified, cut, reordered, missing or extended.
    #[error("age payload decryption failed")]
    Payload,
    /// The ASCII armor is malformed.
    #[error("malformed age armor")]
    Armor,
    /// A recipient or identity string is malformed, of an unknown type or an invalid key.
    #[error("invalid age recipient or identity")]
    InvalidKey,
    /// Encryption was asked for no recipient.
    #[error("no recipients given")]
    NoRecipients,
    /// An scrypt work factor outside `1..=`[`MAX_WORK_FACTOR`]: asked for on encryption, or
    /// named by a file's passphrase stanza (refused without running scrypt).
    #[error("scrypt work factor out of range (at most {MAX_WORK_FACTOR})")]
    WorkFactor,
    /// Post-quantum and classical recipients were mixed in one file.
    #[error("post-quantum and X25519 recipients cannot be mixed")]
    MixedRecipients,
    /// The decrypted file is not what was expected (for [`unwrap_key`]: not a 32-byte key).
    #[error("the decrypted content has the wrong length")]
    WrongContent,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
    /// An internal cryptographic operation failed (not caused by the input).
    #[error("cryptographic operation failed")]
    Crypto,
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
}

impl AgeError {
    /// Recovers an [`AgeError`] that travelled through [`io::Read`] or [`io::Write`] as an
    /// [`io::Error`], or wraps a genuine I/O error as [`AgeError::Io`].
    ///
    /// ```
    /// use std::io::Read;
    /// use qsmm_shield::age::{self, AgeError, Decryptor, Identity};
    ///
    /// let identity = Identity::generate_x25519()?;
    /// let mut file = age::encrypt(&[identity.to_recipient()], b"data", false)?;
    /// let last = file.len() - 1;
    /// file[last] ^= 1;
    /// let mut reader = Decryptor::new(&[identity], file.as_slice())?;
    /// let error = reader.read_to_end(&mut Vec::new()).unwrap_err();
    /// assert!(matches!(AgeError::from_io(error), AgeError::Payload));
    /// # Ok::<(), AgeError>(())
    /// ```
    #[must_use]
    pub fn from_io(error: io::Error) -> Self {
        if error.get_ref().is_some_and(|inner| inner.is::<Self>()) {
            if let Some(inner) = error.into_inner()
                && let Ok(age) = inner.downcast::<Self>()
            {
                return *age;
            }
            return Self::Crypto;
        }
        Self::Io(error)
    }
}

impl From<AgeError> for crate::Error {
    fn from(error: AgeError) -> Self {
        match error {
            AgeError::InvalidKey => Self::InvalidKey,
            AgeError::NoRecipients | AgeError::MixedRecipients => {
                Self::InvalidParameter("age recipients")
            }
            AgeError::WorkFactor => Self::InvalidParameter("scrypt work factor"),
            AgeError::Rng => Self::Rng,
            AgeError::Io(error) => Self::Io(error),
            _ => Self::Crypto,
        }
    }
}

/// The 16-byte key of one age file, which every stanza wraps.
///
/// <div class="warning">This is key material: it opens the file.</div>
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; FILE_KEY_LEN]);

impl FileKey {
    /// The key bytes.
    ///
    /// <div class="warning">This is key material.</div>
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; FILE_KEY_LEN] {
        &self.0
    }

    fn generate() -> Result<Self, AgeError> {
        let mut key = [0u8; FILE_KEY_LEN];
        getrandom::fill(&mut key).map_err(|_| AgeError::Rng)?;
        Ok(Self(key))
    }
}

impl From<[u8; FILE_KEY_LEN]> for FileKey {
    fn from(bytes: [u8; FILE_KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for FileKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

/// Encrypts `plaintext` to `recipients` as one age file, armored if `armor` is set.
///
/// # Examples
///
/// ```
/// use qsmm_shield::age::{self, Identity};
///
/// let alice = Identity::generate_hybrid()?;
/// let bob = Identity::generate_hybrid()?;
/// let file = age::encrypt(&[alice.to_recipient(), bob.to_recipient()], b"hi", false)?;
/// assert_eq!(age::decrypt(&[bob], &file)?, b"hi");
/// # Ok::<(), age::AgeError>(())
/// ```
///
/// # Errors
///
/// [`AgeError::NoRecipients`], [`AgeError::MixedRecipients`] (hybrid and X25519 together),
/// [`AgeError::Rng`].
pub fn encrypt(
    recipients: &[Recipient],
    plaintext: &[u8],
    armor: bool,
) -> Result<Vec<u8>, AgeError> {
    let mut encryptor = Encryptor::new(recipients, Vec::new(), armor)?;
    encryptor.write_all(plaintext).map_err(AgeError::from_io)?;
    encryptor.finish()
}

/// Decrypts a whole age file (binary or armored) with the first identity that opens it.
///
/// # Examples
///
/// See [`encrypt`].
///
/// # Errors
///
/// [`AgeError::NoMatch`], [`AgeError::Header`], [`AgeError::HeaderMac`],
/// [`AgeError::Payload`] or [`AgeError::Armor`]: see [`AgeError`].
pub fn decrypt(identities: &[Identity], file: &[u8]) -> Result<Vec<u8>, AgeError> {
    let mut plaintext = Vec::new();
    Decryptor::new(identities, file)?
        .read_to_end(&mut plaintext)
        .map_err(|error| {
            plaintext.zeroize();
            AgeError::from_io(error)
        })?;
    Ok(plaintext)
}

/// Encrypts `plaintext` with a passphrase (one scrypt stanza of work factor `log_n`, i.e.
/// N = 2^`log_n`; age's default is [`DEFAULT_WORK_FACTOR`]), armored if `armor` is set.
///
/// # Examples
///
/// See [`Passphrase`].
///
/// # Errors
///
/// [`AgeError::WorkFactor`] if `log_n` is outside `1..=`[`MAX_WORK_FACTOR`], [`AgeError::Rng`].
pub fn encrypt_with_passphrase(
    passphrase: &Passphrase,
    log_n: u8,
    plaintext: &[u8],
    armor: bool,
) -> Result<Vec<u8>, AgeError> {
    let mut encryptor = Encryptor::with_passphrase(passphrase, log_n, Vec::new(), armor)?;
    encryptor.write_all(plaintext).map_err(AgeError::from_io)?;
    encryptor.finish()
}

/// Decrypts a whole passphrase-encrypted age file (binary or armored).
///
/// # Examples
///
/// See [`Passphrase`].
///
/// # Errors
///
/// As [`decrypt`] ([`AgeError::NoMatch`] for a wrong passphrase or a file without an scrypt
/// stanza), and [`AgeError::WorkFactor`] for a work factor above [`MAX_WORK_FACTOR`].
pub fn decrypt_with_passphrase(passphrase: &Passphrase, file: &[u8]) -> Result<Vec<u8>, AgeError> {
    let mut plaintext = Vec::new();
    Decryptor::with_passphrase(passphrase, file)?
        .read_to_end(&mut plaintext)
        .map_err(|error| {
            plaintext.zeroize();
            AgeError::from_io(error)
        })?;
    Ok(plaintext)
}

/// Wraps a 32-byte key as an age file to `recipients` (armored if `armor` is set): the
/// age-compatible sibling of [`crate::wrap::wrap_key`].
///
/// Any age implementation opens the result with a matching identity and yields the 32 raw key
/// bytes; [`unwrap_key`] does the same and checks the length.
///
/// # Examples
///
/// ```
/// use qsmm_types::SecretKey;
/// use qsmm_shield::age::{self, Identity};
///
/// let escrow = Identity::generate_hybrid()?;
/// let key = SecretKey::generate();
/// let file = age::wrap_key(&[escrow.to_recipient()], &key, true)?;
/// assert_eq!(age::unwrap_key(&[escrow], &file)?, key);
/// # Ok::<(), qsmm_shield::Error>(())
/// ```
///
/// # Errors
///
/// [`crate::Error::InvalidParameter`] for no or mixed recipients, [`crate::Error::Rng`].
pub fn wrap_key(recipients: &[Recipient], key: &SecretKey, armor: bool) -> crate::Result<Vec<u8>> {
    Ok(encrypt(recipients, key.as_bytes(), armor)?)
}

/// Opens a key wrapped by [`wrap_key`] (or by any age tool encrypting 32 bytes).
///
/// # Errors
///
/// [`crate::Error::Crypto`] if no identity opens the file, it is malformed or modified, or it
/// does not hold exactly 32 bytes.
pub fn unwrap_key(identities: &[Identity], file: &[u8]) -> crate::Result<SecretKey> {
    let plaintext = Zeroizing::new(decrypt(identities, file)?);
    SecretKey::try_from_slice(&plaintext).map_err(|_| crate::Error::Crypto)
}

/// Encrypts an age file as it is written: a [`Write`] whose output goes to `W`.
///
/// Call [`Encryptor::finish`] at the end; dropping it without finishing leaves a file that
/// fails to decrypt (no last chunk).
///
/// ```
/// use std::io::Write;
/// use qsmm_shield::age::{self, Encryptor, Identity};
///
/// let identity = Identity::generate_hybrid()?;
/// let mut encryptor = Encryptor::new(&[identity.to_recipient()], Vec::new(), false)?;
/// encryptor.write_all(b"streamed").map_err(age::AgeError::from_io)?;
/// let file = encryptor.finish()?;
/// assert_eq!(age::decrypt(&[identity], &file)?, b"streamed");
/// # Ok::<(), age::AgeError>(())
/// ```
pub struct Encryptor<W: Write> {
    stream: StreamWriter<Output<W>>,
}

impl<W: Write> Encryptor<W> {
    /// Writes the header for `recipients` to `output` and returns the payload writer.
    ///
    /// # Errors
    ///
    /// [`AgeError::NoRecipients`], [`AgeError::MixedRecipients`], [`AgeError::Rng`],
    /// [`AgeError::Io`] if writing the header fails.
    pub fn new(recipients: &[Recipient], output: W, armor: bool) -> Result<Self, AgeError> {
        if recipients.is_empty() {
            return Err(AgeError::NoRecipients);
        }
        let post_quantum = recipients.iter().filter(|r| r.is_post_quantum()).count();
        if post_quantum != 0 && post_quantum != recipients.len() {
            return Err(AgeError::MixedRecipients);
        }
        let file_key = FileKey::generate()?;
        let stanzas = recipients
            .iter()
            .map(|recipient| recipient.wrap(&file_key))
            .collect::<Result<Vec<_>, _>>()?;
        Self::start(&stanzas, &file_key, output, armor)
    }

    /// Writes the header of a passphrase file (one scrypt stanza of work factor `log_n`) to
    /// `output` and returns the payload writer.
    ///
    /// # Errors
    ///
    /// [`AgeError::WorkFactor`] if `log_n` is outside `1..=`[`MAX_WORK_FACTOR`],
    /// [`AgeError::Rng`], [`AgeError::Io`] if writing the header fails.
    pub fn with_passphrase(
        passphrase: &Passphrase,
        log_n: u8,
        output: W,
        armor: bool,
    ) -> Result<Self, AgeError> {
        let file_key = FileKey::generate()?;
        let stanza = passphrase.wrap(&file_key, log_n)?;
        Self::start(&[stanza], &file_key, output, armor)
    }

    fn start(
        stanzas: &[Stanza],
        file_key: &FileKey,
        output: W,
        armor: bool,
    ) -> Result<Self, AgeError> {
        let header = header::encode(stanzas, file_key)?;
        let mut nonce = [0u8; PAYLOAD_NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| AgeError::Rng)?;
        let key = stream::payload_key(file_key, &nonce)?;

        let mut output = if armor {
            Output::Armored(ArmoredWriter::new(output).map_err(AgeError::Io)?)
        } else {
            Output::Binary(output)
        };
        output.write_all(&header).map_err(AgeError::Io)?;
        output.write_all(&nonce).map_err(AgeError::Io)?;
        Ok(Self {
            stream: StreamWriter::new(output, &key),
        })
    }

    /// Writes the last chunk (and the armor's end line) and returns the output.
    ///
    /// # Errors
    ///
    /// [`AgeError::Io`] if writing fails.
    pub fn finish(self) -> Result<W, AgeError> {
        match self.stream.finish().map_err(AgeError::from_io)? {
            Output::Binary(output) => Ok(output),
            Output::Armored(armored) => armored.finish().map_err(AgeError::Io),
        }
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl<W: Write> core::fmt::Debug for Encryptor<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encryptor").finish_non_exhaustive()
    }
}

/// Decrypts an age file (binary or armored, told apart by its first bytes) as it is read.
///
/// [`Decryptor::new`] reads and checks the header; reads then return verified plaintext one
/// chunk at a time. A read error carries an [`AgeError`] ([`AgeError::from_io`] recovers it).
///
/// ```
/// use std::io::Read;
/// use qsmm_shield::age::{self, Decryptor, Identity};
///
/// let identity = Identity::generate_x25519()?;
/// let file = age::encrypt(&[identity.to_recipient()], &[1; 100_000], true)?;
/// let mut plaintext = Vec::new();
/// Decryptor::new(&[identity], file.as_slice())?
///     .read_to_end(&mut plaintext)
///     .map_err(age::AgeError::from_io)?;
/// assert_eq!(plaintext, [1; 100_000]);
/// # Ok::<(), age::AgeError>(())
/// ```
pub struct Decryptor<R: Read> {
    stream: StreamReader<BufReader<Input<R>>>,
}

impl<R: Read> Decryptor<R> {
    /// Reads the header from `input` and unwraps the file key with the first identity that
    /// opens a stanza.
    ///
    /// # Errors
    ///
    /// [`AgeError::Armor`], [`AgeError::Header`], [`AgeError::NoMatch`],
    /// [`AgeError::HeaderMac`], or [`AgeError::Io`] if reading fails.
    pub fn new(identities: &[Identity], input: R) -> Result<Self, AgeError> {
        Self::open(input, |stanza| {
            for identity in identities {
                if let Some(key) = identity.unwrap_stanza(stanza)? {
                    return Ok(Some(key));
                }
            }
            Ok(None)
        })
    }

    /// Reads the header of a passphrase file from `input` and unwraps the file key with
    /// `passphrase`.
    ///
    /// # Errors
    ///
    /// As [`Decryptor::new`] ([`AgeError::NoMatch`] for a wrong passphrase or a file without
    /// an scrypt stanza), and [`AgeError::WorkFactor`] for a work factor above
    /// [`MAX_WORK_FACTOR`] (refused before running scrypt).
    pub fn with_passphrase(passphrase: &Passphrase, input: R) -> Result<Self, AgeError> {
        Self::open(input, |stanza| passphrase.unwrap_stanza(stanza))
    }

    /// Reads the header and unwraps the file key with the first stanza `unwrap` opens.
    fn open(
        mut input: R,
        mut unwrap: impl FnMut(&Stanza) -> Result<Option<FileKey>, AgeError>,
    ) -> Result<Self, AgeError> {
        let mut prefix = vec![0u8; PREFIX_LEN];
        let filled = read_full(&mut input, &mut prefix)?;
        prefix.truncate(filled);
        let binary = prefix.starts_with(header::VERSION_LINE_PREFIX)
            || header::VERSION_LINE_PREFIX.starts_with(&prefix);
        // Anything that is not (the start of) a binary file is read as armor, so that text
        // around an armored file is reported as an armor failure.
        let joined = Cursor::new(prefix).chain(input);
        let input = if binary {
            Input::Binary(joined)
        } else {
            Input::Armored(ArmoredReader::new(BufReader::new(joined)))
        };
        let mut reader = BufReader::new(input);

        let header = Header::read(&mut reader)?;
        let stanzas = header.stanzas();
        if stanzas.len() > 1
            && stanzas
                .iter()
                .any(|s| s.args().first().is_some_and(|a| a == scrypt::SCRYPT_TAG))
        {
            // age-encryption.org/v1: an scrypt stanza must be alone in its header.
            return Err(AgeError::Header);
        }
        let mut file_key = None;
        for stanza in stanzas {
            if let Some(key) = unwrap(stanza)? {
                file_key = Some(key);
                break;
            }
        }
        let file_key = file_key.ok_or(AgeError::NoMatch)?;
        header.verify_mac(&file_key)?;

        let mut nonce = [0u8; PAYLOAD_NONCE_LEN];
        if read_full(&mut reader, &mut nonce)? != PAYLOAD_NONCE_LEN {
            return Err(AgeError::Header);
        }
        let key = stream::payload_key(&file_key, &nonce)?;
        Ok(Self {
            stream: StreamReader::new(reader, &key),
        })
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.stream.read(out)
    }
}

impl<R: Read> core::fmt::Debug for Decryptor<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decryptor").finish_non_exhaustive()
    }
}

/// Where an [`Encryptor`] writes.
enum Output<W: Write> {
    Binary(W),
    Armored(ArmoredWriter<W>),
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::Binary(output) => output.write(data),
            Self::Armored(output) => output.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Binary(output) => output.flush(),
            Self::Armored(output) => output.flush(),
        }
    }
}

/// Where a [`Decryptor`] reads: the peeked prefix, then the rest.
enum Input<R: Read> {
    Binary(Chain<Cursor<Vec<u8>>, R>),
    Armored(ArmoredReader<BufReader<Chain<Cursor<Vec<u8>>, R>>>),
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Binary(input) => input.read(out),
            Self::Armored(input) => input.read(out),
        }
    }
}

/// Reads until `buffer` is full or the input ends; returns how much was read.
fn read_full<R: Read>(reader: &mut R, buffer: &mut [u8]) -> Result<usize, AgeError> {
    let mut filled = 0;
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
