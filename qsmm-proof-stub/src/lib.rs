#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod commitment;
pub mod hash;
mod interface;
mod merkle;

pub use commitment::Commitment;
pub use interface::{IntegrityProver, IntegrityVerifier, ProofEncoding, ProofSystem};
pub use merkle::{MerkleProof, MerkleTree, MimcMerkle};
pub use qsmm_types::{Error, Result};
