//! Store key rotation on PostgreSQL (`paravoid store-key rotate`): a new key file whose hour keys
//! from the next hour on come from a new random chain, the rows sealed for those hours re-sealed
//! under it, and the old file refused from then on.
//!
//! In one transaction holding the migration lock (so no instance starts meanwhile), with no
//! paravoid instance connected:
//!
//! 1. the old key file is opened and checked against the database (a wrong file is refused);
//! 2. the new file is written ([`EpochKeys::rotate`]): the old chain for the hours before the
//!    next one `E`, a new random chain from `E` on;
//! 3. every row sealed for an hour from `E` on is checked (its MAC and envelope under the old
//!    key) and re-sealed under the new key, with its counter MAC recomputed; a row that fails its
//!    check is left as it is, to be destroyed when it is next read;
//! 4. the fingerprints from `E` on are replaced by the new chain's, so that an instance started
//!    with the old file is refused.
//!
//! The new file is written before the commit and removed if anything fails: until the commit
//! the old file stays the valid one, after it the new one. The old chain leaves the new file by
//! itself once its hours have passed (`epoch_keys`).
//!
//! What a leaked copy of the old file still opens: notes expiring before `E` (at most the hour
//! of the rotation and the grace period), and, with a copy of the database taken before the
//! rotation (dead tuples, WAL, backups), the notes sealed then.

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::db_clock::DbClock;
use super::epoch_keys::{EpochKeys, epoch_of};
use super::row;
use super::schema::{
    CONNECT_TIMEOUT, MIGRATION_LOCK, check_fingerprint, connect, from_db_time, migrate,
    on_own_runtime, to_db_time,
};
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::store::envelope;
use crate::{Error, Result};

/// The `application_name` of the instances, whose connections a rotation waits for.
const INSTANCE_NAME: &str = "paravoid";

/// How long a rotation waits for the instances' connections to close.
const INSTANCES_WAIT: Duration = Duration::from_secs(5);

/// Rows re-sealed per statement.
const BATCH: i64 = 256;

/// What a rotation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// Unix time from which notes expire under the new chain's keys (the start of the next
    /// hour); notes expiring earlier stay under the old chain until they expire.
    pub new_keys_from: u64,
    /// Rows re-sealed under the new chain.
    pub resealed: u64,
    /// Rows left as they were because they fail their authentication (destroyed when read).
    pub skipped: u64,
}

/// Rotates the store key of the database at `url`: reads the key file `key_file`, writes the
/// new one to `out` (which must not exist) and re-seals the rows (module docs).
pub(crate) fn rotate(
    url: &str,
    key_file: &Path,
    out: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Rotation> {
    let mut config =
        tokio_postgres::Config::from_str(url).map_err(|_| ConfigError::ConnectionString)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("paravoid-store-key");
    let clock = DbClock::new(clock);
    let result = on_own_runtime(async {
        let mut client = connect(&config).await?;
        migrate(&mut client).await?;
        let txn = client.transaction().await?;
        txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        wait_for_instances(&txn).await?;
        let keys = EpochKeys::open(key_file, clock.read(&txn).await?)?;
        check_fingerprint(&txn, &keys).await?;
        let from = epoch_of(clock.read(&txn).await?).saturating_add(1);
        let rotated = keys.rotate(from, out)?;
        let written = async {
            let (resealed, skipped) = reseal(&txn, &keys, &rotated, from).await?;
            txn.execute(
                "DELETE FROM paravoid_store_key_check WHERE epoch >= $1",
                &[&to_db_time(from)?],
            )
            .await?;
            check_fingerprint(&txn, &rotated).await?;
            txn.commit().await?;
            Ok(Rotation {
                new_keys_from: from
                    .saturating_mul(super::epoch_keys::EPOCH_SECS)
                    .saturating_add(super::epoch_keys::ORIGIN),
                resealed,
                skipped,
            })
        }
        .await;
        if written.is_err() {
            // Never committed: the old file is still the valid one.
            drop(rotated);
            if let Err(err) = std::fs::remove_file(out) {
                tracing::warn!(error = %err, "cannot remove the unused new store key file");
            }
        }
        written
    });
    if let Ok(rotation) = &result {
        tracing::info!(
            resealed = rotation.resealed,
            skipped = rotation.skipped,
            "rotated the store key"
        );
    }
    result
}

/// Waits until no instance is connected to the database (refusing after [`INSTANCES_WAIT`]).
async fn wait_for_instances(txn: &tokio_postgres::Transaction<'_>) -> Result<()> {
    let started = Instant::now();
    loop {
        let connected: i64 = txn
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1",
                &[&INSTANCE_NAME],
            )
            .await?
            .try_get(0)?;
        if connected == 0 {
            return Ok(());
        }
        if started.elapsed() >= INSTANCES_WAIT {
            return Err(ConfigError::InstancesRunning { connected }.into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Re-seals every row of an epoch from `from` on under `rotated`'s key; returns how many were
/// re-sealed and how many failed their check under `keys` and were left.
async fn reseal(
    txn: &tokio_postgres::Transaction<'_>,
    keys: &EpochKeys,
    rotated: &EpochKeys,
    from: u64,
) -> Result<(u64, u64)> {
    let select = txn
        .prepare(
            "SELECT id, expires_at, failed_attempts, end_to_end, key_epoch, sealed, row_mac, \
               passphrase_required \
             FROM paravoid_notes WHERE key_epoch >= $1 AND id > $2 \
             ORDER BY id LIMIT $3 FOR UPDATE",
        )
        .await?;
    let update = txn
        .prepare("UPDATE paravoid_notes SET sealed = $2, row_mac = $3 WHERE id = $1")
        .await?;
    let (mut resealed, mut skipped) = (0u64, 0u64);
    let mut after = Uuid::nil();
    loop {
        let rows = txn
            .query(&select, &[&to_db_time(from)?, &after, &BATCH])
            .await?;
        for row in &rows {
            let id: Uuid = row.try_get(0)?;
            after = id;
            let expires_at = from_db_time(row.try_get(1)?)?;
            let attempts =
                u8::try_from(row.try_get::<_, i16>(2)?).map_err(|_| Error::CorruptRecord)?;
            let end_to_end: bool = row.try_get(3)?;
            let epoch = from_db_time(row.try_get(4)?)?;
            let sealed: &[u8] = row.try_get(5)?;
            let tag: Option<&[u8]> = row.try_get(6)?;
            let clear = row::clear_fields(expires_at, row.try_get(7)?, end_to_end);
            let (Some(old), Some(new)) = (keys.key(epoch), rotated.key(epoch)) else {
                skipped += 1;
                continue;
            };
            let old_mac = row::mac_key(&old);
            if tag.is_some_and(|tag| {
                !row::mac_matches(&old_mac, id, attempts, epoch, expires_at, tag)
            }) {
                skipped += 1;
                continue;
            }
            let binding = row::binding(id, epoch, end_to_end, tag.map(|_| &clear));
            let Ok(plaintext) = envelope::open(&old, &binding, sealed) else {
                skipped += 1;
                continue;
            };
            let sealed = envelope::seal(&new, &binding, &plaintext)?;
            let mac =
                tag.map(|_| row::row_mac(&row::mac_key(&new), id, attempts, epoch, expires_at));
            txn.execute(&update, &[&id, &sealed, &mac]).await?;
            resealed += 1;
        }
        if rows.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok((resealed, skipped));
        }
    }
}
