//! The redb database of sealed notes: tables, the versioned record encoding, and the
//! transactions that create, peek, reveal and sweep notes.
//!
//! Every function here blocks on disk I/O; the async handlers call them through
//! `tokio::task::spawn_blocking`. Every write (create, reveal, lazy deletion, sweep) is queued to
//! one writer thread that commits whatever is queued as one transaction (group commit, see
//! [`group_commit`]); peeks read in their own read transactions. The writer reads the clock
//! itself, so expiry is decided at the moment a job runs, not when it was queued.
//!
//! Every record is encrypted with its own key kept in a side file of fixed slots that is
//! overwritten on deletion (crypto-shredding, see [`key_slots`]): once a note is revealed,
//! destroyed or expired, no copy of the database file opens it.
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
//! | 19 | rest | sealed body ([`key_slots`] envelope, table tag `notes`): nonce ‖ AES-256-GCM of `qsmm_shield::note::StoredNote::to_bytes()` |
//!
//! The clear header holds only what peeks, the sweeper and the attempt counter need. Version 1
//! records (the same header without flags and slot, and the note in the clear) are converted to
//! version 2 when the database is opened.
//!
//! An end-to-end note (sealed in the browser, see `routes::e2e`) is a version 3 record: the same
//! header with version byte `3`, and a sealed body whose plaintext starts with the hashes that
//! let its reader claim it, so they are shredded with the note:
//!
//! | offset (in the plaintext) | length | field |
//! |---|---|---|
//! | 0 | 32 | SHA-256 of the claim token |
//! | 32 | 1 | `1` if a passphrase token hash follows, else `0` |
//! | 33 | 0 or 32 | SHA-256 of the passphrase token |
//! | … | rest | `StoredNote::to_bytes()`, exactly as the browser sealed it |
//!
//! Nothing else is stored: no decapsulation key, seed, classical secret, passphrase, claim token
//! or message.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qsmm_shield::note::{
    NoteOpenError, PassphraseParams, RecipientKeys, StoredNote, check_link_keys, open_note,
};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::{Error, Result};

mod group_commit;
mod key_slots;
mod postgres;

pub(crate) use group_commit::Batch;
use group_commit::GroupCommit;
use key_slots::SlotIndex;
pub(crate) use postgres::PgStore;

/// Passphrase attempts allowed per note; a wrong passphrase at the last one destroys the note.
pub const MAX_PASSPHRASE_ATTEMPTS: u8 = 5;

/// Sealed notes by id.
const NOTES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("notes_v1");

/// `(expires_at, id)` for every note, so expired notes are found without a full scan.
const EXPIRY: TableDefinition<'_, (u64, u128), ()> = TableDefinition::new("expiry_v1");

/// The table tag bound into the sealed bodies of `notes_v1`.
const NOTES_TAG: &[u8] = b"notes";

/// Version byte of the record layout written by this code.
const RECORD_VERSION: u8 = 2;

/// Version byte of an end-to-end record: the version 2 layout, with the claim hashes at the
/// start of the sealed plaintext.
const RECORD_VERSION_E2E: u8 = 3;

/// Length of a claim or passphrase token, and of their SHA-256 hashes.
pub(crate) const TOKEN_HASH_LEN: usize = 32;

/// Version byte of the older layout, converted at open.
const LEGACY_VERSION: u8 = 1;

/// Length of the clear record header before the sealed body.
const RECORD_HEADER_LEN: usize = 19;

/// Flag bit: the note needs a passphrase.
const FLAG_PASSPHRASE: u8 = 1;

/// Most expired notes deleted in one sweeper job, so a backlog does not hold the writer long.
const SWEEP_BATCH: usize = 1024;

/// The clear header of a stored record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    /// Unix seconds at which the note stops existing.
    pub(crate) expires_at: u64,
    /// Passphrase attempts used so far.
    pub(crate) attempts: u8,
    /// Whether opening needs a passphrase.
    pub(crate) passphrase_required: bool,
    /// Whether the note was sealed in the browser (a version 3 record, claimed, not revealed).
    pub(crate) end_to_end: bool,
    /// Where the record's key is.
    slot: SlotIndex,
}

impl RecordHeader {
    /// Whether the note has expired at `now`.
    const fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// Decodes the header of a stored record and returns it with the sealed body.
    fn split(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let corrupt = || Error::Internal("corrupt note record");
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
        if flags & !FLAG_PASSPHRASE != 0 || body.len() < key_slots::SEAL_OVERHEAD {
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
    fn join(&self, body: &[u8]) -> Vec<u8> {
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

/// What an end-to-end note keeps to recognise its reader: SHA-256 of the claim token, and for a
/// passphrase note SHA-256 of the passphrase token. Neither opens the note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaimHashes {
    /// SHA-256 of the claim token (derived from the link keys).
    pub(crate) claim: [u8; TOKEN_HASH_LEN],
    /// SHA-256 of the passphrase token (derived from the link keys and Argon2id output).
    pub(crate) passphrase: Option<[u8; TOKEN_HASH_LEN]>,
}

impl ClaimHashes {
    /// The plaintext of an end-to-end record, in both stores: these hashes, then `note`.
    fn with_note(&self, note: &StoredNote) -> Zeroizing<Vec<u8>> {
        let mut plaintext = Zeroizing::new(Vec::new());
        self.encode_into(&mut plaintext);
        plaintext.extend_from_slice(&note.to_bytes());
        plaintext
    }

    /// Appends the encoding (layout in the module docs) to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.claim);
        match &self.passphrase {
            Some(hash) => {
                out.push(1);
                out.extend_from_slice(hash);
            }
            None => out.push(0),
        }
    }

    /// Decodes the hashes at the start of `bytes`; returns them with the rest.
    fn decode(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let corrupt = || Error::Internal("corrupt note record");
        let (claim, rest) = bytes
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
        Ok((
            Self {
                claim: *claim,
                passphrase,
            },
            rest,
        ))
    }
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
    fn check(&self, hashes: &ClaimHashes) -> Result<(), NoteOpenError> {
        if !bool::from(
            Sha256::digest(self.claim)
                .as_slice()
                .ct_eq(hashes.claim.as_slice()),
        ) {
            return Err(NoteOpenError::WrongKeys);
        }
        let Some(expected) = &hashes.passphrase else {
            return Ok(());
        };
        let Some(token) = &self.passphrase else {
            return Err(NoteOpenError::PassphraseRequired);
        };
        if bool::from(Sha256::digest(token).as_slice().ct_eq(expected.as_slice())) {
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

/// What an end-to-end peek reports about a live end-to-end note.
#[derive(Clone, Debug)]
pub(crate) struct EndToEndSummary {
    /// Unix seconds at which the note expires.
    pub(crate) expires_at: u64,
    /// The Argon2id parameters of a passphrase note (public; the reader needs the salt and
    /// costs before it can derive its passphrase token).
    pub(crate) passphrase: Option<PassphraseParams>,
}

/// What the first step of a reveal did.
#[derive(Debug)]
pub(crate) enum RevealStep {
    /// The note needed no passphrase: it was opened and deleted (committed, key erased).
    Opened(Zeroizing<Vec<u8>>),
    /// The link keys are right and the note needs its passphrase: attempt number `attempt`
    /// (1-based) has been reserved and committed. Check the passphrase against `note` outside
    /// the writer, then call [`Store::finish_reveal`].
    Reserved {
        /// The sealed note, to open with the passphrase.
        note: StoredNote,
        /// The attempt reserved, 1 to [`MAX_PASSPHRASE_ATTEMPTS`].
        attempt: u8,
    },
}

/// What a peek reports about a live note.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NoteSummary {
    /// Unix seconds at which the note expires.
    pub(crate) expires_at: u64,
    /// Whether revealing needs a passphrase.
    pub(crate) passphrase_required: bool,
    /// Whether the note was sealed in the browser (end to end) and is claimed, not revealed.
    pub(crate) end_to_end: bool,
}

/// The note database.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    db: Arc<Database>,
    /// Every write goes through the group-committing writer thread.
    writer: Arc<GroupCommit>,
    /// The key file, read-only, for peeks (which never use the writer).
    slot_reader: Arc<key_slots::SlotReader>,
    /// Most notes stored at once (0: no limit).
    max_notes: u64,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Store {
    /// Opens the database at `path` and its key file `<path>.keys`, creating them and the tables
    /// if missing. Version 1 records are converted, and every key slot no record names is
    /// erased, before this returns.
    pub(crate) fn open(path: &Path, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Result<Self> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(NOTES)?;
            txn.open_table(EXPIRY)?;
        }
        txn.commit()?;
        let in_use = slots_in_use(&db)?;
        let mut slots = key_slots::KeySlots::open(&key_file_path(path), &in_use)?;
        upgrade_legacy_records(&db, &mut slots)?;
        let slot_reader = Arc::new(key_slots::SlotReader::open(&key_file_path(path))?);
        let db = Arc::new(db);
        let writer = Arc::new(GroupCommit::start(db.clone(), slots, metrics.clone())?);
        Ok(Self {
            db,
            writer,
            slot_reader,
            max_notes: 0,
            clock,
            metrics,
        })
    }

    /// Refuses creates ([`Error::StoreFull`]) while `max_notes` notes are stored (0: no limit).
    #[must_use]
    pub(crate) fn with_max_notes(mut self, max_notes: u64) -> Self {
        self.max_notes = max_notes;
        self
    }

    /// Stores a new note that lives `ttl_secs` from the moment the writer stores it; returns its
    /// `expires_at`. Durable once this returns `Ok`.
    pub(crate) fn insert(&self, id: Uuid, ttl_secs: u64, note: &StoredNote) -> Result<u64> {
        let plaintext = Zeroizing::new(note.to_bytes());
        self.insert_sealed(id, ttl_secs, plaintext, note.needs_passphrase(), false)
    }

    /// Stores a note sealed in the browser with the hashes of its claim tokens (a version 3
    /// record, the hashes sealed with the note); returns its `expires_at`. Durable once this
    /// returns `Ok`.
    pub(crate) fn insert_end_to_end(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: &StoredNote,
        hashes: &ClaimHashes,
    ) -> Result<u64> {
        let plaintext = hashes.with_note(note);
        self.insert_sealed(id, ttl_secs, plaintext, note.needs_passphrase(), true)
    }

    /// Stores `plaintext` sealed under a new record key (see [`Store::insert`]).
    fn insert_sealed(
        &self,
        id: Uuid,
        ttl_secs: u64,
        plaintext: Zeroizing<Vec<u8>>,
        passphrase_required: bool,
        end_to_end: bool,
    ) -> Result<u64> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let max_notes = self.max_notes;
        self.writer.run(move |batch| {
            let expires_at = clock.now_unix().saturating_add(ttl_secs);
            if max_notes > 0 && batch.txn().open_table(NOTES)?.len()? >= max_notes {
                // Nothing written: the rest of the batch commits without this job.
                return Ok(Err(Error::StoreFull));
            }
            if batch.txn().open_table(NOTES)?.get(key)?.is_some() {
                // Nothing written: the rest of the batch commits without this job.
                return Ok(Err(Error::Internal("note id collision")));
            }
            let (slot, record_key) = batch.new_key()?;
            let body = key_slots::seal(&record_key, NOTES_TAG, key, slot, &plaintext)?;
            let header = RecordHeader {
                expires_at,
                attempts: 0,
                passphrase_required,
                end_to_end,
                slot,
            };
            batch
                .txn()
                .open_table(NOTES)?
                .insert(key, header.join(&body).as_slice())?;
            batch
                .txn()
                .open_table(EXPIRY)?
                .insert((expires_at, key), ())?;
            Ok(Ok(expires_at))
        })?
    }

    /// Looks a note up without consuming it. An expired note is deleted and reported as absent.
    pub(crate) fn peek(&self, id: Uuid) -> Result<Option<NoteSummary>> {
        let key = id.as_u128();
        let header = {
            let txn = self.db.begin_read()?;
            let notes = txn.open_table(NOTES)?;
            let Some(value) = notes.get(key)? else {
                return Ok(None);
            };
            RecordHeader::split(value.value())?.0
        };
        if header.is_expired(self.clock.now_unix()) {
            self.delete_if_expired(id)?;
            return Ok(None);
        }
        Ok(Some(NoteSummary {
            expires_at: header.expires_at,
            passphrase_required: header.passphrase_required,
            end_to_end: header.end_to_end,
        }))
    }

    /// Looks an end-to-end note up without consuming it, with its public Argon2id parameters
    /// (inside the sealed body). A read transaction and a read of the record's key slot: the
    /// writer is not involved unless the note has expired (then it is deleted). A note sealed by
    /// the server, or one deleted while this ran, is reported as absent.
    pub(crate) fn peek_end_to_end(&self, id: Uuid) -> Result<Option<EndToEndSummary>> {
        let key = id.as_u128();
        let Some((header, body)) = self.read_record(key)? else {
            return Ok(None);
        };
        if header.is_expired(self.clock.now_unix()) {
            self.delete_if_expired(id)?;
            return Ok(None);
        }
        if !header.end_to_end {
            return Ok(None);
        }
        let Some(record_key) = self.slot_reader.read(header.slot)? else {
            // Erased after the read transaction began: the note was just deleted.
            return Ok(None);
        };
        let plaintext = match key_slots::open(&record_key, NOTES_TAG, key, header.slot, &body) {
            Ok(plaintext) => plaintext,
            // The slot was erased and reused after the read transaction began; the record it
            // names is gone unless it is still there with the same slot (then it is corrupt).
            Err(err) => {
                return match self.read_record(key)? {
                    Some((now, _)) if now.slot == header.slot => Err(err),
                    _ => Ok(None),
                };
            }
        };
        let (_, note) = ClaimHashes::decode(&plaintext)?;
        let note =
            StoredNote::from_bytes(note).map_err(|_| Error::Internal("corrupt stored note"))?;
        Ok(Some(EndToEndSummary {
            expires_at: header.expires_at,
            passphrase: note.passphrase,
        }))
    }

    /// The header and sealed body of note `key`, in a read transaction of its own.
    fn read_record(&self, key: u128) -> Result<Option<(RecordHeader, Vec<u8>)>> {
        let txn = self.db.begin_read()?;
        let notes = txn.open_table(NOTES)?;
        let Some(value) = notes.get(key)? else {
            return Ok(None);
        };
        let (header, body) = RecordHeader::split(value.value())?;
        Ok(Some((header, body.to_vec())))
    }

    /// Claims an end-to-end note exactly once, in one writer job (no Argon2id: the browser ran
    /// it). The claim token is compared first (wrong → nothing written,
    /// [`Error::WrongKeys`]), then the passphrase token (missing → nothing written,
    /// [`Error::PassphraseRequired`]; wrong → the try is counted and committed, and the last
    /// one destroys the note); with both right the note is deleted, its key shredded, and the
    /// sealed note returned after the commit. The tokens are compared as SHA-256 hashes in
    /// constant time; the server never opens the note.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (absent, expired, or not an end-to-end note), [`Error::WrongKeys`],
    /// [`Error::PassphraseRequired`], [`Error::WrongPassphrase`], or a storage error.
    pub(crate) fn claim(&self, id: Uuid, tokens: Tokens) -> Result<StoredNote> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let metrics = self.metrics.clone();
        self.writer.run(move |batch| {
            let now = clock.now_unix();
            let Some(header) = load_header(batch, key)?.map(|(header, _)| header) else {
                return Ok(Err(Error::NotFound));
            };
            if header.is_expired(now) {
                delete(batch, key, &header)?;
                metrics.note_expired(1);
                return Ok(Err(Error::NotFound));
            }
            if !header.end_to_end || header.attempts >= MAX_PASSPHRASE_ATTEMPTS {
                return Ok(Err(Error::NotFound));
            }
            let Some((header, note, Some(hashes))) = load(batch, key)? else {
                return Ok(Err(Error::NotFound));
            };
            match tokens.check(&hashes) {
                Ok(()) => {
                    delete(batch, key, &header)?;
                    Ok(Ok(note))
                }
                Err(NoteOpenError::WrongPassphrase) => {
                    metrics.wrong_passphrase();
                    let used = header.attempts.saturating_add(1);
                    if used >= MAX_PASSPHRASE_ATTEMPTS {
                        delete(batch, key, &header)?;
                    } else {
                        set_attempts(batch, key, used)?;
                    }
                    Ok(Err(Error::WrongPassphrase {
                        attempts_left: MAX_PASSPHRASE_ATTEMPTS.saturating_sub(used),
                    }))
                }
                Err(NoteOpenError::PassphraseRequired) => Ok(Err(Error::PassphraseRequired)),
                // A wrong claim token, and anything a newer shield may add: change nothing.
                Err(_) => {
                    metrics.wrong_keys();
                    Ok(Err(Error::WrongKeys))
                }
            }
        })?
    }

    /// The first step of a reveal, in one writer job: load the note, check expiry (at the time
    /// the job runs) and the link keys (`None`: keys that cannot be right), then
    ///
    /// - a note without passphrase: open it, delete it and erase its key; the message is
    ///   returned only **after** the commit and the erase, so of any number of concurrent
    ///   reveals exactly one sees the note;
    /// - a note with a passphrase, `with_passphrase` set: reserve one attempt (the counter + 1 is
    ///   committed before anything else happens), so at most [`MAX_PASSPHRASE_ATTEMPTS`]
    ///   passphrases are ever tried, however many requests race;
    /// - wrong link keys, or no passphrase for a note that needs one: write nothing.
    ///
    /// No Argon2id runs here: the writer only does the cheap ML-KEM key check.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (absent or expired; an expired note is deleted), [`Error::WrongKeys`],
    /// [`Error::PassphraseRequired`], or a storage error. A note whose every attempt is
    /// reserved by reveals still checking their passphrase is [`Error::NotFound`]: each of those
    /// ends with the note revealed or destroyed.
    pub(crate) fn begin_reveal(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> Result<RevealStep> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let metrics = self.metrics.clone();
        self.writer.run(move |batch| {
            let now = clock.now_unix();
            let Some((header, note, claim)) = load(batch, key)? else {
                return Ok(Err(Error::NotFound));
            };
            if header.is_expired(now) {
                delete(batch, key, &header)?;
                metrics.note_expired(1);
                return Ok(Err(Error::NotFound));
            }
            // A note sealed in the browser is never opened by the server: here it is absent.
            if claim.is_some() {
                return Ok(Err(Error::NotFound));
            }
            let Some(keys) = keys
                .as_deref()
                .filter(|keys| check_link_keys(&note, keys).is_ok())
            else {
                metrics.wrong_keys();
                return Ok(Err(Error::WrongKeys));
            };
            if !note.needs_passphrase() {
                let Ok(message) = open_note(&note, keys) else {
                    return Err(Error::Internal("stored note does not open"));
                };
                delete(batch, key, &header)?;
                return Ok(Ok(RevealStep::Opened(message)));
            }
            if !with_passphrase {
                return Ok(Err(Error::PassphraseRequired));
            }
            if header.attempts >= MAX_PASSPHRASE_ATTEMPTS {
                return Ok(Err(Error::NotFound));
            }
            let attempt = header.attempts.saturating_add(1);
            set_attempts(batch, key, attempt)?;
            Ok(Ok(RevealStep::Reserved { note, attempt }))
        })?
    }

    /// The last step of a passphrase reveal, after the passphrase was checked outside the
    /// writer.
    ///
    /// - `opened` (right passphrase): delete the note and erase its key, if it is still there
    ///   and not expired; `Ok` means the caller may hand out the message.
    /// - wrong passphrase: the attempt stays counted; the last attempt destroys the note.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the note is gone (revealed by a racing request, destroyed, or
    /// expired meanwhile); [`Error::WrongPassphrase`] for a wrong passphrase; a storage error.
    pub(crate) fn finish_reveal(&self, id: Uuid, attempt: u8, opened: bool) -> Result<()> {
        let key = id.as_u128();
        let attempts_left = MAX_PASSPHRASE_ATTEMPTS.saturating_sub(attempt);
        if !opened {
            self.metrics.wrong_passphrase();
            if attempts_left > 0 {
                return Err(Error::WrongPassphrase { attempts_left });
            }
        }
        let clock = self.clock.clone();
        self.writer.run(move |batch| {
            let now = clock.now_unix();
            let Some((header, _)) = load_header(batch, key)?.filter(|(h, _)| !h.end_to_end) else {
                return Ok(Err(if opened {
                    Error::NotFound
                } else {
                    Error::WrongPassphrase { attempts_left }
                }));
            };
            if opened && !header.is_expired(now) {
                delete(batch, key, &header)?;
                return Ok(Ok(()));
            }
            delete(batch, key, &header)?;
            Ok(Err(if opened {
                Error::NotFound
            } else {
                Error::WrongPassphrase { attempts_left }
            }))
        })?
    }

    /// Deletes every note that has expired (by the writer's clock); returns how many.
    pub(crate) fn sweep(&self) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let clock = self.clock.clone();
            let removed = self.writer.run(move |batch| {
                let now = clock.now_unix();
                let due: Vec<(u64, u128)> = batch
                    .txn()
                    .open_table(EXPIRY)?
                    .range((0, 0)..=(now, u128::MAX))?
                    .take(SWEEP_BATCH)
                    .map(|entry| entry.map(|(key, _)| key.value()))
                    .collect::<Result<_, _>>()?;
                for (expires_at, id) in &due {
                    match load_header(batch, *id) {
                        Ok(Some((header, _))) => delete(batch, *id, &header)?,
                        // A corrupt record: drop its index entry and the record itself.
                        Ok(None) | Err(_) => {
                            batch.txn().open_table(NOTES)?.remove(*id)?;
                            batch.txn().open_table(EXPIRY)?.remove((*expires_at, *id))?;
                        }
                    }
                }
                Ok(due.len())
            })?;
            let removed_u64 = u64::try_from(removed).unwrap_or(u64::MAX);
            self.metrics.note_expired(removed_u64);
            total = total.saturating_add(removed_u64);
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

    /// Whether the writer thread runs.
    pub(crate) fn is_healthy(&self) -> bool {
        self.writer.is_alive()
    }

    /// Completes once the writer thread has stopped.
    pub(crate) async fn writer_stopped(&self) {
        self.writer.stopped().await;
    }

    /// Test hook: the writer sleeps `delay` before each batch.
    pub(crate) fn set_writer_delay(&self, delay: Duration) {
        self.writer.set_delay(delay);
    }

    /// Test hook: stops the writer thread as a crash would.
    pub(crate) fn crash_writer(&self) {
        self.writer.crash();
    }

    /// Deletes the note if it is still there and expired.
    fn delete_if_expired(&self, id: Uuid) -> Result<()> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let metrics = self.metrics.clone();
        self.writer.run(move |batch| {
            if let Some((header, _)) = load_header(batch, key)?
                && header.is_expired(clock.now_unix())
            {
                delete(batch, key, &header)?;
                metrics.note_expired(1);
            }
            Ok(())
        })
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
fn load_header(batch: &Batch<'_>, key: u128) -> Result<Option<(RecordHeader, Vec<u8>)>> {
    let notes = batch.txn().open_table(NOTES)?;
    let Some(value) = notes.get(key)? else {
        return Ok(None);
    };
    let (header, body) = RecordHeader::split(value.value())?;
    Ok(Some((header, body.to_vec())))
}

/// A decrypted record: its header, the note and, for an end-to-end note, its claim hashes.
type Loaded = (RecordHeader, StoredNote, Option<ClaimHashes>);

/// Reads and decrypts note `key` inside the batch.
fn load(batch: &mut Batch<'_>, key: u128) -> Result<Option<Loaded>> {
    let Some((header, body)) = load_header(batch, key)? else {
        return Ok(None);
    };
    let record_key = batch.key(header.slot)?;
    let plaintext = key_slots::open(&record_key, NOTES_TAG, key, header.slot, &body)?;
    let (claim, note) = if header.end_to_end {
        let (claim, note) = ClaimHashes::decode(&plaintext)?;
        (Some(claim), note)
    } else {
        (None, plaintext.as_slice())
    };
    let note = StoredNote::from_bytes(note).map_err(|_| Error::Internal("corrupt stored note"))?;
    Ok(Some((header, note, claim)))
}

/// Deletes note `key` and its index entry, and shreds its key once the batch commits.
fn delete(batch: &mut Batch<'_>, key: u128, header: &RecordHeader) -> Result<()> {
    batch.txn().open_table(NOTES)?.remove(key)?;
    batch
        .txn()
        .open_table(EXPIRY)?
        .remove((header.expires_at, key))?;
    batch.shred(header.slot);
    Ok(())
}

/// Rewrites the attempt counter of note `key` (only the clear header changes).
fn set_attempts(batch: &Batch<'_>, key: u128, attempts: u8) -> Result<()> {
    let mut notes = batch.txn().open_table(NOTES)?;
    let Some(mut bytes) = notes.get(key)?.map(|value| value.value().to_vec()) else {
        return Err(Error::Internal("note vanished in its own transaction"));
    };
    let counter = bytes
        .get_mut(9)
        .ok_or(Error::Internal("corrupt note record"))?;
    *counter = attempts;
    notes.insert(key, bytes.as_slice())?;
    Ok(())
}

/// The key slots that records name (corrupt records are skipped: they cannot be opened anyway).
fn slots_in_use(db: &Database) -> Result<HashSet<u64>> {
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
fn upgrade_legacy_records(db: &Database, slots: &mut key_slots::KeySlots) -> Result<()> {
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
            let corrupt = || Error::Internal("corrupt version 1 record");
            let (expires_at, rest) = bytes
                .get(1..)
                .and_then(<[u8]>::split_first_chunk::<8>)
                .ok_or_else(corrupt)?;
            let (&attempts, note) = rest.split_first().ok_or_else(corrupt)?;
            let passphrase_required = StoredNote::from_bytes(note)
                .map_err(|_| corrupt())?
                .needs_passphrase();
            let slot = slots.allocate();
            let record_key = key_slots::RecordKey::random()?;
            let body = key_slots::seal(&record_key, NOTES_TAG, *key, slot, note)?;
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
    slots
        .write(&new_keys)
        .map_err(|_| Error::Internal("the key file failed"))?;
    txn.commit()?;
    tracing::info!(records = legacy.len(), "converted version 1 records");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use qsmm_shield::note::seal_note;

    fn header(expires_at: u64) -> RecordHeader {
        RecordHeader {
            expires_at,
            attempts: 3,
            passphrase_required: true,
            end_to_end: false,
            slot: SlotIndex(0x1122),
        }
    }

    fn open_store(dir: &Path, now: u64) -> (Store, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(now));
        let store = Store::open(
            &dir.join("db.redb"),
            clock.clone(),
            Arc::new(Metrics::new()),
        )
        .unwrap();
        (store, clock)
    }

    #[test]
    fn header_round_trip_and_layout() {
        let h = header(0x0102_0304_0506_0708);
        let body = [7u8; key_slots::SEAL_OVERHEAD + 1];
        let bytes = h.join(&body);
        assert_eq!(bytes[0], 2);
        assert_eq!(&bytes[1..9], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(bytes[9], 3);
        assert_eq!(bytes[10], 1);
        assert_eq!(&bytes[11..19], &[0x22, 0x11, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[19..], &body);
        let (decoded, rest) = RecordHeader::split(&bytes).unwrap();
        assert_eq!(decoded, h);
        assert_eq!(rest, &body);
    }

    #[test]
    fn truncated_or_unknown_records_are_errors() {
        let bytes = header(1).join(&[0; key_slots::SEAL_OVERHEAD]);
        for len in 0..bytes.len() {
            assert!(RecordHeader::split(&bytes[..len]).is_err(), "len {len}");
        }
        let mut other_version = bytes.clone();
        other_version[0] = 4;
        assert!(RecordHeader::split(&other_version).is_err());
        let mut unknown_flag = bytes;
        unknown_flag[10] = 2;
        assert!(RecordHeader::split(&unknown_flag).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(0u8..=255, 0..300)) {
            let _ignored = RecordHeader::split(&bytes);
        }
    }

    #[test]
    fn a_stored_note_is_sealed_and_shredded_on_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let (store, clock) = open_store(dir.path(), 1000);
        let (note, _keys) = seal_note(b"hello").unwrap();
        let id = Uuid::new_v4();
        assert_eq!(store.insert(id, 10, &note).unwrap(), 1010);
        // The note's bytes are not in the database file in the clear.
        drop(store);
        let db = std::fs::read(dir.path().join("db.redb")).unwrap();
        let ct = &note.ciphertext;
        assert!(!db.windows(ct.len()).any(|window| window == ct.as_slice()));
        let keys = std::fs::read(dir.path().join("db.redb.keys")).unwrap();
        assert_eq!(keys.len(), key_slots::SLOT_LEN);
        assert!(keys.iter().any(|&byte| byte != 0));
        drop(clock);
        let (store, _) = open_store(dir.path(), 1000);
        assert_eq!(store.sweep().unwrap(), 0);
        let summary = store.peek(id).unwrap().unwrap();
        assert_eq!(summary.expires_at, 1010);
        drop(store);
        let (store, _) = open_store(dir.path(), 1010);
        assert_eq!(store.sweep().unwrap(), 1);
        assert_eq!(store.len().unwrap(), 0);
        let keys = std::fs::read(dir.path().join("db.redb.keys")).unwrap();
        assert!(keys.iter().all(|&byte| byte == 0));
    }

    /// An end-to-end peek reads without the writer: it answers (with the public Argon2id
    /// parameters) while a writer job is stuck, and after the note is claimed it reports absent.
    #[test]
    fn an_end_to_end_peek_does_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _clock) = open_store(dir.path(), 1000);
        let params = PassphraseParams::with_costs(128, 1, 1).unwrap();
        let (note, _keys) =
            qsmm_shield::note::seal_note_with_passphrase_params(b"x", b"pw", params).unwrap();
        let hashes = ClaimHashes {
            claim: Sha256::digest([1u8; TOKEN_HASH_LEN]).into(),
            passphrase: Some(Sha256::digest([2u8; TOKEN_HASH_LEN]).into()),
        };
        let id = Uuid::new_v4();
        store.insert_end_to_end(id, 10, &note, &hashes).unwrap();

        // Hold the writer inside a job until the peek has answered.
        let (entered, writer_busy) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let writer = store.clone();
        let blocker = std::thread::spawn(move || {
            writer.writer.run(move |_batch| {
                entered.send(()).unwrap();
                released.recv().unwrap();
                Ok(())
            })
        });
        writer_busy.recv().unwrap();
        let (answer, answered) = std::sync::mpsc::channel();
        let peeker = store.clone();
        std::thread::spawn(move || answer.send(peeker.peek_end_to_end(id)).unwrap());
        let peeked = answered.recv_timeout(Duration::from_secs(60));
        release.send(()).unwrap();
        blocker.join().unwrap().unwrap();
        let summary = peeked
            .expect("the peek waited for the writer")
            .unwrap()
            .unwrap();
        assert_eq!(summary.expires_at, 1010);
        assert_eq!(summary.passphrase, note.passphrase);

        store
            .claim(
                id,
                Tokens {
                    claim: [1; TOKEN_HASH_LEN],
                    passphrase: Some([2; TOKEN_HASH_LEN]),
                },
            )
            .unwrap();
        assert!(store.peek_end_to_end(id).unwrap().is_none());
    }

    #[test]
    fn a_claim_checks_tokens_counts_tries_and_shreds() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _clock) = open_store(dir.path(), 1000);
        let keys_file = || std::fs::read(dir.path().join("db.redb.keys")).unwrap();
        let (note, _keys) = seal_note(b"hello").unwrap();
        let tokens = |claim: u8, passphrase: Option<u8>| Tokens {
            claim: [claim; TOKEN_HASH_LEN],
            passphrase: passphrase.map(|byte| [byte; TOKEN_HASH_LEN]),
        };
        let hashes = ClaimHashes {
            claim: Sha256::digest([1u8; TOKEN_HASH_LEN]).into(),
            passphrase: Some(Sha256::digest([2u8; TOKEN_HASH_LEN]).into()),
        };
        let id = Uuid::new_v4();
        store.insert_end_to_end(id, 10, &note, &hashes).unwrap();
        // The published API does not see it.
        assert!(matches!(
            store.begin_reveal(id, None, false),
            Err(Error::NotFound)
        ));
        assert!(store.peek_end_to_end(id).unwrap().is_some());
        assert!(matches!(
            store.claim(id, tokens(9, Some(2))),
            Err(Error::WrongKeys)
        ));
        assert!(matches!(
            store.claim(id, tokens(1, None)),
            Err(Error::PassphraseRequired)
        ));
        for left in (0..MAX_PASSPHRASE_ATTEMPTS).rev() {
            assert!(matches!(
                store.claim(id, tokens(1, Some(3))),
                Err(Error::WrongPassphrase { attempts_left }) if attempts_left == left
            ));
        }
        assert!(matches!(
            store.claim(id, tokens(1, Some(2))),
            Err(Error::NotFound)
        ));
        assert!(keys_file().iter().all(|&byte| byte == 0));

        let id = Uuid::new_v4();
        store.insert_end_to_end(id, 10, &note, &hashes).unwrap();
        assert!(store.peek(id).unwrap().unwrap().end_to_end);
        assert_eq!(store.claim(id, tokens(1, Some(2))).unwrap(), note);
        assert!(keys_file().iter().all(|&byte| byte == 0));
        assert_eq!(store.len().unwrap(), 0);
    }

    #[test]
    fn sweep_removes_only_expired_notes_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let (store, clock) = open_store(dir.path(), 0);
        let count = SWEEP_BATCH + 10;
        let (note, _keys) = seal_note(b"hello").unwrap();
        for i in 0..count {
            let ttl = if i % 2 == 0 { 100 } else { 200 };
            store.insert(Uuid::new_v4(), ttl, &note).unwrap();
        }
        assert_eq!(store.len().unwrap(), count as u64);
        clock.set(99);
        assert_eq!(store.sweep().unwrap(), 0);
        clock.set(100);
        assert_eq!(store.sweep().unwrap(), count.div_ceil(2) as u64);
        assert_eq!(store.len().unwrap(), (count / 2) as u64);
        clock.set(1000);
        assert_eq!(store.sweep().unwrap(), (count / 2) as u64);
        assert_eq!(store.len().unwrap(), 0);
    }
}
