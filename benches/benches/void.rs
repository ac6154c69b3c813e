//! `qsmm-void` beside the raw primitives it wraps: sealing and opening a 4 KiB block, and
//! encrypting a 4 KiB sector, against ChaCha20-Poly1305 from `ring` called directly (`raw`, the
//! crate the cipher is built on) and the RustCrypto `XChaCha20Poly1305` (`rustcrypto`, the
//! portable implementation); formatting a medium against filling the same bytes from a ChaCha20
//! RNG (in memory) or writing them to a file. `cargo xtask bench void` adds OpenSSL's figures.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::io::Write;

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use qsmm_types::{BlockId, SecretKey};
use qsmm_void::{FileDevice, MemoryDevice, Namespace, SectorCipher};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};

/// Bytes of a sealed block (the default block size).
const BLOCK: usize = 4096;
/// XChaCha20 nonce length.
const NONCE: usize = 24;
/// Poly1305 tag length.
const TAG: usize = 16;
/// Bytes of a formatted medium in the format benchmarks.
const MEDIUM: usize = 64 << 20;

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    key
}

/// The raw primitive under our cipher: ChaCha20-Poly1305 from `ring`, one fixed key.
fn ring_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &random_key()).unwrap())
}

/// Raw sealing of one block with `ring`: a fresh OS-random nonce at the start (24 bytes, the
/// last 12 used as the ChaCha20-Poly1305 nonce; no `HChaCha20`) and the AEAD over the rest of the
/// 4 KiB buffer in place, tag at the end (the layout of a sealed block, no padding logic).
fn ring_seal(key: &LessSafeKey, aad: &[u8], block: &mut [u8]) {
    let (nonce, rest) = block.split_at_mut(NONCE);
    getrandom::fill(nonce).unwrap();
    let nonce = Nonce::try_assume_unique_for_key(&nonce[12..]).unwrap();
    let (body, tag_out) = rest.split_at_mut(rest.len() - TAG);
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(aad), body)
        .unwrap();
    tag_out.copy_from_slice(tag.as_ref());
}

/// Raw opening of one block with `ring` into `out` (copied, then decrypted in place).
fn ring_open(key: &LessSafeKey, aad: &[u8], block: &[u8], out: &mut [u8]) -> bool {
    let (nonce, rest) = block.split_at(NONCE);
    let (body, tag) = rest.split_at(rest.len() - TAG);
    let nonce = Nonce::try_assume_unique_for_key(&nonce[12..]).unwrap();
    let tag = ring::aead::Tag::try_from(tag).unwrap();
    out.copy_from_slice(body);
    key.open_in_place_separate_tag(nonce, Aad::from(aad), tag, out, 0..)
        .is_ok()
}

/// Sealing of one block with the RustCrypto crate: as [`ring_seal`], XChaCha20-Poly1305.
fn rustcrypto_seal(cipher: &XChaCha20Poly1305, aad: &[u8], block: &mut [u8]) {
    let (nonce, rest) = block.split_at_mut(NONCE);
    getrandom::fill(nonce).unwrap();
    let nonce = XNonce::try_from(&*nonce).unwrap();
    let (body, tag_out) = rest.split_at_mut(rest.len() - TAG);
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, body.into())
        .unwrap();
    tag_out.copy_from_slice(&tag);
}

/// Opening of one block with the RustCrypto crate into `out` (no allocation).
fn rustcrypto_open(cipher: &XChaCha20Poly1305, aad: &[u8], block: &[u8], out: &mut [u8]) -> bool {
    let (nonce, rest) = block.split_at(NONCE);
    let (body, tag) = rest.split_at(rest.len() - TAG);
    let nonce = XNonce::try_from(nonce).unwrap();
    let tag = Tag::try_from(tag).unwrap();
    let buf = InOutBuf::new(body, out).unwrap();
    cipher
        .decrypt_inout_detached(&nonce, aad, buf, &tag)
        .is_ok()
}

fn seal_open(c: &mut Criterion) {
    let ns = Namespace::new(SecretKey::generate(), b"bench medium").unwrap();
    let data = vec![0xa5u8; ns.capacity()];
    let id = BlockId(42);

    let ring = ring_key();
    let rustcrypto = XChaCha20Poly1305::new_from_slice(&random_key()).unwrap();
    let aad = [7u8; 24];

    let mut group = c.benchmark_group("void/seal_4k");
    group.throughput(Throughput::Bytes(BLOCK as u64));
    let mut out = vec![0u8; BLOCK];
    group.bench_function("ours", |b| {
        b.iter(|| {
            ns.seal_block_into(black_box(&data), black_box(id), &mut out)
                .unwrap();
            black_box(&out);
        });
    });
    let mut block = vec![0xa5u8; BLOCK];
    group.bench_function("raw", |b| {
        b.iter(|| {
            ring_seal(&ring, black_box(&aad), black_box(&mut block));
            black_box(&block);
        });
    });
    group.bench_function("rustcrypto", |b| {
        b.iter(|| {
            rustcrypto_seal(&rustcrypto, black_box(&aad), black_box(&mut block));
            black_box(&block);
        });
    });
    group.finish();

    let mut group = c.benchmark_group("void/seal_4k_alloc");
    group.throughput(Throughput::Bytes(BLOCK as u64));
    group.bench_function("ours", |b| {
        b.iter(|| black_box(ns.seal_block(black_box(&data), black_box(id)).unwrap()));
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            let mut block = vec![0u8; BLOCK];
            block[NONCE..NONCE + data.len()].copy_from_slice(black_box(&data));
            ring_seal(&ring, black_box(&aad), &mut block);
            black_box(block)
        });
    });
    group.finish();

    let sealed = ns.seal_block(&data, id).unwrap();
    let mut ring_sealed = vec![0xa5u8; BLOCK];
    ring_seal(&ring, &aad, &mut ring_sealed);
    let mut rustcrypto_sealed = vec![0xa5u8; BLOCK];
    rustcrypto_seal(&rustcrypto, &aad, &mut rustcrypto_sealed);
    let mut plain = vec![0u8; BLOCK - NONCE - TAG];

    let mut group = c.benchmark_group("void/open_4k");
    group.throughput(Throughput::Bytes(BLOCK as u64));
    group.bench_function("ours", |b| {
        b.iter(|| black_box(ns.open_block(black_box(&sealed), black_box(id)).unwrap()));
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            assert!(ring_open(
                &ring,
                black_box(&aad),
                black_box(&ring_sealed),
                &mut plain
            ));
            black_box(&plain);
        });
    });
    group.bench_function("rustcrypto", |b| {
        b.iter(|| {
            assert!(rustcrypto_open(
                &rustcrypto,
                black_box(&aad),
                black_box(&rustcrypto_sealed),
                &mut plain
            ));
            black_box(&plain);
        });
    });
    group.finish();

    // Not ours: another key. Ours does the same work as for an own block (decrypt and
    // authenticate in one pass, compare, wipe, masked copy); the raw AEAD does the same pass.
    let stranger = Namespace::new(SecretKey::generate(), b"bench medium").unwrap();
    let wrong = ring_key();
    let mut group = c.benchmark_group("void/open_4k_wrong_key");
    group.throughput(Throughput::Bytes(BLOCK as u64));
    group.bench_function("ours", |b| {
        b.iter(|| {
            let opened = stranger
                .open_block(black_box(&sealed), black_box(id))
                .unwrap();
            assert!(opened.is_none());
        });
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            assert!(!ring_open(
                &wrong,
                black_box(&aad),
                black_box(&ring_sealed),
                &mut plain
            ));
        });
    });
    group.finish();

    // A volume sector: 4096 bytes of pure ciphertext, nonce and tag kept elsewhere.
    let sector_key = random_key();
    let cipher = SectorCipher::new(&sector_key);
    let raw_key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &sector_key).unwrap());
    let mut sector = vec![0x3cu8; BLOCK];
    let mut group = c.benchmark_group("void/sector_encrypt_4k");
    group.throughput(Throughput::Bytes(BLOCK as u64));
    group.bench_function("ours", |b| {
        b.iter(|| {
            black_box(cipher.encrypt_in_place_detached(
                black_box(&[9; 24]),
                black_box(b"sector"),
                &mut sector,
            ))
        });
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            let nonce = Nonce::assume_unique_for_key(black_box([9; 12]));
            black_box(
                raw_key
                    .seal_in_place_separate_tag(nonce, Aad::from(black_box(b"sector")), &mut sector)
                    .unwrap(),
            )
        });
    });
    group.finish();
}

fn format(c: &mut Criterion) {
    let mut group = c.benchmark_group("void/format_64m_memory");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(MEDIUM as u64));
    let blocks = (MEDIUM / BLOCK) as u64;
    group.bench_function("ours", |b| {
        let device = MemoryDevice::new(BLOCK, blocks).unwrap();
        b.iter(|| qsmm_void::format(black_box(&device)).unwrap());
    });
    group.bench_function("raw", |b| {
        b.iter_batched_ref(
            || vec![0u8; MEDIUM],
            |medium| {
                let mut rng = ChaCha20Rng::from_seed(random_key());
                rng.fill_bytes(medium);
                black_box(medium);
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();

    let mut group = c.benchmark_group("void/format_64m_file");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(MEDIUM as u64));
    let dir = tempfile::tempdir().unwrap();
    group.bench_function("ours", |b| {
        b.iter_batched(
            || FileDevice::create(dir.path().join("medium"), BLOCK, blocks).unwrap(),
            |device| {
                qsmm_void::format(&device).unwrap();
                device
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("raw", |b| {
        let mut chunk = vec![0u8; 1 << 20];
        b.iter_batched(
            || tempfile::NamedTempFile::new().unwrap(),
            |file| {
                let mut rng = ChaCha20Rng::from_seed(random_key());
                let mut handle = file.as_file();
                for _ in 0..MEDIUM / chunk.len() {
                    rng.fill_bytes(&mut chunk);
                    handle.write_all(&chunk).unwrap();
                }
                handle.sync_all().unwrap();
                file
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = qsmm_benches::criterion();
    targets = seal_open, format
}
criterion_main!(benches);
