//! Interleaved A/B timing of the operations behind the performance targets: batches of ours and
//! of the raw primitive alternate, so load from other processes hits both sides alike (criterion
//! measures one side after the other). Prints the median batch time of each and `raw / ours`.
//!
//! Run with `cargo run --release -p qsmm-benches --example interleave`.
#![allow(clippy::unwrap_used, reason = "benchmark setup")]
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use getrandom::SysRng;
use ml_dsa::{MlDsa65, SigningKey};
use ml_kem::{Decapsulate, Encapsulate, Kem, MlKem768};
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_shield::dsa::{DsaKeypair, DsaLevel};
use qsmm_shield::kem::{KemKeypair, KemLevel};
use qsmm_types::Threshold;
use qsmm_types::{BlockId, SecretKey};
use qsmm_void::Namespace;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rand_core::UnwrapErr;
use std::hint::black_box;
use std::time::Instant;
use vsss_rs::Gf256;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ab(name: &str, a: impl FnMut(), b: impl FnMut()) {
    abn(name, 200, a, b);
}
fn abn(name: &str, n: usize, mut a: impl FnMut(), mut b: impl FnMut()) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        let s = Instant::now();
        for _ in 0..n {
            a();
        }
        ta.push(s.elapsed().as_secs_f64() / n as f64);
        let s = Instant::now();
        for _ in 0..n {
            b();
        }
        tb.push(s.elapsed().as_secs_f64() / n as f64);
    }
    let (ma, mb) = (median(ta), median(tb));
    println!(
        "{name}: ours {:.2} us raw {:.2} us raw/ours {:.2}",
        ma * 1e6,
        mb * 1e6,
        mb / ma
    );
}

fn main() {
    let ns = Namespace::new(SecretKey::generate(), b"bench medium").unwrap();
    let data = vec![0xa5u8; ns.capacity()];
    let id = BlockId(42);
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let cipher = XChaCha20Poly1305::new_from_slice(&key).unwrap();
    let aad = [7u8; 24];
    let mut out = vec![0u8; 4096];
    let mut block = vec![0xa5u8; 4096];
    let raw_seal = |block: &mut [u8]| {
        let (nonce, rest) = block.split_at_mut(24);
        getrandom::fill(nonce).unwrap();
        let nonce = XNonce::try_from(&*nonce).unwrap();
        let (body, tag_out) = rest.split_at_mut(rest.len() - 16);
        let tag = cipher
            .encrypt_inout_detached(&nonce, &aad, body.into())
            .unwrap();
        tag_out.copy_from_slice(&tag);
    };
    ab(
        "void/seal_4k",
        || {
            ns.seal_block_into(black_box(&data), id, &mut out).unwrap();
            black_box(&out);
        },
        || {
            raw_seal(black_box(&mut block));
            black_box(&block);
        },
    );
    let sealed = ns.seal_block(&data, id).unwrap();
    let mut raw_sealed = vec![0xa5u8; 4096];
    raw_seal(&mut raw_sealed);
    let mut plain = vec![0u8; 4096 - 40];
    ab(
        "void/open_4k",
        || {
            black_box(ns.open_block(black_box(&sealed), id).unwrap());
        },
        || {
            let (nonce, rest) = raw_sealed.split_at(24);
            let (body, tag) = rest.split_at(rest.len() - 16);
            let buf = InOutBuf::new(body, &mut plain).unwrap();
            assert!(
                cipher
                    .decrypt_inout_detached(
                        &XNonce::try_from(nonce).unwrap(),
                        &aad,
                        buf,
                        &Tag::try_from(tag).unwrap()
                    )
                    .is_ok()
            );
            black_box(&plain);
        },
    );

    let mut rng = UnwrapErr(SysRng);
    let ours = KemKeypair::generate(KemLevel::Kem768);
    let op = ours.public_key();
    let (rdk, rek) = MlKem768::generate_keypair_from_rng(&mut rng);
    abn(
        "ml_kem_encaps/768",
        10,
        || {
            black_box(op.encapsulate().unwrap());
        },
        || {
            black_box(rek.encapsulate_with_rng(&mut rng));
        },
    );
    let (oct, _) = op.encapsulate().unwrap();
    let (rct, _) = rek.encapsulate_with_rng(&mut rng);
    abn(
        "ml_kem_decaps/768",
        10,
        || {
            black_box(ours.secret_key().decapsulate(&oct).unwrap());
        },
        || {
            black_box(rdk.decapsulate(&rct));
        },
    );
    abn(
        "ml_kem_keygen/768",
        10,
        || {
            black_box(KemKeypair::generate(KemLevel::Kem768));
        },
        || {
            black_box(MlKem768::generate_keypair_from_rng(&mut rng));
        },
    );
    let msg = [0x42u8; 64];
    let od = DsaKeypair::generate(DsaLevel::Dsa65);
    let mut seed = ml_dsa::B32::default();
    getrandom::fill(&mut seed).unwrap();
    let rd = SigningKey::<MlDsa65>::from_seed(&seed);
    abn(
        "ml_dsa_sign/65",
        3,
        || {
            black_box(od.secret_key().sign(&msg).unwrap());
        },
        || {
            black_box(
                rd.expanded_key()
                    .sign_randomized(&msg, &[], &mut rng)
                    .unwrap(),
            );
        },
    );
    let osig = od.secret_key().sign(&msg).unwrap();
    let rsig = rd
        .expanded_key()
        .sign_randomized(&msg, &[], &mut rng)
        .unwrap();
    let rvk = rd.expanded_key().verifying_key();
    abn(
        "ml_dsa_verify/65",
        10,
        || {
            od.public_key().verify(&msg, &osig).unwrap();
        },
        || {
            assert!(rvk.verify_with_context(&msg, &[], &rsig));
        },
    );
    let mesh = MetadataMesh::new(MeshConfig::new(Threshold::try_new(3, 5).unwrap(), 1 << 24));
    let mk = SecretKey::generate();
    let md = vec![0x33u8; mesh.max_metadata_len()];
    let placements = mesh.shard_metadata(&md, &mk, b"hw").unwrap();
    let read: Vec<(BlockId, Vec<u8>)> = placements
        .iter()
        .take(3)
        .map(|p| (p.target_block, p.share.clone()))
        .collect();
    let rns = Namespace::new(SecretKey::generate(), b"hw").unwrap();
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).unwrap();
    let rshares = Gf256::split_bytes(3, 5, &md, ChaCha20Rng::from_seed(s)).unwrap();
    let rsealed: Vec<(BlockId, Vec<u8>)> = rshares
        .iter()
        .take(3)
        .zip(0u64..)
        .map(|(sh, i)| (BlockId(i), rns.seal_block(sh, BlockId(i)).unwrap()))
        .collect();
    abn(
        "reconstruct_metadata/3987B 3-of-5",
        3,
        || {
            black_box(mesh.reconstruct_metadata(&mk, b"hw", &read).unwrap());
        },
        || {
            let shares: Vec<Vec<u8>> = rsealed
                .iter()
                .map(|(id, b)| rns.open_block(b, *id).unwrap().unwrap())
                .collect();
            black_box(Gf256::combine_bytes(&shares).unwrap());
        },
    );
    abn(
        "shard_metadata/3987B 3-of-5",
        3,
        || {
            black_box(mesh.shard_metadata(&md, &mk, b"hw").unwrap());
        },
        || {
            let mut s = [0u8; 32];
            getrandom::fill(&mut s).unwrap();
            black_box(Gf256::split_bytes(3, 5, &md, ChaCha20Rng::from_seed(s)).unwrap());
        },
    );
}
