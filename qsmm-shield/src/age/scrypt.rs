//! The age passphrase recipient type (age-encryption.org/v1, "The scrypt recipient type").
//!
//! ```text
//! stanza   = "-> scrypt " base64(salt, 16 bytes) " " log2(N) "\n" base64(body, 32 bytes)
//! wrap key = scrypt(passphrase, "age-encryption.org/v1/scrypt" ‖ salt, N, r = 8, p = 1)
//! body     = ChaCha20-Poly1305(wrap key, nonce = 0, file key)
//! ```
//!
//! An scrypt stanza must be the only stanza of its header. Decryption refuses work factors
//! above [`MAX_WORK_FACTOR`] before deriving anything.

use core::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::header::{Stanza, decode_base64};
use super::{AgeError, FILE_KEY_LEN, FileKey};

/// First argument of an scrypt stanza.
pub(crate) const SCRYPT_TAG: &str = "scrypt";
/// Prefix of the scrypt salt.
const SALT_LABEL: &[u8] = b"age-encryption.org/v1/scrypt";
/// Length of the random salt of a stanza.
const SALT_LEN: usize = 16;
/// Length of a wrapped file key: 16 bytes and a 16-byte Poly1305 tag.
const WRAPPED_KEY_LEN: usize = FILE_KEY_LEN + 16;

/// The work factor (log2 of the scrypt cost N) age uses by default, and so does
/// [`crate::age::encrypt_with_passphrase`] when asked for it: about 256 MiB and a second.
pub const DEFAULT_WORK_FACTOR: u8 = 18;
/// The largest work factor accepted, as in age: 2^22 with r = 8 takes 4 GiB of memory and
/// several seconds. Files naming more are refused ([`AgeError::WorkFactor`]) without running
/// scrypt.
pub const MAX_WORK_FACTOR: u8 = 22;

/// A passphrase that encrypts or opens an age file (zeroized on drop; `Debug` hides it).
///
/// ```
/// use qsmm_shield::age::{self, Passphrase};
///
/// let passphrase = Passphrase::new("correct horse battery staple");
/// let file = age::encrypt_with_passphrase(&passphrase, 10, b"hi", false)?;
/// assert_eq!(age::decrypt_with_passphrase(&passphrase, &file)?, b"hi");
/// # Ok::<(), age::AgeError>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Passphrase(Vec<u8>);

impl Passphrase {
    /// Takes `passphrase` (its bytes, usually UTF-8 text), zeroized when the [`Passphrase`]
    /// is dropped. A `String` or `Vec<u8>` is moved, not copied.
    #[must_use]
    pub fn new(passphrase: impl Into<Vec<u8>>) -> Self {
        Self(passphrase.into())
    }

    /// The passphrase bytes.
    ///
    /// <div class="warning">This is secret.</div>
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Wraps `file_key` into an scrypt stanza with work factor `log_n`.
    pub(crate) fn wrap(&self, file_key: &FileKey, log_n: u8) -> Result<Stanza, AgeError> {
        check_work_factor(log_n)?;
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| AgeError::Rng)?;
        let key = self.wrap_key(&salt, log_n)?;
        let body = ChaCha20Poly1305::new((&*key).into())
            .encrypt(&Nonce::default(), file_key.as_ref())
            .map_err(|_| AgeError::Crypto)?;
        Stanza::new(
            vec![
                SCRYPT_TAG.into(),
                STANDARD_NO_PAD.encode(salt),
                log_n.to_string(),
            ],
            body,
        )
    }

    /// Opens an scrypt stanza: `None` for a stanza of another type or a wrong passphrase,
    /// [`AgeError::Header`] for a malformed one, [`AgeError::WorkFactor`] above the bound.
    pub(crate) fn unwrap_stanza(&self, stanza: &Stanza) -> Result<Option<FileKey>, AgeError> {
        let (salt, log_n) = match stanza.args() {
            [first, ..] if first != SCRYPT_TAG => return Ok(None),
            [_, salt, log_n] => (salt, log_n),
            _ => return Err(AgeError::Header),
        };
        let salt: [u8; SALT_LEN] = decode_base64(salt.as_bytes())?
            .try_into()
            .map_err(|_| AgeError::Header)?;
        let log_n = parse_work_factor(log_n)?;
        if stanza.body().len() != WRAPPED_KEY_LEN {
            return Err(AgeError::Header);
        }
        let key = self.wrap_key(&salt, log_n)?;
        let opened = ChaCha20Poly1305::new((&*key).into())
            .decrypt(&Nonce::default(), stanza.body())
            .ok()
            .map(Zeroizing::new);
        Ok(opened.and_then(|plaintext| {
            let key: [u8; FILE_KEY_LEN] = plaintext.as_slice().try_into().ok()?;
            Some(FileKey::from(key))
        }))
    }

    fn wrap_key(&self, salt: &[u8; SALT_LEN], log_n: u8) -> Result<Zeroizing<[u8; 32]>, AgeError> {
        let mut full_salt = [0u8; SALT_LABEL.len() + SALT_LEN];
        full_salt[..SALT_LABEL.len()].copy_from_slice(SALT_LABEL);
        full_salt[SALT_LABEL.len()..].copy_from_slice(salt);
        let params = scrypt::Params::new(log_n, 8, 1).map_err(|_| AgeError::Crypto)?;
        let mut key = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(self.as_bytes(), &full_salt, &params, key.as_mut())
            .map_err(|_| AgeError::Crypto)?;
        Ok(key)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

/// Checks that `log_n` is within `1..=MAX_WORK_FACTOR`.
pub(crate) fn check_work_factor(log_n: u8) -> Result<(), AgeError> {
    if (1..=MAX_WORK_FACTOR).contains(&log_n) {
        Ok(())
    } else {
        Err(AgeError::WorkFactor)
    }
}

/// Parses the work factor argument: a decimal number without sign or leading zero
/// ([`AgeError::Header`] otherwise) within `1..=MAX_WORK_FACTOR` ([`AgeError::WorkFactor`]
/// otherwise).
fn parse_work_factor(text: &str) -> Result<u8, AgeError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.starts_with('0')
        && text.len() <= 3;
    if !canonical {
        // Zero is well formed but out of range; anything else here is malformed.
        return Err(if text == "0" {
            AgeError::WorkFactor
        } else {
            AgeError::Header
        });
    }
    let log_n = text.parse::<u16>().map_err(|_| AgeError::Header)?;
    let log_n = u8::try_from(log_n).map_err(|_| AgeError::WorkFactor)?;
    check_work_factor(log_n)?;
    Ok(log_n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_factors_are_parsed_strictly() {
        assert_eq!(parse_work_factor("1").unwrap(), 1);
        assert_eq!(parse_work_factor("22").unwrap(), 22);
        for bad in ["", "010", "+10", "-10", "0xa", "10a", " 10", "1000"] {
            assert!(
                matches!(parse_work_factor(bad), Err(AgeError::Header)),
                "{bad}"
            );
        }
        for high in ["0", "23", "255", "256", "999"] {
            assert!(
                matches!(parse_work_factor(high), Err(AgeError::WorkFactor)),
                "{high}"
            );
        }
    }

    #[test]
    fn stanzas_round_trip_and_reject_a_wrong_passphrase() {
        let key = FileKey::from([9; FILE_KEY_LEN]);
        let stanza = Passphrase::new("right").wrap(&key, 2).unwrap();
        assert_eq!(stanza.args()[0], SCRYPT_TAG);
        assert_eq!(stanza.args()[2], "2");
        let opened = Passphrase::new("right").unwrap_stanza(&stanza).unwrap();
        assert_eq!(opened.unwrap().as_bytes(), key.as_bytes());
        assert!(
            Passphrase::new("wrong")
                .unwrap_stanza(&stanza)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn encryption_refuses_work_factors_out_of_range() {
        let key = FileKey::from([9; FILE_KEY_LEN]);
        for log_n in [0, MAX_WORK_FACTOR + 1, u8::MAX] {
            assert!(matches!(
                Passphrase::new("p").wrap(&key, log_n),
                Err(AgeError::WorkFactor)
            ));
        }
    }
}
