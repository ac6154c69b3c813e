//! The OpenAPI entries of read receipts, merged into the document by
//! [`openapi_document`](crate::openapi_document).

use serde_json::{Value, json};

use crate::routes::base64url::base64url_pattern;
use crate::routes::receipts::RECEIPT_TOKEN_LEN;
use crate::store::receipts::WEBHOOK_ID_LEN;
use crate::webhooks::{MAX_WEBHOOK_URL_LEN, WEBHOOK_SECRET_LEN};

/// Adds the `webhook` member of end-to-end creates and the `webhook_id` and `webhook_secret`
/// members of their answer (`webhooks`) to the schemas `components`.
fn extend_webhooks(components: &mut Value) {
    for create in ["E2eCreatePlain", "E2eCreateWithPassphrase"] {
        components[create]["properties"]["webhook"] = json!({
            "type": "string",
            "maxLength": MAX_WEBHOOK_URL_LEN,
            "description": "An https URL to call once when the note is revealed, expires or is \
                destroyed; implies `receipt`. Its host must be on the server's `--webhook-allow` \
                list (else 422; without a list, webhooks are off: 422). The call is a POST of \
                `{\"token\": <webhook_id>, \"status\": \"revealed\"|\"expired\"|\"destroyed\", \
                \"at\": <unix seconds, whole minutes>}` signed by the header \
                `Paravoid-Signature: t=<unix>,v1=<hex HMAC-SHA256(webhook_secret, \"<t>.<body>\")>`."
        });
    }
    let chars = |len: usize| (len * 4).div_ceil(3);
    let properties = &mut components["E2eCreateResponse"]["properties"];
    properties["webhook_id"] = json!({
        "type": "string",
        "minLength": chars(WEBHOOK_ID_LEN),
        "maxLength": chars(WEBHOOK_ID_LEN),
        "pattern": base64url_pattern(Some(WEBHOOK_ID_LEN)),
        "description": "The opaque id the webhook call carries as `token` (16 random bytes, \
            unpadded base64url), answered once. It names neither the note nor the receipt."
    });
    properties["webhook_secret"] = json!({
        "type": "string",
        "minLength": chars(WEBHOOK_SECRET_LEN),
        "maxLength": chars(WEBHOOK_SECRET_LEN),
        "pattern": base64url_pattern(Some(WEBHOOK_SECRET_LEN)),
        "description": "The key of the webhook's HMAC-SHA256 signature (32 random bytes, \
            unpadded base64url), answered once: the HMAC key is the decoded bytes."
    });
}

/// Adds the status route, the `receipt` member of end-to-end creates, the `receipt_token`
/// member of their answer, and the schemas to `document`.
pub(crate) fn extend(document: &mut Value) {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        })
    };
    let chars = (RECEIPT_TOKEN_LEN * 4).div_ceil(3);
    let token = json!({
        "type": "string",
        "minLength": chars,
        "maxLength": chars,
        "pattern": base64url_pattern(Some(RECEIPT_TOKEN_LEN)),
        "description": "The status token answered once at creation (32 bytes, unpadded base64url)."
    });
    let paths = json!({
        "/api/e2e/receipts/status": {
            "post": {
                "operationId": "receiptStatus",
                "summary": "Whether a note with a receipt was revealed, expired or destroyed.",
                "description": "Asked by the status token alone (never by note id). Answers the \
                    status and the minute of its last change, nothing about the note. The \
                    receipt is kept until a week after the note's expiry.",
                "requestBody": {
                    "required": true,
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/ReceiptStatusRequest" }
                    } }
                },
                "responses": {
                    "200": {
                        "description": "The receipt's status.",
                        "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/ReceiptStatus" }
                        } }
                    },
                    "400": error("The body is not valid JSON."),
                    "404": error("No receipt for this token (unknown, or swept a week after the \
                                  note's expiry)."),
                    "408": error("The request took longer than the server's timeout."),
                    "413": error("The body is too large."),
                    "415": error("The Content-Type is not application/json."),
                    "422": error("A field is missing, null, unknown, of the wrong type or \
                                  malformed."),
                    "429": error("Too many peeks from this client; see `Retry-After`."),
                    "500": error("The server failed (never caused by the request).")
                }
            }
        }
    });
    let schemas = json!({
        "ReceiptStatusRequest": {
            "type": "object",
            "required": ["token"],
            "additionalProperties": false,
            "properties": { "token": token }
        },
        "ReceiptStatus": {
            "type": "object",
            "required": ["status", "at"],
            "additionalProperties": false,
            "properties": {
                "status": {
                    "type": "string",
                    "enum": ["pending", "revealed", "expired", "destroyed"]
                },
                "at": {
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0,
                    "multipleOf": 60,
                    "description": "Unix seconds of the last change (of the creation while \
                                    pending), rounded down to the minute."
                }
            }
        }
    });
    if let Some(all) = document["paths"].as_object_mut()
        && let Value::Object(paths) = paths
    {
        all.extend(paths);
    }
    let refused =
        &mut document["paths"]["/api/e2e/notes"]["post"]["responses"]["422"]["description"];
    if let Some(text) = refused.as_str() {
        *refused = json!(format!(
            "{text} Also a `webhook` the server refuses: webhooks not enabled (no \
             `--webhook-allow`), a host not on the list, not https, a user name or password, or \
             longer than {MAX_WEBHOOK_URL_LEN} bytes."
        ));
    }
    let components = &mut document["components"]["schemas"];
    for create in ["E2eCreatePlain", "E2eCreateWithPassphrase"] {
        components[create]["properties"]["receipt"] = json!({
            "type": "boolean",
            "default": false,
            "description": "Ask for a read receipt: the answer carries `receipt_token`."
        });
    }
    components["E2eCreateResponse"]["properties"]["receipt_token"] = token;
    extend_webhooks(components);
    if let Some(all) = components.as_object_mut()
        && let Value::Object(schemas) = schemas
    {
        all.extend(schemas);
    }
}
