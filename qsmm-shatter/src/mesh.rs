//! The metadata mesh: a root split `k`-of-`n` with Shamir's scheme over GF(256), each share
//! sealed into one block at a keyed position, two generation slots for crash-safe updates.
//!
//! [`MetadataMesh`] holds the public parameters and does one-shot writes and reads;
//! [`KeyedMesh`] (from [`MetadataMesh::for_key`]) binds a key and writes and reads any
//! generation. The submodules hold one concern each: the share format (header, commitment),
//! the Shamir split and combine, and the blocks exchanged with the medium ([`Placement`],
//! [`StoredBlock`]).
//!
//! # Shamir over GF(256)
//!
//! Every metadata byte `b` is the constant term of a fresh random polynomial
//! `f_b(x) = b + a_1·x + … + a_{k−1}·x^{k−1}` over GF(2^8) (the AES field, as implemented by
//! [`vsss_rs::Gf256`]). Share `i` (`0 ≤ i < n`) holds `f_b(i + 1)` for every byte, so a share is
//! exactly as long as the metadata. Any `k` shares determine each `f_b` by Lagrange
//! interpolation at `0`; fewer than `k` are independent of the metadata. `n ≤ 255` because the
//! evaluation points are the non-zero bytes.
//!
//! # Share layout (inside the seal)
//!
//! Each share is the plaintext of one block sealed by a [`qsmm_void::BlockSealer`]
//! (XChaCha20-Poly1305, random nonce, the `BlockId` as associated data; see `qsmm-void` for the
//! outer layout) of the share key `derive_subkey(key, hw_entropy, labels::SHATTER_SHARE)`. The
//! mesh needs sealing only, so it holds a sealer, not a whole namespace.
//!
//! ```text
//! offset  length  field
//! 0       1       format version = 1
//! 1       1       slot s ∈ {0, 1}  (= generation mod 2)
//! 2       1       share index i ∈ [0, n)  (Shamir x-coordinate i + 1)
//! 3       1       k
//! 4       1       n
//! 5       8       generation g, u64 little-endian
//! 13      16      split id: random per sharing, tells two sharings of one generation apart
//! 29      4       metadata length L, u32 little-endian
//! 33      32      commitment = SHA3-256("qsmm/v1/shatter/mesh-commitment" ‖ LE64(g) ‖ LE32(L)
//!                 ‖ metadata)
//! 65      L       f_b(i + 1) for each metadata byte b, in order
//! ```
//!
//! A share is accepted only if it opens under the key at the block it was read from, its
//! header parses, `(s, i)` is exactly the slot and index that position belongs to, `s = g mod 2`,
//! `(k, n)` match the mesh and the length fields agree. Accepted shares are grouped by
//! `(g, split id, commitment, L)`; a group with `k` shares is combined and the result is
//! returned only if its SHA3-256 commitment matches. Shares of different generations, sharings
//! or commitments are never combined.
//!
//! # Two slots, crash-safe updates
//!
//! [`Placer::slots`](crate::placement::Placer::slots) gives every key `2n` distinct positions;
//! generation `g` is written to slot `g mod 2`, so writing generation `g + 1` never touches a
//! block of generation `g`. If an update is interrupted after `w` of its `n` block writes,
//! generation `g` is still complete in the other slot; generation `g + 1` is readable once
//! `w ≥ k`. A read returns the newest generation with `k` valid shares, so it always finds the
//! old or the new root, never neither.
//!
//! The rule for callers: write generation `read_latest().generation + 1` (or `0` on a fresh
//! medium). Retrying an interrupted update with the same generation is safe; skipping ahead
//! while the previous generation is incomplete is not.

use qsmm_types::{BlockId, Error, Result, SecretKey, Threshold};
use qsmm_void::BlockSize;

use crate::placement::{Placer, SLOTS};

mod block;
mod keyed;
mod shamir;
mod share;

pub use block::{MeshRead, Placement, StoredBlock};
pub use keyed::KeyedMesh;
pub use share::{SHARE_FORMAT_VERSION, SHARE_HEADER_LEN};

/// What a mesh needs to know: its threshold and the size of the medium.
///
/// The block size is 4 KiB unless changed with [`MetadataMesh::with_block_size`].
///
/// ```
/// use qsmm_shatter::mesh::MeshConfig;
/// use qsmm_types::Threshold;
///
/// let config = MeshConfig { threshold: Threshold::new(3, 5), total_blocks: 100_000 };
/// assert_eq!(config, MeshConfig::new(Threshold::new(3, 5), 100_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a configuration literal by design; new options go on MetadataMesh builders"
)]
pub struct MeshConfig {
    /// `k`-of-`n`: `n` shares are written, any `k` reconstruct.
    pub threshold: Threshold,
    /// Number of blocks on the medium; shares go to positions in `[0, total_blocks)`.
    pub total_blocks: u64,
}

impl MeshConfig {
    /// A configuration; checked by the first operation of the [`MetadataMesh`] made from it.
    #[must_use]
    pub const fn new(threshold: Threshold, total_blocks: u64) -> Self {
        Self {
            threshold,
            total_blocks,
        }
    }
}

/// The metadata mesh of a medium: splits a root into sealed shares at keyed positions and
/// reconstructs it from whatever blocks survive.
///
/// The mesh holds only public parameters; every operation takes the key, because shares are
/// sealed so that they look like noise and only the key can find and open them. Like
/// [`Threshold::new`], [`MetadataMesh::new`] accepts any configuration: an invalid one is
/// reported by the first operation. The module documentation describes the share layout and
/// the update scheme.
///
/// # Examples
///
/// ```
/// use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
/// use qsmm_types::{SecretKey, Threshold};
///
/// let mesh = MetadataMesh::new(MeshConfig { threshold: Threshold::new(3, 5), total_blocks: 1000 });
/// let key = SecretKey::generate();
/// let placements = mesh.shard_metadata(b"root", &key, b"hw")?;
///
/// // Any three of the five sealed shares reconstruct; here, the placements themselves.
/// assert_eq!(mesh.reconstruct_metadata(&key, b"hw", &placements[2..])?, b"root");
/// assert!(mesh.reconstruct_metadata(&key, b"hw", &placements[3..]).is_err());
/// # Ok::<(), qsmm_types::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataMesh {
    config: MeshConfig,
    block_size: BlockSize,
}

impl MetadataMesh {
    /// A mesh with the given threshold on a medium of `total_blocks` blocks of 4 KiB.
    ///
    /// The configuration is checked by the first operation, which returns
    /// [`Error::InvalidThreshold`] unless `2 ≤ k ≤ n ≤ 255` and [`Error::TooFewBlocks`] if
    /// `total_blocks < 2n` (both slots need `n` distinct blocks).
    #[must_use]
    pub const fn new(config: MeshConfig) -> Self {
        Self {
            config,
            block_size: BlockSize::DEFAULT,
        }
    }

    /// The same mesh with sealed blocks of `block_size` bytes (validated by
    /// [`BlockSize::new`]: a multiple of 512 between 512 bytes and 1 MiB).
    #[must_use]
    pub const fn with_block_size(self, block_size: BlockSize) -> Self {
        Self {
            config: self.config,
            block_size,
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> MeshConfig {
        self.config
    }

    /// Bytes per sealed block.
    #[must_use]
    pub const fn block_size(&self) -> BlockSize {
        self.block_size
    }

    /// The largest metadata that fits: one sealed block's capacity minus the share header
    /// (`4096 − 44 − 65 = 3987` bytes for 4 KiB blocks).
    #[must_use]
    pub const fn max_metadata_len(&self) -> usize {
        self.block_size.capacity().saturating_sub(SHARE_HEADER_LEN)
    }

    /// Splits `metadata` `k`-of-`n` as generation 0 (slot 0), the first root on a fresh
    /// medium, and seals each share for its position.
    ///
    /// Returns `n` placements; each `share` is exactly [`Self::block_size`] bytes. Nothing is
    /// written: the caller writes each share to its `target_block`. Later generations are
    /// written with [`KeyedMesh::shard_metadata_generation`], which documents the durability
    /// rules.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidThreshold`] or [`Error::TooFewBlocks`] for an invalid configuration
    ///   (see [`Self::new`]);
    /// - [`Error::DataTooLarge`] if `metadata` is longer than [`Self::max_metadata_len`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    pub fn shard_metadata(
        &self,
        metadata: &[u8],
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
    ) -> Result<Vec<Placement>> {
        self.for_key(key, hw_entropy)?
            .shard_metadata_generation(metadata, 0)
    }

    /// The `2n` blocks that may hold this key's shares, slot 0 first: read these and hand them
    /// to [`Self::reconstruct_metadata`].
    ///
    /// Computed from the key alone; nothing on the medium says where the shares are.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidThreshold`] or [`Error::TooFewBlocks`] for an invalid configuration.
    pub fn blocks_to_read(
        &self,
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
    ) -> Result<Vec<BlockId>> {
        Ok(Placer::new(key, hw_entropy)
            .slots(self.config.threshold, self.config.total_blocks)?
            .iter()
            .collect())
    }

    /// Reconstructs the newest metadata from blocks read from the medium.
    ///
    /// `blocks` are [`StoredBlock`]s: the `(BlockId, bytes)` pairs read back from the medium
    /// (bytes as `Vec<u8>`, `&[u8]`, anything `AsRef<[u8]>`), normally at the positions of
    /// [`Self::blocks_to_read`], or the [`Placement`]s that [`Self::shard_metadata`] returned;
    /// a slice, a `Vec` or a reference to either. Blocks at other positions, of the wrong size,
    /// of other keys, corrupted or overwritten are skipped silently. Any `k` intact shares of
    /// one generation suffice. [`KeyedMesh::read_latest`] also returns the generation.
    ///
    /// # Errors
    ///
    /// - [`Error::NotEnoughShares`] if no generation has `k` valid, commitment-checked shares
    ///   (deliberately vague: it does not say what was found);
    /// - [`Error::InvalidThreshold`] or [`Error::TooFewBlocks`] for an invalid configuration.
    ///
    /// # Examples
    ///
    /// See the crate documentation.
    pub fn reconstruct_metadata<B: StoredBlock>(
        &self,
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
        blocks: impl IntoIterator<Item = B>,
    ) -> Result<Vec<u8>> {
        Ok(self
            .for_key(key, hw_entropy)?
            .read_latest(blocks)?
            .into_metadata())
    }

    /// This mesh bound to one key and medium: computes the `2n` share positions and the share
    /// sealing key once, for any number of reads and writes of any generation.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidThreshold`] or [`Error::TooFewBlocks`] for an invalid configuration.
    pub fn for_key(&self, key: &SecretKey, hw_entropy: impl AsRef<[u8]>) -> Result<KeyedMesh> {
        KeyedMesh::new(self, key, hw_entropy.as_ref())
    }

    fn check_metadata_len(&self, metadata: &[u8]) -> Result<u32> {
        let max = self.max_metadata_len();
        match u32::try_from(metadata.len()) {
            Ok(length) if metadata.len() <= max => Ok(length),
            _ => Err(Error::DataTooLarge {
                max,
                got: metadata.len(),
            }),
        }
    }

    /// `(k, n)` of a valid configuration.
    fn k_n(&self) -> Result<(u8, u8)> {
        let t = self.config.threshold.validate()?;
        let needed = u64::try_from(SLOTS * t.n()).map_err(|_| Error::InvalidParameter("n"))?;
        if self.config.total_blocks < needed {
            return Err(Error::TooFewBlocks {
                needed,
                available: self.config.total_blocks,
            });
        }
        match (u8::try_from(t.k()), u8::try_from(t.n())) {
            (Ok(k), Ok(n)) => Ok((k, n)),
            _ => Err(Error::InvalidThreshold { k: t.k(), n: t.n() }),
        }
    }
}
