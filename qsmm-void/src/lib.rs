#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

// One public path per item: the sealer, namespace, cipher, devices and `format` are the crate's
// entry points and live at its root (their modules are private); the allocator and the image
// statistics are modules of their own. Keys and block ids are `qsmm_types`'.
pub mod allocation;
mod cipher;
mod device;
mod format;
mod namespace;
mod seal;
#[cfg(feature = "stats")]
pub mod stats;

pub use cipher::SectorCipher;
pub use device::{BlockDevice, FileDevice, MemoryDevice};
pub use format::{format, format_with_progress};
pub use namespace::Namespace;
pub use qsmm_types::{Error, Result};
pub use seal::{BlockSealer, BlockSize, LENGTH_FIELD_LEN, NONCE_LEN, SEAL_OVERHEAD, TAG_LEN};
