//! The browser cryptography (`assets/note.js`) against the Rust note scheme, under node:
//!
//! - notes sealed by Rust open in the JavaScript code, notes sealed in JavaScript open with
//!   `qsmm_shield::note` and re-encode to the same bytes, with and without passphrase;
//! - a flipped byte in every field, or wrong link keys, fail the same way on both sides;
//! - the claim tokens computed in JavaScript are the documented HKDF values;
//! - node's own test suite (`web/test/`) passes, including the check that the vendored bundle
//!   matches a rebuild from `package-lock.json`.
//!
//! Needs `node` (20 or later). Without it the tests are skipped with a message, except under
//! `QSMM_REQUIRE_EXTERNAL=1` (CI), where a missing node fails them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use qsmm_test_support::external;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hkdf::Hkdf;
use qsmm_shield::note::{
    self, NoteOpenError, PassphraseParams, RecipientKeys, StoredNote, open_note_with_passphrase,
};
use serde_json::{Value, json};
use sha2::Sha256;

/// Light Argon2id costs so the many passphrase cases stay fast.
const LIGHT: (u32, u32, u32) = (64, 1, 1);

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// `node`, or `None` after reporting why the test is skipped (a panic under CI).
fn node(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PARAVOID_NODE")
        .map(PathBuf::from)
        .or_else(|| external::find_program("node"));
    let version = found.as_ref().and_then(|node| {
        Command::new(node)
            .arg("--version")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    let major = version
        .as_deref()
        .and_then(|v| v.strip_prefix('v'))
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse::<u32>().ok());
    match (found, major) {
        (Some(node), Some(major)) if major >= 20 => Some(node),
        _ => {
            let why = "node 20 or later is not installed (`apt-get install nodejs npm`), or \
                       set PARAVOID_NODE";
            skip_or_fail(test, why);
            None
        }
    }
}

fn skip_or_fail(_test: &str, why: &str) {
    external::skip(why);
}

/// Runs `web/interop.mjs` with one request and returns its answer.
fn interop(node: &Path, request: &Value) -> Value {
    let mut child = Command::new(node)
        .arg(web_dir().join("interop.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "interop.mjs failed");
    serde_json::from_slice(&out.stdout).expect("interop.mjs answers JSON")
}

/// One opening attempt, given to both sides.
#[derive(Clone, Debug)]
struct Case {
    what: String,
    note: Vec<u8>,
    compact: String,
    passphrase: Option<String>,
}

/// What Rust makes of a case, in the JavaScript library's words.
fn rust_outcome(case: &Case) -> Value {
    let Ok(stored) = StoredNote::from_bytes(&case.note) else {
        return json!({ "error": "encoding" });
    };
    let Ok(keys) = RecipientKeys::from_compact(&case.compact) else {
        return json!({ "error": "encoding" });
    };
    match open_note_with_passphrase(
        &stored,
        &keys,
        case.passphrase.as_deref().map(str::as_bytes),
    ) {
        Ok(plaintext) => json!({ "plaintext": hex::encode(&plaintext[..]) }),
        Err(NoteOpenError::WrongKeys) => json!({ "error": "wrong-keys" }),
        Err(NoteOpenError::WrongPassphrase) => json!({ "error": "wrong-passphrase" }),
        Err(NoteOpenError::PassphraseRequired) => json!({ "error": "passphrase-required" }),
        Err(NoteOpenError::Corrupt) => json!({ "error": "corrupt" }),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

/// Every case opened by JavaScript: the answers, in order.
fn js_outcomes(node: &Path, cases: &[Case]) -> Vec<Value> {
    let request: Vec<Value> = cases
        .iter()
        .map(|case| {
            json!({
                "note": hex::encode(&case.note),
                "compact": case.compact,
                "passphrase": case.passphrase,
            })
        })
        .collect();
    let answer = interop(node, &json!({ "open": request }));
    answer["opened"].as_array().unwrap().clone()
}

/// The negative variants of a good case: a flipped bit in every field, a missing or wrong
/// passphrase, other link keys, a truncated encoding.
fn variants(good: &Case, other_compact: &str) -> Vec<Case> {
    let has_passphrase = good.note[5] & 1 == 1;
    let len = good.note.len();
    let mut fields = vec![
        ("magic", 0),
        ("flags", 5),
        ("ek", 6 + 500),
        ("ct_kem", 1190 + 3),
        ("nonce", 2278 + 11),
        ("key_check", 2290),
        ("ciphertext", len - 17),
        ("tag", len - 1),
    ];
    if has_passphrase {
        fields.push(("salt", 2322 + 8));
        fields.push(("m_cost", 2338));
    }
    let mut cases: Vec<Case> = fields
        .into_iter()
        .map(|(what, index)| {
            let mut note = good.note.clone();
            note[index] ^= 1;
            Case {
                what: format!("{}: flipped {what}", good.what),
                note,
                ..good.clone()
            }
        })
        .collect();
    cases.push(Case {
        what: format!("{}: other link keys", good.what),
        compact: other_compact.to_owned(),
        ..good.clone()
    });
    cases.push(Case {
        what: format!("{}: truncated", good.what),
        note: good.note[..len - 1].to_vec(),
        ..good.clone()
    });
    if has_passphrase {
        cases.push(Case {
            what: format!("{}: no passphrase", good.what),
            passphrase: None,
            ..good.clone()
        });
        cases.push(Case {
            what: format!("{}: wrong passphrase", good.what),
            passphrase: Some("wrong horse".to_owned()),
            ..good.clone()
        });
    }
    cases
}

/// A note sealed by Rust, as a case.
fn rust_sealed(what: &str, plaintext: &[u8], passphrase: Option<&str>) -> Case {
    let (stored, keys) = match passphrase {
        None => note::seal_note(plaintext).unwrap(),
        Some(passphrase) => {
            let params = PassphraseParams::with_costs(LIGHT.0, LIGHT.1, LIGHT.2).unwrap();
            note::seal_note_with_passphrase_params(plaintext, passphrase.as_bytes(), params)
                .unwrap()
        }
    };
    Case {
        what: what.to_owned(),
        note: stored.to_bytes(),
        compact: keys.to_compact().as_str().to_owned(),
        passphrase: passphrase.map(str::to_owned),
    }
}

/// HKDF-SHA256 with an empty salt, 32 bytes: the claim token derivation.
fn hkdf32(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

#[test]
fn notes_sealed_by_rust_open_in_javascript_and_fail_alike() {
    let Some(node) = node("notes_sealed_by_rust_open_in_javascript_and_fail_alike") else {
        return;
    };
    let message = "Door code: 4711 — ünïcödé ✓".as_bytes();
    let plain = rust_sealed("rust, no passphrase", message, None);
    let with = rust_sealed("rust, passphrase", message, Some("correct horse"));
    let (_, other) = note::seal_note(b"other").unwrap();
    let other = other.to_compact();
    let mut cases = vec![plain.clone(), with.clone()];
    cases.extend(variants(&plain, &other));
    cases.extend(variants(&with, &other));
    // Keys in the expanded form (no seed) open too.
    let keys = RecipientKeys::from_compact(&plain.compact).unwrap();
    let expanded =
        RecipientKeys::from_expanded(&keys.expanded_decapsulation_key(), keys.classical_secret())
            .unwrap();
    cases.push(Case {
        what: "rust, expanded keys".to_owned(),
        compact: expanded.to_compact().as_str().to_owned(),
        ..plain
    });

    let js = js_outcomes(&node, &cases);
    assert_eq!(js.len(), cases.len());
    for (case, js) in cases.iter().zip(&js) {
        assert_eq!(js, &rust_outcome(case), "{}", case.what);
    }
    let expected = json!({ "plaintext": hex::encode(message) });
    assert_eq!(js[0], expected);
    assert_eq!(js[1], expected);
    assert_eq!(js[cases.len() - 1], expected);
    // The negative cases are negative (a test that opened everything would agree too).
    for (case, js) in cases[2..cases.len() - 1].iter().zip(&js[2..]) {
        assert!(js.get("error").is_some(), "{}: {js}", case.what);
    }
}

#[test]
fn notes_sealed_in_javascript_open_with_rust_and_fail_alike() {
    let Some(node) = node("notes_sealed_in_javascript_open_with_rust_and_fail_alike") else {
        return;
    };
    let message = "the safe is behind the painting ✓".as_bytes();
    let costs = json!({ "m_cost_kib": LIGHT.0, "t_cost": LIGHT.1, "p_cost": LIGHT.2 });
    let answer = interop(
        &node,
        &json!({ "seal": [
            { "plaintext": hex::encode(message), "passphrase": null, "costs": null },
            { "plaintext": hex::encode(message), "passphrase": "correct horse", "costs": costs },
            { "plaintext": hex::encode(b"x"), "passphrase": "pw", "costs": null },
        ]}),
    );
    let sealed = answer["sealed"].as_array().unwrap();
    let mut goods = Vec::new();
    for (index, (one, passphrase)) in sealed
        .iter()
        .zip([None, Some("correct horse"), Some("pw")])
        .enumerate()
    {
        let bytes = hex::decode(one["note"].as_str().unwrap()).unwrap();
        let compact = one["compact"].as_str().unwrap();
        // Byte for byte: Rust decodes the JavaScript encoding and re-encodes the same bytes.
        let stored = StoredNote::from_bytes(&bytes).unwrap();
        assert_eq!(stored.to_bytes(), bytes);
        assert_eq!(stored.needs_passphrase(), passphrase.is_some());
        let keys = RecipientKeys::from_compact(compact).unwrap();
        assert!(keys.seed().is_some());
        assert_eq!(keys.to_compact().as_str(), compact);
        note::check_link_keys(&stored, &keys).unwrap();
        let plaintext =
            open_note_with_passphrase(&stored, &keys, passphrase.map(str::as_bytes)).unwrap();
        let expected: &[u8] = if index == 2 { b"x" } else { message };
        assert_eq!(&plaintext[..], expected);
        if index == 2 {
            // The browser's default costs are the Rust defaults.
            let params = stored.passphrase.as_ref().unwrap();
            assert_eq!(
                (params.m_cost_kib, params.t_cost, params.p_cost),
                (
                    PassphraseParams::DEFAULT_M_COST_KIB,
                    PassphraseParams::DEFAULT_T_COST,
                    PassphraseParams::DEFAULT_P_COST
                )
            );
            continue;
        }

        // The claim tokens are the documented derivations of the link keys (and Argon2id).
        let raw = base64_url(compact);
        assert_eq!(
            one["claim"].as_str().unwrap(),
            hex::encode(hkdf32(&raw, b"paravoid/v1/e2e/claim"))
        );
        match passphrase {
            None => assert!(one["passphrase_token"].is_null()),
            Some(passphrase) => {
                let params = stored.passphrase.as_ref().unwrap();
                let pw = argon2id(passphrase, params);
                let ikm = [raw.as_slice(), &pw].concat();
                assert_eq!(
                    one["passphrase_token"].as_str().unwrap(),
                    hex::encode(hkdf32(&ikm, b"paravoid/v1/e2e/passphrase"))
                );
            }
        }
        goods.push(Case {
            what: format!("javascript #{index}"),
            note: bytes,
            compact: compact.to_owned(),
            passphrase: passphrase.map(str::to_owned),
        });
    }

    // The negative cases, decided by both sides.
    let (_, other) = note::seal_note(b"other").unwrap();
    let other = other.to_compact();
    let cases: Vec<Case> = goods
        .iter()
        .flat_map(|good| variants(good, &other))
        .collect();
    let js = js_outcomes(&node, &cases);
    for (case, js) in cases.iter().zip(&js) {
        let rust = rust_outcome(case);
        assert!(rust.get("error").is_some(), "{}: {rust}", case.what);
        assert_eq!(js, &rust, "{}", case.what);
    }
}

#[test]
fn node_test_suite_passes() {
    let Some(node) = node("node_test_suite_passes") else {
        return;
    };
    if !web_dir().join("node_modules/esbuild").is_dir() {
        skip_or_fail(
            "node_test_suite_passes",
            "paravoid/web/node_modules is missing (run `npm ci` in paravoid/web)",
        );
        return;
    }
    let status = Command::new(node)
        .args(["--test", "test/"])
        .current_dir(web_dir())
        .status()
        .expect("run node --test");
    assert!(status.success(), "node --test failed in paravoid/web");
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn argon2id(passphrase: &str, params: &PassphraseParams) -> [u8; 32] {
    let costs =
        argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32)).unwrap();
    let mut out = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, costs)
        .hash_password_into(passphrase.as_bytes(), &params.salt, &mut out)
        .unwrap();
    out
}
