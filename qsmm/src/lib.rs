//! # qsmm
//!
//! Post-quantum, deniable, superblock-free storage primitives. This facade re-exports the qsmm
//! crates behind features:
//!
//! | feature | module | crate |
//! |---|---|---|
//! | always | [`types`] | `qsmm-types`: keys, block ids, thresholds, errors, labels |
//! | `shield` | `shield` | `qsmm-shield`: ML-KEM, ML-DSA, X-Wing, key wrapping, notes |
//! | `shatter` | `shatter` | `qsmm-shatter`: MiMC-7, placement, Shamir metadata mesh |
//! | `void` (default) | `void` | `qsmm-void`: sealed blocks, namespaces, block media |
//! | `proof` | `proof` | `qsmm-proof-stub`: integrity-proof interface, MiMC-Merkle |
//! | `volume` | `volume` | `qsmm-volume`: deniable volumes of 4096-byte sectors on one medium |
//!
//! `shatter` turns on `void` (shares are sealed blocks), `proof` turns on `shatter` (the
//! Merkle tree hashes with MiMC) and `volume` turns on `shatter` (volume roots live in the mesh).
//!
//! <div class="warning">Research prototype: not audited. Do not rely on it to protect real
//! data yet.</div>
#![forbid(unsafe_code)]

pub use qsmm_types as types;

#[cfg(feature = "shield")]
pub use qsmm_shield as shield;

#[cfg(feature = "shatter")]
pub use qsmm_shatter as shatter;

#[cfg(feature = "void")]
pub use qsmm_void as void;

#[cfg(feature = "proof")]
pub use qsmm_proof_stub as proof;

#[cfg(feature = "volume")]
pub use qsmm_volume as volume;

/// The code examples of the repository README, compiled and run as doctests when every feature
/// is on (`cargo test --workspace --all-features`).
#[cfg(all(
    doctest,
    feature = "shield",
    feature = "shatter",
    feature = "void",
    feature = "proof",
    feature = "volume"
))]
#[doc = include_str!("../../README.md")]
#[derive(Debug)]
pub struct ReadmeDoctests;
