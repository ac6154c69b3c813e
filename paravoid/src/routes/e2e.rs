//! `/api/e2e/notes`: the end-to-end mode. The browser seals the note (same format as
//! `qsmm_shield::note`) and the server stores and hands back sealed notes it cannot open.
//!
//! - **create** takes the sealed note's public fields, the expiry, the SHA-256 of a *claim
//!   token* derived from the link keys and, for a passphrase note, the SHA-256 of a *passphrase
//!   token* derived from the link keys and the Argon2id output;
//! - **peek** tells whether a note exists (and, for a passphrase note, its public Argon2id
//!   salt and costs, which the reader needs to derive its passphrase token);
//! - **claim** takes the tokens; with the right ones the note is deleted and returned in the
//!   same transaction. A wrong claim token changes nothing; a right claim token with a wrong
//!   passphrase token counts one of the tries, as a wrong passphrase does in the published API.
//!
//! No request of this mode carries a message, a decapsulation key, a classical secret or a
//! passphrase (unknown fields are refused), so the server has nothing that opens a note.
//! The tokens (base64url, 32 bytes each) are:
//!
//! ```text
//! claim            = HKDF-SHA256(ikm = link keys, info = "paravoid/v1/e2e/claim")
//! passphrase token = HKDF-SHA256(ikm = link keys ‖ Argon2id output, info = "paravoid/v1/e2e/passphrase")
//! ```
//!
//! where the link keys are the 96 raw bytes of the compact form (`seed ‖ classical`) and the
//! HKDF salt is empty; both are one-way, so neither the tokens nor their hashes open the note.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qsmm_shield::note::{
    KEY_CHECK_LEN, NOTE_CT_KEM_LEN, NOTE_EK_LEN, NOTE_NONCE_LEN, NOTE_TAG_LEN, PASSPHRASE_SALT_LEN,
    PassphraseParams, StoredNote,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::deadline::Deadline;
use crate::json::{JsonBody, present};
use crate::rate_limit::{self, Kind};
use crate::routes::base64url::{decode, decode_array, decode_exact};
use crate::routes::secrets::NoteId;
use crate::store::NoteStore as _;
use crate::store::files::FileStore as _;
use crate::store::{ClaimHashes, TOKEN_HASH_LEN, Tokens};
use crate::{AppState, Error, Result};

/// Length of a claim or passphrase token, and of their SHA-256 hashes, in bytes.
pub const E2E_TOKEN_LEN: usize = TOKEN_HASH_LEN;

/// Smallest Argon2id memory cost the end-to-end API stores, in KiB: `8 × MAX_P_COST`, so that
/// every accepted parallelism is valid and the bounds are plain ranges (the browser's default
/// is 19456).
pub(crate) const MIN_M_COST_KIB: u32 = 8 * PassphraseParams::MAX_P_COST;

/// The routes of this module, with the per-client rate limits of the published API: creating
/// counts as a create, claiming as a reveal.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let limited =
        |kind| axum::middleware::from_fn_with_state((state.clone(), kind), rate_limit::limit);
    Router::new()
        .route(
            "/api/e2e/notes",
            post(create).route_layer(limited(Kind::Create)),
        )
        .route(
            "/api/e2e/notes/{id}",
            get(peek).route_layer(limited(Kind::Peek)),
        )
        .route(
            "/api/e2e/notes/{id}/claim",
            post(claim).route_layer(limited(Kind::Reveal)),
        )
}

/// The public Argon2id parameters of a passphrase note.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Argon2idParams {
    salt: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl Argon2idParams {
    fn from_params(params: &PassphraseParams) -> Self {
        Self {
            salt: URL_SAFE_NO_PAD.encode(params.salt),
            m_cost_kib: params.m_cost_kib,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
        }
    }
}

/// The sealed note as JSON: every byte field is unpadded base64url.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SealedNote {
    ek: String,
    ct_kem: String,
    nonce: String,
    key_check: String,
    ciphertext: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    argon2id: Option<Argon2idParams>,
}

impl SealedNote {
    fn from_note(note: &StoredNote) -> Self {
        Self {
            ek: URL_SAFE_NO_PAD.encode(&note.ek),
            ct_kem: URL_SAFE_NO_PAD.encode(&note.ct_kem),
            nonce: URL_SAFE_NO_PAD.encode(note.nonce),
            key_check: URL_SAFE_NO_PAD.encode(note.key_check),
            ciphertext: URL_SAFE_NO_PAD.encode(&note.ciphertext),
            argon2id: note.passphrase.as_ref().map(Argon2idParams::from_params),
        }
    }

    /// Decodes and checks every field; `max_message` bounds the plaintext length.
    pub(crate) fn to_note(&self, max_message: usize) -> Result<StoredNote> {
        let ek = decode_exact(&self.ek, "ek", NOTE_EK_LEN)?;
        let ct_kem = decode_exact(&self.ct_kem, "ct_kem", NOTE_CT_KEM_LEN)?;
        let nonce = decode_array::<NOTE_NONCE_LEN>(&self.nonce, "nonce")?;
        let key_check = decode_array::<KEY_CHECK_LEN>(&self.key_check, "key_check")?;
        let max_ciphertext = max_message.saturating_add(NOTE_TAG_LEN);
        // Base64url is 4 characters per 3 bytes: refuse an overlong field before decoding it.
        if self.ciphertext.len() > max_ciphertext.div_ceil(3).saturating_mul(4) {
            return Err(Error::MessageTooLarge { max: max_message });
        }
        let ciphertext = decode(&self.ciphertext, "ciphertext")?;
        if ciphertext.len() < NOTE_TAG_LEN + 1 {
            return Err(Error::unprocessable(
                "ciphertext must hold at least one byte and the 16-byte tag",
            ));
        }
        if ciphertext.len() > max_ciphertext {
            return Err(Error::MessageTooLarge { max: max_message });
        }
        let passphrase = match &self.argon2id {
            None => None,
            Some(params) => {
                let params = PassphraseParams {
                    salt: decode_array::<PASSPHRASE_SALT_LEN>(&params.salt, "argon2id.salt")?,
                    m_cost_kib: params.m_cost_kib,
                    t_cost: params.t_cost,
                    p_cost: params.p_cost,
                };
                let in_bounds = (MIN_M_COST_KIB..=PassphraseParams::MAX_M_COST_KIB)
                    .contains(&params.m_cost_kib)
                    && (1..=PassphraseParams::MAX_T_COST).contains(&params.t_cost)
                    && (1..=PassphraseParams::MAX_P_COST).contains(&params.p_cost);
                if !in_bounds || params.validate().is_err() {
                    return Err(Error::unprocessable(
                        "argon2id costs out of bounds: 128 ≤ m_cost_kib ≤ 262144, \
                         1 ≤ t_cost ≤ 16, 1 ≤ p_cost ≤ 16",
                    ));
                }
                Some(params)
            }
        };
        let note = StoredNote {
            ek,
            ct_kem,
            nonce,
            ciphertext,
            passphrase,
            key_check,
        };
        // The same checks as reading it back from the database.
        StoredNote::from_bytes(&note.to_bytes())
            .map_err(|_| Error::unprocessable("the sealed note is malformed"))
    }
}

/// `POST /api/e2e/notes` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    note: SealedNote,
    #[serde(default, deserialize_with = "present")]
    ttl_secs: Option<i64>,
    claim_hash: String,
    #[serde(default, deserialize_with = "present")]
    passphrase_hash: Option<String>,
    /// Uploads (`POST /api/e2e/files`) that become the note's files, in manifest order.
    #[serde(default)]
    files: Vec<String>,
    /// Whether the creator wants a read receipt (`routes::receipts`).
    #[serde(default)]
    receipt: bool,
    /// A URL to call when the note goes (`webhooks`); implies `receipt`.
    #[serde(default, deserialize_with = "present")]
    webhook: Option<String>,
}

/// `POST /api/e2e/notes` answer. The link keys never reach the server: the browser appends
/// them to `share_path` as the fragment.
#[derive(Serialize)]
struct CreateResponse {
    id: String,
    expires_at: u64,
    share_path: String,
    passphrase_required: bool,
    /// The status token of the note's read receipt, answered only here.
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt_token: Option<String>,
    /// The opaque id the webhook call carries, answered only here.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_id: Option<String>,
    /// The webhook's signing secret, answered only here.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    webhook_secret: Option<zeroize::Zeroizing<String>>,
}

/// Serializes a secret answered once.
fn expose<S: serde::Serializer>(
    secret: &Option<zeroize::Zeroizing<String>>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.as_deref().map_or("", String::as_str))
}

/// `GET /api/e2e/notes/{id}` answer.
#[derive(Serialize)]
struct PeekResponse {
    id: String,
    exists: bool,
    expires_at: u64,
    passphrase_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    argon2id: Option<Argon2idParams>,
}

/// `POST /api/e2e/notes/{id}/claim` body.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    claim_token: String,
    #[serde(default, deserialize_with = "present")]
    passphrase_token: Option<String>,
}

/// `POST /api/e2e/notes/{id}/claim` answer: the sealed note, which only the link keys open.
#[derive(Serialize)]
struct ClaimResponse {
    id: String,
    note: SealedNote,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<crate::routes::files::ClaimedFiles>,
}

/// Stores a note sealed by the browser; answers 201 with its id. The timeout stops applying
/// once the note is queued for storage.
async fn create(
    State(state): State<AppState>,
    deadline: Deadline,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    let config = &state.config;
    let note = request.note.to_note(config.max_message_bytes)?;
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
    let claim = decode_array::<TOKEN_HASH_LEN>(&request.claim_hash, "claim_hash")?;
    let passphrase = match (&note.passphrase, &request.passphrase_hash) {
        (Some(_), Some(hash)) => Some(decode_array::<TOKEN_HASH_LEN>(hash, "passphrase_hash")?),
        (None, None) => None,
        (Some(_), None) => {
            return Err(Error::unprocessable(
                "a note with argon2id parameters needs passphrase_hash",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::unprocessable(
                "passphrase_hash needs a note with argon2id parameters",
            ));
        }
    };

    let passphrase_required = note.passphrase.is_some();
    let hashes = ClaimHashes { claim, passphrase };
    let webhook = request
        .webhook
        .as_deref()
        .map(|url| crate::webhooks::target::admit(url, config).map_err(Error::unprocessable))
        .transpose()?;

    // From here the note is stored whatever happens to the request, so its answer is delivered.
    deadline.commit();
    let id = Uuid::new_v4();
    let files = crate::routes::files::file_ids(&request.files)?;
    // The receipt is stored with the note, in its insert transaction.
    let (receipt, issued) = if request.receipt || webhook.is_some() {
        let (receipt, issued) = crate::routes::receipts::draw(webhook)?;
        (Some(receipt), Some(issued))
    } else {
        (None, None)
    };
    let store = state.store.clone();
    let expires_at = store
        .insert_with_files(id, ttl_secs, note, hashes, files, receipt)
        .await?;
    state.metrics.note_created();
    let (receipt_token, webhook) =
        issued.map_or((None, None), |issued| (Some(issued.token), issued.webhook));
    let (webhook_id, webhook_secret) = webhook.unzip();

    let id = id.hyphenated().to_string();
    let response = CreateResponse {
        share_path: format!("/s/{id}"),
        id,
        expires_at,
        passphrase_required,
        receipt_token,
        webhook_id,
        webhook_secret,
    };
    Ok((StatusCode::CREATED, Json(&response)).into_response())
}

/// Reports whether an end-to-end note exists, without consuming it.
async fn peek(State(state): State<AppState>, NoteId(id): NoteId) -> Result<Json<PeekResponse>> {
    let store = state.store.clone();
    // A note sealed by the server belongs to the published API: not found here.
    let summary = store.peek_end_to_end(id).await?.ok_or(Error::NotFound)?;
    Ok(Json(PeekResponse {
        id: id.hyphenated().to_string(),
        exists: true,
        expires_at: summary.expires_at,
        passphrase_required: summary.passphrase.is_some(),
        argon2id: summary.passphrase.as_ref().map(Argon2idParams::from_params),
    }))
}

/// Hands the sealed note to the holder of its tokens and deletes it, in one writer job (see
/// `Store::claim`). The timeout stops applying once the claim is queued: its answer, the only
/// copy of the note, is delivered.
async fn claim(
    State(state): State<AppState>,
    deadline: Deadline,
    NoteId(id): NoteId,
    JsonBody(request): JsonBody<ClaimRequest>,
) -> Result<Json<ClaimResponse>> {
    let tokens = Tokens {
        claim: decode_array::<TOKEN_HASH_LEN>(&request.claim_token, "claim_token")?,
        passphrase: request
            .passphrase_token
            .as_deref()
            .map(|token| decode_array::<TOKEN_HASH_LEN>(token, "passphrase_token"))
            .transpose()?,
    };
    deadline.commit();
    let store = state.store.clone();
    let (token, token_hash) = crate::routes::files::download_token()?;
    let ttl = crate::routes::files::DOWNLOAD_TTL_SECS;
    let claimed = store.claim_with_files(id, tokens, token_hash, ttl).await;
    // Revealed or destroyed, the note's receipt may have a webhook due.
    state.webhook_wake.wake();
    let (note, sizes) = claimed?;
    state.metrics.note_revealed();
    let files = crate::routes::files::claimed_files(&token, sizes);
    Ok(Json(ClaimResponse {
        id: id.hyphenated().to_string(),
        note: SealedNote::from_note(&note),
        files,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_note_round_trips_through_its_json_form() {
        let (note, _keys) = qsmm_shield::note::seal_note_with_passphrase_params(
            b"hello",
            b"pw",
            PassphraseParams::with_costs(MIN_M_COST_KIB, 1, 1).unwrap(),
        )
        .unwrap();
        let json = SealedNote::from_note(&note);
        assert_eq!(json.to_note(5).unwrap(), note);
        assert!(matches!(
            json.to_note(4),
            Err(Error::MessageTooLarge { max: 4 })
        ));
    }
}
