//! Real proofs: round trips, tampering, another root, another depth.

use qsmm_proof_halo2::{
    Error, Halo2Membership, MembershipWitness, circuit::Disclosure, proof::MembershipProof,
};
use qsmm_proof_stub::merkle::MerkleTree;
use qsmm_proof_stub::{Commitment, IntegrityProver, IntegrityVerifier, ProofEncoding, hash};
use qsmm_shatter::mimc::Fp;

fn blocks(seed: u8) -> Vec<Vec<u8>> {
    (0u8..5).map(|i| vec![i ^ seed; 4096]).collect()
}

fn refs(blocks: &[Vec<u8>]) -> Vec<&[u8]> {
    blocks.iter().map(Vec::as_slice).collect()
}

/// The interface's statement: block at index, position public.
#[test]
fn interface_round_trip_and_rejections() {
    let blocks = blocks(0);
    let (commitment, tree) = Halo2Membership.commit(7, &refs(&blocks)).unwrap();
    assert_eq!(
        commitment,
        MerkleTree::build(7, &blocks).unwrap().commitment()
    );
    let proof = Halo2Membership.prove(&tree, 3).unwrap();
    Halo2Membership
        .verify(&commitment, 3, &blocks[3], &proof)
        .unwrap();
    let bytes = proof.to_bytes();
    Halo2Membership
        .verify_bytes(&commitment, 3, &blocks[3], &bytes)
        .unwrap();

    let fails = |c: &Commitment, i: u64, b: &[u8], p: &[u8]| {
        Halo2Membership.verify_bytes(c, i, b, p).is_err()
    };
    assert!(fails(&commitment, 3, &blocks[2], &bytes), "other block");
    assert!(fails(&commitment, 2, &blocks[3], &bytes), "other index");
    let (other, _) = Halo2Membership.commit(8, &refs(&blocks)).unwrap();
    assert!(fails(&other, 3, &blocks[3], &bytes), "other commitment");
    for offset in [3, 40, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[offset] ^= 1;
        assert!(
            fails(&commitment, 3, &blocks[3], &bad),
            "flipped byte {offset}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Halo2Membership.verify_bytes(&commitment, 3, &blocks[3], &longer),
        Err(Error::Crypto)
    ));
    assert!(
        fails(&commitment, 3, &blocks[3], &bytes[..bytes.len() - 1]),
        "truncated"
    );
}

#[test]
fn commit_needs_two_blocks() {
    assert!(matches!(
        Halo2Membership.commit(0, &[b"one"]),
        Err(Error::InvalidParameter(_))
    ));
    let tree = MerkleTree::build(0, &[b"a", b"b"]).unwrap();
    assert!(matches!(
        Halo2Membership.prove(&tree, 2),
        Err(Error::BlockOutOfRange { .. })
    ));
}

/// The position-hiding statement: the proof verifies under the leaf hash alone.
#[test]
fn hidden_position_proofs() {
    let other = MerkleTree::build(3, &blocks(2)).unwrap().commitment();
    let blocks = blocks(1);
    let tree = MerkleTree::build(3, &blocks).unwrap();
    let witness = MembershipWitness::from_tree(&tree, 4).unwrap();
    let proof = qsmm_proof_halo2::prove(&witness, Disclosure::Hidden).unwrap();
    let decoded = MembershipProof::from_bytes(&proof.to_bytes()).unwrap();
    let commitment = tree.commitment();
    let leaf = hash::leaf(&blocks[4]);
    qsmm_proof_halo2::verify(&commitment, leaf, 0, &decoded).unwrap();
    // The position argument plays no part in a hidden proof.
    qsmm_proof_halo2::verify(&commitment, leaf, 1234, &decoded).unwrap();

    // Another leaf of the same tree, another root: rejected.
    assert!(qsmm_proof_halo2::verify(&commitment, hash::leaf(&blocks[3]), 0, &decoded).is_err());
    assert!(qsmm_proof_halo2::verify(&other, leaf, 0, &decoded).is_err());
    // The interface refuses a hidden proof (its statement names the index).
    assert!(
        Halo2Membership
            .verify(&commitment, 4, &blocks[4], &decoded)
            .is_err()
    );
    // Re-labelled as position-disclosing, or as another depth: rejected. Depth 4 has the same
    // parameters (k = 7), depth 5 larger ones (k = 8): the cases of depth 20 relabelled as 21
    // (k = 9 both) and 21 as 22 (k = 9, 10), at a cost the default test run can afford.
    assert_eq!(
        (
            qsmm_proof_halo2::circuit::k_for_depth(3),
            qsmm_proof_halo2::circuit::k_for_depth(4),
            qsmm_proof_halo2::circuit::k_for_depth(5)
        ),
        (7, 7, 8)
    );
    for (offset, value) in [(2, 1), (1, 2), (1, 4), (1, 5)] {
        let mut bytes = proof.to_bytes();
        bytes[offset] = value;
        let relabelled = MembershipProof::from_bytes(&bytes).unwrap();
        assert!(qsmm_proof_halo2::verify(&commitment, leaf, 4, &relabelled).is_err());
    }
}

/// A random path of depth `depth` (no tree of 2^depth blocks needs to be built).
fn random_witness(depth: u32) -> MembershipWitness {
    use ff::Field;
    let mut rng = rand::rng();
    let siblings = (0..depth).map(|_| Fp::random(&mut rng)).collect();
    MembershipWitness::new(Fp::random(&mut rng), 0x5_a5a5, siblings, 1, 1 << depth).unwrap()
}

/// The depth-20 proof does not verify as depth 21 (both `k = 9`: another circuit over the same
/// parameters; `hidden_position_proofs` checks a change of `k`, at depth 4 against 5).
#[test]
fn depth_20_proof_fails_as_depth_21() {
    let witness = random_witness(20);
    let proof = qsmm_proof_halo2::prove(&witness, Disclosure::Hidden).unwrap();
    let commitment = witness.commitment();
    qsmm_proof_halo2::verify(&commitment, witness.leaf(), 0, &proof).unwrap();
    let mut bytes = proof.to_bytes();
    bytes[1] = 21;
    let relabelled = MembershipProof::from_bytes(&bytes).unwrap();
    assert!(qsmm_proof_halo2::verify(&commitment, witness.leaf(), 0, &relabelled).is_err());
}
