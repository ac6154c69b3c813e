//! Key wrapping: round trips for every suite, and every corruption, truncation, extension,
//! wrong key and wrong level fails with the one opaque error.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use qsmm_shield::hybrid::XWingKeypair;
use qsmm_shield::kem::{KemKeypair, KemLevel};
use qsmm_shield::wrap::{self, UnwrapSecretKey, WrapPublicKey, WrapSuite, WrappedKey};
use qsmm_types::{Error, SecretKey};

/// The example of the `qsmm` facade's README, unchanged.
#[test]
fn readme_example() {
    use qsmm_shield::kem::{KemKeypair, KemLevel};
    use qsmm_shield::wrap;
    use qsmm_types::SecretKey;
    let keypair = KemKeypair::generate(KemLevel::Kem768);
    let session_key = SecretKey::generate();
    let wrapped = wrap::wrap_key(keypair.public_key(), &session_key).unwrap();
    let recovered = wrap::unwrap_key(keypair.secret_key(), &wrapped).unwrap();
    assert_eq!(recovered.as_bytes(), session_key.as_bytes());
}

/// Round trip, encoding and every corruption for one suite.
fn suite_properties<P, S>(public: &P, secret: &S, other_secret: &S, suite: WrapSuite)
where
    P: WrapPublicKey + ?Sized,
    S: UnwrapSecretKey + ?Sized,
{
    let key = SecretKey::generate();
    let wrapped = wrap::wrap_key(public, &key).unwrap();
    assert_eq!(wrapped.suite(), suite);
    assert_eq!(wrap::unwrap_key(secret, &wrapped).unwrap(), key, "{suite}");

    let bytes = wrapped.to_bytes();
    assert_eq!(bytes.len(), suite.encoded_len(), "{suite}");
    assert_eq!(bytes[5], suite.id());
    let decoded = WrappedKey::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, wrapped);
    assert_eq!(WrappedKey::try_from(&bytes[..]).unwrap(), wrapped);
    assert_eq!(wrap::unwrap_key(secret, &decoded).unwrap(), key);

    // A second wrap of the same key is unrelated.
    let again = wrap::wrap_key(public, &key).unwrap();
    assert_ne!(again.to_bytes(), bytes, "{suite}");

    // Wrong key pair of the same suite.
    assert!(
        matches!(wrap::unwrap_key(other_secret, &wrapped), Err(Error::Crypto)),
        "{suite}"
    );

    // Every single-bit flip of every byte fails, never panics.
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= bit;
            let outcome = WrappedKey::from_bytes(&t).and_then(|w| wrap::unwrap_key(secret, &w));
            assert!(
                matches!(outcome, Err(Error::Crypto)),
                "{suite}: flip {bit:#x} at {i}"
            );
        }
    }
    // Every truncation and some extensions fail.
    for len in 0..bytes.len() {
        assert!(
            matches!(WrappedKey::from_bytes(&bytes[..len]), Err(Error::Crypto)),
            "{suite}: truncated to {len}"
        );
    }
    for extra in [1usize, 16, 1000] {
        let mut t = bytes.clone();
        t.extend(std::iter::repeat_n(0u8, extra));
        assert!(
            matches!(WrappedKey::from_bytes(&t), Err(Error::Crypto)),
            "{suite}: +{extra}"
        );
    }
}

#[test]
fn every_ml_kem_level() {
    for (level, suite) in [
        (KemLevel::Kem512, WrapSuite::Kem512),
        (KemLevel::Kem768, WrapSuite::Kem768),
        (KemLevel::Kem1024, WrapSuite::Kem1024),
    ] {
        let pair = KemKeypair::generate(level);
        let other = KemKeypair::generate(level);
        suite_properties(
            pair.public_key(),
            pair.secret_key(),
            other.secret_key(),
            suite,
        );
    }
}

#[test]
fn x_wing() {
    let pair = XWingKeypair::generate();
    let other = XWingKeypair::generate();
    suite_properties(
        pair.public_key(),
        pair.secret_key(),
        other.secret_key(),
        WrapSuite::XWing,
    );
}

#[test]
fn wrong_level_or_suite_is_rejected() {
    let seed = [9u8; 64];
    let kem: Vec<KemKeypair> = KemLevel::ALL
        .iter()
        .map(|l| KemKeypair::from_seed(*l, &seed))
        .collect();
    let xwing = XWingKeypair::from_seed(&[9u8; 32]);
    let key = SecretKey::generate();

    for (i, pair) in kem.iter().enumerate() {
        let wrapped = wrap::wrap_key(pair.public_key(), &key).unwrap();
        for (j, other) in kem.iter().enumerate() {
            let outcome = wrap::unwrap_key(other.secret_key(), &wrapped);
            if i == j {
                assert_eq!(outcome.unwrap(), key);
            } else {
                assert!(matches!(outcome, Err(Error::Crypto)), "{i} -> {j}");
            }
        }
        assert!(matches!(
            wrap::unwrap_key(xwing.secret_key(), &wrapped),
            Err(Error::Crypto)
        ));
    }
    let wrapped = wrap::wrap_key(xwing.public_key(), &key).unwrap();
    for pair in &kem {
        assert!(matches!(
            wrap::unwrap_key(pair.secret_key(), &wrapped),
            Err(Error::Crypto)
        ));
    }

    // Relabelling the suite byte of an encoding to another suite of the same ciphertext length
    // does not exist; relabelling to any other id fails to decode or to open.
    let bytes = wrapped.to_bytes();
    for id in 0..=255u8 {
        let mut t = bytes.clone();
        t[5] = id;
        let outcome =
            WrappedKey::from_bytes(&t).and_then(|w| wrap::unwrap_key(xwing.secret_key(), &w));
        if id == WrapSuite::XWing.id() {
            assert_eq!(outcome.unwrap(), key);
        } else {
            assert!(matches!(outcome, Err(Error::Crypto)), "suite id {id}");
        }
    }
}

#[test]
fn debug_does_not_leak() {
    let pair = KemKeypair::from_seed(KemLevel::Kem512, &[0xab; 64]);
    let key = SecretKey::from_bytes([0xcd; 32]);
    let wrapped = wrap::wrap_key(pair.public_key(), &key).unwrap();
    let xwing = XWingKeypair::from_seed(&[0xab; 32]);
    let printed = format!(
        "{pair:?} {:?} {wrapped:?} {xwing:?} {:?} {:?}",
        pair.secret_key(),
        xwing.secret_key(),
        xwing.public_key()
    );
    for needle in ["ab", "171", "cd", "205"] {
        assert!(!printed.contains(needle), "{needle} in {printed}");
    }
    assert!(printed.contains("WrappedKey"));
}

#[test]
fn suites_are_distinct() {
    let ids: std::collections::HashSet<u8> = WrapSuite::ALL.iter().map(|s| s.id()).collect();
    assert_eq!(ids.len(), WrapSuite::ALL.len());
    for suite in WrapSuite::ALL {
        assert_eq!(WrapSuite::from_id(suite.id()), Some(suite));
    }
    assert_eq!(WrapSuite::Kem768.encoded_len(), 6 + 1088 + 48);
    assert_eq!(WrapSuite::XWing.encoded_len(), 6 + 1120 + 48);
}
