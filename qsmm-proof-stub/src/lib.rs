#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod commitment;
pub mod hash;
pub mod interface;
pub mod merkle;

pub use commitment::Commitment;
pub use interface::{IntegrityProver, IntegrityVerifier, ProofEncoding, ProofSystem};
pub use qsmm_types::{Error, Result};
