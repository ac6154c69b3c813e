//! The paravoid note scheme: round trips, wrong keys, tampering, passphrases, encodings.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use qsmm_shield::Error;
use qsmm_shield::note::{
    self, COMPACT_KEYS_LEN, EXPANDED_DK_LEN, NoteOpenError, PassphraseParams, RecipientKeys,
    StoredNote,
};

/// Cheap Argon2id costs so the passphrase tests stay fast; the defaults are tested once.
fn light_params() -> PassphraseParams {
    PassphraseParams::with_costs(64, 1, 1).unwrap()
}

fn open_ok(stored: &StoredNote, keys: &RecipientKeys) -> Vec<u8> {
    note::open_note(stored, keys).unwrap().to_vec()
}

#[test]
fn round_trip_various_lengths() {
    for len in [0usize, 1, 15, 16, 17, 100, 4096] {
        let plaintext: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
        let (stored, keys) = note::seal_note(&plaintext).unwrap();
        assert_eq!(stored.ek.len(), 1184);
        assert_eq!(stored.ct_kem.len(), 1088);
        assert_eq!(stored.ciphertext.len(), len + 16);
        assert!(!stored.needs_passphrase());
        assert_eq!(open_ok(&stored, &keys), plaintext);
        note::check_link_keys(&stored, &keys).unwrap();
        assert_eq!(keys.encapsulation_key(), stored.ek);
    }
}

#[test]
fn fresh_notes_differ() {
    let (a, ka) = note::seal_note(b"same").unwrap();
    let (b, kb) = note::seal_note(b"same").unwrap();
    assert_ne!(a, b);
    assert_ne!(a.ek, b.ek);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(ka.seed(), kb.seed());
    assert_ne!(ka.classical_secret(), kb.classical_secret());
}

#[test]
fn wrong_keys_are_rejected() {
    let (stored, keys) = note::seal_note(b"payload").unwrap();
    let (_, other) = note::seal_note(b"payload").unwrap();

    // Entirely other keys.
    assert!(matches!(
        note::open_note_with_passphrase(&stored, &other, None),
        Err(NoteOpenError::WrongKeys)
    ));
    assert!(matches!(
        note::open_note(&stored, &other),
        Err(Error::Crypto)
    ));
    assert!(note::check_link_keys(&stored, &other).is_err());

    // Right ML-KEM seed, wrong classical secret.
    let mut classical = *keys.classical_secret();
    classical[0] ^= 1;
    let wrong_classical = RecipientKeys::from_seed(*keys.seed().unwrap(), classical);
    assert!(matches!(
        note::open_note_with_passphrase(&stored, &wrong_classical, None),
        Err(NoteOpenError::WrongKeys)
    ));
    assert!(note::check_link_keys(&stored, &wrong_classical).is_err());

    // Right classical secret, wrong decapsulation key (the `d` half of the seed).
    for i in [0, 17, 31] {
        let mut seed = *keys.seed().unwrap();
        seed[i] ^= 0x80;
        let wrong_dk = RecipientKeys::from_seed(seed, *keys.classical_secret());
        assert!(matches!(
            note::open_note_with_passphrase(&stored, &wrong_dk, None),
            Err(NoteOpenError::WrongKeys)
        ));
    }

    // The `z` half of the seed only serves FIPS 203 implicit rejection: a key that differs
    // there still decapsulates honest ciphertexts, so it opens the note. Pinned here so that
    // the property is known, not discovered.
    let mut seed = *keys.seed().unwrap();
    seed[40] ^= 1;
    let other_z = RecipientKeys::from_seed(seed, *keys.classical_secret());
    assert_eq!(open_ok(&stored, &other_z), b"payload");

    // Another note's expanded key with this note's classical secret.
    let wrong_expanded =
        RecipientKeys::from_expanded(&other.expanded_decapsulation_key(), keys.classical_secret())
            .unwrap();
    assert!(note::open_note(&stored, &wrong_expanded).is_err());
}

#[test]
fn tampering_is_detected() {
    let (stored, keys) = note::seal_note(b"do not touch").unwrap();
    let mut cases: Vec<(&str, StoredNote)> = Vec::new();
    for i in [0, 16, stored.ciphertext.len() - 1] {
        let mut t = stored.clone();
        t.ciphertext[i] ^= 1;
        cases.push(("ciphertext", t));
    }
    for i in [0, 11] {
        let mut t = stored.clone();
        t.nonce[i] ^= 1;
        cases.push(("nonce", t));
    }
    for i in [0, 600, 1183] {
        let mut t = stored.clone();
        t.ek[i] ^= 1;
        cases.push(("ek", t));
    }
    for i in [0, 500, 1087] {
        let mut t = stored.clone();
        t.ct_kem[i] ^= 1;
        cases.push(("ct_kem", t));
    }
    for i in [0, 31] {
        let mut t = stored.clone();
        t.key_check[i] ^= 1;
        cases.push(("key_check", t));
    }
    let mut t = stored.clone();
    t.ciphertext.pop();
    cases.push(("truncated ciphertext", t));
    let mut t = stored.clone();
    t.ciphertext.push(0);
    cases.push(("extended ciphertext", t));
    let mut t = stored.clone();
    t.ciphertext.truncate(15);
    cases.push(("ciphertext shorter than a tag", t));
    let mut t = stored.clone();
    t.ek.pop();
    cases.push(("short ek", t));
    let mut t = stored.clone();
    t.ct_kem.push(0);
    cases.push(("long ct_kem", t));
    let mut t = stored.clone();
    t.passphrase = Some(light_params());
    cases.push(("added passphrase params", t));

    for (what, tampered) in &cases {
        assert!(
            note::open_note(tampered, &keys).is_err(),
            "tampered {what} opened"
        );
        assert!(
            note::open_note_with_passphrase(tampered, &keys, Some(b"x")).is_err(),
            "tampered {what} opened with a passphrase"
        );
    }
    // The untouched note still opens.
    assert_eq!(open_ok(&stored, &keys), b"do not touch");
}

#[test]
fn passphrase_right_wrong_missing() {
    let (stored, keys) =
        note::seal_note_with_passphrase_params(b"hidden", b"hunter2", light_params()).unwrap();
    assert!(stored.needs_passphrase());

    let opened = note::open_note_with_passphrase(&stored, &keys, Some(b"hunter2")).unwrap();
    assert_eq!(&opened[..], b"hidden");

    assert!(matches!(
        note::open_note_with_passphrase(&stored, &keys, Some(b"hunter3")),
        Err(NoteOpenError::WrongPassphrase)
    ));
    assert!(matches!(
        note::open_note_with_passphrase(&stored, &keys, Some(b"")),
        Err(NoteOpenError::WrongPassphrase)
    ));
    assert!(matches!(
        note::open_note_with_passphrase(&stored, &keys, None),
        Err(NoteOpenError::PassphraseRequired)
    ));
    // The plain entry point refuses passphrase notes with the vague error.
    assert!(matches!(
        note::open_note(&stored, &keys),
        Err(Error::Crypto)
    ));

    // Wrong link keys are reported as such, whatever the passphrase.
    let (_, other) = note::seal_note(b"x").unwrap();
    assert!(matches!(
        note::open_note_with_passphrase(&stored, &other, Some(b"hunter2")),
        Err(NoteOpenError::WrongKeys)
    ));
    note::check_link_keys(&stored, &keys).unwrap();

    // Weakening the stored costs or changing the salt is detected.
    for tweak in 0..4 {
        let mut t = stored.clone();
        let p = t.passphrase.as_mut().unwrap();
        match tweak {
            0 => p.salt[0] ^= 1,
            1 => p.m_cost_kib += 8,
            2 => p.t_cost += 1,
            _ => p.p_cost += 1,
        }
        assert!(note::open_note_with_passphrase(&t, &keys, Some(b"hunter2")).is_err());
    }
    // Stripping the passphrase does not give access either.
    let mut stripped = stored;
    stripped.passphrase = None;
    assert!(note::open_note(&stripped, &keys).is_err());

    // The error converts to the vague crate error.
    let err: Error = NoteOpenError::WrongPassphrase.into();
    assert!(matches!(err, Error::Crypto));
    assert_eq!(NoteOpenError::WrongKeys.to_string(), "decryption failed");
}

#[test]
fn passphrase_with_default_costs() {
    let (stored, keys) = note::seal_note_with_passphrase(b"default", b"pass").unwrap();
    let p = stored.passphrase.as_ref().unwrap();
    assert_eq!(
        (p.m_cost_kib, p.t_cost, p.p_cost),
        (19_456, 2, 1),
        "OWASP defaults"
    );
    let opened = note::open_note_with_passphrase(&stored, &keys, Some(b"pass")).unwrap();
    assert_eq!(&opened[..], b"default");
    let round = StoredNote::from_bytes(&stored.to_bytes()).unwrap();
    assert_eq!(round, stored);
}

#[test]
fn empty_passphrase_and_bad_costs_are_refused() {
    assert!(matches!(
        note::seal_note_with_passphrase(b"x", b""),
        Err(Error::InvalidParameter(_))
    ));
    for (m, t, p) in [
        (7, 1, 1),
        (8, 0, 1),
        (8, 1, 0),
        (16, 1, 3),
        (262_145, 1, 1),
        (64, 17, 1),
        (1024, 1, 17),
    ] {
        assert!(
            PassphraseParams::with_costs(m, t, p).is_err(),
            "{m} {t} {p}"
        );
    }
    assert!(PassphraseParams::with_costs(262_144, 16, 16).is_ok());
}

#[test]
fn expanded_key_import() {
    let (stored, keys) = note::seal_note(b"expanded").unwrap();
    let dk = keys.expanded_decapsulation_key();
    assert_eq!(dk.len(), EXPANDED_DK_LEN);

    let imported = RecipientKeys::from_expanded(&dk, keys.classical_secret()).unwrap();
    assert_eq!(imported.seed(), None);
    assert_eq!(open_ok(&stored, &imported), b"expanded");
    assert_eq!(&imported.expanded_decapsulation_key()[..], &dk[..]);

    // The 64-byte seed is accepted in the same slot.
    let from_seed =
        RecipientKeys::from_expanded(keys.seed().unwrap(), keys.classical_secret()).unwrap();
    assert!(from_seed.seed().is_some());
    assert_eq!(open_ok(&stored, &from_seed), b"expanded");

    // FIPS 203 §7.3: a corrupted embedded ek or H(ek) is refused.
    for i in [1152, 1152 + 1183, 2336, 2367] {
        let mut bad = dk.to_vec();
        bad[i] ^= 1;
        assert!(
            matches!(
                RecipientKeys::from_expanded(&bad, keys.classical_secret()),
                Err(Error::InvalidKey)
            ),
            "byte {i}"
        );
    }
    // Lengths.
    for len in [0, 32, 63, 65, 2399, 2401] {
        assert!(matches!(
            RecipientKeys::from_expanded(&vec![0; len], keys.classical_secret()),
            Err(Error::InvalidLength { .. })
        ));
    }
    for len in [0, 31, 33] {
        assert!(matches!(
            RecipientKeys::from_expanded(&dk, &vec![0; len]),
            Err(Error::InvalidLength { .. })
        ));
    }
}

#[test]
fn compact_round_trip_and_strictness() {
    let (stored, keys) = note::seal_note(b"compact").unwrap();
    let compact = keys.to_compact();
    assert_eq!(compact.len(), 128);
    assert!(
        compact
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    let back = RecipientKeys::from_compact(&compact).unwrap();
    assert_eq!(back.seed(), keys.seed());
    assert_eq!(back.classical_secret(), keys.classical_secret());
    assert_eq!(open_ok(&stored, &back), b"compact");
    assert_eq!(COMPACT_KEYS_LEN, 96);

    // Expanded-only keys get the longer compact form, which also round-trips.
    let imported =
        RecipientKeys::from_expanded(&keys.expanded_decapsulation_key(), keys.classical_secret())
            .unwrap();
    let long = imported.to_compact();
    assert_eq!(long.len(), 3243);
    let back = RecipientKeys::from_compact(&long).unwrap();
    assert_eq!(open_ok(&stored, &back), b"compact");

    // Strict rejection.
    let s: &str = &compact;
    let mut bad: Vec<String> = vec![
        String::new(),
        s[..127].to_string(),
        format!("{s}A"),
        format!("{s}=="),
        format!(" {}", &s[1..]),
        format!("{}\n", &s[..127]),
    ];
    for c in ['+', '/', '=', '.', '!', 'é'] {
        let mut t: Vec<char> = s.chars().collect();
        t[5] = c;
        let t: String = t.into_iter().collect();
        bad.push(t.chars().take(128).collect());
    }
    for candidate in &bad {
        assert!(
            RecipientKeys::from_compact(candidate).is_err(),
            "accepted {candidate:?}"
        );
    }
    // Non-canonical trailing bits of the long form.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut t = long.to_string();
    let last = t.pop().unwrap();
    let index = ALPHABET
        .iter()
        .position(|&c| char::from(c) == last)
        .unwrap();
    assert_eq!(index & 0b11, 0, "canonical encodings end in two zero bits");
    t.push(char::from(ALPHABET[index ^ 1]));
    assert!(RecipientKeys::from_compact(&t).is_err());
}

#[test]
fn stored_note_encoding() {
    for passphrase in [false, true] {
        let (stored, keys) = if passphrase {
            note::seal_note_with_passphrase_params(b"enc", b"pw", light_params()).unwrap()
        } else {
            note::seal_note(b"enc").unwrap()
        };
        let bytes = stored.to_bytes();
        let decoded = StoredNote::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, stored);
        assert_eq!(StoredNote::try_from(&bytes[..]).unwrap(), stored);
        let opened = note::open_note_with_passphrase(&decoded, &keys, Some(b"pw")).unwrap();
        assert_eq!(&opened[..], b"enc");

        // Every truncation and an extension are rejected.
        for len in 0..bytes.len() {
            assert!(
                StoredNote::from_bytes(&bytes[..len]).is_err(),
                "truncated to {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(StoredNote::from_bytes(&longer).is_err());

        // Header fields: magic, version, flags.
        for (i, v) in [(0, b'X'), (4, 2), (5, 0x02), (5, 0x80)] {
            let mut t = bytes.clone();
            t[i] = v;
            assert!(StoredNote::from_bytes(&t).is_err(), "byte {i} = {v}");
        }
        // Every single-byte flip either fails to decode or fails to open.
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            if let Ok(n) = StoredNote::from_bytes(&t) {
                assert!(
                    note::open_note_with_passphrase(&n, &keys, Some(b"pw")).is_err(),
                    "flip at {i} still opens"
                );
            }
        }
    }
}

#[test]
fn absurd_stored_costs_are_rejected_on_decode() {
    let (stored, _) =
        note::seal_note_with_passphrase_params(b"dos", b"pw", light_params()).unwrap();
    let bytes = stored.to_bytes();
    let params_at = 6 + 1184 + 1088 + 12 + 32 + 16;
    for (offset, value) in [
        (0, u32::MAX),
        (0, 262_145),
        (0, 0),
        (4, 0),
        (4, 17),
        (4, u32::MAX),
        (8, 0),
        (8, 17),
    ] {
        let mut t = bytes.clone();
        t[params_at + offset..params_at + offset + 4].copy_from_slice(&value.to_le_bytes());
        assert!(
            matches!(StoredNote::from_bytes(&t), Err(Error::Encoding(_))),
            "offset {offset} value {value}"
        );
    }
    // A declared ciphertext length beyond the input is an error, not an allocation.
    let len_at = params_at + 12;
    let mut t = bytes;
    t[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(StoredNote::from_bytes(&t).is_err());
}

#[test]
fn debug_does_not_leak() {
    let keys = RecipientKeys::from_seed([0xab; 64], [0xcd; 32]);
    let printed = format!("{keys:?} {keys:#?}");
    assert!(
        !printed.contains("ab") && !printed.contains("171"),
        "{printed}"
    );
    assert!(
        !printed.contains("cd") && !printed.contains("205"),
        "{printed}"
    );
}
