//! The `qsmm` command end to end in a temporary directory: format, create two volumes, testpwd,
//! changepwd, info, and plain one-sentence errors for bad input.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_lossless,
    clippy::cast_sign_loss,
    reason = "tests panic on failure; test patterns truncate on purpose"
)]

use std::path::Path;
use std::process::{Command, Output};

fn qsmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qsmm"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Runs with the test-only KDF cost after the subcommand and its medium.
fn qsmm_fast(args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.push("--danger-insecure-kdf");
    qsmm(&all)
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

/// A failure with one line on stderr that contains `needle`.
fn fails_with(out: &Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err}");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn format_create_testpwd_changepwd_info() {
    let dir = tempfile::tempdir().unwrap();
    let medium = dir.path().join("m.img");
    let m = medium.to_str().unwrap();
    let decoy = write(dir.path(), "decoy", "decoy passphrase\n");
    let hidden = write(dir.path(), "hidden", "hidden passphrase\n");
    let newp = write(dir.path(), "new", "new hidden passphrase\n");
    let wrong = write(dir.path(), "wrong", "wrong\n");

    ok(&qsmm(&["format", m, "--size", "8M"]));
    assert_eq!(std::fs::metadata(&medium).unwrap().len(), 8 << 20);
    ok(&qsmm_fast(&[
        "create",
        m,
        "--size",
        "2M",
        "--passphrase-file",
        &decoy,
    ]));
    ok(&qsmm_fast(&[
        "create",
        m,
        "--size",
        "3M",
        "--passphrase-file",
        &hidden,
        "--protect-passphrase-file",
        &decoy,
    ]));
    let out = ok(&qsmm_fast(&["testpwd", m, "--passphrase-file", &decoy]));
    assert!(out.contains(&(2u64 << 20).to_string()), "{out}");
    let out = ok(&qsmm_fast(&["testpwd", m, "--passphrase-file", &hidden]));
    assert!(out.contains(&(3u64 << 20).to_string()), "{out}");
    fails_with(
        &qsmm_fast(&["testpwd", m, "--passphrase-file", &wrong]),
        "no volume",
    );
    // Without the test cost the same passphrase derives another key: nothing opens.
    fails_with(
        &qsmm(&["testpwd", m, "--passphrase-file", &decoy]),
        "no volume",
    );

    ok(&qsmm_fast(&[
        "changepwd",
        m,
        "--passphrase-file",
        &hidden,
        "--new-passphrase-file",
        &newp,
    ]));
    fails_with(
        &qsmm_fast(&["testpwd", m, "--passphrase-file", &hidden]),
        "no volume",
    );
    ok(&qsmm_fast(&["testpwd", m, "--passphrase-file", &newp]));
    let info = ok(&qsmm_fast(&["info", m, "--passphrase-file", &newp]));
    assert!(
        info.contains("volume size:") && info.contains(&(3u64 << 20).to_string()),
        "{info}"
    );
    fails_with(
        &qsmm_fast(&["info", m, "--passphrase-file", &wrong]),
        "no volume",
    );
    fails_with(
        &qsmm_fast(&["create", m, "--size", "1M", "--passphrase-file", &decoy]),
        "already opens",
    );
}

#[test]
fn bad_input_gives_one_sentence_and_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let medium = dir.path().join("m.img");
    let m = medium.to_str().unwrap();
    let pass = write(dir.path(), "p", "passphrase\n");
    let missing = dir.path().join("nope.img");
    fails_with(
        &qsmm_fast(&[
            "testpwd",
            missing.to_str().unwrap(),
            "--passphrase-file",
            &pass,
        ]),
        "does not exist",
    );
    fails_with(
        &qsmm(&["format", m, "--size", "64K"]),
        "invalid medium size",
    );
    ok(&qsmm(&["format", m, "--size", "1M"]));
    fails_with(
        &qsmm_fast(&[
            "testpwd",
            m,
            "--passphrase-file",
            dir.path().join("absent").to_str().unwrap(),
        ]),
        "cannot read passphrase file",
    );
    let out = qsmm(&["format", m, "--size", "12X"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot parse size"));
    fails_with(
        &qsmm_fast(&["create", m, "--size", "4G", "--passphrase-file", &pass]),
        "invalid volume size",
    );
    // A file that was never formatted.
    let raw = dir.path().join("raw.img");
    std::fs::File::create(&raw)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    fails_with(
        &qsmm_fast(&["testpwd", raw.to_str().unwrap(), "--passphrase-file", &pass]),
        "not formatted",
    );
}

#[test]
fn multi_snapshot_volumes_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let medium = dir.path().join("m.img");
    let m = medium.to_str().unwrap();
    let decoy = write(dir.path(), "decoy", "decoy passphrase\n");
    let hidden = write(dir.path(), "hidden", "hidden passphrase\n");
    let newp = write(dir.path(), "new", "new hidden passphrase\n");

    let out = ok(&qsmm(&["format", m, "--size", "8M", "--multi-snapshot"]));
    assert!(out.contains("--multi-snapshot"), "{out}");
    ok(&qsmm_fast(&[
        "create",
        m,
        "--size",
        "2M",
        "--passphrase-file",
        &decoy,
        "--multi-snapshot",
    ]));
    // Above a multi-snapshot volume, a volume takes its mode.
    ok(&qsmm_fast(&[
        "create",
        m,
        "--size",
        "2M",
        "--passphrase-file",
        &hidden,
        "--protect-passphrase-file",
        &decoy,
    ]));
    ok(&qsmm_fast(&[
        "changepwd",
        m,
        "--passphrase-file",
        &hidden,
        "--new-passphrase-file",
        &newp,
    ]));
    for pass in [&decoy, &newp] {
        let info = ok(&qsmm_fast(&["info", m, "--passphrase-file", pass]));
        assert!(info.contains("mode:             multi-snapshot"), "{info}");
    }
    fails_with(
        &qsmm_fast(&["testpwd", m, "--passphrase-file", &hidden]),
        "no volume",
    );
}
