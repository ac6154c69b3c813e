//! Receipt records in the redb store (`store::receipts`): three tables beside the notes, written
//! by the same writer thread, so that a note's deletion and its receipt's new status commit in
//! one transaction ([`settle`], called by `layout::delete`), with the delivery of the receipt's
//! webhook, if any, becoming due (`webhooks`).
//!
//! | table | key | value |
//! |---|---|---|
//! | `receipts_v1` | SHA-256 of the status token (32 bytes) | version `1` ‖ status code ‖ changed at (LE `u64`) ‖ note expiry (LE `u64`) ‖ kept until (LE `u64`) ‖ note present (`0`/`1`) ‖ note id (16, zero once settled) |
//! | `receipt_notes_v1` | note id (`u128`) | SHA-256 of the status token — only while the note lives |
//! | `receipt_expiry_v1` | `(kept until, token hash)` | `()` — the sweeper's index |
//!
//! A record holds no secret (the token hash is one-way) and, once settled, no note id.

use crate::store::policy::Outcome;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use uuid::Uuid;

use super::RedbStore;
use super::group_commit::Batch;
use crate::store::receipts::{
    NewReceipt, ReceiptKey, ReceiptRecord, ReceiptStatus, ReceiptStore, ReceiptView,
};
use crate::{Error, Result};

/// Receipt records by token hash.
const RECEIPTS: TableDefinition<'_, ReceiptKey, &[u8]> = TableDefinition::new("receipts_v1");

/// The token hash of every pending receipt, by note id.
const RECEIPT_NOTES: TableDefinition<'_, u128, ReceiptKey> =
    TableDefinition::new("receipt_notes_v1");

/// `(keep_until, token hash)` for every receipt.
const RECEIPT_EXPIRY: TableDefinition<'_, (u64, ReceiptKey), ()> =
    TableDefinition::new("receipt_expiry_v1");

/// Version byte of a receipt record.
const RECEIPT_VERSION: u8 = 1;

/// Length of a receipt record.
const RECORD_LEN: usize = 1 + 1 + 8 + 8 + 8 + 1 + 16;

/// Most receipts deleted in one writer job.
const SWEEP_BATCH: usize = 1024;

fn encode(record: &ReceiptRecord) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    out[0] = RECEIPT_VERSION;
    out[1] = record.status.code();
    out[2..10].copy_from_slice(&record.changed_at.to_le_bytes());
    out[10..18].copy_from_slice(&record.note_expires_at.to_le_bytes());
    out[18..26].copy_from_slice(&record.keep_until.to_le_bytes());
    if let Some(note) = record.note {
        out[26] = 1;
        out[27..].copy_from_slice(note.as_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Result<ReceiptRecord> {
    let corrupt = || Error::CorruptRecord;
    let bytes: &[u8; RECORD_LEN] = bytes.try_into().map_err(|_| corrupt())?;
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|slice| <[u8; 8]>::try_from(slice).ok())
            .map(u64::from_le_bytes)
            .ok_or_else(corrupt)
    };
    let status = ReceiptStatus::from_code(bytes[1]).ok_or_else(corrupt)?;
    let note = match bytes[26] {
        0 => None,
        1 => Some(Uuid::from_slice(&bytes[27..]).map_err(|_| corrupt())?),
        _ => return Err(corrupt()),
    };
    if bytes[0] != RECEIPT_VERSION || note.is_some() != (status == ReceiptStatus::Pending) {
        return Err(corrupt());
    }
    Ok(ReceiptRecord {
        note,
        status,
        changed_at: u64_at(2)?,
        note_expires_at: u64_at(10)?,
        keep_until: u64_at(18)?,
    })
}

/// Creates the receipt tables (at open).
pub(super) fn create_tables(txn: &redb::WriteTransaction) -> Result<()> {
    txn.open_table(RECEIPTS)?;
    txn.open_table(RECEIPT_NOTES)?;
    txn.open_table(RECEIPT_EXPIRY)?;
    Ok(())
}

/// Settles the receipt of note `note`, if it has one, as deleted for `outcome` at `now`, inside
/// the batch that deletes the note.
pub(super) fn settle(batch: &Batch<'_>, note: u128, outcome: Outcome, now: u64) -> Result<()> {
    let Some(key) = batch
        .txn()
        .open_table(RECEIPT_NOTES)?
        .remove(note)?
        .map(|value| value.value())
    else {
        return Ok(());
    };
    let mut receipts = batch.txn().open_table(RECEIPTS)?;
    let Some(record) = receipts
        .get(key)?
        .map(|value| decode(value.value()))
        .transpose()?
    else {
        return Ok(());
    };
    let settled = record.settled(outcome, now);
    receipts.insert(key, encode(&settled).as_slice())?;
    super::webhooks::make_due(batch, key, (settled.status, settled.changed_at), now)
}

/// Whether `receipt` can be stored for `note` in this batch: [`Error::IdCollision`] if its key
/// or the note already has a receipt. Writes nothing, so a refusal leaves the batch unchanged.
pub(super) fn check_free(batch: &Batch<'_>, receipt: &NewReceipt, note: Uuid) -> Result<()> {
    let receipts = batch.txn().open_table(RECEIPTS)?;
    let notes = batch.txn().open_table(RECEIPT_NOTES)?;
    if receipts.get(receipt.key)?.is_some() || notes.get(note.as_u128())?.is_some() {
        return Err(Error::IdCollision);
    }
    Ok(())
}

/// Stores `receipt` as pending for `note` (created at `now`, expiring at `note_expires_at`),
/// with its webhook, in the batch that inserts the note; [`check_free`] first.
pub(super) fn put_pending(
    batch: &Batch<'_>,
    receipt: &NewReceipt,
    note: Uuid,
    now: u64,
    note_expires_at: u64,
) -> Result<()> {
    let key = receipt.key;
    let record = ReceiptRecord::pending(note, now, note_expires_at);
    batch
        .txn()
        .open_table(RECEIPTS)?
        .insert(key, encode(&record).as_slice())?;
    batch
        .txn()
        .open_table(RECEIPT_NOTES)?
        .insert(note.as_u128(), key)?;
    batch
        .txn()
        .open_table(RECEIPT_EXPIRY)?
        .insert((record.keep_until, key), ())?;
    if let Some(webhook) = &receipt.webhook {
        super::webhooks::insert(batch, key, webhook)?;
    }
    Ok(())
}

impl ReceiptStore for RedbStore {
    async fn receipt_status(&self, key: ReceiptKey) -> Result<Option<ReceiptView>> {
        self.off_thread(move |store| {
            let txn = store.db.begin_read()?;
            let table = match txn.open_table(RECEIPTS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(err) => return Err(err.into()),
            };
            let Some(value) = table.get(key)? else {
                return Ok(None);
            };
            Ok(decode(value.value())?.view(store.clock.now_unix()))
        })
        .await
    }

    async fn sweep_receipts(&self) -> Result<u64> {
        let clock = self.clock.clone();
        self.off_thread(move |store| {
            let mut total = 0u64;
            loop {
                let clock = clock.clone();
                let removed = store.writer.run(move |batch| {
                    let now = clock.now_unix();
                    let due: Vec<(u64, ReceiptKey)> = batch
                        .txn()
                        .open_table(RECEIPT_EXPIRY)?
                        .range((0, [0; 32])..=(now, [u8::MAX; 32]))?
                        .take(SWEEP_BATCH)
                        .map(|entry| entry.map(|(key, _)| key.value()))
                        .collect::<Result<_, _>>()?;
                    for (keep_until, key) in &due {
                        let record = batch
                            .txn()
                            .open_table(RECEIPTS)?
                            .remove(key)?
                            .map(|value| decode(value.value()));
                        // A receipt whose note somehow outlived it: forget the link too.
                        if let Some(Ok(ReceiptRecord {
                            note: Some(note), ..
                        })) = record
                        {
                            batch
                                .txn()
                                .open_table(RECEIPT_NOTES)?
                                .remove(note.as_u128())?;
                        }
                        batch
                            .txn()
                            .open_table(RECEIPT_EXPIRY)?
                            .remove((*keep_until, *key))?;
                        super::webhooks::forget(batch, *key)?;
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
    fn receipt_records_round_trip_and_refuse_garbage() {
        let pending = ReceiptRecord::pending(Uuid::from_u128(9), 1_000, 5_000);
        let bytes = encode(&pending);
        assert_eq!(decode(&bytes).unwrap(), pending);
        let settled = pending.settled(Outcome::Destroyed, 2_000);
        assert_eq!(decode(&encode(&settled)).unwrap(), settled);
        assert!(decode(&bytes[..RECORD_LEN - 1]).is_err());
        for (at, byte) in [(0, 2), (1, 9), (26, 2), (26, 0)] {
            let mut bad = bytes;
            bad[at] = byte;
            assert!(decode(&bad).is_err(), "byte {at} = {byte}");
        }
    }
}
