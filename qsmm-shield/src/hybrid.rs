//! The X-Wing hybrid KEM (draft-connolly-cfrg-xwing-kem): ML-KEM-768 and X25519 with a
//! SHA3-256 combiner, on the `x-wing` crate of the `RustCrypto` project.
//!
//! X-Wing stays secure while either ML-KEM-768 or X25519 holds, which makes it the recommended
//! suite for new data. Its secret key is a 32-byte seed, expanded with SHAKE256 into the
//! ML-KEM-768 seed and the X25519 secret:
//!
//! ```text
//! expanded     = SHAKE256(sk, 96)
//! (pk_M, sk_M) = ML-KEM-768.KeyGen_internal(expanded[0..32], expanded[32..64])
//! sk_X         = expanded[64..96];  pk_X = X25519(sk_X, 9)
//! ss           = SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\")
//! ```
//!
//! (`ss_M`, `ct_M`: the ML-KEM-768 shared secret and ciphertext; `ss_X`, `ct_X`: the X25519
//! shared secret and ephemeral public key.) Encodings: public key `pk_M ‖ pk_X` (1216 bytes),
//! ciphertext `ct_M ‖ ct_X` (1120 bytes), secret key the 32-byte seed. The implementation
//! reproduces the draft's test vectors byte for byte (`tests/xwing.rs`).
//!
//! ```
//! use qsmm_shield::hybrid::{XWingKeypair, XWingPublicKey};
//!
//! let keypair = XWingKeypair::generate();
//! let public = XWingPublicKey::from_bytes(&keypair.public_key().to_bytes())?;
//! let (ciphertext, sent) = public.encapsulate()?;
//! let received = keypair.secret_key().decapsulate(&ciphertext);
//! assert_eq!(sent, received);
//! # Ok::<(), qsmm_shield::Error>(())
//! ```
//!
//! # Security
//!
//! As with ML-KEM, decapsulating a wrong ciphertext returns an unrelated secret rather than an
//! error, so the derived key must be authenticated by the protocol on top. The 32-byte seed is
//! zeroized on drop; the expanded ML-KEM and X25519 secrets are recomputed (and dropped) inside
//! the `x-wing` crate on each decapsulation.

use core::fmt;

use ml_kem::array::Array;
use x_wing::{Decapsulate, KeyExport, KeyInit};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::kem::{KemSharedSecret, check_len};
use crate::{Error, Result};

/// Length of an X-Wing public (encapsulation) key `pk_M ‖ pk_X`.
pub const XWING_PUBLIC_KEY_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Length of an X-Wing secret key (its seed).
pub const XWING_SECRET_KEY_LEN: usize = x_wing::DECAPSULATION_KEY_SIZE;
/// Length of an X-Wing ciphertext `ct_M ‖ ct_X`.
pub const XWING_CIPHERTEXT_LEN: usize = x_wing::CIPHERTEXT_SIZE;
/// Length of the encapsulation randomness: the ML-KEM `m` ‖ the X25519 ephemeral secret.
pub const XWING_ENCAPSULATION_RANDOMNESS_LEN: usize = x_wing::ENCAPSULATION_RANDOMNESS_SIZE;

/// An X-Wing public (encapsulation) key.
#[derive(Clone, PartialEq, Eq)]
pub struct XWingPublicKey(Box<x_wing::EncapsulationKey>);

impl XWingPublicKey {
    /// Decodes a 1216-byte public key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not 1216 bytes long; [`Error::InvalidKey`] if the
    /// ML-KEM-768 part fails the FIPS 203 modulus check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_len("X-Wing public key", XWING_PUBLIC_KEY_LEN, bytes)?;
        x_wing::EncapsulationKey::try_from(bytes)
            .map(|key| Self(Box::new(key)))
            .map_err(|_| Error::InvalidKey)
    }

    /// The 1216-byte encoding `pk_M ‖ pk_X`.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }

    /// Encapsulates a fresh shared secret to this key.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn encapsulate(&self) -> Result<(XWingCiphertext, KemSharedSecret)> {
        let mut randomness = Zeroizing::new([0u8; XWING_ENCAPSULATION_RANDOMNESS_LEN]);
        getrandom::fill(randomness.as_mut()).map_err(|_| Error::Rng)?;
        Ok(self.encapsulate_with(&randomness))
    }

    /// Deterministic encapsulation `EncapsulateDerand(pk, eseed)` for known-answer tests.
    ///
    /// <div class="warning">Reusing or predicting <code>eseed</code> reveals the shared secret.
    /// Use [`XWingPublicKey::encapsulate`] outside of tests.</div>
    #[cfg(feature = "hazmat")]
    #[must_use]
    pub fn encapsulate_deterministic(
        &self,
        eseed: &[u8; XWING_ENCAPSULATION_RANDOMNESS_LEN],
    ) -> (XWingCiphertext, KemSharedSecret) {
        self.encapsulate_with(eseed)
    }

    fn encapsulate_with(
        &self,
        randomness: &[u8; XWING_ENCAPSULATION_RANDOMNESS_LEN],
    ) -> (XWingCiphertext, KemSharedSecret) {
        let mut randomness = Zeroizing::new(Array::from(*randomness));
        let (ct, mut ss) = self.0.encapsulate_deterministic(&randomness);
        zeroize::Zeroize::zeroize(randomness.as_mut_slice());
        (
            XWingCiphertext(Box::new(ct.into())),
            KemSharedSecret::from_array(&mut ss),
        )
    }
}

impl fmt::Debug for XWingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XWingPublicKey { .. }")
    }
}

/// An X-Wing secret key: the 32-byte seed (and the public key derived from it).
///
/// Zeroized on drop; `Debug` prints a placeholder; not `Clone`.
pub struct XWingSecretKey(Box<x_wing::DecapsulationKey>);

impl XWingSecretKey {
    /// The key of a 32-byte seed (`GenerateKeyPairDerand(seed)` of the draft).
    #[must_use]
    pub fn from_seed(seed: &[u8; XWING_SECRET_KEY_LEN]) -> Self {
        let mut seed = Zeroizing::new(Array::from(*seed));
        let key = x_wing::DecapsulationKey::new(&seed);
        zeroize::Zeroize::zeroize(seed.as_mut_slice());
        Self(Box::new(key))
    }

    /// Reads a 32-byte seed from a slice.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_len("X-Wing secret key", XWING_SECRET_KEY_LEN, bytes)?;
        let mut seed = Zeroizing::new([0u8; XWING_SECRET_KEY_LEN]);
        seed.copy_from_slice(bytes);
        Ok(Self::from_seed(&seed))
    }

    /// The 32-byte seed.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; XWING_SECRET_KEY_LEN]> {
        Zeroizing::new(*self.0.as_bytes())
    }

    /// The public key that belongs to this secret key.
    #[must_use]
    pub fn public_key(&self) -> XWingPublicKey {
        use x_wing::Decapsulator as _;
        XWingPublicKey(Box::new(self.0.encapsulation_key().clone()))
    }

    /// Decapsulates a ciphertext. A wrong ciphertext gives an unrelated secret, not an error.
    #[must_use]
    pub fn decapsulate(&self, ciphertext: &XWingCiphertext) -> KemSharedSecret {
        let mut ss = self.0.decapsulate(&x_wing::Ciphertext::from(*ciphertext.0));
        KemSharedSecret::from_array(&mut ss)
    }

    /// Decapsulates an encoded ciphertext.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `ciphertext` is not 1120 bytes long.
    pub fn decapsulate_bytes(&self, ciphertext: &[u8]) -> Result<KemSharedSecret> {
        Ok(self.decapsulate(&XWingCiphertext::from_bytes(ciphertext)?))
    }
}

// The inner key zeroizes its seed on drop (`x-wing` with its `zeroize` feature).
impl ZeroizeOnDrop for XWingSecretKey {}

impl fmt::Debug for XWingSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XWingSecretKey(..)")
    }
}

/// An X-Wing key pair.
pub struct XWingKeypair {
    secret: XWingSecretKey,
    public: XWingPublicKey,
}

impl XWingKeypair {
    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide randomness; use [`XWingKeypair::try_generate`]
    /// to get an error instead.
    #[must_use]
    #[allow(
        clippy::expect_used,
        reason = "documented: no safe fallback without randomness"
    )]
    pub fn generate() -> Self {
        Self::try_generate().expect("the operating system's random number generator failed")
    }

    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn try_generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; XWING_SECRET_KEY_LEN]);
        getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key pair of a 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; XWING_SECRET_KEY_LEN]) -> Self {
        Self::from_secret_key(XWingSecretKey::from_seed(seed))
    }

    /// The key pair of an existing secret key.
    #[must_use]
    pub fn from_secret_key(secret: XWingSecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// The public key.
    #[must_use]
    pub const fn public_key(&self) -> &XWingPublicKey {
        &self.public
    }

    /// The secret key.
    #[must_use]
    pub const fn secret_key(&self) -> &XWingSecretKey {
        &self.secret
    }

    /// Splits the pair into its secret and public keys.
    #[must_use]
    pub fn into_parts(self) -> (XWingSecretKey, XWingPublicKey) {
        (self.secret, self.public)
    }
}

impl fmt::Debug for XWingKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XWingKeypair { .. }")
    }
}

/// An X-Wing ciphertext `ct_M ‖ ct_X` (1120 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct XWingCiphertext(Box<[u8; XWING_CIPHERTEXT_LEN]>);

impl XWingCiphertext {
    /// Reads a 1120-byte ciphertext.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not 1120 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: [u8; XWING_CIPHERTEXT_LEN] =
            bytes.try_into().map_err(|_| Error::InvalidLength {
                what: "X-Wing ciphertext",
                expected: XWING_CIPHERTEXT_LEN,
                got: bytes.len(),
            })?;
        Ok(Self(Box::new(bytes)))
    }

    /// The encoding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// The encoding, as an owned vector.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl AsRef<[u8]> for XWingCiphertext {
    fn as_ref(&self) -> &[u8] {
        &self.0[..]
    }
}

impl fmt::Debug for XWingCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XWingCiphertext { .. }")
    }
}
