//! How a PostgreSQL row is authenticated, so that whoever can write to the database cannot
//! change what the service decides on without the service noticing.
//!
//! - The `sealed` bytes are bound (the envelope's associated data, `store::envelope`) to the note
//!   id, the table tag of its mode, `key_epoch`, and the clear fields `expires_at`,
//!   `passphrase_required` and `end_to_end`: a row whose expiry or flags were edited, or whose
//!   sealed bytes were moved to another row, does not open.
//! - `row_mac` is HMAC-SHA-256 over (label, id, `failed_attempts`, `key_epoch`, `expires_at`)
//!   under a key derived from the epoch's sealing key, which never enters the database. It is
//!   checked before a reveal or claim acts on the row and recomputed with every update of the
//!   counter: a counter set back, or a counter and MAC copied from another row, is refused.
//!
//! A row that fails either check is deleted and the request answered
//! [`Error::CorruptRecord`](crate::Error::CorruptRecord).
//!
//! What this does not stop: putting back a whole older version of the same row (from a backup,
//! or saved before a wrong passphrase was counted), which is consistent in every column. The
//! tries such a replay wins back are bounded by the versions the writer kept, and the row still
//! dies with its epoch key.
//!
//! Rows written before the MAC existed (`row_mac` NULL) are sealed with the version 1 tags and
//! no clear fields, and are read as before; a version 2 row whose MAC was removed fails to open
//! with the version 1 binding.

use deadpool_postgres::Transaction;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use tokio_postgres::Row;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::schema::from_db_time;
use super::{PgStore, Record};
use crate::store::envelope::{Binding, KEY_LEN, RecordKey};
use crate::store::policy::Outcome;
use crate::store::policy::{Effect, NoteState};
use crate::store::record::decode_plaintext;
use crate::{Error, Result};

/// Table tag of a server-sealed note written before rows were authenticated.
const NOTES_TAG_V1: &[u8] = b"pg-notes";

/// Table tag of an end-to-end note written before rows were authenticated.
const E2E_TAG_V1: &[u8] = b"pg-e2e-notes";

/// Table tag of a server-sealed note.
const NOTES_TAG: &[u8] = b"pg-notes/v2";

/// Table tag of an end-to-end note (claim hashes, then the note).
const E2E_TAG: &[u8] = b"pg-e2e-notes/v2";

/// Domain label of the MAC key, derived from the epoch's sealing key.
const MAC_KEY_LABEL: &[u8] = b"paravoid/v1/row-mac-key";

/// Domain label at the start of every MAC input.
const MAC_LABEL: &[u8] = b"paravoid/v1/row-mac";

/// Length of the clear fields bound into the associated data.
pub(super) const CLEAR_LEN: usize = 10;

/// The clear columns a row's sealed bytes are bound to.
pub(super) fn clear_fields(
    expires_at: u64,
    passphrase_required: bool,
    end_to_end: bool,
) -> [u8; CLEAR_LEN] {
    let mut clear = [0u8; CLEAR_LEN];
    clear[..8].copy_from_slice(&expires_at.to_le_bytes());
    clear[8] = u8::from(passphrase_required);
    clear[9] = u8::from(end_to_end);
    clear
}

/// The envelope binding of a row: its mode's tag, id and epoch, and for an authenticated row
/// (`clear` set) its clear fields.
pub(super) fn binding<'a>(
    id: Uuid,
    epoch: u64,
    end_to_end: bool,
    clear: Option<&'a [u8; CLEAR_LEN]>,
) -> Binding<'a> {
    match clear {
        Some(clear) => {
            let tag = if end_to_end { E2E_TAG } else { NOTES_TAG };
            Binding::new(tag, id.as_u128(), epoch).with_clear(clear)
        }
        None => {
            let tag = if end_to_end { E2E_TAG_V1 } else { NOTES_TAG_V1 };
            Binding::new(tag, id.as_u128(), epoch)
        }
    }
}

/// The MAC key of the epoch whose sealing key is `seal`.
pub(super) fn mac_key(seal: &RecordKey) -> Zeroizing<[u8; KEY_LEN]> {
    let digest = Sha256::new()
        .chain_update(MAC_KEY_LABEL)
        .chain_update(seal.as_bytes())
        .finalize();
    Zeroizing::new(digest.into())
}

/// The MAC of a row's counter state.
fn mac(key: &[u8; KEY_LEN], id: Uuid, attempts: u8, epoch: u64, expires_at: u64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(MAC_LABEL);
    mac.update(id.as_bytes());
    mac.update(&[attempts]);
    mac.update(&epoch.to_le_bytes());
    mac.update(&expires_at.to_le_bytes());
    mac
}

/// `row_mac` for a row with this counter state.
pub(super) fn row_mac(
    key: &[u8; KEY_LEN],
    id: Uuid,
    attempts: u8,
    epoch: u64,
    expires_at: u64,
) -> Vec<u8> {
    mac(key, id, attempts, epoch, expires_at)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Whether `row_mac` matches the row's counter state (compared in constant time).
pub(super) fn mac_matches(
    key: &[u8; KEY_LEN],
    id: Uuid,
    attempts: u8,
    epoch: u64,
    expires_at: u64,
    row_mac: &[u8],
) -> bool {
    mac(key, id, attempts, epoch, expires_at)
        .verify_slice(row_mac)
        .is_ok()
}

impl PgStore {
    /// Checks and decrypts a row read with `RECORD_COLUMNS`; `None` if its key has been
    /// shredded.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptRecord`] if the row was edited: its MAC does not match its counter state,
    /// or its sealed bytes do not open with its clear fields (`row`).
    pub(super) fn record_from_row(&self, id: Uuid, row: &Row) -> Result<Option<Record>> {
        let state = NoteState {
            expires_at: from_db_time(row.try_get(0)?)?,
            attempts: u8::try_from(row.try_get::<_, i16>(1)?).map_err(|_| Error::CorruptRecord)?,
            end_to_end: row.try_get(2)?,
        };
        let epoch = from_db_time(row.try_get(3)?)?;
        let sealed: &[u8] = row.try_get(4)?;
        let row_mac: Option<&[u8]> = row.try_get(5)?;
        let passphrase_required: bool = row.try_get(6)?;
        let Some(key) = self.epoch_key(epoch)? else {
            return Ok(None);
        };
        let clear = clear_fields(state.expires_at, passphrase_required, state.end_to_end);
        let mac_key = match row_mac {
            Some(tag) => {
                let mac_key = mac_key(&key);
                if !mac_matches(&mac_key, id, state.attempts, epoch, state.expires_at, tag) {
                    return Err(Error::CorruptRecord);
                }
                Some(mac_key)
            }
            None => None,
        };
        let binding = binding(
            id,
            epoch,
            state.end_to_end,
            mac_key.as_ref().map(|_| &clear),
        );
        let plaintext = crate::store::envelope::open(&key, &binding, sealed)?;
        let (note, claim) = decode_plaintext(state.end_to_end, &plaintext)?;
        if note.needs_passphrase() != passphrase_required {
            return Err(Error::CorruptRecord);
        }
        Ok(Some(Record {
            state,
            epoch,
            mac_key,
            note,
            claim,
        }))
    }
}

/// Deletes the note whose row `txn` has locked, and settles its receipt (if any) as deleted
/// for `outcome` at `now` in the same transaction.
pub(super) async fn delete_row(
    txn: &Transaction<'_>,
    id: Uuid,
    outcome: Outcome,
    now: u64,
) -> Result<()> {
    super::receipts::settle(txn, id, outcome, now).await?;
    let delete = txn
        .prepare_cached("DELETE FROM paravoid_notes WHERE id = $1")
        .await?;
    if txn.execute(&delete, &[&id]).await? != 1 {
        return Err(Error::Internal("a locked note vanished"));
    }
    Ok(())
}

/// Applies a decision's effect to the note whose row `txn` has locked, at `now`; a new counter
/// gets its new MAC.
pub(super) async fn apply(
    txn: &Transaction<'_>,
    id: Uuid,
    record: &Record,
    effect: Effect,
    now: u64,
) -> Result<()> {
    match (effect, effect.outcome()) {
        (Effect::SetAttempts(attempts), _) => {
            let mac = record
                .mac_key
                .as_ref()
                .map(|key| row_mac(key, id, attempts, record.epoch, record.state.expires_at));
            let count = txn
                .prepare_cached(
                    "UPDATE paravoid_notes SET failed_attempts = $2, row_mac = $3 WHERE id = $1",
                )
                .await?;
            txn.execute(&count, &[&id, &i16::from(attempts), &mac])
                .await?;
            Ok(())
        }
        (_, Some(outcome)) => delete_row(txn, id, outcome, now).await,
        (_, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_covers_id_counter_epoch_and_expiry() {
        let key = mac_key(&RecordKey::from_bytes([3; KEY_LEN]));
        let id = Uuid::from_u128(7);
        let tag = row_mac(&key, id, 1, 2, 3);
        assert_eq!(tag.len(), 32);
        assert!(mac_matches(&key, id, 1, 2, 3, &tag));
        assert!(!mac_matches(&key, id, 0, 2, 3, &tag), "counter set back");
        assert!(!mac_matches(&key, id, 1, 3, 3, &tag), "another epoch");
        assert!(!mac_matches(&key, id, 1, 2, 4, &tag), "expiry moved");
        assert!(
            !mac_matches(&key, Uuid::from_u128(8), 1, 2, 3, &tag),
            "another row"
        );
        let other = mac_key(&RecordKey::from_bytes([4; KEY_LEN]));
        assert!(!mac_matches(&other, id, 1, 2, 3, &tag), "another key");
        assert!(!mac_matches(&key, id, 1, 2, 3, &tag[..31]), "truncated");
    }

    #[test]
    fn version_1_rows_keep_their_binding() {
        let clear = clear_fields(5, true, false);
        let v1 = binding(Uuid::from_u128(1), 2, false, None);
        let v2 = binding(Uuid::from_u128(1), 2, false, Some(&clear));
        assert_eq!(v1.table, b"pg-notes");
        assert!(v1.clear.is_empty());
        assert_eq!(v2.table, b"pg-notes/v2");
        assert_eq!(v2.clear, clear.as_slice());
    }
}
