//! Passphrase (scrypt) age files: round trips, wrong passphrase, tampering, the work factor
//! bound and the rule that an scrypt stanza is alone in its header.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use std::io::{Read, Write};

use qsmm_shield::age::{
    self, AgeError, Decryptor, Encryptor, Header, Identity, MAX_WORK_FACTOR, Passphrase,
};

/// A low work factor keeps the tests fast; the format is the same at any factor.
const LOG_N: u8 = 4;

fn passphrase(text: &str) -> Passphrase {
    Passphrase::new(text)
}

/// Replaces the work factor of the scrypt stanza line of a binary file.
fn with_work_factor(file: &[u8], log_n: &str) -> Vec<u8> {
    let text = file.to_vec();
    let start = text.windows(10).position(|w| w == b"-> scrypt ").unwrap();
    let end = start + text[start..].iter().position(|&b| b == b'\n').unwrap();
    let line = std::str::from_utf8(&text[start..end]).unwrap();
    let (head, _) = line.rsplit_once(' ').unwrap();
    let mut out = text[..start].to_vec();
    out.extend_from_slice(format!("{head} {log_n}").as_bytes());
    out.extend_from_slice(&text[end..]);
    out
}

#[test]
fn passphrase_files_round_trip_binary_armored_and_streamed() {
    let secret = passphrase("correct horse battery staple");
    for len in [0_u32, 1, 65_536, 200_000] {
        let plaintext: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
        for armor in [false, true] {
            let file = age::encrypt_with_passphrase(&secret, LOG_N, &plaintext, armor).unwrap();
            assert_eq!(file.starts_with(b"-----BEGIN AGE"), armor);
            assert_eq!(
                age::decrypt_with_passphrase(&secret, &file).unwrap(),
                plaintext
            );
        }
        let mut encryptor = Encryptor::with_passphrase(&secret, LOG_N, Vec::new(), false).unwrap();
        encryptor.write_all(&plaintext).unwrap();
        let file = encryptor.finish().unwrap();
        let header = Header::parse(&file).unwrap().0;
        assert_eq!(header.stanzas().len(), 1);
        assert_eq!(header.stanzas()[0].args()[0], "scrypt");
        assert_eq!(header.stanzas()[0].args()[2], LOG_N.to_string());
        let mut out = Vec::new();
        Decryptor::with_passphrase(&secret, file.as_slice())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plaintext);
    }
}

#[test]
fn a_wrong_passphrase_gets_an_opaque_no_match() {
    let file = age::encrypt_with_passphrase(&passphrase("right"), LOG_N, b"x", false).unwrap();
    for wrong in ["wrong", "", "right ", "Right"] {
        assert!(matches!(
            age::decrypt_with_passphrase(&passphrase(wrong), &file),
            Err(AgeError::NoMatch)
        ));
    }
    // Nor does an identity open it, nor a passphrase a file to an identity.
    let identity = Identity::generate_x25519().unwrap();
    assert!(matches!(
        age::decrypt(&[identity.clone_key()], &file),
        Err(AgeError::NoMatch)
    ));
    let to_key = age::encrypt(&[identity.to_recipient()], b"x", false).unwrap();
    assert!(matches!(
        age::decrypt_with_passphrase(&passphrase("right"), &to_key),
        Err(AgeError::NoMatch)
    ));
}

#[test]
fn a_tampered_stanza_or_header_is_refused() {
    let secret = passphrase("p");
    let file = age::encrypt_with_passphrase(&secret, LOG_N, b"payload", false).unwrap();
    let header_len = Header::parse(&file).unwrap().1;
    for position in 0..header_len {
        let mut bad = file.clone();
        bad[position] ^= 0x01;
        assert!(
            age::decrypt_with_passphrase(&secret, &bad).is_err(),
            "flipped byte {position}"
        );
    }
    // Another work factor derives another key: no match.
    let other = if LOG_N == 5 { "6" } else { "5" };
    assert!(matches!(
        age::decrypt_with_passphrase(&secret, &with_work_factor(&file, other)),
        Err(AgeError::NoMatch)
    ));
}

#[test]
fn work_factors_above_the_bound_are_refused_before_any_work() {
    let secret = passphrase("p");
    let file = age::encrypt_with_passphrase(&secret, LOG_N, b"x", false).unwrap();
    // 2^64 or 2^255 would never finish (or allocate without bound) if scrypt ran.
    for log_n in ["23", "40", "64", "255"] {
        assert!(
            matches!(
                age::decrypt_with_passphrase(&secret, &with_work_factor(&file, log_n)),
                Err(AgeError::WorkFactor)
            ),
            "{log_n}"
        );
    }
    for log_n in [0, MAX_WORK_FACTOR + 1] {
        assert!(matches!(
            age::encrypt_with_passphrase(&secret, log_n, b"x", false),
            Err(AgeError::WorkFactor)
        ));
    }
}

#[test]
fn an_scrypt_stanza_with_others_is_a_header_failure() {
    let secret = passphrase("p");
    let identity = Identity::generate_x25519().unwrap();
    let file = age::encrypt_with_passphrase(&secret, LOG_N, b"x", false).unwrap();
    let to_key = age::encrypt(&[identity.to_recipient()], b"x", false).unwrap();
    // Put the X25519 stanza (its two lines) before the scrypt one.
    let stanza_end = |f: &[u8]| {
        let first = f.iter().position(|&b| b == b'\n').unwrap() + 1;
        let second = first + f[first..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let third = second + f[second..].iter().position(|&b| b == b'\n').unwrap() + 1;
        (first, third)
    };
    let (start, end) = stanza_end(&to_key);
    let mut mixed = file[..start].to_vec();
    mixed.extend_from_slice(&to_key[start..end]);
    mixed.extend_from_slice(&file[start..]);
    assert_eq!(Header::parse(&mixed).unwrap().0.stanzas().len(), 2);
    assert!(matches!(
        age::decrypt_with_passphrase(&secret, &mixed),
        Err(AgeError::Header)
    ));
    assert!(matches!(
        age::decrypt(&[identity], &mixed),
        Err(AgeError::Header)
    ));
}
