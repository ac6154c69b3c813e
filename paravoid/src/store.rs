//! The redb database of sealed notes: tables, the versioned record encoding, and the
//! transactions that create, peek, reveal and sweep notes.
//!
//! Every function here blocks on disk I/O; the async handlers call them through
//! `tokio::task::spawn_blocking`. Creates and reveals are queued to one writer thread that
//! commits whatever is queued as one transaction (group commit, see [`group_commit`]); peeks read
//! in their own read transactions; the rare lazy deletions and sweeps open their own write
//! transactions.
//!
//! # Tables
//!
//! | table | key | value |
//! |---|---|---|
//! | `notes_v1` | note id (`u128`, the UUID's big-endian value) | a [`NoteRecord`] (below) |
//! | `expiry_v1` | `(expires_at, note id)` | `()` — an index the sweeper walks in time order |
//!
//! # Record layout (`notes_v1` values), version 1
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 1 | record version, `1` |
//! | 1 | 8 | `expires_at`, Unix seconds, little-endian `u64` |
//! | 9 | 1 | failed passphrase attempts so far |
//! | 10 | rest | `qsmm_shield::note::StoredNote::to_bytes()` (itself versioned): the ML-KEM-768 encapsulation key, KEM ciphertext, AES-GCM nonce and ciphertext, passphrase parameters, key check |
//!
//! An end-to-end note (sealed in the browser, see `routes::e2e`) has record version 2, which adds
//! the hashes of its claim tokens after the counter:
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 1 | record version, `2` |
//! | 1 | 8 | `expires_at` |
//! | 9 | 1 | failed passphrase attempts so far |
//! | 10 | 32 | SHA-256 of the claim token |
//! | 42 | 1 | `1` if a passphrase token hash follows, else `0` |
//! | 43 | 0 or 32 | SHA-256 of the passphrase token |
//! | … | rest | `StoredNote::to_bytes()`, exactly as the browser sealed it |
//!
//! Nothing else is stored: no decapsulation key, seed, classical secret, passphrase, claim token
//! or message.

use std::path::Path;
use std::sync::Arc;

use qsmm_shield::note::{NoteOpenError, StoredNote};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

mod group_commit;

use group_commit::GroupCommit;

/// Wrong passphrases allowed per note; the attempt that reaches this number destroys the note.
pub const MAX_PASSPHRASE_ATTEMPTS: u8 = 5;

/// Sealed notes by id.
const NOTES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("notes_v1");

/// `(expires_at, id)` for every note, so expired notes are found without a full scan.
const EXPIRY: TableDefinition<'_, (u64, u128), ()> = TableDefinition::new("expiry_v1");

/// Version byte of the record layout of a note sealed by the server.
const RECORD_VERSION: u8 = 1;

/// Version byte of the record layout of an end-to-end note (with claim token hashes).
const RECORD_VERSION_E2E: u8 = 2;

/// Length of a claim token hash.
pub(crate) const TOKEN_HASH_LEN: usize = 32;

/// Length of the record header before the encoded note.
const RECORD_HEADER_LEN: usize = 10;

/// Most expired notes deleted in one sweeper transaction, so a backlog does not hold the write
/// lock for long.
const SWEEP_BATCH: usize = 1024;

/// A note as stored: the sealed note, its expiry and its failed-attempt counter.
#[derive(Debug)]
pub(crate) struct NoteRecord {
    /// Unix seconds at which the note stops existing.
    pub(crate) expires_at: u64,
    /// Wrong passphrases given so far.
    pub(crate) failed_attempts: u8,
    /// The sealed note.
    pub(crate) note: StoredNote,
    /// For an end-to-end note, the hashes of its claim tokens; `None` for a note sealed by the
    /// server.
    pub(crate) claim: Option<ClaimHashes>,
}

/// What an end-to-end note keeps to recognise its reader: SHA-256 of the claim token, and for a
/// passphrase note SHA-256 of the passphrase token. Neither opens the note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaimHashes {
    /// SHA-256 of the claim token (derived from the link keys).
    pub(crate) claim: [u8; TOKEN_HASH_LEN],
    /// SHA-256 of the passphrase token (derived from the link keys and Argon2id output).
    pub(crate) passphrase: Option<[u8; TOKEN_HASH_LEN]>,
}

/// The tokens a reader presents to claim an end-to-end note. They prove knowledge of the link
/// keys (and passphrase) without revealing them; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Tokens {
    /// The claim token.
    pub(crate) claim: [u8; TOKEN_HASH_LEN],
    /// The passphrase token, if the reader sent one.
    pub(crate) passphrase: Option<[u8; TOKEN_HASH_LEN]>,
}

impl Tokens {
    /// Compares the tokens' hashes with the stored ones in constant time: a wrong claim token
    /// is [`NoteOpenError::WrongKeys`]; for a passphrase note, a missing passphrase token is
    /// [`NoteOpenError::PassphraseRequired`] and a wrong one [`NoteOpenError::WrongPassphrase`].
    /// A passphrase token sent for a note without one is ignored.
    pub(crate) fn check(&self, hashes: &ClaimHashes) -> Result<(), NoteOpenError> {
        if !bool::from(Sha256::digest(self.claim).ct_eq(&hashes.claim)) {
            return Err(NoteOpenError::WrongKeys);
        }
        let Some(expected) = &hashes.passphrase else {
            return Ok(());
        };
        let Some(token) = &self.passphrase else {
            return Err(NoteOpenError::PassphraseRequired);
        };
        if bool::from(Sha256::digest(token).ct_eq(expected)) {
            Ok(())
        } else {
            Err(NoteOpenError::WrongPassphrase)
        }
    }
}

impl core::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl NoteRecord {
    /// Encodes the record (layout in the module docs).
    fn to_bytes(&self) -> Vec<u8> {
        let note = self.note.to_bytes();
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + 1 + 2 * TOKEN_HASH_LEN + note.len());
        out.push(if self.claim.is_some() {
            RECORD_VERSION_E2E
        } else {
            RECORD_VERSION
        });
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.push(self.failed_attempts);
        if let Some(claim) = &self.claim {
            out.extend_from_slice(&claim.claim);
            match &claim.passphrase {
                Some(hash) => {
                    out.push(1);
                    out.extend_from_slice(hash);
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&note);
        out
    }

    /// Decodes a record; never panics.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = || Error::Internal("corrupt note record");
        let (&version, rest) = bytes.split_first().ok_or_else(corrupt)?;
        if version != RECORD_VERSION && version != RECORD_VERSION_E2E {
            return Err(corrupt());
        }
        let (expires_at, rest) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let (&failed_attempts, mut note) = rest.split_first().ok_or_else(corrupt)?;
        let claim = if version == RECORD_VERSION_E2E {
            let (claim, rest) = note
                .split_first_chunk::<TOKEN_HASH_LEN>()
                .ok_or_else(corrupt)?;
            let (&flag, rest) = rest.split_first().ok_or_else(corrupt)?;
            let (passphrase, rest) = match flag {
                0 => (None, rest),
                1 => {
                    let (hash, rest) = rest
                        .split_first_chunk::<TOKEN_HASH_LEN>()
                        .ok_or_else(corrupt)?;
                    (Some(*hash), rest)
                }
                _ => return Err(corrupt()),
            };
            note = rest;
            Some(ClaimHashes {
                claim: *claim,
                passphrase,
            })
        } else {
            None
        };
        let note = StoredNote::from_bytes(note).map_err(|_| corrupt())?;
        Ok(Self {
            expires_at: u64::from_le_bytes(*expires_at),
            failed_attempts,
            note,
            claim,
        })
    }

    /// Whether the note has expired at `now`.
    const fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// What a reveal or claim did inside the transaction, and what the request is answered.
enum Decision<T> {
    /// Changes were written (or none were needed); answer with this once they are committed.
    Commit(Result<T>),
    /// Nothing was written; answer with this error.
    Abort(Error),
}

/// What a peek reports about a live note.
#[derive(Clone, Debug)]
pub(crate) struct NoteSummary {
    /// Unix seconds at which the note expires.
    pub(crate) expires_at: u64,
    /// Whether revealing needs a passphrase.
    pub(crate) passphrase_required: bool,
    /// Whether the note was sealed in the browser (end to end) and is claimed, not revealed.
    pub(crate) end_to_end: bool,
    /// The Argon2id parameters of a passphrase note (public; an end-to-end reader needs the
    /// salt and costs before it can derive its passphrase token).
    pub(crate) passphrase: Option<qsmm_shield::note::PassphraseParams>,
}

/// The note database.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    db: Arc<Database>,
    /// Creates and reveals go through the group-committing writer thread.
    writer: Arc<GroupCommit>,
}

impl Store {
    /// Opens the database at `path`, creating the file and the tables if missing.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(NOTES)?;
            txn.open_table(EXPIRY)?;
        }
        txn.commit()?;
        let db = Arc::new(db);
        let writer = Arc::new(GroupCommit::start(db.clone())?);
        Ok(Self { db, writer })
    }

    /// Stores a new note. Durable once this returns `Ok`.
    pub(crate) fn insert(&self, id: Uuid, record: &NoteRecord) -> Result<()> {
        let key = id.as_u128();
        let bytes = record.to_bytes();
        let expires_at = record.expires_at;
        self.writer.run(move |txn| {
            let mut notes = txn.open_table(NOTES)?;
            if notes.get(key)?.is_some() {
                // Nothing written: the rest of the batch commits without this job.
                return Ok(Err(Error::Internal("note id collision")));
            }
            notes.insert(key, bytes.as_slice())?;
            txn.open_table(EXPIRY)?.insert((expires_at, key), ())?;
            Ok(Ok(()))
        })?
    }

    /// Looks a note up without consuming it. An expired note is deleted and reported as absent.
    pub(crate) fn peek(&self, id: Uuid, now: u64) -> Result<Option<NoteSummary>> {
        let key = id.as_u128();
        let record = {
            let txn = self.db.begin_read()?;
            let notes = txn.open_table(NOTES)?;
            let Some(value) = notes.get(key)? else {
                return Ok(None);
            };
            NoteRecord::from_bytes(value.value())?
        };
        if record.is_expired(now) {
            self.delete_if_expired(id, now)?;
            return Ok(None);
        }
        Ok(Some(NoteSummary {
            expires_at: record.expires_at,
            passphrase_required: record.note.passphrase.is_some(),
            end_to_end: record.claim.is_some(),
            passphrase: record.note.passphrase,
        }))
    }

    /// Reveals a note exactly once.
    ///
    /// All of it happens inside a write transaction of the writer thread, and redb runs write
    /// transactions one at a time; a transaction may hold several requests (group commit), run
    /// one after another, each seeing the changes of those before it. Load the record, check
    /// expiry, run `open` (which checks the link keys, then the passphrase, and decrypts), then
    ///
    /// - on success: delete the note; the message is returned only **after** the transaction
    ///   has committed, so of any number of concurrent reveals exactly one sees the note;
    /// - on a wrong passphrase: count the attempt (deleting the note at
    ///   [`MAX_PASSPHRASE_ATTEMPTS`]), answered after the commit;
    /// - on wrong link keys or a missing passphrase: write nothing.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (absent or expired; an expired note is deleted), [`Error::WrongKeys`],
    /// [`Error::PassphraseRequired`], [`Error::WrongPassphrase`], or a storage error.
    pub(crate) fn reveal<F>(&self, id: Uuid, now: u64, open: F) -> Result<Zeroizing<Vec<u8>>>
    where
        F: FnOnce(&StoredNote) -> Result<Zeroizing<Vec<u8>>, NoteOpenError> + Send + 'static,
    {
        self.writer.run(move |txn| {
            // A note sealed in the browser is never opened by the server: for this endpoint it
            // does not exist.
            let open = |record: &NoteRecord| match record.claim {
                Some(_) => Err(None),
                None => open(&record.note).map_err(Some),
            };
            Ok(match Self::decide_reveal(txn, id.as_u128(), now, open)? {
                Decision::Commit(outcome) => outcome,
                // Nothing was written: leaving the transaction untouched is the abort.
                Decision::Abort(err) => Err(err),
            })
        })?
    }

    /// Claims an end-to-end note exactly once: inside one write transaction, as
    /// [`Store::reveal`], the claim token is compared (wrong → nothing written,
    /// [`Error::WrongKeys`]), then the passphrase token (missing → nothing written,
    /// [`Error::PassphraseRequired`]; wrong → the attempt is counted, as a wrong passphrase in
    /// [`Store::reveal`]); with both right the note is deleted and returned after the commit.
    /// The server never opens the note: the tokens are compared as SHA-256 hashes in constant
    /// time.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (absent, expired, or not an end-to-end note), [`Error::WrongKeys`],
    /// [`Error::PassphraseRequired`], [`Error::WrongPassphrase`], or a storage error.
    pub(crate) fn claim(&self, id: Uuid, now: u64, tokens: Tokens) -> Result<StoredNote> {
        self.writer.run(move |txn| {
            let open = |record: &NoteRecord| {
                let Some(hashes) = &record.claim else {
                    return Err(None);
                };
                tokens.check(hashes).map_err(Some)?;
                Ok(record.note.clone())
            };
            Ok(match Self::decide_reveal(txn, id.as_u128(), now, open)? {
                Decision::Commit(outcome) => outcome,
                Decision::Abort(err) => Err(err),
            })
        })?
    }

    /// The body of [`Store::reveal`] and [`Store::claim`]: reads and changes the tables inside
    /// `txn` and says whether to commit. `open` answers `Err(None)` for a note of the other
    /// mode, which is reported as absent.
    fn decide_reveal<T, F>(
        txn: &WriteTransaction,
        key: u128,
        now: u64,
        open: F,
    ) -> Result<Decision<T>>
    where
        F: FnOnce(&NoteRecord) -> Result<T, Option<NoteOpenError>>,
    {
        let mut notes = txn.open_table(NOTES)?;
        let Some(record) = notes
            .get(key)?
            .map(|value| NoteRecord::from_bytes(value.value()))
            .transpose()?
        else {
            return Ok(Decision::Abort(Error::NotFound));
        };
        let mut expiry = txn.open_table(EXPIRY)?;
        if record.is_expired(now) {
            notes.remove(key)?;
            expiry.remove((record.expires_at, key))?;
            return Ok(Decision::Commit(Err(Error::NotFound)));
        }
        let opened = match open(&record) {
            Ok(opened) => Ok(opened),
            Err(Some(err)) => Err(err),
            Err(None) => return Ok(Decision::Abort(Error::NotFound)),
        };
        match opened {
            Ok(message) => {
                notes.remove(key)?;
                expiry.remove((record.expires_at, key))?;
                Ok(Decision::Commit(Ok(message)))
            }
            Err(NoteOpenError::WrongPassphrase) => {
                let failed_attempts = record.failed_attempts.saturating_add(1);
                if failed_attempts >= MAX_PASSPHRASE_ATTEMPTS {
                    notes.remove(key)?;
                    expiry.remove((record.expires_at, key))?;
                } else {
                    let updated = NoteRecord {
                        failed_attempts,
                        ..record
                    };
                    notes.insert(key, updated.to_bytes().as_slice())?;
                }
                Ok(Decision::Commit(Err(Error::WrongPassphrase {
                    attempts_left: MAX_PASSPHRASE_ATTEMPTS.saturating_sub(failed_attempts),
                })))
            }
            Err(NoteOpenError::PassphraseRequired) => {
                Ok(Decision::Abort(Error::PassphraseRequired))
            }
            Err(NoteOpenError::Corrupt) => Ok(Decision::Abort(Error::Internal(
                "stored note does not open",
            ))),
            // Wrong link keys, and anything a newer shield may add: change nothing.
            Err(_) => Ok(Decision::Abort(Error::WrongKeys)),
        }
    }

    /// Deletes every note that has expired at `now`; returns how many.
    pub(crate) fn sweep(&self, now: u64) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let txn = self.db.begin_write()?;
            let removed = {
                let mut expiry = txn.open_table(EXPIRY)?;
                let mut notes = txn.open_table(NOTES)?;
                let due: Vec<(u64, u128)> = expiry
                    .range((0, 0)..=(now, u128::MAX))?
                    .take(SWEEP_BATCH)
                    .map(|entry| entry.map(|(key, _)| key.value()))
                    .collect::<Result<_, _>>()?;
                for (expires_at, id) in &due {
                    expiry.remove((*expires_at, *id))?;
                    notes.remove(*id)?;
                }
                due.len()
            };
            txn.commit()?;
            total = total.saturating_add(u64::try_from(removed).unwrap_or(u64::MAX));
            if removed < SWEEP_BATCH {
                return Ok(total);
            }
        }
    }

    /// How many notes are stored, expired or not.
    pub(crate) fn len(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(NOTES)?.len()?)
    }

    /// Deletes the note if it is still there and expired.
    fn delete_if_expired(&self, id: Uuid, now: u64) -> Result<()> {
        let key = id.as_u128();
        let txn = self.db.begin_write()?;
        {
            let mut notes = txn.open_table(NOTES)?;
            let expires_at = match notes.get(key)? {
                Some(value) => NoteRecord::from_bytes(value.value())?.expires_at,
                None => u64::MAX,
            };
            if now >= expires_at {
                notes.remove(key)?;
                txn.open_table(EXPIRY)?.remove((expires_at, key))?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qsmm_shield::note::seal_note;

    fn record(expires_at: u64) -> NoteRecord {
        let (note, _keys) = seal_note(b"hello").unwrap();
        NoteRecord {
            expires_at,
            failed_attempts: 3,
            note,
            claim: None,
        }
    }

    #[test]
    fn record_round_trip() {
        let r = record(1234);
        let decoded = NoteRecord::from_bytes(&r.to_bytes()).unwrap();
        assert_eq!(decoded.expires_at, 1234);
        assert_eq!(decoded.failed_attempts, 3);
        assert_eq!(decoded.note.to_bytes(), r.note.to_bytes());
    }

    #[test]
    fn truncated_or_unknown_records_are_errors() {
        let bytes = record(1).to_bytes();
        for len in 0..RECORD_HEADER_LEN + 1 {
            assert!(NoteRecord::from_bytes(&bytes[..len]).is_err(), "len {len}");
        }
        let mut other_version = bytes;
        other_version[0] = 2;
        assert!(NoteRecord::from_bytes(&other_version).is_err());
    }

    #[test]
    fn layout_is_pinned() {
        let r = record(0x0102_0304_0506_0708);
        let bytes = r.to_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..9], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(bytes[9], 3);
        assert_eq!(&bytes[10..], r.note.to_bytes().as_slice());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(0u8..=255, 0..3000)) {
            let _ignored = NoteRecord::from_bytes(&bytes);
        }

        #[test]
        fn a_changed_header_or_note_is_an_error_or_a_different_record(
            index in 0usize..2600,
            flip in 1u8..=255,
        ) {
            let original = record(42).to_bytes();
            let mut bytes = original.clone();
            let index = index % bytes.len();
            bytes[index] ^= flip;
            if let Ok(decoded) = NoteRecord::from_bytes(&bytes) {
                // Only the expiry, the counter or the note's own bytes can absorb a change, and
                // then the decoded record differs from the original.
                proptest::prop_assert_ne!(decoded.to_bytes(), original);
            }
        }
    }

    #[test]
    fn sweep_removes_only_expired_notes_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        let count = SWEEP_BATCH + 10;
        for i in 0..count {
            let expires_at = if i % 2 == 0 { 100 } else { 200 };
            store.insert(Uuid::new_v4(), &record(expires_at)).unwrap();
        }
        assert_eq!(store.len().unwrap(), count as u64);
        assert_eq!(store.sweep(99).unwrap(), 0);
        assert_eq!(store.sweep(100).unwrap(), count.div_ceil(2) as u64);
        assert_eq!(store.len().unwrap(), (count / 2) as u64);
        assert_eq!(store.sweep(1000).unwrap(), (count / 2) as u64);
        assert_eq!(store.len().unwrap(), 0);
    }
}
