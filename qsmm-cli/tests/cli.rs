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

/// Runs `qsmm` with `input` on standard input.
fn qsmm_with_input(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_qsmm"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A writer thread: the child may write its output before it read all of its input, or
    // stop reading early (a refusal), which is a broken pipe here and not an error.
    let writer = std::thread::spawn(move || drop(stdin.write_all(&input)));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

#[test]
fn age_keygen_encrypt_decrypt_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    for pq in [true, false] {
        let keygen: &[&str] = if pq {
            &["age", "keygen", "--pq"]
        } else {
            &["age", "keygen"]
        };
        let key = ok(&qsmm(keygen));
        let recipient = key
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_owned();
        assert!(recipient.starts_with(if pq { "age1pq1" } else { "age1" }));
        let key_file = write(dir.path(), "key.txt", &key);
        let other = write(dir.path(), "other.txt", &ok(&qsmm(keygen)));
        let message = b"a message for the age command\n".repeat(3000);
        for armor in [false, true] {
            let mut args = vec!["age", "encrypt", "-r", recipient.as_str()];
            if armor {
                args.push("-a");
            }
            let sealed = qsmm_with_input(&args, &message);
            assert!(sealed.status.success());
            assert_eq!(
                sealed
                    .stdout
                    .starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"),
                armor
            );
            let opened = qsmm_with_input(&["age", "decrypt", "-i", &key_file], &sealed.stdout);
            assert!(opened.status.success());
            assert!(opened.stdout == message, "round trip");
            let wrong = qsmm_with_input(&["age", "decrypt", "-i", &other], &sealed.stdout);
            assert!(!wrong.status.success());
            let mut tampered = sealed.stdout.clone();
            let last = tampered.len() - 40;
            tampered[last] ^= if armor { 0x01 } else { 0x80 };
            let bad = qsmm_with_input(&["age", "decrypt", "-i", &key_file], &tampered);
            assert!(!bad.status.success());
        }
    }
    fails_with(&qsmm(&["age", "encrypt", "-r", "age1notakey"]), "recipient");
}

#[test]
fn age_passphrase_encrypt_decrypt_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let pass = write(dir.path(), "pass.txt", "a long passphrase\n");
    let wrong = write(dir.path(), "wrong.txt", "another passphrase\n");
    let message = b"a message under a passphrase\n".repeat(3000);
    for armor in [false, true] {
        // A low work factor keeps the test fast; the default is age's 18.
        let mut args = vec![
            "age",
            "encrypt",
            "--passphrase-file",
            &pass,
            "--work-factor",
            "4",
        ];
        if armor {
            args.push("-a");
        }
        let sealed = qsmm_with_input(&args, &message);
        assert!(sealed.status.success());
        let opened = qsmm_with_input(
            &["age", "decrypt", "--passphrase-file", &pass],
            &sealed.stdout,
        );
        assert!(opened.status.success());
        assert!(opened.stdout == message, "round trip");
        let refused = qsmm_with_input(
            &["age", "decrypt", "--passphrase-file", &wrong],
            &sealed.stdout,
        );
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("wrong passphrase"));
        assert!(refused.stdout.is_empty());
    }
    // Files to keys do not open with a passphrase.
    let key = ok(&qsmm(&["age", "keygen"]));
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    let sealed = qsmm_with_input(&["age", "encrypt", "-r", &recipient], b"x");
    let refused = qsmm_with_input(
        &["age", "decrypt", "--passphrase-file", &pass],
        &sealed.stdout,
    );
    assert!(!refused.status.success());
    // Usage errors.
    for (args, needle) in [
        (
            vec![
                "age",
                "encrypt",
                "--passphrase-file",
                &pass,
                "--work-factor",
                "23",
            ],
            "not in 1..=22",
        ),
        (
            vec!["age", "encrypt", "-p", "-r", &recipient],
            "cannot be used with",
        ),
    ] {
        let out = qsmm(&args);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
    }
}

#[test]
fn format_refuses_a_medium_with_data_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let medium = dir.path().join("m.img");
    let m = medium.to_str().unwrap();
    ok(&qsmm(&["format", m, "--size", "1M"]));
    fails_with(&qsmm(&["format", m, "--size", "1M"]), "--force");
    ok(&qsmm(&["format", m, "--size", "1M", "--force"]));
}
