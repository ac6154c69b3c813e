#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

/// Periodic commit: a thread that flushes a volume a bounded time after its first write.
mod autocommit;
/// Sets of block numbers.
mod bitmap;
/// The crate's error type.
mod error;
/// The passphrase KDF and its cost.
mod kdf;
/// On-disk structures of the map: index blocks and map leaves.
mod map;
/// Media: format, open, lock, the shared allocator and the registry of open volumes.
mod medium;
/// Multi-snapshot mode: the root area, slots and the tick.
mod multi_snapshot;
/// The passphrase-file format.
mod passphrase;
/// A volume's root record and its mesh I/O.
mod root;
/// Volumes: the public handle over sectors, map, copy-on-write and flush.
mod volume;

pub use autocommit::AutoCommit;
pub use error::{Error, Result};
pub use kdf::KdfCost;
pub use medium::{BLOCK_SIZE, MIN_MEDIUM_SIZE, Medium, format};
pub use multi_snapshot::{DEFAULT_TICK_RATE, DEFAULT_TICK_SLOTS, SlotCounts, SnapshotMode, Ticker};
pub use passphrase::{MAX_PASSPHRASE_LEN, Passphrase, PassphraseError};
pub use volume::Volume;
