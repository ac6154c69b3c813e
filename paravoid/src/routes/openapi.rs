//! `GET /api/openapi.json`: the OpenAPI 3.0 description of the JSON API, built from the running
//! configuration so the documented limits are the enforced ones.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::routes::base64url::base64url_pattern;
use crate::routes::e2e::MIN_M_COST_KIB;
use crate::routes::secrets::{
    CLASSICAL_SECRET_LEN, COMPACT_LEN, DK_SEED_LEN, EXPANDED_DK_LEN, MAX_PASSPHRASE_CHARS,
};
use crate::store::{MAX_PASSPHRASE_ATTEMPTS, TOKEN_HASH_LEN};
use crate::{AppState, Config};
use qsmm_shield::note::{
    KEY_CHECK_LEN, NOTE_CT_KEM_LEN, NOTE_EK_LEN, NOTE_NONCE_LEN, NOTE_TAG_LEN, PASSPHRASE_SALT_LEN,
    PassphraseParams,
};

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
    let ttl_secs = json!({
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": config.max_ttl_secs,
        "default": config.default_ttl_secs,
        "description": "Lifetime in seconds; omit for the default."
    });
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

    let b64 = |bytes: usize, description: &str| {
        let chars = (bytes * 4).div_ceil(3);
        json!({
            "type": "string",
            "minLength": chars,
            "maxLength": chars,
            "pattern": base64url_pattern(Some(bytes)),
            "description": format!("{description} ({bytes} bytes, unpadded base64url)")
        })
    };
    let max_ciphertext = config.max_message_bytes + NOTE_TAG_LEN;
    let e2e_paths = json!({
        "/api/e2e/notes": {
            "post": {
                "operationId": "createE2eNote",
                "summary": "Store a note sealed by the client (end to end).",
                "description": "The client seals the note in the format of \
                    `qsmm_shield::note` and sends its public fields, with the SHA-256 of its \
                    claim token and, for a passphrase note, of its passphrase token. The server \
                    never receives the message, the link keys or the passphrase, and cannot \
                    open the note. The link is `share_path` followed by `#` and the link keys, \
                    which the client appends.",
                "requestBody": {
                    "required": true,
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/E2eCreateRequest" }
                    } }
                },
                "responses": {
                    "201": ok("The sealed note is stored durably.", "E2eCreateResponse"),
                    "400": error("The body is not valid JSON."),
                    "408": error("The request took longer than the server's timeout."),
                    "413": error(&format!(
                        "The ciphertext holds more than {} bytes of message, or the body is \
                         longer than {} bytes.",
                        config.max_message_bytes,
                        config.max_body_bytes()
                    )),
                    "415": error("The Content-Type is not application/json."),
                    "422": error("A field is missing, null, unknown, of the wrong type or out \
                                  of range: a byte field of the wrong length or not canonical \
                                  unpadded base64url, Argon2id costs out of bounds, or \
                                  `passphrase_hash` without `argon2id` (or the reverse)."),
                    "429": error("Too many creates from this client (the limit of \
                                  `POST /api/secrets`); see `Retry-After`."),
                    "500": error("The server failed (never caused by the request)."),
                    "507": error("The server holds as many notes as it may (`--max-notes`); \
                                  nothing was stored. See `Retry-After`.")
                }
            }
        },
        "/api/e2e/notes/{id}": {
            "get": {
                "operationId": "peekE2eNote",
                "summary": "Whether an end-to-end note exists; never consumes it.",
                "parameters": [id_parameter],
                "responses": {
                    "200": ok("The note exists and has not expired.", "E2ePeekResponse"),
                    "404": error("No such end-to-end note: unknown, expired, claimed or \
                                  destroyed, a note of the published API, or the id is not a \
                                  UUID. All give the same body."),
                    "408": error("The request took longer than the server's timeout."),
                    "429": error("Too many peeks from this client (a limit of its own, at \
                                  the rate of reveals); see `Retry-After`."),
                    "500": error("The server failed (never caused by the request).")
                }
            }
        },
        "/api/e2e/notes/{id}/claim": {
            "post": {
                "operationId": "claimE2eNote",
                "summary": "Hand the sealed note to the holder of its tokens and delete it.",
                "description": format!(
                    "Exactly once: of any number of concurrent claims with the right tokens one \
                     gets the sealed note, the others 404. A wrong claim token changes nothing \
                     (403): knowing the id burns nothing. For a passphrase note, a missing \
                     passphrase token changes nothing (403); a wrong one is counted (403 with \
                     `attempts_left`) and the {MAX_PASSPHRASE_ATTEMPTS}th wrong one destroys \
                     the note. A passphrase token sent for a note without one is ignored."
                ),
                "parameters": [id_parameter],
                "requestBody": {
                    "required": true,
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/E2eClaimRequest" }
                    } }
                },
                "responses": {
                    "200": ok("The sealed note; it is gone from the server.", "E2eClaimResponse"),
                    "400": error("The body is not valid JSON."),
                    "403": error("Wrong claim token, passphrase token required, or wrong \
                                  passphrase token (with `attempts_left`)."),
                    "404": error("No such end-to-end note: unknown, expired, claimed or \
                                  destroyed, a note of the published API, or the id is not a \
                                  UUID. All give the same body."),
                    "408": error("The request took longer than the server's timeout."),
                    "413": error("The body is too large."),
                    "415": error("The Content-Type is not application/json."),
                    "422": error("A field is missing, null, unknown or of the wrong type, or a \
                                  token is not 32 bytes of canonical unpadded base64url."),
                    "429": error("Too many claims from this client (the limit of reveals); \
                                  see `Retry-After`."),
                    "500": error("The server failed (never caused by the request).")
                }
            }
        }
    });
    let sealed_fields = json!({
        "ek": b64(NOTE_EK_LEN, "ML-KEM-768 encapsulation key"),
        "ct_kem": b64(NOTE_CT_KEM_LEN, "ML-KEM-768 ciphertext"),
        "nonce": b64(NOTE_NONCE_LEN, "AES-256-GCM nonce"),
        "key_check": b64(KEY_CHECK_LEN, "commitment to the link keys"),
        "ciphertext": {
            "type": "string",
            "minLength": (NOTE_TAG_LEN + 1) * 4 / 3 + 1,
            "maxLength": (max_ciphertext * 4).div_ceil(3),
            "pattern": base64url_pattern(None),
            "description": format!(
                "AES-256-GCM ciphertext and 16-byte tag, unpadded base64url: 17 to {} bytes \
                 (a longer one is 413)",
                max_ciphertext
            )
        }
    });
    let with_argon = |required: bool| {
        let mut schema = json!({
            "type": "object",
            "required": ["ek", "ct_kem", "nonce", "key_check", "ciphertext"],
            "additionalProperties": false,
            "properties": sealed_fields.clone()
        });
        if required {
            if let Some(fields) = schema["required"].as_array_mut() {
                fields.push(json!("argon2id"));
            }
            schema["properties"]["argon2id"] = json!({ "$ref": "#/components/schemas/Argon2id" });
        }
        schema
    };
    let token = |description: &str| b64(TOKEN_HASH_LEN, description);
    let e2e_schemas = json!({
        "Argon2id": {
            "type": "object",
            "required": ["salt", "m_cost_kib", "t_cost", "p_cost"],
            "additionalProperties": false,
            "description": "Public Argon2id parameters of a passphrase note (version 0x13, \
                            32-byte output).",
            "properties": {
                "salt": b64(PASSPHRASE_SALT_LEN, "random salt"),
                "m_cost_kib": { "type": "integer", "minimum": MIN_M_COST_KIB,
                                "maximum": PassphraseParams::MAX_M_COST_KIB },
                "t_cost": { "type": "integer", "minimum": 1,
                            "maximum": PassphraseParams::MAX_T_COST },
                "p_cost": { "type": "integer", "minimum": 1,
                            "maximum": PassphraseParams::MAX_P_COST }
            }
        },
        "E2eSealedNote": {
            "type": "object",
            "required": ["ek", "ct_kem", "nonce", "key_check", "ciphertext"],
            "additionalProperties": false,
            "description": "A note as `qsmm_shield::note::StoredNote` holds it; `argon2id` only \
                            for a passphrase note.",
            "properties": {
                "ek": sealed_fields["ek"],
                "ct_kem": sealed_fields["ct_kem"],
                "nonce": sealed_fields["nonce"],
                "key_check": sealed_fields["key_check"],
                "ciphertext": sealed_fields["ciphertext"],
                "argon2id": { "$ref": "#/components/schemas/Argon2id" }
            }
        },
        "E2eCreateRequest": {
            "oneOf": [
                { "$ref": "#/components/schemas/E2eCreatePlain" },
                { "$ref": "#/components/schemas/E2eCreateWithPassphrase" }
            ]
        },
        "E2eCreatePlain": {
            "type": "object",
            "required": ["note", "claim_hash"],
            "additionalProperties": false,
            "properties": {
                "note": with_argon(false),
                "ttl_secs": ttl_secs,
                "claim_hash": token("SHA-256 of the claim token")
            }
        },
        "E2eCreateWithPassphrase": {
            "type": "object",
            "required": ["note", "claim_hash", "passphrase_hash"],
            "additionalProperties": false,
            "properties": {
                "note": with_argon(true),
                "ttl_secs": ttl_secs,
                "claim_hash": token("SHA-256 of the claim token"),
                "passphrase_hash": token("SHA-256 of the passphrase token")
            }
        },
        "E2eCreateResponse": {
            "type": "object",
            "required": ["id", "expires_at", "share_path", "passphrase_required"],
            "additionalProperties": false,
            "properties": {
                "id": uuid,
                "expires_at": unix_secs,
                "share_path": { "type": "string", "pattern": "^/s/[0-9a-f-]{36}$" },
                "passphrase_required": { "type": "boolean" }
            }
        },
        "E2ePeekResponse": {
            "type": "object",
            "required": ["id", "exists", "expires_at", "passphrase_required"],
            "additionalProperties": false,
            "properties": {
                "id": uuid,
                "exists": { "type": "boolean", "enum": [true] },
                "expires_at": unix_secs,
                "passphrase_required": { "type": "boolean" },
                "argon2id": { "$ref": "#/components/schemas/Argon2id" }
            }
        },
        "E2eClaimRequest": {
            "type": "object",
            "required": ["claim_token"],
            "additionalProperties": false,
            "properties": {
                "claim_token": token("the claim token"),
                "passphrase_token": token("the passphrase token")
            }
        },
        "E2eClaimResponse": {
            "type": "object",
            "required": ["id", "note"],
            "additionalProperties": false,
            "properties": {
                "id": uuid,
                "note": { "$ref": "#/components/schemas/E2eSealedNote" }
            }
        }
    });

    let mut document = json!({
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
                                      queue is full; see `Retry-After`. Nothing was stored."),
                        "507": error("The server holds as many notes as it may \
                                      (`--max-notes`); nothing was stored. See `Retry-After`.")
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
                        "429": error("Too many peeks from this client (a limit of its own, \
                                      at the rate of reveals); see `Retry-After`."),
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
                            "content": { "application/json": { "schema": {
                                "$ref": "#/components/schemas/Error"
                            } } }
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
                        "ttl_secs": ttl_secs,
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
                        "status": { "type": "string", "enum": ["ok"] },
                        "store": { "type": "string", "enum": ["redb", "postgres"] }
                    }
                }
            }
        }
    });
    merge(&mut document["paths"], e2e_paths);
    merge(&mut document["components"]["schemas"], e2e_schemas);
    let (request_paths, request_schemas) =
        crate::routes::requests::openapi::paths_and_schemas(config);
    merge(&mut document["paths"], request_paths);
    merge(&mut document["components"]["schemas"], request_schemas);
    document["components"]["schemas"]["E2eSealedAnswer"] = with_argon(false);
    crate::routes::files::openapi::extend(&mut document, config);
    let (limit_paths, limit_schemas) = crate::routes::limits::paths_and_schemas(config);
    merge(&mut document["paths"], limit_paths);
    merge(&mut document["components"]["schemas"], limit_schemas);
    crate::routes::receipts::openapi::extend(&mut document);
    document
}

/// Adds the members of `extra` (an object) to `target` (an object).
fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}
