//! Wycheproof ML-DSA vectors (FIPS 204), every file and every case, for all three levels.
//!
//! - `sign_seed`: key generation from `ξ` must give `publicKey`; signing (deterministic, or
//!   with the given `rnd`; external `μ` for `Internal` cases) must give exactly `sig`, which
//!   must verify; invalid cases (bad seed length, context over 255 bytes) must be rejected.
//! - `sign_noseed`: these give *expanded* FIPS 204 private keys. This crate is seed-only by
//!   design (`ml-dsa` 0.1 may panic decoding malformed expanded keys, so the API never takes
//!   them), and the upstream guide allows seed-only implementations to ignore these files.
//!   They still run in full here, on what the API does offer: every valid `sig` must verify
//!   under `publicKey`; every invalid case must be rejected by the seed importer (the expanded
//!   key is refused by length) and, for an over-long context, by signing and verification.
//! - `verify`: valid signatures verify, invalid ones (or invalid keys) are rejected.
//!
//! Each file's case count must equal its `numberOfTests`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::panic_in_result_fn,
    reason = "a failing vector panics with its tcId"
)]

#[path = "support/wycheproof.rs"]
mod wycheproof;

use qsmm_shield::Error;
use qsmm_shield::dsa::{DsaKeypair, DsaLevel, DsaPublicKey, DsaSecretKey, DsaSignature};
use serde::Deserialize;
use wycheproof::{Expect, Hex, Source, load};

const LEVELS: [(DsaLevel, &str); 3] = [
    (DsaLevel::Dsa44, "44"),
    (DsaLevel::Dsa65, "65"),
    (DsaLevel::Dsa87, "87"),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignGroup {
    #[serde(rename = "type")]
    kind: String,
    source: Source,
    /// `null` in groups whose private key has a wrong length.
    public_key: Option<Hex>,
    /// Seed files: `ξ`.
    #[serde(default)]
    private_seed: Option<Hex>,
    /// Seed files: PKCS#8 of the seed (not used: the API takes raw seeds).
    #[serde(default)]
    #[allow(dead_code, reason = "mirrors the file")]
    private_key_pkcs8: Option<Hex>,
    /// Noseed files: the expanded private key.
    #[serde(default)]
    private_key: Option<Hex>,
    tests: Vec<SignCase>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignCase {
    tc_id: u32,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    msg: Option<Hex>,
    #[serde(default)]
    ctx: Hex,
    #[serde(default)]
    mu: Option<Hex>,
    #[serde(default)]
    rnd: Option<Hex>,
    sig: Hex,
    result: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyGroup {
    #[serde(rename = "type")]
    kind: String,
    source: Source,
    public_key: Hex,
    #[allow(dead_code, reason = "mirrors the file; the API takes raw keys")]
    public_key_der: Hex,
    tests: Vec<VerifyCase>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyCase {
    tc_id: u32,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    flags: Vec<String>,
    msg: Hex,
    #[serde(default)]
    ctx: Hex,
    sig: Hex,
    result: Expect,
}

fn array<const N: usize>(hex: &Hex, id: &str) -> [u8; N] {
    hex.bytes()
        .try_into()
        .unwrap_or_else(|_| panic!("{id}: expected {N} bytes"))
}

/// Signs one seed-file case with our API; `Err` means "rejected".
fn sign_case(
    level: DsaLevel,
    group: &SignGroup,
    case: &SignCase,
    id: &str,
) -> qsmm_shield::Result<DsaSignature> {
    let seed = group.private_seed.as_ref().unwrap();
    let key = DsaSecretKey::from_bytes(level, seed.bytes())?;
    let expected = group
        .public_key
        .as_ref()
        .unwrap_or_else(|| panic!("{id}: no public key"));
    assert_eq!(
        key.public_key().to_bytes(),
        expected.bytes(),
        "{id}: keygen"
    );
    let rnd = case.rnd.as_ref().map_or([0u8; 32], |r| array(r, id));
    match (&case.msg, &case.mu) {
        (Some(msg), _) if case.rnd.is_none() => {
            key.sign_deterministic(msg.bytes(), case.ctx.bytes())
        }
        (Some(msg), _) => key.sign_with_randomness(msg.bytes(), case.ctx.bytes(), &rnd),
        (None, Some(mu)) => key.sign_mu_with_randomness(&array(mu, id), &rnd),
        (None, None) => panic!("{id}: neither msg nor mu"),
    }
}

/// Verifies `sig` for a sign-file case under the group's public key.
fn verify_case(level: DsaLevel, group: &SignGroup, case: &SignCase, sig: &DsaSignature, id: &str) {
    let public = group
        .public_key
        .as_ref()
        .unwrap_or_else(|| panic!("{id}: no public key"));
    let public = DsaPublicKey::from_bytes(level, public.bytes()).unwrap();
    let outcome = match (&case.msg, &case.mu) {
        (Some(msg), _) => public.verify_with_context(msg.bytes(), case.ctx.bytes(), sig),
        (None, Some(mu)) => public.verify_mu(&array(mu, id), sig),
        (None, None) => panic!("{id}: neither msg nor mu"),
    };
    outcome.unwrap_or_else(|e| panic!("{id}: signature does not verify: {e}"));
}

#[test]
fn mldsa_sign_seed_test() {
    for (level, name) in LEVELS {
        let file = format!("mldsa_{name}_sign_seed_test.json");
        let parsed = load::<SignGroup>(&file);
        assert_eq!(parsed.algorithm, level.name(), "{file}");
        let (mut count, mut rejected) = (0, 0);
        for group in &parsed.test_groups {
            assert_eq!(group.kind, "MlDsaSign", "{file}");
            assert!(!group.source.name.is_empty());
            for case in &group.tests {
                count += 1;
                let id = format!(
                    "{file} tcId {} ({}, {:?})",
                    case.tc_id, case.comment, case.flags
                );
                match (case.result, sign_case(level, group, case, &id)) {
                    (Expect::Valid, Ok(sig)) => {
                        assert_eq!(sig.as_bytes(), case.sig.bytes(), "{id}: sig");
                        verify_case(level, group, case, &sig, &id);
                    }
                    (Expect::Valid, Err(e)) => panic!("{id}: valid case rejected: {e}"),
                    (Expect::Invalid, Ok(_)) => panic!("{id}: invalid case accepted"),
                    (Expect::Invalid, Err(e)) => {
                        assert!(
                            matches!(e, Error::InvalidLength { .. } | Error::InvalidParameter(_)),
                            "{id}: {e:?}"
                        );
                        rejected += 1;
                    }
                    (Expect::Acceptable, _) => {}
                }
            }
        }
        assert_eq!(count, parsed.number_of_tests, "{file}: cases run");
        assert!(rejected > 0, "{file}: no invalid case exercised");
    }
}

#[test]
fn mldsa_sign_noseed_test() {
    for (level, name) in LEVELS {
        let file = format!("mldsa_{name}_sign_noseed_test.json");
        let parsed = load::<SignGroup>(&file);
        assert_eq!(parsed.algorithm, level.name(), "{file}");
        let mut count = 0;
        for group in &parsed.test_groups {
            assert_eq!(group.kind, "MlDsaSign", "{file}");
            assert!(!group.source.name.is_empty());
            let expanded = group.private_key.as_ref().unwrap();
            // The seed-only API refuses the expanded form, whatever its content.
            assert!(
                matches!(
                    DsaSecretKey::from_bytes(level, expanded.bytes()),
                    Err(Error::InvalidLength { .. })
                ),
                "{file}: expanded key accepted"
            );
            for case in &group.tests {
                count += 1;
                let id = format!(
                    "{file} tcId {} ({}, {:?})",
                    case.tc_id, case.comment, case.flags
                );
                match case.result {
                    Expect::Valid => {
                        let sig = DsaSignature::from_bytes(level, case.sig.bytes()).unwrap();
                        verify_case(level, group, case, &sig, &id);
                    }
                    Expect::Invalid => {
                        let known = [
                            "InvalidContext",
                            "IncorrectPrivateKeyLength",
                            "InvalidPrivateKey",
                        ];
                        assert!(
                            case.flags.iter().any(|f| known.contains(&f.as_str())),
                            "{id}: unexpected kind of invalid case"
                        );
                        if case.flags.iter().any(|f| f == "InvalidContext") {
                            let msg = case.msg.as_ref().unwrap().bytes();
                            let pair = DsaKeypair::from_seed(level, &[7; 32]);
                            assert!(
                                matches!(
                                    pair.secret_key().sign_with_context(msg, case.ctx.bytes()),
                                    Err(Error::InvalidParameter(_))
                                ),
                                "{id}"
                            );
                            let sig = pair.secret_key().sign(msg).unwrap();
                            assert!(
                                pair.public_key()
                                    .verify_with_context(msg, case.ctx.bytes(), &sig)
                                    .is_err(),
                                "{id}"
                            );
                        }
                    }
                    Expect::Acceptable => {}
                }
            }
        }
        assert_eq!(count, parsed.number_of_tests, "{file}: cases run");
    }
}

#[test]
fn mldsa_verify_test() {
    for (level, name) in LEVELS {
        let file = format!("mldsa_{name}_verify_test.json");
        let parsed = load::<VerifyGroup>(&file);
        assert_eq!(parsed.algorithm, level.name(), "{file}");
        let (mut count, mut rejected) = (0, 0);
        for group in &parsed.test_groups {
            assert_eq!(group.kind, "MlDsaVerify", "{file}");
            assert!(!group.source.name.is_empty());
            for case in &group.tests {
                count += 1;
                let id = format!(
                    "{file} tcId {} ({}, {:?})",
                    case.tc_id, case.comment, case.flags
                );
                let outcome =
                    DsaPublicKey::from_bytes(level, group.public_key.bytes()).and_then(|pk| {
                        let sig = DsaSignature::from_bytes(level, case.sig.bytes())?;
                        pk.verify_with_context(case.msg.bytes(), case.ctx.bytes(), &sig)
                    });
                match (case.result, outcome) {
                    (Expect::Valid, Ok(())) => {}
                    (Expect::Valid, Err(e)) => panic!("{id}: valid signature rejected: {e}"),
                    (Expect::Invalid, Ok(())) => panic!("{id}: invalid signature accepted"),
                    (Expect::Invalid, Err(e)) => {
                        assert!(
                            matches!(e, Error::InvalidSignature | Error::InvalidLength { .. }),
                            "{id}: {e:?}"
                        );
                        rejected += 1;
                    }
                    (Expect::Acceptable, _) => {}
                }
            }
        }
        assert_eq!(count, parsed.number_of_tests, "{file}: cases run");
        assert!(rejected > 0, "{file}: no invalid case exercised");
    }
}
