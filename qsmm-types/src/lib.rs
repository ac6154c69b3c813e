#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod block;
mod error;
mod kdf;
pub mod labels;
mod secret_key;
mod threshold;

pub use block::BlockId;
pub use error::{Error, Result};
pub use kdf::derive_subkey;
pub use secret_key::{SECRET_KEY_LEN, SecretKey};
pub use threshold::{MAX_SHARES, MIN_THRESHOLD, Threshold};
