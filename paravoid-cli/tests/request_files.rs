//! Request answers with files through the binary against a real paravoid server:
//! `respond --file` then the requester's `open -o DIR` (byte for byte, the server seeing no
//! file, message or key), a closed request costing no upload, and a server that swaps or cuts
//! an answer's files (exit 8, no file written).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paravoid::{AppState, Config, ManualClock};
use qsmm_shield::attachment::CHUNK_LEN;

use crate::harness::{Server, contains, encodings, run};

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

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `request` on `base`: the request link and the requester's link.
async fn request(base: &str) -> (String, String) {
    let made = run(&["request", "--server", base], b"").await;
    assert_eq!(made.code, 0, "{made:?}");
    let text = made.line();
    let (request, own) = text.split_once('\n').unwrap();
    (request.to_owned(), own.to_owned())
}

/// Writes `files` into a fresh directory; returns it and the `--file` arguments.
fn sources(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    for (name, data) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        args.push("--file".to_owned());
        args.push(path.to_str().unwrap().to_owned());
    }
    (dir, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_files_is_opened_into_a_directory_once() {
    let server = Server::start().await;
    let (request_link, own) = request(&server.base).await;
    let big = content(1, 3 * CHUNK_LEN + 11);
    let small = b"ssh-ed25519 AAAA the private half\n".to_vec();
    let (_src, files) = sources(&[("id_ed25519", &small), ("backup.tar", &big)]);
    let mut args = vec!["respond", request_link.as_str()];
    args.extend(files.iter().map(String::as_str));
    let answered = run(&args, b"both keys attached\n").await;
    assert_eq!(answered.code, 0, "{answered:?}");
    assert!(
        answered.stderr.contains("only the requester"),
        "{answered:?}"
    );

    // A second answer with files is refused before anything is uploaded.
    let uploads = |server: &Server| {
        let received = server.received.lock().unwrap();
        received
            .iter()
            .filter(|(line, _)| line == "POST /api/e2e/files")
            .count()
    };
    assert_eq!(uploads(&server), 2);
    let mut again = vec!["respond", request_link.as_str()];
    again.extend(files.iter().map(String::as_str));
    run(&again, b"")
        .await
        .assert_failed(3, "already been answered");
    assert_eq!(uploads(&server), 2);

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("answer");
    let opened = run(&["open", &own, "-o", dir.to_str().unwrap()], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(
        listing(&dir),
        vec!["backup.tar", "id_ed25519", "message.txt"]
    );
    assert_eq!(std::fs::read(dir.join("backup.tar")).unwrap(), big);
    assert_eq!(std::fs::read(dir.join("id_ed25519")).unwrap(), small);
    assert_eq!(
        std::fs::read(dir.join("message.txt")).unwrap(),
        b"both keys attached\n"
    );
    run(&["open", &own, "-o", dir.to_str().unwrap()], b"")
        .await
        .assert_failed(3, "");

    // The server saw sealed bytes only: no file, no message, no key of the requester's.
    let compact = own.split_once("#own.").unwrap().1;
    let raw = URL_SAFE_NO_PAD.decode(compact).unwrap();
    let received = server.received.lock().unwrap().clone();
    for (line, body) in &received {
        for secret in [
            &small[..24],
            &big[CHUNK_LEN..CHUNK_LEN + 32],
            b"both keys attached",
            &raw[..64],
            &raw[64..],
        ] {
            for needle in encodings(secret) {
                assert!(
                    !contains(line.as_bytes(), &needle) && !contains(body, &needle),
                    "{line} carried a secret"
                );
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_of_files_only_and_bad_arguments() {
    let server = Server::start().await;
    let (request_link, own) = request(&server.base).await;
    let (_src, files) = sources(&[("only.bin", &content(2, 1000))]);
    // A file that is not there: refused before anything is sent, the request still open.
    run(&["respond", &request_link, "--file", "/nonexistent/x"], b"")
        .await
        .assert_failed(7, "");
    // No message at all is fine with a file.
    let answered = run(&["respond", &request_link, &files[0], &files[1]], b"").await;
    assert_eq!(answered.code, 0, "{answered:?}");
    let out = tempfile::tempdir().unwrap();
    let opened = run(&["open", &own, "-o", out.path().to_str().unwrap()], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(listing(out.path()), vec!["only.bin"]);
    assert_eq!(
        std::fs::read(out.path().join("only.bin")).unwrap(),
        content(2, 1000)
    );
    server.stop().await;
}

/// What a hostile server does to an answer's files.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Hands file 1 for file 0 and file 0 for file 1 (same sizes).
    Swap,
    /// Cuts the last chunk of file 1.
    CutLastChunk,
}

/// A paravoid server that damages the downloads of any note's files.
async fn tampering_server(
    damage: Damage,
) -> (String, tokio::task::JoinHandle<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(harness::START));
    let state =
        AppState::open_with_clock(Config::with_db(dir.path().join("notes.redb")), clock).unwrap();
    // Around the whole router, so a rewritten path is routed anew.
    let app = axum::Router::new()
        .fallback_service(paravoid::app(state))
        .layer(axum::middleware::from_fn(
            move |mut request: Request, next: Next| async move {
                let path = request.uri().path().to_owned();
                let swapped = match damage {
                    Damage::Swap if path.ends_with("/files/0") => {
                        Some(path.replace("/files/0", "/files/1"))
                    }
                    Damage::Swap if path.ends_with("/files/1") => {
                        Some(path.replace("/files/1", "/files/0"))
                    }
                    _ => None,
                };
                if let Some(swapped) = swapped {
                    *request.uri_mut() = swapped.parse().unwrap();
                }
                let cut = matches!(damage, Damage::CutLastChunk) && path.ends_with("/files/1");
                let response = next.run(request).await;
                if !cut || response.status() != 200 {
                    return response;
                }
                let (mut parts, body) = response.into_parts();
                let mut sealed = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap()
                    .to_vec();
                let chunk = qsmm_shield::attachment::SEALED_CHUNK_LEN;
                sealed.truncate((sealed.len() - 1) / chunk * chunk);
                parts
                    .headers
                    .insert("content-length", sealed.len().to_string().parse().unwrap());
                axum::response::Response::from_parts(parts, Body::from(sealed))
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_or_cut_answer_files_fail_the_open_and_write_nothing() {
    let size = 2 * CHUNK_LEN + 5;
    let (_src, files) = sources(&[
        ("first.bin", &content(3, size)),
        ("second.bin", &content(4, size)),
    ]);
    for damage in [Damage::Swap, Damage::CutLastChunk] {
        let (base, task, _dir) = tampering_server(damage).await;
        let (request_link, own) = request(&base).await;
        let mut args = vec!["respond", request_link.as_str()];
        args.extend(files.iter().map(String::as_str));
        let answered = run(&args, b"two files").await;
        assert_eq!(answered.code, 0, "{answered:?}");
        let out = tempfile::tempdir().unwrap();
        let opened = run(&["open", &own, "-o", out.path().to_str().unwrap()], b"").await;
        opened.assert_failed(8, "does not open with this link");
        assert!(
            listing(out.path()).is_empty(),
            "{damage:?}: no file, not even a temporary one: {:?}",
            listing(out.path())
        );
        task.abort();
    }
}
