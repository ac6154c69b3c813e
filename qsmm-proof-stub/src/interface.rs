//! The backend-independent interface: what a prover and a verifier of block integrity do.
//!
//! # The statement
//!
//! A prover commits to the blocks `B_0 … B_{n−1}` of one mesh generation `g` and publishes the
//! [`Commitment`]. Later it proves, for an index `i`, the statement
//!
//! > *`block` is the content of leaf `i` of the tree committed to by `commitment`.*
//!
//! The verifier needs only the commitment, the index, the claimed block and the proof. The
//! generation and the leaf count are bound into the commitment, so a proof from another
//! generation or another tree size does not verify.
//!
//! # Backends
//!
//! - [`MimcMerkle`](crate::merkle::MimcMerkle), in this crate: a transparent Merkle authentication path.
//!   Sound (forging needs a MiMC collision) but **not zero-knowledge**: the proof reveals the
//!   index, the tree size, the generation and the hashes of the sibling subtrees.
//! - A Halo2 backend (planned): the same commitment and statement, proved by a zk-SNARK over the
//!   Pasta curves. The proof then reveals nothing beyond the statement; see the crate
//!   documentation for what its circuit will prove.
//!
//! Callers written against these traits switch backend by changing one type.
//!
//! # Why the traits are not sealed
//!
//! A sealed trait can only be implemented inside this crate. The Halo2 backend will bring a
//! heavy dependency tree and may well live in a crate of its own, and tests of callers benefit
//! from mock backends; so the traits are open. Nothing is lost in safety by this: a verifier is
//! trusted because the caller chose its type, not because of the trait, and the commitment
//! every backend must reproduce is fixed by [`hash`](crate::hash) and pinned by known-answer
//! tests. New methods will be added only with default bodies, so that adding them is not a
//! breaking change for implementors.

use crate::{Commitment, Result};

/// What a prover and a verifier of one backend agree on: the type of their proofs.
///
/// The supertrait of [`IntegrityProver`] and [`IntegrityVerifier`], so that code generic over a
/// backend that implements both names one `B::Proof`.
pub trait ProofSystem {
    /// A proof of this backend, with its own versioned byte encoding.
    type Proof: ProofEncoding;
}

/// A versioned, length-checked byte encoding of a proof.
///
/// The first byte of every encoding names the backend and format version, so a proof of one
/// backend handed to another is rejected as malformed.
pub trait ProofEncoding: Sized {
    /// The encoding of this proof.
    fn to_bytes(&self) -> Vec<u8>;

    /// Decodes a proof.
    ///
    /// Never panics and allocates at most a small fixed bound, whatever the input.
    ///
    /// # Errors
    ///
    /// [`Error::Encoding`](crate::Error::Encoding) for any malformed input: unknown format
    /// byte, wrong length, out-of-range fields, non-canonical field elements.
    fn from_bytes(bytes: &[u8]) -> Result<Self>;
}

/// The prover side: commit to the blocks of a generation, then prove single blocks.
///
/// ```
/// use qsmm_proof_stub::{IntegrityProver, IntegrityVerifier, ProofEncoding};
/// use qsmm_proof_stub::merkle::MimcMerkle;
///
/// // Any backend: the caller names it once.
/// fn round_trip<B: IntegrityProver + IntegrityVerifier>(backend: &B) -> qsmm_proof_stub::Result<()> {
///     let blocks: [&[u8]; 3] = [b"zero", b"one", b"two"];
///     let (commitment, tree) = backend.commit(7, &blocks)?;
///     let proof = backend.prove(&tree, 2)?;
///     backend.verify(&commitment, 2, b"two", &proof)?;
///     backend.verify_bytes(&commitment, 2, b"two", &proof.to_bytes())?;
///     assert!(backend.verify(&commitment, 2, b"TWO", &proof).is_err());
///     Ok(())
/// }
///
/// round_trip(&MimcMerkle)?;
/// # Ok::<(), qsmm_proof_stub::Error>(())
/// ```
pub trait IntegrityProver: ProofSystem {
    /// What the prover keeps between [`commit`](Self::commit) and [`prove`](Self::prove): for a
    /// Merkle backend the tree of hashes, for a circuit backend also the witness it needs.
    type Tree;

    /// Commits to `blocks` as leaves `0 … n−1` of generation `generation`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) if `blocks` is empty. A
    /// backend may add its own limits (a circuit has a maximum depth).
    fn commit(&self, generation: u64, blocks: &[&[u8]]) -> Result<(Commitment, Self::Tree)>;

    /// Proves that leaf `index` of `tree` is the block committed at that index.
    ///
    /// # Errors
    ///
    /// [`Error::BlockOutOfRange`](crate::Error::BlockOutOfRange) if `index` is not below the
    /// number of leaves.
    fn prove(&self, tree: &Self::Tree, index: u64) -> Result<Self::Proof>;
}

/// The verifier side: check a proof against a commitment alone.
pub trait IntegrityVerifier: ProofSystem {
    /// Checks that `block` is leaf `index` of the tree committed to by `commitment`.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`](crate::Error::Crypto) if the proof does not verify, for whatever
    /// reason (wrong block, index, commitment, or a proof for something else). The error never
    /// says which.
    fn verify(
        &self,
        commitment: &Commitment,
        index: u64,
        block: &[u8],
        proof: &Self::Proof,
    ) -> Result<()>;

    /// Decodes `proof` with [`ProofEncoding::from_bytes`] and [verifies](Self::verify) it.
    ///
    /// # Errors
    ///
    /// [`Error::Encoding`](crate::Error::Encoding) if `proof` is malformed;
    /// [`Error::Crypto`](crate::Error::Crypto) if it does not verify.
    fn verify_bytes(
        &self,
        commitment: &Commitment,
        index: u64,
        block: &[u8],
        proof: &[u8],
    ) -> Result<()> {
        let proof = Self::Proof::from_bytes(proof)?;
        self.verify(commitment, index, block, &proof)
    }
}
