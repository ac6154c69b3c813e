//! `GET /healthz`: liveness for load balancers and orchestrators; `GET /metrics`: Prometheus
//! metrics, on a router of its own ([`metrics_router`]) that only `--metrics-bind` serves.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use crate::store::NoteStore as _;

/// The public route of this module: `/healthz`.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

/// `/metrics` (and `/healthz`), for the separate metrics listener: never on the public one.
pub(crate) fn metrics_router() -> Router<AppState> {
    router().route("/metrics", get(metrics))
}

/// Answers `{"status": "ok", "store": "redb" | "postgres"}` while the server can store and
/// reveal notes. Answers 503 with the JSON error body once the redb writer thread has stopped,
/// and 503 with `{"error": "database unavailable"}` while PostgreSQL does not answer (the server
/// reconnects by itself and answers 200 again once PostgreSQL is back).
async fn health(State(state): State<AppState>) -> Response {
    let store = state.store.kind();
    if !state.is_healthy() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "the store's writer has stopped" })),
        )
            .into_response();
    }
    match state.store.check().await {
        Ok(()) => Json(json!({ "status": "ok", "store": store })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "database unavailable" })),
            )
                .into_response()
        }
    }
}

/// The metrics in the Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
