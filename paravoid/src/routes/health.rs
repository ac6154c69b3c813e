//! `GET /healthz`: liveness for load balancers and orchestrators; `GET /metrics`: Prometheus
//! metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
}

/// Answers `{"status": "ok"}` while the server can store and reveal notes, and 503 with the
/// JSON error body once its writer thread has stopped.
async fn health(State(state): State<AppState>) -> Response {
    if state.is_healthy() {
        Json(json!({ "status": "ok" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "the store's writer has stopped" })),
        )
            .into_response()
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
