//! `qsmm-proof-stub` beside the MiMC compressions it is made of: building a 4,096-leaf
//! MiMC-Merkle tree and verifying one inclusion proof. `qsmm-proof-halo2` beside the native
//! computation its circuits prove: a zero-knowledge membership proof of depth 20 (prove,
//! verify) beside the native path from leaf to commitment, and a one-sample retrievability
//! challenge (prove, verify) beside the native leaf hash and path of one 4096-byte block.
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
use qsmm_proof_halo2::{MembershipWitness, challenge, circuit::Disclosure, keys};
use qsmm_proof_stub::merkle::{MerkleTree, MimcMerkle};
use qsmm_proof_stub::{IntegrityProver, IntegrityVerifier, hash};
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

/// Depth of the benchmarked zero-knowledge membership proof (the default: a 4 GiB medium).
const ZK_DEPTH: u32 = 20;

/// Zero-knowledge membership at depth 20, position hidden, beside the native path it proves
/// (`witness.commitment()`: 2 compressions per level and 3 for the root).
fn halo2_membership(c: &mut Criterion) {
    let mut rng = UnwrapErr(SysRng);
    let siblings = (0..ZK_DEPTH).map(|_| Fp::random(&mut rng)).collect();
    let witness =
        MembershipWitness::new(Fp::random(&mut rng), 0x5_a5a5, siblings, 1, 1 << ZK_DEPTH).unwrap();
    keys::keys(ZK_DEPTH, Disclosure::Hidden).unwrap();
    let commitment = witness.commitment();
    let proof = qsmm_proof_halo2::prove(&witness, Disclosure::Hidden).unwrap();

    let mut group = c.benchmark_group("proof/halo2_prove_d20");
    group.sample_size(10);
    group.bench_function("ours", |bench| {
        bench.iter(|| black_box(qsmm_proof_halo2::prove(&witness, Disclosure::Hidden).unwrap()));
    });
    group.bench_function("raw", |bench| {
        bench.iter(|| black_box(black_box(&witness).commitment()));
    });
    group.finish();

    let mut group = c.benchmark_group("proof/halo2_verify_d20");
    group.sample_size(10);
    group.bench_function("ours", |bench| {
        bench.iter(|| {
            qsmm_proof_halo2::verify(&commitment, witness.leaf(), 0, black_box(&proof)).unwrap();
        });
    });
    group.bench_function("raw", |bench| {
        bench.iter(|| black_box(black_box(&witness).commitment()));
    });
    group.finish();
}

/// A one-sample retrievability challenge on a 5-block medium (its circuit has `k = 11`, as at
/// every depth up to 30, so the cost is that of a 4 GiB medium) beside the native leaf hash and
/// path of one block.
fn halo2_challenge(c: &mut Criterion) {
    let blocks: Vec<[u8; 4096]> = (0..5)
        .map(|_| {
            let mut block = [0u8; 4096];
            getrandom::fill(&mut block).unwrap();
            block
        })
        .collect();
    let tree = MerkleTree::build(1, &blocks).unwrap();
    let commitment = tree.commitment();
    let read = |i: u64| Ok(blocks[usize::try_from(i).unwrap()]);
    keys::held_block_keys(tree.depth()).unwrap();
    let proof = challenge::prove_challenge(&tree, b"seed", 1, read).unwrap();
    let native = |block: &[u8; 4096]| {
        let path = tree.prove(0).unwrap();
        let mut acc = hash::leaf(block);
        for sibling in path.siblings() {
            acc = hash::node(acc, *sibling);
        }
        hash::root(1, 5, acc)
    };

    let mut group = c.benchmark_group("proof/halo2_challenge_prove_1");
    group.sample_size(10);
    group.bench_function("ours", |bench| {
        bench.iter(|| black_box(challenge::prove_challenge(&tree, b"seed", 1, read).unwrap()));
    });
    group.bench_function("raw", |bench| {
        bench.iter(|| black_box(native(black_box(&blocks[0]))));
    });
    group.finish();

    let mut group = c.benchmark_group("proof/halo2_challenge_verify_1");
    group.sample_size(10);
    group.bench_function("ours", |bench| {
        bench.iter(|| {
            challenge::verify_challenge(&commitment, b"seed", 1, black_box(&proof)).unwrap();
        });
    });
    group.bench_function("raw", |bench| {
        bench.iter(|| black_box(native(black_box(&blocks[0]))));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = qsmm_benches::criterion();
    targets = tree, halo2_membership, halo2_challenge
}
criterion_main!(benches);
