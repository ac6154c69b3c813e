//! `/api/e2e/files` and `/api/e2e/notes/{id}/files/{index}`: files of end-to-end notes, sealed
//! in the browser (or by `paravoid-cli`) in chunks (`qsmm_shield::attachment`), streamed both
//! ways and never held whole in memory.
//!
//! 1. **Upload** — `POST /api/e2e/files`, body `application/octet-stream`: one file's sealed
//!    stream (chunks of 64 KiB + 16, the last one 16 to 65,552 bytes). The server stores it in
//!    rows of one sealed chunk as it arrives and answers 201 `{file_id, sealed_size,
//!    expires_at}`. Larger than `--max-file-bytes` once sealed: 413, nothing kept.
//! 2. **Attach** — `POST /api/e2e/notes` (or a request's answer, `routes::requests`) with
//!    `"files": [file_id, …]` in manifest order: the uploads become the note's and share its
//!    expiry. An upload never attached is deleted after
//!    [`UPLOAD_TTL_SECS`].
//! 3. **Claim** — `POST /api/e2e/notes/{id}/claim` answers, besides the sealed note,
//!    `"files": {"token", "sealed_sizes"}`: a fresh download token (the server keeps only its
//!    SHA-256) valid [`DOWNLOAD_TTL_SECS`].
//! 4. **Download** — `GET /api/e2e/notes/{id}/files/{index}` with `Authorization: Bearer
//!    <token>` streams the sealed file once: it is deleted before the first byte is sent, so a
//!    second download, a wrong token or an expired file all get 404.
//!
//! The server sees sealed bytes and their lengths only; names, types and the key are inside the
//! sealed note.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt as _;
use qsmm_shield::attachment::{CHUNK_TAG_LEN, SEALED_CHUNK_LEN, sealed_size};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::deadline::Deadline;
use crate::rate_limit::{self, Kind};
use crate::store::Storage;
use crate::store::TOKEN_HASH_LEN;
use crate::store::files::{ChunkRow, Download, FileStore as _};
use crate::{AppState, Error, Result};

pub(crate) mod openapi;

/// Seconds an upload waits to be attached to a note before it is deleted.
pub(crate) const UPLOAD_TTL_SECS: u64 = 60 * 60;
/// Seconds the files of a claimed note wait for their download before they are deleted.
pub(crate) const DOWNLOAD_TTL_SECS: u64 = 60 * 60;
/// Sealed chunks written per store call while uploading (1 MiB), so a slow disk (or a database
/// round trip) is paid once per megabyte rather than per chunk, and memory stays bounded per
/// upload.
const ROWS_PER_JOB: usize = 16;

/// The routes of this module: uploads count as creates, downloads as reveals.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let limited =
        |kind| axum::middleware::from_fn_with_state((state.clone(), kind), rate_limit::limit);
    Router::new()
        .route(
            "/api/e2e/files",
            post(upload).route_layer(limited(Kind::Create)),
        )
        .route(
            "/api/e2e/notes/{id}/files/{index}",
            get(download).route_layer(limited(Kind::Reveal)),
        )
}

/// `POST /api/e2e/files` answer.
#[derive(Serialize)]
struct UploadResponse {
    file_id: String,
    sealed_size: u64,
    expires_at: u64,
}

/// The `files` member of a claim's answer.
#[derive(Debug, Serialize)]
pub(crate) struct ClaimedFiles {
    /// The download token (unpadded base64url of 32 bytes).
    token: String,
    /// Length of each file's sealed stream, in manifest order.
    sealed_sizes: Vec<u64>,
}

/// A fresh download token and the SHA-256 the store keeps of it.
pub(crate) fn download_token() -> Result<(Zeroizing<[u8; TOKEN_HASH_LEN]>, [u8; TOKEN_HASH_LEN])> {
    let mut token = Zeroizing::new([0u8; TOKEN_HASH_LEN]);
    getrandom::fill(token.as_mut()).map_err(|_| Error::Internal("no randomness"))?;
    let hash: [u8; TOKEN_HASH_LEN] = Sha256::digest(token.as_ref()).into();
    Ok((token, hash))
}

/// The `files` member of a claim's answer: `None` for a note without files.
pub(crate) fn claimed_files(token: &[u8; TOKEN_HASH_LEN], sizes: Vec<u64>) -> Option<ClaimedFiles> {
    (!sizes.is_empty()).then(|| ClaimedFiles {
        token: URL_SAFE_NO_PAD.encode(token),
        sealed_sizes: sizes,
    })
}

/// Before a create: parses the uploads `files` (manifest order) the note names.
pub(crate) fn file_ids(files: &[String]) -> Result<Vec<Uuid>> {
    if files.len() > qsmm_shield::attachment::MAX_FILES {
        return Err(Error::unprocessable("files: at most 32 per note"));
    }
    files
        .iter()
        .map(|id| parse_id(id).ok_or_else(|| Error::unprocessable("files must hold upload ids")))
        .collect()
}

/// Streams one sealed file into the store; 201 with its id.
async fn upload(
    State(state): State<AppState>,
    deadline: Deadline,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let store = &state.store;
    let max_file = state.config.max_file_bytes;
    let max_sealed = sealed_size(max_file).map_err(|_| Error::Internal("max file size"))?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_sealed) {
        return Err(Error::FileTooLarge { max: max_file });
    }
    // The upload manages its own time: each read must arrive within the request timeout, however
    // long the whole file takes.
    deadline.commit();
    let id = Uuid::new_v4();
    store.file_begin(id, UPLOAD_TTL_SECS).await?;
    match receive(store, id, body, max_sealed, state.config.request_timeout()).await {
        Ok(total) => {
            let expires_at = store.file_finish(id, total).await?;
            state.metrics.note_created();
            let answer = UploadResponse {
                file_id: id.hyphenated().to_string(),
                sealed_size: total,
                expires_at,
            };
            Ok((StatusCode::CREATED, Json(&answer)).into_response())
        }
        Err(err) => {
            store.file_abort(id).await?;
            Err(match err {
                Error::BodyTooLarge => Error::FileTooLarge { max: max_file },
                other => other,
            })
        }
    }
}

/// Reads the body into rows of one sealed chunk, written [`ROWS_PER_JOB`] at a time; returns
/// the sealed length, checked to be one a sealed file can have.
async fn receive(
    store: &Storage,
    id: Uuid,
    mut body: Body,
    max_sealed: u64,
    idle: std::time::Duration,
) -> Result<u64> {
    let mut total = 0u64;
    let mut sequence = 0u32;
    let mut current: Vec<u8> = Vec::with_capacity(SEALED_CHUNK_LEN);
    let mut rows: Vec<ChunkRow> = Vec::with_capacity(ROWS_PER_JOB);
    loop {
        let frame = tokio::time::timeout(idle, body.frame())
            .await
            .map_err(|_| Error::UnreadableBody)?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|_| Error::UnreadableBody)?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len() as u64);
        if total > max_sealed {
            return Err(Error::BodyTooLarge);
        }
        while !data.is_empty() {
            let take = (SEALED_CHUNK_LEN - current.len()).min(data.len());
            current.extend_from_slice(&data.split_to(take));
            if current.len() == SEALED_CHUNK_LEN {
                let row = std::mem::replace(&mut current, Vec::with_capacity(SEALED_CHUNK_LEN));
                rows.push((sequence, row));
                sequence = sequence.checked_add(1).ok_or(Error::BodyTooLarge)?;
                if rows.len() == ROWS_PER_JOB {
                    flush(store, id, &mut rows).await?;
                }
            }
        }
    }
    // The last chunk holds at least its tag; a stream ending on a full chunk has none shorter.
    if total < CHUNK_TAG_LEN as u64 || (!current.is_empty() && current.len() < CHUNK_TAG_LEN) {
        return Err(Error::unprocessable(
            "the body is not a sealed file: it must end with a chunk of at least 16 bytes",
        ));
    }
    if !current.is_empty() {
        rows.push((sequence, current));
    }
    flush(store, id, &mut rows).await?;
    Ok(total)
}

async fn flush(store: &Storage, id: Uuid, rows: &mut Vec<ChunkRow>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    store.file_append(id, std::mem::take(rows)).await
}

/// Streams a claimed file to the holder of its download token, once.
async fn download(
    State(state): State<AppState>,
    Path((id, index)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let note = parse_id(&id).ok_or(Error::NotFound)?;
    let index: usize = index.parse().map_err(|_| Error::NotFound)?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| URL_SAFE_NO_PAD.decode(token).ok())
        .map(Zeroizing::new)
        .filter(|token| token.len() == TOKEN_HASH_LEN)
        .ok_or(Error::NotFound)?;
    let hash: [u8; TOKEN_HASH_LEN] = Sha256::digest(&token[..]).into();
    let Download { sealed_size, body } = state.store.file_take(note, index, hash).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, sealed_size.to_string()),
        ],
        body,
    )
        .into_response())
}

/// Parses the hyphenated UUID form only.
fn parse_id(raw: &str) -> Option<Uuid> {
    (raw.len() == 36)
        .then(|| Uuid::try_parse(raw).ok())
        .flatten()
}
