//! What travels between the client and the host: queries, entries, updates and answers.
//!
//! Every message is a frame of the `wire` layout (magic, version, kind, key id, parts). Query
//! keys and values travel as seeded ciphertexts (a few kilobytes for a 64-bit number); answers
//! are the host's computed ciphertexts, which cannot be re-seeded (about half a megabyte for a
//! 64-bit value). Sizes are measured in the crate's README.

use tfhe::prelude::{FheDecrypt, FheTryEncrypt};
use tfhe::{CompressedFheUint64, CompressedFheUint64ConformanceParams, FheBool, FheUint64};

use crate::computed;
use crate::error::Result;
use crate::key_id::KeyId;
use crate::keys::{ClientKey, PARAMS};
use crate::wire::{self, Kind};

/// An encrypted query key, made by [`ClientKey::encrypt_query`] and answered by
/// [`EncryptedIndex::lookup`](crate::EncryptedIndex::lookup).
#[derive(Clone)]
pub struct Query {
    pub(crate) id: KeyId,
    pub(crate) key: CompressedFheUint64,
}

/// A new index entry: a clear key and an encrypted value, made by [`ClientKey::encrypt_entry`]
/// and added by [`EncryptedIndex::insert`](crate::EncryptedIndex::insert).
///
/// The key is in the clear, as every key of the index is for the host: use keys that say
/// nothing by themselves (a keyed hash of a file name, not a plain one).
#[derive(Clone)]
pub struct Entry {
    pub(crate) id: KeyId,
    pub(crate) key: u64,
    pub(crate) value: CompressedFheUint64,
}

/// An encrypted key and a new encrypted value for it, made by [`ClientKey::encrypt_update`] and
/// applied by [`EncryptedIndex::update`](crate::EncryptedIndex::update).
#[derive(Clone)]
pub struct Update {
    pub(crate) id: KeyId,
    pub(crate) key: CompressedFheUint64,
    pub(crate) value: CompressedFheUint64,
}

/// The host's encrypted answer to a [`Query`]: the value (zero when the key is absent) and
/// whether the key was found. Only the client key decrypts it
/// ([`ClientKey::decrypt_answer`]).
#[derive(Clone)]
pub struct Answer {
    pub(crate) id: KeyId,
    pub(crate) value: FheUint64,
    pub(crate) found: FheBool,
}

/// The host's encrypted answer to an [`Update`]: whether the key was found (and so the value
/// replaced). Decrypted by [`ClientKey::decrypt_update_answer`].
#[derive(Clone)]
pub struct UpdateAnswer {
    pub(crate) id: KeyId,
    pub(crate) found: FheBool,
}

impl ClientKey {
    /// Encrypts a query for `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Fhe`](crate::Error::Fhe) if TFHE-rs refuses the encryption.
    pub fn encrypt_query(&self, key: u64) -> Result<Query> {
        Ok(Query {
            id: self.id,
            key: self.encrypt(key)?,
        })
    }

    /// Encrypts `value` for a new entry under the clear `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Fhe`](crate::Error::Fhe) if TFHE-rs refuses the encryption.
    pub fn encrypt_entry(&self, key: u64, value: u64) -> Result<Entry> {
        Ok(Entry {
            id: self.id,
            key,
            value: self.encrypt(value)?,
        })
    }

    /// Encrypts an update that sets the value of `key` (if the index holds it) to `value`.
    ///
    /// # Errors
    ///
    /// [`Error::Fhe`](crate::Error::Fhe) if TFHE-rs refuses the encryption.
    pub fn encrypt_update(&self, key: u64, value: u64) -> Result<Update> {
        Ok(Update {
            id: self.id,
            key: self.encrypt(key)?,
            value: self.encrypt(value)?,
        })
    }

    /// Decrypts an answer: `Some(value)` if the key was in the index, `None` if not.
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`](crate::Error::KeyMismatch) if the answer belongs to another key
    /// pair (decrypting it would give garbage).
    pub fn decrypt_answer(&self, answer: &Answer) -> Result<Option<u64>> {
        self.id.check(&answer.id, Kind::Answer.name())?;
        let found: bool = answer.found.decrypt(&self.key);
        let value: u64 = answer.value.decrypt(&self.key);
        Ok(found.then_some(value))
    }

    /// Decrypts an update's answer: whether the key was in the index (and so its value was
    /// replaced).
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`](crate::Error::KeyMismatch) if the answer belongs to another key
    /// pair.
    pub fn decrypt_update_answer(&self, answer: &UpdateAnswer) -> Result<bool> {
        self.id.check(&answer.id, Kind::UpdateAnswer.name())?;
        Ok(answer.found.decrypt(&self.key))
    }

    /// A seeded encryption of `value`.
    fn encrypt(&self, value: u64) -> Result<CompressedFheUint64> {
        Ok(CompressedFheUint64::try_encrypt(value, &self.key)?)
    }
}

impl Query {
    /// Serialises the query: a frame with one part, the seeded ciphertext.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) if TFHE-rs cannot serialise it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let key = to_bytes_seeded(Kind::Query, &self.key)?;
        wire::encode(Kind::Query, &self.id, &[&key])
    }

    /// Reads a query written by [`Query::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) or
    /// [`Error::UnsupportedVersion`](crate::Error::UnsupportedVersion) for bytes that are not
    /// such a query, or a ciphertext that does not conform to the parameter set.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (id, [key]) = wire::decode::<1>(Kind::Query, bytes)?;
        Ok(Self {
            id,
            key: from_bytes_seeded(Kind::Query, key)?,
        })
    }

    /// The key pair the query was made with.
    #[must_use]
    pub const fn key_id(&self) -> KeyId {
        self.id
    }
}

impl Entry {
    /// Serialises the entry: a frame with two parts, the clear key (8 bytes, little-endian) and
    /// the seeded ciphertext of the value.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) if TFHE-rs cannot serialise it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let value = to_bytes_seeded(Kind::Entry, &self.value)?;
        wire::encode(Kind::Entry, &self.id, &[&self.key.to_le_bytes(), &value])
    }

    /// Reads an entry written by [`Entry::to_bytes`].
    ///
    /// # Errors
    ///
    /// As [`Query::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (id, [key, value]) = wire::decode::<2>(Kind::Entry, bytes)?;
        let key = <[u8; 8]>::try_from(key).map_err(|_| crate::Error::Malformed {
            what: Kind::Entry.name(),
            reason: "the key is not 8 bytes".into(),
        })?;
        Ok(Self {
            id,
            key: u64::from_le_bytes(key),
            value: from_bytes_seeded(Kind::Entry, value)?,
        })
    }

    /// The entry's clear key.
    #[must_use]
    pub const fn key(&self) -> u64 {
        self.key
    }

    /// The key pair the entry was made with.
    #[must_use]
    pub const fn key_id(&self) -> KeyId {
        self.id
    }
}

impl Update {
    /// Serialises the update: a frame with two parts, the seeded ciphertexts of the key and of
    /// the value.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) if TFHE-rs cannot serialise it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let key = to_bytes_seeded(Kind::Update, &self.key)?;
        let value = to_bytes_seeded(Kind::Update, &self.value)?;
        wire::encode(Kind::Update, &self.id, &[&key, &value])
    }

    /// Reads an update written by [`Update::to_bytes`].
    ///
    /// # Errors
    ///
    /// As [`Query::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (id, [key, value]) = wire::decode::<2>(Kind::Update, bytes)?;
        Ok(Self {
            id,
            key: from_bytes_seeded(Kind::Update, key)?,
            value: from_bytes_seeded(Kind::Update, value)?,
        })
    }

    /// The key pair the update was made with.
    #[must_use]
    pub const fn key_id(&self) -> KeyId {
        self.id
    }
}

impl Answer {
    /// Serialises the answer: a frame with two parts, the value's and the found flag's
    /// ciphertexts.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) if TFHE-rs cannot serialise it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let what = Kind::Answer.name();
        let value = wire::to_tfhe_bytes(what, &self.value, VALUE_LIMIT)?;
        let found = wire::to_tfhe_bytes(what, &self.found, BOOL_LIMIT)?;
        wire::encode(Kind::Answer, &self.id, &[&value, &found])
    }

    /// Reads an answer written by [`Answer::to_bytes`].
    ///
    /// # Errors
    ///
    /// As [`Query::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = Kind::Answer.name();
        let (id, [value, found]) = wire::decode::<2>(Kind::Answer, bytes)?;
        // Computed by the host: TFHE-rs's check is for fresh encryptions (see `computed`).
        let value = wire::from_tfhe_bytes(what, value, VALUE_LIMIT)?;
        computed::check_value(what, &value)?;
        let found = wire::from_tfhe_bytes(what, found, BOOL_LIMIT)?;
        computed::check_flag(what, &found)?;
        Ok(Self { id, value, found })
    }
}

impl UpdateAnswer {
    /// Serialises the answer: a frame with one part, the found flag's ciphertext.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) if TFHE-rs cannot serialise it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let found = wire::to_tfhe_bytes(Kind::UpdateAnswer.name(), &self.found, BOOL_LIMIT)?;
        wire::encode(Kind::UpdateAnswer, &self.id, &[&found])
    }

    /// Reads an answer written by [`UpdateAnswer::to_bytes`].
    ///
    /// # Errors
    ///
    /// As [`Query::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = Kind::UpdateAnswer.name();
        let (id, [found]) = wire::decode::<1>(Kind::UpdateAnswer, bytes)?;
        let found = wire::from_tfhe_bytes(what, found, BOOL_LIMIT)?;
        computed::check_flag(what, &found)?;
        Ok(Self { id, found })
    }
}

macro_rules! redacted_debug {
    ($($ty:ident),*) => {$(
        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($ty)).field("id", &self.id).finish_non_exhaustive()
            }
        }
    )*};
}
redacted_debug!(Query, Update, Answer, UpdateAnswer);

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Serialises a seeded ciphertext.
fn to_bytes_seeded(kind: Kind, ct: &CompressedFheUint64) -> Result<Vec<u8>> {
    wire::to_tfhe_bytes(kind.name(), ct, SEEDED_LIMIT)
}

/// Reads a seeded ciphertext that conforms to the parameter set.
fn from_bytes_seeded(kind: Kind, bytes: &[u8]) -> Result<CompressedFheUint64> {
    wire::from_tfhe_bytes_conformant(
        kind.name(),
        bytes,
        SEEDED_LIMIT,
        &CompressedFheUint64ConformanceParams::from(PARAMS),
    )
}

/// The largest serialised seeded 64-bit ciphertext read back.
const SEEDED_LIMIT: u64 = 1 << 20;
/// The largest serialised 64-bit ciphertext read back.
const VALUE_LIMIT: u64 = 4 << 20;
/// The largest serialised boolean ciphertext read back.
const BOOL_LIMIT: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// Another client key's TFHE-rs key decrypts a value to garbage, never to the value (the key
    /// id check keeps this from happening through the public API).
    #[test]
    fn wrong_client_key_decrypts_garbage() {
        let right = ClientKey::generate().unwrap();
        let wrong = ClientKey::generate().unwrap();
        let value = 0x0123_4567_89ab_cdef_u64;
        let entry = right.encrypt_entry(1, value).unwrap();
        let ct = entry.value.decompress();
        let good: u64 = ct.decrypt(&right.key);
        assert_eq!(good, value);
        let bad: u64 = ct.decrypt(&wrong.key);
        assert_ne!(bad, value);
    }
}
