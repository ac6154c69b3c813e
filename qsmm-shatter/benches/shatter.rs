//! Criterion benchmarks of qsmm-shatter, each beside the raw primitive it wraps.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness")]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ff::Field;
use qsmm_shatter::mimc::{self, Fp};
use qsmm_shatter::placement::Placer;
use qsmm_shatter::{BlockId, MeshConfig, MetadataMesh, SecretKey, Threshold};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use vsss_rs::Gf256;

fn mimc_permutation(c: &mut Criterion) {
    let mut group = c.benchmark_group("mimc");
    let (key, x) = (Fp::from(3u64), Fp::from(5u64));
    group.bench_function("encrypt (91 rounds)", |b| {
        b.iter(|| mimc::encrypt(black_box(key), black_box(x)));
    });
    group.bench_function("raw 91 x^7", |b| {
        b.iter(|| {
            let mut s = black_box(x);
            for _ in 0..mimc::ROUNDS {
                s = s.pow_vartime([mimc::EXPONENT]);
            }
            s
        });
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| mimc::decrypt(black_box(key), black_box(x)));
    });
    group.finish();
}

fn placement(c: &mut Criterion) {
    let mut group = c.benchmark_group("placement");
    let placer = Placer::new(&SecretKey::from_bytes([1; 32]), b"hw");
    for n in [5usize, 255] {
        let t = Threshold::try_new(2, n).unwrap();
        group.bench_with_input(BenchmarkId::new("both slots", n), &t, |b, t| {
            b.iter(|| placer.slots(*t, black_box(1 << 30)).unwrap());
        });
    }
    group.finish();
}

fn mesh(c: &mut Criterion) {
    let mut group = c.benchmark_group("mesh 3-of-5");
    let mesh = MetadataMesh::new(MeshConfig::new(Threshold::new(3, 5), 100_000)).unwrap();
    let key = SecretKey::from_bytes([2; 32]);
    for len in [64usize, 1024, mesh.max_metadata_len()] {
        let metadata = vec![0xa5u8; len];
        group.bench_with_input(
            BenchmarkId::new("shard_metadata", len),
            &metadata,
            |b, m| {
                b.iter(|| mesh.shard_metadata(black_box(m), &key, b"hw").unwrap());
            },
        );
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        group.bench_with_input(
            BenchmarkId::new("raw vsss-rs Gf256 split", len),
            &metadata,
            |b, m| {
                b.iter(|| Gf256::split_bytes(3, 5, black_box(m), &mut rng).unwrap());
            },
        );
        let placements = mesh.shard_metadata(&metadata, &key, b"hw").unwrap();
        let read: Vec<(BlockId, Vec<u8>)> = placements
            .iter()
            .map(|p| (p.target_block, p.share.clone()))
            .collect();
        group.bench_with_input(
            BenchmarkId::new("reconstruct_metadata", len),
            &read,
            |b, r| {
                b.iter(|| {
                    mesh.reconstruct_metadata(&key, b"hw", black_box(r))
                        .unwrap()
                });
            },
        );
        let raw = Gf256::split_bytes(3, 5, &metadata, &mut rng).unwrap();
        let raw3 = raw[..3].to_vec();
        group.bench_with_input(
            BenchmarkId::new("raw vsss-rs Gf256 combine", len),
            &raw3,
            |b, s| {
                b.iter(|| Gf256::combine_bytes(black_box(s)).unwrap());
            },
        );
    }
    group.finish();
}

criterion_group!(benches, mimc_permutation, placement, mesh);
criterion_main!(benches);
