#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod allocation;
mod device;
mod format;
mod namespace;
#[cfg(feature = "stats")]
pub mod stats;

pub use allocation::DataAllocator;
pub use device::{BlockDevice, FileDevice, MemoryDevice};
pub use format::{format, format_with_progress};
pub use namespace::{
    DEFAULT_BLOCK_SIZE, LENGTH_FIELD_LEN, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, NONCE_LEN, Namespace,
    SEAL_OVERHEAD, TAG_LEN,
};
pub use qsmm_types::{BlockId, Error, Result, SecretKey};
