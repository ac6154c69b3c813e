#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod config;
mod error;
mod harden;
mod params;
mod plugin;

pub use config::{
    Config, DEFAULT_COMMIT_INTERVAL, MAX_VOLUMES, decode_passphrase_stream,
    encode_passphrase_stream, export_index,
};
pub use error::{Error, Result, volume_errno};
pub use harden::harden_process;
pub use params::PluginParams;
pub use qsmm_volume::{MAX_PASSPHRASE_LEN, Passphrase};
