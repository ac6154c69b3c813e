//! MiMC-Merkle commitment and verification, each beside the raw cost of the same number of
//! `mimc::compress` calls, so the overhead of the tree reads as a ratio.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ff::Field;
use qsmm_proof_stub::{IntegrityProver, IntegrityVerifier, MimcMerkle, hash};
use qsmm_shatter::mimc::{self, Fp};

/// Leaves of the benchmarked tree.
const LEAVES: usize = 4096;
/// `log2(LEAVES)`: siblings per proof.
const DEPTH: usize = 12;
const _: () = assert!(1 << DEPTH == LEAVES);
/// Bytes per leaf: one sealed block.
const BLOCK: usize = 4096;

/// Compressions to hash one block: its length, then one per 31-byte chunk.
const fn leaf_compressions(len: usize) -> usize {
    1 + len.div_ceil(hash::LEAF_CHUNK_LEN)
}

/// Compressions of a whole tree of `LEAVES` blocks (a power of two: no padding nodes), two per
/// inner node, three for the root.
const TREE_COMPRESSIONS: usize = LEAVES * leaf_compressions(BLOCK) + 2 * (LEAVES - 1) + 3;

/// Compressions to verify one proof: the leaf, two per level, three for the root.
const VERIFY_COMPRESSIONS: usize = leaf_compressions(BLOCK) + 2 * DEPTH + 3;

/// `count` chained compressions, the raw primitive our code is made of.
fn raw_compressions(count: usize) -> Fp {
    let mut state = Fp::ONE;
    let mut message = Fp::ZERO;
    for _ in 0..count {
        state = mimc::compress(state, message);
        message += Fp::ONE;
    }
    state
}

fn blocks() -> Vec<Vec<u8>> {
    (0..LEAVES)
        .map(|i| {
            (0..BLOCK)
                .map(|j| u8::try_from((i * 31 + j * 7) % 251).unwrap_or_default())
                .collect()
        })
        .collect()
}

fn tree(c: &mut Criterion) {
    let blocks = blocks();
    let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group(format!("proof/commit {LEAVES} x {BLOCK} B"));
    // One iteration takes seconds: the minimum sample count keeps the run short.
    group.sample_size(10);
    group.bench_function("mimc_merkle_commit", |b| {
        b.iter(|| MimcMerkle.commit(black_box(7), black_box(&refs)));
    });
    group.bench_function(format!("raw_compress x {TREE_COMPRESSIONS}"), |b| {
        b.iter(|| raw_compressions(black_box(TREE_COMPRESSIONS)));
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let blocks = blocks();
    let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
    let Ok((commitment, tree)) = MimcMerkle.commit(7, &refs) else {
        return;
    };
    let index = 1234;
    let Ok(proof) = MimcMerkle.prove(&tree, index) else {
        return;
    };
    let block = &blocks[1234];
    let mut group = c.benchmark_group(format!("proof/verify {LEAVES} x {BLOCK} B"));
    group.bench_function("mimc_merkle_verify", |b| {
        b.iter(|| {
            MimcMerkle.verify(
                black_box(&commitment),
                black_box(index),
                black_box(block),
                black_box(&proof),
            )
        });
    });
    group.bench_function(format!("raw_compress x {VERIFY_COMPRESSIONS}"), |b| {
        b.iter(|| raw_compressions(black_box(VERIFY_COMPRESSIONS)));
    });
    group.bench_function("mimc_merkle_prove", |b| {
        b.iter(|| MimcMerkle.prove(black_box(&tree), black_box(index)));
    });
    group.finish();
}

criterion_group!(benches, tree, verify);
criterion_main!(benches);
