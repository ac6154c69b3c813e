//! `qsmm-proof-stub` beside the MiMC compressions it is made of: building a 4,096-leaf
//! MiMC-Merkle tree and verifying one inclusion proof.
//!
//! Leaves are 32-byte digests (the usual input of a commitment over large blocks): hashing a
//! 4 KiB block as a leaf takes 134 compressions, which would make one build take seconds and
//! measure leaf hashing rather than the tree.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ff::Field;
use getrandom::SysRng;
use pasta_curves::Fp;
use qsmm_proof_stub::merkle::{MerkleTree, MimcMerkle};
use qsmm_proof_stub::{IntegrityProver, IntegrityVerifier};
use qsmm_shatter::mimc;
use rand_core::UnwrapErr;

/// Leaves of the benchmarked tree.
const LEAVES: usize = 4096;
/// Bytes per leaf.
const LEAF_BYTES: usize = 32;
/// Compressions per 32-byte leaf: the length, then two 31-byte chunks.
const LEAF_COMPRESSIONS: usize = 1 + LEAF_BYTES.div_ceil(31);
/// Compressions per inner node.
const NODE_COMPRESSIONS: usize = 2;
/// Compressions of the root: generation, leaf count, top.
const ROOT_COMPRESSIONS: usize = 3;
/// Tree depth for [`LEAVES`].
const DEPTH: usize = LEAVES.trailing_zeros() as usize;

/// `count` chained `mimc::compress` calls: the raw cost of the same hashing.
fn raw_compressions(start: Fp, input: Fp, count: usize) -> Fp {
    let mut state = start;
    for _ in 0..count {
        state = mimc::compress(state, input);
    }
    state
}

fn tree(c: &mut Criterion) {
    let mut rng = UnwrapErr(SysRng);
    let blocks: Vec<[u8; LEAF_BYTES]> = (0..LEAVES)
        .map(|_| {
            let mut leaf = [0u8; LEAF_BYTES];
            getrandom::fill(&mut leaf).unwrap();
            leaf
        })
        .collect();
    let (a, b) = (Fp::random(&mut rng), Fp::random(&mut rng));

    let build_compressions =
        LEAVES * LEAF_COMPRESSIONS + (LEAVES - 1) * NODE_COMPRESSIONS + ROOT_COMPRESSIONS;
    let mut group = c.benchmark_group("proof/tree_build_4096");
    group.sample_size(10);
    group.bench_function("ours", |bench| {
        bench.iter(|| black_box(MerkleTree::build(7, black_box(&blocks)).unwrap()));
    });
    group.bench_function("raw", |bench| {
        bench.iter(|| black_box(raw_compressions(black_box(a), b, build_compressions)));
    });
    group.finish();

    let refs: Vec<&[u8]> = blocks.iter().map(|leaf| leaf.as_slice()).collect();
    let (commitment, tree) = MimcMerkle.commit(7, &refs).unwrap();
    let index = 1234;
    let proof = MimcMerkle.prove(&tree, index).unwrap();
    let verify_compressions = LEAF_COMPRESSIONS + DEPTH * NODE_COMPRESSIONS + ROOT_COMPRESSIONS;
    let mut group = c.benchmark_group("proof/verify_one");
    group.bench_function("ours", |bench| {
        bench.iter(|| {
            MimcMerkle
                .verify(
                    black_box(&commitment),
                    index,
                    black_box(&blocks[1234]),
                    black_box(&proof),
                )
                .unwrap();
        });
    });
    group.bench_function("raw", |bench| {
        bench.iter(|| black_box(raw_compressions(black_box(a), b, verify_compressions)));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = qsmm_benches::criterion();
    targets = tree
}
criterion_main!(benches);
