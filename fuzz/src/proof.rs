//! Targets for `qsmm-proof-stub` and `qsmm-proof-halo2`: decoding and verifying arbitrary proofs.

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

/// `qsmm_proof_halo2::proof::MembershipProof::from_bytes` on arbitrary bytes, then verification against
/// the fixed tree's commitment for a proof of that tree's depth.
///
/// - a decoded proof re-encodes to exactly the input (the header is canonical);
/// - a proof verifies for at most one of the fixed blocks (and, disclosing its position, only
///   at that block's index): nothing but an honest proof of one leaf is accepted;
/// - `verify_bytes` of the interface agrees with decode-then-verify for position proofs.
///
/// Proofs of other depths are only decoded: building keys for every depth would dominate the
/// run. The same bytes are also decoded as a retrievability `ChallengeProof` (decoded only:
/// its keys take seconds to build), which must re-encode to the input too.
///
/// # Panics
///
/// When a property fails.
pub fn halo2_proof_decode_verify(data: &[u8]) {
    use qsmm_proof_halo2::{
        Halo2Membership, challenge::ChallengeProof, circuit::Disclosure, proof::MembershipProof,
    };
    use qsmm_proof_stub::{ProofEncoding, hash};

    if let Ok(challenge) = ChallengeProof::from_bytes(data) {
        assert_eq!(
            challenge.to_bytes(),
            data,
            "decode then encode must be the identity"
        );
    }
    let Ok(proof) = MembershipProof::from_bytes(data) else {
        return;
    };
    assert_eq!(
        proof.to_bytes(),
        data,
        "decode then encode must be the identity"
    );
    let tree = tree();
    if proof.depth() != tree.depth() {
        return;
    }
    let commitment = tree.commitment();
    let mut accepted = 0;
    for (index, block) in (0u64..).zip(TREE_BLOCKS) {
        let verified =
            qsmm_proof_halo2::verify(&commitment, hash::leaf(block), index, &proof).is_ok();
        if proof.disclosure() == Disclosure::Position {
            let bytes = Halo2Membership.verify_bytes(&commitment, index, block, data);
            assert_eq!(verified, bytes.is_ok(), "verify_bytes disagrees");
        }
        accepted += usize::from(verified);
    }
    assert!(accepted <= 1, "one proof verified for several blocks");
}
