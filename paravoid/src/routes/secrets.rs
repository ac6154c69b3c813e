//! `/api/secrets`: create a note, peek at it, reveal it once.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use qsmm_shield::note::{
    self, NoteOpenError, RecipientKeys, StoredNote, open_note_with_passphrase, seal_note,
    seal_note_with_passphrase,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::argon2_pool::Argon2Pool;
use crate::blocking::blocking;
use crate::deadline::Deadline;
use crate::json::{JsonBody, present};
use crate::rate_limit::{self, Kind};
use crate::store::NoteStore as _;
use crate::store::RevealStep;
use crate::{AppState, Error, Result};

/// Longest passphrase accepted, in Unicode scalar values (what JSON Schema's `maxLength` counts).
pub const MAX_PASSPHRASE_CHARS: usize = 1024;

/// Length of the expanded ML-KEM-768 decapsulation key, in bytes.
pub const EXPANDED_DK_LEN: usize = note::EXPANDED_DK_LEN;

/// Length of the ML-KEM-768 seed form of the decapsulation key (`d ‖ z`), in bytes.
pub const DK_SEED_LEN: usize = note::SEED_LEN;

/// Length of the classical secret, in bytes.
pub const CLASSICAL_SECRET_LEN: usize = note::CLASSICAL_SECRET_LEN;

/// Length of the `compact` link key: unpadded base64url of 96 bytes.
pub const COMPACT_LEN: usize = note::COMPACT_KEYS_CHARS;

/// The routes of this module, with the per-client rate limits on create and reveal.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let limited =
        |kind| axum::middleware::from_fn_with_state((state.clone(), kind), rate_limit::limit);
    Router::new()
        .route(
            "/api/secrets",
            post(create).route_layer(limited(Kind::Create)),
        )
        .route(
            "/api/secrets/{id}",
            get(peek).route_layer(limited(Kind::Peek)),
        )
        .route(
            "/api/secrets/{id}/reveal",
            post(reveal).route_layer(limited(Kind::Reveal)),
        )
}

/// `POST /api/secrets` body.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    message: String,
    #[serde(default, deserialize_with = "present")]
    ttl_secs: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    passphrase: Option<String>,
}

/// `POST /api/secrets` answer: everything the creator needs to pass on. Returned once and never
/// stored.
#[derive(Serialize, Zeroize, ZeroizeOnDrop)]
struct CreateResponse {
    id: String,
    dk: String,
    classical_secret: String,
    link: String,
    expires_at: u64,
    compact: String,
    share_path: String,
    passphrase_required: bool,
}

/// `GET /api/secrets/{id}` answer.
#[derive(Serialize)]
struct PeekResponse {
    id: String,
    exists: bool,
    expires_at: u64,
    passphrase_required: bool,
}

/// `POST /api/secrets/{id}/reveal` body: either `dk` + `classical_secret`, or `compact`.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct RevealRequest {
    #[serde(default, deserialize_with = "present")]
    dk: Option<String>,
    #[serde(default, deserialize_with = "present")]
    classical_secret: Option<String>,
    #[serde(default, deserialize_with = "present")]
    compact: Option<String>,
    #[serde(default, deserialize_with = "present")]
    passphrase: Option<String>,
}

/// `POST /api/secrets/{id}/reveal` answer.
#[derive(Serialize, Zeroize, ZeroizeOnDrop)]
struct RevealResponse {
    id: String,
    message: String,
}

/// A note id from the path. Anything that is not a UUID cannot name a note, so it is answered
/// exactly like an unknown id (404).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NoteId(pub(crate) Uuid);

impl<S: Send + Sync> FromRequestParts<S> for NoteId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        parse_id(&raw).map(NoteId).ok_or(Error::NotFound)
    }
}

/// Parses the hyphenated UUID form only (`8-4-4-4-12` hex digits, any case).
fn parse_id(raw: &str) -> Option<Uuid> {
    if raw.len() != 36 {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

/// Seals a new note and stores it; answers 201 with the link keys.
///
/// Sealing with a passphrase runs Argon2id in the bounded pool (503 when it is full). The
/// timeout stops applying once the note is queued for storage.
async fn create(
    State(state): State<AppState>,
    deadline: Deadline,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    let config = &state.config;
    if request.message.is_empty() {
        return Err(Error::unprocessable("message must not be empty"));
    }
    if request.message.len() > config.max_message_bytes {
        return Err(Error::MessageTooLarge {
            max: config.max_message_bytes,
        });
    }
    let ttl_secs = match request.ttl_secs {
        None => config.default_ttl_secs,
        Some(ttl) => u64::try_from(ttl)
            .ok()
            .filter(|ttl| (1..=config.max_ttl_secs).contains(ttl))
            .ok_or_else(|| {
                Error::Unprocessable(format!(
                    "ttl_secs must be an integer between 1 and {}",
                    config.max_ttl_secs
                ))
            })?,
    };
    if let Some(passphrase) = &request.passphrase {
        check_passphrase(passphrase)?;
    }

    let passphrase_required = request.passphrase.is_some();
    let seal = move || -> Result<(StoredNote, RecipientKeys)> {
        let message = request.message.as_bytes();
        let sealed = match &request.passphrase {
            Some(passphrase) => seal_note_with_passphrase(message, passphrase.as_bytes()),
            None => seal_note(message),
        };
        sealed.map_err(|_| Error::Internal("sealing the note failed"))
    };
    let (note, keys) = if passphrase_required {
        let permit = state.argon2.acquire().await?;
        Argon2Pool::run(permit, seal).await??
    } else {
        blocking(seal).await?
    };

    // From here the note is stored whatever happens to the request, so its answer is delivered.
    deadline.commit();
    let id = Uuid::new_v4();
    let store = state.store.clone();
    let expires_at = store.insert(id, ttl_secs, note).await?;
    state.metrics.note_created();

    let id = id.hyphenated().to_string();
    let compact = keys.to_compact();
    let response = CreateResponse {
        link: format!("/api/secrets/{id}/reveal"),
        share_path: format!("/s/{id}#{}", compact.as_str()),
        dk: hex::encode(keys.expanded_decapsulation_key().as_slice()),
        classical_secret: hex::encode(keys.classical_secret()),
        compact: compact.as_str().to_owned(),
        id,
        expires_at,
        passphrase_required,
    };
    Ok((StatusCode::CREATED, Json(&response)).into_response())
}

/// Reports whether a note exists, without consuming it.
async fn peek(State(state): State<AppState>, NoteId(id): NoteId) -> Result<Json<PeekResponse>> {
    let store = state.store.clone();
    // A note sealed in the browser belongs to the end-to-end API: not found here.
    let summary = store
        .peek(id)
        .await?
        .filter(|summary| !summary.end_to_end)
        .ok_or(Error::NotFound)?;
    Ok(Json(PeekResponse {
        id: id.hyphenated().to_string(),
        exists: true,
        expires_at: summary.expires_at,
        passphrase_required: summary.passphrase_required,
    }))
}

/// Opens a note with its link keys (and passphrase) and deletes it.
///
/// 1. With a passphrase, wait for an Argon2id worker first (503 if the pool is full; nothing
///    is counted then).
/// 2. The writer checks the link keys. A note without passphrase is opened and deleted right
///    there. For a note with one, the writer reserves an attempt (committed).
/// 3. Argon2id and decryption run in the pool, outside the writer.
/// 4. Right passphrase: the writer deletes the note, then the message is answered. Wrong: the
///    attempt stays counted; the last one destroys the note.
///
/// The timeout stops applying at step 2: once a reveal is queued, its answer is delivered.
async fn reveal(
    State(state): State<AppState>,
    deadline: Deadline,
    NoteId(id): NoteId,
    JsonBody(request): JsonBody<RevealRequest>,
) -> Result<Response> {
    // `None`: well-formed, but not a valid ML-KEM-768 key; it opens nothing, like wrong keys.
    let keys = recipient_keys(&request)?.map(Arc::new);
    if let Some(passphrase) = &request.passphrase {
        check_passphrase(passphrase)?;
    }
    let with_passphrase = request.passphrase.is_some();
    let permit = match with_passphrase {
        true => Some(state.argon2.acquire().await?),
        false => None,
    };

    deadline.commit();
    let store = state.store.clone();
    let step = {
        let keys = keys.clone();
        store.begin_reveal(id, keys, with_passphrase).await?
    };
    let message = match step {
        RevealStep::Opened(message) => message,
        RevealStep::Reserved { note, attempt } => {
            let (Some(permit), Some(keys)) = (permit, keys) else {
                return Err(Error::Internal("a reserved attempt without passphrase"));
            };
            // A passphrase sent for a note that has none never gets here: it was ignored.
            let opened = Argon2Pool::run(permit, move || {
                let passphrase = request.passphrase.as_ref().map(String::as_bytes);
                open_note_with_passphrase(&note, &keys, passphrase)
            })
            .await?;
            let store = state.store.clone();
            match opened {
                Ok(message) => {
                    store.finish_reveal(id, attempt, true).await?;
                    message
                }
                Err(NoteOpenError::WrongPassphrase) => {
                    store.finish_reveal(id, attempt, false).await?;
                    return Err(Error::Internal("a wrong passphrase was accepted"));
                }
                Err(_) => return Err(Error::Internal("stored note does not open")),
            }
        }
    };
    state.metrics.note_revealed();
    let message = String::from_utf8(message.to_vec())
        .map_err(|_| Error::Internal("stored message is not UTF-8"))?;
    let response = RevealResponse {
        id: id.hyphenated().to_string(),
        message,
    };
    Ok(Json(&response).into_response())
}

/// Rejects an empty or overlong passphrase.
fn check_passphrase(passphrase: &str) -> Result<()> {
    if passphrase.is_empty() {
        return Err(Error::unprocessable("passphrase must not be empty"));
    }
    if passphrase.chars().count() > MAX_PASSPHRASE_CHARS {
        return Err(Error::Unprocessable(format!(
            "passphrase too long: at most {MAX_PASSPHRASE_CHARS} characters"
        )));
    }
    Ok(())
}

/// The link keys of a reveal request, decoded.
///
/// Malformed input (wrong form, hex, base64url or length) is a 422. A well-formed expanded key
/// that fails the FIPS 203 checks is `Ok(None)`: it cannot open any note, and is answered like
/// wrong keys once the note is found, so that every schema-valid body is accepted.
fn recipient_keys(request: &RevealRequest) -> Result<Option<RecipientKeys>> {
    match (&request.dk, &request.classical_secret, &request.compact) {
        (Some(dk), Some(classical), None) => {
            let dk = decode_hex(dk, &[DK_SEED_LEN, EXPANDED_DK_LEN]).ok_or_else(|| {
                Error::unprocessable(
                    "dk must be hex of the 2400-byte expanded decapsulation key or of the \
                     64-byte seed",
                )
            })?;
            let classical = decode_hex(classical, &[CLASSICAL_SECRET_LEN]).ok_or_else(|| {
                Error::unprocessable("classical_secret must be 64 hex digits (32 bytes)")
            })?;
            Ok(RecipientKeys::from_expanded(&dk, &classical).ok())
        }
        (None, None, Some(compact)) => {
            if compact.len() != COMPACT_LEN || !compact.bytes().all(is_base64url) {
                return Err(Error::unprocessable(
                    "compact must be 128 characters of unpadded base64url (96 bytes)",
                ));
            }
            // 128 base64url characters are exactly 96 bytes: this only fails like a bad key.
            Ok(RecipientKeys::from_compact(compact).ok())
        }
        _ => Err(Error::unprocessable(
            "give either `dk` and `classical_secret`, or `compact`",
        )),
    }
}

/// Decodes hex whose decoded length is one of `lengths`; `None` otherwise.
fn decode_hex(text: &str, lengths: &[usize]) -> Option<Zeroizing<Vec<u8>>> {
    if !lengths
        .iter()
        .any(|len| len.checked_mul(2) == Some(text.len()))
    {
        return None;
    }
    hex::decode(text).ok().map(Zeroizing::new)
}

/// Whether `byte` is in the base64url alphabet.
const fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_hyphenated_uuids() {
        let id = Uuid::new_v4();
        assert_eq!(parse_id(&id.hyphenated().to_string()), Some(id));
        assert_eq!(
            parse_id(&id.hyphenated().to_string().to_uppercase()),
            Some(id)
        );
        assert_eq!(parse_id(&id.simple().to_string()), None);
        assert_eq!(parse_id(&id.braced().to_string()), None);
        assert_eq!(parse_id(&id.urn().to_string()), None);
        assert_eq!(parse_id("not-a-uuid"), None);
        assert_eq!(parse_id(""), None);
        assert_eq!(parse_id("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"), None);
    }

    #[test]
    fn hex_lengths_are_exact() {
        assert!(decode_hex(&"ab".repeat(32), &[32]).is_some());
        assert!(decode_hex(&"AB".repeat(32), &[32]).is_some());
        assert!(decode_hex(&"ab".repeat(31), &[32]).is_none());
        assert!(decode_hex(&"ab".repeat(33), &[32]).is_none());
        assert!(decode_hex(&format!("{}a", "ab".repeat(31)), &[32]).is_none());
        assert!(decode_hex(&"zz".repeat(32), &[32]).is_none());
        assert!(decode_hex(&"ab".repeat(64), &[64, 2400]).is_some());
        assert!(decode_hex(&"ab".repeat(2400), &[64, 2400]).is_some());
        assert!(decode_hex("", &[32]).is_none());
    }

    #[test]
    fn passphrase_bounds() {
        assert!(check_passphrase("").is_err());
        assert!(check_passphrase("x").is_ok());
        assert!(check_passphrase(&"é".repeat(MAX_PASSPHRASE_CHARS)).is_ok());
        assert!(check_passphrase(&"é".repeat(MAX_PASSPHRASE_CHARS + 1)).is_err());
    }
}
