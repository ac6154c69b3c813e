#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod argon2_pool;
mod blocking;
mod clock;
mod config;
mod connections;
mod deadline;
mod error;
mod json;
mod metrics;
mod rate_limit;
mod routes;
mod server;
mod state;
mod store;
mod store_key;
mod sweeper;
mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, MAX_MESSAGE_BYTES_CEILING, MAX_TTL_CEILING_SECS};
pub use error::{ConfigError, Error, NOT_FOUND_MESSAGE, Result, StorageError};
pub use routes::e2e::E2E_TOKEN_LEN;
pub use routes::openapi::openapi_document;
pub use routes::pages::served_file_hashes;
pub use routes::receipts::RECEIPT_TOKEN_LEN;
pub use routes::secrets::{
    CLASSICAL_SECRET_LEN, COMPACT_LEN, DK_SEED_LEN, EXPANDED_DK_LEN, MAX_PASSPHRASE_CHARS,
};
pub use server::{HSTS, app, metrics_app, serve, serve_tls};
pub use state::AppState;
pub use store::receipts::RECEIPT_GRACE_SECS;
pub use store::{MAX_PASSPHRASE_ATTEMPTS, StoreUrl};
pub use store_key::{Rotation, StoreKeyAction, StoreKeyCommand, rotate_store_key};
pub use webhooks::{MAX_WEBHOOK_URL_LEN, WEBHOOK_SECRET_LEN};
