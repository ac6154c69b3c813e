#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod computed;
mod error;
mod index;
mod key_id;
mod keys;
mod message;
mod wire;

pub use error::{Error, Result};
pub use index::{DEFAULT_MAX_ENTRIES, EncryptedIndex, HARD_MAX_ENTRIES};
pub use key_id::KeyId;
pub use keys::{ClientKey, ServerKey};
pub use message::{Answer, Entry, Query, Update, UpdateAnswer};
