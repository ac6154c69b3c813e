//! The AEAD and the sealed-block format against the `RustCrypto` `chacha20poly1305` crate (the
//! portable implementation the crate used before, kept as the oracle) and published vectors:
//! blocks sealed by either open with the other, and fixed inputs give pinned bytes.
#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use qsmm_types::{BlockId, SecretKey};
use qsmm_types::{derive_subkey, labels};
use qsmm_void::{BlockSealer, BlockSize, SectorCipher};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const HW: &[u8] = b"known-answer medium";

/// draft-irtf-cfrg-xchacha-03, appendix A.3.1: the XChaCha20-Poly1305 AEAD test vector.
#[test]
fn draft_xchacha_vector() {
    let key: [u8; 32] =
        hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .unwrap()
            .try_into()
            .unwrap();
    let nonce: [u8; 24] = hex::decode("404142434445464748494a4b4c4d4e4f5051525354555657")
        .unwrap()
        .try_into()
        .unwrap();
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one \
tip for the future, sunscreen would be it.";
    let ciphertext = "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4a\
a6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc3694\
88f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e";
    let tag = "c0875924c1c7987947deafd8780acf49";

    let cipher = SectorCipher::new(&key);
    let mut buf = plaintext.to_vec();
    let got_tag = cipher.encrypt_in_place_detached(&nonce, &aad, &mut buf);
    assert_eq!(hex::encode(&buf), ciphertext);
    assert_eq!(hex::encode(got_tag), tag);
    cipher
        .decrypt_in_place_detached(&nonce, &aad, &mut buf, &got_tag)
        .unwrap();
    assert_eq!(buf, plaintext);
}

/// A sealed block built by hand with the oracle, exactly as the crate's first version sealed:
/// nonce ‖ XChaCha20-Poly1305(length ‖ data ‖ zeros, AAD = domain ‖ id) ‖ tag.
fn oracle_seal(key: &SecretKey, size: usize, nonce: [u8; 24], id: BlockId, data: &[u8]) -> Vec<u8> {
    let subkey = derive_subkey(key, HW, labels::VOID_SEAL);
    let cipher = XChaCha20Poly1305::new_from_slice(subkey.as_bytes()).unwrap();
    let mut block = vec![0u8; size];
    block[..24].copy_from_slice(&nonce);
    let (_, rest) = block.split_at_mut(24);
    let (body, tag_out) = rest.split_at_mut(size - 40);
    body[..4].copy_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    body[4..4 + data.len()].copy_from_slice(data);
    let tag = cipher
        .encrypt_inout_detached(&XNonce::from(nonce), &aad(id), body.into())
        .unwrap();
    tag_out.copy_from_slice(&tag);
    block
}

/// Opens a sealed block with the oracle and checks the padding; `None` if it does not verify.
fn oracle_open(key: &SecretKey, block: &[u8], id: BlockId) -> Option<Vec<u8>> {
    let size = block.len();
    let subkey = derive_subkey(key, HW, labels::VOID_SEAL);
    let cipher = XChaCha20Poly1305::new_from_slice(subkey.as_bytes()).unwrap();
    let mut body = block[24..size - 16].to_vec();
    cipher
        .decrypt_inout_detached(
            &XNonce::try_from(&block[..24]).unwrap(),
            &aad(id),
            body.as_mut_slice().into(),
            &Tag::try_from(&block[size - 16..]).unwrap(),
        )
        .ok()?;
    let len = usize::try_from(u32::from_le_bytes(body[..4].try_into().unwrap())).unwrap();
    assert!(body[4 + len..].iter().all(|&b| b == 0), "padding not zero");
    Some(body[4..4 + len].to_vec())
}

fn aad(id: BlockId) -> Vec<u8> {
    let mut aad = b"qsmm/v1/void/blk".to_vec();
    aad.extend_from_slice(&id.get().to_le_bytes());
    aad
}

#[test]
fn old_and_new_blocks_open_both_ways() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    for round in 0..300u32 {
        let size = [512, 4096, 4096, 8192][usize::try_from(round % 4).unwrap()];
        let block_size = BlockSize::new(size).unwrap();
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let key = SecretKey::from_bytes(key);
        let capacity = block_size.capacity();
        let len = match round % 5 {
            0 => 0,
            1 => capacity,
            _ => usize::try_from(rng.next_u64() % (capacity as u64 + 1)).unwrap(),
        };
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        let id = BlockId(rng.next_u64());
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let sealer = BlockSealer::new(&key, HW, block_size);

        // Old format, sealed by the oracle: opens with the new code, only at its position.
        let old = oracle_seal(&key, size, nonce, id, &data);
        assert_eq!(
            sealer.open_block(&old, id).unwrap(),
            Some(data.clone()),
            "round {round}"
        );
        assert_eq!(sealer.open_block(&old, BlockId(!id.get())).unwrap(), None);

        // New code: the oracle opens it and finds the documented layout.
        let new = sealer.seal_block(&data, id).unwrap();
        assert_eq!(oracle_open(&key, &new, id), Some(data), "round {round}");
        assert_eq!(oracle_open(&key, &new, BlockId(!id.get())), None);
    }
}

/// Key and nonce byte, block size, block id, data; then the expected first 40 bytes, last 24
/// bytes and SHA-256 of the sealed block, in hex.
type Pinned = (
    u8,
    usize,
    u64,
    &'static [u8],
    &'static str,
    &'static str,
    &'static str,
);

#[test]
fn pinned_sealed_blocks() {
    // Fixed key, medium, nonce, id and data: the exact bytes of the sealed block (checked by
    // SHA-256 of the whole block, plus its first and last bytes in full).
    let cases: [Pinned; 3] = [
        (
            1,
            4096,
            0,
            b"",
            "111111111111111111111111111111111111111111111111c97cc1253ef6b417a1650f612b4570a3",
            "c6e89206aad5fc79eebc6e741b3b6a8f155ba0c46c8bd842",
            "5ef69f2c83e51b2b103c4465045c8bcacf64fe2d40e970339fb57cdeeb9a6434",
        ),
        (
            2,
            4096,
            42,
            b"hello, void",
            "222222222222222222222222222222222222222222222222d7e1d098815c1753fddcd2005377282a",
            "af8829ae2a13e2cc65dcec43bab4a8dfd744269562e27dcf",
            "eaf99819dd62a499744d97bb981666bc9c12498388fc561f298856caf505bb3f",
        ),
        (
            3,
            512,
            u64::MAX,
            &[0xa5; 468],
            "333333333333333333333333333333333333333333333333886c3be3f83d59f0755216f61d047c62",
            "3ef7582d1258839edd19eba3ce2ef66acb9cdc9e3db1473c",
            "7645faa6d0cfdabba06c95491d2214e89f6faf9b70c3fc0b2a61388967d8803b",
        ),
    ];
    for (byte, size, id, data, head, tail, digest) in cases {
        let key = SecretKey::from_bytes([byte; 32]);
        let nonce = [byte.wrapping_mul(0x11); 24];
        let block = oracle_seal(&key, size, nonce, BlockId(id), data);
        // The new cipher produces the same bytes from the same nonce.
        let subkey = derive_subkey(&key, HW, labels::VOID_SEAL);
        let mut ours = block.clone();
        ours[24..].fill(0);
        ours[24..28].copy_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        ours[28..28 + data.len()].copy_from_slice(data);
        let (body, tag_out) = ours[24..].split_at_mut(size - 40);
        let tag = SectorCipher::new(subkey.as_bytes()).encrypt_in_place_detached(
            &nonce,
            &aad(BlockId(id)),
            body,
        );
        tag_out.copy_from_slice(&tag);
        assert_eq!(ours, block, "case {byte}");

        assert_eq!(hex::encode(&block[..40]), head, "case {byte}");
        assert_eq!(hex::encode(&block[size - 24..]), tail, "case {byte}");
        assert_eq!(hex::encode(sha256(&block)), digest, "case {byte}");
        let sealer = BlockSealer::new(&key, HW, BlockSize::new(size).unwrap());
        assert_eq!(
            sealer.open_block(&block, BlockId(id)).unwrap(),
            Some(data.to_vec())
        );
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
