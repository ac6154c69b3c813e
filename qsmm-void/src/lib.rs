//! Sealed blocks that are indistinguishable from noise, key-separated namespaces and block media.
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub use qsmm_types::{BlockId, Error, Result, SecretKey};
