//! One passphrase-file format for the whole command: `qsmm create` (and every other subcommand
//! taking `--passphrase-file`) accepts exactly the files the nbdkit plugin behind `qsmm serve` and
//! `qsmm mount` accepts, the 4,096-byte limit included, because both read them with
//! `qsmm_volume::Passphrase::read_file`.
#![allow(clippy::unwrap_used, reason = "tests panic on failure")]

use std::process::{Command, Output, Stdio};

use qsmm_volume::MAX_PASSPHRASE_LEN;

fn qsmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qsmm"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn create_refuses_exactly_what_the_plugin_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let longest = vec![b'a'; MAX_PASSPHRASE_LEN];
    let mut over = longest.clone();
    over.push(b'a');
    let mut longest_and_newline = longest.clone();
    longest_and_newline.push(b'\n');
    // (name, contents, accepted)
    let cases: [(&str, &[u8], bool); 7] = [
        ("plain", b"words", true),
        ("newline", b"words\n", true),
        ("crlf", b"words\r\n", true),
        ("longest", &longest, true),
        ("over", &over, false),
        ("longest-and-newline", &longest_and_newline, false),
        ("empty-line", b"\n", false),
    ];
    for (name, contents, accepted) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, contents).unwrap();
        let file = file.to_str().unwrap();

        let mut config = qsmm_nbd::Config::default();
        let plugin = config.set("passphrase-file", file);
        assert_eq!(plugin.is_ok(), accepted, "{name}: the plugin: {plugin:?}");

        let medium = dir.path().join(format!("{name}.img"));
        let medium = medium.to_str().unwrap();
        let formatted = qsmm(&["format", medium, "--size", "4M"]);
        assert!(formatted.status.success(), "{name}: {formatted:?}");
        let created = qsmm(&[
            "create",
            medium,
            "--size",
            "1M",
            "--passphrase-file",
            file,
            "--danger-insecure-kdf",
        ]);
        assert_eq!(
            created.status.success(),
            accepted,
            "{name}: qsmm create: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        if !accepted {
            let stderr = String::from_utf8_lossy(&created.stderr);
            assert!(stderr.contains("passphrase"), "{name}: {stderr}");
        }
    }
}
