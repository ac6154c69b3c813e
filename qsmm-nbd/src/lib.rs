#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod config;
mod error;
mod plugin;

pub use config::{Config, MAX_PASSPHRASE_LEN, MAX_VOLUMES, Passphrase, export_index};
pub use error::{Error, Result, volume_errno};
