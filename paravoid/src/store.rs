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
//! Nothing else is stored: no decapsulation key, seed, classical secret, passphrase or message.

use std::path::Path;
use std::sync::Arc;

use qsmm_shield::note::{NoteOpenError, StoredNote};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Error, Result};

mod group_commit;
mod postgres;

use group_commit::GroupCommit;
pub(crate) use postgres::PgStore;

/// Wrong passphrases allowed per note; the attempt that reaches this number destroys the note.
pub const MAX_PASSPHRASE_ATTEMPTS: u8 = 5;

/// Sealed notes by id.
const NOTES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("notes_v1");

/// `(expires_at, id)` for every note, so expired notes are found without a full scan.
const EXPIRY: TableDefinition<'_, (u64, u128), ()> = TableDefinition::new("expiry_v1");

/// Version byte of the record layout written by this code.
const RECORD_VERSION: u8 = 1;

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
}

impl NoteRecord {
    /// Encodes the record (layout in the module docs).
    fn to_bytes(&self) -> Vec<u8> {
        let note = self.note.to_bytes();
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + note.len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.push(self.failed_attempts);
        out.extend_from_slice(&note);
        out
    }

    /// Decodes a record; never panics.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = || Error::Internal("corrupt note record");
        let (&version, rest) = bytes.split_first().ok_or_else(corrupt)?;
        if version != RECORD_VERSION {
            return Err(corrupt());
        }
        let (expires_at, rest) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let (&failed_attempts, note) = rest.split_first().ok_or_else(corrupt)?;
        let note = StoredNote::from_bytes(note).map_err(|_| corrupt())?;
        Ok(Self {
            expires_at: u64::from_le_bytes(*expires_at),
            failed_attempts,
            note,
        })
    }

    /// Whether the note has expired at `now`.
    const fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// What a reveal did inside the transaction, and what the request is answered.
enum Decision {
    /// Changes were written (or none were needed); answer with this once they are committed.
    Commit(Result<Zeroizing<Vec<u8>>>),
    /// Nothing was written; answer with this error.
    Abort(Error),
}

/// What a peek reports about a live note.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NoteSummary {
    /// Unix seconds at which the note expires.
    pub(crate) expires_at: u64,
    /// Whether revealing needs a passphrase.
    pub(crate) passphrase_required: bool,
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
            Ok(match Self::decide_reveal(txn, id.as_u128(), now, open)? {
                Decision::Commit(outcome) => outcome,
                // Nothing was written: leaving the transaction untouched is the abort.
                Decision::Abort(err) => Err(err),
            })
        })?
    }

    /// The body of [`Store::reveal`]: reads and changes the tables inside `txn` and says whether
    /// to commit.
    fn decide_reveal<F>(txn: &WriteTransaction, key: u128, now: u64, open: F) -> Result<Decision>
    where
        F: FnOnce(&StoredNote) -> Result<Zeroizing<Vec<u8>>, NoteOpenError>,
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
        match open(&record.note) {
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
