//! Answers a retrievability challenge on a medium of random 4096-byte blocks and checks it.
//!
//! ```text
//! cargo run --release -p qsmm-proof-halo2 --example challenge -- [--blocks N] [--samples K] [--tamper]
//! ```
//!
//! Prints the circuit size, the proof size, the timings of key generation, proving and
//! verifying, and `verified: true` (or `false` with `--tamper`, which flips one byte of the
//! proof). The cost depends on `k` only: every depth up to 30 has `k = 11`, depths 31 and 32
//! `k = 12`.

use std::process::ExitCode;
use std::time::Instant;

use qsmm_proof_halo2::challenge::{ChallengeProof, prove_challenge, verify_challenge};
use qsmm_proof_halo2::held::{BLOCK_LEN, k_for_held_block, rows_for_held_block};
use qsmm_proof_halo2::keys;
use qsmm_proof_stub::ProofEncoding;
use qsmm_proof_stub::merkle::MerkleTree;
use rand::Rng as _;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut blocks = 5usize;
    let mut samples = 4u16;
    let mut tamper = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--blocks" => {
                blocks = args
                    .next()
                    .and_then(|d| d.parse().ok())
                    .ok_or("--blocks needs a number")?;
            }
            "--samples" => {
                samples = args
                    .next()
                    .and_then(|d| d.parse().ok())
                    .ok_or("--samples needs a number in 1..=64")?;
            }
            "--tamper" => tamper = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }

    let mut rng = rand::rng();
    let medium: Vec<[u8; BLOCK_LEN]> = (0..blocks)
        .map(|_| {
            let mut block = [0u8; BLOCK_LEN];
            rng.fill_bytes(&mut block);
            block
        })
        .collect();
    let tree = MerkleTree::build(1, &medium).map_err(|e| e.to_string())?;
    let depth = tree.depth();
    println!(
        "blocks: {blocks}, depth: {depth}, rows per sample: {}, k: {} ({} rows)",
        rows_for_held_block(depth),
        k_for_held_block(depth),
        1u64 << k_for_held_block(depth)
    );

    let (start, cpu) = (Instant::now(), cpu_seconds());
    keys::held_block_keys(depth).map_err(|e| e.to_string())?;
    report("keygen (params + vk + pk)", start, cpu);

    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let read = |i: u64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| medium.get(i).copied())
            .ok_or(qsmm_proof_halo2::Error::BlockOutOfRange {
                block: i,
                count: tree.leaf_count(),
            })
    };
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let proof = prove_challenge(&tree, &seed, samples, read).map_err(|e| e.to_string())?;
    report(&format!("prove ({samples} samples)"), start, cpu);
    let mut bytes = proof.to_bytes();
    println!("proof size: {} bytes", bytes.len());
    if tamper {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        println!("tampered: flipped one bit of byte {middle}");
    }

    let (start, cpu) = (Instant::now(), cpu_seconds());
    // Verification is short next to the CPU clock's 10 ms tick: the mean of several runs.
    let mut verified = true;
    for _ in 0..VERIFY_RUNS {
        verified &= ChallengeProof::from_bytes(&bytes)
            .and_then(|p| verify_challenge(&tree.commitment(), &seed, samples, &p))
            .is_ok();
    }
    report_mean("verify", start, cpu, VERIFY_RUNS);
    println!("verified: {verified}");
    Ok(())
}

/// Runs of the verification whose mean is printed.
const VERIFY_RUNS: u32 = 10;

/// Prints wall-clock and process CPU time since `start` / `cpu`.
fn report(what: &str, start: Instant, cpu: Option<f64>) {
    report_mean(what, start, cpu, 1);
}

/// As [`report`], for `runs` runs of the same operation: prints the time of one run.
fn report_mean(what: &str, start: Instant, cpu: Option<f64>, runs: u32) {
    let runs_f = f64::from(runs);
    let wall = start.elapsed().as_secs_f64() * 1e3 / runs_f;
    let what = if runs > 1 {
        format!("{what} (mean of {runs})")
    } else {
        what.to_owned()
    };
    match (cpu, cpu_seconds()) {
        (Some(before), Some(after)) => {
            println!(
                "{what}: {wall:.1} ms wall, {:.1} ms cpu",
                (after - before) * 1e3 / runs_f
            );
        }
        _ => println!("{what}: {wall:.1} ms wall"),
    }
}

/// User + system CPU time of this process, from `/proc/self/stat` (Linux; `None` elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
