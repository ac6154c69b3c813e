//! The paravoid one-time note scheme: ML-KEM-768 + a 32-byte classical secret → HKDF-SHA256 →
//! AES-256-GCM, with an optional Argon2id passphrase.
//!
//! [`seal_note`] encrypts a note and returns two halves: the [`StoredNote`], which holds no
//! secret and is all a server keeps, and the [`RecipientKeys`], which the server hands to the
//! sender once (typically in the fragment of a link) and never stores.
//!
//! ```
//! use qsmm_shield::note::{self, RecipientKeys, StoredNote};
//!
//! let (stored, keys) = note::seal_note(b"the launch code is 0000")?;
//!
//! // The server keeps only the encoded note; the link carries the compact keys.
//! let on_disk = stored.to_bytes();
//! let link = keys.to_compact();
//!
//! let stored = StoredNote::from_bytes(&on_disk)?;
//! let keys = RecipientKeys::from_compact(&link)?;
//! note::check_link_keys(&stored, &keys)?;
//! let plaintext = note::open_note(&stored, &keys)?;
//! assert_eq!(&plaintext[..], b"the launch code is 0000");
//! # Ok::<(), qsmm_shield::Error>(())
//! ```
//!
//! # Construction
//!
//! Sealing, with every secret drawn from the operating system's random number generator:
//!
//! 1. `seed` ← 64 random bytes; `(dk, ek)` = ML-KEM-768.KeyGen(`seed` = `d ‖ z`).
//! 2. `(ct_kem, ss_pq)` = ML-KEM-768.Encaps(`ek`).
//! 3. `classical` ← 32 random bytes.
//! 4. With a passphrase: `salt` ← 16 random bytes,
//!    `pw` = Argon2id(passphrase, `salt`, m, t, p) (32 bytes, version 0x13).
//! 5. `header` = `"QSNT" ‖ 0x01 ‖ flags ‖ SHA-256(ek) ‖ ct_kem [‖ salt ‖ m ‖ t ‖ p]`
//!    (integers little-endian `u32`; flags bit 0 = passphrase) and `binding` = SHA-256(`header`).
//! 6. `key_check` = HKDF-SHA256(salt = ∅, ikm = `ss_pq ‖ classical`,
//!    info = `"qsmm/v1/shield/note" ‖ "/key-check" ‖ binding`), 32 bytes.
//! 7. `key` = HKDF-SHA256(salt = ∅, ikm = `ss_pq ‖ classical [‖ pw]`,
//!    info = `"qsmm/v1/shield/note" ‖ "/aead" ‖ binding`), 32 bytes.
//! 8. `ciphertext` = AES-256-GCM(`key`, `nonce` ← 12 random bytes, AAD = `header`, plaintext).
//!
//! The server stores `ek`, `ct_kem`, `nonce`, `ciphertext`, the passphrase parameters and
//! `key_check`; the recipient gets `seed` and `classical`. Opening recomputes `ss_pq` by
//! decapsulation, compares `key_check` in constant time (wrong link keys →
//! [`NoteOpenError::WrongKeys`]), then derives `key` and decrypts (a failure there, once the
//! link keys are known right, means a wrong passphrase or a modified note).
//!
//! # Guarantees
//!
//! - Confidentiality and integrity of the plaintext need `seed` (for `ss_pq`) **and**
//!   `classical`, plus the passphrase if one was set. The stored note alone reveals nothing but
//!   the plaintext length.
//! - Any change to `ek`, `ct_kem`, the flags or passphrase parameters changes `binding`, so both
//!   `key_check` and the key change; any change to the nonce or ciphertext fails the GCM tag.
//! - `key_check` is a one-way function of the link keys and the header: it lets whoever holds
//!   the stored note tell "wrong link keys" from "wrong passphrase" without being able to
//!   decrypt, and without the passphrase ever being needed for that test. It does not help an
//!   offline passphrase guesser, who still needs the link keys.
//! - Each note uses a fresh ML-KEM key pair, classical secret, salt and nonce: notes are
//!   independent and a GCM nonce never repeats under one key.
//! - Every intermediate secret (seeds, shared secret, Argon2id output, AES key, decrypted
//!   plaintext) is held in zeroizing buffers.
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

use core::fmt;

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use qsmm_types::labels;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::kem::{KemLevel, KemSecretKey, KemSharedSecret};
use crate::reader::Reader;
use crate::{Error, Result};

/// Length of the AES-256-GCM nonce stored with a note.
pub const NOTE_NONCE_LEN: usize = 12;
/// Length of the ML-KEM-768 seed `d ‖ z` in the recipient keys.
pub const SEED_LEN: usize = 64;
/// Length of the classical secret in the recipient keys.
pub const CLASSICAL_SECRET_LEN: usize = 32;
/// Length of an expanded ML-KEM-768 decapsulation key `dk_PKE ‖ ek ‖ H(ek) ‖ z`.
pub const EXPANDED_DK_LEN: usize = 2400;
/// Length of the compact recipient keys `seed ‖ classical` before base64url.
pub const COMPACT_KEYS_LEN: usize = SEED_LEN + CLASSICAL_SECRET_LEN;
/// Length of the `key_check` value.
pub const KEY_CHECK_LEN: usize = 32;
/// Length of the Argon2id salt.
pub const PASSPHRASE_SALT_LEN: usize = 16;
/// Length of an ML-KEM-768 encapsulation key as stored in a note.
pub const NOTE_EK_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext as stored in a note.
pub const NOTE_CT_KEM_LEN: usize = 1088;
/// Length of the AES-GCM tag at the end of a note ciphertext.
pub const NOTE_TAG_LEN: usize = 16;

/// The magic bytes that open an encoded [`StoredNote`].
const MAGIC: &[u8; 4] = b"QSNT";
/// The encoding version of [`StoredNote::to_bytes`].
const VERSION: u8 = 1;
/// Flag bit: passphrase parameters follow.
const FLAG_PASSPHRASE: u8 = 0x01;
/// Length of the encoded passphrase parameters.
const PARAMS_LEN: usize = PASSPHRASE_SALT_LEN + 12;
/// Length of the Argon2id output mixed into the key.
const PASSPHRASE_KEY_LEN: usize = 32;

/// Everything a server keeps about a note. It holds no secret, so `Clone` and `Debug` are
/// ordinary.
///
/// The fields are public for storage layers that keep them in separate columns;
/// [`StoredNote::to_bytes`] and [`StoredNote::from_bytes`] give one versioned encoding (see the
/// [module docs](self) for its layout). Opening checks every length again, so a hand-built
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
    /// Commitment to the recipient keys; see [`check_link_keys`].
    pub key_check: [u8; KEY_CHECK_LEN],
}

impl StoredNote {
    /// The versioned encoding (layout in the [module docs](self)).
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
    fn header(&self) -> Vec<u8> {
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
    fn check_shape(&self) -> core::result::Result<(), NoteOpenError> {
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

/// Argon2id parameters and salt of a passphrase-protected note. Public.
///
/// ```
/// use qsmm_shield::note::PassphraseParams;
///
/// let params = PassphraseParams::generate()?;
/// assert_eq!(params.m_cost_kib, PassphraseParams::DEFAULT_M_COST_KIB);
/// assert!(params.validate().is_ok());
/// # Ok::<(), qsmm_shield::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a plain record of public parameters"
)]
pub struct PassphraseParams {
    /// The random 16-byte salt.
    pub salt: [u8; PASSPHRASE_SALT_LEN],
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism.
    pub p_cost: u32,
}

impl PassphraseParams {
    /// Default memory cost: 19 MiB (the OWASP recommendation for Argon2id).
    pub const DEFAULT_M_COST_KIB: u32 = 19_456;
    /// Default number of passes.
    pub const DEFAULT_T_COST: u32 = 2;
    /// Default parallelism.
    pub const DEFAULT_P_COST: u32 = 1;
    /// Largest memory cost accepted: 256 MiB, so a stored note cannot make its opener allocate
    /// without bound.
    pub const MAX_M_COST_KIB: u32 = 262_144;
    /// Largest number of passes accepted.
    pub const MAX_T_COST: u32 = 16;
    /// Largest parallelism accepted.
    pub const MAX_P_COST: u32 = 16;

    /// The default costs with a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn generate() -> Result<Self> {
        Self::with_costs(
            Self::DEFAULT_M_COST_KIB,
            Self::DEFAULT_T_COST,
            Self::DEFAULT_P_COST,
        )
    }

    /// Chosen costs with a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the costs are out of bounds (see
    /// [`PassphraseParams::validate`]); [`Error::Rng`] if the operating system cannot provide
    /// randomness.
    pub fn with_costs(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let mut salt = [0u8; PASSPHRASE_SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| Error::Rng)?;
        let params = Self {
            salt,
            m_cost_kib,
            t_cost,
            p_cost,
        };
        params.validate()?;
        Ok(params)
    }

    /// Checks the costs: `1 ≤ p ≤ 16`, `1 ≤ t ≤ 16`, `8·p ≤ m ≤ 262144` KiB.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] otherwise.
    pub fn validate(&self) -> Result<()> {
        let p_ok = (1..=Self::MAX_P_COST).contains(&self.p_cost);
        let t_ok = (1..=Self::MAX_T_COST).contains(&self.t_cost);
        let m_ok = self.m_cost_kib <= Self::MAX_M_COST_KIB
            && u64::from(self.m_cost_kib) >= 8 * u64::from(self.p_cost);
        if p_ok && t_ok && m_ok {
            Ok(())
        } else {
            Err(Error::InvalidParameter("Argon2id costs out of bounds"))
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.m_cost_kib.to_le_bytes());
        out.extend_from_slice(&self.t_cost.to_le_bytes());
        out.extend_from_slice(&self.p_cost.to_le_bytes());
    }

    /// Argon2id(passphrase, salt) → 32 bytes.
    fn derive(&self, passphrase: &[u8]) -> Result<Zeroizing<[u8; PASSPHRASE_KEY_LEN]>> {
        self.validate()?;
        let params = argon2::Params::new(
            self.m_cost_kib,
            self.t_cost,
            self.p_cost,
            Some(PASSPHRASE_KEY_LEN),
        )
        .map_err(|_| Error::InvalidParameter("Argon2id costs out of bounds"))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; PASSPHRASE_KEY_LEN]);
        argon
            .hash_password_into(passphrase, &self.salt, out.as_mut())
            .map_err(|_| Error::InvalidParameter("passphrase too long"))?;
        Ok(out)
    }
}

/// The recipient's half of a note: the ML-KEM-768 seed and the classical secret. Never stored
/// by the server.
///
/// Zeroized on drop; `Debug` prints a placeholder; not `Clone`.
///
/// Keys imported with [`RecipientKeys::from_expanded`] from a 2400-byte expanded key have no
/// seed (the seed cannot be recovered from the expanded form): for them [`RecipientKeys::seed`]
/// is all zeros, [`RecipientKeys::has_seed`] is `false`, and [`RecipientKeys::to_compact`]
/// encodes the expanded key instead (see there).
pub struct RecipientKeys {
    seed: [u8; SEED_LEN],
    has_seed: bool,
    classical: [u8; CLASSICAL_SECRET_LEN],
    dk: KemSecretKey,
}

impl RecipientKeys {
    /// Keys from the ML-KEM-768 seed `d ‖ z` and the classical secret.
    #[must_use]
    pub fn from_seed(seed: [u8; SEED_LEN], classical_secret: [u8; CLASSICAL_SECRET_LEN]) -> Self {
        let dk = KemSecretKey::from_seed(KemLevel::Kem768, &seed);
        Self {
            seed,
            has_seed: true,
            classical: classical_secret,
            dk,
        }
    }

    /// Keys from a decapsulation key and the classical secret.
    ///
    /// `dk` is either the 2400-byte expanded ML-KEM-768 key `dk_PKE ‖ ek ‖ H(ek) ‖ z`, checked
    /// as FIPS 203 §7.3 requires, or the 64-byte seed.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidLength`] if `dk` is neither 2400 nor 64 bytes, or `classical_secret`
    ///   is not 32 bytes;
    /// - [`Error::InvalidKey`] if the expanded key fails the FIPS 203 checks (corrupted
    ///   embedded `ek` or `H(ek)`).
    pub fn from_expanded(dk: &[u8], classical_secret: &[u8]) -> Result<Self> {
        let classical: [u8; CLASSICAL_SECRET_LEN] =
            classical_secret
                .try_into()
                .map_err(|_| Error::InvalidLength {
                    what: "classical secret",
                    expected: CLASSICAL_SECRET_LEN,
                    got: classical_secret.len(),
                })?;
        let classical = Zeroizing::new(classical);
        if dk.len() == SEED_LEN {
            let mut seed = Zeroizing::new([0u8; SEED_LEN]);
            seed.copy_from_slice(dk);
            return Ok(Self::from_seed(*seed, *classical));
        }
        if dk.len() != EXPANDED_DK_LEN {
            return Err(Error::InvalidLength {
                what: "ML-KEM-768 decapsulation key",
                expected: EXPANDED_DK_LEN,
                got: dk.len(),
            });
        }
        let dk = KemSecretKey::from_expanded(KemLevel::Kem768, dk)?;
        Ok(Self {
            seed: [0; SEED_LEN],
            has_seed: false,
            classical: *classical,
            dk,
        })
    }

    /// The 64-byte ML-KEM-768 seed `d ‖ z`; all zeros if the keys were imported from the
    /// expanded form (check [`RecipientKeys::has_seed`]).
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub const fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    /// Whether [`RecipientKeys::seed`] holds the seed (`false` after importing an expanded key).
    #[must_use]
    pub const fn has_seed(&self) -> bool {
        self.has_seed
    }

    /// The 32-byte classical secret.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub const fn classical_secret(&self) -> &[u8; CLASSICAL_SECRET_LEN] {
        &self.classical
    }

    /// The 2400-byte expanded ML-KEM-768 decapsulation key `dk_PKE ‖ ek ‖ H(ek) ‖ z`.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub fn expanded_decapsulation_key(&self) -> Zeroizing<Vec<u8>> {
        self.dk.to_expanded()
    }

    /// The ML-KEM-768 encapsulation key these keys decapsulate for.
    #[must_use]
    pub fn encapsulation_key(&self) -> Vec<u8> {
        self.dk.public_key().to_bytes()
    }

    /// The compact text form: base64url without padding of `seed ‖ classical` (96 bytes →
    /// 128 characters), fit for a URL fragment.
    ///
    /// Keys imported from an expanded key have no seed; their compact form encodes
    /// `expanded dk ‖ classical` instead (2432 bytes → 3243 characters), which
    /// [`RecipientKeys::from_compact`] also reads.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub fn to_compact(&self) -> Zeroizing<String> {
        let mut raw = if self.has_seed {
            Zeroizing::new(self.seed.to_vec())
        } else {
            self.dk.to_expanded()
        };
        raw.extend_from_slice(&self.classical);
        Zeroizing::new(URL_SAFE_NO_PAD.encode(&raw[..]))
    }

    /// Reads [`RecipientKeys::to_compact`] output.
    ///
    /// Strict: only the base64url alphabet, no padding, no whitespace, canonical trailing bits,
    /// and exactly 128 characters (seed form) or 3243 characters (expanded form).
    ///
    /// # Errors
    ///
    /// [`Error::Encoding`] for any other input; [`Error::InvalidKey`] if an expanded key inside
    /// fails the FIPS 203 checks.
    pub fn from_compact(s: &str) -> Result<Self> {
        const WHAT: &str = "compact recipient keys";
        let raw_len = match s.len() {
            COMPACT_SEED_CHARS => COMPACT_KEYS_LEN,
            COMPACT_EXPANDED_CHARS => EXPANDED_DK_LEN + CLASSICAL_SECRET_LEN,
            _ => return Err(Error::Encoding(WHAT)),
        };
        let mut raw = Zeroizing::new(vec![0u8; raw_len]);
        let written = URL_SAFE_NO_PAD
            .decode_slice(s.as_bytes(), &mut raw[..])
            .map_err(|_| Error::Encoding(WHAT))?;
        if written != raw_len {
            return Err(Error::Encoding(WHAT));
        }
        let split = raw_len - CLASSICAL_SECRET_LEN;
        let (dk, classical) = raw.split_at(split);
        Self::from_expanded(dk, classical)
    }

    /// ML-KEM-768 decapsulation of a stored `ct_kem` (length checked by the caller).
    fn decapsulate(&self, ct_kem: &[u8]) -> Result<KemSharedSecret> {
        self.dk.decapsulate_bytes(ct_kem)
    }
}

impl Drop for RecipientKeys {
    fn drop(&mut self) {
        self.seed.zeroize();
        self.classical.zeroize();
        // `dk` zeroizes itself.
    }
}

impl ZeroizeOnDrop for RecipientKeys {}

impl fmt::Debug for RecipientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecipientKeys(..)")
    }
}

/// Why a note did not open. Every variant turns into [`Error::Crypto`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteOpenError {
    /// The recipient keys are not those of this note (the `key_check` differs).
    #[error("decryption failed")]
    WrongKeys,
    /// The recipient keys are right but decryption failed: the passphrase is wrong (or the
    /// ciphertext was modified).
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The note needs a passphrase and none was given.
    #[error("passphrase required")]
    PassphraseRequired,
    /// The note is malformed or was modified.
    #[error("decryption failed")]
    Corrupt,
}

impl From<NoteOpenError> for Error {
    fn from(_: NoteOpenError) -> Self {
        Self::Crypto
    }
}

/// Seals a note without a passphrase.
///
/// # Errors
///
/// [`Error::Rng`] if the operating system cannot provide randomness; [`Error::DataTooLarge`]
/// if the ciphertext would not fit the 32-bit length of the encoding.
pub fn seal_note(plaintext: &[u8]) -> Result<(StoredNote, RecipientKeys)> {
    seal(plaintext, None)
}

/// Seals a note that also needs `passphrase` to open, with the default Argon2id costs
/// (m = 19 MiB, t = 2, p = 1).
///
/// # Errors
///
/// As [`seal_note`]; [`Error::InvalidParameter`] if the passphrase is empty.
///
/// ```
/// use qsmm_shield::note::{self, NoteOpenError};
///
/// let (stored, keys) = note::seal_note_with_passphrase(b"secret", b"correct horse")?;
/// assert!(matches!(
///     note::open_note_with_passphrase(&stored, &keys, None),
///     Err(NoteOpenError::PassphraseRequired)
/// ));
/// let plaintext = note::open_note_with_passphrase(&stored, &keys, Some(b"correct horse"))?;
/// assert_eq!(&plaintext[..], b"secret");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seal_note_with_passphrase(
    plaintext: &[u8],
    passphrase: &[u8],
) -> Result<(StoredNote, RecipientKeys)> {
    seal_note_with_passphrase_params(plaintext, passphrase, PassphraseParams::generate()?)
}

/// Seals a note with a passphrase and chosen Argon2id parameters (for instance lighter ones
/// made with [`PassphraseParams::with_costs`]). The salt must be fresh and random.
///
/// # Errors
///
/// As [`seal_note_with_passphrase`]; [`Error::InvalidParameter`] if the parameters are out of
/// bounds.
pub fn seal_note_with_passphrase_params(
    plaintext: &[u8],
    passphrase: &[u8],
    params: PassphraseParams,
) -> Result<(StoredNote, RecipientKeys)> {
    if passphrase.is_empty() {
        return Err(Error::InvalidParameter("empty passphrase"));
    }
    params.validate()?;
    seal(plaintext, Some((passphrase, params)))
}

/// Opens a note that needs no passphrase.
///
/// # Errors
///
/// [`Error::Crypto`] if the keys are wrong, the note was modified, or it needs a passphrase.
pub fn open_note(note: &StoredNote, keys: &RecipientKeys) -> Result<Zeroizing<Vec<u8>>> {
    Ok(open_note_with_passphrase(note, keys, None)?)
}

/// Opens a note, with its passphrase if it has one.
///
/// A passphrase given for a note that has none is ignored.
///
/// # Errors
///
/// - [`NoteOpenError::Corrupt`] if the note is malformed, or (no passphrase) was modified;
/// - [`NoteOpenError::WrongKeys`] if the recipient keys are not this note's (or the public
///   header was modified);
/// - [`NoteOpenError::PassphraseRequired`] if the note needs a passphrase and none was given;
/// - [`NoteOpenError::WrongPassphrase`] if the keys are right but decryption failed with the
///   given passphrase (or the ciphertext was modified).
pub fn open_note_with_passphrase(
    note: &StoredNote,
    keys: &RecipientKeys,
    passphrase: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, NoteOpenError> {
    note.check_shape()?;
    let header = note.header();
    let binding: [u8; 32] = Sha256::digest(&header).into();
    let ss = keys
        .decapsulate(&note.ct_kem)
        .map_err(|_| NoteOpenError::Corrupt)?;
    let expected = key_check(&ss, &keys.classical, &binding);
    if !bool::from(expected.ct_eq(&note.key_check)) {
        return Err(NoteOpenError::WrongKeys);
    }
    let pw = match (&note.passphrase, passphrase) {
        (None, _) => None,
        (Some(_), None) => return Err(NoteOpenError::PassphraseRequired),
        (Some(params), Some(passphrase)) => Some(
            params
                .derive(passphrase)
                .map_err(|_| NoteOpenError::WrongPassphrase)?,
        ),
    };
    let key = note_key(&ss, &keys.classical, pw.as_deref(), &binding);
    let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| NoteOpenError::Corrupt)?;
    let mut buffer = Zeroizing::new(note.ciphertext.clone());
    let opened = cipher.decrypt_in_place(&Nonce::from(note.nonce), &header, &mut *buffer);
    match opened {
        Ok(()) => Ok(buffer),
        Err(_) if note.passphrase.is_some() => Err(NoteOpenError::WrongPassphrase),
        Err(_) => Err(NoteOpenError::Corrupt),
    }
}

/// Checks, in constant time, that `keys` are the recipient keys of `note`, without decrypting
/// and without the passphrase.
///
/// # Errors
///
/// [`Error::Crypto`] if they are not (or the note is malformed).
///
/// ```
/// use qsmm_shield::note;
///
/// let (stored, keys) = note::seal_note(b"hi")?;
/// let (_, other_keys) = note::seal_note(b"hi")?;
/// assert!(note::check_link_keys(&stored, &keys).is_ok());
/// assert!(note::check_link_keys(&stored, &other_keys).is_err());
/// # Ok::<(), qsmm_shield::Error>(())
/// ```
pub fn check_link_keys(note: &StoredNote, keys: &RecipientKeys) -> Result<()> {
    note.check_shape()?;
    let binding: [u8; 32] = Sha256::digest(note.header()).into();
    let ss = keys.decapsulate(&note.ct_kem).map_err(|_| Error::Crypto)?;
    let expected = key_check(&ss, &keys.classical, &binding);
    if bool::from(expected.ct_eq(&note.key_check)) {
        Ok(())
    } else {
        Err(Error::Crypto)
    }
}

fn seal(
    plaintext: &[u8],
    passphrase: Option<(&[u8], PassphraseParams)>,
) -> Result<(StoredNote, RecipientKeys)> {
    let ciphertext_len = plaintext
        .len()
        .checked_add(NOTE_TAG_LEN)
        .filter(|len| u32::try_from(*len).is_ok())
        .ok_or(Error::DataTooLarge {
            max: MAX_PLAINTEXT_LEN,
            got: plaintext.len(),
        })?;

    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    let mut classical = Zeroizing::new([0u8; CLASSICAL_SECRET_LEN]);
    let mut nonce = [0u8; NOTE_NONCE_LEN];
    getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
    getrandom::fill(classical.as_mut()).map_err(|_| Error::Rng)?;
    getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;

    let keys = RecipientKeys::from_seed(*seed, *classical);
    let public = keys.dk.public_key();
    let (ct_kem, ss) = public.encapsulate()?;

    let (pw, params) = match passphrase {
        Some((passphrase, params)) => (Some(params.derive(passphrase)?), Some(params)),
        None => (None, None),
    };

    let mut note = StoredNote {
        ek: public.to_bytes(),
        ct_kem: ct_kem.to_bytes(),
        nonce,
        ciphertext: Vec::new(),
        passphrase: params,
        key_check: [0; KEY_CHECK_LEN],
    };
    let header = note.header();
    let binding: [u8; 32] = Sha256::digest(&header).into();
    note.key_check = key_check(&ss, &keys.classical, &binding);
    let key = note_key(&ss, &keys.classical, pw.as_deref(), &binding);
    let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| Error::Crypto)?;
    note.ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &header,
            },
        )
        .map_err(|_| Error::Crypto)?;
    debug_assert_eq!(note.ciphertext.len(), ciphertext_len);
    Ok((note, keys))
}

/// `key_check` = HKDF-SHA256(ikm = ss ‖ classical, info = label ‖ "/key-check" ‖ binding).
fn key_check(
    ss: &KemSharedSecret,
    classical: &[u8; CLASSICAL_SECRET_LEN],
    binding: &[u8; 32],
) -> [u8; KEY_CHECK_LEN] {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(ss.as_bytes());
    ikm[32..].copy_from_slice(classical);
    let mut out = [0u8; KEY_CHECK_LEN];
    hkdf_expand(
        &ikm[..],
        &[labels::SHIELD_NOTE.as_bytes(), b"/key-check", binding],
        &mut out,
    );
    out
}

/// The AES-256 key = HKDF-SHA256(ikm = ss ‖ classical [‖ pw], info = label ‖ "/aead" ‖ binding).
fn note_key(
    ss: &KemSharedSecret,
    classical: &[u8; CLASSICAL_SECRET_LEN],
    pw: Option<&[u8; PASSPHRASE_KEY_LEN]>,
    binding: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(96));
    ikm.extend_from_slice(ss.as_bytes());
    ikm.extend_from_slice(classical);
    if let Some(pw) = pw {
        ikm.extend_from_slice(pw);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf_expand(
        &ikm,
        &[labels::SHIELD_NOTE.as_bytes(), b"/aead", binding],
        out.as_mut(),
    );
    out
}

/// HKDF-SHA256 with an empty salt; `out` is at most 32 bytes, so expansion cannot fail.
fn hkdf_expand(ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let hkdf = Hkdf::<Sha256>::new(None, ikm);
    if hkdf.expand_multi_info(info, out).is_err() {
        unreachable!("HKDF-SHA256 output of at most 32 bytes is always valid");
    }
}

/// Characters of a compact seed form: 96 bytes in base64url without padding.
const COMPACT_SEED_CHARS: usize = 128;
/// Characters of a compact expanded form: 2432 bytes in base64url without padding.
const COMPACT_EXPANDED_CHARS: usize = 3243;
/// Largest plaintext whose ciphertext length fits the `u32` of the encoding.
const MAX_PLAINTEXT_LEN: usize = 0xFFFF_FFFF - NOTE_TAG_LEN;
