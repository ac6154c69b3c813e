//! `qsmm proof commit | prove | verify`: zero-knowledge proofs that a block is on a medium.
//!
//! `commit` prints the MiMC-Merkle commitment over every 4096-byte block of the whole medium
//! (never of one volume: a per-volume commitment would reveal which blocks the volume holds).
//! `prove` writes a proof that one block is under that commitment without revealing which
//! block; `verify` checks a proof against the commitment and the block's leaf hash.
//!
//! With `--challenge SEED --samples K`, `prove` answers a retrievability challenge instead: it
//! proves that it holds the whole content of the `K` blocks the seed chooses, and `verify`
//! checks that answer against the commitment (see `qsmm_proof_halo2::challenge`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use qsmm_proof_halo2::held::BLOCK_LEN;
use qsmm_proof_halo2::{
    MembershipWitness, challenge::ChallengeProof, circuit::Disclosure, proof::MembershipProof,
};
use qsmm_proof_stub::merkle::MerkleTree;
use qsmm_proof_stub::{Commitment, ProofEncoding, hash};

/// Bytes per leaf: the medium's block size.
const BLOCK_SIZE: usize = BLOCK_LEN;

#[derive(Debug, Args)]
pub(crate) struct ProofArgs {
    #[command(subcommand)]
    command: ProofCommand,
}

#[derive(Debug, Subcommand)]
enum ProofCommand {
    /// Print the commitment (Merkle root) over every 4096-byte block of a medium.
    Commit(CommitArgs),
    /// Prove that one block is under the commitment, without revealing which; or, with
    /// --challenge, that the blocks a challenge seed chooses are held.
    Prove(ProveArgs),
    /// Verify a proof against a commitment and a leaf hash, or a challenge's answer.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct CommitArgs {
    /// The medium (an image file or a block device).
    medium: PathBuf,
    /// The generation number bound into the commitment.
    #[arg(long, default_value_t = 0)]
    generation: u64,
}

#[derive(Debug, Args)]
struct ProveArgs {
    /// The medium (an image file or a block device).
    medium: PathBuf,
    /// The block to prove (0-based); it stays private to the prover.
    #[arg(long, value_name = "N", required_unless_present = "challenge")]
    block: Option<u64>,
    /// Answer a retrievability challenge: the verifier's fresh seed chooses the blocks.
    #[arg(
        long,
        value_name = "SEED",
        conflicts_with = "block",
        requires = "samples"
    )]
    challenge: Option<String>,
    /// The number of blocks the challenge samples (1 to 64).
    #[arg(long, value_name = "K", requires = "challenge")]
    samples: Option<u16>,
    /// Where to write the proof.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The generation number bound into the commitment.
    #[arg(long, default_value_t = 0)]
    generation: u64,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The commitment printed by `qsmm proof commit` (64 hex digits).
    #[arg(long, value_name = "HEX")]
    root: String,
    /// The leaf hash of the block (64 hex digits), as `prove` prints it.
    #[arg(
        long,
        value_name = "HEX",
        required_unless_present_any = ["block_file", "challenge"]
    )]
    leaf_hash: Option<String>,
    /// Compute the leaf hash from this 4096-byte block instead.
    #[arg(long, value_name = "FILE", conflicts_with = "leaf_hash")]
    block_file: Option<PathBuf>,
    /// Check the answer to the retrievability challenge with this seed.
    #[arg(
        long,
        value_name = "SEED",
        conflicts_with_all = ["leaf_hash", "block_file"],
        requires = "samples"
    )]
    challenge: Option<String>,
    /// The number of blocks the challenge asked for.
    #[arg(long, value_name = "K", requires = "challenge")]
    samples: Option<u16>,
    /// The proof file written by `qsmm proof prove`.
    proof: PathBuf,
}

pub(crate) fn run(args: &ProofArgs) -> Result<(), String> {
    match &args.command {
        ProofCommand::Commit(args) => commit(args),
        ProofCommand::Prove(args) => prove(args),
        ProofCommand::Verify(args) => verify(args),
    }
}

fn commit(args: &CommitArgs) -> Result<(), String> {
    let tree = build_tree(&args.medium, args.generation)?;
    println!("root:       {}", tree.commitment());
    println!("blocks:     {}", tree.leaf_count());
    println!("depth:      {}", tree.depth());
    println!("generation: {}", tree.generation());
    Ok(())
}

fn prove(args: &ProveArgs) -> Result<(), String> {
    let tree = build_tree(&args.medium, args.generation)?;
    let block = match (args.block, &args.challenge, args.samples) {
        (Some(block), None, None) => block,
        (None, Some(seed), Some(samples)) => return prove_challenge(args, &tree, seed, samples),
        _ => return Err("give --block, or --challenge and --samples".into()),
    };
    let witness = MembershipWitness::from_tree(&tree, block).map_err(|e| e.to_string())?;
    let proof = qsmm_proof_halo2::prove(&witness, Disclosure::Hidden).map_err(|e| e.to_string())?;
    let bytes = proof.to_bytes();
    std::fs::write(&args.out, &bytes)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!("root:       {}", tree.commitment());
    println!("leaf hash:  {}", Commitment::from_field(witness.leaf()));
    println!("proof:      {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}

/// Answers a challenge: reads the chosen blocks back from the medium and proves they are held.
fn prove_challenge(
    args: &ProveArgs,
    tree: &MerkleTree,
    seed: &str,
    samples: u16,
) -> Result<(), String> {
    let medium = File::open(&args.medium)
        .map_err(|e| format!("cannot open {}: {e}", args.medium.display()))?;
    let read = |position: u64| {
        let mut block = [0u8; BLOCK_LEN];
        let offset = position.checked_mul(BLOCK_LEN as u64).ok_or(
            qsmm_proof_halo2::Error::BlockOutOfRange {
                block: position,
                count: tree.leaf_count(),
            },
        )?;
        medium.read_exact_at(&mut block, offset)?;
        Ok(block)
    };
    let proof = qsmm_proof_halo2::challenge::prove_challenge(tree, seed.as_bytes(), samples, read)
        .map_err(|e| e.to_string())?;
    let bytes = proof.to_bytes();
    std::fs::write(&args.out, &bytes)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    let asked = qsmm_proof_halo2::challenge::positions(
        &tree.commitment(),
        tree.leaf_count(),
        seed.as_bytes(),
        samples,
    )
    .map_err(|e| e.to_string())?;
    println!("root:       {}", tree.commitment());
    println!("blocks:     {}", tree.leaf_count());
    println!("challenged: {}", list(&asked));
    println!("proof:      {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}

/// Positions as a comma-separated list.
fn list(positions: &[u64]) -> String {
    positions
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn verify(args: &VerifyArgs) -> Result<(), String> {
    let root = parse_field(&args.root, "--root")?;
    if let (Some(seed), Some(samples)) = (&args.challenge, args.samples) {
        let bytes = read_bounded(&args.proof)?;
        let proof = ChallengeProof::from_bytes(&bytes)
            .map_err(|e| format!("{} is not a challenge proof: {e}", args.proof.display()))?;
        let asked =
            qsmm_proof_halo2::challenge::verify_challenge(&root, seed.as_bytes(), samples, &proof)
                .map_err(|_| "the proof does not verify".to_owned())?;
        println!(
            "verified: the {samples} challenged blocks of {} are held",
            proof.leaf_count()
        );
        println!("challenged: {}", list(&asked));
        return Ok(());
    }
    let leaf = match (&args.leaf_hash, &args.block_file) {
        (Some(hex), _) => parse_field(hex, "--leaf-hash")?.to_field(),
        (None, Some(path)) => {
            let block =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            hash::leaf(&block)
        }
        (None, None) => return Err("give --leaf-hash or --block-file".into()),
    };
    let bytes = read_bounded(&args.proof)?;
    let proof = MembershipProof::from_bytes(&bytes)
        .map_err(|e| format!("{} is not a proof: {e}", args.proof.display()))?;
    qsmm_proof_halo2::verify(&root, leaf, 0, &proof)
        .map_err(|_| "the proof does not verify".to_owned())?;
    println!("verified: the block is under the root (its position is not revealed)");
    Ok(())
}

/// Hashes every 4096-byte block of the medium, one block in memory at a time.
fn build_tree(path: &Path, generation: u64) -> Result<MerkleTree, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut leaves = Vec::new();
    let mut block = vec![0u8; BLOCK_SIZE];
    loop {
        let mut filled = 0;
        while filled < BLOCK_SIZE {
            let n = reader
                .read(&mut block[filled..])
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        match filled {
            0 => break,
            BLOCK_SIZE => leaves.push(hash::leaf(&block)),
            _ => {
                return Err(format!(
                    "{} is not a whole number of 4096-byte blocks",
                    path.display()
                ));
            }
        }
    }
    if leaves.len() < 2 {
        return Err("a medium needs at least two 4096-byte blocks for a proof".into());
    }
    MerkleTree::from_leaf_hashes(generation, leaves).map_err(|e| e.to_string())
}

/// A 64-digit hex field element in the commitment's byte order.
fn parse_field(hex_digits: &str, what: &str) -> Result<Commitment, String> {
    let bytes =
        hex::decode(hex_digits.trim()).map_err(|_| format!("{what} must be 64 hex digits"))?;
    Commitment::try_from_slice(&bytes).map_err(|_| format!("{what} is not a valid field element"))
}

/// Reads a proof file, refusing anything larger than a proof can be.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    // A challenge proof of 64 samples is at most 256 KiB.
    const LIMIT: u64 = 512 * 1024;
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > LIMIT {
        return Err(format!("{} is too large to be a proof", path.display()));
    }
    Ok(bytes)
}
