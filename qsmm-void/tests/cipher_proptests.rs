//! Property tests of `SectorCipher`: byte-identical to the `RustCrypto` `XChaCha20Poly1305` oracle
//! for every length and associated data, round trips, and any flipped bit of ciphertext, tag,
//! associated data or nonce gives `Err` with no plaintext left in the buffer.
#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};
use proptest::prelude::*;
use qsmm_void::{Error, SectorCipher};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn agrees_with_the_oracle_and_round_trips(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..100),
        plaintext in proptest::collection::vec(any::<u8>(), 0..=8192),
    ) {
        let cipher = SectorCipher::new(&key);
        let mut ours = plaintext.clone();
        let tag = cipher.encrypt_in_place_detached(&nonce, &aad, &mut ours);

        let oracle = XChaCha20Poly1305::new_from_slice(&key).unwrap();
        let mut theirs = plaintext.clone();
        let their_tag = oracle
            .encrypt_inout_detached(&XNonce::from(nonce), &aad, theirs.as_mut_slice().into())
            .unwrap();
        prop_assert_eq!(&ours, &theirs);
        prop_assert_eq!(&tag[..], &their_tag[..]);

        cipher.decrypt_in_place_detached(&nonce, &aad, &mut ours, &tag).unwrap();
        prop_assert_eq!(ours, plaintext);
    }

    #[test]
    fn any_flipped_bit_is_rejected_and_wiped(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        aad in proptest::collection::vec(any::<u8>(), 1..64),
        plaintext in proptest::collection::vec(1..=255u8, 1..=4096),
        part in 0u8..4,
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let cipher = SectorCipher::new(&key);
        let mut buf = plaintext;
        let mut tag = cipher.encrypt_in_place_detached(&nonce, &aad, &mut buf);
        let (mut nonce, mut aad) = (nonce, aad);
        let flip = 1u8 << bit;
        let (buf_at, aad_at) = (position.index(buf.len()), position.index(aad.len()));
        match part {
            0 => buf[buf_at] ^= flip,
            1 => tag[position.index(16)] ^= flip,
            2 => aad[aad_at] ^= flip,
            _ => nonce[position.index(24)] ^= flip,
        }
        let result = cipher.decrypt_in_place_detached(&nonce, &aad, &mut buf, &tag);
        prop_assert!(matches!(result, Err(Error::Crypto)));
        prop_assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn another_key_is_rejected(
        key in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..=512),
    ) {
        prop_assume!(key != other);
        let mut buf = plaintext;
        let tag = SectorCipher::new(&key).encrypt_in_place_detached(&nonce, b"", &mut buf);
        let other = SectorCipher::new(&other);
        let result = other.decrypt_in_place_detached(&nonce, b"", &mut buf, &tag);
        prop_assert!(matches!(result, Err(Error::Crypto)));
        prop_assert!(buf.iter().all(|&b| b == 0));
    }
}

#[test]
fn debug_prints_no_key() {
    let cipher = SectorCipher::new(&[0x5a; 32]);
    assert_eq!(format!("{cipher:?}"), "SectorCipher { .. }");
}
