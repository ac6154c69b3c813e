//! `qsmm proof commit | prove | verify` end to end on a small medium.
#![allow(clippy::unwrap_used, reason = "tests panic on failure")]

use std::process::{Command, Output};

fn qsmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qsmm"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails_with(out: &Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr: {err}");
}

/// The value after `name:` on its line.
fn field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        })
        .unwrap()
}

#[test]
fn commit_prove_verify() {
    let dir = tempfile::tempdir().unwrap();
    let medium = dir.path().join("m.img");
    let blocks: Vec<Vec<u8>> = (0u8..5)
        .map(|i| {
            (0..=255u8)
                .cycle()
                .take(4096)
                .map(|j| j.wrapping_mul(31) ^ i)
                .collect()
        })
        .collect();
    std::fs::write(&medium, blocks.concat()).unwrap();
    let m = medium.to_str().unwrap();
    let proof = dir.path().join("p.bin");
    let p = proof.to_str().unwrap();
    let block3 = dir.path().join("b3");
    std::fs::write(&block3, &blocks[3]).unwrap();
    let block2 = dir.path().join("b2");
    std::fs::write(&block2, &blocks[2]).unwrap();

    let out = ok(&qsmm(&["proof", "commit", m]));
    let root = field(&out, "root");
    assert_eq!(root.len(), 64);
    assert_eq!(field(&out, "blocks"), "5");
    assert_eq!(field(&out, "depth"), "3");
    assert_ne!(
        field(
            &ok(&qsmm(&["proof", "commit", m, "--generation", "1"])),
            "root"
        ),
        root
    );

    let out = ok(&qsmm(&["proof", "prove", m, "--block", "3", "--out", p]));
    assert_eq!(field(&out, "root"), root);
    let leaf = field(&out, "leaf hash");

    let out = ok(&qsmm(&[
        "proof",
        "verify",
        "--root",
        &root,
        "--leaf-hash",
        &leaf,
        p,
    ]));
    assert!(out.contains("verified"));
    ok(&qsmm(&[
        "proof",
        "verify",
        "--root",
        &root,
        "--block-file",
        block3.to_str().unwrap(),
        p,
    ]));

    // Another block, another root, a damaged proof, junk.
    let other = qsmm(&[
        "proof",
        "verify",
        "--root",
        &root,
        "--block-file",
        block2.to_str().unwrap(),
        p,
    ]);
    fails_with(&other, "does not verify");
    let mut wrong_root = root.clone().into_bytes();
    wrong_root[0] = if wrong_root[0] == b'0' { b'1' } else { b'0' };
    let wrong_root = String::from_utf8(wrong_root).unwrap();
    fails_with(
        &qsmm(&[
            "proof",
            "verify",
            "--root",
            &wrong_root,
            "--leaf-hash",
            &leaf,
            p,
        ]),
        "does not verify",
    );
    let mut bytes = std::fs::read(&proof).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let damaged = dir.path().join("damaged");
    std::fs::write(&damaged, &bytes).unwrap();
    fails_with(
        &qsmm(&[
            "proof",
            "verify",
            "--root",
            &root,
            "--leaf-hash",
            &leaf,
            damaged.to_str().unwrap(),
        ]),
        "does not verify",
    );
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a proof").unwrap();
    fails_with(
        &qsmm(&[
            "proof",
            "verify",
            "--root",
            &root,
            "--leaf-hash",
            &leaf,
            junk.to_str().unwrap(),
        ]),
        "is not a proof",
    );
    fails_with(
        &qsmm(&["proof", "verify", "--root", "zz", "--leaf-hash", &leaf, p]),
        "--root must be 64 hex digits",
    );
}

#[test]
fn bad_media_and_blocks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ragged = dir.path().join("ragged");
    std::fs::write(&ragged, vec![0u8; 4096 * 2 + 1]).unwrap();
    fails_with(
        &qsmm(&["proof", "commit", ragged.to_str().unwrap()]),
        "not a whole number",
    );
    let single = dir.path().join("single");
    std::fs::write(&single, vec![0u8; 4096]).unwrap();
    fails_with(
        &qsmm(&["proof", "commit", single.to_str().unwrap()]),
        "at least two",
    );
    let two = dir.path().join("two");
    std::fs::write(&two, vec![0u8; 4096 * 2]).unwrap();
    let out = dir.path().join("p");
    fails_with(
        &qsmm(&[
            "proof",
            "prove",
            two.to_str().unwrap(),
            "--block",
            "2",
            "--out",
            out.to_str().unwrap(),
        ]),
        "out of range",
    );
    fails_with(
        &qsmm(&["proof", "commit", "/nonexistent/medium"]),
        "cannot open",
    );
}

/// A retrievability challenge answered from the medium and checked against the root.
#[test]
fn challenge_prove_verify() {
    let dir = tempfile::tempdir().unwrap();
    let medium = dir.path().join("m.img");
    let content: Vec<u8> = (0..4096 * 3u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect();
    std::fs::write(&medium, &content).unwrap();
    let m = medium.to_str().unwrap();
    let proof = dir.path().join("c.bin");
    let p = proof.to_str().unwrap();
    let root = field(&ok(&qsmm(&["proof", "commit", m])), "root");

    let out = ok(&qsmm(&[
        "proof",
        "prove",
        m,
        "--challenge",
        "nonce-1",
        "--samples",
        "2",
        "--out",
        p,
    ]));
    assert_eq!(field(&out, "root"), root);
    let challenged = field(&out, "challenged");
    assert_eq!(challenged.split(',').count(), 2);

    let out = ok(&qsmm(&[
        "proof",
        "verify",
        "--root",
        &root,
        "--challenge",
        "nonce-1",
        "--samples",
        "2",
        p,
    ]));
    assert!(out.contains("verified: the 2 challenged blocks of 3 are held"));
    assert_eq!(field(&out, "challenged"), challenged);

    // More samples asked than answered; junk.
    fails_with(
        &qsmm(&[
            "proof",
            "verify",
            "--root",
            &root,
            "--challenge",
            "nonce-1",
            "--samples",
            "3",
            p,
        ]),
        "does not verify",
    );
    let junk = dir.path().join("junk");
    std::fs::write(&junk, [2u8, 3, 0, 1, 2, 3]).unwrap();
    fails_with(
        &qsmm(&[
            "proof",
            "verify",
            "--root",
            &root,
            "--challenge",
            "nonce-1",
            "--samples",
            "2",
            junk.to_str().unwrap(),
        ]),
        "is not a challenge proof",
    );

    // Refused arguments.
    fails_with(
        &qsmm(&["proof", "prove", m, "--challenge", "s", "--out", p]),
        "--samples",
    );
    fails_with(
        &qsmm(&[
            "proof",
            "prove",
            m,
            "--block",
            "1",
            "--challenge",
            "s",
            "--samples",
            "1",
            "--out",
            p,
        ]),
        "cannot be used with",
    );
    fails_with(
        &qsmm(&[
            "proof",
            "prove",
            m,
            "--challenge",
            "s",
            "--samples",
            "65",
            "--out",
            p,
        ]),
        "1 ..= 64 samples",
    );
}
