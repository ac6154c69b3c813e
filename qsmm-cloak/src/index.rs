//! The encrypted index a host keeps and queries: clear 64-bit keys, encrypted 64-bit values.
//!
//! Built on TFHE-rs's `KVStore`. A lookup compares the encrypted query key with every key of the
//! index and adds up the values multiplied by the encrypted comparison results, so its cost grows
//! linearly with the number of entries (a fraction of a second per entry on two cores, an update
//! about twice a lookup; see the crate's README) and it touches every entry whatever the query:
//! the host cannot tell from the work which entry was asked for. Hence a hard cap on entries.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tfhe::{CompressedKVStore, FheUint64, KVStore};

use crate::error::{Error, Result};
use crate::key_id::KeyId;
use crate::keys::ServerKey;
use crate::message::{Answer, Entry, Query, Update, UpdateAnswer};
use crate::wire::{self, Kind};

/// The default cap on an index's entries.
pub const DEFAULT_MAX_ENTRIES: usize = 256;

/// The largest cap [`EncryptedIndex::with_max_entries`] accepts.
pub const HARD_MAX_ENTRIES: usize = 4096;

/// An index of clear 64-bit keys and encrypted 64-bit values that a host answers encrypted
/// queries on, holding only the [`ServerKey`].
///
/// # Examples
///
/// ```no_run
/// use qsmm_cloak::{ClientKey, EncryptedIndex};
///
/// // Client: keys, and the entries to store.
/// let client = ClientKey::generate()?;
/// let server_key = client.server_key();
/// let entry = client.encrypt_entry(0x1234, 42)?;
///
/// // Host: holds the server key and the index, never the client key.
/// let mut index = EncryptedIndex::new(&server_key);
/// index.insert(&server_key, &entry)?;
/// let answer = index.lookup(&server_key, &client.encrypt_query(0x1234)?)?;
///
/// // Client: only it can read the answer.
/// assert_eq!(client.decrypt_answer(&answer)?, Some(42));
/// # Ok::<(), qsmm_cloak::Error>(())
/// ```
pub struct EncryptedIndex {
    id: KeyId,
    store: KVStore<u64, FheUint64>,
    max_entries: usize,
}

impl EncryptedIndex {
    /// An empty index for the key pair of `server_key`, capped at [`DEFAULT_MAX_ENTRIES`].
    #[must_use]
    pub fn new(server_key: &ServerKey) -> Self {
        Self {
            id: server_key.id,
            store: KVStore::new(),
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }

    /// An empty index capped at `max_entries`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] unless `1 <= max_entries <= HARD_MAX_ENTRIES`.
    pub fn with_max_entries(server_key: &ServerKey, max_entries: usize) -> Result<Self> {
        check_capacity(max_entries)?;
        Ok(Self {
            max_entries,
            ..Self::new(server_key)
        })
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the index has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// The cap on entries.
    #[must_use]
    pub const fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The key pair the index belongs to.
    #[must_use]
    pub const fn key_id(&self) -> KeyId {
        self.id
    }

    /// Adds an entry, or replaces the value of an entry with the same clear key.
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`] if the entry or the server key belong to another key pair;
    /// [`Error::IndexFull`] if the key is new and the index holds `max_entries` already (the
    /// index is then unchanged).
    pub fn insert(&mut self, server_key: &ServerKey, entry: &Entry) -> Result<()> {
        self.check_keys(server_key, &entry.id, Kind::Entry)?;
        if self.store.len() >= self.max_entries && !self.store.contains_clear_key(&entry.key) {
            return Err(Error::IndexFull {
                max: self.max_entries,
            });
        }
        let value = entry.value.decompress();
        server_key.run(|| {
            let _previous = self.store.insert_with_clear_key(entry.key, value);
        });
        Ok(())
    }

    /// Removes the entry with the clear key `key`; whether there was one.
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`] if the server key belongs to another key pair.
    pub fn remove(&mut self, server_key: &ServerKey, key: u64) -> Result<bool> {
        self.id.check(&server_key.id, Kind::ServerKey.name())?;
        Ok(server_key.run(|| self.store.remove_with_clear_key(&key).is_some()))
    }

    /// Answers an encrypted query: the encrypted value of the queried key (zero if absent) and
    /// an encrypted flag saying whether it was found. Costs one encrypted comparison per entry.
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`] if the query or the server key belong to another key pair.
    pub fn lookup(&self, server_key: &ServerKey, query: &Query) -> Result<Answer> {
        self.check_keys(server_key, &query.id, Kind::Query)?;
        let key = query.key.decompress();
        let (value, found) = server_key.run(|| self.store.get(&key));
        Ok(Answer {
            id: self.id,
            value,
            found,
        })
    }

    /// Applies an encrypted update: the entry whose key equals the encrypted key (if any) gets
    /// the encrypted value; every other value is recomputed unchanged, so the host cannot tell
    /// which (if any) changed. Costs one comparison and one encrypted selection per entry.
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`] if the update or the server key belong to another key pair.
    pub fn update(&mut self, server_key: &ServerKey, update: &Update) -> Result<UpdateAnswer> {
        self.check_keys(server_key, &update.id, Kind::Update)?;
        let key = update.key.decompress();
        let value = update.value.decompress();
        let found = server_key.run(|| self.store.update(&key, &value));
        Ok(UpdateAnswer { id: self.id, found })
    }

    /// Serialises the index with TFHE-rs's list compression (a frame with one part, the
    /// compressed store: the clear keys and the packed value ciphertexts).
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`] if the server key belongs to another key pair;
    /// [`Error::Fhe`] or [`Error::Malformed`] if TFHE-rs cannot compress or serialise it.
    pub fn to_bytes(&self, server_key: &ServerKey) -> Result<Vec<u8>> {
        self.id.check(&server_key.id, Kind::ServerKey.name())?;
        let compressed = server_key.run(|| self.store.compress())?;
        let inner = wire::to_tfhe_bytes(
            Kind::Index.name(),
            &compressed,
            index_limit(HARD_MAX_ENTRIES),
        )?;
        wire::encode(Kind::Index, &self.id, &[&inner])
    }

    /// Reads an index written by [`EncryptedIndex::to_bytes`], capped at `max_entries`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] for a cap out of range; [`Error::KeyMismatch`] if the index
    /// belongs to another key pair than `server_key`; [`Error::IndexFull`] if it holds more than
    /// `max_entries`; [`Error::Malformed`] or [`Error::UnsupportedVersion`] for bytes that are
    /// not such an index.
    pub fn from_bytes(server_key: &ServerKey, bytes: &[u8], max_entries: usize) -> Result<Self> {
        check_capacity(max_entries)?;
        let what = Kind::Index.name();
        let (id, [inner]) = wire::decode::<1>(Kind::Index, bytes)?;
        id.check(&server_key.id, what)?;
        let compressed: CompressedKVStore<u64, FheUint64> =
            wire::from_tfhe_bytes(what, inner, index_limit(max_entries))?;
        // TFHE-rs has no conformance check for a compressed store, and its decompression
        // asserts on what it reads: keep a malformed index from taking the host down.
        let store = catch_unwind(AssertUnwindSafe(|| {
            server_key.run(|| compressed.decompress())
        }))
        .map_err(|_| Error::Malformed {
            what,
            reason: "the compressed values do not decode".into(),
        })?
        .map_err(|e| Error::Malformed {
            what,
            reason: e.to_string(),
        })?;
        if store.len() > max_entries {
            return Err(Error::IndexFull { max: max_entries });
        }
        Ok(Self {
            id,
            store,
            max_entries,
        })
    }

    /// Refuses a server key or a message of another key pair than the index's.
    fn check_keys(&self, server_key: &ServerKey, message: &KeyId, kind: Kind) -> Result<()> {
        self.id.check(&server_key.id, Kind::ServerKey.name())?;
        self.id.check(message, kind.name())
    }
}

impl core::fmt::Debug for EncryptedIndex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncryptedIndex")
            .field("id", &self.id)
            .field("len", &self.store.len())
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

/// Refuses a cap out of `1..=HARD_MAX_ENTRIES`.
fn check_capacity(max_entries: usize) -> Result<()> {
    if (1..=HARD_MAX_ENTRIES).contains(&max_entries) {
        Ok(())
    } else {
        Err(Error::InvalidCapacity {
            got: max_entries,
            max: HARD_MAX_ENTRIES,
        })
    }
}

/// The largest serialised index of `max_entries` entries read back.
fn index_limit(max_entries: usize) -> u64 {
    u64::try_from(max_entries)
        .unwrap_or(u64::MAX)
        .saturating_mul(PER_ENTRY_LIMIT)
        .saturating_add(1 << 20)
}

/// A generous bound on one compressed entry's serialised size.
const PER_ENTRY_LIMIT: u64 = 64 << 10;
