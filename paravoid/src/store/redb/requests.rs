//! Request records in the redb store (`store::requests`): two tables beside the notes, written
//! by the same writer thread, so a response and the answered flag commit together.
//!
//! | table | key | value |
//! |---|---|---|
//! | `requests_v1` | request id (`u128`) | version `1` ‖ `expires_at` (LE `u64`) ‖ answered (`0`/`1`) ‖ response lifetime in seconds (LE `u64`) ‖ SHA-256 of the claim token (32) |
//! | `request_expiry_v1` | `(expires_at, request id)` | `()` — the sweeper's index |
//!
//! A record holds no secret (the claim hash is one-way), so it is not sealed. The response
//! itself is an end-to-end note record under the request's id (`layout`), sealed and shredded
//! like every note; its files (`files`) are attached to it in the same write job.

use qsmm_shield::note::StoredNote;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use uuid::Uuid;

use super::files::attach_files;
use super::group_commit::Batch;
use super::{RedbStore, put_record};
use crate::store::policy;
use crate::store::record::TOKEN_HASH_LEN;
use crate::store::requests::{
    RequestRecord, RequestStore, RequestSummary, admit_peek, admit_response,
};
use crate::{Error, Result};

/// Request records by id.
pub(super) const REQUESTS: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("requests_v1");

/// `(expires_at, id)` for every request.
pub(super) const REQUEST_EXPIRY: TableDefinition<'_, (u64, u128), ()> =
    TableDefinition::new("request_expiry_v1");

/// Version byte of a request record.
const REQUEST_VERSION: u8 = 1;

/// Length of a request record.
const REQUEST_LEN: usize = 1 + 8 + 1 + 8 + TOKEN_HASH_LEN;

/// Most expired requests deleted in one writer job.
const SWEEP_BATCH: usize = 1024;

/// A decoded request record.
struct Stored {
    summary: RequestSummary,
    request: RequestRecord,
}

impl Stored {
    fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[0] = REQUEST_VERSION;
        out[1..9].copy_from_slice(&self.summary.expires_at.to_le_bytes());
        out[9] = u8::from(self.summary.answered);
        out[10..18].copy_from_slice(&self.request.response_ttl_secs.to_le_bytes());
        out[18..].copy_from_slice(&self.request.claim);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; REQUEST_LEN] = bytes.try_into().map_err(|_| Error::CorruptRecord)?;
        let (&[version], rest) = bytes.split_first_chunk::<1>().ok_or(Error::CorruptRecord)?;
        let (expires_at, rest) = rest.split_first_chunk::<8>().ok_or(Error::CorruptRecord)?;
        let (&[answered], rest) = rest.split_first_chunk::<1>().ok_or(Error::CorruptRecord)?;
        let (ttl, claim) = rest.split_first_chunk::<8>().ok_or(Error::CorruptRecord)?;
        let claim: [u8; TOKEN_HASH_LEN] = claim.try_into().map_err(|_| Error::CorruptRecord)?;
        if version != REQUEST_VERSION || answered > 1 {
            return Err(Error::CorruptRecord);
        }
        Ok(Self {
            summary: RequestSummary {
                expires_at: u64::from_le_bytes(*expires_at),
                answered: answered == 1,
            },
            request: RequestRecord {
                claim,
                response_ttl_secs: u64::from_le_bytes(*ttl),
            },
        })
    }
}

/// Reads request `key` inside the batch.
fn load(batch: &Batch<'_>, key: u128) -> Result<Option<Stored>> {
    let table = batch.txn().open_table(REQUESTS)?;
    let value = table.get(key)?;
    value.map(|value| Stored::decode(value.value())).transpose()
}

/// Creates the request tables (at open).
pub(super) fn create_tables(txn: &redb::WriteTransaction) -> Result<()> {
    txn.open_table(REQUESTS)?;
    txn.open_table(REQUEST_EXPIRY)?;
    Ok(())
}

impl RequestStore for RedbStore {
    async fn insert_request(&self, id: Uuid, ttl_secs: u64, request: RequestRecord) -> Result<u64> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let max_notes = self.max_notes;
        self.off_thread(move |store| {
            store.writer.run(move |batch| {
                let expires_at = policy::expires_at(clock.now_unix(), ttl_secs);
                let mut requests = batch.txn().open_table(REQUESTS)?;
                if max_notes > 0 && redb::ReadableTableMetadata::len(&requests)? >= max_notes {
                    return Err(Error::StoreFull);
                }
                if requests.get(key)?.is_some() {
                    return Err(Error::IdCollision);
                }
                let stored = Stored {
                    summary: RequestSummary {
                        expires_at,
                        answered: false,
                    },
                    request: request.clone(),
                };
                requests.insert(key, stored.encode().as_slice())?;
                drop(requests);
                batch
                    .txn()
                    .open_table(REQUEST_EXPIRY)?
                    .insert((expires_at, key), ())?;
                Ok(expires_at)
            })
        })
        .await
    }

    async fn peek_request(&self, id: Uuid) -> Result<Option<RequestSummary>> {
        self.off_thread(move |store| {
            let txn = store.db.begin_read()?;
            let table = match txn.open_table(REQUESTS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(err) => return Err(err.into()),
            };
            let value = table.get(id.as_u128())?;
            let Some(value) = value else {
                return Ok(None);
            };
            let summary = Stored::decode(value.value())?.summary;
            admit_peek(store.clock.now_unix(), summary).map(Some)
        })
        .await
    }

    async fn respond(&self, id: Uuid, note: StoredNote, files: Vec<Uuid>) -> Result<u64> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let max_notes = self.max_notes;
        self.off_thread(move |store| {
            store.writer.run(move |batch| {
                let now = clock.now_unix();
                let Some(mut stored) = load(batch, key)? else {
                    return Err(Error::NotFound);
                };
                admit_response(now, &stored.summary)?;
                let plaintext = stored.request.response_hashes().with_note(&note);
                let expires_at = policy::expires_at(now, stored.request.response_ttl_secs);
                // The refusals above and `put_record`'s write nothing; a file refused below
                // aborts the whole job, note included (`group_commit`).
                put_record(batch, key, expires_at, max_notes, &plaintext, (false, true))?;
                if !files.is_empty() {
                    attach_files(batch, id, &files, expires_at)?;
                }
                stored.summary.answered = true;
                batch
                    .txn()
                    .open_table(REQUESTS)?
                    .insert(key, stored.encode().as_slice())?;
                Ok(expires_at)
            })
        })
        .await
    }

    async fn sweep_requests(&self) -> Result<u64> {
        let clock = self.clock.clone();
        self.off_thread(move |store| {
            let mut total = 0u64;
            loop {
                let clock = clock.clone();
                let removed = store.writer.run(move |batch| {
                    let now = clock.now_unix();
                    let due: Vec<(u64, u128)> = batch
                        .txn()
                        .open_table(REQUEST_EXPIRY)?
                        .range((0, 0)..=(now, u128::MAX))?
                        .take(SWEEP_BATCH)
                        .map(|entry| entry.map(|(key, _)| key.value()))
                        .collect::<Result<_, _>>()?;
                    for (expires_at, id) in &due {
                        batch.txn().open_table(REQUESTS)?.remove(*id)?;
                        batch
                            .txn()
                            .open_table(REQUEST_EXPIRY)?
                            .remove((*expires_at, *id))?;
                    }
                    Ok(due.len())
                })?;
                total = total.saturating_add(u64::try_from(removed).unwrap_or(u64::MAX));
                if removed < SWEEP_BATCH {
                    return Ok(total);
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_records_round_trip_and_refuse_garbage() {
        let stored = Stored {
            summary: RequestSummary {
                expires_at: 1_700_000_000,
                answered: true,
            },
            request: RequestRecord {
                claim: [7; TOKEN_HASH_LEN],
                response_ttl_secs: 3600,
            },
        };
        let bytes = stored.encode();
        let back = Stored::decode(&bytes).unwrap();
        assert_eq!(back.summary, stored.summary);
        assert_eq!(back.request, stored.request);
        assert!(Stored::decode(&bytes[..REQUEST_LEN - 1]).is_err());
        let mut bad = bytes;
        bad[0] = 2;
        assert!(Stored::decode(&bad).is_err());
        let mut bad = bytes;
        bad[9] = 2;
        assert!(Stored::decode(&bad).is_err());
    }
}
