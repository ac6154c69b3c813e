//! Read receipts: whether a note created with a receipt was revealed, expired or destroyed.
//!
//! The status token (answered once when the note was created with `"receipt": true`) names the
//! receipt; it travels in the request body of `POST /api/e2e/receipts/status`, never in a URL.
//! The answer is the status and the minute of its last change, nothing of the note.
//!
//! ```no_run
//! # async fn demo() -> Result<(), paravoid_cli::CliError> {
//! use paravoid_cli::{ReceiptState, ServerUrl};
//!
//! let server = ServerUrl::parse("https://notes.example")?;
//! let receipt = paravoid_cli::receipt_status(&server, "status-token-from-the-creation").await?;
//! if receipt.status == ReceiptState::Revealed {
//!     println!("read at {}", paravoid_cli::utc_time(receipt.at));
//! }
//! # Ok(())
//! # }
//! ```

use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::error::{CliError, Result};
use crate::link::ServerUrl;

/// Length of a status token in its text form: 32 bytes, unpadded base64url.
const TOKEN_CHARS: usize = 43;

/// `POST /api/e2e/receipts/status` body.
#[derive(Debug, Serialize)]
pub(crate) struct StatusRequest<'a> {
    pub(crate) token: &'a str,
}

/// Where a note with a receipt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReceiptState {
    /// The note is still stored and can be opened.
    Pending,
    /// The note was opened (claimed) and deleted.
    Revealed,
    /// The note expired unread.
    Expired,
    /// The note was destroyed by wrong passphrases.
    Destroyed,
}

impl ReceiptState {
    /// The name the server answers (and `paravoid-cli status` prints).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Revealed => "revealed",
            Self::Expired => "expired",
            Self::Destroyed => "destroyed",
        }
    }
}

/// A receipt's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Receipt {
    /// The status.
    pub status: ReceiptState,
    /// Unix seconds of the last change (of the creation while pending), rounded down to the
    /// minute.
    pub at: u64,
}

/// Asks `server` for the status of the receipt that `token` names.
///
/// # Errors
///
/// [`CliError::InvalidArgument`] for a token that is not 43 base64url characters,
/// [`CliError::NoReceipt`] if no receipt answers to it, the server's other refusals.
pub async fn receipt_status(server: &ServerUrl, token: &str) -> Result<Receipt> {
    let token = token.trim();
    if token.len() != TOKEN_CHARS
        || !token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err(CliError::InvalidArgument(
            "a status token is 43 base64url characters".to_owned(),
        ));
    }
    Api::new(server.clone())?
        .receipt_status(&StatusRequest { token })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_unknown_fields_or_states_are_refused() {
        let receipt: Receipt =
            serde_json::from_str(r#"{"status":"destroyed","at":1800000060}"#).unwrap();
        assert_eq!(receipt.status, ReceiptState::Destroyed);
        assert_eq!(receipt.at, 1_800_000_060);
        assert!(serde_json::from_str::<Receipt>(r#"{"status":"read","at":0}"#).is_err());
        assert!(
            serde_json::from_str::<Receipt>(r#"{"status":"pending","at":0,"id":"x"}"#).is_err()
        );
    }

    #[tokio::test]
    async fn malformed_tokens_are_refused_before_any_request() {
        // Nothing listens on port 9: a request would fail as unreachable instead.
        let server = ServerUrl::parse("http://127.0.0.1:9").unwrap();
        for token in [
            "",
            "short",
            &"A".repeat(44),
            &format!("{}+", "A".repeat(42)),
        ] {
            let err = receipt_status(&server, token).await.unwrap_err();
            assert!(
                matches!(err, CliError::InvalidArgument(_)),
                "{token}: {err}"
            );
        }
    }
}
