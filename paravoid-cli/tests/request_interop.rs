//! Request-a-secret across the command-line client and the page's own code
//! (`paravoid/assets/request.js` under node, through `paravoid/web/request-cli.mjs`), through a
//! real server: a request the page's code makes is answered by `paravoid-cli respond` and
//! opened by the page's code, and a request `paravoid-cli request` makes is answered by the
//! page's code and opened by `paravoid-cli open`; the same both ways with files in the answer
//! (`respond --file`, `open -o DIR`).
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

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt as _;

use crate::harness::{Server, node, run};

/// Runs `node request-cli.mjs args…` with `stdin`; returns standard output.
async fn page(node: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../paravoid/web/request-cli.mjs");
    let mut child = tokio::process::Command::new(node)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "node request-cli.mjs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The two links of a `request` output.
fn links(stdout: &[u8]) -> (String, String) {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    let mut lines = text.lines();
    let request = lines.next().unwrap().to_owned();
    let own = lines.next().unwrap().to_owned();
    assert!(
        request.contains("/r/") && request.contains("#req."),
        "{request}"
    );
    assert!(own.contains("/r/") && own.contains("#own."), "{own}");
    (request, own)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_made_by_the_page_code_is_answered_by_the_cli() {
    let Some(node) = node() else {
        return;
    };
    let server = Server::start().await;
    let made = page(&node, &["request", &server.base, "--ttl", "600"], b"").await;
    let (request, own) = links(&made);
    let secret = "from the command line ✓\n";
    let answered = run(&["respond", &request], secret.as_bytes()).await;
    assert_eq!(answered.code, 0, "{answered:?}");
    let opened = page(&node, &["open", &own], b"").await;
    assert_eq!(opened, secret.as_bytes());
    // The CLI opens the page's own link format too, and the answer is gone.
    run(&["open", &own], b"").await.assert_failed(3, "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_made_by_the_cli_is_answered_by_the_page_code() {
    let Some(node) = node() else {
        return;
    };
    let server = Server::start().await;
    let made = run(&["request", "--server", &server.base], b"").await;
    assert_eq!(made.code, 0, "{made:?}");
    let (request, own) = links(&made.stdout);
    let secret = b"from the page code";
    page(&node, &["respond", &request], secret).await;
    let opened = run(&["open", &own], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(opened.stdout, secret);
    server.stop().await;
}

/// Bytes that do not repeat within a chunk, different per `seed`.
fn content(seed: u8, len: usize) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_files_cross_between_the_cli_and_the_page_code() {
    let Some(node) = node() else {
        return;
    };
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let big = content(5, 2 * 65_536 + 17);
    let small = b"a small file\n".to_vec();
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("small.txt"), &small).unwrap();
    let big_path = dir.path().join("big.bin").display().to_string();
    let small_path = dir.path().join("small.txt").display().to_string();

    // The page's code asks, `respond --file` answers, the page's code saves the files.
    let made = page(&node, &["request", &server.base], b"").await;
    let (request, own) = links(&made);
    let answered = run(
        &[
            "respond",
            &request,
            "--file",
            &big_path,
            "--file",
            &small_path,
        ],
        b"files from the CLI",
    )
    .await;
    assert_eq!(answered.code, 0, "{answered:?}");
    let into = tempfile::tempdir().unwrap();
    let opened = page(&node, &["open", &own, into.path().to_str().unwrap()], b"").await;
    assert_eq!(opened, b"files from the CLI");
    assert_eq!(std::fs::read(into.path().join("big.bin")).unwrap(), big);
    assert_eq!(std::fs::read(into.path().join("small.txt")).unwrap(), small);

    // The CLI asks, the page's code answers with files, `open -o` saves them.
    let made = run(&["request", "--server", &server.base], b"").await;
    assert_eq!(made.code, 0, "{made:?}");
    let (request, own) = links(&made.stdout);
    page(
        &node,
        &["respond", &request, &big_path, &small_path],
        b"files from the page code",
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let opened = run(&["open", &own, "-o", out.path().to_str().unwrap()], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(std::fs::read(out.path().join("big.bin")).unwrap(), big);
    assert_eq!(std::fs::read(out.path().join("small.txt")).unwrap(), small);
    assert_eq!(
        std::fs::read(out.path().join("message.txt")).unwrap(),
        b"files from the page code"
    );
    server.stop().await;
}
