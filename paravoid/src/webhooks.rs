//! Signed webhooks for read receipts: a note's creator may give an `https` URL that the server
//! calls once when the note is revealed, expires or is destroyed by wrong passphrases.
//!
//! - **creation** (`POST /api/e2e/notes` with `"webhook": "<url>"`, which implies a receipt):
//!   the URL must pass [`target::admit`] (the operator's `--webhook-allow` list); the server
//!   draws a 32-byte secret and a 16-byte opaque id and answers both once (`webhook_secret`,
//!   `webhook_id`, unpadded base64url) beside the receipt's status token. They are stored with
//!   the receipt (`store::webhooks`).
//! - **delivery**: the transaction settling the receipt makes the delivery due; the worker
//!   ([`worker`]) claims it and POSTs `{"token": <webhook id>, "status": …, "at": …}`, signed
//!   ([`signature`]), to an address checked against SSRF ([`address`], [`send`]), retrying
//!   with backoff until a 2xx answer or the last attempt.
//!
//! The call names neither the note nor the receipt: the webhook id is random, unrelated to the
//! note id and to the status token, and the body carries only the status and a coarse time.

pub(crate) mod address;
pub(crate) mod send;
pub(crate) mod signature;
pub(crate) mod target;
pub(crate) mod worker;

pub use signature::WEBHOOK_SECRET_LEN;
pub use target::MAX_WEBHOOK_URL_LEN;
