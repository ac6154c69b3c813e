#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod mesh;
pub mod mimc;
pub mod placement;

pub use mesh::{
    KeyedMesh, MeshConfig, MeshRead, MetadataMesh, Placement, SHARE_FORMAT_VERSION,
    SHARE_HEADER_LEN,
};
pub use qsmm_types::{BlockId, Error, Result, SecretKey, Threshold};
