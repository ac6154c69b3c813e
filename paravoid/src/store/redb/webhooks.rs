//! Webhooks in the redb store (`store::webhooks`): two tables beside the receipts, written by
//! the same writer thread, so that a receipt's settlement and its delivery becoming due commit
//! in one transaction ([`make_due`], called by `receipts::settle`).
//!
//! | table | key | value |
//! |---|---|---|
//! | `webhooks_v1` | SHA-256 of the status token | version `1` ‖ state ‖ attempts ‖ next attempt at (LE `u64`, `u64::MAX`: not due) ‖ receipt status code (`0` until settled) ‖ receipt time (LE `u64`) ‖ webhook id (16) ‖ secret (32, zero once done) ‖ URL (UTF-8, empty once done) |
//! | `webhook_due_v1` | `(next attempt at, token hash)` | `()` — the outbox, only while due |
//!
//! The secret is kept in the clear: see paravoid's `SECURITY.md` (the note keys are shredded
//! when the note goes, before the delivery needs it). A delivered or abandoned webhook keeps
//! only its state and attempts until the receipt is swept ([`forget`]).

use redb::{ReadableTable, TableDefinition};
use zeroize::Zeroizing;

use super::RedbStore;
use super::group_commit::Batch;
use crate::store::receipts::{NewWebhook, ReceiptKey, ReceiptStatus, WEBHOOK_ID_LEN};
use crate::store::webhooks::{
    Delivery, LEASE_SECS, Next, WEBHOOK_SECRET_LEN, WebhookState, WebhookStore, next,
};
use crate::{Error, Result};

/// Webhooks by token hash.
const WEBHOOKS: TableDefinition<'_, ReceiptKey, &[u8]> = TableDefinition::new("webhooks_v1");

/// `(next attempt at, token hash)` of every due delivery.
const WEBHOOK_DUE: TableDefinition<'_, (u64, ReceiptKey), ()> =
    TableDefinition::new("webhook_due_v1");

/// Version byte of a webhook record.
const VERSION: u8 = 1;

/// Length of a record before its URL.
const HEADER_LEN: usize = 1 + 1 + 1 + 8 + 1 + 8 + WEBHOOK_ID_LEN + WEBHOOK_SECRET_LEN;

/// Where the webhook id starts.
const ID_AT: usize = 1 + 1 + 1 + 8 + 1 + 8;

/// `next_at` of a webhook that is not due.
const NOT_DUE: u64 = u64::MAX;

/// A stored webhook.
struct Record {
    state: WebhookState,
    attempts: u8,
    next_at: u64,
    /// The settled receipt's status (pending until settled) and coarse time.
    status: ReceiptStatus,
    at: u64,
    id: [u8; WEBHOOK_ID_LEN],
    secret: Zeroizing<[u8; WEBHOOK_SECRET_LEN]>,
    url: String,
}

fn encode(record: &Record) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + record.url.len()));
    out.extend_from_slice(&[VERSION, record.state.code(), record.attempts]);
    out.extend_from_slice(&record.next_at.to_le_bytes());
    out.push(record.status.code());
    out.extend_from_slice(&record.at.to_le_bytes());
    out.extend_from_slice(&record.id);
    out.extend_from_slice(record.secret.as_ref());
    out.extend_from_slice(record.url.as_bytes());
    out
}

fn decode(bytes: &[u8]) -> Result<Record> {
    let corrupt = || Error::CorruptRecord;
    if bytes.len() < HEADER_LEN || bytes[0] != VERSION {
        return Err(corrupt());
    }
    let state = WebhookState::from_code(bytes[1]).ok_or_else(corrupt)?;
    let next_at = u64::from_le_bytes(bytes[3..11].try_into().map_err(|_| corrupt())?);
    let status = ReceiptStatus::from_code(bytes[11]).ok_or_else(corrupt)?;
    let at = u64::from_le_bytes(bytes[12..ID_AT].try_into().map_err(|_| corrupt())?);
    let id = bytes[ID_AT..ID_AT + WEBHOOK_ID_LEN]
        .try_into()
        .map_err(|_| corrupt())?;
    let mut secret = Zeroizing::new([0u8; WEBHOOK_SECRET_LEN]);
    secret.copy_from_slice(&bytes[ID_AT + WEBHOOK_ID_LEN..HEADER_LEN]);
    let url = std::str::from_utf8(&bytes[HEADER_LEN..])
        .map_err(|_| corrupt())?
        .to_owned();
    Ok(Record {
        state,
        attempts: bytes[2],
        next_at,
        status,
        at,
        id,
        secret,
        url,
    })
}

/// Creates the webhook tables (at open).
pub(super) fn create_tables(txn: &redb::WriteTransaction) -> Result<()> {
    txn.open_table(WEBHOOKS)?;
    txn.open_table(WEBHOOK_DUE)?;
    Ok(())
}

/// Stores `webhook` for the new receipt `key`, not due, inside the batch that stores the
/// receipt.
pub(super) fn insert(batch: &Batch<'_>, key: ReceiptKey, webhook: &NewWebhook) -> Result<()> {
    let record = Record {
        state: WebhookState::Active,
        attempts: 0,
        next_at: NOT_DUE,
        status: ReceiptStatus::Pending,
        at: 0,
        id: webhook.id,
        secret: webhook.secret.clone(),
        url: webhook.url.clone(),
    };
    batch
        .txn()
        .open_table(WEBHOOKS)?
        .insert(key, encode(&record).as_slice())?;
    Ok(())
}

/// Makes the delivery of receipt `key`'s webhook, if it has one, due at `now`, reporting
/// `status` at `at`, inside the batch that settles the receipt.
pub(super) fn make_due(
    batch: &Batch<'_>,
    key: ReceiptKey,
    (status, at): (ReceiptStatus, u64),
    now: u64,
) -> Result<()> {
    let mut webhooks = batch.txn().open_table(WEBHOOKS)?;
    let Some(mut record) = webhooks
        .get(key)?
        .map(|value| decode(value.value()))
        .transpose()?
    else {
        return Ok(());
    };
    if record.state != WebhookState::Active || record.next_at != NOT_DUE {
        return Ok(());
    }
    record.next_at = now;
    record.status = status;
    record.at = at;
    webhooks.insert(key, encode(&record).as_slice())?;
    batch
        .txn()
        .open_table(WEBHOOK_DUE)?
        .insert((now, key), ())?;
    Ok(())
}

/// Deletes the webhook of receipt `key`, if any, inside the batch that deletes the receipt.
pub(super) fn forget(batch: &Batch<'_>, key: ReceiptKey) -> Result<()> {
    let removed = batch
        .txn()
        .open_table(WEBHOOKS)?
        .remove(key)?
        .map(|value| decode(value.value()))
        .transpose()?;
    if let Some(record) = removed
        && record.next_at != NOT_DUE
    {
        batch
            .txn()
            .open_table(WEBHOOK_DUE)?
            .remove((record.next_at, key))?;
    }
    Ok(())
}

/// Moves the delivery `key` from `record.next_at` to `next_at` in the record and the outbox.
fn reschedule(batch: &Batch<'_>, key: ReceiptKey, record: &mut Record, next_at: u64) -> Result<()> {
    let mut due = batch.txn().open_table(WEBHOOK_DUE)?;
    if record.next_at != NOT_DUE {
        due.remove((record.next_at, key))?;
    }
    if next_at != NOT_DUE {
        due.insert((next_at, key), ())?;
    }
    record.next_at = next_at;
    Ok(())
}

impl WebhookStore for RedbStore {
    async fn claim_webhooks(&self, limit: usize) -> Result<Vec<Delivery>> {
        let clock = self.clock.clone();
        self.off_thread(move |store| {
            store.writer.run(move |batch| {
                let now = clock.now_unix();
                let due: Vec<(u64, ReceiptKey)> = batch
                    .txn()
                    .open_table(WEBHOOK_DUE)?
                    .range((0, [0; 32])..=(now, [u8::MAX; 32]))?
                    .take(limit)
                    .map(|entry| entry.map(|(key, _)| key.value()))
                    .collect::<Result<_, _>>()?;
                let mut claimed = Vec::with_capacity(due.len());
                for (_, key) in due {
                    let Some(mut record) = batch
                        .txn()
                        .open_table(WEBHOOKS)?
                        .get(key)?
                        .map(|value| decode(value.value()))
                        .transpose()?
                    else {
                        continue;
                    };
                    if record.state != WebhookState::Active
                        || record.status == ReceiptStatus::Pending
                    {
                        // Nothing to report (cannot happen with a consistent record).
                        reschedule(batch, key, &mut record, NOT_DUE)?;
                        batch
                            .txn()
                            .open_table(WEBHOOKS)?
                            .insert(key, encode(&record).as_slice())?;
                        continue;
                    }
                    record.attempts = record.attempts.saturating_add(1);
                    reschedule(batch, key, &mut record, now.saturating_add(LEASE_SECS))?;
                    batch
                        .txn()
                        .open_table(WEBHOOKS)?
                        .insert(key, encode(&record).as_slice())?;
                    claimed.push(Delivery {
                        key,
                        url: record.url.clone(),
                        secret: record.secret.clone(),
                        id: record.id,
                        status: record.status,
                        at: record.at,
                        attempt: record.attempts,
                    });
                }
                Ok(claimed)
            })
        })
        .await
    }

    async fn finish_webhook(&self, key: ReceiptKey, attempt: u8, delivered: bool) -> Result<()> {
        self.off_thread(move |store| {
            store.writer.run(move |batch| {
                let Some(mut record) = batch
                    .txn()
                    .open_table(WEBHOOKS)?
                    .get(key)?
                    .map(|value| decode(value.value()))
                    .transpose()?
                else {
                    return Ok(());
                };
                if record.state != WebhookState::Active || record.attempts != attempt {
                    return Ok(());
                }
                let claimed_at = record.next_at.saturating_sub(LEASE_SECS);
                match next(attempt, delivered, claimed_at) {
                    Next::Done(state) => {
                        reschedule(batch, key, &mut record, NOT_DUE)?;
                        record.state = state;
                        record.secret = Zeroizing::new([0; WEBHOOK_SECRET_LEN]);
                        record.url = String::new();
                    }
                    Next::RetryAt(at) => reschedule(batch, key, &mut record, at)?,
                }
                batch
                    .txn()
                    .open_table(WEBHOOKS)?
                    .insert(key, encode(&record).as_slice())?;
                Ok(())
            })
        })
        .await
    }

    #[cfg(any(test, feature = "test-hooks"))]
    async fn webhook_state(&self, key: ReceiptKey) -> Result<Option<(WebhookState, u8)>> {
        use redb::{ReadableDatabase as _, TableError};
        self.off_thread(move |store| {
            let txn = store.db.begin_read()?;
            let table = match txn.open_table(WEBHOOKS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(err) => return Err(err.into()),
            };
            let Some(value) = table.get(key)? else {
                return Ok(None);
            };
            let record = decode(value.value())?;
            Ok(Some((record.state, record.attempts)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_records_round_trip_and_refuse_garbage() {
        let record = Record {
            state: WebhookState::Active,
            attempts: 2,
            next_at: 77,
            status: ReceiptStatus::Destroyed,
            at: 1_800_000_060,
            id: [5; WEBHOOK_ID_LEN],
            secret: Zeroizing::new([9; WEBHOOK_SECRET_LEN]),
            url: "https://hooks.example.com/é".to_owned(),
        };
        let bytes = encode(&record);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.state, record.state);
        assert_eq!(back.attempts, 2);
        assert_eq!(back.next_at, 77);
        assert_eq!(back.status, ReceiptStatus::Destroyed);
        assert_eq!(back.at, 1_800_000_060);
        assert_eq!(back.id, record.id);
        assert_eq!(*back.secret, *record.secret);
        assert_eq!(back.url, record.url);
        assert!(decode(&bytes[..HEADER_LEN - 1]).is_err());
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert!(decode(&bad).is_err());
        for at in [1, 11] {
            let mut bad = bytes.clone();
            bad[at] = 7;
            assert!(decode(&bad).is_err(), "byte {at}");
        }
        let mut bad = bytes.to_vec();
        bad.push(0xff);
        assert!(decode(&bad).is_err());
    }
}
