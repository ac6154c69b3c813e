//! `/api/e2e/requests`: request-a-secret, end to end. Someone who needs a secret (the
//! *requester*) asks for it; whoever holds it (the *responder*) seals it in their browser to the
//! requester's key; only the requester opens it, once. The server never sees the secret or the
//! requester's keys; it learns the (public) encapsulation key only inside the answer, whose note
//! format holds it.
//!
//! - **create** (`POST /api/e2e/requests`) takes the request's lifetime, the response's lifetime
//!   and the SHA-256 of the requester's claim token; it answers the request id;
//! - **status** (`GET /api/e2e/requests/{id}`) tells whether the request is answered (404
//!   unknown, 410 expired without an answer);
//! - **respond** (`POST /api/e2e/requests/{id}/response`) takes one sealed note (409 for a
//!   second one, 410 once the request expired) and stores it as an end-to-end note under the
//!   request's id, with the request's claim hash; its optional `"files": [file_id, …]` names
//!   uploads made first at `POST /api/e2e/files` (`routes::files`, the same limits and errors
//!   as a note's), attached in the same transaction, so a refused answer attaches none;
//! - the requester then claims it at `POST /api/e2e/notes/{id}/claim` (`routes::e2e`).
//!
//! # Keys and links
//!
//! The requester's client draws link keys as for a note (`seed ‖ classical`, `qsmm_shield::note`)
//! and sends only the claim hash. The **request link** `/r/{id}#req.<ek ‖ classical>` carries the
//! ML-KEM-768 encapsulation key and the classical secret in its fragment; the **requester's
//! link** `/r/{id}#own.<seed ‖ classical>` keeps the keys. The encapsulation key travels in the
//! fragment rather than being stored by the server (which would give shorter links), so that a
//! server cannot hand the responder a key of its own: the responder seals to exactly the key the
//! requester made.
//!
//! The responder seals with the note format of `qsmm_shield::note` unchanged, to the requester's
//! `ek`, with a classical secret bound to this request:
//!
//! ```text
//! classical' = HKDF-SHA256(ikm = classical, info = "paravoid/v1/request" ‖ id (16 bytes) ‖ SHA-256(ek))
//! ```
//!
//! The note's AEAD associated data already holds SHA-256(`ek`); the request id enters the key
//! through `classical'`. A response moved by the server to another request, or sealed to another
//! key, fails the requester's key check. The claim token is that of an end-to-end note
//! (`routes::e2e`) over `seed ‖ classical`, which the responder cannot compute.

pub(crate) mod openapi;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::deadline::Deadline;
use crate::json::{JsonBody, present};
use crate::rate_limit::{self, Kind};
use crate::routes::base64url::decode_array;
use crate::routes::e2e::SealedNote;
use crate::routes::secrets::NoteId;
use crate::store::TOKEN_HASH_LEN;
use crate::store::requests::{RequestRecord, RequestStore as _};
use crate::{AppState, Error, Result};

/// The routes of this module: creating and responding count as creates, a status as a peek.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let limited =
        |kind| axum::middleware::from_fn_with_state((state.clone(), kind), rate_limit::limit);
    Router::new()
        .route(
            "/api/e2e/requests",
            post(create).route_layer(limited(Kind::Create)),
        )
        .route(
            "/api/e2e/requests/{id}",
            get(status).route_layer(limited(Kind::Peek)),
        )
        .route(
            "/api/e2e/requests/{id}/response",
            post(respond).route_layer(limited(Kind::Create)),
        )
}

/// `POST /api/e2e/requests` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    #[serde(default, deserialize_with = "present")]
    ttl_secs: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    response_ttl_secs: Option<i64>,
    claim_hash: String,
}

/// `POST /api/e2e/requests` answer. The keys never reach the server: the requester's client
/// appends them to `respond_path` as the fragments of its two links.
#[derive(Serialize)]
struct CreateResponse {
    id: String,
    expires_at: u64,
    response_ttl_secs: u64,
    respond_path: String,
}

/// `GET /api/e2e/requests/{id}` answer.
#[derive(Serialize)]
struct StatusResponse {
    id: String,
    expires_at: u64,
    answered: bool,
}

/// `POST /api/e2e/requests/{id}/response` body: a sealed note without passphrase, and the
/// uploads that become its files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RespondRequest {
    note: SealedNote,
    /// Uploads (`POST /api/e2e/files`) that become the answer's files, in manifest order.
    #[serde(default)]
    files: Vec<String>,
}

/// `POST /api/e2e/requests/{id}/response` answer.
#[derive(Serialize)]
struct RespondResponse {
    id: String,
    expires_at: u64,
}

/// A lifetime from the body, or the default; 422 outside `1..=max`.
fn ttl(value: Option<i64>, default: u64, max: u64, field: &str) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(ttl) => u64::try_from(ttl)
            .ok()
            .filter(|ttl| (1..=max).contains(ttl))
            .ok_or_else(|| {
                Error::Unprocessable(format!("{field} must be an integer between 1 and {max}"))
            }),
    }
}

/// Registers a request; answers 201 with its id.
async fn create(
    State(state): State<AppState>,
    deadline: Deadline,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    let config = &state.config;
    let max = config.max_ttl_secs;
    let ttl_secs = ttl(request.ttl_secs, config.default_ttl_secs, max, "ttl_secs")?;
    let response_ttl_secs = ttl(
        request.response_ttl_secs,
        config.default_ttl_secs,
        max,
        "response_ttl_secs",
    )?;
    let claim = decode_array::<TOKEN_HASH_LEN>(&request.claim_hash, "claim_hash")?;
    deadline.commit();
    let id = Uuid::new_v4();
    let record = RequestRecord {
        claim,
        response_ttl_secs,
    };
    let expires_at = state.store.insert_request(id, ttl_secs, record).await?;
    let id = id.hyphenated().to_string();
    let response = CreateResponse {
        respond_path: format!("/r/{id}"),
        id,
        expires_at,
        response_ttl_secs,
    };
    Ok((StatusCode::CREATED, Json(&response)).into_response())
}

/// Whether a request is answered. An expired request without an answer is 410 until the sweeper
/// forgets it (then 404, as an unknown id).
async fn status(State(state): State<AppState>, NoteId(id): NoteId) -> Result<Json<StatusResponse>> {
    let summary = state.store.peek_request(id).await?.ok_or(Error::NotFound)?;
    Ok(Json(StatusResponse {
        id: id.hyphenated().to_string(),
        expires_at: summary.expires_at,
        answered: summary.answered,
    }))
}

/// Stores the one response of a request; answers 201 with its expiry.
async fn respond(
    State(state): State<AppState>,
    deadline: Deadline,
    NoteId(id): NoteId,
    JsonBody(request): JsonBody<RespondRequest>,
) -> Result<Response> {
    let note = request.note.to_note(state.config.max_message_bytes)?;
    if note.passphrase.is_some() {
        return Err(Error::unprocessable(
            "a response has no argon2id parameters: the requester's keys protect it",
        ));
    }
    let files = crate::routes::files::file_ids(&request.files)?;
    deadline.commit();
    let expires_at = state.store.respond(id, note, files).await?;
    state.metrics.note_created();
    let response = RespondResponse {
        id: id.hyphenated().to_string(),
        expires_at,
    };
    Ok((StatusCode::CREATED, Json(&response)).into_response())
}
