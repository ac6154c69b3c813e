//! The OpenAPI paths and schemas of `/api/e2e/requests`, merged into the document by
//! `routes::openapi`.

use serde_json::{Value, json};

use crate::Config;
use crate::routes::base64url::base64url_pattern;
use crate::store::TOKEN_HASH_LEN;

/// `(paths, schemas)` of the request routes for a server with `config`. The response body's
/// note is the `E2eSealedNote` schema without `argon2id`.
pub(crate) fn paths_and_schemas(config: &Config) -> (Value, Value) {
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
    let body = |schema: &str| {
        json!({
            "required": true,
            "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{schema}") }
            } }
        })
    };
    let id_parameter = json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The request id. Any value that is not a hyphenated UUID is answered 404.",
        "schema": { "type": "string", "format": "uuid" }
    });
    let ttl = |description: &str| {
        json!({
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": config.max_ttl_secs,
            "default": config.default_ttl_secs,
            "description": description
        })
    };
    let uuid = json!({ "type": "string", "format": "uuid" });
    let unix_secs = json!({ "type": "integer", "format": "int64", "minimum": 0 });
    let chars = (TOKEN_HASH_LEN * 4).div_ceil(3);
    let claim_hash = json!({
        "type": "string",
        "minLength": chars,
        "maxLength": chars,
        "pattern": base64url_pattern(Some(TOKEN_HASH_LEN)),
        "description": "SHA-256 of the requester's claim token (32 bytes, unpadded base64url)"
    });
    let common = |extra: Value| {
        let mut responses = json!({
            "400": error("The body is not valid JSON."),
            "408": error("The request took longer than the server's timeout."),
            "413": error("The body is too large."),
            "415": error("The Content-Type is not application/json."),
            "422": error("A field is missing, null, unknown, of the wrong type or out of range."),
            "429": error("Too many requests from this client; see `Retry-After`."),
            "500": error("The server failed (never caused by the request).")
        });
        if let (Some(target), Value::Object(extra)) = (responses.as_object_mut(), extra) {
            target.extend(extra);
        }
        responses
    };
    let paths = json!({
        "/api/e2e/requests": {
            "post": {
                "operationId": "createRequest",
                "summary": "Ask for a secret: register a request that takes one sealed answer.",
                "description": "The requester's client keeps its keys; the server stores only the \
                                request's expiry, the answer's lifetime and the hash of the \
                                requester's claim token.",
                "requestBody": body("RequestCreate"),
                "responses": common(json!({
                    "201": ok("The request is stored.", "RequestCreated"),
                    "507": error("The server holds as many requests as it may; see `Retry-After`.")
                }))
            }
        },
        "/api/e2e/requests/{id}": {
            "get": {
                "operationId": "requestStatus",
                "summary": "Whether a request has been answered.",
                "parameters": [id_parameter],
                "responses": {
                    "200": ok("The request exists.", "RequestStatus"),
                    "404": error("No such request (unknown, or expired and forgotten)."),
                    "410": error("The request expired without an answer."),
                    "429": error("Too many peeks from this client; see `Retry-After`."),
                    "500": error("The server failed (never caused by the request).")
                }
            }
        },
        "/api/e2e/requests/{id}/response": {
            "post": {
                "operationId": "answerRequest",
                "summary": "Store the one answer to a request: a note sealed to the requester's key.",
                "description": "Stored as an end-to-end note under the request's id, which the \
                                requester claims at `/api/e2e/notes/{id}/claim`, with the \
                                uploads it names attached as a note's files.",
                "parameters": [id_parameter],
                "requestBody": body("RequestAnswer"),
                "responses": common(json!({
                    "201": ok("The answer is stored.", "RequestAnswered"),
                    "404": error("No such request."),
                    "409": error("The request already has its answer."),
                    "410": error("The request has expired."),
                    "507": error("The server holds as many notes as it may; see `Retry-After`.")
                }))
            }
        }
    });
    let schemas = json!({
        "RequestCreate": {
            "type": "object",
            "required": ["claim_hash"],
            "additionalProperties": false,
            "properties": {
                "ttl_secs": ttl("How long the request takes an answer, in seconds."),
                "response_ttl_secs": ttl("How long the answer then waits, in seconds."),
                "claim_hash": claim_hash
            }
        },
        "RequestCreated": {
            "type": "object",
            "required": ["id", "expires_at", "response_ttl_secs", "respond_path"],
            "additionalProperties": false,
            "properties": {
                "id": uuid,
                "expires_at": unix_secs,
                "response_ttl_secs": { "type": "integer", "format": "int64", "minimum": 1 },
                "respond_path": { "type": "string", "pattern": "^/r/[0-9a-f-]{36}$" }
            }
        },
        "RequestStatus": {
            "type": "object",
            "required": ["id", "expires_at", "answered"],
            "additionalProperties": false,
            "properties": {
                "id": uuid,
                "expires_at": unix_secs,
                "answered": { "type": "boolean" }
            }
        },
        "RequestAnswer": {
            "type": "object",
            "required": ["note"],
            "additionalProperties": false,
            "properties": {
                "note": { "$ref": "#/components/schemas/E2eSealedAnswer" },
                "files": {
                    "type": "array",
                    "maxItems": qsmm_shield::attachment::MAX_FILES,
                    "items": uuid,
                    "description": "Uploads (`POST /api/e2e/files`) that become the answer's \
                                    files, in the order of the sealed manifest; refused (422, \
                                    nothing stored) as for a note if one is unknown, \
                                    incomplete or already attached."
                }
            }
        },
        "RequestAnswered": {
            "type": "object",
            "required": ["id", "expires_at"],
            "additionalProperties": false,
            "properties": { "id": uuid, "expires_at": unix_secs }
        }
    });
    (paths, schemas)
}
