#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod age;
pub mod attachment;
pub mod dsa;
pub mod hybrid;
pub mod kem;
pub mod note;
mod reader;
pub mod wrap;

pub use qsmm_types::{Error, Result};
