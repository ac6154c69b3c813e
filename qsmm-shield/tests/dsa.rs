//! ML-DSA: round trips for every level, and corrupted, truncated, extended or misdirected
//! signatures and keys are errors, never panics.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use qsmm_shield::Error;
use qsmm_shield::dsa::{DsaKeypair, DsaLevel, DsaPublicKey, DsaSecretKey, DsaSignature};

fn signature_negatives(level: DsaLevel) {
    let pair = DsaKeypair::from_seed(level, &[3; 32]);
    let sig = pair
        .secret_key()
        .sign_with_context(b"message", b"ctx")
        .unwrap();
    let bytes = sig.to_bytes();
    assert_eq!(bytes.len(), level.signature_len());
    pair.public_key()
        .verify_with_context(b"message", b"ctx", &sig)
        .unwrap();

    // Every byte flipped: rejected (never a panic).
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        let sig = DsaSignature::from_bytes(level, &t).unwrap();
        assert!(
            matches!(
                pair.public_key()
                    .verify_with_context(b"message", b"ctx", &sig),
                Err(Error::InvalidSignature)
            ),
            "{level}: flip at {i}"
        );
    }
    // Every truncation and an extension: rejected by length.
    for len in 0..bytes.len() {
        assert!(
            matches!(
                DsaSignature::from_bytes(level, &bytes[..len]),
                Err(Error::InvalidLength { .. })
            ),
            "{level}: truncated to {len}"
        );
    }
    let mut longer = bytes;
    longer.push(0);
    assert!(DsaSignature::from_bytes(level, &longer).is_err());

    // Wrong message, context, key.
    let public = pair.public_key();
    assert!(
        public
            .verify_with_context(b"messagE", b"ctx", &sig)
            .is_err()
    );
    assert!(public.verify_with_context(b"message", b"", &sig).is_err());
    assert!(public.verify(b"message", &sig).is_err());
    let other = DsaKeypair::from_seed(level, &[4; 32]);
    assert!(matches!(
        other
            .public_key()
            .verify_with_context(b"message", b"ctx", &sig),
        Err(Error::InvalidSignature)
    ));

    // Public key: lengths checked, a flipped key does not verify.
    let pk = public.to_bytes();
    for len in [0, 1, pk.len() - 1, pk.len() + 1] {
        let mut t = pk.clone();
        t.resize(len, 0);
        assert!(matches!(
            DsaPublicKey::from_bytes(level, &t),
            Err(Error::InvalidLength { .. })
        ));
    }
    for i in [0, 31, 32, pk.len() / 2, pk.len() - 1] {
        let mut t = pk.clone();
        t[i] ^= 0x10;
        let flipped = DsaPublicKey::from_bytes(level, &t).unwrap();
        assert!(
            flipped
                .verify_with_context(b"message", b"ctx", &sig)
                .is_err(),
            "{level}: pk {i}"
        );
    }
    // Decoding the encoding gives the same key.
    assert_eq!(&DsaPublicKey::from_bytes(level, &pk).unwrap(), public);

    // Seed lengths.
    for len in [0, 31, 33, 64] {
        assert!(matches!(
            DsaSecretKey::from_bytes(level, &vec![0; len]),
            Err(Error::InvalidLength { .. })
        ));
    }
    // Contexts: 255 bytes fine, 256 refused at signing and verification.
    let ctx255 = [1u8; 255];
    let sig255 = pair.secret_key().sign_with_context(b"m", &ctx255).unwrap();
    public.verify_with_context(b"m", &ctx255, &sig255).unwrap();
    assert!(matches!(
        pair.secret_key().sign_with_context(b"m", &[1u8; 256]),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        pair.secret_key().sign_deterministic(b"m", &[1u8; 256]),
        Err(Error::InvalidParameter(_))
    ));
    assert!(
        public
            .verify_with_context(b"m", &[1u8; 256], &sig255)
            .is_err()
    );
}

#[test]
fn negatives_every_level() {
    for level in DsaLevel::ALL {
        signature_negatives(level);
    }
}

#[test]
fn wrong_level_is_rejected() {
    for a in DsaLevel::ALL {
        let pair = DsaKeypair::from_seed(a, &[5; 32]);
        let sig = pair.secret_key().sign(b"m").unwrap();
        for b in DsaLevel::ALL {
            let other = DsaKeypair::from_seed(b, &[5; 32]);
            let outcome = other.public_key().verify(b"m", &sig);
            assert_eq!(outcome.is_ok(), a == b, "{a} signature, {b} key");
            // A signature's bytes read as another level fail by length.
            if a != b {
                assert!(DsaSignature::from_bytes(b, sig.as_bytes()).is_err());
            }
        }
    }
}

#[test]
fn hedged_and_deterministic() {
    for level in DsaLevel::ALL {
        let pair = DsaKeypair::generate(level);
        let a = pair.secret_key().sign(b"same").unwrap();
        let b = pair.secret_key().sign(b"same").unwrap();
        assert_ne!(a, b, "{level}: hedged signatures differ");
        pair.public_key().verify(b"same", &a).unwrap();
        pair.public_key().verify(b"same", &b).unwrap();
        let c = pair.secret_key().sign_deterministic(b"same", b"").unwrap();
        let d = pair.secret_key().sign_deterministic(b"same", b"").unwrap();
        assert_eq!(c, d, "{level}: deterministic signatures agree");
        pair.public_key().verify(b"same", &c).unwrap();

        // Seed export round trip.
        let seed = pair.secret_key().to_seed();
        let again = DsaKeypair::from_seed(level, &seed);
        assert_eq!(again.public_key(), pair.public_key());
        assert_ne!(DsaKeypair::generate(level).public_key(), pair.public_key());
    }
}

#[test]
fn debug_does_not_leak() {
    let pair = DsaKeypair::from_seed(DsaLevel::Dsa44, &[0xab; 32]);
    let printed = format!("{pair:?} {:?} {:#?}", pair.secret_key(), pair.secret_key());
    assert!(
        !printed.contains("ab") && !printed.contains("171"),
        "{printed}"
    );
    assert!(
        printed.contains("ML-DSA") || printed.contains("Dsa44"),
        "{printed}"
    );
}

#[test]
fn malformed_signatures_are_accepted_by_length_and_never_verify() {
    for level in [DsaLevel::Dsa44, DsaLevel::Dsa65, DsaLevel::Dsa87] {
        let pair = DsaKeypair::from_seed(level, &[5; 32]);
        // All-ones bytes: the hint section is out of range, so `sigDecode` fails.
        let junk = vec![0xffu8; level.signature_len()];
        let sig = DsaSignature::from_bytes(level, &junk).unwrap();
        assert_eq!(sig.as_bytes(), junk.as_slice());
        assert_eq!(sig.clone(), sig);
        assert!(matches!(
            pair.public_key().verify(b"message", &sig.clone()),
            Err(Error::InvalidSignature)
        ));

        // A valid signature read back and cloned verifies; equality follows the bytes.
        let good = pair.secret_key().sign(b"message").unwrap();
        let read = DsaSignature::from_bytes(level, good.as_bytes()).unwrap();
        assert_eq!(read, good);
        assert_ne!(read, sig);
        pair.public_key().verify(b"message", &read.clone()).unwrap();
        assert!(matches!(
            pair.public_key().verify(b"other message", &read),
            Err(Error::InvalidSignature)
        ));
    }
}
