#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod mesh;
pub mod mimc;
pub mod placement;

pub use qsmm_types::{Error, Result};
