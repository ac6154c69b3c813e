//! ML-DSA (FIPS 204) signatures at its three security levels, on the `ml-dsa` crate of the
//! `RustCrypto` project.
//!
//! ```
//! use qsmm_shield::dsa::{DsaKeypair, DsaLevel, DsaPublicKey, DsaSignature};
//!
//! let keypair = DsaKeypair::generate(DsaLevel::Dsa65);
//! let signature = keypair.secret_key().sign_with_context(b"message", b"my-app/v1")?;
//!
//! // The verifier has the encoded public key and signature.
//! let public = DsaPublicKey::from_bytes(DsaLevel::Dsa65, &keypair.public_key().to_bytes())?;
//! let signature = DsaSignature::from_bytes(DsaLevel::Dsa65, signature.as_bytes())?;
//! public.verify_with_context(b"message", b"my-app/v1", &signature)?;
//! assert!(public.verify(b"message", &signature).is_err()); // other context
//! # Ok::<(), qsmm_shield::Error>(())
//! ```
//!
//! # Keys and signing
//!
//! Secret keys exist at this API only in their 32-byte seed form `ξ`
//! (FIPS 204 `ML-DSA.KeyGen_internal(ξ)`). The expanded FIPS 204 secret-key encoding is neither
//! read nor written: `ml-dsa` 0.1 does not validate it on decoding and may panic on malformed
//! bytes, and a seed is smaller and always well formed.
//!
//! Signing is *hedged* by default: FIPS 204 `ML-DSA.Sign` with 32 fresh random bytes `rnd`
//! from the operating system, which protects against fault and side-channel attacks that
//! exploit determinism. [`DsaSecretKey::sign_deterministic`] gives the deterministic variant
//! (`rnd` = 0³²) on request. Contexts are at most 255 bytes.
//!
//! | level | public key | signature | seed |
//! |---|---|---|---|
//! | ML-DSA-44 | 1312 | 2420 | 32 |
//! | ML-DSA-65 | 1952 | 3309 | 32 |
//! | ML-DSA-87 | 2592 | 4627 | 32 |
//!
//! # Security
//!
//! Malformed public keys, signatures (bad hint encoding, `z` out of bounds) and over-long
//! contexts are errors, never panics. Secret keys are zeroized on drop and never printed.

use core::fmt;

use ml_dsa::{EncodedSignature, EncodedVerifyingKey, ExpandedSigningKey, MlDsaParams};
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, Signature, VerifyingKey};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::kem::check_len;
use crate::{Error, Result};

/// Length of an ML-DSA secret key in its seed form `ξ`, at every level.
pub const DSA_SEED_LEN: usize = 32;

/// Longest context string FIPS 204 allows.
pub const MAX_CONTEXT_LEN: usize = 255;

/// Length of the signing randomness `rnd`.
pub const DSA_RANDOMNESS_LEN: usize = 32;

/// An ML-DSA parameter set (FIPS 204 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DsaLevel {
    /// ML-DSA-44, NIST security category 2.
    Dsa44,
    /// ML-DSA-65, NIST security category 3 (recommended).
    Dsa65,
    /// ML-DSA-87, NIST security category 5.
    Dsa87,
}

impl DsaLevel {
    /// Every level, from the smallest.
    pub const ALL: [Self; 3] = [Self::Dsa44, Self::Dsa65, Self::Dsa87];

    /// The FIPS 204 name, such as `"ML-DSA-65"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dsa44 => "ML-DSA-44",
            Self::Dsa65 => "ML-DSA-65",
            Self::Dsa87 => "ML-DSA-87",
        }
    }

    /// Length of an encoded public key.
    #[must_use]
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::Dsa44 => 1312,
            Self::Dsa65 => 1952,
            Self::Dsa87 => 2592,
        }
    }

    /// Length of an encoded signature.
    #[must_use]
    pub const fn signature_len(self) -> usize {
        match self {
            Self::Dsa44 => 2420,
            Self::Dsa65 => 3309,
            Self::Dsa87 => 4627,
        }
    }
}

impl fmt::Display for DsaLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `$body` with `$key` bound to the inner key of whichever level `$value` holds.
macro_rules! dispatch {
    ($inner:ident, $value:expr, $key:ident => $body:expr) => {
        match $value {
            $inner::Dsa44($key) => $body,
            $inner::Dsa65($key) => $body,
            $inner::Dsa87($key) => $body,
        }
    };
}

/// An ML-DSA public (verifying) key of any level.
#[derive(Clone, PartialEq)]
pub struct DsaPublicKey(PublicInner);

#[derive(Clone, PartialEq)]
enum PublicInner {
    Dsa44(Box<VerifyingKey<MlDsa44>>),
    Dsa65(Box<VerifyingKey<MlDsa65>>),
    Dsa87(Box<VerifyingKey<MlDsa87>>),
}

impl DsaPublicKey {
    /// Decodes a public key of the given level (FIPS 204 `pkDecode`; every byte string of the
    /// right length is a well-formed key).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not [`DsaLevel::public_key_len`] long.
    pub fn from_bytes(level: DsaLevel, bytes: &[u8]) -> Result<Self> {
        check_len("ML-DSA public key", level.public_key_len(), bytes)?;
        Ok(Self(match level {
            DsaLevel::Dsa44 => PublicInner::Dsa44(Box::new(decode_public(bytes)?)),
            DsaLevel::Dsa65 => PublicInner::Dsa65(Box::new(decode_public(bytes)?)),
            DsaLevel::Dsa87 => PublicInner::Dsa87(Box::new(decode_public(bytes)?)),
        }))
    }

    /// The level of this key.
    #[must_use]
    pub const fn level(&self) -> DsaLevel {
        match self.0 {
            PublicInner::Dsa44(_) => DsaLevel::Dsa44,
            PublicInner::Dsa65(_) => DsaLevel::Dsa65,
            PublicInner::Dsa87(_) => DsaLevel::Dsa87,
        }
    }

    /// The FIPS 204 encoding ([`DsaLevel::public_key_len`] bytes).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        dispatch!(PublicInner, &self.0, key => key.encode().to_vec())
    }

    /// Verifies a signature made with the empty context.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignature`] if it does not verify.
    pub fn verify(&self, message: &[u8], signature: &DsaSignature) -> Result<()> {
        self.verify_with_context(message, &[], signature)
    }

    /// Verifies a signature made with `context` (FIPS 204 `ML-DSA.Verify`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignature`] if it does not verify: wrong key, message or context, a
    /// signature of another level, a malformed signature, or a context over 255 bytes.
    pub fn verify_with_context(
        &self,
        message: &[u8],
        context: &[u8],
        signature: &DsaSignature,
    ) -> Result<()> {
        if signature.level != self.level() || context.len() > MAX_CONTEXT_LEN {
            return Err(Error::InvalidSignature);
        }
        let ok = match (&self.0, &signature.decoded) {
            (PublicInner::Dsa44(key), Some(DecodedSignature::Dsa44(sig))) => {
                key.verify_with_context(message, context, sig)
            }
            (PublicInner::Dsa65(key), Some(DecodedSignature::Dsa65(sig))) => {
                key.verify_with_context(message, context, sig)
            }
            (PublicInner::Dsa87(key), Some(DecodedSignature::Dsa87(sig))) => {
                key.verify_with_context(message, context, sig)
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }

    /// Verifies a signature against an externally computed `μ` (FIPS 204 Algorithm 8 with
    /// `μ` given), for known-answer tests.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignature`] if it does not verify.
    #[cfg(feature = "hazmat")]
    pub fn verify_mu(&self, mu: &[u8; 64], signature: &DsaSignature) -> Result<()> {
        if signature.level != self.level() {
            return Err(Error::InvalidSignature);
        }
        let mu = ml_kem::array::Array::from(*mu);
        let ok = match (&self.0, &signature.decoded) {
            (PublicInner::Dsa44(key), Some(DecodedSignature::Dsa44(sig))) => {
                key.verify_mu(&mu, sig)
            }
            (PublicInner::Dsa65(key), Some(DecodedSignature::Dsa65(sig))) => {
                key.verify_mu(&mu, sig)
            }
            (PublicInner::Dsa87(key), Some(DecodedSignature::Dsa87(sig))) => {
                key.verify_mu(&mu, sig)
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }
}

impl fmt::Debug for DsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DsaPublicKey")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

/// An ML-DSA secret (signing) key of any level, held as its 32-byte seed `ξ` and the key
/// expanded from it.
///
/// Zeroized on drop; `Debug` prints only the level; not `Clone`.
pub struct DsaSecretKey {
    seed: Zeroizing<[u8; DSA_SEED_LEN]>,
    inner: SecretInner,
}

enum SecretInner {
    Dsa44(Box<ExpandedSigningKey<MlDsa44>>),
    Dsa65(Box<ExpandedSigningKey<MlDsa65>>),
    Dsa87(Box<ExpandedSigningKey<MlDsa87>>),
}

impl DsaSecretKey {
    /// The key of the seed `ξ` (FIPS 204 `ML-DSA.KeyGen_internal(ξ)`).
    #[must_use]
    pub fn from_seed(level: DsaLevel, seed: &[u8; DSA_SEED_LEN]) -> Self {
        let mut xi = Zeroizing::new(ml_dsa::Seed::from(*seed));
        let inner = match level {
            DsaLevel::Dsa44 => SecretInner::Dsa44(Box::new(ExpandedSigningKey::from_seed(&xi))),
            DsaLevel::Dsa65 => SecretInner::Dsa65(Box::new(ExpandedSigningKey::from_seed(&xi))),
            DsaLevel::Dsa87 => SecretInner::Dsa87(Box::new(ExpandedSigningKey::from_seed(&xi))),
        };
        zeroize::Zeroize::zeroize(xi.as_mut_slice());
        Self {
            seed: Zeroizing::new(*seed),
            inner,
        }
    }

    /// Reads a 32-byte seed from a slice.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not 32 bytes long (expanded FIPS 204 secret keys
    /// are not accepted; see the [module docs](self)).
    pub fn from_bytes(level: DsaLevel, bytes: &[u8]) -> Result<Self> {
        check_len("ML-DSA seed", DSA_SEED_LEN, bytes)?;
        let mut seed = Zeroizing::new([0u8; DSA_SEED_LEN]);
        seed.copy_from_slice(bytes);
        Ok(Self::from_seed(level, &seed))
    }

    /// The level of this key.
    #[must_use]
    pub const fn level(&self) -> DsaLevel {
        match self.inner {
            SecretInner::Dsa44(_) => DsaLevel::Dsa44,
            SecretInner::Dsa65(_) => DsaLevel::Dsa65,
            SecretInner::Dsa87(_) => DsaLevel::Dsa87,
        }
    }

    /// The 32-byte seed `ξ`.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub fn to_seed(&self) -> Zeroizing<[u8; DSA_SEED_LEN]> {
        Zeroizing::new(*self.seed)
    }

    /// The public key that belongs to this secret key.
    #[must_use]
    pub fn public_key(&self) -> DsaPublicKey {
        DsaPublicKey(match &self.inner {
            SecretInner::Dsa44(key) => PublicInner::Dsa44(Box::new(key.verifying_key())),
            SecretInner::Dsa65(key) => PublicInner::Dsa65(Box::new(key.verifying_key())),
            SecretInner::Dsa87(key) => PublicInner::Dsa87(Box::new(key.verifying_key())),
        })
    }

    /// Signs `message` with the empty context, hedged with fresh randomness.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn sign(&self, message: &[u8]) -> Result<DsaSignature> {
        self.sign_with_context(message, &[])
    }

    /// Signs `message` under `context` (FIPS 204 `ML-DSA.Sign`), hedged with fresh randomness.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `context` is longer than 255 bytes; [`Error::Rng`] if the
    /// operating system cannot provide randomness.
    pub fn sign_with_context(&self, message: &[u8], context: &[u8]) -> Result<DsaSignature> {
        check_context(context)?;
        let mut rnd = Zeroizing::new([0u8; DSA_RANDOMNESS_LEN]);
        getrandom::fill(rnd.as_mut()).map_err(|_| Error::Rng)?;
        self.sign_with(message, context, &rnd)
    }

    /// Signs deterministically (FIPS 204 deterministic variant, `rnd` = 0³²): the same key,
    /// message and context always give the same signature.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `context` is longer than 255 bytes.
    pub fn sign_deterministic(&self, message: &[u8], context: &[u8]) -> Result<DsaSignature> {
        self.sign_with(message, context, &[0; DSA_RANDOMNESS_LEN])
    }

    /// Signs with caller-chosen randomness `rnd`, for known-answer tests.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `context` is longer than 255 bytes.
    #[cfg(feature = "hazmat")]
    pub fn sign_with_randomness(
        &self,
        message: &[u8],
        context: &[u8],
        rnd: &[u8; DSA_RANDOMNESS_LEN],
    ) -> Result<DsaSignature> {
        self.sign_with(message, context, rnd)
    }

    /// Signs an externally computed `μ` with caller-chosen randomness (FIPS 204 Algorithm 7
    /// with `μ` given), for known-answer tests.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the signing loop fails (it practically never does).
    #[cfg(feature = "hazmat")]
    pub fn sign_mu_with_randomness(
        &self,
        mu: &[u8; 64],
        rnd: &[u8; DSA_RANDOMNESS_LEN],
    ) -> Result<DsaSignature> {
        let level = self.level();
        let mu = ml_kem::array::Array::from(*mu);
        let bytes = dispatch!(SecretInner, &self.inner, key => key
            .sign_mu_randomized(&mu, &mut FixedRandomness::new(rnd))
            .map(|sig| sig.encode().to_vec()))
        .map_err(|_| Error::Crypto)?;
        Ok(DsaSignature::decoded(level, bytes))
    }

    fn sign_with(
        &self,
        message: &[u8],
        context: &[u8],
        rnd: &[u8; DSA_RANDOMNESS_LEN],
    ) -> Result<DsaSignature> {
        check_context(context)?;
        let level = self.level();
        let bytes = dispatch!(SecretInner, &self.inner, key => key
            .sign_randomized(message, context, &mut FixedRandomness::new(rnd))
            .map(|sig| sig.encode().to_vec()))
        .map_err(|_| Error::Crypto)?;
        Ok(DsaSignature::decoded(level, bytes))
    }
}

// The seed is `Zeroizing`; the expanded key zeroizes itself (`ml-dsa` with `zeroize`).
impl ZeroizeOnDrop for DsaSecretKey {}

impl fmt::Debug for DsaSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DsaSecretKey")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

/// An ML-DSA key pair.
///
/// ```
/// use qsmm_shield::dsa::{DsaKeypair, DsaLevel};
///
/// let a = DsaKeypair::from_seed(DsaLevel::Dsa44, &[1; 32]);
/// let b = DsaKeypair::from_seed(DsaLevel::Dsa44, &[1; 32]);
/// assert_eq!(a.public_key(), b.public_key());
/// let sig = a.secret_key().sign_deterministic(b"m", b"")?;
/// assert_eq!(sig, b.secret_key().sign_deterministic(b"m", b"")?);
/// # Ok::<(), qsmm_shield::Error>(())
/// ```
pub struct DsaKeypair {
    secret: DsaSecretKey,
    public: DsaPublicKey,
}

impl DsaKeypair {
    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide randomness; use [`DsaKeypair::try_generate`] to
    /// get an error instead.
    #[must_use]
    #[allow(
        clippy::expect_used,
        reason = "documented: no safe fallback without randomness"
    )]
    pub fn generate(level: DsaLevel) -> Self {
        Self::try_generate(level).expect("the operating system's random number generator failed")
    }

    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn try_generate(level: DsaLevel) -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; DSA_SEED_LEN]);
        getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
        Ok(Self::from_seed(level, &seed))
    }

    /// The key pair of the seed `ξ`.
    #[must_use]
    pub fn from_seed(level: DsaLevel, seed: &[u8; DSA_SEED_LEN]) -> Self {
        Self::from_secret_key(DsaSecretKey::from_seed(level, seed))
    }

    /// The key pair of an existing secret key.
    #[must_use]
    pub fn from_secret_key(secret: DsaSecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// The level of the key pair.
    #[must_use]
    pub const fn level(&self) -> DsaLevel {
        self.public.level()
    }

    /// The public (verifying) key.
    #[must_use]
    pub const fn public_key(&self) -> &DsaPublicKey {
        &self.public
    }

    /// The secret (signing) key.
    #[must_use]
    pub const fn secret_key(&self) -> &DsaSecretKey {
        &self.secret
    }

    /// Splits the pair into its secret and public keys.
    #[must_use]
    pub fn into_parts(self) -> (DsaSecretKey, DsaPublicKey) {
        (self.secret, self.public)
    }
}

impl fmt::Debug for DsaKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DsaKeypair")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

/// An ML-DSA signature of a known level. Only its length is checked on construction; its
/// inner structure is decoded once, on construction, and a malformed signature never verifies.
///
/// Equality compares the level and the encoding.
#[derive(Clone)]
pub struct DsaSignature {
    level: DsaLevel,
    bytes: Vec<u8>,
    /// `sigDecode` of `bytes`, or `None` if it is malformed (then it verifies under no key).
    decoded: Option<DecodedSignature>,
}

/// A decoded signature of one level.
#[derive(Clone)]
enum DecodedSignature {
    Dsa44(Box<Signature<MlDsa44>>),
    Dsa65(Box<Signature<MlDsa65>>),
    Dsa87(Box<Signature<MlDsa87>>),
}

impl PartialEq for DsaSignature {
    fn eq(&self, other: &Self) -> bool {
        self.level == other.level && self.bytes == other.bytes
    }
}

impl Eq for DsaSignature {}

impl DsaSignature {
    /// Reads a signature of the given level.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not [`DsaLevel::signature_len`] long.
    pub fn from_bytes(level: DsaLevel, bytes: &[u8]) -> Result<Self> {
        check_len("ML-DSA signature", level.signature_len(), bytes)?;
        Ok(Self::decoded(level, bytes.to_vec()))
    }

    /// A signature of `level` with its decoded form (`None` if `bytes` is malformed).
    fn decoded(level: DsaLevel, bytes: Vec<u8>) -> Self {
        let decoded = match level {
            DsaLevel::Dsa44 => {
                decode_signature(&bytes).map(|sig| DecodedSignature::Dsa44(Box::new(sig)))
            }
            DsaLevel::Dsa65 => {
                decode_signature(&bytes).map(|sig| DecodedSignature::Dsa65(Box::new(sig)))
            }
            DsaLevel::Dsa87 => {
                decode_signature(&bytes).map(|sig| DecodedSignature::Dsa87(Box::new(sig)))
            }
        };
        Self {
            level,
            bytes,
            decoded,
        }
    }

    /// The level of this signature.
    #[must_use]
    pub const fn level(&self) -> DsaLevel {
        self.level
    }

    /// The FIPS 204 encoding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The FIPS 204 encoding, as an owned vector.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

impl AsRef<[u8]> for DsaSignature {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for DsaSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DsaSignature")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

fn check_context(context: &[u8]) -> Result<()> {
    if context.len() > MAX_CONTEXT_LEN {
        Err(Error::InvalidParameter(
            "ML-DSA context longer than 255 bytes",
        ))
    } else {
        Ok(())
    }
}

fn decode_public<P: MlDsaParams>(bytes: &[u8]) -> Result<VerifyingKey<P>> {
    let encoded =
        EncodedVerifyingKey::<P>::try_from(bytes).map_err(|_| Error::Encoding("ML-DSA key"))?;
    Ok(VerifyingKey::decode(&encoded))
}

/// `sigDecode`, with its hint and norm checks; `None` for a malformed signature.
fn decode_signature<P: MlDsaParams>(bytes: &[u8]) -> Option<Signature<P>> {
    let encoded = EncodedSignature::<P>::try_from(bytes).ok()?;
    Signature::decode(&encoded)
}

/// Hands `ml-dsa` the 32 bytes of `rnd`, once. Any other request fails, so a change in how the
/// crate draws randomness shows up as an error instead of silently weaker signatures.
struct FixedRandomness {
    rnd: Zeroizing<[u8; DSA_RANDOMNESS_LEN]>,
    used: bool,
}

impl FixedRandomness {
    fn new(rnd: &[u8; DSA_RANDOMNESS_LEN]) -> Self {
        Self {
            rnd: Zeroizing::new(*rnd),
            used: false,
        }
    }
}

impl rand_core::TryRng for FixedRandomness {
    type Error = fmt::Error;

    fn try_next_u32(&mut self) -> core::result::Result<u32, fmt::Error> {
        Err(fmt::Error)
    }

    fn try_next_u64(&mut self) -> core::result::Result<u64, fmt::Error> {
        Err(fmt::Error)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), fmt::Error> {
        if self.used || dst.len() != DSA_RANDOMNESS_LEN {
            return Err(fmt::Error);
        }
        dst.copy_from_slice(self.rnd.as_ref());
        self.used = true;
        Ok(())
    }
}

impl rand_core::TryCryptoRng for FixedRandomness {}
