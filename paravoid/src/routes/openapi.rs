//! `GET /api/openapi.json`: the OpenAPI 3.0 description of the JSON API, built from the running
//! configuration so the documented limits are the enforced ones.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::routes::secrets::{
    CLASSICAL_SECRET_LEN, COMPACT_LEN, DK_SEED_LEN, EXPANDED_DK_LEN, MAX_PASSPHRASE_CHARS,
};
use crate::store::MAX_PASSPHRASE_ATTEMPTS;
use crate::{AppState, Config};

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(serve_document))
}

/// Serves the document for this server's configuration.
async fn serve_document(State(state): State<AppState>) -> Json<Value> {
    Json(openapi_document(&state.config))
}

/// The OpenAPI 3.0.3 document of the API as a server with `config` enforces it.
///
/// ```
/// use paravoid::{Config, openapi_document};
///
/// let doc = openapi_document(&Config::with_db("x.redb"));
/// assert_eq!(doc["openapi"], "3.0.3");
/// assert!(doc["paths"]["/api/secrets/{id}/reveal"]["post"].is_object());
/// ```
#[must_use]
pub fn openapi_document(config: &Config) -> Value {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        })
    };
    let ok = |description: &str, schema: &str| {
        json!({
            "description": description,
            "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{schema}") }
            } }
        })
    };
    let id_parameter = json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The note id. Any value that is not a hyphenated UUID is answered 404, \
                        exactly like an unknown id.",
        "schema": { "type": "string", "format": "uuid" }
    });
    let passphrase = json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_PASSPHRASE_CHARS,
        "description": "Second factor, bound into the note's key through Argon2id. Never \
                        stored, and nothing derived from it is: only the Argon2id salt and \
                        costs are."
    });
    let uuid = json!({ "type": "string", "format": "uuid" });
    let unix_secs = json!({ "type": "integer", "format": "int64", "minimum": 0 });
    let lower_hex = |bytes: usize| {
        json!({
            "type": "string",
            "minLength": bytes * 2,
            "maxLength": bytes * 2,
            "pattern": format!("^[0-9a-f]{{{}}}$", bytes * 2)
        })
    };
    let compact = json!({
        "type": "string",
        "minLength": COMPACT_LEN,
        "maxLength": COMPACT_LEN,
        "pattern": format!("^[A-Za-z0-9_-]{{{COMPACT_LEN}}}$"),
        "description": "Unpadded base64url of the 64-byte ML-KEM-768 seed followed by the \
                        32-byte classical secret."
    });

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "paravoid",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One-time secret notes. A note is sealed with ML-KEM-768 and a \
                32-byte classical secret (HKDF-SHA256, AES-256-GCM); the server keeps only the \
                ciphertext and hands the link keys to the creator once. A note opens exactly \
                once and is deleted in the same transaction. Every response carries \
                `Cache-Control: no-store`; every error is `{\"error\": \"...\"}`."
        },
        "paths": {
            "/api/secrets": {
                "post": {
                    "operationId": "createSecret",
                    "summary": "Seal and store a note; returns the link keys (only once).",
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/CreateRequest" }
                        } }
                    },
                    "responses": {
                        "201": ok("The note is stored durably.", "CreateResponse"),
                        "400": error("The body is not valid JSON."),
                        "408": error("The request took longer than the server's timeout."),
                        "413": error(&format!(
                            "The message is longer than {} bytes of UTF-8, or the body is \
                             longer than {} bytes.",
                            config.max_message_bytes,
                            config.max_body_bytes()
                        )),
                        "415": error("The Content-Type is not application/json."),
                        "422": error("A field is missing, null, unknown, of the wrong type or \
                                      out of range; the message is empty; or the passphrase is \
                                      empty or overlong."),
                        "429": error("Too many creates from this client; see `Retry-After`."),
                        "500": error("The server failed (never caused by the request)."),
                        "503": error("With a passphrase: every Argon2id worker is busy and the \
                                      queue is full; see `Retry-After`. Nothing was stored.")
                    }
                }
            },
            "/api/secrets/{id}": {
                "get": {
                    "operationId": "peekSecret",
                    "summary": "Whether a note exists; never consumes it.",
                    "parameters": [id_parameter],
                    "responses": {
                        "200": ok("The note exists and has not expired.", "PeekResponse"),
                        "404": error("No such note: unknown, expired, already read or \
                                      destroyed, or the id is not a UUID. All give the same \
                                      body."),
                        "408": error("The request took longer than the server's timeout."),
                        "500": error("The server failed (never caused by the request).")
                    }
                }
            },
            "/api/secrets/{id}/reveal": {
                "post": {
                    "operationId": "revealSecret",
                    "summary": "Open the note with its link keys and delete it.",
                    "description": format!(
                        "Exactly once: of any number of concurrent reveals with the right keys \
                         one gets the message, the others 404. The body is validated before the \
                         id is looked up. Wrong link keys change nothing (403). For a note with \
                         a passphrase, a missing passphrase changes nothing (403); a wrong one is \
                         counted (403 with `attempts_left`) and the {MAX_PASSPHRASE_ATTEMPTS}th \
                         wrong one destroys the note. A passphrase sent for a note without one \
                         is ignored. Once the reveal is queued it is answered even past the \
                         request timeout (408 only comes before that)."
                    ),
                    "parameters": [id_parameter],
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/RevealRequest" }
                        } }
                    },
                    "responses": {
                        "200": ok("The message; the note is gone.", "RevealResponse"),
                        "400": error("The body is not valid JSON."),
                        "403": error("Wrong link keys (including a well-formed `dk` that \
                                      is not a valid ML-KEM-768 key), passphrase required, or \
                                      wrong passphrase (with `attempts_left`)."),
                        "404": error("No such note: unknown, expired, already read or \
                                      destroyed, or the id is not a UUID. All give the same \
                                      body."),
                        "408": error("The request took longer than the server's timeout."),
                        "413": error("The body is too large."),
                        "415": error("The Content-Type is not application/json."),
                        "422": error("A field is missing, null, unknown or of the wrong type; \
                                      both or neither key forms given; bad hex or base64url; \
                                      wrong key length; or an empty or overlong passphrase."),
                        "429": error("Too many reveals from this client; see `Retry-After`."),
                        "500": error("The server failed (never caused by the request)."),
                        "503": error("With a passphrase: every Argon2id worker is busy and the \
                                      queue is full; see `Retry-After`. No attempt was \
                                      counted.")
                    }
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness and readiness: the server runs and its store answers.",
                    "responses": {
                        "200": ok("The server runs and its store answers.", "Health"),
                        "503": {
                            "description": "The store does not answer (PostgreSQL down or \
                                            unreachable; the server reconnects by itself), or the \
                                            redb writer has stopped (the process is about to exit \
                                            for its supervisor to restart it).",
                            "content": { "application/json": { "schema": { "oneOf": [
                                { "$ref": "#/components/schemas/Health" },
                                { "$ref": "#/components/schemas/Error" }
                            ] } } }
                        }
                    }
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": { "application/json": { "schema": { "type": "object" } } }
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "additionalProperties": false,
                    "properties": {
                        "error": { "type": "string", "description": "What went wrong. Never \
                                   repeats request data." },
                        "attempts_left": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_PASSPHRASE_ATTEMPTS - 1,
                            "description": "Only on a wrong passphrase: attempts before the \
                                            note is destroyed."
                        }
                    }
                },
                "CreateRequest": {
                    "type": "object",
                    "required": ["message"],
                    "additionalProperties": false,
                    "properties": {
                        "message": {
                            "type": "string",
                            "minLength": 1,
                            "x-maxBytes": config.max_message_bytes,
                            "description": format!(
                                "The secret. At most {} bytes of UTF-8 (longer: 413). The limit \
                                 counts bytes, not characters, so it is not a JSON Schema \
                                 `maxLength`.",
                                config.max_message_bytes
                            )
                        },
                        "ttl_secs": {
                            "type": "integer",
                            "format": "int64",
                            "minimum": 1,
                            "maximum": config.max_ttl_secs,
                            "default": config.default_ttl_secs,
                            "description": "Lifetime in seconds; omit for the default."
                        },
                        "passphrase": passphrase
                    }
                },
                "CreateResponse": {
                    "type": "object",
                    "required": ["id", "dk", "classical_secret", "link", "expires_at",
                                 "compact", "share_path", "passphrase_required"],
                    "additionalProperties": false,
                    "properties": {
                        "id": uuid,
                        "dk": lower_hex(EXPANDED_DK_LEN),
                        "classical_secret": lower_hex(CLASSICAL_SECRET_LEN),
                        "link": {
                            "type": "string",
                            "pattern": "^/api/secrets/[0-9a-f-]{36}/reveal$"
                        },
                        "expires_at": unix_secs,
                        "compact": compact,
                        "share_path": {
                            "type": "string",
                            "pattern": format!("^/s/[0-9a-f-]{{36}}#[A-Za-z0-9_-]{{{COMPACT_LEN}}}$")
                        },
                        "passphrase_required": { "type": "boolean" }
                    }
                },
                "PeekResponse": {
                    "type": "object",
                    "required": ["id", "exists", "expires_at", "passphrase_required"],
                    "additionalProperties": false,
                    "properties": {
                        "id": uuid,
                        "exists": { "type": "boolean", "enum": [true] },
                        "expires_at": unix_secs,
                        "passphrase_required": { "type": "boolean" }
                    }
                },
                "RevealRequest": {
                    "oneOf": [
                        { "$ref": "#/components/schemas/RevealWithKeys" },
                        { "$ref": "#/components/schemas/RevealWithCompact" }
                    ]
                },
                "RevealWithKeys": {
                    "type": "object",
                    "required": ["dk", "classical_secret"],
                    "additionalProperties": false,
                    "properties": {
                        "dk": {
                            "type": "string",
                            "minLength": DK_SEED_LEN * 2,
                            "maxLength": EXPANDED_DK_LEN * 2,
                            "pattern": format!(
                                "^([0-9a-fA-F]{{{}}}|[0-9a-fA-F]{{{}}})$",
                                DK_SEED_LEN * 2,
                                EXPANDED_DK_LEN * 2
                            ),
                            "description": "Hex of the 2400-byte expanded ML-KEM-768 \
                                            decapsulation key, or of its 64-byte seed."
                        },
                        "classical_secret": {
                            "type": "string",
                            "minLength": CLASSICAL_SECRET_LEN * 2,
                            "maxLength": CLASSICAL_SECRET_LEN * 2,
                            "pattern": format!("^[0-9a-fA-F]{{{}}}$", CLASSICAL_SECRET_LEN * 2)
                        },
                        "passphrase": passphrase
                    }
                },
                "RevealWithCompact": {
                    "type": "object",
                    "required": ["compact"],
                    "additionalProperties": false,
                    "properties": {
                        "compact": compact,
                        "passphrase": passphrase
                    }
                },
                "RevealResponse": {
                    "type": "object",
                    "required": ["id", "message"],
                    "additionalProperties": false,
                    "properties": {
                        "id": uuid,
                        "message": { "type": "string" }
                    }
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "store"],
                    "additionalProperties": false,
                    "properties": {
                        "status": { "type": "string", "enum": ["ok", "unavailable"] },
                        "store": { "type": "string", "enum": ["redb", "postgres"] }
                    }
                }
            }
        }
    })
}
