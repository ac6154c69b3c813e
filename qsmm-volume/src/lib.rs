#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

/// Periodic commit: a thread that flushes a volume a bounded time after its first write.
mod autocommit;
/// The crate's error type.
mod error;
/// On-disk structures: root record, index blocks, map leaves.
mod map;
/// Media: format, open, lock, KDF cost, the shared allocator.
mod medium;
/// The passphrase-file format.
mod passphrase;
/// Volumes: sectors, map, copy-on-write, flush.
mod volume;

pub use autocommit::AutoCommit;
pub use error::{Error, Result};
pub use medium::{BLOCK_SIZE, KdfCost, MIN_MEDIUM_SIZE, Medium, format};
pub use passphrase::{MAX_PASSPHRASE_LEN, Passphrase, PassphraseError};
pub use volume::Volume;
