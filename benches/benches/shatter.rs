//! `qsmm-shatter` beside the raw primitives it is built on: MiMC-7 against 91 rounds of raw
//! Pallas field arithmetic, placement against the MiMC PRF calls it needs, and the metadata mesh
//! against raw `vsss-rs` GF(256) byte sharing (plus the block opens reconstruction needs), both
//! through `MetadataMesh` and through a prebuilt `KeyedMesh`.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ff::Field;
use getrandom::SysRng;
use pasta_curves::Fp;
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_shatter::mimc;
use qsmm_shatter::placement::Placer;
use qsmm_types::{BlockId, SecretKey, Threshold};
use qsmm_void::Namespace;
use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, UnwrapErr};
use vsss_rs::Gf256;

/// MiMC-7 rounds over Pallas.
const ROUNDS: usize = 91;

/// Blocks of the medium the mesh benchmarks place shares on (64 GiB of 4 KiB blocks).
const TOTAL_BLOCKS: u64 = 1 << 24;

/// 91 rounds of `x ← (x + k + c)^7` with plain field operations, then `x + k`.
fn raw_mimc(constants: &[Fp; ROUNDS], key: Fp, x: Fp) -> Fp {
    let mut state = x;
    for c in constants {
        let t = state + key + c;
        let t2 = t.square();
        let t4 = t2.square();
        state = t4 * t2 * t;
    }
    state + key
}

fn mimc_permutation(c: &mut Criterion) {
    let mut rng = UnwrapErr(SysRng);
    let mut constants = [Fp::ZERO; ROUNDS];
    for constant in constants.iter_mut().skip(1) {
        *constant = Fp::random(&mut rng);
    }
    let key = Fp::random(&mut rng);
    let x = Fp::random(&mut rng);
    // Build the constants table once, outside the measurement.
    black_box(mimc::round_constants());

    let mut group = c.benchmark_group("shatter/mimc7_permutation");
    group.bench_function("ours", |b| {
        b.iter(|| black_box(mimc::encrypt(black_box(key), black_box(x))));
    });
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_mimc(&constants, black_box(key), black_box(x))));
    });
    group.finish();
}

/// Placement of `n` distinct shard positions against the `n` MiMC PRF evaluations it is made
/// of (the raw side skips Floyd's bookkeeping and the reduction).
fn placement(c: &mut Criterion) {
    let placer = Placer::new(&SecretKey::generate(), b"bench medium");
    let key = Fp::random(&mut UnwrapErr(SysRng));
    let mut group = c.benchmark_group("shatter/placement");
    for n in [5usize, 255] {
        group.bench_function(BenchmarkId::new("ours", n), |b| {
            b.iter(|| {
                black_box(
                    placer
                        .distinct_positions(black_box(n), black_box(TOTAL_BLOCKS))
                        .unwrap(),
                )
            });
        });
        group.bench_function(BenchmarkId::new("raw", n), |b| {
            b.iter(|| {
                let m = n as u64;
                let out: Vec<Fp> = (0..m)
                    .map(|i| mimc::prf(key, Fp::from_raw([TOTAL_BLOCKS, m, i, 0])))
                    .collect();
                black_box(out)
            });
        });
    }
    group.finish();
}

fn chacha_from_os() -> ChaCha20Rng {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    ChaCha20Rng::from_seed(seed)
}

/// `shard_metadata` (placement + GF(256) split + n seals) against a raw GF(256) split of the
/// same bytes, and `reconstruct_metadata` from the `k` blocks it needs against `k` raw opens
/// plus a raw GF(256) combine.
fn mesh_case(c: &mut Criterion, len: usize, k: usize, n: usize) {
    let mesh = MetadataMesh::new(MeshConfig::new(
        Threshold::try_new(k, n).unwrap(),
        TOTAL_BLOCKS,
    ));
    let len = len.min(mesh.max_metadata_len());
    let key = SecretKey::generate();
    let hw = b"bench medium";
    let mut metadata = vec![0u8; len];
    getrandom::fill(&mut metadata).unwrap();
    let param = format!("{len}B {k}-of-{n}");

    let mut group = c.benchmark_group("shatter/shard_metadata");
    group.bench_function(BenchmarkId::new("ours", &param), |b| {
        b.iter(|| black_box(mesh.shard_metadata(black_box(&metadata), &key, hw).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", &param), |b| {
        b.iter(|| {
            let shares = Gf256::split_bytes(k, n, black_box(&metadata), chacha_from_os()).unwrap();
            black_box(shares)
        });
    });
    group.finish();

    // Ours: exactly the k blocks it needs. Raw: the same k opens, then the combine.
    let placements = mesh.shard_metadata(&metadata, &key, hw).unwrap();
    let read: Vec<(BlockId, Vec<u8>)> = placements
        .iter()
        .take(k)
        .map(|p| (p.target_block, p.share.clone()))
        .collect();
    let namespace = Namespace::new(SecretKey::generate(), hw).unwrap();
    let raw_shares = Gf256::split_bytes(k, n, &metadata, chacha_from_os()).unwrap();
    let raw_sealed: Vec<(BlockId, Vec<u8>)> = raw_shares
        .iter()
        .take(k)
        .zip(0u64..)
        .map(|(share, i)| (BlockId(i), namespace.seal_block(share, BlockId(i)).unwrap()))
        .collect();

    let mut group = c.benchmark_group("shatter/reconstruct_metadata");
    group.bench_function(BenchmarkId::new("ours", &param), |b| {
        b.iter(|| {
            let metadata = mesh
                .reconstruct_metadata(&key, hw, black_box(&read))
                .unwrap();
            black_box(metadata)
        });
    });
    group.bench_function(BenchmarkId::new("raw", &param), |b| {
        b.iter(|| {
            let shares: Vec<Vec<u8>> = black_box(&raw_sealed)
                .iter()
                .map(|(id, block)| namespace.open_block(block, *id).unwrap().unwrap())
                .collect();
            black_box(Gf256::combine_bytes(&shares).unwrap())
        });
    });
    group.finish();
}

/// The same two operations through a prebuilt `KeyedMesh` (positions and share namespace
/// computed once, outside the measurement), beside the same raw sides as the groups above.
fn keyed_mesh(c: &mut Criterion) {
    let (len, k, n) = (usize::MAX, 3, 5);
    let mesh = MetadataMesh::new(MeshConfig::new(
        Threshold::try_new(k, n).unwrap(),
        TOTAL_BLOCKS,
    ));
    let len = len.min(mesh.max_metadata_len());
    let key = SecretKey::generate();
    let hw = b"bench medium";
    let keyed = mesh.for_key(&key, hw).unwrap();
    let mut metadata = vec![0u8; len];
    getrandom::fill(&mut metadata).unwrap();
    let param = format!("{len}B {k}-of-{n}");

    let mut group = c.benchmark_group("shatter/keyed_shard_metadata");
    group.bench_function(BenchmarkId::new("ours", &param), |b| {
        b.iter(|| {
            black_box(
                keyed
                    .shard_metadata_generation(black_box(&metadata), 0)
                    .unwrap(),
            )
        });
    });
    group.bench_function(BenchmarkId::new("raw", &param), |b| {
        b.iter(|| {
            let shares = Gf256::split_bytes(k, n, black_box(&metadata), chacha_from_os()).unwrap();
            black_box(shares)
        });
    });
    group.finish();

    // Ours: exactly the k blocks it needs. Raw: the same k opens, then the combine.
    let placements = keyed.shard_metadata_generation(&metadata, 0).unwrap();
    let read: Vec<(BlockId, Vec<u8>)> = placements
        .iter()
        .take(k)
        .map(|p| (p.target_block, p.share.clone()))
        .collect();
    let namespace = Namespace::new(SecretKey::generate(), hw).unwrap();
    let raw_shares = Gf256::split_bytes(k, n, &metadata, chacha_from_os()).unwrap();
    let raw_sealed: Vec<(BlockId, Vec<u8>)> = raw_shares
        .iter()
        .take(k)
        .zip(0u64..)
        .map(|(share, i)| (BlockId(i), namespace.seal_block(share, BlockId(i)).unwrap()))
        .collect();

    let mut group = c.benchmark_group("shatter/keyed_reconstruct_metadata");
    group.bench_function(BenchmarkId::new("ours", &param), |b| {
        b.iter(|| black_box(keyed.read_latest(black_box(&read)).unwrap().into_metadata()));
    });
    group.bench_function(BenchmarkId::new("raw", &param), |b| {
        b.iter(|| {
            let shares: Vec<Vec<u8>> = black_box(&raw_sealed)
                .iter()
                .map(|(id, block)| namespace.open_block(block, *id).unwrap().unwrap())
                .collect();
            black_box(Gf256::combine_bytes(&shares).unwrap())
        });
    });
    group.finish();
}

fn mesh(c: &mut Criterion) {
    for (k, n) in [(3, 5), (5, 9)] {
        for len in [64, 1024, usize::MAX] {
            mesh_case(c, len, k, n);
        }
    }
}

criterion_group! {
    name = benches;
    config = qsmm_benches::criterion();
    targets = mimc_permutation, placement, mesh, keyed_mesh
}
criterion_main!(benches);
