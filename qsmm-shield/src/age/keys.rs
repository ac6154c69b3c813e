//! age native recipient types (age-encryption.org/v1, "Native recipient types"): X25519 and
//! the post-quantum hybrid MLKEM768-X25519 (X-Wing), their Bech32 encodings and stanzas.
//!
//! | type | identity | recipient | stanza |
//! |---|---|---|---|
//! | X25519 | `AGE-SECRET-KEY-1…` (32-byte scalar) | `age1…` (32 bytes) | `-> X25519 <share>` |
//! | hybrid | `AGE-SECRET-KEY-PQ-1…` (32-byte X-Wing seed) | `age1pq1…` (1216 bytes) | `-> mlkem768x25519 <enc>` |
//!
//! The hybrid stanza is HPKE `SealBase` (RFC 9180) with KEM MLKEM768-X25519 (id `0x647a`,
//! X-Wing), KDF HKDF-SHA256 and AEAD ChaCha20-Poly1305, `info = "age-encryption.org/mlkem768x25519"`
//! and empty `aad`, from the `hpke` crate.

use core::fmt;
use core::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Checksum, Fe32, Fe1024, Hrp};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use hpke::kem::XWing;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use x25519_dalek::{X25519_BASEPOINT_BYTES, x25519};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::header::{Stanza, decode_base64};
use super::{AgeError, FILE_KEY_LEN, FileKey};

/// First argument of an X25519 stanza.
const X25519_TAG: &str = "X25519";
/// HKDF info of the X25519 wrap key.
const X25519_INFO: &[u8] = b"age-encryption.org/v1/X25519";
/// First argument of a hybrid stanza.
const HYBRID_TAG: &str = "mlkem768x25519";
/// HPKE info of the hybrid stanza.
const HYBRID_INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// Bech32 human-readable parts.
const X25519_RECIPIENT_HRP: &str = "age";
const X25519_IDENTITY_HRP: &str = "AGE-SECRET-KEY-";
const HYBRID_RECIPIENT_HRP: &str = "age1pq";
const HYBRID_IDENTITY_HRP: &str = "AGE-SECRET-KEY-PQ-";
/// Length of an X-Wing encapsulated key `ct_M ‖ ct_X`, and where `ct_X` starts in it.
const HYBRID_ENC_LEN: usize = 1120;
const HYBRID_ENC_X25519_OFFSET: usize = 1088;
/// Length of a hybrid recipient (X-Wing public key).
const HYBRID_RECIPIENT_LEN: usize = 1216;
/// Length of a wrapped file key: 16 bytes and a 16-byte Poly1305 tag.
const WRAPPED_KEY_LEN: usize = FILE_KEY_LEN + 16;

/// An age recipient: the public key a file is encrypted to.
///
/// Parse one from its Bech32 string (`age1…` or `age1pq1…`) and print it with `Display`.
///
/// ```
/// use qsmm_shield::age::Recipient;
///
/// let text = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
/// let recipient: Recipient = text.parse()?;
/// assert!(!recipient.is_post_quantum());
/// assert_eq!(recipient.to_string(), text);
/// # Ok::<(), qsmm_shield::age::AgeError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient(RecipientKind);

/// The two recipient types.
#[derive(Clone, PartialEq, Eq)]
enum RecipientKind {
    /// An X25519 recipient (`age1…`).
    X25519([u8; 32]),
    /// A post-quantum hybrid MLKEM768-X25519 recipient (`age1pq1…`).
    Hybrid(Box<<XWing as hpke::Kem>::PublicKey>),
}

impl Recipient {
    /// Whether this recipient resists a quantum computer (the hybrid type).
    #[must_use]
    pub fn is_post_quantum(&self) -> bool {
        matches!(self.0, RecipientKind::Hybrid(_))
    }

    /// Wraps `file_key` into this recipient's stanza.
    pub(crate) fn wrap(&self, file_key: &FileKey) -> Result<Stanza, AgeError> {
        match &self.0 {
            RecipientKind::X25519(recipient) => {
                let mut ephemeral = Zeroizing::new([0u8; 32]);
                getrandom::fill(ephemeral.as_mut()).map_err(|_| AgeError::Rng)?;
                let share = x25519(*ephemeral, X25519_BASEPOINT_BYTES);
                let shared = Zeroizing::new(x25519(*ephemeral, *recipient));
                let key = x25519_wrap_key(&share, recipient, &shared)?;
                let body = ChaCha20Poly1305::new((&*key).into())
                    .encrypt(&Nonce::default(), file_key.as_ref())
                    .map_err(|_| AgeError::Crypto)?;
                Stanza::new(vec![X25519_TAG.into(), STANDARD_NO_PAD.encode(share)], body)
            }
            RecipientKind::Hybrid(public) => {
                let mut seed = Zeroizing::new([0u8; 32]);
                getrandom::fill(seed.as_mut()).map_err(|_| AgeError::Rng)?;
                let mut rng = ChaCha20Rng::from_seed(*seed);
                let (enc, body) = hpke::single_shot_seal_with_rng::<
                    hpke::aead::ChaCha20Poly1305,
                    hpke::kdf::HkdfSha256,
                    XWing,
                >(
                    &OpModeS::Base,
                    public,
                    HYBRID_INFO,
                    file_key.as_ref(),
                    b"",
                    &mut rng,
                )
                .map_err(|_| AgeError::Crypto)?;
                Stanza::new(
                    vec![HYBRID_TAG.into(), STANDARD_NO_PAD.encode(enc.to_bytes())],
                    body,
                )
            }
        }
    }
}

impl FromStr for Recipient {
    type Err = AgeError;

    /// Parses `age1…` (X25519) or `age1pq1…` (hybrid).
    ///
    /// # Errors
    ///
    /// [`AgeError::InvalidKey`] for anything else, a bad checksum, a wrong length or a hybrid
    /// key whose ML-KEM part fails the FIPS 203 modulus check.
    fn from_str(s: &str) -> Result<Self, AgeError> {
        let (hrp, data) = bech32_decode(s)?;
        let data = Zeroizing::new(data);
        if hrp.as_str() == HYBRID_RECIPIENT_HRP && data.len() == HYBRID_RECIPIENT_LEN {
            let public = <XWing as hpke::Kem>::PublicKey::from_bytes(&data)
                .map_err(|_| AgeError::InvalidKey)?;
            Ok(Self(RecipientKind::Hybrid(Box::new(public))))
        } else if hrp.as_str() == X25519_RECIPIENT_HRP {
            let key: [u8; 32] = data
                .as_slice()
                .try_into()
                .map_err(|_| AgeError::InvalidKey)?;
            Ok(Self(RecipientKind::X25519(key)))
        } else {
            Err(AgeError::InvalidKey)
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            RecipientKind::X25519(key) => bech32_encode_to(f, X25519_RECIPIENT_HRP, key, false),
            RecipientKind::Hybrid(public) => {
                bech32_encode_to(f, HYBRID_RECIPIENT_HRP, &public.to_bytes(), false)
            }
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_post_quantum() {
            "Hybrid"
        } else {
            "X25519"
        };
        f.debug_tuple("Recipient")
            .field(&kind)
            .finish_non_exhaustive()
    }
}

/// An age identity: the secret key that opens files encrypted to its [`Recipient`].
///
/// Parse one from its Bech32 string (`AGE-SECRET-KEY-1…` or `AGE-SECRET-KEY-PQ-1…`); the
/// secret is zeroized on drop and `Debug` prints only the type.
///
/// <div class="warning">
///
/// [`Identity::to_encoded`] returns the secret key in its text form.
///
/// </div>
///
/// ```
/// use qsmm_shield::age::Identity;
///
/// let identity = Identity::generate_hybrid()?;
/// let again: Identity = identity.to_encoded().parse()?;
/// assert_eq!(again.to_recipient(), identity.to_recipient());
/// assert!(identity.to_recipient().to_string().starts_with("age1pq1"));
/// # Ok::<(), qsmm_shield::age::AgeError>(())
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Identity {
    #[zeroize(skip)]
    kind: IdentityKind,
    /// The X25519 scalar or the X-Wing seed.
    secret: [u8; 32],
    /// The public key, computed once.
    #[zeroize(skip)]
    recipient: Recipient,
}

/// The two identity types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdentityKind {
    X25519,
    Hybrid,
}

impl Identity {
    /// Generates a post-quantum hybrid identity (`AGE-SECRET-KEY-PQ-1…`): 32 random bytes, the
    /// X-Wing seed. This is the recommended type.
    ///
    /// # Errors
    ///
    /// [`AgeError::Rng`] if the operating system's random number generator fails.
    pub fn generate_hybrid() -> Result<Self, AgeError> {
        Self::generate(IdentityKind::Hybrid)
    }

    /// Generates a classical X25519 identity (`AGE-SECRET-KEY-1…`).
    ///
    /// # Errors
    ///
    /// [`AgeError::Rng`] if the operating system's random number generator fails.
    pub fn generate_x25519() -> Result<Self, AgeError> {
        Self::generate(IdentityKind::X25519)
    }

    /// A copy of this identity (secret types have no `Clone`, so copies are explicit).
    #[must_use]
    pub fn clone_key(&self) -> Self {
        Self {
            kind: self.kind,
            secret: self.secret,
            recipient: self.recipient.clone(),
        }
    }

    /// Whether this is a post-quantum hybrid identity.
    #[must_use]
    pub fn is_post_quantum(&self) -> bool {
        self.kind == IdentityKind::Hybrid
    }

    /// The recipient (public key) of this identity.
    #[must_use]
    pub fn to_recipient(&self) -> Recipient {
        self.recipient.clone()
    }

    /// The Bech32 text form, upper case (`AGE-SECRET-KEY-…1…`).
    ///
    /// <div class="warning">This is the secret key.</div>
    #[must_use]
    pub fn to_encoded(&self) -> Zeroizing<String> {
        let hrp = match self.kind {
            IdentityKind::X25519 => X25519_IDENTITY_HRP,
            IdentityKind::Hybrid => HYBRID_IDENTITY_HRP,
        };
        let mut out = Zeroizing::new(String::new());
        // Writing into a String cannot fail, and the length is far below the code length.
        if bech32_encode_to(&mut *out, hrp, &self.secret, true).is_err() {
            out.clear();
        }
        out
    }

    /// Unwraps the file key from `stanza` if it is addressed to this identity.
    ///
    /// Returns `Ok(None)` for a stanza of another type, or one of this type that does not
    /// open with this key.
    ///
    /// # Errors
    ///
    /// [`AgeError::Header`] for a stanza of this identity's type that the specification says
    /// to reject: a wrong number of arguments, a non-canonical or wrong-length share or
    /// encapsulated key, a body that is not 32 bytes, or an X25519 share (also the one inside
    /// the hybrid `enc`) of low order, which would give an all-zero shared secret.
    pub fn unwrap_stanza(&self, stanza: &Stanza) -> Result<Option<FileKey>, AgeError> {
        match self.kind {
            IdentityKind::X25519 => self.unwrap_x25519(stanza),
            IdentityKind::Hybrid => self.unwrap_hybrid(stanza),
        }
    }

    fn generate(kind: IdentityKind) -> Result<Self, AgeError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|_| AgeError::Rng)?;
        Self::from_secret(kind, &secret)
    }

    fn from_secret(kind: IdentityKind, secret: &[u8; 32]) -> Result<Self, AgeError> {
        let recipient = Recipient(match kind {
            IdentityKind::X25519 => RecipientKind::X25519(x25519(*secret, X25519_BASEPOINT_BYTES)),
            IdentityKind::Hybrid => {
                RecipientKind::Hybrid(Box::new(XWing::sk_to_pk(&hybrid_private_key(secret)?)))
            }
        });
        Ok(Self {
            kind,
            secret: *secret,
            recipient,
        })
    }

    fn unwrap_x25519(&self, stanza: &Stanza) -> Result<Option<FileKey>, AgeError> {
        let Some(share) = stanza_argument(stanza, X25519_TAG)? else {
            return Ok(None);
        };
        let share: [u8; 32] = share.try_into().map_err(|_| AgeError::Header)?;
        if stanza.body().len() != WRAPPED_KEY_LEN {
            return Err(AgeError::Header);
        }
        let shared = Zeroizing::new(x25519(self.secret, share));
        if bool::from(shared.ct_eq(&[0u8; 32])) {
            return Err(AgeError::Header);
        }
        let RecipientKind::X25519(recipient) = &self.recipient.0 else {
            return Err(AgeError::Crypto);
        };
        let key = x25519_wrap_key(&share, recipient, &shared)?;
        let opened = ChaCha20Poly1305::new((&*key).into())
            .decrypt(&Nonce::default(), stanza.body())
            .ok();
        Ok(opened.and_then(file_key_from))
    }

    fn unwrap_hybrid(&self, stanza: &Stanza) -> Result<Option<FileKey>, AgeError> {
        let Some(enc) = stanza_argument(stanza, HYBRID_TAG)? else {
            return Ok(None);
        };
        if enc.len() != HYBRID_ENC_LEN || stanza.body().len() != WRAPPED_KEY_LEN {
            return Err(AgeError::Header);
        }
        let ct_x: [u8; 32] = enc
            .get(HYBRID_ENC_X25519_OFFSET..)
            .and_then(|tail| tail.try_into().ok())
            .ok_or(AgeError::Header)?;
        if is_low_order(ct_x) {
            return Err(AgeError::Header);
        }
        let enc =
            <XWing as hpke::Kem>::EncappedKey::from_bytes(&enc).map_err(|_| AgeError::Header)?;
        let private = hybrid_private_key(&self.secret)?;
        let opened =
            hpke::single_shot_open::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, XWing>(
                &OpModeR::Base,
                &private,
                &enc,
                HYBRID_INFO,
                stanza.body(),
                b"",
            )
            .ok();
        Ok(opened.and_then(file_key_from))
    }
}

impl FromStr for Identity {
    type Err = AgeError;

    /// Parses `AGE-SECRET-KEY-1…` (X25519) or `AGE-SECRET-KEY-PQ-1…` (hybrid), in upper or
    /// lower case.
    ///
    /// # Errors
    ///
    /// [`AgeError::InvalidKey`] for anything else, a bad checksum or a wrong length.
    fn from_str(s: &str) -> Result<Self, AgeError> {
        let (hrp, data) = bech32_decode(s)?;
        let data = Zeroizing::new(data);
        let kind = if hrp.to_lowercase() == HYBRID_IDENTITY_HRP.to_ascii_lowercase() {
            IdentityKind::Hybrid
        } else if hrp.to_lowercase() == X25519_IDENTITY_HRP.to_ascii_lowercase() {
            IdentityKind::X25519
        } else {
            return Err(AgeError::InvalidKey);
        };
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            data.as_slice()
                .try_into()
                .map_err(|_| AgeError::InvalidKey)?,
        );
        Self::from_secret(kind, &secret)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_post_quantum() {
            "Hybrid"
        } else {
            "X25519"
        };
        f.debug_tuple("Identity")
            .field(&kind)
            .finish_non_exhaustive()
    }
}

/// Bech32 as age uses it: the BIP 173 checksum without BIP 173's 90-character limit (a hybrid
/// recipient is 1959 characters). The length limit here only bounds the work per string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AgeBech32 {}

impl Checksum for AgeBech32 {
    type MidstateRepr = u32;
    type CorrectionField = Fe1024;
    const ROOT_GENERATOR: Self::CorrectionField = Fe1024::new([Fe32::P, Fe32::X]);
    const ROOT_EXPONENTS: core::ops::RangeInclusive<usize> = 24..=26;
    const CODE_LENGTH: usize = 8 * 1024;
    const CHECKSUM_LENGTH: usize = 6;
    // The BIP 173 generator, as in the `bech32` crate's `Bech32`.
    const GENERATOR_SH: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    const TARGET_RESIDUE: u32 = 1;
}

fn bech32_decode(s: &str) -> Result<(Hrp, Vec<u8>), AgeError> {
    let checked = CheckedHrpstring::new::<AgeBech32>(s).map_err(|_| AgeError::InvalidKey)?;
    // BIP 173: the incomplete last group is at most 4 bits, all zero (one encoding per key).
    checked
        .validate_segwit_padding()
        .map_err(|_| AgeError::InvalidKey)?;
    Ok((checked.hrp(), checked.byte_iter().collect()))
}

fn bech32_encode_to<W: fmt::Write>(
    out: &mut W,
    hrp: &str,
    data: &[u8],
    upper: bool,
) -> fmt::Result {
    let hrp = Hrp::parse(hrp).map_err(|_| fmt::Error)?;
    if upper {
        bech32::encode_upper_to_fmt::<AgeBech32, W>(out, hrp, data).map_err(|_| fmt::Error)
    } else {
        bech32::encode_lower_to_fmt::<AgeBech32, W>(out, hrp, data).map_err(|_| fmt::Error)
    }
}

/// The second argument of a stanza of type `tag`, decoded, or `None` for another type.
fn stanza_argument(stanza: &Stanza, tag: &str) -> Result<Option<Vec<u8>>, AgeError> {
    match stanza.args() {
        [first, ..] if first != tag => Ok(None),
        [_, argument] => decode_base64(argument.as_bytes()).map(Some),
        _ => Err(AgeError::Header),
    }
}

/// `HKDF-SHA-256(ikm = shared, salt = share ‖ recipient, info = "age-encryption.org/v1/X25519")`.
fn x25519_wrap_key(
    share: &[u8; 32],
    recipient: &[u8; 32],
    shared: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, AgeError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(share);
    salt[32..].copy_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(X25519_INFO, key.as_mut())
        .map_err(|_| AgeError::Crypto)?;
    Ok(key)
}

/// Whether an X25519 public value is of low order (on the curve or its twist), i.e. gives the
/// all-zero shared secret with every key. A clamped scalar is a multiple of the cofactor and
/// smaller than 8 times either prime subgroup order, so any fixed scalar decides this.
fn is_low_order(point: [u8; 32]) -> bool {
    let product = Zeroizing::new(x25519([0x42; 32], point));
    product.ct_eq(&[0u8; 32]).into()
}

/// The X-Wing private key of a 32-byte seed (every seed is a valid key, so this only fails if
/// the `hpke` crate changed its key size).
fn hybrid_private_key(seed: &[u8; 32]) -> Result<<XWing as hpke::Kem>::PrivateKey, AgeError> {
    <XWing as hpke::Kem>::PrivateKey::from_bytes(seed).map_err(|_| AgeError::Crypto)
}

fn file_key_from(plaintext: Vec<u8>) -> Option<FileKey> {
    let plaintext = Zeroizing::new(plaintext);
    let key: [u8; FILE_KEY_LEN] = plaintext.as_slice().try_into().ok()?;
    Some(FileKey::from(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of the age specification.
    #[test]
    fn specification_key_examples_parse() {
        let recipient: Recipient = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
            .parse()
            .unwrap();
        assert!(!recipient.is_post_quantum());
        let identity: Identity =
            "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR"
                .parse()
                .unwrap();
        assert!(identity.is_post_quantum());
        assert!(identity.to_recipient().to_string().starts_with("age1pq1"));
    }

    #[test]
    fn low_order_points_are_detected() {
        assert!(is_low_order([0u8; 32]));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(is_low_order(one));
        assert!(!is_low_order(X25519_BASEPOINT_BYTES));
    }

    #[test]
    fn keys_of_the_other_type_do_not_parse_as_each_other() {
        let identity = Identity::generate_x25519().unwrap();
        assert!(identity.to_encoded().parse::<Recipient>().is_err());
        assert!(
            identity
                .to_recipient()
                .to_string()
                .parse::<Identity>()
                .is_err()
        );
        assert_ne!(
            Identity::generate_hybrid().unwrap().to_recipient(),
            Identity::generate_hybrid().unwrap().to_recipient()
        );
    }
}
