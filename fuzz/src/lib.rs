//! Fuzz targets for qsmm and paravoid, as plain functions over `&[u8]`.
//!
//! Each `fuzz_targets/<name>.rs` is a one-line `fuzz_target!` calling the function of the same
//! name here. Every function asserts properties of what it decodes — round trips, "nothing but
//! the right key opens", "only the real signature verifies", "never a 5xx" — and panics (a
//! libFuzzer crash) when one fails. The fixed keys and known plaintexts the properties refer to
//! live in [`fixtures`]; `examples/seed_corpus.rs` writes valid encodings under those keys into
//! `corpus/<target>/`.

#![forbid(unsafe_code)]

mod age;
mod attachment;
pub mod fixtures;
mod http;
mod proof;
mod shatter;
mod shield;
mod void;
mod volume;

pub use age::{
    AGE_HYBRID_IDENTITY, AGE_X25519_IDENTITY, age_decrypt, age_header_stanzas, age_identities,
};
pub use attachment::{ATTACHMENT_FILE_KEY, attachment_bundle};
pub use http::paravoid_http;
pub use proof::{halo2_proof_decode_verify, proof_decode_verify};
pub use shatter::{mesh_reconstruct, record_len as shatter_record_len};
pub use shield::{dsa_decoders_verify, kem_decoders, note_decoders, wrapped_key, xwing_decoders};
pub use void::open_block;
pub use volume::{
    LOWER_PASSPHRASE, VOLUME_BLOCKS, VOLUME_PASSPHRASE, volume_mesh_key, volume_open,
    volume_open_seed,
};
