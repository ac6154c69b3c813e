//! The PostgreSQL schema and the connections made outside the pool: the embedded migrations,
//! the store key check, and the synchronous helpers `PgStore::open` and `len_blocking` run on
//! a runtime of their own.
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
use std::time::Duration;

use tokio_postgres::{GenericClient, NoTls};

use super::epoch_keys::EpochKeys;
use crate::error::ConfigError;
use crate::{Error, Result};

/// Applies the migrations the database lacks (module docs).
pub(super) async fn migrate(client: &mut tokio_postgres::Client) -> Result<()> {
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

/// Records the store key's fingerprint for its check epoch (unless an instance already has),
/// then compares the key file with every recorded fingerprint it can still derive: one of
/// another secret, or an old file after a rotation (`store_key`), is refused.
pub(super) async fn check_fingerprint(client: &impl GenericClient, keys: &EpochKeys) -> Result<()> {
    let (epoch, fingerprint) = keys.fingerprint();
    client
        .execute(
            "INSERT INTO paravoid_store_key_check (epoch, fingerprint) VALUES ($1, $2) \
             ON CONFLICT (epoch) DO NOTHING",
            &[&to_db_time(epoch)?, &fingerprint.as_slice()],
        )
        .await?;
    let rows = client
        .query(
            "SELECT epoch, fingerprint FROM paravoid_store_key_check WHERE epoch <= $1",
            &[&to_db_time(epoch.saturating_add(CHECK_REACH))?],
        )
        .await?;
    for row in rows {
        let recorded: &[u8] = row.try_get(1)?;
        let derived = keys.fingerprint_at(from_db_time(row.try_get(0)?)?);
        if derived.is_some_and(|derived| derived.as_slice() != recorded) {
            return Err(ConfigError::StoreKeyMismatch.into());
        }
    }
    Ok(())
}

/// How far past its own check epoch a key file checks recorded fingerprints, in epochs: each
/// costs a hash per epoch, and instances only record the next one.
const CHECK_REACH: u64 = 2 * 24 * 366;

/// Opens one connection outside the pool, its connection task spawned on the current runtime.
pub(super) async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// `SELECT count(*)` of the notes.
pub(super) async fn count(client: &tokio_postgres::Client) -> Result<u64> {
    let row = client
        .query_one("SELECT count(*) FROM paravoid_notes", &[])
        .await?;
    u64::try_from(row.try_get::<_, i64>(0)?).map_err(|_| Error::CorruptRecord)
}

/// Runs `work` to completion on a fresh single-threaded runtime in a thread of its own, so that
/// synchronous code (also synchronous code inside another runtime) can wait for it.
pub(super) fn on_own_runtime<T, W>(work: W) -> Result<T>
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

/// Unix seconds as stored (`bigint`).
pub(super) fn to_db_time(secs: u64) -> Result<i64> {
    i64::try_from(secs).map_err(|_| Error::Internal("time out of range"))
}

/// Unix seconds as read back.
pub(super) fn from_db_time(secs: i64) -> Result<u64> {
    u64::try_from(secs).map_err(|_| Error::CorruptRecord)
}

/// The embedded migrations, in order: `(version, name, SQL)`. Never edit an applied one; add a
/// new one instead.
pub(super) const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "notes",
        include_str!("../../../migrations/0001_notes.sql"),
    ),
    (
        2,
        "row_mac",
        include_str!("../../../migrations/0002_row_mac.sql"),
    ),
    (
        10,
        "requests",
        include_str!("../../../migrations/0010_requests.sql"),
    ),
    (
        11,
        "files",
        include_str!("../../../migrations/0011_files.sql"),
    ),
    (
        12,
        "receipts",
        include_str!("../../../migrations/0012_receipts.sql"),
    ),
    (
        13,
        "webhooks",
        include_str!("../../../migrations/0013_webhooks.sql"),
    ),
];

/// Key of the advisory lock that serialises migrations between instances: "paravoid" in ASCII.
pub(super) const MIGRATION_LOCK: i64 = 0x7061_7261_766f_6964;

/// Connections per instance. Three instances use 48 of PostgreSQL's default 100.
pub(super) const POOL_SIZE: usize = 16;

/// How long a request waits for a free connection before it is answered 503.
pub(super) const POOL_WAIT: Duration = Duration::from_secs(5);

/// How long opening a connection may take (unless the connection string sets its own).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
