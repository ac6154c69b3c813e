//! The PostgreSQL store: the notes of the redb store, with the same semantics, in a database that
//! several paravoid instances share.
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
//! | | `sealed bytea` | the plaintext of the redb record's sealed body — `StoredNote::to_bytes()`, preceded by the claim hashes for an end-to-end note — sealed (AES-256-GCM, the `key_slots` envelope) under the key of epoch `key_epoch` |
//! | `paravoid_store_key_check` | `epoch`, `fingerprint` | one-way fingerprints of future chain keys: an instance started with another store key secret is refused |
//!
//! The clear columns are the redb record header, one column each, so that the attempt counter
//! is changed by an `UPDATE` without rewriting the note and peeks decrypt nothing. Nothing else
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
//! the lock), `UPDATE … SET failed_attempts = failed_attempts + 1 … RETURNING` (one passphrase
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
//! # Durability
//!
//! A create is answered after its `INSERT` has committed, a reveal after its `COMMIT`: with
//! PostgreSQL's default `synchronous_commit = on` that is after the WAL record has reached the
//! disk. If the connection breaks while a `COMMIT` is in flight the outcome is unknown to
//! paravoid: the request is answered 503, and the note may or may not be gone (it is never handed
//! out twice).
//!
//! # Outages
//!
//! Connection errors (closed socket, I/O error, SQLSTATE class 08, 57P01–57P03, 53300) and a pool
//! that cannot produce a connection within 5 s are [`Error::Unavailable`](crate::Error), answered
//! 503 with `Retry-After: 1`; other database errors are 500. The pool (16 connections per
//! instance) drops connections whose socket has closed when they come back
//! (`RecyclingMethod::Fast`) and opens new ones on demand, so an instance recovers without a
//! restart when PostgreSQL returns. `GET /healthz` runs `SELECT 1` on a pooled connection.
//!
//! # Synchronous callers
//!
//! `AppState::open` and `AppState::stored_notes` stay synchronous: the migrations and the count
//! run on a connection of their own, on a current-thread runtime in a thread of their own, so they
//! work from plain code and from inside a runtime alike; the pool opens its connections lazily on
//! the runtime that serves requests.

use std::future::Future;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use qsmm_shield::note::{NoteOpenError, RecipientKeys, StoredNote, check_link_keys, open_note};
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::key_slots::{self, SlotIndex};
use super::{
    ClaimHashes, EndToEndSummary, MAX_PASSPHRASE_ATTEMPTS, NoteSummary, RevealStep, Tokens,
};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::{Error, Result};

mod epoch_keys;

use epoch_keys::{EpochKeys, epoch_of};

/// The table tag bound into a server-sealed note's envelope.
const NOTES_TAG: &[u8] = b"pg-notes";

/// The table tag bound into an end-to-end note's envelope (claim hashes, then the note).
const E2E_TAG: &[u8] = b"pg-e2e-notes";

/// The PostgreSQL note database: a pool of connections and this instance's store key.
#[derive(Clone, Debug)]
pub(crate) struct PgStore {
    pool: Pool,
    /// For the connections made outside the pool.
    config: tokio_postgres::Config,
    keys: Arc<Mutex<EpochKeys>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

/// A note row, decrypted.
struct Record {
    expires_at: u64,
    attempts: u8,
    note: StoredNote,
    /// The claim hashes of an end-to-end note.
    claim: Option<ClaimHashes>,
}

impl PgStore {
    /// Prepares a pool of connections to the database at `url`, applies the missing migrations,
    /// opens the store key file `key_file` (advancing it to the current epoch) and checks that
    /// it matches the other instances'.
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
    /// [`Error::Postgres`] if a migration fails.
    pub(crate) fn open(
        url: &str,
        key_file: &Path,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|_| Error::Config("the PostgreSQL connection string does not parse".into()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("paravoid");
        }
        let keys = EpochKeys::open(key_file, clock.now_unix())?;
        let fingerprint = keys.fingerprint();
        on_own_runtime(async {
            let mut client = connect(&config).await?;
            migrate(&mut client).await?;
            check_fingerprint(&client, fingerprint).await
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
            clock,
            metrics,
        })
    }

    /// Stores a new note that lives `ttl_secs` from now; returns its `expires_at`. Durable once
    /// this returns `Ok` (the `INSERT` has committed).
    pub(crate) async fn insert(&self, id: Uuid, ttl_secs: u64, note: &StoredNote) -> Result<u64> {
        let plaintext = Zeroizing::new(note.to_bytes());
        self.insert_sealed(id, ttl_secs, &plaintext, note.needs_passphrase(), false)
            .await
    }

    /// Stores a note sealed in the browser with the hashes of its claim tokens (sealed with the
    /// note under the epoch key); returns its `expires_at`. Durable once this returns `Ok`.
    pub(crate) async fn insert_end_to_end(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: &StoredNote,
        hashes: &ClaimHashes,
    ) -> Result<u64> {
        let plaintext = hashes.with_note(note);
        self.insert_sealed(id, ttl_secs, &plaintext, note.needs_passphrase(), true)
            .await
    }

    /// Seals `plaintext` under the key of its expiry epoch and inserts the row.
    async fn insert_sealed(
        &self,
        id: Uuid,
        ttl_secs: u64,
        plaintext: &[u8],
        passphrase_required: bool,
        end_to_end: bool,
    ) -> Result<u64> {
        let expires_at = self.clock.now_unix().saturating_add(ttl_secs);
        let epoch = epoch_of(expires_at);
        let sealed = self.seal(id, epoch, end_to_end, plaintext)?;
        let client = self.pool.get().await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO paravoid_notes \
                   (id, expires_at, failed_attempts, passphrase_required, end_to_end, key_epoch, \
                    sealed) \
                 VALUES ($1, $2, 0, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let inserted = client
            .execute(
                &insert,
                &[
                    &id,
                    &to_db_time(expires_at)?,
                    &passphrase_required,
                    &end_to_end,
                    &to_db_time(epoch)?,
                    &sealed,
                ],
            )
            .await?;
        if inserted != 1 {
            return Err(Error::Internal("note id collision"));
        }
        Ok(expires_at)
    }

    /// Looks a note up without consuming it (no decryption). An expired note is deleted and
    /// reported as absent.
    pub(crate) async fn peek(&self, id: Uuid) -> Result<Option<NoteSummary>> {
        let client = self.pool.get().await?;
        let select = client
            .prepare_cached(
                "SELECT expires_at, passphrase_required, end_to_end FROM paravoid_notes \
                 WHERE id = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let expires_at = from_db_time(row.try_get(0)?)?;
        if self.delete_if_expired(&client, id, expires_at).await? {
            return Ok(None);
        }
        Ok(Some(NoteSummary {
            expires_at,
            passphrase_required: row.try_get(1)?,
            end_to_end: row.try_get(2)?,
        }))
    }

    /// Looks an end-to-end note up without consuming it, with its public Argon2id parameters
    /// (inside the sealed row, so it is decrypted). An expired note is deleted; a note sealed by
    /// the server is reported as absent.
    pub(crate) async fn peek_end_to_end(&self, id: Uuid) -> Result<Option<EndToEndSummary>> {
        let client = self.pool.get().await?;
        let select = client
            .prepare_cached(
                "SELECT expires_at, failed_attempts, end_to_end, key_epoch, sealed \
                 FROM paravoid_notes WHERE id = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let expires_at = from_db_time(row.try_get(0)?)?;
        if self.delete_if_expired(&client, id, expires_at).await? || !row.try_get::<_, bool>(2)? {
            return Ok(None);
        }
        let Some(record) = self.record_from_row(id, &row)? else {
            return Ok(None);
        };
        Ok(Some(EndToEndSummary {
            expires_at: record.expires_at,
            passphrase: record.note.passphrase,
        }))
    }

    /// Claims an end-to-end note exactly once, in one transaction holding its row lock, with the
    /// semantics of `Store::claim`: a wrong claim token writes nothing, a missing passphrase
    /// token writes nothing, a wrong one counts a try (committed; the last one deletes the
    /// note), and right tokens delete the note and return it after the `COMMIT`.
    ///
    /// # Errors
    ///
    /// As `Store::claim`, plus [`Error::Unavailable`] or [`Error::Postgres`].
    pub(crate) async fn claim(&self, id: Uuid, tokens: Tokens) -> Result<StoredNote> {
        let store = self.clone();
        tokio::spawn(async move { store.claim_in_task(id, tokens).await })
            .await
            .map_err(|_| Error::Internal("the claim task failed"))?
    }

    /// The first step of a reveal, in one transaction holding the note's row lock (module docs):
    /// check expiry and the link keys; open and delete a note without passphrase (the message is
    /// returned only after the `COMMIT`); for a note with one, reserve an attempt with
    /// `UPDATE … SET failed_attempts = failed_attempts + 1 … RETURNING` and commit it before
    /// any Argon2id runs; on wrong keys roll back.
    ///
    /// The transaction runs in a task of its own, so a request dropped half-way never abandons
    /// it between its write and its `COMMIT`.
    ///
    /// # Errors
    ///
    /// As `Store::begin_reveal`, plus [`Error::Unavailable`] or [`Error::Postgres`].
    pub(crate) async fn begin_reveal(
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

    /// The last step of a passphrase reveal, after the passphrase was checked outside any
    /// transaction.
    ///
    /// - `opened`: `DELETE … RETURNING` the note, if it is still there and not expired; `Ok`
    ///   means it is committed and the caller may hand out the message.
    /// - wrong passphrase: the reserved attempt stays counted; the last one deletes the note.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the note is gone, [`Error::WrongPassphrase`], or a database error.
    pub(crate) async fn finish_reveal(&self, id: Uuid, attempt: u8, opened: bool) -> Result<()> {
        let attempts_left = MAX_PASSPHRASE_ATTEMPTS.saturating_sub(attempt);
        if !opened {
            self.metrics.wrong_passphrase();
            if attempts_left > 0 {
                return Err(Error::WrongPassphrase { attempts_left });
            }
        }
        let store = self.clone();
        tokio::spawn(async move {
            let client = store.pool.get().await?;
            let delete = client
                .prepare_cached(
                    "DELETE FROM paravoid_notes WHERE id = $1 AND NOT end_to_end \
                     RETURNING expires_at",
                )
                .await?;
            let deleted = client.query_opt(&delete, &[&id]).await?;
            if !opened {
                return Err(Error::WrongPassphrase { attempts_left });
            }
            let Some(row) = deleted else {
                return Err(Error::NotFound);
            };
            if store.clock.now_unix() >= from_db_time(row.try_get(0)?)? {
                return Err(Error::NotFound);
            }
            Ok(())
        })
        .await
        .map_err(|_| Error::Internal("the reveal task failed"))?
    }

    /// Advances the store key past the epochs that have ended (shredding their notes in every
    /// copy of the database), then deletes every note that has expired; returns how many this
    /// call deleted.
    ///
    /// Safe to run on every instance at once: rows another transaction holds are skipped.
    pub(crate) async fn sweep(&self) -> Result<u64> {
        let now_unix = self.clock.now_unix();
        let keys = self.keys.clone();
        tokio::task::spawn_blocking(move || {
            keys.lock()
                .map_err(|_| Error::Internal("the store key lock is poisoned"))?
                .advance(now_unix)
        })
        .await
        .map_err(|_| Error::Internal("blocking task failed"))??;
        let now = to_db_time(now_unix)?;
        let client = self.pool.get().await?;
        let delete = client
            .prepare_cached(
                "DELETE FROM paravoid_notes WHERE id IN (\
                   SELECT id FROM paravoid_notes WHERE expires_at <= $1 \
                   ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .await?;
        let mut total = 0u64;
        loop {
            let removed = client.execute(&delete, &[&now, &SWEEP_BATCH]).await?;
            self.metrics.note_expired(removed);
            total = total.saturating_add(removed);
            if removed < SWEEP_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    /// How many notes are stored, expired or not.
    #[cfg(test)]
    pub(crate) async fn len(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        count(&client).await
    }

    /// [`PgStore::len`] for synchronous callers: blocks on a connection of its own.
    pub(crate) fn len_blocking(&self) -> Result<u64> {
        on_own_runtime(async {
            let client = connect(&self.config).await?;
            count(&client).await
        })
    }

    /// Checks that a connection can be had and answers a query.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when PostgreSQL cannot be reached.
    pub(crate) async fn ping(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }
}

impl PgStore {
    /// Seals a row's plaintext under the key of `epoch`.
    fn seal(&self, id: Uuid, epoch: u64, end_to_end: bool, plaintext: &[u8]) -> Result<Vec<u8>> {
        let key = self
            .keys
            .lock()
            .map_err(|_| Error::Internal("the store key lock is poisoned"))?
            .key(epoch)
            // Only a clock far behind the other instances' can ask for a shredded epoch.
            .ok_or(Error::Internal("the note's expiry epoch has ended"))?;
        let tag = if end_to_end { E2E_TAG } else { NOTES_TAG };
        key_slots::seal(&key, tag, id.as_u128(), SlotIndex(epoch), plaintext)
    }

    /// Decrypts a row's `sealed` column; `None` once its epoch key has been shredded (the note
    /// has expired by the key file's clock).
    fn unseal(
        &self,
        id: Uuid,
        epoch: u64,
        end_to_end: bool,
        sealed: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let key = self
            .keys
            .lock()
            .map_err(|_| Error::Internal("the store key lock is poisoned"))?
            .key(epoch);
        let Some(key) = key else {
            return Ok(None);
        };
        let tag = if end_to_end { E2E_TAG } else { NOTES_TAG };
        key_slots::open(&key, tag, id.as_u128(), SlotIndex(epoch), sealed).map(Some)
    }

    /// Decodes and decrypts a row whose columns 0 to 4 are `expires_at, failed_attempts,
    /// end_to_end, key_epoch, sealed`; `None` if its key has been shredded.
    fn record_from_row(&self, id: Uuid, row: &Row) -> Result<Option<Record>> {
        let expires_at = from_db_time(row.try_get(0)?)?;
        let attempts = u8::try_from(row.try_get::<_, i16>(1)?)
            .map_err(|_| Error::Internal("corrupt try counter"))?;
        let end_to_end: bool = row.try_get(2)?;
        let epoch = from_db_time(row.try_get(3)?)?;
        let Some(plaintext) = self.unseal(id, epoch, end_to_end, row.try_get(4)?)? else {
            return Ok(None);
        };
        let (claim, note) = if end_to_end {
            let (claim, note) = ClaimHashes::decode(&plaintext)?;
            (Some(claim), note)
        } else {
            (None, plaintext.as_slice())
        };
        Ok(Some(Record {
            expires_at,
            attempts,
            note: StoredNote::from_bytes(note)
                .map_err(|_| Error::Internal("corrupt note record"))?,
            claim,
        }))
    }

    /// Deletes the note if it has expired at `expires_at`; returns whether it had.
    async fn delete_if_expired(
        &self,
        client: &deadpool_postgres::Client,
        id: Uuid,
        expires_at: u64,
    ) -> Result<bool> {
        let now = self.clock.now_unix();
        if now < expires_at {
            return Ok(false);
        }
        let delete = client
            .prepare_cached("DELETE FROM paravoid_notes WHERE id = $1 AND expires_at <= $2")
            .await?;
        let removed = client.execute(&delete, &[&id, &to_db_time(now)?]).await?;
        self.metrics.note_expired(removed);
        Ok(true)
    }

    /// Locks the note's row in `txn` and decrypts it. An expired note (or one whose key is
    /// shredded) is deleted and committed, and reported as `None`.
    async fn lock_record<'a>(&self, txn: Transaction<'a>, id: Uuid) -> Result<Locked<'a>> {
        let select = txn
            .prepare_cached(
                "SELECT expires_at, failed_attempts, end_to_end, key_epoch, sealed \
                 FROM paravoid_notes WHERE id = $1 FOR UPDATE",
            )
            .await?;
        let Some(row) = txn.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let expires_at = from_db_time(row.try_get(0)?)?;
        let record = if self.clock.now_unix() >= expires_at {
            None
        } else {
            self.record_from_row(id, &row)?
        };
        let Some(record) = record else {
            delete_locked(&txn, id).await?;
            txn.commit().await?;
            self.metrics.note_expired(1);
            return Ok(None);
        };
        Ok(Some((txn, record)))
    }

    /// The body of [`PgStore::claim`]. Returning early drops the transaction, which rolls it
    /// back.
    async fn claim_in_task(&self, id: Uuid, tokens: Tokens) -> Result<StoredNote> {
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        let Some((txn, record)) = self.lock_record(txn, id).await? else {
            return Err(Error::NotFound);
        };
        let Some(hashes) = record.claim.as_ref() else {
            return Err(Error::NotFound);
        };
        if record.attempts >= MAX_PASSPHRASE_ATTEMPTS {
            return Err(Error::NotFound);
        }
        match tokens.check(hashes) {
            Ok(()) => {
                delete_locked(&txn, id).await?;
                txn.commit().await?;
                Ok(record.note)
            }
            Err(NoteOpenError::WrongPassphrase) => {
                self.metrics.wrong_passphrase();
                let used = record.attempts.saturating_add(1);
                if used >= MAX_PASSPHRASE_ATTEMPTS {
                    delete_locked(&txn, id).await?;
                } else {
                    let count = txn
                        .prepare_cached(
                            "UPDATE paravoid_notes SET failed_attempts = $2 WHERE id = $1",
                        )
                        .await?;
                    txn.execute(&count, &[&id, &i16::from(used)]).await?;
                }
                txn.commit().await?;
                Err(Error::WrongPassphrase {
                    attempts_left: MAX_PASSPHRASE_ATTEMPTS.saturating_sub(used),
                })
            }
            Err(NoteOpenError::PassphraseRequired) => Err(Error::PassphraseRequired),
            // A wrong claim token, and anything a newer shield may add: change nothing.
            Err(_) => {
                self.metrics.wrong_keys();
                Err(Error::WrongKeys)
            }
        }
    }

    /// The body of [`PgStore::begin_reveal`]. Returning early drops the transaction, which rolls
    /// it back.
    async fn begin_reveal_in_task(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> Result<RevealStep> {
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        let Some((txn, record)) = self.lock_record(txn, id).await? else {
            return Err(Error::NotFound);
        };
        // A note sealed in the browser is never opened by the server: here it is absent.
        if record.claim.is_some() {
            return Err(Error::NotFound);
        }
        let attempts = record.attempts;
        // The ML-KEM check (and, without passphrase, the decryption) is cheap and runs under the
        // row lock; Argon2id never does.
        let (note, opened) = tokio::task::spawn_blocking(move || {
            let note = record.note;
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
        let Some(opened) = opened else {
            self.metrics.wrong_keys();
            return Err(Error::WrongKeys);
        };
        if let Some(opened) = opened {
            let Ok(message) = opened else {
                return Err(Error::Internal("stored note does not open"));
            };
            delete_locked(&txn, id).await?;
            txn.commit().await?;
            return Ok(RevealStep::Opened(message));
        }
        if !with_passphrase {
            return Err(Error::PassphraseRequired);
        }
        if attempts >= MAX_PASSPHRASE_ATTEMPTS {
            return Err(Error::NotFound);
        }
        let reserve = txn
            .prepare_cached(
                "UPDATE paravoid_notes SET failed_attempts = failed_attempts + 1 \
                 WHERE id = $1 RETURNING failed_attempts",
            )
            .await?;
        let row = txn.query_one(&reserve, &[&id]).await?;
        let attempt = u8::try_from(row.try_get::<_, i16>(0)?)
            .map_err(|_| Error::Internal("corrupt try counter"))?;
        txn.commit().await?;
        Ok(RevealStep::Reserved { note, attempt })
    }
}

/// A transaction holding a live note's row lock, with the note decrypted.
type Locked<'a> = Option<(Transaction<'a>, Record)>;

/// Applies the migrations the database lacks (module docs).
async fn migrate(client: &mut tokio_postgres::Client) -> Result<()> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS paravoid_migrations (\
           version integer PRIMARY KEY, \
           name text NOT NULL, \
           applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let applied = txn
        .query("SELECT version FROM paravoid_migrations", &[])
        .await?
        .iter()
        .map(|row| row.try_get::<_, i32>(0))
        .collect::<Result<Vec<_>, _>>()?;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        txn.batch_execute(sql).await?;
        txn.execute(
            "INSERT INTO paravoid_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tracing::info!(version, name, "applied a database migration");
    }
    txn.commit().await?;
    Ok(())
}

/// Records the store key's fingerprint for its check epoch, or compares it with the one the
/// first instance recorded.
async fn check_fingerprint(
    client: &tokio_postgres::Client,
    (epoch, fingerprint): (u64, [u8; 32]),
) -> Result<()> {
    let epoch = to_db_time(epoch)?;
    client
        .execute(
            "INSERT INTO paravoid_store_key_check (epoch, fingerprint) VALUES ($1, $2) \
             ON CONFLICT (epoch) DO NOTHING",
            &[&epoch, &fingerprint.as_slice()],
        )
        .await?;
    let row = client
        .query_one(
            "SELECT fingerprint FROM paravoid_store_key_check WHERE epoch = $1",
            &[&epoch],
        )
        .await?;
    if row.try_get::<_, &[u8]>(0)? == fingerprint.as_slice() {
        Ok(())
    } else {
        Err(Error::Config(
            "the store key file differs from the one this database was used with".into(),
        ))
    }
}

/// Opens one connection outside the pool, its connection task spawned on the current runtime.
async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// `SELECT count(*)` of the notes.
async fn count(client: &tokio_postgres::Client) -> Result<u64> {
    let row = client
        .query_one("SELECT count(*) FROM paravoid_notes", &[])
        .await?;
    u64::try_from(row.try_get::<_, i64>(0)?).map_err(|_| Error::Internal("negative count"))
}

/// Runs `work` to completion on a fresh single-threaded runtime in a thread of its own, so that
/// synchronous code (also synchronous code inside another runtime) can wait for it.
fn on_own_runtime<T, W>(work: W) -> Result<T>
where
    T: Send,
    W: Future<Output = Result<T>> + Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|_| Error::Internal("cannot start a runtime"))?
                    .block_on(work)
            })
            .join()
            .map_err(|_| Error::Internal("a database thread panicked"))?
    })
}

/// Deletes the note whose row this transaction has locked.
async fn delete_locked(txn: &Transaction<'_>, id: Uuid) -> Result<()> {
    let delete = txn
        .prepare_cached("DELETE FROM paravoid_notes WHERE id = $1")
        .await?;
    if txn.execute(&delete, &[&id]).await? != 1 {
        return Err(Error::Internal("a locked note vanished"));
    }
    Ok(())
}

/// Unix seconds as stored (`bigint`).
fn to_db_time(secs: u64) -> Result<i64> {
    i64::try_from(secs).map_err(|_| Error::Internal("time out of range"))
}

/// Unix seconds as read back.
fn from_db_time(secs: i64) -> Result<u64> {
    u64::try_from(secs).map_err(|_| Error::Internal("corrupt expiry"))
}

/// The embedded migrations, in order: `(version, name, SQL)`. Never edit an applied one; add a
/// new one instead.
const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "notes", include_str!("../../migrations/0001_notes.sql"))];

/// Key of the advisory lock that serialises migrations between instances: "paravoid" in ASCII.
const MIGRATION_LOCK: i64 = 0x7061_7261_766f_6964;

/// Connections per instance. Three instances use 48 of PostgreSQL's default 100.
const POOL_SIZE: usize = 16;

/// How long a request waits for a free connection before it is answered 503.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// How long opening a connection may take (unless the connection string sets its own).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Most expired notes deleted by one sweeper statement.
const SWEEP_BATCH: i64 = 1024;

#[cfg(test)]
#[path = "../../tests/support/pg_cluster.rs"]
mod pg_cluster;

#[cfg(test)]
mod tests;
