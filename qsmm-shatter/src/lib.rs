//! MiMC-7 over Pallas, keyed shard placement and the authenticated Shamir metadata mesh that
//! replaces a superblock.
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub use qsmm_types::{BlockId, Error, Result, SecretKey, Threshold};
