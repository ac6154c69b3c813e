//! Creating a note row: the `--max-notes` cap over every instance, the expiry by the
//! database's clock ([`db_clock`](super::db_clock)), and the sealing under the key of the
//! expiry's epoch with the row's authentication ([`row`](super::row)). The same statements run
//! on a pooled connection or inside a transaction (a note created with its files,
//! `postgres::files`).

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::PgStore;
use super::db_clock::NOW_SQL;
use super::epoch_keys::epoch_of;
use super::row;
use super::schema::to_db_time;
use crate::store::envelope;
use crate::store::policy;
use crate::{Error, Result};

impl PgStore {
    /// Seals `plaintext` under the key of its expiry epoch and inserts the row on a pooled
    /// connection; returns its `expires_at`.
    pub(super) async fn insert_sealed(
        &self,
        id: Uuid,
        ttl_secs: u64,
        plaintext: &[u8],
        passphrase_required: bool,
        end_to_end: bool,
    ) -> Result<u64> {
        let client = self.pool.get().await?;
        self.insert_sealed_on(
            &client,
            id,
            ttl_secs,
            plaintext,
            passphrase_required,
            end_to_end,
        )
        .await
    }

    /// [`PgStore::insert_sealed`] on `client` (a connection or a transaction).
    pub(super) async fn insert_sealed_on(
        &self,
        client: &impl GenericClient,
        id: Uuid,
        ttl_secs: u64,
        plaintext: &[u8],
        passphrase_required: bool,
        end_to_end: bool,
    ) -> Result<u64> {
        let db_now = if self.max_notes > 0 {
            // Counted over every instance; creates racing on several instances can pass the
            // cap together, by at most the creates in flight.
            let full = client
                .prepare_cached(&format!(
                    "SELECT {NOW_SQL}, count(*) >= $1 FROM paravoid_notes"
                ))
                .await?;
            let max = i64::try_from(self.max_notes).unwrap_or(i64::MAX);
            let row = client.query_one(&full, &[&max]).await?;
            if row.try_get::<_, bool>(1)? {
                return Err(Error::StoreFull);
            }
            row.try_get(0)?
        } else {
            let now = client.prepare_cached(&format!("SELECT {NOW_SQL}")).await?;
            client.query_one(&now, &[]).await?.try_get(0)?
        };
        let expires_at = policy::expires_at(self.clock.now(db_now)?, ttl_secs);
        let epoch = epoch_of(expires_at);
        let key = self.epoch_key(epoch)?.ok_or(Error::EpochEnded)?;
        let clear = row::clear_fields(expires_at, passphrase_required, end_to_end);
        let binding = row::binding(id, epoch, end_to_end, Some(&clear));
        let sealed = envelope::seal(&key, &binding, plaintext)?;
        let mac = row::row_mac(&row::mac_key(&key), id, 0, epoch, expires_at);
        let insert = client
            .prepare_cached(
                "INSERT INTO paravoid_notes \
                   (id, expires_at, failed_attempts, passphrase_required, end_to_end, key_epoch, \
                    sealed, row_mac) \
                 VALUES ($1, $2, 0, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
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
                    &mac,
                ],
            )
            .await?;
        if inserted != 1 {
            return Err(Error::IdCollision);
        }
        Ok(expires_at)
    }
}
