//! The traits from a caller's side: generic code over any backend, and a backend implemented
//! outside the crate (the traits are deliberately not sealed).

use std::cell::Cell;

use qsmm_proof_stub::merkle::{MerkleProof, MimcMerkle};
use qsmm_proof_stub::{
    Commitment, Error, IntegrityProver, IntegrityVerifier, ProofEncoding, ProofSystem, Result,
};

/// Caller code written once against the traits.
fn commit_prove_verify<B: IntegrityProver + IntegrityVerifier>(
    backend: &B,
    blocks: &[&[u8]],
) -> Result<Vec<Vec<u8>>> {
    let (commitment, tree) = backend.commit(11, blocks)?;
    let mut proofs = Vec::new();
    for (index, block) in (0u64..).zip(blocks) {
        let proof = backend.prove(&tree, index)?;
        backend.verify(&commitment, index, block, &proof)?;
        let bytes = proof.to_bytes();
        backend.verify_bytes(&commitment, index, block, &bytes)?;
        proofs.push(bytes);
    }
    Ok(proofs)
}

#[test]
fn generic_caller_with_the_merkle_backend() {
    let blocks: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];
    let proofs = commit_prove_verify(&MimcMerkle, &blocks).unwrap();
    assert_eq!(proofs.len(), 4);
    for proof in &proofs {
        assert_eq!(proof.len(), 26 + 2 * 32);
        assert_eq!(proof[0], MerkleProof::FORMAT);
    }
}

/// A backend from outside the crate, which counts how often `verify` runs.
#[derive(Debug, Default)]
struct Recording {
    verified: Cell<u32>,
}

#[derive(Debug)]
struct OneByte(u8);

impl ProofEncoding for OneByte {
    fn to_bytes(&self) -> Vec<u8> {
        vec![self.0]
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [b] => Ok(Self(*b)),
            _ => Err(Error::Encoding("one-byte proof")),
        }
    }
}

impl ProofSystem for Recording {
    type Proof = OneByte;
}

impl IntegrityVerifier for Recording {
    fn verify(&self, _: &Commitment, _: u64, _: &[u8], proof: &OneByte) -> Result<()> {
        self.verified.set(self.verified.get() + 1);
        if proof.0 == 1 {
            Ok(())
        } else {
            Err(Error::Crypto)
        }
    }
}

#[test]
fn verify_bytes_decodes_before_verifying() {
    let backend = Recording::default();
    let commitment = Commitment::from_bytes(&[0; 32]).unwrap();
    assert!(matches!(
        backend.verify_bytes(&commitment, 0, b"", &[1, 1]),
        Err(Error::Encoding(_))
    ));
    assert_eq!(
        backend.verified.get(),
        0,
        "a malformed proof is never verified"
    );
    backend.verify_bytes(&commitment, 0, b"", &[1]).unwrap();
    assert!(matches!(
        backend.verify_bytes(&commitment, 0, b"", &[2]),
        Err(Error::Crypto)
    ));
    assert_eq!(backend.verified.get(), 2);
}

#[test]
fn a_merkle_proof_is_not_another_backends_proof() {
    let blocks: [&[u8]; 2] = [b"a", b"b"];
    let (commitment, tree) = MimcMerkle.commit(0, &blocks).unwrap();
    let bytes = MimcMerkle.prove(&tree, 0).unwrap().to_bytes();
    assert!(matches!(
        Recording::default().verify_bytes(&commitment, 0, b"a", &bytes),
        Err(Error::Encoding(_))
    ));
    // And a foreign format byte is rejected by the Merkle decoder.
    let mut foreign = bytes;
    foreign[0] = 0x02;
    assert!(matches!(
        MimcMerkle.verify_bytes(&commitment, 0, b"a", &foreign),
        Err(Error::Encoding(_))
    ));
}
