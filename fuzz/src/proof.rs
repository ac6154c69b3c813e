//! Target for `qsmm-proof-stub`: decoding and verifying arbitrary proofs.

use qsmm_proof_stub::IntegrityVerifier;
use qsmm_proof_stub::merkle::{MerkleProof, MimcMerkle};

use crate::fixtures::{TREE_BLOCKS, tree};

/// `MerkleProof::from_bytes` then `verify` against the fixed tree's commitment.
///
/// - a decoded proof re-encodes to exactly the input (the encoding is canonical);
/// - a proof verifies for a block only if it is the honest proof of that block's index and the
///   block is the one committed there: proofs are unique and nothing else is accepted;
/// - `verify_bytes` agrees with decode-then-verify.
///
/// # Panics
///
/// When a property fails.
pub fn proof_decode_verify(data: &[u8]) {
    let Ok(proof) = MerkleProof::from_bytes(data) else {
        return;
    };
    assert_eq!(
        proof.to_bytes(),
        data,
        "decode then encode must be the identity"
    );
    let tree = tree();
    let commitment = tree.commitment();
    let index = proof.index();
    for (position, block) in (0u64..).zip(TREE_BLOCKS) {
        let verified = MimcMerkle.verify(&commitment, index, block, &proof);
        let bytes = MimcMerkle.verify_bytes(&commitment, index, block, data);
        assert_eq!(verified.is_ok(), bytes.is_ok(), "verify_bytes disagrees");
        if verified.is_ok() {
            assert_eq!(position, index, "a proof verified another index's block");
            assert_eq!(
                tree.prove(index).ok(),
                Some(proof.clone()),
                "a second valid proof"
            );
        }
    }
}
