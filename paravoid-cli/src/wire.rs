//! The JSON of the end-to-end API (`/api/e2e/notes`), as the server and the page write it:
//! every byte field is unpadded base64url.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qsmm_shield::note::{PASSPHRASE_SALT_LEN, PassphraseParams, StoredNote};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// The public Argon2id parameters of a passphrase note.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct Argon2idJson {
    salt: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl Argon2idJson {
    pub(crate) fn from_params(params: &PassphraseParams) -> Self {
        Self {
            salt: URL_SAFE_NO_PAD.encode(params.salt),
            m_cost_kib: params.m_cost_kib,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
        }
    }

    pub(crate) fn to_params(&self) -> Result<PassphraseParams> {
        let salt = URL_SAFE_NO_PAD
            .decode(&self.salt)
            .ok()
            .and_then(|salt| <[u8; PASSPHRASE_SALT_LEN]>::try_from(salt).ok())
            .ok_or(CliError::UnexpectedAnswer("the Argon2id salt is malformed"))?;
        Ok(PassphraseParams {
            salt,
            m_cost_kib: self.m_cost_kib,
            t_cost: self.t_cost,
            p_cost: self.p_cost,
        })
    }
}

/// A sealed note.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct SealedJson {
    ek: String,
    ct_kem: String,
    nonce: String,
    key_check: String,
    ciphertext: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argon2id: Option<Argon2idJson>,
}

impl SealedJson {
    pub(crate) fn from_note(note: &StoredNote) -> Self {
        Self {
            ek: URL_SAFE_NO_PAD.encode(&note.ek),
            ct_kem: URL_SAFE_NO_PAD.encode(&note.ct_kem),
            nonce: URL_SAFE_NO_PAD.encode(note.nonce),
            key_check: URL_SAFE_NO_PAD.encode(note.key_check),
            ciphertext: URL_SAFE_NO_PAD.encode(&note.ciphertext),
            argon2id: note.passphrase.as_ref().map(Argon2idJson::from_params),
        }
    }

    /// The note, every length checked as `StoredNote::from_bytes` does.
    pub(crate) fn to_note(&self) -> Result<StoredNote> {
        let bad = || CliError::UnexpectedAnswer("the sealed note is malformed");
        let field = |text: &str| URL_SAFE_NO_PAD.decode(text).map_err(|_| bad());
        let note = StoredNote {
            ek: field(&self.ek)?,
            ct_kem: field(&self.ct_kem)?,
            nonce: field(&self.nonce)?.try_into().map_err(|_| bad())?,
            key_check: field(&self.key_check)?.try_into().map_err(|_| bad())?,
            ciphertext: field(&self.ciphertext)?,
            passphrase: self
                .argon2id
                .as_ref()
                .map(Argon2idJson::to_params)
                .transpose()?,
        };
        StoredNote::from_bytes(&note.to_bytes()).map_err(|_| bad())
    }
}

/// `POST /api/e2e/notes` body.
#[derive(Debug, Serialize)]
pub(crate) struct CreateRequest {
    pub(crate) note: SealedJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ttl_secs: Option<u64>,
    pub(crate) claim_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) passphrase_hash: Option<String>,
    /// Uploads (`POST /api/e2e/files`) that become the note's files, in manifest order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) files: Vec<String>,
    /// Ask for a read receipt (its status token is answered once).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) receipt: bool,
    /// A URL the server calls, signed, when the note goes (implies a receipt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) webhook: Option<String>,
}

/// `POST /api/e2e/notes` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateResponse {
    pub(crate) id: String,
    pub(crate) expires_at: u64,
    pub(crate) share_path: String,
    /// The read receipt's status token, when one was asked for.
    #[serde(default)]
    pub(crate) receipt_token: Option<String>,
    /// The opaque id the webhook call carries, when a webhook was given.
    #[serde(default)]
    pub(crate) webhook_id: Option<String>,
    /// The webhook's signing secret, when a webhook was given.
    #[serde(default)]
    pub(crate) webhook_secret: Option<String>,
}

/// `GET /api/e2e/notes/{id}` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct PeekResponse {
    #[serde(default)]
    pub(crate) passphrase_required: bool,
    #[serde(default)]
    pub(crate) argon2id: Option<Argon2idJson>,
}

/// `POST /api/e2e/notes/{id}/claim` body.
#[derive(Serialize)]
pub(crate) struct ClaimRequest<'a> {
    pub(crate) claim_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) passphrase_token: Option<&'a str>,
}

/// `POST /api/e2e/notes/{id}/claim` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ClaimResponse {
    pub(crate) note: SealedJson,
    /// The files' download token and sealed sizes, for a note with files.
    #[serde(default)]
    pub(crate) files: Option<ClaimedFiles>,
}

/// The `files` member of a claim's answer.
#[derive(Deserialize)]
pub(crate) struct ClaimedFiles {
    /// The download token (unpadded base64url), good for one download of each file.
    pub(crate) token: String,
    /// Length of each file's sealed stream, in manifest order.
    pub(crate) sealed_sizes: Vec<u64>,
}

impl std::fmt::Debug for ClaimedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedFiles")
            .field("sealed_sizes", &self.sealed_sizes)
            .finish_non_exhaustive()
    }
}

impl Drop for ClaimedFiles {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

/// `POST /api/e2e/files` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadResponse {
    pub(crate) file_id: String,
    pub(crate) sealed_size: u64,
}

/// `POST /api/e2e/requests` body.
#[derive(Debug, Serialize)]
pub(crate) struct RequestCreate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ttl_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response_ttl_secs: Option<u64>,
    pub(crate) claim_hash: String,
}

/// `POST /api/e2e/requests` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestCreated {
    pub(crate) id: String,
    pub(crate) expires_at: u64,
    pub(crate) respond_path: String,
}

/// `GET /api/e2e/requests/{id}` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestStatus {
    pub(crate) answered: bool,
}

/// `POST /api/e2e/requests/{id}/response` body.
#[derive(Debug, Serialize)]
pub(crate) struct ResponseCreate {
    pub(crate) note: SealedJson,
    /// Uploads attached to the answer, in manifest order (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) files: Vec<String>,
}

/// `POST /api/e2e/requests/{id}/response` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseCreated {
    pub(crate) expires_at: u64,
}

/// Every error answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorResponse {
    #[serde(default)]
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) attempts_left: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_notes_round_trip_and_malformed_ones_are_refused() {
        let params = PassphraseParams::with_costs(128, 1, 1).unwrap();
        let (note, _keys) =
            qsmm_shield::note::seal_note_with_passphrase_params(b"hi", b"pw", params).unwrap();
        let json = SealedJson::from_note(&note);
        assert_eq!(json.to_note().unwrap(), note);

        let mut text = serde_json::to_value(&json).unwrap();
        text["nonce"] = "AAAA".into();
        let short: SealedJson = serde_json::from_value(text).unwrap();
        assert!(matches!(
            short.to_note(),
            Err(CliError::UnexpectedAnswer(_))
        ));

        let mut text = serde_json::to_value(&json).unwrap();
        text["argon2id"]["salt"] = "A".into();
        let salt: SealedJson = serde_json::from_value(text).unwrap();
        assert!(salt.to_note().is_err());
    }
}
