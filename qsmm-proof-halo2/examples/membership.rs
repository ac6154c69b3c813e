//! Proves and verifies membership of a random leaf in a MiMC-Merkle tree, position hidden.
//!
//! ```text
//! cargo run --release -p qsmm-proof-halo2 --example membership -- --depth 20 [--tamper]
//! ```
//!
//! Prints the circuit size, the proof size, the timings of key generation, proving and
//! verifying, and `verified: true` (or `false` with `--tamper`, which flips one byte of the
//! proof). Also checks that the proof does not verify as a proof of depth + 1.

use std::process::ExitCode;
use std::time::Instant;

use ff::Field;
use qsmm_proof_halo2::circuit::{DEFAULT_DEPTH, MAX_DEPTH, k_for_depth, rows_for_depth};
use qsmm_proof_halo2::{MembershipWitness, circuit::Disclosure, keys, proof::MembershipProof};
use qsmm_proof_stub::ProofEncoding;
use qsmm_shatter::mimc::Fp;

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
    let mut depth = DEFAULT_DEPTH;
    let mut tamper = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--depth" => {
                depth = args
                    .next()
                    .and_then(|d| d.parse().ok())
                    .ok_or("--depth needs a number in 1..=32")?;
            }
            "--tamper" => tamper = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }

    let mut rng = rand::rng();
    let siblings = (0..depth).map(|_| Fp::random(&mut rng)).collect();
    let position = (0x5a5a_5a5a_u64) & ((1u64 << depth) - 1);
    let witness = MembershipWitness::new(Fp::random(&mut rng), position, siblings, 1, 1 << depth)
        .map_err(|e| e.to_string())?;
    let commitment = witness.commitment();
    println!(
        "depth: {depth}, rows: {}, k: {} ({} rows)",
        rows_for_depth(depth),
        k_for_depth(depth),
        1u64 << k_for_depth(depth)
    );

    let (start, cpu) = (Instant::now(), cpu_seconds());
    keys::keys(depth, Disclosure::Hidden).map_err(|e| e.to_string())?;
    report("keygen (params + vk + pk)", start, cpu);

    let (start, cpu) = (Instant::now(), cpu_seconds());
    let proof = qsmm_proof_halo2::prove(&witness, Disclosure::Hidden).map_err(|e| e.to_string())?;
    report("prove", start, cpu);
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
        verified &= MembershipProof::from_bytes(&bytes)
            .and_then(|p| qsmm_proof_halo2::verify(&commitment, witness.leaf(), 0, &p))
            .is_ok();
    }
    report_mean("verify", start, cpu, VERIFY_RUNS);
    println!("verified: {verified}");

    if depth < MAX_DEPTH && !tamper {
        let mut relabelled = proof.to_bytes();
        relabelled[1] += 1;
        let as_deeper = MembershipProof::from_bytes(&relabelled)
            .and_then(|p| qsmm_proof_halo2::verify(&commitment, witness.leaf(), 0, &p))
            .is_ok();
        println!("verified as depth {}: {as_deeper}", depth + 1);
    }
    Ok(())
}

/// Runs of the verification whose mean is printed.
const VERIFY_RUNS: u32 = 10;

/// Prints wall-clock and process CPU time since `start` / `cpu` (the CPU time tells the cost on a
/// shared machine, where wall-clock time includes waiting for a core).
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
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some((utime + stime) / 100.0)
}
