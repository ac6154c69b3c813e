//! `paravoid-cli`: paravoid's end-to-end notes from a shell.
//!
//! `send` reads a message from standard input, seals it on this machine with the
//! [`qsmm_shield::note`] scheme (ML-KEM-768 + a classical secret → HKDF-SHA256 → AES-256-GCM,
//! optional Argon2id passphrase), stores the sealed note on a paravoid server through its
//! end-to-end API and prints the link `<server>/s/<id>#e2e.<keys>`. `open` claims the note of
//! such a link and prints it. Both speak the same format as the page, so a link made by one
//! opens in the other. The server never receives the message, the passphrase or the keys (the
//! part of the link after `#`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), paravoid_cli::CliError> {
//! use paravoid_cli::{Link, ServerUrl};
//!
//! let server = ServerUrl::parse("https://notes.example")?;
//! let sent = paravoid_cli::send(&server, b"the vault code is 4711", None, Some(3600)).await?;
//! let link = sent.link.to_text();
//!
//! let message = paravoid_cli::open(&Link::parse(&link)?, || {
//!     Err(paravoid_cli::CliError::PassphraseRequired)
//! })
//! .await?;
//! assert_eq!(&message[..], b"the vault code is 4711");
//! # Ok(())
//! # }
//! ```
//!
//! `send --file` adds files and `open -o DIR` saves them ([`files`]): sealed, uploaded,
//! downloaded and opened 64 KiB at a time in the page's format, so a file of any size never
//! sits whole in memory, and saved under checked names without replacing anything
//! ([`saving`]).
//!
//! The modules: [`link`] (server addresses and links), [`tokens`] (claim tokens), `wire` (the
//! API's JSON), `api` (HTTP), `transfer` (streamed file uploads and downloads), [`input`]
//! (standard input, passphrases, durations), [`commands`] (`send`), [`files`] (`open`, notes with
//! files), [`media_type`] (files' types by extension), [`saving`], [`request`](mod@request) and
//! [`error`] (errors and exit codes).

pub mod commands;
pub mod error;
pub mod files;
pub mod input;
pub mod link;
pub mod media_type;
pub mod receipt;
pub mod request;
pub mod saving;
pub mod tokens;

mod api;
mod transfer;
mod wire;

pub use commands::{
    SendOptions, Sent, StatusToken, WebhookKeys, is_plain_text, send, utc_time, write_new_file,
};
pub use error::{CliError, Result};
pub use files::{Opened, SavedFile, open, open_into, send_files, send_note};
pub use input::{parse_ttl, passphrase_from_file, prompt_passphrase, read_message};
pub use link::{E2E_LINK_PREFIX, Link, ServerUrl};
pub use media_type::FILE_MEDIA_TYPE;
pub use receipt::{Receipt, ReceiptState, receipt_status};
pub use request::{
    OwnLink, RequestLink, Requested, open_answer, open_answer_into, request, respond,
    respond_with_files,
};
