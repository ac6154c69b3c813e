//! The redb record format: the tables, the clear record header, and the reads and writes of
//! one record inside a writer batch.
//!
//! # Tables
//!
//! | table | key | value |
//! |---|---|---|
//! | `notes_v1` | note id (`u128`, the UUID's big-endian value) | a note record (below) |
//! | `expiry_v1` | `(expires_at, note id)` | `()` — an index the sweeper walks in time order |
//!
//! # Record layout (`notes_v1` values), version 2
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 1 | record version, `2` |
//! | 1 | 8 | `expires_at`, Unix seconds, little-endian `u64` |
//! | 9 | 1 | passphrase attempts used so far (reserved before each passphrase check) |
//! | 10 | 1 | flags: bit 0 = the note needs a passphrase |
//! | 11 | 8 | key slot index, little-endian `u64` |
//! | 19 | rest | sealed body (the shared envelope, table tag `notes`, key id = the slot index): nonce ‖ AES-256-GCM of the note's plaintext (`store::record`) |
//!
//! The clear header holds only what peeks, the sweeper and the attempt counter need. Version 1
//! records (the same header without flags and slot, and the note in the clear) are converted to
//! version 2 when the database is opened.
//!
//! An end-to-end note (sealed in the browser) is a version 3 record: the same header with version
//! byte `3`, and a sealed plaintext that starts with its claim hashes (`store::record`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use qsmm_shield::note::StoredNote;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::group_commit::Batch;
use super::key_slots::{self, SlotIndex};
use crate::store::envelope::{self, Binding, RecordKey, SEAL_OVERHEAD};
use crate::store::policy::Outcome;
use crate::store::policy::{Effect, NoteState};
use crate::store::record::{ClaimHashes, decode_plaintext};
use crate::{Error, Result};

/// Sealed notes by id.
pub(super) const NOTES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("notes_v1");

/// `(expires_at, id)` for every note, so expired notes are found without a full scan.
pub(super) const EXPIRY: TableDefinition<'_, (u64, u128), ()> = TableDefinition::new("expiry_v1");

/// The table tag bound into the sealed bodies of `notes_v1`.
pub(super) const NOTES_TAG: &[u8] = b"notes";

/// Version byte of the record layout written by this code.
pub(super) const RECORD_VERSION: u8 = 2;

/// Version byte of an end-to-end record: the version 2 layout, with the claim hashes at the
/// start of the sealed plaintext.
pub(super) const RECORD_VERSION_E2E: u8 = 3;

/// Version byte of the older layout, converted at open.
pub(super) const LEGACY_VERSION: u8 = 1;

/// Length of the clear record header before the sealed body.
pub(super) const RECORD_HEADER_LEN: usize = 19;

/// Flag bit: the note needs a passphrase.
pub(super) const FLAG_PASSPHRASE: u8 = 1;

/// The clear header of a stored record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RecordHeader {
    /// Unix seconds at which the note stops existing.
    pub(crate) expires_at: u64,
    /// Passphrase attempts used so far.
    pub(crate) attempts: u8,
    /// Whether opening needs a passphrase.
    pub(crate) passphrase_required: bool,
    /// Whether the note was sealed in the browser (a version 3 record, claimed, not revealed).
    pub(crate) end_to_end: bool,
    /// Where the record's key is.
    pub(super) slot: SlotIndex,
}

impl RecordHeader {
    /// What the shared decisions read of the header.
    pub(super) const fn state(&self) -> NoteState {
        NoteState {
            expires_at: self.expires_at,
            attempts: self.attempts,
            end_to_end: self.end_to_end,
        }
    }

    /// The binding of the record's sealed body (table tag, note id, slot).
    pub(super) const fn binding(&self, key: u128) -> Binding<'static> {
        Binding::new(NOTES_TAG, key, self.slot.0)
    }

    /// Decodes the header of a stored record and returns it with the sealed body.
    pub(super) fn split(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let corrupt = || Error::CorruptRecord;
        let (&version, rest) = bytes.split_first().ok_or_else(corrupt)?;
        let end_to_end = match version {
            RECORD_VERSION => false,
            RECORD_VERSION_E2E => true,
            _ => return Err(corrupt()),
        };
        let (expires_at, rest) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let (&attempts, rest) = rest.split_first().ok_or_else(corrupt)?;
        let (&flags, rest) = rest.split_first().ok_or_else(corrupt)?;
        let (slot, body) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
        if flags & !FLAG_PASSPHRASE != 0 || body.len() < SEAL_OVERHEAD {
            return Err(corrupt());
        }
        Ok((
            Self {
                expires_at: u64::from_le_bytes(*expires_at),
                attempts,
                passphrase_required: flags & FLAG_PASSPHRASE != 0,
                end_to_end,
                slot: SlotIndex(u64::from_le_bytes(*slot)),
            },
            body,
        ))
    }

    /// Encodes the header followed by `body`.
    pub(super) fn join(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + body.len());
        out.push(if self.end_to_end {
            RECORD_VERSION_E2E
        } else {
            RECORD_VERSION
        });
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.push(self.attempts);
        out.push(if self.passphrase_required {
            FLAG_PASSPHRASE
        } else {
            0
        });
        out.extend_from_slice(&self.slot.0.to_le_bytes());
        out.extend_from_slice(body);
        out
    }
}

/// The path of the key file that goes with the database at `db`: `<db>.keys`.
#[must_use]
pub(crate) fn key_file_path(db: &Path) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(".keys");
    PathBuf::from(path)
}

/// Reads the header of note `key` inside the batch, with its sealed body.
pub(super) fn load_header(batch: &Batch<'_>, key: u128) -> Result<Option<(RecordHeader, Vec<u8>)>> {
    let notes = batch.txn().open_table(NOTES)?;
    let Some(value) = notes.get(key)? else {
        return Ok(None);
    };
    let (header, body) = RecordHeader::split(value.value())?;
    Ok(Some((header, body.to_vec())))
}

/// A decrypted record: its header, the note and, for an end-to-end note, its claim hashes.
pub(super) type Loaded = (RecordHeader, StoredNote, Option<ClaimHashes>);

/// Reads and decrypts note `key` inside the batch.
pub(super) fn load(batch: &mut Batch<'_>, key: u128) -> Result<Option<Loaded>> {
    let Some((header, body)) = load_header(batch, key)? else {
        return Ok(None);
    };
    let record_key = batch.key(header.slot)?;
    let plaintext = envelope::open(&record_key, &header.binding(key), &body)?;
    let (note, claim) = decode_plaintext(header.end_to_end, &plaintext)?;
    Ok(Some((header, note, claim)))
}

/// Deletes note `key` and its index entry, shreds its key once the batch commits, and settles
/// its receipt (if any) as deleted for `outcome` at `now`, in the same batch.
pub(super) fn delete(
    batch: &mut Batch<'_>,
    key: u128,
    header: &RecordHeader,
    outcome: Outcome,
    now: u64,
) -> Result<()> {
    super::receipts::settle(batch, key, outcome, now)?;
    batch.txn().open_table(NOTES)?.remove(key)?;
    batch
        .txn()
        .open_table(EXPIRY)?
        .remove((header.expires_at, key))?;
    batch.shred(header.slot);
    Ok(())
}

/// Applies a decision's effect to note `key` inside the batch, at `now`.
pub(super) fn apply(
    batch: &mut Batch<'_>,
    key: u128,
    header: &RecordHeader,
    effect: Effect,
    now: u64,
) -> Result<()> {
    match (effect, effect.outcome()) {
        (Effect::SetAttempts(attempts), _) => set_attempts(batch, key, attempts),
        (_, Some(outcome)) => delete(batch, key, header, outcome, now),
        (_, None) => Ok(()),
    }
}

/// Rewrites the attempt counter of note `key` (only the clear header changes).
fn set_attempts(batch: &Batch<'_>, key: u128, attempts: u8) -> Result<()> {
    let mut notes = batch.txn().open_table(NOTES)?;
    let Some(mut bytes) = notes.get(key)?.map(|value| value.value().to_vec()) else {
        return Err(Error::Internal("note vanished in its own transaction"));
    };
    let counter = bytes.get_mut(9).ok_or(Error::CorruptRecord)?;
    *counter = attempts;
    notes.insert(key, bytes.as_slice())?;
    Ok(())
}

/// The key slots that records name (corrupt records are skipped: they cannot be opened anyway).
pub(super) fn slots_in_use(db: &Database) -> Result<HashSet<u64>> {
    let txn = db.begin_read()?;
    let notes = txn.open_table(NOTES)?;
    let mut in_use = HashSet::new();
    for entry in notes.iter()? {
        let (_, value) = entry?;
        if let Ok((header, _)) = RecordHeader::split(value.value()) {
            in_use.insert(header.slot.0);
        }
    }
    Ok(in_use)
}

/// Converts version 1 records (note in the clear) to version 2 (sealed with a slot key).
///
/// The version 1 bytes stay in freed pages of the file until reused: a database written by an
/// older version keeps that exposure for the notes it held.
pub(super) fn upgrade_legacy_records(db: &Database, slots: &mut key_slots::KeySlots) -> Result<()> {
    let legacy: Vec<(u128, Vec<u8>)> = {
        let txn = db.begin_read()?;
        let notes = txn.open_table(NOTES)?;
        let mut legacy = Vec::new();
        for entry in notes.iter()? {
            let (key, value) = entry?;
            if value.value().first() == Some(&LEGACY_VERSION) {
                legacy.push((key.value(), value.value().to_vec()));
            }
        }
        legacy
    };
    if legacy.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write()?;
    let mut new_keys = Vec::new();
    {
        let mut notes = txn.open_table(NOTES)?;
        for (key, bytes) in &legacy {
            let corrupt = || Error::CorruptRecord;
            let (expires_at, rest) = bytes
                .get(1..)
                .and_then(<[u8]>::split_first_chunk::<8>)
                .ok_or_else(corrupt)?;
            let (&attempts, note) = rest.split_first().ok_or_else(corrupt)?;
            let passphrase_required = StoredNote::from_bytes(note)
                .map_err(|_| corrupt())?
                .needs_passphrase();
            let slot = slots.allocate();
            let record_key = RecordKey::random()?;
            let body = envelope::seal(&record_key, &Binding::new(NOTES_TAG, *key, slot.0), note)?;
            let header = RecordHeader {
                expires_at: u64::from_le_bytes(*expires_at),
                attempts,
                passphrase_required,
                end_to_end: false,
                slot,
            };
            notes.insert(*key, header.join(&body).as_slice())?;
            new_keys.push((slot, record_key));
        }
    }
    slots.write(&new_keys).map_err(Error::KeyFile)?;
    txn.commit()?;
    tracing::info!(records = legacy.len(), "converted version 1 records");
    Ok(())
}
