//! The 32-byte secret key every qsmm key hierarchy starts from.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{Error, Result};

/// Length of a [`SecretKey`] in bytes.
pub const SECRET_KEY_LEN: usize = 32;

/// 32 bytes of secret key material.
///
/// - zeroized when dropped;
/// - compared in constant time (`==` uses [`subtle`]);
/// - `Debug` prints `SecretKey(..)`, never the bytes;
/// - not `Clone`: use [`SecretKey::clone_key`] where a second copy is really needed, so copies
///   of key material stay visible in code review.
///
/// ```
/// use qsmm_types::SecretKey;
///
/// let key = SecretKey::generate();
/// let same = SecretKey::from_bytes(*key.as_bytes());
/// assert_eq!(key, same);
/// assert_eq!(format!("{key:?}"), "SecretKey(..)");
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; SECRET_KEY_LEN]);

impl SecretKey {
    /// A fresh key from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// Panics if the operating system cannot provide randomness, which no caller can recover
    /// from safely. Use [`SecretKey::try_generate`] to get an error instead.
    #[must_use]
    #[allow(
        clippy::expect_used,
        reason = "documented: no safe fallback without randomness"
    )]
    pub fn generate() -> Self {
        Self::try_generate().expect("the operating system's random number generator failed")
    }

    /// A fresh key from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn try_generate() -> Result<Self> {
        let mut bytes = [0u8; SECRET_KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|_| Error::Rng)?;
        Ok(Self(bytes))
    }

    /// Wraps existing key bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; SECRET_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Reads a key from a slice of exactly [`SECRET_KEY_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not 32 bytes long.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self> {
        let array: [u8; SECRET_KEY_LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "secret key",
            expected: SECRET_KEY_LEN,
            got: bytes.len(),
        })?;
        Ok(Self(array))
    }

    /// The key bytes.
    ///
    /// <div class="warning">This returns secret key material: do not log, print or store it
    /// unprotected.</div>
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; SECRET_KEY_LEN] {
        &self.0
    }

    /// An explicit copy of the key (`SecretKey` is deliberately not `Clone`).
    #[must_use]
    pub fn clone_key(&self) -> Self {
        Self(self.0)
    }
}

impl ConstantTimeEq for SecretKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretKey {}

impl TryFrom<&[u8]> for SecretKey {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        Self::try_from_slice(bytes)
    }
}

impl From<[u8; SECRET_KEY_LEN]> for SecretKey {
    fn from(bytes: [u8; SECRET_KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ() {
        assert_ne!(SecretKey::generate(), SecretKey::generate());
    }

    #[test]
    fn equality_is_by_value() {
        let a = SecretKey::from_bytes([1; 32]);
        let mut b_bytes = [1; 32];
        assert_eq!(a, SecretKey::from_bytes(b_bytes));
        b_bytes[31] ^= 1;
        assert_ne!(a, SecretKey::from_bytes(b_bytes));
    }

    #[test]
    fn debug_hides_the_bytes() {
        let key = SecretKey::from_bytes([0xab; 32]);
        let printed = format!("{key:?} {key:#?}");
        assert!(!printed.contains("ab"), "{printed}");
        assert!(!printed.contains("171"), "{printed}");
    }

    #[test]
    fn slice_lengths_are_checked() {
        for len in [0, 1, 31, 33, 64] {
            let err = SecretKey::try_from_slice(&vec![0; len]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidLength { expected: 32, got, .. } if got == len),
                "{err:?}"
            );
        }
        let key = SecretKey::try_from(&[9u8; 32][..]).unwrap();
        assert_eq!(key.as_bytes(), &[9; 32]);
    }

    #[test]
    fn zeroize_clears_the_bytes() {
        let mut key = SecretKey::from_bytes([0x5a; 32]);
        key.zeroize();
        assert_eq!(key.as_bytes(), &[0; 32]);
    }

    #[test]
    fn clone_key_copies() {
        let key = SecretKey::generate();
        assert_eq!(key.clone_key(), key);
    }
}
