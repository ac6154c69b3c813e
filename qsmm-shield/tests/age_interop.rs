//! A second age implementation: typage (the npm package `age-encryption`, pinned in
//! `tests/age-interop/package-lock.json`) run by node opens what qsmm encrypts, and qsmm opens
//! what typage encrypts, for X25519 and hybrid recipients, several recipients per file, armor,
//! and sizes across STREAM chunk boundaries.
//!
//! Needs `node` and `npm ci` in `tests/age-interop`: without them the test fails under
//! `QSMM_REQUIRE_EXTERNAL=1` (set by `.ci/run`) and is skipped (with a message) otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test helpers panic on failure by design"
)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use qsmm_shield::age::{self, AgeError, Identity, Passphrase, Recipient};
use qsmm_test_support::external::skip;

/// Sizes around the 64 KiB chunk boundary, up to 1 MiB.
const SIZES: [usize; 6] = [0, 1, 65_535, 65_536, 65_537, 1 << 20];

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/age-interop")
}

/// Whether the test can run; `false` after printing why it is skipped.
fn prerequisites() -> bool {
    let node = Command::new("node").arg("--version").output();
    let installed = interop_dir()
        .join("node_modules/age-encryption/package.json")
        .exists();
    let problem = match node {
        Ok(out) if out.status.success() && installed => return true,
        Ok(out) if out.status.success() => {
            "typage is not installed: run `npm ci` in qsmm-shield/tests/age-interop"
        }
        _ => "node is not installed",
    };
    skip(problem);
    false
}

/// Deterministic filler data, different per case.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn json_string(s: &str) -> String {
    format!("\"{s}\"")
}

#[test]
fn typage_and_qsmm_open_each_others_files() {
    if !prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();

    let hybrid: Vec<Identity> = (0..3)
        .map(|_| Identity::generate_hybrid().unwrap())
        .collect();
    let x25519: Vec<Identity> = (0..2)
        .map(|_| Identity::generate_x25519().unwrap())
        .collect();
    let kinds: [(&str, &[Identity]); 2] = [("hybrid", &hybrid), ("x25519", &x25519)];

    // qsmm encrypts; typage decrypts.
    let mut decrypt_jobs = Vec::new();
    let mut case = 0u64;
    for (kind, ids) in kinds {
        for len in SIZES {
            for armor in [false, true] {
                if armor && len > 65_537 {
                    continue;
                }
                case += 1;
                let plaintext = data(len, case);
                let file = age::encrypt(&[ids[0].to_recipient()], &plaintext, armor).unwrap();
                let name = format!("q{case}");
                fs::write(path.join(format!("{name}.age")), &file).unwrap();
                fs::write(path.join(format!("{name}.bin")), &plaintext).unwrap();
                decrypt_jobs.push((
                    name,
                    ids[0].to_encoded(),
                    format!("{kind} {len} armor {armor}"),
                ));
            }
        }
        // Several recipients; typage holds the last one's identity.
        case += 1;
        let recipients: Vec<Recipient> = ids.iter().map(Identity::to_recipient).collect();
        let plaintext = data(70_000, case);
        let file = age::encrypt(&recipients, &plaintext, false).unwrap();
        let name = format!("q{case}");
        fs::write(path.join(format!("{name}.age")), &file).unwrap();
        fs::write(path.join(format!("{name}.bin")), &plaintext).unwrap();
        let last = ids.last().unwrap();
        decrypt_jobs.push((
            name,
            last.to_encoded(),
            format!("{kind} multiple recipients"),
        ));
    }

    // typage encrypts to qsmm's recipients (and, for some files, to its own identity too).
    let mut encrypt_jobs = Vec::new();
    for (kind, ids) in kinds {
        for len in SIZES {
            encrypt_jobs.push((kind, vec![ids[0].to_recipient()], len, false, None));
        }
        encrypt_jobs.push((kind, vec![ids[0].to_recipient()], 65_537, true, None));
        let all: Vec<Recipient> = ids.iter().map(Identity::to_recipient).collect();
        encrypt_jobs.push((kind, all, 65_536, false, Some(kind)));
    }

    let mut job = String::from("{\"decrypt\": [");
    for (i, (name, identity, _)) in decrypt_jobs.iter().enumerate() {
        if i > 0 {
            job.push(',');
        }
        write!(
            job,
            "{{\"file\": \"{name}.age\", \"plaintext\": \"{name}.bin\", \"identity\": {}}}",
            json_string(identity)
        )
        .unwrap();
    }
    job.push_str("], \"encrypt\": [");
    for (i, (_, recipients, len, armor, typage)) in encrypt_jobs.iter().enumerate() {
        if i > 0 {
            job.push(',');
        }
        let recipients: Vec<String> = recipients
            .iter()
            .map(|r| json_string(&r.to_string()))
            .collect();
        let typage = typage.map_or("null".to_owned(), json_string);
        write!(
            job,
            "{{\"recipients\": [{}], \"len\": {len}, \"armor\": {armor}, \"typage_recipient\": {typage}, \
             \"out\": \"t{i}.age\", \"plaintext_out\": \"t{i}.bin\"}}",
            recipients.join(",")
        )
        .unwrap();
    }
    job.push_str("]}");
    fs::write(path.join("job.json"), job).unwrap();

    let output = Command::new("node")
        .arg("interop.mjs")
        .arg(path)
        .current_dir(interop_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "node failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&fs::read(path.join("results.json")).unwrap()).unwrap();

    // typage opened every qsmm file.
    let decrypted = results["decrypted"].as_array().unwrap();
    assert_eq!(decrypted.len(), decrypt_jobs.len());
    for (result, (name, _, what)) in decrypted.iter().zip(&decrypt_jobs) {
        assert_eq!(
            result["outcome"], "ok",
            "typage opening qsmm file {name} ({what})"
        );
    }

    // qsmm opens every typage file, with its own identities and with typage's.
    let typage_hybrid: Identity = results["identities"]["hybrid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let typage_x25519: Identity = results["identities"]["x25519"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for (i, (kind, _, len, armor, typage)) in encrypt_jobs.iter().enumerate() {
        let file = fs::read(path.join(format!("t{i}.age"))).unwrap();
        let plaintext = fs::read(path.join(format!("t{i}.bin"))).unwrap();
        assert_eq!(plaintext.len(), *len);
        let ids: &[Identity] = if *kind == "hybrid" { &hybrid } else { &x25519 };
        let what = format!("typage file t{i}: {kind} {len} armor {armor}");
        for identity in ids {
            let opened = age::decrypt(&[identity.clone_key()], &file)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(opened, plaintext, "{what}");
            if typage.is_none() {
                break;
            }
        }
        if typage.is_some() {
            let own = if *kind == "hybrid" {
                &typage_hybrid
            } else {
                &typage_x25519
            };
            assert_eq!(own.is_post_quantum(), *kind == "hybrid");
            assert_eq!(
                age::decrypt(&[own.clone_key()], &file).unwrap(),
                plaintext,
                "{what}"
            );
        }
    }
    println!(
        "age interop: typage opened {} qsmm files, qsmm opened {} typage files",
        decrypt_jobs.len(),
        encrypt_jobs.len()
    );
}

/// Passphrase (scrypt) files both ways: typage opens qsmm's, qsmm opens typage's (binary and
/// armored, across a chunk boundary; a low work factor keeps it fast, and typage's default 18
/// once).
#[test]
fn typage_and_qsmm_open_each_others_passphrase_files() {
    if !prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let secret = "correct horse battery staple \u{e9}";
    let passphrase = Passphrase::new(secret);

    let mut job = format!("{{\"passphrase\": {}, \"decrypt\": [", json_string(secret));
    let mut cases = 0;
    for (i, (len, armor)) in [(0, false), (1, true), (65_537, false), (70_000, true)]
        .into_iter()
        .enumerate()
    {
        let plaintext = data(len, 100 + i as u64);
        let file = age::encrypt_with_passphrase(&passphrase, 6, &plaintext, armor).unwrap();
        fs::write(path.join(format!("q{i}.age")), &file).unwrap();
        fs::write(path.join(format!("q{i}.bin")), &plaintext).unwrap();
        if i > 0 {
            job.push(',');
        }
        write!(
            job,
            "{{\"file\": \"q{i}.age\", \"plaintext\": \"q{i}.bin\"}}"
        )
        .unwrap();
        cases += 1;
    }
    job.push_str("], \"encrypt\": [");
    let encrypt_jobs = [
        (0, false, 6),
        (65_537, false, 6),
        (1000, true, 6),
        (100, false, 18),
    ];
    for (i, (len, armor, work_factor)) in encrypt_jobs.iter().enumerate() {
        if i > 0 {
            job.push(',');
        }
        write!(
            job,
            "{{\"len\": {len}, \"armor\": {armor}, \"work_factor\": {work_factor}, \
             \"out\": \"t{i}.age\", \"plaintext_out\": \"t{i}.bin\"}}"
        )
        .unwrap();
    }
    job.push_str("]}");
    fs::write(path.join("job.json"), job).unwrap();

    let output = Command::new("node")
        .arg("passphrase.mjs")
        .arg(path)
        .current_dir(interop_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "node failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&fs::read(path.join("results.json")).unwrap()).unwrap();
    let decrypted = results["decrypted"].as_array().unwrap();
    assert_eq!(decrypted.len(), cases);
    for result in decrypted {
        assert_eq!(result["outcome"], "ok", "typage opening {}", result["file"]);
    }
    for (i, (len, _, _)) in encrypt_jobs.iter().enumerate() {
        let file = fs::read(path.join(format!("t{i}.age"))).unwrap();
        let plaintext = fs::read(path.join(format!("t{i}.bin"))).unwrap();
        assert_eq!(plaintext.len(), *len);
        assert_eq!(
            age::decrypt_with_passphrase(&passphrase, &file).unwrap(),
            plaintext,
            "typage file t{i}"
        );
        assert!(matches!(
            age::decrypt_with_passphrase(&Passphrase::new("wrong"), &file),
            Err(AgeError::NoMatch)
        ));
    }
}
