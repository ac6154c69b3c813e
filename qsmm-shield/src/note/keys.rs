//! The recipient's half of a note and its compact text form.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qsmm_types::{Error, Result};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{
    CLASSICAL_SECRET_LEN, COMPACT_KEYS_CHARS, COMPACT_KEYS_LEN, EXPANDED_DK_LEN, NOTE_KEM_LEVEL,
    SEED_LEN, base64url_len,
};
use crate::kem::{KemSecretKey, KemSharedSecret};

/// The recipient's half of a note: the ML-KEM-768 seed and the classical secret. Never stored
/// by the server.
///
/// Zeroized on drop; `Debug` prints a placeholder; not `Clone`.
///
/// Keys imported with [`RecipientKeys::from_expanded`] from a 2400-byte expanded key have no
/// seed (the seed cannot be recovered from the expanded form): for them [`RecipientKeys::seed`]
/// is `None` and [`RecipientKeys::to_compact`] encodes the expanded key instead (see there).
pub struct RecipientKeys {
    /// The ML-KEM-768 seed `d ‖ z`, unless imported from the expanded form.
    seed: Option<[u8; SEED_LEN]>,
    /// The classical secret.
    pub(super) classical: [u8; CLASSICAL_SECRET_LEN],
    /// The decapsulation key (from the seed, or the imported expanded key).
    pub(super) dk: KemSecretKey,
}

impl RecipientKeys {
    /// Keys from the ML-KEM-768 seed `d ‖ z` and the classical secret.
    #[must_use]
    pub fn from_seed(seed: [u8; SEED_LEN], classical_secret: [u8; CLASSICAL_SECRET_LEN]) -> Self {
        let dk = KemSecretKey::from_seed(NOTE_KEM_LEVEL, &seed);
        Self {
            seed: Some(seed),
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
        let dk = KemSecretKey::from_expanded(NOTE_KEM_LEVEL, dk)?;
        Ok(Self {
            seed: None,
            classical: *classical,
            dk,
        })
    }

    /// The 64-byte ML-KEM-768 seed `d ‖ z`, or `None` if the keys were imported from the
    /// expanded form (which does not contain it).
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub const fn seed(&self) -> Option<&[u8; SEED_LEN]> {
        self.seed.as_ref()
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
        let mut raw = match &self.seed {
            Some(seed) => Zeroizing::new(seed.to_vec()),
            None => self.dk.to_expanded(),
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
            COMPACT_KEYS_CHARS => COMPACT_KEYS_LEN,
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
    pub(super) fn decapsulate(&self, ct_kem: &[u8]) -> Result<KemSharedSecret> {
        self.dk.decapsulate_bytes(ct_kem)
    }
}

impl Drop for RecipientKeys {
    fn drop(&mut self) {
        // `Option::zeroize` wipes the seed, then sets `None`.
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

/// Characters of a compact expanded form: 2432 bytes in base64url without padding (3243).
const COMPACT_EXPANDED_CHARS: usize = base64url_len(EXPANDED_DK_LEN + CLASSICAL_SECRET_LEN);
