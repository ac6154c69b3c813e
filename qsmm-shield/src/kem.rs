//! ML-KEM (FIPS 203) at its three security levels, on the `ml-kem` crate of the `RustCrypto` project.
//!
//! A [`KemKeypair`] holds a [`KemSecretKey`] (decapsulation key) and a [`KemPublicKey`]
//! (encapsulation key). Encapsulating to the public key gives a [`KemCiphertext`] and a 32-byte
//! [`KemSharedSecret`]; decapsulating the ciphertext with the secret key gives the same secret.
//!
//! ```
//! use qsmm_shield::kem::{KemKeypair, KemLevel, KemPublicKey};
//!
//! let keypair = KemKeypair::generate(KemLevel::Kem768);
//!
//! // The sender only has the encoded public key.
//! let public = KemPublicKey::from_bytes(KemLevel::Kem768, &keypair.public_key().to_bytes())?;
//! let (ciphertext, sent) = public.encapsulate()?;
//!
//! let received = keypair.secret_key().decapsulate(&ciphertext)?;
//! assert_eq!(sent, received);
//! # Ok::<(), qsmm_shield::Error>(())
//! ```
//!
//! # Encodings
//!
//! | object | encoding | ML-KEM-512 | ML-KEM-768 | ML-KEM-1024 |
//! |---|---|---|---|---|
//! | public key | FIPS 203 `ek` | 800 | 1184 | 1568 |
//! | secret key, seed form | `d ‖ z` | 64 | 64 | 64 |
//! | secret key, expanded form | `dk_PKE ‖ ek ‖ H(ek) ‖ z` | 1632 | 2400 | 3168 |
//! | ciphertext | FIPS 203 `c` | 768 | 1088 | 1568 |
//! | shared secret | `K` | 32 | 32 | 32 |
//!
//! These raw encodings do not name their level: the decoder is told which level to expect and
//! checks the length. Public keys must pass the FIPS 203 §7.2 modulus check and expanded secret
//! keys the §7.3 hash check, else [`Error::InvalidKey`].
//!
//! # Security
//!
//! - Decapsulating a well-formed but wrong ciphertext does not fail: as FIPS 203 requires, it
//!   returns a pseudorandom secret (implicit rejection), so a protocol built on top must
//!   authenticate the derived key (as [`wrap`](crate::wrap) and [`note`](crate::note) do).
//! - Secret keys and shared secrets are zeroized when dropped and never printed by `Debug`.
//!   Keys that came from a seed keep the seed, so [`KemSecretKey::to_seed`] works; keys imported
//!   in the expanded form have no seed.

use core::fmt;

#[allow(
    deprecated,
    reason = "the expanded key form is needed for interoperability"
)]
use ml_kem::ExpandedKeyEncoding;
use ml_kem::{Decapsulate, KeyExport, ml_kem_512, ml_kem_768, ml_kem_1024};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

/// Length of an ML-KEM secret key in its seed form `d ‖ z`, at every level.
pub const KEM_SEED_LEN: usize = 64;

/// Length of an ML-KEM shared secret, at every level.
pub const KEM_SHARED_SECRET_LEN: usize = 32;

/// Length of the encapsulation randomness `m` of FIPS 203 `ML-KEM.Encaps_internal`.
pub const KEM_ENCAPSULATION_RANDOMNESS_LEN: usize = 32;

/// An ML-KEM parameter set (FIPS 203 §8).
///
/// ```
/// use qsmm_shield::kem::KemLevel;
///
/// assert_eq!(KemLevel::Kem768.public_key_len(), 1184);
/// assert_eq!(KemLevel::Kem768.ciphertext_len(), 1088);
/// assert_eq!(KemLevel::Kem768.name(), "ML-KEM-768");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KemLevel {
    /// ML-KEM-512, NIST security category 1.
    Kem512,
    /// ML-KEM-768, NIST security category 3 (recommended).
    Kem768,
    /// ML-KEM-1024, NIST security category 5.
    Kem1024,
}

impl KemLevel {
    /// Every level, from the smallest.
    pub const ALL: [Self; 3] = [Self::Kem512, Self::Kem768, Self::Kem1024];

    /// The FIPS 203 name, such as `"ML-KEM-768"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Kem512 => "ML-KEM-512",
            Self::Kem768 => "ML-KEM-768",
            Self::Kem1024 => "ML-KEM-1024",
        }
    }

    /// Length of an encoded public (encapsulation) key.
    #[must_use]
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::Kem512 => 800,
            Self::Kem768 => 1184,
            Self::Kem1024 => 1568,
        }
    }

    /// Length of an expanded secret (decapsulation) key `dk_PKE ‖ ek ‖ H(ek) ‖ z`.
    #[must_use]
    pub const fn expanded_secret_key_len(self) -> usize {
        match self {
            Self::Kem512 => 1632,
            Self::Kem768 => 2400,
            Self::Kem1024 => 3168,
        }
    }

    /// Length of a ciphertext.
    #[must_use]
    pub const fn ciphertext_len(self) -> usize {
        match self {
            Self::Kem512 => 768,
            Self::Kem768 => 1088,
            Self::Kem1024 => 1568,
        }
    }
}

impl fmt::Display for KemLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `$body` with `$key` bound to the inner key of whichever level `$value` holds.
macro_rules! dispatch {
    ($inner:ident, $value:expr, $key:ident => $body:expr) => {
        match $value {
            $inner::Kem512($key) => $body,
            $inner::Kem768($key) => $body,
            $inner::Kem1024($key) => $body,
        }
    };
}

/// An ML-KEM public (encapsulation) key of any level.
///
/// Public: `Clone`, `Debug` (level and length only) and `==` are ordinary.
#[derive(Clone, PartialEq, Eq)]
pub struct KemPublicKey(PublicInner);

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    Kem512(Box<ml_kem_512::EncapsulationKey>),
    Kem768(Box<ml_kem_768::EncapsulationKey>),
    Kem1024(Box<ml_kem_1024::EncapsulationKey>),
}

impl KemPublicKey {
    /// Decodes a public key of the given level.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidLength`] if `bytes` is not [`KemLevel::public_key_len`] long;
    /// - [`Error::InvalidKey`] if a coefficient is not reduced modulo q (FIPS 203 §7.2 modulus
    ///   check).
    pub fn from_bytes(level: KemLevel, bytes: &[u8]) -> Result<Self> {
        check_len("ML-KEM public key", level.public_key_len(), bytes)?;
        let inner = match level {
            KemLevel::Kem512 => PublicInner::Kem512(Box::new(
                ml_kem_512::EncapsulationKey::new(to_array(bytes)?)
                    .map_err(|_| Error::InvalidKey)?,
            )),
            KemLevel::Kem768 => PublicInner::Kem768(Box::new(
                ml_kem_768::EncapsulationKey::new(to_array(bytes)?)
                    .map_err(|_| Error::InvalidKey)?,
            )),
            KemLevel::Kem1024 => PublicInner::Kem1024(Box::new(
                ml_kem_1024::EncapsulationKey::new(to_array(bytes)?)
                    .map_err(|_| Error::InvalidKey)?,
            )),
        };
        Ok(Self(inner))
    }

    /// The level of this key.
    #[must_use]
    pub const fn level(&self) -> KemLevel {
        match self.0 {
            PublicInner::Kem512(_) => KemLevel::Kem512,
            PublicInner::Kem768(_) => KemLevel::Kem768,
            PublicInner::Kem1024(_) => KemLevel::Kem1024,
        }
    }

    /// The FIPS 203 encoding of the key ([`KemLevel::public_key_len`] bytes).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        dispatch!(PublicInner, &self.0, key => key.to_bytes().to_vec())
    }

    /// Encapsulates a fresh shared secret to this key.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn encapsulate(&self) -> Result<(KemCiphertext, KemSharedSecret)> {
        let mut m = Zeroizing::new([0u8; KEM_ENCAPSULATION_RANDOMNESS_LEN]);
        getrandom::fill(m.as_mut()).map_err(|_| Error::Rng)?;
        Ok(self.encapsulate_with(&m))
    }

    /// Deterministic encapsulation `ML-KEM.Encaps_internal(ek, m)` for known-answer tests.
    ///
    /// <div class="warning">Reusing or predicting <code>m</code> reveals the shared secret.
    /// Use [`KemPublicKey::encapsulate`] outside of tests.</div>
    #[cfg(feature = "hazmat")]
    #[must_use]
    pub fn encapsulate_deterministic(
        &self,
        m: &[u8; KEM_ENCAPSULATION_RANDOMNESS_LEN],
    ) -> (KemCiphertext, KemSharedSecret) {
        self.encapsulate_with(m)
    }

    fn encapsulate_with(
        &self,
        m: &[u8; KEM_ENCAPSULATION_RANDOMNESS_LEN],
    ) -> (KemCiphertext, KemSharedSecret) {
        let m = ml_kem::B32::from(*m);
        let level = self.level();
        let (bytes, shared) = dispatch!(PublicInner, &self.0, key => {
            let (ct, mut k) = key.encapsulate_deterministic(&m);
            let shared = KemSharedSecret::from_array(&mut k);
            (ct.to_vec(), shared)
        });
        let mut m = m;
        m.as_mut_slice().zeroize();
        (KemCiphertext { level, bytes }, shared)
    }
}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemPublicKey")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

/// An ML-KEM secret (decapsulation) key of any level.
///
/// Zeroized on drop; `Debug` prints only the level; not `Clone`.
pub struct KemSecretKey(SecretInner);

enum SecretInner {
    Kem512(Box<ml_kem_512::DecapsulationKey>),
    Kem768(Box<ml_kem_768::DecapsulationKey>),
    Kem1024(Box<ml_kem_1024::DecapsulationKey>),
}

impl KemSecretKey {
    /// The key generated deterministically from the 64-byte seed `d ‖ z`
    /// (FIPS 203 `ML-KEM.KeyGen_internal(d, z)`).
    #[must_use]
    pub fn from_seed(level: KemLevel, seed: &[u8; KEM_SEED_LEN]) -> Self {
        let mut seed = ml_kem::Seed::from(*seed);
        let inner = match level {
            KemLevel::Kem512 => {
                SecretInner::Kem512(Box::new(ml_kem_512::DecapsulationKey::from_seed(seed)))
            }
            KemLevel::Kem768 => {
                SecretInner::Kem768(Box::new(ml_kem_768::DecapsulationKey::from_seed(seed)))
            }
            KemLevel::Kem1024 => {
                SecretInner::Kem1024(Box::new(ml_kem_1024::DecapsulationKey::from_seed(seed)))
            }
        };
        seed.as_mut_slice().zeroize();
        Self(inner)
    }

    /// Imports a key in the expanded form `dk_PKE ‖ ek ‖ H(ek) ‖ z` (FIPS 203 §7.3).
    ///
    /// A key imported this way has no seed: [`KemSecretKey::to_seed`] returns `None`.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidLength`] if `bytes` is not [`KemLevel::expanded_secret_key_len`] long;
    /// - [`Error::InvalidKey`] if the embedded `ek` fails the modulus check or `H(ek)` does not
    ///   match it (FIPS 203 §7.3 hash check).
    #[allow(
        deprecated,
        reason = "the expanded key form is needed for interoperability"
    )]
    pub fn from_expanded(level: KemLevel, bytes: &[u8]) -> Result<Self> {
        check_len(
            "ML-KEM expanded secret key",
            level.expanded_secret_key_len(),
            bytes,
        )?;
        let inner = match level {
            KemLevel::Kem512 => SecretInner::Kem512(Box::new(
                ml_kem_512::DecapsulationKey::from_expanded_bytes(to_array(bytes)?)
                    .map_err(|_| Error::InvalidKey)?,
            )),
            KemLevel::Kem768 => SecretInner::Kem768(Box::new(
                ml_kem_768::DecapsulationKey::from_expanded_bytes(to_array(bytes)?)
                    .map_err(|_| Error::InvalidKey)?,
            )),
            KemLevel::Kem1024 => SecretInner::Kem1024(Box::new(
                ml_kem_1024::DecapsulationKey::from_expanded_bytes(to_array(bytes)?)
                    .map_err(|_| Error::InvalidKey)?,
            )),
        };
        Ok(Self(inner))
    }

    /// Imports a key from either of its encodings, told apart by length: the 64-byte seed or
    /// the expanded form.
    ///
    /// # Errors
    ///
    /// As [`KemSecretKey::from_expanded`]; [`Error::InvalidLength`] (naming the seed length)
    /// if `bytes` has neither length.
    pub fn from_bytes(level: KemLevel, bytes: &[u8]) -> Result<Self> {
        if bytes.len() == KEM_SEED_LEN {
            let mut seed = Zeroizing::new([0u8; KEM_SEED_LEN]);
            seed.copy_from_slice(bytes);
            Ok(Self::from_seed(level, &seed))
        } else if bytes.len() == level.expanded_secret_key_len() {
            Self::from_expanded(level, bytes)
        } else {
            Err(Error::InvalidLength {
                what: "ML-KEM secret key",
                expected: KEM_SEED_LEN,
                got: bytes.len(),
            })
        }
    }

    /// The level of this key.
    #[must_use]
    pub const fn level(&self) -> KemLevel {
        match self.0 {
            SecretInner::Kem512(_) => KemLevel::Kem512,
            SecretInner::Kem768(_) => KemLevel::Kem768,
            SecretInner::Kem1024(_) => KemLevel::Kem1024,
        }
    }

    /// The 64-byte seed `d ‖ z` this key was generated from, or `None` for a key imported in
    /// the expanded form.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub fn to_seed(&self) -> Option<Zeroizing<[u8; KEM_SEED_LEN]>> {
        dispatch!(SecretInner, &self.0, key => key.to_seed().map(|mut seed| {
            let mut out = Zeroizing::new([0u8; KEM_SEED_LEN]);
            out.copy_from_slice(&seed);
            seed.as_mut_slice().zeroize();
            out
        }))
    }

    /// The expanded form `dk_PKE ‖ ek ‖ H(ek) ‖ z` ([`KemLevel::expanded_secret_key_len`]
    /// bytes), for interoperability with implementations that do not take seeds.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    #[allow(
        deprecated,
        reason = "the expanded key form is needed for interoperability"
    )]
    pub fn to_expanded(&self) -> Zeroizing<Vec<u8>> {
        dispatch!(SecretInner, &self.0, key => {
            let mut expanded = key.to_expanded_bytes();
            let out = Zeroizing::new(expanded.to_vec());
            expanded.as_mut_slice().zeroize();
            out
        })
    }

    /// The public key that belongs to this secret key.
    #[must_use]
    pub fn public_key(&self) -> KemPublicKey {
        KemPublicKey(match &self.0 {
            SecretInner::Kem512(key) => {
                PublicInner::Kem512(Box::new(key.encapsulation_key().clone()))
            }
            SecretInner::Kem768(key) => {
                PublicInner::Kem768(Box::new(key.encapsulation_key().clone()))
            }
            SecretInner::Kem1024(key) => {
                PublicInner::Kem1024(Box::new(key.encapsulation_key().clone()))
            }
        })
    }

    /// Decapsulates a ciphertext.
    ///
    /// A well-formed ciphertext that was not made for this key is not an error: FIPS 203
    /// implicit rejection returns a pseudorandom secret that matches no sender's.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if the ciphertext belongs to another level.
    pub fn decapsulate(&self, ciphertext: &KemCiphertext) -> Result<KemSharedSecret> {
        self.decapsulate_bytes(&ciphertext.bytes)
    }

    /// Decapsulates an encoded ciphertext of this key's level.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `ciphertext` is not [`KemLevel::ciphertext_len`] long.
    pub fn decapsulate_bytes(&self, ciphertext: &[u8]) -> Result<KemSharedSecret> {
        check_len(
            "ML-KEM ciphertext",
            self.level().ciphertext_len(),
            ciphertext,
        )?;
        Ok(dispatch!(SecretInner, &self.0, key => {
            let mut k = key.decapsulate(to_array(ciphertext)?);
            KemSharedSecret::from_array(&mut k)
        }))
    }
}

// Every field zeroizes itself on drop (`ml-kem` with its `zeroize` feature).
impl ZeroizeOnDrop for KemSecretKey {}

impl fmt::Debug for KemSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemSecretKey")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

/// An ML-KEM key pair.
///
/// ```
/// use qsmm_shield::kem::{KemKeypair, KemLevel};
///
/// let seed = [7u8; 64];
/// let a = KemKeypair::from_seed(KemLevel::Kem512, &seed);
/// let b = KemKeypair::from_seed(KemLevel::Kem512, &seed);
/// assert_eq!(a.public_key(), b.public_key());
/// assert_eq!(*a.secret_key().to_seed().unwrap(), seed);
/// ```
pub struct KemKeypair {
    secret: KemSecretKey,
    public: KemPublicKey,
}

impl KemKeypair {
    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide randomness; use [`KemKeypair::try_generate`] to
    /// get an error instead.
    #[must_use]
    #[allow(
        clippy::expect_used,
        reason = "documented: no safe fallback without randomness"
    )]
    pub fn generate(level: KemLevel) -> Self {
        Self::try_generate(level).expect("the operating system's random number generator failed")
    }

    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn try_generate(level: KemLevel) -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; KEM_SEED_LEN]);
        getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
        Ok(Self::from_seed(level, &seed))
    }

    /// The key pair generated deterministically from the seed `d ‖ z`.
    #[must_use]
    pub fn from_seed(level: KemLevel, seed: &[u8; KEM_SEED_LEN]) -> Self {
        Self::from_secret_key(KemSecretKey::from_seed(level, seed))
    }

    /// The key pair of an existing secret key.
    #[must_use]
    pub fn from_secret_key(secret: KemSecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// The level of the key pair.
    #[must_use]
    pub const fn level(&self) -> KemLevel {
        self.public.level()
    }

    /// The public (encapsulation) key.
    #[must_use]
    pub const fn public_key(&self) -> &KemPublicKey {
        &self.public
    }

    /// The secret (decapsulation) key.
    #[must_use]
    pub const fn secret_key(&self) -> &KemSecretKey {
        &self.secret
    }

    /// Splits the pair into its secret and public keys.
    #[must_use]
    pub fn into_parts(self) -> (KemSecretKey, KemPublicKey) {
        (self.secret, self.public)
    }
}

impl fmt::Debug for KemKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemKeypair")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

/// An ML-KEM ciphertext of a known level.
#[derive(Clone, PartialEq, Eq)]
pub struct KemCiphertext {
    level: KemLevel,
    bytes: Vec<u8>,
}

impl KemCiphertext {
    /// Reads a ciphertext of the given level.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not [`KemLevel::ciphertext_len`] long.
    pub fn from_bytes(level: KemLevel, bytes: &[u8]) -> Result<Self> {
        check_len("ML-KEM ciphertext", level.ciphertext_len(), bytes)?;
        Ok(Self {
            level,
            bytes: bytes.to_vec(),
        })
    }

    /// The level of this ciphertext.
    #[must_use]
    pub const fn level(&self) -> KemLevel {
        self.level
    }

    /// The FIPS 203 encoding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The FIPS 203 encoding, as an owned vector.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

impl AsRef<[u8]> for KemCiphertext {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for KemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemCiphertext")
            .field("level", &self.level)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A 32-byte KEM shared secret.
///
/// Zeroized on drop, compared in constant time, `Debug` prints a placeholder.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KemSharedSecret([u8; KEM_SHARED_SECRET_LEN]);

impl KemSharedSecret {
    /// The secret bytes.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; KEM_SHARED_SECRET_LEN] {
        &self.0
    }

    /// Moves the bytes of an `ml-kem` shared key in, zeroizing the source.
    pub(crate) fn from_array(key: &mut ml_kem::SharedKey) -> Self {
        let mut out = [0u8; KEM_SHARED_SECRET_LEN];
        out.copy_from_slice(key.as_slice());
        key.as_mut_slice().zeroize();
        Self(out)
    }
}

impl ConstantTimeEq for KemSharedSecret {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for KemSharedSecret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for KemSharedSecret {}

impl fmt::Debug for KemSharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemSharedSecret(..)")
    }
}

/// Checks that `bytes` is exactly `expected` long.
pub(crate) const fn check_len(what: &'static str, expected: usize, bytes: &[u8]) -> Result<()> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(Error::InvalidLength {
            what,
            expected,
            got: bytes.len(),
        })
    }
}

/// Views a slice as a fixed-size array; the callers have checked the length already.
fn to_array<N: ml_kem::ArraySize>(bytes: &[u8]) -> Result<&ml_kem::array::Array<u8, N>> {
    bytes
        .try_into()
        .map_err(|_| Error::Encoding("ML-KEM object"))
}
