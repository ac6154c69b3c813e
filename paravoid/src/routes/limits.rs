//! `GET /api/e2e/limits`: what this server accepts from an end-to-end client, so the pages can
//! say so before anything is sealed or sent (the largest file, the number of files per note,
//! whether this store keeps files at all, the longest note). Public configuration only.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{AppState, Config};

/// The route of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/e2e/limits", get(limits))
}

/// `GET /api/e2e/limits` answer.
#[derive(Debug, Serialize)]
struct Limits {
    /// Whether this server keeps files. Both stores do; the field lets a client tell a server
    /// that does not (an older one, or one built without files) before it seals anything.
    files: bool,
    /// `--max-file-bytes`: the largest file, before sealing.
    max_file_bytes: u64,
    /// Files per note.
    max_files: usize,
    /// `--max-message-bytes`: the largest sealed note plaintext (message, or message and manifest).
    max_message_bytes: usize,
    /// `--max-ttl`: the longest lifetime of a note or request, in seconds.
    max_ttl_secs: u64,
}

/// Answers the limits of this server.
async fn limits(State(state): State<AppState>) -> Json<Limits> {
    let config = &state.config;
    Json(Limits {
        files: true,
        max_file_bytes: config.max_file_bytes,
        max_files: qsmm_shield::attachment::MAX_FILES,
        max_message_bytes: config.max_message_bytes,
        max_ttl_secs: config.max_ttl_secs,
    })
}

/// `(paths, schemas)` of this route for the OpenAPI document.
pub(crate) fn paths_and_schemas(config: &Config) -> (Value, Value) {
    let paths = json!({
        "/api/e2e/limits": {
            "get": {
                "operationId": "getE2eLimits",
                "summary": "What this server accepts from an end-to-end client.",
                "description": "Public configuration, for clients to check files and notes \
                    before sealing them: whether files are kept, the largest file \
                    (`--max-file-bytes`), files per note, the largest note plaintext and the \
                    longest lifetime.",
                "responses": {
                    "200": {
                        "description": "The limits.",
                        "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/E2eLimits" }
                        } }
                    }
                }
            }
        }
    });
    let schemas = json!({
        "E2eLimits": {
            "type": "object",
            "required": ["files", "max_file_bytes", "max_files", "max_message_bytes", "max_ttl_secs"],
            "additionalProperties": false,
            "properties": {
                "files": { "type": "boolean" },
                "max_file_bytes": { "type": "integer", "minimum": 0, "example": config.max_file_bytes },
                "max_files": { "type": "integer", "minimum": 0 },
                "max_message_bytes": { "type": "integer", "minimum": 1 },
                "max_ttl_secs": { "type": "integer", "minimum": 1 }
            }
        }
    });
    (paths, schemas)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn answers_the_configured_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_db(dir.path().join("notes.redb"));
        config.max_file_bytes = 12_345;
        let state = AppState::open(config).unwrap();
        let request = Request::get("/api/e2e/limits").body(Body::empty()).unwrap();
        let response = crate::app(state).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let limits: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            limits,
            json!({
                "files": true,
                "max_file_bytes": 12_345,
                "max_files": 32,
                "max_message_bytes": 65_536,
                "max_ttl_secs": 604_800
            })
        );
    }
}
