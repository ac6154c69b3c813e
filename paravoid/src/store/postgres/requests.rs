//! Request records in the PostgreSQL store (`store::requests`), table `paravoid_requests`
//! (migration `0010_requests.sql`): one row per request, holding no secret. A response is
//! inserted into `paravoid_notes` under the request's id, sealed like every end-to-end note, in
//! the transaction that locks the request's row (`SELECT … FOR UPDATE`) and sets `answered`:
//! of concurrent responses, on any instance, exactly one is stored. The response's files are
//! attached (`files`) in that transaction too: a refused file rolls the response back.

use qsmm_shield::note::StoredNote;
use uuid::Uuid;

use super::db_clock::NOW_SQL;
use super::epoch_keys::epoch_of;
use super::schema::{from_db_time, to_db_time};
use super::{PgStore, row};
use crate::store::envelope;
use crate::store::policy;
use crate::store::record::TOKEN_HASH_LEN;
use crate::store::requests::{
    RequestRecord, RequestStore, RequestSummary, admit_peek, admit_response,
};
use crate::{Error, Result};

/// Most expired requests deleted by one sweeper statement.
const SWEEP_BATCH: i64 = 1024;

impl RequestStore for PgStore {
    async fn insert_request(&self, id: Uuid, ttl_secs: u64, request: RequestRecord) -> Result<u64> {
        let client = self.pool.get().await?;
        let connection: &tokio_postgres::Client = &client;
        let expires_at = policy::expires_at(self.clock.read(connection).await?, ttl_secs);
        if self.max_notes > 0 {
            let full = client
                .prepare_cached("SELECT count(*) >= $1 FROM paravoid_requests")
                .await?;
            let max = i64::try_from(self.max_notes).unwrap_or(i64::MAX);
            if client
                .query_one(&full, &[&max])
                .await?
                .try_get::<_, bool>(0)?
            {
                return Err(Error::StoreFull);
            }
        }
        let insert = client
            .prepare_cached(
                "INSERT INTO paravoid_requests (id, expires_at, response_ttl_secs, claim_hash) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let inserted = client
            .execute(
                &insert,
                &[
                    &id,
                    &to_db_time(expires_at)?,
                    &to_db_time(request.response_ttl_secs)?,
                    &request.claim.as_slice(),
                ],
            )
            .await?;
        if inserted != 1 {
            return Err(Error::IdCollision);
        }
        Ok(expires_at)
    }

    async fn peek_request(&self, id: Uuid) -> Result<Option<RequestSummary>> {
        let client = self.pool.get().await?;
        let select = client
            .prepare_cached(&format!(
                "SELECT expires_at, answered, {NOW_SQL} FROM paravoid_requests WHERE id = $1"
            ))
            .await?;
        let Some(row) = client.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let summary = RequestSummary {
            expires_at: from_db_time(row.try_get(0)?)?,
            answered: row.try_get(1)?,
        };
        admit_peek(self.clock.now(row.try_get(2)?)?, summary).map(Some)
    }

    async fn respond(&self, id: Uuid, note: StoredNote, files: Vec<Uuid>) -> Result<u64> {
        if files.is_empty() {
            return self.respond_in(id, note, files).await;
        }
        // In a task of its own, as a create with files: a request dropped half-way never
        // abandons the transaction holding the files' row locks.
        let store = self.clone();
        tokio::spawn(async move { store.respond_in(id, note, files).await })
            .await
            .map_err(|_| Error::Internal("the response task failed"))?
    }

    async fn sweep_requests(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let connection: &tokio_postgres::Client = &client;
        let now = to_db_time(self.clock.read(connection).await?)?;
        let delete = client
            .prepare_cached(
                "DELETE FROM paravoid_requests WHERE id IN (\
                   SELECT id FROM paravoid_requests WHERE expires_at <= $1 \
                   ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
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

impl PgStore {
    /// The response's transaction: locks the request, inserts the note, attaches `files`,
    /// marks the request answered.
    async fn respond_in(&self, id: Uuid, note: StoredNote, files: Vec<Uuid>) -> Result<u64> {
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        let select = txn
            .prepare_cached(&format!(
                "SELECT expires_at, answered, response_ttl_secs, claim_hash, {NOW_SQL} \
                 FROM paravoid_requests WHERE id = $1 FOR UPDATE"
            ))
            .await?;
        let Some(found) = txn.query_opt(&select, &[&id]).await? else {
            return Err(Error::NotFound);
        };
        let summary = RequestSummary {
            expires_at: from_db_time(found.try_get(0)?)?,
            answered: found.try_get(1)?,
        };
        let now = self.clock.now(found.try_get(4)?)?;
        admit_response(now, &summary)?;
        let claim: &[u8] = found.try_get(3)?;
        let request = RequestRecord {
            claim: <[u8; TOKEN_HASH_LEN]>::try_from(claim).map_err(|_| Error::CorruptRecord)?,
            response_ttl_secs: from_db_time(found.try_get(2)?)?,
        };

        // Sealed as `PgStore::insert_end_to_end` seals a note.
        let plaintext = request.response_hashes().with_note(&note);
        let expires_at = policy::expires_at(now, request.response_ttl_secs);
        let epoch = epoch_of(expires_at);
        let key = self.epoch_key(epoch)?.ok_or(Error::EpochEnded)?;
        let clear = row::clear_fields(expires_at, false, true);
        let binding = row::binding(id, epoch, true, Some(&clear));
        let sealed = envelope::seal(&key, &binding, &plaintext)?;
        let mac = row::row_mac(&row::mac_key(&key), id, 0, epoch, expires_at);
        let insert = txn
            .prepare_cached(
                "INSERT INTO paravoid_notes \
                   (id, expires_at, failed_attempts, passphrase_required, end_to_end, key_epoch, \
                    sealed, row_mac) \
                 VALUES ($1, $2, 0, false, true, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let inserted = txn
            .execute(
                &insert,
                &[
                    &id,
                    &to_db_time(expires_at)?,
                    &to_db_time(epoch)?,
                    &sealed,
                    &mac,
                ],
            )
            .await?;
        if inserted != 1 {
            return Err(Error::IdCollision);
        }
        self.attach_files(&txn, id, files, expires_at).await?;
        let answered = txn
            .prepare_cached("UPDATE paravoid_requests SET answered = true WHERE id = $1")
            .await?;
        txn.execute(&answered, &[&id]).await?;
        txn.commit().await?;
        Ok(expires_at)
    }
}
