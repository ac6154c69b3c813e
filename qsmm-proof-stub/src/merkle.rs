//! The transparent backend: a MiMC-Merkle tree and its authentication paths.

mod proof;

use core::fmt;

use ff::Field;
use qsmm_shatter::mimc::Fp;

pub use self::proof::MerkleProof;
use crate::{Commitment, Error, IntegrityProver, IntegrityVerifier, ProofSystem, Result, hash};

/// The transparent MiMC-Merkle backend: implements [`IntegrityProver`] and
/// [`IntegrityVerifier`] with plain authentication paths.
///
/// <div class="warning">Not zero-knowledge: a proof reveals the index, the tree size, the
/// generation and the hashes of the sibling subtrees along the path.</div>
///
/// ```
/// use qsmm_proof_stub::{IntegrityProver, IntegrityVerifier};
/// use qsmm_proof_stub::merkle::MimcMerkle;
///
/// let blocks: Vec<Vec<u8>> = (0u8..5).map(|i| vec![i; 4096]).collect();
/// let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
/// let (commitment, tree) = MimcMerkle.commit(7, &refs)?;
/// let proof = MimcMerkle.prove(&tree, 3)?;
/// MimcMerkle.verify(&commitment, 3, &blocks[3], &proof)?;
/// assert!(MimcMerkle.verify(&commitment, 4, &blocks[3], &proof).is_err());
/// # Ok::<(), qsmm_proof_stub::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs, reason = "a stateless unit backend")]
pub struct MimcMerkle;

impl ProofSystem for MimcMerkle {
    type Proof = MerkleProof;
}

impl IntegrityProver for MimcMerkle {
    type Tree = MerkleTree;

    fn commit(&self, generation: u64, blocks: &[&[u8]]) -> Result<(Commitment, MerkleTree)> {
        let tree = MerkleTree::build(generation, blocks)?;
        Ok((tree.commitment(), tree))
    }

    fn prove(&self, tree: &MerkleTree, index: u64) -> Result<MerkleProof> {
        tree.prove(index)
    }
}

impl IntegrityVerifier for MimcMerkle {
    fn verify(
        &self,
        commitment: &Commitment,
        index: u64,
        block: &[u8],
        proof: &MerkleProof,
    ) -> Result<()> {
        // The decoder and `prove` already guarantee these; they are rechecked because a wrong
        // path length or index would otherwise silently verify something else.
        if proof.index() != index
            || index >= proof.leaf_count()
            || hash::depth(proof.leaf_count()) != u32::try_from(proof.siblings().len()).ok()
        {
            return Err(Error::Crypto);
        }
        let mut acc = hash::leaf(block);
        for (height, sibling) in proof.siblings().iter().enumerate() {
            acc = if (index >> height) & 1 == 0 {
                hash::node(acc, *sibling)
            } else {
                hash::node(*sibling, acc)
            };
        }
        let computed = hash::root(proof.generation(), proof.leaf_count(), acc);
        if computed == *commitment {
            Ok(())
        } else {
            Err(Error::Crypto)
        }
    }
}

/// A built MiMC-Merkle tree: every node hash of one generation's blocks, kept to answer
/// [`prove`](Self::prove) without rehashing.
///
/// Holds `2n` field elements (64 bytes per leaf), never the block contents.
///
/// ```
/// use qsmm_proof_stub::IntegrityVerifier;
/// use qsmm_proof_stub::merkle::{MerkleTree, MimcMerkle};
///
/// let blocks = [&b"alpha"[..], b"beta", b"gamma"];
/// let tree = MerkleTree::build(7, &blocks)?;
/// assert_eq!((tree.generation(), tree.leaf_count(), tree.depth()), (7, 3, 2));
/// let proof = tree.prove(1)?;
/// MimcMerkle.verify(&tree.commitment(), 1, b"beta", &proof)?;
/// # Ok::<(), qsmm_proof_stub::Error>(())
/// ```
#[derive(Clone)]
pub struct MerkleTree {
    generation: u64,
    leaf_count: u64,
    /// `levels[0]` holds the leaf hashes; `levels[h]` the `⌈n / 2^h⌉` nodes at height `h` that
    /// cover at least one real leaf; the last level holds the top alone. Nodes beyond a level's
    /// end are padding, `hash::empty_subtree(h)`.
    levels: Vec<Vec<Fp>>,
    commitment: Commitment,
}

impl MerkleTree {
    /// Hashes `blocks` as leaves `0 … n−1` and builds the tree of generation `generation`.
    ///
    /// Costs `Σ (1 + ⌈len_i / 31⌉)` MiMC compressions for the leaves, two per inner node
    /// (`n − 1` nodes when `n` is a power of two, at most `n − 1 + ⌈log₂ n⌉` otherwise) and three
    /// for the root; leaf hashing dominates (134 compressions per 4096-byte block).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `blocks` is empty.
    pub fn build<B: AsRef<[u8]>>(generation: u64, blocks: &[B]) -> Result<Self> {
        Self::from_leaf_hashes(
            generation,
            blocks.iter().map(|b| hash::leaf(b.as_ref())).collect(),
        )
    }

    /// Builds the tree over leaf hashes computed by the caller ([`hash::leaf`] of each block),
    /// so that a large medium can be hashed block by block without holding it in memory.
    ///
    /// `MerkleTree::from_leaf_hashes(g, blocks.map(hash::leaf))` equals
    /// `MerkleTree::build(g, blocks)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `leaves` is empty.
    pub fn from_leaf_hashes(generation: u64, leaves: Vec<Fp>) -> Result<Self> {
        let leaf_count = u64::try_from(leaves.len())
            .map_err(|_| Error::InvalidParameter("too many blocks for one commitment"))?;
        if leaf_count == 0 {
            return Err(Error::InvalidParameter(
                "an integrity commitment needs at least one block",
            ));
        }
        let mut level = leaves;
        let mut levels = Vec::new();
        let mut height = 0u32;
        while level.len() > 1 {
            let empty = hash::empty_subtree(height).ok_or(Error::InvalidParameter(
                "too many blocks for one commitment",
            ))?;
            let next = level
                .chunks(2)
                .map(|pair| match *pair {
                    [left, right] => hash::node(left, right),
                    [left] => hash::node(left, empty),
                    // `chunks(2)` yields slices of length 1 or 2 only.
                    _ => empty,
                })
                .collect();
            levels.push(core::mem::replace(&mut level, next));
            height += 1;
        }
        let top = level.first().copied().unwrap_or(Fp::ZERO);
        levels.push(level);
        let commitment = hash::root(generation, leaf_count, top);
        Ok(Self {
            generation,
            leaf_count,
            levels,
            commitment,
        })
    }

    /// The commitment (root) to publish.
    #[must_use]
    pub const fn commitment(&self) -> Commitment {
        self.commitment
    }

    /// The generation bound into the commitment.
    #[must_use]
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    /// The number of blocks (leaves), bound into the commitment.
    #[must_use]
    pub const fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// The hash of leaf `index` ([`hash::leaf`] of its block), or `None` if `index` is not
    /// below the leaf count.
    ///
    /// ```
    /// use qsmm_proof_stub::{hash, merkle::MerkleTree};
    ///
    /// let tree = MerkleTree::build(7, &[&b"alpha"[..], b"beta", b"gamma"])?;
    /// assert_eq!(tree.leaf_hash(1), Some(hash::leaf(b"beta")));
    /// assert_eq!(tree.leaf_hash(3), None);
    /// let leaves = ["alpha", "beta", "gamma"].map(|b| hash::leaf(b.as_bytes())).to_vec();
    /// let same = MerkleTree::from_leaf_hashes(7, leaves)?;
    /// assert_eq!(same.commitment(), tree.commitment());
    /// # Ok::<(), qsmm_proof_stub::Error>(())
    /// ```
    #[must_use]
    pub fn leaf_hash(&self, index: u64) -> Option<Fp> {
        let index = usize::try_from(index).ok()?;
        self.levels.first()?.get(index).copied()
    }

    /// The depth `⌈log₂ n⌉`: the number of siblings in every proof.
    #[must_use]
    pub fn depth(&self) -> u32 {
        hash::depth(self.leaf_count).unwrap_or(0)
    }

    /// The authentication path of leaf `index`.
    ///
    /// # Errors
    ///
    /// [`Error::BlockOutOfRange`] if `index ≥ leaf_count()`.
    pub fn prove(&self, index: u64) -> Result<MerkleProof> {
        let out_of_range = Error::BlockOutOfRange {
            block: index,
            count: self.leaf_count,
        };
        if index >= self.leaf_count {
            return Err(out_of_range);
        }
        let position = usize::try_from(index).map_err(|_| out_of_range)?;
        let depth = self.levels.len().saturating_sub(1);
        let siblings = (0..depth)
            .zip(0u32..)
            .map(|(height, h)| {
                let sibling = (position >> height) ^ 1;
                self.levels
                    .get(height)
                    .and_then(|level| level.get(sibling))
                    .copied()
                    .or_else(|| hash::empty_subtree(h))
                    .ok_or(Error::InvalidParameter("tree deeper than the maximum"))
            })
            .collect::<Result<Vec<_>>>()?;
        MerkleProof::new(self.generation, self.leaf_count, index, siblings)
    }
}

/// Prints the public summary; the node hashes are left out (there are `2n` of them).
impl fmt::Debug for MerkleTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerkleTree")
            .field("generation", &self.generation)
            .field("leaf_count", &self.leaf_count)
            .field("commitment", &self.commitment)
            .finish_non_exhaustive()
    }
}
