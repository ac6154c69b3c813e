//! Key wrapping: protect a 32-byte [`SecretKey`] for the holder of a KEM secret key.
//!
//! [`wrap_key`] takes an ML-KEM public key of any level ([`KemPublicKey`]) or an X-Wing public
//! key ([`XWingPublicKey`], recommended for new data); [`unwrap_key`] takes the matching
//! [`KemSecretKey`] or [`XWingSecretKey`].
//!
//! ```
//! use qsmm_shield::hybrid::XWingKeypair;
//! use qsmm_shield::wrap::{self, WrappedKey};
//! use qsmm_types::SecretKey;
//!
//! let keypair = XWingKeypair::generate();
//! let key = SecretKey::generate();
//!
//! let bytes = wrap::wrap_key(keypair.public_key(), &key)?.to_bytes();
//! let wrapped = WrappedKey::from_bytes(&bytes)?;
//! let recovered = wrap::unwrap_key(keypair.secret_key(), &wrapped)?;
//! assert_eq!(recovered, key);
//! # Ok::<(), qsmm_shield::Error>(())
//! ```
//!
//! # Construction
//!
//! ```text
//! header    = "QSWK" ‖ version 0x01 ‖ suite id
//! (ct, ss)  = KEM.Encaps(pk)
//! salt      = SHA-256(header ‖ ct ‖ pk)
//! okm       = HKDF-SHA256(salt, ikm = ss, info = "qsmm/v1/shield/wrap/" ‖ suite name), 56 bytes
//! key, nonce = okm[0..32], okm[32..56]
//! sealed    = XChaCha20-Poly1305(key, nonce, AAD = header, the 32-byte key)
//! ```
//!
//! The salt binds the KEM ciphertext and the recipient's public key, so a wrapped key only
//! opens for the key pair it was made for (a re-encapsulation or a key substitution changes
//! the derived key), and the header binds the suite and version.
//!
//! XChaCha20-Poly1305 was chosen over AES-256-GCM because it is constant-time in software on
//! every platform (no dependence on AES instructions). Its key and nonce both come from HKDF:
//! every wrap encapsulates afresh, so each AEAD key is used exactly once and no nonce needs
//! to be stored or drawn at random.
//!
//! # Guarantees
//!
//! - Confidentiality of the wrapped key against anyone without the KEM secret key (IND-CCA2 of
//!   ML-KEM; for X-Wing, as long as either ML-KEM-768 or X25519 holds).
//! - Integrity: any modified, truncated or extended encoding, a wrong key, or a key of another
//!   suite or level makes [`unwrap_key`] (or [`WrappedKey::from_bytes`]) fail with the one
//!   opaque [`Error::Crypto`].
//! - The key and every intermediate secret are zeroized.
//! - No sender authentication: anyone with the public key can wrap a key for it. Sign the
//!   wrapped key (for instance with ML-DSA) if the origin matters.
//!
//! # Encoding (version 1)
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 4 | magic `"QSWK"` |
//! | 4 | 1 | version `0x01` |
//! | 5 | 1 | suite id: `0x01` ML-KEM-512, `0x02` ML-KEM-768, `0x03` ML-KEM-1024, `0x10` X-Wing |
//! | 6 | c | KEM ciphertext: 768, 1088, 1568 or 1120 bytes by suite |
//! | 6 + c | 48 | XChaCha20-Poly1305 ciphertext of the key (32) ‖ tag (16) |
//!
//! Total: 822, 1142, 1622 or 1174 bytes; any other length is rejected.

use core::fmt;

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use hkdf::Hkdf;
use qsmm_types::{SecretKey, labels};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::hybrid::{XWingPublicKey, XWingSecretKey};
use crate::kem::{KemLevel, KemPublicKey, KemSecretKey, KemSharedSecret};
use crate::reader::Reader;
use crate::{Error, Result};

/// Length of the sealed key: the 32-byte key and the 16-byte Poly1305 tag.
const SEALED_LEN: usize = 32 + 16;
/// Magic bytes of an encoded [`WrappedKey`].
const MAGIC: &[u8; 4] = b"QSWK";
/// Encoding version.
const VERSION: u8 = 1;
/// Header length: magic, version, suite.
const HEADER_LEN: usize = 6;

/// A key-wrapping suite: which KEM protects the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WrapSuite {
    /// ML-KEM-512.
    Kem512,
    /// ML-KEM-768.
    Kem768,
    /// ML-KEM-1024.
    Kem1024,
    /// X-Wing (ML-KEM-768 + X25519), recommended.
    XWing,
}

impl WrapSuite {
    /// Every suite.
    pub const ALL: [Self; 4] = [Self::Kem512, Self::Kem768, Self::Kem1024, Self::XWing];

    /// The suite id byte of the encoding.
    #[must_use]
    pub const fn id(self) -> u8 {
        match self {
            Self::Kem512 => 0x01,
            Self::Kem768 => 0x02,
            Self::Kem1024 => 0x03,
            Self::XWing => 0x10,
        }
    }

    /// The suite name, as appended to the HKDF label.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Kem512 => "ML-KEM-512",
            Self::Kem768 => "ML-KEM-768",
            Self::Kem1024 => "ML-KEM-1024",
            Self::XWing => "X-Wing",
        }
    }

    /// The suite of an id byte.
    #[must_use]
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(Self::Kem512),
            0x02 => Some(Self::Kem768),
            0x03 => Some(Self::Kem1024),
            0x10 => Some(Self::XWing),
            _ => None,
        }
    }

    /// Length of the KEM ciphertext of this suite.
    #[must_use]
    pub const fn kem_ciphertext_len(self) -> usize {
        match self {
            Self::Kem512 => KemLevel::Kem512.ciphertext_len(),
            Self::Kem768 => KemLevel::Kem768.ciphertext_len(),
            Self::Kem1024 => KemLevel::Kem1024.ciphertext_len(),
            Self::XWing => crate::hybrid::XWING_CIPHERTEXT_LEN,
        }
    }

    /// Length of a [`WrappedKey`] encoding of this suite.
    #[must_use]
    pub const fn encoded_len(self) -> usize {
        HEADER_LEN + self.kem_ciphertext_len() + SEALED_LEN
    }

    const fn of_level(level: KemLevel) -> Self {
        match level {
            KemLevel::Kem512 => Self::Kem512,
            KemLevel::Kem768 => Self::Kem768,
            KemLevel::Kem1024 => Self::Kem1024,
        }
    }

    fn header(self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = VERSION;
        header[5] = self.id();
        header
    }
}

impl fmt::Display for WrapSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A wrapped key: public, so `Clone`, `Debug` and `==` are ordinary.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    suite: WrapSuite,
    kem_ciphertext: Vec<u8>,
    sealed: [u8; SEALED_LEN],
}

impl WrappedKey {
    /// The suite that protects the key.
    #[must_use]
    pub const fn suite(&self) -> WrapSuite {
        self.suite
    }

    /// The versioned encoding (layout in the [module docs](self)).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.suite.encoded_len());
        out.extend_from_slice(&self.suite.header());
        out.extend_from_slice(&self.kem_ciphertext);
        out.extend_from_slice(&self.sealed);
        out
    }

    /// Decodes [`WrappedKey::to_bytes`] output.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the magic, version or suite is unknown or the length does not match
    /// the suite: a wrapped key is a protected object, so its decoding errors are as opaque as
    /// a failed tag.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::decode(bytes).map_err(|_| Error::Crypto)
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "wrapped key");
        if reader.take(MAGIC.len())? != MAGIC || reader.byte()? != VERSION {
            return Err(Error::Crypto);
        }
        let suite = WrapSuite::from_id(reader.byte()?).ok_or(Error::Crypto)?;
        let kem_ciphertext = reader.take(suite.kem_ciphertext_len())?.to_vec();
        let sealed = reader.array::<SEALED_LEN>()?;
        reader.finish()?;
        Ok(Self {
            suite,
            kem_ciphertext,
            sealed,
        })
    }
}

impl TryFrom<&[u8]> for WrappedKey {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// A public key that [`wrap_key`] accepts: [`KemPublicKey`] (any level) or [`XWingPublicKey`].
///
/// Sealed: it cannot be implemented outside this crate.
pub trait WrapPublicKey: sealed::PublicKeyOps {}

impl WrapPublicKey for KemPublicKey {}
impl WrapPublicKey for XWingPublicKey {}

/// A secret key that [`unwrap_key`] accepts: [`KemSecretKey`] (any level) or
/// [`XWingSecretKey`].
///
/// Sealed: it cannot be implemented outside this crate.
pub trait UnwrapSecretKey: sealed::SecretKeyOps {}

impl UnwrapSecretKey for KemSecretKey {}
impl UnwrapSecretKey for XWingSecretKey {}

/// Wraps `key` for the holder of the secret key that belongs to `public_key`.
///
/// # Errors
///
/// [`Error::Rng`] if the operating system cannot provide randomness.
pub fn wrap_key<K: WrapPublicKey + ?Sized>(public_key: &K, key: &SecretKey) -> Result<WrappedKey> {
    let suite = public_key.suite();
    let (kem_ciphertext, ss) = public_key.encapsulate()?;
    let public_bytes = public_key.public_bytes();
    let (cipher, nonce) = derive_cipher(suite, &ss, &kem_ciphertext, &public_bytes)?;
    let mut sealed = [0u8; SEALED_LEN];
    sealed[..32].copy_from_slice(key.as_bytes());
    let (buffer, tag_out) = sealed.split_at_mut(32);
    let tag = cipher
        .encrypt_inout_detached(&nonce, &suite.header(), buffer.into())
        .map_err(|_| Error::Crypto)?;
    tag_out.copy_from_slice(&tag);
    Ok(WrappedKey {
        suite,
        kem_ciphertext,
        sealed,
    })
}

/// Recovers a key wrapped by [`wrap_key`].
///
/// # Errors
///
/// [`Error::Crypto`] — one opaque error — if `secret_key` is not the key it was wrapped for
/// (including a key of another suite or level) or the wrapped key was modified.
pub fn unwrap_key<K: UnwrapSecretKey + ?Sized>(
    secret_key: &K,
    wrapped: &WrappedKey,
) -> Result<SecretKey> {
    let suite = secret_key.suite();
    if suite != wrapped.suite {
        return Err(Error::Crypto);
    }
    let ss = secret_key
        .decapsulate(&wrapped.kem_ciphertext)
        .map_err(|_| Error::Crypto)?;
    let public_bytes = secret_key.public_bytes();
    let (cipher, nonce) = derive_cipher(suite, &ss, &wrapped.kem_ciphertext, &public_bytes)?;
    let mut buffer = Zeroizing::new([0u8; 32]);
    buffer.copy_from_slice(&wrapped.sealed[..32]);
    let tag = chacha20poly1305::Tag::try_from(&wrapped.sealed[32..]).map_err(|_| Error::Crypto)?;
    cipher
        .decrypt_inout_detached(&nonce, &suite.header(), buffer.as_mut().into(), &tag)
        .map_err(|_| Error::Crypto)?;
    Ok(SecretKey::from_bytes(*buffer))
}

type Cipher = (XChaCha20Poly1305, chacha20poly1305::XNonce);

/// HKDF-SHA256 → XChaCha20-Poly1305 key and nonce, bound to the suite, ciphertext and key.
fn derive_cipher(
    suite: WrapSuite,
    ss: &KemSharedSecret,
    kem_ciphertext: &[u8],
    public_key: &[u8],
) -> Result<Cipher> {
    let mut transcript = Sha256::new();
    transcript.update(suite.header());
    transcript.update(kem_ciphertext);
    transcript.update(public_key);
    let salt = transcript.finalize();
    let hkdf = Hkdf::<Sha256>::new(Some(&salt), ss.as_bytes());
    let mut okm = Zeroizing::new([0u8; 56]);
    hkdf.expand_multi_info(
        &[
            labels::SHIELD_WRAP.as_bytes(),
            b"/",
            suite.name().as_bytes(),
        ],
        okm.as_mut(),
    )
    .map_err(|_| Error::Crypto)?;
    let cipher = XChaCha20Poly1305::new_from_slice(&okm[..32]).map_err(|_| Error::Crypto)?;
    let nonce = chacha20poly1305::XNonce::try_from(&okm[32..]).map_err(|_| Error::Crypto)?;
    Ok((cipher, nonce))
}

mod sealed {
    use super::{
        KemPublicKey, KemSecretKey, KemSharedSecret, Result, WrapSuite, XWingPublicKey,
        XWingSecretKey,
    };

    /// What [`wrap_key`](super::wrap_key) needs of a public key.
    pub trait PublicKeyOps {
        fn suite(&self) -> WrapSuite;
        fn public_bytes(&self) -> Vec<u8>;
        fn encapsulate(&self) -> Result<(Vec<u8>, KemSharedSecret)>;
    }

    /// What [`unwrap_key`](super::unwrap_key) needs of a secret key.
    pub trait SecretKeyOps {
        fn suite(&self) -> WrapSuite;
        fn public_bytes(&self) -> Vec<u8>;
        fn decapsulate(&self, ciphertext: &[u8]) -> Result<KemSharedSecret>;
    }

    impl PublicKeyOps for KemPublicKey {
        fn suite(&self) -> WrapSuite {
            WrapSuite::of_level(self.level())
        }
        fn public_bytes(&self) -> Vec<u8> {
            self.to_bytes()
        }
        fn encapsulate(&self) -> Result<(Vec<u8>, KemSharedSecret)> {
            let (ct, ss) = Self::encapsulate(self)?;
            Ok((ct.to_bytes(), ss))
        }
    }

    impl PublicKeyOps for XWingPublicKey {
        fn suite(&self) -> WrapSuite {
            WrapSuite::XWing
        }
        fn public_bytes(&self) -> Vec<u8> {
            self.to_bytes()
        }
        fn encapsulate(&self) -> Result<(Vec<u8>, KemSharedSecret)> {
            let (ct, ss) = Self::encapsulate(self)?;
            Ok((ct.to_bytes(), ss))
        }
    }

    impl SecretKeyOps for KemSecretKey {
        fn suite(&self) -> WrapSuite {
            WrapSuite::of_level(self.level())
        }
        fn public_bytes(&self) -> Vec<u8> {
            self.public_key().to_bytes()
        }
        fn decapsulate(&self, ciphertext: &[u8]) -> Result<KemSharedSecret> {
            self.decapsulate_bytes(ciphertext)
        }
    }

    impl SecretKeyOps for XWingSecretKey {
        fn suite(&self) -> WrapSuite {
            WrapSuite::XWing
        }
        fn public_bytes(&self) -> Vec<u8> {
            self.public_key().to_bytes()
        }
        fn decapsulate(&self, ciphertext: &[u8]) -> Result<KemSharedSecret> {
            self.decapsulate_bytes(ciphertext)
        }
    }
}
