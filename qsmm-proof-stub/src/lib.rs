#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

// One public path per item: the commitment and the interface traits are the crate's entry points
// and live at its root; the tree and its hash are modules of their own.
mod commitment;
pub mod hash;
mod interface;
pub mod merkle;

pub use commitment::Commitment;
pub use interface::{IntegrityProver, IntegrityVerifier, ProofEncoding, ProofSystem};
pub use qsmm_types::{Error, Result};
