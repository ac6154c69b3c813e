//! The MiMC-Merkle backend through the public API: known answers, tree shapes, errors.
//!
//! The known answers were computed by the independent Python reference in
//! `tests/reference/mimc_merkle.py` (plain integers mod p, `hashlib.shake_256`), which shares no
//! code with the Rust crates.
#![allow(clippy::unwrap_used, reason = "helpers of tests fail loudly")]

use qsmm_proof_stub::merkle::{MerkleProof, MerkleTree, MimcMerkle};
use qsmm_proof_stub::{Commitment, Error, IntegrityProver, IntegrityVerifier, ProofEncoding, hash};

/// The fixed test blocks: block `i` is `100 + i` bytes of value `i + 1`.
fn block(i: usize) -> Vec<u8> {
    vec![u8::try_from(i + 1).unwrap(); 100 + i]
}

fn blocks(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(block).collect()
}

fn le_hex(x: qsmm_shatter::mimc::Fp) -> String {
    hex::encode(Commitment::from_field(x).to_bytes())
}

/// Builds, proves every index, verifies each proof as a value and as bytes.
fn check_all_indices(generation: u64, blocks: &[Vec<u8>]) -> Commitment {
    let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
    let (commitment, tree) = MimcMerkle.commit(generation, &refs).unwrap();
    let n = u64::try_from(blocks.len()).unwrap();
    assert_eq!(tree.leaf_count(), n);
    assert_eq!(tree.commitment(), commitment);
    for (i, content) in (0u64..).zip(blocks) {
        let proof = MimcMerkle.prove(&tree, i).unwrap();
        assert_eq!(proof.siblings().len(), hash::depth(n).unwrap() as usize);
        MimcMerkle
            .verify(&commitment, i, content, &proof)
            .unwrap_or_else(|e| panic!("n = {n}, index {i}: {e}"));
        MimcMerkle
            .verify_bytes(&commitment, i, content, &proof.to_bytes())
            .unwrap();
        // The neighbouring block at this index does not verify.
        let other = &blocks[(usize::try_from(i).unwrap() + 1) % blocks.len()];
        if other != content {
            assert!(matches!(
                MimcMerkle.verify(&commitment, i, other, &proof),
                Err(Error::Crypto)
            ));
        }
    }
    commitment
}

#[test]
fn domain_constants_known_answers() {
    assert_eq!(
        le_hex(hash::leaf_tag()),
        "4d74c8ff849625fa9a4ebd741b9f7d991791427b415b02a32b985c5030c22606"
    );
    assert_eq!(
        le_hex(hash::node_tag()),
        "6bc7bd604f0719172388f1ebddb782268d61d0b658937ff22ae407a4e0eda638"
    );
    assert_eq!(
        le_hex(hash::root_tag()),
        "b87a6833f4d0fb5c90deb9adb06df097df0079e50720379aa69ecf2e84236011"
    );
    assert_eq!(
        le_hex(hash::empty_leaf()),
        "1f9d87b365300db28a16b7a81251156511151c24dd995d803799558fd25b3d04"
    );
}

#[test]
fn leaf_known_answers() {
    assert_eq!(
        le_hex(hash::leaf(b"")),
        "c17fcec982e6d3ea6fc54d985c1a93ca464aae6f3441d0357f6d0d4902f5b70f"
    );
    assert_eq!(
        le_hex(hash::leaf(b"abc")),
        "32283990e087b62d4fa0f221cdc6480c3843984eacc9fefa1b4c8ddafd322608"
    );
}

#[test]
fn root_known_answers() {
    let expected = [
        (
            1,
            "8746c323a0429f6a4edaa724c21db39f127488baf18e1c581ddd545e6d15870b",
        ),
        (
            2,
            "39f9f81401332ec50c4c2bbd184008e262d4919363a770eac43d6bac826d7211",
        ),
        (
            3,
            "eb6b6e3fa3a0e6dac7c92a389f9983a2ae6aa6cda77e4f6d3bb9eec2f9918d29",
        ),
        (
            5,
            "efd1d500e9db20db188e2397515b802fb5a8235cc9bd4d86311029145485743f",
        ),
    ];
    for (n, root) in expected {
        let commitment = check_all_indices(7, &blocks(n));
        assert_eq!(commitment.to_string(), root, "{n} leaves");
        assert_eq!(
            Commitment::from_bytes(&hex::decode(root).unwrap().try_into().unwrap()).unwrap(),
            commitment
        );
    }
}

#[test]
fn proof_encoding_known_answer() {
    // Leaf 4 of 5: its siblings are EMPTY, then empty_subtree(1), then the left half.
    let expected = concat!(
        "01",
        "0700000000000000",
        "0500000000000000",
        "0400000000000000",
        "03",
        "1f9d87b365300db28a16b7a81251156511151c24dd995d803799558fd25b3d04",
        "8107b2d11a2cbec17b5435f835c021dccc73e8d367fee94bada519174cc7ea21",
        "3b8306b32b0fa93feea9e831bafc7fb74e9a85a1ec082f5d4419a7eb4a5e8f08",
    );
    let tree = MerkleTree::build(7, &blocks(5)).unwrap();
    let proof = tree.prove(4).unwrap();
    assert_eq!(hex::encode(proof.to_bytes()), expected);
    assert_eq!(proof.siblings()[0], hash::empty_leaf());
    assert_eq!(Some(proof.siblings()[1]), hash::empty_subtree(1));
    let decoded = MerkleProof::from_bytes(&hex::decode(expected).unwrap()).unwrap();
    assert_eq!(decoded, proof);
}

#[test]
fn tree_sizes_one_two_and_odd() {
    for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17] {
        check_all_indices(3, &blocks(n));
    }
}

#[test]
fn single_leaf_tree_has_an_empty_path() {
    let tree = MerkleTree::build(0, &[b"only"]).unwrap();
    assert_eq!(tree.depth(), 0);
    let proof = tree.prove(0).unwrap();
    assert!(proof.siblings().is_empty());
    assert_eq!(proof.to_bytes().len(), MerkleProof::HEADER_LEN);
    assert_eq!(
        tree.commitment(),
        hash::root(0, 1, hash::leaf(b"only")),
        "the top of a one-leaf tree is the leaf itself"
    );
    MimcMerkle
        .verify(&tree.commitment(), 0, b"only", &proof)
        .unwrap();
}

/// 2^16 small leaves: depth 16, and proofs at the edges and inside verify.
#[test]
fn two_to_the_sixteen_leaves() {
    let blocks: Vec<[u8; 8]> = (0u64..1 << 16).map(u64::to_le_bytes).collect();
    let tree = MerkleTree::build(7, &blocks).unwrap();
    assert_eq!(tree.depth(), 16);
    assert_eq!(tree.leaf_count(), 65_536);
    for index in [0u64, 1, 2, 12_345, 32_767, 32_768, 65_534, 65_535] {
        let proof = tree.prove(index).unwrap();
        assert_eq!(proof.to_bytes().len(), 26 + 32 * 16);
        MimcMerkle
            .verify(&tree.commitment(), index, &index.to_le_bytes(), &proof)
            .unwrap();
        assert!(
            MimcMerkle
                .verify(
                    &tree.commitment(),
                    index,
                    &(index ^ 1).to_le_bytes(),
                    &proof
                )
                .is_err()
        );
    }
    assert!(matches!(
        tree.prove(65_536),
        Err(Error::BlockOutOfRange {
            block: 65_536,
            count: 65_536
        })
    ));
}

#[test]
fn zero_leaves_is_a_typed_error() {
    let none: [&[u8]; 0] = [];
    assert!(matches!(
        MimcMerkle.commit(7, &none),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        MerkleTree::build::<Vec<u8>>(7, &[]),
        Err(Error::InvalidParameter(_))
    ));
}

#[test]
fn index_out_of_range_is_an_error() {
    let tree = MerkleTree::build(7, &blocks(5)).unwrap();
    for index in [5, 6, 8, u64::MAX] {
        assert!(matches!(
            MimcMerkle.prove(&tree, index),
            Err(Error::BlockOutOfRange { block, count: 5 }) if block == index
        ));
    }
    // A valid proof claimed for an index out of range is just a failed verification.
    let proof = tree.prove(4).unwrap();
    for index in [5, u64::MAX] {
        assert!(matches!(
            MimcMerkle.verify(&tree.commitment(), index, &block(4), &proof),
            Err(Error::Crypto)
        ));
    }
}

#[test]
fn generation_and_size_are_bound() {
    let five = blocks(5);
    let tree = MerkleTree::build(7, &five).unwrap();
    let other_generation = MerkleTree::build(8, &five).unwrap();
    assert_ne!(tree.commitment(), other_generation.commitment());
    let proof = tree.prove(2).unwrap();
    assert!(matches!(
        MimcMerkle.verify(&other_generation.commitment(), 2, &five[2], &proof),
        Err(Error::Crypto)
    ));
    // Same first leaves, one more block: a different commitment, and proofs do not cross over.
    let six = MerkleTree::build(7, &blocks(6)).unwrap();
    assert_ne!(tree.commitment(), six.commitment());
    assert!(
        MimcMerkle
            .verify(&six.commitment(), 2, &five[2], &proof)
            .is_err()
    );
}

#[test]
fn order_of_blocks_matters() {
    let mut swapped = blocks(4);
    swapped.swap(1, 2);
    assert_ne!(
        MerkleTree::build(7, &swapped).unwrap().commitment(),
        MerkleTree::build(7, &blocks(4)).unwrap().commitment()
    );
}

#[test]
fn trait_and_inherent_encodings_agree() {
    let proof = MerkleTree::build(1, &blocks(3)).unwrap().prove(1).unwrap();
    let via_trait = ProofEncoding::to_bytes(&proof);
    assert_eq!(via_trait, proof.to_bytes());
    assert_eq!(
        <MerkleProof as ProofEncoding>::from_bytes(&via_trait).unwrap(),
        MerkleProof::try_from(via_trait.as_slice()).unwrap()
    );
}

#[test]
fn debug_output_is_a_summary() {
    let tree = MerkleTree::build(7, &blocks(3)).unwrap();
    let printed = format!("{tree:?}");
    assert!(printed.contains("leaf_count: 3"), "{printed}");
    assert!(
        printed.contains(&tree.commitment().to_string()),
        "{printed}"
    );
}
