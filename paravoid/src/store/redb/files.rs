//! Files of end-to-end notes in redb (`store::files` has the life of a file): sealed chunks,
//! stored beside the notes and under the same exactly-once rule. The
//! server never sees a file's key: it travels inside the sealed note, which is crypto-shredded
//! like every note (see the key slots). So once the note is gone, the chunks that may linger in
//! freed pages of the database file open for nobody, link keys or not.
//!
//! Tables (integers little-endian):
//!
//! ```text
//! files_v1        file id → state u8 ‖ expires_at u64 ‖ sealed_size u64 ‖ note id u128 ‖ token hash [32]
//! file_chunks_v1  (file id, sequence u32) → up to 64 KiB + 16 of the sealed stream
//! note_files_v1   note id → file id u128 ‖ …   (in manifest order)
//! file_expiry_v1  (expires_at, file id) → ()
//! ```

use std::sync::Arc;

use axum::body::{Body, Bytes};
use qsmm_shield::note::StoredNote;
use redb::{
    ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::RedbStore;
use super::group_commit::Batch;
use crate::blocking::blocking;
use crate::store::files::{ChunkRow, Download, FileStore};
use crate::store::policy;
use crate::store::receipts::NewReceipt;
use crate::store::{ClaimHashes, NoteStore as _, TOKEN_HASH_LEN, Tokens};
use crate::{Error, Result};

/// File metadata by file id.
const FILES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("files_v1");
/// The sealed stream of each file, in rows of at most one sealed chunk.
pub(super) const FILE_CHUNKS: TableDefinition<'_, (u128, u32), &[u8]> =
    TableDefinition::new("file_chunks_v1");
/// The files of each note, in manifest order.
const NOTE_FILES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("note_files_v1");
/// `(expires_at, file id)` for every file.
const FILE_EXPIRY: TableDefinition<'_, (u64, u128), ()> = TableDefinition::new("file_expiry_v1");

/// Where a file stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileState {
    Uploading = 0,
    Pending = 1,
    Attached = 2,
    Claimed = 3,
}

/// A row of `files_v1`.
#[derive(Clone, Debug)]
struct FileMeta {
    state: FileState,
    expires_at: u64,
    sealed_size: u64,
    note: u128,
    token_hash: [u8; TOKEN_HASH_LEN],
}

impl FileMeta {
    const LEN: usize = 1 + 8 + 8 + 16 + TOKEN_HASH_LEN;

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.push(self.state as u8);
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(&self.sealed_size.to_le_bytes());
        out.extend_from_slice(&self.note.to_le_bytes());
        out.extend_from_slice(&self.token_hash);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != Self::LEN {
            return Err(Error::CorruptRecord);
        }
        let state = match bytes[0] {
            0 => FileState::Uploading,
            1 => FileState::Pending,
            2 => FileState::Attached,
            3 => FileState::Claimed,
            _ => return Err(Error::CorruptRecord),
        };
        let field = |range: std::ops::Range<usize>| bytes.get(range).ok_or(Error::CorruptRecord);
        let u64_at = |at: usize| -> Result<u64> {
            Ok(u64::from_le_bytes(
                field(at..at + 8)?
                    .try_into()
                    .map_err(|_| Error::CorruptRecord)?,
            ))
        };
        Ok(Self {
            state,
            expires_at: u64_at(1)?,
            sealed_size: u64_at(9)?,
            note: u128::from_le_bytes(
                field(17..33)?
                    .try_into()
                    .map_err(|_| Error::CorruptRecord)?,
            ),
            token_hash: field(33..Self::LEN)?
                .try_into()
                .map_err(|_| Error::CorruptRecord)?,
        })
    }
}

/// A claimed file handed out for download: its rows, read from a snapshot taken before the file
/// was deleted, so the download proceeds while the file is already gone for everyone else.
struct TakenFile {
    /// The read transaction that still sees the rows.
    snapshot: ReadTransaction,
    /// The file's id (the key of its rows).
    file: u128,
    /// Length of the sealed stream.
    sealed_size: u64,
}

impl RedbStore {
    /// Creates the file tables if missing.
    pub(super) fn create_file_tables(db: &redb::Database) -> Result<()> {
        let txn = db.begin_write()?;
        {
            txn.open_table(FILES)?;
            txn.open_table(FILE_CHUNKS)?;
            txn.open_table(NOTE_FILES)?;
            txn.open_table(FILE_EXPIRY)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Starts the upload of a file that is deleted at `now + ttl_secs` unless attached before.
    /// Refuses ([`Error::StoreFull`]) while `--max-notes` files are stored.
    fn file_begin_blocking(&self, id: Uuid, ttl_secs: u64) -> Result<()> {
        let key = id.as_u128();
        let clock = self.clock.clone();
        let max = self.max_notes;
        self.writer.run(move |batch| {
            let files = batch.txn().open_table(FILES)?;
            if max > 0 && files.len()? >= max {
                return Err(Error::StoreFull);
            }
            if files.get(key)?.is_some() {
                return Err(Error::IdCollision);
            }
            drop(files);
            let meta = FileMeta {
                state: FileState::Uploading,
                expires_at: clock.now_unix().saturating_add(ttl_secs),
                sealed_size: 0,
                note: 0,
                token_hash: [0; TOKEN_HASH_LEN],
            };
            put(batch, key, &meta)
        })
    }

    /// Appends rows (`(sequence, bytes)`) to an uploading file.
    fn file_append_blocking(&self, id: Uuid, rows: Arc<Vec<(u32, Vec<u8>)>>) -> Result<()> {
        let key = id.as_u128();
        self.writer.run(move |batch| {
            match meta_of(batch, key)? {
                Some(meta) if meta.state == FileState::Uploading => {}
                _ => return Err(Error::NotFound),
            }
            let mut chunks = batch.txn().open_table(FILE_CHUNKS)?;
            for (sequence, bytes) in rows.iter() {
                chunks.insert((key, *sequence), bytes.as_slice())?;
            }
            Ok(())
        })
    }

    /// Marks an uploaded file complete: it may now be attached to a note.
    fn file_finish_blocking(&self, id: Uuid, sealed_size: u64) -> Result<u64> {
        let key = id.as_u128();
        self.writer.run(move |batch| {
            let mut meta = match meta_of(batch, key)? {
                Some(meta) if meta.state == FileState::Uploading => meta,
                _ => return Err(Error::NotFound),
            };
            meta.state = FileState::Pending;
            meta.sealed_size = sealed_size;
            put(batch, key, &meta)?;
            Ok(meta.expires_at)
        })
    }

    /// Deletes a file whatever its state (a failed upload).
    fn file_abort_blocking(&self, id: Uuid) -> Result<()> {
        let key = id.as_u128();
        self.writer.run(move |batch| {
            if let Some(meta) = meta_of(batch, key)? {
                remove_file(batch, key, &meta)?;
            }
            Ok(())
        })
    }

    /// One writer job: the note, its files attached and its receipt stored, or nothing. Every
    /// refusal that commits what a job wrote (a taken id or receipt key, a full store) comes
    /// before the first write; a refused file aborts the job's transaction.
    fn insert_with_blocking(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: &StoredNote,
        hashes: &ClaimHashes,
        files: Vec<Uuid>,
        receipt: Option<NewReceipt>,
    ) -> Result<u64> {
        let plaintext = hashes.with_note(note);
        let flags = (note.needs_passphrase(), true);
        let clock = self.clock.clone();
        let max_notes = self.max_notes;
        self.writer.run(move |batch| {
            let now = clock.now_unix();
            let expires_at = policy::expires_at(now, ttl_secs);
            if let Some(receipt) = &receipt {
                super::receipts::check_free(batch, receipt, id)?;
            }
            super::put_record(
                batch,
                id.as_u128(),
                expires_at,
                max_notes,
                &plaintext,
                flags,
            )?;
            if !files.is_empty() {
                attach_files(batch, id, &files, expires_at)?;
            }
            if let Some(receipt) = &receipt {
                super::receipts::put_pending(batch, receipt, id, now, expires_at)?;
            }
            Ok(expires_at)
        })
    }

    /// After a claim: hands the files of `note` to the holder of the token whose hash is
    /// `token_hash`, for `ttl_secs`; returns their sealed sizes (empty for a note without files).
    fn files_claim_blocking(
        &self,
        note: Uuid,
        token_hash: [u8; TOKEN_HASH_LEN],
        ttl_secs: u64,
    ) -> Result<Vec<u64>> {
        let note = note.as_u128();
        let clock = self.clock.clone();
        self.writer.run(move |batch| {
            let mut sizes = Vec::new();
            let expires_at = clock.now_unix().saturating_add(ttl_secs);
            for key in files_of(batch, note)? {
                let Some(meta) = meta_of(batch, key)? else {
                    continue;
                };
                if meta.state != FileState::Attached || meta.note != note {
                    continue;
                }
                batch
                    .txn()
                    .open_table(FILE_EXPIRY)?
                    .remove((meta.expires_at, key))?;
                let claimed = FileMeta {
                    state: FileState::Claimed,
                    expires_at,
                    token_hash,
                    ..meta
                };
                put(batch, key, &claimed)?;
                sizes.push(meta.sealed_size);
            }
            Ok(sizes)
        })
    }

    /// Hands file `index` of a claimed note to the holder of its download token, once: the file
    /// is deleted (committed) before this returns, and the returned snapshot still reads it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown note or index, a wrong token, a file not claimed, or
    /// one already downloaded or expired.
    fn file_take_blocking(
        &self,
        note: Uuid,
        index: usize,
        token_hash: [u8; TOKEN_HASH_LEN],
    ) -> Result<TakenFile> {
        let snapshot = self.db.begin_read()?;
        let note = note.as_u128();
        let clock = self.clock.clone();
        let (file, sealed_size) = self.writer.run(move |batch| {
            let key = *files_of(batch, note)?.get(index).ok_or(Error::NotFound)?;
            let meta = meta_of(batch, key)?.ok_or(Error::NotFound)?;
            let valid = meta.state == FileState::Claimed
                && meta.note == note
                && bool::from(meta.token_hash.ct_eq(&token_hash))
                && clock.now_unix() < meta.expires_at;
            if !valid {
                return Err(Error::NotFound);
            }
            remove_file(batch, key, &meta)?;
            Ok((key, meta.sealed_size))
        })?;
        Ok(TakenFile {
            snapshot,
            file,
            sealed_size,
        })
    }

    /// Deletes every file past its expiry (uploads never attached, files of notes that expired,
    /// claimed files never downloaded); returns how many.
    fn files_sweep_blocking(&self) -> Result<u64> {
        let clock = self.clock.clone();
        let removed = self.writer.run(move |batch| {
            let now = clock.now_unix();
            let due: Vec<(u64, u128)> = batch
                .txn()
                .open_table(FILE_EXPIRY)?
                .range((0, 0)..=(now, u128::MAX))?
                .take(64)
                .map(|entry| entry.map(|(key, _)| key.value()))
                .collect::<Result<_, _>>()?;
            for (expires_at, key) in &due {
                match meta_of(batch, *key) {
                    Ok(Some(meta)) => remove_file(batch, *key, &meta)?,
                    Ok(None) | Err(_) => {
                        batch.txn().open_table(FILES)?.remove(*key)?;
                        batch
                            .txn()
                            .open_table(FILE_EXPIRY)?
                            .remove((*expires_at, *key))?;
                        remove_rows(batch, *key)?;
                    }
                }
            }
            Ok(due.len())
        })?;
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}

/// The file steps as writer jobs run off the async threads. A note's create and the attach of
/// its files are two jobs (attach first), and so are a claim and the hand-out of its files: a
/// crash between the claim and the hand-out leaves the files unreachable until they expire.
impl FileStore for RedbStore {
    async fn file_begin(&self, id: Uuid, ttl_secs: u64) -> Result<()> {
        let store = self.clone();
        blocking(move || store.file_begin_blocking(id, ttl_secs)).await
    }

    async fn file_append(&self, id: Uuid, rows: Vec<ChunkRow>) -> Result<()> {
        let store = self.clone();
        blocking(move || store.file_append_blocking(id, Arc::new(rows))).await
    }

    async fn file_finish(&self, id: Uuid, sealed_size: u64) -> Result<u64> {
        let store = self.clone();
        blocking(move || store.file_finish_blocking(id, sealed_size)).await
    }

    async fn file_abort(&self, id: Uuid) -> Result<()> {
        let store = self.clone();
        blocking(move || store.file_abort_blocking(id)).await
    }

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
        blocking(move || store.insert_with_blocking(id, ttl_secs, &note, &hashes, files, receipt))
            .await
    }

    async fn claim_with_files(
        &self,
        id: Uuid,
        tokens: Tokens,
        token_hash: [u8; TOKEN_HASH_LEN],
        ttl_secs: u64,
    ) -> Result<(StoredNote, Vec<u64>)> {
        let note = self.claim(id, tokens).await?;
        let store = self.clone();
        // The note is already consumed: its answer is delivered even if its files cannot be.
        let sizes = blocking(move || store.files_claim_blocking(id, token_hash, ttl_secs))
            .await
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "handing out the files of a claimed note failed");
                Vec::new()
            });
        Ok((note, sizes))
    }

    async fn file_take(
        &self,
        note: Uuid,
        index: usize,
        token_hash: [u8; TOKEN_HASH_LEN],
    ) -> Result<Download> {
        let store = self.clone();
        let taken = blocking(move || store.file_take_blocking(note, index, token_hash)).await?;
        let sealed_size = taken.sealed_size;
        let (sender, body) = http_body_util::channel::Channel::<Bytes, Error>::new(2);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || taken.send_rows(&runtime, sender));
        Ok(Download {
            sealed_size,
            body: Body::new(body),
        })
    }

    async fn sweep_files(&self) -> Result<u64> {
        let store = self.clone();
        blocking(move || store.files_sweep_blocking()).await
    }
}

fn meta_of(batch: &Batch<'_>, key: u128) -> Result<Option<FileMeta>> {
    let files = batch.txn().open_table(FILES)?;
    let row = files.get(key)?;
    row.map(|bytes| FileMeta::from_bytes(bytes.value()))
        .transpose()
}

fn put(batch: &Batch<'_>, key: u128, meta: &FileMeta) -> Result<()> {
    batch
        .txn()
        .open_table(FILES)?
        .insert(key, meta.to_bytes().as_slice())?;
    batch
        .txn()
        .open_table(FILE_EXPIRY)?
        .insert((meta.expires_at, key), ())?;
    Ok(())
}

fn files_of(batch: &Batch<'_>, note: u128) -> Result<Vec<u128>> {
    let table = batch.txn().open_table(NOTE_FILES)?;
    let Some(list) = table.get(note)? else {
        return Ok(Vec::new());
    };
    list.value()
        .chunks(16)
        .map(|id| {
            id.try_into()
                .map(u128::from_le_bytes)
                .map_err(|_| Error::CorruptRecord)
        })
        .collect()
}

/// Inside a write job: attaches the complete, unattached uploads `files` (manifest order) to
/// note `note`, expiring at `expires_at`. Every file is checked before any is changed.
///
/// # Errors
///
/// [`Error::Unprocessable`] if a file is unknown, incomplete, already attached or named twice;
/// a job failing so aborts alone (`group_commit`), so none of its writes commit.
pub(super) fn attach_files(
    batch: &Batch<'_>,
    note: Uuid,
    files: &[Uuid],
    expires_at: u64,
) -> Result<()> {
    let note = note.as_u128();
    let mut found = Vec::with_capacity(files.len());
    let mut seen = std::collections::HashSet::new();
    for file in files {
        let key = file.as_u128();
        match meta_of(batch, key)? {
            Some(meta) if meta.state == FileState::Pending && seen.insert(key) => {
                found.push((key, meta));
            }
            _ => {
                return Err(Error::unprocessable(
                    "files must name complete uploads not attached to a note",
                ));
            }
        }
    }
    let mut list = Vec::with_capacity(files.len() * 16);
    for (key, meta) in found {
        batch
            .txn()
            .open_table(FILE_EXPIRY)?
            .remove((meta.expires_at, key))?;
        let attached = FileMeta {
            state: FileState::Attached,
            expires_at,
            note,
            ..meta
        };
        put(batch, key, &attached)?;
        list.extend_from_slice(&key.to_le_bytes());
    }
    batch
        .txn()
        .open_table(NOTE_FILES)?
        .insert(note, list.as_slice())?;
    Ok(())
}

/// Deletes a file's metadata, expiry entry and rows; the note's file list goes with the last
/// of its files still stored.
fn remove_file(batch: &Batch<'_>, key: u128, meta: &FileMeta) -> Result<()> {
    batch.txn().open_table(FILES)?.remove(key)?;
    batch
        .txn()
        .open_table(FILE_EXPIRY)?
        .remove((meta.expires_at, key))?;
    remove_rows(batch, key)?;
    if matches!(meta.state, FileState::Attached | FileState::Claimed) {
        let others = files_of(batch, meta.note)?;
        let files = batch.txn().open_table(FILES)?;
        let mut any_left = false;
        for other in others {
            if files.get(other)?.is_some() {
                any_left = true;
            }
        }
        drop(files);
        if !any_left {
            batch.txn().open_table(NOTE_FILES)?.remove(meta.note)?;
        }
    }
    Ok(())
}

fn remove_rows(batch: &Batch<'_>, key: u128) -> Result<()> {
    batch
        .txn()
        .open_table(FILE_CHUNKS)?
        .retain_in((key, 0)..=(key, u32::MAX), |_, _| false)?;
    Ok(())
}

impl TakenFile {
    /// Sends the file's rows, in order, into `sender` (blocking on `runtime` while the client
    /// reads); stops when the client goes away. A read failure aborts the body, so the client
    /// sees an error rather than a short file.
    fn send_rows(
        self,
        runtime: &tokio::runtime::Handle,
        mut sender: http_body_util::channel::Sender<Bytes, Error>,
    ) {
        let rows = self
            .snapshot
            .open_table(FILE_CHUNKS)
            .map_err(Error::from)
            .and_then(|table| {
                table
                    .range((self.file, 0)..=(self.file, u32::MAX))
                    .map_err(Error::from)
            });
        let rows = match rows {
            Ok(rows) => rows,
            Err(err) => {
                sender.abort(err);
                return;
            }
        };
        for row in rows {
            let bytes = match row {
                Ok((_, value)) => Bytes::copy_from_slice(value.value()),
                Err(err) => {
                    sender.abort(Error::from(err));
                    return;
                }
            };
            if runtime.block_on(sender.send_data(bytes)).is_err() {
                return;
            }
        }
    }
}
