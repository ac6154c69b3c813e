//! The integrity-proof interface of qsmm, with a transparent (not zero-knowledge) MiMC-Merkle
//! reference implementation.
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub use qsmm_types::{Error, Result};
