#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod backend;
pub mod challenge;
pub mod chip;
pub mod circuit;
pub mod held;
pub mod keys;
pub mod proof;

pub use backend::{Halo2Membership, MembershipWitness, prove, verify};
pub use qsmm_types::{Error, Result};
