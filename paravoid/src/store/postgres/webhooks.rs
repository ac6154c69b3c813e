//! Webhooks in the PostgreSQL store (`store::webhooks`): columns of the receipt's row in
//! `paravoid_receipts` (migration `0013_webhooks.sql`), so that the statement settling a receipt
//! also makes its delivery due (`receipts::settle`, `receipts::SETTLE_GONE_SQL`).
//!
//! Several instances share the outbox: a claim takes due rows `FOR UPDATE SKIP LOCKED` and
//! moves their `webhook_next_at` to the end of a lease in the same statement, so no two
//! instances claim one delivery while its lease runs; a report counts only for the attempt it
//! names, so a late report after a lease ran out cannot undo a newer claim's.

use zeroize::Zeroizing;

use super::PgStore;
use super::schema::{from_db_time, to_db_time};
use crate::store::receipts::{ReceiptKey, ReceiptStatus, WEBHOOK_ID_LEN};
use crate::store::webhooks::{Delivery, LEASE_SECS, Next, WEBHOOK_SECRET_LEN, WebhookStore, next};
use crate::{Error, Result};

impl WebhookStore for PgStore {
    async fn claim_webhooks(&self, limit: usize) -> Result<Vec<Delivery>> {
        let client = self.pool.get().await?;
        let connection: &tokio_postgres::Client = &client;
        let now = self.clock.read(connection).await?;
        let claim = client
            .prepare_cached(
                "UPDATE paravoid_receipts AS r \
                 SET webhook_next_at = $2, webhook_attempts = r.webhook_attempts + 1 \
                 FROM (SELECT token_hash FROM paravoid_receipts \
                       WHERE webhook_next_at <= $1 AND webhook_state = 0 AND status <> 0 \
                       ORDER BY webhook_next_at LIMIT $3 FOR UPDATE SKIP LOCKED) AS due \
                 WHERE r.token_hash = due.token_hash \
                 RETURNING r.token_hash, r.webhook_url, r.webhook_secret, r.webhook_id, \
                   r.status, r.changed_at, r.webhook_attempts",
            )
            .await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                &claim,
                &[
                    &to_db_time(now)?,
                    &to_db_time(now.saturating_add(LEASE_SECS))?,
                    &limit,
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let corrupt = || Error::CorruptRecord;
                let key: &[u8] = row.try_get(0)?;
                let secret_bytes: &[u8] = row.try_get(2)?;
                let id: &[u8] = row.try_get(3)?;
                let mut secret = Zeroizing::new([0u8; WEBHOOK_SECRET_LEN]);
                if secret_bytes.len() != WEBHOOK_SECRET_LEN {
                    return Err(corrupt());
                }
                secret.copy_from_slice(secret_bytes);
                Ok(Delivery {
                    key: ReceiptKey::try_from(key).map_err(|_| corrupt())?,
                    url: row.try_get(1)?,
                    secret,
                    id: <[u8; WEBHOOK_ID_LEN]>::try_from(id).map_err(|_| corrupt())?,
                    status: u8::try_from(row.try_get::<_, i16>(4)?)
                        .ok()
                        .and_then(ReceiptStatus::from_code)
                        .ok_or_else(corrupt)?,
                    at: from_db_time(row.try_get(5)?)?,
                    attempt: u8::try_from(row.try_get::<_, i16>(6)?).unwrap_or(u8::MAX),
                })
            })
            .collect()
    }

    async fn finish_webhook(&self, key: ReceiptKey, attempt: u8, delivered: bool) -> Result<()> {
        let client = self.pool.get().await?;
        let attempt_column = i16::from(attempt);
        // Claimed at 0: a retry's time is then its delay, added to the claim's time (the
        // lease's end less `LEASE_SECS`) in SQL.
        match next(attempt, delivered, 0) {
            Next::Done(state) => {
                let done = client
                    .prepare_cached(
                        "UPDATE paravoid_receipts SET webhook_state = $3, webhook_next_at = NULL, \
                           webhook_url = NULL, webhook_secret = NULL \
                         WHERE token_hash = $1 AND webhook_attempts = $2 AND webhook_state = 0",
                    )
                    .await?;
                client
                    .execute(
                        &done,
                        &[&key.as_slice(), &attempt_column, &i16::from(state.code())],
                    )
                    .await?;
            }
            Next::RetryAt(delay) => {
                let retry = client
                    .prepare_cached(
                        "UPDATE paravoid_receipts \
                         SET webhook_next_at = webhook_next_at - $4::bigint + $3::bigint \
                         WHERE token_hash = $1 AND webhook_attempts = $2 AND webhook_state = 0",
                    )
                    .await?;
                let lease = to_db_time(LEASE_SECS)?;
                client
                    .execute(
                        &retry,
                        &[
                            &key.as_slice(),
                            &attempt_column,
                            &to_db_time(delay)?,
                            &lease,
                        ],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    #[cfg(any(test, feature = "test-hooks"))]
    async fn webhook_state(
        &self,
        key: ReceiptKey,
    ) -> Result<Option<(crate::store::webhooks::WebhookState, u8)>> {
        use crate::store::webhooks::WebhookState;
        let client = self.pool.get().await?;
        let select = client
            .prepare_cached(
                "SELECT webhook_state, webhook_attempts FROM paravoid_receipts \
                 WHERE token_hash = $1 AND (webhook_id IS NOT NULL OR webhook_state <> 0)",
            )
            .await?;
        let Some(row) = client.query_opt(&select, &[&key.as_slice()]).await? else {
            return Ok(None);
        };
        let state = u8::try_from(row.try_get::<_, i16>(0)?)
            .ok()
            .and_then(WebhookState::from_code)
            .ok_or(Error::CorruptRecord)?;
        let attempts = u8::try_from(row.try_get::<_, i16>(1)?).unwrap_or(u8::MAX);
        Ok(Some((state, attempts)))
    }
}
