//! Request-a-secret: `request` makes a key pair and registers a request; `respond` seals a
//! secret to the key of a request link; `open` of the requester's link claims and opens the
//! answer. The page does the same (`assets/request.js`).
//!
//! The two links, both `<server>/r/<id>#…`:
//!
//! - the **request link** `#req.<ek ‖ classical>` (1,622 characters after `req.`), for whoever
//!   holds the secret: the ML-KEM-768 encapsulation key and the classical secret of the note
//!   format ([`qsmm_shield::note`]), which seal but do not open;
//! - the **requester's link** `#own.<seed ‖ classical>` (the compact link keys), which opens the
//!   answer; keep it to yourself.
//!
//! The answer is a note sealed with [`qsmm_shield::note::seal_note_to`] to `ek`, with the
//! classical secret bound to the request:
//!
//! ```text
//! classical' = HKDF-SHA256(ikm = classical, info = "paravoid/v1/request" ‖ id (16 bytes) ‖ SHA-256(ek))
//! ```
//!
//! so a note the server moved from another request, or sealed to another key, does not open.
//! The requester claims it with the claim token of its link keys ([`crate::tokens`]).
//!
//! An answer may carry files ([`respond_with_files`]): its plaintext is then the
//! [`Bundle`](qsmm_shield::attachment::Bundle) of `send --file` (message, file key,
//! manifest), and the files are uploaded, attached, downloaded and opened exactly as a note's
//! ([`crate::files`]).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use qsmm_shield::note::{
    self, CLASSICAL_SECRET_LEN, NOTE_EK_LEN, RecipientKeys, SEED_LEN, StoredNote,
};
use sha2::{Digest as _, Sha256};
use url::Url;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::api::Api;
use crate::error::{CliError, Result};
use crate::files::{Opened, save_bundle, upload_bundle};
use crate::link::ServerUrl;
use crate::tokens::Tokens;
use crate::wire::{ClaimRequest, RequestCreate, ResponseCreate, SealedJson};

/// What starts the fragment of a request link.
pub const REQUEST_LINK_PREFIX: &str = "req.";
/// What starts the fragment of a requester's link.
pub const OWN_LINK_PREFIX: &str = "own.";

/// The HKDF info prefix of the classical secret bound to a request.
const INFO_REQUEST: &[u8] = b"paravoid/v1/request";

/// The classical secret an answer to request `id` is sealed with, for the requester's `ek`.
#[must_use]
pub fn bound_classical(
    classical: &[u8; CLASSICAL_SECRET_LEN],
    id: Uuid,
    ek: &[u8],
) -> Zeroizing<[u8; CLASSICAL_SECRET_LEN]> {
    let ek_hash = Sha256::digest(ek);
    let mut out = Zeroizing::new([0u8; CLASSICAL_SECRET_LEN]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    let _expanded = Hkdf::<Sha256>::new(None, classical).expand_multi_info(
        &[INFO_REQUEST, id.as_bytes(), ek_hash.as_slice()],
        out.as_mut(),
    );
    out
}

/// A link `<server>/r/<id>#<prefix><payload>`, split.
fn split_link(text: &str, prefix: &str) -> Result<(ServerUrl, Uuid, Zeroizing<String>)> {
    let url = Url::parse(text.trim()).map_err(|_| CliError::InvalidLink("not a URL"))?;
    let fragment = url
        .fragment()
        .filter(|fragment| !fragment.is_empty())
        .ok_or(CliError::InvalidLink(
            "the part after `#` (the keys) is missing",
        ))?;
    let payload = fragment.strip_prefix(prefix).ok_or(CliError::InvalidLink(
        "its fragment does not start with the expected `req.` or `own.`",
    ))?;
    let payload = Zeroizing::new(payload.to_owned());
    let (base, id) = url
        .path()
        .rsplit_once("/r/")
        .ok_or(CliError::InvalidLink("its path does not end in /r/<id>"))?;
    let id =
        Uuid::try_parse(id).map_err(|_| CliError::InvalidLink("the request id is not valid"))?;
    let mut server = url.clone();
    server.set_fragment(None);
    server.set_query(None);
    server.set_path(base);
    let server = ServerUrl::parse(server.as_str())
        .map_err(|_| CliError::InvalidLink("its server part is not valid"))?;
    Ok((server, id, payload))
}

/// A request link: what the holder of the secret needs to answer (no secret of the requester's
/// beyond the classical secret, which alone opens nothing).
#[derive(Clone)]
pub struct RequestLink {
    /// The server that holds the request.
    pub server: ServerUrl,
    /// The request's id.
    pub id: Uuid,
    ek: Vec<u8>,
    classical: Zeroizing<[u8; CLASSICAL_SECRET_LEN]>,
}

impl RequestLink {
    /// Reads `<server>/r/<id>#req.<ek ‖ classical>`.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidLink`] with the reason.
    pub fn parse(text: &str) -> Result<Self> {
        let (server, id, payload) = split_link(text, REQUEST_LINK_PREFIX)?;
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(payload.as_bytes())
                .map_err(|_| CliError::InvalidLink("the key after `#req.` is damaged"))?,
        );
        if raw.len() != NOTE_EK_LEN + CLASSICAL_SECRET_LEN {
            return Err(CliError::InvalidLink(
                "the key after `#req.` is damaged or incomplete",
            ));
        }
        let (ek, classical) = raw.split_at(NOTE_EK_LEN);
        let mut secret = Zeroizing::new([0u8; CLASSICAL_SECRET_LEN]);
        secret.copy_from_slice(classical);
        Ok(Self {
            server,
            id,
            ek: ek.to_vec(),
            classical: secret,
        })
    }

    /// The link's text.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(self.ek.clone());
        raw.extend_from_slice(self.classical.as_ref());
        Zeroizing::new(format!(
            "{}/r/{}#{REQUEST_LINK_PREFIX}{}",
            self.server,
            self.id.hyphenated(),
            URL_SAFE_NO_PAD.encode(&raw[..])
        ))
    }

    /// Seals `message` as the answer to this request.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidLink`] if the key is not an ML-KEM-768 key; [`CliError::Seal`].
    pub fn seal(&self, message: &[u8]) -> Result<StoredNote> {
        let classical = bound_classical(&self.classical, self.id, &self.ek);
        note::seal_note_to(&self.ek, &classical, message).map_err(|err| match err {
            qsmm_shield::Error::DataTooLarge { .. } => CliError::Seal(err),
            _ => CliError::InvalidLink("the key after `#req.` is not an encapsulation key"),
        })
    }
}

impl fmt::Debug for RequestLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestLink")
            .field("server", &self.server)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A requester's link: the keys that open the answer.
pub struct OwnLink {
    /// The server that holds the request.
    pub server: ServerUrl,
    /// The request's id.
    pub id: Uuid,
    compact: Zeroizing<String>,
}

impl OwnLink {
    /// Whether `text` looks like a requester's link (its fragment starts with `own.`).
    #[must_use]
    pub fn is_own_link(text: &str) -> bool {
        text.split_once('#')
            .is_some_and(|(_, fragment)| fragment.starts_with(OWN_LINK_PREFIX))
    }

    /// Reads `<server>/r/<id>#own.<seed ‖ classical>`.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidLink`] with the reason.
    pub fn parse(text: &str) -> Result<Self> {
        let (server, id, compact) = split_link(text, OWN_LINK_PREFIX)?;
        let link = Self {
            server,
            id,
            compact,
        };
        link.keys()?;
        Ok(link)
    }

    /// The link's text.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}/r/{}#{OWN_LINK_PREFIX}{}",
            self.server,
            self.id.hyphenated(),
            self.compact.as_str()
        ))
    }

    /// The requester's link keys (`seed ‖ classical`), which the claim token is derived from.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidLink`] if they do not decode.
    pub fn keys(&self) -> Result<RecipientKeys> {
        RecipientKeys::from_compact(&self.compact)
            .map_err(|_| CliError::InvalidLink("the keys after `#own.` are damaged or incomplete"))
    }

    /// The keys that open the answer: the seed with the classical secret bound to the request.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidLink`] if the link keys do not decode.
    pub fn answer_keys(&self) -> Result<RecipientKeys> {
        let keys = self.keys()?;
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(self.compact.as_bytes())
                .map_err(|_| CliError::InvalidLink("the keys after `#own.` are damaged"))?,
        );
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        let mut classical = Zeroizing::new([0u8; CLASSICAL_SECRET_LEN]);
        if raw.len() != SEED_LEN + CLASSICAL_SECRET_LEN {
            return Err(CliError::InvalidLink(
                "the keys after `#own.` are damaged or incomplete",
            ));
        }
        seed.copy_from_slice(&raw[..SEED_LEN]);
        classical.copy_from_slice(&raw[SEED_LEN..]);
        let bound = bound_classical(&classical, self.id, &keys.encapsulation_key());
        Ok(RecipientKeys::from_seed(*seed, *bound))
    }
}

impl fmt::Debug for OwnLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnLink")
            .field("server", &self.server)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A registered request: the link to send, the link to keep, and when the request ends.
#[derive(Debug)]
pub struct Requested {
    /// Send this to whoever holds the secret.
    pub request_link: RequestLink,
    /// Keep this: it opens the answer.
    pub own_link: OwnLink,
    /// Unix seconds after which the request takes no answer.
    pub expires_at: u64,
}

/// Makes a key pair and registers a request on `server` that takes an answer for `ttl_secs`
/// (the server's default if `None`); the answer then waits `response_ttl_secs` to be opened.
///
/// # Errors
///
/// [`CliError::Seal`] if no randomness; the server's refusals.
pub async fn request(
    server: &ServerUrl,
    ttl_secs: Option<u64>,
    response_ttl_secs: Option<u64>,
) -> Result<Requested> {
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    let mut classical = Zeroizing::new([0u8; CLASSICAL_SECRET_LEN]);
    getrandom::fill(seed.as_mut())
        .and_then(|()| getrandom::fill(classical.as_mut()))
        .map_err(|_| CliError::Seal(qsmm_shield::Error::Rng))?;
    let keys = RecipientKeys::from_seed(*seed, *classical);
    let tokens = Tokens::new(&keys, None);
    let api = Api::new(server.clone())?;
    let created = api
        .create_request(&RequestCreate {
            ttl_secs,
            response_ttl_secs,
            claim_hash: Tokens::hash(&tokens.claim),
        })
        .await?;
    let id = Uuid::try_parse(&created.id)
        .map_err(|_| CliError::UnexpectedAnswer("the request id is not a UUID"))?;
    if created.respond_path != format!("/r/{}", id.hyphenated()) {
        return Err(CliError::UnexpectedAnswer(
            "the respond path is not /r/<id>",
        ));
    }
    Ok(Requested {
        request_link: RequestLink {
            server: server.clone(),
            id,
            ek: keys.encapsulation_key(),
            classical,
        },
        own_link: OwnLink {
            server: server.clone(),
            id,
            compact: keys.to_compact(),
        },
        expires_at: created.expires_at,
    })
}

/// Seals `message` to the request of `link` and stores it as its one answer; returns when the
/// answer expires.
///
/// # Errors
///
/// [`CliError::EmptyMessage`], [`CliError::RequestClosed`] (unknown, expired, answered), the
/// server's other refusals.
pub async fn respond(link: &RequestLink, message: &[u8]) -> Result<u64> {
    respond_with_files(link, message, &[]).await
}

/// [`respond`] with the files at `paths` attached (at most 32; `message` may then be empty):
/// each is sealed and uploaded as a stream, as `send --file` does ([`crate::files`]), and the
/// answer, whose plaintext is their [`Bundle`](qsmm_shield::attachment::Bundle) (message,
/// file key, names, types, sizes), is sealed to the requester and names the uploads. The request is looked up first, so a closed
/// one costs no upload.
///
/// ```no_run
/// # async fn demo(text: &str) -> Result<(), paravoid_cli::CliError> {
/// use std::path::PathBuf;
///
/// let link = paravoid_cli::RequestLink::parse(text)?;
/// let files = [PathBuf::from("id_ed25519")];
/// paravoid_cli::respond_with_files(&link, b"", &files).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// Those of [`respond`] and, for the files, of [`send_files`](crate::send_files).
pub async fn respond_with_files(
    link: &RequestLink,
    message: &[u8],
    paths: &[PathBuf],
) -> Result<u64> {
    if message.is_empty() && paths.is_empty() {
        return Err(CliError::EmptyMessage);
    }
    let api = Api::new(link.server.clone())?;
    let (plaintext, files) = if paths.is_empty() {
        (Zeroizing::new(message.to_vec()), Vec::new())
    } else {
        if api.request_status(link.id).await?.answered {
            return Err(CliError::RequestClosed);
        }
        let (bundle, files) = upload_bundle(&link.server, message, paths).await?;
        (bundle.to_plaintext(), files)
    };
    let sealed = link.seal(&plaintext)?;
    let created = api
        .respond(
            link.id,
            &ResponseCreate {
                note: SealedJson::from_note(&sealed),
                files,
            },
        )
        .await?;
    Ok(created.expires_at)
}

/// Claims and opens the answer to the request of the requester's `link` (it is then gone). An
/// answer with files has them written to the current directory (see [`open_answer_into`]).
///
/// # Errors
///
/// [`CliError::NotAnswered`], [`CliError::RequestClosed`], [`CliError::Gone`] (already opened),
/// [`CliError::Tampered`] if the answer does not open with the link (moved, changed, or sealed
/// to another key).
pub async fn open_answer(link: &OwnLink) -> Result<Zeroizing<Vec<u8>>> {
    open_answer_into(link, Path::new("."))
        .await
        .map(|opened| opened.message)
}

/// Claims and opens the answer to the request of `link`, and writes its files, if any, into
/// `dir` under the same rules as [`open_into`](crate::open_into): checked names, nothing
/// replaced, nothing left under a final name unless every file opened.
///
/// # Errors
///
/// Those of [`open_answer`] and, for the files, of [`open_into`](crate::open_into)
/// ([`CliError::FileTampered`] for a file changed, cut or swapped on the way).
pub async fn open_answer_into(link: &OwnLink, dir: &Path) -> Result<Opened> {
    let keys = link.keys()?;
    let answer_keys = link.answer_keys()?;
    let api = Api::new(link.server.clone())?;
    let status = api.request_status(link.id).await;
    match status {
        Ok(status) if !status.answered => return Err(CliError::NotAnswered),
        // An answered request may have been swept after it expired: the answer can still wait.
        Ok(_) | Err(CliError::RequestClosed) => {}
        Err(err) => return Err(err),
    }
    let tokens = Tokens::new(&keys, None);
    let claim_token = Tokens::encode(&tokens.claim);
    let claimed = api
        .claim(
            link.id,
            &ClaimRequest {
                claim_token: &claim_token,
                passphrase_token: None,
            },
        )
        .await?;
    let stored = claimed.note.to_note().map_err(|_| CliError::Tampered)?;
    if stored.passphrase.is_some() || stored.ek != keys.encapsulation_key() {
        return Err(CliError::Tampered);
    }
    let plaintext = note::open_note(&stored, &answer_keys).map_err(|_| CliError::Tampered)?;
    save_bundle(&link.server, link.id, plaintext, claimed.files, dir).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> (RequestLink, OwnLink) {
        let keys = RecipientKeys::from_seed([7; 64], [9; 32]);
        let server = ServerUrl::parse("https://notes.example/p").unwrap();
        let id = Uuid::from_u128(0x1234);
        (
            RequestLink {
                server: server.clone(),
                id,
                ek: keys.encapsulation_key(),
                classical: Zeroizing::new([9; 32]),
            },
            OwnLink {
                server,
                id,
                compact: keys.to_compact(),
            },
        )
    }

    #[test]
    fn links_round_trip_and_an_answer_opens_with_the_own_link_only() {
        let (request, own) = requested();
        let text = request.to_text();
        assert!(
            text.starts_with("https://notes.example/p/r/00000000-0000-0000-0000-000000001234#req.")
        );
        let request = RequestLink::parse(&text).unwrap();
        let own = OwnLink::parse(&own.to_text()).unwrap();
        assert!(OwnLink::is_own_link(&own.to_text()));
        assert!(!OwnLink::is_own_link(&text));
        let sealed = request.seal(b"the answer").unwrap();
        assert_eq!(
            &note::open_note(&sealed, &own.answer_keys().unwrap()).unwrap()[..],
            b"the answer"
        );
        // The unbound keys do not open it: the classical secret is bound to the request.
        assert!(note::open_note(&sealed, &own.keys().unwrap()).is_err());
        assert!(!format!("{request:?}{own:?}").contains(&own.to_text()[40..]));
    }

    #[test]
    fn the_bound_classical_secret_matches_the_page_code() {
        // The same value is asserted in paravoid/web/test/request.test.mjs.
        let keys = RecipientKeys::from_seed([7; 64], [9; 32]);
        let bound = bound_classical(&[9; 32], Uuid::from_u128(0x1234), &keys.encapsulation_key());
        let hex: String = bound.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "3277fee639508b3e9cfad37ca228ae7152cf56e07b023736c02a444827170c7a"
        );
    }

    #[test]
    fn an_answer_to_another_request_does_not_open() {
        let (request, own) = requested();
        let moved = RequestLink {
            id: Uuid::from_u128(0x9999),
            ..request
        };
        let sealed = moved.seal(b"for another request").unwrap();
        assert!(note::open_note(&sealed, &own.answer_keys().unwrap()).is_err());
    }

    #[test]
    fn bad_request_links_are_refused() {
        let (request, own) = requested();
        let good = request.to_text();
        for bad in [
            good.replace("#req.", "#own."),
            good.replace("/r/", "/s/"),
            good[..good.len() - 4].to_owned(),
            good.split('#').next().unwrap().to_owned(),
            "nothing".to_owned(),
        ] {
            let err = RequestLink::parse(&bad).unwrap_err();
            assert_eq!(err.exit_code(), 5, "{bad}: {err}");
        }
        assert!(OwnLink::parse(&good).is_err());
        assert!(RequestLink::parse(&own.to_text()).is_err());
    }
}
