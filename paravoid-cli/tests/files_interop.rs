//! Notes with files between the command-line client and the page's own code
//! (`paravoid/assets/files.js` and `note.js`, driven by `paravoid/web/files-cli.mjs` under node),
//! through a real server: files the page's code seals and uploads as streams are saved by
//! `paravoid-cli open -o DIR`, and files `paravoid-cli send --file` uploads are downloaded and
//! opened by the page's code, byte for byte.
//!
//! Needs `node` (20 or later). Without it the tests are skipped with a message, except under
//! `QSMM_REQUIRE_EXTERNAL=1` (CI), where a missing node fails them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{Server, node, run};

/// `paravoid/web/files-cli.mjs`: the page's file code behind a command line.
fn page_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../paravoid/web/files-cli.mjs")
}

/// Runs `node files-cli.mjs args…` with `stdin` on a thread of its own; returns standard output.
async fn page(node: &Path, args: Vec<String>, stdin: Vec<u8>) -> Vec<u8> {
    let node = node.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new(node)
            .arg(page_cli())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "node files-cli.mjs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    })
    .await
    .unwrap()
}

/// Writes the test's files into `dir`: empty, one chunk less one, one chunk and one more.
fn originals(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let files = [
        ("empty-4a1c.dat".to_owned(), Vec::new()),
        (
            "just-under 7e2b ü.bin".to_owned(),
            (0..65_535u32).map(|i| (i * 31).to_le_bytes()[0]).collect(),
        ),
        (
            "one-chunk-and-a-byte-c3d9.bin".to_owned(),
            (0..65_537u32)
                .map(|i| (i * 7 % 253).to_le_bytes()[0])
                .collect(),
        ),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    files.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sealed_by_the_page_code_open_with_the_cli() {
    let Some(node) = node() else { return };
    let server = Server::start().await;
    let source = tempfile::tempdir().unwrap();
    let files = originals(source.path());
    let mut args = vec!["send".to_owned(), server.base.clone()];
    args.extend(
        files
            .iter()
            .map(|(name, _)| source.path().join(name).display().to_string()),
    );
    let message = "from the page's code 4a1c";
    let link = page(&node, args, message.as_bytes().to_vec()).await;
    let link = String::from_utf8(link).unwrap().trim_end().to_owned();
    let out = tempfile::tempdir().unwrap();
    let opened = run(&["open", &link, "-o", out.path().to_str().unwrap()], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(out.path().join(name)).unwrap(),
            bytes,
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read(out.path().join("message.txt")).unwrap(),
        message.as_bytes()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sent_by_the_cli_open_with_the_page_code() {
    let Some(node) = node() else { return };
    let server = Server::start().await;
    let source = tempfile::tempdir().unwrap();
    let files = originals(source.path());
    let mut args = vec!["send", "--server", &server.base];
    let paths: Vec<String> = files
        .iter()
        .map(|(name, _)| source.path().join(name).display().to_string())
        .collect();
    for path in &paths {
        args.push("--file");
        args.push(path);
    }
    let message = b"from the command line c3d9";
    let sent = run(&args, message).await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let out = tempfile::tempdir().unwrap();
    let answer = page(
        &node,
        vec![
            "open".to_owned(),
            sent.line(),
            out.path().display().to_string(),
        ],
        Vec::new(),
    )
    .await;
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let hex: String = message.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(answer["message"], hex.as_str());
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(answer["files"], serde_json::json!(names));
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(out.path().join(name)).unwrap(),
            bytes,
            "{name}"
        );
    }
    server.stop().await;
}
