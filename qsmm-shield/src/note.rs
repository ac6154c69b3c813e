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
//!
//! The submodules hold one concern each: [`StoredNote`] and its encoding, the
//! [`RecipientKeys`] and their compact text form, and the Argon2id [`PassphraseParams`].

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use qsmm_types::labels;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::kem::{KEM_SEED_LEN, KemLevel, KemPublicKey, KemSharedSecret};
use crate::{Error, Result};

mod keys;
mod passphrase;
mod stored;

pub use keys::RecipientKeys;
pub use passphrase::PassphraseParams;
pub use stored::StoredNote;

/// The ML-KEM parameter set of every note; the lengths below follow from it.
pub const NOTE_KEM_LEVEL: KemLevel = KemLevel::Kem768;
/// Length of the AES-256-GCM nonce stored with a note.
pub const NOTE_NONCE_LEN: usize = 12;
/// Length of the ML-KEM-768 seed `d ‖ z` in the recipient keys.
pub const SEED_LEN: usize = KEM_SEED_LEN;
/// Length of the classical secret in the recipient keys.
pub const CLASSICAL_SECRET_LEN: usize = 32;
/// Length of an expanded ML-KEM-768 decapsulation key `dk_PKE ‖ ek ‖ H(ek) ‖ z` (2400).
pub const EXPANDED_DK_LEN: usize = NOTE_KEM_LEVEL.expanded_secret_key_len();
/// Length of the compact recipient keys `seed ‖ classical` before base64url.
pub const COMPACT_KEYS_LEN: usize = SEED_LEN + CLASSICAL_SECRET_LEN;
/// Characters of the compact recipient keys: [`COMPACT_KEYS_LEN`] bytes in unpadded base64url
/// (128), what [`RecipientKeys::to_compact`] returns for keys with a seed.
pub const COMPACT_KEYS_CHARS: usize = base64url_len(COMPACT_KEYS_LEN);
/// Length of the `key_check` value.
pub const KEY_CHECK_LEN: usize = 32;
/// Length of the Argon2id salt.
pub const PASSPHRASE_SALT_LEN: usize = 16;
/// Length of an ML-KEM-768 encapsulation key as stored in a note (1184).
pub const NOTE_EK_LEN: usize = NOTE_KEM_LEVEL.public_key_len();
/// Length of an ML-KEM-768 ciphertext as stored in a note (1088).
pub const NOTE_CT_KEM_LEN: usize = NOTE_KEM_LEVEL.ciphertext_len();
/// Length of the AES-GCM tag at the end of a note ciphertext.
pub const NOTE_TAG_LEN: usize = 16;

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
    getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
    getrandom::fill(classical.as_mut()).map_err(|_| Error::Rng)?;

    let keys = RecipientKeys::from_seed(*seed, *classical);
    let public = keys.dk.public_key();
    let note = seal_to(
        &public,
        &keys.classical,
        ciphertext_len,
        plaintext,
        passphrase,
    )?;
    Ok((note, keys))
}

/// Seals a note without passphrase to recipient keys made elsewhere, of which the sender knows
/// only the public half: the ML-KEM-768 encapsulation key `ek` and the classical secret. The
/// construction is that of [`seal_note`] from step 2 on, so the holder of the whole
/// [`RecipientKeys`] opens it with [`open_note`]. This is how a note answers a request: the
/// requester makes the keys and hands out `ek` and the classical secret, never the seed.
///
/// # Errors
///
/// [`Error::InvalidLength`] (or another key error) if `ek` is not an ML-KEM-768 encapsulation
/// key; otherwise as [`seal_note`].
///
/// ```
/// use qsmm_shield::note::{self, RecipientKeys};
///
/// let keys = RecipientKeys::from_seed([7; 64], [9; 32]);
/// let stored = note::seal_note_to(&keys.encapsulation_key(), &[9; 32], b"for you")?;
/// assert_eq!(&note::open_note(&stored, &keys)?[..], b"for you");
/// # Ok::<(), qsmm_shield::Error>(())
/// ```
pub fn seal_note_to(
    ek: &[u8],
    classical: &[u8; CLASSICAL_SECRET_LEN],
    plaintext: &[u8],
) -> Result<StoredNote> {
    let ciphertext_len = plaintext
        .len()
        .checked_add(NOTE_TAG_LEN)
        .filter(|len| u32::try_from(*len).is_ok())
        .ok_or(Error::DataTooLarge {
            max: MAX_PLAINTEXT_LEN,
            got: plaintext.len(),
        })?;
    let public = KemPublicKey::from_bytes(NOTE_KEM_LEVEL, ek)?;
    seal_to(&public, classical, ciphertext_len, plaintext, None)
}

/// Steps 2 to 8 of the construction, to the encapsulation key `public`.
fn seal_to(
    public: &KemPublicKey,
    classical: &[u8; CLASSICAL_SECRET_LEN],
    ciphertext_len: usize,
    plaintext: &[u8],
    passphrase: Option<(&[u8], PassphraseParams)>,
) -> Result<StoredNote> {
    let mut nonce = [0u8; NOTE_NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
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
    note.key_check = key_check(&ss, classical, &binding);
    let key = note_key(&ss, classical, pw.as_deref(), &binding);
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
    Ok(note)
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

/// Characters of `bytes` bytes in base64url without padding: `⌈4·bytes / 3⌉`.
const fn base64url_len(bytes: usize) -> usize {
    (4 * bytes).div_ceil(3)
}

/// Largest plaintext whose ciphertext length fits the `u32` of the encoding.
const MAX_PLAINTEXT_LEN: usize = 0xFFFF_FFFF - NOTE_TAG_LEN;
/// Length of the Argon2id output mixed into the key.
const PASSPHRASE_KEY_LEN: usize = 32;
