//! Retrievability challenges: a proof that the prover holds `K` blocks of a committed medium,
//! chosen by the verifier's seed (proof of retrievability by sampling).
//!
//! # Protocol
//!
//! 1. The owner of a medium keeps its [`Commitment`] `R` (and its block count `n`, which `R`
//!    binds) when the medium is handed to a remote holder.
//! 2. To check the copy, the verifier picks a fresh, unpredictable seed and sends it with a
//!    sample count `K`.
//! 3. The holder derives the `K` positions from the seed ([`positions`]), reads those blocks and
//!    answers with one [`ChallengeProof`] ([`prove_challenge`]): for each position, a proof of
//!    the [held-block statement](crate::held) — *I know the whole 4096-byte content whose leaf
//!    hash sits at position `i` of the tree committed to by `R`*.
//! 4. The verifier derives the same positions and checks the proof ([`verify_challenge`]).
//!
//! The positions are `u128(SHAKE256(PROOF_CHALLENGE ‖ 0x00 ‖ R ‖ n ‖ len(seed) ‖ seed)[16j ..
//! 16j + 16]) mod n` for `j < K` (little-endian integers; `n`, `len` as 8 bytes), drawn with
//! replacement; the bias of the reduction is below `n / 2^128`.
//!
//! # What a challenge proof says — and does not say
//!
//! It says: *at the time of proving, the prover knew the full content of the `K` blocks at the
//! seed's positions of the medium committed to by `R`.* The content is hashed inside the
//! circuit, so knowing the leaf hashes (the tree, 1/128 of the medium) is not enough. A holder
//! that has lost or discarded a fraction `f` of the blocks answers a fresh challenge with
//! probability at most `(1 − f)^K` (for example `f = 10 %`, `K = 44`: below 1 %), unless it can
//! fetch the missing blocks from elsewhere in time.
//!
//! It does **not** say:
//!
//! - anything for a seed the prover could predict: it can precompute the answer and discard the
//!   data afterwards. The seed must be fresh and chosen by the verifier after the prover can no
//!   longer consult another copy;
//! - that the prover stores the blocks itself: it may fetch them from a third party while it
//!   proves (no timing bound is part of the proof);
//! - anything about blocks that were not sampled, nor about the medium's content beyond the
//!   commitment (the blocks' content, the siblings and the generation stay private; the
//!   positions are public, as the seed determines them, and so is `n`).
//!
//! # Cost
//!
//! Each sample is a circuit of `2^11` rows up to depth 30 (`2^12` at depths 31 and 32): proving
//! takes about a second for one sample, 0.6 s more per further sample, and the proof grows by
//! about 1.9 KiB per sample; see the crate's README.

use halo2_proofs::{
    plonk::{SingleVerifier, create_proof, verify_proof},
    transcript::{Blake2bRead, Blake2bWrite, Challenge255},
};
use pasta_curves::EqAffine;
use qsmm_proof_stub::merkle::MerkleTree;
use qsmm_proof_stub::{Commitment, ProofEncoding, hash};
use qsmm_shatter::mimc::Fp;
use qsmm_types::labels;
use shake::{ExtendableOutput, Shake256, Update, XofReader};

use crate::circuit::{MAX_DEPTH, MIN_DEPTH};
use crate::held::{BLOCK_LEN, HeldBlockCircuit};
use crate::keys::held_block_keys;
use crate::{Error, Result};

/// The format byte of version 1 of [`ChallengeProof`].
pub const FORMAT_V1: u8 = 0x03;
/// Bytes before the transcript: format, leaf count (8), samples (2).
pub const HEADER_LEN: usize = 11;
/// The largest number of samples one proof may answer.
pub const MAX_SAMPLES: u16 = 64;
/// The largest transcript accepted per sample (one sample takes about 3.7 KiB, each further one
/// about 1.9 KiB).
pub const MAX_TRANSCRIPT_LEN_PER_SAMPLE: usize = 6 * 1024;
/// The largest leaf count: the circuit's depth is at most 32.
pub const MAX_LEAF_COUNT: u64 = 1 << MAX_DEPTH;

/// The positions a challenge with `seed` asks for, in a medium of `leaf_count` blocks
/// committed to by `commitment` (see the [module documentation](self)).
///
/// ```
/// use qsmm_proof_halo2::challenge::positions;
/// use qsmm_proof_stub::Commitment;
///
/// let root = Commitment::from_field(7u64.into());
/// let asked = positions(&root, 1000, b"fresh seed", 4)?;
/// assert_eq!(asked.len(), 4);
/// assert!(asked.iter().all(|&i| i < 1000));
/// assert_eq!(asked, positions(&root, 1000, b"fresh seed", 4)?);
/// assert_ne!(asked, positions(&root, 1000, b"other seed", 4)?);
/// # Ok::<(), qsmm_proof_halo2::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] if `leaf_count` is not in `2 ..= 2^32` or `samples` not in
/// `1 ..= 64`.
pub fn positions(
    commitment: &Commitment,
    leaf_count: u64,
    seed: &[u8],
    samples: u16,
) -> Result<Vec<u64>> {
    check_leaf_count(leaf_count)?;
    check_samples(samples)?;
    let seed_len = u64::try_from(seed.len()).unwrap_or(u64::MAX);
    let mut xof = Shake256::default();
    xof.update(labels::PROOF_CHALLENGE.as_bytes());
    xof.update(&[0]);
    xof.update(&commitment.to_bytes());
    xof.update(&leaf_count.to_le_bytes());
    xof.update(&seed_len.to_le_bytes());
    xof.update(seed);
    let mut reader = xof.finalize_xof();
    let modulus = u128::from(leaf_count);
    Ok((0..samples)
        .map(|_| {
            let mut wide = [0u8; 16];
            reader.read(&mut wide);
            // Below `leaf_count ≤ 2^32`: the conversion cannot fail.
            u64::try_from(u128::from_le_bytes(wide) % modulus).unwrap_or(0)
        })
        .collect())
}

fn check_leaf_count(leaf_count: u64) -> Result<()> {
    if (2..=MAX_LEAF_COUNT).contains(&leaf_count) {
        Ok(())
    } else {
        Err(Error::InvalidParameter(
            "a challenge needs a medium of 2 ..= 2^32 blocks",
        ))
    }
}

fn check_samples(samples: u16) -> Result<()> {
    if (1..=MAX_SAMPLES).contains(&samples) {
        Ok(())
    } else {
        Err(Error::InvalidParameter("a challenge asks 1 ..= 64 samples"))
    }
}

/// The answer to a retrievability challenge: one Halo2 proof of the held-block statement for
/// every sampled position.
///
/// # Encoding
///
/// ```text
/// offset  size  field
/// 0       1     format: 0x03 (Halo2 held blocks, version 1)
/// 1       8     leaf count n, little-endian, 2 ..= 2^32
/// 9       2     samples K, little-endian, 1 ..= 64
/// 11      ..    the Halo2 transcript of the K circuits, 1 ..= 6144·K bytes
/// ```
///
/// The depth is `⌈log₂ n⌉`. The verifier derives the positions itself and rejects a transcript
/// with bytes left over.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeProof {
    leaf_count: u64,
    samples: u16,
    transcript: Vec<u8>,
}

impl ChallengeProof {
    /// The block count of the medium the proof is for (bound into the commitment).
    #[must_use]
    pub const fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// The number of samples answered.
    #[must_use]
    pub const fn samples(&self) -> u16 {
        self.samples
    }

    /// The Halo2 transcript.
    #[must_use]
    pub fn transcript(&self) -> &[u8] {
        &self.transcript
    }

    /// The tree depth, `⌈log₂ n⌉`.
    fn depth(&self) -> u32 {
        hash::depth(self.leaf_count).unwrap_or(0)
    }
}

impl ProofEncoding for ChallengeProof {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.transcript.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.leaf_count.to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        out.extend_from_slice(&self.transcript);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::Encoding("halo2 challenge proof: truncated header"));
        }
        let (header, transcript) = bytes.split_at(HEADER_LEN);
        let [format, n @ .., k0, k1] = header else {
            return Err(Error::Encoding("halo2 challenge proof: truncated header"));
        };
        if *format != FORMAT_V1 {
            return Err(Error::Encoding("halo2 challenge proof: unknown format"));
        }
        let leaf_count = u64::from_le_bytes(
            n.try_into()
                .map_err(|_| Error::Encoding("halo2 challenge proof: truncated header"))?,
        );
        check_leaf_count(leaf_count)
            .map_err(|_| Error::Encoding("halo2 challenge proof: leaf count out of range"))?;
        let samples = u16::from_le_bytes([*k0, *k1]);
        check_samples(samples)
            .map_err(|_| Error::Encoding("halo2 challenge proof: sample count out of range"))?;
        if transcript.is_empty()
            || transcript.len() > usize::from(samples) * MAX_TRANSCRIPT_LEN_PER_SAMPLE
        {
            return Err(Error::Encoding("halo2 challenge proof: transcript length"));
        }
        Ok(Self {
            leaf_count,
            samples,
            transcript: transcript.to_vec(),
        })
    }
}

/// Prints the header and the transcript length.
impl core::fmt::Debug for ChallengeProof {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChallengeProof")
            .field("leaf_count", &self.leaf_count)
            .field("samples", &self.samples)
            .field("transcript_len", &self.transcript.len())
            .finish()
    }
}

/// Answers the challenge `(seed, samples)` for the medium whose tree is `tree`: reads each
/// challenged block with `read_block(position)` and proves it is held.
///
/// # Errors
///
/// [`Error::InvalidParameter`] if the tree has not `2 ..= 2^32` leaves, `samples` is not in
/// `1 ..= 64`, or a block returned by `read_block` is not the one the tree commits to; any error
/// of `read_block`; [`Error::Crypto`] if the proof system fails.
pub fn prove_challenge(
    tree: &MerkleTree,
    seed: &[u8],
    samples: u16,
    mut read_block: impl FnMut(u64) -> Result<[u8; BLOCK_LEN]>,
) -> Result<ChallengeProof> {
    let depth = tree.depth();
    if !(MIN_DEPTH..=MAX_DEPTH).contains(&depth) {
        return Err(Error::InvalidParameter(
            "a challenge needs a medium of 2 ..= 2^32 blocks",
        ));
    }
    let commitment = tree.commitment();
    let asked = positions(&commitment, tree.leaf_count(), seed, samples)?;
    let mut circuits = Vec::with_capacity(asked.len());
    let mut instances = Vec::with_capacity(asked.len());
    for &position in &asked {
        let block = read_block(position)?;
        if tree.leaf_hash(position) != Some(hash::leaf(&block)) {
            return Err(Error::InvalidParameter(
                "a challenged block does not match the commitment",
            ));
        }
        let path = tree.prove(position)?;
        circuits.push(HeldBlockCircuit::with_witness(
            &block,
            position,
            path.siblings(),
            tree.generation(),
        ));
        instances.push(HeldBlockCircuit::public_inputs(
            commitment.to_field(),
            tree.leaf_count(),
            position,
        ));
    }
    let keys = held_block_keys(depth)?;
    let columns: Vec<[&[Fp]; 1]> = instances.iter().map(|i| [i.as_slice()]).collect();
    let per_circuit: Vec<&[&[Fp]]> = columns.iter().map(<[&[Fp]; 1]>::as_slice).collect();
    let mut transcript = Blake2bWrite::<_, EqAffine, Challenge255<_>>::init(Vec::new());
    create_proof(
        keys.params(),
        keys.proving_key(),
        &circuits,
        &per_circuit,
        rand::rng(),
        &mut transcript,
    )
    .map_err(|_| Error::Crypto)?;
    Ok(ChallengeProof {
        leaf_count: tree.leaf_count(),
        samples,
        transcript: transcript.finalize(),
    })
}

/// Checks the answer to the challenge `(seed, samples)` for the medium committed to by
/// `commitment`; returns the positions that were proven held.
///
/// # Errors
///
/// [`Error::Crypto`] if the proof does not verify, for whatever reason (another commitment,
/// seed or sample count, a tampered proof).
pub fn verify_challenge(
    commitment: &Commitment,
    seed: &[u8],
    samples: u16,
    proof: &ChallengeProof,
) -> Result<Vec<u64>> {
    if proof.samples != samples {
        return Err(Error::Crypto);
    }
    let asked = positions(commitment, proof.leaf_count, seed, samples)?;
    let keys = held_block_keys(proof.depth())?;
    let instances: Vec<Vec<Fp>> = asked
        .iter()
        .map(|&position| {
            HeldBlockCircuit::public_inputs(commitment.to_field(), proof.leaf_count, position)
        })
        .collect();
    let columns: Vec<[&[Fp]; 1]> = instances.iter().map(|i| [i.as_slice()]).collect();
    let per_circuit: Vec<&[&[Fp]]> = columns.iter().map(<[&[Fp]; 1]>::as_slice).collect();
    let mut reader = proof.transcript();
    {
        let mut transcript = Blake2bRead::<_, EqAffine, Challenge255<_>>::init(&mut reader);
        let strategy = SingleVerifier::new(keys.params());
        verify_proof(
            keys.params(),
            keys.verifying_key(),
            strategy,
            &per_circuit,
            &mut transcript,
        )
        .map_err(|_| Error::Crypto)?;
    }
    if reader.is_empty() {
        Ok(asked)
    } else {
        Err(Error::Crypto)
    }
}
