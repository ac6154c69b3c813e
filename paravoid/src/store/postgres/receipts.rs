//! Receipt records in the PostgreSQL store (`store::receipts`), table `paravoid_receipts`
//! (migration `0012_receipts.sql`): one row per receipt, keyed by the hash of its status token.
//! Every statement that deletes a note settles its receipt in the same transaction: [`settle`]
//! beside `DELETE` under the row lock, and [`SETTLE_GONE_SQL`] as a data-modifying `WITH`
//! clause of the single-statement deletes (lazy expiry and the sweeper), so exactly one
//! committed state holds both the note's deletion and its receipt's status.

use crate::store::policy::Outcome;
use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::PgStore;
use super::db_clock::NOW_SQL;
use super::schema::{from_db_time, to_db_time};
use crate::store::receipts::{
    NewReceipt, ReceiptKey, ReceiptRecord, ReceiptStatus, ReceiptStore, ReceiptView, coarse,
};
use crate::{Error, Result};

/// Most receipts deleted by one sweeper statement.
const SWEEP_BATCH: i64 = 1024;

/// A `WITH` clause, to follow a clause `gone AS (DELETE … RETURNING id)`, that settles the
/// receipts of the deleted notes as expired, dated at the minute of the note's expiry
/// (`ReceiptRecord::settled`), and makes their webhooks' deliveries due.
pub(super) const SETTLE_GONE_SQL: &str = "settled AS (\
       UPDATE paravoid_receipts \
       SET status = 2, changed_at = note_expires_at - note_expires_at % 60, note_id = NULL, \
       webhook_next_at = CASE WHEN webhook_url IS NULL THEN NULL ELSE 0 END \
       WHERE note_id IN (SELECT id FROM gone))";

/// Settles the receipt of note `id`, if it has one, as deleted for `outcome` at `now`, inside
/// `txn`, which deletes the note; its webhook's delivery, if any, becomes due.
pub(super) async fn settle(
    txn: &Transaction<'_>,
    id: Uuid,
    outcome: Outcome,
    now: u64,
) -> Result<()> {
    // The same record change as `ReceiptRecord::settled`, in SQL.
    let update = txn
        .prepare_cached(
            "UPDATE paravoid_receipts SET status = $2::smallint, note_id = NULL, changed_at = \
               CASE WHEN $2::smallint = 2 THEN note_expires_at - note_expires_at % 60 \
               ELSE $3::bigint END, \
               webhook_next_at = CASE WHEN webhook_url IS NULL THEN NULL ELSE 0 END \
             WHERE note_id = $1",
        )
        .await?;
    let status = i16::from(ReceiptStatus::from(outcome).code());
    txn.execute(&update, &[&id, &status, &to_db_time(coarse(now))?])
        .await?;
    Ok(())
}

/// Stores `receipt` as pending for `note` (created at `now`, expiring at `note_expires_at`),
/// with its webhook, inside `txn`, which inserts the note.
///
/// # Errors
///
/// [`Error::IdCollision`] if the receipt's key or the note already has a receipt (the caller
/// then drops `txn`, and the note with it), or a database error.
pub(super) async fn insert_pending(
    txn: &Transaction<'_>,
    receipt: &NewReceipt,
    note: Uuid,
    now: u64,
    note_expires_at: u64,
) -> Result<()> {
    let record = ReceiptRecord::pending(note, now, note_expires_at);
    let webhook = receipt.webhook.as_ref();
    let insert = txn
        .prepare_cached(
            "INSERT INTO paravoid_receipts \
               (token_hash, note_id, status, changed_at, note_expires_at, keep_until, \
                webhook_url, webhook_secret, webhook_id) \
             VALUES ($1, $2, 0, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .await?;
    let inserted = txn
        .execute(
            &insert,
            &[
                &receipt.key.as_slice(),
                &note,
                &to_db_time(record.changed_at)?,
                &to_db_time(record.note_expires_at)?,
                &to_db_time(record.keep_until)?,
                &webhook.map(|webhook| webhook.url.as_str()),
                &webhook.map(|webhook| webhook.secret.as_slice()),
                &webhook.map(|webhook| webhook.id.as_slice()),
            ],
        )
        .await?;
    if inserted != 1 {
        return Err(Error::IdCollision);
    }
    Ok(())
}

impl ReceiptStore for PgStore {
    async fn receipt_status(&self, key: ReceiptKey) -> Result<Option<ReceiptView>> {
        let client = self.pool.get().await?;
        let select = client
            .prepare_cached(&format!(
                "SELECT note_id, status, changed_at, note_expires_at, keep_until, {NOW_SQL} \
                 FROM paravoid_receipts WHERE token_hash = $1"
            ))
            .await?;
        let Some(row) = client.query_opt(&select, &[&key.as_slice()]).await? else {
            return Ok(None);
        };
        let status = u8::try_from(row.try_get::<_, i16>(1)?)
            .ok()
            .and_then(ReceiptStatus::from_code)
            .ok_or(Error::CorruptRecord)?;
        let record = ReceiptRecord {
            note: row.try_get(0)?,
            status,
            changed_at: from_db_time(row.try_get(2)?)?,
            note_expires_at: from_db_time(row.try_get(3)?)?,
            keep_until: from_db_time(row.try_get(4)?)?,
        };
        Ok(record.view(self.clock.now(row.try_get(5)?)?))
    }

    async fn sweep_receipts(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let connection: &tokio_postgres::Client = &client;
        let now = to_db_time(self.clock.read(connection).await?)?;
        let delete = client
            .prepare_cached(
                "DELETE FROM paravoid_receipts WHERE token_hash IN (\
                   SELECT token_hash FROM paravoid_receipts WHERE keep_until <= $1 \
                   ORDER BY keep_until LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .await?;
        let mut total = 0u64;
        loop {
            let removed = client.execute(&delete, &[&now, &SWEEP_BATCH]).await?;
            total = total.saturating_add(removed);
            if removed < SWEEP_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}
