//! Retrievability challenges: the held-block circuit under `MockProver`, the positions, and real
//! challenge proofs.

use halo2_proofs::dev::MockProver;
use qsmm_proof_halo2::challenge::{self, ChallengeProof, positions};
use qsmm_proof_halo2::held::{BLOCK_LEN, CHUNKS, HeldBlockCircuit, block_chunks, k_for_held_block};
use qsmm_proof_halo2::{
    Error,
    challenge::{prove_challenge, verify_challenge},
};
use qsmm_proof_stub::merkle::MerkleTree;
use qsmm_proof_stub::{Commitment, ProofEncoding, hash};
use qsmm_shatter::mimc::{self, Fp};

const GENERATION: u64 = 4;

fn blocks() -> Vec<[u8; BLOCK_LEN]> {
    (0u8..5)
        .map(|i| {
            let mut block = [0u8; BLOCK_LEN];
            for (j, byte) in block.iter_mut().enumerate() {
                *byte = u8::try_from(j % 256).unwrap().wrapping_mul(37) ^ i.wrapping_mul(101);
            }
            block
        })
        .collect()
}

fn tree(blocks: &[[u8; BLOCK_LEN]]) -> MerkleTree {
    MerkleTree::build(GENERATION, blocks).unwrap()
}

/// The chunks are those the native leaf hash absorbs.
#[test]
fn chunks_rebuild_the_native_leaf_hash() {
    for block in blocks() {
        let chunks = block_chunks(&block);
        assert_eq!(chunks.len(), CHUNKS);
        let mut state = mimc::compress(hash::leaf_tag(), Fp::from(BLOCK_LEN as u64));
        for chunk in chunks {
            state = mimc::compress(state, chunk);
        }
        assert_eq!(state, hash::leaf(&block));
    }
}

fn accepts(circuit: &HeldBlockCircuit, instance: Vec<Fp>) -> bool {
    MockProver::run(k_for_held_block(circuit.depth()), circuit, vec![instance])
        .unwrap()
        .verify()
        .is_ok()
}

/// The honest witness passes; another block's content, another position, another leaf count,
/// another root and a padding position fail.
#[test]
fn held_block_circuit_accepts_exactly_the_block() {
    let blocks = blocks();
    let tree = tree(&blocks);
    let root = tree.commitment().to_field();
    let n = tree.leaf_count();
    let index = 3;
    let siblings = tree.prove(index).unwrap().siblings().to_vec();
    let honest = HeldBlockCircuit::with_witness(&blocks[3], index, &siblings, GENERATION);
    assert!(accepts(
        &honest,
        HeldBlockCircuit::public_inputs(root, n, index)
    ));

    let mut flipped = blocks[3];
    flipped[BLOCK_LEN - 1] ^= 1;
    let wrong_content = HeldBlockCircuit::with_witness(&flipped, index, &siblings, GENERATION);
    assert!(!accepts(
        &wrong_content,
        HeldBlockCircuit::public_inputs(root, n, index)
    ));
    let other_block = HeldBlockCircuit::with_witness(&blocks[2], index, &siblings, GENERATION);
    assert!(!accepts(
        &other_block,
        HeldBlockCircuit::public_inputs(root, n, index)
    ));
    assert!(!accepts(
        &honest,
        HeldBlockCircuit::public_inputs(root, n, index ^ 1)
    ));
    assert!(!accepts(
        &honest,
        HeldBlockCircuit::public_inputs(root, n + 1, index)
    ));
    assert!(!accepts(
        &honest,
        HeldBlockCircuit::public_inputs(root + Fp::one(), n, index)
    ));
    let wrong_generation =
        HeldBlockCircuit::with_witness(&blocks[3], index, &siblings, GENERATION + 1);
    assert!(!accepts(
        &wrong_generation,
        HeldBlockCircuit::public_inputs(root, n, index)
    ));
}

/// Known answer of the position derivation (pins the domain, the encoding and the reduction).
#[test]
fn positions_known_answer_and_rejections() {
    let root = Commitment::from_field(Fp::from(7));
    let asked = positions(&root, 1000, b"seed", 6).unwrap();
    assert_eq!(asked, KAT_POSITIONS);
    assert!(asked.iter().all(|&i| i < 1000));
    // A longer challenge starts with the shorter one's positions.
    assert_eq!(positions(&root, 1000, b"seed", 8).unwrap()[..6], asked);
    assert_ne!(positions(&root, 1001, b"seed", 6).unwrap(), asked);
    assert_ne!(positions(&root, 1000, b"seee", 6).unwrap(), asked);
    let other = Commitment::from_field(Fp::from(8));
    assert_ne!(positions(&other, 1000, b"seed", 6).unwrap(), asked);
    // Every position is drawn: 64 samples of 2 blocks hit both.
    let two = positions(&root, 2, b"seed", 64).unwrap();
    assert!(two.contains(&0) && two.contains(&1));

    for (n, k) in [(0, 1), (1, 1), ((1 << 32) + 1, 1), (10, 0), (10, 65)] {
        assert!(
            matches!(
                positions(&root, n, b"s", k),
                Err(Error::InvalidParameter(_))
            ),
            "n {n} k {k}"
        );
    }
}

/// Computed independently with Python's `hashlib`:
///
/// ```text
/// d = b"qsmm/v1/proof/challenge" + b"\0" + (7).to_bytes(32, "little")
///     + (1000).to_bytes(8, "little") + (4).to_bytes(8, "little") + b"seed"
/// x = hashlib.shake_256(d).digest(96)
/// [int.from_bytes(x[16*j:16*j+16], "little") % 1000 for j in range(6)]
/// ```
const KAT_POSITIONS: [u64; 6] = [44, 949, 300, 437, 19, 1];

/// A real proof of two samples: verifies for its seed, count and commitment only.
#[test]
fn challenge_round_trip_and_rejections() {
    let blocks = blocks();
    let tree = tree(&blocks);
    let commitment = tree.commitment();
    let read = |i: u64| Ok(blocks[usize::try_from(i).unwrap()]);
    let proof = prove_challenge(&tree, b"fresh", 2, read).unwrap();
    assert_eq!(proof.leaf_count(), 5);
    assert_eq!(proof.samples(), 2);
    let asked = verify_challenge(&commitment, b"fresh", 2, &proof).unwrap();
    assert_eq!(asked, positions(&commitment, 5, b"fresh", 2).unwrap());

    let bytes = proof.to_bytes();
    let decoded = ChallengeProof::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, proof);
    let fails = |c: &Commitment, seed: &[u8], k: u16, p: &[u8]| match ChallengeProof::from_bytes(p)
    {
        Ok(p) => verify_challenge(c, seed, k, &p).is_err(),
        Err(_) => true,
    };
    assert!(fails(&commitment, b"fresher", 2, &bytes), "another seed");
    assert!(fails(&commitment, b"fresh", 1, &bytes), "fewer samples");
    let other = tree_with_generation(&blocks, GENERATION + 1).commitment();
    assert!(fails(&other, b"fresh", 2, &bytes), "another commitment");
    for offset in [3, 12, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[offset] ^= 1;
        assert!(
            fails(&commitment, b"fresh", 2, &bad),
            "flipped byte {offset}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(fails(&commitment, b"fresh", 2, &longer), "trailing byte");
    // The header's leaf count relabelled (same depth): other positions and another root. (A
    // relabelling to another depth selects another circuit's keys, as membership proofs test.)
    let mut relabelled = bytes;
    relabelled[1] = 6;
    assert!(fails(&commitment, b"fresh", 2, &relabelled), "leaf count 6");

    // A holder that lost a block cannot answer.
    let lost = |i: u64| {
        let mut block = blocks[usize::try_from(i).unwrap()];
        block[0] ^= 1;
        Ok(block)
    };
    assert!(matches!(
        prove_challenge(&tree, b"fresh", 2, lost),
        Err(Error::InvalidParameter(_))
    ));
    let missing = |_| Err(Error::BlockOutOfRange { block: 0, count: 0 });
    assert!(matches!(
        prove_challenge(&tree, b"fresh", 2, missing),
        Err(Error::BlockOutOfRange { .. })
    ));
}

fn tree_with_generation(blocks: &[[u8; BLOCK_LEN]], generation: u64) -> MerkleTree {
    MerkleTree::build(generation, blocks).unwrap()
}

#[test]
fn encoding_rejects_junk() {
    let good = {
        let mut bytes = vec![challenge::FORMAT_V1];
        bytes.extend_from_slice(&5u64.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&[7; 100]);
        bytes
    };
    let decoded = ChallengeProof::from_bytes(&good).unwrap();
    assert_eq!(decoded.to_bytes(), good);
    let mut cases: Vec<Vec<u8>> = vec![vec![], good[..challenge::HEADER_LEN].to_vec()];
    for (offset, value) in [
        (0, 0x02),
        (0, 0x04),
        (1, 0),
        (1, 1),
        (5, 1),
        (9, 0),
        (9, 65),
    ] {
        let mut bad = good.clone();
        bad[offset] = value;
        cases.push(bad);
    }
    let mut too_long = good;
    too_long.resize(
        challenge::HEADER_LEN + 2 * challenge::MAX_TRANSCRIPT_LEN_PER_SAMPLE + 1,
        0,
    );
    cases.push(too_long);
    for bad in cases {
        assert!(
            matches!(ChallengeProof::from_bytes(&bad), Err(Error::Encoding(_))),
            "{:?}",
            &bad[..bad.len().min(12)]
        );
    }
}
