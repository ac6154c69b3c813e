//! Post-quantum key protection for qsmm: ML-KEM (FIPS 203), ML-DSA (FIPS 204), the X-Wing hybrid
//! KEM, key wrapping and the paravoid note scheme.
#![forbid(unsafe_code)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub use qsmm_types::{Error, Result, SecretKey};
