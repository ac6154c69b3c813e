//! The command-line client against the page's own code (`paravoid/assets/note.js`) under
//! node, through a real server: a note the page's code seals opens with `paravoid-cli open`,
//! and a note `paravoid-cli send` seals is claimed and opened by the page's code, with and
//! without a passphrase.
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

use crate::harness::{Server, client, node, passphrase_file, run, split_link};

/// `paravoid/web/cli.mjs`: the page's code behind a command line.
fn page_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../paravoid/web/cli.mjs")
}

/// Runs `node cli.mjs args…` with `stdin`; returns standard output.
fn page(node: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new(node)
        .arg(page_cli())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node cli.mjs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_sealed_by_the_page_code_open_with_the_cli() {
    let Some(node) = node() else {
        return;
    };
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    for passphrase in [None, Some("page passphrase ✓")] {
        let message = format!("sealed by the page's code, passphrase {passphrase:?} ✓");
        let mut args = vec!["seal", "--ttl", "600"];
        if let Some(passphrase) = passphrase {
            args.extend(["--passphrase", passphrase]);
        }
        let sealed: Value =
            serde_json::from_slice(&page(&node, &args, message.as_bytes())).unwrap();
        let created: Value = client()
            .post(format!("{}/api/e2e/notes", server.base))
            .json(&sealed["create"])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let link = format!(
            "{}{}#{}",
            server.base,
            created["share_path"].as_str().unwrap(),
            sealed["fragment"].as_str().unwrap()
        );
        let mut open = vec!["open", link.as_str()];
        let file;
        if let Some(passphrase) = passphrase {
            file = passphrase_file(dir.path(), "pw", passphrase);
            open.extend(["--passphrase-file", file.as_str()]);
        }
        let opened = run(&open, b"").await;
        assert_eq!(opened.code, 0, "{opened:?}");
        assert_eq!(opened.stdout, message.as_bytes());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_sent_by_the_cli_open_with_the_page_code() {
    let Some(node) = node() else {
        return;
    };
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    for passphrase in [None, Some("cli passphrase ✓")] {
        let message = format!("sent by the CLI, passphrase {passphrase:?} ✓");
        let mut args = vec!["send", "--server", server.base.as_str()];
        let file;
        if let Some(passphrase) = passphrase {
            file = passphrase_file(dir.path(), "pw", passphrase);
            args.extend(["--passphrase-file", file.as_str()]);
        }
        let sent = run(&args, message.as_bytes()).await;
        assert_eq!(sent.code, 0, "{sent:?}");
        let link = sent.line();
        let (id, keys) = split_link(&server.base, &link);
        let peek: Value = client()
            .get(format!("{}/api/e2e/notes/{id}", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let argon2id = peek["argon2id"].to_string();
        let mut token_args = vec!["tokens", keys];
        if let Some(passphrase) = passphrase {
            token_args.extend(["--passphrase", passphrase, "--argon2id", argon2id.as_str()]);
        }
        let tokens: Value = serde_json::from_slice(&page(&node, &token_args, b"")).unwrap();
        let answer = client()
            .post(format!("{}/api/e2e/notes/{id}/claim", server.base))
            .json(&tokens)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            200,
            "the page's tokens claim the CLI's note"
        );
        let answer = answer.bytes().await.unwrap();
        let mut open_args = vec!["open", keys];
        if let Some(passphrase) = passphrase {
            open_args.extend(["--passphrase", passphrase]);
        }
        let opened = page(&node, &open_args, &answer);
        assert_eq!(opened, format!("{message}\n").as_bytes());
    }
    server.stop().await;
}
