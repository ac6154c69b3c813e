//! Files of end-to-end notes: what the file routes need from a store ([`FileStore`]), kept
//! by both stores under the same rules.
//!
//! A file is uploaded on its own (`uploading`, then `pending` once complete), attached to a
//! note when the note is created (`attached`, sharing the note's expiry), handed a download
//! token when the note is claimed (`claimed`), and deleted when it is downloaded, at its expiry,
//! or when its upload fails. A download deletes the file (committed) before its first byte is
//! sent and streams it from a snapshot taken before the delete: a second download, a wrong
//! token or index and an expired file all find nothing. The server never sees a file's key: it
//! travels inside the sealed note, so a file outlives neither its note's crypto-shredding
//! (redb's key slots, PostgreSQL's epoch keys) nor, once downloaded, its deletion.
//!
//! How each store keeps them: `redb::files` (chunk tables beside the notes, one writer) and
//! `postgres::files` (chunk rows, the attach in the note's create transaction and the hand-out
//! in the claim's own).

use std::future::Future;

use axum::body::Body;
use qsmm_shield::note::StoredNote;
use uuid::Uuid;

use super::receipts::NewReceipt;
use super::{ClaimHashes, NoteStore, Storage, TOKEN_HASH_LEN, Tokens};
use crate::Result;

/// One sealed chunk of a file as uploaded: `(sequence, bytes)`, at most 64 KiB + 16 bytes.
pub(crate) type ChunkRow = (u32, Vec<u8>);

/// A file handed out for download: deleted already, its sealed stream still flowing.
#[derive(Debug)]
pub(crate) struct Download {
    /// Length of the sealed stream.
    pub(crate) sealed_size: u64,
    /// The sealed stream; a read failure aborts it, so a client sees an error, never a short
    /// file.
    pub(crate) body: Body,
}

/// What the file routes need from a note store.
pub(crate) trait FileStore: NoteStore {
    /// Starts the upload of file `id`, deleted `ttl_secs` from now unless attached before.
    ///
    /// # Errors
    ///
    /// [`Error::StoreFull`](crate::Error::StoreFull) while `--max-notes` files are stored.
    fn file_begin(&self, id: Uuid, ttl_secs: u64) -> impl Future<Output = Result<()>> + Send;

    /// Appends sealed chunks to an uploading file.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) if the file is no longer uploading.
    fn file_append(&self, id: Uuid, rows: Vec<ChunkRow>)
    -> impl Future<Output = Result<()>> + Send;

    /// Marks an upload complete (`sealed_size` bytes); returns its `expires_at`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) if the file is no longer uploading.
    fn file_finish(&self, id: Uuid, sealed_size: u64) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes a file whatever its state (a failed upload).
    fn file_abort(&self, id: Uuid) -> impl Future<Output = Result<()>> + Send;

    /// [`NoteStore::insert_end_to_end`] that also attaches the complete uploads `files` (in
    /// manifest order) to the new note, all or none, and stores `receipt` (with its webhook)
    /// for it — all in the note's insert transaction; the files then share the note's expiry.
    ///
    /// # Errors
    ///
    /// [`Error::Unprocessable`](crate::Error::Unprocessable) if a file is unknown, incomplete,
    /// already attached or named twice, [`Error::IdCollision`](crate::Error::IdCollision) if
    /// the receipt's key is taken, besides the errors of the insert; nothing is stored then.
    fn insert_with_files(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: StoredNote,
        hashes: ClaimHashes,
        files: Vec<Uuid>,
        receipt: Option<NewReceipt>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// [`NoteStore::claim`] that also hands the note's files to the holder of the download
    /// token whose SHA-256 is `token_hash`, for `ttl_secs`; returns the note and the files'
    /// sealed sizes in manifest order (empty for a note without files).
    fn claim_with_files(
        &self,
        id: Uuid,
        tokens: Tokens,
        token_hash: [u8; TOKEN_HASH_LEN],
        ttl_secs: u64,
    ) -> impl Future<Output = Result<(StoredNote, Vec<u64>)>> + Send;

    /// Hands file `index` of a claimed note to the holder of its download token, once: the
    /// file is deleted (committed) before this returns, and the returned body still streams it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown note or index, a wrong token,
    /// a file not claimed, or one already downloaded or expired.
    fn file_take(
        &self,
        note: Uuid,
        index: usize,
        token_hash: [u8; TOKEN_HASH_LEN],
    ) -> impl Future<Output = Result<Download>> + Send;

    /// Deletes every file past its expiry (uploads never attached, files of notes that expired,
    /// claimed files never downloaded); returns how many.
    fn sweep_files(&self) -> impl Future<Output = Result<u64>> + Send;
}

impl FileStore for Storage {
    async fn file_begin(&self, id: Uuid, ttl_secs: u64) -> Result<()> {
        dispatch!(self, store => store.file_begin(id, ttl_secs).await)
    }

    async fn file_append(&self, id: Uuid, rows: Vec<ChunkRow>) -> Result<()> {
        dispatch!(self, store => store.file_append(id, rows).await)
    }

    async fn file_finish(&self, id: Uuid, sealed_size: u64) -> Result<u64> {
        dispatch!(self, store => store.file_finish(id, sealed_size).await)
    }

    async fn file_abort(&self, id: Uuid) -> Result<()> {
        dispatch!(self, store => store.file_abort(id).await)
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
        dispatch!(self, store => store.insert_with_files(id, ttl_secs, note, hashes, files, receipt).await)
    }

    async fn claim_with_files(
        &self,
        id: Uuid,
        tokens: Tokens,
        token_hash: [u8; TOKEN_HASH_LEN],
        ttl_secs: u64,
    ) -> Result<(StoredNote, Vec<u64>)> {
        dispatch!(self, store => store.claim_with_files(id, tokens, token_hash, ttl_secs).await)
    }

    async fn file_take(
        &self,
        note: Uuid,
        index: usize,
        token_hash: [u8; TOKEN_HASH_LEN],
    ) -> Result<Download> {
        dispatch!(self, store => store.file_take(note, index, token_hash).await)
    }

    async fn sweep_files(&self) -> Result<u64> {
        dispatch!(self, store => store.sweep_files().await)
    }
}
