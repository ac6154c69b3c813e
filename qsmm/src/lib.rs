//! # qsmm
//!
//! Post-quantum, deniable, superblock-free storage primitives. This facade re-exports the qsmm
//! crates behind features:
//!
//! | feature | module | crate |
//! |---|---|---|
//! | always | [`types`] | `qsmm-types`: keys, block ids, thresholds, errors, labels |
//! | `shield` (default) | `shield` | `qsmm-shield`: ML-KEM, ML-DSA, X-Wing, key wrapping, notes |
//! | `shatter` (default) | `shatter` | `qsmm-shatter`: MiMC-7, placement, Shamir metadata mesh |
//! | `void` (default) | `void` | `qsmm-void`: sealed blocks, namespaces, block media |
//! | `proof` | `proof` | `qsmm-proof-stub`: integrity-proof interface, MiMC-Merkle; `qsmm-proof-halo2` as `proof::halo2`: zero-knowledge proofs (Halo2) |
//! | `volume` | `volume` | `qsmm-volume`: deniable volumes of 4096-byte sectors on one medium |
//! | `cloak` | `cloak` | `qsmm-cloak`: an encrypted index a host queries blindly (TFHE-rs; heavy build, Zama's patent terms) |
//!
//! The default features are those of the original qsmm README (`shield`, `shatter`, `void`),
//! so that `qsmm = "0.1"` runs each of its examples, below, without naming a feature. Turn
//! them off (`default-features = false`) to build only the layers you use. `shatter` turns on
//! `void` (shares are sealed blocks) and `proof` turns on `shatter` (the Merkle tree hashes with
//! MiMC) and `volume` turns on `shatter` (volume roots live in the mesh).
//!
//! Every item has one path: a concept module (`qsmm::shatter::mesh::MetadataMesh`,
//! `qsmm::shield::kem::KemKeypair`, …) or, for a crate's few entry points, its root
//! (`qsmm::void::Namespace`). The shared vocabulary (`SecretKey`, `BlockId`, `Threshold`,
//! `Error`) lives in [`types`].
//!
//! # Examples
//!
//! These are the examples of the original qsmm README, with one deliberate difference: shares
//! are sealed so that they look like noise on the medium, so reconstructing takes the key and
//! the medium's `hw_entropy`, like sharding does.
//!
//! Replace the superblock with a Shamir mesh:
//!
#![cfg_attr(all(feature = "shatter", feature = "void"), doc = "```")]
#![cfg_attr(not(all(feature = "shatter", feature = "void")), doc = "```ignore")]
//! use qsmm::shatter::mesh::{MetadataMesh, MeshConfig};
//! use qsmm::types::{SecretKey, Threshold};
//! # use qsmm::types::BlockId;
//! let mesh = MetadataMesh::new(MeshConfig { threshold: Threshold::new(3, 5), total_blocks: 100_000 });
//! let key = SecretKey::generate();
//! let hw_entropy = b"per-medium-random-seed";
//! let metadata = b"root-pointer:0xDEADBEEF;generation:42";
//! let placements = mesh.shard_metadata(metadata, &key, hw_entropy).unwrap();
//! # // The medium lost two of the five shards; the rest is read back at the placements.
//! # let retrieved_shards: Vec<(BlockId, Vec<u8>)> = placements
//! #     .iter()
//! #     .skip(2)
//! #     .map(|p| (p.target_block, p.share.clone()))
//! #     .collect();
//! // Later: read back any 3+ shards to reconstruct.
//! let recovered = mesh.reconstruct_metadata(&key, hw_entropy, &retrieved_shards).unwrap();
//! assert_eq!(recovered, metadata);
//! // The placements themselves are accepted too.
//! assert_eq!(mesh.reconstruct_metadata(&key, hw_entropy, &placements).unwrap(), metadata);
//! ```
//!
//! Seal blocks that only their namespace can open:
//!
#![cfg_attr(feature = "void", doc = "```")]
#![cfg_attr(not(feature = "void"), doc = "```ignore")]
//! use qsmm::void::Namespace;
//! use qsmm::types::{BlockId, SecretKey};
//! let ns = Namespace::new(SecretKey::generate(), b"hw-entropy".to_vec()).unwrap();
//! let sealed = ns.seal_block(b"secret data", BlockId(42)).unwrap();
//! let data = ns.open_block(&sealed, BlockId(42)).unwrap();
//! assert_eq!(data.as_deref(), Some(b"secret data".as_slice()));
//! let other = Namespace::new(SecretKey::generate(), b"hw-entropy".to_vec()).unwrap();
//! assert!(other.open_block(&sealed, BlockId(42)).unwrap().is_none());
//! ```
//!
//! Wrap a session key for a post-quantum recipient:
//!
#![cfg_attr(feature = "shield", doc = "```")]
#![cfg_attr(not(feature = "shield"), doc = "```ignore")]
//! use qsmm::shield::kem::{KemKeypair, KemLevel};
//! use qsmm::shield::wrap;
//! # use qsmm::types::SecretKey;
//! let keypair = KemKeypair::generate(KemLevel::Kem768);
//! let session_key = SecretKey::generate();
//! let wrapped = wrap::wrap_key(keypair.public_key(), &session_key).unwrap();
//! let recovered = wrap::unwrap_key(keypair.secret_key(), &wrapped).unwrap();
//! assert_eq!(recovered.as_bytes(), session_key.as_bytes());
//! ```
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

/// Integrity proofs: the interface and the transparent MiMC-Merkle backend of
/// `qsmm-proof-stub`, and the zero-knowledge Halo2 backend of `qsmm-proof-halo2` as
/// [`proof::halo2`].
#[cfg(feature = "proof")]
pub mod proof {
    pub use qsmm_proof_halo2 as halo2;
    pub use qsmm_proof_stub::*;
}

#[cfg(feature = "volume")]
pub use qsmm_volume as volume;

#[cfg(feature = "cloak")]
pub use qsmm_cloak as cloak;

/// The code examples of this crate's README, compiled and run as doctests with the default
/// features and `volume` (`cargo test -p qsmm --doc`).
#[cfg(all(doctest, feature = "shield", feature = "shatter", feature = "void"))]
#[doc = include_str!("../README.md")]
#[derive(Debug)]
pub struct ReadmeDoctests;
