//! A mesh bound to one key and medium: positions and share sealing computed once, generations
//! written and read.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use zeroize::{Zeroize, Zeroizing};

use qsmm_types::{BlockId, Error, Result, SecretKey, derive_subkey, labels};
use qsmm_void::{BlockSealer, BlockSize};

use super::MetadataMesh;
use super::block::{MeshRead, Placement, StoredBlock};
use super::shamir::{Group, split};
use super::share::{SHARE_HEADER_LEN, SPLIT_ID_LEN, ShareHeader, commitment, slot_of};
use crate::placement::{Placer, SLOTS};

/// A [`MetadataMesh`] bound to one key and medium, made by [`MetadataMesh::for_key`]: writes
/// and reads any generation of the root.
///
/// It holds the `2n` share positions and the share sealing key (zeroized on drop), so reads and
/// writes through it skip the `2n` MiMC PRF evaluations and the key derivation of each
/// [`MetadataMesh`] call. Shares written through one are read by the other.
///
/// `Debug` prints the public configuration only.
///
/// # Examples
///
/// ```
/// use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
/// use qsmm_types::{BlockId, SecretKey, Threshold};
/// use qsmm_void::BlockSize;
///
/// let mesh = MetadataMesh::new(MeshConfig { threshold: Threshold::new(2, 3), total_blocks: 64 })
///     .with_block_size(BlockSize::new(512)?);
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
/// # Ok::<(), qsmm_types::Error>(())
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
    /// Seals and opens the shares; zeroizes its key on drop.
    sealer: BlockSealer,
}

impl KeyedMesh {
    /// Computes the positions and the sealing key of `key` on the medium of `hw_entropy`.
    pub(super) fn new(mesh: &MetadataMesh, key: &SecretKey, hw_entropy: &[u8]) -> Result<Self> {
        let (k, n) = mesh.k_n()?;
        let positions = Placer::new(key, hw_entropy)
            .slots(mesh.config().threshold, mesh.config().total_blocks)?;
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
        Ok(Self {
            mesh: mesh.clone(),
            k,
            n,
            blocks,
            lookup,
            sealer: share_sealer(key, hw_entropy, mesh.block_size()),
        })
    }

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

    /// Splits `metadata` `k`-of-`n` as generation `generation` and seals each share for its
    /// position in slot `generation mod 2`.
    ///
    /// Returns `n` placements, share index order; each `share` is exactly
    /// [`MetadataMesh::block_size`] bytes. Nothing is written: the caller writes each share to
    /// its `target_block`. Empty metadata is allowed. [`MetadataMesh::shard_metadata`] is this
    /// with `generation = 0`.
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
        let shares = split(k, n, metadata, &mut rng)?;

        let mut plaintext = Zeroizing::new(Vec::with_capacity(SHARE_HEADER_LEN + metadata.len()));
        let mut placements = Vec::with_capacity(usize::from(n));
        for ((index, share), target) in (0..=u8::MAX).zip(shares.iter()).zip(targets) {
            plaintext.clear();
            ShareHeader { index, ..header }.encode(&mut plaintext);
            // share = [x, f(x) per byte]; the x-coordinate is implied by the index.
            plaintext.extend_from_slice(share.get(1..).unwrap_or_default());
            placements.push(Placement {
                target_block: *target,
                share: self.sealer.seal_block(&plaintext, *target)?,
            });
        }
        if placements.len() == usize::from(n) {
            Ok(placements)
        } else {
            // Unreachable: vsss-rs returns n shares and the slot has n positions.
            Err(Error::InvalidParameter("share count"))
        }
    }

    /// The newest generation and its metadata, from blocks read from the medium.
    ///
    /// `blocks` are [`StoredBlock`]s: `(BlockId, bytes)` pairs read back (normally at
    /// [`Self::blocks_to_read`]) or the [`Placement`]s of a write. Blocks at other positions,
    /// of the wrong size, of other keys, corrupted or overwritten are skipped silently. Any `k`
    /// intact shares of one generation suffice.
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughShares`] if no generation has `k` valid, commitment-checked shares
    /// (deliberately vague: it does not say what was found).
    pub fn read_latest<B: StoredBlock>(
        &self,
        blocks: impl IntoIterator<Item = B>,
    ) -> Result<MeshRead> {
        self.read_at_least(blocks, 0)
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
    pub fn read_at_least<B: StoredBlock>(
        &self,
        blocks: impl IntoIterator<Item = B>,
        min_generation: u64,
    ) -> Result<MeshRead> {
        let (k, n) = (self.k, self.n);
        let mut groups: Vec<Group> = Vec::new();
        for block in blocks {
            let id = block.block_id();
            let Ok(at) = self
                .lookup
                .binary_search_by_key(&id, |&(position, _, _)| position)
            else {
                continue;
            };
            let Some(&(_, slot, index)) = self.lookup.get(at) else {
                continue;
            };
            let bytes = block.bytes();
            if bytes.len() != self.mesh.block_size().get() {
                continue;
            }
            let Ok(Some(plain)) = self.sealer.open_block(bytes, id) else {
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

impl core::fmt::Debug for KeyedMesh {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyedMesh")
            .field("config", &self.mesh.config())
            .field("block_size", &self.mesh.block_size())
            .finish_non_exhaustive()
    }
}

/// The sealer of this key's shares: a [`BlockSealer`] of the share key
/// `derive_subkey(key, hw_entropy, labels::SHATTER_SHARE)`, blocks of `block_size` bytes.
///
/// Sealing only: no allocation key, no namespace. The bytes are those a `qsmm_void::Namespace`
/// of the share key seals, so shares written before this change still open.
fn share_sealer(key: &SecretKey, hw_entropy: &[u8], block_size: BlockSize) -> BlockSealer {
    let share_key = derive_subkey(key, hw_entropy, labels::SHATTER_SHARE);
    BlockSealer::new(&share_key, hw_entropy, block_size)
}
