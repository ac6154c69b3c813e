//! Proving and verifying membership, and the [`qsmm_proof_stub`] interface.

use halo2_proofs::{
    plonk::{SingleVerifier, create_proof, verify_proof},
    transcript::{Blake2bRead, Blake2bWrite, Challenge255},
};
use pasta_curves::EqAffine;
use qsmm_proof_stub::merkle::MerkleTree;
use qsmm_proof_stub::{Commitment, IntegrityProver, IntegrityVerifier, ProofSystem, hash};
use qsmm_shatter::mimc::Fp;

use crate::circuit::{Disclosure, MAX_DEPTH, MIN_DEPTH, MembershipCircuit, Witness};
use crate::keys::keys;
use crate::proof::MembershipProof;
use crate::{Error, Result};

/// An authentication path with everything the prover needs: the leaf hash, its position, the
/// siblings from the bottom up, and the generation and leaf count bound into the commitment.
///
/// Secret to the prover: it names the position and the neighbouring subtrees.
#[derive(Clone)]
pub struct MembershipWitness {
    leaf: Fp,
    inner: Witness,
}

impl MembershipWitness {
    /// A witness from its parts.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the number of siblings (the depth) is not in `1 ..= 32`;
    /// [`Error::BlockOutOfRange`] if `position ≥ 2^depth`.
    pub fn new(
        leaf: Fp,
        position: u64,
        siblings: Vec<Fp>,
        generation: u64,
        leaf_count: u64,
    ) -> Result<Self> {
        let depth = u32::try_from(siblings.len())
            .ok()
            .filter(|d| (MIN_DEPTH..=MAX_DEPTH).contains(d))
            .ok_or(Error::InvalidParameter("proof depth must be in 1..=32"))?;
        if position >> depth != 0 {
            return Err(Error::BlockOutOfRange {
                block: position,
                count: 1 << depth,
            });
        }
        Ok(Self {
            leaf,
            inner: Witness {
                position,
                siblings,
                generation,
                leaf_count,
            },
        })
    }

    /// The witness for leaf `index` of a built tree.
    ///
    /// # Errors
    ///
    /// [`Error::BlockOutOfRange`] if `index` is not below the leaf count;
    /// [`Error::InvalidParameter`] if the tree's depth is not in `1 ..= 32` (a tree of one
    /// block, or more than `2^32` blocks).
    pub fn from_tree(tree: &MerkleTree, index: u64) -> Result<Self> {
        let path = tree.prove(index)?;
        let leaf = tree.leaf_hash(index).ok_or(Error::BlockOutOfRange {
            block: index,
            count: tree.leaf_count(),
        })?;
        Self::new(
            leaf,
            index,
            path.siblings().to_vec(),
            tree.generation(),
            tree.leaf_count(),
        )
    }

    /// The depth (number of siblings).
    #[must_use]
    pub fn depth(&self) -> u32 {
        // At most 32 by construction.
        u32::try_from(self.inner.siblings.len()).unwrap_or(u32::MAX)
    }

    /// The leaf hash.
    #[must_use]
    pub const fn leaf(&self) -> Fp {
        self.leaf
    }

    /// The position of the leaf.
    #[must_use]
    pub const fn position(&self) -> u64 {
        self.inner.position
    }

    /// The commitment this path leads to, computed natively with `qsmm_proof_stub::hash`.
    #[must_use]
    pub fn commitment(&self) -> Commitment {
        let mut acc = self.leaf;
        for (height, sibling) in self.inner.siblings.iter().enumerate() {
            acc = if (self.inner.position >> height) & 1 == 0 {
                hash::node(acc, *sibling)
            } else {
                hash::node(*sibling, acc)
            };
        }
        hash::root(self.inner.generation, self.inner.leaf_count, acc)
    }

    /// The circuit with this witness (for `MockProver` and tests).
    #[must_use]
    pub fn circuit(&self, disclosure: Disclosure) -> MembershipCircuit {
        MembershipCircuit::with_witness(self.depth(), disclosure, &self.inner)
    }
}

/// Prints only the depth.
impl core::fmt::Debug for MembershipWitness {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MembershipWitness")
            .field("depth", &self.depth())
            .finish_non_exhaustive()
    }
}

/// Proves that `witness.leaf()` is in the tree committed to by `witness.commitment()`; with
/// [`Disclosure::Position`] also at which position.
///
/// # Errors
///
/// [`Error::Crypto`] if the proof system fails (it does not for a witness built by
/// [`MembershipWitness`]).
pub fn prove(witness: &MembershipWitness, disclosure: Disclosure) -> Result<MembershipProof> {
    let depth = witness.depth();
    let keys = keys(depth, disclosure)?;
    let instance = MembershipCircuit::public_inputs(
        disclosure,
        witness.commitment().to_field(),
        witness.leaf,
        witness.position(),
    );
    let circuit = witness.circuit(disclosure);
    let mut transcript = Blake2bWrite::<_, EqAffine, Challenge255<_>>::init(Vec::new());
    create_proof(
        keys.params(),
        keys.proving_key(),
        &[circuit],
        &[&[&instance]],
        rand::rng(),
        &mut transcript,
    )
    .map_err(|_| Error::Crypto)?;
    Ok(MembershipProof::new(
        depth,
        disclosure,
        transcript.finalize(),
    ))
}

/// Verifies a proof that `leaf` is in the tree committed to by `commitment` (and, for a proof
/// made with [`Disclosure::Position`], that it is at `position`; `position` is ignored
/// otherwise).
///
/// # Errors
///
/// [`Error::Crypto`] if the proof does not verify, for whatever reason.
pub fn verify(
    commitment: &Commitment,
    leaf: Fp,
    position: u64,
    proof: &MembershipProof,
) -> Result<()> {
    let keys = keys(proof.depth(), proof.disclosure())?;
    let instance =
        MembershipCircuit::public_inputs(proof.disclosure(), commitment.to_field(), leaf, position);
    let mut reader = proof.transcript();
    {
        let mut transcript = Blake2bRead::<_, EqAffine, Challenge255<_>>::init(&mut reader);
        let strategy = SingleVerifier::new(keys.params());
        verify_proof(
            keys.params(),
            keys.verifying_key(),
            strategy,
            &[&[&instance]],
            &mut transcript,
        )
        .map_err(|_| Error::Crypto)?;
    }
    // The transcript has one length per circuit: trailing bytes would make proofs malleable.
    if reader.is_empty() {
        Ok(())
    } else {
        Err(Error::Crypto)
    }
}

/// The Halo2 backend of the integrity-proof interface: the statement of
/// [`IntegrityVerifier::verify`] ("`block` is leaf `index` of the committed tree") proved in zero
/// knowledge, so that the proof reveals neither the siblings nor the generation and leaf count.
///
/// The position is public here because the interface names it. To hide it as well, use
/// [`prove`] and [`verify`] with [`Disclosure::Hidden`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs, reason = "a stateless unit backend")]
pub struct Halo2Membership;

impl ProofSystem for Halo2Membership {
    type Proof = MembershipProof;
}

impl IntegrityProver for Halo2Membership {
    type Tree = MerkleTree;

    /// Builds the same tree as the transparent backend.
    ///
    /// # Errors
    ///
    /// As [`MerkleTree::build`], and [`Error::InvalidParameter`] for one block or more than
    /// `2^32` blocks (the circuit's depth is `1 ..= 32`).
    fn commit(&self, generation: u64, blocks: &[&[u8]]) -> Result<(Commitment, MerkleTree)> {
        let tree = MerkleTree::build(generation, blocks)?;
        if !(MIN_DEPTH..=MAX_DEPTH).contains(&tree.depth()) {
            return Err(Error::InvalidParameter(
                "a zero-knowledge commitment needs 2 ..= 2^32 blocks",
            ));
        }
        Ok((tree.commitment(), tree))
    }

    fn prove(&self, tree: &MerkleTree, index: u64) -> Result<MembershipProof> {
        prove(
            &MembershipWitness::from_tree(tree, index)?,
            Disclosure::Position,
        )
    }
}

impl IntegrityVerifier for Halo2Membership {
    fn verify(
        &self,
        commitment: &Commitment,
        index: u64,
        block: &[u8],
        proof: &MembershipProof,
    ) -> Result<()> {
        if proof.disclosure() != Disclosure::Position {
            return Err(Error::Crypto);
        }
        verify(commitment, hash::leaf(block), index, proof)
    }
}
