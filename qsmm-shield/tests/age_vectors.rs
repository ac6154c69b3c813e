//! The C2SP CCTV age vectors (`tests/vectors/age/`): every file decrypts, or fails in the
//! class its `expect:` line names, and the plaintext released (also before a payload failure)
//! hashes to its `payload:` line. Files with `passphrase:` lines are opened with each
//! passphrase (and with the identities, if any), and every attempt must give that outcome.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use std::fs;
use std::io::Read;
use std::path::Path;

use qsmm_shield::age::{AgeError, Decryptor, Identity, Passphrase};
use sha2::{Digest, Sha256};

/// The passphrase (`scrypt`) vectors.
const PASSPHRASE_VECTORS: usize = 26;
/// Every vector file (the directory also holds `README.md` and `LICENSE`).
const VECTOR_FILES: usize = 143;

struct Vector {
    name: String,
    expect: String,
    payload: Option<String>,
    identities: Vec<String>,
    passphrases: Vec<String>,
    armored: bool,
    file: Vec<u8>,
}

fn load(path: &Path) -> Vector {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = fs::read(path).unwrap();
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or_else(|| panic!("{name}: no blank line after the header"));
    let (text, body) = (&bytes[..split], &bytes[split + 2..]);
    let mut vector = Vector {
        name: name.clone(),
        expect: String::new(),
        payload: None,
        identities: Vec::new(),
        passphrases: Vec::new(),
        armored: false,
        file: body.to_vec(),
    };
    let mut compressed = false;
    for line in std::str::from_utf8(text).unwrap().lines() {
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{name}: {line}"));
        match key {
            "expect" => vector.expect = value.to_owned(),
            "payload" => vector.payload = Some(value.to_owned()),
            "identity" => vector.identities.push(value.to_owned()),
            "passphrase" => vector.passphrases.push(value.to_owned()),
            "armored" => vector.armored = value == "yes",
            "compressed" => {
                assert_eq!(value, "zlib", "{name}");
                compressed = true;
            }
            "file key" | "comment" => {}
            other => panic!("{name}: unknown key {other}"),
        }
    }
    if compressed {
        vector.file = miniz_oxide::inflate::decompress_to_vec_zlib(body)
            .unwrap_or_else(|e| panic!("{name}: zlib: {e:?}"));
    }
    vector
}

/// The CCTV name of a failure class.
fn class(error: &AgeError) -> &'static str {
    match error {
        AgeError::NoMatch => "no match",
        // A work factor above the bound is a header failure in the vectors' terms.
        AgeError::Header | AgeError::WorkFactor => "header failure",
        AgeError::HeaderMac => "HMAC failure",
        AgeError::Payload => "payload failure",
        AgeError::Armor => "armor failure",
        _ => "other error",
    }
}

/// Decrypts as far as possible: the outcome class and every plaintext byte released.
fn run(identities: &[Identity], file: &[u8]) -> (&'static str, Vec<u8>) {
    finish(Decryptor::new(identities, file))
}

/// As [`run`], with a passphrase.
fn run_passphrase(passphrase: &str, file: &[u8]) -> (&'static str, Vec<u8>) {
    let passphrase = Passphrase::new(passphrase);
    finish(Decryptor::with_passphrase(&passphrase, file))
}

fn finish(decryptor: Result<Decryptor<&[u8]>, AgeError>) -> (&'static str, Vec<u8>) {
    let mut released = Vec::new();
    let outcome = match decryptor {
        Err(error) => class(&error),
        Ok(mut reader) => match reader.read_to_end(&mut released) {
            Ok(_) => "success",
            Err(error) => class(&AgeError::from_io(error)),
        },
    };
    (outcome, released)
}

fn vectors() -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/age");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap();
            name != "README.md" && name != "LICENSE"
        })
        .collect();
    paths.sort();
    assert_eq!(paths.len(), VECTOR_FILES, "vector files missing");
    paths.iter().map(|path| load(path)).collect()
}

#[test]
fn every_cctv_vector_behaves_as_expected() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut armored = 0;
    let mut passphrase = 0;
    for vector in vectors() {
        let identities: Vec<Identity> = vector
            .identities
            .iter()
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|e| panic!("{}: identity: {e}", vector.name))
            })
            .collect();
        let mut attempts = Vec::new();
        if !identities.is_empty() || vector.passphrases.is_empty() {
            attempts.push(("identities".to_owned(), run(&identities, &vector.file)));
        }
        for secret in &vector.passphrases {
            attempts.push((
                format!("passphrase {secret:?}"),
                run_passphrase(secret, &vector.file),
            ));
        }
        let mut passed = true;
        for (how, (outcome, released)) in attempts {
            if outcome != vector.expect {
                failures.push(format!(
                    "{} ({how}): expected {}, got {outcome}",
                    vector.name, vector.expect
                ));
                passed = false;
                continue;
            }
            if let Some(payload) = &vector.payload {
                let hash = hex::encode(Sha256::digest(&released));
                if &hash != payload {
                    failures.push(format!(
                        "{} ({how}): released {} bytes hashing to {hash}, expected {payload}",
                        vector.name,
                        released.len()
                    ));
                    passed = false;
                }
            }
        }
        if passed {
            checked += 1;
            armored += usize::from(vector.armored);
            passphrase += usize::from(!vector.passphrases.is_empty());
        }
    }
    println!("age vectors: {checked} checked ({armored} armored, {passphrase} passphrase)");
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passphrase, PASSPHRASE_VECTORS);
    assert_eq!(checked, VECTOR_FILES);
}

/// Flipping any one bit of a valid file, in the header or the payload, makes it fail (and
/// never panic).
#[test]
fn flipping_any_byte_of_a_valid_file_fails() {
    for name in ["x25519", "hybrid", "armor_hybrid"] {
        let vector = vectors().into_iter().find(|v| v.name == name).unwrap();
        let identities: Vec<Identity> = vector
            .identities
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(run(&identities, &vector.file).0, "success", "{name}");
        let step = if vector.armored { 7 } else { 1 };
        for position in (0..vector.file.len()).step_by(step) {
            let mut file = vector.file.clone();
            file[position] ^= 0x01;
            let (outcome, _) = run(&identities, &file);
            assert_ne!(outcome, "success", "{name}: flipped byte {position}");
        }
    }
}
