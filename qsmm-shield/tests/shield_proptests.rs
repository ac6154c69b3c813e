//! Property tests: round trips for every ML-KEM level, X-Wing, every wrap suite and every
//! ML-DSA level (one generic function per property, called for each level), and "any
//! corruption is an error, never a panic".
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use proptest::prelude::*;
use qsmm_shield::dsa::{DsaKeypair, DsaLevel, DsaSignature};
use qsmm_shield::hybrid::{XWingKeypair, XWingPublicKey, XWingSecretKey};
use qsmm_shield::kem::{KemCiphertext, KemKeypair, KemLevel, KemPublicKey, KemSecretKey};
use qsmm_shield::wrap::{self, UnwrapSecretKey, WrapPublicKey, WrappedKey};
use qsmm_types::{Error, SecretKey};

/// KEM: encodings and encapsulation round-trip for one level.
fn kem_round_trip(level: KemLevel, seed: &[u8; 64]) {
    let pair = KemKeypair::from_seed(level, seed);
    let public = KemPublicKey::from_bytes(level, &pair.public_key().to_bytes()).unwrap();
    assert_eq!(&public, pair.public_key());
    let (ct, sent) = public.encapsulate().unwrap();
    let ct = KemCiphertext::from_bytes(level, ct.as_bytes()).unwrap();
    assert_eq!(pair.secret_key().decapsulate(&ct).unwrap(), sent);

    // Seed and expanded exports re-import to the same key.
    let from_seed = KemSecretKey::from_seed(level, &pair.secret_key().to_seed().unwrap());
    assert_eq!(from_seed.decapsulate(&ct).unwrap(), sent);
    let expanded = pair.secret_key().to_expanded();
    assert_eq!(expanded.len(), level.expanded_secret_key_len());
    let imported = KemSecretKey::from_bytes(level, &expanded).unwrap();
    assert_eq!(imported.decapsulate(&ct).unwrap(), sent);
    assert_eq!(imported.public_key(), public);
}

/// Wrap: any key round-trips; any single corruption of the encoding is `Error::Crypto`.
fn wrap_round_trip<P, S>(public: &P, secret: &S, key: [u8; 32], at: usize, bit: u8)
where
    P: WrapPublicKey + ?Sized,
    S: UnwrapSecretKey + ?Sized,
{
    let key = SecretKey::from_bytes(key);
    let bytes = wrap::wrap_key(public, &key).unwrap().to_bytes();
    let wrapped = WrappedKey::from_bytes(&bytes).unwrap();
    assert_eq!(wrap::unwrap_key(secret, &wrapped).unwrap(), key);
    let mut t = bytes.clone();
    let i = at % t.len();
    t[i] ^= bit;
    let outcome = WrappedKey::from_bytes(&t).and_then(|w| wrap::unwrap_key(secret, &w));
    assert!(matches!(outcome, Err(Error::Crypto)));
    let cut = at % bytes.len();
    assert!(matches!(
        WrappedKey::from_bytes(&bytes[..cut]),
        Err(Error::Crypto)
    ));
}

/// DSA: any message and context round-trip; a flipped signature byte does not verify.
fn dsa_round_trip(level: DsaLevel, seed: &[u8; 32], message: &[u8], context: &[u8], at: usize) {
    let pair = DsaKeypair::from_seed(level, seed);
    let sig = pair
        .secret_key()
        .sign_with_context(message, context)
        .unwrap();
    let sig = DsaSignature::from_bytes(level, sig.as_bytes()).unwrap();
    pair.public_key()
        .verify_with_context(message, context, &sig)
        .unwrap();
    let mut t = sig.to_bytes();
    let i = at % t.len();
    t[i] ^= 0x04;
    let bad = DsaSignature::from_bytes(level, &t).unwrap();
    assert!(
        pair.public_key()
            .verify_with_context(message, context, &bad)
            .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn kem_every_level(seed in any::<[u8; 64]>()) {
        for level in KemLevel::ALL {
            kem_round_trip(level, &seed);
        }
    }

    #[test]
    fn kem_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1700)) {
        let n = bytes.len();
        for level in KemLevel::ALL {
            if KemPublicKey::from_bytes(level, &bytes).is_ok() {
                prop_assert_eq!(n, level.public_key_len());
            }
            let secret = KemSecretKey::from_bytes(level, &bytes);
            prop_assert!(secret.is_err() || n == 64 || n == level.expanded_secret_key_len());
            prop_assert_eq!(KemCiphertext::from_bytes(level, &bytes).is_ok(), n == level.ciphertext_len());
        }
        if XWingPublicKey::from_bytes(&bytes).is_ok() {
            prop_assert_eq!(n, 1216);
        }
        prop_assert_eq!(XWingSecretKey::from_bytes(&bytes).is_ok(), n == 32);
        prop_assert!(WrappedKey::from_bytes(&bytes).is_err());
    }

    #[test]
    fn xwing_round_trip(seed in any::<[u8; 32]>()) {
        let pair = XWingKeypair::from_seed(&seed);
        let public = XWingPublicKey::from_bytes(&pair.public_key().to_bytes()).unwrap();
        let (ct, sent) = public.encapsulate().unwrap();
        let secret = XWingSecretKey::from_bytes(&pair.secret_key().to_bytes()[..]).unwrap();
        prop_assert_eq!(secret.decapsulate_bytes(ct.as_bytes()).unwrap(), sent);
    }

    #[test]
    fn wrap_every_suite(key in any::<[u8; 32]>(), at in any::<usize>(), bit in 1u8..) {
        for level in KemLevel::ALL {
            let pair = KemKeypair::from_seed(level, &[level as u8; 64]);
            wrap_round_trip(pair.public_key(), pair.secret_key(), key, at, bit);
        }
        let pair = XWingKeypair::from_seed(&[7; 32]);
        wrap_round_trip(pair.public_key(), pair.secret_key(), key, at, bit);
    }
}

proptest! {
    // ML-DSA signing is the slowest operation here: few cases.
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn dsa_every_level(
        seed in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..256),
        context in proptest::collection::vec(any::<u8>(), 0..=255),
        at in any::<usize>(),
    ) {
        for level in DsaLevel::ALL {
            dsa_round_trip(level, &seed, &message, &context, at);
        }
    }
}

#[test]
fn fresh_keys_differ() {
    for level in KemLevel::ALL {
        assert_ne!(
            KemKeypair::generate(level).public_key(),
            KemKeypair::generate(level).public_key()
        );
    }
    assert_ne!(
        XWingKeypair::generate().public_key(),
        XWingKeypair::generate().public_key()
    );
    assert_ne!(SecretKey::generate(), SecretKey::generate());
}
