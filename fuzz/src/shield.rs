//! Targets for `qsmm-shield`: wrapped keys, ML-KEM, ML-DSA, X-Wing and stored notes.

use qsmm_shield::dsa::{DsaLevel, DsaPublicKey, DsaSecretKey, DsaSignature};
use qsmm_shield::hybrid::{
    XWING_CIPHERTEXT_LEN, XWING_PUBLIC_KEY_LEN, XWING_SECRET_KEY_LEN, XWingCiphertext,
    XWingPublicKey, XWingSecretKey,
};
use qsmm_shield::kem::{KEM_SEED_LEN, KemCiphertext, KemLevel, KemPublicKey, KemSecretKey};
use qsmm_shield::note::{self, RecipientKeys, StoredNote};
use qsmm_shield::wrap::{self, WrapSuite, WrappedKey};

use crate::fixtures::{
    NOTE_PLAINTEXT, SIGNED_MESSAGE, WRAPPED_SECRET, dsa_keypair, dsa_signature, kem_keypair,
    wrong_kem_keypair, wrong_xwing_keypair, xwing_keypair,
};

/// `WrappedKey::from_bytes` then `unwrap_key`.
///
/// - a decoded key re-encodes to exactly the input;
/// - the fixed key of its suite either fails or recovers [`WRAPPED_SECRET`] (the only key ever
///   wrapped under it), and then a one-bit change of the tag fails;
/// - a second key of the same suite and the keys of every other suite always fail.
///
/// # Panics
///
/// When a property fails.
pub fn wrapped_key(data: &[u8]) {
    let Ok(wrapped) = WrappedKey::from_bytes(data) else {
        return;
    };
    assert_eq!(
        wrapped.to_bytes(),
        data,
        "decode then encode must be the identity"
    );
    let suite = wrapped.suite();
    for level in KemLevel::ALL {
        let right = kem_suite(level) == suite;
        check_unwrap(&wrapped, right, |w| {
            wrap::unwrap_key(kem_keypair(level).secret_key(), w)
        });
        let wrong = wrap::unwrap_key(wrong_kem_keypair(level).secret_key(), &wrapped);
        assert!(
            wrong.is_err(),
            "a key that never wrapped anything opened a wrapped key"
        );
    }
    check_unwrap(&wrapped, suite == WrapSuite::XWing, |w| {
        wrap::unwrap_key(xwing_keypair().secret_key(), w)
    });
    let wrong = wrap::unwrap_key(wrong_xwing_keypair().secret_key(), &wrapped);
    assert!(
        wrong.is_err(),
        "a key that never wrapped anything opened a wrapped key"
    );
}

/// ML-KEM decoders of every level, chosen by the first byte: public keys, secret keys (seed and
/// expanded), ciphertexts, and decapsulation of arbitrary bytes under the fixed key.
///
/// - a decoder succeeds only on the exact length and re-encodes to the input;
/// - an imported seed decapsulates what its own public key encapsulates; an expanded key's
///   public key is the `ek` embedded in it, and its re-encoding is a fixed point;
/// - decapsulation of any well-sized ciphertext succeeds (implicit rejection) and is
///   deterministic; any other size is an error.
///
/// # Panics
///
/// When a property fails.
pub fn kem_decoders(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let level = KemLevel::ALL[usize::from(selector % 3)];
    match (selector / 3) % 4 {
        0 => {
            let decoded = KemPublicKey::from_bytes(level, rest);
            if rest.len() != level.public_key_len() {
                assert!(decoded.is_err(), "a public key of the wrong length decoded");
            }
            if let Ok(key) = decoded {
                assert_eq!(key.to_bytes(), rest);
                assert_eq!(key.level(), level);
            }
        }
        1 => {
            let Ok(key) = KemSecretKey::from_bytes(level, rest) else {
                assert!(rest.len() != KEM_SEED_LEN, "every seed is a key");
                return;
            };
            assert_eq!(key.level(), level);
            let public = key.public_key();
            if rest.len() == KEM_SEED_LEN {
                assert_eq!(
                    key.to_seed().as_deref().map(<[u8; 64]>::as_slice),
                    Some(rest)
                );
            } else {
                // FIPS 203 checks only `ek` and `H(ek)` of an expanded key: coefficients of
                // `dk_PKE` at or above q are accepted and re-encoded reduced. Everything after
                // `dk_PKE` round-trips exactly, and the re-encoding is a fixed point.
                let expanded = key.to_expanded();
                let ek_start = level.public_key_len() - 32;
                assert_eq!(
                    expanded.get(ek_start..),
                    rest.get(ek_start..),
                    "ek, H(ek), z"
                );
                let again = KemSecretKey::from_bytes(level, &expanded).map(|k| k.to_expanded());
                assert!(
                    again.is_ok_and(|a| a == expanded),
                    "re-encoding is not canonical"
                );
                let ek = rest.get(ek_start..ek_start + level.public_key_len());
                assert_eq!(Some(public.to_bytes().as_slice()), ek, "embedded ek");
            }
            // Only a seed is sure to be consistent: FIPS 203 does not check that an expanded
            // key's `dk_PKE` belongs to its `ek` (that would be a pairwise-consistency test).
            if rest.len() == KEM_SEED_LEN
                && let Ok((ct, ss)) = public.encapsulate()
            {
                let opened = key.decapsulate(&ct).ok();
                assert!(
                    opened.is_some_and(|s| s == ss),
                    "a decoded key does not round trip"
                );
            }
        }
        2 => {
            let decoded = KemCiphertext::from_bytes(level, rest);
            assert_eq!(decoded.is_ok(), rest.len() == level.ciphertext_len());
            if let Ok(ct) = decoded {
                assert_eq!(ct.as_bytes(), rest);
                let secret = kem_keypair(level).secret_key();
                let once = secret.decapsulate(&ct).ok();
                let twice = secret.decapsulate_bytes(rest).ok();
                assert!(
                    once.is_some() && once == twice,
                    "implicit rejection must be total"
                );
            }
        }
        _ => {
            let shared = kem_keypair(level).secret_key().decapsulate_bytes(rest);
            assert_eq!(shared.is_ok(), rest.len() == level.ciphertext_len());
        }
    }
}

/// ML-DSA decoders and verification for every level, chosen by the first byte.
///
/// - a decoder succeeds only on the exact length and re-encodes to the input;
/// - under the fixed public key, only the one real signature of [`SIGNED_MESSAGE`] verifies,
///   and nothing verifies for another message;
/// - a decoded public key verifies the real signature only if it is the fixed key;
/// - a decoded secret key (seed) signs what its public key verifies.
///
/// # Panics
///
/// When a property fails.
pub fn dsa_decoders_verify(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let level = DsaLevel::ALL[usize::from(selector % 3)];
    let fixed = dsa_keypair(level).public_key();
    match (selector / 3) % 3 {
        0 => {
            let decoded = DsaSignature::from_bytes(level, rest);
            assert_eq!(decoded.is_ok(), rest.len() == level.signature_len());
            let Ok(signature) = decoded else { return };
            assert_eq!(signature.as_bytes(), rest);
            if fixed.verify(SIGNED_MESSAGE, &signature).is_ok() {
                assert_eq!(&signature, dsa_signature(level), "a second valid signature");
            }
            let other = [SIGNED_MESSAGE, b"!"].concat();
            assert!(
                fixed.verify(&other, &signature).is_err(),
                "verified another message"
            );
        }
        1 => {
            let decoded = DsaPublicKey::from_bytes(level, rest);
            if rest.len() != level.public_key_len() {
                assert!(decoded.is_err(), "a public key of the wrong length decoded");
            }
            let Ok(key) = decoded else { return };
            assert_eq!(key.to_bytes(), rest);
            if key.verify(SIGNED_MESSAGE, dsa_signature(level)).is_ok() {
                assert!(
                    &key == fixed,
                    "another public key verified the fixed signature"
                );
            }
        }
        _ => {
            let Ok(key) = DsaSecretKey::from_bytes(level, rest) else {
                return;
            };
            assert_eq!(key.to_seed().as_slice(), rest);
            let signature = key.sign_deterministic(SIGNED_MESSAGE, b"").ok();
            let public = key.public_key();
            assert!(
                signature.is_some_and(|s| public.verify(SIGNED_MESSAGE, &s).is_ok()),
                "a decoded secret key's signature does not verify"
            );
        }
    }
}

/// X-Wing decoders, chosen by the first byte: public keys, secret keys (seeds), ciphertexts, and
/// decapsulation of arbitrary bytes under the fixed key.
///
/// - a decoder succeeds exactly on the right length and re-encodes to the input;
/// - a decoded secret key decapsulates what its public key encapsulates;
/// - decapsulation of a well-sized ciphertext succeeds and is deterministic.
///
/// # Panics
///
/// When a property fails.
pub fn xwing_decoders(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            let decoded = XWingPublicKey::from_bytes(rest);
            if rest.len() != XWING_PUBLIC_KEY_LEN {
                assert!(decoded.is_err(), "a public key of the wrong length decoded");
            }
            if let Ok(key) = decoded {
                assert_eq!(key.to_bytes(), rest);
            }
        }
        1 => {
            let decoded = XWingSecretKey::from_bytes(rest);
            assert_eq!(decoded.is_ok(), rest.len() == XWING_SECRET_KEY_LEN);
            let Ok(key) = decoded else { return };
            assert_eq!(key.to_bytes().as_slice(), rest);
            if let Ok((ct, ss)) = key.public_key().encapsulate() {
                assert!(
                    key.decapsulate(&ct) == ss,
                    "a decoded key does not round trip"
                );
            }
        }
        2 => {
            let decoded = XWingCiphertext::from_bytes(rest);
            assert_eq!(decoded.is_ok(), rest.len() == XWING_CIPHERTEXT_LEN);
            let Ok(ct) = decoded else { return };
            assert_eq!(ct.as_bytes(), rest);
            let secret = xwing_keypair().secret_key();
            let twice = secret.decapsulate_bytes(rest).ok();
            assert!(
                twice.is_some_and(|s| s == secret.decapsulate(&ct)),
                "not deterministic"
            );
        }
        _ => {
            let shared = xwing_keypair().secret_key().decapsulate_bytes(rest);
            assert_eq!(shared.is_ok(), rest.len() == XWING_CIPHERTEXT_LEN);
        }
    }
}

/// Stored notes and compact recipient keys, chosen by the first byte: a note alone, 128
/// characters of compact keys followed by a note, or compact keys alone.
///
/// - a decoded note and decoded compact keys re-encode to exactly the input;
/// - keys and a note that open give [`NOTE_PLAINTEXT`] (the only plaintext ever sealed), and
///   opening agrees with `check_link_keys` (keys that open are the note's keys).
///
/// # Panics
///
/// When a property fails.
pub fn note_decoders(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            decode_note(rest);
        }
        1 => {
            let Some((compact, note)) = rest.split_at_checked(crate::fixtures::COMPACT_SEED_CHARS)
            else {
                return;
            };
            let (Some(keys), Some(note)) = (decode_compact(compact), decode_note(note)) else {
                return;
            };
            let opened = note::open_note(&note, &keys);
            if let Ok(plaintext) = &opened {
                assert_eq!(plaintext.as_slice(), NOTE_PLAINTEXT, "opened a forged note");
                assert!(!note.needs_passphrase(), "opened without the passphrase");
            }
            if note::check_link_keys(&note, &keys).is_err() {
                assert!(opened.is_err(), "opened with keys that are not the note's");
            }
        }
        _ => {
            decode_compact(rest);
        }
    }
}

fn decode_note(bytes: &[u8]) -> Option<StoredNote> {
    let note = StoredNote::from_bytes(bytes).ok()?;
    assert_eq!(
        note.to_bytes(),
        bytes,
        "decode then encode must be the identity"
    );
    Some(note)
}

/// Compact keys: the seed form is canonical; the expanded form may carry `dk_PKE` coefficients
/// at or above q (FIPS 203 does not check them), which re-encode reduced, so for it the
/// re-encoding must be a fixed point.
fn decode_compact(bytes: &[u8]) -> Option<RecipientKeys> {
    let text = std::str::from_utf8(bytes).ok()?;
    let keys = RecipientKeys::from_compact(text).ok()?;
    let compact = keys.to_compact();
    if text.len() == crate::fixtures::COMPACT_SEED_CHARS {
        assert_eq!(compact.as_str(), text, "compact keys must be canonical");
    } else {
        let again = RecipientKeys::from_compact(&compact).map(|k| k.to_compact());
        assert!(
            again.is_ok_and(|a| a == compact),
            "re-encoding is not canonical"
        );
    }
    Some(keys)
}

/// Runs `unwrap` with one of the fixed keys: the key of the wrapped key's suite (`right`) may
/// only recover [`WRAPPED_SECRET`], and then a one-bit change fails; any other key fails.
fn check_unwrap<E>(
    wrapped: &WrappedKey,
    right: bool,
    unwrap: impl Fn(&WrappedKey) -> Result<qsmm_types::SecretKey, E>,
) {
    match unwrap(wrapped) {
        Err(_) => {}
        Ok(key) => {
            assert!(
                right,
                "a key of another suite or level opened a wrapped key"
            );
            assert_eq!(
                key.as_bytes(),
                &WRAPPED_SECRET,
                "recovered a key never wrapped"
            );
            let mut bytes = wrapped.to_bytes();
            if let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
            let tampered = WrappedKey::from_bytes(&bytes);
            assert!(
                tampered.is_ok_and(|t| unwrap(&t).is_err()),
                "a changed tag opened"
            );
        }
    }
}

/// The wrap suite of an ML-KEM level.
fn kem_suite(level: KemLevel) -> WrapSuite {
    match level {
        KemLevel::Kem512 => WrapSuite::Kem512,
        KemLevel::Kem768 => WrapSuite::Kem768,
        _ => WrapSuite::Kem1024,
    }
}
