//! `GET /healthz`: liveness and readiness for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::storage::NoteStore as _;

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

/// Answers `{"status": "ok", "store": "redb" | "postgres"}` while the store answers, and 503
/// with `{"status": "unavailable", …}` while it does not (PostgreSQL down or unreachable); the
/// server reconnects by itself and answers 200 again once PostgreSQL is back.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.kind();
    match state.store.check().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "store": store })),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "store": store })),
            )
        }
    }
}
