//! What a server keeps: [`StoredNote`] and its versioned byte encoding.
//!
//! # Stored note encoding (version 1)
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 4 | magic `"QSNT"` |
//! | 4 | 1 | version `0x01` |
//! | 5 | 1 | flags: bit 0 = passphrase parameters present; other bits zero |
//! | 6 | 1184 | `ek`, ML-KEM-768 encapsulation key |
//! | 1190 | 1088 | `ct_kem`, ML-KEM-768 ciphertext |
//! | 2278 | 12 | AES-GCM nonce |
//! | 2290 | 32 | `key_check` |
//! | 2322 | 28 | only with flag bit 0: salt (16) ‖ `m_cost_kib` ‖ `t_cost` ‖ `p_cost` (`u32` LE each) |
//! | … | 4 | ciphertext length `n` (`u32` LE, at least 16) |
//! | … | `n` | AES-256-GCM ciphertext ‖ 16-byte tag |
//!
//! The total length must match exactly: truncated or extended encodings are rejected.

use qsmm_types::{Error, Result};
use sha2::{Digest, Sha256};

use super::{
    KEY_CHECK_LEN, NOTE_CT_KEM_LEN, NOTE_EK_LEN, NOTE_NONCE_LEN, NOTE_TAG_LEN, NoteOpenError,
    PASSPHRASE_SALT_LEN, PassphraseParams,
};
use crate::reader::Reader;

/// Everything a server keeps about a note. It holds no secret, so `Clone` and `Debug` are
/// ordinary.
///
/// The fields are public for storage layers that keep them in separate columns;
/// [`StoredNote::to_bytes`] and [`StoredNote::from_bytes`] give one versioned encoding (see the
/// [module docs](crate::note) for its layout). Opening checks every length again, so a hand-built
/// `StoredNote` with wrong lengths fails to open, never panics.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a plain record of the stored fields, built by storage layers"
)]
pub struct StoredNote {
    /// The ML-KEM-768 encapsulation key (1184 bytes).
    pub ek: Vec<u8>,
    /// The ML-KEM-768 ciphertext (1088 bytes).
    pub ct_kem: Vec<u8>,
    /// The AES-256-GCM nonce.
    pub nonce: [u8; NOTE_NONCE_LEN],
    /// The AES-256-GCM ciphertext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
    /// The Argon2id parameters, if the note needs a passphrase.
    pub passphrase: Option<PassphraseParams>,
    /// Commitment to the recipient keys; see [`check_link_keys`](super::check_link_keys).
    pub key_check: [u8; KEY_CHECK_LEN],
}

impl StoredNote {
    /// The versioned encoding (layout in the [module docs](crate::note)).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let params_len = if self.passphrase.is_some() {
            PARAMS_LEN
        } else {
            0
        };
        let mut out = Vec::with_capacity(
            6 + self.ek.len()
                + self.ct_kem.len()
                + NOTE_NONCE_LEN
                + KEY_CHECK_LEN
                + params_len
                + 4
                + self.ciphertext.len(),
        );
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(if self.passphrase.is_some() {
            FLAG_PASSPHRASE
        } else {
            0
        });
        out.extend_from_slice(&self.ek);
        out.extend_from_slice(&self.ct_kem);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.key_check);
        if let Some(params) = &self.passphrase {
            params.encode_into(&mut out);
        }
        // A note built by `seal_note` always fits; a hand-built one with a ciphertext over
        // 4 GiB gets a length that `from_bytes` rejects rather than a wrapped one.
        let len = u32::try_from(self.ciphertext.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes [`StoredNote::to_bytes`] output, checking every length.
    ///
    /// # Errors
    ///
    /// [`Error::Encoding`] if the magic, version or flags are unknown, the passphrase
    /// parameters are out of bounds (see [`PassphraseParams::validate`]), the ciphertext is
    /// shorter than its tag, or the input is truncated or extended.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "stored note";
        let mut reader = Reader::new(bytes, WHAT);
        if reader.take(MAGIC.len())? != MAGIC || reader.byte()? != VERSION {
            return Err(Error::Encoding(WHAT));
        }
        let flags = reader.byte()?;
        if flags & !FLAG_PASSPHRASE != 0 {
            return Err(Error::Encoding(WHAT));
        }
        let ek = reader.take(NOTE_EK_LEN)?.to_vec();
        let ct_kem = reader.take(NOTE_CT_KEM_LEN)?.to_vec();
        let nonce = reader.array::<NOTE_NONCE_LEN>()?;
        let key_check = reader.array::<KEY_CHECK_LEN>()?;
        let passphrase = if flags & FLAG_PASSPHRASE == 0 {
            None
        } else {
            let params = PassphraseParams {
                salt: reader.array::<PASSPHRASE_SALT_LEN>()?,
                m_cost_kib: reader.u32()?,
                t_cost: reader.u32()?,
                p_cost: reader.u32()?,
            };
            params.validate().map_err(|_| Error::Encoding(WHAT))?;
            Some(params)
        };
        let len = usize::try_from(reader.u32()?).map_err(|_| Error::Encoding(WHAT))?;
        if len < NOTE_TAG_LEN {
            return Err(Error::Encoding(WHAT));
        }
        let ciphertext = reader.take(len)?.to_vec();
        reader.finish()?;
        Ok(Self {
            ek,
            ct_kem,
            nonce,
            ciphertext,
            passphrase,
            key_check,
        })
    }

    /// Whether opening this note needs a passphrase.
    #[must_use]
    pub const fn needs_passphrase(&self) -> bool {
        self.passphrase.is_some()
    }

    /// The header that is both AES-GCM associated data and (hashed) the HKDF binding.
    pub(super) fn header(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(6 + 32 + NOTE_CT_KEM_LEN + PARAMS_LEN);
        header.extend_from_slice(MAGIC);
        header.push(VERSION);
        header.push(if self.passphrase.is_some() {
            FLAG_PASSPHRASE
        } else {
            0
        });
        header.extend_from_slice(&Sha256::digest(&self.ek));
        header.extend_from_slice(&self.ct_kem);
        if let Some(params) = &self.passphrase {
            params.encode_into(&mut header);
        }
        header
    }

    /// Checks the public lengths before any cryptography.
    pub(super) fn check_shape(&self) -> core::result::Result<(), NoteOpenError> {
        let params_ok = self
            .passphrase
            .as_ref()
            .is_none_or(|p| p.validate().is_ok());
        if self.ek.len() == NOTE_EK_LEN
            && self.ct_kem.len() == NOTE_CT_KEM_LEN
            && self.ciphertext.len() >= NOTE_TAG_LEN
            && params_ok
        {
            Ok(())
        } else {
            Err(NoteOpenError::Corrupt)
        }
    }
}

impl TryFrom<&[u8]> for StoredNote {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes(bytes)
    }
}

/// The magic bytes that open an encoded [`StoredNote`].
const MAGIC: &[u8; 4] = b"QSNT";
/// The encoding version of [`StoredNote::to_bytes`].
const VERSION: u8 = 1;
/// Flag bit: passphrase parameters follow.
const FLAG_PASSPHRASE: u8 = 0x01;
/// Length of the encoded passphrase parameters.
const PARAMS_LEN: usize = PASSPHRASE_SALT_LEN + 12;
