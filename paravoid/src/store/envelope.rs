//! The sealing of stored notes, one envelope for both stores: AES-256-GCM under a 32-byte key,
//! the sealed bytes bound to where they belong.
//!
//! [`seal`] returns `nonce (12) ‖ AES-256-GCM ciphertext and tag`, with the associated data
//! `"paravoid/record/v2" ‖ table tag ‖ 0 ‖ note id (16 bytes, big-endian) ‖ key id (8 bytes,
//! little-endian) ‖ clear fields`. The table tag names the kind of record (each store and
//! record kind has its own), the key id says which key sealed it (a redb key slot, a
//! PostgreSQL expiry epoch), and the clear fields are whatever the store keeps beside the
//! sealed bytes and wants authenticated (empty on redb; on PostgreSQL the expiry). Sealed bytes
//! moved to another note, table, key or clear header do not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

/// Bytes of a key.
pub(crate) const KEY_LEN: usize = 32;

/// Bytes of the nonce at the start of sealed bytes.
pub(crate) const NONCE_LEN: usize = 12;

/// Bytes the envelope adds to the plaintext: nonce and tag.
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

/// The domain label that starts every envelope's associated data.
const AAD_LABEL: &[u8] = b"paravoid/record/v2";

/// A 32-byte sealing key. Zeroized on drop; never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct RecordKey([u8; KEY_LEN]);

impl RecordKey {
    /// A fresh key from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if the operating system has no randomness.
    pub(crate) fn random() -> Result<Self> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|_| Error::Internal("no randomness"))?;
        Ok(Self(key))
    }

    /// A key made from `bytes` (read from a key file or derived).
    pub(crate) const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, to write into a key file.
    pub(crate) const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A copy of the key (both zeroized on drop).
    pub(crate) fn clone_key(&self) -> Self {
        Self(self.0)
    }
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKey(..)")
    }
}

/// Where sealed bytes belong: bound into the associated data (module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding<'a> {
    /// The kind of record.
    pub(crate) table: &'a [u8],
    /// The note id.
    pub(crate) id: u128,
    /// Which key sealed it.
    pub(crate) key_id: u64,
    /// Clear fields stored beside the sealed bytes that must not change unnoticed.
    pub(crate) clear: &'a [u8],
}

impl<'a> Binding<'a> {
    /// Bytes of `table`, note `id`, sealed by key `key_id`, with no clear fields.
    pub(crate) const fn new(table: &'a [u8], id: u128, key_id: u64) -> Self {
        Self {
            table,
            id,
            key_id,
            clear: &[],
        }
    }

    /// The same binding, also covering `clear`.
    #[must_use]
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "used by the PostgreSQL rows next")
    )]
    pub(crate) const fn with_clear(mut self, clear: &'a [u8]) -> Self {
        self.clear = clear;
        self
    }

    /// The associated data.
    fn aad(&self) -> Vec<u8> {
        let mut aad =
            Vec::with_capacity(AAD_LABEL.len() + self.table.len() + 25 + self.clear.len());
        aad.extend_from_slice(AAD_LABEL);
        aad.extend_from_slice(self.table);
        aad.push(0);
        aad.extend_from_slice(&self.id.to_be_bytes());
        aad.extend_from_slice(&self.key_id.to_le_bytes());
        aad.extend_from_slice(self.clear);
        aad
    }
}

/// Encrypts `plaintext` under `key`, bound to `binding`.
///
/// # Errors
///
/// [`Error::Internal`] if the operating system has no randomness.
pub(crate) fn seal(key: &RecordKey, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| Error::Internal("record key"))?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| Error::Internal("no randomness"))?;
    let aad = binding.aad();
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::Internal("sealing a record failed"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Decrypts bytes sealed by [`seal`] with the same key and binding.
///
/// # Errors
///
/// [`Error::CorruptRecord`] if they do not open: another key, another binding, or changed bytes.
pub(crate) fn open(
    key: &RecordKey,
    binding: &Binding<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let (nonce, ciphertext) = sealed
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(Error::CorruptRecord)?;
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| Error::CorruptRecord)?;
    let aad = binding.aad();
    cipher
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::CorruptRecord)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = RecordKey::random().unwrap();
        let at = |table, id, key_id| Binding::new(table, id, key_id);
        let sealed = seal(&key, &at(b"notes", 7, 3), b"body").unwrap();
        assert_eq!(sealed.len(), 4 + SEAL_OVERHEAD);
        assert_eq!(
            open(&key, &at(b"notes", 7, 3), &sealed).unwrap().as_slice(),
            b"body"
        );
        assert!(open(&key, &at(b"notes", 8, 3), &sealed).is_err());
        assert!(open(&key, &at(b"notes", 7, 4), &sealed).is_err());
        assert!(open(&key, &at(b"other", 7, 3), &sealed).is_err());
        assert!(open(&key, &at(b"notes", 7, 3).with_clear(b"x"), &sealed).is_err());
        let other = RecordKey::random().unwrap();
        assert!(open(&other, &at(b"notes", 7, 3), &sealed).is_err());
        for index in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[index] ^= 1;
            assert!(open(&key, &at(b"notes", 7, 3), &bad).is_err());
        }
        assert!(matches!(
            open(&key, &at(b"notes", 7, 3), &sealed[..5]),
            Err(Error::CorruptRecord)
        ));
    }

    #[test]
    fn clear_fields_are_bound() {
        let key = RecordKey::random().unwrap();
        let binding = Binding::new(b"t", 1, 2).with_clear(b"expires 10");
        let sealed = seal(&key, &binding, b"body").unwrap();
        assert!(open(&key, &binding, &sealed).is_ok());
        let moved = Binding::new(b"t", 1, 2).with_clear(b"expires 99");
        assert!(open(&key, &moved, &sealed).is_err());
    }

    /// The associated data of a binding without clear fields is the layout redb records were
    /// written with: changing it would make every stored note unreadable.
    #[test]
    fn associated_data_layout_is_stable() {
        let aad = Binding::new(b"notes", 0x0102, 0x0304).aad();
        let mut expected = b"paravoid/record/v2notes\0".to_vec();
        expected.extend_from_slice(&0x0102u128.to_be_bytes());
        expected.extend_from_slice(&0x0304u64.to_le_bytes());
        assert_eq!(aad, expected);
    }
}
