//! What the mesh hands to the medium and takes back: placements, blocks read back, and the
//! root found on a medium.

use zeroize::{Zeroize, ZeroizeOnDrop};

use qsmm_types::BlockId;

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

/// A block as it lies on the medium: its position and its bytes.
///
/// Reconstruction takes any collection of these: the `(BlockId, bytes)` pairs read back from a
/// medium (`bytes` being `Vec<u8>`, `&[u8]` or anything `AsRef<[u8]>`), the [`Placement`]s
/// returned by a write, or references to either.
///
/// ```
/// use qsmm_shatter::mesh::{Placement, StoredBlock};
/// use qsmm_types::BlockId;
///
/// let read = (BlockId(7), vec![1u8, 2, 3]);
/// let written = Placement { target_block: BlockId(7), share: vec![1, 2, 3] };
/// assert_eq!((read.block_id(), read.bytes()), (written.block_id(), written.bytes()));
/// ```
pub trait StoredBlock {
    /// The block's position on the medium.
    fn block_id(&self) -> BlockId;
    /// The block's bytes, as read from (or to be written to) that position.
    fn bytes(&self) -> &[u8];
}

impl StoredBlock for Placement {
    fn block_id(&self) -> BlockId {
        self.target_block
    }

    fn bytes(&self) -> &[u8] {
        &self.share
    }
}

impl<B: AsRef<[u8]>> StoredBlock for (BlockId, B) {
    fn block_id(&self) -> BlockId {
        self.0
    }

    fn bytes(&self) -> &[u8] {
        self.1.as_ref()
    }
}

impl<T: StoredBlock + ?Sized> StoredBlock for &T {
    fn block_id(&self) -> BlockId {
        (**self).block_id()
    }

    fn bytes(&self) -> &[u8] {
        (**self).bytes()
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
