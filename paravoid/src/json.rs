//! The JSON request extractor: every way a body can be rejected becomes an [`Error`] with the
//! service's `{"error": ...}` format, and no message repeats what the client sent.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::error::Category;

use crate::Error;

/// A JSON request body deserialized into `T`.
///
/// - no or another `Content-Type` than `application/json` (or `application/*+json`) → 415;
/// - a body over the limit → 413;
/// - not JSON → 400;
/// - JSON that does not fit `T` (missing, mistyped or unknown field) → 422, naming a missing
///   field but never repeating a value.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::BodyTooLarge
            } else {
                Error::UnreadableBody
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| rejection(&err))
    }
}

/// Deserializes a field that may be absent but, when present, must not be `null`.
///
/// Use with `#[serde(default, deserialize_with = "present")]` on an `Option<T>` field.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Whether the request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix("application/") else {
        return false;
    };
    subtype == "json" || subtype.ends_with("+json")
}

/// Maps a `serde_json` error to a client error without echoing the input.
fn rejection(err: &serde_json::Error) -> Error {
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => Error::InvalidJson,
        Category::Data => {
            // serde's message for a missing field names only our own field ("missing field
            // `message`"); every other data error may quote the client's value, so it is
            // replaced by a fixed text.
            let text = err.to_string();
            match text
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
            {
                Some((field, _)) if field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => {
                    Error::Unprocessable(format!("missing field `{field}`"))
                }
                _ => Error::unprocessable(
                    "request body does not match the schema: a field is missing, unknown, \
                     null or of the wrong type",
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn content_types() {
        let cases = [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/jsonx", false),
            ("application/x-www-form-urlencoded", false),
            ("", false),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            assert_eq!(is_json(&headers), expected, "{value}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only deserialized")]
    struct Sample {
        message: String,
        #[serde(default, deserialize_with = "present")]
        ttl: Option<u64>,
    }

    fn parse(body: &str) -> Result<Sample, Error> {
        serde_json::from_str::<Sample>(body).map_err(|e| rejection(&e))
    }

    #[test]
    fn data_errors_do_not_echo_values() {
        assert!(parse(r#"{"message": "x"}"#).is_ok());
        assert!(parse(r#"{"message": "x", "ttl": 5}"#).is_ok());
        let err = parse(r#"{}"#).unwrap_err();
        assert_eq!(err.to_string(), "missing field `message`");
        for body in [
            r#"{"message": "x", "ttl": null}"#,
            r#"{"message": "SECRETVALUE", "ttl": "SECRETVALUE"}"#,
            r#"{"message": 12345678}"#,
            r#"{"message": "x", "SECRETVALUE": 1}"#,
        ] {
            let err = parse(body).unwrap_err();
            assert!(matches!(err, Error::Unprocessable(_)), "{body}");
            assert!(!err.to_string().contains("SECRETVALUE"), "{body}");
            assert!(!err.to_string().contains("12345678"), "{body}");
        }
        assert!(matches!(parse("{"), Err(Error::InvalidJson)));
        assert!(matches!(parse("nope"), Err(Error::InvalidJson)));
    }
}
