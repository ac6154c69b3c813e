//! `send` and `open`: the end-to-end flow of the page (`assets/create.js`, `assets/reveal.js`)
//! without a browser.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use qsmm_shield::attachment::Bundle;
use qsmm_shield::note::{self, StoredNote};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::api::Api;
use crate::error::{CliError, Result};
use crate::link::{Link, ServerUrl};
use crate::tokens::{Tokens, derive_passphrase};
use crate::wire::{ClaimRequest, ClaimedFiles, CreateRequest, SealedJson};

/// A note stored by [`send`].
#[derive(Debug)]
pub struct Sent {
    /// The link that opens it once (secret: it holds the keys).
    pub link: Link,
    /// When the server deletes it unread, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The status token of the note's read receipt ([`receipt_status`](crate::receipt_status)),
    /// when [`SendOptions::receipt`] asked for one and the server issued it.
    pub receipt: Option<StatusToken>,
    /// The webhook's id and signing secret, when [`SendOptions::webhook`] gave one and the
    /// server accepted it.
    pub webhook: Option<WebhookKeys>,
}

/// What the server answers once for a webhook: the opaque id its call carries as `token`, and
/// the secret of its `Paravoid-Signature` (HMAC-SHA256). Not printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookKeys {
    id: String,
    secret: Zeroizing<String>,
}

impl WebhookKeys {
    /// The webhook id (22 base64url characters).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The signing secret (43 base64url characters of 32 bytes).
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for WebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKeys(..)")
    }
}

/// How [`send_note`](crate::send_note) stores a note.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct SendOptions<'a> {
    /// Also protect the note with this passphrase (Argon2id at the default costs).
    pub passphrase: Option<&'a [u8]>,
    /// Seconds until the server deletes it unread (the server's default without).
    pub ttl_secs: Option<u64>,
    /// Ask the server for a read receipt: [`Sent::receipt`] then holds its status token.
    pub receipt: bool,
    /// Ask the server to call this URL, signed, when the note goes (implies a receipt):
    /// [`Sent::webhook`] then holds the webhook's id and secret.
    pub webhook: Option<&'a str>,
}

impl<'a> SendOptions<'a> {
    /// The options of [`send`]: `passphrase` and `ttl_secs`, no receipt.
    #[must_use]
    pub const fn new(passphrase: Option<&'a [u8]>, ttl_secs: Option<u64>) -> Self {
        Self {
            passphrase,
            ttl_secs,
            receipt: false,
            webhook: None,
        }
    }

    /// The same options, asking for a read receipt.
    #[must_use]
    pub const fn with_receipt(self) -> Self {
        Self {
            receipt: true,
            ..self
        }
    }

    /// The same options, with a webhook to `url` (and so a read receipt).
    #[must_use]
    pub const fn with_webhook(self, url: &'a str) -> Self {
        Self {
            receipt: true,
            webhook: Some(url),
            ..self
        }
    }
}

/// The status token of a read receipt: it tells whoever holds it whether the note was revealed,
/// expired or destroyed, nothing else. Not printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusToken(String);

impl StatusToken {
    /// The token's text (43 base64url characters), for [`receipt_status`](crate::receipt_status).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StatusToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusToken(..)")
    }
}

/// Seals `message` (with `passphrase`, if any, at the default Argon2id costs) with the
/// `qsmm_shield::note` scheme, stores the sealed note on `server` for `ttl_secs` (the server's
/// default without) and returns its link. The server receives the sealed note and the SHA-256
/// hashes of the claim tokens, nothing that opens the note.
///
/// The sealing (and Argon2id) runs on the calling thread.
///
/// # Errors
///
/// [`CliError::EmptyPassphrase`], [`CliError::Seal`]; [`CliError::Unreachable`],
/// [`CliError::Server`] (for instance a message over the server's limit, or a TTL over its
/// maximum) or [`CliError::UnexpectedAnswer`] from the server.
pub async fn send(
    server: &ServerUrl,
    message: &[u8],
    passphrase: Option<&[u8]>,
    ttl_secs: Option<u64>,
) -> Result<Sent> {
    let options = SendOptions::new(passphrase, ttl_secs);
    send_message(server, message, options).await
}

/// [`send`] of a message without files, with `options`.
pub(crate) async fn send_message(
    server: &ServerUrl,
    message: &[u8],
    options: SendOptions<'_>,
) -> Result<Sent> {
    // A message that reads as a bundle travels in a bundle without files, so it opens as sent.
    if Bundle::is_bundle(message) {
        let bundle = Bundle::new(message, Vec::new()).map_err(CliError::Seal)?;
        return store_note(server, &bundle.to_plaintext(), options, Vec::new()).await;
    }
    store_note(server, message, options, Vec::new()).await
}

/// Seals `plaintext` as a note, stores it with the uploads `files` attached and returns its
/// link.
pub(crate) async fn store_note(
    server: &ServerUrl,
    plaintext: &[u8],
    options: SendOptions<'_>,
    files: Vec<String>,
) -> Result<Sent> {
    let SendOptions {
        passphrase,
        ttl_secs,
        receipt,
        webhook,
    } = options;
    let message = plaintext;
    let (stored, keys) = match passphrase {
        None => note::seal_note(message),
        Some([]) => return Err(CliError::EmptyPassphrase),
        Some(passphrase) => note::seal_note_with_passphrase(message, passphrase),
    }
    .map_err(CliError::Seal)?;
    let pw = match (&stored.passphrase, passphrase) {
        (Some(params), Some(passphrase)) => Some(derive_passphrase(params, passphrase)?),
        _ => None,
    };
    let tokens = Tokens::new(&keys, pw.as_deref());
    let request = CreateRequest {
        note: SealedJson::from_note(&stored),
        ttl_secs,
        claim_hash: Tokens::hash(&tokens.claim),
        passphrase_hash: tokens.passphrase.as_deref().map(Tokens::hash),
        files,
        receipt: receipt || webhook.is_some(),
        webhook: webhook.map(str::to_owned),
    };
    let api = Api::new(server.clone())?;
    let created = api.create(&request).await?;
    let id = Uuid::try_parse(&created.id)
        .map_err(|_| CliError::UnexpectedAnswer("the note id is not a UUID"))?;
    if created.share_path != format!("/s/{}", id.hyphenated()) {
        return Err(CliError::UnexpectedAnswer("the share path is not /s/<id>"));
    }
    // A server that predates receipts answers none; the note is stored all the same, so its
    // link is returned and the caller says that no receipt came.
    let receipt = created
        .receipt_token
        .filter(|_| receipt || webhook.is_some())
        .map(StatusToken);
    let webhook = match (webhook, created.webhook_id, created.webhook_secret) {
        (Some(_), Some(id), Some(secret)) => Some(WebhookKeys {
            id,
            secret: Zeroizing::new(secret),
        }),
        _ => None,
    };
    Ok(Sent {
        link: Link::new(server.clone(), id, &keys),
        expires_at: created.expires_at,
        receipt,
        webhook,
    })
}

/// Claims the note of `link` and opens it: its plaintext, and the claim's `files` member.
pub(crate) async fn claim_note(
    link: &Link,
    passphrase: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
) -> Result<(Zeroizing<Vec<u8>>, Option<ClaimedFiles>)> {
    let keys = link.keys()?;
    let api = Api::new(link.server.clone())?;
    let peek = api.peek(link.id).await?.ok_or(CliError::Gone)?;
    let (params, typed, tokens) = if peek.passphrase_required {
        let params = peek
            .argon2id
            .as_ref()
            .ok_or(CliError::UnexpectedAnswer(
                "a passphrase note without Argon2id parameters",
            ))?
            .to_params()?;
        let typed = passphrase()?;
        if typed.is_empty() {
            return Err(CliError::EmptyPassphrase);
        }
        let pw = derive_passphrase(&params, &typed)?;
        let tokens = Tokens::new(&keys, Some(&pw));
        (Some(params), Some(typed), tokens)
    } else {
        (None, None, Tokens::new(&keys, None))
    };
    let claim_token = Tokens::encode(&tokens.claim);
    let passphrase_token = tokens.passphrase.as_deref().map(Tokens::encode);
    let request = ClaimRequest {
        claim_token: &claim_token,
        passphrase_token: passphrase_token.as_deref().map(String::as_str),
    };
    let claimed = api.claim(link.id, &request).await?;
    let stored: StoredNote = claimed.note.to_note().map_err(|_| CliError::Tampered)?;
    if stored.passphrase != params {
        return Err(CliError::Tampered);
    }
    let plaintext =
        note::open_note_with_passphrase(&stored, &keys, typed.as_deref().map(Vec::as_slice))
            .map_err(|_| CliError::Tampered)?;
    Ok((plaintext, claimed.files))
}

/// Writes `bytes` to a new file `name` in `dir` (created if missing), readable by its owner
/// only, never replacing an existing file. Returns the file's path.
///
/// # Errors
///
/// [`CliError::Io`].
pub fn write_new_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|err| CliError::io(format!("create the directory {}", dir.display()), err))?;
    let path = dir.join(name);
    let what = format!("write {}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|err| CliError::io(what.clone(), err))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|err| CliError::io(what, err))?;
    Ok(path)
}

/// Whether `message` can go to a terminal as is: UTF-8 without control characters other than
/// line feed and tab (so no escape sequence can act on the terminal).
#[must_use]
pub fn is_plain_text(message: &[u8]) -> bool {
    std::str::from_utf8(message).is_ok_and(|text| {
        text.chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control())
    })
}

/// `seconds` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
#[must_use]
pub fn utc_time(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_text_goes_to_a_terminal() {
        assert!(is_plain_text("two lines\n\tünïcödé ✓\n".as_bytes()));
        for bad in [
            &b"\x1b]0;title\x07"[..],
            b"\x1b[2J",
            b"bell\x07",
            b"cr\r",
            b"\xff",
            b"\x9b",
        ] {
            assert!(!is_plain_text(bad), "{bad:?}");
        }
        assert!(
            !is_plain_text("\u{9b}2J".as_bytes()),
            "C1 control characters"
        );
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_800_000_000), "2027-01-15 08:00:00 UTC");
        assert_eq!(utc_time(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn output_files_are_new_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let path = write_new_file(&out, "message.txt", b"hi").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hi");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_new_file(&out, "message.txt", b"other").unwrap_err();
        assert_eq!(again.exit_code(), 7);
        assert_eq!(std::fs::read(&path).unwrap(), b"hi");
    }
}
