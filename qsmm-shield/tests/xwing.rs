//! X-Wing (draft-connolly-cfrg-xwing-kem) known-answer vectors, byte for byte.
#![allow(clippy::unwrap_used, reason = "a failing vector panics")]

use qsmm_shield::hybrid::{XWingCiphertext, XWingKeypair, XWingPublicKey, XWingSecretKey};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    #[serde(with = "hex::serde")]
    seed: Vec<u8>,
    #[serde(with = "hex::serde")]
    sk: Vec<u8>,
    #[serde(with = "hex::serde")]
    pk: Vec<u8>,
    #[serde(with = "hex::serde")]
    eseed: Vec<u8>,
    #[serde(with = "hex::serde")]
    ct: Vec<u8>,
    #[serde(with = "hex::serde")]
    ss: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/xwing/test-vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path} is missing: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn draft_vectors() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 3);
    for (i, v) in vectors.iter().enumerate() {
        let seed: [u8; 32] = v.seed.as_slice().try_into().unwrap();
        let eseed: [u8; 64] = v.eseed.as_slice().try_into().unwrap();

        // GenerateKeyPairDerand(seed) → (sk, pk).
        let pair = XWingKeypair::from_seed(&seed);
        assert_eq!(pair.public_key().to_bytes(), v.pk, "vector {i}: pk");
        assert_eq!(
            &pair.secret_key().to_bytes()[..],
            &v.sk[..],
            "vector {i}: sk"
        );

        // EncapsulateDerand(pk, eseed) → (ss, ct), from the decoded public key.
        let public = XWingPublicKey::from_bytes(&v.pk).unwrap();
        let (ct, ss) = public.encapsulate_deterministic(&eseed);
        assert_eq!(ct.as_bytes(), &v.ct[..], "vector {i}: ct");
        assert_eq!(&ss.as_bytes()[..], &v.ss[..], "vector {i}: ss");

        // Decapsulate(ct, sk) → ss, from the decoded secret key and ciphertext.
        let secret = XWingSecretKey::from_bytes(&v.sk).unwrap();
        let ct = XWingCiphertext::from_bytes(&v.ct).unwrap();
        assert_eq!(
            &secret.decapsulate(&ct).as_bytes()[..],
            &v.ss[..],
            "vector {i}: decaps"
        );
        assert_eq!(
            &secret.decapsulate_bytes(&v.ct).unwrap().as_bytes()[..],
            &v.ss[..]
        );

        // One flipped ciphertext byte in either half gives another secret.
        for at in [0, 1087, 1088, 1119] {
            let mut bad = v.ct.clone();
            bad[at] ^= 1;
            let other = secret.decapsulate_bytes(&bad).unwrap();
            assert_ne!(&other.as_bytes()[..], &v.ss[..], "vector {i}: flip {at}");
        }
    }
}

#[test]
fn lengths_are_checked() {
    let v = &vectors()[0];
    for len in [0, 1, 1215, 1217] {
        assert!(
            XWingPublicKey::from_bytes(&vec![0; len]).is_err(),
            "pk {len}"
        );
    }
    for len in [0, 31, 33, 64] {
        assert!(
            XWingSecretKey::from_bytes(&vec![0; len]).is_err(),
            "sk {len}"
        );
    }
    for len in [0, 1119, 1121, 1088] {
        assert!(
            XWingCiphertext::from_bytes(&vec![0; len]).is_err(),
            "ct {len}"
        );
    }
    let secret = XWingSecretKey::from_bytes(&v.sk).unwrap();
    assert!(secret.decapsulate_bytes(&v.ct[..1119]).is_err());

    // An unreduced ML-KEM coefficient in the public key fails the modulus check.
    let mut bad = v.pk.clone();
    bad[0] = 0xff;
    bad[1] |= 0x0f;
    assert!(matches!(
        XWingPublicKey::from_bytes(&bad),
        Err(qsmm_shield::Error::InvalidKey)
    ));
}
