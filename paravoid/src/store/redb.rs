//! The redb store: one embedded database file and its key file, for one process (the default).
//!
//! Every function here blocks on disk I/O; [`NoteStore`] runs them through
//! `tokio::task::spawn_blocking`. Every write (create, reveal, lazy deletion, sweep) is queued to
//! one writer thread that commits whatever is queued as one transaction (group commit, see
//! [`group_commit`]); peeks read in their own read transactions. The writer reads the clock
//! itself, so expiry is decided at the moment a job runs, not when it was queued. The decisions
//! themselves are the shared ones of `store::policy`.
//!
//! Every record is encrypted with its own key kept in a side file of fixed slots that is
//! overwritten on deletion (crypto-shredding, see [`key_slots`]): once a note is revealed,
//! destroyed or expired, no copy of the database file opens it. The tables and the record layout
//! are in [`layout`].
//!
//! Nothing else is stored: no decapsulation key, seed, classical secret, passphrase, claim token
//! or message.

use std::path::Path;
use std::sync::Arc;
#[cfg(any(test, feature = "test-hooks"))]
use std::time::Duration;

use qsmm_shield::note::{RecipientKeys, StoredNote, check_link_keys, open_note};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::NoteStore;
use super::envelope;
use super::policy::Outcome;
use super::policy::{self, Effect, Reveal};
use super::record::{
    ClaimHashes, EndToEndSummary, NoteSummary, RevealStep, Tokens, decode_plaintext,
};
use crate::blocking::blocking;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::{Error, Result};

mod files;
mod group_commit;
mod key_slots;
mod layout;
mod receipts;
mod requests;
#[cfg(test)]
mod tests;
mod webhooks;

use group_commit::GroupCommit;
pub(crate) use layout::key_file_path;
use layout::{EXPIRY, NOTES, RecordHeader, apply, delete, load, load_header};

/// redb's page cache. Its default (1 GiB) would keep every page a 100 MiB file upload writes in
/// memory; notes are read once, so a small cache costs little.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Most expired notes deleted in one sweeper job, so a backlog does not hold the writer long.
const SWEEP_BATCH: usize = 1024;

/// The redb note database.
#[derive(Clone, Debug)]
pub(crate) struct RedbStore {
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

impl RedbStore {
    /// Opens the database at `path` and its key file `<path>.keys`, creating them and the tables
    /// if missing. Version 1 records are converted, and every key slot no record names is
    /// erased, before this returns.
    pub(crate) fn open(path: &Path, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Result<Self> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(NOTES)?;
            txn.open_table(EXPIRY)?;
            requests::create_tables(&txn)?;
            receipts::create_tables(&txn)?;
            webhooks::create_tables(&txn)?;
        }
        txn.commit()?;
        Self::create_file_tables(&db)?;
        let in_use = layout::slots_in_use(&db)?;
        let mut slots = key_slots::KeySlots::open(&key_file_path(path), &in_use)?;
        layout::upgrade_legacy_records(&db, &mut slots)?;
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

    /// Stores `plaintext` sealed under a new record key; returns its `expires_at`, decided when
    /// the writer stores it. Durable once this returns `Ok`.
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
            let expires_at = policy::expires_at(clock.now_unix(), ttl_secs);
            let flags = (passphrase_required, end_to_end);
            put_record(batch, key, expires_at, max_notes, &plaintext, flags)?;
            Ok(expires_at)
        })
    }

    /// Looks a note up without consuming it. An expired note is deleted and reported as absent.
    fn peek_blocking(&self, id: Uuid) -> Result<Option<NoteSummary>> {
        let key = id.as_u128();
        let Some((header, _)) = self.read_record(key)? else {
            return Ok(None);
        };
        if policy::is_expired(self.clock.now_unix(), header.expires_at) {
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
    fn peek_end_to_end_blocking(&self, id: Uuid) -> Result<Option<EndToEndSummary>> {
        let key = id.as_u128();
        let Some((header, body)) = self.read_record(key)? else {
            return Ok(None);
        };
        if policy::is_expired(self.clock.now_unix(), header.expires_at) {
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
        let plaintext = match envelope::open(&record_key, &header.binding(key), &body) {
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
        let (note, _) = decode_plaintext(true, &plaintext)?;
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
    /// it), by `policy::claim`; with both tokens right the note is deleted, its key shredded,
    /// and the sealed note returned after the commit. The server never opens the note.
    fn claim_blocking(&self, id: Uuid, tokens: Tokens) -> Result<StoredNote> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let metrics = self.metrics.clone();
        self.writer.run(move |batch| {
            let Some((header, _)) = load_header(batch, key)? else {
                return Err(Error::NotFound);
            };
            let now = clock.now_unix();
            if let Err(refusal) = policy::admit(now, &header.state(), true) {
                apply(batch, key, &header, refusal.effect, now)?;
                refusal.observe(&metrics);
                return Err(refusal.error);
            }
            let Some((header, note, Some(hashes))) = load(batch, key)? else {
                return Err(Error::NotFound);
            };
            match policy::claim(&header.state(), &hashes, &tokens) {
                Ok(()) => {
                    apply(batch, key, &header, Effect::HandOut, now)?;
                    Ok(note)
                }
                Err(refusal) => {
                    apply(batch, key, &header, refusal.effect, now)?;
                    refusal.observe(&metrics);
                    Err(refusal.error)
                }
            }
        })
    }

    /// The first step of a reveal, in one writer job: load the note, then `policy::admit` (at
    /// the time the job runs) and `policy::reveal` with the link keys (`None`: keys that cannot
    /// be right). A note without passphrase is opened and deleted, and the message returned
    /// only **after** the commit and the erase of its key, so of any number of concurrent
    /// reveals exactly one sees it; a note with one has a try reserved and committed before any
    /// passphrase is checked, so at most `MAX_PASSPHRASE_ATTEMPTS` are ever tried. No Argon2id
    /// runs here: the writer only does the cheap ML-KEM key check.
    fn begin_reveal_blocking(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> Result<RevealStep> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let metrics = self.metrics.clone();
        self.writer.run(move |batch| {
            let Some((header, note, _)) = load(batch, key)? else {
                return Err(Error::NotFound);
            };
            let state = header.state();
            let now = clock.now_unix();
            let admitted = policy::admit(now, &state, false);
            let keys = keys
                .as_deref()
                .filter(|keys| admitted.is_ok() && check_link_keys(&note, keys).is_ok());
            let decided = admitted.and_then(|()| {
                policy::reveal(
                    &state,
                    keys.is_some(),
                    note.needs_passphrase(),
                    with_passphrase,
                )
            });
            match decided {
                Ok(Reveal::Open) => {
                    let message = keys
                        .and_then(|keys| open_note(&note, keys).ok())
                        .ok_or(Error::CorruptRecord)?;
                    apply(batch, key, &header, Effect::HandOut, now)?;
                    Ok(RevealStep::Opened(message))
                }
                Ok(Reveal::Reserve(attempt)) => {
                    apply(batch, key, &header, Effect::SetAttempts(attempt), now)?;
                    Ok(RevealStep::Reserved { note, attempt })
                }
                Err(refusal) => {
                    apply(batch, key, &header, refusal.effect, now)?;
                    refusal.observe(&metrics);
                    Err(refusal.error)
                }
            }
        })
    }

    /// The last step of a passphrase reveal, after the passphrase was checked outside the
    /// writer: the note is deleted if it is still there (`policy::finish`).
    fn finish_reveal_blocking(&self, id: Uuid, attempt: u8, opened: bool) -> Result<()> {
        if !opened {
            self.metrics.wrong_passphrase();
        }
        if let Some(err) = policy::finish_without_store(attempt, opened) {
            return Err(err);
        }
        let key = id.as_u128();
        let clock = self.clock.clone();
        self.writer.run(move |batch| {
            let now = clock.now_unix();
            let found = load_header(batch, key)?.filter(|(header, _)| !header.end_to_end);
            if let Some((header, _)) = &found {
                let outcome = policy::finish_outcome(now, header.expires_at, opened);
                delete(batch, key, header, outcome, now)?;
            }
            policy::finish(
                now,
                found.map(|(header, _)| header.expires_at),
                attempt,
                opened,
            )
        })
    }

    /// Deletes every note that has expired (by the writer's clock); returns how many.
    fn sweep_blocking(&self) -> Result<u64> {
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
                        Ok(Some((header, _))) => {
                            delete(batch, *id, &header, Outcome::Expired, now)?;
                        }
                        // A corrupt record: drop its index entry and the record itself.
                        Ok(None) | Err(_) => {
                            receipts::settle(batch, *id, Outcome::Expired, now)?;
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
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn set_writer_delay(&self, delay: Duration) {
        self.writer.set_delay(delay);
    }

    /// Test hook: stops the writer thread as a crash would.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn crash_writer(&self) {
        self.writer.crash();
    }

    /// Deletes the note if it is still there and expired.
    fn delete_if_expired(&self, id: Uuid) -> Result<()> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let metrics = self.metrics.clone();
        self.writer.run(move |batch| {
            let now = clock.now_unix();
            if let Some((header, _)) = load_header(batch, key)?
                && policy::is_expired(now, header.expires_at)
            {
                apply(batch, key, &header, Effect::Expire, now)?;
                metrics.note_expired(1);
            }
            Ok(())
        })
    }

    /// Runs `work` on a clone of the store off the async worker threads.
    async fn off_thread<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Self) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        blocking(move || work(&store)).await
    }
}

/// Seals `plaintext` under a new record key and stores it as note `key` inside the batch;
/// `flags` are (needs a passphrase, end to end).
///
/// # Errors
///
/// [`Error::StoreFull`] at `max_notes` (0: no limit), [`Error::IdCollision`] if `key` is taken.
fn put_record(
    batch: &mut group_commit::Batch<'_>,
    key: u128,
    expires_at: u64,
    max_notes: u64,
    plaintext: &[u8],
    (passphrase_required, end_to_end): (bool, bool),
) -> Result<()> {
    if max_notes > 0 && batch.txn().open_table(NOTES)?.len()? >= max_notes {
        return Err(Error::StoreFull);
    }
    if batch.txn().open_table(NOTES)?.get(key)?.is_some() {
        return Err(Error::IdCollision);
    }
    let (slot, record_key) = batch.new_key()?;
    let header = RecordHeader {
        expires_at,
        attempts: 0,
        passphrase_required,
        end_to_end,
        slot,
    };
    let body = envelope::seal(&record_key, &header.binding(key), plaintext)?;
    batch
        .txn()
        .open_table(NOTES)?
        .insert(key, header.join(&body).as_slice())?;
    batch
        .txn()
        .open_table(EXPIRY)?
        .insert((expires_at, key), ())?;
    Ok(())
}

impl NoteStore for RedbStore {
    async fn insert(&self, id: Uuid, ttl_secs: u64, note: StoredNote) -> Result<u64> {
        self.off_thread(move |store| {
            let plaintext = Zeroizing::new(note.to_bytes());
            store.insert_sealed(id, ttl_secs, plaintext, note.needs_passphrase(), false)
        })
        .await
    }

    async fn peek(&self, id: Uuid) -> Result<Option<NoteSummary>> {
        self.off_thread(move |store| store.peek_blocking(id)).await
    }

    async fn begin_reveal(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> Result<RevealStep> {
        self.off_thread(move |store| store.begin_reveal_blocking(id, keys, with_passphrase))
            .await
    }

    async fn finish_reveal(&self, id: Uuid, attempt: u8, opened: bool) -> Result<()> {
        self.off_thread(move |store| store.finish_reveal_blocking(id, attempt, opened))
            .await
    }

    async fn insert_end_to_end(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: StoredNote,
        hashes: ClaimHashes,
    ) -> Result<u64> {
        self.off_thread(move |store| {
            let plaintext = hashes.with_note(&note);
            store.insert_sealed(id, ttl_secs, plaintext, note.needs_passphrase(), true)
        })
        .await
    }

    async fn peek_end_to_end(&self, id: Uuid) -> Result<Option<EndToEndSummary>> {
        self.off_thread(move |store| store.peek_end_to_end_blocking(id))
            .await
    }

    async fn claim(&self, id: Uuid, tokens: Tokens) -> Result<StoredNote> {
        self.off_thread(move |store| store.claim_blocking(id, tokens))
            .await
    }

    async fn sweep(&self) -> Result<u64> {
        self.off_thread(Self::sweep_blocking).await
    }

    async fn check(&self) -> Result<()> {
        if self.is_healthy() {
            Ok(())
        } else {
            Err(Error::WriterStopped)
        }
    }

    fn len_blocking(&self) -> Result<u64> {
        self.len()
    }
}
