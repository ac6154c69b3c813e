//! Files of end-to-end notes in PostgreSQL (`store::files` has the life of a file), migration
//! `0011_files.sql`:
//!
//! | table | column | content |
//! |---|---|---|
//! | `paravoid_files` | `id uuid` (primary key) | the upload's id |
//! | | `state smallint` | 0 uploading, 1 complete, 2 attached to a note, 3 handed out by a claim |
//! | | `expires_at bigint` (indexed) | Unix seconds (database clock) at which the file is deleted |
//! | | `sealed_size bigint` | length of the sealed stream, once complete |
//! | | `note uuid`, `position smallint` | the note and manifest index, once attached (unique pair) |
//! | | `token_hash bytea` | SHA-256 of the download token, once claimed |
//! | | `row_mac bytea` | HMAC-SHA-256 of every other column (below) |
//! | `paravoid_file_chunks` | `file uuid`, `sequence integer` (primary key) | the file (rows deleted with it) and the chunk's place |
//! | | `sealed bytea` | one sealed chunk as uploaded: 1 to 65,552 bytes, stored without compression |
//!
//! **Bounded rows, bounded memory.** An upload is inserted as it arrives, one row per sealed
//! chunk and one statement per 16 chunks (`unnest` of two arrays); a download reads 16 rows at
//! a time through a portal. Neither side ever holds a file whole.
//!
//! **What is sealed, what is authenticated.** The chunks are sealed by the client (the STREAM
//! construction of `qsmm_shield::attachment`, under a file key that travels only inside the
//! sealed note): they are stored as they come, since a key of the server's would add nothing a
//! database copy could not already lack — without the note, which its epoch key shreds at the
//! end of its expiry hour, no chunk opens; and a chunk moved, dropped or swapped fails the
//! client's check. The clear columns decide what the server does, so, like a note row's counter
//! (`row`), they are authenticated: `row_mac` covers the id, state, expiry, size, note, position
//! and token hash, under the row MAC key of the epoch of the file's expiry, and is recomputed at
//! every change of state. A row that fails it is refused and deleted, never acted on; a row
//! whose epoch key is shredded has expired.
//!
//! **Transactions.** A note is created and its files attached in one transaction (all or
//! none); a claim hands the files out (new token hash, new expiry) in the transaction that
//! deletes the note, so no crash between the two leaves them unreachable. A download opens a
//! read-only `REPEATABLE READ` transaction (its snapshot taken by its first statement), then on
//! a second connection locks the file's row (`FOR UPDATE`), checks state, token (constant time)
//! and expiry by the database clock, deletes the row with its chunks and commits; only then
//! does it stream the chunks from the snapshot, which still sees them. Of two downloads at once,
//! on any instances, the second waits for the row lock and finds no row: 404, as for a wrong
//! token or index, or an expired file. At most half the pool's connections serve downloads, so
//! downloads waiting for their second connection never exhaust the pool.
//!
//! **Sweep.** Files past their expiry (uploads never attached, files of expired notes, claimed
//! files never downloaded) are deleted in batches with `FOR UPDATE SKIP LOCKED`.

use axum::body::{Body, Bytes};
use deadpool_postgres::{GenericClient, Transaction};
use hmac::{Hmac, KeyInit as _, Mac as _};
use http_body_util::channel::Sender;
use qsmm_shield::note::StoredNote;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use tokio_postgres::{IsolationLevel, Row};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::db_clock::NOW_SQL;
use super::epoch_keys::epoch_of;
use super::schema::{POOL_WAIT, from_db_time, to_db_time};
use super::{PgStore, row};
use crate::store::NoteStore as _;
use crate::store::envelope::KEY_LEN;
use crate::store::files::{ChunkRow, Download, FileStore};
use crate::store::policy;
use crate::store::receipts::NewReceipt;
use crate::store::{ClaimHashes, TOKEN_HASH_LEN, Tokens};
use crate::{Error, Result};

/// `state`: an upload in progress.
const UPLOADING: i16 = 0;
/// `state`: a complete upload, not attached.
const COMPLETE: i16 = 1;
/// `state`: attached to a note.
const ATTACHED: i16 = 2;
/// `state`: handed out by a claim, waiting for its download.
const CLAIMED: i16 = 3;

/// The columns [`FileRow::from_row`] reads, in its order.
const FILE_COLUMNS: &str = "state, expires_at, sealed_size, note, position, token_hash, row_mac";

/// Domain label at the start of every file MAC input.
const FILE_MAC_LABEL: &[u8] = b"paravoid/v1/file-mac";

/// Chunk rows fetched at once while downloading (1 MiB).
const ROWS_PER_FETCH: i32 = 16;

/// Most expired files deleted by one sweeper statement (each may have 1,600 chunk rows).
const SWEEP_BATCH: i64 = 16;

/// A row of `paravoid_files`, decoded.
#[derive(Clone, Debug)]
struct FileRow {
    id: Uuid,
    state: i16,
    expires_at: u64,
    sealed_size: u64,
    note: Option<Uuid>,
    position: Option<i16>,
    token_hash: Option<[u8; TOKEN_HASH_LEN]>,
}

impl FileRow {
    /// A new upload.
    const fn uploading(id: Uuid, expires_at: u64) -> Self {
        Self {
            id,
            state: UPLOADING,
            expires_at,
            sealed_size: 0,
            note: None,
            position: None,
            token_hash: None,
        }
    }

    /// Decodes a row read with [`FILE_COLUMNS`] (from column 0); returns it with its MAC.
    fn from_row(id: Uuid, row: &Row) -> Result<(Self, Vec<u8>)> {
        let token_hash: Option<&[u8]> = row.try_get(5)?;
        let file = Self {
            id,
            state: row.try_get(0)?,
            expires_at: from_db_time(row.try_get(1)?)?,
            sealed_size: from_db_time(row.try_get(2)?)?,
            note: row.try_get(3)?,
            position: row.try_get(4)?,
            token_hash: token_hash
                .map(<[u8; TOKEN_HASH_LEN]>::try_from)
                .transpose()
                .map_err(|_| Error::CorruptRecord)?,
        };
        Ok((file, row.try_get(6)?))
    }

    /// The MAC of every column but the MAC.
    fn mac(&self, key: &[u8; KEY_LEN]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        mac.update(FILE_MAC_LABEL);
        mac.update(self.id.as_bytes());
        mac.update(&self.state.to_le_bytes());
        mac.update(&self.expires_at.to_le_bytes());
        mac.update(&self.sealed_size.to_le_bytes());
        match (self.note, self.position) {
            (Some(note), Some(position)) => {
                mac.update(&[1]);
                mac.update(note.as_bytes());
                mac.update(&position.to_le_bytes());
            }
            (None, None) => mac.update(&[0]),
            // Never written so; a MAC that cannot match any stored one.
            _ => mac.update(&[2]),
        }
        match &self.token_hash {
            Some(hash) => {
                mac.update(&[1]);
                mac.update(hash);
            }
            None => mac.update(&[0]),
        }
        mac
    }
}

/// Whether a lock waits for writers only (`FOR SHARE`) or excludes them (`FOR UPDATE`).
#[derive(Clone, Copy)]
enum Lock {
    Share,
    Update,
}

impl PgStore {
    /// The row MAC key of the epoch of `expires_at`; `None` once that epoch key is shredded.
    fn file_mac_key(&self, expires_at: u64) -> Result<Option<Zeroizing<[u8; KEY_LEN]>>> {
        Ok(self
            .epoch_key(epoch_of(expires_at))?
            .map(|key| row::mac_key(&key)))
    }

    /// `row_mac` for `file` as it is about to be written.
    fn file_mac(&self, file: &FileRow) -> Result<Vec<u8>> {
        let key = self
            .file_mac_key(file.expires_at)?
            .ok_or(Error::EpochEnded)?;
        Ok(file.mac(&key).finalize().into_bytes().to_vec())
    }

    /// Locks file `id` in `txn` and checks it; `None` if it is absent, expired by the database
    /// clock, or its epoch key shredded. Returns the database's time of the lock too.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptRecord`] if its MAC fails: the row is deleted once `txn` ends.
    async fn lock_file(
        &self,
        txn: &Transaction<'_>,
        id: Uuid,
        lock: Lock,
    ) -> Result<Option<(FileRow, u64)>> {
        let select = txn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS}, {NOW_SQL} FROM paravoid_files WHERE id = $1 FOR {}",
                match lock {
                    Lock::Share => "SHARE",
                    Lock::Update => "UPDATE",
                }
            ))
            .await?;
        let Some(found) = txn.query_opt(&select, &[&id]).await? else {
            return Ok(None);
        };
        let now = self.clock.now(found.try_get(7)?)?;
        let (file, tag) = FileRow::from_row(id, &found)?;
        let Some(key) = self.file_mac_key(file.expires_at)? else {
            return Ok(None);
        };
        if file.mac(&key).verify_slice(&tag).is_err() {
            tracing::warn!("destroyed a file row that fails its authentication");
            let store = self.clone();
            // Waits for this transaction's lock, so it runs once `txn` has ended.
            tokio::spawn(async move {
                if let Err(err) = store.file_abort(id).await {
                    tracing::error!(error = %err, "deleting a corrupt file row failed");
                }
            });
            return Err(Error::CorruptRecord);
        }
        Ok((!policy::is_expired(now, file.expires_at)).then_some((file, now)))
    }

    /// Writes `file`'s new state, with its new MAC, over its locked row.
    async fn update_file(&self, txn: &Transaction<'_>, file: &FileRow) -> Result<()> {
        let mac = self.file_mac(file)?;
        let update = txn
            .prepare_cached(
                "UPDATE paravoid_files SET state = $2, expires_at = $3, sealed_size = $4, \
                 note = $5, position = $6, token_hash = $7, row_mac = $8 WHERE id = $1",
            )
            .await?;
        txn.execute(
            &update,
            &[
                &file.id,
                &file.state,
                &to_db_time(file.expires_at)?,
                &to_db_time(file.sealed_size)?,
                &file.note,
                &file.position,
                &file
                    .token_hash
                    .as_ref()
                    .map(<[u8; TOKEN_HASH_LEN]>::as_slice),
                &mac,
            ],
        )
        .await?;
        Ok(())
    }

    /// In the transaction that inserts note `note`: locks, checks and attaches the complete
    /// uploads `files` (manifest order), expiring at `expires_at`. An error leaves the
    /// transaction to be rolled back.
    ///
    /// # Errors
    ///
    /// [`Error::Unprocessable`] if a file is unknown, incomplete, already attached or named
    /// twice.
    pub(super) async fn attach_files(
        &self,
        txn: &Transaction<'_>,
        note: Uuid,
        files: Vec<Uuid>,
        expires_at: u64,
    ) -> Result<()> {
        for (position, file) in files.into_iter().enumerate() {
            // A file named twice is attached by its first mention when the second comes.
            let mut file = match self.lock_file(txn, file, Lock::Update).await? {
                Some((found, _)) if found.state == COMPLETE => found,
                _ => {
                    return Err(Error::unprocessable(
                        "files must name complete uploads not attached to a note",
                    ));
                }
            };
            file.state = ATTACHED;
            file.note = Some(note);
            file.position = Some(i16::try_from(position).map_err(|_| Error::NotFound)?);
            file.expires_at = expires_at;
            self.update_file(txn, &file).await?;
        }
        Ok(())
    }

    /// In a claim's transaction, after the note's row is deleted: gives its attached files the
    /// download token hash `token_hash` and the expiry `now + ttl_secs`; returns their sealed
    /// sizes in manifest order.
    pub(super) async fn hand_out_files(
        &self,
        txn: &Transaction<'_>,
        note: Uuid,
        token_hash: [u8; TOKEN_HASH_LEN],
        now: u64,
        ttl_secs: u64,
    ) -> Result<Vec<u64>> {
        let select = txn
            .prepare_cached(
                "SELECT id FROM paravoid_files WHERE note = $1 AND state = $2 ORDER BY position",
            )
            .await?;
        let ids = txn.query(&select, &[&note, &ATTACHED]).await?;
        let mut sizes = Vec::with_capacity(ids.len());
        for (index, found) in ids.iter().enumerate() {
            let Some((mut file, _)) = self.lock_file(txn, found.try_get(0)?, Lock::Update).await?
            else {
                return Err(Error::CorruptRecord);
            };
            if file.state != ATTACHED || file.position != i16::try_from(index).ok() {
                return Err(Error::CorruptRecord);
            }
            sizes.push(file.sealed_size);
            file.state = CLAIMED;
            file.token_hash = Some(token_hash);
            file.expires_at = policy::expires_at(now, ttl_secs);
            self.update_file(txn, &file).await?;
        }
        Ok(sizes)
    }

    /// The database side of a download: with the snapshot `snapshot` taken, checks and deletes
    /// (committed, on a connection of its own) file `position` of `note`; returns its id and
    /// sealed size.
    async fn take_file(
        &self,
        snapshot: &Transaction<'_>,
        note: Uuid,
        position: i16,
        token_hash: &[u8; TOKEN_HASH_LEN],
    ) -> Result<(Uuid, u64)> {
        let select = snapshot
            .prepare_cached("SELECT id FROM paravoid_files WHERE note = $1 AND position = $2")
            .await?;
        let found = snapshot.query_opt(&select, &[&note, &position]).await?;
        let id: Uuid = found.ok_or(Error::NotFound)?.try_get(0)?;
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        let (file, _) = self
            .lock_file(&txn, id, Lock::Update)
            .await?
            .ok_or(Error::NotFound)?;
        let token_matches = file
            .token_hash
            .is_some_and(|hash| bool::from(hash.ct_eq(token_hash)));
        if file.state != CLAIMED
            || file.note != Some(note)
            || file.position != Some(position)
            || !token_matches
        {
            return Err(Error::NotFound);
        }
        let delete = txn
            .prepare_cached("DELETE FROM paravoid_files WHERE id = $1")
            .await?;
        txn.execute(&delete, &[&id]).await?;
        txn.commit().await?;
        Ok((id, file.sealed_size))
    }

    /// A download, in a task of its own: answers `ready` with the sealed size once the file is
    /// deleted (or with the refusal), then streams its chunks into `sender`.
    async fn download_in_task(
        &self,
        note: Uuid,
        position: i16,
        token_hash: [u8; TOKEN_HASH_LEN],
        ready: tokio::sync::oneshot::Sender<Result<u64>>,
        mut sender: Sender<Bytes, Error>,
    ) {
        let mut reader = match self.pool.get().await {
            Ok(reader) => reader,
            Err(err) => {
                let _ignored = ready.send(Err(err.into()));
                return;
            }
        };
        let snapshot = match reader
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
        {
            Ok(snapshot) => snapshot,
            Err(err) => {
                let _ignored = ready.send(Err(err.into()));
                return;
            }
        };
        let (file, sealed_size) = match self.take_file(&snapshot, note, position, &token_hash).await
        {
            Ok(taken) => taken,
            Err(err) => {
                let _ignored = ready.send(Err(err));
                return;
            }
        };
        if ready.send(Ok(sealed_size)).is_err() {
            return;
        }
        if let Err(err) = stream_chunks(&snapshot, file, sealed_size, &mut sender).await {
            sender.abort(err);
        }
    }
}

/// Sends the chunks of `file` from `snapshot` in order, [`ROWS_PER_FETCH`] rows at a time;
/// stops quietly when the client goes away.
///
/// # Errors
///
/// A database error, or [`Error::CorruptRecord`] if the chunks do not add up to `sealed_size`.
async fn stream_chunks(
    snapshot: &Transaction<'_>,
    file: Uuid,
    sealed_size: u64,
    sender: &mut Sender<Bytes, Error>,
) -> Result<()> {
    let select = snapshot
        .prepare_cached("SELECT sealed FROM paravoid_file_chunks WHERE file = $1 ORDER BY sequence")
        .await?;
    let portal = snapshot.bind(&select, &[&file]).await?;
    let mut sent = 0u64;
    loop {
        let rows = snapshot.query_portal(&portal, ROWS_PER_FETCH).await?;
        for found in &rows {
            let bytes: &[u8] = found.try_get(0)?;
            sent = sent.saturating_add(bytes.len() as u64);
            if sent > sealed_size {
                return Err(Error::CorruptRecord);
            }
            if sender
                .send_data(Bytes::copy_from_slice(bytes))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        if rows.len() < ROWS_PER_FETCH.unsigned_abs() as usize {
            break;
        }
    }
    if sent == sealed_size {
        Ok(())
    } else {
        Err(Error::CorruptRecord)
    }
}

impl FileStore for PgStore {
    /// Counts the files of every instance against `--max-notes`, then inserts the row.
    async fn file_begin(&self, id: Uuid, ttl_secs: u64) -> Result<()> {
        let client = self.pool.get().await?;
        // 0: no limit.
        let max = match self.max_notes {
            0 => i64::MAX,
            max => i64::try_from(max).unwrap_or(i64::MAX),
        };
        let select = client
            .prepare_cached(&format!(
                "SELECT {NOW_SQL}, count(*) >= $1 FROM paravoid_files"
            ))
            .await?;
        let found = client.query_one(&select, &[&max]).await?;
        if found.try_get::<_, bool>(1)? {
            return Err(Error::StoreFull);
        }
        let now = self.clock.now(found.try_get(0)?)?;
        let file = FileRow::uploading(id, policy::expires_at(now, ttl_secs));
        let insert = client
            .prepare_cached(
                "INSERT INTO paravoid_files (id, state, expires_at, sealed_size, row_mac) \
                 VALUES ($1, $2, $3, 0, $4) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let values: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
            &id,
            &UPLOADING,
            &to_db_time(file.expires_at)?,
            &self.file_mac(&file)?,
        ];
        if client.execute(&insert, &values).await? != 1 {
            return Err(Error::IdCollision);
        }
        Ok(())
    }

    /// One statement for all `rows`, under a share lock of the file's row.
    async fn file_append(&self, id: Uuid, rows: Vec<ChunkRow>) -> Result<()> {
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        match self.lock_file(&txn, id, Lock::Share).await? {
            Some((file, _)) if file.state == UPLOADING => {}
            _ => return Err(Error::NotFound),
        }
        let sequences = rows
            .iter()
            .map(|(sequence, _)| i32::try_from(*sequence).map_err(|_| Error::BodyTooLarge))
            .collect::<Result<Vec<i32>>>()?;
        let chunks: Vec<&[u8]> = rows.iter().map(|(_, bytes)| bytes.as_slice()).collect();
        let insert = txn
            .prepare_cached(
                "INSERT INTO paravoid_file_chunks (file, sequence, sealed) \
                 SELECT $1, sequence, sealed FROM unnest($2::integer[], $3::bytea[]) \
                 AS chunk (sequence, sealed)",
            )
            .await?;
        txn.execute(&insert, &[&id, &sequences, &chunks]).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn file_finish(&self, id: Uuid, sealed_size: u64) -> Result<u64> {
        let mut client = self.pool.get().await?;
        let txn = client.transaction().await?;
        let mut file = match self.lock_file(&txn, id, Lock::Update).await? {
            Some((file, _)) if file.state == UPLOADING => file,
            _ => return Err(Error::NotFound),
        };
        file.state = COMPLETE;
        file.sealed_size = sealed_size;
        self.update_file(&txn, &file).await?;
        txn.commit().await?;
        Ok(file.expires_at)
    }

    /// Deletes the row; its chunks go with it (`ON DELETE CASCADE`).
    async fn file_abort(&self, id: Uuid) -> Result<()> {
        let client = self.pool.get().await?;
        let delete = client
            .prepare_cached("DELETE FROM paravoid_files WHERE id = $1")
            .await?;
        client.execute(&delete, &[&id]).await?;
        Ok(())
    }

    /// One transaction: the note's row is inserted, then each file's row locked, checked and
    /// attached; any refusal rolls it all back. In a task of its own, so a request dropped
    /// half-way never abandons it.
    async fn insert_with_files(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: StoredNote,
        hashes: ClaimHashes,
        files: Vec<Uuid>,
        receipt: Option<NewReceipt>,
    ) -> Result<u64> {
        if files.is_empty() && receipt.is_none() {
            return self.insert_end_to_end(id, ttl_secs, note, hashes).await;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let plaintext = hashes.with_note(&note);
            let mut client = store.pool.get().await?;
            let txn = client.transaction().await?;
            let passphrase_required = note.needs_passphrase();
            let expires_at = store
                .insert_sealed_on(&txn, id, ttl_secs, &plaintext, passphrase_required, true)
                .await?;
            if !files.is_empty() {
                store.attach_files(&txn, id, files, expires_at).await?;
            }
            if let Some(receipt) = &receipt {
                let now = store.clock.read(&*txn).await?;
                super::receipts::insert_pending(&txn, receipt, id, now, expires_at).await?;
            }
            txn.commit().await?;
            Ok(expires_at)
        })
        .await
        .map_err(|_| Error::Internal("the create task failed"))?
    }

    /// The claim and the hand-out in one transaction (`PgStore::claim_in_task`).
    async fn claim_with_files(
        &self,
        id: Uuid,
        tokens: Tokens,
        token_hash: [u8; TOKEN_HASH_LEN],
        ttl_secs: u64,
    ) -> Result<(StoredNote, Vec<u64>)> {
        let store = self.clone();
        tokio::spawn(async move {
            store
                .claim_in_task(id, tokens, Some((token_hash, ttl_secs)))
                .await
        })
        .await
        .map_err(|_| Error::Internal("the claim task failed"))?
    }

    /// Waits up to the pool's wait for one of the download places (busy: 503).
    async fn file_take(
        &self,
        note: Uuid,
        index: usize,
        token_hash: [u8; TOKEN_HASH_LEN],
    ) -> Result<Download> {
        let position = i16::try_from(index).map_err(|_| Error::NotFound)?;
        let permit = tokio::time::timeout(POOL_WAIT, self.downloads.clone().acquire_owned())
            .await
            .map_err(|_| Error::Overloaded)?
            .map_err(|_| Error::Internal("the download places are closed"))?;
        let (ready, answer) = tokio::sync::oneshot::channel();
        let (sender, body) = http_body_util::channel::Channel::<Bytes, Error>::new(2);
        let store = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            store
                .download_in_task(note, position, token_hash, ready, sender)
                .await;
        });
        let sealed_size = answer
            .await
            .map_err(|_| Error::Internal("the download task failed"))??;
        Ok(Download {
            sealed_size,
            body: Body::new(body),
        })
    }

    async fn sweep_files(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let connection: &tokio_postgres::Client = &client;
        let now = to_db_time(self.clock.read(connection).await?)?;
        let delete = client
            .prepare_cached(
                "DELETE FROM paravoid_files WHERE id IN (\
                   SELECT id FROM paravoid_files WHERE expires_at <= $1 \
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
