#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod allocation;
pub mod cipher;
pub mod device;
pub mod format;
pub mod namespace;
pub mod seal;
#[cfg(feature = "stats")]
pub mod stats;

pub use cipher::SectorCipher;
pub use device::{BlockDevice, FileDevice, MemoryDevice};
pub use format::{format, format_with_progress};
pub use namespace::Namespace;
pub use qsmm_types::{BlockId, Error, Result, SecretKey};
pub use seal::{BlockSealer, BlockSize};
