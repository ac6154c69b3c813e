//! Read receipts: a note's creator asks whether it was revealed, expired or destroyed, and
//! learns nothing else.
//!
//! - **create** (`POST /api/e2e/notes` with `"receipt": true`, `routes::e2e`) answers a
//!   `receipt_token`: 32 random bytes, unpadded base64url, shown once. The server keeps only its
//!   SHA-256, as the key of the receipt record (`store::receipts`).
//! - **status** (`POST /api/e2e/receipts/status` with `{"token": …}`) answers
//!   `{"status": "pending" | "revealed" | "expired" | "destroyed", "at": <unix seconds>}`, the
//!   time rounded down to the minute. An unknown token, or one whose receipt has been swept (a
//!   week after the note's expiry), is 404.
//!
//! The status is asked by token alone, never by note id: the token is the only name of the
//! receipt, so the note's link (which holds the id) tells nothing about it, a guessed id asks
//! nothing, and the token travels in a body rather than a URL (which proxies and access logs
//! keep). See paravoid's `SECURITY.md`.

pub(crate) mod openapi;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::rate_limit::{self, Kind};
use crate::routes::base64url::decode_array;
use crate::store::TOKEN_HASH_LEN;
use crate::store::receipts::{
    NewReceipt, NewWebhook, ReceiptKey, ReceiptStore as _, WEBHOOK_ID_LEN,
};
use crate::webhooks::WEBHOOK_SECRET_LEN;
use crate::webhooks::target::Target;
use crate::{AppState, Error, Result};

/// Length of a status token, in bytes.
pub const RECEIPT_TOKEN_LEN: usize = TOKEN_HASH_LEN;

/// The routes of this module: a status request counts as a peek.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let limited =
        |kind| axum::middleware::from_fn_with_state((state.clone(), kind), rate_limit::limit);
    Router::new().route(
        "/api/e2e/receipts/status",
        post(status).route_layer(limited(Kind::Peek)),
    )
}

/// `POST /api/e2e/receipts/status` body.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct StatusRequest {
    token: String,
}

/// `POST /api/e2e/receipts/status` answer.
#[derive(Debug, Serialize)]
struct StatusResponse {
    status: &'static str,
    at: u64,
}

/// The key of the receipt a token names.
pub(crate) fn receipt_key(token: &[u8; RECEIPT_TOKEN_LEN]) -> ReceiptKey {
    Sha256::digest(token).into()
}

/// What a create answers of a receipt, once: the status token and, with a webhook, its id and
/// secret (unpadded base64url).
pub(crate) struct Issued {
    /// The status token.
    pub(crate) token: String,
    /// The webhook's opaque id and secret.
    pub(crate) webhook: Option<(String, Zeroizing<String>)>,
}

/// Draws a status token and, with `webhook` (checked by `webhooks::target::admit`), a fresh
/// webhook secret and id: what the store keeps (the token's hash, the webhook), stored with
/// the note in its insert transaction, and what the create answers once (their text form).
pub(crate) fn draw(webhook: Option<Target>) -> Result<(NewReceipt, Issued)> {
    let mut token = Zeroizing::new([0u8; RECEIPT_TOKEN_LEN]);
    getrandom::fill(token.as_mut()).map_err(|_| Error::Internal("no randomness"))?;
    let webhook = webhook.map(new_webhook).transpose()?;
    let answered = webhook.as_ref().map(|webhook| {
        (
            URL_SAFE_NO_PAD.encode(webhook.id),
            Zeroizing::new(URL_SAFE_NO_PAD.encode(webhook.secret.as_ref())),
        )
    });
    let stored = NewReceipt {
        key: receipt_key(&token),
        webhook,
    };
    let issued = Issued {
        token: URL_SAFE_NO_PAD.encode(token.as_ref()),
        webhook: answered,
    };
    Ok((stored, issued))
}

/// A webhook to `target` with a fresh secret and id.
fn new_webhook(target: Target) -> Result<NewWebhook> {
    let mut webhook = NewWebhook {
        url: target.url.into(),
        secret: Zeroizing::new([0; WEBHOOK_SECRET_LEN]),
        id: [0; WEBHOOK_ID_LEN],
    };
    getrandom::fill(webhook.secret.as_mut()).map_err(|_| Error::Internal("no randomness"))?;
    getrandom::fill(&mut webhook.id).map_err(|_| Error::Internal("no randomness"))?;
    Ok(webhook)
}

/// Answers the status of the receipt the token names.
async fn status(
    State(state): State<AppState>,
    crate::json::JsonBody(request): crate::json::JsonBody<StatusRequest>,
) -> Result<Json<StatusResponse>> {
    let token = Zeroizing::new(decode_array::<RECEIPT_TOKEN_LEN>(&request.token, "token")?);
    let view = state
        .store
        .receipt_status(receipt_key(&token))
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Json(StatusResponse {
        status: view.status.as_str(),
        at: view.at,
    }))
}
