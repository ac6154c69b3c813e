//! The OpenAPI entries of the file routes, merged into the document by
//! [`openapi_document`](crate::openapi_document).

use qsmm_shield::attachment::sealed_size;
use serde_json::{Value, json};

use crate::Config;
use crate::store::TOKEN_HASH_LEN;

/// Adds the file routes, the `files` member of end-to-end creates and claims, and their schemas
/// to `document`.
pub(crate) fn extend(document: &mut Value, config: &Config) {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        })
    };
    let max_sealed = sealed_size(config.max_file_bytes).unwrap_or(u64::MAX);
    let uuid = json!({ "type": "string", "format": "uuid" });
    let token_chars = (TOKEN_HASH_LEN * 4).div_ceil(3);
    let paths = json!({
        "/api/e2e/files": {
            "post": {
                "operationId": "uploadE2eFile",
                "summary": "Upload one sealed file of an end-to-end note, streamed.",
                "description": "The body is the file's sealed stream (`qsmm_shield::attachment`): \
                    chunks of 65,552 bytes, the last one of 16 to 65,552. The server stores it \
                    as it arrives and never holds it whole. Name the returned `file_id` in \
                    `files` of `POST /api/e2e/notes` within an hour, or the upload is deleted.",
                "requestBody": {
                    "required": true,
                    "content": { "application/octet-stream": {
                        "schema": { "type": "string", "format": "binary" }
                    } }
                },
                "responses": {
                    "201": {
                        "description": "The sealed file is stored durably, not yet attached.",
                        "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/E2eUploadResponse" }
                        } }
                    },
                    "400": error("The body could not be read, or stalled longer than the \
                                  request timeout."),
                    "413": error(&format!(
                        "The file is larger than {} bytes ({max_sealed} bytes sealed); nothing \
                         was kept.",
                        config.max_file_bytes
                    )),
                    "422": error("The body cannot be a sealed file: empty, or its last chunk \
                                  is shorter than its 16-byte tag."),
                    "429": error("Too many uploads from this client (the limit of creates); \
                                  see `Retry-After`."),
                    "500": error("The server failed (never caused by the request)."),
                    "503": error("The database does not answer (PostgreSQL down or unreachable; \
                                  the server reconnects by itself); see `Retry-After`. Nothing \
                                  was kept."),
                    "507": error("The server holds as many files as it may (`--max-notes`); \
                                  see `Retry-After`.")
                }
            }
        },
        "/api/e2e/notes/{id}/files/{index}": {
            "get": {
                "operationId": "downloadE2eFile",
                "summary": "Download a file of a claimed end-to-end note, once.",
                "description": "With the download token the claim answered (`files.token`), \
                    as `Authorization: Bearer <token>`. The file is deleted before its first \
                    byte is sent: a second download, a wrong token, a wrong index and an \
                    expired file (an hour after the claim) all get the same 404.",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": true,
                        "schema": { "type": "string", "format": "uuid" }
                    },
                    {
                        "name": "index",
                        "in": "path",
                        "required": true,
                        "description": "The file's position in the note's manifest, from 0.",
                        "schema": { "type": "integer", "minimum": 0, "maximum": 31 }
                    },
                    {
                        "name": "Authorization",
                        "in": "header",
                        "required": true,
                        "schema": {
                            "type": "string",
                            "pattern": format!("^Bearer [A-Za-z0-9_-]{{{token_chars}}}$")
                        }
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The sealed file; it is gone from the server.",
                        "content": { "application/octet-stream": {
                            "schema": { "type": "string", "format": "binary" }
                        } }
                    },
                    "404": error("No such file for this token: unknown note or index, wrong \
                                  token, already downloaded or expired. All give the same body."),
                    "429": error("Too many downloads from this client (the limit of reveals); \
                                  see `Retry-After`."),
                    "500": error("The server failed (never caused by the request)."),
                    "503": error("The database does not answer, or (PostgreSQL) every download \
                                  place of this server is taken; see `Retry-After`. The file is \
                                  kept.")
                }
            }
        }
    });
    let schemas = json!({
        "E2eUploadResponse": {
            "type": "object",
            "required": ["file_id", "sealed_size", "expires_at"],
            "additionalProperties": false,
            "properties": {
                "file_id": uuid,
                "sealed_size": { "type": "integer", "format": "int64", "minimum": 16 },
                "expires_at": { "type": "integer", "format": "int64", "minimum": 0 }
            }
        },
        "E2eClaimedFiles": {
            "type": "object",
            "required": ["token", "sealed_sizes"],
            "additionalProperties": false,
            "properties": {
                "token": {
                    "type": "string",
                    "minLength": token_chars,
                    "maxLength": token_chars,
                    "description": "The download token (32 bytes, unpadded base64url)."
                },
                "sealed_sizes": {
                    "type": "array",
                    "items": { "type": "integer", "format": "int64", "minimum": 16 }
                }
            }
        }
    });
    let files = json!({
        "type": "array",
        "maxItems": qsmm_shield::attachment::MAX_FILES,
        "items": uuid,
        "description": "Uploads (`POST /api/e2e/files`) that become the note's files, in the \
                        order of the sealed manifest."
    });
    if let Some(all) = document["paths"].as_object_mut()
        && let Value::Object(paths) = paths
    {
        all.extend(paths);
    }
    let components = &mut document["components"]["schemas"];
    for create in ["E2eCreatePlain", "E2eCreateWithPassphrase"] {
        components[create]["properties"]["files"] = files.clone();
    }
    components["E2eClaimResponse"]["properties"]["files"] =
        json!({ "$ref": "#/components/schemas/E2eClaimedFiles" });
    if let Some(all) = components.as_object_mut()
        && let Value::Object(schemas) = schemas
    {
        all.extend(schemas);
    }
}
