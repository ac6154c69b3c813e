//! `qsmm-shield` beside the raw primitives it wraps: ML-KEM and ML-DSA at every level against
//! the `ml-kem` and `ml-dsa` crates, key wrapping against a raw KEM + HKDF + AEAD, X-Wing
//! against the `x-wing` crate, and the note scheme against raw ML-KEM-768 + HKDF + AES-256-GCM.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use getrandom::SysRng;
use hkdf::Hkdf;
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams, SigningKey};
use ml_kem::{Decapsulate, Encapsulate, FromSeed, Generate, Kem, MlKem512, MlKem768, MlKem1024};
use qsmm_shield::dsa::{DsaKeypair, DsaLevel};
use qsmm_shield::hybrid::XWingKeypair;
use qsmm_shield::kem::{KemKeypair, KemLevel};
use qsmm_shield::{note, wrap};
use qsmm_types::SecretKey;
use rand_core::UnwrapErr;
use sha2::Sha256;
use x_wing::Decapsulator as _;

/// Length of the note plaintext in the note benchmarks.
const NOTE_MESSAGE: usize = 1024;

/// Length of the signed message in the ML-DSA benchmarks.
const SIGNED_MESSAGE: usize = 64;

fn level_name(level: KemLevel) -> &'static str {
    match level {
        KemLevel::Kem512 => "512",
        KemLevel::Kem768 => "768",
        _ => "1024",
    }
}

/// Raw `ml-kem` keygen, encaps and decaps of one parameter set, beside ours.
fn ml_kem_level<K: Kem>(c: &mut Criterion, level: KemLevel)
where
    K::DecapsulationKey: Decapsulate,
{
    let name = level_name(level);
    let mut rng = UnwrapErr(SysRng);

    let mut group = c.benchmark_group("shield/ml_kem_keygen");
    group.bench_function(BenchmarkId::new("ours", name), |b| {
        b.iter(|| black_box(KemKeypair::generate(black_box(level))));
    });
    group.bench_function(BenchmarkId::new("raw", name), |b| {
        b.iter(|| black_box(K::generate_keypair_from_rng(&mut rng)));
    });
    group.finish();

    let ours = KemKeypair::generate(level);
    let ours_public = ours.public_key();
    let (raw_dk, raw_ek) = K::generate_keypair_from_rng(&mut rng);

    let mut group = c.benchmark_group("shield/ml_kem_encaps");
    group.bench_function(BenchmarkId::new("ours", name), |b| {
        b.iter(|| black_box(black_box(&ours_public).encapsulate().unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", name), |b| {
        b.iter(|| black_box(black_box(&raw_ek).encapsulate_with_rng(&mut rng)));
    });
    group.finish();

    let (ours_ct, _) = ours_public.encapsulate().unwrap();
    let (raw_ct, _) = raw_ek.encapsulate_with_rng(&mut rng);
    let mut group = c.benchmark_group("shield/ml_kem_decaps");
    group.bench_function(BenchmarkId::new("ours", name), |b| {
        b.iter(|| black_box(ours.secret_key().decapsulate(black_box(&ours_ct)).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", name), |b| {
        b.iter(|| black_box(raw_dk.decapsulate(black_box(&raw_ct))));
    });
    group.finish();
}

fn ml_kem(c: &mut Criterion) {
    ml_kem_level::<MlKem512>(c, KemLevel::Kem512);
    ml_kem_level::<MlKem768>(c, KemLevel::Kem768);
    ml_kem_level::<MlKem1024>(c, KemLevel::Kem1024);
}

/// The note scheme's seal and open of a 1 KiB message, against the primitives it is made of:
/// a fresh ML-KEM-768 key pair from a 64-byte OS seed, encapsulation, one HKDF-SHA256 over the
/// shared secret and a 32-byte classical secret, and AES-256-GCM with a random nonce.
fn notes(c: &mut Criterion) {
    let message = vec![0x5au8; NOTE_MESSAGE];

    let mut group = c.benchmark_group("shield/note_seal_1k");
    group.bench_function("ours", |b| {
        b.iter(|| black_box(note::seal_note(black_box(&message)).unwrap()));
    });
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_note_seal(black_box(&message))));
    });
    group.finish();

    let (stored, keys) = note::seal_note(&message).unwrap();
    let raw = raw_note_seal(&message);
    let (raw_dk, _) = MlKem768::from_seed(&raw.seed.into());
    let mut group = c.benchmark_group("shield/note_open_1k");
    group.bench_function("ours", |b| {
        b.iter(|| black_box(note::open_note(black_box(&stored), black_box(&keys)).unwrap()));
    });
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_note_open(&raw_dk, black_box(&raw))));
    });
    group.finish();
}

/// What the raw note construction stores and hands to the recipient.
struct RawNote {
    seed: [u8; 64],
    classical: [u8; 32],
    ct_kem: ml_kem::ml_kem_768::Ciphertext,
    nonce: [u8; 12],
    ciphertext: Vec<u8>,
    tag: aes_gcm::Tag,
}

/// The raw key schedule shared by raw sealing and opening.
fn raw_note_cipher(shared: &[u8], classical: &[u8; 32]) -> Aes256Gcm {
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(shared);
    ikm[32..].copy_from_slice(classical);
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, &ikm)
        .expand(b"raw note", &mut key)
        .unwrap();
    Aes256Gcm::new_from_slice(&key).unwrap()
}

fn raw_note_seal(message: &[u8]) -> RawNote {
    let mut seed = [0u8; 64];
    let mut classical = [0u8; 32];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut seed).unwrap();
    getrandom::fill(&mut classical).unwrap();
    getrandom::fill(&mut nonce).unwrap();
    let (_, ek) = MlKem768::from_seed(&seed.into());
    let (ct_kem, shared) = ek.encapsulate_with_rng(&mut UnwrapErr(SysRng));
    let cipher = raw_note_cipher(&shared, &classical);
    let mut ciphertext = message.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(nonce), b"", ciphertext.as_mut_slice().into())
        .unwrap();
    RawNote {
        seed,
        classical,
        ct_kem,
        nonce,
        ciphertext,
        tag,
    }
}

fn raw_note_open(dk: &<MlKem768 as Kem>::DecapsulationKey, note: &RawNote) -> Vec<u8> {
    let shared = dk.decapsulate(&note.ct_kem);
    let cipher = raw_note_cipher(&shared, &note.classical);
    let mut plaintext = note.ciphertext.clone();
    cipher
        .decrypt_inout_detached(
            &Nonce::from(note.nonce),
            b"",
            plaintext.as_mut_slice().into(),
            &note.tag,
        )
        .unwrap();
    plaintext
}

/// Raw `ml-dsa` hedged signing (32 OS-random bytes, empty context) and verification of a
/// decoded signature, beside ours.
fn ml_dsa_level<P: MlDsaParams>(c: &mut Criterion, level: DsaLevel, name: &str) {
    let message = [0x42u8; SIGNED_MESSAGE];
    let ours = DsaKeypair::generate(level);
    let mut seed = ml_dsa::B32::default();
    getrandom::fill(&mut seed).unwrap();
    let raw = SigningKey::<P>::from_seed(&seed);
    let mut rng = UnwrapErr(SysRng);

    let mut group = c.benchmark_group("shield/ml_dsa_sign");
    group.bench_function(BenchmarkId::new("ours", name), |b| {
        b.iter(|| black_box(ours.secret_key().sign(black_box(&message)).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", name), |b| {
        b.iter(|| {
            black_box(
                raw.expanded_key()
                    .sign_randomized(black_box(&message), &[], &mut rng)
                    .unwrap(),
            )
        });
    });
    group.finish();

    let ours_signature = ours.secret_key().sign(&message).unwrap();
    let raw_signature = raw
        .expanded_key()
        .sign_randomized(&message, &[], &mut rng)
        .unwrap();
    let raw_public = raw.expanded_key().verifying_key();
    let mut group = c.benchmark_group("shield/ml_dsa_verify");
    group.bench_function(BenchmarkId::new("ours", name), |b| {
        b.iter(|| {
            ours.public_key()
                .verify(black_box(&message), black_box(&ours_signature))
                .unwrap();
        });
    });
    group.bench_function(BenchmarkId::new("raw", name), |b| {
        b.iter(|| {
            assert!(raw_public.verify_with_context(
                black_box(&message),
                &[],
                black_box(&raw_signature)
            ));
        });
    });
    group.finish();
}

fn ml_dsa(c: &mut Criterion) {
    ml_dsa_level::<MlDsa44>(c, DsaLevel::Dsa44, "44");
    ml_dsa_level::<MlDsa65>(c, DsaLevel::Dsa65, "65");
    ml_dsa_level::<MlDsa87>(c, DsaLevel::Dsa87, "87");
}

/// X-Wing encapsulation and decapsulation against the `x-wing` crate.
fn xwing(c: &mut Criterion) {
    let mut rng = UnwrapErr(SysRng);
    let ours = XWingKeypair::generate();
    let raw_dk = x_wing::DecapsulationKey::generate_from_rng(&mut rng);
    let raw_ek = raw_dk.encapsulation_key().clone();

    let mut group = c.benchmark_group("shield/xwing_encaps");
    group.bench_function("ours", |b| {
        b.iter(|| black_box(ours.public_key().encapsulate().unwrap()));
    });
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_ek.encapsulate_with_rng(&mut rng)));
    });
    group.finish();

    let (ours_ct, _) = ours.public_key().encapsulate().unwrap();
    let (raw_ct, _) = raw_ek.encapsulate_with_rng(&mut rng);
    let mut group = c.benchmark_group("shield/xwing_decaps");
    group.bench_function("ours", |b| {
        b.iter(|| black_box(ours.secret_key().decapsulate(black_box(&ours_ct))));
    });
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_dk.decapsulate(black_box(&raw_ct))));
    });
    group.finish();
}

/// The raw construction `wrap_key` stands on: the KEM's shared secret through HKDF-SHA256 to an
/// XChaCha20-Poly1305 key and nonce, sealing the 32-byte key.
fn raw_wrap_cipher(shared: &[u8]) -> (XChaCha20Poly1305, XNonce) {
    let mut okm = [0u8; 56];
    Hkdf::<Sha256>::new(None, shared)
        .expand(b"raw wrap", &mut okm)
        .unwrap();
    let cipher = XChaCha20Poly1305::new_from_slice(&okm[..32]).unwrap();
    (cipher, XNonce::try_from(&okm[32..]).unwrap())
}

fn raw_wrap(shared: &[u8], key: &[u8; 32]) -> ([u8; 32], chacha20poly1305::Tag) {
    let (cipher, nonce) = raw_wrap_cipher(shared);
    let mut sealed = *key;
    let tag = cipher
        .encrypt_inout_detached(&nonce, b"", sealed.as_mut_slice().into())
        .unwrap();
    (sealed, tag)
}

fn raw_unwrap(shared: &[u8], sealed: &([u8; 32], chacha20poly1305::Tag)) -> [u8; 32] {
    let (cipher, nonce) = raw_wrap_cipher(shared);
    let mut key = sealed.0;
    cipher
        .decrypt_inout_detached(&nonce, b"", key.as_mut_slice().into(), &sealed.1)
        .unwrap();
    key
}

/// `wrap_key` / `unwrap_key` for one ML-KEM level against raw ML-KEM + HKDF + AEAD.
fn wrap_level<K: Kem>(c: &mut Criterion, level: KemLevel)
where
    K::DecapsulationKey: Decapsulate,
{
    let name = format!("ML-KEM-{}", level_name(level));
    let key = SecretKey::generate();
    let raw_key = [9u8; 32];
    let mut rng = UnwrapErr(SysRng);
    let ours = KemKeypair::generate(level);
    let ours_public = ours.public_key();
    let (raw_dk, raw_ek) = K::generate_keypair_from_rng(&mut rng);

    let mut group = c.benchmark_group("shield/wrap_key");
    group.bench_function(BenchmarkId::new("ours", &name), |b| {
        b.iter(|| black_box(wrap::wrap_key(black_box(ours_public), &key).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", &name), |b| {
        b.iter(|| {
            let (ct, shared) = raw_ek.encapsulate_with_rng(&mut rng);
            black_box((ct, raw_wrap(&shared, black_box(&raw_key))))
        });
    });
    group.finish();

    let wrapped = wrap::wrap_key(ours_public, &key).unwrap();
    let (raw_ct, raw_shared) = raw_ek.encapsulate_with_rng(&mut rng);
    let raw_sealed = raw_wrap(&raw_shared, &raw_key);
    let mut group = c.benchmark_group("shield/unwrap_key");
    group.bench_function(BenchmarkId::new("ours", &name), |b| {
        b.iter(|| black_box(wrap::unwrap_key(ours.secret_key(), black_box(&wrapped)).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", &name), |b| {
        b.iter(|| {
            let shared = raw_dk.decapsulate(black_box(&raw_ct));
            black_box(raw_unwrap(&shared, black_box(&raw_sealed)))
        });
    });
    group.finish();
}

/// `wrap_key` / `unwrap_key` with X-Wing against raw `x-wing` + HKDF + AEAD.
fn wrap_xwing(c: &mut Criterion) {
    let name = "X-Wing";
    let key = SecretKey::generate();
    let raw_key = [9u8; 32];
    let mut rng = UnwrapErr(SysRng);
    let ours = XWingKeypair::generate();
    let raw_dk = x_wing::DecapsulationKey::generate_from_rng(&mut rng);
    let raw_ek = raw_dk.encapsulation_key().clone();

    let mut group = c.benchmark_group("shield/wrap_key");
    group.bench_function(BenchmarkId::new("ours", name), |b| {
        b.iter(|| black_box(wrap::wrap_key(black_box(ours.public_key()), &key).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", name), |b| {
        b.iter(|| {
            let (ct, shared) = raw_ek.encapsulate_with_rng(&mut rng);
            black_box((ct, raw_wrap(&shared, black_box(&raw_key))))
        });
    });
    group.finish();

    let wrapped = wrap::wrap_key(ours.public_key(), &key).unwrap();
    let (raw_ct, raw_shared) = raw_ek.encapsulate_with_rng(&mut rng);
    let raw_sealed = raw_wrap(&raw_shared, &raw_key);
    let mut group = c.benchmark_group("shield/unwrap_key");
    group.bench_function(BenchmarkId::new("ours", name), |b| {
        b.iter(|| black_box(wrap::unwrap_key(ours.secret_key(), black_box(&wrapped)).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", name), |b| {
        b.iter(|| {
            let shared = raw_dk.decapsulate(black_box(&raw_ct));
            black_box(raw_unwrap(&shared, black_box(&raw_sealed)))
        });
    });
    group.finish();
}

fn wrapping(c: &mut Criterion) {
    wrap_level::<MlKem512>(c, KemLevel::Kem512);
    wrap_level::<MlKem768>(c, KemLevel::Kem768);
    wrap_level::<MlKem1024>(c, KemLevel::Kem1024);
    wrap_xwing(c);
}

criterion_group! {
    name = benches;
    config = qsmm_benches::criterion();
    targets = ml_kem, ml_dsa, xwing, wrapping, notes
}
criterion_main!(benches);
