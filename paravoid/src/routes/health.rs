//! `GET /healthz`: liveness for load balancers and orchestrators.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

/// Answers `{"status": "ok"}` while the server runs.
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
