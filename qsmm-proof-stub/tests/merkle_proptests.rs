//! Property tests of the MiMC-Merkle backend: every honest proof verifies, any change to the
//! block, index, commitment, generation or proof bytes is rejected, and no input panics.
#![allow(clippy::unwrap_used, reason = "helpers of tests fail loudly")]

use ff::{Field, PrimeField};
use proptest::{collection::vec, prelude::*, sample::Index};
use qsmm_proof_stub::merkle::{MerkleProof, MerkleTree, MimcMerkle};
use qsmm_proof_stub::{Commitment, Error, IntegrityVerifier};
use qsmm_shatter::mimc::Fp;

fn any_blocks() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..80), 1..=20)
}

fn as_u64(i: usize) -> u64 {
    u64::try_from(i).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_honest_proof_verifies(generation in any::<u64>(), blocks in any_blocks()) {
        let tree = MerkleTree::build(generation, &blocks).unwrap();
        for (i, block) in blocks.iter().enumerate() {
            let proof = tree.prove(as_u64(i)).unwrap();
            prop_assert_eq!(proof.generation(), generation);
            prop_assert_eq!(proof.leaf_count(), as_u64(blocks.len()));
            let bytes = proof.to_bytes();
            prop_assert_eq!(bytes.len(), proof.encoded_len());
            prop_assert_eq!(&MerkleProof::from_bytes(&bytes).unwrap(), &proof);
            prop_assert!(MimcMerkle.verify_bytes(&tree.commitment(), as_u64(i), block, &bytes).is_ok());
        }
    }

    /// Flip any byte of the encoding by any non-zero mask, truncate to any shorter length or
    /// extend by any bytes: the result never verifies.
    #[test]
    fn any_change_to_the_encoding_fails(
        generation in any::<u64>(),
        blocks in any_blocks(),
        index in any::<Index>(),
        mask in 1u8..,
        extension in vec(any::<u8>(), 1..40),
    ) {
        let tree = MerkleTree::build(generation, &blocks).unwrap();
        let i = index.index(blocks.len());
        let (commitment, block) = (tree.commitment(), &blocks[i]);
        let bytes = tree.prove(as_u64(i)).unwrap().to_bytes();
        prop_assert!(MimcMerkle.verify_bytes(&commitment, as_u64(i), block, &bytes).is_ok());
        for position in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[position] ^= mask;
            prop_assert!(
                MimcMerkle.verify_bytes(&commitment, as_u64(i), block, &flipped).is_err(),
                "flip at {}", position
            );
        }
        for len in 0..bytes.len() {
            prop_assert!(matches!(
                MimcMerkle.verify_bytes(&commitment, as_u64(i), block, &bytes[..len]),
                Err(Error::Encoding(_))
            ), "truncated to {}", len);
        }
        let mut extended = bytes;
        extended.extend_from_slice(&extension);
        prop_assert!(matches!(
            MimcMerkle.verify_bytes(&commitment, as_u64(i), block, &extended),
            Err(Error::Encoding(_))
        ));
    }

    /// Change the block, the index, the commitment, a sibling or the generation: `Error::Crypto`.
    #[test]
    fn any_change_to_the_statement_fails(
        generation in any::<u64>(),
        blocks in any_blocks(),
        index in any::<Index>(),
        byte in any::<Index>(),
        mask in 1u8..,
        extra in any::<u8>(),
        sibling in any::<Index>(),
        other_generation in any::<u64>(),
    ) {
        let tree = MerkleTree::build(generation, &blocks).unwrap();
        let i = index.index(blocks.len());
        let (commitment, block) = (tree.commitment(), &blocks[i]);
        let proof = tree.prove(as_u64(i)).unwrap();
        let fails = |c: &Commitment, idx: u64, content: &[u8], p: &MerkleProof| {
            matches!(MimcMerkle.verify(c, idx, content, p), Err(Error::Crypto))
        };

        // The block: one byte changed, one byte more, one byte less.
        if !block.is_empty() {
            let mut changed = block.clone();
            changed[byte.index(block.len())] ^= mask;
            prop_assert!(fails(&commitment, as_u64(i), &changed, &proof));
            prop_assert!(fails(&commitment, as_u64(i), &block[..block.len() - 1], &proof));
        }
        let mut longer = block.clone();
        longer.push(extra);
        prop_assert!(fails(&commitment, as_u64(i), &longer, &proof));

        // Every other index, in range or not (the block may even be stored there too).
        for j in (0..blocks.len() + 2).map(as_u64).chain([u64::MAX]) {
            if j != as_u64(i) {
                prop_assert!(fails(&commitment, j, block, &proof), "index {}", j);
            }
        }

        // Another commitment: the next field element.
        let next = Commitment::from_field(commitment.to_field() + Fp::ONE);
        prop_assert!(fails(&next, as_u64(i), block, &proof));

        // One sibling replaced by another canonical element.
        let mut bytes = proof.to_bytes();
        if !proof.siblings().is_empty() {
            let s = sibling.index(proof.siblings().len());
            let offset = MerkleProof::HEADER_LEN + s * MerkleProof::SIBLING_LEN;
            let replaced = (proof.siblings()[s] + Fp::ONE).to_repr();
            bytes[offset..offset + MerkleProof::SIBLING_LEN].copy_from_slice(&replaced);
            let tampered = MerkleProof::from_bytes(&bytes).unwrap();
            prop_assert!(fails(&commitment, as_u64(i), block, &tampered));
        }

        // The same blocks under another generation: neither commitment accepts the other's proof.
        if other_generation != generation {
            let other = MerkleTree::build(other_generation, &blocks).unwrap();
            prop_assert_ne!(other.commitment(), commitment);
            prop_assert!(fails(&other.commitment(), as_u64(i), block, &proof));
            let other_proof = other.prove(as_u64(i)).unwrap();
            prop_assert!(fails(&commitment, as_u64(i), block, &other_proof));
            // Rewriting the generation field of the encoding does not help either.
            let mut rewritten = proof.to_bytes();
            rewritten[1..9].copy_from_slice(&other_generation.to_le_bytes());
            let rewritten = MerkleProof::from_bytes(&rewritten).unwrap();
            prop_assert!(fails(&commitment, as_u64(i), block, &rewritten));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic the decoder or the verifier.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..400)) {
        let commitment = Commitment::from_field(Fp::from(5));
        MerkleProof::from_bytes(&bytes).ok();
        prop_assert!(MimcMerkle.verify_bytes(&commitment, 0, b"x", &bytes).is_err());
        if let Ok(c) = Commitment::try_from_slice(&bytes) {
            prop_assert_eq!(c.to_bytes().to_vec(), bytes);
        }
    }

    /// Well-formed headers with arbitrary fields and arbitrary sibling bytes.
    #[test]
    fn structured_garbage_is_rejected_or_consistent(
        generation in any::<u64>(),
        leaf_count in prop_oneof![0u64..40, any::<u64>()],
        index in prop_oneof![0u64..40, any::<u64>()],
        count in prop_oneof![0u8..8, any::<u8>()],
        siblings in vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![MerkleProof::FORMAT];
        bytes.extend_from_slice(&generation.to_le_bytes());
        bytes.extend_from_slice(&leaf_count.to_le_bytes());
        bytes.extend_from_slice(&index.to_le_bytes());
        bytes.push(count);
        bytes.extend_from_slice(&siblings);
        if let Ok(proof) = MerkleProof::from_bytes(&bytes) {
            prop_assert!(proof.index() < proof.leaf_count());
            prop_assert_eq!(proof.siblings().len(), usize::from(count));
            prop_assert_eq!(proof.to_bytes(), bytes);
        }
    }
}
