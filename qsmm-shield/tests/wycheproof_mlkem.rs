//! Wycheproof ML-KEM vectors (FIPS 203), every file and every case, for all three levels.
//!
//! Valid cases must reproduce the expected outputs; invalid ones must be rejected by key import,
//! encapsulation or decapsulation. Each file's case count must equal its `numberOfTests`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a failing vector panics with its tcId"
)]

#[path = "support/wycheproof.rs"]
mod wycheproof;

use qsmm_shield::Error;
use qsmm_shield::kem::{KemKeypair, KemLevel, KemPublicKey, KemSecretKey};
use serde::Deserialize;
use wycheproof::{Expect, Hex, Source, load};

const LEVELS: [(KemLevel, &str); 3] = [
    (KemLevel::Kem512, "512"),
    (KemLevel::Kem768, "768"),
    (KemLevel::Kem1024, "1024"),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Group<T> {
    #[serde(rename = "type")]
    kind: String,
    parameter_set: String,
    source: Source,
    tests: Vec<T>,
}

/// `mlkem_*_test.json`: key generation from seed, then decapsulation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecapsCase {
    tc_id: u32,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    flags: Vec<String>,
    seed: Hex,
    #[serde(default)]
    ek: Option<Hex>,
    c: Hex,
    #[serde(rename = "K")]
    k: Hex,
    result: Expect,
}

/// `mlkem_*_encaps_test.json`: deterministic encapsulation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EncapsCase {
    tc_id: u32,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    flags: Vec<String>,
    ek: Hex,
    m: Hex,
    c: Hex,
    #[serde(rename = "K")]
    k: Hex,
    result: Expect,
}

/// `mlkem_*_keygen_seed_test.json`: key generation, including the expanded key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeygenCase {
    tc_id: u32,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    flags: Vec<String>,
    seed: Hex,
    ek: Hex,
    dk: Hex,
    result: Expect,
}

/// `mlkem_*_semi_expanded_decaps_test.json`: import of expanded keys, then decapsulation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExpandedDecapsCase {
    tc_id: u32,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    flags: Vec<String>,
    dk: Hex,
    #[serde(default)]
    ek: Option<Hex>,
    c: Hex,
    #[serde(rename = "K", default)]
    k: Option<Hex>,
    result: Expect,
}

/// Loads a file, checks the groups' parameter set, runs `check` on every case and returns the
/// number of cases, which must equal `numberOfTests`.
fn run<T: serde::de::DeserializeOwned>(
    file: &str,
    level: KemLevel,
    group_type: &str,
    mut check: impl FnMut(&T),
) {
    let parsed = load::<Group<T>>(file);
    assert_eq!(parsed.algorithm, "ML-KEM", "{file}");
    let mut count = 0;
    for group in &parsed.test_groups {
        assert_eq!(group.kind, group_type, "{file}");
        assert_eq!(group.parameter_set, level.name(), "{file}");
        assert!(!group.source.name.is_empty());
        for case in &group.tests {
            check(case);
            count += 1;
        }
    }
    assert_eq!(count, parsed.number_of_tests, "{file}: cases run");
    assert!(count > 0, "{file}: no cases");
}

#[test]
fn mlkem_test() {
    for (level, name) in LEVELS {
        let file = format!("mlkem_{name}_test.json");
        let mut rejected = 0;
        run(&file, level, "MLKEMTest", |case: &DecapsCase| {
            let id = format!("{file} tcId {} ({})", case.tc_id, case.comment);
            let key = KemSecretKey::from_bytes(level, case.seed.bytes());
            let outcome = key.and_then(|key| {
                let ek = key.public_key().to_bytes();
                key.decapsulate_bytes(case.c.bytes()).map(|k| (ek, k))
            });
            match (case.result, outcome) {
                (Expect::Valid, Ok((ek, k))) => {
                    if let Some(expected) = &case.ek {
                        assert_eq!(ek, expected.bytes(), "{id}: ek");
                    }
                    assert_eq!(k.as_bytes().as_slice(), case.k.bytes(), "{id}: K");
                }
                (Expect::Valid, Err(e)) => panic!("{id}: valid case rejected: {e}"),
                (Expect::Invalid, Ok(_)) => panic!("{id}: invalid case accepted"),
                (Expect::Invalid, Err(e)) => {
                    assert!(matches!(e, Error::InvalidLength { .. }), "{id}: {e:?}");
                    rejected += 1;
                }
                (Expect::Acceptable, _) => {}
            }
            let _ = &case.flags;
        });
        assert!(rejected > 0, "{file}: no invalid case was exercised");
    }
}

#[test]
fn mlkem_encaps_test() {
    for (level, name) in LEVELS {
        let file = format!("mlkem_{name}_encaps_test.json");
        run(&file, level, "MLKEMEncapsTest", |case: &EncapsCase| {
            let id = format!("{file} tcId {} ({})", case.tc_id, case.comment);
            let key = KemPublicKey::from_bytes(level, case.ek.bytes());
            match (case.result, key) {
                (Expect::Valid, Ok(key)) => {
                    assert_eq!(key.to_bytes(), case.ek.bytes(), "{id}: ek round trip");
                    let m: [u8; 32] = case.m.bytes().try_into().unwrap();
                    let (c, k) = key.encapsulate_deterministic(&m);
                    assert_eq!(c.as_bytes(), case.c.bytes(), "{id}: c");
                    assert_eq!(k.as_bytes().as_slice(), case.k.bytes(), "{id}: K");
                }
                (Expect::Valid, Err(e)) => panic!("{id}: valid key rejected: {e}"),
                (Expect::Invalid, Ok(_)) => panic!("{id}: invalid key accepted"),
                (Expect::Invalid, Err(e)) => {
                    let unreduced = case.flags.iter().any(|f| f == "ModulusOverflow")
                        || case.comment == "Public key not reduced";
                    if unreduced {
                        assert!(matches!(e, Error::InvalidKey), "{id}: {e:?}");
                    } else {
                        assert!(matches!(e, Error::InvalidLength { .. }), "{id}: {e:?}");
                    }
                }
                (Expect::Acceptable, _) => {}
            }
        });
    }
}

#[test]
fn mlkem_keygen_seed_test() {
    for (level, name) in LEVELS {
        let file = format!("mlkem_{name}_keygen_seed_test.json");
        run(&file, level, "MLKEMKeyGen", |case: &KeygenCase| {
            let id = format!("{file} tcId {} ({})", case.tc_id, case.comment);
            assert_eq!(case.result, Expect::Valid, "{id}");
            assert!(case.flags.iter().all(|f| !f.is_empty()));
            let seed: [u8; 64] = case.seed.bytes().try_into().unwrap();
            let pair = KemKeypair::from_seed(level, &seed);
            assert_eq!(pair.public_key().to_bytes(), case.ek.bytes(), "{id}: ek");
            assert_eq!(
                &pair.secret_key().to_expanded()[..],
                case.dk.bytes(),
                "{id}: dk"
            );
            assert_eq!(*pair.secret_key().to_seed().unwrap(), seed, "{id}: seed");

            // The expanded form imports to the same key (and has no seed).
            let imported = KemSecretKey::from_expanded(level, case.dk.bytes()).unwrap();
            assert_eq!(
                imported.public_key(),
                *pair.public_key(),
                "{id}: imported ek"
            );
            assert!(imported.to_seed().is_none(), "{id}");
            assert_eq!(
                &imported.to_expanded()[..],
                case.dk.bytes(),
                "{id}: dk round trip"
            );
        });
    }
}

#[test]
fn mlkem_semi_expanded_decaps_test() {
    for (level, name) in LEVELS {
        let file = format!("mlkem_{name}_semi_expanded_decaps_test.json");
        run(
            &file,
            level,
            "MLKEMDecapsValidationTest",
            |case: &ExpandedDecapsCase| {
                let id = format!(
                    "{file} tcId {} ({}, {:?})",
                    case.tc_id, case.comment, case.flags
                );
                let outcome = KemSecretKey::from_expanded(level, case.dk.bytes())
                    .and_then(|key| key.decapsulate_bytes(case.c.bytes()));
                match (case.result, outcome) {
                    (Expect::Valid, Ok(k)) => {
                        let expected = case.k.as_ref().unwrap();
                        assert_eq!(k.as_bytes().as_slice(), expected.bytes(), "{id}: K");
                    }
                    (Expect::Valid, Err(e)) => panic!("{id}: valid case rejected: {e}"),
                    (Expect::Invalid, Ok(_)) => panic!("{id}: invalid case accepted"),
                    (Expect::Invalid, Err(e)) => {
                        let hash_check = case.flags.iter().any(|f| f == "InvalidDecapsulationKey");
                        if hash_check {
                            assert!(matches!(e, Error::InvalidKey), "{id}: {e:?}");
                        } else {
                            assert!(matches!(e, Error::InvalidLength { .. }), "{id}: {e:?}");
                        }
                    }
                    (Expect::Acceptable, _) => {}
                }
                let _ = &case.ek;
            },
        );
    }
}
