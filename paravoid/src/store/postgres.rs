//! The PostgreSQL store: the notes of the redb store, with the same decisions (`store::policy`),
//! in a database that several paravoid instances share.
//!
//! # Schema
//!
//! Migrations live in `paravoid/migrations/`, are embedded in the binary and applied at start-up
//! by [`PgStore::open`], in one transaction that first takes a transaction-level advisory lock
//! (`pg_advisory_xact_lock`): instances starting at once apply each migration exactly once, the
//! others wait and then find it recorded in `paravoid_migrations`.
//!
//! | table | column | content |
//! |---|---|---|
//! | `paravoid_migrations` | `version`, `name`, `applied_at` | one row per applied migration |
//! | `paravoid_notes` | `id uuid` (primary key) | the note id |
//! | | `expires_at bigint` (indexed) | Unix seconds at which the note stops existing |
//! | | `failed_attempts smallint` | passphrase attempts used so far (each reserved before its check) |
//! | | `passphrase_required boolean` | the note needs a passphrase (answered by peeks without opening anything) |
//! | | `end_to_end boolean` | a note sealed in the browser; each mode's endpoints see only their own kind |
//! | | `key_epoch bigint` | the expiry epoch whose key sealed `sealed` ([`epoch_keys`]) |
//! | | `sealed bytea` | the note's plaintext (`store::record`: `StoredNote::to_bytes()`, preceded by the claim hashes for an end-to-end note) sealed with the shared envelope (`store::envelope`, key id = `key_epoch`) under the key of epoch `key_epoch` |
//! | | `row_mac bytea` | HMAC-SHA-256 of (id, `failed_attempts`, `key_epoch`, `expires_at`) under a key derived from the epoch key; NULL for rows written before it existed ([`row`]) |
//! | `paravoid_store_key_check` | `epoch`, `fingerprint` | one-way fingerprints of future chain keys: an instance started with another store key secret is refused |
//! | `paravoid_files`, `paravoid_file_chunks` | | files of end-to-end notes, in chunk rows of at most 64 KiB + 16 bytes ([`files`]) |
//!
//! The clear columns are the redb record header, one column each, so that the attempt counter
//! is changed by an `UPDATE` without rewriting the note and peeks decrypt nothing. They are
//! authenticated ([`row`]): `expires_at` and the flags through the envelope's associated data,
//! the counter through `row_mac`, checked under the row lock before a reveal or claim acts and
//! recomputed with each update; a row edited in the database is deleted, never acted on. Nothing else
//! is stored: no decapsulation key, seed, classical secret, passphrase, token or message. Rows
//! are sealed, but not under a per-note key as on redb: PostgreSQL keeps every old tuple version
//! in dead tuples, the WAL and backups, so such a key would never be shredded. The key of a row
//! is that of its expiry hour, derived from a one-way chain kept in each instance's
//! `--store-key` file ([`epoch_keys`]); copies of the database stop opening a note at the end of
//! its expiry hour, not at its reveal (see paravoid's `SECURITY.md`).
//!
//! # Exactly once across instances
//!
//! A reveal takes the two steps of the redb store. [`PgStore::begin_reveal`] is one transaction
//! on one connection: `SELECT … FOR UPDATE` locks the note's row, expiry and the link keys are
//! checked (the cheap ML-KEM check), then either `DELETE` (a note without passphrase, opened under
//! the lock), `UPDATE … SET failed_attempts = n, row_mac = …` (one passphrase
//! attempt reserved), or nothing (wrong keys: the transaction is rolled back), then `COMMIT`.
//! Argon2id then runs in the bounded pool, outside any transaction and holding no lock, and
//! [`PgStore::finish_reveal`] commits `DELETE … RETURNING` (right passphrase, or the last
//! attempt). A concurrent reveal of the same note, on any instance, waits for the row lock and
//! then reads the committed state (READ COMMITTED re-reads a locked row after its holder
//! commits): it finds no row once the note is gone and the incremented counter after a
//! reservation. So exactly one reveal hands the message out, at most [`MAX_PASSPHRASE_ATTEMPTS`]
//! passphrases are ever tried, and only the `DELETE … RETURNING` that found the row answers the
//! message, with no lock held in paravoid.
//!
//! The sweeper deletes expired notes in batches with `FOR UPDATE SKIP LOCKED`: sweepers of
//! several instances never wait for each other nor delete the same row twice, and a note that a
//! reveal holds is left to that reveal.
//!
//! Expiry, the sweeper and the store key's hour follow the database's clock ([`db_clock`]).
//!
//! Durability, outages and the synchronous callers: see [`schema`].

use std::path::Path;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use qsmm_shield::note::{RecipientKeys, StoredNote, check_link_keys, open_note};
use tokio_postgres::NoTls;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::NoteStore;
use super::envelope::{self, KEY_LEN};
use super::policy::Outcome;
use super::policy::{self, Effect, NoteState, Refusal, Reveal};
use super::record::{
    ClaimHashes, EndToEndSummary, NoteSummary, RevealStep, TOKEN_HASH_LEN, Tokens,
};
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::metrics::Metrics;
use crate::{Error, Result};

mod db_clock;
mod epoch_keys;
mod files;
mod insert;
mod receipts;
mod requests;
pub(crate) mod rotation;
mod row;
mod schema;
#[cfg(test)]
mod tests;
mod webhooks;

use db_clock::{DbClock, NOW_SQL};
use epoch_keys::EpochKeys;
use receipts::SETTLE_GONE_SQL;
use row::{apply, delete_row};
use schema::{
    CONNECT_TIMEOUT, POOL_SIZE, POOL_WAIT, check_fingerprint, connect, count, from_db_time,
    migrate, on_own_runtime, to_db_time,
};

/// Most expired notes deleted by one sweeper statement.
const SWEEP_BATCH: i64 = 1024;

/// The PostgreSQL note database: a pool of connections and this instance's store key.
#[derive(Clone, Debug)]
pub(crate) struct PgStore {
    pool: Pool,
    /// For the connections made outside the pool.
    config: tokio_postgres::Config,
    keys: Arc<Mutex<EpochKeys>>,
    /// Most notes stored at once, over every instance (0: no limit).
    max_notes: u64,
    /// The database's clock (a manual one in tests), never this instance's ([`db_clock`]).
    clock: DbClock,
    metrics: Arc<Metrics>,
    /// Downloads in flight (`files`), each holding up to two connections.
    downloads: Arc<tokio::sync::Semaphore>,
}

/// A note row, checked (`row`) and decrypted.
struct Record {
    state: NoteState,
    /// The epoch whose key sealed it.
    epoch: u64,
    /// The key of its `row_mac`; `None` for a row written before rows were authenticated.
    mac_key: Option<Zeroizing<[u8; KEY_LEN]>>,
    note: StoredNote,
    /// The claim hashes of an end-to-end note.
    claim: Option<ClaimHashes>,
}

/// The columns [`PgStore::record_from_row`] reads, in its order.
const RECORD_COLUMNS: &str =
    "expires_at, failed_attempts, end_to_end, key_epoch, sealed, row_mac, passphrase_required";

/// A transaction holding a live note's row lock, with the note decrypted and the database's
/// time of the lock.
type Locked<'a> = Option<(Transaction<'a>, Record, u64)>;

impl PgStore {
    /// Prepares a pool of connections to the database at `url`, applies the missing migrations,
    /// opens the store key file `key_file` (advancing it to the database clock's epoch) and
    /// checks that it matches the other instances'. `clock` is used only if it is moved by hand
    /// ([`Clock::is_manual`]); otherwise the database's clock decides ([`db_clock`]).
    ///
    /// `url` is anything `tokio_postgres::Config` parses: a URL
    /// (`postgres://user:password@host:5432/db`, `postgresql:///db?host=/run/postgresql` for a
    /// Unix socket) or `key=value` pairs. Connections are made without TLS: reach PostgreSQL over
    /// a Unix socket or a private network.
    ///
    /// Blocks: the migrations run on a connection of their own, on a thread of their own, so this
    /// can be called from synchronous code and from inside a tokio runtime alike. The pool opens
    /// its connections later, on demand, on the runtime that uses it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `url` does not parse (the message never repeats it: it may hold a
    /// password), if the key file is missing or malformed, or if it does not match the key the
    /// database was first used with; [`Error::Unavailable`] if PostgreSQL cannot be reached,
    /// [`Error::Storage`] if a migration fails.
    pub(crate) fn open(
        url: &str,
        key_file: &Path,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|_| ConfigError::ConnectionString)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("paravoid");
        }
        let clock = DbClock::new(clock);
        let keys = on_own_runtime(async {
            let mut client = connect(&config).await?;
            migrate(&mut client).await?;
            let keys = EpochKeys::open(key_file, clock.read(&client).await?)?;
            check_fingerprint(&client, &keys).await?;
            Ok(keys)
        })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection whose socket has closed (PostgreSQL restarted) is dropped when it
                // comes back to the pool and replaced by a fresh one on demand.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|_| Error::Internal("cannot build the PostgreSQL connection pool"))?;
        Ok(Self {
            pool,
            config,
            keys: Arc::new(Mutex::new(keys)),
            max_notes: 0,
            clock,
            metrics,
            downloads: Arc::new(tokio::sync::Semaphore::new(POOL_SIZE / 2)),
        })
    }

    /// Refuses creates ([`Error::StoreFull`]) while `max_notes` notes are stored (0: no limit).
    #[must_use]
    pub(crate) const fn with_max_notes(mut self, max_notes: u64) -> Self {
        self.max_notes = max_notes;
        self
    }

    /// The sealing key of `epoch`, or `None` once it has been shredded (the note has expired by
    /// the key file's clock).
    fn epoch_key(&self, epoch: u64) -> Result<Option<envelope::RecordKey>> {
        Ok(self
            .keys
            .lock()
            .map_err(|_| Error::Internal("the store key lock is poisoned"))?
            .key(epoch))
    }

    /// Deletes the note if it has expired at `expires_at` by the database's time `now`;
    /// returns whether it had.
    async fn delete_if_expired(
        &self,
        client: &deadpool_postgres::Client,
        id: Uuid,
        expires_at: u64,
        now: u64,
    ) -> Result<bool> {
        if !policy::is_expired(now, expires_at) {
            return Ok(false);
        }
        let delete = client
            .prepare_cached(&format!(
                "WITH gone AS (\
                   DELETE FROM paravoid_notes WHERE id = $1 AND expires_at <= $2 RETURNING id), \
                 {SETTLE_GONE_SQL} SELECT count(*) FROM gone"
            ))
            .await?;
        let removed: i64 = client
            .query_one(&delete, &[&id, &to_db_time(now)?])
            .await?
            .try_get(0)?;
        self.metrics.note_expired(removed.unsigned_abs());
        Ok(true)
    }

    /// Locks the note's row in `txn` and decrypts it. A row that has expired by the
    /// database's clock, or whose key is shredded, is deleted and committed, and reported as
    /// `None`.
    async fn lock_record<'a>(&self, txn: Transaction<'a>, id: Uuid) -> Result<Locked<'a>> {
        let select = txn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS}, {NOW_SQL} FROM paravoid_notes WHERE id = $1 FOR UPDATE"
            ))
            .await?;
        let Some(row) = txn.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let now = self.clock.now(row.try_get(7)?)?;
        let expires_at = from_db_time(row.try_get(0)?)?;
        let record = if policy::is_expired(now, expires_at) {
            None
        } else {
            match self.record_from_row(id, &row) {
                Err(Error::CorruptRecord) => {
                    // Edited in the database: destroyed, never acted on.
                    delete_row(&txn, id, Outcome::Destroyed, now).await?;
                    txn.commit().await?;
                    tracing::warn!("destroyed a note row that fails its authentication");
                    return Err(Error::CorruptRecord);
                }
                other => other?,
            }
        };
        let Some(record) = record else {
            delete_row(&txn, id, Outcome::Expired, now).await?;
            txn.commit().await?;
            self.metrics.note_expired(1);
            return Ok(None);
        };
        Ok(Some((txn, record, now)))
    }

    /// Applies a refusal's effect, commits, and returns its error.
    async fn refuse(
        &self,
        txn: Transaction<'_>,
        (record, now): (&Record, u64),
        id: Uuid,
        refusal: Refusal,
    ) -> Error {
        if refusal.effect != Effect::Keep {
            if let Err(err) = apply(&txn, id, record, refusal.effect, now).await {
                return err;
            }
            if let Err(err) = txn.commit().await {
                return err.into();
            }
        }
        refusal.observe(&self.metrics);
        refusal.error
    }

    /// The body of [`NoteStore::claim`]; with `files` (a download token's hash and lifetime) the
    /// note's files are handed out in the same transaction (`files`), their sealed sizes
    /// returned. Returning early drops the transaction, which rolls it back.
    async fn claim_in_task(
        &self,
        id: Uuid,
        tokens: Tokens,
        files: Option<([u8; TOKEN_HASH_LEN], u64)>,
    ) -> Result<(StoredNote, Vec<u64>)> {
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        let Some((txn, record, now)) = self.lock_record(txn, id).await? else {
            return Err(Error::NotFound);
        };
        let decided = policy::admit(now, &record.state, true).and_then(|()| {
            let hashes = record.claim.as_ref().ok_or(Refusal {
                effect: Effect::Keep,
                error: Error::CorruptRecord,
            })?;
            policy::claim(&record.state, hashes, &tokens)
        });
        match decided {
            Ok(()) => {
                apply(&txn, id, &record, Effect::HandOut, now).await?;
                let sizes = match files {
                    Some((hash, ttl)) => self.hand_out_files(&txn, id, hash, now, ttl).await?,
                    None => Vec::new(),
                };
                txn.commit().await?;
                Ok((record.note, sizes))
            }
            Err(refusal) => Err(self.refuse(txn, (&record, now), id, refusal).await),
        }
    }

    /// The body of [`NoteStore::begin_reveal`]. Returning early drops the transaction, which
    /// rolls it back.
    async fn begin_reveal_in_task(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> Result<RevealStep> {
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        let Some((txn, record, now)) = self.lock_record(txn, id).await? else {
            return Err(Error::NotFound);
        };
        let state = record.state;
        if let Err(refusal) = policy::admit(now, &state, false) {
            return Err(self.refuse(txn, (&record, now), id, refusal).await);
        }
        let Record {
            note,
            epoch,
            mac_key,
            ..
        } = record;
        // The ML-KEM check (and, without passphrase, the decryption) is cheap and runs under the
        // row lock; Argon2id never does.
        let (note, checked) = tokio::task::spawn_blocking(move || {
            let Some(keys) = keys
                .as_deref()
                .filter(|keys| check_link_keys(&note, keys).is_ok())
            else {
                return (note, None);
            };
            let opened = (!note.needs_passphrase()).then(|| open_note(&note, keys));
            (note, Some(opened))
        })
        .await
        .map_err(|_| Error::Internal("blocking task failed"))?;
        let decided = policy::reveal(
            &state,
            checked.is_some(),
            note.needs_passphrase(),
            with_passphrase,
        );
        let record = Record {
            state,
            epoch,
            mac_key,
            note,
            claim: None,
        };
        match decided {
            Ok(Reveal::Open) => {
                let message = checked
                    .flatten()
                    .and_then(Result::ok)
                    .ok_or(Error::CorruptRecord)?;
                apply(&txn, id, &record, Effect::HandOut, now).await?;
                txn.commit().await?;
                Ok(RevealStep::Opened(message))
            }
            Ok(Reveal::Reserve(attempt)) => {
                // Under the row lock, with the counter (and its MAC) just checked.
                apply(&txn, id, &record, Effect::SetAttempts(attempt), now).await?;
                txn.commit().await?;
                Ok(RevealStep::Reserved {
                    note: record.note,
                    attempt,
                })
            }
            Err(refusal) => Err(self.refuse(txn, (&record, now), id, refusal).await),
        }
    }

    /// How many notes are stored, expired or not.
    #[cfg(test)]
    pub(crate) async fn len(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        count(&client).await
    }
}

impl NoteStore for PgStore {
    /// Durable once this returns `Ok` (the `INSERT` has committed).
    async fn insert(&self, id: Uuid, ttl_secs: u64, note: StoredNote) -> Result<u64> {
        let plaintext = Zeroizing::new(note.to_bytes());
        self.insert_sealed(id, ttl_secs, &plaintext, note.needs_passphrase(), false)
            .await
    }

    /// Looks a note up without consuming it (no decryption).
    async fn peek(&self, id: Uuid) -> Result<Option<NoteSummary>> {
        let client = self.pool.get().await?;
        let select = client
            .prepare_cached(&format!(
                "SELECT expires_at, passphrase_required, end_to_end, {NOW_SQL} \
                 FROM paravoid_notes WHERE id = $1"
            ))
            .await?;
        let Some(row) = client.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let expires_at = from_db_time(row.try_get(0)?)?;
        let now = self.clock.now(row.try_get(3)?)?;
        if self.delete_if_expired(&client, id, expires_at, now).await? {
            return Ok(None);
        }
        Ok(Some(NoteSummary {
            expires_at,
            passphrase_required: row.try_get(1)?,
            end_to_end: row.try_get(2)?,
        }))
    }

    /// The first step of a reveal, in one transaction holding the note's row lock (module
    /// docs), decided by `policy::admit` and `policy::reveal`: a note without passphrase is
    /// opened and deleted (the message returned only after the `COMMIT`); for a note with one a
    /// try is reserved with `UPDATE … SET failed_attempts = n, row_mac = …` (counter and MAC)
    /// and committed before any Argon2id runs; on wrong keys the transaction rolls back.
    ///
    /// The transaction runs in a task of its own, so a request dropped half-way never abandons
    /// it between its write and its `COMMIT`.
    async fn begin_reveal(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> Result<RevealStep> {
        let store = self.clone();
        tokio::spawn(async move { store.begin_reveal_in_task(id, keys, with_passphrase).await })
            .await
            .map_err(|_| Error::Internal("the reveal task failed"))?
    }

    /// The last step of a passphrase reveal: `DELETE … RETURNING` the note (right passphrase,
    /// or the last try), then `policy::finish`.
    async fn finish_reveal(&self, id: Uuid, attempt: u8, opened: bool) -> Result<()> {
        if !opened {
            self.metrics.wrong_passphrase();
        }
        if let Some(err) = policy::finish_without_store(attempt, opened) {
            return Err(err);
        }
        let store = self.clone();
        tokio::spawn(async move {
            let mut client = store.pool.get().await?;
            let txn = client.transaction().await?;
            let delete = txn
                .prepare_cached(&format!(
                    "DELETE FROM paravoid_notes WHERE id = $1 AND NOT end_to_end \
                     RETURNING expires_at, {NOW_SQL}"
                ))
                .await?;
            let (found, now) = match txn.query_opt(&delete, &[&id]).await? {
                Some(row) => (
                    Some(from_db_time(row.try_get(0)?)?),
                    store.clock.now(row.try_get(1)?)?,
                ),
                None => (None, 0),
            };
            if let Some(expires_at) = found {
                let outcome = policy::finish_outcome(now, expires_at, opened);
                receipts::settle(&txn, id, outcome, now).await?;
            }
            txn.commit().await?;
            policy::finish(now, found, attempt, opened)
        })
        .await
        .map_err(|_| Error::Internal("the reveal task failed"))?
    }

    /// Durable once this returns `Ok`.
    async fn insert_end_to_end(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: StoredNote,
        hashes: ClaimHashes,
    ) -> Result<u64> {
        let plaintext = hashes.with_note(&note);
        self.insert_sealed(id, ttl_secs, &plaintext, note.needs_passphrase(), true)
            .await
    }

    /// The public Argon2id parameters are inside the sealed row, so it is decrypted.
    async fn peek_end_to_end(&self, id: Uuid) -> Result<Option<EndToEndSummary>> {
        let client = self.pool.get().await?;
        let select = client
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS}, {NOW_SQL} FROM paravoid_notes WHERE id = $1"
            ))
            .await?;
        let Some(row) = client.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let expires_at = from_db_time(row.try_get(0)?)?;
        let now = self.clock.now(row.try_get(7)?)?;
        if self.delete_if_expired(&client, id, expires_at, now).await?
            || !row.try_get::<_, bool>(2)?
        {
            return Ok(None);
        }
        let Some(record) = self.record_from_row(id, &row)? else {
            return Ok(None);
        };
        Ok(Some(EndToEndSummary {
            expires_at: record.state.expires_at,
            passphrase: record.note.passphrase,
        }))
    }

    /// One transaction holding the row lock, decided by `policy::admit` and `policy::claim`,
    /// in a task of its own (as [`NoteStore::begin_reveal`]).
    async fn claim(&self, id: Uuid, tokens: Tokens) -> Result<StoredNote> {
        let store = self.clone();
        tokio::spawn(async move { store.claim_in_task(id, tokens, None).await })
            .await
            .map_err(|_| Error::Internal("the claim task failed"))?
            .map(|(note, _)| note)
    }

    /// Reads the database's clock, advances the store key past the epochs that have ended by it
    /// (shredding their notes in every copy of the database), then deletes every note that has
    /// expired by it. Safe to run on every instance at once: rows another transaction holds are
    /// skipped.
    async fn sweep(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let connection: &tokio_postgres::Client = &client;
        let now_unix = self.clock.read(connection).await?;
        let keys = self.keys.clone();
        crate::blocking::blocking(move || {
            keys.lock()
                .map_err(|_| Error::Internal("the store key lock is poisoned"))?
                .advance(now_unix)
        })
        .await?;
        let now = to_db_time(now_unix)?;
        let delete = client
            .prepare_cached(&format!(
                "WITH gone AS (DELETE FROM paravoid_notes WHERE id IN (\
                   SELECT id FROM paravoid_notes WHERE expires_at <= $1 \
                   ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id), \
                 {SETTLE_GONE_SQL} SELECT count(*) FROM gone"
            ))
            .await?;
        let mut total = 0u64;
        loop {
            let removed: i64 = client
                .query_one(&delete, &[&now, &SWEEP_BATCH])
                .await?
                .try_get(0)?;
            let removed = removed.unsigned_abs();
            self.metrics.note_expired(removed);
            total = total.saturating_add(removed);
            if removed < SWEEP_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    /// `SELECT 1` on a pooled connection.
    async fn check(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Blocks on a connection of its own.
    fn len_blocking(&self) -> Result<u64> {
        on_own_runtime(async {
            let client = connect(&self.config).await?;
            count(&client).await
        })
    }
}
