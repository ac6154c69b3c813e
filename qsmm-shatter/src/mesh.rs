//! The metadata mesh: Shamir `k`-of-`n` over GF(256), sealed shares, two generation slots.
//!
//! The share layout and the update scheme are documented on [`MetadataMesh`].

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha3::{Digest, Sha3_256};
use subtle::ConstantTimeEq;
use vsss_rs::{Gf256, IdentifierGf256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use qsmm_types::{BlockId, Error, Result, SecretKey, Threshold, derive_subkey, labels};
use qsmm_void::{BlockSize, Namespace};

use crate::placement::{Placer, SLOTS, SlotPositions};

/// Version byte at the start of every share.
pub const SHARE_FORMAT_VERSION: u8 = 1;

/// Bytes of the share header inside the seal (see the module docs for the layout).
pub const SHARE_HEADER_LEN: usize = 65;

/// Length of the random split id in the share header.
const SPLIT_ID_LEN: usize = 16;

/// Length of the SHA3-256 commitment in the share header.
const COMMITMENT_LEN: usize = 32;

/// Domain string of the metadata commitment.
const COMMITMENT_DOMAIN: &[u8] = labels::SHATTER_COMMITMENT.as_bytes();

/// What a mesh needs to know: its threshold and the size of the medium.
///
/// The block size is 4 KiB unless changed with [`MetadataMesh::with_block_size`].
///
/// ```
/// use qsmm_shatter::{MeshConfig, Threshold};
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
    /// A configuration; checked by [`MetadataMesh::new`].
    #[must_use]
    pub const fn new(threshold: Threshold, total_blocks: u64) -> Self {
        Self {
            threshold,
            total_blocks,
        }
    }
}

/// One sealed share and where it goes.
#[derive(Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a plain pair that callers destructure"
)]
pub struct Placement {
    /// The block the share must be written to (it opens only there).
    pub target_block: BlockId,
    /// The sealed share: exactly one block, indistinguishable from noise without the key.
    pub share: Vec<u8>,
}

impl core::fmt::Debug for Placement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Placement")
            .field("target_block", &self.target_block)
            .field("share_len", &self.share.len())
            .finish()
    }
}

/// The newest generation found on a medium and its metadata.
///
/// The metadata is zeroized when this value is dropped; `Debug` prints only its length.
#[derive(Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeshRead {
    /// The generation number that was reconstructed.
    pub generation: u64,
    /// The reconstructed, commitment-checked metadata.
    pub metadata: Vec<u8>,
}

impl MeshRead {
    /// Takes the metadata out (the emptied value is then dropped).
    #[must_use]
    pub fn into_metadata(mut self) -> Vec<u8> {
        core::mem::take(&mut self.metadata)
    }
}

impl core::fmt::Debug for MeshRead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MeshRead")
            .field("generation", &self.generation)
            .field("metadata_len", &self.metadata.len())
            .finish()
    }
}

/// The metadata mesh of a medium: splits a root into sealed shares at keyed positions and
/// reconstructs it from whatever blocks survive.
///
/// The mesh holds only public parameters; every operation takes the key, because shares are
/// sealed so that they look like noise and only the key can find and open them.
///
/// # Shamir over GF(256)
///
/// Every metadata byte `b` is the constant term of a fresh random polynomial
/// `f_b(x) = b + a_1·x + … + a_{k−1}·x^{k−1}` over GF(2^8) (the AES field, as implemented by
/// [`vsss_rs::Gf256`]). Share `i` (`0 ≤ i < n`) holds `f_b(i + 1)` for every byte, so a share is
/// exactly as long as the metadata. Any `k` shares determine each `f_b` by Lagrange
/// interpolation at `0`; fewer than `k` are independent of the metadata. `n ≤ 255` because the
/// evaluation points are the non-zero bytes.
///
/// # Share layout (inside the seal)
///
/// Each share is the plaintext of one [`qsmm_void::Namespace`] block sealed for its position
/// (XChaCha20-Poly1305, random nonce, the `BlockId` as associated data; see `qsmm-void` for the
/// outer layout). The sealing key is `derive_subkey(key, hw_entropy, labels::SHATTER_SHARE)`.
///
/// ```text
/// offset  length  field
/// 0       1       format version = 1
/// 1       1       slot s ∈ {0, 1}  (= generation mod 2)
/// 2       1       share index i ∈ [0, n)  (Shamir x-coordinate i + 1)
/// 3       1       k
/// 4       1       n
/// 5       8       generation g, u64 little-endian
/// 13      16      split id: random per sharing, tells two sharings of one generation apart
/// 29      4       metadata length L, u32 little-endian
/// 33      32      commitment = SHA3-256("qsmm/v1/shatter/mesh-commitment" ‖ LE64(g) ‖ LE32(L)
///                 ‖ metadata)
/// 65      L       f_b(i + 1) for each metadata byte b, in order
/// ```
///
/// A share is accepted only if it opens under the key at the block it was read from, its
/// header parses, `(s, i)` is exactly the slot and index that position belongs to, `s = g mod 2`,
/// `(k, n)` match the mesh and the length fields agree. Accepted shares are grouped by
/// `(g, split id, commitment, L)`; a group with `k` shares is combined and the result is
/// returned only if its SHA3-256 commitment matches. Shares of different generations, sharings
/// or commitments are never combined.
///
/// # Two slots, crash-safe updates
///
/// [`Placer::slots`] gives every key `2n` distinct positions; generation `g` is written to slot
/// `g mod 2`, so writing generation `g + 1` never touches a block of generation `g`. If an
/// update is interrupted after `w` of its `n` block writes, generation `g` is still complete in
/// the other slot; generation `g + 1` is readable once `w ≥ k`. A read returns the newest
/// generation with `k` valid shares, so it always finds the old or the new root, never neither.
///
/// The rule for callers: write generation `read_latest().generation + 1` (or `0` on a fresh
/// medium). Retrying an interrupted update with the same generation is safe; skipping ahead
/// while the previous generation is incomplete is not.
///
/// # Examples
///
/// ```
/// use qsmm_shatter::{BlockId, MeshConfig, MetadataMesh, SecretKey, Threshold};
///
/// let mesh = MetadataMesh::new(MeshConfig { threshold: Threshold::new(2, 3), total_blocks: 64 })?
///     .with_block_size(512)?;
/// let key = SecretKey::generate();
/// let mut medium = vec![vec![0u8; 512]; 64];
///
/// for p in mesh.shard_metadata_generation(b"generation 7", &key, b"hw", 7)? {
///     medium[p.target_block.0 as usize] = p.share;
/// }
/// let read: Vec<(BlockId, &[u8])> = mesh
///     .blocks_to_read(&key, b"hw")?
///     .into_iter()
///     .map(|id| (id, medium[id.0 as usize].as_slice()))
///     .collect();
/// let latest = mesh.read_latest(&key, b"hw", &read)?;
/// assert_eq!((latest.generation, latest.metadata.as_slice()), (7, &b"generation 7"[..]));
/// # Ok::<(), qsmm_shatter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataMesh {
    config: MeshConfig,
    block_size: usize,
}

impl MetadataMesh {
    /// A mesh with the given threshold on a medium of `total_blocks` blocks of 4 KiB.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidThreshold`] unless `2 ≤ k ≤ n ≤ 255`;
    /// - [`Error::TooFewBlocks`] if `total_blocks < 2n` (both slots need `n` distinct blocks).
    pub fn new(config: MeshConfig) -> Result<Self> {
        let n = config.threshold.validate()?.n();
        let needed = u64::try_from(SLOTS * n).map_err(|_| Error::InvalidParameter("n"))?;
        if config.total_blocks < needed {
            return Err(Error::TooFewBlocks {
                needed,
                available: config.total_blocks,
            });
        }
        Ok(Self {
            config,
            block_size: BlockSize::DEFAULT.get(),
        })
    }

    /// The same mesh with sealed blocks of `block_size` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `block_size` is a multiple of 512 between 512 bytes
    /// and 1 MiB (the block sizes `qsmm-void` seals).
    pub fn with_block_size(self, block_size: usize) -> Result<Self> {
        let block_size = BlockSize::new(block_size)?.get();
        Ok(Self { block_size, ..self })
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> MeshConfig {
        self.config
    }

    /// Bytes per sealed block.
    #[must_use]
    pub const fn block_size(&self) -> usize {
        self.block_size
    }

    /// The largest metadata that fits: one sealed block's capacity minus the share header
    /// (`4096 − 44 − 65 = 3987` bytes for 4 KiB blocks).
    #[must_use]
    pub const fn max_metadata_len(&self) -> usize {
        self.block_size
            .saturating_sub(qsmm_void::seal::SEAL_OVERHEAD)
            .saturating_sub(SHARE_HEADER_LEN)
    }

    /// Splits `metadata` as generation 0 (slot 0): the first root on a fresh medium.
    ///
    /// Same as [`Self::shard_metadata_generation`] with `generation = 0`; use that function
    /// for every later update.
    ///
    /// # Errors
    ///
    /// As [`Self::shard_metadata_generation`].
    pub fn shard_metadata(
        &self,
        metadata: &[u8],
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
    ) -> Result<Vec<Placement>> {
        self.shard_metadata_generation(metadata, key, hw_entropy, 0)
    }

    /// Splits `metadata` `k`-of-`n` as generation `generation` and seals each share for its
    /// position in slot `generation mod 2`.
    ///
    /// Returns `n` placements, share index order; each `share` is exactly
    /// [`Self::block_size`] bytes. Nothing is written: the caller writes each share to its
    /// `target_block`. Empty metadata is allowed.
    ///
    /// # Durability
    ///
    /// Generation `g − 1` (in the other slot) stays readable while these blocks are written, in
    /// any order, and after an interruption at any point; generation `g` is readable once any
    /// `k` of them are written. Choose `generation` = the last complete generation + 1
    /// ([`Self::read_latest`]); retrying the same generation after a crash is safe.
    ///
    /// # Errors
    ///
    /// - [`Error::DataTooLarge`] if `metadata` is longer than [`Self::max_metadata_len`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    pub fn shard_metadata_generation(
        &self,
        metadata: &[u8],
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
        generation: u64,
    ) -> Result<Vec<Placement>> {
        self.check_metadata_len(metadata)?;
        self.for_key(key, hw_entropy)?
            .shard_metadata_generation(metadata, generation)
    }

    /// The `2n` blocks that may hold this key's shares, slot 0 first: read these and hand them
    /// to [`Self::reconstruct_metadata`] or [`Self::read_latest`].
    ///
    /// Computed from the key alone; nothing on the medium says where the shares are.
    ///
    /// # Errors
    ///
    /// None for a mesh made by [`Self::new`]; the `Result` is kept for future layouts.
    pub fn blocks_to_read(
        &self,
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
    ) -> Result<Vec<BlockId>> {
        Ok(self.positions(key, hw_entropy.as_ref())?.iter().collect())
    }

    /// Reconstructs the newest metadata from blocks read from the medium.
    ///
    /// `blocks` pairs each block id with its bytes (`Vec<u8>`, `&[u8]`, anything
    /// `AsRef<[u8]>`), normally the blocks of [`Self::blocks_to_read`]; blocks at other
    /// positions, of the wrong size, of other keys, corrupted or overwritten are skipped
    /// silently. Any `k` intact shares of one generation suffice.
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughShares`] if no generation has `k` valid, commitment-checked shares
    /// (deliberately vague: it does not say what was found).
    ///
    /// # Examples
    ///
    /// See the crate documentation.
    pub fn reconstruct_metadata<B: AsRef<[u8]>>(
        &self,
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
        blocks: &[(BlockId, B)],
    ) -> Result<Vec<u8>> {
        Ok(self.read_latest(key, hw_entropy, blocks)?.into_metadata())
    }

    /// Like [`Self::reconstruct_metadata`], also returning the generation that was found.
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughShares`] as for [`Self::reconstruct_metadata`].
    pub fn read_latest<B: AsRef<[u8]>>(
        &self,
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
        blocks: &[(BlockId, B)],
    ) -> Result<MeshRead> {
        self.read_at_least(key, hw_entropy, blocks, 0)
    }

    /// Like [`Self::read_latest`], but only generations `≥ min_generation` count.
    ///
    /// A caller that remembers the last generation it wrote (or saw) elsewhere passes it here
    /// to detect a medium rolled back to an older image.
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughShares`] if no generation `≥ min_generation` has `k` valid,
    /// commitment-checked shares.
    pub fn read_at_least<B: AsRef<[u8]>>(
        &self,
        key: &SecretKey,
        hw_entropy: impl AsRef<[u8]>,
        blocks: &[(BlockId, B)],
        min_generation: u64,
    ) -> Result<MeshRead> {
        self.for_key(key, hw_entropy)?
            .read_at_least(blocks, min_generation)
    }

    /// This mesh bound to one key and medium: computes the `2n` share positions and the share
    /// namespace once, for any number of reads and writes.
    ///
    /// Every keyed method of [`MetadataMesh`] is this followed by the [`KeyedMesh`] method of the
    /// same name; a caller that reads or writes more than once should keep the [`KeyedMesh`].
    ///
    /// # Errors
    ///
    /// None for a mesh made by [`Self::new`]; the `Result` is kept for future layouts.
    pub fn for_key(&self, key: &SecretKey, hw_entropy: impl AsRef<[u8]>) -> Result<KeyedMesh> {
        let hw_entropy = hw_entropy.as_ref();
        let (k, n) = self.k_n()?;
        let positions = self.positions(key, hw_entropy)?;
        let blocks: Vec<BlockId> = positions.iter().collect();
        let mut lookup = Vec::with_capacity(blocks.len());
        for (slot, _) in (0u8..).zip(0..SLOTS) {
            for (index, id) in (0..=u8::MAX).zip(positions.slot(usize::from(slot))) {
                lookup.push((*id, slot, index));
            }
        }
        lookup.sort_unstable_by_key(|&(id, _, _)| id);
        if blocks.len() != SLOTS * usize::from(n) || lookup.len() != blocks.len() {
            // Unreachable: the placer returns n positions per slot.
            return Err(Error::InvalidParameter("share count"));
        }
        Ok(KeyedMesh {
            mesh: self.clone(),
            k,
            n,
            blocks,
            lookup,
            namespace: self.namespace(key, hw_entropy)?,
        })
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

    fn k_n(&self) -> Result<(u8, u8)> {
        let t = self.config.threshold;
        match (u8::try_from(t.k()), u8::try_from(t.n())) {
            (Ok(k), Ok(n)) => Ok((k, n)),
            _ => Err(Error::InvalidThreshold { k: t.k(), n: t.n() }),
        }
    }

    fn positions(&self, key: &SecretKey, hw_entropy: &[u8]) -> Result<SlotPositions> {
        Placer::new(key, hw_entropy).slots(self.config.threshold, self.config.total_blocks)
    }

    fn namespace(&self, key: &SecretKey, hw_entropy: &[u8]) -> Result<Namespace> {
        Namespace::with_block_size(
            derive_subkey(key, hw_entropy, labels::SHATTER_SHARE),
            hw_entropy,
            BlockSize::new(self.block_size)?,
        )
    }
}

/// A [`MetadataMesh`] bound to one key and medium, made by [`MetadataMesh::for_key`].
///
/// It holds the `2n` share positions and the share namespace (whose keys are zeroized on drop),
/// so reads and writes through it skip the `2n` MiMC PRF evaluations and the key derivation
/// that every keyed [`MetadataMesh`] method repeats. Its results are the same bytes, at the
/// same positions, as those methods: shares written by one are read by the other.
///
/// `Debug` prints the public configuration only.
///
/// # Examples
///
/// ```
/// use qsmm_shatter::{BlockId, MeshConfig, MetadataMesh, SecretKey, Threshold};
///
/// let mesh = MetadataMesh::new(MeshConfig { threshold: Threshold::new(2, 3), total_blocks: 64 })?
///     .with_block_size(512)?;
/// let key = SecretKey::generate();
/// let keyed = mesh.for_key(&key, b"hw")?;
/// let mut medium = vec![vec![0u8; 512]; 64];
///
/// for generation in 0..3 {
///     for p in keyed.shard_metadata_generation(b"root", generation)? {
///         medium[p.target_block.0 as usize] = p.share;
///     }
/// }
/// let read: Vec<(BlockId, &[u8])> = keyed
///     .blocks_to_read()
///     .iter()
///     .map(|id| (*id, medium[id.0 as usize].as_slice()))
///     .collect();
/// let latest = keyed.read_latest(&read)?;
/// assert_eq!((latest.generation, latest.metadata.as_slice()), (2, &b"root"[..]));
///
/// // The plain mesh reads what the keyed one wrote.
/// assert_eq!(mesh.reconstruct_metadata(&key, b"hw", &read)?, b"root");
/// # Ok::<(), qsmm_shatter::Error>(())
/// ```
pub struct KeyedMesh {
    /// The public parameters.
    mesh: MetadataMesh,
    /// `k` of the threshold.
    k: u8,
    /// `n` of the threshold.
    n: u8,
    /// All `2n` positions, slot 0 first, share index order within a slot.
    blocks: Vec<BlockId>,
    /// `(position, slot, share index)` sorted by position.
    lookup: Vec<(BlockId, u8, u8)>,
    /// Seals and opens the shares; zeroizes its keys on drop.
    namespace: Namespace,
}

impl core::fmt::Debug for KeyedMesh {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyedMesh")
            .field("config", &self.mesh.config)
            .field("block_size", &self.mesh.block_size)
            .finish_non_exhaustive()
    }
}

impl KeyedMesh {
    /// The mesh this handle was made from.
    #[must_use]
    pub const fn mesh(&self) -> &MetadataMesh {
        &self.mesh
    }

    /// The `2n` blocks that may hold this key's shares, slot 0 first (as
    /// [`MetadataMesh::blocks_to_read`]).
    #[must_use]
    pub fn blocks_to_read(&self) -> &[BlockId] {
        &self.blocks
    }

    /// Splits `metadata` as generation 0 (as [`MetadataMesh::shard_metadata`]).
    ///
    /// # Errors
    ///
    /// As [`Self::shard_metadata_generation`].
    pub fn shard_metadata(&self, metadata: &[u8]) -> Result<Vec<Placement>> {
        self.shard_metadata_generation(metadata, 0)
    }

    /// Splits `metadata` `k`-of-`n` as generation `generation` and seals each share for its
    /// position in slot `generation mod 2` (as [`MetadataMesh::shard_metadata_generation`],
    /// which documents the durability rules).
    ///
    /// # Errors
    ///
    /// - [`Error::DataTooLarge`] if `metadata` is longer than
    ///   [`MetadataMesh::max_metadata_len`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    pub fn shard_metadata_generation(
        &self,
        metadata: &[u8],
        generation: u64,
    ) -> Result<Vec<Placement>> {
        let length = self.mesh.check_metadata_len(metadata)?;
        let slot = slot_of(generation);
        let (k, n) = (self.k, self.n);
        let targets = self.slot(slot);

        let mut seed = SecretKey::try_generate()?;
        let mut rng = ChaCha20Rng::from_seed(*seed.as_bytes());
        seed.zeroize();
        let mut split_id = [0u8; SPLIT_ID_LEN];
        rng.fill_bytes(&mut split_id);
        let header = ShareHeader {
            slot,
            index: 0,
            k,
            n,
            generation,
            split_id,
            length,
            commitment: commitment(generation, metadata),
        };

        // vsss-rs rejects an empty secret; an empty root is shared as zero-length shares.
        let shares = Zeroizing::new(if metadata.is_empty() {
            vec![vec![0u8]; usize::from(n)]
        } else {
            Gf256::split_bytes_with_participant_ids_iter(
                usize::from(k),
                usize::from(n),
                metadata,
                &mut rng,
                (1..=n).map(|x| IdentifierGf256(Gf256(x))),
            )
            .map_err(|_| Error::InvalidThreshold {
                k: usize::from(k),
                n: usize::from(n),
            })?
        });

        let mut plaintext = Zeroizing::new(Vec::with_capacity(SHARE_HEADER_LEN + metadata.len()));
        let mut placements = Vec::with_capacity(usize::from(n));
        for ((index, share), target) in (0..=u8::MAX).zip(shares.iter()).zip(targets) {
            plaintext.clear();
            ShareHeader { index, ..header }.encode(&mut plaintext);
            // share = [x, f(x) per byte]; the x-coordinate is implied by the index.
            plaintext.extend_from_slice(share.get(1..).unwrap_or_default());
            placements.push(Placement {
                target_block: *target,
                share: self.namespace.seal_block(&plaintext, *target)?,
            });
        }
        if placements.len() == usize::from(n) {
            Ok(placements)
        } else {
            // Unreachable: vsss-rs returns n shares and the slot has n positions.
            Err(Error::InvalidParameter("share count"))
        }
    }

    /// Reconstructs the newest metadata (as [`MetadataMesh::reconstruct_metadata`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughShares`] if no generation has `k` valid, commitment-checked shares.
    pub fn reconstruct_metadata<B: AsRef<[u8]>>(&self, blocks: &[(BlockId, B)]) -> Result<Vec<u8>> {
        Ok(self.read_latest(blocks)?.into_metadata())
    }

    /// The newest generation and its metadata (as [`MetadataMesh::read_latest`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughShares`] as for [`Self::reconstruct_metadata`].
    pub fn read_latest<B: AsRef<[u8]>>(&self, blocks: &[(BlockId, B)]) -> Result<MeshRead> {
        self.read_at_least(blocks, 0)
    }

    /// Like [`Self::read_latest`], but only generations `≥ min_generation` count (as
    /// [`MetadataMesh::read_at_least`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughShares`] if no generation `≥ min_generation` has `k` valid,
    /// commitment-checked shares.
    pub fn read_at_least<B: AsRef<[u8]>>(
        &self,
        blocks: &[(BlockId, B)],
        min_generation: u64,
    ) -> Result<MeshRead> {
        let (k, n) = (self.k, self.n);
        let mut groups: Vec<Group> = Vec::new();
        for (id, bytes) in blocks {
            let Ok(at) = self
                .lookup
                .binary_search_by_key(id, |&(position, _, _)| position)
            else {
                continue;
            };
            let Some(&(_, slot, index)) = self.lookup.get(at) else {
                continue;
            };
            let bytes = bytes.as_ref();
            if bytes.len() != self.mesh.block_size {
                continue;
            }
            let Ok(Some(plain)) = self.namespace.open_block(bytes, *id) else {
                continue;
            };
            let plain = Zeroizing::new(plain);
            let Some((header, body)) = ShareHeader::decode(&plain) else {
                continue;
            };
            let valid = header.slot == slot
                && header.index == index
                && slot_of(header.generation) == slot
                && header.k == k
                && header.n == n
                && header.generation >= min_generation
                && usize::try_from(header.length).is_ok_and(|len| len == body.len());
            if !valid {
                continue;
            }
            let group = match groups.iter().position(|g| g.header.same_sharing(&header)) {
                Some(at) => groups.get_mut(at),
                None => {
                    groups.push(Group::new(header, n));
                    groups.last_mut()
                }
            };
            if let Some(group) = group {
                group.add(index, plain);
            }
        }

        // Newest generation first; within one, the sharing with the most shares.
        groups.sort_by(|a, b| {
            b.header
                .generation
                .cmp(&a.header.generation)
                .then(b.count.cmp(&a.count))
                .then(a.header.split_id.cmp(&b.header.split_id))
        });
        groups
            .iter_mut()
            .filter(|g| g.count >= usize::from(k))
            .find_map(|g| g.combine(usize::from(k)))
            .ok_or(Error::NotEnoughShares)
    }

    /// The `n` positions of `slot`, share index order.
    fn slot(&self, slot: u8) -> &[BlockId] {
        let n = usize::from(self.n);
        let start = usize::from(slot) * n;
        self.blocks.get(start..start + n).unwrap_or_default()
    }
}

/// The slot of a generation: `g mod 2`.
fn slot_of(generation: u64) -> u8 {
    if generation.is_multiple_of(2) { 0 } else { 1 }
}

/// `SHA3-256(domain ‖ LE64(generation) ‖ LE32(len) ‖ metadata)`.
fn commitment(generation: u64, metadata: &[u8]) -> [u8; COMMITMENT_LEN] {
    let length = u64::try_from(metadata.len()).unwrap_or(u64::MAX);
    let mut hash = Sha3_256::new();
    hash.update(COMMITMENT_DOMAIN);
    hash.update(generation.to_le_bytes());
    // The length is at most a block, so it fits 32 bits; the header stores it as u32 too.
    hash.update(u32::try_from(length).unwrap_or(u32::MAX).to_le_bytes());
    hash.update(metadata);
    hash.finalize().into()
}

/// The decoded share header (see the module docs).
#[derive(Clone, Copy)]
struct ShareHeader {
    slot: u8,
    index: u8,
    k: u8,
    n: u8,
    generation: u64,
    split_id: [u8; SPLIT_ID_LEN],
    length: u32,
    commitment: [u8; COMMITMENT_LEN],
}

impl ShareHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[SHARE_FORMAT_VERSION, self.slot, self.index, self.k, self.n]);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.split_id);
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.commitment);
    }

    /// The header and the share body after it, or `None` if `plain` is too short or names
    /// another format version.
    fn decode(plain: &[u8]) -> Option<(Self, &[u8])> {
        let (&[version, slot, index, k, n], rest) = plain.split_first_chunk::<5>()?;
        let (generation, rest) = rest.split_first_chunk::<8>()?;
        let (split_id, rest) = rest.split_first_chunk::<SPLIT_ID_LEN>()?;
        let (length, rest) = rest.split_first_chunk::<4>()?;
        let (commitment, body) = rest.split_first_chunk::<COMMITMENT_LEN>()?;
        (version == SHARE_FORMAT_VERSION).then_some((
            Self {
                slot,
                index,
                k,
                n,
                generation: u64::from_le_bytes(*generation),
                split_id: *split_id,
                length: u32::from_le_bytes(*length),
                commitment: *commitment,
            },
            body,
        ))
    }

    /// Whether two shares come from the same sharing: same generation, split id, length and
    /// commitment (slot, k and n are already checked against the mesh).
    fn same_sharing(&self, other: &Self) -> bool {
        self.generation == other.generation
            && self.split_id == other.split_id
            && self.length == other.length
            && self.commitment == other.commitment
    }
}

/// The shares of one sharing found so far, by share index.
struct Group {
    header: ShareHeader,
    shares: Vec<Option<Zeroizing<Vec<u8>>>>,
    count: usize,
}

impl Group {
    fn new(header: ShareHeader, n: u8) -> Self {
        Self {
            header,
            shares: vec![None; usize::from(n)],
            count: 0,
        }
    }

    /// Records share `index` (x-coordinate `index + 1`) unless it is already present.
    ///
    /// `plain` is the whole opened share, header and body; it is turned in place into the
    /// `[x, body…]` form `vsss-rs` combines, without another copy of the body.
    fn add(&mut self, index: u8, mut plain: Zeroizing<Vec<u8>>) {
        if let Some(slot @ None) = self.shares.get_mut(usize::from(index)) {
            let x_at = SHARE_HEADER_LEN - 1;
            if plain.len() <= x_at {
                return;
            }
            plain.drain(..x_at);
            if let Some(x) = plain.first_mut() {
                *x = index.wrapping_add(1);
            }
            *slot = Some(plain);
            self.count += 1;
        }
    }

    /// Combines the first `k` shares and checks the commitment.
    ///
    /// The shares are moved out (and zeroized after use), so a group is combined at most once.
    fn combine(&mut self, k: usize) -> Option<MeshRead> {
        let mut metadata = Zeroizing::new(if self.header.length == 0 {
            Vec::new()
        } else {
            let chosen: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(
                self.shares
                    .iter_mut()
                    .flatten()
                    .take(k)
                    .map(|share| core::mem::take(&mut **share))
                    .collect(),
            );
            Gf256::combine_bytes(chosen.as_slice()).ok()?
        });
        let expected = commitment(self.header.generation, &metadata);
        if bool::from(expected.ct_eq(&self.header.commitment)) {
            Some(MeshRead {
                generation: self.header.generation,
                metadata: core::mem::take(&mut *metadata),
            })
        } else {
            None
        }
    }
}
